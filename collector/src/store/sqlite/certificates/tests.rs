//! The issuance log on a real database file.

use jiff::Timestamp;

use super::*;
use crate::audit::EventKind;
use crate::export::signing::Signer25519;
use crate::store::{Durability, EventFilter, InventoryReader};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn agent(serial: &str, name: &str, site: &str) -> CertificateFacts {
    CertificateFacts {
        serial: serial.into(),
        kind: CertificateKind::Agent,
        name: name.into(),
        site: Some(site.into()),
        not_before: at("2026-11-25T09:00:00Z"),
        not_after: at("2027-11-25T09:00:00Z"),
        fingerprint: format!("{serial:0>64}"),
    }
}

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_writer(&dir.path().join("inventory.sqlite"), Durability::Full)
        .unwrap()
        .with_sealer(Signer25519::generate());
    (dir, store)
}

fn kinds(store: &SqliteStore) -> Vec<String> {
    store
        .events(&EventFilter::default())
        .unwrap()
        .into_iter()
        .map(|event| event.kind)
        .collect()
}

#[test]
fn issued_certificates_are_logged_and_evented() {
    let (_dir, mut store) = store();
    let now = at("2026-11-25T10:00:00Z");
    let outcome = store
        .record_issued(&agent("a1", "ward-3", "chu"), true, now)
        .unwrap();
    assert!(outcome.superseded.is_empty());
    let records = store.certificates().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].facts, agent("a1", "ward-3", "chu"));
    assert_eq!(records[0].issued_at, now);
    assert_eq!(records[0].status(now), CertificateStatus::Valid);
    assert_eq!(
        records[0].status(at("2028-01-01T00:00:00Z")),
        CertificateStatus::Expired
    );
    assert_eq!(kinds(&store), ["certificate_issued"]);
    let event = &store.events(&EventFilter::default()).unwrap()[0];
    assert_eq!(event.known_kind(), Some(EventKind::CertificateIssued));
    let details: serde_json::Value = serde_json::from_str(&event.details).unwrap();
    assert_eq!(details["serial"], "a1");
    assert_eq!(details["site"], "chu");
    assert!(store.verify_events().unwrap().is_ok());
    // The same serial twice is refused (the CA draws 127 random bits; a repeat is a bug).
    assert!(
        store
            .record_issued(&agent("a1", "ward-3", "chu"), true, now)
            .is_err()
    );
}

use crate::ca::CertificateStatus;

#[test]
fn reissuing_revokes_the_previous_certificate_unless_kept() {
    let (_dir, mut store) = store();
    let now = at("2026-11-25T10:00:00Z");
    store
        .record_issued(&agent("a1", "ward-3", "chu"), true, now)
        .unwrap();
    // Same name at another site: a different agent, untouched.
    store
        .record_issued(&agent("b1", "ward-3", "other"), true, now)
        .unwrap();
    let before = store.revocation_generation().unwrap();
    let outcome = store
        .record_issued(&agent("a2", "ward-3", "chu"), true, now)
        .unwrap();
    assert_eq!(outcome.superseded.len(), 1);
    assert_eq!(outcome.superseded[0].facts.serial, "a1");
    assert_eq!(
        outcome.superseded[0].revoke_reason.as_deref(),
        Some("superseded by a2")
    );
    assert!(store.revocation_generation().unwrap() > before);
    let revoked = store.revoked_serials().unwrap();
    assert!(revoked.contains("a1"));
    assert!(!revoked.contains("a2") && !revoked.contains("b1"));
    assert_eq!(revoked.generation, store.revocation_generation().unwrap());

    let kept = store
        .record_issued(&agent("a3", "ward-3", "chu"), false, now)
        .unwrap();
    assert!(kept.superseded.is_empty());
    assert_eq!(store.revoked_serials().unwrap().len(), 1);
    assert_eq!(
        kinds(&store),
        [
            "certificate_issued",
            "certificate_issued",
            "certificate_revoked",
            "certificate_issued",
            "certificate_issued"
        ]
    );
    assert!(store.verify_events().unwrap().is_ok());
}

