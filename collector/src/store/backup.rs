//! Online backup and restore of the inventory database.
//!
//! Invariants:
//! 1. A backup is one moment of the database: it is copied with SQLite's backup API inside a
//!    single read transaction on the source, so every page comes from the WAL snapshot taken
//!    when it started, whatever the writer commits meanwhile. (Without that transaction each
//!    step would see the writer's newer commits and restart the copy from the beginning;
//!    under steady ingest it would never finish.)
//! 2. A backup never stalls ingest: in WAL mode a reader does not block the writer, and the
//!    copy goes in steps of [`BackupSettings::pages_per_step`] pages with a pause between
//!    them, so its I/O is interleaved with the writer's. The cost is that the WAL cannot be
//!    checkpointed past the backup's snapshot until it ends, so it grows meanwhile.
//! 3. A backup file is complete and checked, or absent: it is written under a temporary name
//!    in the destination's directory (0600), in rollback-journal mode so it is one
//!    self-contained file, checked (`PRAGMA integrity_check`, the event chain and its seal with
//!    the collector's public key), synced and only then renamed into place.
//! 4. A restore replaces the database only with a backup that passes the same checks, and
//!    only while no collector serves the data directory (the caller holds
//!    [`crate::lock::DataDirLock`]). The database it replaces is kept beside it with its
//!    `-wal` and `-shm` (moved together, so it stays openable); a `-wal` left behind would be
//!    replayed into the restored file and corrupt it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{InventoryReader, SqliteStore, StoreError, schema};
use crate::audit::{self, ChainBreak, ChainHead, SealProblem};
use crate::export::signing::Verifier25519;
use crate::files::{self, FileError};

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("backup of {path} failed while {context}")]
    Sqlite {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path} fails SQLite's integrity check: {problem}")]
    Integrity { path: PathBuf, problem: String },
    #[error("{path}: event chain NOT VERIFIED: {problem}")]
    Chain { path: PathBuf, problem: String },
    #[error("{path} is the inventory database itself: give another file")]
    SameFile { path: PathBuf },
    #[error("no backup at {path}")]
    Missing { path: PathBuf },
    #[error(
        "no inventory database at {path}: nothing to back up (check --config and [database] path)"
    )]
    NoDatabase { path: PathBuf },
    #[error("cannot move {from} aside to {to}")]
    MoveAside {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How the copy is paced (Invariant 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSettings {
    /// Pages copied per step (a page is 4 KiB by default).
    pub pages_per_step: i32,
    /// Pause between steps.
    pub pause: Duration,
}

impl Default for BackupSettings {
    fn default() -> Self {
        // 1 MiB per step, then 5 ms for the writer: a 1 GiB database takes about 5 s longer.
        BackupSettings {
            pages_per_step: 256,
            pause: Duration::from_millis(5),
        }
    }
}

/// What a checked database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Its schema version.
    pub schema_version: usize,
    /// Rows of observation history.
    pub observations: u64,
    /// The verified, sealed event chain's head.
    pub events: ChainHead,
}

/// What a backup did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// What the backup holds.
    pub checked: Checked,
    /// Pages copied.
    pub pages: i32,
    /// Steps taken.
    pub steps: u32,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// What the restored database holds.
    pub checked: Checked,
    /// Where the database it replaced was moved, if there was one.
    pub replaced: Option<PathBuf>,
}

fn sqlite_error<'a>(
    path: &'a Path,
    context: &'static str,
) -> impl FnOnce(rusqlite::Error) -> BackupError + 'a {
    move |source| BackupError::Sqlite {
        path: path.to_owned(),
        context,
        source,
    }
}

/// Copies the database at `source` to `destination` while it is in use (Invariants 1 to 3),
/// checking the copy's event chain against `trusted`, the collector's public key.
pub fn backup(
    source: &Path,
    destination: &Path,
    trusted: &Verifier25519,
    settings: BackupSettings,
) -> Result<BackupReport, BackupError> {
    if !source.exists() {
        return Err(BackupError::NoDatabase {
            path: source.to_owned(),
        });
    }
    if same_file(source, destination) {
        return Err(BackupError::SameFile {
            path: destination.to_owned(),
        });
    }
    let from = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_error(source, "opening the database"))?;
    from.busy_timeout(Duration::from_secs(5))
        .map_err(sqlite_error(source, "opening the database"))?;
    // Invariant 1: the first read fixes the snapshot every step copies from.
    from.execute_batch("BEGIN DEFERRED")
        .map_err(sqlite_error(source, "starting the read"))?;
    from.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(sqlite_error(source, "starting the read"))?;

    let directory = match destination.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temporary = tempfile::Builder::new()
        .prefix(".hygie-backup-")
        .suffix(".partial")
        .tempfile_in(directory)
        .map_err(|source| FileError::Write {
            path: destination.to_owned(),
            source,
        })?;
    let copy = temporary.path().to_owned();
    let (pages, steps) = {
        let mut to =
            Connection::open(&copy).map_err(sqlite_error(destination, "creating the copy"))?;
        let copied = copy_pages(&from, &mut to, settings)
            .map_err(sqlite_error(destination, "copying pages"))?;
        // Invariant 3: one self-contained file, whatever the source's journal mode.
        to.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))
            .map_err(sqlite_error(destination, "leaving WAL mode"))?;
        copied
    };
    from.execute_batch("COMMIT")
        .map_err(sqlite_error(source, "ending the read"))?;
    drop(from);

    let checked = check(&copy, trusted)?;
    let write_error = |source| FileError::Write {
        path: destination.to_owned(),
        source,
    };
    let file = temporary.as_file();
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(files::SECRET))
        .map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    temporary
        .persist(destination)
        .map_err(|error| write_error(error.error))?;
    files::sync_dir(directory).map_err(write_error)?;
    tracing::info!(
        source = %source.display(),
        backup = %destination.display(),
        pages,
        steps,
        observations = checked.observations,
        events = checked.events.events,
        "backup written and verified"
    );
    Ok(BackupReport {
        checked,
        pages,
        steps,
    })
}

