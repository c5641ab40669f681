//! Audit snapshots: the whole inventory at one moment, as JSON, CSV (both signed and
//! verifiable offline) or HTML (for people).
//!
//! Signing, so that a tampered snapshot is detected and the first bad row named:
//! - every asset row carries its own Ed25519 signature over its content, its position and the
//!   snapshot's id (so rows cannot be moved between snapshots or within one);
//! - the header (time, collector, counts, event chain head, row count) carries a SHA-256
//!   digest of itself and a signature; it includes `rows_digest`, the SHA-256 of every row
//!   signature in order, so removing or adding rows is detected too.
//!
//! Verification needs only the collector's public key (`pki/signing.pub`).
//!
//! Writers stream: rows are signed and written as the read port hands them out, so memory does
//! not grow with the inventory. JSON puts the `assets` array before the `snapshot` header (the
//! rows digest is known once the rows are written; a JSON object's members have no order, and
//! snapshots pretty-printed by earlier versions had this order too); CSV stages its rows in a
//! temporary file and writes the header line first, as its format requires. Verification
//! streams too ([`verify`]).
//!
//! Speed: signing and checking signatures are most of the work, so both run on every core
//! ([`SignedRows`] for exports, `pipeline`), a few chunks of rows in flight, in order; verify
//! checks each chunk's signatures at once (`batch`) and falls back to one check per row to
//! name the first bad one. Files are byte for byte what one thread would write (Ed25519 is
//! deterministic), and verdicts are those of one check per row.

mod batch;
pub mod csv_format;
pub mod html;
pub mod json;
pub mod netbox;
mod pipeline;
pub mod signing;
pub mod verify;
mod verify_json;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::Hash;
use crate::views::{AssetView, Counts};
use signing::Signer25519;

/// The snapshot format this build writes. Version 2 adds the device's manufacturer, model and
/// firmware (JSON rows carry them when known; CSV has three more columns).
pub const FORMAT: &str = "hygie-snapshot/2";
/// The first format, still verified: JSON rows are verified whatever members they hold, and
/// its CSV has [`csv_format::COLUMNS_V1`].
pub const FORMAT_V1: &str = "hygie-snapshot/1";

/// Who took the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectorInfo {
    /// Host name of the collector.
    pub hostname: String,
    /// Collector version.
    pub version: String,
    /// Short id of the signing key.
    pub key_id: String,
    /// The signing key's public half (hex): informative, verification uses a trusted copy.
    pub public_key: String,
}

/// The head of the event chain at the time of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsHead {
    /// Last event id (0: none).
    pub id: i64,
    /// Its hash.
    pub hash: String,
}

/// Counts as written in a header (read back without the view types).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderCounts {
    /// All assets listed.
    pub assets: usize,
    /// Seen on the network.
    pub seen: usize,
    /// In the registry.
    pub managed: usize,
    /// Per category.
    pub by_category: std::collections::BTreeMap<String, usize>,
    /// Per flag.
    pub by_flag: std::collections::BTreeMap<String, usize>,
}

impl From<Counts> for HeaderCounts {
    fn from(counts: Counts) -> Self {
        HeaderCounts {
            assets: counts.assets,
            seen: counts.seen,
            managed: counts.managed,
            by_category: counts.by_category,
            by_flag: counts.by_flag,
        }
    }
}

/// What a snapshot says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`].
    pub format: String,
    /// Random id, bound into every row signature.
    pub id: String,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// By which collector and key.
    pub collector: CollectorInfo,
    /// Counts per category and flag.
    pub counts: HeaderCounts,
    /// Event chain head at that moment.
    pub events_head: EventsHead,
    /// Number of asset rows.
    pub rows: usize,
    /// SHA-256 over every row signature, in order.
    pub rows_digest: String,
    /// Set when the snapshot is a reconstruction of a past moment (`export --at`): the moment
    /// and the event it stands on. Absent from live snapshots and from older ones, which
    /// verify as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconstruction: Option<crate::asof::Reconstruction>,
}

/// A snapshot ready to be written: its header and its signed rows.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The header, signed.
    pub header: Header,
    /// The assets.
    pub assets: Vec<AssetView>,
}