#[test]
fn revocation_by_serial_name_and_site() {
    let (_dir, mut store) = store();
    let now = at("2026-11-25T10:00:00Z");
    let later = at("2026-11-26T10:00:00Z");
    for facts in [
        agent("a1", "ward-3", "chu"),
        agent("b1", "ward-3", "other"),
        agent("c1", "lab", "chu"),
    ] {
        store.record_issued(&facts, true, now).unwrap();
    }
    let generation = store.revocation_generation().unwrap();

    assert!(matches!(
        store.revoke_certificates(&RevokeTarget::Serial("ff".into()), "lost", later),
        Err(StoreError::UnknownSerial(serial)) if serial == "ff"
    ));
    let ambiguous = store
        .revoke_certificates(
            &RevokeTarget::Agent {
                name: "ward-3".into(),
                site: None,
            },
            "lost",
            later,
        )
        .unwrap_err();
    assert_eq!(
        ambiguous.to_string(),
        "agents named ward-3 exist at several sites (chu, other): give --site"
    );
    assert!(matches!(
        store.revoke_certificates(
            &RevokeTarget::Agent {
                name: "nobody".into(),
                site: None
            },
            "lost",
            later
        ),
        Err(StoreError::NoCertificateInForce { .. })
    ));
    // Nothing changed so far.
    assert_eq!(store.revocation_generation().unwrap(), generation);

    let by_site = store
        .revoke_certificates(
            &RevokeTarget::Agent {
                name: "ward-3".into(),
                site: Some("chu".into()),
            },
            "laptop stolen",
            later,
        )
        .unwrap();
    assert_eq!(by_site.revoked.len(), 1);
    assert_eq!(by_site.revoked[0].facts.serial, "a1");
    // Now unambiguous: only one site has ward-3 in force.
    let by_name = store
        .revoke_certificates(
            &RevokeTarget::Agent {
                name: "ward-3".into(),
                site: None,
            },
            "decommissioned",
            later,
        )
        .unwrap();
    assert_eq!(by_name.revoked[0].facts.serial, "b1");

    let by_serial = store
        .revoke_certificates(&RevokeTarget::Serial("c1".into()), "compromised", later)
        .unwrap();
    assert_eq!(by_serial.revoked.len(), 1);
    let again = store
        .revoke_certificates(&RevokeTarget::Serial("c1".into()), "twice", later)
        .unwrap();
    assert!(again.revoked.is_empty());
    assert_eq!(
        again.already[0].revoke_reason.as_deref(),
        Some("compromised")
    );

    let record = store.certificate("a1").unwrap().unwrap();
    assert_eq!(record.revoked_at, Some(later));
    assert_eq!(record.revoke_reason.as_deref(), Some("laptop stolen"));
    assert_eq!(record.status(later), CertificateStatus::Revoked);
    let revoked = store.revoked_serials().unwrap();
    assert_eq!(revoked.len(), 3);
    assert_eq!(revoked.generation, generation + 3);
    assert!(store.verify_events().unwrap().is_ok());
}

#[test]
fn replacing_the_ca_revokes_everything_in_force() {
    let (_dir, mut store) = store();
    let now = at("2026-11-25T10:00:00Z");
    store
        .record_issued(&agent("a1", "ward-3", "chu"), true, now)
        .unwrap();
    store
        .record_issued(&agent("c1", "lab", "chu"), true, now)
        .unwrap();
    store
        .revoke_certificates(&RevokeTarget::Serial("c1".into()), "lost", now)
        .unwrap();
    let outcome = store
        .revoke_certificates(&RevokeTarget::All, "CA replaced", now)
        .unwrap();
    assert_eq!(outcome.revoked.len(), 1);
    assert_eq!(outcome.revoked[0].facts.serial, "a1");
    // An empty revocation changes nothing, not even the generation.
    let generation = store.revocation_generation().unwrap();
    let none = store
        .revoke_certificates(&RevokeTarget::All, "CA replaced", now)
        .unwrap();
    assert!(none.revoked.is_empty());
    assert_eq!(store.revocation_generation().unwrap(), generation);
}

#[test]
fn a_reader_sees_revocations_committed_by_the_writer() {
    let (dir, mut store) = store();
    let now = at("2026-11-25T10:00:00Z");
    store
        .record_issued(&agent("a1", "ward-3", "chu"), true, now)
        .unwrap();
    let reader = SqliteStore::open_reader(&dir.path().join("inventory.sqlite")).unwrap();
    let first = reader.revoked_serials().unwrap();
    assert!(first.is_empty());
    assert_eq!(reader.revocation_generation().unwrap(), first.generation);
    store
        .revoke_certificates(&RevokeTarget::Serial("a1".into()), "lost", now)
        .unwrap();
    assert_ne!(reader.revocation_generation().unwrap(), first.generation);
    assert!(reader.revoked_serials().unwrap().contains("a1"));
}
