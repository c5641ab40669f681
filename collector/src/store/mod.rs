//! Persistence of the inventory, behind two traits.
//!
//! [`InventoryWriter`] is implemented by the single writer's connection: it loads the inventory
//! at start-up and persists each group commit in one transaction, verdicts included.
//! [`InventoryReader`] is the one read port: the command line, exports (and later the web
//! console and the API) read through it only, each on its own read-only connection. It hands
//! out stored verdicts and never classifies; its listings are paged and filtered in SQL and
//! streamed row by row ([`listing`]). The SQLite implementation lives in [`sqlite`]; its schema
//! evolves through append-only migrations ([`schema`]).

pub mod backup;
pub mod listing;
pub mod schema;
pub mod sqlite;

use std::collections::HashMap;
use std::path::PathBuf;

use hygie_proto::{AgentHello, AgentInterface, Observation, OutboxId};
use jiff::Timestamp;

use crate::audit::{ChainBreak, ChainHead, Event, Hash, NewEvent, Seal};
use crate::classify::Classification;
use crate::identity::AgentIdentity;
use crate::inventory::flags::{FlagRules, FlagSet};
use crate::inventory::verdict::{Verdict, VerdictState};
use crate::inventory::{AgentId, Dirty, Inventory};
use crate::policy::{DeviceRow, Override, OverrideSnapshot, SitePolicy, SiteRecord};
use crate::registry::RegistryEntry;
use crate::views::{AssetView, Counts};
use listing::{Filter, Listing, Page, VerdictStatus};

pub use sqlite::{
    Durability, IssueOutcome, OverrideChange, OverrideOutcome, RegistryChange, RevokeOutcome,
    RevokeTarget, SqliteStore, Timeline, TimelineBucket, UserRecord,
};

/// Everything that can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the inventory database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the inventory database {path} has schema version {found}, newer than this collector knows ({known}); upgrade hygie-collector"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error("migration to schema version {version} failed")]
    Migration {
        version: usize,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database error while {context}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
    #[error("{0} is not in the registry")]
    NotRegistered(hygie_proto::MacAddr),
    #[error("no operator decision is recorded for {0} (see `policy show`)")]
    NoOverride(hygie_proto::MacAddr),
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    #[error("no certificate with serial {0} was issued by this collector (see `ca list`)")]
    UnknownSerial(String),
    #[error("no certificate of agent {name}{} is in force (see `ca list`)", site.as_ref().map(|site| format!(" at site {site}")).unwrap_or_default())]
    NoCertificateInForce { name: String, site: Option<String> },
    #[error("there is already a console user named {0} (change the password with `user passwd`)")]
    UserExists(String),
    #[error("no console user is named {0} (see `user list`)")]
    UnknownUser(String),
    #[error(transparent)]
    CursorOrder(#[from] listing::CursorOrder),
    #[error("agents named {name} exist at several sites ({}): give --site", sites.join(", "))]
    AmbiguousAgent { name: String, sites: Vec<String> },
}

impl StoreError {
    pub(crate) fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |source| StoreError::Sqlite { context, source }
    }
}

/// One observation to append to the history, as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct HistoryEntry<'a> {
    /// The agent that sent it.
    pub agent: AgentId,
    /// When the collector received it.
    pub received_at: Timestamp,
    /// The observation itself.
    pub observation: &'a Observation,
}

/// The committed batch sequences of one agent outbox (see [`crate::cursor`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxCursor {
    /// The agent.
    pub agent: AgentId,
    /// The agent's outbox.
    pub outbox: OutboxId,
    /// Highest committed sequence.
    pub sequence: u64,
    /// Never-committed ranges below it, in [`crate::cursor::CommittedSequences`]'s stored form.
    pub gaps: String,
}

/// What one group commit persists, atomically.
#[derive(Debug)]
pub struct Commit<'a> {
    /// The inventory after merging, the source of the values of `dirty` rows.
    pub inventory: &'a Inventory,
    /// Rows the merge changed.
    pub dirty: &'a Dirty,
    /// Observations to append to the history.
    pub history: &'a [HistoryEntry<'a>],
    /// New outbox cursors: a batch they hold as committed is never applied again.
    pub cursors: &'a [OutboxCursor],
    /// Events to append to the chain.
    pub events: &'a [NewEvent],
    /// New flags of registered devices never seen.
    pub unseen_flags: &'a [(hygie_proto::MacAddr, FlagSet)],
    /// Scan policy devices that changed (their events are among `events`).
    pub policy_devices: &'a [DeviceRow],
    /// Sites whose scan policy changed, with their new versions.
    pub policy_sites: &'a [SiteRecord],
    /// Verdicts to store (new or changed).
    pub verdicts: &'a [Verdict],
    /// Devices no longer listed (a registry entry removed before the device was seen).
    pub verdicts_removed: &'a [hygie_proto::MacAddr],
    /// What the stored verdicts are now computed with, when that changed.
    pub verdict_state: Option<&'a VerdictState>,
    /// Time of the commit.
    pub now: Timestamp,
}

