//! The outbox: its types, its state and what reads it; opening, appending and the other writes
//! live beside it. See the module docs for the invariants.

use std::path::PathBuf;
use std::time::Duration;

use hygie_proto::{OutboxId, pb};
use prost::Message;
use rusqlite::{Connection, OptionalExtension};

use super::error::{OutboxError, sqlite};
use super::evict::read_counter;
use super::int::{sql, unsigned};
use super::schema::{ACKED, SET_ASIDE, WAITING};
use super::space::{Budget, FileSizes, Reserve};

/// Batches the collector refused that are kept for inspection, at most; older ones are
/// deleted (and counted) past it.
pub const MAX_SET_ASIDE: u64 = 1_000;

/// How long acknowledged batches are kept by default (Invariant 11).
pub const DEFAULT_KEEP_ACKED: Duration = Duration::from_secs(24 * 3600);

/// The bounds of an outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Bound on the outbox's files together (Invariant 8).
    pub max_bytes: u64,
    /// How long an acknowledged batch is kept for a collector restored from a backup
    /// (Invariant 11); zero deletes it at once.
    pub keep_acked: Duration,
}

impl OutboxLimits {
    /// `max_bytes`, with acknowledged batches kept for [`DEFAULT_KEEP_ACKED`].
    pub fn new(max_bytes: u64) -> Self {
        OutboxLimits {
            max_bytes,
            keep_acked: DEFAULT_KEEP_ACKED,
        }
    }
}

/// A formed batch: its sequence and the ids it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSpan {
    /// Sequence number, from 1.
    pub sequence: u64,
    /// First observation id (inclusive).
    pub first_id: i64,
    /// Last observation id (inclusive).
    pub last_id: i64,
    /// Number of observations.
    pub observations: u32,
}

/// How far a source has read, saved atomically with the observations read up to there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePosition {
    /// Stable name of the source, e.g. `file:/var/lib/hygie-agent/import.jsonl`.
    pub source: String,
    /// Inode of the file read, so a file replaced while the agent was stopped is read anew.
    pub inode: u64,
    /// Byte offset of the next unread line.
    pub offset: u64,
    /// Number of lines read so far (for error messages after a restart).
    pub line: u64,
}

/// What an append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Observations stored.
    pub stored: usize,
    /// Older unsent observations evicted to stay within the size bound.
    pub evicted: u64,
}

/// A summary for logs and `hygie-agent outbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct OutboxStats {
    /// Observations waiting to be acknowledged (batched or not).
    pub observations: u64,
    /// Formed, unacknowledged batches.
    pub batches: u64,
    /// Acknowledged batches still kept for a restored collector (Invariant 11).
    pub acked_batches: u64,
    /// Observations in those batches.
    pub acked_observations: u64,
    /// Stored payload bytes, acknowledged or not.
    pub bytes: u64,
    /// The files on disk (Invariant 8).
    pub files: FileSizes,
    /// Size bound on the files.
    pub max_bytes: u64,
    /// Unsent observations evicted since the outbox was created.
    pub evicted_total: u64,
    /// Batches the collector refused and that were set aside.
    pub set_aside: u64,
    /// The filesystem was found full and the reserve is not back yet (Invariant 9).
    pub disk_full: bool,
}

/// What every write needs to know, copied out of the [`Outbox`] so a transaction can borrow
/// its connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Context {
    pub(super) now_ms: i64,
    pub(super) keep_acked_ms: i64,
    pub(super) budget: Budget,
}

/// The outbox. Not thread-safe by itself: the agent wraps it in a mutex.
#[derive(Debug)]
pub struct Outbox {
    pub(super) connection: Connection,
    pub(super) path: PathBuf,
    /// The directory, for free-space checks and disk-full messages.
    pub(super) dir: PathBuf,
    pub(super) id: OutboxId,
    pub(super) budget: Budget,
    pub(super) keep_acked: Duration,
    /// `None` when opened read-only.
    pub(super) reserve: Option<Reserve>,
    /// A write found the filesystem full; cleared once the reserve is written again.
    pub(super) disk_full: bool,
    /// Shifts the clock, so tests can let `keep_acked` pass.
    #[cfg(test)]
    pub(super) clock_skew: Duration,
    /// Held for the outbox's lifetime: two agents appending to and acknowledging one outbox
    /// would corrupt its sequence.
    pub(super) _lock: Option<std::fs::File>,
}

impl Outbox {
    /// This outbox's identity, sent in the Hello.
    pub fn id(&self) -> OutboxId {
        self.id
    }

    /// The highest sequence this outbox has ever given a batch (0 if none).
    pub fn last_sequence(&self) -> Result<u64, OutboxError> {
        last_sequence(&self.connection)
    }

    /// The highest sequence the collector has acknowledged (0 if none), lowered by
    /// [`Outbox::reopen_after`]. A Welcome reporting less means the collector lost batches it
    /// had committed (restored from a backup): reopen them.
    pub fn highest_acked(&self) -> Result<u64, OutboxError> {
        read_counter(&self.connection, "last_acked")
    }

    /// Where a source left off.
    pub fn source_position(&self, source: &str) -> Result<Option<SourcePosition>, OutboxError> {
        self.connection
            .query_row(
                "SELECT inode, position, line FROM source_positions WHERE source = ?1",
                [source],
                |row| {
                    Ok(SourcePosition {
                        source: source.to_owned(),
                        inode: unsigned(row.get(0)?),
                        offset: unsigned(row.get(1)?),
                        line: unsigned(row.get(2)?),
                    })
                },
            )
            .optional()
            .map_err(sqlite("reading a source position"))
    }

