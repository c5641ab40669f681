//! Making room inside the database file (Invariants 3, 8 and 9): whole batches are deleted,
//! oldest first, in the order of what matters least.

use rusqlite::{OptionalExtension, Transaction};

use super::error::{OutboxError, sqlite};
use super::int::{sql, unsigned};
use super::schema::{ACKED, EVICTED, SET_ASIDE, WAITING};

/// What may be evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// The size bound: delivered, then refused, then unsent observations, oldest first.
    Anything,
    /// A full filesystem: only delivered and refused batches; never an unsent observation.
    DeliveredOnly,
}

/// What an eviction deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Evicted {
    /// Unsent observations (counted in `evicted_total`).
    pub(super) unsent: u64,
    /// Acknowledged batches that were still kept.
    pub(super) acked_batches: u64,
    /// Refused batches that were kept for inspection.
    pub(super) set_aside_batches: u64,
    /// Nothing was left to evict in the scope.
    pub(super) exhausted: bool,
}

impl Evicted {
    fn add(&mut self, other: Evicted) {
        self.unsent += other.unsent;
        self.acked_batches += other.acked_batches;
        self.set_aside_batches += other.set_aside_batches;
        self.exhausted |= other.exhausted;
    }
}

/// `(page_count, freelist_count)` as the transaction sees them.
pub(super) fn pages(transaction: &Transaction<'_>) -> Result<(u64, u64), OutboxError> {
    let read = |pragma: &str| -> Result<u64, OutboxError> {
        transaction
            .query_row(pragma, [], |row| row.get::<_, i64>(0))
            .map(unsigned)
            .map_err(sqlite("counting pages"))
    };
    Ok((read("PRAGMA page_count")?, read("PRAGMA freelist_count")?))
}

/// Pages that can be written without the file growing past `limit` pages: free pages inside
/// it, plus the ones it may still grow by.
fn room(transaction: &Transaction<'_>, limit: u64) -> Result<u64, OutboxError> {
    let (count, free) = pages(transaction)?;
    Ok(free + limit.saturating_sub(count))
}

/// Evicts until `need` pages can be written within `limit` pages, or nothing in `scope` is
/// left. One victim at a time, in the order of Invariant 3.
pub(super) fn make_room(
    transaction: &Transaction<'_>,
    need: u64,
    limit: u64,
    scope: Scope,
) -> Result<Evicted, OutboxError> {
    let mut total = Evicted::default();
    while room(transaction, limit)? < need {
        let evicted = evict_one(transaction, scope)?;
        total.add(evicted);
        if evicted.exhausted {
            break;
        }
    }
    Ok(total)
}

