//! An OpenAI-compatible chat-completions API: `POST /v1/chat/completions` with
//! `Authorization: Bearer`, answering Structured Outputs (`response_format: {type:
//! "json_schema", json_schema: {name, strict, schema}}`) with a JSON document that follows
//! the request's schema.
//!
//! Follows OpenAI's API reference (chat completion object: `id`, `object:
//! "chat.completion"`, `created`, `model`, `choices[{index, message{role, content, refusal},
//! finish_reason}]`, `usage{prompt_tokens, completion_tokens, total_tokens}`; error bodies
//! `{"error": {message, type, param, code}}`). Local servers that speak the same protocol
//! (vLLM, llama.cpp, Ollama) answer the same shapes.
//!
//! The "model" is deterministic: it fills the schema from the messages. Arrays get as many
//! items as the messages ask for (the first number before the word "segments"), the
//! `prompt`-like strings are the last user message's sentences in turn, numbers named
//! `duration` take the first number of seconds asked for. Token counts are words (UNCONFIRMED: a real
//! tokenizer counts more). Faults on `submit`: `rate_limited` (429), `insufficient_balance`
//! (429 `insufficient_quota`, as OpenAI answers), `invalid_key` (401), `server_error` (500),
//! `unavailable` (503), `no_answer`, `connection_reset`, `malformed_output` (content cut
//! off mid-JSON) and `refusal`.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::Provider;
use crate::config::{Endpoint, FaultKind};
use crate::server::{Call, JsonReply, Reply, early_fault, json, transport_fault};

fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    json(
        status,
        json!({ "error": { "message": message, "type": kind, "param": null, "code": code } }),
    )
}

fn invalid(message: &str, param: &str) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        json!({ "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": null,
        } }),
    )
}

fn server_error() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    )
}

pub(crate) fn handle(call: &Call<'_>) -> Reply {
    if !(call.method == Method::POST && call.path == "/v1/chat/completions") {
        return Reply::unrouted(error(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL ({} {})", call.method, call.path),
            "invalid_request_error",
            None,
        ));
    }
    let reply = |r| Reply::new(Endpoint::Submit, r);
    if !call.state.key_ok(call.credential("Bearer")) {
        return reply(error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided. You can find your API key at your account's API keys page.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ));
    }
    let fault = call.state.fault(Provider::OpenAi, Endpoint::Submit);
    if let Some(rule) = &fault
        && let Some(r) = early_fault(rule, Endpoint::Submit, |kind| match kind {
            FaultKind::InvalidKey => Some(error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided.",
                "invalid_request_error",
                Some("invalid_api_key"),
            )),
            FaultKind::RateLimited => Some(error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests per min (RPM). Please try again later.",
                "requests",
                Some("rate_limit_exceeded"),
            )),
            FaultKind::InsufficientBalance => Some(error(
                StatusCode::TOO_MANY_REQUESTS,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                Some("insufficient_quota"),
            )),
            FaultKind::Unavailable => Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The engine is currently overloaded, please try again later.",
                "server_error",
                None,
            )),
            _ => None,
        })
    {
        return reply(r);
    }
    let Some(body) = call.json() else {
        return reply(invalid(
            "We could not parse the JSON body of your request.",
            "body",
        ));
    };
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return reply(invalid("you must provide a model parameter", "model"));
    };
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return reply(invalid(
            "Missing required parameter: 'messages'.",
            "messages",
        ));
    };
    let all_text: String = messages
        .iter()
        .filter_map(|m| m.get("content").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n");
    let user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content").and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    let schema = match body.get("response_format") {
        None => None,
        Some(format) => match format.get("type").and_then(Value::as_str) {
            Some("json_schema") => match format.pointer("/json_schema/schema") {
                Some(s) if format.pointer("/json_schema/name").is_some() => Some(s.clone()),
                _ => {
                    return reply(invalid(
                        "Missing required parameter: 'response_format.json_schema.name'.",
                        "response_format.json_schema",
                    ));
                }
            },
            Some("text") | Some("json_object") => None,
            _ => {
                return reply(invalid(
                    "Invalid value for 'response_format.type'.",
                    "response_format.type",
                ));
            }
        },
    };
    if let Some(rule) = &fault
        && rule.fault == FaultKind::ServerError
    {
        return reply(server_error()).paid();
    }
    let words = |s: &str| s.split_whitespace().count() as u64;
    let prompt_tokens: u64 = messages
        .iter()
        .filter_map(|m| m.get("content").and_then(Value::as_str))
        .map(words)
        .sum();
    let (content, refusal) = match (&fault, &schema) {
        (Some(rule), _) if rule.fault == FaultKind::Refusal => (
            Value::Null,
            Value::from("I'm sorry, but I can't help with that request."),
        ),
        (_, Some(schema)) => {
            let filled = Filler::new(&all_text, &user)
                .fill(schema, "", 0)
                .to_string();
            let text = match &fault {
                Some(rule) if rule.fault == FaultKind::MalformedOutput => {
                    filled[..filled.len() / 2].to_owned()
                }
                _ => filled,
            };
            (Value::from(text), Value::Null)
        }
        (_, None) => (
            Value::from(Filler::new(&all_text, &user).sentence(0)),
            Value::Null,
        ),
    };
    let completion_tokens = content.as_str().map(words).unwrap_or(8);
    let now = call.state.now();
    let answer = JsonReply(
        StatusCode::OK,
        json!({
            "id": format!("chatcmpl-sim{:x}", now.since_start.as_micros()),
            "object": "chat.completion",
            "created": now.utc.timestamp(),
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": content, "refusal": refusal },
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }),
    );
    let response = match &fault {
        Some(rule) => transport_fault(rule, || answer.clone_json()).unwrap_or(answer.into()),
        None => answer.into(),
    };
    reply(response).paid()
}

