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
            }
            continue;
        };
        match backend
            .validate(req)
            .and_then(|r| Ok((r, backend.estimate_cost(req)?)))
        {
            Ok((resolved, estimate)) => candidates.push((backend.clone(), resolved, estimate)),
            Err(e) => skipped.push(Skipped {
                backend: entry.known.name.to_owned(),
                reason: one_line(&e),
            }),
        }
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
        let reasons: Vec<_> = skipped
            .iter()
            .map(|s| format!("  - {}: {}", s.backend, s.reason))
            .collect();
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "no available backend can make this video:\n{}",
                reasons.join("\n")
            ),
        ));
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
    fn auto_explains_when_no_backend_can_do_the_request() {
        let reg = Registry::new(&RegistrySettings::default());
        let req = GenerationRequest {
            duration: Some(VideoDuration::from_secs(90)),
            ..GenerationRequest::text("long")
        };
        let err = select(&reg, &req, "default_backend", "auto", &Preference::Cheapest).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(
            err.to_string()
                .contains("animatic: the request has 1 problem: duration: 90s"),
            "{err}"
        );
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
