//! The read side of the command line: what `assets`, `asset`, `classify --explain`, `events`
//! and `export` read, through the one read port ([`InventoryReader`]). Nothing here
//! classifies the inventory or computes flags: the writer stored its verdicts with the assets.
//! Rendering is left to [`crate::report`] and [`crate::export`]; time is passed in.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use hygie_proto::MacAddr;
use jiff::Timestamp;
use serde::Serialize;

use crate::audit::Event;
use crate::classify::{self, Classification, Rules, RulesError};
use crate::export::SnapshotMeta;
use crate::inventory::AgentId;
use crate::store::listing::{Filter, Listing, Page, VerdictStatus};
use crate::store::{AgentRecord, EventFilter, HistoryRow, InventoryReader, StoreError};
use crate::views::{self, AssetView};

/// Why a read command failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("classification rules")]
    Rules(#[from] RulesError),
    #[error("cannot write the output")]
    Write(#[from] io::Error),
}

/// When one address or host name of an asset was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeenFact<T> {
    /// The address or name.
    pub value: T,
    /// First seen.
    pub first_seen: Timestamp,
    /// Last seen.
    pub last_seen: Timestamp,
}

/// One stored observation, with the name of the agent that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// When the device was seen.
    pub seen_at: Timestamp,
    /// `site/name` of the reporting agent.
    pub agent: String,
    /// How (`arp_passive`, `mdns`, ...).
    pub source: String,
    /// Agent interface.
    pub interface: String,
    /// Addresses it carried.
    pub ips: Vec<IpAddr>,
    /// Host name it carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

impl HistoryEntry {
    /// A stored row, its agent named `site/name` (`agent#ID` for one no longer known).
    pub fn named(row: HistoryRow, names: &HashMap<AgentId, String>) -> Self {
        HistoryEntry {
            seen_at: row.seen_at,
            agent: names
                .get(&row.agent_id)
                .cloned()
                .unwrap_or_else(|| format!("agent#{}", row.agent_id)),
            source: row.source,
            interface: row.interface,
            ips: row.ips,
            hostname: row.hostname,
        }
    }
}

/// Everything `hygie-collector asset MAC` shows.
#[derive(Debug, Clone, Serialize)]
pub struct AssetPage {
    /// The asset as every listing shows it.
    #[serde(flatten)]
    pub view: AssetView,
    /// The IEEE block the vendor was found in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_block: Option<String>,
    /// Each address, with when it was seen.
    pub addresses: Vec<SeenFact<IpAddr>>,
    /// Each host name, with when it was seen.
    pub hostname_history: Vec<SeenFact<String>>,
    /// The most recent observations, newest first.
    pub history: Vec<HistoryEntry>,
    /// The most recent events about the asset, oldest first.
    pub events: Vec<Event>,
}

/// Where a snapshot's rows go, as they are read.
pub trait SnapshotSink {
    /// Called once, before the rows, with what the header says.
    fn begin(&mut self, meta: &SnapshotMeta) -> io::Result<()>;
    /// Called for each row, in MAC order.
    fn row(&mut self, view: AssetView) -> io::Result<()>;
}

/// A store, read through its port. The rules serve only `classify --explain` of a MAC that has
/// no stored verdict (classified on its vendor alone), so they are loaded only then: loading
/// them costs more than reading one asset.
#[derive(Debug)]
pub struct Query<R> {
    store: R,
    /// The site's rules file, if any (`[classification] rules`).
    rules_path: Option<PathBuf>,
    rules: OnceCell<Rules>,
}

impl<R: InventoryReader> Query<R> {
    /// Reads `store`; `rules_path` is the site's rules file, loaded if ever needed.
    pub fn new(store: R, rules_path: Option<PathBuf>) -> Self {
        Query {
            store,
            rules_path,
            rules: OnceCell::new(),
        }
    }

    fn rules(&self) -> Result<&Rules, QueryError> {
        if let Some(rules) = self.rules.get() {
            return Ok(rules);
        }
        let rules = Rules::load(self.rules_path.as_deref())?;
        Ok(self.rules.get_or_init(|| rules))
    }

    /// The store.
    pub fn store(&self) -> &R {
        &self.store
    }

    /// Hands each device of `listing` to `each`, in MAC order (see
    /// [`crate::store::listing`]).
    pub fn list(
        &self,
        listing: &Listing,
        each: &mut dyn FnMut(AssetView) -> bool,
    ) -> Result<Page, QueryError> {
        Ok(self.store.consistent(|store| store.list(listing, each))??)
    }

    /// Every device passing `filter`, in memory: for small listings and tests.
    pub fn views(&self, filter: &Filter) -> Result<Vec<AssetView>, QueryError> {
        let mut views = Vec::new();
        self.list(
            &Listing {
                filter: filter.clone(),
                ..Listing::default()
            },
            &mut |view| {
                views.push(view);
                true
            },
        )?;
        Ok(views)
    }