/// One site's scan policy as the collector last published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPolicy {
    /// The site.
    pub site: String,
    /// Its policy.
    pub policy: SitePolicy,
    /// Whether its agents were told to probe nothing (too large to send).
    pub passive_only: bool,
    /// When it was published.
    pub published_at: Timestamp,
}

/// The registry as the writer holds it.
#[derive(Debug, Clone, Default)]
pub struct RegistrySnapshot {
    /// Entries by MAC.
    pub entries: HashMap<hygie_proto::MacAddr, RegistryEntry>,
    /// Stored flags of entries never seen.
    pub unseen_flags: HashMap<hygie_proto::MacAddr, FlagSet>,
    /// Changes whenever the registry changes.
    pub generation: i64,
}

/// Most history rows one pruning pass deletes, so a large backlog never stalls ingest for long.
pub const PRUNE_SLICE: u64 = 10_000;

/// How much observation history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Most rows kept.
    pub max_rows: u64,
    /// Rows received longer ago than this are deleted.
    pub max_age: jiff::SignedDuration,
}

/// The write side of the inventory: used by the single ingest writer only.
pub trait InventoryWriter {
    /// Loads every asset, for the writer's in-memory inventory.
    fn load_inventory(&self) -> Result<Inventory, StoreError>;
    /// Loads the outbox cursors that make ingest idempotent.
    fn load_cursors(
        &self,
    ) -> Result<HashMap<(AgentId, OutboxId), crate::cursor::CommittedSequences>, StoreError>;
    /// Every registered agent's site.
    fn agent_sites(&self) -> Result<HashMap<AgentId, String>, StoreError>;
    /// Records (or refreshes) an agent that said Hello; returns its id.
    fn register_agent(
        &mut self,
        identity: &AgentIdentity,
        hello: &AgentHello,
        now: Timestamp,
    ) -> Result<AgentId, StoreError>;
    /// Persists one group commit in a single transaction: all of it or nothing.
    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), StoreError>;
    /// Loads the registry.
    fn load_registry(&self) -> Result<RegistrySnapshot, StoreError>;
    /// The registry's current generation (cheap: checked on every tick).
    fn registry_generation(&self) -> Result<i64, StoreError>;
    /// Every site's scan policy as last published.
    fn load_policies(&self) -> Result<Vec<PublishedPolicy>, StoreError>;
    /// Operators' decisions.
    fn load_overrides(&self) -> Result<OverrideSnapshot, StoreError>;
    /// The decisions' current generation (cheap: checked on every tick).
    fn override_generation(&self) -> Result<i64, StoreError>;
    /// What the stored verdicts were computed with.
    fn verdict_state(&self) -> Result<VerdictState, StoreError>;
    /// Deletes at most [`PRUNE_SLICE`] rows of history beyond the retention bounds, oldest
    /// first; returns the number deleted.
    fn prune_history(&mut self, retention: Retention, now: Timestamp) -> Result<u64, StoreError>;
}

/// A registered agent, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentRecord {
    /// Database id.
    pub id: AgentId,
    /// Name from its certificate.
    pub name: String,
    /// Site from its certificate.
    pub site: String,
    /// Host name from its last Hello.
    pub hostname: String,
    /// Software version from its last Hello.
    pub version: String,
    /// Interfaces from its last Hello.
    pub interfaces: Vec<AgentInterface>,
    /// First Hello.
    pub first_connected: Timestamp,
    /// Latest Hello.
    pub last_connected: Timestamp,
}

