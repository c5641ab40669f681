//! The dispatcher's shell: per sink, a task that reads the event log through the read port,
//! feeds [`SinkCore`], sends what it says, and persists its progress. Started by `serve` with
//! the shutdown token; every sink runs on its own (Invariant 6 of [`super`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hygie_proto::error_chain;
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::alert::{Alert, Message};
use super::core::{Action, Candidate, Input, Progress, SinkCore};
use super::rules::Rules;
use super::settings::{AlertSettings, SinkSettings, Target, Transport};
use super::state::{self, SinkState, StateError};
use super::syslog::{self, Header};
use super::transport::{SendError, SyslogClient, TlsSetupError};
use super::webhook::{Secret, SecretError, WebhookClient};
use crate::store::{InventoryReader, SqliteStore, StoreError};

/// Events read from the log at a time.
const PAGE: i64 = 256;
/// Longest a sink's progress stays unsaved while it delivers.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Where a sink's events come from: the read port in production, a script in tests.
pub trait EventSource: Send {
    /// The last event's id (0 for none).
    fn head(&mut self) -> Result<i64, StoreError>;
    /// The events with ids in `first..=last`, in order; those `rules` may select come with
    /// their alert (the asset read through the port).
    fn read(&mut self, first: i64, last: i64, rules: &Rules) -> Result<Vec<Candidate>, StoreError>;
}

/// Opens a source (again after a failure).
pub type SourceFactory =
    Arc<dyn Fn() -> Result<Box<dyn EventSource>, StoreError> + Send + Sync + 'static>;

/// The event log read through [`InventoryReader`].
#[derive(Debug)]
pub struct StoreSource<R>(pub R);

impl<R: InventoryReader + Send> EventSource for StoreSource<R> {
    fn head(&mut self) -> Result<i64, StoreError> {
        Ok(self.0.event_head()?.0)
    }

    fn read(&mut self, first: i64, last: i64, rules: &Rules) -> Result<Vec<Candidate>, StoreError> {
        let mut events = Vec::new();
        self.0
            .events_range(first, last, &mut |event| events.push(event))?;
        events
            .into_iter()
            .map(|event| {
                let wanted = event.known_kind().is_some_and(|kind| rules.wants(kind));
                let alert = if wanted {
                    let view = match event.mac {
                        Some(mac) => self.0.asset(mac)?,
                        None => None,
                    };
                    Alert::build(&event, view.as_ref()).map(Box::new)
                } else {
                    None
                };
                Ok(Candidate {
                    id: event.id,
                    alert,
                })
            })
            .collect()
    }
}

/// Alerting cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error("alert sink {sink:?}: {source}")]
    Secret {
        sink: String,
        #[source]
        source: SecretError,
    },
    #[error("alert sink {sink:?}: {source}")]
    Tls {
        sink: String,
        #[source]
        source: TlsSetupError,
    },
}

#[derive(Debug)]
enum SinkClient {
    Syslog {
        client: SyslogClient,
        header: Header,
    },
    Webhook(WebhookClient),
}

impl SinkClient {
    async fn send(&mut self, message: &Message, now: Timestamp) -> Result<(), SendError> {
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
            let runner = Runner {
                name: sink.settings.name.clone(),
                core: None,
                client: sink.client,
                settings: sink.settings,
                source: None,
                factory: Arc::clone(&source),
                max_backlog: self.max_backlog,
                poll: self.poll_interval,
                state_dir: self.state_dir.clone(),
                stopping: stopping.clone(),
                saved: None,
                saved_at: Instant::now(),
                last_delivery: None,
                last_error: None,
            };
            tasks.spawn(runner.run());
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Waits `duration`; true if the collector is stopping.
async fn pause(stopping: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => false,
        () = stopping.cancelled() => true,
    }
}

/// One sink's task.
struct Runner {
    name: String,
    settings: SinkSettings,
    core: Option<SinkCore>,
    client: SinkClient,
    source: Option<Box<dyn EventSource>>,
    factory: SourceFactory,
    max_backlog: u64,
    poll: Duration,
    state_dir: PathBuf,
    stopping: CancellationToken,
    /// What the state file holds.
    saved: Option<(Progress, Option<String>)>,
    saved_at: Instant,
    last_delivery: Option<Timestamp>,
    last_error: Option<String>,
}

impl Runner {
    async fn run(mut self) {
        while self.core.is_none() {
            if let Err(error) = self.start().await {
                tracing::error!(sink = %self.name, %error, "cannot start the alert sink; trying again in a minute");
                if pause(&self.stopping, Duration::from_secs(60)).await {
                    return;
                }
            }
        }
        let mut reported = false;
        while !self.stopping.is_cancelled() {
            match self.look().await {
                Ok(()) => reported = false,
                Err(error) if !reported => {
                    tracing::error!(sink = %self.name, %error, "cannot read the event log for alerts; trying again");
                    reported = true;
                }
                Err(_) => {}
            }
            let wait = self
                .core
                .as_ref()
                .and_then(SinkCore::next_deadline)
                .map_or(self.poll, |deadline| {
                    deadline.saturating_duration_since(Instant::now())
                })
                .min(self.poll);
            if pause(&self.stopping, wait).await {
                break;
            }
            self.drive(Input::Tick).await;
        }
        self.save(true);
    }

