//! Liveness, readiness, Prometheus metrics and the OpenAPI document (built from
//! [`super::ROUTES`], the list the router is built from).

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::state::Shared;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET /healthz`.
pub async fn healthz() -> Json<Value> {
    Json(json!({
        "status": "healthy",
        "timestamp": chrono::Utc::now(),
        "version": VERSION,
        "components": { "api": "healthy" },
    }))
}

/// `GET /readyz`: 200 when the job store answers and new jobs are taken, else 503.
pub async fn readyz(State(state): State<Shared>) -> Response {
    let store = match state.jobs.runner() {
        Ok(runner) => {
            let store = runner.store().clone();
            match tokio::task::spawn_blocking(move || store.list(&[ttv::store::JobState::Created]))
                .await
            {
                Ok(Ok(_)) => "healthy",
                _ => "unhealthy",
            }
        }
        Err(_) => "unhealthy",
    };
    let accepting = state.accepting.load(Ordering::SeqCst);
    let ready = store == "healthy" && accepting;
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "timestamp": chrono::Utc::now(),
        "version": VERSION,
        "components": {
            "job_store": store,
            "workers": if accepting { "healthy" } else { "shutting_down" },
        },
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// `GET /metrics/prometheus`.
pub async fn prometheus(State(state): State<Shared>) -> Response {
    let m = &state.metrics;
    let (running, critical) = state.live.running();
    let mut out = String::new();
    let mut line = |name: &str, help: &str, kind: &str, samples: &[(String, u64)]| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in samples {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    line(
        "ttv_http_requests_total",
        "HTTP requests answered, by status class.",
        "counter",
        &(1..=5)
            .map(|c| {
                (
                    format!("{{class=\"{c}xx\"}}"),
                    m.requests[c].load(Ordering::Relaxed),
                )
            })
            .collect::<Vec<_>>(),
    );
    line(
        "ttv_jobs_accepted_total",
        "Jobs accepted since the server started.",
        "counter",
        &[(String::new(), m.accepted.load(Ordering::Relaxed))],
    );
    line(
        "ttv_jobs_ended_total",
        "Jobs that ended since the server started, by outcome.",
        "counter",
        &["done", "failed", "cancelled"]
            .iter()
            .enumerate()
            .map(|(i, o)| {
                (
                    format!("{{outcome=\"{o}\"}}"),
                    m.ended[i].load(Ordering::Relaxed),
                )
            })
            .collect::<Vec<_>>(),
    );
    line(
        "ttv_jobs_queued",
        "Jobs waiting for a worker.",
        "gauge",
        &[(String::new(), state.live.queued() as u64)],
    );
    line(
        "ttv_jobs_running",
        "Jobs a worker runs now.",
        "gauge",
        &[(String::new(), running as u64)],
    );
    line(
        "ttv_jobs_transferring",
        "Running jobs that are sending their paid request or downloading.",
        "gauge",
        &[(String::new(), critical as u64)],
    );
    line(
        "ttv_workers",
        "Places in the worker pool.",
        "gauge",
        &[(String::new(), state.opts.workers as u64)],
    );
    line(
        "ttv_uptime_seconds",
        "Seconds since the server started.",
        "gauge",
        &[(String::new(), state.started.elapsed().as_secs())],
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// `GET /openapi.json`.
pub async fn openapi() -> Json<Value> {
    Json(document())
}

/// The OpenAPI 3.1 document of every route.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for r in super::ROUTES {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut op = json!({
            "summary": r.summary,
            "tags": [r.tag],
            "operationId": format!("{}_{}", r.method, r.path.trim_matches('/').replace(['/', '{', '}', '-', '.'], "_")),
            "parameters": params,
            "responses": { "default": { "description": "See the README's Server section" } },
        });
        if r.auth {
            op["security"] = json!([{ "bearer": [] }]);
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "ttv", "version": VERSION, "description": "Text-to-video jobs: the original pipeline's API, an OpenAI-compatible videos API and ttv's own." },
        "paths": paths,
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
    })
}
