//! The shared engine: PostgreSQL, for many processes on many machines (`store.url:
//! postgres://...`, `TTV_STORE_URL`, `--store`).
//!
//! The client is the synchronous `postgres` crate (tokio-postgres underneath, driven on a
//! small runtime of its own): the store's API stays the blocking one the SQLite engine has,
//! called through `spawn_blocking` like it. Connections are kept in a small pool and
//! re-opened when the server dropped them. A state change is one statement that writes the
//! job's row and its history row together only if the row still holds what the change was
//! decided on (compare-and-swap; see `Store::apply_swapping`), so two workers never both act
//! on one job; single statements run without `BEGIN`/`COMMIT` around them, each one round
//! trip. Job locks are session advisory locks held by a pooled connection. Migrations run
//! under an advisory lock and are counted in `ttv_schema`.
//!
//! The URL may carry a password: it is held as a secret and shown only with the password
//! replaced ([`redact`]), in `Debug`, errors and logs alike.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, NoTls, Statement};
use secrecy::{ExposeSecret, SecretString};

use super::sql::{DbError, Engine, Row, Sql, Val};
use super::{StoreError, StoreResult};

/// The advisory lock key the migrations run under (`ttv` in ASCII).
const MIGRATION_LOCK: i64 = 0x0074_7476;

/// Schema migrations, applied in order. The same tables as SQLite's, with PostgreSQL's types
/// for the keys and counters.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        backend TEXT NOT NULL,
        model TEXT,
        request TEXT NOT NULL,
        resolved TEXT NOT NULL,
        estimate TEXT NOT NULL,
        estimate_usd_micros BIGINT NOT NULL,
        ticket TEXT,
        submits BIGINT NOT NULL DEFAULT 0,
        out_path TEXT NOT NULL,
        charged TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'video'
    );
    CREATE INDEX jobs_state ON jobs(state);
    CREATE TABLE job_history (
        seq BIGSERIAL PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs(id),
        at TEXT NOT NULL,
        event TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        backend TEXT NOT NULL,
        detail TEXT
    );
    CREATE INDEX job_history_job ON job_history(job_id);
    CREATE TABLE film_runs (
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
    );
    CREATE TABLE queue (
        id TEXT PRIMARY KEY,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        owner TEXT,
        lease_until BIGINT,
        claims BIGINT NOT NULL DEFAULT 0,
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
    // A claim's two probes (see `queue::claim_next`): the oldest waiting row, and a row
    // whose lease ran out; neither walks finished rows or live leases.
    "CREATE INDEX queue_waiting_order ON queue (enqueued_at, id) WHERE state = 'queued';
     CREATE INDEX queue_leases ON queue (lease_until) WHERE state = 'claimed';",
];

/// Messages this process sent to PostgreSQL servers and waited on (statements, prepares,
/// `BEGIN`, `COMMIT`), for benchmarks.
static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);

/// The round trips to PostgreSQL this process made so far.
pub fn round_trips() -> u64 {
    ROUND_TRIPS.load(Ordering::Relaxed)
}

/// Counts one round trip, for the process and for the store that made it.
fn trip(mine: &AtomicU64) {
    ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
    mine.fetch_add(1, Ordering::Relaxed);
}

/// `url` with its password (if any) replaced by `***`: what is shown of a store URL.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        // Not a URL: nothing of it is shown.
        Err(_) => "(an unreadable postgres URL)".to_owned(),
    }
}

/// A connection and the statements prepared on it.
struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
}

/// An open PostgreSQL store: a pool of connections to one database.
pub(super) struct Postgres {
    url: SecretString,
    shown: String,
    idle: Mutex<Vec<Conn>>,
    /// This store's round trips (see [`round_trips`]).
    trips: AtomicU64,
}

impl Postgres {
    /// Connects to `url` and brings the schema up to date.
    pub(super) fn open(url: &str) -> StoreResult<Self> {
        let store = Self {
            url: SecretString::from(url.to_owned()),
            shown: redact(url),
            idle: Mutex::new(Vec::new()),
            trips: AtomicU64::new(0),
        };
        let mut conn = store.connect()?;
        store
            .migrate(&mut conn.client)
            .map_err(|source| store.failed(source))??;
        store.put(conn);
        Ok(store)
    }

