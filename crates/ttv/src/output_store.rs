//! Outputs in object storage (`output.url`): after a job's video is verified on local disk it
//! is streamed to `s3://`, `gs://`, `az://` or `file://` storage through the `object_store`
//! crate, then its sidecar is put next to it, and the job's history records where it went.
//!
//! Nothing half-written is ever visible under the final key: the video goes up as a multipart
//! upload, which the store only shows once it is completed (S3, GCS and Azure commit the parts
//! at once; the local file system renames a staging file), and the sidecar is put in one
//! request after the video is complete and its size checked. Readers get a presigned URL
//! (S3, GCS, Azure) or a stream from the store.
//!
//! S3 credentials and endpoint are handled by [`crate::services::bucket`] (the `uploads`
//! section's code); GCS and Azure read their standard environment variables. Secrets never
//! appear in errors, logs or `Debug`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt as _, TryStreamExt as _};
use object_store::path::Path as StorePath;
use object_store::signer::{Method, Signer};
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt as _, PutMultipartOptions, PutPayload,
    WriteMultipart,
};
use tokio::io::AsyncReadExt as _;

use crate::error::{Error, ErrorKind, Result};
use crate::services::bucket::{self, BucketOptions};

/// The environment variable naming the output location when the configuration does not.
pub const OUTPUT_URL_ENV: &str = "TTV_OUTPUT_URL";

/// The schemes `output.url` accepts.
pub const SCHEMES: &[&str] = &["s3", "gs", "az", "file"];

/// The history event that records where a job's video was stored.
pub const STORED_EVENT: &str = "stored";

/// Size of each uploaded part (S3 wants at least 5 MiB for every part but the last).
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Parts in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// How the video is read from disk into the upload.
const READ_BYTES: usize = 1024 * 1024;

/// Where outputs go and how to reach the store.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputOptions {
    /// `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` or
    /// `file:///folder`.
    pub url: String,
    /// For `s3://`: endpoint, region and credentials (`store` is unused); for every scheme:
    /// `url_ttl`, how long a presigned URL stays valid.
    pub access: BucketOptions,
}

impl OutputOptions {
    /// Options for `url` with the default S3 access (the standard AWS variables) and a
    /// one-hour presigned-URL lifetime.
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            access: BucketOptions::new(url.clone()),
            url,
        }
    }
}

/// The scheme of an output location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    S3,
    Gcs,
    Azure,
    File,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Gcs => "gs",
            Self::Azure => "az",
            Self::File => "file",
        }
    }
}

/// Checks `url` as `output.url` and splits it into scheme, bucket (or folder) and prefix.
fn parse(url: &str) -> Result<(Scheme, String, String)> {
    let bad = |allowed: &str| Error::config(format!("output.url: {url:?} — {allowed}"));
    let trimmed = url.trim();
    let (scheme, rest) = trimmed
        .split_once("://")
        .ok_or_else(|| bad("expected scheme://bucket/prefix; allowed schemes: s3, gs, az, file"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "s3" => Scheme::S3,
        "gs" => Scheme::Gcs,
        "az" => Scheme::Azure,
        "file" => Scheme::File,
        _ => return Err(bad("allowed schemes: s3, gs, az, file")),
    };
    if scheme == Scheme::File {
        if !rest.starts_with('/') {
            return Err(bad("expected file:///absolute/folder"));
        }
        return Ok((scheme, rest.trim_end_matches('/').to_owned(), String::new()));
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad(&format!(
            "names no bucket; expected {}://bucket/prefix",
            scheme.as_str()
        )));
    }
    Ok((
        scheme,
        bucket.to_owned(),
        prefix.trim_matches('/').to_owned(),
    ))
}

/// An opened output location.
#[derive(Clone)]
pub struct OutputStore {
    store: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn Signer>>,
    scheme: Scheme,
    /// `s3://bucket`, `file:///folder`: what keys are appended to in URLs.
    base: String,
    prefix: String,
    ttl: Duration,
}

impl std::fmt::Debug for OutputStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The store's own Debug may show its configuration; only the location is shown.
        f.debug_struct("OutputStore")
            .field("base", &self.base)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A video put in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Where the video is: `s3://bucket/prefix/name.mp4`.
    pub url: String,
    /// Where its sidecar is: the same with `.json` added.
    pub sidecar_url: String,
    /// Bytes stored.
    pub bytes: u64,
}

impl OutputStore {
    /// Opens the location of `options.url`. A bad URL or missing credentials are `Config`
    /// errors naming `output.url` and the value (never a secret).
    pub fn open(options: &OutputOptions) -> Result<Self> {
        Self::build(options, true)
    }

    /// Checks `options` as [`OutputStore::open`] does, without touching the network or the
    /// disk (a `file://` folder is made only when the store is opened).
    pub fn check(options: &OutputOptions) -> Result<()> {
        Self::build(options, false).map(drop)
    }

