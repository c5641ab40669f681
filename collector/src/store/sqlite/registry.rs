//! The registry in SQLite. Changes come from the command line (`registry import`, `approve`,
//! `registry remove`) and the console, and name who made them: each runs in one immediate
//! transaction that also appends its events and bumps `registry_generation`, which tells a
//! running collector to reload the registry.

use hygie_proto::MacAddr;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::{
    RowError, SqliteStore, events, for_each_row, from_micros, mac_from_key, mac_key, micros,
};
use crate::audit::{EventKind, NewEvent};
use crate::inventory::flags::FlagSet;
use crate::registry::{RegistryEntry, RegistryFields};
use crate::store::{RegistrySnapshot, StoreError};

/// A change to the registry.
#[derive(Debug, Clone)]
pub enum RegistryChange {
    /// Adds or updates entries (an import): the fields of `columns` replace those stored,
    /// empty values included; other fields of existing entries are kept.
    Upsert {
        /// The entries.
        entries: Vec<(MacAddr, RegistryFields)>,
        /// The import columns the file has.
        columns: Vec<&'static str>,
        /// `import:<file>`.
        source: String,
    },
    /// Registers one device, or updates the fields given (`approve`).
    Approve {
        /// The device.
        mac: MacAddr,
        /// Fields to set; empty ones keep their stored value.
        fields: RegistryFields,
        /// Sets or clears do-not-probe; `None` keeps it.
        do_not_probe: Option<bool>,
    },
    /// Sets every field of one entry to exactly these, empty ones included (the console's
    /// edit form), creating it if needed.
    Replace {
        /// The device.
        mac: MacAddr,
        /// The entry's fields.
        fields: RegistryFields,
    },
    /// Removes an entry.
    Remove {
        /// The device.
        mac: MacAddr,
    },
}

/// What a registry change did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RegistryOutcome {
    /// Entries created.
    pub added: usize,
    /// Entries whose fields changed.
    pub updated: usize,
    /// Entries given but identical to what was stored.
    pub unchanged: usize,
    /// Entries removed.
    pub removed: usize,
}

pub(super) fn generation(connection: &Connection) -> Result<i64, StoreError> {
    connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'registry_generation'",
            [],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("reading the registry generation"))
}

fn text_or_none(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.is_empty())
}

/// The columns [`decode`] reads, in its order.
pub(super) const ENTRY_COLUMNS: &str =
    "mac, asset_tag, name, category, location, owner, criticality,
    registered_at, updated_at, source, unseen_flags, site, do_not_probe";

/// One registry row (selected with [`ENTRY_COLUMNS`]) and its stored never-seen flags.
pub(super) fn decode(row: &rusqlite::Row<'_>) -> Result<(RegistryEntry, FlagSet), RowError> {
    let mac = mac_from_key(row.get(0)?);
    let category: Option<String> = text_or_none(row.get(3)?);
    let criticality: Option<String> = text_or_none(row.get(6)?);
    let corrupt = |what: &str, error: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("registry entry {mac}: {what}: {error}"))
    };
    let entry = RegistryEntry {
        mac,
        fields: RegistryFields {
            asset_tag: row.get(1)?,
            name: row.get(2)?,
            category: category
                .map(|text| text.parse::<crate::classify::Category>())
                .transpose()
                .map_err(|error| corrupt("category", &error))?,
            location: row.get(4)?,
            owner: row.get(5)?,
            criticality: criticality
                .map(|text| text.parse())
                .transpose()
                .map_err(|error| corrupt("criticality", &error))?,
            site: row.get(11)?,
            do_not_probe: row.get(12)?,
        },
        registered_at: from_micros(row.get(7)?)?,
        updated_at: from_micros(row.get(8)?)?,
        source: row.get(9)?,
    };
    Ok((entry, super::flag_bits(row.get(10)?)?))
}

pub(super) fn load(connection: &Connection) -> Result<RegistrySnapshot, StoreError> {
    let mut snapshot = RegistrySnapshot {
        generation: generation(connection)?,
        ..RegistrySnapshot::default()
    };
    for_each_row(
        connection,
        &format!("SELECT {ENTRY_COLUMNS} FROM registry"),
        "loading the registry",
        |row| {
            let (entry, unseen) = decode(row)?;
            snapshot.unseen_flags.insert(entry.mac, unseen);
            snapshot.entries.insert(entry.mac, entry);
            Ok(())
        },
    )?;
    Ok(snapshot)
}

