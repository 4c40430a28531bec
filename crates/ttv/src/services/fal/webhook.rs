//! fal's webhooks: `?fal_webhook=URL` on submit; fal POSTs the request's outcome to it when
//! the request ends, signed.
//!
//! What fal documents (docs.fal.ai, "Webhooks", section "Verifying your webhook", read
//! 2026-12-02; the same scheme is implemented by several independent receivers of fal
//! webhooks):
//!
//! - headers `X-Fal-Webhook-Request-Id`, `X-Fal-Webhook-User-Id`, `X-Fal-Webhook-Timestamp`
//!   (Unix seconds) and `X-Fal-Webhook-Signature` (hex);
//! - the timestamp must be within ±5 minutes of the receiver's clock;
//! - the signed message is the UTF-8 bytes of `request_id`, `user_id`, `timestamp` and the
//!   hex SHA-256 of the raw body, joined with `\n`;
//! - the signature is ED25519, checked against any of the public keys fal publishes as a
//!   JSON Web Key Set at `https://rest.alpha.fal.ai/.well-known/jwks.json` (`keys[].x`, the
//!   32-byte key in base64url; fal's set pads it with `=`), which may be cached for up to
//!   24 hours;
//! - the body is `{request_id, gateway_request_id, status: "OK" | "ERROR", payload, error?,
//!   payload_error?}`; failed deliveries are retried (10 times over 2 hours).
//!
//! ttv checks all of it and then only wakes the job: the outcome is still read with a status
//! call and the video still downloaded and verified. The key set's address is configurable
//! (`webhooks.fal_jwks_url`) so that tests point it at the simulator.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::webhooks::{Received, Receiver, WebhookSettings};

/// fal's published key set.
pub const DEFAULT_JWKS_URL: &str = "https://rest.alpha.fal.ai/.well-known/jwks.json";
/// How far a webhook's timestamp may be from now (fal's documented leeway).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// How long a fetched key set is used (fal: at most 24 hours).
const KEYS_TTL: Duration = Duration::from_secs(24 * 3600);
/// A signature no cached key verifies fetches the set again (keys rotate), at most this often,
/// so that forged calls cannot make ttv hammer fal's key server.
const REFETCH_GAP: Duration = Duration::from_secs(60);

/// The four signature headers.
pub const REQUEST_ID: &str = "x-fal-webhook-request-id";
/// See [`REQUEST_ID`].
pub const USER_ID: &str = "x-fal-webhook-user-id";
/// See [`REQUEST_ID`].
pub const TIMESTAMP: &str = "x-fal-webhook-timestamp";
/// See [`REQUEST_ID`].
pub const SIGNATURE: &str = "x-fal-webhook-signature";

/// The message fal signs.
pub fn message(request_id: &str, user_id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    format!(
        "{request_id}\n{user_id}\n{timestamp}\n{}",
        hex::encode(Sha256::digest(body))
    )
    .into_bytes()
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A signature header is absent.
    Missing(&'static str),
    /// The timestamp is not a number of seconds.
    BadTimestamp,
    /// The timestamp is further from now than the tolerance.
    Stale {
        /// How far, in seconds.
        off_by: u64,
        /// How far it may be.
        allowed: u64,
    },
    /// The signature is not 64 bytes of hex.
    BadSignature,
    /// No published key verifies it.
    NotVerified,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(h) => write!(f, "the {h} header is missing"),
            Self::BadTimestamp => write!(f, "the {TIMESTAMP} header is not a Unix time"),
            Self::Stale { off_by, allowed } => write!(
                f,
                "the timestamp is {off_by} s from this machine's clock (at most {allowed} s allowed)"
            ),
            Self::BadSignature => write!(f, "the {SIGNATURE} header is not 64 bytes of hex"),
            Self::NotVerified => write!(f, "the signature does not verify with fal's keys"),
        }
    }
}

/// The parts of a signed call, checked for presence, form and age (not yet the signature).
#[derive(Debug, Clone, PartialEq)]
pub struct Signed {
    /// `X-Fal-Webhook-Request-Id`.
    pub request_id: String,
    /// The message the signature covers.
    pub message: Vec<u8>,
    /// The signature.
    pub signature: Signature,
}

