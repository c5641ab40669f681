//! Opening an outbox: its directory and files made private (Invariant 6), the lock, the
//! checks that refuse or set aside an unusable file (Invariant 10), and settling it under its
//! bound (Invariant 8).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hygie_proto::OutboxId;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension};

use super::error::{OutboxError, Unusable, sqlite};
use super::evict::{self, Scope};
use super::recover::set_aside_file;
use super::room::Checkpoint;
use super::schema::{self, Failure};
use super::space::{
    self, Budget, Reserve, create_private_dirs, create_private_file, restrict, sibling,
};
use super::store::{Outbox, OutboxLimits};

impl Outbox {
    /// Opens the outbox at `path` with acknowledged batches kept for
    /// [`DEFAULT_KEEP_ACKED`](super::DEFAULT_KEEP_ACKED),
    /// creating it (with a new random id) if needed.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Self, OutboxError> {
        Self::open_with(path, OutboxLimits::new(max_bytes))
    }

    /// Opens the outbox at `path`, creating it (with a new random id) if needed. A file that
    /// cannot be an outbox is refused with [`OutboxError::Unusable`] and left alone.
    pub fn open_with(path: &Path, limits: OutboxLimits) -> Result<Self, OutboxError> {
        let lock = prepare(path)?;
        Self::open_holding(path, limits, lock).map_err(|(error, _)| error)
    }

    /// Like [`Outbox::open_with`], but a file that cannot be an outbox (garbage, failing
    /// SQLite's integrity check, written by a newer agent) is set aside and a new outbox
    /// created in its place (Invariant 10), so the agent keeps discovering. An outbox locked
    /// by another agent is not touched.
    pub fn open_recovering(path: &Path, limits: OutboxLimits) -> Result<Self, OutboxError> {
        let lock = prepare(path)?;
        match Self::open_holding(path, limits, lock) {
            Err((OutboxError::Unusable { reason, .. }, lock)) => {
                let moved = set_aside_file(path)?;
                tracing::error!(
                    path = %path.display(),
                    set_aside_as = %moved.display(),
                    reason = %reason,
                    "the outbox cannot be used ({reason}): it was set aside as {}, with its -wal and -shm; \
                     the unsent observations it may hold are not lost on disk but will not be sent. \
                     A new outbox (with a new id) takes its place and discovery goes on",
                    moved.display()
                );
                Self::open_holding(path, limits, lock).map_err(|(error, _)| error)
            }
            other => other.map_err(|(error, _)| error),
        }
    }

    /// Opens with the lock held; on failure the lock is handed back for a retry.
    fn open_holding(
        path: &Path,
        limits: OutboxLimits,
        lock: std::fs::File,
    ) -> Result<Self, (OutboxError, std::fs::File)> {
        let dir = directory(path);
        // Created 0600 before SQLite opens it: the -wal and -shm take its mode (Invariant 6).
        if let Err(source) = create_private_file(path) {
            let error = OutboxError::File {
                what: "cannot create the outbox",
                path: path.to_owned(),
                source,
            };
            return Err((error, lock));
        }
        let mut reserve = Reserve::new(path, Budget::new(limits.max_bytes, 4096).reserve_bytes);
        let connection = match connect(path) {
            // Even opening writes (the -wal, the -shm): on a full disk, the reserve makes room.
            Err(Failure::Sqlite(error)) if space::is_disk_full(&error, &dir) && reserve.held() => {
                if let Err(error) = reserve.release() {
                    tracing::warn!(%error, "cannot delete the outbox's reserve");
                }
                connect(path)
            }
            other => other,
        };
        let connection = match connection {
            Ok(connection) => connection,
            Err(failure) => return Err((failure_error(path, failure), lock)),
        };
        let budget = match tune(&connection, limits.max_bytes) {
            Ok(budget) => budget,
            Err(error) => return Err((open_error(path, error), lock)),
        };
        if let Err(error) = make_private(path) {
            return Err((error, lock));
        }
        let mut outbox = Outbox {
            connection,
            path: path.to_owned(),
            dir,
            id: OutboxId([0; 16]),
            budget,
            keep_acked: limits.keep_acked,
            disk_full: !reserve.held()
                && space::free_bytes(&directory(path)).is_some_and(|free| free < reserve.bytes()),
            reserve: Some(reserve),
            #[cfg(test)]
            clock_skew: Duration::ZERO,
            _lock: None,
        };
        match outbox.load_or_create_id().and_then(|id| {
            outbox.id = id;
            outbox.settle_at_open()
        }) {
            Ok(()) => {
                outbox._lock = Some(lock);
                Ok(outbox)
            }
            Err(error) => Err((error, lock)),
        }
    }

    /// Opens an existing outbox read-only, without its lock, to look at it (`hygie-agent
    /// outbox`) while an agent runs. Creates nothing.
    pub fn open_read_only(path: &Path) -> Result<Self, OutboxError> {
        if !path.exists() {
            return Err(OutboxError::Missing(path.to_owned()));
        }
        let connection =
            Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(|error| open_error(path, error))?;
        schema::check_read_only(&connection).map_err(|failure| failure_error(path, failure))?;
        let stored: Vec<u8> = connection
            .query_row(
                "SELECT value FROM meta WHERE key = 'outbox_id'",
                [],
                |row| row.get(0),
            )
            .map_err(|error| open_error(path, error))?;
        let id = OutboxId::from_slice(&stored).ok_or_else(|| OutboxError::Corrupt {
            path: path.to_owned(),
            reason: "outbox id is not 16 bytes".into(),
        })?;
        Ok(Outbox {
            connection,
            path: path.to_owned(),
            dir: directory(path),
            id,
            budget: Budget::new(0, 4096),
            keep_acked: Duration::ZERO,
            reserve: None,
            disk_full: false,
            #[cfg(test)]
            clock_skew: Duration::ZERO,
            _lock: None,
        })
    }

    fn load_or_create_id(&mut self) -> Result<OutboxId, OutboxError> {
        let path = self.path.clone();
        let stored: Option<Vec<u8>> = self
            .connection
            .query_row(
                "SELECT value FROM meta WHERE key = 'outbox_id'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(|error| open_error(&path, error))?;
        match stored {
            Some(bytes) => OutboxId::from_slice(&bytes).ok_or_else(|| OutboxError::Unusable {
                path: path.clone(),
                reason: Unusable::NotAnOutbox("its outbox id is not 16 bytes".into()),
            }),
            None => {
                let id = OutboxId(rand::random());
                self.drain_write("creating the outbox id", |transaction, _| {
                    transaction
                        .execute(
                            "INSERT INTO meta (key, value) VALUES ('outbox_id', ?1)",
                            [id.0.as_slice()],
                        )
                        .map_err(sqlite("creating the outbox id"))
                })?;
                tracing::info!(outbox = %id, path = %path.display(), "new outbox created");
                Ok(id)
            }
        }
    }

    /// At open: acknowledged batches past `keep_acked` go, a file above the bound (a smaller
    /// `max_size` than before) is brought back under it, and the reserve is written.
    fn settle_at_open(&mut self) -> Result<(), OutboxError> {
        let result = self.drain_write("settling the outbox", |transaction, context| {
            evict::expire_acked(transaction, context.now_ms - context.keep_acked_ms)?;
            let (count, _) = evict::pages(transaction)?;
            if count > context.budget.data_pages {
                let evicted = evict::make_room(
                    transaction,
                    count - context.budget.data_pages,
                    context.budget.data_pages,
                    Scope::Anything,
                )?;
                if evicted.unsent > 0 {
                    tracing::warn!(
                        evicted = evicted.unsent,
                        "outbox larger than its max_size: oldest observations evicted"
                    );
                }
            }
            Ok(())
        });
        // A file made by an older agent (without auto_vacuum) keeps its size; a newer one
        // gives its free pages back.
        if self.incremental_vacuum().is_ok() && !self.disk_full {
            // The file shrinks when the checkpoint writes the vacuumed pages back.
            self.checkpoint(Checkpoint::Truncate);
        }
        match result {
            Err(error @ OutboxError::DiskFull { .. }) => {
                // Not a reason to stop: what is held can still be sent (Invariant 9).
                tracing::error!(error = %error, "the outbox's filesystem is full at start");
                Ok(())
            }
            other => other,
        }
    }

    /// Gives free pages back to the filesystem. The pragma frees one page per row it returns.
    fn incremental_vacuum(&self) -> rusqlite::Result<()> {
        let mut statement = self.connection.prepare("PRAGMA incremental_vacuum")?;
        let mut rows = statement.query([])?;
        while rows.next()?.is_some() {}
        Ok(())
    }
}

