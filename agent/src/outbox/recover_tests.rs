//! Invariant 10: a file that cannot be an outbox is set aside, not deleted, and a new outbox
//! starts; a file merely locked by another agent is left alone.

use std::path::{Path, PathBuf};

use super::tests::observations;
use super::*;

fn limits() -> OutboxLimits {
    OutboxLimits::new(1024 * 1024)
}

/// The files in `dir` whose names start with `prefix`, sorted.
fn named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

/// The databases set aside in `dir` (without their `-wal` and `-shm`).
fn set_aside_databases(dir: &Path) -> Vec<PathBuf> {
    named(dir, "outbox.sqlite.corrupt-")
        .into_iter()
        .filter(|path| {
            !path.to_string_lossy().ends_with("-wal") && !path.to_string_lossy().ends_with("-shm")
        })
        .collect()
}

/// Opens `path` recovering, and checks the old bytes were kept aside and a new outbox works.
fn recovers(path: &Path, old: &[u8]) -> Outbox {
    let dir = path.parent().unwrap();
    assert!(matches!(
        Outbox::open_with(path, limits()),
        Err(OutboxError::Unusable { .. })
    ));
    assert_eq!(
        std::fs::read(path).unwrap(),
        old,
        "open_with leaves it alone"
    );
    let mut outbox = Outbox::open_recovering(path, limits()).unwrap();
    let aside = set_aside_databases(dir);
    assert_eq!(aside.len(), 1, "{aside:?}");
    let name = aside[0].file_name().unwrap().to_str().unwrap().to_owned();
    // outbox.sqlite.corrupt-20261125T100000Z
    let stamp = name.trim_start_matches("outbox.sqlite.corrupt-");
    assert!(stamp.len() == 16 && stamp.ends_with('Z'), "{name}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), old, "kept byte for byte");
    outbox.append(&observations(2, 0), &[]).unwrap();
    assert_eq!(outbox.stats().unwrap().observations, 2);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the new file is private too (Invariant 6)"
    );
    outbox
}

#[test]
fn invariant_10_garbage_is_set_aside_and_a_new_outbox_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let garbage: Vec<u8> = (0..10_000u32).map(|n| (n * 7919 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    recovers(&path, &garbage);
}

#[test]
fn invariant_10_a_truncated_file_is_set_aside_with_its_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = Outbox::open_with(&path, limits()).unwrap();
    let old_id = outbox.id();
    for round in 0..20 {
        outbox.append(&observations(500, round * 500), &[]).unwrap();
    }
    drop(outbox);
    let whole = std::fs::read(&path).unwrap();
    let truncated = &whole[..whole.len() / 2];
    std::fs::write(&path, truncated).unwrap();
    // A stale WAL beside it goes with it.
    std::fs::write(space::sibling(&path, "-wal"), b"stale").unwrap();
    let outbox = recovers(&path, truncated);
    assert_ne!(
        outbox.id(),
        old_id,
        "a new outbox, with a new id (Invariant 5)"
    );
    let database = &set_aside_databases(dir.path())[0];
    assert_eq!(
        std::fs::read(space::sibling(database, "-wal")).unwrap(),
        b"stale",
        "its WAL went with it, as it was"
    );
}

#[test]
fn invariant_10_a_newer_layout_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    drop(Outbox::open_with(&path, limits()).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let error = Outbox::open_with(&path, limits()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the outbox {} cannot be used: its schema version 99 is newer than this agent's (2)",
            path.display()
        )
    );
    Outbox::open_recovering(&path, limits()).unwrap();
    assert_eq!(set_aside_databases(dir.path()).len(), 1);
}

#[test]
fn invariant_10_another_database_is_not_an_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE patients (name TEXT);")
        .unwrap();
    assert!(matches!(
        Outbox::open_with(&path, limits()),
        Err(OutboxError::Unusable {
            reason: Unusable::NotAnOutbox(_),
            ..
        })
    ));
}

#[test]
fn invariant_10_a_locked_outbox_is_not_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let first = Outbox::open_with(&path, limits()).unwrap();
    let error = Outbox::open_recovering(&path, limits()).unwrap_err();
    assert!(matches!(error, OutboxError::Locked { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("is in use by another hygie-agent")
    );
    assert!(named(dir.path(), "outbox.sqlite.corrupt-").is_empty());
    drop(first);
}

#[test]
fn an_empty_file_is_a_new_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    std::fs::write(&path, b"").unwrap();
    Outbox::open_with(&path, limits()).unwrap();
    assert!(named(dir.path(), "outbox.sqlite.corrupt-").is_empty());
}
