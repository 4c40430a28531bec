//! The server's own record of each job it accepted: who owns it, which API made it, the
//! request as given (images saved beside it) and its idempotency key. Written atomically to
//! one JSON file per job under `<data>/server/jobs/` (or, when the job store is shared, to its
//! `server_records` table, where every server in front of it sees them) before the job is
//! answered, so that a restart finds every accepted job — also the ones still queued, which
//! the job store does not know yet. Progress lives in the job store; this is only what the store cannot hold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ttv::store::{RecordAdded, Store, StoreError};

/// Which API made the job (it decides the job's id form and how it is shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /jobs`, the original pipeline's API.
    Pipeline,
    /// `POST /v1/videos`.
    OpenAi,
    /// `POST /v1/ttv/jobs` (also the dashboard's form).
    Native,
}

/// The request fields every API maps onto (the native API takes them as they are).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// What the video shows.
    #[serde(default)]
    pub prompt: String,
    /// What it must not show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    /// The first frame: base64 or a `data:` URI on the wire; the saved file's name once
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The last frame, like `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_frame: Option<String>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// `16:9`, `9:16`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    /// `1280x720` or `720p`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Frames per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<u32>,
    /// Seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Generate sound.
    #[serde(default)]
    pub audio: bool,
    /// Backend-specific options.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// A backend name, alias or `auto`; the configuration's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// `unless_named` (default), `always` or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// One job as the server recorded it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The job id (also the id in the job store).
    pub id: String,
    /// The name of the token that created it.
    pub owner: String,
    /// The API that created it.
    pub api: Api,
    /// The OpenAI `model` asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The request (images as file names in the inputs folder).
    pub input: Input,
    /// `Idempotency-Key` and the SHA-256 of the body it came with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<(String, String)>,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// The estimate when it was accepted, in micro-dollars (for per-token budgets).
    #[serde(default)]
    pub estimate_usd_micros: i64,
    /// Cancelled before a worker took it (the job store never saw it).
    #[serde(default)]
    pub cancelled: bool,
    /// Deleted through `DELETE /v1/videos/{id}`: hidden from every listing.
    #[serde(default)]
    pub deleted: bool,
}

/// Every record: in memory and on disk, or in the shared job store.
pub struct Records {
    dir: PathBuf,
    inner: RwLock<Inner>,
    /// The job store, when it is shared (PostgreSQL): records live there, so that every
    /// server in front of it sees every accepted job and one idempotency key makes one job.
    shared: Option<Store>,
}

/// What [`Records::insert`] did.
pub enum Inserted {
    /// The record is in.
    New(Arc<Record>),
    /// Another request (on this server or another one in front of the same store) made a
    /// job with the same idempotency key first: its record.
    KeyTaken(Arc<Record>),
}

#[derive(Default)]
struct Inner {
    order: Vec<Arc<Record>>,
    by_id: HashMap<String, usize>,
    by_key: HashMap<(String, String), String>,
}

impl Records {
    /// Loads the records under `dir` (`<data>/server`), creating the folders.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("jobs"))?;
        std::fs::create_dir_all(dir.join("inputs"))?;
        let mut all = Vec::new();
        for entry in std::fs::read_dir(dir.join("jobs"))? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read(&path)?;
            match serde_json::from_slice::<Record>(&text) {
                Ok(record) => all.push(record),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "skipping an unreadable job record")
                }
            }
        }
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        let mut inner = Inner::default();
        for record in all {
            inner.add(Arc::new(record));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            inner: RwLock::new(inner),
            shared: None,
        })
    }

    /// Records kept in the shared job store `store`; input images still go under `dir`.
    pub fn open_shared(dir: &Path, store: Store) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("inputs"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            inner: RwLock::new(Inner::default()),
            shared: Some(store),
        })
    }

    /// The folder of saved input images.
    pub fn inputs_dir(&self) -> PathBuf {
        self.dir.join("inputs")
    }

    /// The record of job `id`, deleted or not.
    pub async fn get(&self, id: &str) -> std::io::Result<Option<Arc<Record>>> {
        let Some(store) = &self.shared else {
            let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
            return Ok(inner.by_id.get(id).map(|&i| inner.order[i].clone()));
        };
        let (store, id) = (store.clone(), id.to_owned());
        shared_read(move || store.server_record(&id))
            .await?
            .map(|json| parse(&json))
            .transpose()
    }

    /// The job made with idempotency key `key` by `owner`.
    pub async fn by_key(&self, owner: &str, key: &str) -> std::io::Result<Option<Arc<Record>>> {
        let Some(store) = &self.shared else {
            let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
            return Ok(inner
                .by_key
                .get(&(owner.to_owned(), key.to_owned()))
                .and_then(|id| inner.by_id.get(id))
                .map(|&i| inner.order[i].clone()));
        };
        let (store, owner, key) = (store.clone(), owner.to_owned(), key.to_owned());
        shared_read(move || store.server_record_by_key(&owner, &key))
            .await?
            .map(|json| parse(&json))
            .transpose()
    }

    /// Every record not deleted, oldest first.
    pub async fn all(&self) -> std::io::Result<Vec<Arc<Record>>> {
        let all = match &self.shared {
            None => {
                let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
                inner.order.clone()
            }
            Some(store) => {
                let store = store.clone();
                shared_read(move || store.server_records())
                    .await?
                    .iter()
                    .map(|json| parse(json))
                    .collect::<std::io::Result<_>>()?
            }
        };
        Ok(all.into_iter().filter(|r| !r.deleted).collect())
    }

    /// Saves `record` (atomically) and adds it, unless its owner's idempotency key is taken.
    /// Blocking: call from a blocking task.
    pub fn insert(&self, record: Record) -> std::io::Result<Inserted> {
        if let Some(store) = &self.shared {
            let json = serde_json::to_string(&record).map_err(std::io::Error::other)?;
            let key = record.idempotency.as_ref().map(|(k, _)| k.as_str());
            return match store
                .add_server_record(&record.id, &record.owner, key, &json)
                .map_err(std::io::Error::other)?
            {
                RecordAdded::Added => Ok(Inserted::New(Arc::new(record))),
                RecordAdded::KeyTaken(json) => Ok(Inserted::KeyTaken(parse(&json)?)),
            };
        }
        self.write(&record)?;
        let record = Arc::new(record);
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .add(record.clone());
        Ok(Inserted::New(record))
    }

    /// Marks job `id` deleted. Blocking.
    pub fn delete(&self, id: &str) -> std::io::Result<()> {
        self.change(id, |r| r.deleted = true)
    }

    fn write(&self, record: &Record) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        write_atomic(
            &self.dir.join("jobs").join(format!("{}.json", record.id)),
            &bytes,
        )
    }
}

impl Inner {
    fn add(&mut self, record: Arc<Record>) {
        if let Some((key, _)) = &record.idempotency {
            self.by_key
                .insert((record.owner.clone(), key.clone()), record.id.clone());
        }
        self.by_id.insert(record.id.clone(), self.order.len());
        self.order.push(record);
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.part", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl Records {
    /// Marks job `id` cancelled before it ran. Blocking.
    pub fn cancel(&self, id: &str) -> std::io::Result<()> {
        self.change(id, |r| r.cancelled = true)
    }

    fn change(&self, id: &str, f: impl FnOnce(&mut Record)) -> std::io::Result<()> {
        if let Some(store) = &self.shared {
            let Some(json) = store.server_record(id).map_err(std::io::Error::other)? else {
                return Ok(());
            };
            let mut record = (*parse(&json)?).clone();
            f(&mut record);
            let json = serde_json::to_string(&record).map_err(std::io::Error::other)?;
            store
                .set_server_record(id, &json)
                .map_err(std::io::Error::other)?;
            return Ok(());
        }
        let current = {
            let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
            inner.by_id.get(id).map(|&i| inner.order[i].clone())
        };
        let Some(current) = current else {
            return Ok(());
        };
        let mut record = (*current).clone();
        f(&mut record);
        self.write(&record)?;
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(&i) = inner.by_id.get(id) {
            inner.order[i] = Arc::new(record);
        }
        Ok(())
    }
}

/// A record as stored.
fn parse(json: &str) -> std::io::Result<Arc<Record>> {
    serde_json::from_str(json)
        .map(Arc::new)
        .map_err(|e| std::io::Error::other(format!("an unreadable job record in the store: {e}")))
}

/// Runs a read of the shared store off the async threads.
async fn shared_read<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)
}
