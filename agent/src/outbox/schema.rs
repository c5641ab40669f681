//! The outbox's tables, their versions, and the checks that tell an outbox from a file that
//! cannot be one (Invariant 10).

use rusqlite::{Connection, ErrorCode, OptionalExtension};

use super::error::Unusable;

/// The layout this agent writes (`PRAGMA user_version`). Version 1 (written as 0) had no batch
/// states: a batch was deleted when acknowledged and copied into `set_aside` when refused.
pub(super) const VERSION: i64 = 2;

/// Batch states (`batches.state`).
pub(super) const WAITING: i64 = 0;
/// Acknowledged, kept for `keep_acked` (Invariant 3, 11).
pub(super) const ACKED: i64 = 1;
/// Refused by the collector as invalid, kept for inspection, never sent again.
pub(super) const SET_ASIDE: i64 = 2;
/// Formed, so perhaps sent, then evicted by the size bound: its rows are gone, its count is in
/// `evicted_total` until the collector's answer settles whether it arrived (Invariant 3).
pub(super) const EVICTED: i64 = 3;

const CREATE: &str = r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE pending (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        payload BLOB NOT NULL                       -- encoded hygie.v1.Observation
    );
    CREATE TABLE batches (
        sequence     INTEGER PRIMARY KEY,
        first_id     INTEGER NOT NULL,
        last_id      INTEGER NOT NULL,
        observations INTEGER NOT NULL,
        state        INTEGER NOT NULL DEFAULT 0,    -- 0 waiting, 1 acknowledged, 2 set aside, 3 evicted
        state_at     INTEGER,                       -- Unix ms of the ack or the setting aside
        reason       TEXT                           -- why the collector refused it
    );
    CREATE TABLE source_positions (
        source   TEXT PRIMARY KEY,
        inode    INTEGER NOT NULL,
        position INTEGER NOT NULL,
        line     INTEGER NOT NULL
    );
    -- Copies of refused batches made by version 1; version 2 marks them in `batches` instead.
    CREATE TABLE set_aside (
        sequence     INTEGER PRIMARY KEY,
        reason       TEXT NOT NULL,
        set_aside_at TEXT NOT NULL,
        payloads     BLOB NOT NULL                  -- encoded hygie.v1.ObservationBatch
    );
"#;

const MIGRATE_FROM_1: &str = r#"
    ALTER TABLE batches ADD COLUMN state INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE batches ADD COLUMN state_at INTEGER;
    ALTER TABLE batches ADD COLUMN reason TEXT;
"#;

/// Every column the outbox reads, so a database that lacks one is refused at open, not later.
const EXPECTED: [&str; 5] = [
    "SELECT key, value FROM meta LIMIT 0",
    "SELECT id, payload FROM pending LIMIT 0",
    "SELECT sequence, first_id, last_id, observations, state, state_at, reason FROM batches LIMIT 0",
    "SELECT source, inode, position, line FROM source_positions LIMIT 0",
    "SELECT sequence, reason, set_aside_at, payloads FROM set_aside LIMIT 0",
];

/// Why opening failed: the file cannot be an outbox, or SQLite failed otherwise (I/O,
/// permissions, a full disk), which says nothing about the file.
#[derive(Debug)]
pub(super) enum Failure {
    Unusable(Unusable),
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => {
                Failure::Unusable(Unusable::NotADatabase(error.to_string()))
            }
            Some(ErrorCode::DatabaseCorrupt) => {
                Failure::Unusable(Unusable::Corrupt(error.to_string()))
            }
            _ => Failure::Sqlite(error),
        }
    }
}

/// `PRAGMA quick_check`: the b-trees are well formed (it does not check every index, which
/// the outbox does not have beyond primary keys).
pub(super) fn quick_check(connection: &Connection) -> Result<(), Failure> {
    let verdict: String = connection.query_row("PRAGMA quick_check(1)", [], |row| row.get(0))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(Failure::Unusable(Unusable::Corrupt(verdict)))
    }
}

/// Creates the tables of a new file, upgrades an older layout, and refuses a newer one or a
/// database that is not an outbox.
pub(super) fn prepare(connection: &mut Connection) -> Result<(), Failure> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > VERSION {
        return Err(Failure::Unusable(Unusable::NewerSchema {
            found: version,
            supported: VERSION,
        }));
    }
    let has_meta = connection
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    let transaction = connection.transaction()?;
    match (version, has_meta) {
        (VERSION, _) => {}
        (_, false) => {
            let tables: i64 =
                transaction
                    .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
            if tables > 0 {
                return Err(Failure::Unusable(Unusable::NotAnOutbox(
                    "an SQLite database with other tables".into(),
                )));
            }
            transaction.execute_batch(CREATE)?;
        }
        (_, true) => {
            tracing::info!(
                from = version.max(1),
                to = VERSION,
                "upgrading the outbox's layout"
            );
            transaction
                .execute_batch(MIGRATE_FROM_1)
                .map_err(|error| not_an_outbox(&error))?;
        }
    }
    transaction.pragma_update(None, "user_version", VERSION)?;
    for sql in EXPECTED {
        transaction
            .prepare(sql)
            .map_err(|error| not_an_outbox(&error))?;
    }
    transaction.commit()?;
    Ok(())
}

/// Checks that a file opened read-only has this agent's layout.
pub(super) fn check_read_only(connection: &Connection) -> Result<(), Failure> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version != VERSION {
        return Err(Failure::Unusable(Unusable::NotAnOutbox(format!(
            "layout version {version}, not {VERSION}: start this agent once to upgrade it"
        ))));
    }
    for sql in EXPECTED {
        connection
            .prepare(sql)
            .map_err(|error| not_an_outbox(&error))?;
    }
    Ok(())
}

fn not_an_outbox(error: &rusqlite::Error) -> Failure {
    match Failure::from(clone_error(error)) {
        Failure::Sqlite(_) => Failure::Unusable(Unusable::NotAnOutbox(error.to_string())),
        unusable => unusable,
    }
}

/// rusqlite errors are not `Clone`; the code is all `Failure::from` looks at.
fn clone_error(error: &rusqlite::Error) -> rusqlite::Error {
    match error.sqlite_error() {
        Some(inner) => rusqlite::Error::SqliteFailure(*inner, Some(error.to_string())),
        None => rusqlite::Error::InvalidQuery,
    }
}
