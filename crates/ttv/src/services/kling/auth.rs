//! Kling's bearer token: an HS256 JWT made from the access key and signed with the secret key,
//! cached and renewed five minutes before it expires, or a single API key used as it is.

use std::sync::Mutex;

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::http::ApiKey;

use super::{ACCESS_KEY_ENV, NAME, SECRET_KEY_ENV};

/// How long a token lives (Kling's docs use 30 minutes).
pub const TOKEN_SECS: i64 = 1800;
/// Renew this long before expiry.
const MARGIN_SECS: i64 = 300;

/// Kling credentials.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Access key (`iss`).
    pub access_key: Option<ApiKey>,
    /// Secret key (signs the JWT).
    pub secret_key: Option<ApiKey>,
    /// A single API key, sent as it is.
    pub api_key: Option<ApiKey>,
}

impl Credentials {
    /// Whether a request can be authorised.
    pub fn present(&self) -> bool {
        self.api_key.is_some() || (self.access_key.is_some() && self.secret_key.is_some())
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    exp: i64,
    nbf: i64,
}

/// Makes and caches tokens.
#[derive(Debug, Default)]
pub struct Tokens {
    credentials: Credentials,
    cached: Mutex<Option<(ApiKey, i64)>>,
}

impl Tokens {
    /// A token source for `credentials`.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            cached: Mutex::new(None),
        }
    }

    /// The bearer token for a request made at unix time `now`.
    pub fn token(&self, now: i64) -> Result<ApiKey> {
        if let Some(key) = &self.credentials.api_key {
            return Ok(key.clone());
        }
        let (Some(ak), Some(sk)) = (&self.credentials.access_key, &self.credentials.secret_key)
        else {
            return Err(Error::new(
                ErrorKind::Auth,
                format!("no Kling credentials: set {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}"),
            )
            .with_backend(NAME));
        };
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, exp)) = cached.as_ref()
            && now < exp - MARGIN_SECS
        {
            return Ok(token.clone());
        }
        let exp = now + TOKEN_SECS;
        let claims = Claims {
            iss: ak.expose(),
            exp,
            nbf: now - 5,
        };
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(sk.expose().as_bytes()),
        )
        .map_err(|e| {
            Error::new(ErrorKind::Auth, format!("cannot sign the Kling token: {e}"))
                .with_backend(NAME)
        })?;
        let token = ApiKey::new(token);
        *cached = Some((token.clone(), exp));
        Ok(token)
    }

    /// Forgets the cached token (after Kling refused it).
    pub fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> Credentials {
        Credentials {
            access_key: Some(ApiKey::new("ak-test")),
            secret_key: Some(ApiKey::new("sk-test")),
            api_key: None,
        }
    }

    #[test]
    fn the_token_carries_the_documented_claims_and_verifies_with_the_secret() {
        let tokens = Tokens::new(pair());
        let token = tokens.token(1_000_000).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<serde_json::Value>(
            token.expose(),
            &jsonwebtoken::DecodingKey::from_secret(b"sk-test"),
            &v,
        )
        .unwrap();
        assert_eq!(data.claims["iss"], "ak-test");
        assert_eq!(data.claims["exp"], 1_001_800);
        assert_eq!(data.claims["nbf"], 999_995);
        assert_eq!(data.header.typ.as_deref(), Some("JWT"));
    }

    #[test]
    fn a_token_is_reused_until_five_minutes_before_expiry_then_renewed() {
        let tokens = Tokens::new(pair());
        let first = tokens.token(0).unwrap();
        assert_eq!(tokens.token(TOKEN_SECS - MARGIN_SECS - 1).unwrap(), first);
        assert_ne!(tokens.token(TOKEN_SECS - MARGIN_SECS).unwrap(), first);
    }

    #[test]
    fn missing_keys_are_an_auth_error_naming_the_variables() {
        let err = Tokens::new(Credentials::default()).token(0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert!(err.to_string().contains("KLINGAI_ACCESS_KEY"), "{err}");
    }
}
