//! fal's status stream: `GET {status_url}/stream[?logs=1]` answers Server-Sent Events, each
//! `data:` line a status object shaped like the status call's answer; the server closes the
//! stream after `COMPLETED` and sends a comment line every 15 s to keep it open
//! (https://fal.ai/docs/inference-api/queue/status-stream).

use futures_util::StreamExt as _;
use serde_json::Value;

use crate::backend::{Pushed, StatusStream};
use crate::error::{Error, ErrorKind};

/// The last progress percentage in fal logs (`45%`, `45% | 9/20`), as a fraction.
pub(super) fn progress(logs: &[Value]) -> Option<f32> {
    logs.iter().rev().find_map(|entry| {
        let message = entry.get("message").and_then(Value::as_str)?;
        let (pct, _) = message.trim().split_once('%')?;
        let pct: f32 = pct.trim().rsplit(' ').next()?.parse().ok()?;
        (0.0..=100.0).contains(&pct).then_some(pct / 100.0)
    })
}

/// A pushed change from one status object.
pub(super) fn pushed(status: &Value) -> Option<Pushed> {
    match status.get("status").and_then(Value::as_str)? {
        "IN_QUEUE" => Some(Pushed::Queued {
            position: status
                .get("queue_position")
                .and_then(Value::as_u64)
                .and_then(|p| u32::try_from(p).ok()),
        }),
        "IN_PROGRESS" => Some(Pushed::Running {
            progress: status
                .get("logs")
                .and_then(Value::as_array)
                .and_then(|l| progress(l)),
        }),
        "COMPLETED" => Some(Pushed::Ended),
        _ => None,
    }
}

/// Splits complete events off the front of `buffer` and returns their `data`, joined per
/// event; comments and other fields are skipped.
pub(super) fn take_events(buffer: &mut String) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let normalised = buffer.replace("\r\n", "\n");
        if normalised.len() != buffer.len() {
            *buffer = normalised;
        }
        let Some(end) = buffer.find("\n\n") else {
            break;
        };
        let block: String = buffer.drain(..end + 2).collect();
        let data: Vec<&str> = block
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if !data.is_empty() {
            out.push(data.join("\n"));
        }
    }
    out
}

/// The pushed changes of a stream answer.
pub(super) fn changes(response: reqwest::Response) -> StatusStream {
    let state = (
        response.bytes_stream().boxed(),
        String::new(),
        Vec::<Pushed>::new(),
        false,
    );
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut body, mut buffer, mut ready, mut ended)| async move {
            loop {
                if let Some(next) = ready.pop() {
                    return Some((Ok(next), (body, buffer, ready, ended)));
                }
                if ended {
                    return None;
                }
                match body.next().await {
                    Some(Ok(bytes)) => {
                        buffer.push_str(&String::from_utf8_lossy(&bytes));
                        let mut found: Vec<Pushed> = take_events(&mut buffer)
                            .iter()
                            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                            .filter_map(|v| pushed(&v))
                            .collect();
                        if let Some(i) = found.iter().position(|p| *p == Pushed::Ended) {
                            found.truncate(i + 1);
                            ended = true;
                        }
                        found.reverse();
                        ready = found;
                    }
                    Some(Err(e)) => {
                        let err = Error::new(
                            ErrorKind::Transient,
                            format!("the status stream broke: {e}"),
                        );
                        return Some((Err(err), (body, buffer, ready, true)));
                    }
                    None => return None,
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_on_blank_lines_and_comments_skipped() {
        let mut buf = String::from(
            ": keep-alive\n\ndata: {\"status\":\"IN_QUEUE\",\"queue_position\":2}\n\ndata: {\"status\":",
        );
        assert_eq!(
            take_events(&mut buf),
            ["{\"status\":\"IN_QUEUE\",\"queue_position\":2}"]
        );
        assert_eq!(buf, "data: {\"status\":");
        buf.push_str("\"COMPLETED\"}\r\n\r\n");
        assert_eq!(take_events(&mut buf), ["{\"status\":\"COMPLETED\"}"]);
    }

    #[test]
    fn statuses_map_to_pushed_changes_with_progress_from_the_logs() {
        let running = serde_json::json!({
            "status": "IN_PROGRESS",
            "logs": [{"message": "loading"}, {"message": "45%"}]
        });
        assert_eq!(
            pushed(&running),
            Some(Pushed::Running {
                progress: Some(0.45)
            })
        );
        assert_eq!(
            pushed(&serde_json::json!({"status": "IN_QUEUE", "queue_position": 3})),
            Some(Pushed::Queued { position: Some(3) })
        );
        assert_eq!(
            pushed(&serde_json::json!({"status": "COMPLETED"})),
            Some(Pushed::Ended)
        );
    }
}