    fn build(options: &OutputOptions, open: bool) -> Result<Self> {
        let (scheme, bucket, prefix) = parse(&options.url)?;
        let config_error = |e: object_store::Error| {
            Error::config(format!(
                "output.url: cannot open {:?}: {e}",
                options.url.trim()
            ))
        };
        let (store, signer): (Arc<dyn ObjectStore>, Option<Arc<dyn Signer>>) = match scheme {
            Scheme::S3 => {
                let access = BucketOptions {
                    store: options.url.trim().to_owned(),
                    ..options.access.clone()
                };
                let s3 = Arc::new(bucket::s3_store(&access, &bucket, "output")?);
                (s3.clone(), Some(s3))
            }
            Scheme::Gcs => {
                let gcs = Arc::new(
                    object_store::gcp::GoogleCloudStorageBuilder::from_env()
                        .with_bucket_name(&bucket)
                        .build()
                        .map_err(config_error)?,
                );
                (gcs.clone(), Some(gcs))
            }
            Scheme::Azure => {
                let az = Arc::new(
                    object_store::azure::MicrosoftAzureBuilder::from_env()
                        .with_container_name(&bucket)
                        .build()
                        .map_err(config_error)?,
                );
                (az.clone(), Some(az))
            }
            Scheme::File if !open => (Arc::new(object_store::memory::InMemory::new()), None),
            Scheme::File => {
                std::fs::create_dir_all(&bucket).map_err(|e| {
                    Error::config(format!(
                        "output.url: {:?} — the folder {bucket} cannot be made: {e}",
                        options.url.trim()
                    ))
                })?;
                let local = object_store::local::LocalFileSystem::new_with_prefix(&bucket)
                    .map_err(config_error)?
                    .with_fsync(true);
                (Arc::new(local), None)
            }
        };
        let base = match scheme {
            Scheme::File => format!("file://{bucket}"),
            _ => format!("{}://{bucket}", scheme.as_str()),
        };
        Ok(Self {
            store,
            signer,
            scheme,
            base,
            prefix,
            ttl: options.access.url_ttl,
        })
    }

    /// The location, as configured (`s3://bucket/prefix`).
    pub fn location(&self) -> String {
        if self.prefix.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{}", self.base, self.prefix)
        }
    }

    /// The key of file `name` under the prefix.
    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    fn url_of(&self, key: &str) -> String {
        format!("{}/{key}", self.base)
    }

    /// The key of `url` when it is in this store.
    fn key_of(&self, url: &str) -> Option<String> {
        let key = url.strip_prefix(&self.base)?.strip_prefix('/')?;
        (!key.is_empty()).then(|| key.to_owned())
    }

    /// Whether `url` names an object of this store.
    pub fn holds(&self, url: &str) -> bool {
        self.key_of(url).is_some()
    }

    fn attributes(&self, content_type: &'static str) -> Attributes {
        let mut attributes = Attributes::new();
        // The local file system keeps no attributes (and refuses them).
        if self.scheme != Scheme::File {
            attributes.insert(Attribute::ContentType, content_type.into());
        }
        attributes
    }

    /// Streams the verified video at `local` to the store under its file name, then checks
    /// the stored size. The final key shows nothing until the upload is complete; a failed
    /// upload is aborted.
    pub async fn put_video(&self, local: &Path) -> Result<Stored> {
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidRequest,
                    format!("{} has no file name to store it under", local.display()),
                )
            })?;
        self.put_video_as(local, &name).await
    }

    /// [`OutputStore::put_video`] under `name` (relative to the store's prefix; `/` makes
    /// folders), where the file name alone would not be unique: a film's segments are
    /// `segment_01.mp4`, ... in every run.
    pub async fn put_video_as(&self, local: &Path, name: &str) -> Result<Stored> {
        let key = self.key(name);
        let path = StorePath::from(key.as_str());
        let url = self.url_of(&key);
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| Error::io(format_args!("cannot read {}", local.display()), e))?;
        let expected = file
            .metadata()
            .await
            .map_err(|e| Error::io(format_args!("cannot read {}", local.display()), e))?
            .len();
        let upload = self
            .store
            .put_multipart_opts(
                &path,
                PutMultipartOptions {
                    attributes: self.attributes("video/mp4"),
                    ..PutMultipartOptions::default()
                },
            )
            .await
            .map_err(|e| self.error("starting the upload of", &url, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; READ_BYTES];
        let streamed: Result<()> = async {
            loop {
                let n = file
                    .read(&mut buf)
                    .await
                    .map_err(|e| Error::io(format_args!("cannot read {}", local.display()), e))?;
                if n == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| self.error("uploading", &url, e))?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        if let Err(e) = streamed {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(url = %url, error = %abort, "aborting a failed upload failed");
            }
            return Err(e);
        }
        writer
            .finish()
            .await
            .map_err(|e| self.error("completing the upload of", &url, e))?;
        let meta = self
            .store
            .head(&path)
            .await
            .map_err(|e| self.error("checking", &url, e))?;
        if meta.size != expected {
            return Err(Error::new(
                ErrorKind::Transient,
                format!(
                    "{url} holds {} bytes after the upload, not the {expected} of {}",
                    meta.size,
                    local.display()
                ),
            ));
        }
        tracing::info!(url = %url, bytes = expected, "stored the video");
        Ok(Stored {
            sidecar_url: format!("{url}.json"),
            url,
            bytes: expected,
        })
    }

    /// Puts the sidecar `json` of stored video `video` next to it (one request: it appears
    /// whole or not at all).
    pub async fn put_sidecar(&self, video: &Stored, json: Vec<u8>) -> Result<()> {
        let key = self.key_of(&video.sidecar_url).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidRequest,
                format!("{} is not in {}", video.sidecar_url, self.location()),
            )
        })?;
        let options = object_store::PutOptions {
            attributes: self.attributes("application/json"),
            ..object_store::PutOptions::default()
        };
        self.store
            .put_opts(
                &StorePath::from(key.as_str()),
                PutPayload::from(json),
                options,
            )
            .await
            .map_err(|e| self.error("storing the sidecar", &video.sidecar_url, e))?;
        Ok(())
    }

    /// A presigned GET URL of `url` valid for `ttl` (the configured lifetime when `None`), or
    /// `None` when the store cannot sign (`file://`): then read it with [`OutputStore::read`].
    pub async fn presign(&self, url: &str, ttl: Option<Duration>) -> Result<Option<String>> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let key = self.key_in_store(url)?;
        let signed = signer
            .signed_url(
                Method::GET,
                &StorePath::from(key.as_str()),
                ttl.unwrap_or(self.ttl),
            )
            .await
            .map_err(|e| self.error("presigning", url, e))?;
        Ok(Some(signed.to_string()))
    }

    /// The object `url` as a stream of bytes, with its size.
    pub async fn read(&self, url: &str) -> Result<(u64, BoxStream<'static, Result<Bytes>>)> {
        let key = self.key_in_store(url)?;
        let got = self
            .store
            .get(&StorePath::from(key.as_str()))
            .await
            .map_err(|e| self.error("reading", url, e))?;
        let size = got.meta.size;
        let (this, shown) = (self.clone(), url.to_owned());
        let stream = got
            .into_stream()
            .map_err(move |e| this.error("reading", &shown, e))
            .boxed();
        Ok((size, stream))
    }

    fn key_in_store(&self, url: &str) -> Result<String> {
        self.key_of(url).ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "{url} is not in the configured output location {}",
                    self.location()
                ),
            )
        })
    }

    fn error(&self, what: &str, url: &str, e: object_store::Error) -> Error {
        Error::new(bucket::error_kind(&e), format!("{what} {url} failed: {e}")).with_source(e)
    }
}

