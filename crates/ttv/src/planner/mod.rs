//! Planning a film with an LLM: one call to any OpenAI-compatible chat-completions endpoint
//! asking for a storyboard as Structured Outputs (a strict JSON schema), then validation.
//!
//! What the model returns is checked before anyone pays for a video: the segment count must
//! be the one asked for and every prompt non-empty; what is safely repairable is repaired
//! (whitespace trimmed, a missing or non-positive duration set to the segment length, a
//! duration over the backend's maximum clamped to it). Anything else is an error whose kind
//! says what happened (`InvalidOutput` for an answer that is not the storyboard,
//! `ContentRejected` for a refusal, `Timeout`, `RateLimited`, `Auth`, `Transient`), so the
//! caller can fall back to the deterministic split with a warning.
//!
//! This module plans; it does not split prompts itself, run segments or record costs (the
//! caller puts [`LlmUsage`] in the ledger).

pub mod prices;

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, ErrorKind, Result, Spend};
use crate::http::{self, ApiKey};

/// OpenAI's API, the default `openai_base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The original pipeline's default `prompt_enhancement_model`.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// How long a planning call may take (reasoning models think for a while).
pub const PLAN_TIMEOUT: Duration = Duration::from_secs(120);

/// The storyboard the model proposed, validated and repaired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanDraft {
    /// A title for the film.
    pub title: Option<String>,
    /// Why the story was cut this way (the original's `segmentation_logic.reasoning`).
    pub logic: Option<String>,
    /// One entry per segment, in order.
    pub segments: Vec<DraftSegment>,
}

/// One segment of a [`PlanDraft`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftSegment {
    /// The text-to-video prompt, standalone (characters and style spelled out).
    pub prompt: String,
    /// A text-to-image prompt for the segment's keyframe.
    pub keyframe_prompt: Option<String>,
    /// Seconds; within the maximum asked for.
    pub duration: Option<f64>,
}

/// Where and how to reach the LLM.
#[derive(Debug, Clone)]
pub struct PlannerAccess {
    /// Bearer key; local servers often need none.
    pub api_key: Option<ApiKey>,
    /// Base URL of the OpenAI-compatible API (`https://api.openai.com/v1`).
    pub base_url: String,
    /// Model name (`prompt_enhancement_model`).
    pub model: String,
}

impl PlannerAccess {
    /// The planner the configuration describes, when an LLM is configured (a key, or a base
    /// URL of its own for a local server); `None` means: plan deterministically.
    pub fn from_settings(settings: &crate::config::Settings) -> Option<Self> {
        settings.openai.is_configured().then(|| Self {
            api_key: settings.openai.api_key.clone(),
            base_url: settings.openai.base_url.clone(),
            model: settings.planner_model.clone(),
        })
    }
}

/// What a planning call used and cost.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LlmUsage {
    /// Tokens sent.
    pub prompt_tokens: u64,
    /// Tokens received.
    pub completion_tokens: u64,
    /// Cost in US dollars from [`prices`]; 0 for a model not in the table.
    pub cost_usd: f64,
}

/// Asks the model for `segments` segments of about `segment_secs` seconds (at most
/// `max_segment_secs`) telling the story in `prompt`.
pub async fn plan_with_llm(
    access: &PlannerAccess,
    prompt: &str,
    segments: usize,
    segment_secs: f64,
    max_segment_secs: f64,
) -> Result<(PlanDraft, LlmUsage)> {
    plan_with_llm_within(
        access,
        prompt,
        segments,
        segment_secs,
        max_segment_secs,
        PLAN_TIMEOUT,
    )
    .await
}

