//! Console accounts on a real database file, and their events (invariants in the module docs).

use super::*;
use crate::audit::{self, Event};
use crate::export::signing::{Signer25519, Verifier25519};
use crate::store::{Durability, EventFilter, InventoryReader};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A writer sealing with a fresh key, and that key's public half.
fn store() -> (tempfile::TempDir, SqliteStore, Verifier25519) {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer25519::generate();
    let verifier = signer.verifier();
    let store = SqliteStore::open_writer(&dir.path().join("inventory.sqlite"), Durability::Normal)
        .unwrap()
        .with_sealer(signer);
    (dir, store, verifier)
}

fn events(store: &SqliteStore) -> Vec<Event> {
    store.events(&EventFilter::default()).unwrap()
}

/// The chain links up and its seal is the key's, over exactly its head.
fn assert_sealed_chain(store: &SqliteStore, verifier: &Verifier25519) {
    let head = store.verify_events().unwrap().unwrap();
    audit::check_seal(
        &head,
        store.events_seal().unwrap().as_ref(),
        |message, sig| verifier.verify(message, sig),
    )
    .unwrap();
}

#[test]
fn accounts_are_added_changed_and_removed() {
    let (dir, mut store, _) = store();
    let path = dir.path().join("inventory.sqlite");
    let t0 = at("2026-11-25T10:00:00Z");
    store
        .add_user("alice", "biomed", "$argon2id$x", "root", t0)
        .unwrap();
    assert!(matches!(
        store.add_user("alice", "viewer", "$argon2id$y", "root", t0),
        Err(StoreError::UserExists(_))
    ));
    // The same instant still moves changed_at: a session of that instant ends.
    store
        .change_user("alice", Some("$argon2id$z"), None, "root", t0)
        .unwrap();
    let reader = SqliteStore::open_reader(&path).unwrap();
    let alice = reader.user("alice").unwrap().unwrap();
    assert_eq!(alice.password, "$argon2id$z");
    assert_eq!(alice.role, "biomed");
    assert!(alice.changed_at > t0);
    assert_eq!(reader.users().unwrap().len(), 1);
    store.remove_user("alice", "root", t0).unwrap();
    assert!(reader.user("alice").unwrap().is_none());
    assert!(matches!(
        store.remove_user("alice", "root", t0),
        Err(StoreError::UnknownUser(_))
    ));
}

#[test]
fn invariant_1_each_account_change_appends_one_event_in_the_sealed_chain() {
    let (_dir, mut store, verifier) = store();
    let t0 = at("2026-11-25T10:00:00Z");
    let t1 = at("2026-11-25T11:00:00Z");
    store
        .add_user("bruno", "biomed", "$argon2id$first", "alice (sudo)", t0)
        .unwrap();
    store
        .change_user("bruno", Some("$argon2id$second"), None, "root", t1)
        .unwrap();
    store
        .change_user("bruno", Some("$argon2id$third"), Some("it"), "root", t1)
        .unwrap();
    // The role given again is no role change; no password given is no password change.
    store
        .change_user("bruno", None, Some("it"), "root", t1)
        .unwrap();
    store.remove_user("bruno", "carla", t1).unwrap();
    let found: Vec<(i64, Timestamp, Option<_>, String, String)> = events(&store)
        .into_iter()
        .map(|event| (event.id, event.at, event.mac, event.kind, event.details))
        .collect();
    assert_eq!(
        found,
        [
            (
                1,
                t0,
                None,
                "account_added".into(),
                r#"{"name":"bruno","role":"biomed","by":"alice (sudo)"}"#.into()
            ),
            (
                2,
                t1,
                None,
                "account_changed".into(),
                r#"{"name":"bruno","role":"biomed","password_changed":true,"by":"root"}"#.into()
            ),
            (
                3,
                t1,
                None,
                "account_changed".into(),
                r#"{"name":"bruno","role":"it","role_before":"biomed","password_changed":true,"by":"root"}"#
                    .into()
            ),
            (
                4,
                t1,
                None,
                "account_changed".into(),
                r#"{"name":"bruno","role":"it","password_changed":false,"by":"root"}"#.into()
            ),
            (
                5,
                t1,
                None,
                "account_removed".into(),
                r#"{"name":"bruno","role":"it","by":"carla"}"#.into()
            ),
        ]
    );
    let kinds: Vec<_> = events(&store)
        .iter()
        .map(|event| event.known_kind())
        .collect();
    assert_eq!(
        kinds,
        [
            Some(EventKind::AccountAdded),
            Some(EventKind::AccountChanged),
            Some(EventKind::AccountChanged),
            Some(EventKind::AccountChanged),
            Some(EventKind::AccountRemoved),
        ]
    );
    assert_sealed_chain(&store, &verifier);
}