/// Where job `history` says its video was stored, when it was.
pub fn stored_url(history: &[crate::store::HistoryEntry]) -> Option<String> {
    history
        .iter()
        .rev()
        .find(|h| h.event == STORED_EVENT)
        .and_then(|h| h.detail.clone())
}

/// `path` when it is a `file://` URL of this machine, for callers that can read it directly.
pub fn local_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("file://").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_output_url_names_the_field_the_value_and_the_schemes() {
        let err = OutputStore::open(&OutputOptions::new("s4://x")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(
            err.to_string(),
            "output.url: \"s4://x\" — allowed schemes: s3, gs, az, file"
        );
        let err = OutputStore::open(&OutputOptions::new("bucket/x")).unwrap_err();
        assert!(
            err.to_string().starts_with("output.url: \"bucket/x\""),
            "{err}"
        );
        let err = OutputStore::open(&OutputOptions::new("s3:///prefix")).unwrap_err();
        assert!(err.to_string().contains("names no bucket"), "{err}");
        let err = OutputStore::open(&OutputOptions::new("file://relative/x")).unwrap_err();
        assert!(err.to_string().contains("file:///absolute/folder"), "{err}");
    }

    #[test]
    fn s3_credentials_never_show_in_debug_or_errors() {
        let secret = "wJalrXUtnFEMI-not-a-real-secret";
        let options = OutputOptions {
            access: BucketOptions {
                access_key_id: Some(crate::http::ApiKey::new("AKIDEXAMPLE")),
                secret_access_key: Some(crate::http::ApiKey::new(secret)),
                endpoint: Some("http://127.0.0.1:9".into()),
                ..BucketOptions::new("s3://b/p")
            },
            ..OutputOptions::new("s3://b/p")
        };
        let store = OutputStore::open(&options).unwrap();
        assert_eq!(store.location(), "s3://b/p");
        let shown = format!("{options:?} {store:?}");
        assert!(!shown.contains(secret), "{shown}");
        let half = OutputOptions {
            access: BucketOptions {
                secret_access_key: Some(crate::http::ApiKey::new(secret)),
                ..BucketOptions::new("s3://b")
            },
            ..OutputOptions::new("s3://b")
        };
        let err = OutputStore::open(&half).unwrap_err();
        assert!(err.to_string().starts_with("output: set both"), "{err}");
        assert!(!format!("{err} {err:?}").contains(secret));
    }

    #[test]
    fn urls_map_to_keys_only_inside_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("videos").display());
        let store = OutputStore::open(&OutputOptions::new(&url)).unwrap();
        assert!(store.holds(&format!("{url}/a.mp4")));
        assert!(!store.holds("s3://other/a.mp4"));
        assert!(!store.holds(&url));
    }
}
