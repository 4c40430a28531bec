//! The queue of jobs waiting for a worker (`ttv serve --store postgres://...` enqueues,
//! `ttv worker` claims): one row per job with what the worker needs to plan it (an opaque
//! JSON payload), who holds it and until when.
//!
//! A worker claims the oldest waiting job (or one whose lease ran out) in one statement;
//! PostgreSQL's `FOR UPDATE SKIP LOCKED` lets many workers claim at once without waiting on
//! each other. A claim is a lease measured on the database's clock: the holder renews it
//! ([`Store::heartbeat`]) while it works; a worker that dies stops renewing, and once the
//! lease has run out the job is claimed again, and carried on from whatever the job store
//! says (a saved ticket is polled, never submitted again). Enqueueing sends a
//! `NOTIFY ttv_queue`, which wakes idle workers ([`Store::listen`]). The queue decides who
//! works on a job, never what happens to it: that is the job's state machine.

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use super::sql::{Engine, Row, Val};
use super::{Store, StoreError, StoreResult, p, parse_time};

/// The channel `NOTIFY` wakes workers on.
pub const CHANNEL: &str = "ttv_queue";

/// The advisory lock under which PostgreSQL claims go one at a time when the jobs in flight
/// are limited (`inflight` would not fit; `ttvq` in ASCII).
const INFLIGHT_LOCK: i64 = 0x7474_7671;

/// Where a queued job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    /// Waiting for a worker.
    Queued,
    /// A worker holds it (until its lease runs out).
    Claimed,
    /// A worker finished with it (whatever became of the job), or it was cancelled waiting.
    Finished,
}

impl QueueState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Claimed => "claimed",
            Self::Finished => "finished",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "claimed" => Self::Claimed,
            "finished" => Self::Finished,
            _ => return None,
        })
    }
}

/// A queued job as stored.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedJob {
    /// The job id.
    pub id: String,
    /// What the worker needs to plan the job.
    pub payload: serde_json::Value,
    /// Where it is.
    pub state: QueueState,
    /// The worker holding it.
    pub owner: Option<String>,
    /// How many times it was claimed (more than once: a worker died or let it go).
    pub claims: i64,
    /// How it ended, once finished.
    pub outcome: Option<String>,
    /// When it was queued.
    pub enqueued_at: chrono::DateTime<Utc>,
}

/// A job a worker just claimed.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The job id.
    pub id: String,
    /// What the worker needs to plan the job.
    pub payload: serde_json::Value,
    /// How many times it was claimed, this claim included.
    pub claims: i64,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn corrupt<'a>(id: &'a str, field: &'static str) -> impl Fn(String) -> StoreError + 'a {
    move |message| StoreError::Corrupt {
        id: id.to_owned(),
        field,
        message,
    }
}

fn queued_from(row: &Row) -> StoreResult<QueuedJob> {
    let id = row.text(0).map_err(corrupt("?", "queue id"))?;
    let state = row.text(2).map_err(corrupt(&id, "queue state"))?;
    Ok(QueuedJob {
        payload: serde_json::from_str(&row.text(1).map_err(corrupt(&id, "queue payload"))?)
            .map_err(|e| corrupt(&id, "queue payload")(e.to_string()))?,
        state: QueueState::parse(&state)
            .ok_or_else(|| corrupt(&id, "queue state")(format!("unknown state {state:?}")))?,
        owner: row.opt_text(3).map_err(corrupt(&id, "queue owner"))?,
        claims: row.int(4).map_err(corrupt(&id, "queue claims"))?,
        outcome: row.opt_text(5).map_err(corrupt(&id, "queue outcome"))?,
        enqueued_at: parse_time(&row.text(6).map_err(corrupt(&id, "queue enqueued_at"))?)
            .map_err(corrupt(&id, "queue enqueued_at"))?,
        id,
    })
}

