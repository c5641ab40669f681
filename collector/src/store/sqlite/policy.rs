//! The scan policy in SQLite: each site's policy as last published (written by the writer in
//! its commits), and operators' decisions (written by the command line, each in one immediate
//! transaction with its event and a bump of `override_generation`, which tells a running
//! collector to reload them).

use std::collections::BTreeMap;
use std::net::IpAddr;

use hygie_proto::{MacAddr, ProtectionReason};
use ipnet::IpNet;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::{SqliteStore, events, for_each_row, from_micros, mac_from_key, mac_key, micros};
use crate::audit::{EventKind, NewEvent};
use crate::policy::{
    Decision, DeviceRow, Override, OverrideSnapshot, PolicyDevice, Reasons, SitePolicy, SiteRecord,
};
use crate::store::{PublishedPolicy, StoreError};

/// A change to the operators' decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideChange {
    /// Records (or replaces) a decision.
    Decide {
        /// The device.
        mac: MacAddr,
        /// Allow or deny.
        decision: Decision,
        /// Why, in the operator's words.
        reason: String,
        /// Who.
        by: String,
    },
    /// Removes the decision about a device.
    Clear {
        /// The device.
        mac: MacAddr,
        /// Who.
        by: String,
    },
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideOutcome {
    /// Recorded; `before` is the decision it replaced.
    Recorded {
        /// The previous decision, if any.
        before: Option<Override>,
    },
    /// The same decision for the same reason was already recorded: nothing written.
    Unchanged,
    /// Removed.
    Cleared {
        /// The decision removed.
        before: Override,
    },
}

/// A decision as event details carry it (the event names the device).
#[derive(Serialize)]
struct Recorded<'a> {
    decision: Decision,
    reason: &'a str,
    by: &'a str,
    at: Timestamp,
}

impl<'a> From<&'a Override> for Recorded<'a> {
    fn from(decision: &'a Override) -> Self {
        Recorded {
            decision: decision.decision,
            reason: &decision.reason,
            by: &decision.by,
            at: decision.at,
        }
    }
}

#[derive(Serialize)]
struct Decided<'a> {
    reason: &'a str,
    by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<Recorded<'a>>,
}

#[derive(Serialize)]
struct Cleared<'a> {
    by: &'a str,
    before: Recorded<'a>,
}

pub(super) fn override_generation(connection: &Connection) -> Result<i64, StoreError> {
    connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'override_generation'",
            [],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("reading the override generation"))
}

fn decode_override(row: &rusqlite::Row<'_>) -> Result<Override, super::RowError> {
    let mac = mac_from_key(row.get(0)?);
    let decision: String = row.get(1)?;
    Ok(Override {
        mac,
        decision: decision
            .parse()
            .map_err(|error| StoreError::Corrupt(format!("decision about {mac}: {error}")))?,
        reason: row.get(2)?,
        by: row.get(3)?,
        at: from_micros(row.get(4)?)?,
    })
}

pub(super) fn load_overrides(connection: &Connection) -> Result<OverrideSnapshot, StoreError> {
    let mut snapshot = OverrideSnapshot {
        generation: override_generation(connection)?,
        ..OverrideSnapshot::default()
    };
    for_each_row(
        connection,
        "SELECT mac, decision, reason, decided_by, decided_at FROM probe_overrides",
        "loading operators' decisions",
        |row| {
            let decision = decode_override(row)?;
            snapshot.entries.insert(decision.mac, decision);
            Ok(())
        },
    )?;
    Ok(snapshot)
}

fn stored_override(connection: &Connection, mac: MacAddr) -> Result<Option<Override>, StoreError> {
    let context = "reading an operator's decision";
    let mut statement = connection
        .prepare_cached(
            "SELECT mac, decision, reason, decided_by, decided_at FROM probe_overrides
             WHERE mac = ?1",
        )
        .map_err(StoreError::sqlite(context))?;
    let mut rows = statement
        .query([mac_key(mac)])
        .map_err(StoreError::sqlite(context))?;
    match rows.next().map_err(StoreError::sqlite(context))? {
        None => Ok(None),
        Some(row) => decode_override(row).map(Some).map_err(|error| match error {
            super::RowError::Sqlite(source) => StoreError::Sqlite { context, source },
            super::RowError::Store(error) => error,
        }),
    }
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("stored scan policy: {what}: {error}"))
}

/// Every site's policy as last published, by site.
pub(super) fn load(connection: &Connection) -> Result<Vec<PublishedPolicy>, StoreError> {
    let mut sites: BTreeMap<String, PublishedPolicy> = BTreeMap::new();
    for_each_row(
        connection,
        "SELECT site, version, networks, passive_only, published_at FROM policy_sites",
        "loading the scan policies",
        |row| {
            let site: String = row.get(0)?;
            let version: i64 = row.get(1)?;
            let networks: String = row.get(2)?;
            let networks: Vec<IpNet> = serde_json::from_str(&networks)
                .map_err(|error| corrupt(&format!("networks of {site}"), error))?;
            sites.insert(
                site.clone(),
                PublishedPolicy {
                    policy: SitePolicy {
                        version: u64::try_from(version)
                            .map_err(|error| corrupt(&format!("version of {site}"), error))?,
                        devices: BTreeMap::new(),
                        networks,
                    },
                    passive_only: row.get(3)?,
                    published_at: from_micros(row.get(4)?)?,
                    site,
                },
            );
            Ok(())
        },
    )?;
    for_each_row(
        connection,
        "SELECT site, mac, reasons, addresses, since FROM policy_devices",
        "loading the scan policies' devices",
        |row| {
            let site: String = row.get(0)?;
            let mac = mac_from_key(row.get(1)?);
            let reasons: String = row.get(2)?;
            let reasons: Vec<ProtectionReason> = serde_json::from_str(&reasons)
                .map_err(|error| corrupt(&format!("reasons of {mac} at {site}"), error))?;
            let addresses: String = row.get(3)?;
            let addresses: Vec<IpAddr> = serde_json::from_str(&addresses)
                .map_err(|error| corrupt(&format!("addresses of {mac} at {site}"), error))?;
            let device = PolicyDevice {
                reasons: reasons.into_iter().collect::<Reasons>(),
                addresses,
                since: from_micros(row.get(4)?)?,
            };
            sites
                .get_mut(&site)
                .ok_or_else(|| corrupt("device of an unknown site", &site))?
                .policy
                .devices
                .insert(mac, device);
            Ok(())
        },
    )?;
    Ok(sites.into_values().collect())
}

