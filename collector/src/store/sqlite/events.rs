//! The event log in SQLite: append (inside the caller's transaction) and read.

use rusqlite::{Connection, OptionalExtension, params};

use super::{from_micros, mac_from_key, mac_key, micros};
use crate::audit::{self, Event, Hash, NewEvent, Seal};
use crate::export::signing::Signer25519;
use crate::store::{EventFilter, StoreError};

/// The last event's id and hash.
pub(super) fn head(connection: &Connection) -> Result<(i64, Hash), StoreError> {
    let row: Option<(i64, String)> = connection
        .query_row(
            "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(StoreError::sqlite("reading the event chain head"))?;
    match row {
        None => Ok((0, Hash::GENESIS)),
        Some((id, hash)) => Hash::from_hex(&hash)
            .map(|hash| (id, hash))
            .ok_or_else(|| StoreError::Corrupt(format!("event {id} has a malformed hash"))),
    }
}

/// Chains and inserts events after the current head, and seals the new head with `sealer`.
/// The caller holds a write transaction, so nobody else appends in between.
pub(super) fn append(
    connection: &Connection,
    events: &[NewEvent],
    sealer: Option<&Signer25519>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let context = "appending events";
    let mut statement = connection
        .prepare_cached(
            "INSERT INTO events (id, at, mac, kind, details, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(StoreError::sqlite(context))?;
    let chained = audit::chain(head(connection)?, events);
    for event in &chained {
        statement
            .execute(params![
                event.id,
                micros(event.at),
                event.mac.map(mac_key),
                event.kind.as_str(),
                event.details,
                event.prev_hash.to_hex(),
                event.hash.to_hex(),
            ])
            .map_err(StoreError::sqlite(context))?;
    }
    if let (Some(sealer), Some(last)) = (sealer, chained.last()) {
        let signature = hex::encode(sealer.sign(&audit::seal_message(last.id, last.hash)));
        connection
            .execute(
                "INSERT INTO events_seal (singleton, event_id, hash, signature) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT (singleton) DO UPDATE SET
                    event_id = excluded.event_id, hash = excluded.hash,
                    signature = excluded.signature",
                params![last.id, last.hash.to_hex(), signature],
            )
            .map_err(StoreError::sqlite("sealing the event chain"))?;
    }
    Ok(())
}

/// The seal of the chain head, if any.
pub(super) fn seal(connection: &Connection) -> Result<Option<Seal>, StoreError> {
    let row: Option<(i64, String, String)> = connection
        .query_row(
            "SELECT event_id, hash, signature FROM events_seal WHERE singleton = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .map_err(StoreError::sqlite("reading the event chain seal"))?;
    row.map(|(id, hash, signature)| {
        Hash::from_hex(&hash)
            .map(|hash| Seal {
                id,
                hash,
                signature,
            })
            .ok_or_else(|| StoreError::Corrupt("the event chain seal has a malformed hash".into()))
    })
    .transpose()
}

/// Events matching the filter, oldest first.
pub(super) fn read(
    connection: &Connection,
    filter: &EventFilter,
) -> Result<Vec<Event>, StoreError> {
    let limit = filter.limit.map_or(-1, |limit| limit as i64);
    // The most recent `limit` matches, returned oldest first.
    let query = format!(
        "SELECT id, at, mac, kind, details, prev_hash, hash FROM (
            SELECT * FROM events WHERE at >= ?1 {} ORDER BY id DESC LIMIT {limit}
         ) ORDER BY id",
        if filter.mac.is_some() {
            "AND mac = ?2"
        } else {
            "AND ?2 IS NULL"
        }
    );
    let since = filter.since.map_or(i64::MIN, micros);
    let mac = filter.mac.map(mac_key);
    let mut events = Vec::new();
    let mut statement = connection
        .prepare(&query)
        .map_err(StoreError::sqlite("reading events"))?;
    let mut rows = statement
        .query(params![since, mac])
        .map_err(StoreError::sqlite("reading events"))?;
    while let Some(row) = rows.next().map_err(StoreError::sqlite("reading events"))? {
        events.push(decode(row).map_err(StoreError::sqlite("reading events"))??);
    }
    Ok(events)
}

/// The event numbered `id`, if there is one.
pub(super) fn one(connection: &Connection, id: i64) -> Result<Option<Event>, StoreError> {
    let context = "reading an event";
    let mut statement = connection
        .prepare("SELECT id, at, mac, kind, details, prev_hash, hash FROM events WHERE id = ?1")
        .map_err(StoreError::sqlite(context))?;
    let mut rows = statement.query([id]).map_err(StoreError::sqlite(context))?;
    match rows.next().map_err(StoreError::sqlite(context))? {
        Some(row) => Ok(Some(decode(row).map_err(StoreError::sqlite(context))??)),
        None => Ok(None),
    }
}

/// Events with ids in `first..=last`, oldest first.
pub(super) fn range(
    connection: &Connection,
    first: i64,
    last: i64,
    each: &mut dyn FnMut(Event),
) -> Result<(), StoreError> {
    let context = "reading events";
    let mut statement = connection
        .prepare_cached(
            "SELECT id, at, mac, kind, details, prev_hash, hash FROM events
             WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
        )
        .map_err(StoreError::sqlite(context))?;
    let mut rows = statement
        .query(params![first, last])
        .map_err(StoreError::sqlite(context))?;
    while let Some(row) = rows.next().map_err(StoreError::sqlite(context))? {
        each(decode(row).map_err(StoreError::sqlite(context))??);
    }
    Ok(())
}

/// Checks the whole chain, one event in memory at a time.
pub(super) fn verify(
    connection: &Connection,
) -> Result<Result<audit::ChainHead, audit::ChainBreak>, StoreError> {
    let context = "reading events";
    let mut statement = connection
        .prepare("SELECT id, at, mac, kind, details, prev_hash, hash FROM events ORDER BY id")
        .map_err(StoreError::sqlite(context))?;
    let mut rows = statement.query([]).map_err(StoreError::sqlite(context))?;
    let mut failure = None;
    let events = std::iter::from_fn(|| match rows.next() {
        Ok(Some(row)) => match decode(row) {
            Ok(Ok(event)) => Some(event),
            Ok(Err(error)) => {
                failure = Some(error);
                None
            }
            Err(source) => {
                failure = Some(StoreError::Sqlite { context, source });
                None
            }
        },
        Ok(None) => None,
        Err(source) => {
            failure = Some(StoreError::Sqlite { context, source });
            None
        }
    });
    let checked = audit::verify_chain(events);
    match failure {
        Some(error) => Err(error),
        None => Ok(checked),
    }
}

pub(super) fn decode(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Event, StoreError>> {
    let id: i64 = row.get(0)?;
    let at: i64 = row.get(1)?;
    let mac: Option<i64> = row.get(2)?;
    let prev_hash: String = row.get(5)?;
    let hash: String = row.get(6)?;
    let kind: String = row.get(3)?;
    let details: String = row.get(4)?;
    Ok((|| {
        let bad_hash = || StoreError::Corrupt(format!("event {id} has a malformed hash"));
        Ok(Event {
            id,
            at: from_micros(at)?,
            mac: match mac {
                // A stored MAC is a 48-bit integer: anything else was not written by us.
                Some(key) if !(0..1 << 48).contains(&key) => {
                    return Err(StoreError::Corrupt(format!(
                        "event {id} has a malformed MAC"
                    )));
                }
                key => key.map(mac_from_key),
            },
            kind,
            details,
            prev_hash: Hash::from_hex(&prev_hash).ok_or_else(bad_hash)?,
            hash: Hash::from_hex(&hash).ok_or_else(bad_hash)?,
        })
    })())
}
