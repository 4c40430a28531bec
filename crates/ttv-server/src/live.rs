//! What the server knows about running jobs beyond the job store: the event log behind
//! `GET /jobs/{id}/events` (numbered, kept per job so that a client reconnecting with
//! `Last-Event-ID` misses nothing), the latest progress, the cancel handle, and the queue.
//! In memory only: after a restart a job's log starts again from its state in the store.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Notify;
use ttv::facade::Cancel;

/// One event of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobEvent {
    /// Its number within the job, from 1.
    pub id: u64,
    /// `queued`, `started`, `submitted`, `progress`, `downloading`, `verifying`, `done`,
    /// `failed` or `cancelled`.
    pub event: &'static str,
    /// The details.
    pub data: Value,
}

impl JobEvent {
    /// Whether the job ends with this event.
    pub fn is_terminal(&self) -> bool {
        matches!(self.event, "done" | "failed" | "cancelled")
    }
}

/// The live side of one job.
#[derive(Debug, Default)]
pub struct LiveJob {
    /// Its events, in order.
    pub events: Vec<JobEvent>,
    /// Progress, 0 to 100.
    pub progress: u8,
    /// When a worker took it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed before reaching the job store (a plan that failed after a restart).
    pub error: Option<String>,
    /// Stops the run.
    pub cancel: Cancel,
    /// Whether a worker is running it now.
    pub running: bool,
    /// Whether its paid request is being sent or its video downloaded (shutdown waits).
    pub critical: bool,
    notify: Arc<Notify>,
}

/// Every live job and the queue.
#[derive(Default)]
pub struct Live {
    jobs: Mutex<HashMap<String, LiveJob>>,
    queue: Mutex<VecDeque<String>>,
}

impl Live {
    fn with<R>(&self, id: &str, f: impl FnOnce(&mut LiveJob) -> R) -> R {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        f(jobs.entry(id.to_owned()).or_default())
    }

    /// Reads job `id`'s live state, if it has one.
    pub fn read<R>(&self, id: &str, f: impl FnOnce(&LiveJob) -> R) -> Option<R> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.get(id).map(f)
    }

    /// Changes job `id`'s live state.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut LiveJob)) {
        self.with(id, f);
    }

    /// Appends an event to job `id`'s log and wakes its listeners.
    pub fn push(&self, id: &str, event: &'static str, data: Value) {
        let notify = self.with(id, |job| {
            let next = job.events.len() as u64 + 1;
            if let Some(p) = data.get("progress").and_then(Value::as_u64) {
                job.progress = p.min(100) as u8;
            }
            job.events.push(JobEvent {
                id: next,
                event,
                data,
            });
            job.notify.clone()
        });
        notify.notify_waiters();
    }

    /// The events of job `id` after number `after`, and what to wait on for more.
    pub fn since(&self, id: &str, after: u64) -> (Vec<JobEvent>, Arc<Notify>) {
        self.with(id, |job| {
            let start = usize::try_from(after)
                .unwrap_or(usize::MAX)
                .min(job.events.len());
            (job.events[start..].to_vec(), job.notify.clone())
        })
    }

    /// The cancel handle of job `id`.
    pub fn cancel_handle(&self, id: &str) -> Cancel {
        self.with(id, |job| job.cancel.clone())
    }

    /// Puts job `id` at the back of the queue; returns its position (1 = next).
    pub fn enqueue(&self, id: &str) -> usize {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.push_back(id.to_owned());
        queue.len()
    }

    /// Takes job `id` out of the queue.
    pub fn dequeue(&self, id: &str) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = queue.iter().position(|q| q == id) {
            queue.remove(i);
        }
    }

    /// Job `id`'s place in the queue (1 = next), if it waits.
    pub fn position(&self, id: &str) -> Option<usize> {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.iter().position(|q| q == id).map(|i| i + 1)
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Jobs a worker runs now, and of those how many are sending or downloading.
    pub fn running(&self) -> (usize, usize) {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let running = jobs.values().filter(|j| j.running).count();
        let critical = jobs.values().filter(|j| j.running && j.critical).count();
        (running, critical)
    }
}

/// The event for a step of ttv's job loop; `None` for steps not worth a line (and for
/// progress that did not move a whole percent).
pub fn from_step(live: &Live, id: &str, step: &ttv::Event) -> Option<(&'static str, Value)> {
    use ttv::Event as E;
    let last = live.read(id, |j| j.progress).unwrap_or(0);
    match step {
        E::Validated(_) => None,
        E::Submitted(ticket) => Some(("submitted", json!({ "provider_job": ticket.id }))),
        E::Queued { position } => Some((
            "queued",
            json!({ "position": position, "where": "provider" }),
        )),
        E::Running { progress } => {
            let pct = progress.map_or(0, |p| (p.clamp(0.0, 1.0) * 90.0).round() as u8);
            let first = live
                .read(id, |j| !j.events.iter().any(|e| e.event == "progress"))
                .unwrap_or(true);
            (pct > last || first).then(|| ("progress", json!({ "progress": pct })))
        }
        E::Downloading { received, total } => {
            let pct = total
                .filter(|t| *t > 0)
                .map(|t| 90 + ((*received as f64 / t as f64) * 9.0).floor() as u8);
            let first = live
                .read(id, |j| {
                    j.events.last().map(|e| e.event) != Some("downloading")
                })
                .unwrap_or(true);
            match pct {
                Some(p) if p > last || first => Some((
                    "downloading",
                    json!({ "progress": p.max(90), "received": received, "total": total }),
                )),
                None if first => Some((
                    "downloading",
                    json!({ "progress": 90, "received": received, "total": total }),
                )),
                _ => None,
            }
        }
        E::Verifying => Some(("verifying", json!({ "progress": 99 }))),
    }
}
