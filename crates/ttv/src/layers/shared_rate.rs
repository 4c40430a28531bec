//! Request rates shared by every process that uses one PostgreSQL database: the token bucket
//! of each backend is a row (`ttv_rate_limits`), so ten workers together send no more than
//! the configured `limits.backends.NAME.requests_per_second`, not ten times it.
//!
//! The bucket is GCRA kept as one timestamp per backend, the "theoretical arrival time"
//! (`tat`) of the next request. Taking a token is one `INSERT ... ON CONFLICT DO UPDATE`
//! statement — its row lock orders concurrent takers — that books the next free slot and
//! answers how long until it; the caller sleeps that long and sends. With period `T` (one
//! over the rate) and tolerance `τ` (`(burst - 1) * T`), a request booked while the row says
//! `tat` may go at `max(now, tat - τ)` and moves `tat` to `max(tat, now) + T`, exactly as the
//! in-process bucket ([`super::rate_limit`]) does. Times are the database server's, so the
//! workers' clocks need not agree.
//!
//! A booked slot is used even if the caller gives up waiting for it (the bucket errs on the
//! slow side). The table is created when missing, under an advisory lock so that workers
//! starting together do not race.

use std::fmt;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::error::{Error, ErrorKind, Result, Spend};

/// The table the buckets live in.
pub const TABLE: &str = "ttv_rate_limits";

/// Connections kept per process; taking a token is one short statement.
const POOL_SIZE: usize = 4;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS ttv_rate_limits (
    backend text PRIMARY KEY,
    tat timestamptz NOT NULL
)";

/// Books the next slot of `$1` with period `$2` seconds; answers seconds from now to the
/// new `tat` (the slot is that minus the period and the tolerance).
const TAKE: &str = "INSERT INTO ttv_rate_limits AS r (backend, tat)
    VALUES ($1, now() + make_interval(secs => $2))
    ON CONFLICT (backend) DO UPDATE
        SET tat = greatest(r.tat, now()) + make_interval(secs => $2)
    RETURNING extract(epoch FROM (tat - now()))::float8";

/// The buckets of one PostgreSQL database. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct SharedRates {
    pool: Pool,
    shown: String,
}

impl fmt::Debug for SharedRates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRates")
            .field("database", &self.shown)
            .finish_non_exhaustive()
    }
}

/// `url` with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(an unreadable PostgreSQL URL)".to_owned(),
    }
}

impl SharedRates {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`) and
    /// creates the buckets' table when it is missing. The password never appears in errors,
    /// logs or `Debug`.
    pub async fn connect(url: &str) -> Result<Self> {
        let shown = redact(url);
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            Error::config(format!(
                "store.url: {shown} is not a PostgreSQL URL ({e}); expected postgres://user@host:port/database"
            ))
        })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| Error::config(format!("store.url: {shown}: {e}")))?;
        let rates = Self { pool, shown };
        rates.create_table().await?;
        Ok(rates)
    }

    async fn create_table(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.error(e))?;
        // CREATE TABLE IF NOT EXISTS is not safe against itself run at the same moment.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&TABLE])
            .await
            .map_err(|e| self.error(e))?;
        tx.batch_execute(CREATE).await.map_err(|e| self.error(e))?;
        tx.commit().await.map_err(|e| self.error(e))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| {
            Error::new(
                ErrorKind::Transient,
                format!(
                    "the rate-limit database {} cannot be reached: {e}",
                    self.shown
                ),
            )
            .with_spend(Spend::No)
        })
    }

    fn error(&self, e: tokio_postgres::Error) -> Error {
        Error::new(
            ErrorKind::Transient,
            format!("the rate-limit database {} failed: {e}", self.shown),
        )
        .with_spend(Spend::No)
    }

    /// Books the next request of `backend`, whose bucket sends one request every `period`
    /// with `tolerance` of burst, and answers how long to wait before sending it.
    pub async fn book(
        &self,
        backend: &str,
        period: Duration,
        tolerance: Duration,
    ) -> Result<Duration> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(TAKE)
            .await
            .map_err(|e| self.error(e))?;
        let row = client
            .query_one(&statement, &[&backend, &period.as_secs_f64()])
            .await
            .map_err(|e| self.error(e))?;
        let ahead: f64 = row.get(0);
        let wait = ahead - period.as_secs_f64() - tolerance.as_secs_f64();
        Ok(Duration::try_from_secs_f64(wait.max(0.0)).unwrap_or_default())
    }

    /// Books the next request of `backend` and waits for its slot.
    pub async fn until_ready(
        &self,
        backend: &str,
        period: Duration,
        tolerance: Duration,
    ) -> Result<()> {
        let wait = self.book(backend, period, tolerance).await?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_password_in_the_url_is_never_shown() {
        assert_eq!(
            redact("postgres://ttv:hunter2@db.internal:5432/ttv"),
            "postgres://ttv:***@db.internal:5432/ttv"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert!(!redact("postgres://a:b c@").contains("b c"));
    }
}
