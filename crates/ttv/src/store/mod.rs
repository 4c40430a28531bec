//! The durable job store: one SQLite file in the data directory.
//!
//! Every job is a row before anything is sent. State changes go through
//! [`state::Machine::apply`] inside one immediate transaction, with a history row per change,
//! so two processes never both submit a job and a crash never loses a saved ticket. The store
//! holds requests as their JSON description (requests carry no keys; images are described,
//! not included) and never a credential.
//!
//! Calls block on the disk; async code runs them through `tokio::task::spawn_blocking` (see
//! [`crate::jobs`]). This module knows nothing of backends or HTTP.

mod film_runs;
pub mod state;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use sha2::Digest as _;

use crate::backend::Ticket;
use crate::capabilities::Resolved;
use crate::cost::{CostEstimate, Money};
use crate::error::{Error, ErrorKind};

pub use film_runs::{FilmRun, FilmState, NewFilmRun};
pub use state::{JobEvent, JobState, Machine, Refused};

/// The file name of the store inside the data directory.
pub const FILE_NAME: &str = "jobs.sqlite3";

/// Schema migrations, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        backend TEXT NOT NULL,
        model TEXT,
        request TEXT NOT NULL,
        resolved TEXT NOT NULL,
        estimate TEXT NOT NULL,
        estimate_usd_micros INTEGER NOT NULL,
        ticket TEXT,
        submits INTEGER NOT NULL DEFAULT 0,
        out_path TEXT NOT NULL,
        charged TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX jobs_state ON jobs(state);
    CREATE TABLE job_history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs(id),
        at TEXT NOT NULL,
        event TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        backend TEXT NOT NULL,
        detail TEXT
    );
    CREATE INDEX job_history_job ON job_history(job_id);",
    // What a job makes: `video` (every job before this migration) or `image` (keyframes).
    "ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'video';",
    // Films (`ttv film`): a run of segment jobs, see `film_runs.rs`.
    "CREATE TABLE film_runs (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        title TEXT,
        plan TEXT NOT NULL,
        settings TEXT NOT NULL,
        out_path TEXT NOT NULL,
        error TEXT,
        result TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );",
];

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("job store {path}: {source}")]
    Db {
        /// The database file.
        path: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// A row could not be read back.
    #[error("job store: job {id} has an unreadable {field}: {message}")]
    Corrupt {
        /// The job.
        id: String,
        /// The column.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No such job.
    #[error("no job {0:?} (`ttv jobs list` shows the jobs)")]
    NotFound(String),
    /// The id is taken.
    #[error("job {0:?} already exists")]
    Exists(String),
    /// The event does not apply.
    #[error("job {id}: {refused}")]
    Refused {
        /// The job.
        id: String,
        /// Why.
        refused: Refused,
    },
    /// The file is not a SQLite database, or a damaged one. Never deleted or changed.
    #[error(
        "job store {path} is damaged ({message}); ttv has not changed it. To start with an empty \
         store, move it aside with its -wal and -shm files (`mv {path} {path}.damaged`), or point \
         --data-dir or TTV_DATA_DIR at another folder; the sqlite3 shell's `.recover` command \
         may rescue the jobs it holds"
    )]
    Damaged {
        /// The database file.
        path: String,
        /// What SQLite said.
        message: String,
    },
    /// The database was written by a newer ttv.
    #[error("job store {path} has schema version {found}; this ttv knows up to {known}")]
    TooNew {
        /// The database file.
        path: String,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        let kind = match &e {
            StoreError::Db { .. } | StoreError::Corrupt { .. } | StoreError::Damaged { .. } => {
                ErrorKind::Io
            }
            StoreError::TooNew { .. } => ErrorKind::Config,
            StoreError::NotFound(_) | StoreError::Exists(_) | StoreError::Refused { .. } => {
                ErrorKind::InvalidRequest
            }
        };
        Error::new(kind, e.to_string()).with_source(e)
    }
}

type StoreResult<T> = std::result::Result<T, StoreError>;