/// The registry entry of one device, if there is one.
pub(super) fn one(
    connection: &Connection,
    mac: MacAddr,
) -> Result<Option<RegistryEntry>, StoreError> {
    let context = "reading a registry entry";
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM registry WHERE mac = ?1"
        ))
        .map_err(StoreError::sqlite(context))?;
    let mut rows = statement
        .query([mac_key(mac)])
        .map_err(StoreError::sqlite(context))?;
    match rows.next().map_err(StoreError::sqlite(context))? {
        Some(row) => Ok(Some(
            decode(row).map_err(|error| error.into_store(context))?.0,
        )),
        None => Ok(None),
    }
}

fn stored(connection: &Connection, mac: MacAddr) -> Result<Option<RegistryFields>, StoreError> {
    let snapshot_row = connection
        .query_row(
            "SELECT asset_tag, name, category, location, owner, criticality, site, do_not_probe
             FROM registry WHERE mac = ?1",
            [mac_key(mac)],
            |row| {
                Ok(RegistryFields {
                    asset_tag: row.get(0)?,
                    name: row.get(1)?,
                    category: text_or_none(row.get(2)?).and_then(|text| text.parse().ok()),
                    location: row.get(3)?,
                    owner: row.get(4)?,
                    criticality: text_or_none(row.get(5)?).and_then(|text| text.parse().ok()),
                    site: row.get(6)?,
                    do_not_probe: row.get(7)?,
                })
            },
        )
        .optional()
        .map_err(StoreError::sqlite("reading a registry entry"))?;
    Ok(snapshot_row)
}

fn write(
    connection: &Connection,
    mac: MacAddr,
    fields: &RegistryFields,
    source: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO registry
                (mac, asset_tag, name, category, location, owner, criticality, registered_at,
                 updated_at, source, site, do_not_probe)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11)
             ON CONFLICT (mac) DO UPDATE SET
                asset_tag = excluded.asset_tag, name = excluded.name,
                category = excluded.category, location = excluded.location,
                owner = excluded.owner, criticality = excluded.criticality,
                updated_at = excluded.updated_at, source = excluded.source,
                site = excluded.site, do_not_probe = excluded.do_not_probe",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                mac_key(mac),
                fields.asset_tag,
                fields.name,
                fields.category.map(|category| category.as_str()),
                fields.location,
                fields.owner,
                fields.criticality.map(|criticality| criticality.as_str()),
                micros(now),
                source,
                fields.site,
                fields.do_not_probe,
            ])
        })
        .map_err(StoreError::sqlite("writing a registry entry"))?;
    Ok(())
}

#[derive(Serialize)]
struct Details<'a> {
    source: &'a str,
    /// Who made the change (a console user, or the operator of a command: `alice (sudo)`);
    /// absent from changes nobody is named for and from every event written before, so older
    /// chains hash as they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<&'a RegistryFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<&'a RegistryFields>,
}

impl SqliteStore {
    /// Applies a registry change nobody is named for (tests, tools) in one transaction, with its
    /// events; people's changes go through [`SqliteStore::change_registry_by`].
    pub fn change_registry(
        &mut self,
        change: RegistryChange,
        now: Timestamp,
    ) -> Result<RegistryOutcome, StoreError> {
        self.change_registry_by(change, None, now)
    }

