//! The dispatcher: the sinks made ready (secrets read, TLS set up) and run, one task each
//! ([`super::runner`]), until the shutdown token; `alerts status` and `alerts test`. Every sink
//! runs on its own (Invariant 6 of [`super`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::alert::Message;
use super::runner::{Limits, Runner};
use super::settings::{AlertSettings, SinkSettings, Target, Transport};
use super::source::{EventSource, SourceFactory, StoreSource};
use super::state::{self, SinkState, StateError};
use super::syslog::{self, Header};
use super::transport::{SendError, SyslogClient};
use super::webhook::{Secret, SecretError, WebhookClient};
use crate::http_client::TrustError;
use crate::metrics::AlertMetrics;
use crate::store::SqliteStore;

/// Alerting cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error("alert sink {sink:?}")]
    Secret {
        sink: String,
        #[source]
        source: SecretError,
    },
    #[error("alert sink {sink:?}")]
    Tls {
        sink: String,
        #[source]
        source: TrustError,
    },
}

#[derive(Debug)]
pub(super) enum SinkClient {
    Syslog {
        client: SyslogClient,
        header: Header,
    },
    Webhook(WebhookClient),
}

impl SinkClient {
    pub(super) async fn send(
        &mut self,
        message: &Message,
        now: Timestamp,
    ) -> Result<(), SendError> {
        match self {
            SinkClient::Syslog { client, header } => {
                let bytes = syslog::format(message, header, now, client.max_message());
                client.send(&bytes).await
            }
            SinkClient::Webhook(client) => client.send(message, now).await,
        }
    }
}

#[derive(Debug)]
struct PreparedSink {
    settings: SinkSettings,
    client: SinkClient,
}

/// The sinks, ready: secrets read, TLS set up.
#[derive(Debug)]
pub struct Dispatcher {
    sinks: Vec<PreparedSink>,
    max_backlog: u64,
    poll_interval: Duration,
    state_dir: PathBuf,
    metrics: AlertMetrics,
}

fn collector_name() -> String {
    hygie_proto::kernel_hostname().unwrap_or_else(|| "-".to_owned())
}

/// Reads every sink's secret and CA, so a mistake stops `serve` (and `validate`) at once
/// rather than the first alert.
pub fn prepare(settings: &AlertSettings) -> Result<Dispatcher, AlertsError> {
    let collector = collector_name();
    let mut sinks = Vec::with_capacity(settings.sinks.len());
    for sink in &settings.sinks {
        let tls_error = |source| AlertsError::Tls {
            sink: sink.name.clone(),
            source,
        };
        let client = match &sink.target {
            Target::Syslog(target) => SinkClient::Syslog {
                client: SyslogClient::new(target, sink.timeout).map_err(tls_error)?,
                header: Header {
                    facility: target.facility,
                    hostname: collector.clone(),
                    app_name: target.app_name.clone(),
                    procid: std::process::id(),
                },
            },
            Target::Webhook(target) => {
                let secret =
                    Secret::load(&target.secret_file).map_err(|source| AlertsError::Secret {
                        sink: sink.name.clone(),
                        source,
                    })?;
                SinkClient::Webhook(
                    WebhookClient::new(target, secret, sink.timeout, collector.clone())
                        .map_err(tls_error)?,
                )
            }
        };
        sinks.push(PreparedSink {
            settings: sink.clone(),
            client,
        });
    }
    Ok(Dispatcher {
        sinks,
        max_backlog: settings.max_backlog,
        poll_interval: settings.poll_interval,
        state_dir: settings.state_dir.clone(),
        metrics: AlertMetrics::default(),
    })
}

/// One sink as `alerts status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SinkStatus {
    /// Its name.
    pub name: String,
    /// Where it sends.
    pub target: String,
    /// Its persisted state (none: it never ran).
    pub state: Option<SinkState>,
    /// Events of the log after its cursor.
    pub backlog: Option<u64>,
}

/// How a target is shown.
pub fn describe(target: &Target) -> String {
    match target {
        Target::Syslog(syslog) => format!(
            "syslog {} {}",
            match syslog.transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
                Transport::Tls => "tls",
            },
            syslog.address
        ),
        Target::Webhook(webhook) => format!("webhook {}", webhook.url),
    }
}

/// Every sink's persisted state, against the log's `head`.
pub fn status(settings: &AlertSettings, head: i64) -> Result<Vec<SinkStatus>, StateError> {
    settings
        .sinks
        .iter()
        .map(|sink| {
            let state = state::load(&settings.state_dir, &sink.name)?;
            let backlog = state
                .as_ref()
                .map(|state| u64::try_from(head - state.progress.cursor).unwrap_or(0));
            Ok(SinkStatus {
                name: sink.name.clone(),
                target: describe(&sink.target),
                state,
                backlog,
            })
        })
        .collect()
}

impl Dispatcher {
    /// Whether no sink is configured.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Counts deliveries into `metrics` (by default, into nothing exposed).
    #[must_use]
    pub fn with_metrics(mut self, metrics: AlertMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Sends one test message to each sink, once, without touching cursors.
    pub async fn test(&mut self) -> Vec<(String, Result<(), SendError>)> {
        let mut results = Vec::with_capacity(self.sinks.len());
        for sink in &mut self.sinks {
            let result = sink.client.send(&Message::Test, Timestamp::now()).await;
            results.push((sink.settings.name.clone(), result));
        }
        results
    }

    /// Runs every sink on the inventory database until `stopping` is cancelled.
    pub async fn run(self, database: PathBuf, stopping: CancellationToken) {
        let factory: SourceFactory = Arc::new(move || {
            SqliteStore::open_reader(&database)
                .map(|store| Box::new(StoreSource(store)) as Box<dyn EventSource>)
        });
        self.run_with(factory, stopping).await;
    }

    /// Runs every sink on events from `source` until `stopping` is cancelled; returns once
    /// each has saved its progress.
    pub async fn run_with(self, source: SourceFactory, stopping: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        for sink in self.sinks {
            let metrics = self.metrics.sink(&sink.settings.name);
            let runner = Runner::new(
                sink.settings,
                sink.client,
                Arc::clone(&source),
                Limits {
                    max_backlog: self.max_backlog,
                    poll: self.poll_interval,
                },
                self.state_dir.clone(),
                stopping.clone(),
                metrics,
            );
            tasks.spawn(runner.run());
        }
        while tasks.join_next().await.is_some() {}
    }
}
