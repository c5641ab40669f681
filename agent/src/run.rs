//! `hygie-agent run`: sources and discovery → shaping → outbox → uplink, until shutdown.

use std::sync::Arc;
use std::time::Duration;

use hygie_proto::{Observation, error_chain};
use jiff::SignedDuration;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::aggregate::Shaper;
use crate::config::AgentConfig;
use crate::discovery::capture::CaptureError;
use crate::discovery::live::{self, DiscoveryError};
use crate::metrics::AgentMetrics;
use crate::outbox::{Outbox, OutboxError, SharedOutbox};
use crate::policy::PolicyBoard;
use crate::sources::SourceEvent;
use crate::sources::file::FileSource;
use crate::uplink::status::StatusFile;
use crate::uplink::{Uplink, UplinkError};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Uplink(#[from] UplinkError),
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    Metrics(#[from] hygie_metrics::BindError),
}

impl RunError {
    /// True if only an operator can fix it (a file to install or correct, a capability the
    /// unit must grant): starting again would fail the same way, so the agent exits with its
    /// configuration status, which the unit does not restart. An outbox that cannot be opened,
    /// a metrics port in use or an interface not up yet may pass, and are retried.
    pub fn is_configuration(&self) -> bool {
        match self {
            RunError::Uplink(_) => true,
            RunError::Discovery(DiscoveryError::Capture(
                CaptureError::NeedsCapNetRaw { .. } | CaptureError::NotEthernet(_),
            )) => true,
            RunError::Outbox(_) | RunError::Discovery(_) | RunError::Metrics(_) => false,
        }
    }
}

/// Most observations appended in one outbox transaction.
const APPEND_CHUNK: usize = 2_000;
/// Longest wait between attempts to write to a failing outbox.
const MAX_APPEND_RETRY: Duration = Duration::from_secs(60);

/// Runs the agent until `shutdown`. A refused certificate does not stop collection: the uplink
/// retries slowly while observations keep going to the outbox until the operator fixes it.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> Result<(), RunError> {
    // An unusable outbox file is set aside and a new one started (Invariant 10): discovery
    // must not stop for it.
    let outbox = SharedOutbox::new(Outbox::open_recovering(
        &config.outbox.path,
        config.outbox.limits(),
    )?);
    // Bound before anything starts: a taken port stops the agent here, naming the address.
    let metrics_listener = match config.metrics.listen {
        Some(address) => Some(hygie_metrics::bind(address).await?),
        None => None,
    };
    let metrics = AgentMetrics::new(outbox.clone());
    let new_observations = Arc::new(Notify::new());
    // The last scan policy applies from the first probe, before the collector is reached.
    let policy = PolicyBoard::open(&config.outbox.path);
    let uplink = Uplink::new(
        &config.collector,
        config.uplink,
        outbox.clone(),
        Arc::clone(&new_observations),
        policy.clone(),
        StatusFile::new(&config.outbox.path),
    )?
    .with_metrics(metrics.uplink.clone());
    let stats = outbox.stats().await?;
    tracing::info!(
        outbox = %outbox.id(),
        waiting = stats.observations,
        unacknowledged_batches = stats.batches,
        "agent starting"
    );

    let (events, events_receiver) = mpsc::channel(64);
    let mut tasks = JoinSet::new();
    for settings in config.file_sources {
        let source = FileSource::new(settings);
        let start = outbox.source_position(source.key().to_owned()).await?;
        let (events, shutdown) = (events.clone(), shutdown.clone());
        // A missing or unreadable file is waited for inside the source: it never ends the
        // task early, nor the other sources.
        tasks.spawn(async move {
            source.run(start, events, shutdown).await;
        });
    }
    let discovery = match &config.discovery {
        Some(settings) => {
            let (raw, raw_receiver) = mpsc::channel(4096);
            let refresh = SignedDuration::try_from(settings.refresh).unwrap_or(SignedDuration::MAX);
            tasks.spawn(shape(raw_receiver, Shaper::new(refresh), events.clone()));
            Some(live::start(
                settings,
                raw,
                policy.subscribe(),
                shutdown.clone(),
                None,
                &metrics.discovery,
            )?)
        }
        None => None,
    };
    drop(events);
    if let Some(listener) = metrics_listener {
        tokio::spawn(listener.serve(exposition(metrics), shutdown.clone()));
    }
    let writer = tokio::spawn(write_outbox(
        events_receiver,
        outbox.clone(),
        Arc::clone(&new_observations),
        shutdown.clone(),
    ));

    // It ends only at shutdown: refusals are retried slowly.
    let _ = uplink.run(shutdown.clone()).await;
    if let Some(discovery) = discovery {
        let _ = tokio::task::spawn_blocking(move || discovery.join()).await;
    }
    while tasks.join_next().await.is_some() {}
    let _ = writer.await;
    tracing::info!("agent stopped");
    Ok(())
}

