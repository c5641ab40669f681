//! GLPI 11's OAuth2 client credentials: a token asked of the token endpoint with the client's
//! id and secret, sent as `Authorization: Bearer`, kept until shortly before it expires.
//!
//! The secret is read from a file (never from the configuration, which `validate` prints) and
//! never logged. Tokens are not written anywhere: a restart asks for a new one.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{Request, Uri};
use http_body_util::Full;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::sync::Mutex;

use super::settings::OAuthSettings;
use crate::http_client::HttpClient;

/// How the token endpoint is named in errors.
const SERVICE: &str = "GLPI's OAuth token endpoint";

/// A token is renewed this long before GLPI says it expires, so none expires in flight.
pub const RENEW_MARGIN: Duration = Duration::from_secs(60);
/// Lifetime assumed when the token endpoint gives none.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// A token and when to stop using it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    value: String,
    renew_at: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("renew_at", &self.renew_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// A token granted at `now` for `lifetime`.
    pub fn granted(value: String, now: Instant, lifetime: Duration) -> Self {
        Token {
            value,
            renew_at: now + lifetime.saturating_sub(RENEW_MARGIN.min(lifetime / 2)),
        }
    }

    /// Whether it may still be sent at `now`.
    pub fn usable_at(&self, now: Instant) -> bool {
        now < self.renew_at
    }
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The token endpoint could not be reached or failed: try again later.
    Transient(String),
    /// The credentials were refused: nothing will work until they are fixed.
    Refused(String),
}

/// The token endpoint's answer to a client credentials grant (RFC 6749 §4.4.3).
#[derive(Debug, serde::Deserialize)]
struct Grant {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Reads the secret file: its first line, trimmed.
pub fn read_secret(path: &std::path::Path) -> Result<String, super::GlpiError> {
    let text = std::fs::read_to_string(path).map_err(|source| super::GlpiError::Secret {
        path: path.to_owned(),
        source,
    })?;
    let secret = text.lines().next().unwrap_or_default().trim().to_owned();
    if secret.is_empty() {
        return Err(super::GlpiError::EmptySecret {
            path: path.to_owned(),
        });
    }
    if let Ok(mode) = crate::files::mode(path)
        && mode & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            mode = format_args!("{mode:o}"),
            "the GLPI OAuth secret file is readable by others: chmod 600 it"
        );
    }
    Ok(secret)
}

/// Hands out a usable token, asking for one when needed.
pub(super) struct TokenSource {
    http: HttpClient,
    url: Uri,
    form: String,
    cached: Mutex<Option<Token>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The form of a client credentials grant.
pub fn grant_form(client_id: &str, secret: &str, scope: &str) -> String {
    let encode = |text| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    let mut form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        encode(client_id),
        encode(secret)
    );
    if !scope.is_empty() {
        form.push_str("&scope=");
        form.push_str(&encode(scope));
    }
    form
}

impl TokenSource {
    pub(super) fn new(
        settings: &OAuthSettings,
        http: HttpClient,
    ) -> Result<Self, super::GlpiError> {
        let secret = read_secret(&settings.client_secret_file)?;
        Ok(TokenSource {
            http,
            url: settings.token_url.clone(),
            form: grant_form(&settings.client_id, &secret, &settings.scope),
            cached: Mutex::new(None),
        })
    }

    /// Forgets the cached token.
    pub(super) async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    /// A token to send now. Concurrent deliveries wait for one request to the endpoint.
    pub(super) async fn bearer(&self) -> Result<String, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached
            .as_ref()
            .filter(|token| token.usable_at(Instant::now()))
        {
            return Ok(token.value.clone());
        }
        let token = self.ask().await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    async fn ask(&self) -> Result<Token, TokenError> {
        let request = Request::post(self.url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::from(self.form.clone())))
            .map_err(|error| {
                TokenError::Refused(format!("cannot build the token request: {error}"))
            })?;
        let asked_at = Instant::now();
        let reply = self
            .http
            .send(SERVICE, request)
            .await
            .map_err(|error| TokenError::Transient(error.to_string()))?;
        judge_grant(reply.status.as_u16(), &reply.body, asked_at)
    }
}

/// What the token endpoint's reply means: a token granted at `asked_at`, or why not.
pub fn judge_grant(status: u16, body: &[u8], asked_at: Instant) -> Result<Token, TokenError> {
    let described = || {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|json| {
                let error = json.get("error")?.as_str()?.to_owned();
                let detail = json
                    .get("error_description")
                    .or_else(|| json.get("message"))
                    .and_then(|value| value.as_str())
                    .map(|text| format!(": {text}"))
                    .unwrap_or_default();
                Some(hygie_proto::terminal_safe(&format!("{error}{detail}"), 300))
            })
            .unwrap_or_else(|| format!("HTTP {status}"))
    };
    match status {
        200..=299 => {
            let grant: Grant = serde_json::from_slice(body).map_err(|_| {
                TokenError::Refused(
                    "the OAuth token endpoint's reply holds no access_token: is [glpi.oauth] token_url GLPI's token endpoint?".into(),
                )
            })?;
            let lifetime = grant
                .expires_in
                .map_or(DEFAULT_LIFETIME, Duration::from_secs);
            Ok(Token::granted(grant.access_token, asked_at, lifetime))
        }
        400..=499 if status != 429 => Err(TokenError::Refused(format!(
            "GLPI refused the OAuth client credentials ({}): check [glpi.oauth] client_id, the secret file and the client's grant and scope in GLPI (Setup > OAuth clients)",
            described()
        ))),
        _ => Err(TokenError::Transient(format!(
            "GLPI's OAuth token endpoint failed ({})",
            described()
        ))),
    }
}