/// What a snapshot says of the inventory, besides its rows.
#[derive(Debug, Clone)]
pub struct SnapshotMeta {
    /// Counts over the rows.
    pub counts: Counts,
    /// Event chain head.
    pub events_head: (i64, Hash),
    /// The time.
    pub taken_at: Timestamp,
    /// The collector's host name.
    pub hostname: String,
    /// A reconstruction of a past moment (`export --at`), or `None` for the present.
    pub reconstruction: Option<crate::asof::Reconstruction>,
}

/// The SHA-256 of every row signature in order, as rows are written.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowsDigest {
    hasher: Sha256,
    rows: usize,
}

impl RowsDigest {
    pub(crate) fn push(&mut self, signature: &[u8; 64]) {
        self.hasher.update(signature);
        self.rows += 1;
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

/// Everything needed to take a snapshot of rows held in memory (tests, small tools).
#[derive(Debug)]
pub struct SnapshotInput {
    /// The assets, in the order to write them.
    pub assets: Vec<AssetView>,
    /// Counts over them.
    pub counts: Counts,
    /// Event chain head.
    pub events_head: (i64, Hash),
    /// The time.
    pub taken_at: Timestamp,
    /// The collector's host name.
    pub hostname: String,
    /// A reconstruction of a past moment (`export --at`), or `None` for the present.
    pub reconstruction: Option<crate::asof::Reconstruction>,
}

/// The message a row signature signs.
pub(crate) fn row_message(snapshot_id: &str, content: &[u8]) -> Vec<u8> {
    let mut message = b"hygie-row\0".to_vec();
    message.extend_from_slice(snapshot_id.as_bytes());
    message.push(0);
    message.extend_from_slice(content);
    message
}

/// The message a row signature signs, for a JSON row: its canonical bytes written in place.
pub(crate) fn row_message_of(snapshot_id: &str, row: &serde_json::Value) -> Vec<u8> {
    let mut message = Vec::with_capacity(1024);
    message.extend_from_slice(b"hygie-row\0");
    message.extend_from_slice(snapshot_id.as_bytes());
    message.push(0);
    let prefix = message.len();
    // Plain JSON values always serialize (and `canonical` is empty if one did not).
    if serde_json::to_writer(&mut message, &Sorted(row)).is_err() {
        message.truncate(prefix);
    }
    message
}

/// The message a header signature signs.
pub(crate) fn header_message(canonical_header: &[u8]) -> Vec<u8> {
    let mut message = b"hygie-header\0".to_vec();
    message.extend_from_slice(canonical_header);
    message
}

/// Serializes a JSON value with object keys sorted at every level: the canonical bytes that
/// are hashed and signed.
pub fn canonical(value: &serde_json::Value) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1024);
    // Plain JSON values always serialize.
    if serde_json::to_writer(&mut bytes, &Sorted(value)).is_err() {
        bytes.clear();
    }
    bytes
}

/// A JSON value serialized with its objects' keys in order, as a sorted copy of it would be,
/// without the copy.
struct Sorted<'a>(&'a serde_json::Value);

impl serde::Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut object = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    object.serialize_entry(key, &Sorted(value))?;
                }
                object.end()
            }
            serde_json::Value::Array(items) => serializer.collect_seq(items.iter().map(Sorted)),
            other => other.serialize(serializer),
        }
    }
}

/// Rows signed and encoded, in the bytes their writer writes, with their signatures in order.
#[derive(Debug, Default)]
pub struct Encoded {
    bytes: Vec<u8>,
    signatures: Vec<[u8; 64]>,
}

impl Encoded {
    fn with_capacity(rows: usize) -> Self {
        Encoded {
            bytes: Vec::with_capacity(rows * 1024),
            signatures: Vec::with_capacity(rows),
        }
    }
}

/// Signs and encodes rows of one snapshot apart from its writer, on another thread.
pub trait RowEncoder: Send + Sync + 'static {
    /// The rows, each with its position, as the writer's own `row` would write them.
    fn encode(&self, rows: Vec<(usize, AssetView)>) -> std::io::Result<Encoded>;
}

