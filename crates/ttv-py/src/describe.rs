//! The JSON the Python package reads: errors, progress events, finished jobs, backends and
//! their capabilities (with the original pipeline's `get_capabilities()` keys).

use std::path::Path;

use serde_json::{Value, json};
use ttv::capabilities::{DurationSupport, ResolutionSupport};
use ttv::facade::{Made, Outcome};
use ttv::registry::{Entry, KNOWN};
use ttv::{BackendKind, Error, Event, Mode, Spend};

/// An error: its kind (what the caller can do), the whole message, each problem, the
/// backend, and whether money may have been spent.
pub fn error(err: &Error) -> Value {
    json!({
        "kind": err.kind().as_str(),
        "message": err.to_string(),
        "problems": err.problems(),
        "backend": err.backend(),
        "spend": match err.spend() {
            Spend::No => "no",
            Spend::Maybe => "maybe",
            Spend::Yes => "yes",
        },
        "retry_after": err.retry_after().map(|d| d.as_secs_f64()),
    })
}

/// A progress event of a running job.
pub fn event(event: &Event) -> Value {
    match event {
        Event::Validated(resolved) => json!({"stage": "validated", "resolved": resolved}),
        Event::Submitted(ticket) => {
            json!({"stage": "submitted", "backend": ticket.backend, "provider_job_id": ticket.id})
        }
        Event::Queued { position } => json!({"stage": "queued", "position": position}),
        Event::Running { progress } => json!({"stage": "running", "fraction": progress}),
        Event::Downloading { received, total } => {
            json!({"stage": "downloading", "received": received, "total": total})
        }
        Event::Verifying => json!({"stage": "verifying"}),
    }
}

/// A finished video job: where the video is and its sidecar record.
pub fn outcome(outcome: &Outcome, warnings: &[String]) -> Value {
    match outcome {
        Outcome::Made(made) => made_video(made, warnings),
        Outcome::AlreadyDone(done) => {
            let sidecar_path = ttv::sidecar::path_for(&done.path);
            json!({
                "status": "already_done",
                "job_id": done.job.id,
                "path": done.path,
                "sidecar_path": sidecar_path,
                "sidecar": read_json(&sidecar_path),
                "copied_from": done.copied_from,
                "warnings": warnings,
            })
        }
    }
}

fn made_video(made: &Made, warnings: &[String]) -> Value {
    json!({
        "status": "made",
        "job_id": made.job_id,
        "path": made.path,
        "sidecar_path": made.sidecar_path,
        "sidecar": made.sidecar,
        "warnings": warnings,
    })
}

/// A JSON file, or `null` when it cannot be read.
pub fn read_json(path: &Path) -> Value {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

/// Every name ttv accepts for a backend, canonical names first.
pub fn backend_names() -> Vec<&'static str> {
    KNOWN
        .iter()
        .map(|k| k.name)
        .chain(KNOWN.iter().flat_map(|k| k.aliases.iter().copied()))
        .collect()
}

/// What the original pipeline's `get_capabilities()` returns (`max_duration`,
/// `supported_resolutions`, `supports_image_to_video`, `supports_text_to_video`,
/// `requires_gpu`, `api_based`), plus ttv's own keys (the registry's row and
/// each capability at the top level).
pub fn original_capabilities(entry: &Entry) -> Value {
    let mut row = entry.describe();
    let kind = entry.known.kind;
    let mut original = json!({
        "requires_gpu": kind == BackendKind::Local,
        "api_based": kind == BackendKind::Hosted,
    });
    if let Some(caps) = entry.backend.as_ref().map(|b| b.capabilities()) {
        let max_duration = match &caps.durations {
            DurationSupport::Range { max, .. } => max.as_secs_f64(),
            DurationSupport::OneOf(list) => {
                list.iter().map(|d| d.as_secs_f64()).fold(0.0, f64::max)
            }
        };
        let resolutions: Vec<String> = match &caps.resolutions {
            ResolutionSupport::OneOf(list) => list.iter().map(ToString::to_string).collect(),
            ResolutionSupport::Bounded { max, .. } => {
                let mut sizes = vec![caps.default_resolution.to_string()];
                if !sizes.contains(&max.to_string()) {
                    sizes.push(max.to_string());
                }
                sizes
            }
        };
        let modes = &caps.modes;
        original["max_duration"] = json!(max_duration);
        original["supported_resolutions"] = json!(resolutions);
        original["supports_image_to_video"] =
            json!(modes.contains(&Mode::ImageToVideo) || modes.contains(&Mode::FirstLastFrame));
        original["supports_text_to_video"] = json!(modes.contains(&Mode::TextToVideo));
        original["supports_first_last_frame"] = json!(modes.contains(&Mode::FirstLastFrame));
        if let Ok(Value::Object(more)) = serde_json::to_value(caps) {
            for (k, v) in more {
                original[k.as_str()] = v;
            }
        }
    }
    if let (Value::Object(out), Some(row)) = (&mut original, row.as_object_mut()) {
        row.remove("capabilities");
        for (k, v) in std::mem::take(row) {
            out.entry(k).or_insert(v);
        }
    }
    original
}
