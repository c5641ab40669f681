//! The reads of a reconstruction (`crate::asof`): how far back the history goes, the anchor
//! event, and the two streams it is rebuilt from, in one consistent read. Memory stays that of
//! one asset: observations stream in (MAC, seen_at) order off the `observations_by_mac` index,
//! events in (MAC, id) order off `events_by_mac`.

use hygie_proto::{MacAddr, Observation};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, events, from_micros, micros};
use crate::asof::{self, Anchor, AsOfError, HistoryBounds, Moment, PastAsset, PastObservation};
use crate::audit::{Event, Hash};
use crate::store::{HistoryRow, InventoryReader, StoreError};

/// Why a reconstruction could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AsOfReadError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The moment was refused, or the rows could not be replayed.
    #[error(transparent)]
    AsOf(#[from] AsOfError),
}

fn checked_mac(value: i64) -> Result<MacAddr, StoreError> {
    u64::try_from(value)
        .ok()
        .filter(|key| *key < 1 << 48)
        .map(MacAddr::from_u64)
        .ok_or_else(|| StoreError::Corrupt(format!("MAC key {value} is not a 48-bit address")))
}

fn key(mac: MacAddr) -> Result<i64, StoreError> {
    i64::try_from(mac.to_u64()).map_err(|_| StoreError::Corrupt(format!("MAC {mac}")))
}

fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn optional_time(
    connection: &Connection,
    sql: &str,
    context: &'static str,
) -> Result<Option<Timestamp>, StoreError> {
    let value: Option<Option<i64>> = connection
        .query_row(sql, [], |row| row.get(0))
        .optional()
        .map_err(StoreError::sqlite(context))?;
    value.flatten().map(from_micros).transpose()
}

fn bounds(connection: &Connection) -> Result<HistoryBounds, StoreError> {
    let context = "reading how far back the history goes";
    let first_event = optional_time(connection, "SELECT min(at) FROM events", context)?;
    let first_asset = optional_time(
        connection,
        "SELECT at FROM events WHERE kind = 'asset_new' ORDER BY id LIMIT 1",
        context,
    )?;
    // Ids grow with arrival, and pruning deletes from the low end (`prune_history`).
    let oldest: Option<(i64, i64)> = connection
        .query_row(
            "SELECT id, received_at FROM observations ORDER BY id LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(StoreError::sqlite(context))?;
    let oldest_kept = oldest.map(|(_, at)| from_micros(at)).transpose()?;
    // Pruned: the first rows are gone, or an asset was announced before the oldest kept
    // observation arrived (a table emptied by age then refilled starts its ids again at 1).
    let pruned = oldest.is_some_and(|(id, _)| id > 1)
        || match (first_asset, oldest_kept) {
            (Some(announced), Some(kept)) => announced < kept,
            (Some(_), None) => true,
            (None, _) => false,
        };
    let first_record = match (first_event, oldest_kept) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(HistoryBounds {
        first_record,
        oldest_kept,
        pruned,
    })
}

fn anchor(connection: &Connection, moment: &Moment) -> Result<Anchor, StoreError> {
    let context = "finding the event a reconstruction stands on";
    let row: Option<(i64, String)> = connection
        .query_row(
            "SELECT id, hash FROM events WHERE at <= ?1 ORDER BY at DESC, id DESC LIMIT 1",
            [micros(moment.at())],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(StoreError::sqlite(context))?;
    match row {
        None => Ok(Anchor {
            id: 0,
            hash: Hash::GENESIS,
        }),
        Some((id, hash)) => Ok(Anchor {
            id,
            hash: Hash::from_hex(&hash)
                .ok_or_else(|| StoreError::Corrupt(format!("event {id} has a malformed hash")))?,
        }),
    }
}

fn decode_observation(row: &rusqlite::Row<'_>) -> Result<PastObservation, StoreError> {
    let sqlite = StoreError::sqlite("reading the observation history");
    let get_text = |index: usize| row.get::<_, String>(index);
    let mac = checked_mac(row.get(0).map_err(StoreError::sqlite("reading a MAC"))?)?;
    let corrupt = |what: &str, error: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("observation of {mac}: {what}: {error}"))
    };
    let fields = (|| {
        Ok::<_, rusqlite::Error>((
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, i64>(3)?,
            get_text(4)?,
            get_text(5)?,
            get_text(6)?,
            row.get::<_, Option<String>>(7)?,
            row.get::<_, Option<String>>(8)?,
            row.get::<_, Option<String>>(9)?,
        ))
    })()
    .map_err(sqlite)?;
    let (agent, seen_at, received_at, source, interface, ips, hostname, services, detail) = fields;
    let mut observation = Observation::new(
        mac,
        from_micros(seen_at)?,
        source.parse().map_err(|error| corrupt("source", &error))?,
    );
    observation.interface = interface;
    observation.ips = serde_json::from_str(&ips).map_err(|error| corrupt("ips", &error))?;
    observation.hostname = hostname;
    if let Some(services) = services {
        observation.services =
            serde_json::from_str(&services).map_err(|error| corrupt("services", &error))?;
    }
    observation.detail = detail
        .map(|detail| serde_json::from_str(&detail))
        .transpose()
        .map_err(|error| corrupt("detail", &error))?;
    Ok(PastObservation {
        agent,
        received_at: from_micros(received_at)?,
        observation,
    })
}

const OBSERVATION_COLUMNS: &str =
    "mac, agent_id, seen_at, received_at, source, interface, ips, hostname, services, detail";

