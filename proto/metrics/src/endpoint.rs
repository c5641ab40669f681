//! The `/metrics` endpoint: plain HTTP/1.1, one route, nothing else.
//!
//! Plain HTTP because that is what Prometheus scrapes by default and the figures say nothing
//! about a device (no MAC, no address, no name a device sent): the collector's default is
//! loopback, the agent's is off. A scrape only reads counters and, at most every few seconds,
//! a summary the daemon computes (see [`Refresh`]); it never reaches the inventory writer.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Brings the figures read from state (assets per category, the outbox's depth) up to date
/// before a scrape is encoded. It decides itself how stale it may serve them.
pub type Refresh = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What one daemon exposes: its registry, and what to refresh before encoding it.
pub struct Exposition {
    registry: Registry,
    refresh: Option<Refresh>,
}

impl std::fmt::Debug for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposition")
            .field("refresh", &self.refresh.is_some())
            .finish_non_exhaustive()
    }
}

/// The two text formats a scraper may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text, what Prometheus asks for first.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for anything that does not ask for OpenMetrics.
    Text,
}

impl Format {
    /// The format an `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

impl Exposition {
    /// Exposes `registry`.
    pub fn new(registry: Registry) -> Self {
        Exposition {
            registry,
            refresh: None,
        }
    }

    /// Runs `refresh` before each scrape is encoded.
    #[must_use]
    pub fn with_refresh(mut self, refresh: Refresh) -> Self {
        self.refresh = Some(refresh);
        self
    }

    /// The exposition in `format`, after the refresh.
    pub async fn render(&self, format: Format) -> Result<String, std::fmt::Error> {
        if let Some(refresh) = &self.refresh {
            refresh().await;
        }
        let mut text = String::with_capacity(8 * 1024);
        match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
            }
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
            }
        }
        Ok(text)
    }
}

/// The metrics address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen for metrics on {address} (free that port, set [metrics] listen to another address, or turn metrics off with [metrics] enabled = false)"
)]
pub struct BindError {
    /// The address of `[metrics] listen`.
    pub address: SocketAddr,
    /// What the system said.
    #[source]
    pub source: std::io::Error,
}

/// A bound metrics address, not yet serving.
#[derive(Debug)]
pub struct MetricsListener {
    listener: TcpListener,
    address: SocketAddr,
}

/// Binds `address` now, so that a taken port stops the daemon at start with a clear error
/// rather than later in a background task.
pub async fn bind(address: SocketAddr) -> Result<MetricsListener, BindError> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| BindError { address, source })?;
    let address = listener.local_addr().unwrap_or(address);
    Ok(MetricsListener { listener, address })
}

impl MetricsListener {
    /// The address actually bound (the port chosen when the configuration said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Serves `GET /metrics` until `shutdown`.
    pub async fn serve(self, exposition: Exposition, shutdown: CancellationToken) {
        let router = Router::new()
            .route("/metrics", get(scrape))
            .with_state(Arc::new(exposition));
        tracing::info!(listen = %self.address, "serving metrics at http://{}/metrics", self.address);
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(listen = %self.address, %error, "the metrics endpoint stopped");
        }
    }
}

async fn scrape(State(exposition): State<Arc<Exposition>>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let format = Format::from_accept(accept);
    match exposition.render(format).await {
        Ok(text) => ([(header::CONTENT_TYPE, format.content_type())], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be encoded",
        )
            .into_response(),
    }
}