/// Reads the signature headers of a call with `body`, at `now_unix` seconds, refusing a
/// timestamp further than `tolerance` from it.
pub fn signed(
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
    tolerance: Duration,
) -> std::result::Result<Signed, Refusal> {
    let get = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(Refusal::Missing(name))
    };
    let request_id = get(REQUEST_ID)?;
    let user_id = get(USER_ID)?;
    let timestamp = get(TIMESTAMP)?;
    let signature = get(SIGNATURE)?;
    let at: i64 = timestamp.parse().map_err(|_| Refusal::BadTimestamp)?;
    let off_by = now_unix.abs_diff(at);
    if off_by > tolerance.as_secs() {
        return Err(Refusal::Stale {
            off_by,
            allowed: tolerance.as_secs(),
        });
    }
    let bytes: [u8; 64] = hex::decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(Refusal::BadSignature)?;
    Ok(Signed {
        request_id: request_id.to_owned(),
        message: message(request_id, user_id, timestamp, body),
        signature: Signature::from_bytes(&bytes),
    })
}

/// Whether any of `keys` verifies `signed`.
pub fn verified_by(signed: &Signed, keys: &[VerifyingKey]) -> bool {
    keys.iter()
        .any(|k| k.verify(&signed.message, &signed.signature).is_ok())
}

#[derive(Deserialize)]
struct Jwks {
    #[serde(default)]
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kty: String,
    #[serde(default)]
    crv: String,
    #[serde(default)]
    x: String,
}

/// The ED25519 keys of a JSON Web Key Set (`kty: OKP, crv: Ed25519`; `x` in base64url,
/// padded or not). Other keys are skipped.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<VerifyingKey>> {
    let set: Jwks = serde_json::from_slice(body)
        .map_err(|e| Error::config(format!("fal's key set is not a JSON Web Key Set: {e}")))?;
    let keys: Vec<VerifyingKey> = set
        .keys
        .iter()
        .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
        .filter_map(|k| {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(k.x.trim_end_matches('='))
                .ok()?;
            VerifyingKey::from_bytes(&raw.try_into().ok()?).ok()
        })
        .collect();
    if keys.is_empty() {
        return Err(Error::config("fal's key set holds no Ed25519 key"));
    }
    Ok(keys)
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    request_id: Option<String>,
}