#[test]
fn invariant_1_a_refused_change_appends_nothing() {
    let (_dir, mut store, verifier) = store();
    let t0 = at("2026-11-25T10:00:00Z");
    store
        .add_user("bruno", "biomed", "$argon2id$first", "root", t0)
        .unwrap();
    assert!(matches!(
        store.add_user("bruno", "admin", "$argon2id$other", "root", t0),
        Err(StoreError::UserExists(_))
    ));
    assert!(matches!(
        store.change_user("nobody", Some("$argon2id$x"), Some("admin"), "root", t0),
        Err(StoreError::UnknownUser(_))
    ));
    assert!(matches!(
        store.remove_user("nobody", "root", t0),
        Err(StoreError::UnknownUser(_))
    ));
    assert_eq!(events(&store).len(), 1);
    // The refused add left the account as it was.
    let bruno = store.user("bruno").unwrap().unwrap();
    assert_eq!(
        (bruno.role.as_str(), bruno.password.as_str()),
        ("biomed", "$argon2id$first")
    );
    assert_sealed_chain(&store, &verifier);
}

#[test]
fn invariant_1_an_account_change_whose_event_cannot_be_written_is_undone() {
    let (_dir, mut store, _) = store();
    let t0 = at("2026-11-25T10:00:00Z");
    store
        .add_user("bruno", "biomed", "$argon2id$first", "root", t0)
        .unwrap();
    // A head the chain cannot continue from: the append fails after the account change ran.
    store
        .connection
        .execute(
            "INSERT INTO events (id, at, mac, kind, details, prev_hash, hash)
             VALUES (2, 0, NULL, 'account_added', '{}', 'not hex', 'not hex')",
            [],
        )
        .unwrap();
    assert!(matches!(
        store.add_user("carla", "admin", "$argon2id$x", "root", t0),
        Err(StoreError::Corrupt(_))
    ));
    assert!(
        store
            .change_user("bruno", None, Some("admin"), "root", t0)
            .is_err()
    );
    assert!(store.remove_user("bruno", "root", t0).is_err());
    assert!(store.user("carla").unwrap().is_none());
    let bruno = store.user("bruno").unwrap().unwrap();
    assert_eq!(bruno.role, "biomed");
    let count: i64 = store
        .connection
        .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 2);
}

#[test]
fn invariant_2_account_events_never_hold_the_password_or_its_hash() {
    let (_dir, mut store, _) = store();
    let t0 = at("2026-11-25T10:00:00Z");
    let first = crate::console::hash_password("correct horse battery").unwrap();
    let second = crate::console::hash_password("staple staple staple").unwrap();
    store
        .add_user("bruno", "biomed", &first, "root", t0)
        .unwrap();
    store
        .change_user("bruno", Some(&second), Some("admin"), "root", t0)
        .unwrap();
    store.remove_user("bruno", "root", t0).unwrap();
    let all = events(&store);
    assert_eq!(all.len(), 3);
    for event in all {
        for secret in [&first, &second] {
            assert!(
                !event.details.contains(secret.as_str()),
                "{}",
                event.details
            );
            // Not even the salt or digest part of the PHC string.
            for part in secret.split('$').filter(|part| part.len() > 8) {
                assert!(!event.details.contains(part), "{}", event.details);
            }
        }
        assert!(!event.details.contains("argon2"), "{}", event.details);
        assert!(!event.details.contains("horse"), "{}", event.details);
        let details: serde_json::Value = serde_json::from_str(&event.details).unwrap();
        let keys: Vec<&str> = details
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in keys {
            assert!(
                ["name", "role", "role_before", "password_changed", "by"].contains(&key),
                "{key}"
            );
        }
    }
}
