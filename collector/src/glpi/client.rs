//! Delivering one document to GLPI's inventory endpoint (`POST /front/inventory.php`), as a GLPI
//! agent does: JSON (`application/json`) or zlib-compressed JSON
//! (`application/x-compress-zlib`), a `GLPI-Agent-ID` header naming the collector, and with
//! GLPI 11's OAuth2 client credentials when configured ([`super::oauth`]).
//!
//! HTTP/1.1 over rustls with ring; the trust anchors are the configured CA file, else the
//! system's store. What a reply means is decided by [`judge`], a pure function.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::oauth::{TokenError, TokenSource};
use super::retry::Attempt;
use super::settings::GlpiSettings;

/// The header GLPI agents name themselves with.
pub const AGENT_ID_HEADER: &str = "GLPI-Agent-ID";
/// Content type of a zlib-compressed JSON document.
pub const ZLIB: &str = "application/x-compress-zlib";
/// Largest reply read: GLPI's are a few hundred bytes.
const MAX_REPLY: usize = 64 * 1024;

/// The client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the GLPI CA certificate {path}: {source}")]
    Ca {
        path: std::path::PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{path} holds no usable CA certificate")]
    NoCa { path: std::path::PathBuf },
    #[error("the system's trust store has no certificate: set [glpi] ca_cert")]
    NoSystemRoots,
    #[error("TLS settings: {0}")]
    Tls(#[from] rustls::Error),
    #[error("{0}")]
    Url(String),
}

pub(super) type Https = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The HTTP client GLPI and its token endpoint are reached with.
pub(super) fn https_client(settings: &GlpiSettings) -> Result<Https, ClientError> {
    let mut roots = RootCertStore::empty();
    match &settings.ca_cert {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|source| ClientError::Ca {
                    path: path.clone(),
                    source,
                })?;
            let (added, _) = roots.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(ClientError::NoCa { path: path.clone() });
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "a certificate of the system's trust store cannot be read");
            }
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() && settings.url.scheme_str() == Some("https") {
                return Err(ClientError::NoSystemRoots);
            }
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(settings.timeout));
    // Request, reply, next request: no reason to let Nagle hold a segment back.
    http.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(settings.concurrency)
        .build(connector))
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
    http: Https,
    endpoint: Uri,
    agent_id: String,
    compress: bool,
    timeout: Duration,
    token: Option<TokenSource>,
}

impl GlpiClient {
    /// A client for `settings`, naming itself `agent_id`.
    pub fn new(settings: &GlpiSettings, agent_id: &str) -> Result<Self, super::GlpiError> {
        let http = https_client(settings)?;
        let token = match &settings.oauth {
            Some(oauth) => Some(TokenSource::new(oauth, http.clone(), settings.timeout)?),
            None => None,
        };
        Ok(GlpiClient {
            http,
            endpoint: settings.inventory_endpoint(),
            agent_id: agent_id.to_owned(),
            compress: settings.compress,
            timeout: settings.timeout,
            token,
        })
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
            .header(AGENT_ID_HEADER, self.agent_id.as_str())
            .header(
                USER_AGENT,
                concat!("Hygie-collector/", env!("CARGO_PKG_VERSION")),
            );
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
        match tokio::time::timeout(self.timeout, fetch(&self.http, request)).await {
            Ok(Ok(reply)) => judge(&reply, self.token.is_some()),
            Ok(Err(reason)) => Attempt::Transient {
                reason,
                retry_after: None,
            },
            Err(_) => Attempt::Transient {
                reason: format!("no reply from GLPI within {:?}", self.timeout),
                retry_after: None,
            },
        }
    }
}

/// Sends `request` and reads the reply (bounded).
pub(super) async fn fetch(http: &Https, request: Request<Full<Bytes>>) -> Result<Reply, String> {
    let response = http
        .request(request)
        .await
        .map_err(|error| format!("cannot reach GLPI: {}", hygie_proto::error_chain(&error)))?;
    let (parts, body) = response.into_parts();
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|value: &http::HeaderValue| value.to_str().ok())
            .map(str::to_owned)
    };
    let body = Limited::new(body, MAX_REPLY)
        .collect()
        .await
        .map_err(|error| format!("cannot read GLPI's reply: {error}"))?
        .to_bytes();
    Ok(Reply {
        status: parts.status.as_u16(),
        content_type: header(CONTENT_TYPE),
        retry_after: header(RETRY_AFTER)
            .and_then(|text| text.trim().parse::<u64>().ok())
            .map(Duration::from_secs),
        body: body.to_vec(),
    })
}
