//! The raw DashScope calls: create a video-synthesis task, read it, cancel it.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result, Spend};
use crate::http::{ApiKey, Call};
use crate::services::hosted;

use super::{KEY_ENV, NAME, error};

/// `GET /tasks/{id}`'s answer.
#[derive(Debug, Deserialize)]
pub(super) struct TaskReply {
    #[serde(default)]
    pub output: TaskOutput,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct TaskOutput {
    #[serde(default)]
    pub task_id: String,
    #[serde(default)]
    pub task_status: String,
    #[serde(default)]
    pub video_url: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// One DashScope endpoint with its key.
#[derive(Debug)]
pub(super) struct Core {
    pub client: reqwest::Client,
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    pub workspace: Option<String>,
}

impl Core {
    fn request(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder> {
        let key = hosted::key(self.api_key.as_ref(), KEY_ENV, NAME)?;
        let url = format!("{}{path}", self.base_url.trim_end_matches('/'));
        let mut request = self.client.request(method, url).bearer_auth(key);
        if let Some(ws) = &self.workspace {
            request = request.header("X-DashScope-WorkSpace", ws);
        }
        Ok(request)
    }

    /// Creates a task (the paid call) at `task` (`video-generation` or `image2video`).
    pub async fn create(&self, task: &str, body: &Map<String, Value>) -> Result<String> {
        let request = self
            .request(
                Method::POST,
                &format!("/services/aigc/{task}/video-synthesis"),
            )?
            .header("X-DashScope-Async", "enable")
            .json(body);
        let reply: TaskReply =
            hosted::exchange_json(request, Call::Paid, NAME, error::from_reply).await?;
        if reply.output.task_id.is_empty() {
            return Err(Error::new(
                ErrorKind::Transient,
                "DashScope accepted the request without a task_id",
            )
            .with_spend(Spend::Maybe)
            .with_backend(NAME));
        }
        Ok(reply.output.task_id)
    }

    /// `GET /tasks/{id}`.
    pub async fn get(&self, id: &str) -> Result<TaskOutput> {
        let request = self.request(Method::GET, &format!("/tasks/{id}"))?;
        let reply: TaskReply =
            hosted::exchange_json(request, Call::Free, NAME, error::from_reply).await?;
        Ok(reply.output)
    }

    /// `POST /tasks/{id}/cancel`.
    pub async fn cancel(&self, id: &str) -> Result<()> {
        let request = self.request(Method::POST, &format!("/tasks/{id}/cancel"))?;
        hosted::exchange(request, Call::Free, NAME, error::from_reply)
            .await
            .map(drop)
    }
}
