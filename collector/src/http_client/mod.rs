//! The collector's outbound HTTP(S) client, used by alert webhooks ([`crate::alerts`]) and
//! GLPI pushes ([`crate::glpi`]), and the TLS client configuration syslog over TLS shares
//! with it ([`client_config`]). One way to each thing:
//!
//! - **Trust**: [`Trust`]: the configured CA file, else the system's store. A configured CA
//!   file replaces the system's store (it pins a private CA); it does not add to it.
//! - **TLS**: rustls on ring, TLS 1.2 and 1.3, no client certificate; the name checked in the
//!   certificate is the URL's host (hyper-rustls).
//! - **HTTP**: HTTP/1.1 through hyper-util's pooled client, `http://` and `https://` URLs;
//!   idle connections are kept [`IDLE`] for the next request.
//! - **Time**: a connect timeout, and one deadline for the whole exchange (connect, TLS,
//!   request, reply and its body): [`ClientSettings::timeout`].
//! - **Size**: a reply's body is read up to [`ClientSettings::max_reply`] bytes; the rest is
//!   left unread ([`Response::truncated`]), so a hostile or mistaken server cannot fill memory.
//! - **Redirects** are never followed: a 3xx is an answer like another, and
//!   [`Response::error_for_status`] names where it points so the operator fixes the URL.
//! - **Errors**: [`HttpError`] names the service and URL and says what to check; a non-2xx
//!   answer carries its status and an excerpt of its body (made safe for a log line).
//!
//! hyper-util's legacy client and hyper-rustls were kept over a hand-built connection per
//! request: pooling (a GLPI push sends thousands of documents), a separate connect timeout and
//! the `Host` header and server name taken from the URL come with them, and every crate they
//! need is already in the tree through tonic.

mod trust;

#[cfg(test)]
pub(crate) mod tests;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, LOCATION, USER_AGENT};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::ClientConfig;

pub use trust::{Trust, TrustError, client_config};

/// The `User-Agent` of every request the collector makes.
pub const USER_AGENT_VALUE: &str = concat!("Hygie-collector/", env!("CARGO_PKG_VERSION"));
/// How long an idle connection is kept for the next request.
pub const IDLE: Duration = Duration::from_secs(30);
/// Characters of a reply's body quoted in an error.
pub const EXCERPT: usize = 200;

/// How a client behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSettings {
    /// Longest wait for the TCP connection.
    pub connect_timeout: Duration,
    /// Longest exchange, from connecting to the last byte of the reply read.
    pub timeout: Duration,
    /// Most bytes of a reply's body read.
    pub max_reply: usize,
    /// Idle connections kept per host.
    pub idle_per_host: usize,
}

type Inner = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTP(S) client. Cloning shares its connections.
#[derive(Clone)]
pub struct HttpClient {
    // Shared rather than copied: hyper-util's client is several hundred bytes.
    inner: Arc<Inner>,
    settings: ClientSettings,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A reply, its body read up to the client's cap.
#[derive(Debug, Clone)]
pub struct Response {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body, at most [`ClientSettings::max_reply`] bytes.
    pub body: Bytes,
    /// Whether the body went on beyond the cap (the rest was not read).
    pub truncated: bool,
    service: String,
    url: String,
}

/// A request that did not get a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("cannot build the request to {service} at {url}: {reason}")]
    Request {
        service: String,
        url: String,
        reason: String,
    },
    #[error(
        "cannot reach {service} at {url}: {detail}; check the URL's host and port, and that {service} listens there"
    )]
    Connect {
        service: String,
        url: String,
        detail: String,
    },
    #[error(
        "TLS with {service} at {url} failed: {detail}; check that its certificate names the URL's host and is signed by a CA of the configured CA file (or of the system's store when none is configured)"
    )]
    Tls {
        service: String,
        url: String,
        detail: String,
    },
    #[error(
        "no answer from {service} at {url} within {after:?}; if it is only slow, raise the timeout"
    )]
    Timeout {
        service: String,
        url: String,
        after: Duration,
    },
    #[error("the HTTP exchange with {service} at {url} failed: {detail}")]
    Exchange {
        service: String,
        url: String,
        detail: String,
    },
    #[error("{}", status_message(.service, .url, *.status, .location.as_deref(), .excerpt))]
    Status {
        service: String,
        url: String,
        /// The HTTP status.
        status: u16,
        /// Where a redirect points.
        location: Option<String>,
        /// The start of the body, safe for a log line.
        excerpt: String,
    },
}