/// A snapshot writer that takes rows encoded by its [`RowEncoder`].
pub trait RowWriter {
    /// Its encoder.
    type Encoder: RowEncoder;
    /// An encoder for the rows of this snapshot.
    fn encoder(&self) -> Self::Encoder;
    /// Rows written so far.
    fn rows(&self) -> usize;
    /// Writes the next rows, encoded.
    fn write_encoded(&mut self, encoded: &Encoded) -> std::io::Result<()>;
}

/// Rows per chunk handed to a signing thread.
const SIGN_CHUNK: usize = 128;

/// A snapshot writer fed rows that are signed and encoded on the machine's cores
/// ([`pipeline`]) while the caller reads the next ones: the same bytes as the writer's own
/// `row`, in the same order, in a fraction of the time (signing is most of an export's work).
/// Memory stays flat: a few chunks of rows are in flight at a time.
#[derive(Debug)]
pub struct SignedRows<W: RowWriter> {
    writer: W,
    pool: pipeline::Ordered<(usize, AssetView), std::io::Result<Encoded>>,
    next: usize,
}

impl<W: RowWriter> SignedRows<W> {
    /// Starts the signing threads for `writer`'s rows.
    pub fn new(writer: W) -> std::io::Result<Self> {
        let encoder = writer.encoder();
        let pool = pipeline::Ordered::new(pipeline::workers(), SIGN_CHUNK, move |rows| {
            encoder.encode(rows)
        })?;
        Ok(SignedRows {
            next: writer.rows(),
            writer,
            pool,
        })
    }

    /// Hands over the next row; writes those that are ready.
    pub fn row(&mut self, view: AssetView) -> std::io::Result<()> {
        self.pool
            .push((self.next, view))
            .map_err(std::io::Error::other)?;
        self.next += 1;
        self.write_ready()
    }

    fn write_ready(&mut self) -> std::io::Result<()> {
        while let Some(encoded) = self.pool.ready().map_err(std::io::Error::other)? {
            self.writer.write_encoded(&encoded?)?;
        }
        Ok(())
    }

    /// Writes the rows still in flight; returns the writer (to finish the snapshot with).
    pub fn finish(mut self) -> std::io::Result<W> {
        self.pool.flush().map_err(std::io::Error::other)?;
        self.write_ready()?;
        let SignedRows { writer, pool, .. } = self;
        drop(pool);
        Ok(writer)
    }
}

/// Signs a header: returns its canonical digest (hex) and signature (hex).
pub(crate) fn sign_header(header: &Header, signer: &Signer25519) -> (String, String) {
    let value = serde_json::to_value(header).unwrap_or_default();
    let bytes = canonical(&value);
    let digest = hex::encode(Sha256::digest(&bytes));
    let signature = hex::encode(signer.sign(&header_message(&bytes)));
    (digest, signature)
}

impl SnapshotInput {
    /// Its meta part.
    pub fn meta(&self) -> SnapshotMeta {
        SnapshotMeta {
            counts: self.counts.clone(),
            events_head: self.events_head,
            taken_at: self.taken_at,
            hostname: self.hostname.clone(),
            reconstruction: self.reconstruction.clone(),
        }
    }
}

/// The header an HTML report names (rows filled in by the caller; it is not signed).
pub fn report_header(meta: &SnapshotMeta, signer: &Signer25519) -> Header {
    header(meta, signer)
}

/// A fresh header for `meta` (rows and their digest filled in by the format writer).
pub(crate) fn header(input: &SnapshotMeta, signer: &Signer25519) -> Header {
    let verifier = signer.verifier();
    let id: [u8; 16] = rand::random();
    Header {
        format: FORMAT.to_owned(),
        id: hex::encode(id),
        taken_at: input.taken_at,
        collector: CollectorInfo {
            hostname: input.hostname.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            key_id: verifier.key_id(),
            public_key: verifier.to_hex(),
        },
        counts: input.counts.clone().into(),
        events_head: EventsHead {
            id: input.events_head.0,
            hash: input.events_head.1.to_hex(),
        },
        rows: 0,
        rows_digest: String::new(),
        reconstruction: input.reconstruction.clone(),
    }
}

#[cfg(test)]
mod tests;