/// What is recorded about a job before anything is sent.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The job id (the idempotency key).
    pub id: String,
    /// Canonical backend name.
    pub backend: String,
    /// The model, when the backend has several.
    pub model: Option<String>,
    /// The request as JSON (its `Serialize` form: no secrets, images described).
    pub request: serde_json::Value,
    /// The request made concrete for the backend.
    pub resolved: Resolved,
    /// The cost estimate made before submitting.
    pub estimate: CostEstimate,
    /// Where the video goes (absolute).
    pub out: PathBuf,
}

/// What a job makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A video clip (every job made before image jobs existed).
    #[default]
    Video,
    /// A still image (a keyframe); its `resolved` holds the image size as a one-frame clip.
    Image,
    /// A film's planning call to a language model (`RUN-plan`): a synchronous paid call,
    /// recorded done with what its tokens cost, so that budgets and `ttv spend` count it.
    Plan,
}

impl JobKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Image => "image",
            Self::Plan => "plan",
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// The job id.
    pub id: String,
    /// What it makes.
    pub kind: JobKind,
    /// Where it is.
    pub state: JobState,
    /// Canonical backend name.
    pub backend: String,
    /// The model.
    pub model: Option<String>,
    /// The request as JSON.
    pub request: serde_json::Value,
    /// The request made concrete for the backend.
    pub resolved: Resolved,
    /// The estimate.
    pub estimate: CostEstimate,
    /// The provider's ticket, once submitted.
    pub ticket: Option<Ticket>,
    /// Paid requests sent (or possibly sent).
    pub submits: u32,
    /// Where the video goes.
    pub out: PathBuf,
    /// What the provider said it charged.
    pub charged: Option<Money>,
    /// The last error.
    pub error: Option<String>,
    /// When the row was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Job {
    fn machine(&self) -> Machine {
        Machine {
            state: Some(self.state),
            ticket: self.ticket.clone(),
            submits: self.submits,
            error: self.error.clone(),
            charged: self.charged.clone(),
        }
    }

    /// What the job costs for budgets: what the provider charged (a charge in credits
    /// converted at the credit rate of the price table the estimate came from), else the
    /// estimate once a paid request may have been sent, else nothing.
    pub fn spent_usd_micros(&self) -> i64 {
        self.spent().0
    }

    /// [`Job::spent_usd_micros`] and where the figure comes from.
    pub fn spent(&self) -> (i64, crate::budget::LedgerBasis) {
        use crate::budget::LedgerBasis as B;
        use crate::cost::Currency;
        let estimate = if self.submits > 0 {
            self.estimate.usd.micros
        } else {
            0
        };
        let Some(charged) = &self.charged else {
            return (estimate, B::Estimate);
        };
        match (&charged.currency, &self.estimate.native) {
            (Currency::Usd, _) => (charged.micros, B::Charged),
            (unit, Some(native)) if &native.currency == unit && native.micros > 0 => {
                // The estimate's own dollars-per-credit: exact integer arithmetic.
                let usd = i128::from(charged.micros) * i128::from(self.estimate.usd.micros)
                    / i128::from(native.micros);
                (i64::try_from(usd).unwrap_or(i64::MAX), B::ChargedInCredits)
            }
            _ => (estimate, B::Estimate),
        }
    }
}

/// One change in a job's life.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// The event's name.
    pub event: String,
    /// The state before.
    pub from: JobState,
    /// The state after.
    pub to: JobState,
    /// The backend the job was on.
    pub backend: String,
    /// The error or ticket id, when the event had one.
    pub detail: Option<String>,
}

