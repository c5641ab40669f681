//! Offline verification of a JSON or CSV snapshot with the collector's public key alone.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::csv_format::{self, COLUMNS, COLUMNS_V1};
use super::signing::Verifier25519;
use super::{FORMAT, FORMAT_V1, Header, RowsDigest, canonical, header_message, row_message};
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

/// Checks rows one at a time against a verified header: position, signature, then (at the
/// end) their number and digest.
pub(crate) struct RowCheck<'a> {
    header: &'a Header,
    trusted: &'a Verifier25519,
    digest: RowsDigest,
    failure: Option<Tampered>,
}

impl<'a> RowCheck<'a> {
    pub(crate) fn new(header: &'a Header, trusted: &'a Verifier25519) -> Self {
        RowCheck {
            header,
            trusted,
            digest: RowsDigest::default(),
            failure: None,
        }
    }

    /// Keeps `tampered` as the reason and returns its message (to abort a parse with).
    fn fail(&mut self, tampered: Tampered) -> String {
        let message = tampered.to_string();
        self.failure = Some(tampered);
        message
    }

    /// Checks the next JSON row.
    pub(crate) fn json_row(&mut self, mut row: Value) -> Result<(), String> {
        let index = self.digest.rows();
        let mac = row["mac"].as_str().unwrap_or("?").to_owned();
        let signature = row
            .as_object_mut()
            .and_then(|object| object.remove("signature"))
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        if row["row"].as_u64() != u64::try_from(index).ok() {
            let found = row["row"].to_string();
            return Err(self.fail(Tampered::Moved {
                row: index,
                mac,
                found,
            }));
        }
        let message = row_message(&self.header.id, &canonical(&row));
        if !self.trusted.verify(&message, &signature) {
            return Err(self.fail(Tampered::Row { row: index, mac }));
        }
        self.digest.push(&signature_bytes(&signature));
        Ok(())
    }

    /// Checks the next CSV row (its fields, position and signature included).
    fn csv_row(&mut self, fields: &[String], columns: usize) -> Result<(), Tampered> {
        let index = self.digest.rows();
        let mac = fields.first().cloned().unwrap_or_default();
        if fields.len() != columns || columns < 2 {
            return Err(Tampered::Row { row: index, mac });
        }
        let (cells, tail) = fields.split_at(columns - 2);
        if tail[0] != index.to_string() {
            return Err(Tampered::Moved {
                row: index,
                mac,
                found: tail[0].clone(),
            });
        }
        let message = row_message(&self.header.id, &csv_format::row_content(cells, index));
        if !self.trusted.verify(&message, &tail[1]) {
            return Err(Tampered::Row { row: index, mac });
        }
        self.digest.push(&signature_bytes(&tail[1]));
        Ok(())
    }

    /// The reason a row was refused, if one was.
    pub(crate) fn failure(&mut self) -> Option<Tampered> {
        self.failure.take()
    }

    /// Checks the number of rows and their digest against the header.
    pub(crate) fn finish(self) -> Result<(), Tampered> {
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

fn signature_bytes(text: &str) -> [u8; 64] {
    hex::decode(text)
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes.as_slice()).ok())
        .unwrap_or([0; 64])
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
    let mut check = RowCheck::new(&header, trusted);
    while let Some(record) = next()? {
        let fields: Vec<String> = record.iter().map(str::to_owned).collect();
        check.csv_row(&fields, columns_of_format.len())?;
    }
    check.finish()?;
    Ok(Verified {
        header,
        format: "csv",
    })
}
