//! The SQLite store on real temporary database files.

use std::collections::BTreeMap;

use hygie_proto::{AgentHello, MdnsService, Observation, Source};
use jiff::SignedDuration;

use super::*;
use crate::inventory::Dirty;
use crate::registry::RegistryFields;
use crate::store::{EventFilter, HistoryEntry, InventoryReader, OutboxCursor};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn hello() -> AgentHello {
    AgentHello {
        agent_version: "0.1.0".into(),
        hostname: "agent-host".into(),
        interfaces: vec![],
        outbox_id: OutboxId([3; 16]),
    }
}

fn monitor(seen_at: &str) -> Observation {
    let mut observation = Observation::new(
        "00:09:5c:11:22:01".parse().unwrap(),
        at(seen_at),
        Source::Mdns,
    );
    observation.ips = vec![
        "198.18.0.11".parse().unwrap(),
        "fe80::209:5cff:fe11:2201".parse().unwrap(),
    ];
    observation.interface = "eth0".into();
    observation.hostname = Some("mon-icu-01.local".into());
    observation.services = vec![MdnsService {
        instance: "MON-ICU-01._http._tcp.local.".into(),
        service_type: "_http._tcp.local.".into(),
        port: Some(80),
        txt: BTreeMap::from([("md".into(), Some("MX450".into()))]),
    }];
    observation
}

/// Merges `observations` and commits them, as the writer does.
fn commit(
    store: &mut SqliteStore,
    inventory: &mut Inventory,
    agent: AgentId,
    observations: &[Observation],
    cursor: u64,
) {
    let mut dirty = Dirty::default();
    for observation in observations {
        inventory.merge(agent, observation, &mut dirty);
    }
    // Flags too must survive a reload (unmanaged and new here).
    crate::inventory::assess::after_merge(
        inventory,
        &mut dirty,
        &crate::inventory::assess::Registered::default(),
        &crate::inventory::flags::FlagRules::default(),
        at("2026-11-25T12:00:00Z"),
    );
    let history: Vec<_> = observations
        .iter()
        .map(|observation| HistoryEntry {
            agent,
            received_at: at("2026-11-25T12:00:00Z"),
            observation,
        })
        .collect();
    store
        .commit(&Commit {
            inventory,
            dirty: &dirty,
            history: &history,
            cursors: &[OutboxCursor {
                agent,
                outbox: OutboxId([3; 16]),
                sequence: cursor,
                gaps: if cursor > 1 {
                    "1-1".into()
                } else {
                    String::new()
                },
            }],
            events: &[],
            unseen_flags: &[],
            policy_devices: &[],
            policy_sites: &[],
            verdicts: &[],
            verdicts_removed: &[],
            verdict_state: None,
            now: at("2026-11-25T12:00:00Z"),
        })
        .unwrap();
}

#[test]
fn committed_inventory_loads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.sqlite");
    let mut store = SqliteStore::open_writer(&path, Durability::Full).unwrap();
    let identity = AgentIdentity::new("ward-3", "chu").unwrap();
    let agent = store
        .register_agent(&identity, &hello(), at("2026-11-25T09:00:00Z"))
        .unwrap();

    let mut inventory = Inventory::new();
    commit(
        &mut store,
        &mut inventory,
        agent,
        &[monitor("2026-11-25T10:00:00Z")],
        1,
    );
    commit(
        &mut store,
        &mut inventory,
        agent,
        &[monitor("2026-11-25T11:00:00Z")],
        2,
    );
    drop(store);

    let reader = SqliteStore::open_reader(&path).unwrap();
    let loaded = reader.inventory().unwrap();
    assert!(!loaded.assets().next().unwrap().flags.is_empty());
    assert_eq!(loaded, inventory);
    assert_eq!(reader.history_len().unwrap(), 2);
    let agents = reader.agents().unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(
        (agents[0].site.as_str(), agents[0].name.as_str()),
        ("chu", "ward-3")
    );

    let writer = SqliteStore::open_writer(&path, Durability::Full).unwrap();
    assert_eq!(
        writer.load_cursors().unwrap()[&(agent, OutboxId([3; 16]))],
        crate::cursor::CommittedSequences::from_stored(2, "1-1").unwrap(),
        "the gaps below a cursor are kept"
    );
}

