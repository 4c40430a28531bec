//! Progress on stderr: one bar that follows a job's events. Hidden with `--quiet` and when
//! stderr is not a terminal; plain (no colour) when `NO_COLOR` is set.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ttv::Event;

use crate::output::color_enabled;

/// A progress bar for one job.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar on stderr, or a hidden one.
    pub fn new(visible: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(1000), target);
        let template = if color_enabled() {
            "{spinner:.cyan} {msg:<24} [{bar:32.cyan/blue}] {percent:>3}%  {elapsed_precise}"
        } else {
            "{spinner} {msg:<24} [{bar:32}] {percent:>3}%  {elapsed_precise}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }

    /// Follows one event.
    pub fn on_event(&self, event: Event) {
        match event {
            Event::Validated(r) => self
                .bar
                .set_message(format!("{} frames {}", r.frames, r.resolution)),
            Event::Submitted(t) => self.bar.set_message(format!("submitted to {}", t.backend)),
            Event::Queued { position } => self.bar.set_message(match position {
                Some(p) => format!("queued (#{})", p + 1),
                None => "queued".to_owned(),
            }),
            Event::Running { progress } => {
                self.bar.set_message("generating");
                if let Some(p) = progress {
                    self.bar
                        .set_position((f64::from(p.clamp(0.0, 1.0)) * 1000.0) as u64);
                }
            }
            Event::Downloading { received, total } => {
                self.bar.set_message(format!(
                    "downloading {}",
                    crate::output::human_bytes(received)
                ));
                if let Some(total) = total.filter(|t| *t > 0) {
                    self.bar.set_position(received.saturating_mul(1000) / total);
                }
            }
            Event::Verifying => {
                self.bar.set_position(1000);
                self.bar.set_message("verifying");
            }
        }
    }

    /// Removes the bar.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}
