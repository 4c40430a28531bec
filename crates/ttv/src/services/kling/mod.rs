//! `kling`: Kling AI's official API (Kuaishou), international or mainland China.
//!
//! `POST /v1/videos/text2video` or `/v1/videos/image2video` with `Authorization: Bearer
//! <JWT>` answers `{code: 0, data: {task_id, task_status: submitted}}`; `GET
//! /v1/videos/{text2video|image2video}/{task_id}` reports `submitted | processing | succeed
//! (task_result.videos[].url, final_unit_deduction) | failed (task_status_msg)`. The JWT is
//! HS256 over `{iss: access key, exp: now + 1800, nbf: now − 5}`, signed with the secret key,
//! and renewed five minutes before it expires (see [`auth`]). A single API key sent as the
//! bearer token is accepted too. Kling has no cancel call and reports no progress; images go
//! inline as raw base64 (no `data:` prefix), JPEG or PNG up to 10 MB. Output URLs are CDN
//! links, deleted after 30 days.
//!
//! `mode` (`std` or `pro`) follows the asked resolution where the model's modes differ in it
//! (std 720p, pro 1080p), else `kling.mode` or `-x mode=pro`. Camera control, cfg scale,
//! multi-shot and the other Kling fields travel with `-x` under their wire names.
//!
//! Sources (read 2026-12-02): first-party docs app.klingai.com/global/dev/document-api
//! (commonInfo: auth, error codes, concurrency; textToVideo, imageToVideo: fields and limits),
//! as copied in `shared/providers/kling.md`, and the Vercel AI SDK's `@ai-sdk/klingai`
//! (`klingai-auth.ts`: the JWT claims and `KLINGAI_ACCESS_KEY` / `KLINGAI_SECRET_KEY`;
//! `klingai-provider.ts`: the Singapore host; `klingai-video-model.ts`: paths, `succeed` /
//! `failed`, model names). No official Kling SDK exists to read.
//!
//! UNCONFIRMED: the mainland host `api-beijing.klingai.com` (third-party clients only), the
//! single-API-key header, `Retry-After` on 429, the units each clip costs and the dollar
//! price of a unit ($0.14 in the standard resource packs, per a third-party copy of Kling's
//! price page), which model/mode pairs take a last frame (from Kling's capability map as
//! copied), and output frame sizes (Kling documents tiers, not pixels).

pub mod auth;
mod backend;
mod core;
mod error;
pub mod models;

pub use backend::{Kling, KlingOptions};

/// Canonical name.
pub const NAME: &str = "kling";
/// The international API (Singapore).
pub const INTERNATIONAL_BASE_URL: &str = "https://api-singapore.klingai.com";
/// The mainland China API (UNCONFIRMED host).
pub const MAINLAND_BASE_URL: &str = "https://api-beijing.klingai.com";
/// Environment variables of the access key pair (the AI SDK reads the same).
pub const ACCESS_KEY_ENV: &str = "KLINGAI_ACCESS_KEY";
/// See [`ACCESS_KEY_ENV`].
pub const SECRET_KEY_ENV: &str = "KLINGAI_SECRET_KEY";
/// Environment variable of a single API key (the newer scheme).
pub const API_KEY_ENV: &str = "KLINGAI_API_KEY";
/// Environment variable overriding the base URL.
pub const BASE_URL_ENV: &str = "KLINGAI_BASE_URL";