/// The read side of the inventory: the one port every reader uses. Reads return stored
/// verdicts (classification, flags) as the writer computed them; none classifies or loads the
/// whole inventory.
pub trait InventoryReader {
    /// One device, seen or only registered; `None` if it is neither (or has no verdict yet).
    fn asset(&self, mac: hygie_proto::MacAddr) -> Result<Option<AssetView>, StoreError>;
    /// Whether an agent has seen this device.
    fn seen(&self, mac: hygie_proto::MacAddr) -> Result<bool, StoreError>;
    /// The stored classification of one device, with its evidence.
    fn classification(
        &self,
        mac: hygie_proto::MacAddr,
    ) -> Result<Option<Classification>, StoreError>;
    /// When each address and host name of one asset was seen, most recently seen first.
    fn seen_facts(&self, mac: hygie_proto::MacAddr) -> Result<SeenFacts, StoreError>;
    /// Hands each device of `listing` to `each` in MAC order, until `each` returns false or
    /// the page is full (see [`listing`] for the paging invariants).
    fn list(
        &self,
        listing: &Listing,
        each: &mut dyn FnMut(AssetView) -> bool,
    ) -> Result<Page, StoreError>;
    /// How many devices pass `filter`.
    fn count(&self, filter: &Filter) -> Result<u64, StoreError>;
    /// Counts per category, flag and site over every listed device.
    fn counts(&self) -> Result<Counts, StoreError>;
    /// Whether the stored verdicts are current, or show previous ones.
    fn verdict_status(&self) -> Result<VerdictStatus, StoreError>;
    /// Every registered agent.
    fn agents(&self) -> Result<Vec<AgentRecord>, StoreError>;
    /// When each agent's last batch was committed (its last report), by agent id.
    fn last_reports(&self) -> Result<HashMap<AgentId, Timestamp>, StoreError>;
    /// Number of observations in the history.
    fn history_len(&self) -> Result<u64, StoreError>;
    /// Every registry entry, by MAC.
    fn registry(&self) -> Result<Vec<RegistryEntry>, StoreError>;
    /// The registry entry of one device.
    fn registry_entry(
        &self,
        mac: hygie_proto::MacAddr,
    ) -> Result<Option<RegistryEntry>, StoreError>;
    /// Events matching `filter`, oldest first.
    fn events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError>;
    /// The event numbered `id`.
    fn event(&self, id: i64) -> Result<Option<Event>, StoreError>;
    /// Hands each event with an id in `first..=last` to `each`, in id order.
    fn events_range(
        &self,
        first: i64,
        last: i64,
        each: &mut dyn FnMut(Event),
    ) -> Result<(), StoreError>;
    /// The last event's id and hash (0 and the genesis hash when there is none).
    fn event_head(&self) -> Result<(i64, Hash), StoreError>;
    /// The signed seal of the chain's head, if any.
    fn events_seal(&self) -> Result<Option<Seal>, StoreError>;
    /// Checks the whole event chain, reading one event at a time; the error names the first
    /// bad row.
    fn verify_events(&self) -> Result<Result<ChainHead, ChainBreak>, StoreError>;
    /// The flag rules the running collector published, if it ever ran on this database.
    fn flag_settings(&self) -> Result<Option<FlagRules>, StoreError>;
    /// Every site's scan policy as the collector last published it, by site.
    fn policies(&self) -> Result<Vec<PublishedPolicy>, StoreError>;
    /// Operators' decisions about probing, by MAC.
    fn overrides(&self) -> Result<Vec<Override>, StoreError>;
    /// Runs `read` with all its queries seeing one state of the database, even if a writer
    /// commits meanwhile (a snapshot must not mix two moments).
    fn consistent<T>(&self, read: impl FnOnce(&Self) -> T) -> Result<T, StoreError>
    where
        Self: Sized;
    /// Assets first seen, and `unmanaged` raised and cleared, per bucket of `width` from
    /// `start`: one indexed count per kind over the window's events.
    fn timeline(
        &self,
        start: Timestamp,
        width: jiff::SignedDuration,
        buckets: usize,
    ) -> Result<Timeline, StoreError>;
    /// The most recent observations of one asset, newest first.
    fn history(
        &self,
        mac: hygie_proto::MacAddr,
        limit: usize,
    ) -> Result<Vec<HistoryRow>, StoreError>;
}

/// When each address and host name of one asset was seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenFacts {
    /// Addresses with first and last sighting, most recently seen first.
    pub addresses: Vec<(std::net::IpAddr, crate::inventory::Seen)>,
    /// Host names likewise.
    pub hostnames: Vec<(String, crate::inventory::Seen)>,
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Recorded at or after this time.
    pub since: Option<Timestamp>,
    /// About this asset.
    pub mac: Option<hygie_proto::MacAddr>,
    /// At most this many (the most recent ones).
    pub limit: Option<usize>,
}

/// One stored observation, as the asset view shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryRow {
    /// When the device was seen.
    pub seen_at: Timestamp,
    /// When the collector received it.
    pub received_at: Timestamp,
    /// Reporting agent's id.
    pub agent_id: AgentId,
    /// How.
    pub source: String,
    /// On which agent interface.
    pub interface: String,
    /// Addresses it carried.
    pub ips: Vec<std::net::IpAddr>,
    /// Host name it carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}
