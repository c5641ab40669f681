//! Offline verification of a JSON or CSV snapshot with the collector's public key alone.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::batch;
use super::csv_format::{self, COLUMNS, COLUMNS_V1};
use super::pipeline::{self, Ordered};
use super::signing::{Verifier25519, signature_from_hex};
use super::{
    FORMAT, FORMAT_V1, Header, RowsDigest, canonical, header_message, row_message, row_message_of,
};
use std::io::{Read, Seek, SeekFrom};

/// A snapshot that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Its header.
    pub header: Header,
    /// `json` or `csv`.
    pub format: &'static str,
}

/// Why a snapshot does not verify; names the first bad row when a row is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tampered {
    #[error("not a Hygie snapshot: {0}")]
    Unreadable(String),
    #[error("signed by key {found}, not by the trusted key {trusted}")]
    OtherKey { found: String, trusted: String },
    #[error("the header was altered (its signature does not match)")]
    Header,
    #[error("row {row} ({mac}) was altered (its signature does not match)")]
    Row { row: usize, mac: String },
    #[error("row {row} ({mac}) is out of place (position {found} recorded)")]
    Moved {
        row: usize,
        mac: String,
        found: String,
    },
    #[error("rows were removed or added: the header signs {signed}, the file holds {found}")]
    Count { signed: usize, found: usize },
    #[error("the rows digest does not match the one the header signs")]
    Digest,
    #[error("the header's SHA-256 digest does not match the header")]
    HeaderDigest,
}

/// Verifies a snapshot file's bytes.
pub fn verify(bytes: &[u8], trusted: &Verifier25519) -> Result<Verified, Tampered> {
    verify_source(&mut std::io::Cursor::new(bytes), trusted)
}

/// Verifies a snapshot read from `source`, one row in memory at a time (a JSON snapshot is read
/// twice: `source` is rewound).
pub fn verify_source<R: Read + Seek>(
    source: &mut R,
    trusted: &Verifier25519,
) -> Result<Verified, Tampered> {
    let io_error = |error: std::io::Error| Tampered::Unreadable(error.to_string());
    let mut first = [0u8; 1];
    loop {
        if source.read(&mut first).map_err(io_error)? == 0 {
            return Err(Tampered::Unreadable("neither JSON nor CSV".into()));
        }
        if !first[0].is_ascii_whitespace() {
            break;
        }
    }
    source.seek(SeekFrom::Start(0)).map_err(io_error)?;
    match first[0] {
        b'{' => super::verify_json::verify_json(source, trusted),
        b'#' => verify_csv(source, trusted),
        _ => Err(Tampered::Unreadable("neither JSON nor CSV".into())),
    }
}

pub(crate) fn check_header(
    header_value: &Value,
    signature: &str,
    trusted: &Verifier25519,
) -> Result<Header, Tampered> {
    let header: Header = serde_json::from_value(header_value.clone())
        .map_err(|error| Tampered::Unreadable(format!("header: {error}")))?;
    if header.format != FORMAT && header.format != FORMAT_V1 {
        return Err(Tampered::Unreadable(format!("format {:?}", header.format)));
    }
    if !trusted.verify(&header_message(&canonical(header_value)), signature) {
        if header.collector.public_key != trusted.to_hex() {
            return Err(Tampered::OtherKey {
                found: header.collector.key_id,
                trusted: trusted.key_id(),
            });
        }
        return Err(Tampered::Header);
    }
    Ok(header)
}

/// The header's published SHA-256 digest (what people quote in a ticket) must be its own.
pub(crate) fn check_header_digest(header_value: &Value, digest: &str) -> Result<(), Tampered> {
    if hex::encode(Sha256::digest(canonical(header_value))) != digest.to_ascii_lowercase() {
        return Err(Tampered::HeaderDigest);
    }
    Ok(())
}

