//! The raw Kling calls: create a task on text2video or image2video, and read it back.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result, Spend};
use crate::http::{Call, Reply};
use crate::services::hosted;

use super::auth::Tokens;
use super::{NAME, error};

/// The `data` of a query answer.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TaskData {
    #[serde(default)]
    pub task_id: String,
    #[serde(default)]
    pub task_status: String,
    #[serde(default)]
    pub task_status_msg: Option<String>,
    #[serde(default)]
    pub final_unit_deduction: Option<String>,
    #[serde(default)]
    pub task_result: Option<TaskResult>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct TaskResult {
    #[serde(default)]
    pub videos: Vec<Video>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Video {
    pub url: String,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    data: Option<TaskData>,
}

/// One Kling endpoint with its token source.
#[derive(Debug)]
pub(super) struct Core {
    pub client: reqwest::Client,
    pub base_url: String,
    pub tokens: Tokens,
}

impl Core {
    fn request(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder> {
        let token = self.tokens.token(chrono::Utc::now().timestamp())?;
        let url = format!("{}{path}", self.base_url.trim_end_matches('/'));
        Ok(self.client.request(method, url).bearer_auth(token.expose()))
    }

    /// Checks the envelope's `code` too: Kling may put an error in a 200.
    async fn call(&self, request: reqwest::RequestBuilder, call: Call) -> Result<TaskData> {
        let reply: Reply = match hosted::exchange(request, call, NAME, error::from_reply).await {
            Ok(reply) => reply,
            Err(e) => {
                if e.kind() == ErrorKind::Auth {
                    self.tokens.invalidate();
                }
                return Err(e);
            }
        };
        let envelope: Envelope = reply.json(call).map_err(|e| e.with_backend(NAME))?;
        if envelope.code != 0 {
            let err = error::from_reply(&reply, call).with_backend(NAME);
            if err.kind() == ErrorKind::Auth {
                self.tokens.invalidate();
            }
            return Err(err);
        }
        envelope.data.ok_or_else(|| {
            Error::new(ErrorKind::Transient, "Kling answered without data")
                .with_spend(match call {
                    Call::Paid => Spend::Maybe,
                    Call::Free => Spend::No,
                })
                .with_backend(NAME)
        })
    }

    /// `POST /v1/videos/{kind}`: the paid call.
    pub async fn create(&self, kind: &str, body: &Map<String, Value>) -> Result<String> {
        let request = self
            .request(Method::POST, &format!("/v1/videos/{kind}"))?
            .json(body);
        let data = self.call(request, Call::Paid).await?;
        if data.task_id.is_empty() {
            return Err(Error::new(
                ErrorKind::Transient,
                "Kling accepted the request without a task_id",
            )
            .with_spend(Spend::Maybe)
            .with_backend(NAME));
        }
        Ok(data.task_id)
    }

    /// `GET /v1/videos/{kind}/{id}`.
    pub async fn get(&self, kind: &str, id: &str) -> Result<TaskData> {
        let request = self.request(Method::GET, &format!("/v1/videos/{kind}/{id}"))?;
        self.call(request, Call::Free).await
    }
}
