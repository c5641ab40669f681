//! The event log's hash chain: every event row stores the hash of the previous one, so changing,
//! removing or inserting a row breaks the chain from that row on. Pure: hashing and checking;
//! the store reads and writes the rows.
//!
//! `hash = SHA-256("hygie-event/1" ‖ 0x00 ‖ prev_hash ‖ id ‖ at ‖ has_mac ‖ mac ‖ len(kind) ‖
//! kind ‖ len(details) ‖ details)`, with `id`, `at` (Unix microseconds), `mac` (48-bit integer,
//! 0 when `has_mac` is 0) and the lengths as 8-byte big-endian integers, `has_mac` one byte,
//! and `details` the exact JSON text stored. Every field is framed, so no two different rows
//! hash alike. The first event's `prev_hash` is 32 zero bytes.
//!
//! A chain alone proves order, not origin: whoever can write the database can rewrite a row
//! and recompute every hash after it. So the collector also *seals* the head with its Ed25519
//! signing key whenever it appends events ([`seal_message`]); a rewritten, extended or
//! truncated chain no longer matches its seal, and only the key's holder can make a new one.
//! Exported snapshots sign the head they saw, which anchors the log's past independently.

use std::fmt;

use hygie_proto::MacAddr;
use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash before the first event.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// Lower-case hex.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// From lower- or upper-case hex.
    pub fn from_hex(text: &str) -> Option<Hash> {
        let bytes = hex::decode(text).ok()?;
        <[u8; 32]>::try_from(bytes.as_slice()).ok().map(Hash)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

/// What kind of change an event records. Its name is hashed into the chain, so the names are
/// fixed forever: a variant may be added, never renamed (chains already written must verify).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// An asset was seen for the first time.
    AssetNew,
    /// An asset used an address it had not used before.
    AddressNew,
    /// A flag was raised on an asset.
    FlagRaised,
    /// A flag was cleared.
    FlagCleared,
    /// A device was added to the registry.
    RegistryAdded,
    /// A registry entry changed.
    RegistryUpdated,
    /// A device was removed from the registry.
    RegistryRemoved,
    /// The collector's CA issued a certificate (`ca init`, `ca issue-agent`, `ca issue-server`).
    CertificateIssued,
    /// A certificate was revoked (`ca revoke`, a re-issue, or the CA replaced).
    CertificateRevoked,
    /// An agent went over its (or its site's) quota of new assets: observations of devices not
    /// yet in the inventory were not applied. At most one per agent per hour.
    AssetQuotaReached,
    /// A device entered a site's scan policy: that site's agents must not probe it.
    ProbingForbidden,
    /// A device left a site's scan policy.
    ProbingPermitted,
    /// An operator allowed probing a device its category protects (`policy allow`).
    ProbingAllowed,
    /// An operator forbade probing a device at every site (`policy deny`).
    ProbingDenied,
    /// An operator's decision about a device was removed (`policy clear`).
    ProbingOverrideCleared,
    /// A web console account was created (`user add`).
    AccountAdded,
    /// A console account's password or role changed (`user passwd`).
    AccountChanged,
    /// A console account was deleted (`user remove`).
    AccountRemoved,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 18] = [
        EventKind::AssetNew,
        EventKind::AddressNew,
        EventKind::FlagRaised,
        EventKind::FlagCleared,
        EventKind::RegistryAdded,
        EventKind::RegistryUpdated,
        EventKind::RegistryRemoved,
        EventKind::CertificateIssued,
        EventKind::CertificateRevoked,
        EventKind::AssetQuotaReached,
        EventKind::ProbingForbidden,
        EventKind::ProbingPermitted,
        EventKind::ProbingAllowed,
        EventKind::ProbingDenied,
        EventKind::ProbingOverrideCleared,
        EventKind::AccountAdded,
        EventKind::AccountChanged,
        EventKind::AccountRemoved,
    ];

    /// The name stored and hashed.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::AssetNew => "asset_new",
            EventKind::AddressNew => "address_new",
            EventKind::FlagRaised => "flag_raised",
            EventKind::FlagCleared => "flag_cleared",
            EventKind::RegistryAdded => "registry_added",
            EventKind::RegistryUpdated => "registry_updated",
            EventKind::RegistryRemoved => "registry_removed",
            EventKind::CertificateIssued => "certificate_issued",
            EventKind::CertificateRevoked => "certificate_revoked",
            EventKind::AssetQuotaReached => "asset_quota_reached",
            EventKind::ProbingForbidden => "probing_forbidden",
            EventKind::ProbingPermitted => "probing_permitted",
            EventKind::ProbingAllowed => "probing_allowed",
            EventKind::ProbingDenied => "probing_denied",
            EventKind::ProbingOverrideCleared => "probing_override_cleared",
            EventKind::AccountAdded => "account_added",
            EventKind::AccountChanged => "account_changed",
            EventKind::AccountRemoved => "account_removed",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The text is not the name of an event kind this collector knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an event kind this collector knows")]