/// Deletes the least valuable thing held: a delivered batch, a refused one, then (for the size
/// bound only) the oldest unsent batch or, if none is formed, the oldest 256 observations.
fn evict_one(transaction: &Transaction<'_>, scope: Scope) -> Result<Evicted, OutboxError> {
    if let Some(sequence) = oldest(transaction, ACKED)? {
        delete_batch(transaction, sequence)?;
        return Ok(Evicted {
            acked_batches: 1,
            ..Evicted::default()
        });
    }
    let legacy = transaction
        .execute(
            "DELETE FROM set_aside WHERE sequence = (SELECT min(sequence) FROM set_aside)",
            [],
        )
        .map_err(sqlite("evicting"))?;
    if legacy > 0 {
        add_counter(transaction, "set_aside_dropped", 1)?;
        return Ok(Evicted {
            set_aside_batches: 1,
            ..Evicted::default()
        });
    }
    if let Some(sequence) = oldest(transaction, SET_ASIDE)? {
        delete_batch(transaction, sequence)?;
        add_counter(transaction, "set_aside_dropped", 1)?;
        return Ok(Evicted {
            set_aside_batches: 1,
            ..Evicted::default()
        });
    }
    let exhausted = Evicted {
        exhausted: true,
        ..Evicted::default()
    };
    if scope == Scope::DeliveredOnly {
        return Ok(exhausted);
    }
    let unsent = match oldest(transaction, WAITING)? {
        Some(sequence) => tombstone_batch(transaction, sequence)?,
        None => {
            let bounds: (Option<i64>, Option<i64>) = transaction
                .query_row(
                    "SELECT min(id), max(id) FROM (SELECT id FROM pending ORDER BY id LIMIT 256)",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(sqlite("evicting"))?;
            match bounds {
                (Some(first), Some(last)) => delete_rows(transaction, first, last)?,
                _ => return Ok(exhausted),
            }
        }
    };
    add_counter(transaction, "evicted_total", unsent)?;
    Ok(Evicted {
        unsent,
        ..Evicted::default()
    })
}

fn oldest(transaction: &Transaction<'_>, state: i64) -> Result<Option<u64>, OutboxError> {
    transaction
        .query_row(
            "SELECT min(sequence) FROM batches WHERE state = ?1",
            [state],
            |row| row.get::<_, Option<i64>>(0),
        )
        .map(|sequence| sequence.and_then(|sequence| u64::try_from(sequence).ok()))
        .map_err(sqlite("evicting"))
}

/// Deletes acknowledged batches acknowledged at or before `cutoff_ms` (Invariant 3).
pub(super) fn expire_acked(
    transaction: &Transaction<'_>,
    cutoff_ms: i64,
) -> Result<u64, OutboxError> {
    let expired: Vec<i64> = {
        let mut statement = transaction
            .prepare_cached(
                "SELECT sequence FROM batches WHERE state = ?1 AND state_at <= ?2 ORDER BY sequence",
            )
            .map_err(sqlite("expiring acknowledged batches"))?;
        let rows = statement
            .query_map([ACKED, cutoff_ms], |row| row.get(0))
            .map_err(sqlite("expiring acknowledged batches"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sqlite("expiring acknowledged batches"))?
    };
    for &sequence in &expired {
        delete_batch(transaction, unsigned(sequence))?;
    }
    Ok(expired.len() as u64)
}

/// Deletes a batch and its rows; returns how many observations went.
pub(super) fn delete_batch(
    transaction: &Transaction<'_>,
    sequence: u64,
) -> Result<u64, OutboxError> {
    let span: Option<(i64, i64)> = transaction
        .query_row(
            "DELETE FROM batches WHERE sequence = ?1 RETURNING first_id, last_id",
            [sql(sequence)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(sqlite("deleting a batch"))?;
    match span {
        Some((first_id, last_id)) => delete_rows(transaction, first_id, last_id),
        None => Ok(0),
    }
}

/// Deletes a formed batch's rows but keeps the batch as [`EVICTED`]: it may be in flight, and
/// only the collector's answer says whether it arrived (Invariant 3). Returns how many
/// observations went.
fn tombstone_batch(transaction: &Transaction<'_>, sequence: u64) -> Result<u64, OutboxError> {
    let span: Option<(i64, i64)> = transaction
        .query_row(
            "UPDATE batches SET state = ?1, state_at = NULL WHERE sequence = ?2
             RETURNING first_id, last_id",
            [EVICTED, sql(sequence)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(sqlite("evicting a batch"))?;
    match span {
        Some((first_id, last_id)) => delete_rows(transaction, first_id, last_id),
        None => Ok(0),
    }
}

/// Deletes `pending` rows in an id range; returns how many.
fn delete_rows(
    transaction: &Transaction<'_>,
    first_id: i64,
    last_id: i64,
) -> Result<u64, OutboxError> {
    transaction
        .execute(
            "DELETE FROM pending WHERE id BETWEEN ?1 AND ?2",
            [first_id, last_id],
        )
        .map(|deleted| deleted as u64)
        .map_err(sqlite("deleting observations"))
}

/// A persistent counter in `meta`.
pub(super) fn read_counter(
    connection: &rusqlite::Connection,
    name: &str,
) -> Result<u64, OutboxError> {
    let value: Option<i64> = connection
        .query_row("SELECT value FROM meta WHERE key = ?1", [name], |row| {
            row.get(0)
        })
        .optional()
        .map_err(sqlite("reading a counter"))?;
    Ok(value.map_or(0, unsigned))
}

/// Sets a persistent counter.
pub(super) fn set_counter(
    connection: &rusqlite::Connection,
    name: &str,
    value: u64,
) -> Result<(), OutboxError> {
    connection
        .execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            rusqlite::params![name, sql(value)],
        )
        .map_err(sqlite("writing a counter"))?;
    Ok(())
}

/// Subtracts from a persistent counter, never below zero.
pub(super) fn subtract_counter(
    connection: &rusqlite::Connection,
    name: &str,
    delta: u64,
) -> Result<(), OutboxError> {
    if delta == 0 {
        return Ok(());
    }
    let value = read_counter(connection, name)?.saturating_sub(delta);
    set_counter(connection, name, value)
}

/// Adds to a persistent counter.
pub(super) fn add_counter(
    connection: &rusqlite::Connection,
    name: &str,
    delta: u64,
) -> Result<(), OutboxError> {
    if delta == 0 {
        return Ok(());
    }
    let value = read_counter(connection, name)? + delta;
    set_counter(connection, name, value)
}
