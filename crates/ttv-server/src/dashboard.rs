//! The dashboard at `/`: one server-rendered page with a little plain JavaScript (no build
//! step). It lists jobs with state, backend and cost, follows running ones live over SSE,
//! plays finished ones inline, and has a form that shows the estimate before submitting.

use axum::response::Html;

/// `GET /`.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = include_str!("dashboard.html");