impl Store {
    /// Queues job `id` with `payload` for a worker and wakes idle workers. `false` when the
    /// id was queued before (nothing changes: enqueueing is idempotent).
    pub fn enqueue(&self, id: &str, payload: &serde_json::Value) -> StoreResult<bool> {
        let now = Utc::now().to_rfc3339();
        if self.is_shared() {
            // One statement (one round trip): the notification goes out when it commits,
            // never before the row is visible, and only when a row was added.
            return self.with(|sql| {
                let added = sql.rows(
                    &format!(
                        "WITH added AS (
                             INSERT INTO queue (id, payload, state, enqueued_at, updated_at)
                             VALUES ($1, $2, 'queued', $3, $3) ON CONFLICT (id) DO NOTHING
                             RETURNING id)
                         SELECT pg_notify('{CHANNEL}', '')::text FROM added"
                    ),
                    p![id, payload.to_string(), now.as_str()],
                )?;
                Ok(!added.is_empty())
            });
        }
        self.tx(|sql| {
            let added = sql.exec(
                "INSERT INTO queue (id, payload, state, enqueued_at, updated_at)
                 VALUES ($1, $2, 'queued', $3, $3) ON CONFLICT (id) DO NOTHING",
                p![id, payload.to_string(), now.as_str()],
            )?;
            Ok(added > 0)
        })
    }

    /// Claims a job whose holder's lease ran out (on PostgreSQL these come first: a dead
    /// worker's job was at the front of the queue when it was claimed), else the oldest
    /// waiting job, for `owner` for `lease`; one round trip without `max_in_flight`. With `max_in_flight`, claims nothing while that many jobs are held under live
    /// leases by all workers together.
    pub fn claim(
        &self,
        owner: &str,
        lease: Duration,
        max_in_flight: Option<u32>,
    ) -> StoreResult<Option<Claimed>> {
        let now = Utc::now().to_rfc3339();
        let Some(max) = max_in_flight else {
            // A single statement needs no transaction around it: one round trip.
            return self.with(|sql| claim_next(sql, owner, lease, &now));
        };
        self.tx(|sql| {
            let engine = sql.engine();
            if engine == Engine::Postgres {
                sql.exec("SELECT pg_advisory_xact_lock($1)", p![INFLIGHT_LOCK])?;
            }
            let clock = engine.now_ms();
            let held = sql
                .row(
                    &format!(
                        "SELECT COUNT(*) FROM queue WHERE state = 'claimed'
                         AND lease_until >= {clock}"
                    ),
                    &[],
                )?
                .and_then(|r| r.int(0).ok())
                .unwrap_or(0);
            if held >= i64::from(max) {
                return Ok(None);
            }
            claim_next(sql, owner, lease, &now)
        })
    }

    /// Renews `owner`'s lease on job `id` for another `lease`. `false` when the lease is no
    /// longer `owner`'s (it ran out and another worker claimed the job): the worker must stop
    /// working on it.
    pub fn heartbeat(&self, id: &str, owner: &str, lease: Duration) -> StoreResult<bool> {
        self.with(|sql| {
            let clock = sql.engine().now_ms();
            Ok(sql.exec(
                &format!(
                    "UPDATE queue SET lease_until = {clock} + $3
                     WHERE id = $1 AND owner = $2 AND state = 'claimed'"
                ),
                p![id, owner, millis(lease)],
            )? > 0)
        })
    }

    /// Marks job `id` finished by `owner` with `outcome` (the job's state). `false` when
    /// `owner` no longer held it.
    pub fn finish(&self, id: &str, owner: &str, outcome: &str) -> StoreResult<bool> {
        self.with(|sql| {
            Ok(sql.exec(
                "UPDATE queue SET state = 'finished', owner = NULL, lease_until = NULL,
                     outcome = $3, updated_at = $4
                 WHERE id = $1 AND owner = $2 AND state = 'claimed'",
                p![id, owner, outcome, Utc::now().to_rfc3339()],
            )? > 0)
        })
    }

    /// Gives job `id` back to the queue (a worker draining before it stops): the next worker
    /// claims it at once and carries it on from the job store.
    pub fn release(&self, id: &str, owner: &str) -> StoreResult<bool> {
        let now = Utc::now().to_rfc3339();
        self.with(|sql| {
            let released = "UPDATE queue SET state = 'queued', owner = NULL, lease_until = NULL,
                     updated_at = $3
                 WHERE id = $1 AND owner = $2 AND state = 'claimed'";
            if sql.engine() == Engine::Postgres {
                // The wake-up rides on the same statement: one round trip, sent on commit.
                let rows = sql.rows(
                    &format!(
                        "WITH released AS ({released} RETURNING id)
                         SELECT pg_notify('{CHANNEL}', '')::text FROM released"
                    ),
                    p![id, owner, now.as_str()],
                )?;
                return Ok(!rows.is_empty());
            }
            Ok(sql.exec(released, p![id, owner, now.as_str()])? > 0)
        })
    }

    /// Takes job `id` off the queue while no worker holds it (cancelled while waiting).
    /// `false` when a worker already claimed it, or it was never queued.
    pub fn cancel_queued(&self, id: &str) -> StoreResult<bool> {
        self.with(|sql| {
            Ok(sql.exec(
                "UPDATE queue SET state = 'finished', outcome = 'cancelled', updated_at = $2
                 WHERE id = $1 AND state = 'queued'",
                p![id, Utc::now().to_rfc3339()],
            )? > 0)
        })
    }

    /// The queue row of job `id`, if it was queued.
    pub fn queued(&self, id: &str) -> StoreResult<Option<QueuedJob>> {
        let row = self.with(|sql| {
            Ok(sql.row(
                "SELECT id, payload, state, owner, claims, outcome, enqueued_at FROM queue
                 WHERE id = $1",
                p![id],
            )?)
        })?;
        row.as_ref().map(queued_from).transpose()
    }

    /// Every queue row, oldest first.
    pub fn queue(&self) -> StoreResult<Vec<QueuedJob>> {
        let rows = self.with(|sql| {
            Ok(sql.rows(
                "SELECT id, payload, state, owner, claims, outcome, enqueued_at FROM queue
                 ORDER BY enqueued_at, id",
                &[],
            )?)
        })?;
        rows.iter().map(queued_from).collect()
    }

    /// How many queue rows are in each state.
    pub fn queue_counts(&self) -> StoreResult<Vec<(QueueState, i64)>> {
        let rows = self.with(|sql| {
            Ok(sql.rows(
                "SELECT state, COUNT(*) FROM queue GROUP BY state ORDER BY state",
                &[],
            )?)
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let state = QueueState::parse(&r.text(0).ok()?)?;
                Some((state, r.int(1).ok()?))
            })
            .collect())
    }

    /// How many jobs are in each state (the job store's, not the queue's).
    pub fn state_counts(&self) -> StoreResult<Vec<(super::JobState, i64)>> {
        let rows = self.with(|sql| {
            Ok(sql.rows(
                "SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state",
                &[],
            )?)
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.text(0).ok()?.parse().ok()?, r.int(1).ok()?)))
            .collect())
    }

    /// A listener woken when a job is queued (PostgreSQL's `LISTEN`); `None` on SQLite,
    /// where workers look at the queue at an interval instead. Blocking.
    pub fn listen(&self) -> StoreResult<Option<Listener>> {
        let super::Db::Postgres(db) = &self.inner.db else {
            return Ok(None);
        };
        let mut client = db.dedicated()?;
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
            super::postgres::close_aside(client);
            return Err(StoreError::from(super::sql::DbError::from(e)).at(self.path()));
        }
        Ok(Some(Listener {
            client: Some(client),
            shown: self.path().to_owned(),
        }))
    }
}