/// The endpoint's view of `metrics`: the outbox's figures refreshed before each scrape.
fn exposition(metrics: AgentMetrics) -> hygie_metrics::Exposition {
    let figures = metrics.outbox;
    hygie_metrics::Exposition::new(metrics.registry).with_refresh(Arc::new(move || {
        let figures = Arc::clone(&figures);
        Box::pin(async move { figures.refresh().await })
    }))
}

/// Lets through only what is new, changed, or due for a liveness refresh.
pub async fn shape(
    mut raw: mpsc::Receiver<Observation>,
    mut shaper: Shaper,
    events: mpsc::Sender<SourceEvent>,
) {
    let mut last_report = tokio::time::Instant::now();
    while let Some(observation) = raw.recv().await {
        if let Some((observation, _)) = shaper.offer(observation) {
            let event = SourceEvent {
                observations: vec![observation],
                position: None,
            };
            if events.send(event).await.is_err() {
                break;
            }
        }
        if last_report.elapsed() >= Duration::from_secs(600) {
            last_report = tokio::time::Instant::now();
            let stats = shaper.stats();
            tracing::info!(
                devices = stats.devices,
                forwarded = stats.forwarded,
                suppressed = stats.suppressed,
                forgotten = stats.forgotten,
                "discovery shaping"
            );
        }
    }
}

/// Drains source events into the outbox, grouping what is queued into one transaction. A
/// failing write is retried (with backoff) before anything else is taken: sources then wait,
/// and a file position is never saved past lines that were not stored.
async fn write_outbox(
    mut events: mpsc::Receiver<SourceEvent>,
    outbox: SharedOutbox,
    new_observations: Arc<Notify>,
    shutdown: CancellationToken,
) {
    while let Some(first) = events.recv().await {
        let mut observations = first.observations;
        let mut positions: Vec<_> = first.position.into_iter().collect();
        while observations.len() < APPEND_CHUNK {
            let Ok(next) = events.try_recv() else { break };
            observations.extend(next.observations);
            if let Some(position) = next.position {
                // Keep only the latest position per source.
                positions.retain(|kept| kept.source != position.source);
                positions.push(position);
            }
        }
        let count = observations.len();
        let (observations, positions): (Arc<[_]>, Arc<[_]>) =
            (observations.into(), positions.into());
        let mut delay = Duration::from_secs(1);
        loop {
            match outbox
                .append(Arc::clone(&observations), Arc::clone(&positions))
                .await
            {
                Ok(_) => {
                    if count > 0 {
                        new_observations.notify_one();
                    }
                    break;
                }
                Err(error) => {
                    tracing::error!(
                        waiting = count,
                        retry_in = ?delay,
                        error = %error_chain(&error),
                        "cannot write to the outbox; collection waits until it works"
                    );
                    tokio::select! {
                        // Nothing was stored and no file position saved: file sources read
                        // these lines again after a restart.
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(MAX_APPEND_RETRY);
                }
            }
        }
    }
}
