//! The outbox's SQLite implementation; see the module docs for its invariants.

use std::path::{Path, PathBuf};

use hygie_proto::{Observation, OutboxId, pb};
use prost::Message;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// Failures of the outbox, with the file involved.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot open the outbox {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("outbox database error while {context}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the outbox {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> OutboxError {
    move |source| OutboxError::Sqlite { context, source }
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
    /// Older observations evicted to stay within the size bound.
    pub evicted: u64,
}

/// A summary for logs and `hygie-agent outbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct OutboxStats {
    /// Observations waiting (batched or not).
    pub observations: u64,
    /// Formed, unacknowledged batches.
    pub batches: u64,
    /// Stored payload bytes.
    pub bytes: u64,
    /// Size bound.
    pub max_bytes: u64,
    /// Observations evicted since the outbox was created.
    pub evicted_total: u64,
    /// Batches the collector refused and that were set aside.
    pub set_aside: u64,
}

const SCHEMA: &str = r#"
    CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS pending (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        payload BLOB NOT NULL                       -- encoded hygie.v1.Observation
    );
    CREATE TABLE IF NOT EXISTS batches (
        sequence     INTEGER PRIMARY KEY,
        first_id     INTEGER NOT NULL,
        last_id      INTEGER NOT NULL,
        observations INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS source_positions (
        source   TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        line     INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS set_aside (
        sequence    INTEGER PRIMARY KEY,
        reason      TEXT NOT NULL,
        set_aside_at TEXT NOT NULL,
        payloads    BLOB NOT NULL                   -- encoded hygie.v1.ObservationBatch
    );
"#;

/// The outbox. Not thread-safe by itself: the agent wraps it in a mutex.
#[derive(Debug)]
pub struct Outbox {
    connection: Connection,
    path: PathBuf,
    id: OutboxId,
    max_bytes: u64,
    /// Sum of `length(payload)` over `pending`, kept in step with every write.
    bytes: u64,
}

impl Outbox {
    /// Opens the outbox at `path`, creating it (with a new random id) if needed.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Self, OutboxError> {
        let open_error = |source| OutboxError::Open {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            let _ = std::fs::create_dir_all(parent);
        }
        let mut connection = Connection::open(path).map_err(open_error)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA busy_timeout = 5000;",
            )
            .map_err(open_error)?;
        let transaction = connection.transaction().map_err(open_error)?;
        transaction.execute_batch(SCHEMA).map_err(open_error)?;
        let stored: Option<Vec<u8>> = transaction
            .query_row(
                "SELECT value FROM meta WHERE key = 'outbox_id'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(open_error)?;
        let id = match stored {
            Some(bytes) => OutboxId::from_slice(&bytes).ok_or_else(|| OutboxError::Corrupt {
                path: path.to_owned(),
                reason: "outbox id is not 16 bytes".into(),
            })?,
            None => {
                let id = OutboxId(rand::random());
                transaction
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('outbox_id', ?1)",
                        [id.0.as_slice()],
                    )
                    .map_err(open_error)?;
                tracing::info!(outbox = %id, path = %path.display(), "new outbox created");
                id
            }
        };
        let bytes: i64 = transaction
            .query_row(
                "SELECT coalesce(sum(length(payload)), 0) FROM pending",
                [],
                |row| row.get(0),
            )
            .map_err(open_error)?;
        transaction.commit().map_err(open_error)?;
        Ok(Outbox {
            connection,
            path: path.to_owned(),
            id,
            max_bytes,
            bytes: bytes as u64,
        })
    }

    /// This outbox's identity, sent in the Hello.
    pub fn id(&self) -> OutboxId {
        self.id
    }

    /// Stores observations (and, atomically with them, a source's new read position), evicting
    /// the oldest stored observations if the size bound requires it.
    pub fn append(
        &mut self,
        observations: &[Observation],
        positions: &[SourcePosition],
    ) -> Result<AppendOutcome, OutboxError> {
        let payloads: Vec<Vec<u8>> = observations
            .iter()
            .map(|observation| pb::Observation::from(observation).encode_to_vec())
            .collect();
        let incoming: u64 = payloads.iter().map(|p| p.len() as u64).sum();
        let transaction = self.connection.transaction().map_err(sqlite("appending"))?;
        let (evicted, freed) = evict(&transaction, self.bytes + incoming, self.max_bytes)?;
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO pending (payload) VALUES (?1)")
                .map_err(sqlite("appending"))?;
            for payload in &payloads {
                insert.execute([payload]).map_err(sqlite("appending"))?;
            }
        }
        for position in positions {
            transaction
                .execute(
                    "INSERT INTO source_positions (source, position, line) VALUES (?1, ?2, ?3)
                     ON CONFLICT (source) DO UPDATE SET
                        position = excluded.position, line = excluded.line",
                    params![
                        position.source,
                        position.offset as i64,
                        position.line as i64
                    ],
                )
                .map_err(sqlite("saving a source position"))?;
        }
        if evicted > 0 {
            add_counter(&transaction, "evicted_total", evicted)?;
        }
        transaction.commit().map_err(sqlite("appending"))?;
        self.bytes = (self.bytes + incoming).saturating_sub(freed);
        if evicted > 0 {
            tracing::warn!(
                evicted,
                max_bytes = self.max_bytes,
                "outbox full: oldest observations evicted (collector unreachable for long?)"
            );
        }
        Ok(AppendOutcome {
            stored: payloads.len(),
            evicted,
        })
    }

    /// Where a source left off.
    pub fn source_position(&self, source: &str) -> Result<Option<SourcePosition>, OutboxError> {
        self.connection
            .query_row(
                "SELECT position, line FROM source_positions WHERE source = ?1",
                [source],
                |row| {
                    Ok(SourcePosition {
                        source: source.to_owned(),
                        offset: row.get::<_, i64>(0)? as u64,
                        line: row.get::<_, i64>(1)? as u64,
                    })
                },
            )
            .optional()
            .map_err(sqlite("reading a source position"))
    }

    /// Formed batches not yet acknowledged, oldest first.
    pub fn unacked(&self) -> Result<Vec<BatchSpan>, OutboxError> {
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT sequence, first_id, last_id, observations FROM batches ORDER BY sequence",
            )
            .map_err(sqlite("listing batches"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(BatchSpan {
                    sequence: row.get::<_, i64>(0)? as u64,
                    first_id: row.get(1)?,
                    last_id: row.get(2)?,
                    observations: row.get(3)?,
                })
            })
            .map_err(sqlite("listing batches"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sqlite("listing batches"))
    }

    /// Forms the next batch from up to `max` unbatched observations, if there are any.
    pub fn form_batch(&mut self, max: usize) -> Result<Option<BatchSpan>, OutboxError> {
        let transaction = self
            .connection
            .transaction()
            .map_err(sqlite("forming a batch"))?;
        let (last_batched, last_sequence): (i64, i64) = transaction
            .query_row(
                "SELECT coalesce(max(last_id), 0), coalesce(max(sequence), 0) FROM batches",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(sqlite("forming a batch"))?;
        // With no batch left, continue after the highest sequence ever used.
        let last_sequence = last_sequence.max(read_counter(&transaction, "last_sequence")? as i64);
        let (first_id, last_id, count): (Option<i64>, Option<i64>, i64) = transaction
            .query_row(
                "SELECT min(id), max(id), count(*) FROM
                    (SELECT id FROM pending WHERE id > ?1 ORDER BY id LIMIT ?2)",
                params![last_batched, max as i64],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .map_err(sqlite("forming a batch"))?;
        let (Some(first_id), Some(last_id)) = (first_id, last_id) else {
            return Ok(None);
        };
        let sequence = last_sequence + 1;
        transaction
            .execute(
                "INSERT INTO batches (sequence, first_id, last_id, observations)
                 VALUES (?1, ?2, ?3, ?4)",
                params![sequence, first_id, last_id, count],
            )
            .map_err(sqlite("forming a batch"))?;
        set_counter(&transaction, "last_sequence", sequence as u64)?;
        transaction.commit().map_err(sqlite("forming a batch"))?;
        Ok(Some(BatchSpan {
            sequence: sequence as u64,
            first_id,
            last_id,
            observations: count as u32,
        }))
    }

    /// Loads a formed batch as the message to send; `None` if it was acknowledged or evicted.
    pub fn load(&self, sequence: u64) -> Result<Option<pb::ObservationBatch>, OutboxError> {
        let span: Option<(i64, i64)> = self
            .connection
            .query_row(
                "SELECT first_id, last_id FROM batches WHERE sequence = ?1",
                [sequence as i64],
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

    /// Deletes an acknowledged batch and its observations. Unknown sequences (already evicted)
    /// are ignored.
    pub fn ack(&mut self, sequence: u64) -> Result<(), OutboxError> {
        let transaction = self
            .connection
            .transaction()
            .map_err(sqlite("acknowledging"))?;
        let freed = delete_batch(&transaction, sequence)?;
        transaction.commit().map_err(sqlite("acknowledging"))?;
        self.bytes = self.bytes.saturating_sub(freed.1);
        Ok(())
    }

    /// Moves a batch the collector refused as invalid out of the queue, keeping it for
    /// inspection: sending it again would only be refused again.
    pub fn set_aside(&mut self, sequence: u64, reason: &str) -> Result<(), OutboxError> {
        let Some(batch) = self.load(sequence)? else {
            return Ok(());
        };
        let transaction = self
            .connection
            .transaction()
            .map_err(sqlite("setting aside"))?;
        transaction
            .execute(
                "INSERT OR REPLACE INTO set_aside (sequence, reason, set_aside_at, payloads)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    sequence as i64,
                    reason,
                    jiff::Timestamp::now().to_string(),
                    batch.encode_to_vec()
                ],
            )
            .map_err(sqlite("setting aside"))?;
        let freed = delete_batch(&transaction, sequence)?;
        transaction.commit().map_err(sqlite("setting aside"))?;
        self.bytes = self.bytes.saturating_sub(freed.1);
        Ok(())
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
            .map(|count| count as u64)
            .map_err(sqlite("counting unbatched observations"))
    }

    /// Counts for logs and the `outbox` command.
    pub fn stats(&self) -> Result<OutboxStats, OutboxError> {
        let count = |sql: &str| -> Result<u64, OutboxError> {
            self.connection
                .query_row(sql, [], |row| row.get::<_, i64>(0))
                .map(|value| value as u64)
                .map_err(sqlite("reading statistics"))
        };
        Ok(OutboxStats {
            observations: count("SELECT count(*) FROM pending")?,
            batches: count("SELECT count(*) FROM batches")?,
            bytes: self.bytes,
            max_bytes: self.max_bytes,
            evicted_total: read_counter(&self.connection, "evicted_total")?,
            set_aside: count("SELECT count(*) FROM set_aside")?,
        })
    }

    fn corrupt(&self, reason: &str) -> OutboxError {
        OutboxError::Corrupt {
            path: self.path.clone(),
            reason: reason.to_owned(),
        }
    }
}

/// Deletes a batch and its rows; returns (observations, bytes) freed.
fn delete_batch(transaction: &Transaction<'_>, sequence: u64) -> Result<(u64, u64), OutboxError> {
    let span: Option<(i64, i64)> = transaction
        .query_row(
            "DELETE FROM batches WHERE sequence = ?1 RETURNING first_id, last_id",
            [sequence as i64],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(sqlite("deleting a batch"))?;
    let Some((first_id, last_id)) = span else {
        return Ok((0, 0));
    };
    delete_rows(transaction, first_id, last_id)
}

/// Deletes `pending` rows in an id range; returns (rows, bytes) freed.
fn delete_rows(
    transaction: &Transaction<'_>,
    first_id: i64,
    last_id: i64,
) -> Result<(u64, u64), OutboxError> {
    let (rows, bytes): (i64, i64) = transaction
        .query_row(
            "SELECT count(*), coalesce(sum(length(payload)), 0) FROM pending
             WHERE id BETWEEN ?1 AND ?2",
            [first_id, last_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(sqlite("deleting observations"))?;
    transaction
        .execute(
            "DELETE FROM pending WHERE id BETWEEN ?1 AND ?2",
            [first_id, last_id],
        )
        .map_err(sqlite("deleting observations"))?;
    Ok((rows as u64, bytes as u64))
}

/// Evicts oldest observations until `needed` bytes fit in `max`; returns (evicted, bytes freed).
fn evict(transaction: &Transaction<'_>, needed: u64, max: u64) -> Result<(u64, u64), OutboxError> {
    let mut over = needed.saturating_sub(max);
    let (mut evicted, mut freed) = (0, 0);
    while over > 0 {
        let oldest_batch: Option<i64> = transaction
            .query_row("SELECT min(sequence) FROM batches", [], |row| row.get(0))
            .map_err(sqlite("evicting"))?;
        let (rows, bytes) = match oldest_batch {
            Some(sequence) => delete_batch(transaction, sequence as u64)?,
            None => {
                // Unbatched rows: evict a slice of the oldest.
                let bounds: (Option<i64>, Option<i64>) = transaction
                    .query_row(
                        "SELECT min(id), max(id) FROM (SELECT id FROM pending ORDER BY id LIMIT 256)",
                        [],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .map_err(sqlite("evicting"))?;
                match bounds {
                    (Some(first), Some(last)) => delete_rows(transaction, first, last)?,
                    _ => break,
                }
            }
        };
        evicted += rows;
        freed += bytes;
        over = over.saturating_sub(bytes);
    }
    Ok((evicted, freed))
}

fn read_counter(connection: &Connection, name: &str) -> Result<u64, OutboxError> {
    let value: Option<i64> = connection
        .query_row("SELECT value FROM meta WHERE key = ?1", [name], |row| {
            row.get(0)
        })
        .optional()
        .map_err(sqlite("reading a counter"))?;
    Ok(value.unwrap_or(0) as u64)
}

fn set_counter(connection: &Connection, name: &str, value: u64) -> Result<(), OutboxError> {
    connection
        .execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![name, value as i64],
        )
        .map_err(sqlite("writing a counter"))?;
    Ok(())
}

fn add_counter(connection: &Connection, name: &str, delta: u64) -> Result<(), OutboxError> {
    let value = read_counter(connection, name)? + delta;
    set_counter(connection, name, value)
}
