//! The read side of the command line: what `assets`, `asset`, `classify --explain`, `events`
//! and `export` compute from a store, with the site's rules and flag windows. Rendering is left
//! to [`crate::report`] and [`crate::export`]; time is passed in.

use std::collections::HashMap;
use std::net::IpAddr;

use hygie_proto::MacAddr;
use jiff::Timestamp;
use serde::Serialize;

use crate::audit::Event;
use crate::classify::{self, Classification, Rules, RulesError};
use crate::export::SnapshotInput;
use crate::inventory::Inventory;
use crate::inventory::flags::FlagRules;
use crate::registry::RegistryEntry;
use crate::store::{AgentRecord, EventFilter, InventoryReader, StoreError};
use crate::views::{self, AssetView, Filter, ViewContext};

/// Why a read command failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("classification rules")]
    Rules(#[from] RulesError),
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

/// A store, read with the site's rules and flag windows.
#[derive(Debug)]
pub struct Query<R> {
    store: R,
    rules: Rules,
    flag_rules: FlagRules,
}

impl<R: InventoryReader> Query<R> {
    /// Reads `store` with `rules` and `flag_rules`.
    pub fn new(store: R, rules: Rules, flag_rules: FlagRules) -> Self {
        Query {
            store,
            rules,
            flag_rules,
        }
    }

    /// The store.
    pub fn store(&self) -> &R {
        &self.store
    }

    fn context(&self, now: Timestamp) -> ViewContext<'_> {
        ViewContext {
            rules: &self.rules,
            flag_rules: &self.flag_rules,
            now,
        }
    }

    fn registry_map(&self) -> Result<HashMap<MacAddr, RegistryEntry>, QueryError> {
        Ok(self
            .store
            .registry()?
            .into_iter()
            .map(|entry| (entry.mac, entry))
            .collect())
    }

    /// Every asset and registered device passing `filter`, sorted by MAC.
    pub fn views(&self, filter: &Filter, now: Timestamp) -> Result<Vec<AssetView>, QueryError> {
        self.store.consistent(|_| self.views_now(filter, now))?
    }

    fn views_now(&self, filter: &Filter, now: Timestamp) -> Result<Vec<AssetView>, QueryError> {
        let mut views = views::asset_views(
            &self.store.inventory()?,
            &self.registry_map()?,
            &self.store.agents()?,
            &self.context(now),
        );
        views.retain(|view| filter.accepts(view));
        Ok(views)
    }

    /// The page of one device; `None` if it was never seen nor registered.
    pub fn asset_page(
        &self,
        mac: MacAddr,
        now: Timestamp,
        recent: usize,
    ) -> Result<Option<AssetPage>, QueryError> {
        self.store
            .consistent(|_| self.asset_page_now(mac, now, recent))?
    }

    fn asset_page_now(
        &self,
        mac: MacAddr,
        now: Timestamp,
        recent: usize,
    ) -> Result<Option<AssetPage>, QueryError> {
        let inventory = self.store.inventory()?;
        let agents = self.store.agents()?;
        let Some(view) = views::asset_view(
            mac,
            &inventory,
            &self.registry_map()?,
            &agents,
            &self.context(now),
        ) else {
            return Ok(None);
        };
        let names = views::agent_names(&agents);
        let (addresses, hostname_history) = seen_facts(&inventory, mac);
        let history = self
            .store
            .history(mac, recent)?
            .into_iter()
            .map(|row| HistoryEntry {
                seen_at: row.seen_at,
                agent: names
                    .get(&row.agent_id)
                    .cloned()
                    .unwrap_or_else(|| format!("agent#{}", row.agent_id)),
                source: row.source,
                interface: row.interface,
                ips: row.ips,
                hostname: row.hostname,
            })
            .collect();
        let events = self.store.events(&EventFilter {
            mac: Some(mac),
            limit: Some(recent),
            ..EventFilter::default()
        })?;
        Ok(Some(AssetPage {
            vendor_block: match classify::vendor::lookup(mac) {
                classify::VendorLookup::Registered(vendor) => Some(vendor.prefix),
                _ => None,
            },
            view,
            addresses,
            hostname_history,
            history,
            events,
        }))
    }

    /// How `mac` is classified, with the registry's declaration applied. A MAC never seen is
    /// classified on its vendor alone.
    pub fn classification(&self, mac: MacAddr) -> Result<Classification, QueryError> {
        let declared = self
            .store
            .registry()?
            .into_iter()
            .find(|entry| entry.mac == mac)
            .and_then(|entry| entry.fields.category);
        let inventory = self.store.inventory()?;
        let classification = match inventory.get(&mac) {
            Some(asset) => classify::classify(&asset.facts(), &self.rules),
            None => classify::classify(&classify::Facts::mac_only(mac), &self.rules),
        };
        Ok(classification.with_declared(declared))
    }

    /// What a snapshot of the whole inventory holds at `now`.
    pub fn snapshot(&self, now: Timestamp, hostname: String) -> Result<SnapshotInput, QueryError> {
        self.store.consistent(|store| {
            // One moment: the chain head covers exactly the changes the assets reflect.
            let events_head = store.event_head()?;
            let assets = self.views_now(&Filter::default(), now)?;
            Ok(SnapshotInput {
                counts: views::counts(&assets),
                assets,
                events_head,
                taken_at: now,
                hostname,
                reconstruction: None,
            })
        })?
    }

    /// Every agent.
    pub fn agents(&self) -> Result<Vec<AgentRecord>, QueryError> {
        Ok(self.store.agents()?)
    }
}

/// Addresses and host names of `mac`, most recently seen first.
fn seen_facts(
    inventory: &Inventory,
    mac: MacAddr,
) -> (Vec<SeenFact<IpAddr>>, Vec<SeenFact<String>>) {
    let Some(asset) = inventory.get(&mac) else {
        return (Vec::new(), Vec::new());
    };
    let mut addresses: Vec<SeenFact<IpAddr>> = asset
        .addresses
        .iter()
        .map(|(ip, seen)| SeenFact {
            value: *ip,
            first_seen: seen.first,
            last_seen: seen.last,
        })
        .collect();
    addresses.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.value.cmp(&b.value)));
    let mut hostnames: Vec<SeenFact<String>> = asset
        .hostnames
        .iter()
        .map(|(name, seen)| SeenFact {
            value: name.clone(),
            first_seen: seen.first,
            last_seen: seen.last,
        })
        .collect();
    hostnames.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.value.cmp(&b.value)));
    (addresses, hostnames)
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
