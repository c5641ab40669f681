//! The outbox's failures, each naming the file (or filesystem) involved.

use std::path::PathBuf;

use super::space::Disk;

/// Failures of the outbox, with the file involved.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The file could not be opened or set up (permissions, I/O): not a reason to set it aside.
    #[error("cannot open the outbox {path}")]
    Open {
        /// The outbox file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A statement failed.
    #[error("outbox database error while {context}")]
    Sqlite {
        /// What the outbox was doing.
        context: &'static str,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The outbox's filesystem has no room for what was asked (Invariant 9): new observations
    /// are not stored, while sending and acknowledging what is held keep working.
    #[error(
        "the outbox's filesystem ({disk}) is full: {free} bytes free; new observations are not \
         stored (discovery drops them, file sources wait) until space is freed there or the \
         collector acknowledges what is held, which is still being sent"
    )]
    DiskFull {
        /// The outbox file.
        path: PathBuf,
        /// Its filesystem.
        disk: Disk,
        /// Bytes available to the agent on it when the write failed.
        free: u64,
    },
    /// Stored data that cannot be read back.
    #[error("the outbox {path} is corrupt: {reason}")]
    Corrupt {
        /// The outbox file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file cannot be used as an outbox at all (Invariant 10): `Outbox::open_recovering`
    /// sets it aside and starts a new one.
    #[error("the outbox {path} cannot be used: {reason}")]
    Unusable {
        /// The outbox file.
        path: PathBuf,
        /// Why.
        reason: Unusable,
    },
    /// Another agent holds the lock (Invariant 6). Not corruption: the file is left alone.
    #[error(
        "the outbox {path} is in use by another hygie-agent (lock {lock} is held): stop it, or \
         give this agent its own outbox.path"
    )]
    Locked {
        /// The outbox file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock the outbox: {lock}")]
    Lock {
        /// The lock file.
        lock: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// A file beside the outbox (its directory, the reserve, a file being set aside).
    #[error("{what} {path}")]
    File {
        /// What was being done, e.g. "cannot create the directory".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// `open_read_only` found no file.
    #[error("no outbox at {0}")]
    Missing(PathBuf),
    /// The blocking task running an operation failed.
    #[error("an outbox task failed: {0}")]
    Task(String),
}

/// Why a file cannot be an outbox.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// Not an SQLite database at all (garbage, another kind of file, a broken header).
    #[error("it is not an SQLite database ({0})")]
    NotADatabase(String),
    /// SQLite's integrity check (`PRAGMA quick_check`) failed.
    #[error("it fails SQLite's integrity check: {0}")]
    Corrupt(String),
    /// Written by a newer agent, whose layout this one does not know.
    #[error("its schema version {found} is newer than this agent's ({supported})")]
    NewerSchema {
        /// The file's `user_version`.
        found: i64,
        /// The newest this agent knows.
        supported: i64,
    },
    /// A database, but not an outbox (missing tables or columns, a bad outbox id).
    #[error("it does not hold an outbox: {0}")]
    NotAnOutbox(String),
}

impl OutboxError {
    /// The SQLite error inside, if any.
    pub(super) fn sqlite_source(&self) -> Option<&rusqlite::Error> {
        match self {
            OutboxError::Open { source, .. } | OutboxError::Sqlite { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Maps a statement's error, naming what the outbox was doing.
pub(super) fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> OutboxError {
    move |source| OutboxError::Sqlite { context, source }
}