/// Claims a job whose holder's lease ran out, else the oldest waiting job, in one statement.
fn claim_next(
    sql: &mut dyn super::sql::Sql,
    owner: &str,
    lease: Duration,
    now: &str,
) -> StoreResult<Option<Claimed>> {
    let engine = sql.engine();
    let clock = engine.now_ms();
    let pick = match engine {
        // Two probes, each down a partial index of its own, so that a claim costs the same
        // with a million finished rows or a thousand live leases as with none: first a
        // lease that ran out (the lease index's range, compared with the statement's own
        // stable clock so that it is an index bound), else the oldest waiting row. `SKIP
        // LOCKED` lets claimers pass each other's candidates instead of queueing on them.
        Engine::Postgres => "COALESCE(
                 (SELECT id FROM queue WHERE state = 'claimed'
                    AND lease_until < CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)
                  ORDER BY lease_until LIMIT 1 FOR UPDATE SKIP LOCKED),
                 (SELECT id FROM queue WHERE state = 'queued'
                  ORDER BY enqueued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED))"
            .to_owned(),
        Engine::Sqlite => format!(
            "(SELECT id FROM queue
              WHERE state = 'queued' OR (state = 'claimed' AND lease_until < {clock})
              ORDER BY enqueued_at, id LIMIT 1)"
        ),
    };
    let row = sql.row(
        &format!(
            "UPDATE queue SET state = 'claimed', owner = $1, lease_until = {clock} + $2,
                 claims = claims + 1, updated_at = $3
             WHERE id = {pick}
             RETURNING id, payload, claims"
        ),
        p![owner, millis(lease), now],
    )?;
    let Some(row) = row else { return Ok(None) };
    let id = row.text(0).map_err(corrupt("?", "queue id"))?;
    Ok(Some(Claimed {
        payload: serde_json::from_str(&row.text(1).map_err(corrupt(&id, "queue payload"))?)
            .map_err(|e| corrupt(&id, "queue payload")(e.to_string()))?,
        claims: row.int(2).map_err(corrupt(&id, "queue claims"))?,
        id,
    }))
}

/// A PostgreSQL session listening for queued jobs; see [`Store::listen`].
pub struct Listener {
    client: Option<::postgres::Client>,
    shown: String,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("at", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Waits up to `timeout` for a job to be queued; `true` when one was. Blocking.
    pub fn wait(&mut self, timeout: Duration) -> StoreResult<bool> {
        let Some(client) = self.client.as_mut() else {
            return Ok(false);
        };
        use ::postgres::fallible_iterator::FallibleIterator as _;
        let mut notes = client.notifications();
        let first = notes.timeout_iter(timeout).next();
        match first {
            Ok(Some(_)) => {
                // Several jobs queued at once wake once.
                while let Ok(Some(_)) = notes.iter().next() {}
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => Err(StoreError::from(super::sql::DbError::from(e)).at(&self.shown)),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            super::postgres::close_aside(client);
        }
    }
}
