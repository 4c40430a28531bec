//! Vertex AI credentials: a service-account key file, an RS256-signed JWT exchanged at the
//! key's `token_uri` for an OAuth2 access token, and a cache that refreshes the token a
//! minute before it expires. Secrets (the private key, the access token) never print.
//!
//! This is the standard Google service-account flow (RFC 7523 JWT bearer grant): claims `iss`
//! (client_email), `scope` (cloud-platform), `aud`, `iat`, `exp` (≤ iat + 3600); `POST
//! token_uri` form-encoded `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer
//! &assertion=<jwt>`; answer `{access_token, expires_in, token_type}`.
//!
//! The audience is always [`TOKEN_AUDIENCE`], `https://oauth2.googleapis.com/token`, wherever
//! the assertion is sent: Google's guide to service-account OAuth says the `aud` of an
//! access-token request "is always https://oauth2.googleapis.com/token"
//! (developers.google.com/identity/protocols/oauth2/service-account), and google-auth signs
//! with that constant whatever the key file's `token_uri` (`_GOOGLE_OAUTH2_TOKEN_ENDPOINT` in
//! `_make_authorization_grant_assertion`, github.com/googleapis/google-auth-library-python
//! `google/oauth2/service_account.py`, read 2026-12). A `token_uri` pointing at a proxy or the
//! simulator changes where the JWT goes, never what it says.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result, Spend};
use crate::http::{self, ApiKey, Call};

use super::NAME;

/// The scope Vertex AI and Cloud Storage accept.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, used when the key file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The `aud` of every assertion, whatever `token_uri` it is sent to.
pub const TOKEN_AUDIENCE: &str = "https://oauth2.googleapis.com/token";
/// A token is replaced this long before it expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The fields of a service-account key file that matter here.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    /// `service_account` for the keys this module understands.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The account, used as the JWT issuer.
    pub client_email: String,
    /// PKCS#8 PEM RSA key.
    private_key: ApiKey,
    /// Where to exchange the JWT.
    #[serde(default)]
    pub token_uri: Option<String>,
    /// The project the key belongs to.
    #[serde(default)]
    pub project_id: Option<String>,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key", &self.private_key)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .finish()
    }
}

impl ServiceAccountKey {
    /// Reads and checks a key file. Errors name the file, never its contents.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "google_veo.credentials_path: cannot read {}: {e}",
                path.display()
            ))
        })?;
        Self::from_json(&text).map_err(|e| {
            Error::config(format!(
                "google_veo.credentials_path: {}: {}",
                path.display(),
                e.message()
            ))
        })
    }

    /// Parses a key file's text.
    pub fn from_json(text: &str) -> Result<Self> {
        // Say where the file is wrong, never what it holds: the text may be the private key.
        let key: Self = serde_json::from_str(text).map_err(|e| {
            Error::config(format!(
                "not a service-account key file (line {}, column {}: {})",
                e.line(),
                e.column(),
                json_problem(&e)
            ))
        })?;
        if key.kind != "service_account" {
            return Err(Error::config(format!(
                "the key's type is {:?}; a service_account key is needed",
                key.kind
            )));
        }
        jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.expose().as_bytes())
            .map_err(|_| Error::config("the key's private_key is not an RSA PEM key"))?;
        Ok(key)
    }
}

fn json_problem(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "a field is missing or has the wrong type",
        serde_json::error::Category::Eof => "the file ends early",
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: ApiKey,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct Cached {
    token: ApiKey,
    refresh_at: Instant,
}

/// Access tokens for one service account, fetched on demand and reused until a minute before
/// they expire.
pub struct TokenSource {
    key: ServiceAccountKey,
    token_uri: String,
    cached: Mutex<Option<Cached>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_email", &self.key.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// Tokens for `key`, exchanged at `token_uri` (else the key's, else Google's).
    pub fn new(key: ServiceAccountKey, token_uri: Option<String>) -> Self {
        let token_uri = token_uri
            .or_else(|| key.token_uri.clone())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
        Self {
            key,
            token_uri,
            cached: Mutex::new(None),
        }
    }

    /// The service account's project, when the key names one.
    pub fn project_id(&self) -> Option<&str> {
        self.key.project_id.as_deref()
    }

    /// A valid access token, from the cache or freshly exchanged.
    pub async fn token(&self, client: &reqwest::Client) -> Result<ApiKey> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let fresh = self.exchange(client).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets the cached token (after the server refused it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// The signed JWT assertion.
    fn assertion(&self) -> Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: &self.key.client_email,
            scope: SCOPE,
            aud: TOKEN_AUDIENCE,
            iat: now,
            exp: now + 3600,
        };
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.key.private_key.expose().as_bytes())
            .map_err(|_| auth_error("the service-account private_key is not an RSA PEM key"))?;
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .map_err(|e| auth_error(&format!("cannot sign the token request: {e}")))
    }

    async fn exchange(&self, client: &reqwest::Client) -> Result<Cached> {
        let assertion = self.assertion()?;
        let started = Instant::now();
        let request = client.post(&self.token_uri).form(&[
            ("grant_type", GRANT_TYPE),
            ("assertion", assertion.as_str()),
        ]);
        let reply = http::send(request, Call::Free)
            .await
            .map_err(|e| e.with_backend(NAME))?;
        if !reply.status.is_success() {
            let body = reply.value();
            let what = body
                .get("error_description")
                .or_else(|| body.get("error"))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| http::snippet(&reply.body));
            let mut err = http::status_error(reply.status, &reply.headers, &what, Call::Free);
            if reply.status.as_u16() == 400 || reply.status.as_u16() == 401 {
                err = auth_error(&format!(
                    "the token endpoint refused the service account (HTTP {}): {what}",
                    reply.status.as_u16()
                ));
            }
            return Err(err.with_backend(NAME));
        }
        let token: TokenReply = reply.json(Call::Free).map_err(|e| e.with_backend(NAME))?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        tracing::debug!(
            backend = NAME,
            expires_in = lifetime.as_secs(),
            "new access token"
        );
        Ok(Cached {
            token: token.access_token,
            refresh_at: started + lifetime.saturating_sub(REFRESH_MARGIN),
        })
    }
}

fn auth_error(message: &str) -> Error {
    Error::new(ErrorKind::Auth, message.to_owned())
        .with_spend(Spend::No)
        .with_backend(NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_key_file_is_reported_without_its_contents() {
        let text = r#"{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n"#;
        let err = ServiceAccountKey::from_json(text).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
        let not_rsa =
            r#"{"type": "service_account", "client_email": "a@b", "private_key": "c2VjcmV0"}"#;
        let err = ServiceAccountKey::from_json(not_rsa).unwrap_err();
        assert!(err.to_string().contains("not an RSA PEM key"), "{err}");
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
    }
}
