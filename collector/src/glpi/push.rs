//! One push: the selected devices read page by page through the read port, a document built
//! for each, those whose document changed since GLPI last accepted it delivered a few at a
//! time, and what GLPI accepted recorded. Memory holds one page, whatever the inventory's size.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::GlpiError;
use super::client::GlpiClient;
use super::document::{Document, DocumentContext, build};
use super::retry::{Breaker, Delivery, Next, Outcome, RetryPolicy};
use super::sent::{Delivered, SentState};
use super::settings::{GlpiSettings, Selection};
use crate::metrics::GlpiMetrics;
use crate::store::listing::{Cursor, Listing, Order};
use crate::store::{InventoryReader, SqliteStore};

/// Devices read from the inventory at a time.
pub const PAGE: u64 = 256;

/// Which devices to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Those whose document differs from the one GLPI last accepted.
    Changed,
    /// All of them (`--full`).
    Full,
}

/// Where documents go.
pub enum Target<'a> {
    /// To GLPI.
    Glpi(&'a GlpiClient),
    /// Nowhere but this sink (`--dry-run`): nothing is sent and nothing recorded.
    DryRun(&'a mut (dyn FnMut(&Document) -> std::io::Result<()> + Send)),
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Glpi(client) => f.debug_tuple("Glpi").field(client).finish(),
            Target::DryRun(_) => f.write_str("DryRun"),
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Devices the selection kept.
    pub selected: u64,
    /// Of those, whose document GLPI already had.
    pub unchanged: u64,
    /// Documents GLPI accepted (or, dry, written), per item type.
    pub delivered: BTreeMap<&'static str, u64>,
    /// Documents GLPI refused.
    pub refused: u64,
    /// Documents still failing after every retry.
    pub failed: u64,
    /// Why the push stopped before the end, if it did.
    pub stopped: Option<String>,
}

impl PushReport {
    /// Documents accepted (or written).
    pub fn delivered_total(&self) -> u64 {
        self.delivered.values().sum()
    }

    /// Whether every selected device is now in GLPI as Hygie sees it.
    pub fn is_complete(&self) -> bool {
        self.refused == 0 && self.failed == 0 && self.stopped.is_none()
    }
}

impl std::fmt::Display for PushReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} devices selected: {} unchanged, {} delivered",
            self.selected,
            self.unchanged,
            self.delivered_total()
        )?;
        if !self.delivered.is_empty() {
            let parts: Vec<String> = self
                .delivered
                .iter()
                .map(|(itemtype, count)| format!("{count} {itemtype}"))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        write!(f, ", {} refused, {} failed", self.refused, self.failed)?;
        if let Some(why) = &self.stopped {
            write!(f, "; stopped early: {why}")?;
        }
        Ok(())
    }
}

/// The inventory, the state and what to read, carried into blocking tasks and back.
struct Sources {
    store: SqliteStore,
    sent: SentState,
    selection: Selection,
    context: DocumentContext,
    mode: Mode,
    after: Option<Cursor>,
}

/// One page's documents to deliver.
struct Batch {
    documents: Vec<Document>,
    selected: u64,
    unchanged: u64,
    more: bool,
}

impl Sources {
    fn next_batch(&mut self) -> Result<Batch, GlpiError> {
        let listing = Listing {
            filter: self.selection.prefilter(),
            order: Order::Mac,
            after: self.after.take(),
            limit: Some(PAGE),
        };
        let mut views = Vec::new();
        let page = self.store.list(&listing, &mut |view| {
            views.push(view);
            true
        })?;
        let mut batch = Batch {
            documents: Vec::new(),
            selected: 0,
            unchanged: 0,
            more: page.next.is_some(),
        };
        self.after = page.next;
        for view in views {
            if !self.selection.accepts(&view) {
                continue;
            }
            batch.selected += 1;
            let document = build(&view, &self.context);
            if self.mode == Mode::Changed
                && self.sent.digest(document.mac)? == Some(document.digest)
            {
                batch.unchanged += 1;
            } else {
                batch.documents.push(document);
            }
        }
        Ok(batch)
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, GlpiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| GlpiError::Task(error.to_string()))
}