/// Receives fal's webhooks (see the module documentation).
#[derive(Debug)]
pub struct FalReceiver {
    jwks_url: String,
    tolerance: Duration,
    client: reqwest::Client,
    /// The keys and when they were fetched.
    keys: Mutex<Option<(Instant, Vec<VerifyingKey>)>>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

impl FalReceiver {
    /// A receiver checking against the key set at `settings.fal_jwks_url`.
    pub fn new(settings: &WebhookSettings) -> Result<Self> {
        Ok(Self {
            jwks_url: settings.fal_jwks_url.clone(),
            tolerance: settings.tolerance,
            client: crate::http::client()?,
            keys: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    fn cached(&self) -> Option<(Instant, Vec<VerifyingKey>)> {
        self.keys.lock().ok()?.clone()
    }

    /// The keys, fetched when none are cached, when they are older than a day, or when
    /// `stale_before` says the cached ones were fetched too long ago to trust a miss.
    async fn keys(&self, refetch_if_older_than: Option<Duration>) -> Result<Vec<VerifyingKey>> {
        let _one = self.fetching.lock().await;
        let fresh = |at: Instant| {
            let age = at.elapsed();
            age < KEYS_TTL && refetch_if_older_than.is_none_or(|limit| age < limit)
        };
        if let Some((at, keys)) = self.cached()
            && fresh(at)
        {
            return Ok(keys);
        }
        let reply = self
            .client
            .get(&self.jwks_url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| Error::config(format!("cannot fetch fal's webhook keys: {e}")))?;
        if !reply.status().is_success() {
            return Err(Error::config(format!(
                "fal's webhook keys: {} answered {}",
                self.jwks_url,
                reply.status()
            )));
        }
        let body = reply
            .bytes()
            .await
            .map_err(|e| Error::config(format!("cannot fetch fal's webhook keys: {e}")))?;
        let keys = parse_jwks(&body)?;
        if let Ok(mut cache) = self.keys.lock() {
            *cache = Some((Instant::now(), keys.clone()));
        }
        Ok(keys)
    }
}

#[async_trait]
impl Receiver for FalReceiver {
    async fn receive(&self, headers: &HeaderMap, body: &[u8]) -> Received {
        let refuse = |reason: String| Received::Rejected {
            status: 401,
            reason,
        };
        let now = chrono::Utc::now().timestamp();
        let signed = match signed(headers, body, now, self.tolerance) {
            Ok(s) => s,
            Err(r) => return refuse(r.to_string()),
        };
        let mut ok = match self.keys(None).await {
            Ok(keys) => verified_by(&signed, &keys),
            Err(e) => return refuse(e.to_string()),
        };
        if !ok {
            // fal may have rotated its keys since they were fetched.
            ok = matches!(self.keys(Some(REFETCH_GAP)).await, Ok(keys) if verified_by(&signed, &keys));
        }
        if !ok {
            return refuse(Refusal::NotVerified.to_string());
        }
        // The body's request_id is the id the queue API (and so the ticket) uses.
        let id = serde_json::from_slice::<Body>(body)
            .ok()
            .and_then(|b| b.request_id)
            .filter(|id| !id.is_empty())
            .unwrap_or(signed.request_id);
        Received::Wake {
            id,
            reply: json!({ "ok": true }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};
    use reqwest::header::HeaderValue;

    const BODY: &[u8] =
        br#"{"request_id":"req-1","gateway_request_id":"req-1","status":"OK","payload":{}}"#;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn headers(key: &SigningKey, timestamp: i64, body: &[u8]) -> HeaderMap {
        let ts = timestamp.to_string();
        let sig = key.sign(&message("req-1", "user-9", &ts, body));
        let mut h = HeaderMap::new();
        for (name, value) in [
            (REQUEST_ID, "req-1".to_owned()),
            (USER_ID, "user-9".to_owned()),
            (TIMESTAMP, ts),
            (SIGNATURE, hex::encode(sig.to_bytes())),
        ] {
            h.insert(name, HeaderValue::from_str(&value).unwrap());
        }
        h
    }

    #[test]
    fn the_signed_message_is_ids_timestamp_and_body_hash_on_four_lines() {
        let m = String::from_utf8(message("r", "u", "17", b"{}")).unwrap();
        assert_eq!(
            m,
            "r\nu\n17\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn a_call_signed_with_a_published_key_verifies_and_others_do_not() {
        let now = 1_800_000_000;
        let h = headers(&key(1), now, BODY);
        let s = signed(&h, BODY, now, DEFAULT_TOLERANCE).unwrap();
        assert!(verified_by(
            &s,
            &[key(2).verifying_key(), key(1).verifying_key()]
        ));
        assert!(!verified_by(&s, &[key(2).verifying_key()]));
        // The body is covered: one changed byte fails.
        let s = signed(&h, br#"{"request_id":"req-2"}"#, now, DEFAULT_TOLERANCE).unwrap();
        assert!(!verified_by(&s, &[key(1).verifying_key()]));
    }

    #[test]
    fn missing_headers_bad_signatures_and_stale_timestamps_are_refused() {
        let now = 1_800_000_000;
        let good = headers(&key(1), now, BODY);
        for name in [REQUEST_ID, USER_ID, TIMESTAMP, SIGNATURE] {
            let mut h = good.clone();
            h.remove(name);
            assert_eq!(
                signed(&h, BODY, now, DEFAULT_TOLERANCE).unwrap_err(),
                Refusal::Missing(name)
            );
        }
        let stale = headers(&key(1), now - 301, BODY);
        assert_eq!(
            signed(&stale, BODY, now, DEFAULT_TOLERANCE).unwrap_err(),
            Refusal::Stale {
                off_by: 301,
                allowed: 300
            }
        );
        let future = headers(&key(1), now + 400, BODY);
        assert_eq!(
            signed(&future, BODY, now, DEFAULT_TOLERANCE).unwrap_err(),
            Refusal::Stale {
                off_by: 400,
                allowed: 300
            }
        );
        assert!(
            signed(
                &headers(&key(1), now - 300, BODY),
                BODY,
                now,
                DEFAULT_TOLERANCE
            )
            .is_ok()
        );
        let mut h = good.clone();
        h.insert(SIGNATURE, HeaderValue::from_static("abcd"));
        assert_eq!(
            signed(&h, BODY, now, DEFAULT_TOLERANCE).unwrap_err(),
            Refusal::BadSignature
        );
        let mut h = good;
        h.insert(TIMESTAMP, HeaderValue::from_static("yesterday"));
        assert_eq!(
            signed(&h, BODY, now, DEFAULT_TOLERANCE).unwrap_err(),
            Refusal::BadTimestamp
        );
    }

    #[test]
    fn the_key_set_takes_padded_and_unpadded_ed25519_keys_and_skips_others() {
        let b64 = |k: &SigningKey| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k.verifying_key().to_bytes())
        };
        let set = json!({ "keys": [
            { "kty": "OKP", "crv": "Ed25519", "x": format!("{}=", b64(&key(1))) },
            { "kty": "OKP", "crv": "Ed25519", "x": b64(&key(2)) },
            { "kty": "RSA", "n": "xyz", "e": "AQAB" },
        ]});
        let keys = parse_jwks(set.to_string().as_bytes()).unwrap();
        assert_eq!(keys, vec![key(1).verifying_key(), key(2).verifying_key()]);
        assert!(parse_jwks(br#"{"keys":[]}"#).is_err());
        assert!(parse_jwks(b"<html>").is_err());
    }
}
