//! Pushes to GLPI, the asset manager most French public hospitals run, through its native
//! inventory protocol: one JSON document per device (glpi-project/inventory_format), posted to
//! `front/inventory.php` as a GLPI agent's network discovery would be.
//!
//! The data's way: read port ([`crate::store::InventoryReader`], page by page) → [`document`]
//! (pure: view → JSON) → [`push`] (changed ones only, a few in flight) → [`client`] (HTTP,
//! [`oauth`]) → GLPI; [`retry`] decides what a reply means for the document, [`sent`] remembers
//! what GLPI accepted. `hygie-collector glpi push` runs one push; `serve` runs one every
//! `[glpi] interval`.
//!
//! Invariants (tests in `glpi/tests.rs` and `tests/e2e/glpi.rs` are named after them):
//! 1. Every document validates against GLPI's inventory schema, whatever the device sent.
//! 2. One document per device, keyed by its MAC: the document's `deviceid` and its network
//!    port are the MAC's, so GLPI's import rules (MAC, then serial and name) find the item a
//!    previous push made, and sending again updates it rather than adding one.
//! 3. A digest is recorded only once GLPI answered `{"status": "ok"}` for exactly those bytes,
//!    so a device is skipped only while GLPI holds what would be sent; `--full` sends all.
//! 4. A push holds one page of devices in memory, whatever the inventory's size.
//! 5. Device-supplied text reaches GLPI neutralised as in the CSV snapshot
//!    ([`crate::safe::record_field`]).
//!
//! Retries and when a push stops: [`retry`]'s invariants.

pub mod agent_id;
pub mod client;
pub mod document;
pub mod mapping;
pub mod oauth;
pub mod push;
pub mod retry;
pub mod sent;
pub mod settings;

use std::path::PathBuf;

pub use client::GlpiClient;
pub use document::{Document, DocumentContext};
pub use mapping::{GlpiType, ItemType, NetworkType};
pub use push::{Mode, PushReport, Target, push, run_scheduled};
pub use settings::{GlpiSettings, OAuthSettings, Selection};

/// Why a push could not run.
#[derive(Debug, thiserror::Error)]
pub enum GlpiError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Sent(#[from] sent::SentError),
    #[error("cannot set up TLS for GLPI ([glpi] ca_cert)")]
    Trust(#[source] crate::http_client::TrustError),
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} does not hold a GLPI agent id (a UUID): delete it and a new one is made")]
    AgentId { path: PathBuf },
    #[error("cannot read the GLPI OAuth secret file {path}")]
    Secret {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the GLPI OAuth secret file {path} is empty: put the OAuth client's secret on its first line"
    )]
    EmptySecret { path: PathBuf },
    #[error("cannot write the dry run's documents")]
    DryRun(#[source] std::io::Error),
    #[error("the push's worker failed: {0}")]
    Task(String),
}

/// Spawns the scheduled push when `[glpi] interval` is set, counting into `metrics`; it stops
/// with `shutdown`.
pub fn spawn_scheduled(
    config: &crate::config::CollectorConfig,
    shutdown: &tokio_util::sync::CancellationToken,
    metrics: crate::metrics::GlpiMetrics,
) -> Option<tokio::task::JoinHandle<()>> {
    let settings = config.glpi.clone()?;
    let interval = settings.interval?;
    tracing::info!(url = %settings.url, every = ?interval, "pushing changed devices to GLPI");
    Some(tokio::spawn(run_scheduled(
        config.database.clone(),
        settings,
        interval,
        shutdown.clone(),
        metrics,
    )))
}

#[cfg(test)]
pub(crate) mod tests;
