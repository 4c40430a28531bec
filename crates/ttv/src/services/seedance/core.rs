//! The raw ModelArk calls: create, get and delete a content-generation task.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::http::{ApiKey, Call};
use crate::services::hosted;

use super::{KEY_ENV, NAME, error};

/// The task object (SDK `ContentGenerationTask`).
#[derive(Debug, Deserialize)]
pub(super) struct Task {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Content {
    #[serde(default)]
    pub video_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Usage {
    #[serde(default)]
    pub completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

/// One ModelArk endpoint with its key.
#[derive(Debug)]
pub(super) struct Core {
    pub client: reqwest::Client,
    pub base_url: String,
    pub api_key: Option<ApiKey>,
}

impl Core {
    fn request(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder> {
        let key = hosted::key(self.api_key.as_ref(), KEY_ENV, NAME)?;
        let url = format!(
            "{}/contents/generations/tasks{path}",
            self.base_url.trim_end_matches('/')
        );
        Ok(self.client.request(method, url).bearer_auth(key))
    }

    /// `POST /contents/generations/tasks`: the paid call.
    pub async fn create(&self, body: &Map<String, Value>) -> Result<String> {
        let request = self.request(Method::POST, "")?.json(body);
        let created: Created =
            hosted::exchange_json(request, Call::Paid, NAME, error::from_reply).await?;
        Ok(created.id)
    }

    /// `GET /contents/generations/tasks/{id}`.
    pub async fn get(&self, id: &str) -> Result<Task> {
        let request = self.request(Method::GET, &format!("/{id}"))?;
        hosted::exchange_json(request, Call::Free, NAME, error::from_reply).await
    }

    /// `DELETE /contents/generations/tasks/{id}`.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let request = self.request(Method::DELETE, &format!("/{id}"))?;
        hosted::exchange(request, Call::Free, NAME, error::from_reply)
            .await
            .map(drop)
    }
}

/// A `content` item carrying an image URL (or data URI) in `role`.
pub(super) fn image_item(url: String, role: Option<&str>) -> Value {
    let mut item = json!({ "type": "image_url", "image_url": { "url": url } });
    if let (Some(role), Some(map)) = (role, item.as_object_mut()) {
        map.insert("role".into(), json!(role));
    }
    item
}
