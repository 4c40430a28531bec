//! The server's own records of the jobs it accepted (owner, API, request as given,
//! idempotency key), kept in the job store when the store is shared, so that every `ttv serve`
//! in front of one PostgreSQL database sees every accepted job and one idempotency key makes
//! one job whichever server it reaches. A record is a JSON document the server defines; the
//! store keeps it with the two fields it must look up by.

use chrono::Utc;

use super::sql::Val;
use super::{Store, StoreResult, p};

/// What [`Store::add_server_record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordAdded {
    /// The record is in.
    Added,
    /// The owner's idempotency key is taken: the record already under it (JSON).
    KeyTaken(String),
}

impl Store {
    /// Adds record `json` of job `id` by `owner`, under `idem_key` when it has one. The key is
    /// unique per owner in the database, so two servers racing with one key add one record.
    pub fn add_server_record(
        &self,
        id: &str,
        owner: &str,
        idem_key: Option<&str>,
        json: &str,
    ) -> StoreResult<RecordAdded> {
        let now = Utc::now().to_rfc3339();
        // No transaction: the unique keys decide, and a record once in is never taken out.
        self.with(|sql| {
            let added = sql.exec(
                "INSERT INTO server_records (id, owner, idem_key, record, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
                p![id, owner, idem_key, json, now.as_str()],
            )?;
            if added > 0 {
                return Ok(RecordAdded::Added);
            }
            let existing = match idem_key {
                Some(key) => sql.row(
                    "SELECT record FROM server_records WHERE owner = $1 AND idem_key = $2",
                    p![owner, key],
                )?,
                None => None,
            };
            match existing {
                Some(row) => Ok(RecordAdded::KeyTaken(row.text(0).map_err(|m| {
                    super::StoreError::Corrupt {
                        id: id.to_owned(),
                        field: "server record",
                        message: m,
                    }
                })?)),
                None => Err(super::StoreError::Exists(id.to_owned())),
            }
        })
    }

    /// Replaces the record of job `id` (cancelled, deleted). `false` when there is none.
    pub fn set_server_record(&self, id: &str, json: &str) -> StoreResult<bool> {
        let now = Utc::now().to_rfc3339();
        let changed = self.with(|sql| {
            Ok(sql.exec(
                "UPDATE server_records SET record = $2, updated_at = $3 WHERE id = $1",
                p![id, json, now.as_str()],
            )?)
        })?;
        Ok(changed > 0)
    }

    /// The record of job `id`.
    pub fn server_record(&self, id: &str) -> StoreResult<Option<String>> {
        self.one("SELECT record FROM server_records WHERE id = $1", p![id])
    }

    /// The record `owner` made with idempotency key `key`.
    pub fn server_record_by_key(&self, owner: &str, key: &str) -> StoreResult<Option<String>> {
        self.one(
            "SELECT record FROM server_records WHERE owner = $1 AND idem_key = $2",
            p![owner, key],
        )
    }

    /// Every record, in the order they were added.
    pub fn server_records(&self) -> StoreResult<Vec<String>> {
        let rows = self.with(|sql| {
            Ok(sql.rows(
                "SELECT record, id FROM server_records ORDER BY created_at, id",
                &[],
            )?)
        })?;
        rows.iter()
            .map(|row| {
                row.text(0).map_err(|m| super::StoreError::Corrupt {
                    id: row.text(1).unwrap_or_default(),
                    field: "server record",
                    message: m,
                })
            })
            .collect()
    }

    fn one(&self, query: &str, params: &[Val]) -> StoreResult<Option<String>> {
        let row = self.with(|sql| Ok(sql.row(query, params)?))?;
        row.map(|r| {
            r.text(0).map_err(|m| super::StoreError::Corrupt {
                id: String::new(),
                field: "server record",
                message: m,
            })
        })
        .transpose()
    }
}