    /// Applies a registry change made by `by` (a console user, or the operator of a command),
    /// recorded in its events' details and so covered by the hash chain.
    pub fn change_registry_by(
        &mut self,
        change: RegistryChange,
        by: Option<&str>,
        now: Timestamp,
    ) -> Result<RegistryOutcome, StoreError> {
        let context = "changing the registry";
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite(context))?;
        let mut outcome = RegistryOutcome::default();
        let mut new_events = Vec::new();
        // `columns`: the fields an import replaces; `None`: approve's overlay of non-empty ones.
        let mut upsert = |mac: MacAddr,
                          fields: RegistryFields,
                          source: &str,
                          columns: Option<&[&str]>,
                          do_not_probe: Option<bool>|
         -> Result<(), StoreError> {
            let before = stored(&transaction, mac)?;
            let mut after = match (&before, columns) {
                (Some(before), Some(columns)) => {
                    let mut merged = before.clone();
                    merged.replace_columns(fields, columns);
                    merged
                }
                (Some(before), None) => {
                    let mut merged = before.clone();
                    merged.overlay(fields);
                    merged
                }
                (None, _) => fields,
            };
            if let Some(do_not_probe) = do_not_probe {
                after.do_not_probe = do_not_probe;
            }
            if before.as_ref() == Some(&after) {
                outcome.unchanged += 1;
                return Ok(());
            }
            write(&transaction, mac, &after, source, now)?;
            let kind = if before.is_some() {
                outcome.updated += 1;
                EventKind::RegistryUpdated
            } else {
                outcome.added += 1;
                EventKind::RegistryAdded
            };
            new_events.push(NewEvent::new(
                now,
                Some(mac),
                kind,
                &Details {
                    source,
                    by,
                    before: before.as_ref(),
                    after: Some(&after),
                },
            ));
            Ok(())
        };
        match change {
            RegistryChange::Upsert {
                entries,
                columns,
                source,
            } => {
                for (mac, fields) in entries {
                    upsert(mac, fields, &source, Some(&columns), None)?;
                }
            }
            RegistryChange::Approve {
                mac,
                fields,
                do_not_probe,
            } => upsert(mac, fields, "approve", None, do_not_probe)?,
            RegistryChange::Replace { mac, fields } => {
                let do_not_probe = Some(fields.do_not_probe);
                // Every import column but the MAC: a replace sets every field.
                let fields_columns = &crate::registry::csv_import::COLUMNS[1..];
                upsert(mac, fields, "edit", Some(fields_columns), do_not_probe)?;
            }
            RegistryChange::Remove { mac } => {
                let before = stored(&transaction, mac)?.ok_or(StoreError::NotRegistered(mac))?;
                transaction
                    .execute("DELETE FROM registry WHERE mac = ?1", [mac_key(mac)])
                    .map_err(StoreError::sqlite(context))?;
                outcome.removed += 1;
                new_events.push(NewEvent::new(
                    now,
                    Some(mac),
                    EventKind::RegistryRemoved,
                    &Details {
                        source: "remove",
                        by,
                        before: Some(&before),
                        after: None,
                    },
                ));
            }
        }
        if !new_events.is_empty() {
            transaction
                .execute(
                    "UPDATE meta SET value = value + 1 WHERE key = 'registry_generation'",
                    [],
                )
                .map_err(StoreError::sqlite(context))?;
            events::append(&transaction, &new_events, self.sealer.as_ref())?;
        }
        transaction.commit().map_err(StoreError::sqlite(context))?;
        Ok(outcome)
    }

    /// Records the flag rules the running collector uses.
    pub fn publish_flag_rules(
        &self,
        rules: &crate::inventory::flags::FlagRules,
    ) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT INTO settings (key, value) VALUES ('flag_rules', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [serde_json::to_string(rules).unwrap_or_default()],
            )
            .map_err(StoreError::sqlite("publishing the flag rules"))?;
        Ok(())
    }

    /// The flag rules the collector last published, if it ever ran on this database.
    pub fn published_flag_rules(
        &self,
    ) -> Result<Option<crate::inventory::flags::FlagRules>, StoreError> {
        let text: Option<String> = self
            .connection
            .query_row(
                "SELECT value FROM settings WHERE key = 'flag_rules'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(StoreError::sqlite("reading the flag rules"))?;
        text.map(|text| {
            serde_json::from_str(&text)
                .map_err(|error| StoreError::Corrupt(format!("published flag rules: {error}")))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Durability, EventFilter, InventoryReader};

    #[test]
    fn changes_name_who_made_them_and_anonymous_ones_keep_the_old_form() {
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            SqliteStore::open_writer(&dir.path().join("inventory.sqlite"), Durability::Normal)
                .unwrap();
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let mac: MacAddr = "00:09:5c:11:22:01".parse().unwrap();
        let fields = RegistryFields {
            name: "Monitor".into(),
            location: "ICU".into(),
            ..RegistryFields::default()
        };
        store
            .change_registry(
                RegistryChange::Approve {
                    mac,
                    fields: fields.clone(),
                    do_not_probe: None,
                },
                now,
            )
            .unwrap();
        // A replace clears what it is not given; its event names the console user.
        let outcome = store
            .change_registry_by(
                RegistryChange::Replace {
                    mac,
                    fields: RegistryFields {
                        name: "Monitor 2".into(),
                        ..RegistryFields::default()
                    },
                },
                Some("bruno"),
                now,
            )
            .unwrap();
        assert_eq!(outcome.updated, 1);
        let entry = store.registry_entry(mac).unwrap().unwrap();
        assert_eq!(
            (entry.fields.name.as_str(), entry.fields.location.as_str()),
            ("Monitor 2", "")
        );
        assert_eq!(entry.source, "edit");
        let events = store.events(&EventFilter::default()).unwrap();
        assert_eq!(
            events[0].details,
            r#"{"source":"approve","after":{"name":"Monitor","location":"ICU"}}"#,
            "no `by` when nobody is named: the format of the events written before"
        );
        assert!(
            events[1]
                .details
                .starts_with(r#"{"source":"edit","by":"bruno","before""#)
        );
        assert!(store.verify_events().unwrap().is_ok());
    }
}
