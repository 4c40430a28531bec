//! The embedded engine: one SQLite file in the data directory, one connection per process
//! behind a mutex, write transactions taken `IMMEDIATE` so that two processes never both act
//! on one job. `PRAGMA user_version` counts the migrations applied.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::sql::{DbError, Engine, Row, Sql, Val};
use super::{StoreError, StoreResult};

/// Schema migrations, applied in order.
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
    // The queue of jobs waiting for a worker (`ttv worker`), see `queue.rs`.
    "CREATE TABLE queue (
        id TEXT PRIMARY KEY,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        owner TEXT,
        lease_until INTEGER,
        claims INTEGER NOT NULL DEFAULT 0,
        outcome TEXT,
        enqueued_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX queue_waiting ON queue(state, enqueued_at);",
    // The server's records of accepted jobs, shared by every `ttv serve` in front of one
    // database (see `server_records.rs`).
    "CREATE TABLE server_records (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        idem_key TEXT,
        record TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX server_records_key ON server_records(owner, idem_key);",
];

/// The number of migrations this ttv knows.
pub(super) fn known_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// An open SQLite store.
pub(super) struct Sqlite {
    conn: Mutex<Connection>,
}

impl Sqlite {
    /// Sets `conn` up (WAL, full sync, a busy wait) and brings its schema up to date.
    pub(super) fn setup(mut conn: Connection, path: &str) -> StoreResult<Self> {
        let db = |source| opening(path, source);
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
        let known = known_version();
        if version > known {
            return Err(StoreError::TooNew {
                path: path.to_owned(),
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
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done transaction behind (SQLite rolls
        // back), so the connection is still good.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the connection, each statement on its own.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<T>,
    ) -> Result<StoreResult<T>, DbError> {
        let conn = self.lock();
        Ok(f(&mut Lite(&conn)))
    }

    /// Runs `f` in one write transaction, committed when `f` succeeds.
    pub(super) fn tx<T>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<T>,
    ) -> Result<StoreResult<T>, DbError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&mut Lite(&tx));
        if out.is_ok() {
            tx.commit()?;
        }
        Ok(out)
    }
}

/// An error met while opening the store at `path`: a file that is not a database, or a
/// damaged one, is named as such.
pub(super) fn opening(path: &str, source: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Damaged {
            path: path.to_owned(),
            message: source.to_string(),
        },
        _ => StoreError::Db {
            path: path.to_owned(),
            source: source.into(),
        },
    }
}

struct Lite<'a>(&'a Connection);

/// `$1` placeholders as SQLite's numbered `?1`.
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

fn bind(params: &[Val]) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value as V;
    params
        .iter()
        .map(|p| match p {
            Val::Null => V::Null,
            Val::Int(n) => V::Integer(*n),
            Val::Text(s) => V::Text(s.clone()),
        })
        .collect()
}

impl Sql for Lite<'_> {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        let mut stmt = self.0.prepare_cached(&numbered(sql))?;
        let n = stmt.execute(rusqlite::params_from_iter(bind(params)))?;
        Ok(n as u64)
    }

    fn rows(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.0.prepare_cached(&numbered(sql))?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(bind(params)))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(columns);
            for i in 0..columns {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(n) => Val::Int(n),
                    ValueRef::Real(x) => Val::Text(x.to_string()),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Val::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(Row(row));
        }
        Ok(out)
    }
}