fn copy_pages(
    from: &Connection,
    to: &mut Connection,
    settings: BackupSettings,
) -> rusqlite::Result<(i32, u32)> {
    let backup = Backup::new(from, to)?;
    let mut steps = 0;
    loop {
        steps += 1;
        match backup.step(settings.pages_per_step)? {
            StepResult::Done => break,
            // Invariant 2: give the writer the disk between steps.
            StepResult::More | StepResult::Busy | StepResult::Locked => {
                std::thread::sleep(settings.pause);
            }
            // The enum is non-exhaustive: anything new is treated as "try again".
            _ => std::thread::sleep(settings.pause),
        }
    }
    Ok((backup.progress().pagecount, steps))
}

/// Checks a database file: SQLite's integrity check, then its event chain and seal against
/// `trusted`, as `verify --events` does.
pub fn check(path: &Path, trusted: &Verifier25519) -> Result<Checked, BackupError> {
    let store = SqliteStore::open_reader(path)?;
    let problems: Vec<String> = {
        let mut statement = store
            .connection()
            .prepare("PRAGMA integrity_check")
            .map_err(sqlite_error(path, "checking integrity"))?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(sqlite_error(path, "checking integrity"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sqlite_error(path, "checking integrity"))?
    };
    if problems != ["ok"] {
        return Err(BackupError::Integrity {
            path: path.to_owned(),
            problem: problems.join("; "),
        });
    }
    let chain_error = |problem: String| BackupError::Chain {
        path: path.to_owned(),
        problem,
    };
    let head = store
        .verify_events()?
        .map_err(|broken: ChainBreak| chain_error(broken.to_string()))?;
    let seal = store.events_seal()?;
    audit::check_seal(&head, seal.as_ref(), |message, signature| {
        trusted.verify(message, signature)
    })
    .map_err(|problem: SealProblem| chain_error(problem.to_string()))?;
    Ok(Checked {
        schema_version: schema::schema_version(store.connection())?,
        observations: store.history_len()?,
        events: head,
    })
}

/// Puts the backup at `backup` in place of the database at `database` (Invariant 4). The
/// caller holds the data directory's lock.
pub fn restore(
    backup: &Path,
    database: &Path,
    trusted: &Verifier25519,
    now: Timestamp,
) -> Result<RestoreReport, BackupError> {
    if !backup.exists() {
        return Err(BackupError::Missing {
            path: backup.to_owned(),
        });
    }
    if same_file(backup, database) {
        return Err(BackupError::SameFile {
            path: backup.to_owned(),
        });
    }
    check(backup, trusted)?;
    files::create_private_parent(database)?;
    let staged = files::stage_with(database, files::SECRET, |file| {
        let mut source = std::fs::File::open(backup)?;
        std::io::copy(&mut source, file).map(|_| ())
    })?;

    let replaced = if database.exists() {
        let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
        let aside = with_suffix(database, &format!(".before-restore-{stamp}"));
        for suffix in ["-wal", "-shm", ""] {
            let from = with_suffix(database, suffix);
            let to = with_suffix(&aside, suffix);
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(BackupError::MoveAside { from, to, source }),
            }
        }
        Some(aside)
    } else {
        // No database, but a stray -wal or -shm would still be replayed into the new file.
        for suffix in ["-wal", "-shm"] {
            let stray = with_suffix(database, suffix);
            match std::fs::remove_file(&stray) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(BackupError::MoveAside {
                        to: stray.clone(),
                        from: stray,
                        source,
                    });
                }
            }
        }
        None
    };
    staged.commit()?;
    let checked = check(database, trusted)?;
    tracing::info!(
        backup = %backup.display(),
        database = %database.display(),
        observations = checked.observations,
        events = checked.events.events,
        "database restored"
    );
    Ok(RestoreReport { checked, replaced })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
