//! The certificate issuance log in SQLite. Each issue or revocation runs in one immediate
//! transaction with its events, so the log and the audit chain never disagree; a revocation
//! also bumps `revocation_generation`, which the running collector polls.

use std::collections::{BTreeSet, HashSet};

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::{SqliteStore, events, for_each_row, from_micros, micros};
use crate::audit::{EventKind, NewEvent};
use crate::ca::{CertificateFacts, CertificateKind, CertificateRecord, RevokedSerials};
use crate::store::StoreError;

/// Which certificates to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// One certificate, by serial (normal form, see [`crate::ca::record`]).
    Serial(String),
    /// Every certificate in force of the agent `name` (at `site`, required if the name is
    /// used at several sites).
    Agent {
        /// The agent's name.
        name: String,
        /// Its site.
        site: Option<String>,
    },
    /// Every certificate not yet revoked (the CA they chain to was replaced).
    All,
}

/// What recording an issued certificate did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueOutcome {
    /// Earlier certificates of the same holder, revoked because this one replaces them.
    pub superseded: Vec<CertificateRecord>,
}

/// What a revocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokeOutcome {
    /// Certificates revoked now.
    pub revoked: Vec<CertificateRecord>,
    /// The certificate asked for by serial, already revoked before (nothing changed).
    pub already: Vec<CertificateRecord>,
}

const COLUMNS: &str = "serial, kind, name, site, not_before, not_after, fingerprint, issued_at,
                       revoked_at, revoke_reason";

fn decode(row: &rusqlite::Row<'_>) -> Result<CertificateRecord, super::RowError> {
    let kind: String = row.get(1)?;
    let kind = CertificateKind::from_stored(&kind)
        .ok_or_else(|| StoreError::Corrupt(format!("certificate kind {kind:?}")))?;
    Ok(CertificateRecord {
        facts: CertificateFacts {
            serial: row.get(0)?,
            kind,
            name: row.get(2)?,
            site: row.get(3)?,
            not_before: from_micros(row.get(4)?)?,
            not_after: from_micros(row.get(5)?)?,
            fingerprint: row.get(6)?,
        },
        issued_at: from_micros(row.get(7)?)?,
        revoked_at: row.get::<_, Option<i64>>(8)?.map(from_micros).transpose()?,
        revoke_reason: row.get(9)?,
    })
}

fn select(
    connection: &Connection,
    condition: &str,
    parameters: impl rusqlite::Params,
) -> Result<Vec<CertificateRecord>, StoreError> {
    let context = "reading the certificate log";
    let mut statement = connection
        .prepare(&format!(
            "SELECT {COLUMNS} FROM certificates WHERE {condition} ORDER BY issued_at, rowid"
        ))
        .map_err(StoreError::sqlite(context))?;
    let mut rows = statement
        .query(parameters)
        .map_err(StoreError::sqlite(context))?;
    let mut records = Vec::new();
    while let Some(row) = rows.next().map_err(StoreError::sqlite(context))? {
        records.push(decode(row).map_err(|error| match error {
            super::RowError::Sqlite(source) => StoreError::Sqlite { context, source },
            super::RowError::Store(error) => error,
        })?);
    }
    Ok(records)
}

#[derive(Serialize)]
struct Issued<'a> {
    #[serde(flatten)]
    facts: &'a CertificateFacts,
}

#[derive(Serialize)]
struct Revoked<'a> {
    serial: &'a str,
    kind: CertificateKind,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<&'a str>,
    reason: &'a str,
}

/// Marks `records` revoked at `now`, with their events; bumps the generation if any.
fn revoke(
    connection: &Connection,
    records: &mut [CertificateRecord],
    reason: &str,
    now: Timestamp,
    events: &mut Vec<NewEvent>,
) -> Result<(), StoreError> {
    let context = "revoking certificates";
    if records.is_empty() {
        return Ok(());
    }
    let mut statement = connection
        .prepare_cached(
            "UPDATE certificates SET revoked_at = ?2, revoke_reason = ?3
             WHERE serial = ?1 AND revoked_at IS NULL",
        )
        .map_err(StoreError::sqlite(context))?;
    for record in records.iter_mut() {
        statement
            .execute(params![record.facts.serial, micros(now), reason])
            .map_err(StoreError::sqlite(context))?;
        record.revoked_at = Some(now);
        record.revoke_reason = Some(reason.to_owned());
        events.push(NewEvent::new(
            now,
            None,
            EventKind::CertificateRevoked,
            &Revoked {
                serial: &record.facts.serial,
                kind: record.facts.kind,
                name: &record.facts.name,
                site: record.facts.site.as_deref(),
                reason,
            },
        ));
    }
    connection
        .execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'revocation_generation'",
            [],
        )
        .map_err(StoreError::sqlite(context))?;
    Ok(())
}

fn generation(connection: &Connection) -> Result<i64, StoreError> {
    connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'revocation_generation'",
            [],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("reading the revocation generation"))
}

