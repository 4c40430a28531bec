//! Bearer tokens: kept only as SHA-256 hashes, compared in constant time, each with a name
//! (the owner of the jobs it creates) and a role. Also the HMAC signatures of the expiring
//! video URLs. Nothing here logs or returns a token.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// A token as configured: a name, the secret and whether it is an admin token.
#[derive(Clone)]
pub struct TokenSpec {
    /// Who holds it (shown in logs and job lists; not secret).
    pub name: String,
    /// The secret itself; hashed as soon as the server starts.
    pub secret: String,
    /// Admin tokens see and manage every job.
    pub admin: bool,
}

impl std::fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSpec")
            .field("name", &self.name)
            .field("secret", &"[redacted]")
            .field("admin", &self.admin)
            .finish()
    }
}

impl TokenSpec {
    /// Reads `NAME=SECRET` pairs separated by commas (the form of `TTV_SERVE_TOKENS`); a bare
    /// `SECRET` gets a name made from its hash.
    pub fn parse_list(text: &str, admin: bool) -> Vec<TokenSpec> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| match item.split_once('=') {
                Some((name, secret)) if !name.trim().is_empty() => TokenSpec {
                    name: name.trim().to_owned(),
                    secret: secret.trim().to_owned(),
                    admin,
                },
                _ => TokenSpec {
                    name: format!("token-{}", &hex::encode(sha256(item.as_bytes()))[..8]),
                    secret: item.to_owned(),
                    admin,
                },
            })
            .collect()
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name; `local` when the server runs without tokens (loopback only).
    pub name: String,
    /// Whether it may see every job.
    pub admin: bool,
}

impl Caller {
    /// Whether this caller may see a job owned by `owner`.
    pub fn may_see(&self, owner: &str) -> bool {
        self.admin || self.name == owner
    }
}

struct Hashed {
    name: String,
    hash: [u8; 32],
    admin: bool,
}

/// The configured tokens, hashed.
pub struct Tokens {
    hashed: Vec<Hashed>,
}

impl Tokens {
    /// Hashes `specs`; the secrets are dropped with them.
    pub fn new(specs: Vec<TokenSpec>) -> Self {
        let hashed = specs
            .into_iter()
            .map(|s| Hashed {
                hash: sha256(s.secret.as_bytes()),
                name: s.name,
                admin: s.admin,
            })
            .collect();
        Self { hashed }
    }

    /// Whether any token is configured (otherwise the server answers loopback callers only).
    pub fn enabled(&self) -> bool {
        !self.hashed.is_empty()
    }

    /// The caller of a request with these headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if !self.enabled() {
            return Ok(Caller {
                name: "local".into(),
                admin: true,
            });
        }
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing bearer token: send an Authorization: Bearer <token> header",
                )
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must read Bearer <token>")
            })?;
        self.caller_for(token)
            .ok_or_else(|| ApiError::unauthorized("invalid bearer token"))
    }

    /// The caller holding `token`; every configured hash is compared, in constant time, so
    /// the time taken says nothing about which token was close.
    pub fn caller_for(&self, token: &str) -> Option<Caller> {
        let hash = sha256(token.as_bytes());
        let mut found = None;
        for h in &self.hashed {
            if bool::from(h.hash.ct_eq(&hash)) {
                found = Some(Caller {
                    name: h.name.clone(),
                    admin: h.admin,
                });
            }
        }
        found
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner: [u8; 32] = inner.finalize().into();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// The signature of the content URL of video `id` valid until `expires` (Unix seconds).
pub fn sign_url(key: &[u8], id: &str, expires: i64) -> String {
    hex::encode(hmac_sha256(key, format!("{id}\n{expires}").as_bytes()))
}

/// Whether `sig` signs video `id` until `expires`, and `expires` has not passed.
pub fn check_signature(key: &[u8], id: &str, expires: i64, sig: &str, now: i64) -> bool {
    let Ok(given) = hex::decode(sig) else {
        return false;
    };
    let expected = hmac_sha256(key, format!("{id}\n{expires}").as_bytes());
    expires >= now && bool::from(expected.as_slice().ct_eq(given.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_vector() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signatures_expire_and_bind_the_id() {
        let sig = sign_url(b"k", "job-1", 100);
        assert!(check_signature(b"k", "job-1", 100, &sig, 99));
        assert!(!check_signature(b"k", "job-1", 100, &sig, 101));
        assert!(!check_signature(b"k", "job-2", 100, &sig, 99));
        assert!(!check_signature(b"other", "job-1", 100, &sig, 99));
        assert!(!check_signature(b"k", "job-1", 100, "zz", 99));
    }

    #[test]
    fn tokens_are_found_by_secret_and_never_printed() {
        let specs = TokenSpec::parse_list("alice=s3cret, bob=hunter2", false);
        assert!(!format!("{specs:?}").contains("s3cret"));
        let tokens = Tokens::new(specs);
        assert_eq!(tokens.caller_for("hunter2").unwrap().name, "bob");
        assert!(tokens.caller_for("hunter3").is_none());
    }
}