/// Fills a JSON schema from the user's message, the same way every time.
struct Filler {
    sentences: Vec<String>,
    items: usize,
    seconds: Option<f64>,
}

/// The number right before `word` in `text` (`"6 segments"`).
fn number_before(text: &str, word: &str) -> Option<f64> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    tokens.windows(2).find_map(|w| {
        w[1].to_ascii_lowercase()
            .starts_with(word)
            .then(|| w[0].trim_matches(|c: char| !c.is_ascii_digit() && c != '.'))
            .and_then(|n| n.parse().ok())
    })
}

impl Filler {
    /// Counts from `instructions` (every message), scenes from `story` (the user's).
    fn new(instructions: &str, story: &str) -> Self {
        let sentences: Vec<String> = story
            .split(['.', '!', '?', '\n'])
            .map(str::trim)
            .filter(|s| s.split_whitespace().count() >= 3)
            .map(str::to_owned)
            .collect();
        Self {
            items: number_before(instructions, "segment")
                .map(|n| n as usize)
                .filter(|n| (1..=100).contains(n))
                .unwrap_or(2),
            seconds: number_before(instructions, "second"),
            sentences: if sentences.is_empty() {
                vec![story.trim().to_owned()]
            } else {
                sentences
            },
        }
    }

    fn sentence(&self, i: usize) -> String {
        self.sentences[i % self.sentences.len()].clone()
    }

    fn fill(&self, schema: &Value, name: &str, index: usize) -> Value {
        if let Some(first) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return first.clone();
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec!["object"],
        };
        let kind = types
            .iter()
            .copied()
            .find(|t| *t != "null")
            .unwrap_or("null");
        match kind {
            "object" => {
                let mut out = Map::new();
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    for (key, sub) in props {
                        out.insert(key.clone(), self.fill(sub, key, index));
                    }
                }
                Value::Object(out)
            }
            "array" => {
                let item = schema.get("items").cloned().unwrap_or(json!({}));
                Value::Array((0..self.items).map(|i| self.fill(&item, name, i)).collect())
            }
            "string" => Value::from(match name {
                "title" => self
                    .sentence(0)
                    .split_whitespace()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" "),
                n if n.contains("keyframe") => {
                    format!("Still frame, scene {}: {}", index + 1, self.sentence(index))
                }
                n if n.contains("prompt") => {
                    format!("Scene {}: {}", index + 1, self.sentence(index))
                }
                _ => format!(
                    "{} scenes, one per sentence of the prompt, in order",
                    self.items
                ),
            }),
            "number" if name.contains("duration") => self.seconds.map_or(json!(5.0), |s| json!(s)),
            "number" => json!(index as f64 + 1.0),
            "integer" => json!(index + 1),
            "boolean" => json!(false),
            _ => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_is_filled_from_the_message() {
        let schema = json!({
            "type": "object",
            "properties": {
                "title": {"type": ["string", "null"]},
                "segments": {"type": "array", "items": {"type": "object", "properties": {
                    "prompt": {"type": "string"},
                    "duration": {"type": ["number", "null"]},
                }}},
            },
        });
        let filler = Filler::new(
            "Make 3 segments of 4 seconds each.\nA fox runs. The fox jumps high.",
            "A fox runs. The fox jumps high.",
        );
        let v = filler.fill(&schema, "", 0);
        assert_eq!(v["segments"].as_array().unwrap().len(), 3);
        assert_eq!(v["segments"][0]["duration"], json!(4.0));
        assert_eq!(
            v["segments"][1]["prompt"],
            json!("Scene 2: The fox jumps high"),
            "{v}"
        );
    }
}
