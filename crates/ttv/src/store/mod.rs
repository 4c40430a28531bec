//! The durable job store, on one of two engines: SQLite, one file in the data directory (the
//! default), or PostgreSQL (`store.url: postgres://...`), shared by many processes on many
//! machines. Both hold the same tables and keep the same invariants; the store's queries are
//! written once ([`sql`]) and the same test suite runs against both.
//!
//! Every job is a row before anything is sent. State changes go through
//! [`state::Machine::apply`] and are written atomically with a history row per change
//! (SQLite: inside an immediate transaction; PostgreSQL: one statement that writes only onto
//! the row the change was decided on, else decides again), so two processes never both
//! submit a job and a crash never loses a saved ticket. A paid submit begins in the same
//! transaction as the budget check against the ledger ([`Store::begin_submit_within`]), so
//! processes racing at a limit never pass it together. The store holds requests as their JSON
//! description (requests carry no keys; images are described, not included) and never a
//! credential; a PostgreSQL URL's password is shown nowhere.
//!
//! Calls block on the disk or the network; async code runs them through
//! `tokio::task::spawn_blocking` (see [`crate::jobs`]). This module knows nothing of backends
//! or HTTP.

mod film_runs;
mod postgres;
pub mod queue;
mod server_records;
pub mod sql;
mod sqlite;
pub mod state;
#[doc(hidden)]
pub mod testing;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;
use sha2::Digest as _;

use crate::backend::Ticket;
use crate::capabilities::Resolved;
use crate::cost::{CostEstimate, Money};
use crate::error::{Error, ErrorKind};
use sql::{DbError, Row, Sql, Val};

pub use self::postgres::{redact as redact_url, round_trips as postgres_round_trips};
pub use film_runs::{FilmRun, FilmState, NewFilmRun};
pub use queue::{Claimed, QueueState, QueuedJob};
pub use server_records::RecordAdded;
pub use state::{JobEvent, JobState, Machine, Refused};

/// The file name of the store inside the data directory.
pub const FILE_NAME: &str = "jobs.sqlite3";

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused, or could not be reached.
    #[error("job store {path}: {source}")]
    Db {
        /// The database file, or the PostgreSQL URL without its password.
        path: String,
        /// The cause.
        #[source]
        source: DbError,
    },
    /// The store URL is not one ttv can use.
    #[error("store URL {shown}: {message}")]
    BadUrl {
        /// The URL, without its password.
        shown: String,
        /// What is wrong and what is allowed.
        message: String,
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
            StoreError::TooNew { .. } | StoreError::BadUrl { .. } => ErrorKind::Config,
            StoreError::NotFound(_) | StoreError::Exists(_) | StoreError::Refused { .. } => {
                ErrorKind::InvalidRequest
            }
        };
        Error::new(kind, e.to_string()).with_source(e)
    }
}

/// A store URL (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`). It may carry a password,
/// so it prints, serialises and debugs with the password replaced by `***`;
/// [`StoreUrl::expose`] is the only way to the text, used to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(String);

impl StoreUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into().trim().to_owned())
    }

    /// The URL itself, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreUrl({})", postgres::redact(&self.0))
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&postgres::redact(&self.0))
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

/// Serialises without the password: a configuration printed or saved never carries it.
impl Serialize for StoreUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&postgres::redact(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for StoreUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// What store calls return.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

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

/// The job store. Cheap to clone; clones share the engine (SQLite: one connection;
/// PostgreSQL: a pool of connections).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// The file path, or the URL without its password.
    shown: String,
    /// Where job locks live (SQLite files on disk); `None` in memory and on PostgreSQL.
    locks: Option<PathBuf>,
    /// PostgreSQL: each unfinished job's row as this store last read or wrote it, what a
    /// state change compares against ([`Store::apply_swapping`]).
    seen: Mutex<HashMap<String, Seen>>,
}

/// A job's row as last read or written, with the stored text of the columns a state change
/// depends on, compared byte for byte when the change is written.
#[derive(Clone)]
struct Seen {
    job: Job,
    updated_at: String,
    ticket: Option<String>,
    error: Option<String>,
    charged: Option<String>,
}

/// How many times a state change on PostgreSQL is tried against a freshly read row before it
/// takes the row lock instead (another process kept changing the job meanwhile).
const SWAP_ATTEMPTS: usize = 4;

/// The most rows [`Inner::seen`] keeps; past it, it starts again empty (it is only a hint).
const SEEN_MAX: usize = 10_000;

