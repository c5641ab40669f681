//! The writes that drain the outbox or keep it going: forming batches, acknowledging,
//! reopening, setting aside, renewing the id. Each runs through `drain_write`, so it works on a
//! full filesystem (Invariant 9).

use hygie_proto::OutboxId;
use rusqlite::params;

use super::error::{OutboxError, sqlite};
use super::evict::{self, add_counter, read_counter, set_counter, subtract_counter};
use super::int::{sql, unsigned};
use super::schema::{ACKED, EVICTED, SET_ASIDE, WAITING};
use super::store::{BatchSpan, MAX_SET_ASIDE, Outbox, last_sequence};

impl Outbox {
    /// Takes a new random identity, for an outbox found to share its id with another one (a
    /// restored backup, a cloned machine): the collector would take its new batches for replays
    /// of the other's. Stored observations and unacknowledged batches are kept and sent under
    /// the new id. Acknowledged batches kept for a restored collector (Invariant 11) are
    /// deleted: they were acknowledged under the old id, and the collector would take them for
    /// new batches of the new one.
    pub fn renew_id(&mut self) -> Result<OutboxId, OutboxError> {
        let id = OutboxId(rand::random());
        let context = "renewing the outbox id";
        self.drain_write(context, |transaction, _| {
            transaction
                .execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'outbox_id'",
                    [id.0.as_slice()],
                )
                .map_err(sqlite(context))?;
            let acked: Vec<i64> = {
                let mut statement = transaction
                    .prepare("SELECT sequence FROM batches WHERE state = ?1")
                    .map_err(sqlite(context))?;
                statement
                    .query_map([ACKED], |row| row.get(0))
                    .and_then(Iterator::collect)
                    .map_err(sqlite(context))?
            };
            for sequence in acked {
                evict::delete_batch(transaction, unsigned(sequence))?;
            }
            // Evicted under the old id: no cursor will ever settle them; they stay counted.
            settle(transaction, "sequence >= ?1", 0, false)?;
            set_counter(transaction, "last_acked", 0)?;
            Ok(0)
        })?;
        tracing::warn!(old = %self.id, new = %id, "outbox id renewed");
        self.id = id;
        Ok(id)
    }

    /// Forms the next batch from the oldest unbatched observations: up to `max_observations`,
    /// and no more than `max_bytes` of encoded observations (but at least one), so a batch
    /// always fits in a gRPC message. `None` when nothing is waiting.
    pub fn form_batch(
        &mut self,
        max_observations: usize,
        max_bytes: u64,
    ) -> Result<Option<BatchSpan>, OutboxError> {
        let context = "forming a batch";
        self.drain_write(context, |transaction, _| {
            let last_batched: i64 = transaction
                .query_row("SELECT coalesce(max(last_id), 0) FROM batches", [], |row| {
                    row.get(0)
                })
                .map_err(sqlite(context))?;
            let (mut first_id, mut last_id, mut count, mut bytes) = (None, 0, 0u32, 0u64);
            {
                let mut statement = transaction
                    .prepare_cached(
                        "SELECT id, length(payload) FROM pending WHERE id > ?1 ORDER BY id LIMIT ?2",
                    )
                    .map_err(sqlite(context))?;
                let mut rows = statement
                    .query(params![last_batched, sql(max_observations)])
                    .map_err(sqlite(context))?;
                while let Some(row) = rows.next().map_err(sqlite(context))? {
                    let id: i64 = row.get(0).map_err(sqlite(context))?;
                    let length: i64 = row.get(1).map_err(sqlite(context))?;
                    if count > 0 && bytes + unsigned(length) > max_bytes {
                        break;
                    }
                    first_id.get_or_insert(id);
                    last_id = id;
                    count += 1;
                    bytes += unsigned(length);
                }
            }
            let Some(first_id) = first_id else {
                return Ok(None);
            };
            let sequence = last_sequence(transaction)? + 1;
            transaction
                .execute(
                    "INSERT INTO batches (sequence, first_id, last_id, observations)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![sql(sequence), first_id, last_id, count],
                )
                .map_err(sqlite(context))?;
            set_counter(transaction, "last_sequence", sequence)?;
            Ok(Some(BatchSpan {
                sequence,
                first_id,
                last_id,
                observations: count,
            }))
        })
    }

    /// Marks a batch acknowledged: it is no longer sent, and is kept for `keep_acked` in case
    /// the collector is restored from a backup (Invariants 3 and 11). Unknown sequences
    /// (already evicted) are ignored.
    ///
    /// A batch the size bound evicted while it was in flight arrived after all: it leaves
    /// `evicted_total` (Invariant 3).
    pub fn ack(&mut self, sequence: u64) -> Result<(), OutboxError> {
        self.drain_write("acknowledging", |transaction, context| {
            let mut marked = transaction
                .execute(
                    "UPDATE batches SET state = ?1, state_at = ?2 WHERE sequence = ?3 AND state = ?4",
                    params![ACKED, context.now_ms, sql(sequence), WAITING],
                )
                .map_err(sqlite("acknowledging"))?;
            if marked == 0 {
                let delivered = settle(transaction, "sequence = ?1", sql(sequence), true)?;
                marked = usize::from(delivered > 0);
            }
            if marked > 0 && read_counter(transaction, "last_acked")? < sequence {
                set_counter(transaction, "last_acked", sequence)?;
            }
            evict::expire_acked(transaction, context.now_ms - context.keep_acked_ms)?;
            Ok(())
        })
    }

    /// Settles the batches the size bound evicted after they were formed, from the collector's
    /// Welcome (Invariant 3): those at or below `committed`, its last committed sequence, were
    /// committed before the eviction and leave `evicted_total`; the others never arrived (the
    /// collector commits a stream's batches in order) and stay counted. Returns how many
    /// observations turned out delivered.
    pub fn settle_evicted(&mut self, committed: u64) -> Result<u64, OutboxError> {
        self.drain_write("settling evicted batches", |transaction, _| {
            let delivered = settle(transaction, "sequence <= ?1", sql(committed), true)?;
            settle(transaction, "sequence > ?1", sql(committed), false)?;
            Ok(delivered)
        })
    }

    /// Forgets an evicted batch the uplink skips rather than sends: it was not sent in this
    /// session and (settled at the Welcome) not committed before, so it stays counted.
    pub fn skip_evicted(&mut self, sequence: u64) -> Result<(), OutboxError> {
        self.drain_write("skipping an evicted batch", |transaction, _| {
            settle(transaction, "sequence = ?1", sql(sequence), false).map(drop)
        })
    }

    /// Makes every kept acknowledged batch with a sequence above `sequence` unacknowledged
    /// again, so the uplink sends them again, oldest first (Invariants 2, 4 and 11): for a
    /// collector restored from a backup whose Welcome reports `sequence` as its last committed
    /// one. Returns how many batches were reopened.
    pub fn reopen_after(&mut self, sequence: u64) -> Result<u64, OutboxError> {
        let (reopened, missing) = self.drain_write("reopening batches", |transaction, _| {
            let reopened = transaction
                .execute(
                    "UPDATE batches SET state = ?1, state_at = NULL WHERE state = ?2 AND sequence > ?3",
                    params![WAITING, ACKED, sql(sequence)],
                )
                .map_err(sqlite("reopening batches"))?;
            let acked = read_counter(transaction, "last_acked")?;
            let held: i64 = transaction
                .query_row(
                    "SELECT count(*) FROM batches WHERE sequence > ?1 AND sequence <= ?2",
                    [sql(sequence), sql(acked)],
                    |row| row.get(0),
                )
                .map_err(sqlite("reopening batches"))?;
            let missing = acked.saturating_sub(sequence).saturating_sub(unsigned(held));
            set_counter(transaction, "last_acked", acked.min(sequence))?;
            Ok((reopened as u64, missing))
        })?;
        if missing > 0 {
            tracing::warn!(
                after = sequence,
                reopened,
                missing,
                "the collector lost acknowledged batches; some are no longer kept here (past keep_acked, evicted or set aside) and cannot be sent again"
            );
        } else if reopened > 0 {
            tracing::warn!(
                after = sequence,
                reopened,
                "acknowledged batches reopened for a restored collector"
            );
        }
        Ok(reopened)
    }

    /// Marks a batch the collector refused as invalid as set aside: it is never sent again
    /// (it would only be refused again) and stays in the file for inspection.
    pub fn set_aside(&mut self, sequence: u64, reason: &str) -> Result<(), OutboxError> {
        self.drain_write("setting aside", |transaction, context| {
            transaction
                .execute(
                    "UPDATE batches SET state = ?1, state_at = ?2, reason = ?3
                     WHERE sequence = ?4 AND state = ?5",
                    params![SET_ASIDE, context.now_ms, reason, sql(sequence), WAITING],
                )
                .map_err(sqlite("setting aside"))?;
            // Evicted in flight and refused: it did not arrive, and stays counted.
            settle(transaction, "sequence = ?1", sql(sequence), false)?;
            // Bounded: a collector refusing everything must not keep every batch forever.
            let excess: Vec<i64> = {
                let mut statement = transaction
                    .prepare_cached(
                        "SELECT sequence FROM batches WHERE state = ?1
                         ORDER BY sequence DESC LIMIT -1 OFFSET ?2",
                    )
                    .map_err(sqlite("setting aside"))?;
                let rows = statement
                    .query_map([SET_ASIDE, sql(MAX_SET_ASIDE)], |row| row.get(0))
                    .map_err(sqlite("setting aside"))?;
                rows.collect::<Result<_, _>>()
                    .map_err(sqlite("setting aside"))?
            };
            for &old in &excess {
                evict::delete_batch(transaction, unsigned(old))?;
            }
            add_counter(transaction, "set_aside_dropped", excess.len() as u64)
        })
    }
}

/// Deletes the evicted batches `condition` selects (`?1` bound to `value`); when `delivered`,
/// their observations leave `evicted_total`. Returns how many observations they held.
fn settle(
    transaction: &rusqlite::Transaction<'_>,
    condition: &str,
    value: i64,
    delivered: bool,
) -> Result<u64, OutboxError> {
    let observations: i64 = transaction
        .query_row(
            &format!(
                "SELECT coalesce(sum(observations), 0) FROM batches WHERE state = {EVICTED} AND {condition}"
            ),
            [value],
            |row| row.get(0),
        )
        .map_err(sqlite("settling evicted batches"))?;
    transaction
        .execute(
            &format!("DELETE FROM batches WHERE state = {EVICTED} AND {condition}"),
            [value],
        )
        .map_err(sqlite("settling evicted batches"))?;
    let observations = unsigned(observations);
    if delivered {
        subtract_counter(transaction, "evicted_total", observations)?;
    }
    Ok(observations)
}
