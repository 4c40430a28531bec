//! `luma`: Luma AI's Ray models, on the current Agents API (`ray-3.2`, the default) or the
//! legacy Dream Machine API (`ray-2`, `ray-flash-2`, `ray-1-6`) for existing keys.
//!
//! **Agents API** (`https://agents.lumalabs.ai/v1`, `Authorization: Bearer
//! <LUMA_AGENTS_API_KEY>`): `POST /generations` with `{model: ray-3.2, type: video, prompt,
//! aspect_ratio, video: {duration: 5s|10s, resolution: 540p|720p|1080p, start_frame,
//! end_frame}}`, each frame `{data: <base64>, media_type}` or `{url}`; `GET
//! /generations/{id}` reports `queued | processing | completed (output[].url, presigned for an
//! hour) | failed (failure_code, failure_reason)`. There is no cancel or delete.
//!
//! **Dream Machine API** (`https://api.lumalabs.ai/dream-machine/v1`, `Authorization: Bearer
//! <LUMAAI_API_KEY>`): `POST /generations/video` with `{model, prompt, generation_type:
//! video, aspect_ratio, resolution, duration: 5s|9s, keyframes: {frame0, frame1}}`, each
//! keyframe `{type: image, url}` — images by URL only; `GET /generations/{id}` reports `queued
//! | dreaming | completed (assets.video) | failed (failure_reason)`; `DELETE
//! /generations/{id}` removes a generation (used as cancel).
//!
//! Images: the Agents API takes them inline up to [`models::INLINE_MAX`]; larger ones, and
//! every image for Dream Machine, go to the upload bucket (`uploads.store`) and travel as a
//! presigned URL. Without a bucket such a request is refused before anything is spent, with
//! the message naming what to configure. No progress is reported on either surface.
//!
//! Sources (read 2026-12-02): lumalabs/luma-agents-python 0.3.0 (`_client.py`: host,
//! `LUMA_AGENTS_API_KEY`, `LUMA_BASE_URL`; `resources/generations.py`: the two paths;
//! `types/`: the Generation object, states, failure codes, `ImageRef` with `url` / `data` +
//! `media_type`, `VideoOptionsParam`, durations and resolutions); lumalabs/lumaai-python
//! 1.18.1 (`_client.py`: host, `LUMAAI_API_KEY`, `LUMAAI_BASE_URL`; `resources/generations`:
//! `POST /generations/video`, `GET`/`DELETE /generations/{id}`; `types/`: keyframes, states);
//! docs.agents.lumalabs.ai (video guide: inline base64 frames; FAQ); Replicate's and
//! gmicloud's Ray 3.2 pages for "10 s is text-to-video only".
//!
//! UNCONFIRMED: every price (Luma's pricing page was not readable; fal's Ray 3.2 and Comfy's
//! Ray 2 tables are used, see [`models`]), the inline size limit, the error body shape (the
//! SDKs only say 400/401/403/404/422/429/5xx), whether DELETE stops a running Dream Machine
//! job, output pixel sizes (Luma documents tiers), and Dream Machine's retirement date.

mod backend;
mod core;
mod error;
pub mod models;

pub use backend::{Luma, LumaOptions};

/// Canonical name.
pub const NAME: &str = "luma";
/// The Agents API.
pub const DEFAULT_BASE_URL: &str = "https://agents.lumalabs.ai/v1";
/// The Dream Machine API.
pub const DEFAULT_LEGACY_BASE_URL: &str = "https://api.lumalabs.ai/dream-machine/v1";
/// Environment variable holding the Agents API key.
pub const KEY_ENV: &str = "LUMA_AGENTS_API_KEY";
/// Environment variable holding the Dream Machine key.
pub const LEGACY_KEY_ENV: &str = "LUMAAI_API_KEY";
/// Environment variables overriding the two base URLs (the SDKs read them).
pub const BASE_URL_ENV: &str = "LUMA_BASE_URL";
/// See [`BASE_URL_ENV`].
pub const LEGACY_BASE_URL_ENV: &str = "LUMAAI_BASE_URL";
