//! `replicate`: any video model on Replicate, by `owner/name` (an official model) or by
//! version (`owner/name:<64 hex>` or the bare hash).
//!
//! Create is `POST /v1/models/{owner}/{name}/predictions` (or `POST /v1/predictions` with
//! `version`) with `Authorization: Bearer <REPLICATE_API_TOKEN>`, a body `{input}` and
//! `Prefer: wait=N` (`replicate.wait_secs`, default 5): a short job comes back finished in
//! the same call, a long one comes back `starting`/`processing` and is polled. `GET
//! /v1/predictions/{id}` reports `starting | processing (logs) | succeeded (output) | failed
//! (error) | canceled`; progress is read from the last tqdm line of `logs` (`45%|…| 9/20`), as
//! the SDK does. Cancel is `POST /v1/predictions/{id}/cancel`.
//!
//! Inputs are mapped for the popular video models (Kling, Wan, Hailuo, Seedance and Veo on
//! Replicate; see [`models`]); any other model gets `prompt` and `image`, and `-x key=value`
//! (and `replicate.default_input`) set any input by its name. Images up to 256 kB go inline as
//! data URLs, as Replicate advises; larger ones are uploaded through the files API
//! (`POST /v1/files`, multipart `content`) and passed as the file's URL.
//!
//! **Outputs are deleted an hour after the prediction finishes** (`data_removed: true`), so
//! ttv downloads a video the moment it is ready; a job resumed later than that fails with a
//! message saying so. The download carries the token only to Replicate's own hosts.
//!
//! Sources (read 2026-12-02): replicate/replicate-python 1.0.7 (`client.py`: host,
//! `REPLICATE_API_TOKEN`, `REPLICATE_BASE_URL`, retries of GET only, `Retry-After`;
//! `prediction.py`: statuses, `Prefer: wait` / `wait=N`, the progress pattern, cancel;
//! `file.py`: the files API; `exceptions.py`: RFC 7807 errors `{type, title, status,
//! detail}`), Replicate's rate-limit page (600 creates a minute; 429 "Request was throttled").
//!
//! UNCONFIRMED: 201 as the create status (any 2xx is taken), 402 for an empty balance, the
//! input names of each mapped model (read from their pages, not their schemas), the per-second
//! prices, and the files API's size limit (100 MiB assumed).

mod backend;
mod core;
mod error;
pub mod models;

pub use backend::{Replicate, ReplicateOptions};

/// Canonical name.
pub const NAME: &str = "replicate";
/// The API.
pub const DEFAULT_BASE_URL: &str = "https://api.replicate.com";
/// Environment variable holding the token.
pub const KEY_ENV: &str = "REPLICATE_API_TOKEN";
/// Environment variable overriding the base URL (the SDK reads it too).
pub const BASE_URL_ENV: &str = "REPLICATE_BASE_URL";
