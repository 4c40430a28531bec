//! Choosing the backend for a request.
//!
//! A named backend is used as it is (and must be usable and able to do the request). `auto`
//! keeps the usable backends that can do the request and orders them by preference; the
//! first wins, and the others are reported with the reason they were passed over.

use std::sync::Arc;

use serde::Serialize;

use crate::backend::{BackendKind, VideoBackend};
use crate::capabilities::Resolved;
use crate::cost::CostEstimate;
use crate::error::{Error, ErrorKind, Result};
use crate::registry::Registry;
use crate::request::GenerationRequest;

/// How `auto` orders the backends that can do a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Preference {
    /// Lowest estimated cost first; ties keep display order.
    #[default]
    Cheapest,
    /// Embedded first, then hosted, then local models.
    Fastest,
    /// This order; backends not listed come after, in display order.
    Order(Vec<String>),
}

/// A backend passed over, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Canonical name.
    pub backend: String,
    /// Why it was not chosen.
    pub reason: String,
}

/// The chosen backend with the request checked and priced for it.
#[derive(Clone)]
pub struct Selection {
    /// The backend.
    pub backend: Arc<dyn VideoBackend>,
    /// The request made concrete for it.
    pub resolved: Resolved,
    /// What it should cost.
    pub estimate: CostEstimate,
    /// Why this one (`named by --backend`, `auto: cheapest of 2`).
    pub reason: String,
    /// Backends passed over.
    pub skipped: Vec<Skipped>,
}

impl std::fmt::Debug for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selection")
            .field("backend", &self.backend.id())
            .field("reason", &self.reason)
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// Picks a backend for `req`. `name` is the backend asked for (`auto` or a name / alias) and
/// `field` says where it came from, for errors (`--backend`, `default_backend`).
pub fn select(
    registry: &Registry,
    req: &GenerationRequest,
    field: &str,
    name: &str,
    preference: &Preference,
) -> Result<Selection> {
    if !name.trim().eq_ignore_ascii_case("auto") {
        let backend = registry.get(field, name)?;
        let resolved = backend.validate(req)?;
        let estimate = backend.estimate_cost(req)?;
        return Ok(Selection {
            backend,
            resolved,
            estimate,
            reason: format!("named by {field}"),
            skipped: Vec::new(),
        });
    }

    let mut skipped = Vec::new();
    let mut candidates = Vec::new();
    // Backends that could run here but cannot do this request, with their error.
    let mut refused: Vec<Error> = Vec::new();
    let mut not_here = Vec::new();
    for entry in registry.entries() {
        let Some(backend) = entry
            .backend
            .as_ref()
            .filter(|_| entry.availability.is_available())
        else {
            if let crate::backend::Availability::Unavailable { reason } = &entry.availability {
                skipped.push(Skipped {
                    backend: entry.known.name.to_owned(),
                    reason: reason.clone(),
                });
                not_here.push(entry.known.name);
            }
            continue;
        };
        match backend
            .validate(req)
            .and_then(|r| Ok((r, backend.estimate_cost(req)?)))
        {
            Ok((resolved, estimate)) => candidates.push((backend.clone(), resolved, estimate)),
            Err(e) => {
                skipped.push(Skipped {
                    backend: entry.known.name.to_owned(),
                    reason: one_line(&e),
                });
                refused.push(e.with_backend(entry.known.name));
            }
        }
    }
    if candidates.is_empty() {
        return Err(none_can(refused, &not_here));
    }
    let count = candidates.len();
    let rank = |b: &Arc<dyn VideoBackend>| -> usize {
        match preference {
            Preference::Cheapest => 0,
            Preference::Fastest => match b.kind() {
                BackendKind::Embedded => 0,
                BackendKind::Hosted => 1,
                BackendKind::Local => 2,
            },
            Preference::Order(order) => order
                .iter()
                .position(|n| crate::registry::lookup(n).is_some_and(|k| k.name == b.id()))
                .unwrap_or(usize::MAX),
        }
    };
    // A stable sort keeps display order among equals.
    candidates.sort_by(|a, b| {
        rank(&a.0).cmp(&rank(&b.0)).then_with(|| match preference {
            Preference::Cheapest => a.2.usd.micros.cmp(&b.2.usd.micros),
            _ => std::cmp::Ordering::Equal,
        })
    });
    let mut rest = candidates.into_iter();
    let Some((backend, resolved, estimate)) = rest.next() else {
        return Err(none_can(Vec::new(), &not_here));
    };
    for (other, _, _) in rest {
        skipped.push(Skipped {
            backend: other.id().to_owned(),
            reason: "ranked lower".to_owned(),
        });
    }
    let how = match preference {
        Preference::Cheapest => "cheapest",
        Preference::Fastest => "fastest",
        Preference::Order(_) => "first in routing.order",
    };
    Ok(Selection {
        backend,
        resolved,
        estimate,
        reason: format!("auto: {how} of {count} able backend(s)"),
        skipped,
    })
}