impl HttpError {
    /// The HTTP status, for an answer that was not a success.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn status_message(
    service: &str,
    url: &str,
    status: u16,
    location: Option<&str>,
    excerpt: &str,
) -> String {
    let mut text = format!("{service} at {url} answered HTTP {status}");
    if !excerpt.is_empty() {
        text.push_str(&format!(" ({excerpt})"));
    }
    let hint = match status {
        300..=399 => Some(format!(
            "redirects are not followed: configure the URL it points to{}",
            location.map(|to| format!(" ({to})")).unwrap_or_default()
        )),
        401 | 403 => Some("it refuses the collector: check the credentials it expects".into()),
        404 | 405 => Some("check the URL's path".into()),
        _ => None,
    };
    if let Some(hint) = hint {
        text.push_str("; ");
        text.push_str(&hint);
    }
    text
}

impl Response {
    /// A header's value, if present and text.
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    }

    /// The start of the body as text safe for a terminal or a log line.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        hygie_proto::terminal_safe(text.trim(), EXCERPT)
    }

    /// The reply if its status is a success (2xx), else [`HttpError::Status`].
    pub fn error_for_status(self) -> Result<Response, HttpError> {
        if self.status.is_success() {
            return Ok(self);
        }
        Err(HttpError::Status {
            status: self.status.as_u16(),
            location: self
                .header(LOCATION)
                .map(|to| hygie_proto::terminal_safe(to, EXCERPT)),
            excerpt: self.excerpt(),
            service: self.service,
            url: self.url,
        })
    }
}

impl HttpClient {
    /// A client verifying servers with `tls` (from [`client_config`]); `None`: a client for
    /// plain `http://` URLs only (an `https://` one fails its handshake).
    pub fn new(tls: Option<ClientConfig>, settings: ClientSettings) -> Result<Self, TrustError> {
        let tls = match tls {
            Some(tls) => tls,
            None => trust::trust_nothing()?,
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.connect_timeout.min(settings.timeout)));
        // Request, reply, next request: no reason to let Nagle hold a segment back.
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE)
            .pool_max_idle_per_host(settings.idle_per_host)
            .build(connector);
        Ok(HttpClient {
            inner: Arc::new(inner),
            settings,
        })
    }

    /// Sends `request` (its URI absolute) to `service` (named in errors, e.g. "GLPI") and reads
    /// the reply, all within [`ClientSettings::timeout`]. Any status is a [`Response`]; see
    /// [`Response::error_for_status`].
    pub async fn send(
        &self,
        service: &str,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response, HttpError> {
        let url = request.uri().to_string();
        request
            .headers_mut()
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT_VALUE));
        let after = self.settings.timeout;
        match tokio::time::timeout(after, self.exchange(request)).await {
            Ok(Ok((status, headers, body, truncated))) => Ok(Response {
                status,
                headers,
                body,
                truncated,
                service: service.to_owned(),
                url,
            }),
            Ok(Err(failure)) => Err(failure.into_error(service.to_owned(), url)),
            Err(_) => Err(HttpError::Timeout {
                service: service.to_owned(),
                url,
                after,
            }),
        }
    }

    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, HeaderMap, Bytes, bool), Failure> {
        let response = self.inner.request(request).await.map_err(Failure::from)?;
        let (parts, mut body) = response.into_parts();
        let cap = self.settings.max_reply;
        let mut read = Vec::new();
        let mut truncated = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| {
                Failure::Exchange(format!(
                    "cannot read the reply: {}",
                    hygie_proto::error_chain(&error)
                ))
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let room = cap.saturating_sub(read.len());
            if data.len() > room {
                read.extend_from_slice(&data[..room]);
                truncated = true;
                break;
            }
            read.extend_from_slice(&data);
        }
        Ok((parts.status, parts.headers, Bytes::from(read), truncated))
    }
}

/// How an exchange failed, before the service and URL are attached.
#[derive(Debug)]
enum Failure {
    Connect(String),
    Tls(String),
    Exchange(String),
}

impl Failure {
    fn into_error(self, service: String, url: String) -> HttpError {
        match self {
            Failure::Connect(detail) => HttpError::Connect {
                service,
                url,
                detail,
            },
            Failure::Tls(detail) => HttpError::Tls {
                service,
                url,
                detail,
            },
            Failure::Exchange(detail) => HttpError::Exchange {
                service,
                url,
                detail,
            },
        }
    }
}

/// The rustls error somewhere in `error`'s chain (hyper-rustls and tokio-rustls wrap it in
/// `io::Error`s, whose `source()` skips what they wrap).
fn tls_failure<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

impl From<hyper_util::client::legacy::Error> for Failure {
    fn from(error: hyper_util::client::legacy::Error) -> Self {
        if let Some(tls) = tls_failure(&error) {
            return Failure::Tls(tls.to_string());
        }
        // The chain without hyper-util's own "client error (Connect)" prefix.
        let detail = std::error::Error::source(&error)
            .map_or_else(|| error.to_string(), hygie_proto::error_chain);
        if error.is_connect() {
            Failure::Connect(detail)
        } else {
            Failure::Exchange(detail)
        }
    }
}

/// Whether `url` needs TLS.
pub fn is_https(url: &http::Uri) -> bool {
    url.scheme() == Some(&http::uri::Scheme::HTTPS)
}