/// Checks rows against a verified header, in order: position as each row is read, signature
/// in batches on the other cores ([`super::batch`], [`super::pipeline`]), then (at the end)
/// their number and digest. The first row at fault is the one named, whichever check finds it
/// first: a failure found as a row is read waits for the rows before it to be checked.
pub(crate) struct RowCheck<'a> {
    header: &'a Header,
    digest: RowsDigest,
    failure: Option<Tampered>,
    signatures: Ordered<Pending, Option<(usize, String)>>,
}

/// A row read, its signature not yet checked.
struct Pending {
    index: usize,
    mac: String,
    content: Content,
    signature: Option<[u8; 64]>,
}

/// What a row's signed message is made of.
enum Content {
    /// A JSON row without its signature member.
    Json(Value),
    /// A CSV row's cells, without position and signature.
    Csv(Vec<String>),
}

/// Checks the signatures of a chunk of rows: the first bad one's position and MAC.
fn check_chunk(
    snapshot_id: &str,
    trusted: &Verifier25519,
    rows: Vec<Pending>,
) -> Option<(usize, String)> {
    let signed: Vec<batch::Signed> = rows
        .iter()
        .map(|row| batch::Signed {
            message: match &row.content {
                Content::Json(value) => row_message_of(snapshot_id, value),
                Content::Csv(cells) => {
                    row_message(snapshot_id, &csv_format::row_content(cells, row.index))
                }
            },
            signature: row.signature,
        })
        .collect();
    let bad = batch::first_bad(trusted, &signed)?;
    rows.into_iter().nth(bad).map(|row| (row.index, row.mac))
}

impl<'a> RowCheck<'a> {
    pub(crate) fn new(header: &'a Header, trusted: &Verifier25519) -> Result<Self, Tampered> {
        let snapshot_id = header.id.clone();
        let trusted = trusted.clone();
        let signatures = Ordered::new(pipeline::workers(), batch::CHUNK, move |rows| {
            check_chunk(&snapshot_id, &trusted, rows)
        })
        .map_err(|error| Tampered::Unreadable(format!("cannot start checking: {error}")))?;
        Ok(RowCheck {
            header,
            digest: RowsDigest::default(),
            failure: None,
            signatures,
        })
    }

    /// The first row refused so far, waiting for every row read to be checked when `all`;
    /// kept as the failure.
    fn settle(&mut self, all: bool) -> Option<Tampered> {
        if self.failure.is_none() {
            let settled = if all { self.signatures.flush() } else { Ok(()) };
            let mut result = settled.and_then(|()| self.signatures.ready());
            loop {
                match result {
                    Ok(Some(None)) => result = self.signatures.ready(),
                    Ok(Some(Some((row, mac)))) => {
                        self.failure = Some(Tampered::Row { row, mac });
                        break;
                    }
                    Ok(None) => break,
                    Err(stopped) => {
                        self.failure = Some(Tampered::Unreadable(stopped.to_string()));
                        break;
                    }
                }
            }
        }
        self.failure.clone()
    }

    /// `tampered`, found as the current row was read, unless a row before it is at fault.
    fn refuse(&mut self, tampered: Tampered) -> Tampered {
        self.settle(true).unwrap_or_else(|| {
            self.failure = Some(tampered.clone());
            tampered
        })
    }

    /// Hands the row to the signature checks; the first row refused so far, if any.
    fn check_signature(&mut self, pending: Pending) -> Result<(), Tampered> {
        if let Some(signature) = &pending.signature {
            self.digest.push(signature);
        } else {
            self.digest.push(&[0; 64]);
        }
        if let Err(stopped) = self.signatures.push(pending) {
            return Err(self.refuse(Tampered::Unreadable(stopped.to_string())));
        }
        match self.settle(false) {
            Some(tampered) => Err(tampered),
            None => Ok(()),
        }
    }

