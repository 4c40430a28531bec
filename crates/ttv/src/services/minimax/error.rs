//! MiniMax's `base_resp.status_code`s mapped to ttv's kinds, per
//! https://platform.minimax.io/docs/api-reference/errorcode. MiniMax answers HTTP 200 with a
//! non-zero code for most errors; other statuses go through the shared HTTP mapping.

use serde::Deserialize;

use crate::error::{Error, ErrorKind, Spend};
use crate::http::{Call, Reply, snippet, status_error};

use super::NAME;

/// The `base_resp` member of every answer.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BaseResp {
    #[serde(default)]
    pub status_code: i64,
    #[serde(default)]
    pub status_msg: String,
}

/// The error for a reply that is not HTTP 2xx.
pub(crate) fn from_http(reply: &Reply, call: Call) -> Error {
    let body = reply.value();
    let message = body
        .pointer("/base_resp/status_msg")
        .and_then(|m| m.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| snippet(&reply.body));
    status_error(reply.status, &reply.headers, &message, call).with_backend(NAME)
}

/// The error for a non-zero `base_resp` code.
pub(crate) fn from_code(base: &BaseResp, call: Call) -> Error {
    let ambiguous = match call {
        Call::Paid => Spend::Maybe,
        Call::Free => Spend::No,
    };
    let (kind, spend) = match base.status_code {
        1002 | 1039 => (ErrorKind::RateLimited, Spend::No),
        1000 | 1001 | 1024 | 1033 => (ErrorKind::Transient, ambiguous),
        1004 | 2049 | 2038 => (ErrorKind::Auth, Spend::No),
        1008 => (ErrorKind::QuotaExceeded, Spend::No),
        1026 | 1027 => (ErrorKind::ContentRejected, Spend::No),
        _ => (ErrorKind::InvalidRequest, Spend::No),
    };
    Error::new(
        kind,
        format!("MiniMax error {}: {}", base.status_code, base.status_msg),
    )
    .with_spend(spend)
    .with_backend(NAME)
}
