//! A job's steps as log lines (target `ttv::facade`, level info): what `-v` shows where
//! there is no progress bar (a log file, CI). Progress is logged in steps of a tenth, so a
//! long job does not flood the log.

use std::sync::Mutex;

use crate::backend::{Event, EventSink};

/// Logs each event of job `id` and passes it on.
pub(super) struct Narrator<'a> {
    id: &'a str,
    events: EventSink<'a>,
    last: Mutex<Last>,
}

#[derive(Default)]
struct Last {
    queued: Option<Option<u32>>,
    running_tenth: Option<u32>,
    downloading: bool,
}

impl<'a> Narrator<'a> {
    pub(super) fn new(id: &'a str, events: EventSink<'a>) -> Self {
        Self {
            id,
            events,
            last: Mutex::new(Last::default()),
        }
    }

    pub(super) fn event(&self, event: Event) {
        self.log(&event);
        (self.events)(event);
    }

    fn log(&self, event: &Event) {
        let job = tracing::field::display(self.id);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Validated(r) => {
                tracing::info!(job, frames = r.frames, size = %r.resolution, fps = r.fps, "request checked");
            }
            Event::Submitted(t) => {
                tracing::info!(job, backend = %t.backend, task = %t.id, "submitted");
            }
            Event::Queued { position } => {
                if last.queued != Some(*position) {
                    last.queued = Some(*position);
                    match position {
                        Some(p) => tracing::info!(job, position = p + 1, "queued"),
                        None => tracing::info!(job, "queued"),
                    }
                }
            }
            Event::Running { progress } => {
                let tenth = progress.map_or(0, |p| (p.clamp(0.0, 1.0) * 10.0) as u32);
                if last.running_tenth.is_none_or(|t| tenth > t) {
                    last.running_tenth = Some(tenth);
                    match progress {
                        Some(p) => tracing::info!(job, percent = (p * 100.0).round(), "running"),
                        None => tracing::info!(job, "running"),
                    }
                }
            }
            Event::Downloading { total, .. } => {
                if !last.downloading {
                    last.downloading = true;
                    match total {
                        Some(bytes) => tracing::info!(job, bytes, "downloading"),
                        None => tracing::info!(job, "downloading"),
                    }
                }
            }
            Event::Verifying => tracing::info!(job, "verifying the video"),
        }
    }
}