enum Db {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.engine())
            .field("at", &self.inner.shown)
            .finish()
    }
}

/// The job store folder: `explicit` (the CLI's `--data-dir`, a Python client's `data_dir`),
/// else `TTV_DATA_DIR`, else the configuration's `store.data_dir`, else the platform data
/// folder (`$XDG_DATA_HOME/ttv`, `~/.local/share/ttv`, `~/Library/Application Support/ttv`,
/// `%APPDATA%\ttv`), else `./.ttv`.
pub fn data_dir(explicit: Option<&Path>, configured: Option<&Path>) -> PathBuf {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(dir) = env("TTV_DATA_DIR") {
        return dir;
    }
    if let Some(dir) = configured {
        return dir.to_path_buf();
    }
    let platform = if cfg!(windows) {
        env("APPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library").join("Application Support"))
    } else {
        env("XDG_DATA_HOME").or_else(|| env("HOME").map(|h| h.join(".local").join("share")))
    };
    platform.map_or_else(|| PathBuf::from(".ttv"), |d| d.join("ttv"))
}

/// Placeholders' values, in order.
macro_rules! p {
    ($($v:expr),* $(,)?) => { &[$(Val::from($v)),*] };
}
pub(crate) use p;

impl From<DbError> for StoreError {
    fn from(source: DbError) -> Self {
        // The path is filled in by `Store::with`/`Store::tx`, which know it.
        StoreError::Db {
            path: String::new(),
            source,
        }
    }
}

impl StoreError {
    fn at(self, shown: &str) -> Self {
        match self {
            StoreError::Db { path, source } if path.is_empty() => StoreError::Db {
                path: shown.to_owned(),
                source,
            },
            other => other,
        }
    }
}

/// The advisory lock key under which PostgreSQL budget checks and paid submits go one at a
/// time (`budg` in ASCII).
const BUDGET_LOCK: i64 = 0x6275_6467;