/// Delivers one document, retrying as the policy says.
async fn deliver<'a>(
    client: &GlpiClient,
    document: &'a Document,
    policy: &RetryPolicy,
    shutdown: &CancellationToken,
) -> (&'a Document, Outcome) {
    let mut delivery = Delivery::new();
    loop {
        let attempt = client.deliver(&document.body).await;
        match delivery.step(policy, attempt, rand::random::<f64>()) {
            Next::Done(outcome) => return (document, outcome),
            Next::RenewToken => client.renew_token().await,
            Next::RetryAfter(wait) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => {
                        return (document, Outcome::GaveUp { reason: "the collector is stopping".into() });
                    }
                }
            }
        }
    }
}

/// Pushes the selected devices of the inventory at `database` to `target`. `now` stamps what
/// is recorded. Stops between pages when `shutdown` is cancelled.
pub async fn push(
    database: &Path,
    settings: &GlpiSettings,
    mode: Mode,
    mut target: Target<'_>,
    shutdown: &CancellationToken,
    now: impl Fn() -> Timestamp,
) -> Result<PushReport, GlpiError> {
    let database = database.to_owned();
    let (state_file, target_url) = (settings.state_file.clone(), settings.target());
    let (selection, context) = (
        settings.selection.clone(),
        DocumentContext::this_build(settings.tag.clone()),
    );
    let mut sources = blocking(move || -> Result<Sources, GlpiError> {
        Ok(Sources {
            store: SqliteStore::open_reader(&database)?,
            sent: SentState::open(&state_file, &target_url)?,
            selection,
            context,
            mode,
            after: None,
        })
    })
    .await??;
    let mut report = PushReport::default();
    let mut breaker = Breaker::default();
    loop {
        if shutdown.is_cancelled() {
            report.stopped = Some("the collector is stopping".into());
            break;
        }
        let (taken, batch) = blocking(move || {
            let batch = sources.next_batch();
            (sources, batch)
        })
        .await?;
        let batch = batch?;
        report.selected += batch.selected;
        report.unchanged += batch.unchanged;
        let delivered = match &mut target {
            Target::DryRun(sink) => {
                for document in &batch.documents {
                    sink(document).map_err(GlpiError::DryRun)?;
                    report.count_delivered(document);
                }
                Vec::new()
            }
            Target::Glpi(client) => {
                let deliveries = Deliveries {
                    client,
                    policy: settings.retry,
                    concurrency: settings.concurrency,
                    shutdown,
                };
                deliveries
                    .run(&batch.documents, &mut breaker, &mut report)
                    .await
            }
        };
        let stamp = now();
        let (taken, recorded) = blocking(move || {
            let mut taken = taken;
            let recorded = taken.sent.record(&delivered, stamp);
            (taken, recorded)
        })
        .await?;
        recorded?;
        if report.stopped.is_some() || !batch.more {
            break;
        }
        sources = taken;
    }
    Ok(report)
}

impl PushReport {
    fn count_delivered(&mut self, document: &Document) {
        *self
            .delivered
            .entry(document.glpi.itemtype.as_str())
            .or_default() += 1;
    }

    /// Takes note of how `document` ended; returns it if GLPI accepted it.
    fn note(&mut self, document: &Document, outcome: &Outcome) -> Option<Delivered> {
        let mac = document.mac;
        match outcome {
            Outcome::Delivered => {
                self.count_delivered(document);
                return Some(Delivered {
                    mac,
                    digest: document.digest,
                    itemtype: document.glpi.itemtype,
                });
            }
            Outcome::Refused { status, message } => {
                self.refused += 1;
                tracing::warn!(%mac, status, %message, "GLPI refused a device's document; it is tried again at the next push");
            }
            Outcome::GaveUp { reason } => {
                self.failed += 1;
                tracing::warn!(%mac, %reason, "a device's document could not be delivered; it is tried again at the next push");
            }
            Outcome::Fatal { message } => {
                self.failed += 1;
                self.stopped = Some(message.clone());
            }
        }
        None
    }
}

