//! Backups of a database a writer keeps changing, and restores, on real files.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hygie_proto::MacAddr;

use super::*;
use crate::export::signing::Signer25519;
use crate::registry::RegistryFields;
use crate::store::{Durability, RegistryChange};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn mac(n: u64) -> MacAddr {
    MacAddr::from_u64(0x0009_5c00_0000 + n)
}

fn fields(n: u64) -> RegistryFields {
    RegistryFields {
        asset_tag: format!("BIO-{n:05}"),
        name: format!("monitor {n} with a name long enough to fill pages"),
        location: "ICU".into(),
        ..RegistryFields::default()
    }
}

/// A sealed database with `entries` registry entries, and its key.
fn database(dir: &Path, entries: u64) -> (PathBuf, Signer25519) {
    let path = dir.join("inventory.sqlite");
    let key = dir.join("signing.key");
    crate::export::signing::ensure_key(&key).unwrap();
    let signer = Signer25519::load(&key).unwrap();
    let mut store = SqliteStore::open_writer(&path, Durability::Normal)
        .unwrap()
        .with_sealer(Signer25519::load(&key).unwrap());
    store
        .change_registry(
            RegistryChange::Upsert {
                entries: (0..entries).map(|n| (mac(n), fields(n))).collect(),
                columns: vec!["asset_tag", "name", "location"],
                source: "import:test.csv".into(),
            },
            at("2026-11-25T10:00:00Z"),
        )
        .unwrap();
    (path, signer)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn invariants_1_to_3_a_backup_taken_while_the_writer_commits_is_one_checked_moment() {
    let dir = tempfile::tempdir().unwrap();
    let (path, signer) = database(dir.path(), 3000);
    let trusted = signer.verifier();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let path = path.clone();
        let stop = Arc::clone(&stop);
        let sealer = Signer25519::load(&dir.path().join("signing.key")).unwrap();
        std::thread::spawn(move || {
            let mut store = SqliteStore::open_writer(&path, Durability::Normal)
                .unwrap()
                .with_sealer(sealer);
            let mut commits = 0u64;
            while !stop.load(Ordering::Relaxed) && commits < 2000 {
                store
                    .change_registry(
                        RegistryChange::Approve {
                            mac: mac(10_000 + commits),
                            fields: fields(commits),
                            do_not_probe: None,
                        },
                        at("2026-11-25T11:00:00Z"),
                    )
                    .unwrap();
                commits += 1;
            }
            commits
        })
    };
    // Let the writer get going, then copy two pages at a time: many steps, each followed by
    // the writer's commits.
    std::thread::sleep(Duration::from_millis(20));
    let out = dir.path().join("backups");
    std::fs::create_dir(&out).unwrap();
    let destination = out.join("inventory-backup.sqlite");
    let settings = BackupSettings {
        pages_per_step: 2,
        pause: Duration::from_millis(1),
    };
    let report = backup(&path, &destination, &trusted, settings).unwrap();
    stop.store(true, Ordering::Relaxed);
    let commits = writer.join().unwrap();
    assert!(commits > 0);
    // Invariant 1: no restart, so about one step per two pages.
    assert!(
        report.steps <= u32::try_from(report.pages).unwrap() / 2 + 2,
        "{report:?}"
    );
    assert!(report.steps > 10, "{report:?}");

    // Invariant 3: checked, private, alone, and a single file.
    assert_eq!(names(&out), ["inventory-backup.sqlite"]);
    assert_eq!(files::mode(&destination).unwrap(), files::SECRET);
    let checked = check(&destination, &trusted).unwrap();
    assert_eq!(checked, report.checked);
    // One moment: the registry holds the import and a whole number of approvals, and the
    // chain has exactly one event per change, sealed at its head.
    let store = SqliteStore::open_reader(&destination).unwrap();
    let registered = store.registry().unwrap().len() as u64;
    assert!(registered >= 3000 && registered <= 3000 + commits);
    assert_eq!(checked.events.events, registered);
    let journal: String = store
        .connection()
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(journal, "delete");
}

#[test]
fn invariant_3_a_backup_that_fails_its_checks_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _signer) = database(dir.path(), 10);
    let destination = dir.path().join("backup.sqlite");
    std::fs::write(&destination, "yesterday's backup").unwrap();
    // Checked against another collector's key: the seal does not match.
    let stranger = Signer25519::generate().verifier();
    let error = backup(&path, &destination, &stranger, BackupSettings::default()).unwrap_err();
    assert!(matches!(error, BackupError::Chain { .. }), "{error}");
    assert_eq!(
        std::fs::read_to_string(&destination).unwrap(),
        "yesterday's backup"
    );
    assert!(
        names(dir.path())
            .iter()
            .all(|name| !name.contains("partial")),
        "{:?}",
        names(dir.path())
    );
    assert!(matches!(
        backup(&path, &path, &stranger, BackupSettings::default()),
        Err(BackupError::SameFile { .. })
    ));
}

#[test]
fn invariant_4_restore_puts_a_checked_backup_in_place_and_keeps_the_old_database() {
    let dir = tempfile::tempdir().unwrap();
    let (path, signer) = database(dir.path(), 10);
    let trusted = signer.verifier();
    let saved = dir.path().join("saved.sqlite");
    backup(&path, &saved, &trusted, BackupSettings::default()).unwrap();
    // Later changes, left partly in the WAL by a writer that is still open.
    let mut store = SqliteStore::open_writer(&path, Durability::Normal)
        .unwrap()
        .with_sealer(Signer25519::load(&dir.path().join("signing.key")).unwrap());
    store
        .change_registry(
            RegistryChange::Remove { mac: mac(1) },
            at("2026-11-25T12:00:00Z"),
        )
        .unwrap();
    let wal = with_suffix(&path, "-wal");
    assert!(wal.exists());
    std::mem::forget(store); // as if the collector had been killed: the WAL stays.

    let now = at("2026-11-26T09:00:00Z");
    let report = restore(&saved, &path, &trusted, now).unwrap();
    assert_eq!(report.checked.events.events, 10);
    let aside = report.replaced.unwrap();
    assert_eq!(
        aside,
        dir.path()
            .join("inventory.sqlite.before-restore-20261126T090000Z")
    );
    assert!(!wal.exists());
    assert!(with_suffix(&aside, "-wal").exists());
    assert_eq!(files::mode(&path).unwrap(), files::SECRET);
    let restored = SqliteStore::open_reader(&path).unwrap();
    assert_eq!(restored.registry().unwrap().len(), 10);
    // The replaced database, with its WAL, still holds the later change.
    let old = SqliteStore::open_reader(&aside).unwrap();
    assert_eq!(old.registry().unwrap().len(), 9);
}

#[test]
fn invariant_4_restore_refuses_a_tampered_backup_and_leaves_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let (path, signer) = database(dir.path(), 10);
    let trusted = signer.verifier();
    let saved = dir.path().join("saved.sqlite");
    backup(&path, &saved, &trusted, BackupSettings::default()).unwrap();
    let tamper = Connection::open(&saved).unwrap();
    tamper
        .execute("UPDATE events SET details = '{}' WHERE id = 3", [])
        .unwrap();
    drop(tamper);
    let before = std::fs::read(&path).unwrap();
    let error = restore(&saved, &path, &trusted, at("2026-11-26T09:00:00Z")).unwrap_err();
    assert!(error.to_string().contains("event 3"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(matches!(
        restore(
            &dir.path().join("none.sqlite"),
            &path,
            &trusted,
            at("2026-11-26T09:00:00Z")
        ),
        Err(BackupError::Missing { .. })
    ));
}