/// [`plan_with_llm`] with a deadline other than [`PLAN_TIMEOUT`].
pub async fn plan_with_llm_within(
    access: &PlannerAccess,
    prompt: &str,
    segments: usize,
    segment_secs: f64,
    max_segment_secs: f64,
    limit: Duration,
) -> Result<(PlanDraft, LlmUsage)> {
    let shape = Shape {
        segments,
        segment_secs,
        max_segment_secs,
    };
    shape.check(prompt)?;
    let body = request_body(&access.model, prompt, &shape);
    let url = format!("{}/chat/completions", access.base_url.trim_end_matches('/'));
    let mut request = http::client()?
        .post(&url)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(key) = &access.api_key {
        request = request.header(AUTHORIZATION, format!("Bearer {}", key.expose()));
    }
    let reply = match tokio::time::timeout(limit, send(request)).await {
        Ok(reply) => reply?,
        Err(_) => return Err(timed_out(limit)),
    };
    if !reply.status.is_success() {
        let message = reply
            .value()
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map_or_else(|| http::snippet(&reply.body), str::to_owned);
        let mut err = http::status_error(reply.status, &reply.headers, &message, http::Call::Free);
        // OpenAI answers an empty balance with 429 `insufficient_quota`: waiting won't help.
        if reply.value().pointer("/error/code").and_then(Value::as_str)
            == Some("insufficient_quota")
        {
            err = Error::new(ErrorKind::QuotaExceeded, err.message().to_owned());
        }
        return Err(err.with_backend("planner"));
    }
    let answer: Completion = serde_json::from_slice(&reply.body).map_err(|e| {
        bad_answer(format!(
            "not a chat completion ({e}): {}",
            http::snippet(&reply.body)
        ))
    })?;
    let usage = LlmUsage {
        prompt_tokens: answer.usage.prompt_tokens,
        completion_tokens: answer.usage.completion_tokens,
        cost_usd: prices::cost_usd(
            &access.model,
            answer.usage.prompt_tokens,
            answer.usage.completion_tokens,
        ),
    };
    let message = answer
        .choices
        .into_iter()
        .next()
        .map(|c| c.message)
        .ok_or_else(|| bad_answer("the answer has no choices".into()))?;
    if let Some(refusal) = message.refusal.filter(|r| !r.trim().is_empty()) {
        return Err(Error::new(
            ErrorKind::ContentRejected,
            format!("the planning model refused: {refusal}"),
        )
        .with_backend("planner"));
    }
    let content = message
        .content
        .ok_or_else(|| bad_answer("the answer has no content".into()))?;
    let raw: RawPlan = serde_json::from_str(content.trim()).map_err(|e| {
        bad_answer(format!(
            "the storyboard is not the JSON asked for ({e}): {}",
            http::snippet(content.as_bytes())
        ))
    })?;
    Ok((shape.repair(raw)?, usage))
}

async fn send(request: reqwest::RequestBuilder) -> Result<http::Reply> {
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport)?;
    Ok(http::Reply {
        status,
        headers,
        body,
    })
}

fn transport(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::new(
            ErrorKind::Timeout,
            format!("the planning model did not answer in time: {e}"),
        )
        .with_backend("planner");
    }
    http::transport_error(e, http::Call::Free).with_backend("planner")
}

fn timed_out(limit: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!(
            "the planning model did not answer within {} s",
            limit.as_secs()
        ),
    )
    .with_backend("planner")
    .with_spend(Spend::Maybe)
}

fn bad_answer(message: String) -> Error {
    Error::new(
        ErrorKind::InvalidOutput,
        format!("the planning model's answer cannot be used: {message}"),
    )
    .with_backend("planner")
}

/// What was asked for.
struct Shape {
    segments: usize,
    segment_secs: f64,
    max_segment_secs: f64,
}

