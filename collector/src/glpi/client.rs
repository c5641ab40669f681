//! Delivering one document to GLPI's inventory endpoint (`POST /front/inventory.php`), as a GLPI
//! agent does: JSON (`application/json`) or zlib-compressed JSON
//! (`application/x-compress-zlib`), a `GLPI-Agent-ID` header naming the collector, and with
//! GLPI 11's OAuth2 client credentials when configured ([`super::oauth`]).
//!
//! The HTTP(S) client is the collector's one ([`crate::http_client`]): the trust anchors are
//! the configured CA file, else the system's store. What a reply means is decided by
//! [`judge`], a pure function.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http::{Request, Uri};
use http_body_util::Full;

use super::oauth::{TokenError, TokenSource};
use super::retry::Attempt;
use super::settings::GlpiSettings;
use crate::http_client::{
    ClientSettings, HttpClient, Response, Trust, TrustError, client_config, is_https,
};
use crate::metrics::GlpiMetrics;

/// The header GLPI agents name themselves with.
pub const AGENT_ID_HEADER: &str = "GLPI-Agent-ID";
/// Content type of a zlib-compressed JSON document.
pub const ZLIB: &str = "application/x-compress-zlib";
/// Largest reply read: GLPI's are a few hundred bytes.
const MAX_REPLY: usize = 64 * 1024;
/// How GLPI's inventory endpoint is named in errors.
const SERVICE: &str = "GLPI";

/// The HTTP client GLPI and its token endpoint are reached with: TLS set up when either URL
/// is `https://` or a CA file is configured (so a bad one stops the push at once).
pub(super) fn http_client(settings: &GlpiSettings) -> Result<HttpClient, TrustError> {
    let needs_tls = is_https(&settings.url)
        || settings
            .oauth
            .as_ref()
            .is_some_and(|oauth| is_https(&oauth.token_url));
    let tls = if needs_tls || settings.ca_cert.is_some() {
        Some(client_config(&Trust::from_ca_file(
            settings.ca_cert.as_deref(),
        ))?)
    } else {
        None
    };
    HttpClient::new(
        tls,
        ClientSettings {
            connect_timeout: settings.timeout,
            timeout: settings.timeout,
            max_reply: MAX_REPLY,
            idle_per_host: settings.concurrency,
        },
    )
}

/// A reply, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// `Retry-After` in seconds, if any.
    pub retry_after: Option<Duration>,
    /// The body, at most [`MAX_REPLY`] bytes.
    pub body: Vec<u8>,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply {
            status: response.status.as_u16(),
            content_type: response.header(CONTENT_TYPE).map(str::to_owned),
            retry_after: response
                .header(RETRY_AFTER)
                .and_then(|text| text.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
            body: response.body.to_vec(),
        }
    }
}

/// What GLPI's reply means for the document (see [`super::retry`]). `oauth` says whether a
/// token was sent (a 401 then asks for a new one).
pub fn judge(reply: &Reply, oauth: bool) -> Attempt {
    let status = reply.status;
    let message = reply_message(reply);
    let said = || message.clone().unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        200..=299 => match reply_status(reply).as_deref() {
            Some("ok") => Attempt::Accepted,
            Some(_) => Attempt::Refused {
                status,
                message: said(),
            },
            None => Attempt::Refused {
                status,
                message: "the reply is not GLPI's inventory reply (is the URL GLPI's, or a login page in front of it?)".into(),
            },
        },
        401 if oauth => Attempt::Unauthorized { message: said() },
        401 | 403 => Attempt::Fatal {
            message: format!(
                "GLPI refused the collector (HTTP {status}: {}): check that inventory is enabled in GLPI (Administration > Inventory) and, for GLPI 11 with authentication, configure [glpi.oauth]",
                said()
            ),
        },
        404 | 405 => Attempt::Fatal {
            message: format!(
                "no GLPI inventory endpoint there (HTTP {status}): [glpi] url must be GLPI's base URL, the one that serves /front/inventory.php"
            ),
        },
        429 => Attempt::Transient {
            reason: format!("GLPI asks to slow down (HTTP 429: {})", said()),
            retry_after: reply.retry_after,
        },
        500..=599 => Attempt::Transient {
            reason: format!("GLPI failed (HTTP {status}: {})", said()),
            retry_after: reply.retry_after,
        },
        _ => Attempt::Refused {
            status,
            message: said(),
        },
    }
}