    /// How many devices pass `filter`.
    pub fn count(&self, filter: &Filter) -> Result<u64, QueryError> {
        Ok(self.store.count(filter)?)
    }

    /// Whether the stored verdicts are current.
    pub fn verdict_status(&self) -> Result<VerdictStatus, QueryError> {
        Ok(self.store.verdict_status()?)
    }

    /// The page of one device; `None` if it was never seen nor registered.
    pub fn asset_page(&self, mac: MacAddr, recent: usize) -> Result<Option<AssetPage>, QueryError> {
        self.store
            .consistent(|store| asset_page(store, mac, recent))?
    }

    /// How `mac` is classified, as the writer stored it. A MAC without a verdict (never seen
    /// nor registered) is classified on its vendor alone.
    pub fn classification(&self, mac: MacAddr) -> Result<Classification, QueryError> {
        if let Some(stored) = self.store.classification(mac)? {
            return Ok(stored);
        }
        let declared = self
            .store
            .registry_entry(mac)?
            .and_then(|entry| entry.fields.category);
        Ok(
            classify::classify(&classify::Facts::mac_only(mac), self.rules()?)
                .with_declared(declared),
        )
    }

    /// Streams a snapshot of every device at `now` into `sink`: the header's counts and the
    /// rows come from one state of the database.
    pub fn snapshot(
        &self,
        now: Timestamp,
        hostname: String,
        sink: &mut dyn SnapshotSink,
    ) -> Result<SnapshotMeta, QueryError> {
        self.store.consistent(|store| {
            let meta = SnapshotMeta {
                counts: store.counts()?,
                events_head: store.event_head()?,
                taken_at: now,
                hostname,
                reconstruction: None,
            };
            sink.begin(&meta)?;
            let mut failed = None;
            store.list(&Listing::default(), &mut |view| match sink.row(view) {
                Ok(()) => true,
                Err(error) => {
                    failed = Some(error);
                    false
                }
            })?;
            match failed {
                Some(error) => Err(QueryError::Write(error)),
                None => Ok(meta),
            }
        })?
    }

    /// Every agent.
    pub fn agents(&self) -> Result<Vec<AgentRecord>, QueryError> {
        Ok(self.store.agents()?)
    }
}

fn asset_page<R: InventoryReader>(
    store: &R,
    mac: MacAddr,
    recent: usize,
) -> Result<Option<AssetPage>, QueryError> {
    let Some(view) = store.asset(mac)? else {
        return Ok(None);
    };
    let names = views::agent_names(&store.agents()?);
    let facts = store.seen_facts(mac)?;
    let history = store
        .history(mac, recent)?
        .into_iter()
        .map(|row| HistoryEntry::named(row, &names))
        .collect();
    let events = store.events(&EventFilter {
        mac: Some(mac),
        limit: Some(recent),
        ..EventFilter::default()
    })?;
    Ok(Some(AssetPage {
        vendor_block: store
            .classification(mac)?
            .and_then(|classification| classification.vendor)
            .map(|vendor| vendor.prefix),
        view,
        addresses: facts.addresses.into_iter().map(seen_fact).collect(),
        hostname_history: facts.hostnames.into_iter().map(seen_fact).collect(),
        history,
        events,
    }))
}

fn seen_fact<T>((value, seen): (T, crate::inventory::Seen)) -> SeenFact<T> {
    SeenFact {
        value,
        first_seen: seen.first(),
        last_seen: seen.last(),
    }
}

/// Parses `--since`: an RFC 3339 time (`2026-11-01T08:00:00Z`), a date (`2026-11-01`, midnight
/// UTC), or a span back from `now` (`24h`, `7days`).
pub fn parse_since(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|zoned| zoned.timestamp())
            .map_err(|error| error.to_string());
    }
    if let Ok(span) = humantime::parse_duration(text) {
        let span = jiff::SignedDuration::try_from(span).map_err(|error| error.to_string())?;
        return now
            .checked_sub(span)
            .map_err(|_| format!("{text} reaches back before any representable time"));
    }
    Err(format!(
        "{text:?} is neither a time (2026-11-01T08:00:00Z), a date (2026-11-01) nor a span back from now (24h, 7days)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_dates_and_spans() {
        let now: Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_since("2026-11-01T08:00:00Z", now).unwrap(),
            "2026-11-01T08:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_since("2026-11-01", now).unwrap(),
            "2026-11-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_since("24h", now).unwrap(),
            "2026-11-24T12:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_since("7days", now).unwrap(),
            "2026-11-18T12:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert!(parse_since("last tuesday", now).is_err());
    }
}
