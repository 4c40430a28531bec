//! The raw Luma calls on either API: create a generation, read it, delete it.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::http::{ApiKey, Call};
use crate::services::hosted;

use super::models::Surface;
use super::{KEY_ENV, LEGACY_KEY_ENV, NAME, error};

/// A generation on either API (fields of both).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Generation {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub failure_code: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// Agents API.
    #[serde(default)]
    pub output: Option<Vec<GenerationOutput>>,
    /// Dream Machine.
    #[serde(default)]
    pub assets: Option<Assets>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GenerationOutput {
    #[serde(default, rename = "type")]
    pub kind: String,
    pub url: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Assets {
    #[serde(default)]
    pub video: Option<String>,
}

impl Generation {
    /// The video URL of a completed generation.
    pub fn video_url(self) -> Option<String> {
        if let Some(out) = self.output {
            return out
                .into_iter()
                .find(|o| o.kind == "video" || o.kind.is_empty())
                .map(|o| o.url);
        }
        self.assets.and_then(|a| a.video)
    }
}

/// The endpoints and keys of both APIs.
#[derive(Debug)]
pub(super) struct Core {
    pub client: reqwest::Client,
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    pub legacy_base_url: String,
    pub legacy_api_key: Option<ApiKey>,
}

impl Core {
    fn request(
        &self,
        surface: Surface,
        method: Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder> {
        let (base, key) = match surface {
            Surface::Agents => (
                &self.base_url,
                hosted::key(self.api_key.as_ref(), KEY_ENV, NAME)?,
            ),
            Surface::DreamMachine => (
                &self.legacy_base_url,
                hosted::key(self.legacy_api_key.as_ref(), LEGACY_KEY_ENV, NAME)?,
            ),
        };
        let url = format!("{}{path}", base.trim_end_matches('/'));
        Ok(self.client.request(method, url).bearer_auth(key))
    }

    /// Creates a generation: the paid call.
    pub async fn create(&self, surface: Surface, body: &Map<String, Value>) -> Result<String> {
        let path = match surface {
            Surface::Agents => "/generations",
            Surface::DreamMachine => "/generations/video",
        };
        let request = self.request(surface, Method::POST, path)?.json(body);
        let created: Generation =
            hosted::exchange_json(request, Call::Paid, NAME, error::from_reply).await?;
        Ok(created.id)
    }

    /// `GET /generations/{id}`.
    pub async fn get(&self, surface: Surface, id: &str) -> Result<Generation> {
        let request = self.request(surface, Method::GET, &format!("/generations/{id}"))?;
        hosted::exchange_json(request, Call::Free, NAME, error::from_reply).await
    }

    /// `DELETE /generations/{id}` (Dream Machine only).
    pub async fn delete(&self, id: &str) -> Result<()> {
        let request = self
            .request(
                Surface::DreamMachine,
                Method::DELETE,
                &format!("/generations/{id}"),
            )?
            .header(reqwest::header::ACCEPT, "*/*");
        hosted::exchange(request, Call::Free, NAME, error::from_reply)
            .await
            .map(drop)
    }
}
