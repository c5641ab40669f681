//! One sink's task: reads the event log after its cursor, feeds [`SinkCore`], sends what it
//! says through the sink's client, and saves its progress.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hygie_proto::error_chain;
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::core::{Action, Candidate, Input, Progress, SinkCore};
use super::dispatch::{SinkClient, describe};
use super::settings::SinkSettings;
use super::source::{EventSource, SourceFactory};
use super::state::{self, SinkState};
use crate::metrics::SinkMetrics;
use crate::store::StoreError;

/// Events read from the log at a time.
const PAGE: i64 = 256;
/// Longest a sink's progress stays unsaved while it delivers.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Waits `duration`; true if the collector is stopping.
async fn pause(stopping: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => false,
        () = stopping.cancelled() => true,
    }
}

/// What every sink shares.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// `alerts.max_backlog`.
    pub(super) max_backlog: u64,
    /// `alerts.poll_interval`.
    pub(super) poll: Duration,
}

/// One sink's task.
pub(super) struct Runner {
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
    metrics: SinkMetrics,
    /// The log's head at the last look, for the backlog figure.
    head: i64,
    /// The progress the metrics have counted up to.
    counted: Progress,
}

impl Runner {
    pub(super) fn new(
        settings: SinkSettings,
        client: SinkClient,
        factory: SourceFactory,
        limits: Limits,
        state_dir: PathBuf,
        stopping: CancellationToken,
        metrics: SinkMetrics,
    ) -> Runner {
        Runner {
            name: settings.name.clone(),
            settings,
            core: None,
            client,
            source: None,
            factory,
            max_backlog: limits.max_backlog,
            poll: limits.poll,
            state_dir,
            stopping,
            saved: None,
            saved_at: Instant::now(),
            last_delivery: None,
            last_error: None,
            metrics,
            head: 0,
            counted: Progress::default(),
        }
    }

    pub(super) async fn run(mut self) {
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
        // The metrics count from this start; the state file keeps the totals.
        self.counted = progress;
        self.head = head;
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
        self.publish();
        Ok(())
    }

    /// Reads the log up to its head, or as far as the sink takes.
    async fn look(&mut self) -> Result<(), String> {
        let head = self.with_source(|source| source.head()).await?;
        self.head = head;
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
                                if !error.permanent {
                                    self.metrics.failed();
                                }
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
            self.publish();
        }
    }

    /// Counts what the core settled since the last call, and the backlog now.
    fn publish(&mut self) {
        let Some(core) = &self.core else {
            return;
        };
        let now = core.progress();
        let before = self.counted;
        self.metrics
            .delivered(now.delivered.saturating_sub(before.delivered));
        self.metrics
            .suppressed(now.suppressed.saturating_sub(before.suppressed));
        self.metrics
            .refused(now.refused.saturating_sub(before.refused));
        self.metrics
            .dropped(now.dropped.saturating_sub(before.dropped));
        self.counted = now;
        self.metrics
            .backlog(u64::try_from(self.head.saturating_sub(now.cursor)).unwrap_or(0));
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
