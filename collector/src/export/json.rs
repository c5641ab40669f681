//! The JSON snapshot: `{"snapshot": {header, digest, signature}, "assets": [{..., row,
//! signature}]}`. Whitespace does not matter to verification: signatures cover canonical JSON.

use serde_json::{Value, json};

use super::signing::Signer25519;
use super::{SnapshotInput, canonical, header, row_message, rows_digest, sign_header};

/// Writes a signed JSON snapshot.
pub fn write(input: &SnapshotInput, signer: &Signer25519) -> String {
    let mut header = header(input, signer);
    let mut rows = Vec::with_capacity(input.assets.len());
    let mut signatures = Vec::with_capacity(input.assets.len());
    for (index, view) in input.assets.iter().enumerate() {
        let mut row = serde_json::to_value(view).unwrap_or(Value::Null);
        row["row"] = json!(index);
        let signature = signer.sign(&row_message(&header.id, &canonical(&row)));
        row["signature"] = json!(hex::encode(signature));
        rows.push(row);
        signatures.push(signature);
    }
    header.rows_digest = rows_digest(signatures.iter());
    let (digest, signature) = sign_header(&header, signer);
    let mut snapshot = serde_json::to_value(&header).unwrap_or(Value::Null);
    snapshot["digest"] = json!(digest);
    snapshot["signature"] = json!(signature);
    let document = json!({ "snapshot": snapshot, "assets": rows });
    // Plain JSON values always serialize.
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}
