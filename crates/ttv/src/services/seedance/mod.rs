//! `seedance`: ByteDance Seedance through BytePlus ModelArk (or Volcengine Ark in mainland
//! China) — the content-generation tasks API.
//!
//! `POST {base}/contents/generations/tasks` with `Authorization: Bearer <ARK_API_KEY>` and a
//! body of `model`, `content` items (`{type: text}`, `{type: image_url, image_url: {url},
//! role: first_frame|last_frame}`) and top-level parameters (`ratio`, `duration`,
//! `resolution`, `seed`, `watermark`, `camera_fixed`, `generate_audio`) answers `{id}`;
//! `GET …/tasks/{id}` reports `queued | running | succeeded (content.video_url, usage) |
//! failed (error) | cancelled`; `DELETE …/tasks/{id}` cancels a queued task (and deletes a
//! finished one's record). Seedance reports no progress. Images go inline as data URIs up to
//! [`models::INLINE_MAX`], through the upload bucket above that.
//!
//! Sources (read 2026-12-02): the official Volcengine Ark SDK
//! (volcengine/volcengine-python-sdk, `volcenginesdkarkruntime/resources/content_generation/
//! tasks.py` and `types/content_generation/content_generation_task.py`) for the paths, the
//! task object and its statuses; the Vercel AI SDK's `@ai-sdk/bytedance` for the body shape
//! with top-level parameters, the default host `ark.ap-southeast.bytepluses.com/api/v3`, the
//! image roles and the error body `{error: {code, message}}`; Comfy's partner-node price list
//! (2026) for the per-token prices. BytePlus's own pages could not be read.
//!
//! UNCONFIRMED (not checked against a first-party page): the frame sizes per ratio and tier,
//! the duration ranges per model, the inline image limit, the error code ↔ HTTP status pairs
//! (`AuthenticationError` 401, `AccountOverdueError` 403, `InputTextSensitiveContentDetected`
//! 400, `RateLimitExceeded` 429, `OutputVideoSensitiveContentDetected` as a task failure), that
//! DELETE refuses running tasks, the `expired` status, and every price (token-billed:
//! width × height × fps × seconds / 1024 tokens).

mod backend;
mod core;
mod error;
pub mod models;

pub use backend::{Seedance, SeedanceOptions};

/// Canonical name.
pub const NAME: &str = "seedance";
/// BytePlus ModelArk (international).
pub const DEFAULT_BASE_URL: &str = "https://ark.ap-southeast.bytepluses.com/api/v3";
/// Volcengine Ark (mainland China); its model ids carry a `doubao-` prefix.
pub const MAINLAND_BASE_URL: &str = "https://ark.cn-beijing.volces.com/api/v3";
/// Environment variable holding the key.
pub const KEY_ENV: &str = "ARK_API_KEY";
/// Environment variable overriding the base URL.
pub const BASE_URL_ENV: &str = "ARK_BASE_URL";