#[test]
fn registering_again_keeps_the_id_and_refreshes_details() {
    let dir = tempfile::tempdir().unwrap();
    let mut store =
        SqliteStore::open_writer(&dir.path().join("inventory.sqlite"), Durability::Normal).unwrap();
    let identity = AgentIdentity::new("ward-3", "chu").unwrap();
    let first = store
        .register_agent(&identity, &hello(), at("2026-11-25T09:00:00Z"))
        .unwrap();
    let mut upgraded = hello();
    upgraded.agent_version = "0.2.0".into();
    let again = store
        .register_agent(&identity, &upgraded, at("2026-11-25T10:00:00Z"))
        .unwrap();
    assert_eq!(first, again);
    let other = store
        .register_agent(
            &AgentIdentity::new("ward-3", "other-site").unwrap(),
            &hello(),
            at("2026-11-25T10:00:00Z"),
        )
        .unwrap();
    assert_ne!(
        first, other,
        "the same name at another site is another agent"
    );

    let agents = store.agents().unwrap();
    let ward3 = agents.iter().find(|a| a.id == first).unwrap();
    assert_eq!(ward3.version, "0.2.0");
    assert_eq!(ward3.first_connected, at("2026-11-25T09:00:00Z"));
    assert_eq!(ward3.last_connected, at("2026-11-25T10:00:00Z"));
}

#[test]
fn pruning_keeps_the_newest_rows_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut store =
        SqliteStore::open_writer(&dir.path().join("inventory.sqlite"), Durability::Normal).unwrap();
    let mut inventory = Inventory::new();
    let observations: Vec<_> = (0..50)
        .map(|minute| {
            let mut observation = monitor("2026-11-25T10:00:00Z");
            observation.seen_at += SignedDuration::from_mins(minute);
            observation
        })
        .collect();
    commit(&mut store, &mut inventory, 1, &observations, 1);

    let retention = Retention {
        max_rows: 20,
        max_age: SignedDuration::from_hours(24),
    };
    assert_eq!(
        store
            .prune_history(retention, at("2026-11-25T12:00:00Z"))
            .unwrap(),
        30
    );
    assert_eq!(store.history_len().unwrap(), 20);

    // Two days later everything is older than max_age.
    assert_eq!(
        store
            .prune_history(retention, at("2026-11-27T12:00:01Z"))
            .unwrap(),
        20
    );
    assert_eq!(store.history_len().unwrap(), 0);
    // The inventory itself is not history: it stays.
    assert_eq!(store.inventory().unwrap().len(), 1);
}

#[test]
fn migrations_are_idempotent_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.sqlite");
    drop(SqliteStore::open_writer(&path, Durability::Full).unwrap());
    drop(SqliteStore::open_writer(&path, Durability::Full).unwrap());

    let connection = Connection::open(&path).unwrap();
    connection
        .pragma_update(None, "user_version", (schema::CURRENT_VERSION + 1) as i64)
        .unwrap();
    drop(connection);
    let error = SqliteStore::open_writer(&path, Durability::Full).unwrap_err();
    assert!(matches!(error, StoreError::SchemaTooNew { .. }), "{error}");
    let error = SqliteStore::open_reader(&path).unwrap_err();
    assert!(matches!(error, StoreError::SchemaTooNew { .. }), "{error}");
}

#[test]
fn the_mac_view_spells_addresses_normally() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.sqlite");
    let mut store = SqliteStore::open_writer(&path, Durability::Full).unwrap();
    let mut inventory = Inventory::new();
    commit(
        &mut store,
        &mut inventory,
        1,
        &[monitor("2026-11-25T10:00:00Z")],
        1,
    );
    let text: String = store
        .connection()
        .query_row("SELECT mac_text FROM asset_macs", [], |row| row.get(0))
        .unwrap();
    assert_eq!(text, "00:09:5c:11:22:01");
}

fn fields(asset_tag: &str, name: &str, location: &str) -> RegistryFields {
    RegistryFields {
        asset_tag: asset_tag.into(),
        name: name.into(),
        location: location.into(),
        ..RegistryFields::default()
    }
}