/// The job store. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open_in(data_dir: &Path) -> crate::Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            Error::io(
                format_args!("cannot create the data directory {}", data_dir.display()),
                e,
            )
        })?;
        Ok(Self::open(&data_dir.join(FILE_NAME))?)
    }

    /// Opens (creating if needed) the store file at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let shown = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| opening(&shown, source))?;
        Self::setup(conn, shown.clone())
    }

    /// A store that lives in memory, for tests and benchmarks.
    pub fn in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Db {
            path: ":memory:".into(),
            source,
        })?;
        Self::setup(conn, ":memory:".into())
    }

    fn setup(mut conn: Connection, path: String) -> StoreResult<Self> {
        let db = |source| opening(&path, source);
        // Another ttv may hold the write lock for a moment; wait rather than fail.
        conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path,
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            tx.execute_batch(sql).map_err(db)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.into(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done transaction behind (SQLite rolls
        // back), so the connection is still good.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Db {
            path: self.path.to_string(),
            source,
        }
    }

    /// Records a new job in `created`. Fails if the id is taken.
    pub fn create(&self, job: &NewJob) -> StoreResult<Job> {
        self.create_kind(job, JobKind::Video)
    }

    /// [`Store::create`] for a job that makes `kind`.
    pub fn create_kind(&self, job: &NewJob, kind: JobKind) -> StoreResult<Job> {
        let db = self.db();
        let now = Utc::now();
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let exists: bool = tx
            .query_row("SELECT 1 FROM jobs WHERE id = ?1", [&job.id], |_| Ok(true))
            .optional()
            .map_err(&db)?
            .unwrap_or(false);
        if exists {
            return Err(StoreError::Exists(job.id.clone()));
        }
        tx.execute(
            "INSERT INTO jobs (id, state, backend, model, request, resolved, estimate,
                 estimate_usd_micros, submits, out_path, created_at, updated_at, kind)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?10, ?11)",
            params![
                job.id,
                JobState::Created.as_str(),
                job.backend,
                job.model,
                job.request.to_string(),
                to_json(&job.resolved),
                to_json(&job.estimate),
                job.estimate.usd.micros,
                job.out.to_string_lossy(),
                now.to_rfc3339(),
                kind.as_str(),
            ],
        )
        .map_err(&db)?;
        insert_history(
            &tx,
            &job.id,
            now,
            "created",
            JobState::Created,
            JobState::Created,
            &job.backend,
            None,
        )
        .map_err(&db)?;
        let created =
            read_job(&tx, &job.id)?.ok_or_else(|| StoreError::NotFound(job.id.clone()))?;
        tx.commit().map_err(&db)?;
        Ok(created)
    }

    /// The job called `id`, if any.
    pub fn get(&self, id: &str) -> StoreResult<Option<Job>> {
        let conn = self.lock();
        read_job(&conn, id)
    }

    /// The job called `id`, or [`StoreError::NotFound`].
    pub fn job(&self, id: &str) -> StoreResult<Job> {
        self.get(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))
    }

    /// Every job, newest first; only those in `states` when it is not empty.
    pub fn list(&self, states: &[JobState]) -> StoreResult<Vec<Job>> {
        let db = self.db();
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT id FROM jobs ORDER BY created_at DESC, id")
            .map_err(&db)?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(&db)?
            .collect::<Result<_, _>>()
            .map_err(&db)?;
        let mut jobs = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(job) = read_job(&conn, &id)?
                && (states.is_empty() || states.contains(&job.state))
            {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    /// Applies `event` to job `id` in one transaction and returns the job after it.
    pub fn apply(&self, id: &str, event: &JobEvent) -> StoreResult<Job> {
        self.apply_on(id, None, event)
    }

    /// [`Store::apply`], moving the job to `backend` first (a fallback before submitting).
    pub fn apply_on(&self, id: &str, backend: Option<&str>, event: &JobEvent) -> StoreResult<Job> {
        let db = self.db();
        let now = Utc::now();
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let job = read_job(&tx, id)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        if *event == JobEvent::Retry && unsettled_submit(&tx, id).map_err(&db)? {
            return Err(StoreError::Refused {
                id: id.to_owned(),
                refused: Refused {
                    state: job.state,
                    event: event.name(),
                    reason: "a paid submit of it may have reached the provider and was never settled, so the provider may still have it; \
                             look in the provider's task list: `ttv jobs resolve ID --submitted TASK_ID` fetches the task if it is there, \
                             `ttv jobs resolve ID --not-submitted` lets the next generate submit it again",
                },
            });
        }
        let mut machine = job.machine();
        machine
            .apply(event)
            .map_err(|refused| StoreError::Refused {
                id: id.to_owned(),
                refused,
            })?;
        let backend = backend.unwrap_or(&job.backend);
        let to = machine.state();
        tx.execute(
            "UPDATE jobs SET state = ?2, ticket = ?3, submits = ?4, error = ?5, charged = ?6,
                 backend = ?7, updated_at = ?8 WHERE id = ?1",
            params![
                id,
                to.as_str(),
                machine.ticket.as_ref().map(to_json),
                machine.submits,
                machine.error,
                machine.charged.as_ref().map(to_json),
                backend,
                now.to_rfc3339(),
            ],
        )
        .map_err(&db)?;
        let detail = match event {
            JobEvent::Submitted(t) | JobEvent::ResolveSubmitted(t) | JobEvent::Settled(t) => {
                Some(t.id.clone())
            }
            JobEvent::SubmitNotSent(e)
            | JobEvent::SubmitAmbiguous(e)
            | JobEvent::Failed(e)
            | JobEvent::ResolveFailed(e) => Some(e.clone()),
            _ => None,
        };
        insert_history(
            &tx,
            id,
            now,
            event.name(),
            job.state,
            to,
            backend,
            detail.as_deref(),
        )
        .map_err(&db)?;
        let after = read_job(&tx, id)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        tx.commit().map_err(&db)?;
        Ok(after)
    }

    /// Records that job `id`'s video went to `out` (a free name beside the one planned).
    pub fn set_out(&self, id: &str, out: &Path) -> StoreResult<Job> {
        let db = self.db();
        let conn = self.lock();
        let changed = conn
            .execute(
                "UPDATE jobs SET out_path = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, out.to_string_lossy(), Utc::now().to_rfc3339()],
            )
            .map_err(&db)?;
        if changed == 0 {
            return Err(StoreError::NotFound(id.to_owned()));
        }
        read_job(&conn, id)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))
    }

    /// Adds `event` (with `detail`) to job `id`'s history without changing its state: a
    /// fact about a finished job, such as where its video was stored.
    pub fn note(&self, id: &str, event: &str, detail: &str) -> StoreResult<()> {
        let db = self.db();
        let conn = self.lock();
        let job = read_job(&conn, id)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        insert_history(
            &conn,
            id,
            Utc::now(),
            event,
            job.state,
            job.state,
            &job.backend,
            Some(detail),
        )
        .map_err(&db)?;
        Ok(())
    }

    /// What every job that may have cost money cost, oldest first (see [`Job::spent_usd_micros`]).
    pub fn ledger(&self) -> StoreResult<Vec<crate::budget::LedgerEntry>> {
        let mut entries: Vec<_> = self
            .list(&[])?
            .into_iter()
            .filter(|j| j.submits > 0 || j.charged.is_some())
            .map(|j| {
                let (usd_micros, basis) = j.spent();
                crate::budget::LedgerEntry {
                    usd_micros,
                    charged: basis != crate::budget::LedgerBasis::Estimate,
                    basis,
                    job_id: j.id,
                    backend: j.backend,
                    model: j.model,
                    at: j.created_at,
                }
            })
            .collect();
        entries.reverse();
        Ok(entries)
    }

    /// Moves a job that was never submitted to another backend (a fallback), with the request
    /// made concrete and priced for it. Refused once a paid request may have been sent.
    pub fn rebind(
        &self,
        id: &str,
        backend: &str,
        model: Option<&str>,
        resolved: &Resolved,
        estimate: &CostEstimate,
    ) -> StoreResult<Job> {
        let db = self.db();
        let now = Utc::now();
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let job = read_job(&tx, id)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        if job.state != JobState::Created || job.ticket.is_some() {
            return Err(StoreError::Refused {
                id: id.to_owned(),
                refused: Refused {
                    state: job.state,
                    event: "fallback",
                    reason: "only a job that was never submitted moves to another backend",
                },
            });
        }
        tx.execute(
            "UPDATE jobs SET backend = ?2, model = ?3, resolved = ?4, estimate = ?5,
                 estimate_usd_micros = ?6, updated_at = ?7 WHERE id = ?1",
            params![
                id,
                backend,
                model,
                to_json(resolved),
                to_json(estimate),
                estimate.usd.micros,
                now.to_rfc3339(),
            ],
        )
        .map_err(&db)?;
        let detail = format!("from {} to {backend}", job.backend);
        insert_history(
            &tx,
            id,
            now,
            "fallback",
            job.state,
            job.state,
            backend,
            Some(&detail),
        )
        .map_err(&db)?;
        let after = read_job(&tx, id)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        tx.commit().map_err(&db)?;
        Ok(after)
    }

    /// Claims job `id` for this process until the returned guard is dropped (or the process
    /// dies: the operating system releases the lock, so a crash never leaves a job stuck).
    /// `None` when another process (or another claim in this one) holds it. Stores in memory
    /// lock nothing.
    pub fn lock_job(&self, id: &str) -> StoreResult<Option<JobLock>> {
        let Some(dir) = Path::new(&*self.path)
            .parent()
            .filter(|_| &*self.path != ":memory:")
        else {
            return Ok(Some(JobLock { _file: None }));
        };
        let dir = dir.join("locks");
        let io = |e: std::io::Error| StoreError::Corrupt {
            id: id.to_owned(),
            field: "lock file",
            message: format!("{}: {e}", dir.display()),
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        // Hashed, so any id makes a safe file name.
        let name = hex::encode(sha2::Sha256::digest(id.as_bytes()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(&name[..32]))
            .map_err(io)?;
        if try_lock(&file).map_err(io)? {
            Ok(Some(JobLock { _file: Some(file) }))
        } else {
            Ok(None)
        }
    }

    /// Seconds from submit to the provider's success (as ttv noticed it) of the latest
    /// finished jobs on `backend` and `model` with the same mode, duration and resolution as
    /// `like`, newest first, at most `limit`: what adaptive polling learns from
    /// ([`crate::polling`]).
    pub fn finished_times(
        &self,
        backend: &str,
        model: Option<&str>,
        like: &Resolved,
        limit: usize,
    ) -> StoreResult<Vec<f64>> {
        let db = self.db();
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT j.resolved, MAX(s.at), MAX(d.at) FROM jobs j
                 JOIN job_history s ON s.job_id = j.id AND s.event = 'submitted'
                 JOIN job_history d ON d.job_id = j.id AND d.event = 'downloading'
                 WHERE j.state = 'done' AND j.backend = ?1 AND j.model IS ?2
                 GROUP BY j.id ORDER BY j.updated_at DESC LIMIT ?3",
            )
            .map_err(&db)?;
        let scan = i64::try_from(limit.saturating_mul(4)).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![backend, model, scan], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(&db)?;
        let mut out = Vec::new();
        for row in rows {
            let (resolved, sent, noticed) = row.map_err(&db)?;
            // A row that does not parse is skipped: this is a hint, not a record.
            let Ok(r) = serde_json::from_str::<Resolved>(&resolved) else {
                continue;
            };
            if r.mode != like.mode || r.duration != like.duration || r.resolution != like.resolution
            {
                continue;
            }
            if let (Ok(a), Ok(b)) = (parse_time(&sent), parse_time(&noticed)) {
                let secs = (b - a).as_seconds_f64();
                if secs >= 0.0 {
                    out.push(secs);
                }
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Every recorded change of job `id`, oldest first.
    pub fn history(&self, id: &str) -> StoreResult<Vec<HistoryEntry>> {
        let db = self.db();
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT at, event, from_state, to_state, backend, detail FROM job_history
                 WHERE job_id = ?1 ORDER BY seq",
            )
            .map_err(&db)?;
        let rows = stmt
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(&db)?;
        let mut out = Vec::new();
        for row in rows {
            let (at, event, from, to, backend, detail) = row.map_err(&db)?;
            let corrupt = |field, message: String| StoreError::Corrupt {
                id: id.to_owned(),
                field,
                message,
            };
            out.push(HistoryEntry {
                at: parse_time(&at).map_err(|m| corrupt("history.at", m))?,
                event,
                from: from.parse().map_err(|m| corrupt("history.from_state", m))?,
                to: to.parse().map_err(|m| corrupt("history.to_state", m))?,
                backend,
                detail,
            });
        }
        Ok(out)
    }
}

/// An error met while opening the store at `path`: a file that is not a database, or a
/// damaged one, is named as such.
fn opening(path: &str, source: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Damaged {
            path: path.to_owned(),
            message: source.to_string(),
        },
        _ => StoreError::Db {
            path: path.to_owned(),
            source,
        },
    }
}

/// Whether a paid submit of job `id` may have reached the provider without anyone knowing
/// what became of it: an ambiguous or interrupted submit not followed by a person saying it
/// never arrived, nor by the provider reporting a task of the job running.
fn unsettled_submit(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare("SELECT event FROM job_history WHERE job_id = ?1 ORDER BY seq")?;
    let events = stmt.query_map([id], |r| r.get::<_, String>(0))?;
    let mut unsettled = false;
    for event in events {
        match event?.as_str() {
            "submit_ambiguous" | "interrupted" => unsettled = true,
            "resolve_not_submitted" | "running" | "downloading" | "done" | "retry" => {
                unsettled = false;
            }
            _ => {}
        }
    }
    Ok(unsettled)
}

/// A job claimed by this process; see [`Store::lock_job`].
#[derive(Debug)]
pub struct JobLock {
    _file: Option<std::fs::File>,
}

fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising these plain data types cannot fail; an empty object would still parse.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| e.to_string())
}