impl Shape {
    fn check(&self, prompt: &str) -> Result<()> {
        let mut problems = Vec::new();
        if prompt.trim().is_empty() {
            problems.push(crate::Problem::new(
                "prompt",
                "empty",
                "a description of the film",
            ));
        }
        if !(1..=200).contains(&self.segments) {
            problems.push(crate::Problem::new(
                "segments",
                self.segments,
                "1 to 200 segments",
            ));
        }
        if !(self.max_segment_secs.is_finite() && self.max_segment_secs > 0.0) {
            problems.push(crate::Problem::new(
                "max_segment_secs",
                self.max_segment_secs,
                "a positive number of seconds",
            ));
        }
        if !(self.segment_secs.is_finite()
            && self.segment_secs > 0.0
            && self.segment_secs <= self.max_segment_secs)
        {
            problems.push(crate::Problem::new(
                "segment_secs",
                self.segment_secs,
                format!(
                    "a positive number of seconds, at most {}",
                    self.max_segment_secs
                ),
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(problems))
        }
    }

    fn repair(&self, raw: RawPlan) -> Result<PlanDraft> {
        if raw.segments.len() != self.segments {
            return Err(bad_answer(format!(
                "{} segments planned, {} asked for",
                raw.segments.len(),
                self.segments
            )));
        }
        let text = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let mut segments = Vec::with_capacity(raw.segments.len());
        for (i, seg) in raw.segments.into_iter().enumerate() {
            let prompt = seg.prompt.trim().to_owned();
            if prompt.is_empty() {
                return Err(bad_answer(format!("segment {} has an empty prompt", i + 1)));
            }
            let duration = match seg.duration {
                Some(d) if d.is_finite() && d > self.max_segment_secs => {
                    tracing::warn!(
                        segment = i + 1,
                        planned = d,
                        max = self.max_segment_secs,
                        "the planner's segment is longer than the backend allows; shortened"
                    );
                    self.max_segment_secs
                }
                Some(d) if d.is_finite() && d > 0.0 => d,
                _ => self.segment_secs,
            };
            segments.push(DraftSegment {
                prompt,
                keyframe_prompt: text(seg.keyframe_prompt),
                duration: Some(duration),
            });
        }
        Ok(PlanDraft {
            title: text(raw.title),
            logic: text(raw.logic),
            segments,
        })
    }
}

const INSTRUCTIONS: &str = "You are a film storyboard writer. Split the user's film description \
into consecutive video segments that together tell the whole story, in order. Each segment \
prompt is standalone for a text-to-video model: it names and describes every character and \
place in full (appearance, clothing), says what moves and how, the camera movement (tracking \
shot, slow push-in, pan), lighting and style, and keeps the same style in every segment. Each \
keyframe prompt describes, for a text-to-image model, the still image at the end of its \
segment: composition, characters, setting and style, no camera movement. Give a short title \
and, in logic, one or two sentences on how the story was divided.";

fn request_body(model: &str, prompt: &str, shape: &Shape) -> Value {
    let system = format!(
        "{INSTRUCTIONS}\n\nWrite exactly {n} segments. Each lasts about {secs} seconds and at \
         most {max} seconds; give each segment's duration in seconds.",
        n = shape.segments,
        secs = shape.segment_secs,
        max = shape.max_segment_secs,
    );
    json!({
        "model": model,
        "messages": [
            { "role": "system", "content": system },
            { "role": "user", "content": prompt },
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": { "name": "storyboard", "strict": true, "schema": schema() },
        },
    })
}

/// The storyboard schema, in the subset strict Structured Outputs accept: every property
/// required, optional ones nullable, no additional properties.
fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "title": { "type": ["string", "null"] },
            "logic": { "type": ["string", "null"] },
            "segments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "prompt": { "type": "string" },
                        "keyframe_prompt": { "type": ["string", "null"] },
                        "duration": { "type": ["number", "null"] },
                    },
                    "required": ["prompt", "keyframe_prompt", "duration"],
                    "additionalProperties": false,
                },
            },
        },
        "required": ["title", "logic", "segments"],
        "additionalProperties": false,
    })
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Usage,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[derive(Deserialize)]
struct RawPlan {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    logic: Option<String>,
    segments: Vec<RawSegment>,
}

#[derive(Deserialize)]
struct RawSegment {
    prompt: String,
    #[serde(default)]
    keyframe_prompt: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
}

/// The request body [`plan_with_llm`] sends, for tests and `--dry-run` style displays.
pub fn request_preview(
    model: &str,
    prompt: &str,
    segments: usize,
    segment_secs: f64,
    max_segment_secs: f64,
) -> Value {
    request_body(
        model,
        prompt,
        &Shape {
            segments,
            segment_secs,
            max_segment_secs,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            segments: 2,
            segment_secs: 5.0,
            max_segment_secs: 8.0,
        }
    }

    fn raw(durations: [Option<f64>; 2], prompts: [&str; 2]) -> RawPlan {
        RawPlan {
            title: Some("  ".into()),
            logic: None,
            segments: durations
                .iter()
                .zip(prompts)
                .map(|(d, p)| RawSegment {
                    prompt: p.into(),
                    keyframe_prompt: Some(String::new()),
                    duration: *d,
                })
                .collect(),
        }
    }

    #[test]
    fn durations_are_clamped_and_filled_and_blanks_dropped() {
        let plan = shape()
            .repair(raw([Some(12.0), None], [" a fox ", "a hound"]))
            .unwrap();
        assert_eq!(plan.title, None);
        assert_eq!(plan.segments[0].prompt, "a fox");
        assert_eq!(plan.segments[0].duration, Some(8.0));
        assert_eq!(plan.segments[1].duration, Some(5.0));
        assert_eq!(plan.segments[1].keyframe_prompt, None);
    }

    #[test]
    fn a_wrong_count_or_an_empty_prompt_is_refused() {
        let mut short = raw([Some(5.0), Some(5.0)], ["a", "b"]);
        short.segments.pop();
        let err = shape().repair(short).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidOutput);
        assert!(err.message().contains("1 segments planned, 2 asked for"));
        let err = shape()
            .repair(raw([Some(5.0), Some(5.0)], ["a", "  "]))
            .unwrap_err();
        assert!(err.message().contains("segment 2 has an empty prompt"));
    }
}
