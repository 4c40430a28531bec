//! Progress read from tqdm bars, the progress display every model repository here prints.
//!
//! tqdm redraws one line with carriage returns (`\r 40%|████      | 20/50 [00:31<00:46,
//! 1.55s/it]`), so output is split on `\r` as well as `\n`. Loading bars (checkpoint shards,
//! text encoders) print the same shape with other totals; when the sampling passes are known
//! (one for most models, two for LTX-Video's multi-scale pipeline), only bars with their
//! totals count as progress, and progress runs once over all of them.

/// One reading of a progress bar: `done` of `total` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// Steps finished.
    pub done: u64,
    /// Steps in all.
    pub total: u64,
}

impl Bar {
    /// Fraction finished, 0 to 1.
    pub fn fraction(self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            (self.done.min(self.total) as f64 / self.total as f64) as f32
        }
    }
}

/// Progress over a job's sampling passes, read bar by bar.
#[derive(Debug, Clone, Default)]
pub struct Passes {
    /// The step count of each sampling pass, in order; empty when unknown (any bar counts).
    totals: Vec<u64>,
    current: usize,
    last_done: u64,
}

impl Passes {
    /// Passes of these step counts, in order (empty: any bar counts on its own).
    pub fn new(totals: Vec<u64>) -> Self {
        Self {
            totals,
            current: 0,
            last_done: 0,
        }
    }

    /// The job's progress, 0 to 1, after `bar`; `None` when the bar is not a sampling pass.
    pub fn update(&mut self, bar: Bar) -> Option<f32> {
        if self.totals.is_empty() {
            return Some(bar.fraction());
        }
        let total = self.totals[self.current];
        // A pass that finished, followed by a new bar starting over, is the next pass.
        let restarted = self.last_done >= total && bar.done < self.last_done;
        if bar.total != total || restarted {
            let next = (self.current + 1..self.totals.len()).find(|k| self.totals[*k] == bar.total);
            self.current = next?;
        }
        self.last_done = bar.done;
        let before: u64 = self.totals[..self.current].iter().sum();
        let all: u64 = self.totals.iter().sum();
        let done = before + bar.done.min(bar.total);
        Some((done as f64 / all.max(1) as f64) as f32)
    }
}

/// Reads the `k/N` counter of a tqdm bar in `line`, if the line is one.
///
/// A bar is recognised by a `|`-delimited bar followed by `k/N` and, when tqdm has timing
/// to show, a `[`; plain text that merely contains a fraction is not taken for a bar.
pub fn parse_bar(line: &str) -> Option<Bar> {
    let after_bar = line.rfind('|').map(|i| &line[i + 1..])?;
    // The bar itself must be preceded by a percentage: ` 40%|`.
    let head = &line[..line.len() - after_bar.len() - 1];
    if !head.contains("%|") {
        return None;
    }
    let counter = after_bar.trim_start().split([' ', '[']).next()?;
    let (done, total) = counter.split_once('/')?;
    let done = done.parse().ok()?;
    let total = total.parse().ok()?;
    Some(Bar { done, total })
}

/// Splits a byte stream into the lines tqdm and loggers write, on `\n` and `\r`.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds bytes; returns the complete lines they finish (without terminators, empty lines
    /// dropped).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' || b == b'\r' {
                self.flush_into(&mut out);
            } else {
                self.pending.push(b);
            }
        }
        // A runaway line without terminators must not grow without bound.
        if self.pending.len() > 64 * 1024 {
            self.flush_into(&mut out);
        }
        out
    }

    /// The line being written, not yet terminated: tqdm starts each redraw with `\r`, so the
    /// bar on screen is always this one.
    pub fn partial(&self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }

    /// The unterminated remainder, at end of stream.
    pub fn finish(&mut self) -> Option<String> {
        let mut out = Vec::new();
        self.flush_into(&mut out);
        out.pop()
    }

    fn flush_into(&mut self, out: &mut Vec<String>) {
        if !self.pending.is_empty() {
            out.push(String::from_utf8_lossy(&self.pending).into_owned());
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tqdm_lines_from_wan_and_hunyuan_are_read() {
        let wan = " 40%|████      | 20/50 [00:31<00:46,  1.55s/it]";
        assert_eq!(
            parse_bar(wan),
            Some(Bar {
                done: 20,
                total: 50
            })
        );
        let start = "  0%|          | 0/40 [00:00<?, ?it/s]";
        assert_eq!(parse_bar(start), Some(Bar { done: 0, total: 40 }));
        let done = "100%|██████████| 50/50 [01:17<00:00,  1.55s/it]";
        assert_eq!(parse_bar(done).map(Bar::fraction), Some(1.0));
        let shards = "Loading checkpoint shards: 100%|██████████| 3/3 [00:02<00:00,  1.21it/s]";
        assert_eq!(parse_bar(shards), Some(Bar { done: 3, total: 3 }));
    }

    #[test]
    fn ordinary_log_lines_are_not_bars() {
        for line in [
            "[2025-01-01 10:00:00] INFO: Generating video ...",
            "ratio 16/9 | seed 42",
            "|| 3/4",
            "",
        ] {
            assert_eq!(parse_bar(line), None, "{line}");
        }
    }

    #[test]
    fn carriage_returns_split_redrawn_bars() {
        let mut s = LineSplitter::default();
        let lines = s.push(b"  0%|  | 0/2 [00:00<?, ?it/s]\r 50%|# | 1/2 [00:01<00:01");
        assert_eq!(lines, ["  0%|  | 0/2 [00:00<?, ?it/s]"]);
        let lines = s.push(b", 1.0s/it]\r100%|##| 2/2\nINFO: saved\n");
        assert_eq!(lines.len(), 3);
        assert_eq!(parse_bar(&lines[0]), Some(Bar { done: 1, total: 2 }));
        assert_eq!(lines[2], "INFO: saved");
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn progress_runs_once_over_every_sampling_pass() {
        let bar = |done, total| Bar { done, total };
        let mut p = Passes::new(vec![7, 3]);
        assert_eq!(p.update(bar(2, 4)), None, "a loading bar");
        assert_eq!(p.update(bar(0, 7)), Some(0.0));
        assert_eq!(p.update(bar(7, 7)), Some(0.7));
        assert_eq!(p.update(bar(1, 3)), Some(0.8));
        assert_eq!(p.update(bar(3, 3)), Some(1.0));
        // Two passes of the same length: the second starts when the first has finished.
        let mut same = Passes::new(vec![4, 4]);
        assert_eq!(same.update(bar(4, 4)), Some(0.5));
        assert_eq!(same.update(bar(1, 4)), Some(0.625));
        // Unknown passes: every bar on its own.
        assert_eq!(Passes::default().update(bar(1, 4)), Some(0.25));
    }
}
