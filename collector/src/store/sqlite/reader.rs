//! The read port ([`InventoryReader`]) on SQLite: each method one or a few indexed queries.

use hygie_proto::MacAddr;
use rusqlite::{OptionalExtension, params};

use super::{
    RowError, SqliteStore, events, for_each_row, from_micros, listing, mac_key, policy, registry,
};
use crate::audit::{ChainBreak, ChainHead, Event, Hash, Seal};
use crate::classify::Classification;
use crate::inventory::Seen;
use crate::inventory::flags::FlagRules;
use crate::registry::RegistryEntry;
use crate::store::listing::{Filter, Listing, Page, VerdictStatus};
use crate::store::{AgentRecord, EventFilter, HistoryRow, InventoryReader, SeenFacts, StoreError};
use crate::views::{AssetView, Counts};

impl InventoryReader for SqliteStore {
    fn consistent<T>(&self, read: impl FnOnce(&Self) -> T) -> Result<T, StoreError> {
        // A deferred transaction: its first read fixes the WAL snapshot all later reads see.
        self.connection
            .execute_batch("BEGIN DEFERRED")
            .map_err(StoreError::sqlite("starting a read"))?;
        let result = read(self);
        self.connection
            .execute_batch("COMMIT")
            .map_err(StoreError::sqlite("ending a read"))?;
        Ok(result)
    }

    fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let mut agents = Vec::new();
        for_each_row(
            &self.connection,
            "SELECT id, name, site, hostname, version, interfaces, first_connected,
                    last_connected
             FROM agents ORDER BY site, name",
            "loading agents",
            |row| {
                let interfaces: String = row.get(5)?;
                agents.push(AgentRecord {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    site: row.get(2)?,
                    hostname: row.get(3)?,
                    version: row.get(4)?,
                    interfaces: serde_json::from_str(&interfaces).unwrap_or_default(),
                    first_connected: from_micros(row.get(6)?)?,
                    last_connected: from_micros(row.get(7)?)?,
                });
                Ok(())
            },
        )?;
        Ok(agents)
    }

    fn last_reports(
        &self,
    ) -> Result<std::collections::HashMap<crate::inventory::AgentId, jiff::Timestamp>, StoreError>
    {
        let mut reports = std::collections::HashMap::new();
        for_each_row(
            &self.connection,
            "SELECT agent_id, max(committed_at) FROM outbox_cursors GROUP BY agent_id",
            "reading the agents' last reports",
            |row| {
                reports.insert(row.get(0)?, from_micros(row.get(1)?)?);
                Ok(())
            },
        )?;
        Ok(reports)
    }

    fn registry(&self) -> Result<Vec<RegistryEntry>, StoreError> {
        let mut entries: Vec<RegistryEntry> = registry::load(&self.connection)?
            .entries
            .into_values()
            .collect();
        entries.sort_by_key(|entry| entry.mac);
        Ok(entries)
    }

    fn events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
        events::read(&self.connection, filter)
    }

    fn policies(&self) -> Result<Vec<crate::store::PublishedPolicy>, StoreError> {
        policy::load(&self.connection)
    }

    fn overrides(&self) -> Result<Vec<crate::policy::Override>, StoreError> {
        let mut overrides: Vec<_> = policy::load_overrides(&self.connection)?
            .entries
            .into_values()
            .collect();
        overrides.sort_by_key(|decision| decision.mac);
        Ok(overrides)
    }

    fn event_head(&self) -> Result<(i64, Hash), StoreError> {
        events::head(&self.connection)
    }

    fn event(&self, id: i64) -> Result<Option<Event>, StoreError> {
        events::one(&self.connection, id)
    }

    fn events_range(
        &self,
        first: i64,
        last: i64,
        each: &mut dyn FnMut(Event),
    ) -> Result<(), StoreError> {
        events::range(&self.connection, first, last, each)
    }

    fn events_seal(&self) -> Result<Option<Seal>, StoreError> {
        events::seal(&self.connection)
    }

    fn verify_events(&self) -> Result<Result<ChainHead, ChainBreak>, StoreError> {
        events::verify(&self.connection)
    }

    fn flag_settings(&self) -> Result<Option<FlagRules>, StoreError> {
        self.published_flag_rules()
    }

    fn asset(&self, mac: MacAddr) -> Result<Option<AssetView>, StoreError> {
        listing::one(&self.connection, mac)
    }

    fn seen(&self, mac: MacAddr) -> Result<bool, StoreError> {
        self.connection
            .query_row(
                "SELECT count(*) FROM assets WHERE mac = ?1",
                [mac_key(mac)],
                |row| row.get::<_, i64>(0),
            )
            .map(|count| count > 0)
            .map_err(StoreError::sqlite("looking up an asset"))
    }

    fn classification(&self, mac: MacAddr) -> Result<Option<Classification>, StoreError> {
        listing::classification(&self.connection, mac)
    }

    fn seen_facts(&self, mac: MacAddr) -> Result<SeenFacts, StoreError> {
        seen_facts(&self.connection, mac)
    }

    fn list(
        &self,
        listing: &Listing,
        each: &mut dyn FnMut(AssetView) -> bool,
    ) -> Result<Page, StoreError> {
        listing::list(&self.connection, listing, each)
    }

    fn count(&self, filter: &Filter) -> Result<u64, StoreError> {
        listing::count(&self.connection, filter)
    }

    fn counts(&self) -> Result<Counts, StoreError> {
        listing::counts(&self.connection)
    }

    fn verdict_status(&self) -> Result<VerdictStatus, StoreError> {
        listing::status(&self.connection)
    }

    fn registry_entry(&self, mac: MacAddr) -> Result<Option<RegistryEntry>, StoreError> {
        registry::one(&self.connection, mac)
    }

    fn history(&self, mac: MacAddr, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        let mut rows = Vec::new();
        let mut statement = self
            .connection
            .prepare(
                "SELECT seen_at, received_at, agent_id, source, interface, ips, hostname
                 FROM observations WHERE mac = ?1 ORDER BY seen_at DESC, id DESC LIMIT ?2",
            )
            .map_err(StoreError::sqlite("reading the history"))?;
        let mut result = statement
            .query(params![
                mac_key(mac),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ])
            .map_err(StoreError::sqlite("reading the history"))?;
        while let Some(row) = result
            .next()
            .map_err(StoreError::sqlite("reading the history"))?
        {
            let decode = || -> Result<HistoryRow, RowError> {
                let ips: String = row.get(5)?;
                Ok(HistoryRow {
                    seen_at: from_micros(row.get(0)?)?,
                    received_at: from_micros(row.get(1)?)?,
                    agent_id: row.get(2)?,
                    source: row.get(3)?,
                    interface: row.get(4)?,
                    ips: serde_json::from_str(&ips).unwrap_or_default(),
                    hostname: row.get(6)?,
                })
            };
            rows.push(decode().map_err(|error| error.into_store("reading the history"))?);
        }
        Ok(rows)
    }

    fn timeline(
        &self,
        start: jiff::Timestamp,
        width: jiff::SignedDuration,
        buckets: usize,
    ) -> Result<crate::store::Timeline, StoreError> {
        self.read_timeline(start, width, buckets)
    }

    fn history_len(&self) -> Result<u64, StoreError> {
        self.connection
            .query_row("SELECT count(*) FROM observations", [], |row| {
                row.get::<_, i64>(0)
            })
            .optional()
            .map_err(StoreError::sqlite("counting observations"))
            .and_then(|count| {
                let count = count.unwrap_or(0);
                u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("count {count}")))
            })
    }
}