impl SqliteStore {
    /// Records a certificate the CA just issued, with a `certificate_issued` event. With
    /// `supersede`, the holder's earlier certificates still in force (same kind, name and
    /// site) are revoked in the same transaction: a re-issued agent's old key stops working.
    pub fn record_issued(
        &mut self,
        facts: &CertificateFacts,
        supersede: bool,
        now: Timestamp,
    ) -> Result<IssueOutcome, StoreError> {
        let context = "recording an issued certificate";
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite(context))?;
        let mut new_events = Vec::new();
        let mut superseded = if supersede {
            select(
                &transaction,
                "kind = ?1 AND name = ?2 AND site IS ?3 AND revoked_at IS NULL",
                params![facts.kind.as_str(), facts.name, facts.site],
            )?
        } else {
            Vec::new()
        };
        let reason = format!("superseded by {}", facts.serial);
        revoke(&transaction, &mut superseded, &reason, now, &mut new_events)?;
        transaction
            .execute(
                "INSERT INTO certificates
                    (serial, kind, name, site, not_before, not_after, fingerprint, issued_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    facts.serial,
                    facts.kind.as_str(),
                    facts.name,
                    facts.site,
                    micros(facts.not_before),
                    micros(facts.not_after),
                    facts.fingerprint,
                    micros(now),
                ],
            )
            .map_err(StoreError::sqlite(context))?;
        new_events.push(NewEvent::new(
            now,
            None,
            EventKind::CertificateIssued,
            &Issued { facts },
        ));
        events::append(&transaction, &new_events, self.sealer.as_ref())?;
        transaction.commit().map_err(StoreError::sqlite(context))?;
        Ok(IssueOutcome { superseded })
    }

    /// Revokes certificates, each with a `certificate_revoked` event.
    pub fn revoke_certificates(
        &mut self,
        target: &RevokeTarget,
        reason: &str,
        now: Timestamp,
    ) -> Result<RevokeOutcome, StoreError> {
        let context = "revoking certificates";
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite(context))?;
        let mut outcome = RevokeOutcome::default();
        match target {
            RevokeTarget::Serial(serial) => {
                let found = select(&transaction, "serial = ?1", [serial])?;
                if found.is_empty() {
                    return Err(StoreError::UnknownSerial(serial.clone()));
                }
                let (already, open): (Vec<_>, Vec<_>) = found
                    .into_iter()
                    .partition(|record| record.revoked_at.is_some());
                outcome.already = already;
                outcome.revoked = open;
            }
            RevokeTarget::Agent { name, site } => {
                let open = select(
                    &transaction,
                    "kind = 'agent' AND name = ?1 AND (?2 IS NULL OR site = ?2)
                     AND revoked_at IS NULL",
                    params![name, site],
                )?;
                let sites: BTreeSet<String> = open
                    .iter()
                    .filter_map(|record| record.facts.site.clone())
                    .collect();
                if open.is_empty() {
                    return Err(StoreError::NoCertificateInForce {
                        name: name.clone(),
                        site: site.clone(),
                    });
                }
                if sites.len() > 1 {
                    return Err(StoreError::AmbiguousAgent {
                        name: name.clone(),
                        sites: sites.into_iter().collect(),
                    });
                }
                outcome.revoked = open;
            }
            RevokeTarget::All => {
                outcome.revoked = select(&transaction, "revoked_at IS NULL", params![])?;
            }
        }
        let mut new_events = Vec::new();
        revoke(
            &transaction,
            &mut outcome.revoked,
            reason,
            now,
            &mut new_events,
        )?;
        events::append(&transaction, &new_events, self.sealer.as_ref())?;
        transaction.commit().map_err(StoreError::sqlite(context))?;
        Ok(outcome)
    }

    /// The whole issuance log, in the order of issue.
    pub fn certificates(&self) -> Result<Vec<CertificateRecord>, StoreError> {
        select(&self.connection, "1", params![])
    }

    /// The certificate with this serial (normal form), if it was logged.
    pub fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError> {
        Ok(select(&self.connection, "serial = ?1", [serial])?
            .into_iter()
            .next())
    }

    /// The revocation generation: one indexed read, cheap enough to poll every second. It
    /// changes (grows) whenever a certificate is revoked.
    pub fn revocation_generation(&self) -> Result<i64, StoreError> {
        generation(&self.connection)
    }

    /// Every revoked serial (normal form) and the generation they were read at, as one
    /// consistent read.
    pub fn revoked_serials(&self) -> Result<RevokedSerials, StoreError> {
        let context = "reading the revoked certificates";
        let transaction = self
            .connection
            .unchecked_transaction()
            .map_err(StoreError::sqlite(context))?;
        let generation = generation(&transaction)?;
        let mut serials = HashSet::new();
        for_each_row(
            &transaction,
            "SELECT serial FROM certificates WHERE revoked_at IS NOT NULL",
            context,
            |row| {
                serials.insert(row.get(0)?);
                Ok(())
            },
        )?;
        transaction.commit().map_err(StoreError::sqlite(context))?;
        Ok(RevokedSerials::new(generation, serials))
    }

    /// Whether any certificate was ever logged (so `ca list` can tell an empty log from one
    /// that predates it).
    pub fn has_certificates(&self) -> Result<bool, StoreError> {
        self.connection
            .query_row("SELECT 1 FROM certificates LIMIT 1", [], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(StoreError::sqlite("reading the certificate log"))
    }
}

#[cfg(test)]
mod tests;