fn reply_json(reply: &Reply) -> Option<serde_json::Value> {
    let compressed = reply.content_type.as_deref().is_some_and(|kind| {
        kind.eq_ignore_ascii_case(ZLIB) || kind.eq_ignore_ascii_case("application/x-zlib")
    });
    if compressed {
        let mut text = Vec::new();
        flate2::read::ZlibDecoder::new(reply.body.as_slice())
            .take(MAX_REPLY as u64)
            .read_to_end(&mut text)
            .ok()?;
        serde_json::from_slice(&text).ok()
    } else {
        serde_json::from_slice(&reply.body).ok()
    }
}

fn reply_status(reply: &Reply) -> Option<String> {
    reply_json(reply)?
        .get("status")?
        .as_str()
        .map(str::to_owned)
}

/// GLPI's message, made safe for a terminal and a log line.
fn reply_message(reply: &Reply) -> Option<String> {
    let json = reply_json(reply)?;
    let message = json.get("message")?.as_str()?;
    Some(hygie_proto::terminal_safe(message, 300))
}

/// `body` as sent: zlib when `compress`.
pub fn encode(body: &[u8], compress: bool) -> (Vec<u8>, &'static str) {
    if !compress {
        return (body.to_vec(), "application/json");
    }
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    // Writing to memory cannot fail.
    let compressed = encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .unwrap_or_default();
    (compressed, ZLIB)
}

/// Delivers documents to one GLPI.
#[derive(Debug)]
pub struct GlpiClient {
    http: HttpClient,
    endpoint: Uri,
    agent_id: String,
    compress: bool,
    token: Option<TokenSource>,
    metrics: GlpiMetrics,
}

impl GlpiClient {
    /// A client for `settings`, naming itself `agent_id`.
    pub fn new(settings: &GlpiSettings, agent_id: &str) -> Result<Self, super::GlpiError> {
        let http = http_client(settings).map_err(super::GlpiError::Trust)?;
        let token = match &settings.oauth {
            Some(oauth) => Some(TokenSource::new(oauth, http.clone())?),
            None => None,
        };
        Ok(GlpiClient {
            http,
            endpoint: settings.inventory_endpoint(),
            agent_id: agent_id.to_owned(),
            compress: settings.compress,
            token,
            metrics: GlpiMetrics::default(),
        })
    }

    /// Counts how documents end into `metrics` (by default, into nothing exposed).
    #[must_use]
    pub fn with_metrics(mut self, metrics: GlpiMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Where the scheduled push counts.
    pub(super) fn metrics(&self) -> &GlpiMetrics {
        &self.metrics
    }

    /// Forgets the cached token, so the next delivery asks for a new one.
    pub async fn renew_token(&self) {
        if let Some(token) = &self.token {
            token.forget().await;
        }
    }

    /// One attempt at delivering `body` (a document's JSON).
    pub async fn deliver(&self, body: &[u8]) -> Attempt {
        let authorization = match &self.token {
            Some(token) => match token.bearer().await {
                Ok(value) => Some(value),
                Err(TokenError::Transient(reason)) => {
                    return Attempt::Transient {
                        reason,
                        retry_after: None,
                    };
                }
                Err(TokenError::Refused(message)) => return Attempt::Fatal { message },
            },
            None => None,
        };
        let (payload, content_type) = encode(body, self.compress);
        let mut request = Request::post(self.endpoint.clone())
            .header(CONTENT_TYPE, content_type)
            .header(AGENT_ID_HEADER, self.agent_id.as_str());
        if let Some(value) = &authorization {
            request = request.header(AUTHORIZATION, format!("Bearer {value}"));
        }
        let request = match request.body(Full::new(Bytes::from(payload))) {
            Ok(request) => request,
            Err(error) => {
                return Attempt::Fatal {
                    message: format!("cannot build the request: {error}"),
                };
            }
        };
        match self.http.send(SERVICE, request).await {
            Ok(response) => judge(&Reply::from(response), self.token.is_some()),
            Err(error) => Attempt::Transient {
                reason: error.to_string(),
                retry_after: None,
            },
        }
    }
}
