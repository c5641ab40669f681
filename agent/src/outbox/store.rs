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
    #[error("the outbox {path} is in use by another hygie-agent (lock {lock} is held)")]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("cannot lock the outbox: {lock}")]
    Lock {
        lock: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no outbox at {0}")]
    Missing(PathBuf),
    #[error("an outbox task failed: {0}")]
    Task(String),
}

/// Batches the collector refused that are kept for inspection, at most; older ones are
/// deleted (and counted) past it.
pub const MAX_SET_ASIDE: u64 = 1_000;

/// What a deletion freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Freed {
    observations: u64,
    bytes: u64,
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
        inode    INTEGER NOT NULL,
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
    /// Held for the outbox's lifetime: two agents appending to and acknowledging one outbox
    /// would corrupt its sequence.
    _lock: Option<std::fs::File>,
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
        let lock = lock(path)?;
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
            _lock: Some(lock),
        })
    }

    /// Opens an existing outbox read-only, without its lock, to look at it (`hygie-agent
    /// outbox`) while an agent runs. Creates nothing.
    pub fn open_read_only(path: &Path) -> Result<Self, OutboxError> {
        if !path.exists() {
            return Err(OutboxError::Missing(path.to_owned()));
        }
        let open_error = |source| OutboxError::Open {
            path: path.to_owned(),
            source,
        };
        let connection =
            Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(open_error)?;
        let stored: Vec<u8> = connection
            .query_row(
                "SELECT value FROM meta WHERE key = 'outbox_id'",
                [],
                |row| row.get(0),
            )
            .map_err(open_error)?;
        let id = OutboxId::from_slice(&stored).ok_or_else(|| OutboxError::Corrupt {
            path: path.to_owned(),
            reason: "outbox id is not 16 bytes".into(),
        })?;
        let bytes: i64 = connection
            .query_row(
                "SELECT coalesce(sum(length(payload)), 0) FROM pending",
                [],
                |row| row.get(0),
            )
            .map_err(open_error)?;
        Ok(Outbox {
            connection,
            path: path.to_owned(),
            id,
            max_bytes: 0,
            bytes: bytes as u64,
            _lock: None,
        })
    }

    /// This outbox's identity, sent in the Hello.
    pub fn id(&self) -> OutboxId {
        self.id
    }

    /// The highest sequence this outbox has ever given a batch (0 if none).
    pub fn last_sequence(&self) -> Result<u64, OutboxError> {
        last_sequence(&self.connection)
    }

    /// Takes a new random identity, for an outbox found to share its id with another one (a
    /// restored backup, a cloned machine): the collector would take its new batches for replays
    /// of the other's. Stored observations and formed batches are kept and sent under the new id.
    pub fn renew_id(&mut self) -> Result<OutboxId, OutboxError> {
        let id = OutboxId(rand::random());
        self.connection
            .execute(
                "UPDATE meta SET value = ?1 WHERE key = 'outbox_id'",
                [id.0.as_slice()],
            )
            .map_err(sqlite("renewing the outbox id"))?;
        tracing::warn!(old = %self.id, new = %id, "outbox id renewed");
        self.id = id;
        Ok(id)
    }

    /// Stores observations (and, atomically with them, a source's new read position), evicting
    /// the oldest stored observations if the size bound requires it.
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
        let incoming: u64 = payloads.iter().map(|p| p.len() as u64).sum();
        let transaction = self.connection.transaction().map_err(sqlite("appending"))?;
        let freed = evict(&transaction, self.bytes + incoming, self.max_bytes)?;
        let evicted = freed.observations;
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
                    "INSERT INTO source_positions (source, inode, position, line)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (source) DO UPDATE SET
                        inode = excluded.inode, position = excluded.position, line = excluded.line",
                    params![
                        position.source,
                        position.inode as i64,
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
        self.bytes = (self.bytes + incoming).saturating_sub(freed.bytes);
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
                "SELECT inode, position, line FROM source_positions WHERE source = ?1",
                [source],
                |row| {
                    Ok(SourcePosition {
                        source: source.to_owned(),
                        inode: row.get::<_, i64>(0)? as u64,
                        offset: row.get::<_, i64>(1)? as u64,
                        line: row.get::<_, i64>(2)? as u64,
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

    /// Forms the next batch from the oldest unbatched observations: up to `max_observations`,
    /// and no more than `max_bytes` of encoded observations (but at least one), so a batch
    /// always fits in a gRPC message. `None` when nothing is waiting.
    pub fn form_batch(
        &mut self,
        max_observations: usize,
        max_bytes: u64,
    ) -> Result<Option<BatchSpan>, OutboxError> {
        let context = "forming a batch";
        let transaction = self.connection.transaction().map_err(sqlite(context))?;
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
                .query(params![last_batched, max_observations as i64])
                .map_err(sqlite(context))?;
            while let Some(row) = rows.next().map_err(sqlite(context))? {
                let id: i64 = row.get(0).map_err(sqlite(context))?;
                let length: i64 = row.get(1).map_err(sqlite(context))?;
                if count > 0 && bytes + length as u64 > max_bytes {
                    break;
                }
                first_id.get_or_insert(id);
                last_id = id;
                count += 1;
                bytes += length as u64;
            }
        }
        let Some(first_id) = first_id else {
            return Ok(None);
        };
        let sequence = last_sequence(&transaction)? + 1;
        transaction
            .execute(
                "INSERT INTO batches (sequence, first_id, last_id, observations)
                 VALUES (?1, ?2, ?3, ?4)",
                params![sequence as i64, first_id, last_id, count],
            )
            .map_err(sqlite(context))?;
        set_counter(&transaction, "last_sequence", sequence)?;
        transaction.commit().map_err(sqlite(context))?;
        Ok(Some(BatchSpan {
            sequence,
            first_id,
            last_id,
            observations: count,
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
        self.bytes = self.bytes.saturating_sub(freed.bytes);
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
        // Bounded: a collector refusing everything must not grow this table forever.
        let dropped = transaction
            .execute(
                "DELETE FROM set_aside WHERE sequence NOT IN
                    (SELECT sequence FROM set_aside ORDER BY sequence DESC LIMIT ?1)",
                [MAX_SET_ASIDE as i64],
            )
            .map_err(sqlite("setting aside"))?;
        if dropped > 0 {
            add_counter(&transaction, "set_aside_dropped", dropped as u64)?;
        }
        transaction.commit().map_err(sqlite("setting aside"))?;
        self.bytes = self.bytes.saturating_sub(freed.bytes);
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

/// Deletes a batch and its rows.
fn delete_batch(transaction: &Transaction<'_>, sequence: u64) -> Result<Freed, OutboxError> {
    let span: Option<(i64, i64)> = transaction
        .query_row(
            "DELETE FROM batches WHERE sequence = ?1 RETURNING first_id, last_id",
            [sequence as i64],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(sqlite("deleting a batch"))?;
    match span {
        Some((first_id, last_id)) => delete_rows(transaction, first_id, last_id),
        None => Ok(Freed::default()),
    }
}

/// Deletes `pending` rows in an id range.
fn delete_rows(
    transaction: &Transaction<'_>,
    first_id: i64,
    last_id: i64,
) -> Result<Freed, OutboxError> {
    let (observations, bytes): (i64, i64) = transaction
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
    Ok(Freed {
        observations: observations as u64,
        bytes: bytes as u64,
    })
}

/// Evicts oldest observations until `needed` bytes fit in `max`.
fn evict(transaction: &Transaction<'_>, needed: u64, max: u64) -> Result<Freed, OutboxError> {
    let mut over = needed.saturating_sub(max);
    let mut total = Freed::default();
    while over > 0 {
        let oldest_batch: Option<i64> = transaction
            .query_row("SELECT min(sequence) FROM batches", [], |row| row.get(0))
            .map_err(sqlite("evicting"))?;
        let freed = match oldest_batch {
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
        total.observations += freed.observations;
        total.bytes += freed.bytes;
        over = over.saturating_sub(freed.bytes);
    }
    Ok(total)
}

/// Takes the outbox's lock file, `<outbox>.lock`, for the life of the returned file.
fn lock(path: &Path) -> Result<std::fs::File, OutboxError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| OutboxError::Lock {
            lock: lock_path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(OutboxError::Locked {
            path: path.to_owned(),
            lock: lock_path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(OutboxError::Lock {
            lock: lock_path,
            source,
        }),
    }
}

/// The highest sequence ever formed: the batches table's, or the counter's once they are gone.
fn last_sequence(connection: &Connection) -> Result<u64, OutboxError> {
    let formed: i64 = connection
        .query_row(
            "SELECT coalesce(max(sequence), 0) FROM batches",
            [],
            |row| row.get(0),
        )
        .map_err(sqlite("reading the last sequence"))?;
    Ok((formed as u64).max(read_counter(connection, "last_sequence")?))
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