/// Writes a commit's policy rows (inside the commit's transaction).
pub(super) fn write(
    connection: &Connection,
    devices: &[DeviceRow],
    sites: &[SiteRecord],
    now: Timestamp,
) -> Result<(), StoreError> {
    let context = "writing the scan policies";
    let prepare = |sql| {
        connection
            .prepare_cached(sql)
            .map_err(StoreError::sqlite(context))
    };
    if !devices.is_empty() {
        let mut upsert = prepare(
            "INSERT INTO policy_devices (site, mac, reasons, addresses, since)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (site, mac) DO UPDATE SET
                reasons = excluded.reasons, addresses = excluded.addresses",
        )?;
        let mut delete = prepare("DELETE FROM policy_devices WHERE site = ?1 AND mac = ?2")?;
        for row in devices {
            match &row.device {
                Some(device) => upsert.execute(params![
                    row.site,
                    mac_key(row.mac),
                    super::to_json(&device.reasons),
                    super::to_json(&device.addresses),
                    micros(device.since),
                ]),
                None => delete.execute(params![row.site, mac_key(row.mac)]),
            }
            .map_err(StoreError::sqlite(context))?;
        }
    }
    if !sites.is_empty() {
        let mut statement = prepare(
            "INSERT INTO policy_sites (site, version, networks, passive_only, published_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (site) DO UPDATE SET
                version = excluded.version, networks = excluded.networks,
                passive_only = excluded.passive_only, published_at = excluded.published_at",
        )?;
        for site in sites {
            let version = i64::try_from(site.version)
                .map_err(|_| StoreError::Corrupt(format!("policy version {}", site.version)))?;
            statement
                .execute(params![
                    site.site,
                    version,
                    super::to_json(&site.networks),
                    site.passive_only,
                    micros(now),
                ])
                .map_err(StoreError::sqlite(context))?;
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Records or clears an operator's decision, with its event, in one transaction.
    pub fn change_override(
        &mut self,
        change: OverrideChange,
        now: Timestamp,
    ) -> Result<OverrideOutcome, StoreError> {
        let context = "recording an operator's decision";
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite(context))?;
        let (outcome, event) = match change {
            OverrideChange::Decide {
                mac,
                decision,
                reason,
                by,
            } => {
                let before = stored_override(&transaction, mac)?;
                if before
                    .as_ref()
                    .is_some_and(|before| before.decision == decision && before.reason == reason)
                {
                    return Ok(OverrideOutcome::Unchanged);
                }
                transaction
                    .execute(
                        "INSERT INTO probe_overrides (mac, decision, reason, decided_by, decided_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (mac) DO UPDATE SET
                            decision = excluded.decision, reason = excluded.reason,
                            decided_by = excluded.decided_by, decided_at = excluded.decided_at",
                        params![mac_key(mac), decision.as_str(), reason, by, micros(now)],
                    )
                    .map_err(StoreError::sqlite(context))?;
                let kind = match decision {
                    Decision::Allow => EventKind::ProbingAllowed,
                    Decision::Deny => EventKind::ProbingDenied,
                };
                let event = NewEvent::new(
                    now,
                    Some(mac),
                    kind,
                    &Decided {
                        reason: &reason,
                        by: &by,
                        before: before.as_ref().map(Recorded::from),
                    },
                );
                (OverrideOutcome::Recorded { before }, event)
            }
            OverrideChange::Clear { mac, by } => {
                let before =
                    stored_override(&transaction, mac)?.ok_or(StoreError::NoOverride(mac))?;
                transaction
                    .execute("DELETE FROM probe_overrides WHERE mac = ?1", [mac_key(mac)])
                    .map_err(StoreError::sqlite(context))?;
                let event = NewEvent::new(
                    now,
                    Some(mac),
                    EventKind::ProbingOverrideCleared,
                    &Cleared {
                        by: &by,
                        before: Recorded::from(&before),
                    },
                );
                (OverrideOutcome::Cleared { before }, event)
            }
        };
        transaction
            .execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'override_generation'",
                [],
            )
            .map_err(StoreError::sqlite(context))?;
        events::append(&transaction, &[event], self.sealer.as_ref())?;
        transaction.commit().map_err(StoreError::sqlite(context))?;
        Ok(outcome)
    }

    /// The decision recorded for `mac`, if any.
    pub fn override_of(&self, mac: MacAddr) -> Result<Option<Override>, StoreError> {
        stored_override(&self.connection, mac)
    }

    /// The highest version any site's policy was published with (0 if none).
    pub fn highest_policy_version(&self) -> Result<u64, StoreError> {
        let version: Option<i64> = self
            .connection
            .query_row("SELECT max(version) FROM policy_sites", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(StoreError::sqlite("reading the policy versions"))?
            .flatten();
        Ok(version
            .and_then(|version| u64::try_from(version).ok())
            .unwrap_or(0))
    }
}