/// Creates the directory (0700) if needed, then takes the lock.
fn prepare(path: &Path) -> Result<std::fs::File, OutboxError> {
    let dir = directory(path);
    create_private_dirs(&dir).map_err(|source| OutboxError::File {
        what: "cannot create the outbox directory",
        path: dir.clone(),
        source,
    })?;
    lock(path)
}

/// The connection's settings, from the budget of Invariant 8.
fn tune(connection: &Connection, max_bytes: u64) -> rusqlite::Result<Budget> {
    let page_size: i64 = connection.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    let budget = Budget::new(max_bytes, u64::try_from(page_size).unwrap_or(4096));
    // secure_delete off: a deleted page is not rewritten, so a drain write on a full disk
    // touches a few pages (Invariant 9). Checkpoints are ours (Invariant 8).
    connection.execute_batch(&format!(
        "PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 5000;
         PRAGMA secure_delete = OFF;
         PRAGMA wal_autocheckpoint = 0;
         PRAGMA journal_size_limit = {};",
        budget.wal_bytes
    ))?;
    Ok(budget)
}

/// Invariant 6 for files left by an older agent or made under a wide umask.
fn make_private(path: &Path) -> Result<(), OutboxError> {
    for suffix in ["", "-wal", "-shm", ".lock", ".reserve"] {
        let file = sibling(path, suffix);
        restrict(&file).map_err(|source| OutboxError::File {
            what: "cannot make private",
            path: file.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Opens the connection, switches to WAL and checks the file (Invariant 10).
fn connect(path: &Path) -> Result<Connection, Failure> {
    let fresh = std::fs::metadata(path).is_ok_and(|metadata| metadata.len() == 0);
    let mut connection = Connection::open(path)?;
    // Until the file passes its checks, closing must not checkpoint (write into it) nor
    // delete its WAL: an unusable file is set aside as it was found.
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    if fresh {
        // Only possible before the first table: lets a smaller max_size shrink the file.
        connection.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
    }
    connection.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    schema::quick_check(&connection)?;
    schema::prepare(&mut connection)?;
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)?;
    Ok(connection)
}

fn directory(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn open_error(path: &Path, source: rusqlite::Error) -> OutboxError {
    failure_error(path, Failure::from(source))
}

fn failure_error(path: &Path, failure: Failure) -> OutboxError {
    match failure {
        Failure::Unusable(reason) => OutboxError::Unusable {
            path: path.to_owned(),
            reason,
        },
        Failure::Sqlite(source) => OutboxError::Open {
            path: path.to_owned(),
            source,
        },
    }
}

/// Takes the outbox's lock file, `<outbox>.lock` (0600), for the life of the returned file.
fn lock(path: &Path) -> Result<std::fs::File, OutboxError> {
    use std::os::unix::fs::OpenOptionsExt;
    let lock_path = sibling(path, ".lock");
    let lock_error = |source| OutboxError::Lock {
        lock: lock_path.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(lock_error)?;
    match file.try_lock() {
        Ok(()) => {
            restrict(&lock_path).map_err(lock_error)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(OutboxError::Locked {
            path: path.to_owned(),
            lock: lock_path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(lock_error(source)),
    }
}