    /// Formed batches not yet acknowledged, oldest first (Invariant 4).
    pub fn unacked(&self) -> Result<Vec<BatchSpan>, OutboxError> {
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT sequence, first_id, last_id, observations FROM batches
                 WHERE state = ?1 ORDER BY sequence",
            )
            .map_err(sqlite("listing batches"))?;
        let rows = statement
            .query_map([WAITING], |row| {
                Ok(BatchSpan {
                    sequence: unsigned(row.get(0)?),
                    first_id: row.get(1)?,
                    last_id: row.get(2)?,
                    observations: row.get(3)?,
                })
            })
            .map_err(sqlite("listing batches"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sqlite("listing batches"))
    }

    /// Loads a formed batch as the message to send; `None` if it was acknowledged, set aside
    /// or evicted.
    pub fn load(&self, sequence: u64) -> Result<Option<pb::ObservationBatch>, OutboxError> {
        let span: Option<(i64, i64)> = self
            .connection
            .query_row(
                "SELECT first_id, last_id FROM batches WHERE sequence = ?1 AND state = ?2",
                [sql(sequence), WAITING],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(sqlite("loading a batch"))?;
        let Some((first_id, last_id)) = span else {
            return Ok(None);
        };
        let mut statement = self
            .connection
            .prepare_cached("SELECT payload FROM pending WHERE id BETWEEN ?1 AND ?2 ORDER BY id")
            .map_err(sqlite("loading a batch"))?;
        let mut rows = statement
            .query([first_id, last_id])
            .map_err(sqlite("loading a batch"))?;
        let mut observations = Vec::new();
        while let Some(row) = rows.next().map_err(sqlite("loading a batch"))? {
            let payload = row.get_ref(0).map_err(sqlite("loading a batch"))?;
            let bytes = payload
                .as_blob()
                .map_err(|_| self.corrupt("payload is not a blob"))?;
            observations.push(
                pb::Observation::decode(bytes)
                    .map_err(|error| self.corrupt(&format!("undecodable observation: {error}")))?,
            );
        }
        Ok(Some(pb::ObservationBatch {
            sequence,
            observations,
        }))
    }

    /// Observations stored but not yet part of a batch.
    pub fn unbatched(&self) -> Result<u64, OutboxError> {
        self.connection
            .query_row(
                "SELECT count(*) FROM pending
                 WHERE id > (SELECT coalesce(max(last_id), 0) FROM batches)",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(unsigned)
            .map_err(sqlite("counting unbatched observations"))
    }

    /// Counts for logs and the `outbox` command.
    pub fn stats(&self) -> Result<OutboxStats, OutboxError> {
        let context = "reading statistics";
        let (stored, bytes): (i64, i64) = self
            .connection
            .query_row(
                "SELECT count(*), coalesce(sum(length(payload)), 0) FROM pending",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(sqlite(context))?;
        let by_state = |state: i64| -> Result<(u64, u64), OutboxError> {
            self.connection
                .query_row(
                    "SELECT count(*), coalesce(sum(observations), 0) FROM batches WHERE state = ?1",
                    [state],
                    |row| Ok((unsigned(row.get(0)?), unsigned(row.get(1)?))),
                )
                .map_err(sqlite(context))
        };
        let (batches, _) = by_state(WAITING)?;
        let (acked_batches, acked_observations) = by_state(ACKED)?;
        let (set_aside, set_aside_observations) = by_state(SET_ASIDE)?;
        let legacy: i64 = self
            .connection
            .query_row("SELECT count(*) FROM set_aside", [], |row| row.get(0))
            .map_err(sqlite(context))?;
        Ok(OutboxStats {
            observations: unsigned(stored)
                .saturating_sub(acked_observations + set_aside_observations),
            batches,
            acked_batches,
            acked_observations,
            bytes: unsigned(bytes),
            files: FileSizes::of(&self.path),
            max_bytes: self.budget.max_bytes,
            evicted_total: read_counter(&self.connection, "evicted_total")?,
            set_aside: set_aside + unsigned(legacy),
            disk_full: self.disk_full,
        })
    }

    fn corrupt(&self, reason: &str) -> OutboxError {
        OutboxError::Corrupt {
            path: self.path.clone(),
            reason: reason.to_owned(),
        }
    }

    pub(super) fn context(&self) -> Context {
        let now = jiff::Timestamp::now();
        #[cfg(test)]
        let now = now + self.clock_skew;
        Context {
            now_ms: now.as_millisecond(),
            keep_acked_ms: i64::try_from(self.keep_acked.as_millis()).unwrap_or(i64::MAX),
            budget: self.budget,
        }
    }
}

/// The highest sequence ever formed: the batches table's, or the counter's once they are gone.
pub(super) fn last_sequence(connection: &Connection) -> Result<u64, OutboxError> {
    let formed: i64 = connection
        .query_row(
            "SELECT coalesce(max(sequence), 0) FROM batches",
            [],
            |row| row.get(0),
        )
        .map_err(sqlite("reading the last sequence"))?;
    Ok(unsigned(formed).max(read_counter(connection, "last_sequence")?))
}