/// One page's documents delivered a few at a time.
struct Deliveries<'a> {
    client: &'a GlpiClient,
    policy: RetryPolicy,
    concurrency: usize,
    shutdown: &'a CancellationToken,
}

impl Deliveries<'_> {
    /// Delivers `documents` until done or the breaker opens (documents still in flight are
    /// dropped: not recorded, so sent again next time); returns those GLPI accepted.
    async fn run(
        &self,
        documents: &[Document],
        breaker: &mut Breaker,
        report: &mut PushReport,
    ) -> Vec<Delivered> {
        let pending: Vec<_> = documents
            .iter()
            .map(|document| deliver(self.client, document, &self.policy, self.shutdown))
            .collect();
        let mut outcomes = futures::stream::iter(pending).buffer_unordered(self.concurrency.max(1));
        let mut delivered = Vec::new();
        while let Some((document, outcome)) = outcomes.next().await {
            let metrics = self.client.metrics();
            match &outcome {
                Outcome::Delivered => metrics.document_delivered(),
                Outcome::Refused { .. } => metrics.document_refused(),
                Outcome::GaveUp { .. } | Outcome::Fatal { .. } => metrics.document_failed(),
            }
            delivered.extend(report.note(document, &outcome));
            if breaker.record(&self.policy, &outcome) {
                if report.stopped.is_none() {
                    let last = match &outcome {
                        Outcome::GaveUp { reason } => reason.as_str(),
                        _ => "",
                    };
                    report.stopped = Some(format!(
                        "{} documents in a row could not be delivered (last: {last}); GLPI looks unreachable",
                        self.policy.give_up_after
                    ));
                }
                break;
            }
        }
        delivered
    }
}

/// How long after start the first scheduled push comes: the collector is serving by then, and
/// an operator who just configured `[glpi]` sees the result without waiting an interval.
pub const FIRST_PUSH_AFTER: Duration = Duration::from_secs(10);

/// Pushes the changed devices every `interval` until `shutdown`; a failed push is logged and
/// the next one comes at its time. The first comes [`FIRST_PUSH_AFTER`] start.
pub async fn run_scheduled(
    database: std::path::PathBuf,
    settings: GlpiSettings,
    interval: Duration,
    shutdown: CancellationToken,
    metrics: GlpiMetrics,
) {
    let client = match super::agent_id::load_or_create(&settings.agent_id_file)
        .and_then(|id| GlpiClient::new(&settings, &id.to_string()))
    {
        Ok(client) => client.with_metrics(metrics.clone()),
        Err(error) => {
            tracing::error!(error = %hygie_proto::error_chain(&error), "the scheduled GLPI push cannot start; fix [glpi] and restart the collector");
            return;
        }
    };
    let mut wait = interval.min(FIRST_PUSH_AFTER);
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
        wait = interval;
        let started = std::time::Instant::now();
        match push(
            &database,
            &settings,
            Mode::Changed,
            Target::Glpi(&client),
            &shutdown,
            Timestamp::now,
        )
        .await
        {
            Ok(report) if report.is_complete() => {
                metrics.push_ended(Some(true), Timestamp::now());
                tracing::info!(took = ?started.elapsed(), "GLPI push: {report}");
            }
            Ok(report) => {
                metrics.push_ended(Some(false), Timestamp::now());
                tracing::warn!(took = ?started.elapsed(), "GLPI push: {report}");
            }
            Err(error) => {
                metrics.push_ended(None, Timestamp::now());
                tracing::warn!(error = %hygie_proto::error_chain(&error), "GLPI push failed; the next one runs at its time");
            }
        }
    }
}

#[cfg(test)]
mod tests;
