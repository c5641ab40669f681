//! The outbox shared between async tasks: each operation runs on the blocking pool, so a slow
//! disk never stalls the runtime.

use std::sync::{Arc, Mutex};

use hygie_proto::{Observation, OutboxId, pb};

use super::{AppendOutcome, BatchSpan, Outbox, OutboxError, OutboxStats, SourcePosition};

/// A cloneable handle on the one [`Outbox`].
#[derive(Debug, Clone)]
pub struct SharedOutbox {
    inner: Arc<Mutex<Outbox>>,
    id: Arc<Mutex<OutboxId>>,
}

impl SharedOutbox {
    /// Wraps an open outbox.
    pub fn new(outbox: Outbox) -> Self {
        SharedOutbox {
            id: Arc::new(Mutex::new(outbox.id())),
            inner: Arc::new(Mutex::new(outbox)),
        }
    }

    /// The outbox identity.
    pub fn id(&self) -> OutboxId {
        *self.id.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    async fn with<T, F>(&self, operation: F) -> Result<T, OutboxError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Outbox) -> Result<T, OutboxError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave SQLite inconsistent (transactions
            // roll back), so a poisoned lock is still safe to use.
            let mut outbox = inner.lock().unwrap_or_else(|poison| poison.into_inner());
            operation(&mut outbox)
        })
        .await
        .map_err(|error| OutboxError::Task(error.to_string()))?
    }

    /// See [`Outbox::append`].
    pub async fn append(
        &self,
        observations: Arc<[Observation]>,
        positions: Arc<[SourcePosition]>,
    ) -> Result<AppendOutcome, OutboxError> {
        self.with(move |outbox| outbox.append(&observations, &positions))
            .await
    }

    /// See [`Outbox::source_position`].
    pub async fn source_position(
        &self,
        source: String,
    ) -> Result<Option<SourcePosition>, OutboxError> {
        self.with(move |outbox| outbox.source_position(&source))
            .await
    }

    /// See [`Outbox::unacked`].
    pub async fn unacked(&self) -> Result<Vec<BatchSpan>, OutboxError> {
        self.with(|outbox| outbox.unacked()).await
    }

    /// See [`Outbox::form_batch`].
    pub async fn form_batch(
        &self,
        max_observations: usize,
        max_bytes: u64,
    ) -> Result<Option<BatchSpan>, OutboxError> {
        self.with(move |outbox| outbox.form_batch(max_observations, max_bytes))
            .await
    }

    /// See [`Outbox::settle_evicted`].
    pub async fn settle_evicted(&self, committed: u64) -> Result<u64, OutboxError> {
        self.with(move |outbox| outbox.settle_evicted(committed))
            .await
    }

    /// See [`Outbox::skip_evicted`].
    pub async fn skip_evicted(&self, sequence: u64) -> Result<(), OutboxError> {
        self.with(move |outbox| outbox.skip_evicted(sequence)).await
    }

    /// See [`Outbox::last_sequence`].
    pub async fn last_sequence(&self) -> Result<u64, OutboxError> {
        self.with(|outbox| outbox.last_sequence()).await
    }

    /// See [`Outbox::renew_id`]; later Hellos carry the new id.
    pub async fn renew_id(&self) -> Result<OutboxId, OutboxError> {
        let id = self.with(|outbox| outbox.renew_id()).await?;
        *self.id.lock().unwrap_or_else(|poison| poison.into_inner()) = id;
        Ok(id)
    }

    /// See [`Outbox::load`].
    pub async fn load(&self, sequence: u64) -> Result<Option<pb::ObservationBatch>, OutboxError> {
        self.with(move |outbox| outbox.load(sequence)).await
    }

    /// See [`Outbox::ack`].
    pub async fn ack(&self, sequence: u64) -> Result<(), OutboxError> {
        self.with(move |outbox| outbox.ack(sequence)).await
    }

    /// See [`Outbox::highest_acked`].
    pub async fn highest_acked(&self) -> Result<u64, OutboxError> {
        self.with(|outbox| outbox.highest_acked()).await
    }

    /// See [`Outbox::reopen_after`]: for a collector restored from a backup, whose Welcome
    /// reports `sequence` below [`SharedOutbox::highest_acked`].
    pub async fn reopen_after(&self, sequence: u64) -> Result<u64, OutboxError> {
        self.with(move |outbox| outbox.reopen_after(sequence)).await
    }

    /// See [`Outbox::set_aside`].
    pub async fn set_aside(&self, sequence: u64, reason: String) -> Result<(), OutboxError> {
        self.with(move |outbox| outbox.set_aside(sequence, &reason))
            .await
    }

    /// See [`Outbox::stats`].
    pub async fn stats(&self) -> Result<OutboxStats, OutboxError> {
        self.with(|outbox| outbox.stats()).await
    }

    /// Observations stored but not yet in a batch.
    pub async fn unbatched(&self) -> Result<u64, OutboxError> {
        self.with(|outbox| outbox.unbatched()).await
    }
}
