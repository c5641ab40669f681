//! Appending: within the size bound (Invariant 8), or in place on a full filesystem
//! (Invariant 9).

use hygie_proto::Observation;
use rusqlite::{Transaction, params};

use super::error::{OutboxError, sqlite};
use super::evict::{self, Evicted, Scope};
use super::int::sql;
use super::room::Checkpoint;
use super::space::DATA_MARGIN_PAGES;
use super::store::{AppendOutcome, Outbox, SourcePosition};

impl Outbox {
    /// Stores observations (and, atomically with them, a source's new read position). Within
    /// `max_size` the oldest held batches are evicted as Invariant 8 says; on a full
    /// filesystem only delivered and refused ones are, and if that is not enough nothing is
    /// stored: [`OutboxError::DiskFull`] (Invariant 9).
    pub fn append(
        &mut self,
        observations: &[Observation],
        positions: &[SourcePosition],
    ) -> Result<AppendOutcome, OutboxError> {
        let mut trimmed = 0usize;
        let payloads: Vec<Vec<u8>> = observations
            .iter()
            .map(|observation| {
                let (payload, was_trimmed) = hygie_proto::encode_observation(observation);
                trimmed += usize::from(was_trimmed);
                payload
            })
            .collect();
        if trimmed > 0 {
            tracing::debug!(
                trimmed,
                "observations over the contract's size limit kept without some of their services' TXT entries"
            );
        }
        let need = pages_for(&payloads, self.budget.page_size) + DATA_MARGIN_PAGES;
        self.restore_reserve();
        let result = if self.disk_full {
            self.append_in_place(&payloads, positions, need)
        } else {
            match self.append_within_bound(&payloads, positions, need) {
                Err(error) if self.is_full(&error) => {
                    self.note_disk_full(false);
                    self.append_in_place(&payloads, positions, need)
                }
                other => other,
            }
        };
        self.after_write();
        let evicted = result?;
        if evicted.unsent > 0 {
            tracing::warn!(
                evicted = evicted.unsent,
                max_bytes = self.budget.max_bytes,
                "outbox full: oldest observations evicted (collector unreachable for long?)"
            );
        }
        Ok(AppendOutcome {
            stored: payloads.len(),
            evicted: evicted.unsent,
        })
    }

    /// Invariant 8: evict, then insert, then check the file did not grow past the budget (the
    /// page estimate can be short); if it did, roll back and evict more.
    fn append_within_bound(
        &mut self,
        payloads: &[Vec<u8>],
        positions: &[SourcePosition],
        mut need: u64,
    ) -> Result<Evicted, OutboxError> {
        let context = self.context();
        let limit = context.budget.data_pages;
        let mut attempt = 0;
        loop {
            let transaction = self.connection.transaction().map_err(sqlite("appending"))?;
            evict::expire_acked(&transaction, context.now_ms - context.keep_acked_ms)?;
            let evicted = evict::make_room(
                &transaction,
                need,
                limit.saturating_sub(DATA_MARGIN_PAGES),
                Scope::Anything,
            )?;
            insert(&transaction, payloads, positions)?;
            let (count, _) = evict::pages(&transaction)?;
            if count > limit && !evicted.exhausted && attempt < 4 {
                // Rolled back on drop: nothing evicted, nothing stored.
                drop(transaction);
                need += (count - limit) * 2;
                attempt += 1;
                continue;
            }
            // An append larger than the whole budget is stored anyway, after everything else
            // went: Invariant 8's one exception.
            transaction.commit().map_err(sqlite("appending"))?;
            return Ok(evicted);
        }
    }

    /// Invariant 9: on a full filesystem, room comes only from delivered and refused batches,
    /// and the database file must not grow at all.
    fn append_in_place(
        &mut self,
        payloads: &[Vec<u8>],
        positions: &[SourcePosition],
        need: u64,
    ) -> Result<Evicted, OutboxError> {
        // The WAL starts again from its beginning, so its allocated bytes are reused.
        self.checkpoint(Checkpoint::Passive);
        let limit = self.file_pages().min(self.budget.data_pages);
        let context = self.context();
        let freed = self.transact("making room on a full disk", |transaction, _| {
            evict::expire_acked(transaction, context.now_ms - context.keep_acked_ms)?;
            evict::make_room(transaction, need, limit, Scope::DeliveredOnly)
        });
        let freed = match freed {
            Err(error) if self.is_full(&error) => return Err(self.disk_full_error()),
            other => other?,
        };
        self.checkpoint(Checkpoint::Passive);
        let disk_full = self.disk_full_error();
        let stored = self.transact("appending on a full disk", |transaction, _| {
            insert(transaction, payloads, positions)?;
            let (count, _) = evict::pages(transaction)?;
            if count > limit {
                return Err(disk_full);
            }
            Ok(())
        });
        match stored {
            Err(error) if self.is_full(&error) => Err(self.disk_full_error()),
            Err(error) => Err(error),
            Ok(()) => Ok(freed),
        }
    }
}

/// Pages the payloads will take, a little generously: a row costs its payload plus about a
/// dozen bytes, and leaves appended in rowid order are nearly full. The append checks the real
/// count before it commits.
fn pages_for(payloads: &[Vec<u8>], page_size: u64) -> u64 {
    let bytes: u64 = payloads
        .iter()
        .map(|payload| payload.len() as u64 + 12)
        .sum();
    bytes.div_ceil(page_size * 9 / 10) + 2
}

fn insert(
    transaction: &Transaction<'_>,
    payloads: &[Vec<u8>],
    positions: &[SourcePosition],
) -> Result<(), OutboxError> {
    {
        let mut insert = transaction
            .prepare_cached("INSERT INTO pending (payload) VALUES (?1)")
            .map_err(sqlite("appending"))?;
        for payload in payloads {
            insert.execute([payload]).map_err(sqlite("appending"))?;
        }
    }
    for position in positions {
        transaction
            .execute(
                "INSERT INTO source_positions (source, inode, position, line)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (source) DO UPDATE SET
                    inode = excluded.inode, position = excluded.position, line = excluded.line",
                params![
                    position.source,
                    sql(position.inode),
                    sql(position.offset),
                    sql(position.line)
                ],
            )
            .map_err(sqlite("saving a source position"))?;
    }
    Ok(())
}