impl Store {
    /// Opens (creating if needed) the SQLite store in `data_dir`.
    pub fn open_in(data_dir: &Path) -> crate::Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            Error::io(
                format_args!("cannot create the data directory {}", data_dir.display()),
                e,
            )
        })?;
        Ok(Self::open(&data_dir.join(FILE_NAME))?)
    }

    /// The store a configuration names: PostgreSQL at `url` when one is given (`store.url`,
    /// `TTV_STORE_URL`, `--store`), else the SQLite file in `data_dir`. Blocking.
    pub fn open_configured(url: Option<&StoreUrl>, data_dir: &Path) -> crate::Result<Self> {
        match url.filter(|u| !u.expose().is_empty()) {
            Some(url) => Ok(Self::connect(url.expose())?),
            None => Self::open_in(data_dir),
        }
    }

    /// Opens (creating if needed) the SQLite store file at `path` and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let shown = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| sqlite::opening(&shown, source))?;
        let db = sqlite::Sqlite::setup(conn, &shown)?;
        Ok(Self::new(
            Db::Sqlite(db),
            shown,
            path.parent().map(|d| d.join("locks")),
        ))
    }

    /// A SQLite store that lives in memory, for tests and benchmarks.
    pub fn in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Db {
            path: ":memory:".into(),
            source: source.into(),
        })?;
        let db = sqlite::Sqlite::setup(conn, ":memory:")?;
        Ok(Self::new(Db::Sqlite(db), ":memory:".into(), None))
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`)
    /// and brings its schema up to date. Blocking: call it from a blocking task.
    pub fn connect(url: &str) -> StoreResult<Self> {
        let shown = postgres::redact(url);
        let scheme = url.split_once("://").map(|(s, _)| s);
        if !matches!(scheme, Some("postgres" | "postgresql")) {
            return Err(StoreError::BadUrl {
                shown,
                message: "use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or leave the store URL out for the SQLite file in the data directory)".into(),
            });
        }
        let db = postgres::Postgres::open(url)?;
        let shown = db.shown().to_owned();
        Ok(Self::new(Db::Postgres(db), shown, None))
    }

    fn new(db: Db, shown: String, locks: Option<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                shown,
                locks,
                seen: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The database file, or the PostgreSQL URL without its password.
    pub fn path(&self) -> &str {
        &self.inner.shown
    }

    /// `sqlite` or `postgres`.
    pub fn engine(&self) -> &'static str {
        match self.inner.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// The round trips to PostgreSQL this store (and its clones) made so far; 0 on SQLite.
    pub fn round_trips(&self) -> u64 {
        match &self.inner.db {
            Db::Postgres(db) => db.trips(),
            Db::Sqlite(_) => 0,
        }
    }

    /// Whether processes on other machines can share this store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.inner.db, Db::Postgres(_))
    }

    /// Runs `f` on a connection, each statement on its own.
    fn with<T>(&self, f: impl FnOnce(&mut dyn Sql) -> StoreResult<T>) -> StoreResult<T> {
        let shown = &self.inner.shown;
        let out = match &self.inner.db {
            Db::Sqlite(db) => db.with(f),
            Db::Postgres(db) => db.with(f),
        };
        out.map_err(StoreError::from)
            .and_then(|r| r)
            .map_err(|e| e.at(shown))
    }

    /// Runs `f` in one transaction that is committed when `f` succeeds (PostgreSQL runs it
    /// again after losing a serialisation race, so `f` may run more than once).
    fn tx<T>(&self, f: impl FnMut(&mut dyn Sql) -> StoreResult<T>) -> StoreResult<T> {
        let shown = &self.inner.shown;
        let out = match &self.inner.db {
            Db::Sqlite(db) => db.tx(f),
            Db::Postgres(db) => db.tx(f),
        };
        out.map_err(StoreError::from)
            .and_then(|r| r)
            .map_err(|e| e.at(shown))
    }

    /// Records a new job in `created`. Fails if the id is taken.
    pub fn create(&self, job: &NewJob) -> StoreResult<Job> {
        self.create_kind(job, JobKind::Video)
    }

    /// [`Store::create`] for a job that makes `kind`.
    pub fn create_kind(&self, job: &NewJob, kind: JobKind) -> StoreResult<Job> {
        let now = Utc::now();
        let made = Job {
            id: job.id.clone(),
            kind,
            state: JobState::Created,
            backend: job.backend.clone(),
            model: job.model.clone(),
            request: job.request.clone(),
            resolved: job.resolved,
            estimate: job.estimate.clone(),
            ticket: None,
            submits: 0,
            out: PathBuf::from(job.out.to_string_lossy().into_owned()),
            charged: None,
            error: None,
            created_at: now,
            updated_at: now,
        };
        if self.is_shared() {
            self.with(|sql| create_in_one(sql, job, kind, now))?;
            self.remember(Seen {
                job: made.clone(),
                updated_at: now.to_rfc3339(),
                ticket: None,
                error: None,
                charged: None,
            });
            return Ok(made);
        }
        self.tx(|sql| {
            let inserted = sql.exec(INSERT_JOB, &new_job_values(job, kind, now))?;
            if inserted == 0 {
                return Err(StoreError::Exists(job.id.clone()));
            }
            insert_history(
                sql,
                &job.id,
                now,
                "created",
                JobState::Created,
                JobState::Created,
                &job.backend,
                None,
            )?;
            Ok(made.clone())
        })
    }

    /// The job called `id`, if any.
    pub fn get(&self, id: &str) -> StoreResult<Option<Job>> {
        if !self.is_shared() {
            return self.with(|sql| read_job(sql, id, false));
        }
        // Read as the next state change will compare against it.
        let seen = self.with(|sql| read_seen(sql, id))?;
        Ok(seen.map(|s| {
            let job = s.job.clone();
            self.remember(s);
            job
        }))
    }

    /// The job called `id`, or [`StoreError::NotFound`].
    pub fn job(&self, id: &str) -> StoreResult<Job> {
        self.get(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))
    }

    /// Every job, newest first; only those in `states` when it is not empty.
    pub fn list(&self, states: &[JobState]) -> StoreResult<Vec<Job>> {
        self.with(|sql| list_in(sql, states))
    }

    /// Applies `event` to job `id` in one transaction and returns the job after it.
    pub fn apply(&self, id: &str, event: &JobEvent) -> StoreResult<Job> {
        self.apply_on(id, None, event)
    }

    /// [`Store::apply`], moving the job to `backend` first (a fallback before submitting).
    pub fn apply_on(&self, id: &str, backend: Option<&str>, event: &JobEvent) -> StoreResult<Job> {
        // A retry reads the job's history to decide; it keeps the row lock.
        if self.is_shared() && *event != JobEvent::Retry {
            return self.apply_swapping(id, backend, event);
        }
        self.forget(id);
        self.apply_locked(id, backend, event)
    }

    /// The state change in a transaction that locks the job's row first.
    fn apply_locked(&self, id: &str, backend: Option<&str>, event: &JobEvent) -> StoreResult<Job> {
        self.tx(|sql| {
            let job =
                read_job(sql, id, true)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
            apply_in(sql, job, backend, event)
        })
    }

    /// The state change on PostgreSQL as one statement (one round trip): the change is
    /// worked out from the row as this store last saw it, and the update and its history row
    /// are written together only if the row still holds exactly that (compare-and-swap).
    /// Another process that changed the job meanwhile makes the swap miss: the row is read
    /// again and the event decided anew, so two processes never both apply conflicting
    /// changes (the second one's update waits on the first's row lock, then finds the row
    /// changed). A refusal counts only when decided on a row just read.
    fn apply_swapping(
        &self,
        id: &str,
        backend: Option<&str>,
        event: &JobEvent,
    ) -> StoreResult<Job> {
        let mut known = self.remembered(id);
        for _ in 0..SWAP_ATTEMPTS {
            let fresh = known.is_none();
            let current = match known.take() {
                Some(seen) => seen,
                None => self
                    .with(|sql| read_seen(sql, id))?
                    .ok_or_else(|| StoreError::NotFound(id.to_owned()))?,
            };
            match self.with(|sql| swap_in(sql, &current, backend, event)) {
                Ok(Some(after)) => {
                    let job = after.job.clone();
                    self.remember(after);
                    return Ok(job);
                }
                // Changed since it was seen, or refused on what may be an old copy: read again.
                Ok(None) => {}
                Err(StoreError::Refused { .. }) if !fresh => {}
                Err(e) => {
                    self.forget(id);
                    return Err(e);
                }
            }
        }
        tracing::debug!(job = %id, "state change kept losing races; locking the row");
        self.forget(id);
        self.apply_locked(id, backend, event)
    }

    /// The row this store last saw of job `id`, if it kept it.
    fn remembered(&self, id: &str) -> Option<Seen> {
        self.inner
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Keeps `seen` for the next state change of its job; a finished job is let go.
    fn remember(&self, seen: Seen) {
        let mut all = self.inner.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.job.state.is_terminal() {
            all.remove(&seen.job.id);
            return;
        }
        if all.len() >= SEEN_MAX {
            all.clear();
        }
        all.insert(seen.job.id.clone(), seen);
    }

    fn forget(&self, id: &str) {
        self.inner
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Begins the paid submit of job `id` (the `begin_submit` event) in the same transaction
    /// as the check of `budget` against the ledger, so that processes racing at a limit
    /// never pass it together: on PostgreSQL these transactions go one at a time under an
    /// advisory lock, on SQLite under the database's write lock. A job the budget refuses is
    /// recorded failed with the budget's error, which is returned as the inner `Err`.
    pub fn begin_submit_within(
        &self,
        id: &str,
        budget: &crate::budget::Budget,
        now: DateTime<Utc>,
    ) -> StoreResult<std::result::Result<Job, Error>> {
        if !budget.is_limited() && self.is_shared() {
            // No ledger to check: a state change like any other.
            return self.apply_on(id, None, &JobEvent::BeginSubmit).map(Ok);
        }
        self.forget(id);
        self.tx(|sql| {
            if budget.is_limited() && sql.engine() == sql::Engine::Postgres {
                sql.exec("SELECT pg_advisory_xact_lock($1)", p![BUDGET_LOCK])?;
            }
            let job =
                read_job(sql, id, true)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
            if budget.is_limited() {
                let mut ledger = ledger_in(sql)?;
                ledger.retain(|e| e.job_id != id);
                if let Err(err) = budget
                    .check(&job.backend, job.estimate.usd.micros, &ledger, now)
                    .map_err(|e| e.with_backend(job.backend.clone()))
                {
                    apply_in(sql, job, None, &JobEvent::Failed(err.to_string()))?;
                    return Ok(Err(err));
                }
            }
            apply_in(sql, job, None, &JobEvent::BeginSubmit).map(Ok)
        })
    }

    /// Records that job `id`'s video went to `out` (a free name beside the one planned).
    pub fn set_out(&self, id: &str, out: &Path) -> StoreResult<Job> {
        self.forget(id);
        self.with(|sql| {
            let changed = sql.exec(
                "UPDATE jobs SET out_path = $2, updated_at = $3 WHERE id = $1",
                p![
                    id,
                    out.to_string_lossy().into_owned(),
                    Utc::now().to_rfc3339()
                ],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(id.to_owned()));
            }
            read_job(sql, id, false)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))
        })
    }

    /// Adds `event` (with `detail`) to job `id`'s history without changing its state: a
    /// fact about a finished job, such as where its video was stored.
    pub fn note(&self, id: &str, event: &str, detail: &str) -> StoreResult<()> {
        self.tx(|sql| {
            let job =
                read_job(sql, id, true)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
            insert_history(
                sql,
                id,
                Utc::now(),
                event,
                job.state,
                job.state,
                &job.backend,
                Some(detail),
            )
        })
    }

    /// What every job that may have cost money cost, oldest first (see [`Job::spent_usd_micros`]).
    pub fn ledger(&self) -> StoreResult<Vec<crate::budget::LedgerEntry>> {
        self.with(ledger_in)
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
        let now = Utc::now();
        self.forget(id);
        self.tx(|sql| {
            let job =
                read_job(sql, id, true)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
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
            sql.exec(
                "UPDATE jobs SET backend = $2, model = $3, resolved = $4, estimate = $5,
                     estimate_usd_micros = $6, updated_at = $7 WHERE id = $1",
                p![
                    id,
                    backend,
                    model,
                    to_json(resolved),
                    to_json(estimate),
                    estimate.usd.micros,
                    now.to_rfc3339(),
                ],
            )?;
            let detail = format!("from {} to {backend}", job.backend);
            insert_history(
                sql,
                id,
                now,
                "fallback",
                job.state,
                job.state,
                backend,
                Some(&detail),
            )?;
            read_job(sql, id, false)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))
        })
    }

    /// Claims job `id` for this process until the returned guard is dropped (or the process
    /// dies: the operating system releases a file lock, PostgreSQL a dead session's advisory
    /// lock, so a crash never leaves a job stuck). `None` when another process (or another
    /// claim in this one) holds it. Stores in memory lock nothing. Blocking.
    pub fn lock_job(&self, id: &str) -> StoreResult<Option<JobLock>> {
        let digest = sha2::Sha256::digest(id.as_bytes());
        if let Db::Postgres(db) = &self.inner.db {
            let mut key = [0u8; 8];
            key.copy_from_slice(&digest[..8]);
            let locked = db.try_lock(i64::from_be_bytes(key))?;
            return Ok(locked.map(|held| JobLock {
                _file: None,
                session: Some((self.clone(), held)),
            }));
        }
        let Some(dir) = &self.inner.locks else {
            return Ok(Some(JobLock {
                _file: None,
                session: None,
            }));
        };
        let io = |e: std::io::Error| StoreError::Corrupt {
            id: id.to_owned(),
            field: "lock file",
            message: format!("{}: {e}", dir.display()),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        // Hashed, so any id makes a safe file name.
        let name = hex::encode(digest);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(&name[..32]))
            .map_err(io)?;
        if try_lock(&file).map_err(io)? {
            Ok(Some(JobLock {
                _file: Some(file),
                session: None,
            }))
        } else {
            Ok(None)
        }
    }

    /// Whether another process (or another claim in this one) holds job `id`'s lock right
    /// now; takes and lets go of the lock at once. Blocking.
    pub fn is_job_locked(&self, id: &str) -> StoreResult<bool> {
        let Some(mut lock) = self.lock_job(id)? else {
            return Ok(true);
        };
        // Let go here and now (this is a blocking context), not on the blocking pool.
        if let Some((store, held)) = lock.session.take()
            && let Db::Postgres(db) = &store.inner.db
        {
            db.unlock(held);
        }
        Ok(false)
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
        let scan = i64::try_from(limit.saturating_mul(4)).unwrap_or(i64::MAX);
        let rows = self.with(|sql| {
            Ok(sql.rows(
                "SELECT j.resolved, MAX(s.at), MAX(d.at) FROM jobs j
                 JOIN job_history s ON s.job_id = j.id AND s.event = 'submitted'
                 JOIN job_history d ON d.job_id = j.id AND d.event = 'downloading'
                 WHERE j.state = 'done' AND j.backend = $1 AND j.model IS NOT DISTINCT FROM $2
                 GROUP BY j.id, j.resolved, j.updated_at ORDER BY j.updated_at DESC LIMIT $3",
                p![backend, model, scan],
            )?)
        })?;
        let mut out = Vec::new();
        for row in rows {
            // A row that does not parse is skipped: this is a hint, not a record.
            let (Ok(resolved), Ok(sent), Ok(noticed)) = (row.text(0), row.text(1), row.text(2))
            else {
                continue;
            };
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
        let rows = self.with(|sql| {
            Ok(sql.rows(
                "SELECT at, event, from_state, to_state, backend, detail FROM job_history
                 WHERE job_id = $1 ORDER BY seq",
                p![id],
            )?)
        })?;
        let corrupt = |field, message: String| StoreError::Corrupt {
            id: id.to_owned(),
            field,
            message,
        };
        rows.iter()
            .map(|row| {
                let text = |i, field| row.text(i).map_err(|m| corrupt(field, m));
                Ok(HistoryEntry {
                    at: parse_time(&text(0, "history.at")?)
                        .map_err(|m| corrupt("history.at", m))?,
                    event: text(1, "history.event")?,
                    from: text(2, "history.from_state")?
                        .parse()
                        .map_err(|m| corrupt("history.from_state", m))?,
                    to: text(3, "history.to_state")?
                        .parse()
                        .map_err(|m| corrupt("history.to_state", m))?,
                    backend: text(4, "history.backend")?,
                    detail: row.opt_text(5).map_err(|m| corrupt("history.detail", m))?,
                })
            })
            .collect()
    }
}

/// Applies `event` to `job` (read under the transaction's lock) and writes the change with its
/// history row.
fn apply_in(
    sql: &mut dyn Sql,
    job: Job,
    backend: Option<&str>,
    event: &JobEvent,
) -> StoreResult<Job> {
    let id = job.id.as_str();
    if *event == JobEvent::Retry && unsettled_submit(sql, id)? {
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
    let change = Change::of(&job, backend, event)?;
    sql.exec(
        "UPDATE jobs SET state = $2, ticket = $3, submits = $4, error = $5, charged = $6,
             backend = $7, updated_at = $8 WHERE id = $1",
        p![
            id,
            change.to.as_str(),
            change.ticket.clone(),
            change.machine.submits,
            change.machine.error.as_deref(),
            change.charged.clone(),
            &change.backend,
            change.now.to_rfc3339(),
        ],
    )?;
    insert_history(
        sql,
        id,
        change.now,
        event.name(),
        job.state,
        change.to,
        &change.backend,
        change.detail.as_deref(),
    )?;
    Ok(change.applied(job))
}

/// What an event does to a job: worked out in memory, then written by either path.
struct Change {
    machine: Machine,
    to: JobState,
    backend: String,
    /// The ticket and charge as stored (JSON text).
    ticket: Option<String>,
    charged: Option<String>,
    detail: Option<String>,
    now: DateTime<Utc>,
}

impl Change {
    fn of(job: &Job, backend: Option<&str>, event: &JobEvent) -> StoreResult<Self> {
        let mut machine = job.machine();
        machine
            .apply(event)
            .map_err(|refused| StoreError::Refused {
                id: job.id.clone(),
                refused,
            })?;
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
        Ok(Self {
            to: machine.state(),
            backend: backend.unwrap_or(&job.backend).to_owned(),
            ticket: machine.ticket.as_ref().map(to_json),
            charged: machine.charged.as_ref().map(to_json),
            machine,
            detail,
            now: Utc::now(),
        })
    }

    /// `job` after the change.
    fn applied(self, job: Job) -> Job {
        Job {
            state: self.to,
            ticket: self.machine.ticket,
            submits: self.machine.submits,
            error: self.machine.error,
            charged: self.machine.charged,
            backend: self.backend,
            updated_at: parse_time(&self.now.to_rfc3339()).unwrap_or(self.now),
            ..job
        }
    }
}

/// Writes `event`'s change of the job `seen` shows, with its history row, in one statement,
/// if the row still holds what `seen` holds; `None` when it changed meanwhile. PostgreSQL.
fn swap_in(
    sql: &mut dyn Sql,
    seen: &Seen,
    backend: Option<&str>,
    event: &JobEvent,
) -> StoreResult<Option<Seen>> {
    let job = &seen.job;
    let change = Change::of(job, backend, event)?;
    let at = change.now.to_rfc3339();
    let written = sql.exec(
        "WITH changed AS (
             UPDATE jobs SET state = $2, ticket = $3, submits = $4, error = $5, charged = $6,
                 backend = $7, updated_at = $8
             WHERE id = $1 AND state = $9 AND submits = $10 AND backend = $11
               AND updated_at = $12 AND ticket IS NOT DISTINCT FROM $13
               AND error IS NOT DISTINCT FROM $14 AND charged IS NOT DISTINCT FROM $15
             RETURNING id)
         INSERT INTO job_history (job_id, at, event, from_state, to_state, backend, detail)
         SELECT id, $8, $16::text, $9, $2, $7, $17::text FROM changed",
        p![
            job.id.as_str(),
            change.to.as_str(),
            change.ticket.clone(),
            change.machine.submits,
            change.machine.error.as_deref(),
            change.charged.clone(),
            &change.backend,
            at.as_str(),
            job.state.as_str(),
            job.submits,
            job.backend.as_str(),
            seen.updated_at.as_str(),
            seen.ticket.as_deref(),
            seen.error.as_deref(),
            seen.charged.as_deref(),
            event.name(),
            change.detail.as_deref(),
        ],
    )?;
    if written == 0 {
        return Ok(None);
    }
    let (ticket, error, charged) = (
        change.ticket.clone(),
        change.machine.error.clone(),
        change.charged.clone(),
    );
    Ok(Some(Seen {
        job: change.applied(job.clone()),
        updated_at: at,
        ticket,
        error,
        charged,
    }))
}

/// A new job's row, with [`new_job_values`] as its parameters; an id already taken inserts
/// nothing.
const INSERT_JOB: &str = "INSERT INTO jobs (id, state, backend, model, request, resolved, estimate,
         estimate_usd_micros, submits, out_path, created_at, updated_at, kind)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $10, $11)
     ON CONFLICT (id) DO NOTHING";

/// The parameters of [`INSERT_JOB`] for `job`, made at `now`.
fn new_job_values(job: &NewJob, kind: JobKind, now: DateTime<Utc>) -> Vec<Val> {
    p![
        &job.id,
        JobState::Created.as_str(),
        &job.backend,
        job.model.as_deref(),
        job.request.to_string(),
        to_json(&job.resolved),
        to_json(&job.estimate),
        job.estimate.usd.micros,
        job.out.to_string_lossy().into_owned(),
        now.to_rfc3339(),
        kind.as_str(),
    ]
    .to_vec()
}

/// Records a new job and its `created` history row in one statement (PostgreSQL).
fn create_in_one(
    sql: &mut dyn Sql,
    job: &NewJob,
    kind: JobKind,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let inserted = sql.exec(
        &format!(
            "WITH made AS ({INSERT_JOB} RETURNING id)
             INSERT INTO job_history (job_id, at, event, from_state, to_state, backend, detail)
             SELECT id, $10, 'created', $2, $2, $3, NULL FROM made"
        ),
        &new_job_values(job, kind, now),
    )?;
    if inserted == 0 {
        return Err(StoreError::Exists(job.id.clone()));
    }
    Ok(())
}

fn ledger_in(sql: &mut dyn Sql) -> StoreResult<Vec<crate::budget::LedgerEntry>> {
    let rows = sql.rows(
        &format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE submits > 0 OR charged IS NOT NULL
             ORDER BY created_at, id"
        ),
        &[],
    )?;
    rows.iter()
        .map(|row| {
            let j = job_from_row(row)?;
            let (usd_micros, basis) = j.spent();
            Ok(crate::budget::LedgerEntry {
                usd_micros,
                charged: basis != crate::budget::LedgerBasis::Estimate,
                basis,
                job_id: j.id,
                backend: j.backend,
                model: j.model,
                at: j.created_at,
            })
        })
        .collect()
}

fn list_in(sql: &mut dyn Sql, states: &[JobState]) -> StoreResult<Vec<Job>> {
    let filter = if states.is_empty() {
        String::new()
    } else {
        let marks: Vec<String> = (1..=states.len()).map(|i| format!("${i}")).collect();
        format!(" WHERE state IN ({})", marks.join(", "))
    };
    let params: Vec<Val> = states.iter().map(|s| Val::from(s.as_str())).collect();
    let rows = sql.rows(
        &format!("SELECT {JOB_COLUMNS} FROM jobs{filter} ORDER BY created_at DESC, id"),
        &params,
    )?;
    rows.iter().map(job_from_row).collect()
}

/// Whether a paid submit of job `id` may have reached the provider without anyone knowing
/// what became of it: an ambiguous or interrupted submit not followed by a person saying it
/// never arrived, nor by the provider reporting a task of the job running.
fn unsettled_submit(sql: &mut dyn Sql, id: &str) -> StoreResult<bool> {
    let rows = sql.rows(
        "SELECT event FROM job_history WHERE job_id = $1 ORDER BY seq",
        p![id],
    )?;
    let mut unsettled = false;
    for row in rows {
        match row.text(0).unwrap_or_default().as_str() {
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
pub struct JobLock {
    _file: Option<std::fs::File>,
    /// The PostgreSQL store and its pooled connection holding the job's advisory lock.
    session: Option<(Store, postgres::Locked)>,
}

impl std::fmt::Debug for JobLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobLock").finish_non_exhaustive()
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        let Some((store, held)) = self.session.take() else {
            return;
        };
        let unlock = move || {
            if let Db::Postgres(db) = &store.inner.db {
                db.unlock(held);
            }
        };
        // Letting go is a blocking call: on an async thread (a job's future ending) it runs
        // on the runtime's blocking pool, a moment later; elsewhere at once.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(unlock)),
            Err(_) => unlock(),
        }
    }
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
    sql: &mut dyn Sql,
    id: &str,
    at: DateTime<Utc>,
    event: &str,
    from: JobState,
    to: JobState,
    backend: &str,
    detail: Option<&str>,
) -> StoreResult<()> {
    sql.exec(
        "INSERT INTO job_history (job_id, at, event, from_state, to_state, backend, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        p![
            id,
            at.to_rfc3339(),
            event,
            from.as_str(),
            to.as_str(),
            backend,
            detail
        ],
    )?;
    Ok(())
}

const JOB_COLUMNS: &str = "id, state, backend, model, request, resolved, estimate, ticket, \
     submits, out_path, charged, error, created_at, updated_at, kind";

fn read_job(sql: &mut dyn Sql, id: &str, lock: bool) -> StoreResult<Option<Job>> {
    let lock = if lock { sql.engine().for_update() } else { "" };
    let row = sql.row(
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1{lock}"),
        p![id],
    )?;
    row.as_ref().map(job_from_row).transpose()
}

/// Job `id` with the stored text of the columns a state change compares.
fn read_seen(sql: &mut dyn Sql, id: &str) -> StoreResult<Option<Seen>> {
    let Some(row) = sql.row(
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"),
        p![id],
    )?
    else {
        return Ok(None);
    };
    let job = job_from_row(&row)?;
    let corrupt = |field| {
        let id = job.id.clone();
        move |message| StoreError::Corrupt { id, field, message }
    };
    Ok(Some(Seen {
        updated_at: row.text(13).map_err(corrupt("updated_at"))?,
        ticket: row.opt_text(7).map_err(corrupt("ticket"))?,
        error: row.opt_text(11).map_err(corrupt("error"))?,
        charged: row.opt_text(10).map_err(corrupt("charged"))?,
        job,
    }))
}

fn job_from_row(row: &Row) -> StoreResult<Job> {
    let id = row.text(0).map_err(|message| StoreError::Corrupt {
        id: "?".into(),
        field: "id",
        message,
    })?;
    let corrupt = |field, message: String| StoreError::Corrupt {
        id: id.clone(),
        field,
        message,
    };
    fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
    let text = |i, field| row.text(i).map_err(|m| corrupt(field, m));
    let opt = |i, field| row.opt_text(i).map_err(|m| corrupt(field, m));
    let kind = text(14, "kind")?;
    Ok(Job {
        kind: match kind.as_str() {
            "video" => JobKind::Video,
            "image" => JobKind::Image,
            "plan" => JobKind::Plan,
            other => return Err(corrupt("kind", format!("unknown kind {other:?}"))),
        },
        state: text(1, "state")?.parse().map_err(|m| corrupt("state", m))?,
        backend: text(2, "backend")?,
        model: opt(3, "model")?,
        request: json(&text(4, "request")?).map_err(|m| corrupt("request", m))?,
        resolved: json(&text(5, "resolved")?).map_err(|m| corrupt("resolved", m))?,
        estimate: json(&text(6, "estimate")?).map_err(|m| corrupt("estimate", m))?,
        ticket: opt(7, "ticket")?
            .as_deref()
            .map(json)
            .transpose()
            .map_err(|m| corrupt("ticket", m))?,
        submits: row
            .int(8)
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| corrupt("submits", "not a count".into()))?,
        out: PathBuf::from(text(9, "out_path")?),
        charged: opt(10, "charged")?
            .as_deref()
            .map(json)
            .transpose()
            .map_err(|m| corrupt("charged", m))?,
        error: opt(11, "error")?,
        created_at: parse_time(&text(12, "created_at")?).map_err(|m| corrupt("created_at", m))?,
        updated_at: parse_time(&text(13, "updated_at")?).map_err(|m| corrupt("updated_at", m))?,
        id: id.clone(),
    })
}

#[cfg(test)]
pub(crate) mod tests;
