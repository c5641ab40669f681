//! What was last delivered to GLPI, per MAC: the SHA-256 of the document GLPI accepted, so a
//! scheduled push sends only the devices whose document changed.
//!
//! It lives in a file of its own (`glpi-sent.sqlite` in the data directory), not in the
//! inventory: it is a cache of another system's state, never part of an audit, and losing it
//! costs one full resend (which GLPI absorbs, see [`super`]). It is tied to the GLPI it
//! describes: opened for another URL, it starts empty.

use std::path::{Path, PathBuf};

use hygie_proto::MacAddr;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::mapping::ItemType;

/// The state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SentError {
    #[error(
        "cannot open the GLPI push state {path} (delete it to start over: the next push then sends every device)"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create the GLPI push state {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("GLPI push state {path}: {context}")]
    Sqlite {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

/// One accepted document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The device.
    pub mac: MacAddr,
    /// SHA-256 of the document GLPI accepted.
    pub digest: [u8; 32],
    /// What it went as.
    pub itemtype: ItemType,
}

/// The delivered digests, per MAC.
#[derive(Debug)]
pub struct SentState {
    connection: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS sent (
        mac      INTEGER PRIMARY KEY,               -- EUI-48 as an integer
        digest   BLOB NOT NULL,                     -- SHA-256 of the accepted document
        itemtype TEXT NOT NULL,
        sent_at  INTEGER NOT NULL                   -- Unix microseconds
    );
    CREATE TABLE IF NOT EXISTS target (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        url       TEXT NOT NULL
    );
";

fn mac_key(mac: MacAddr) -> i64 {
    // 48 bits always fit.
    i64::try_from(mac.to_u64()).unwrap_or(i64::MAX)
}

impl SentState {
    /// The default place, in the data directory.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join("glpi-sent.sqlite")
    }

    /// Opens (creating 0600) the state of pushes to `target` (the GLPI URL). A state kept for
    /// another URL is cleared: that GLPI's contents say nothing of this one's.
    pub fn open(path: &Path, target: &str) -> Result<Self, SentError> {
        create_private(path)?;
        let open = |source| SentError::Open {
            path: path.to_owned(),
            source,
        };
        let connection = Connection::open(path).map_err(open)?;
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;")
            .map_err(open)?;
        connection.execute_batch(SCHEMA).map_err(open)?;
        let state = SentState {
            connection,
            path: path.to_owned(),
        };
        let known: Option<String> = state
            .connection
            .query_row("SELECT url FROM target", [], |row| row.get(0))
            .optional()
            .map_err(state.sqlite("reading its target"))?;
        if known.as_deref() != Some(target) {
            if let Some(previous) = known {
                tracing::info!(
                    previous = %hygie_proto::terminal_safe(&previous, 200),
                    url = %hygie_proto::terminal_safe(target, 200),
                    "the GLPI URL changed: every device will be sent again"
                );
            }
            state
                .connection
                .execute_batch("DELETE FROM sent; DELETE FROM target;")
                .map_err(state.sqlite("clearing it"))?;
            state
                .connection
                .execute(
                    "INSERT INTO target (singleton, url) VALUES (1, ?1)",
                    [target],
                )
                .map_err(state.sqlite("recording its target"))?;
        }
        Ok(state)
    }

    fn sqlite(&self, context: &'static str) -> impl FnOnce(rusqlite::Error) -> SentError + '_ {
        move |source| SentError::Sqlite {
            path: self.path.clone(),
            context,
            source,
        }
    }

    /// The digest GLPI last accepted for `mac`.
    pub fn digest(&self, mac: MacAddr) -> Result<Option<[u8; 32]>, SentError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT digest FROM sent WHERE mac = ?1")
            .map_err(self.sqlite("reading a digest"))?;
        let digest: Option<Vec<u8>> = statement
            .query_row([mac_key(mac)], |row| row.get(0))
            .optional()
            .map_err(self.sqlite("reading a digest"))?;
        Ok(digest.and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok()))
    }

    /// Records documents GLPI accepted, in one transaction.
    pub fn record(&mut self, delivered: &[Delivered], now: Timestamp) -> Result<(), SentError> {
        if delivered.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let error = |context| {
            let path = path.clone();
            move |source| SentError::Sqlite {
                path,
                context,
                source,
            }
        };
        let transaction = self
            .connection
            .transaction()
            .map_err(error("recording deliveries"))?;
        {
            let mut statement = transaction
                .prepare_cached(
                    "INSERT INTO sent (mac, digest, itemtype, sent_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (mac) DO UPDATE SET digest = excluded.digest,
                         itemtype = excluded.itemtype, sent_at = excluded.sent_at",
                )
                .map_err(error("recording deliveries"))?;
            for item in delivered {
                statement
                    .execute(params![
                        mac_key(item.mac),
                        item.digest.as_slice(),
                        item.itemtype.as_str(),
                        now.as_microsecond()
                    ])
                    .map_err(error("recording deliveries"))?;
            }
        }
        transaction.commit().map_err(error("recording deliveries"))
    }

    /// How many devices have a recorded delivery.
    pub fn len(&self) -> Result<u64, SentError> {
        let count: i64 = self
            .connection
            .query_row("SELECT count(*) FROM sent", [], |row| row.get(0))
            .map_err(self.sqlite("counting deliveries"))?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Whether nothing was delivered yet.
    pub fn is_empty(&self) -> Result<bool, SentError> {
        Ok(self.len()? == 0)
    }
}

/// Creates the file 0600 if it does not exist (SQLite gives its `-wal` and `-shm` the same mode).
fn create_private(path: &Path) -> Result<(), SentError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::files::create_private_dir(parent).map_err(|error| SentError::Create {
            path: path.to_owned(),
            source: std::io::Error::other(error),
        })?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(crate::files::SECRET)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(SentError::Create {
            path: path.to_owned(),
            source,
        }),
    }
}