fn import(entries: Vec<(MacAddr, RegistryFields)>, columns: &[&'static str]) -> RegistryChange {
    RegistryChange::Upsert {
        entries,
        columns: columns.to_vec(),
        source: "import:test.csv".into(),
    }
}

#[test]
fn registry_changes_update_in_place_are_evented_and_sealed() {
    use crate::export::signing::Signer25519;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.sqlite");
    let signer = Signer25519::generate();
    let verifier = signer.verifier();
    let mut store = SqliteStore::open_writer(&path, Durability::Full)
        .unwrap()
        .with_sealer(signer);
    let monitor: MacAddr = "00:09:5c:11:22:01".parse().unwrap();
    let all = &crate::registry::csv_import::COLUMNS;
    let now = at("2026-11-25T09:00:00Z");

    let first = store
        .change_registry(
            import(vec![(monitor, fields("BIO-1", "Monitor", "ICU 1"))], all),
            now,
        )
        .unwrap();
    assert_eq!(first.added, 1);
    assert_eq!(store.registry_generation().unwrap(), 1);
    // The same file again: nothing changes, no event, no new generation.
    let again = store
        .change_registry(
            import(vec![(monitor, fields("BIO-1", "Monitor", "ICU 1"))], all),
            now,
        )
        .unwrap();
    assert_eq!((again.added, again.unchanged), (0, 1));
    assert_eq!(store.registry_generation().unwrap(), 1);
    // A file with only mac and location changes the location alone.
    let moved = store
        .change_registry(
            import(
                vec![(monitor, fields("", "", "ICU 2"))],
                &["mac", "location"],
            ),
            now,
        )
        .unwrap();
    assert_eq!(moved.updated, 1);
    // Approve overlays what it is given.
    store
        .change_registry(
            RegistryChange::Approve {
                mac: monitor,
                fields: RegistryFields {
                    owner: "Biomed".into(),
                    ..RegistryFields::default()
                },
                do_not_probe: None,
            },
            now,
        )
        .unwrap();
    let entries = store.registry().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].fields,
        RegistryFields {
            owner: "Biomed".into(),
            ..fields("BIO-1", "Monitor", "ICU 2")
        }
    );
    assert!(matches!(
        store.change_registry(
            RegistryChange::Remove {
                mac: "00:00:5e:00:00:01".parse().unwrap()
            },
            now
        ),
        Err(StoreError::NotRegistered(_))
    ));

    // Every change is an event, and the chain's head is sealed by the key.
    let kinds: Vec<String> = store
        .events(&EventFilter::default())
        .unwrap()
        .into_iter()
        .map(|event| event.kind)
        .collect();
    assert_eq!(
        kinds,
        ["registry_added", "registry_updated", "registry_updated"]
    );
    let head = store.verify_events().unwrap().unwrap();
    let seal = store.events_seal().unwrap();
    assert_eq!(
        crate::audit::check_seal(&head, seal.as_ref(), |message, signature| verifier
            .verify(message, signature)),
        Ok(())
    );
    // A store without the key appends unsealed events: the seal no longer covers the head.
    drop(store);
    let mut unsealed = SqliteStore::open_writer(&path, Durability::Full).unwrap();
    unsealed
        .change_registry(RegistryChange::Remove { mac: monitor }, now)
        .unwrap();
    let head = unsealed.verify_events().unwrap().unwrap();
    assert_eq!(
        crate::audit::check_seal(
            &head,
            unsealed.events_seal().unwrap().as_ref(),
            |message, signature| verifier.verify(message, signature)
        ),
        Err(crate::audit::SealProblem::Extended { first: 4, head: 4 })
    );
}

#[test]
fn the_database_and_its_wal_and_shm_are_private_whatever_the_umask() {
    use crate::files::{SECRET, mode, tests::with_umask};
    with_umask(0o000, || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.sqlite");
        let mut store = SqliteStore::open_writer(&path, Durability::Full).unwrap();
        let identity = AgentIdentity::new("ward-3", "chu").unwrap();
        let agent = store
            .register_agent(&identity, &hello(), at("2026-11-25T09:00:00Z"))
            .unwrap();
        commit(
            &mut store,
            &mut Inventory::new(),
            agent,
            &[monitor("2026-11-25T10:00:00Z")],
            1,
        );
        for suffix in ["", "-wal", "-shm"] {
            let file = dir.path().join(format!("inventory.sqlite{suffix}"));
            assert_eq!(mode(&file).unwrap(), SECRET, "{}", file.display());
        }
        drop(store);

        // An older database left 0644 is tightened when the writer opens it.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let _store = SqliteStore::open_writer(&path, Durability::Full).unwrap();
        assert_eq!(mode(&path).unwrap(), SECRET);
    });
}