pub struct UnknownEventKind(pub String);

impl std::str::FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownEventKind(text.to_owned()))
    }
}

/// What an event records, before it is numbered and chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// When it happened (the collector's time of recording).
    pub at: Timestamp,
    /// The asset it is about, if any.
    pub mac: Option<MacAddr>,
    /// What kind of change.
    pub kind: EventKind,
    /// Details, as compact JSON (stored and hashed as this exact text).
    pub details: String,
}

impl NewEvent {
    /// An event with `details` serialized to JSON.
    pub fn new(
        at: Timestamp,
        mac: Option<MacAddr>,
        kind: EventKind,
        details: &impl Serialize,
    ) -> Self {
        NewEvent {
            at,
            mac,
            kind,
            // Plain data always serializes.
            details: serde_json::to_string(details).unwrap_or_else(|_| "{}".into()),
        }
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Position in the chain, from 1.
    pub id: i64,
    /// When it was recorded.
    pub at: Timestamp,
    /// The asset it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// Kind of change, as stored: text, since a chain is verified over exactly what it holds
    /// (a newer collector's kinds included); [`Event::known_kind`] types it.
    pub kind: String,
    /// Details (JSON text).
    pub details: String,
    /// Hash of the previous event.
    pub prev_hash: Hash,
    /// This event's hash.
    pub hash: Hash,
}

impl Event {
    /// The kind, if this collector knows it.
    pub fn known_kind(&self) -> Option<EventKind> {
        self.kind.parse().ok()
    }
}

/// The hash of an event given its predecessor's.
pub fn event_hash(
    prev: Hash,
    id: i64,
    at: Timestamp,
    mac: Option<MacAddr>,
    kind: &str,
    details: &str,
) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(b"hygie-event/1\0");
    hasher.update(prev.0);
    hasher.update(id.to_be_bytes());
    hasher.update(at.as_microsecond().to_be_bytes());
    hasher.update([u8::from(mac.is_some())]);
    hasher.update(mac.map_or(0, MacAddr::to_u64).to_be_bytes());
    hasher.update((kind.len() as u64).to_be_bytes());
    hasher.update(kind.as_bytes());
    hasher.update((details.len() as u64).to_be_bytes());
    hasher.update(details.as_bytes());
    Hash(hasher.finalize().into())
}

/// The message a seal of the chain head signs.
pub fn seal_message(id: i64, hash: Hash) -> Vec<u8> {
    let mut message = b"hygie-events-seal\0".to_vec();
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(&hash.0);
    message
}

/// A signed statement of the chain head, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seal {
    /// Id of the head event it covers.
    pub id: i64,
    /// That event's hash.
    pub hash: Hash,
    /// Ed25519 signature of [`seal_message`], hex.
    pub signature: String,
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("event {id}: its content does not match its hash (altered)")]
    Altered { id: i64 },
    #[error("event {id}: it does not follow event {previous} (removed or reordered events)")]
    Broken { id: i64, previous: i64 },
    #[error("event {id}: expected id {expected} (missing events)")]
    Gap { id: i64, expected: i64 },
}

/// The state of a chain that checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Events checked.
    pub events: u64,
    /// Id of the last event (0 for none).
    pub id: i64,
    /// Hash of the last event.
    pub hash: Hash,
}

/// Checks events in id order; the error names the first bad row.
pub fn verify_chain(events: impl IntoIterator<Item = Event>) -> Result<ChainHead, ChainBreak> {
    let mut head = ChainHead {
        events: 0,
        id: 0,
        hash: Hash::GENESIS,
    };
    for event in events {
        if event.id != head.id + 1 {
            return Err(ChainBreak::Gap {
                id: event.id,
                expected: head.id + 1,
            });
        }
        if event.prev_hash != head.hash {
            return Err(ChainBreak::Broken {
                id: event.id,
                previous: head.id,
            });
        }
        let expected = event_hash(
            event.prev_hash,
            event.id,
            event.at,
            event.mac,
            &event.kind,
            &event.details,
        );
        if expected != event.hash {
            return Err(ChainBreak::Altered { id: event.id });
        }
        head = ChainHead {
            events: head.events + 1,
            id: event.id,
            hash: event.hash,
        };
    }
    Ok(head)
}

