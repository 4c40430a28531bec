//! The raw Replicate calls: create a prediction, read it, cancel it, and upload a file.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{Error, ErrorKind, Result, Spend};
use crate::http::{ApiKey, Call};
use crate::media::image::ImageInput;
use crate::services::hosted;

use super::{KEY_ENV, NAME, error};

/// A prediction.
#[derive(Debug, Deserialize)]
pub(super) struct Prediction {
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub output: Value,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub logs: Option<String>,
    #[serde(default)]
    pub data_removed: bool,
}

#[derive(Deserialize)]
struct File {
    id: String,
    urls: FileUrls,
}

#[derive(Deserialize)]
struct FileUrls {
    get: String,
}

/// The API with its token.
#[derive(Debug)]
pub(super) struct Core {
    pub client: reqwest::Client,
    pub base_url: String,
    pub api_key: Option<ApiKey>,
}

impl Core {
    fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    fn request(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder> {
        let key = hosted::key(self.api_key.as_ref(), KEY_ENV, NAME)?;
        Ok(self
            .client
            .request(method, format!("{}{path}", self.base()))
            .bearer_auth(key))
    }

    /// Creates a prediction for `model` (`owner/name`, `owner/name:version` or a version
    /// hash): the paid call. `wait` asks Replicate to hold the answer that many seconds.
    pub async fn create(
        &self,
        model: &str,
        input: Map<String, Value>,
        wait: u64,
    ) -> Result<Prediction> {
        let (path, body) = match model.split_once(':') {
            Some((_, version)) => (
                "/v1/predictions".to_owned(),
                json!({ "version": version, "input": input }),
            ),
            None if is_version(model) => (
                "/v1/predictions".to_owned(),
                json!({ "version": model, "input": input }),
            ),
            None => (
                format!("/v1/models/{model}/predictions"),
                json!({ "input": input }),
            ),
        };
        let mut request = self.request(Method::POST, &path)?.json(&body);
        if wait > 0 {
            request = request.header("Prefer", format!("wait={wait}"));
        }
        let created: Prediction =
            hosted::exchange_json(request, Call::Paid, NAME, error::from_reply).await?;
        if created.id.is_empty() {
            return Err(Error::new(
                ErrorKind::Transient,
                "Replicate answered without a prediction id",
            )
            .with_spend(Spend::Maybe)
            .with_backend(NAME));
        }
        Ok(created)
    }

    /// `GET /v1/predictions/{id}`.
    pub async fn get(&self, id: &str) -> Result<Prediction> {
        let request = self.request(Method::GET, &format!("/v1/predictions/{id}"))?;
        hosted::exchange_json(request, Call::Free, NAME, error::from_reply).await
    }

    /// `POST /v1/predictions/{id}/cancel`.
    pub async fn cancel(&self, id: &str) -> Result<()> {
        let request = self.request(Method::POST, &format!("/v1/predictions/{id}/cancel"))?;
        hosted::exchange(request, Call::Free, NAME, error::from_reply)
            .await
            .map(drop)
    }

    /// Uploads `image` through the files API; returns `(id, URL to pass as input)`.
    pub async fn upload(&self, field: &str, image: &ImageInput) -> Result<(String, String)> {
        let ext = match image.format() {
            crate::media::image::ImageFormat::Png => "png",
            crate::media::image::ImageFormat::Jpeg => "jpg",
            crate::media::image::ImageFormat::Webp => "webp",
        };
        let part = reqwest::multipart::Part::bytes(image.bytes().to_vec())
            .file_name(format!("{field}.{ext}"))
            .mime_str(image.format().mime())
            .map_err(|e| {
                Error::new(ErrorKind::InvalidRequest, format!("bad image type: {e}"))
                    .with_backend(NAME)
            })?;
        let form = reqwest::multipart::Form::new().part("content", part);
        let request = self.request(Method::POST, "/v1/files")?.multipart(form);
        let file: File =
            hosted::exchange_json(request, Call::Free, NAME, error::from_reply).await?;
        Ok((file.id, file.urls.get))
    }

    /// Whether `url` is one of Replicate's own (the API or its delivery CDN), which may be
    /// sent the token.
    pub fn is_own(&self, url: &str) -> bool {
        url.starts_with(self.base())
            || reqwest::Url::parse(url)
                .ok()
                .and_then(|u| {
                    u.host_str()
                        .map(|h| h == "replicate.delivery" || h.ends_with(".replicate.delivery"))
                })
                .unwrap_or(false)
    }
}

/// Whether `s` is a bare version id (64 hex digits).
fn is_version(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// The fraction done, from the last tqdm-style line of `logs` (`  45%|████ | 9/20 [...]`).
pub(super) fn progress(logs: &str) -> Option<f32> {
    logs.lines().rev().find_map(|line| {
        let (pct, rest) = line.trim().split_once('%')?;
        let pct: f32 = pct.trim().parse().ok()?;
        rest.trim_start()
            .starts_with('|')
            .then_some((pct / 100.0).clamp(0.0, 1.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_read_from_the_last_progress_bar_line() {
        let logs = "loading\n 10%|█         | 2/20 [00:01<00:09]\n 45%|████▌     | 9/20 [00:05<00:06]\nsaving";
        assert_eq!(progress(logs), Some(0.45));
        assert_eq!(progress("no bar here"), None);
        assert!(is_version(&"a".repeat(64)));
        assert!(!is_version("owner/name"));
    }
}
