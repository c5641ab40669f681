//! Offline verification of a JSON or CSV snapshot with the collector's public key alone.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::csv_format::{self, COLUMNS, COLUMNS_V1};
use super::signing::Verifier25519;
use super::{FORMAT, FORMAT_V1, Header, canonical, header_message, row_message};

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
    match bytes.iter().find(|byte| !byte.is_ascii_whitespace()) {
        Some(b'{') => verify_json(bytes, trusted),
        Some(b'#') => verify_csv(bytes, trusted),
        _ => Err(Tampered::Unreadable("neither JSON nor CSV".into())),
    }
}

fn check_header(
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
fn check_header_digest(header_value: &Value, digest: &str) -> Result<(), Tampered> {
    if hex::encode(Sha256::digest(canonical(header_value))) != digest.to_ascii_lowercase() {
        return Err(Tampered::HeaderDigest);
    }
    Ok(())
}

fn check_rows(header: &Header, signatures: &[[u8; 64]]) -> Result<(), Tampered> {
    if signatures.len() != header.rows {
        return Err(Tampered::Count {
            signed: header.rows,
            found: signatures.len(),
        });
    }
    if super::rows_digest(signatures.iter()) != header.rows_digest {
        return Err(Tampered::Digest);
    }
    Ok(())
}

fn signature_bytes(text: &str) -> [u8; 64] {
    hex::decode(text)
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes.as_slice()).ok())
        .unwrap_or([0; 64])
}

/// A JSON value in which no object repeats a key: a parser keeping the first of two values and
/// one keeping the last would read different snapshots, and only one of them was signed.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Walk;
        impl<'de> serde::de::Visitor<'de> for Walk {
            type Value = NoDuplicateKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
                Ok(NoDuplicateKeys)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut keys = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !keys.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!(
                            "key {key:?} appears twice in one object"
                        )));
                    }
                    map.next_value::<NoDuplicateKeys>()?;
                }
                Ok(NoDuplicateKeys)
            }
        }
        deserializer.deserialize_any(Walk)
    }
}

fn verify_json(bytes: &[u8], trusted: &Verifier25519) -> Result<Verified, Tampered> {
    serde_json::from_slice::<NoDuplicateKeys>(bytes)
        .map_err(|error| Tampered::Unreadable(format!("JSON: {error}")))?;
    let document: Value = serde_json::from_slice(bytes)
        .map_err(|error| Tampered::Unreadable(format!("JSON: {error}")))?;
    let unsigned: Vec<&String> = document
        .as_object()
        .map(|object| {
            object
                .keys()
                .filter(|key| !matches!(key.as_str(), "snapshot" | "assets"))
                .collect()
        })
        .unwrap_or_default();
    if !unsigned.is_empty() {
        return Err(Tampered::Unreadable(format!(
            "unsigned members {unsigned:?} beside `snapshot` and `assets`"
        )));
    }
    let mut header_value = document
        .get("snapshot")
        .cloned()
        .ok_or_else(|| Tampered::Unreadable("no `snapshot` object".into()))?;
    let object = header_value
        .as_object_mut()
        .ok_or_else(|| Tampered::Unreadable("`snapshot` is not an object".into()))?;
    let digest = object
        .remove("digest")
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    let signature = object
        .remove("signature")
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    let header = check_header(&header_value, &signature, trusted)?;
    check_header_digest(&header_value, &digest)?;
    let rows = document
        .get("assets")
        .and_then(Value::as_array)
        .ok_or_else(|| Tampered::Unreadable("no `assets` array".into()))?;
    let mut signatures = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let mac = row["mac"].as_str().unwrap_or("?").to_owned();
        let mut content = row.clone();
        let signature = content
            .as_object_mut()
            .and_then(|object| object.remove("signature"))
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        if content["row"].as_u64() != Some(index as u64) {
            return Err(Tampered::Moved {
                row: index,
                mac,
                found: content["row"].to_string(),
            });
        }
        if !trusted.verify(&row_message(&header.id, &canonical(&content)), &signature) {
            return Err(Tampered::Row { row: index, mac });
        }
        signatures.push(signature_bytes(&signature));
    }
    check_rows(&header, &signatures)?;
    Ok(Verified {
        header,
        format: "json",
    })
}

fn verify_csv(bytes: &[u8], trusted: &Verifier25519) -> Result<Verified, Tampered> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
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
    let mut signatures = Vec::new();
    let mut index = 0;
    while let Some(record) = next()? {
        let fields: Vec<String> = record.iter().map(str::to_owned).collect();
        let mac = fields.first().cloned().unwrap_or_default();
        if fields.len() != columns_of_format.len() {
            return Err(Tampered::Row { row: index, mac });
        }
        let (cells, tail) = fields.split_at(columns_of_format.len() - 2);
        if tail[0] != index.to_string() {
            return Err(Tampered::Moved {
                row: index,
                mac,
                found: tail[0].clone(),
            });
        }
        let message = row_message(&header.id, &csv_format::row_content(cells, index));
        if !trusted.verify(&message, &tail[1]) {
            return Err(Tampered::Row { row: index, mac });
        }
        signatures.push(signature_bytes(&tail[1]));
        index += 1;
    }
    check_rows(&header, &signatures)?;
    Ok(Verified {
        header,
        format: "csv",
    })
}
