//! `hygie-agent run`: sources → outbox → uplink, until a shutdown signal.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::outbox::{Outbox, OutboxError, SharedOutbox};
use crate::sources::SourceEvent;
use crate::sources::file::FileSource;
use crate::uplink::{Uplink, UplinkEnd, UplinkError};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Uplink(#[from] UplinkError),
}

/// Most observations appended in one outbox transaction.
const APPEND_CHUNK: usize = 2_000;

/// Runs the agent until `shutdown`. The uplink stopping for good (a refused certificate) does
/// not stop collection: observations keep going to the outbox until the operator fixes it.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> Result<(), RunError> {
    let outbox = SharedOutbox::new(Outbox::open(&config.outbox.path, config.outbox.max_bytes)?);
    let new_observations = Arc::new(Notify::new());
    let uplink = Uplink::new(
        &config.collector,
        config.uplink,
        outbox.clone(),
        Arc::clone(&new_observations),
    )?;
    let stats = outbox.stats().await?;
    tracing::info!(
        outbox = %outbox.id(),
        waiting = stats.observations,
        unacknowledged_batches = stats.batches,
        "agent starting"
    );

    let (events, events_receiver) = mpsc::channel(64);
    let mut sources = JoinSet::new();
    for settings in config.file_sources {
        let source = FileSource::new(settings);
        let start = outbox.source_position(source.key().to_owned()).await?;
        let (events, shutdown) = (events.clone(), shutdown.clone());
        sources.spawn(async move {
            let key = source.key().to_owned();
            if let Err(error) = source.run(start, events, shutdown).await {
                tracing::error!(source = %key, error = %crate::uplink::disposition::describe(&error), "source stopped");
            }
        });
    }
    drop(events);
    let writer = tokio::spawn(write_outbox(
        events_receiver,
        outbox.clone(),
        Arc::clone(&new_observations),
    ));

    match uplink.run(shutdown.clone()).await {
        UplinkEnd::Shutdown => {}
        UplinkEnd::Halted(_) => shutdown.cancelled().await,
    }
    while sources.join_next().await.is_some() {}
    let _ = writer.await;
    tracing::info!("agent stopped");
    Ok(())
}

/// Drains source events into the outbox, grouping what is queued into one transaction.
async fn write_outbox(
    mut events: mpsc::Receiver<SourceEvent>,
    outbox: SharedOutbox,
    new_observations: Arc<Notify>,
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
        match outbox.append(observations, positions).await {
            Ok(_) => {
                if count > 0 {
                    new_observations.notify_one();
                }
            }
            Err(error) => {
                // The disk is failing: the observations are lost, and the file position was
                // not saved either, so a file source re-reads them after a restart.
                tracing::error!(
                    lost = count,
                    error = %crate::uplink::disposition::describe(&error),
                    "cannot write to the outbox"
                );
            }
        }
    }
}