    /// The round trips this store made so far.
    pub(super) fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    /// The URL as shown (password replaced).
    pub(super) fn shown(&self) -> &str {
        &self.shown
    }

    fn failed(&self, source: impl Into<DbError>) -> StoreError {
        StoreError::Db {
            path: self.shown.clone(),
            source: source.into(),
        }
    }

    fn connect(&self) -> StoreResult<Conn> {
        let client =
            Client::connect(self.url.expose_secret(), NoTls).map_err(|e| self.failed(e))?;
        Ok(Conn {
            client,
            prepared: HashMap::new(),
        })
    }

    /// A new connection of its own, outside the pool (a job lock, a listener).
    pub(super) fn dedicated(&self) -> StoreResult<Client> {
        self.connect().map(|c| c.client)
    }

    fn take(&self) -> StoreResult<Conn> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) if !conn.client.is_closed() => Ok(conn),
            Some(conn) => {
                close_aside(conn.client);
                self.connect()
            }
            None => self.connect(),
        }
    }

    fn put(&self, conn: Conn) {
        if conn.client.is_closed() {
            close_aside(conn.client);
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }

    fn migrate(&self, client: &mut Client) -> Result<StoreResult<()>, DbError> {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS ttv_schema (version BIGINT NOT NULL)")?;
        let version: i64 = match tx.query_opt("SELECT version FROM ttv_schema", &[])? {
            Some(row) => row.get(0),
            None => {
                tx.execute("INSERT INTO ttv_schema (version) VALUES (0)", &[])?;
                0
            }
        };
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Ok(Err(StoreError::TooNew {
                path: self.shown.clone(),
                found: version,
                known,
            }));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            tx.batch_execute(sql)?;
            tx.execute("UPDATE ttv_schema SET version = $1", &[&((i + 1) as i64)])?;
        }
        tx.commit()?;
        Ok(Ok(()))
    }

    /// Runs `f` on a pooled connection, each statement on its own.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<T>,
    ) -> Result<StoreResult<T>, DbError> {
        let mut conn = match self.take() {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let out = {
            let Conn { client, prepared } = &mut conn;
            f(&mut Pg {
                client,
                prepared,
                trips: &self.trips,
            })
        };
        self.put(conn);
        Ok(out)
    }

    /// Runs `f` in one transaction, committed when `f` succeeds; one that lost a
    /// serialisation race is run again.
    pub(super) fn tx<T>(
        &self,
        mut f: impl FnMut(&mut dyn Sql) -> StoreResult<T>,
    ) -> Result<StoreResult<T>, DbError> {
        let mut conn = match self.take() {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let mut attempts = 0;
        let out = loop {
            attempts += 1;
            let Conn { client, prepared } = &mut conn;
            let result = (|| {
                trip(&self.trips);
                let mut tx = client.transaction()?;
                let out = f(&mut Pg {
                    client: &mut tx,
                    prepared,
                    trips: &self.trips,
                });
                trip(&self.trips);
                if out.is_ok() {
                    tx.commit()?;
                }
                Ok::<_, DbError>(out)
            })();
            match result {
                Ok(Err(StoreError::Db { source, .. })) | Err(source)
                    if source.is_conflict() && attempts < 5 =>
                {
                    continue;
                }
                other => break other,
            }
        };
        self.put(conn);
        out
    }
}

/// A pooled connection whose session holds a job's advisory lock; see
/// [`Postgres::try_lock`]. Dropped without [`Postgres::unlock`], it closes the connection,
/// which ends the session and so the lock.
pub(super) struct Locked {
    conn: Option<Conn>,
    key: i64,
}

impl Drop for Locked {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            close_aside(conn.client);
        }
    }
}

impl Postgres {
    /// Takes advisory lock `key` on a connection from the pool, which is kept out of the
    /// pool while the lock is held; `None` when another session holds it. One round trip,
    /// where a session of its own would cost a connection, a login and a server process.
    pub(super) fn try_lock(&self, key: i64) -> StoreResult<Option<Locked>> {
        let mut conn = self.take()?;
        let held = {
            let Conn { client, prepared } = &mut conn;
            Pg {
                client,
                prepared,
                trips: &self.trips,
            }
            .row("SELECT pg_try_advisory_lock($1)", &[Val::Int(key)])
        };
        match held {
            Ok(Some(row)) if row.int(0) == Ok(1) => Ok(Some(Locked {
                conn: Some(conn),
                key,
            })),
            Ok(_) => {
                self.put(conn);
                Ok(None)
            }
            Err(e) => {
                close_aside(conn.client);
                Err(self.failed(e))
            }
        }
    }