    async fn with_source<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut dyn EventSource) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let factory = Arc::clone(&self.factory);
        let taken = self.source.take();
        let joined = tokio::task::spawn_blocking(move || {
            let mut source = match taken {
                Some(source) => source,
                None => match factory() {
                    Ok(source) => source,
                    Err(error) => return (None, Err(error)),
                },
            };
            let result = work(source.as_mut());
            (Some(source), result)
        })
        .await;
        match joined {
            Ok((source, result)) => {
                self.source = source;
                result.map_err(|error| error_chain(&error))
            }
            Err(error) => Err(format!("the reading task failed: {error}")),
        }
    }

    /// Loads the sink's state; a sink that never ran starts at the log's head.
    async fn start(&mut self) -> Result<(), String> {
        let head = self.with_source(|source| source.head()).await?;
        let stored =
            state::load(&self.state_dir, &self.name).map_err(|error| error_chain(&error))?;
        let mut progress = match &stored {
            Some(state) => state.progress,
            None => Progress {
                cursor: head,
                ..Progress::default()
            },
        };
        if progress.cursor > head {
            tracing::warn!(
                sink = %self.name,
                cursor = progress.cursor,
                head,
                "the event log ends before this sink's cursor (a database restored from a backup?); alerting from its head"
            );
            progress.cursor = head;
        }
        if let Some(state) = stored {
            self.last_delivery = state.last_delivery;
            self.last_error = state.last_error;
        }
        tracing::info!(
            sink = %self.name,
            target = %describe(&self.settings.target),
            cursor = progress.cursor,
            head,
            "alert sink started"
        );
        self.core = Some(SinkCore::new(
            self.settings.rules.clone(),
            self.settings.limit,
            self.max_backlog,
            self.settings.max_retry,
            progress,
            Instant::now(),
        ));
        // Saved at once: a sink that never ran must resume from here, not from a later head.
        self.save(true);
        Ok(())
    }

    /// Reads the log up to its head, or as far as the sink takes.
    async fn look(&mut self) -> Result<(), String> {
        let head = self.with_source(|source| source.head()).await?;
        self.drive(Input::Head(head)).await;
        loop {
            let Some(core) = &self.core else {
                return Ok(());
            };
            if !core.wants_events() || core.read_to() >= head || self.stopping.is_cancelled() {
                return Ok(());
            }
            let first = core.read_to() + 1;
            let last = head.min(first + PAGE - 1);
            let rules = core.rules().clone();
            let page = self
                .with_source(move |source| source.read(first, last, &rules))
                .await?;
            for candidate in page {
                if !self.core.as_ref().is_some_and(SinkCore::wants_events) {
                    return Ok(());
                }
                self.drive(Input::Event(candidate)).await;
            }
            // Ids the log lacks (none in a sound chain) are passed by.
            if self.core.as_ref().is_some_and(|core| core.read_to() < last) {
                self.drive(Input::Event(Candidate {
                    id: last,
                    alert: None,
                }))
                .await;
            }
        }
    }

    /// Steps the core and carries out its actions until it asks for nothing more.
    async fn drive(&mut self, input: Input) {
        let mut next = Some(input);
        while let Some(input) = next.take() {
            let Some(core) = &mut self.core else {
                return;
            };
            let actions = core.step(Instant::now(), input);
            for action in actions {
                match action {
                    Action::Send(message) => {
                        let sent = tokio::select! {
                            sent = self.client.send(&message, Timestamp::now()) => sent,
                            // Unsettled: sent again after the restart (Invariant 1).
                            () = self.stopping.cancelled() => return,
                        };
                        next = Some(match sent {
                            Ok(()) => {
                                self.last_delivery = Some(Timestamp::now());
                                self.last_error = None;
                                Input::Delivered
                            }
                            Err(error) => {
                                self.last_error = Some(error.reason.clone());
                                Input::Failed {
                                    permanent: error.permanent,
                                }
                            }
                        });
                    }
                    Action::Retry { attempt, after } => {
                        let error = self.last_error.as_deref().unwrap_or_default();
                        if attempt.is_power_of_two() {
                            tracing::warn!(sink = %self.name, attempt, retry_in = ?after, error, "alert not delivered; trying again");
                        } else {
                            tracing::debug!(sink = %self.name, attempt, retry_in = ?after, error, "alert not delivered; trying again");
                        }
                    }
                    Action::Refused { first, last } => {
                        let error = self.last_error.as_deref().unwrap_or_default();
                        tracing::error!(sink = %self.name, first, last, error, "the receiver refused an alert for good; it is skipped (see the event log for those events)");
                    }
                    Action::Dropped { first, last } => {
                        tracing::error!(
                            sink = %self.name,
                            first,
                            last,
                            max_backlog = self.max_backlog,
                            "the alert backlog is full (alerts.max_backlog): events {first} to {last} were dropped unsent; see them with `hygie-collector events`"
                        );
                    }
                }
            }
            self.save(false);
        }
    }

    /// Persists the progress (and the last error, for `alerts status`) when it changed: at
    /// once if `force` or nothing waits, else at most every [`SAVE_EVERY`]. What was delivered and not yet saved is sent again after a
    /// crash (Invariant 1).
    fn save(&mut self, force: bool) {
        let Some(core) = &self.core else {
            return;
        };
        let progress = core.progress();
        let current = (progress, self.last_error.clone());
        if self.saved.as_ref() == Some(&current) {
            return;
        }
        if !force && core.queued() > 0 && self.saved_at.elapsed() < SAVE_EVERY {
            return;
        }
        let state = SinkState {
            sink: self.name.clone(),
            progress,
            updated_at: Timestamp::now(),
            last_delivery: self.last_delivery,
            last_error: self.last_error.clone(),
        };
        match state::save(&self.state_dir, &state) {
            Ok(()) => {
                self.saved = Some(current);
                self.saved_at = Instant::now();
            }
            Err(error) => {
                tracing::error!(sink = %self.name, error = %error_chain(&error), "cannot save the alert cursor; alerts may be sent twice after a restart");
            }
        }
    }
}