/// Why a chain that links up is still not the collector's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealProblem {
    #[error(
        "the chain has {head} events but no seal: it was not written by a collector holding the signing key"
    )]
    Missing { head: i64 },
    #[error(
        "the seal's signature is not the trusted key's: the seal was forged or another key made it"
    )]
    Forged,
    #[error(
        "events {first} to {head} come after the sealed head: they were appended without the signing key"
    )]
    Extended { first: i64, head: i64 },
    #[error(
        "the seal covers event {sealed} but the chain ends at event {head}: events were removed"
    )]
    Truncated { sealed: i64, head: i64 },
    #[error("event {id} differs from the one sealed: the chain was rewritten")]
    Rewritten { id: i64 },
}

/// Checks that `seal` vouches for exactly `head`, with `verify(message, signature_hex)` the
/// trusted key's check.
pub fn check_seal(
    head: &ChainHead,
    seal: Option<&Seal>,
    verify: impl Fn(&[u8], &str) -> bool,
) -> Result<(), SealProblem> {
    let Some(seal) = seal else {
        return if head.id == 0 {
            Ok(())
        } else {
            Err(SealProblem::Missing { head: head.id })
        };
    };
    if !verify(&seal_message(seal.id, seal.hash), &seal.signature) {
        return Err(SealProblem::Forged);
    }
    match seal.id.cmp(&head.id) {
        std::cmp::Ordering::Less => Err(SealProblem::Extended {
            first: seal.id + 1,
            head: head.id,
        }),
        std::cmp::Ordering::Greater => Err(SealProblem::Truncated {
            sealed: seal.id,
            head: head.id,
        }),
        std::cmp::Ordering::Equal if seal.hash != head.hash => {
            Err(SealProblem::Rewritten { id: seal.id })
        }
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Numbers and chains new events after `head`.
pub fn chain(head: (i64, Hash), events: &[NewEvent]) -> Vec<Event> {
    let (mut id, mut prev) = head;
    events
        .iter()
        .map(|event| {
            id += 1;
            let kind = event.kind.as_str();
            let hash = event_hash(prev, id, event.at, event.mac, kind, &event.details);
            let stored = Event {
                id,
                at: event.at,
                mac: event.mac,
                kind: kind.to_owned(),
                details: event.details.clone(),
                prev_hash: prev,
                hash,
            };
            prev = hash;
            stored
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(count: i64) -> Vec<Event> {
        let new: Vec<NewEvent> = (0..count)
            .map(|n| {
                NewEvent::new(
                    Timestamp::from_second(1_790_000_000 + n).unwrap(),
                    Some(MacAddr::from_u64(0x0009_5c00_0000 + n as u64)),
                    EventKind::AssetNew,
                    &serde_json::json!({ "n": n }),
                )
            })
            .collect();
        chain((0, Hash::GENESIS), &new)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let head = verify_chain(events(5)).unwrap();
        assert_eq!((head.events, head.id), (5, 5));
    }

    #[test]
    fn an_altered_row_is_named() {
        let mut rows = events(5);
        rows[2].details = r#"{"n":99}"#.into();
        assert_eq!(verify_chain(rows), Err(ChainBreak::Altered { id: 3 }));
    }

    #[test]
    fn a_removed_row_is_named() {
        let mut rows = events(5);
        rows.remove(2);
        assert_eq!(
            verify_chain(rows),
            Err(ChainBreak::Gap { id: 4, expected: 3 })
        );
    }

    #[test]
    fn a_rewritten_row_breaks_the_link_to_the_next() {
        // Altering row 3 and recomputing its hash still leaves row 4 pointing at the old hash.
        let mut rows = events(5);
        rows[2].details = r#"{"n":99}"#.into();
        rows[2].hash = event_hash(
            rows[2].prev_hash,
            3,
            rows[2].at,
            rows[2].mac,
            &rows[2].kind,
            &rows[2].details,
        );
        assert_eq!(
            verify_chain(rows),
            Err(ChainBreak::Broken { id: 4, previous: 3 })
        );
    }

    #[test]
    fn chaining_continues_from_a_head() {
        let first = events(2);
        let head = (first[1].id, first[1].hash);
        let more = chain(
            head,
            &[NewEvent::new(
                Timestamp::UNIX_EPOCH,
                None,
                EventKind::RegistryRemoved,
                &(),
            )],
        );
        let mut all = first;
        all.extend(more);
        assert_eq!(verify_chain(all).unwrap().id, 3);
    }

    #[test]
    fn fields_are_framed_so_different_rows_never_hash_alike() {
        let at = Timestamp::UNIX_EPOCH;
        let prev = Hash::GENESIS;
        let base = event_hash(prev, 1, at, None, "flag_raised", "{\"flag\":\"new\"}");
        // Moving bytes between kind and details changes the hash.
        assert_ne!(
            base,
            event_hash(prev, 1, at, None, "flag_raised\0{\"flag\":", "\"new\"}")
        );
        // No asset and the all-zero MAC are different.
        assert_ne!(
            base,
            event_hash(
                prev,
                1,
                at,
                Some(MacAddr::from_u64(0)),
                "flag_raised",
                "{\"flag\":\"new\"}"
            )
        );
    }

    #[test]
    fn a_seal_vouches_for_exactly_its_head() {
        let rows = events(3);
        let head = verify_chain(rows.clone()).unwrap();
        let trusted = |message: &[u8], signature: &str| signature == hex::encode(message);
        let seal = |id: i64, hash: Hash| Seal {
            id,
            hash,
            signature: hex::encode(seal_message(id, hash)),
        };
        assert_eq!(
            check_seal(&head, Some(&seal(3, head.hash)), trusted),
            Ok(())
        );
        assert_eq!(
            check_seal(&head, None, trusted),
            Err(SealProblem::Missing { head: 3 })
        );
        assert_eq!(
            check_seal(&head, Some(&seal(2, rows[1].hash)), trusted),
            Err(SealProblem::Extended { first: 3, head: 3 })
        );
        assert_eq!(
            check_seal(&head, Some(&seal(4, Hash::GENESIS)), trusted),
            Err(SealProblem::Truncated { sealed: 4, head: 3 })
        );
        assert_eq!(
            check_seal(&head, Some(&seal(3, Hash::GENESIS)), trusted),
            Err(SealProblem::Rewritten { id: 3 })
        );
        let mut forged = seal(3, head.hash);
        forged.signature = "00".into();
        assert_eq!(
            check_seal(&head, Some(&forged), trusted),
            Err(SealProblem::Forged)
        );
        let empty = verify_chain(Vec::new()).unwrap();
        assert_eq!(check_seal(&empty, None, trusted), Ok(()));
    }

    /// Chains written before event kinds were an enum must still verify: the names, and the
    /// hashes of one event of each kind computed independently (Python's hashlib, from the
    /// framing in the module docs), are pinned.
    #[test]
    fn kinds_keep_the_names_and_hashes_of_existing_chains() {
        let names: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
        // Kinds added since chains were first written append here.
        assert_eq!(
            names,
            [
                "asset_new",
                "address_new",
                "flag_raised",
                "flag_cleared",
                "registry_added",
                "registry_updated",
                "registry_removed",
                "certificate_issued",
                "certificate_revoked",
                "asset_quota_reached",
                "probing_forbidden",
                "probing_permitted",
                "probing_allowed",
                "probing_denied",
                "probing_override_cleared",
                "account_added",
                "account_changed",
                "account_removed",
            ]
        );
        let golden = [
            "916da2dfcb93b80e76ecdeac7f5fbbda1f7dec079cc6f2d40d09f4542e299a6a",
            "4c5cbc46dcd98ec4b828915c5bf0e86fac3f31d4ebd847982e207c3dbfe3d299",
            "2c40bde5e56ed2403f6ba9a13cd150660f3202fbde084462551db11d99566c50",
            "0e5dd8adc9e85c415fa643583a805d9aebd11c16d06d18bca47efe4c6b9f5446",
            "cda3786e38c071d0ba3c3d0f55a077573e3f34c2f719e70d43c49b3dd7184e73",
            "af5a9374332d5aeaf460b6996619643d973b694e711be54bdc393b930f87d231",
            "1cb80997d0304b5456e0d379962be68e5aa7b5b4353eac45d9672f49b1e6a6d1",
        ];
        let at = Timestamp::from_second(1_790_000_000).unwrap();
        let mac = Some(MacAddr::from_u64(0x0009_5c11_2201));
        let new: Vec<NewEvent> = EventKind::ALL[..7]
            .iter()
            .enumerate()
            .map(|(n, kind)| NewEvent {
                at,
                mac,
                kind: *kind,
                details: format!("{{\"n\":{n}}}"),
            })
            .collect();
        let chained = chain((0, Hash::GENESIS), &new);
        let hashes: Vec<String> = chained.iter().map(|event| event.hash.to_hex()).collect();
        assert_eq!(hashes, golden);
        for (event, kind) in chained.iter().zip(EventKind::ALL) {
            assert_eq!(event.kind, kind.as_str());
            assert_eq!(event.known_kind(), Some(kind));
        }
        assert_eq!(verify_chain(chained).unwrap().events, 7);
        assert_eq!(
            "asset_neww".parse::<EventKind>(),
            Err(UnknownEventKind("asset_neww".into()))
        );
    }
}