    /// Lets go of `locked`'s lock and gives its connection back to the pool; a connection
    /// that cannot say it let go is closed instead (its session's end lets go). Blocking.
    pub(super) fn unlock(&self, mut locked: Locked) {
        let Some(mut conn) = locked.conn.take() else {
            return;
        };
        let released = {
            let Conn { client, prepared } = &mut conn;
            Pg {
                client,
                prepared,
                trips: &self.trips,
            }
            .row("SELECT pg_advisory_unlock($1)", &[Val::Int(locked.key)])
        };
        match released {
            Ok(Some(row)) if row.int(0) == Ok(1) => self.put(conn),
            _ => close_aside(conn.client),
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        for conn in self
            .idle
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            close_aside(conn.client);
        }
    }
}

/// Closes `client` on a thread of its own: the client's drop runs its own small runtime,
/// which must not happen on one of the caller's async threads.
pub(super) fn close_aside(client: Client) {
    let _ = std::thread::Builder::new()
        .name("ttv-pg-close".into())
        .spawn(move || drop(client));
}

struct Pg<'a, C: GenericClient> {
    client: &'a mut C,
    prepared: &'a mut HashMap<String, Statement>,
    trips: &'a AtomicU64,
}

impl<C: GenericClient> Pg<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        trip(self.trips);
        let s = self.client.prepare(sql)?;
        self.prepared.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

/// The parameters as the types the statement expects: integers fit any integer column, text
/// any text one.
fn bind<'a>(statement: &Statement, params: &'a [Val]) -> Vec<Box<dyn ToSql + Sync + 'a>> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| -> Box<dyn ToSql + Sync + 'a> {
            let ty = statement.params().get(i).cloned().unwrap_or(Type::TEXT);
            match p {
                Val::Null if ty == Type::INT8 => Box::new(None::<i64>),
                Val::Null if ty == Type::INT4 => Box::new(None::<i32>),
                Val::Null => Box::new(None::<String>),
                Val::Int(n) if ty == Type::INT4 => Box::new(i32::try_from(*n).unwrap_or(i32::MAX)),
                Val::Int(n) if ty == Type::TEXT => Box::new(n.to_string()),
                Val::Int(n) => Box::new(*n),
                Val::Text(s) => Box::new(s.as_str()),
            }
        })
        .collect()
}

fn read(row: &postgres::Row) -> Result<Row, DbError> {
    let mut out = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let v = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?
                .map_or(Val::Null, Val::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?
                .map_or(Val::Null, |n| Val::Int(n.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?
                .map_or(Val::Null, |n| Val::Int(n.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?
                .map_or(Val::Null, |b| Val::Int(b.into()))
        } else {
            row.try_get::<_, Option<String>>(i)?
                .map_or(Val::Null, Val::Text)
        };
        out.push(v);
    }
    Ok(Row(out))
}

impl<C: GenericClient> Sql for Pg<'_, C> {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        let statement = self.statement(sql)?;
        let bound = bind(&statement, params);
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref()).collect();
        trip(self.trips);
        Ok(self.client.execute(&statement, &refs)?)
    }

    fn rows(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
        let statement = self.statement(sql)?;
        let bound = bind(&statement, params);
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref()).collect();
        trip(self.trips);
        self.client
            .query(&statement, &refs)?
            .iter()
            .map(read)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_never_shown() {
        let shown = redact("postgres://ttv:hunter2@db.example:5432/jobs");
        assert_eq!(shown, "postgres://ttv:***@db.example:5432/jobs");
        assert_eq!(
            redact("postgres://ttv@127.0.0.1:5432/jobs"),
            "postgres://ttv@127.0.0.1:5432/jobs"
        );
        assert!(!redact("postgres://a:hunter2@[").contains("hunter2"));
    }
}