    /// Checks the next JSON row; the message to abort the parse with if a row is at fault.
    pub(crate) fn json_row(&mut self, mut row: Value) -> Result<(), String> {
        let index = self.digest.rows();
        let mac = row["mac"].as_str().unwrap_or("?").to_owned();
        let signature = row
            .as_object_mut()
            .and_then(|object| object.remove("signature"))
            .and_then(|value| value.as_str().and_then(signature_from_hex));
        if row["row"].as_u64() != u64::try_from(index).ok() {
            let found = row["row"].to_string();
            return Err(self
                .refuse(Tampered::Moved {
                    row: index,
                    mac,
                    found,
                })
                .to_string());
        }
        self.check_signature(Pending {
            index,
            mac,
            content: Content::Json(row),
            signature,
        })
        .map_err(|tampered| tampered.to_string())
    }

    /// Checks the next CSV row (its fields, position and signature included).
    fn csv_row(&mut self, mut fields: Vec<String>, columns: usize) -> Result<(), Tampered> {
        let index = self.digest.rows();
        let mac = fields.first().cloned().unwrap_or_default();
        if fields.len() != columns || columns < 2 {
            return Err(self.refuse(Tampered::Row { row: index, mac }));
        }
        let signature = fields.pop().unwrap_or_default();
        let position = fields.pop().unwrap_or_default();
        if position != index.to_string() {
            return Err(self.refuse(Tampered::Moved {
                row: index,
                mac,
                found: position,
            }));
        }
        self.check_signature(Pending {
            index,
            mac,
            content: Content::Csv(fields),
            signature: signature_from_hex(&signature),
        })
    }

    /// The reason a row was refused, if one was, once every row read is checked.
    pub(crate) fn failure(&mut self) -> Option<Tampered> {
        self.settle(true)
    }

    /// Checks the number of rows and their digest against the header, once every row's
    /// signature is checked.
    pub(crate) fn finish(mut self) -> Result<(), Tampered> {
        if let Some(tampered) = self.settle(true) {
            return Err(tampered);
        }
        if self.digest.rows() != self.header.rows {
            return Err(Tampered::Count {
                signed: self.header.rows,
                found: self.digest.rows(),
            });
        }
        if self.digest.finish() != self.header.rows_digest {
            return Err(Tampered::Digest);
        }
        Ok(())
    }
}

fn verify_csv<R: Read>(source: R, trusted: &Verifier25519) -> Result<Verified, Tampered> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::new(source));
    let mut records = reader.records();
    let mut next = || -> Result<Option<csv::StringRecord>, Tampered> {
        records
            .next()
            .transpose()
            .map_err(|error| Tampered::Unreadable(format!("CSV: {error}")))
    };
    let first = next()?.ok_or_else(|| Tampered::Unreadable("empty file".into()))?;
    let columns_of_format: &[&str] = match first.get(0).and_then(|cell| cell.strip_prefix('#')) {
        Some(format) if format == FORMAT => &COLUMNS,
        Some(format) if format == FORMAT_V1 => &COLUMNS_V1,
        _ => return Err(Tampered::Unreadable("no snapshot line".into())),
    };
    let header_value: Value = serde_json::from_str(first.get(1).unwrap_or_default())
        .map_err(|error| Tampered::Unreadable(format!("header: {error}")))?;
    let header = check_header(&header_value, first.get(2).unwrap_or_default(), trusted)?;
    if first.get(0).and_then(|cell| cell.strip_prefix('#')) != Some(header.format.as_str()) {
        // The signed header says which format the lines that follow are in.
        return Err(Tampered::Header);
    }
    check_header_digest(&header_value, first.get(3).unwrap_or_default())?;
    let columns = next()?.ok_or_else(|| Tampered::Unreadable("no column line".into()))?;
    if columns.iter().ne(columns_of_format.iter().copied()) {
        return Err(Tampered::Unreadable("unexpected columns".into()));
    }
    let mut check = RowCheck::new(&header, trusted)?;
    loop {
        let record = match next() {
            Ok(Some(record)) => record,
            Ok(None) => break,
            // A row before the unreadable part may be at fault: it is named first.
            Err(unreadable) => return Err(check.refuse(unreadable)),
        };
        let fields: Vec<String> = record.iter().map(str::to_owned).collect();
        check.csv_row(fields, columns_of_format.len())?;
    }
    check.finish()?;
    Ok(Verified {
        header,
        format: "csv",
    })
}