/// Why `auto` found no backend: the request's problems on the backends that could run here
/// come first (with one such backend, its own error, every problem listed); the backends that
/// cannot run here at all are named in one line after them.
fn none_can(refused: Vec<Error>, not_here: &[&str]) -> Error {
    let footer = match not_here {
        [] => String::new(),
        names => format!(
            "(not usable here: {}; `ttv backends` says what each needs)",
            names.join(", ")
        ),
    };
    let mut refused = refused;
    if refused.len() == 1 {
        let e = refused.remove(0);
        let message = match footer.as_str() {
            "" => e.message().to_owned(),
            f => format!("{} {f}", e.message()),
        };
        let out = Error::new(e.kind(), message).with_problems(e.problems().to_vec());
        return match e.backend() {
            Some(b) => out.with_backend(b.to_owned()),
            None => out,
        };
    }
    let mut lines: Vec<String> = refused
        .iter()
        .map(|e| format!("  - {}: {}", e.backend().unwrap_or("?"), one_line(e)))
        .collect();
    if lines.is_empty() {
        lines.push("  (no backend can be used here)".to_owned());
    }
    if !footer.is_empty() {
        lines.push(footer);
    }
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "no available backend can make this video:\n{}",
            lines.join("\n")
        ),
    )
}

fn one_line(e: &Error) -> String {
    let mut text = e.message().to_owned();
    if !e.problems().is_empty() {
        let parts: Vec<_> = e.problems().iter().map(ToString::to_string).collect();
        text = format!("{text}: {}", parts.join("; "));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Problem;
    use crate::registry::RegistrySettings;
    use crate::request::VideoDuration;

    #[test]
    fn auto_picks_the_animatic_when_nothing_else_is_configured() {
        let reg = Registry::new(&RegistrySettings::default());
        let sel = select(
            &reg,
            &GenerationRequest::text("hi"),
            "default_backend",
            "auto",
            &Preference::Cheapest,
        )
        .unwrap();
        assert_eq!(sel.backend.id(), "animatic");
        assert!(
            sel.skipped
                .iter()
                .any(|s| s.backend == "runway" && s.reason.contains("RUNWAYML_API_SECRET"))
        );
    }

    #[test]
    fn with_auto_the_request_problems_come_first_and_unusable_backends_in_one_line() {
        let reg = Registry::new(&RegistrySettings::default());
        let req = GenerationRequest {
            duration: Some(VideoDuration::from_secs(90)),
            ..GenerationRequest::text("long")
        };
        let err = select(&reg, &req, "default_backend", "auto", &Preference::Cheapest).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert_eq!(err.backend(), Some("animatic"));
        assert_eq!(err.problems().len(), 1);
        assert_eq!(err.problems()[0].field, "duration");
        let text = err.to_string();
        assert!(
            text.contains("(not usable here: runway, veo, minimax, fal, kling, luma, replicate, seedance, alibaba, wan, hunyuan, ltx; `ttv backends` says what each needs)"),
            "{text}"
        );
        assert!(!text.contains("RUNWAYML_API_SECRET"), "{text}");
    }

    #[test]
    fn with_several_usable_backends_each_says_why_it_cannot() {
        let reg = Registry::new(&RegistrySettings {
            runway: Some(crate::services::runway::RunwayOptions {
                api_key: Some(crate::http::ApiKey::new("k")),
                ..Default::default()
            }),
            ..RegistrySettings::default()
        });
        let req = GenerationRequest {
            duration: Some(VideoDuration::from_secs(90)),
            ..GenerationRequest::text("long")
        };
        let err = select(&reg, &req, "default_backend", "auto", &Preference::Cheapest).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        let text = err.to_string();
        assert!(
            text.contains("  - animatic: the request has 1 problem: duration: 90s"),
            "{text}"
        );
        assert!(text.contains("  - runway: the request has"), "{text}");
        assert!(text.ends_with("(not usable here: veo, minimax, fal, kling, luma, replicate, seedance, alibaba, wan, hunyuan, ltx; `ttv backends` says what each needs)"), "{text}");
    }

    #[test]
    fn a_named_backend_is_validated_with_every_problem() {
        let reg = Registry::new(&RegistrySettings::default());
        let req = GenerationRequest {
            fps: Some(200),
            audio: true,
            ..GenerationRequest::text("x")
        };
        let err = select(&reg, &req, "--backend", "animatic", &Preference::Cheapest).unwrap_err();
        assert_eq!(
            err.problems(),
            [
                Problem::new("audio", true, "false: this backend makes silent video only"),
                Problem::new("fps", 200, "8 to 60"),
            ],
            "{err}"
        );
    }
}
