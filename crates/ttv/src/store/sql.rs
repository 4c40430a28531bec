//! The little the store asks of a database engine: run a statement with plain values and
//! read rows of plain values back. The store's queries are written once, with `$1`-style
//! placeholders, and run on SQLite ([`super::sqlite`]) or PostgreSQL ([`super::postgres`]).
//! Values are integers and text only: times are RFC 3339 text, documents JSON text, so both
//! engines hold byte-identical rows.

/// A failure of the database engine.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite refused.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused, or the connection to it failed.
    #[error("{}", postgres_message(.0))]
    Postgres(#[from] postgres::Error),
}

/// The server's own words when it gave any (`ERROR: ...`), else the client's.
fn postgres_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

impl DbError {
    /// Whether another transaction won a race the engine settles by refusing one side
    /// (PostgreSQL's serialization failure or deadlock): running the transaction again is
    /// safe.
    pub fn is_conflict(&self) -> bool {
        match self {
            Self::Postgres(e) => e.code().is_some_and(|c| {
                *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            }),
            Self::Sqlite(_) => false,
        }
    }
}

/// A value bound to a placeholder or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// SQL NULL (bound as text: the store has no nullable integer parameter).
    Null,
    /// A 64-bit integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<u32> for Val {
    fn from(v: u32) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// One row read back.
#[derive(Debug, Clone, Default)]
pub struct Row(pub Vec<Val>);

impl Row {
    /// Column `i` as text; NULL or a number is a type error named by the caller.
    pub fn text(&self, i: usize) -> Result<String, String> {
        match self.0.get(i) {
            Some(Val::Text(s)) => Ok(s.clone()),
            Some(Val::Int(n)) => Ok(n.to_string()),
            other => Err(format!("column {i}: expected text, found {other:?}")),
        }
    }

    /// Column `i` as text or NULL.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, String> {
        match self.0.get(i) {
            Some(Val::Null) => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    /// Column `i` as an integer.
    pub fn int(&self, i: usize) -> Result<i64, String> {
        match self.0.get(i) {
            Some(Val::Int(n)) => Ok(*n),
            Some(Val::Text(s)) => s
                .parse()
                .map_err(|_| format!("column {i}: {s:?} is no integer")),
            other => Err(format!("column {i}: expected an integer, found {other:?}")),
        }
    }

    /// Column `i` as an integer or NULL.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, String> {
        match self.0.get(i) {
            Some(Val::Null) => Ok(None),
            _ => self.int(i).map(Some),
        }
    }
}

/// Which engine a connection talks to, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Engine {
    /// ` FOR UPDATE` where the engine locks rows (PostgreSQL); SQLite's write transaction
    /// already holds the whole database.
    pub fn for_update(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE",
        }
    }

    /// The database server's clock in milliseconds since 1970, as an SQL expression: leases
    /// are measured on one clock, whatever the workers' clocks say.
    pub fn now_ms(self) -> &'static str {
        match self {
            Self::Sqlite => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
            Self::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }
}

/// A connection, or a transaction on one.
pub trait Sql {
    /// The engine.
    fn engine(&self) -> Engine;
    /// Runs `sql` and returns how many rows it changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError>;
    /// Runs `sql` and returns its rows.
    fn rows(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError>;

    /// The first row, if any.
    fn row(&mut self, sql: &str, params: &[Val]) -> Result<Option<Row>, DbError> {
        Ok(self.rows(sql, params)?.into_iter().next())
    }
}
