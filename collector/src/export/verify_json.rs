//! Streaming verification of a JSON snapshot: one row in memory at a time, whatever the
//! order of `assets` and `snapshot` in the file (this collector writes the rows first; any
//! JSON tool may reorder members).
//!
//! Two passes over the file: the first reads the header and refuses repeated keys anywhere
//! and unsigned members; the second checks every row against the header.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::signing::Verifier25519;
use super::verify::{RowCheck, Tampered, Verified, check_header, check_header_digest};

/// A JSON value in which no object repeats a key: a parser keeping the first of two values and
/// one keeping the last would read different snapshots, and only one of them was signed.
struct Unique(Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Walk;
        impl<'de> Visitor<'de> for Walk {
            type Value = Unique;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, value: bool) -> Result<Unique, E> {
                Ok(Unique(Value::Bool(value)))
            }
            fn visit_i64<E>(self, value: i64) -> Result<Unique, E> {
                Ok(Unique(Value::from(value)))
            }
            fn visit_u64<E>(self, value: u64) -> Result<Unique, E> {
                Ok(Unique(Value::from(value)))
            }
            fn visit_f64<E>(self, value: f64) -> Result<Unique, E> {
                Ok(Unique(Value::from(value)))
            }
            fn visit_str<E>(self, value: &str) -> Result<Unique, E> {
                Ok(Unique(Value::String(value.to_owned())))
            }
            fn visit_string<E>(self, value: String) -> Result<Unique, E> {
                Ok(Unique(Value::String(value)))
            }
            fn visit_unit<E>(self) -> Result<Unique, E> {
                Ok(Unique(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
                let mut items = Vec::new();
                while let Some(Unique(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Unique(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
                let mut object = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if object.contains_key(&key) {
                        return Err(de::Error::custom(format!(
                            "key {key:?} appears twice in one object"
                        )));
                    }
                    let Unique(value) = map.next_value()?;
                    object.insert(key, value);
                }
                Ok(Unique(Value::Object(object)))
            }
        }
        deserializer.deserialize_any(Walk)
    }
}

/// Any JSON value, checked for repeated keys as [`Unique`] is, without being kept: the first
/// pass reads every row, and building each one only to drop it cost as much as the check.
struct NoRepeats;

impl<'de> serde::Deserialize<'de> for NoRepeats {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Walk;
        impl<'de> Visitor<'de> for Walk {
            type Value = NoRepeats;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<NoRepeats, E> {
                Ok(NoRepeats)
            }
            fn visit_i64<E>(self, _: i64) -> Result<NoRepeats, E> {
                Ok(NoRepeats)
            }
            fn visit_u64<E>(self, _: u64) -> Result<NoRepeats, E> {
                Ok(NoRepeats)
            }
            fn visit_f64<E>(self, _: f64) -> Result<NoRepeats, E> {
                Ok(NoRepeats)
            }
            fn visit_str<E>(self, _: &str) -> Result<NoRepeats, E> {
                Ok(NoRepeats)
            }
            fn visit_unit<E>(self) -> Result<NoRepeats, E> {
                Ok(NoRepeats)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoRepeats, A::Error> {
                while seq.next_element::<NoRepeats>()?.is_some() {}
                Ok(NoRepeats)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoRepeats, A::Error> {
                let mut keys = std::collections::BTreeSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if keys.contains(&key) {
                        return Err(de::Error::custom(format!(
                            "key {key:?} appears twice in one object"
                        )));
                    }
                    map.next_value::<NoRepeats>()?;
                    keys.insert(key);
                }
                Ok(NoRepeats)
            }
        }
        deserializer.deserialize_any(Walk)
    }
}

/// The rows array of the first pass: each row checked for repeated keys, then dropped.
struct SkimRows;

impl<'de> DeserializeSeed<'de> for SkimRows {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        struct Rows;
        impl<'de> Visitor<'de> for Rows {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the `assets` array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                while seq.next_element::<NoRepeats>()?.is_some() {}
                Ok(())
            }
        }
        deserializer.deserialize_seq(Rows)
    }
}

/// One pass over the top-level object. In the first, `rows` is `None`: the header is kept and
/// rows skimmed; in the second, rows are checked.
struct Document<'a, 'b> {
    header: &'a mut Option<Value>,
    rows: Option<&'a mut RowCheck<'b>>,
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a snapshot object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Document { header, mut rows } = self;
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format!(
                    "key {key:?} appears twice in one object"
                )));
            }
            match (key.as_str(), rows.as_deref_mut()) {
                ("snapshot", None) => *header = Some(map.next_value::<Unique>()?.0),
                ("assets", None) => map.next_value_seed(SkimRows)?,
                ("assets", Some(check)) => map.next_value_seed(CheckRows(check))?,
                ("snapshot", Some(_)) => {
                    map.next_value::<IgnoredAny>()?;
                }
                (other, _) => {
                    return Err(de::Error::custom(format!(
                        "unsigned member {other:?} beside `snapshot` and `assets`"
                    )));
                }
            }
            seen.push(key);
        }
        if !seen.iter().any(|key| key == "assets") {
            return Err(de::Error::custom("no `assets` array"));
        }
        Ok(())
    }
}

/// The rows array of the second pass.
struct CheckRows<'a, 'b>(&'a mut RowCheck<'b>);

impl<'de> DeserializeSeed<'de> for CheckRows<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        struct Rows<'a, 'b>(&'a mut RowCheck<'b>);
        impl<'de> Visitor<'de> for Rows<'_, '_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the `assets` array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                while let Some(row) = seq.next_element::<Value>()? {
                    self.0.json_row(row).map_err(de::Error::custom)?;
                }
                Ok(())
            }
        }
        deserializer.deserialize_seq(Rows(self.0))
    }
}

fn pass<R: Read>(source: R, document: Document<'_, '_>) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_reader(source);
    serde::Deserializer::deserialize_map(&mut deserializer, document)?;
    deserializer.end()
}

/// Verifies a JSON snapshot read from `source` (rewound between the passes).
pub(crate) fn verify_json<R: Read + Seek>(
    source: &mut R,
    trusted: &Verifier25519,
) -> Result<Verified, Tampered> {
    let unreadable = |error: serde_json::Error| Tampered::Unreadable(format!("JSON: {error}"));
    let mut header_value = None;
    pass(
        std::io::BufReader::new(&mut *source),
        Document {
            header: &mut header_value,
            rows: None,
        },
    )
    .map_err(unreadable)?;
    let mut header_value =
        header_value.ok_or_else(|| Tampered::Unreadable("no `snapshot` object".into()))?;
    let object = header_value
        .as_object_mut()
        .ok_or_else(|| Tampered::Unreadable("`snapshot` is not an object".into()))?;
    let mut take = |name: &str| {
        object
            .remove(name)
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let digest = take("digest");
    let signature = take("signature");
    let header = check_header(&header_value, &signature, trusted)?;
    check_header_digest(&header_value, &digest)?;

    source
        .seek(SeekFrom::Start(0))
        .map_err(|error| Tampered::Unreadable(error.to_string()))?;
    let mut check = RowCheck::new(&header, trusted)?;
    let mut ignored = None;
    let result = pass(
        std::io::BufReader::new(&mut *source),
        Document {
            header: &mut ignored,
            rows: Some(&mut check),
        },
    );
    if let Some(tampered) = check.failure() {
        return Err(tampered);
    }
    result.map_err(unreadable)?;
    check.finish()?;
    Ok(Verified {
        header,
        format: "json",
    })
}
