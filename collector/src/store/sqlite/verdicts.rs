//! Stored verdicts, written by the single writer inside its commits (see
//! [`crate::inventory::verdict`]), and the state saying what they were computed with.

use rusqlite::{Connection, OptionalExtension, params};

use super::{mac_key, micros, to_json};
use crate::inventory::verdict::{Verdict, VerdictState};
use crate::store::StoreError;

const STATE_KEY: &str = "verdicts";

/// Writes (or replaces) `verdicts` and deletes the verdicts of `removed` devices.
pub(super) fn write(
    connection: &Connection,
    verdicts: &[Verdict],
    removed: &[hygie_proto::MacAddr],
    now: jiff::Timestamp,
) -> Result<(), StoreError> {
    let context = "writing verdicts";
    let mut statement = connection
        .prepare_cached(
            "INSERT INTO verdicts (mac, seen, vendor, category, kind, model, confidence, flags,
                                   classification, search, computed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (mac) DO UPDATE SET
                seen = excluded.seen, vendor = excluded.vendor, category = excluded.category,
                kind = excluded.kind, model = excluded.model, confidence = excluded.confidence,
                flags = excluded.flags, classification = excluded.classification,
                search = excluded.search, computed_at = excluded.computed_at",
        )
        .map_err(StoreError::sqlite(context))?;
    for verdict in verdicts {
        let classification = &verdict.classification;
        statement
            .execute(params![
                mac_key(verdict.mac),
                verdict.seen,
                classification.vendor.as_ref().map(|vendor| &vendor.name),
                classification.category.as_str(),
                classification.kind,
                classification.identity.model,
                classification.confidence,
                verdict.flags.bits(),
                to_json(classification),
                verdict.search,
                micros(now),
            ])
            .map_err(StoreError::sqlite(context))?;
    }
    let mut statement = connection
        .prepare_cached("DELETE FROM verdicts WHERE mac = ?1")
        .map_err(StoreError::sqlite(context))?;
    for mac in removed {
        statement
            .execute([mac_key(*mac)])
            .map_err(StoreError::sqlite(context))?;
    }
    Ok(())
}

/// Records what the stored verdicts were computed with.
pub(super) fn write_state(connection: &Connection, state: &VerdictState) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .and_then(|mut statement| statement.execute(params![STATE_KEY, to_json(state)]))
        .map_err(StoreError::sqlite("recording the verdicts' state"))?;
    Ok(())
}

/// What the stored verdicts were computed with (the default before any was).
pub(super) fn state(connection: &Connection) -> Result<VerdictState, StoreError> {
    let text: Option<String> = connection
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            [STATE_KEY],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("reading the verdicts' state"))?;
    text.map_or_else(
        || Ok(VerdictState::default()),
        |text| {
            serde_json::from_str(&text)
                .map_err(|error| StoreError::Corrupt(format!("verdicts' state: {error}")))
        },
    )
}
