//! What the simulator saw and did, with times: the request log ([`Record`]) and each task's
//! state changes ([`TaskTimeline`]). Both are plain serialisable data, served as JSON by
//! `GET /_sim/requests` and `GET /_sim/tasks` and returned in-process by [`crate::Sim`]; the
//! same types deserialise what the HTTP endpoints return.
//!
//! Every time is a [`SimTime`] on one clock: the simulator's monotonic clock (tokio's, so a
//! test's paused clock applies) counted from the moment it started, with the matching UTC
//! wall-clock time. Request arrivals and task state changes can therefore be subtracted from
//! each other directly; [`TaskTimeline::noticed_after`] does so for the most common question,
//! "how long after a task finished did the client see it?".

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Provider;
use crate::config::Endpoint;

/// A moment on the simulator's clock.
///
/// JSON: `{"since_start_us": 1250042, "utc": "2026-12-01T10:00:01.250042Z"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SimTime {
    /// Time since the simulator started, on its monotonic clock; microseconds in JSON.
    #[serde(rename = "since_start_us", with = "micros")]
    pub since_start: Duration,
    /// The same moment as UTC wall-clock time (start time plus `since_start`).
    pub utc: DateTime<Utc>,
}

impl SimTime {
    /// How long after `earlier` this moment is; zero when it is not later.
    pub fn duration_since(&self, earlier: SimTime) -> Duration {
        self.since_start.saturating_sub(earlier.since_start)
    }
}

mod micros {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_micros)
    }
}

/// One request the simulator received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When the simulator had read the request (headers and body), before it answered.
    pub received_at: SimTime,
    /// Which provider's protocol it addressed, when any.
    pub provider: Option<Provider>,
    /// Which kind of call it was, when recognised.
    pub endpoint: Option<Endpoint>,
    /// The task the call created or addressed, when any: the id of its [`TaskTimeline`].
    pub task: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Query string, when any.
    pub query: Option<String>,
    /// Request headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// Request body as text.
    pub body: String,
    /// Status sent back (0 when the connection was dropped before a status).
    pub status: u16,
    /// Whether the call created a billable task.
    pub paid: bool,
}

impl Record {
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It produced a video.
    Succeeded,
    /// It failed (a `task_failure` fault).
    Failed,
    /// The safety filter stopped it (a `moderation` fault).
    Moderated,
    /// A client cancelled it before it finished.
    Cancelled,
}

/// The state changes of one simulated task, as the simulator made them.
///
/// A change appears once it has happened: a task still running has `running_at` and no
/// `done_at`. `done_at` is when the task reached its final state — the end of its run, or the
/// moment it was cancelled — so a poll received at or after it is the first that can report
/// the result.
///
/// JSON:
/// ```json
/// {"provider": "runway", "id": "5f0c…", "queued_at": {…}, "running_at": {…},
///  "done_at": {…}, "outcome": "succeeded", "deleted_at": null}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskTimeline {
    /// The provider whose protocol created it.
    pub provider: Provider,
    /// The provider's id for it: Runway's task id, the last segment of a Veo operation name,
    /// fal's request id, MiniMax's task id. Request records name it in [`Record::task`].
    pub id: String,
    /// When the submit created it (it is queued from then on).
    pub queued_at: SimTime,
    /// When it left the queue and started running; none while queued, or when cancelled in
    /// the queue.
    pub running_at: Option<SimTime>,
    /// When it reached its final state; none while it is queued or running.
    pub done_at: Option<SimTime>,
    /// How it ended, once `done_at` is set.
    pub outcome: Option<Outcome>,
    /// When a client deleted it (Runway's `DELETE` of a finished task); from then on the task
    /// is unknown to every protocol call.
    pub deleted_at: Option<SimTime>,
}

impl TaskTimeline {
    /// How long after the task finished the client first heard of it: the time from
    /// `done_at` to the first successful (2xx) poll or result call for this task received
    /// at or after it. `None` while the task is unfinished or no such call has arrived.
    pub fn noticed_after(&self, records: &[Record]) -> Option<Duration> {
        let done = self.done_at?;
        records
            .iter()
            .filter(|r| {
                r.task.as_deref() == Some(self.id.as_str())
                    && matches!(r.endpoint, Some(Endpoint::Poll | Endpoint::Result))
                    && (200..300).contains(&r.status)
                    && r.received_at >= done
            })
            .map(|r| r.received_at.duration_since(done))
            .min()
    }
}