impl SqliteStore {
    /// How far back a reconstruction can go.
    pub fn history_bounds(&self) -> Result<HistoryBounds, StoreError> {
        bounds(self.connection())
    }

    /// Rebuilds the inventory at `moment` (every device, or only `only`) in one consistent
    /// read, handing each device to `emit` in MAC order; returns the anchor. Refuses a moment
    /// before the history kept.
    pub fn past_inventory(
        &self,
        moment: &Moment,
        only: Option<MacAddr>,
        emit: impl FnMut(PastAsset) -> Result<(), AsOfReadError>,
    ) -> Result<Anchor, AsOfReadError> {
        self.consistent(|store| store.past_inventory_now(moment, only, emit))?
    }

    fn past_inventory_now(
        &self,
        moment: &Moment,
        only: Option<MacAddr>,
        emit: impl FnMut(PastAsset) -> Result<(), AsOfReadError>,
    ) -> Result<Anchor, AsOfReadError> {
        let connection = self.connection();
        bounds(connection)?.admit(moment)?;
        let anchor = anchor(connection, moment)?;
        let context = "reading a reconstruction";
        let mac = only.map(key).transpose()?;
        let (event_sql, observation_sql) = match mac {
            None => (
                "SELECT id, at, mac, kind, details, prev_hash, hash FROM events
                 WHERE mac IS NOT NULL AND id <= ?1 ORDER BY mac, id"
                    .to_owned(),
                format!(
                    "SELECT {OBSERVATION_COLUMNS} FROM observations
                     WHERE seen_at <= ?1 AND received_at <= ?1 ORDER BY mac, seen_at"
                ),
            ),
            Some(_) => (
                "SELECT id, at, mac, kind, details, prev_hash, hash FROM events
                 WHERE mac = ?2 AND id <= ?1 ORDER BY mac, id"
                    .to_owned(),
                format!(
                    "SELECT {OBSERVATION_COLUMNS} FROM observations
                     WHERE mac = ?2 AND seen_at <= ?1 AND received_at <= ?1 ORDER BY mac, seen_at"
                ),
            ),
        };
        let mut event_statement = connection
            .prepare(&event_sql)
            .map_err(StoreError::sqlite(context))?;
        let mut event_rows = match mac {
            None => event_statement.query(params![anchor.id]),
            Some(mac) => event_statement.query(params![anchor.id, mac]),
        }
        .map_err(StoreError::sqlite(context))?;
        let events = std::iter::from_fn(move || match event_rows.next() {
            Ok(Some(row)) => Some(match events::decode(row) {
                Ok(Ok(event)) => Ok(event),
                Ok(Err(error)) => Err(AsOfReadError::from(error)),
                Err(source) => Err(StoreError::Sqlite { context, source }.into()),
            }),
            Ok(None) => None,
            Err(source) => Some(Err(StoreError::Sqlite { context, source }.into())),
        });
        let mut observation_statement = connection
            .prepare(&observation_sql)
            .map_err(StoreError::sqlite(context))?;
        let at = micros(moment.at());
        let mut observation_rows = match mac {
            None => observation_statement.query(params![at]),
            Some(mac) => observation_statement.query(params![at, mac]),
        }
        .map_err(StoreError::sqlite(context))?;
        let observations = std::iter::from_fn(move || match observation_rows.next() {
            Ok(Some(row)) => Some(decode_observation(row).map_err(AsOfReadError::from)),
            Ok(None) => None,
            Err(source) => Some(Err(StoreError::Sqlite { context, source }.into())),
        });
        asof::rebuild(moment, anchor, events, observations, emit)?;
        Ok(anchor)
    }

    /// The most recent observations of `mac` that were part of the inventory at `moment`,
    /// newest first.
    pub fn past_history(
        &self,
        mac: MacAddr,
        moment: &Moment,
        recent: usize,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let context = "reading a past history";
        let mut statement = self
            .connection()
            .prepare(&format!(
                "SELECT {OBSERVATION_COLUMNS} FROM observations
                 WHERE mac = ?1 AND seen_at <= ?2 AND received_at <= ?2
                 ORDER BY seen_at DESC, id DESC LIMIT ?3"
            ))
            .map_err(StoreError::sqlite(context))?;
        let mut rows = statement
            .query(params![key(mac)?, micros(moment.at()), limit(recent)])
            .map_err(StoreError::sqlite(context))?;
        let mut history = Vec::new();
        while let Some(row) = rows.next().map_err(StoreError::sqlite(context))? {
            let past = decode_observation(row)?;
            history.push(HistoryRow {
                seen_at: past.observation.seen_at,
                received_at: past.received_at,
                agent_id: past.agent,
                source: past.observation.source.as_str().to_owned(),
                interface: past.observation.interface,
                ips: past.observation.ips,
                hostname: past.observation.hostname,
            });
        }
        Ok(history)
    }

    /// The most recent events about `mac` up to `anchor`, oldest first.
    pub fn past_events(
        &self,
        mac: MacAddr,
        anchor: Anchor,
        recent: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let context = "reading past events";
        let mut statement = self
            .connection()
            .prepare(
                "SELECT id, at, mac, kind, details, prev_hash, hash FROM events
                 WHERE mac = ?1 AND id <= ?2 ORDER BY id DESC LIMIT ?3",
            )
            .map_err(StoreError::sqlite(context))?;
        let mut rows = statement
            .query(params![key(mac)?, anchor.id, limit(recent)])
            .map_err(StoreError::sqlite(context))?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().map_err(StoreError::sqlite(context))? {
            found.push(events::decode(row).map_err(StoreError::sqlite(context))??);
        }
        found.reverse();
        Ok(found)
    }
}