#[allow(clippy::too_many_arguments)]
fn insert_history(
    conn: &Connection,
    id: &str,
    at: DateTime<Utc>,
    event: &str,
    from: JobState,
    to: JobState,
    backend: &str,
    detail: Option<&str>,
) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT INTO job_history (job_id, at, event, from_state, to_state, backend, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            at.to_rfc3339(),
            event,
            from.as_str(),
            to.as_str(),
            backend,
            detail
        ],
    )
}

struct Row {
    id: String,
    state: String,
    backend: String,
    model: Option<String>,
    request: String,
    resolved: String,
    estimate: String,
    ticket: Option<String>,
    submits: u32,
    out_path: String,
    charged: Option<String>,
    error: Option<String>,
    created_at: String,
    updated_at: String,
    kind: String,
}

fn read_job(conn: &Connection, id: &str) -> StoreResult<Option<Job>> {
    let row = conn
        .query_row(
            "SELECT id, state, backend, model, request, resolved, estimate, ticket, submits,
                 out_path, charged, error, created_at, updated_at, kind FROM jobs WHERE id = ?1",
            [id],
            |r| {
                Ok(Row {
                    id: r.get(0)?,
                    state: r.get(1)?,
                    backend: r.get(2)?,
                    model: r.get(3)?,
                    request: r.get(4)?,
                    resolved: r.get(5)?,
                    estimate: r.get(6)?,
                    ticket: r.get(7)?,
                    submits: r.get(8)?,
                    out_path: r.get(9)?,
                    charged: r.get(10)?,
                    error: r.get(11)?,
                    created_at: r.get(12)?,
                    updated_at: r.get(13)?,
                    kind: r.get(14)?,
                })
            },
        )
        .optional()
        .map_err(|source| StoreError::Db {
            path: "jobs".into(),
            source,
        })?;
    let Some(row) = row else { return Ok(None) };
    let corrupt = |field, message: String| StoreError::Corrupt {
        id: row.id.clone(),
        field,
        message,
    };
    fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
    Ok(Some(Job {
        kind: match row.kind.as_str() {
            "video" => JobKind::Video,
            "image" => JobKind::Image,
            "plan" => JobKind::Plan,
            other => return Err(corrupt("kind", format!("unknown kind {other:?}"))),
        },
        state: row.state.parse().map_err(|m| corrupt("state", m))?,
        request: json(&row.request).map_err(|m| corrupt("request", m))?,
        resolved: json(&row.resolved).map_err(|m| corrupt("resolved", m))?,
        estimate: json(&row.estimate).map_err(|m| corrupt("estimate", m))?,
        ticket: row
            .ticket
            .as_deref()
            .map(json)
            .transpose()
            .map_err(|m| corrupt("ticket", m))?,
        charged: row
            .charged
            .as_deref()
            .map(json)
            .transpose()
            .map_err(|m| corrupt("charged", m))?,
        created_at: parse_time(&row.created_at).map_err(|m| corrupt("created_at", m))?,
        updated_at: parse_time(&row.updated_at).map_err(|m| corrupt("updated_at", m))?,
        submits: row.submits,
        out: PathBuf::from(&row.out_path),
        backend: row.backend.clone(),
        model: row.model.clone(),
        error: row.error.clone(),
        id: row.id.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Mode, Resolution, VideoDuration};

    pub(crate) fn new_job(id: &str) -> NewJob {
        NewJob {
            id: id.to_owned(),
            backend: "runway".into(),
            model: Some("gen4.5".into()),
            request: serde_json::json!({ "prompt": "a kite" }),
            resolved: Resolved {
                mode: Mode::TextToVideo,
                duration: VideoDuration::from_secs(2),
                resolution: Resolution::new(1280, 720),
                fps: 24,
                frames: 48,
            },
            estimate: CostEstimate::free("test"),
            out: PathBuf::from("/videos/kite.mp4"),
        }
    }

    fn ticket(id: &str) -> Ticket {
        Ticket {
            backend: "runway".into(),
            id: id.into(),
            model: None,
            data: serde_json::Value::Null,
            submitted_at: Utc::now(),
        }
    }

    #[test]
    fn a_job_survives_reopening_the_file_with_its_ticket() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open_in(dir.path()).unwrap();
            store.create(&new_job("j1")).unwrap();
            store.apply("j1", &JobEvent::BeginSubmit).unwrap();
            store
                .apply("j1", &JobEvent::Submitted(ticket("task-9")))
                .unwrap();
        }
        let store = Store::open_in(dir.path()).unwrap();
        let job = store.job("j1").unwrap();
        assert_eq!(job.state, JobState::Submitted);
        assert_eq!(job.ticket.unwrap().id, "task-9");
        assert_eq!(job.submits, 1);
        assert_eq!(job.resolved.frames, 48);
        let events: Vec<_> = store
            .history("j1")
            .unwrap()
            .into_iter()
            .map(|h| h.event)
            .collect();
        assert_eq!(events, ["created", "begin_submit", "submitted"]);
    }

    #[test]
    fn a_second_submit_is_refused_and_changes_nothing() {
        let store = Store::in_memory().unwrap();
        store.create(&new_job("j")).unwrap();
        store.apply("j", &JobEvent::BeginSubmit).unwrap();
        let err = store.apply("j", &JobEvent::BeginSubmit).unwrap_err();
        assert!(matches!(err, StoreError::Refused { .. }), "{err}");
        assert_eq!(store.job("j").unwrap().submits, 1);
        assert_eq!(store.job("j").unwrap().state, JobState::Submitting);
    }

    #[test]
    fn ids_are_unique_and_missing_jobs_are_named() {
        let store = Store::in_memory().unwrap();
        store.create(&new_job("j")).unwrap();
        assert!(matches!(
            store.create(&new_job("j")),
            Err(StoreError::Exists(_))
        ));
        let err = Error::from(store.job("nope").unwrap_err());
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.to_string().contains("no job \"nope\""));
    }

    #[test]
    fn a_damaged_store_is_named_with_how_to_recover_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"this is not a database, only some bytes").unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("is damaged"), "{text}");
        assert!(text.contains(".damaged`"), "{text}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"this is not a database, only some bytes"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The same random events through the database: what is stored is what the state
        /// machine says, a saved ticket never changes, and refused events change nothing.
        #[test]
        fn the_stored_job_follows_the_state_machine(
            events in proptest::collection::vec(state::tests::event(), 0..30)
        ) {
            let store = Store::in_memory().unwrap();
            store.create(&new_job("p")).unwrap();
            let mut machine = Machine::new();
            let mut history = 1;
            // The store refuses to retry a job whose submit may have arrived unseen.
            let mut unsettled = false;
            for e in &events {
                let before = store.job("p").unwrap();
                let stored = store.apply("p", e);
                let expected = if *e == JobEvent::Retry && unsettled {
                    Err(())
                } else {
                    machine.apply(e).map_err(drop)
                };
                if expected.is_ok() {
                    match e {
                        JobEvent::SubmitAmbiguous(_) | JobEvent::Interrupted => unsettled = true,
                        JobEvent::ResolveNotSubmitted
                        | JobEvent::Running
                        | JobEvent::Downloading { .. }
                        | JobEvent::Done
                        | JobEvent::Retry => unsettled = false,
                        _ => {}
                    }
                }
                proptest::prop_assert_eq!(stored.is_ok(), expected.is_ok());
                let after = store.job("p").unwrap();
                if stored.is_ok() {
                    history += 1;
                } else {
                    proptest::prop_assert_eq!(after.updated_at, before.updated_at);
                }
                // Only a new attempt of a failed job leaves its old ticket behind.
                if let Some(t) = &before.ticket
                    && before.state != JobState::Failed
                {
                    proptest::prop_assert_eq!(after.ticket.as_ref(), Some(t));
                }
                proptest::prop_assert_eq!(after.state, machine.state());
                proptest::prop_assert_eq!(after.submits, machine.submits);
                proptest::prop_assert_eq!(&after.ticket, &machine.ticket);
            }
            proptest::prop_assert_eq!(store.history("p").unwrap().len(), history);
        }
    }

    #[test]
    fn the_ledger_converts_a_charge_in_credits_at_the_estimates_rate_and_says_so() {
        use crate::budget::LedgerBasis;
        use crate::cost::{Currency, Money};
        let store = Store::in_memory().unwrap();
        let credits = |n: i64| Money {
            micros: n * 1_000_000,
            currency: Currency::Credits("runway".into()),
        };
        let mut job = new_job("c");
        job.estimate = CostEstimate {
            usd: Money::usd_cents(24),
            native: Some(credits(24)),
            basis: "2 s × 12 credits/s".into(),
            source: None,
        };
        store.create(&job).unwrap();
        store
            .create(&NewJob {
                id: "e".into(),
                ..job.clone()
            })
            .unwrap();
        for id in ["c", "e"] {
            store.apply(id, &JobEvent::BeginSubmit).unwrap();
            store.apply(id, &JobEvent::Submitted(ticket(id))).unwrap();
        }
        store
            .apply(
                "c",
                &JobEvent::Downloading {
                    charged: Some(credits(10)),
                },
            )
            .unwrap();
        let ledger = store.ledger().unwrap();
        let by = |id: &str| ledger.iter().find(|e| e.job_id == id).unwrap().clone();
        assert_eq!(
            (by("c").usd_micros, by("c").basis),
            (100_000, LedgerBasis::ChargedInCredits)
        );
        assert_eq!(
            (by("e").usd_micros, by("e").basis),
            (240_000, LedgerBasis::Estimate)
        );
    }

    #[test]
    fn list_filters_by_state() {
        let store = Store::in_memory().unwrap();
        store.create(&new_job("a")).unwrap();
        store.create(&new_job("b")).unwrap();
        store.apply("b", &JobEvent::Cancelled).unwrap();
        let ids = |s: &[JobState]| -> Vec<String> {
            store.list(s).unwrap().into_iter().map(|j| j.id).collect()
        };
        assert_eq!(ids(&[JobState::Cancelled]), ["b"]);
        assert_eq!(ids(&[]).len(), 2);
    }
}
