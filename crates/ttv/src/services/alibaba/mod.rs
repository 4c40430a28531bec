//! `alibaba`: Wan video models hosted by Alibaba Cloud Model Studio (DashScope), in the
//! international (Singapore) or mainland China (Beijing) region.
//!
//! Create is `POST {base}/services/aigc/video-generation/video-synthesis` (first+last frame
//! models, `*-kf2v-*`, use `…/image2video/video-synthesis`) with `Authorization: Bearer
//! <DASHSCOPE_API_KEY>` and `X-DashScope-Async: enable` (without it the API refuses: "current
//! user api does not support synchronous calls"); the body is `{model, input: {prompt,
//! negative_prompt, img_url | first_frame_url + last_frame_url}, parameters: {size "W*H" |
//! resolution "720P", duration, seed, prompt_extend, watermark, audio}}` and the answer
//! `{output: {task_id, task_status}}`. `GET {base}/tasks/{id}` reports `PENDING | RUNNING |
//! SUCCEEDED (video_url) | FAILED (code, message) | CANCELED | UNKNOWN`; `POST
//! {base}/tasks/{id}/cancel` cancels a task that is still `PENDING`. A task id lives 24 h; the
//! `video_url` is a signed OSS link. No progress is reported.
//!
//! `alibaba.model` is a model id (`wan2.6-t2v`) or a family (`wan2.6`, the default): a family
//! picks its text-to-video, image-to-video or first+last-frame model per request.
//!
//! Sources (read 2026-12-02): the official DashScope Python SDK
//! (dashscope/dashscope-sdk-python 1.26.2: `aigc/video_synthesis.py` for the task names, the
//! `kf2v` switch and the parameters; `client/base_api.py` for `tasks/{id}` and
//! `tasks/{id}/cancel` — "only tasks whose status is PENDING can be canceled" — and the poll
//! schedule of 1 s doubling to 5 s; `common/env.py` for `DASHSCOPE_HTTP_BASE_URL` and the
//! mainland default; `X-DashScope-WorkSpace`), Alibaba Cloud's Model Studio error-code page
//! (InvalidApiKey 401, AccessDenied/Arrearage 403, ModelNotFound 404, Throttling.RateQuota /
//! Throttling.AllocationQuota 429, InvalidParameter 400), and the Vercel AI SDK's
//! `@ai-sdk/alibaba` for the body, sizes and statuses.
//!
//! UNCONFIRMED: prices (from third-party pages quoting Alibaba's list: Wan 2.6 $0.10/s at
//! 720P and $0.15/s at 1080P), per-model durations and tiers, `DataInspectionFailed` as the
//! input-moderation code and as a task failure code, the image limits, that `UNKNOWN` means
//! an expired or unknown task id, and the US (Virginia) host, which is not offered here.

mod backend;
mod core;
mod error;
pub mod models;

pub use backend::{Alibaba, AlibabaOptions};

/// Canonical name.
pub const NAME: &str = "alibaba";
/// The international (Singapore) API.
pub const INTERNATIONAL_BASE_URL: &str = "https://dashscope-intl.aliyuncs.com/api/v1";
/// The mainland China (Beijing) API.
pub const MAINLAND_BASE_URL: &str = "https://dashscope.aliyuncs.com/api/v1";
/// Environment variable holding the key.
pub const KEY_ENV: &str = "DASHSCOPE_API_KEY";
/// Environment variable overriding the base URL (the SDK reads it too).
pub const BASE_URL_ENV: &str = "DASHSCOPE_HTTP_BASE_URL";