/// Addresses and host names of one asset with when each was seen, most recent first.
fn seen_facts(connection: &rusqlite::Connection, mac: MacAddr) -> Result<SeenFacts, StoreError> {
    let context = "reading an asset's facts";
    let mut facts = SeenFacts::default();
    let read = |query: &str, each: &mut dyn FnMut(String, Seen) -> Result<(), StoreError>| {
        let mut statement = connection
            .prepare_cached(query)
            .map_err(StoreError::sqlite(context))?;
        let mut rows = statement
            .query([mac_key(mac)])
            .map_err(StoreError::sqlite(context))?;
        while let Some(row) = rows.next().map_err(StoreError::sqlite(context))? {
            let decode = || -> Result<(String, Seen), RowError> {
                Ok((
                    row.get(0)?,
                    Seen::new(from_micros(row.get(1)?)?, from_micros(row.get(2)?)?),
                ))
            };
            let (value, seen) = decode().map_err(|error| error.into_store(context))?;
            each(value, seen)?;
        }
        Ok::<(), StoreError>(())
    };
    read(
        "SELECT ip, first_seen, last_seen FROM asset_addresses WHERE mac = ?1",
        &mut |text, seen| {
            let ip = text
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("address {text:?}")))?;
            facts.addresses.push((ip, seen));
            Ok(())
        },
    )?;
    read(
        "SELECT hostname, first_seen, last_seen FROM asset_hostnames WHERE mac = ?1",
        &mut |name, seen| {
            facts.hostnames.push((name, seen));
            Ok(())
        },
    )?;
    facts
        .addresses
        .sort_by(|a, b| b.1.last().cmp(&a.1.last()).then(a.0.cmp(&b.0)));
    facts
        .hostnames
        .sort_by(|a, b| b.1.last().cmp(&a.1.last()).then(a.0.cmp(&b.0)));
    Ok(facts)
}
