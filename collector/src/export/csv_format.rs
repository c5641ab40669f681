//! The CSV snapshot, for spreadsheets: one line of header (format, header JSON, its signature,
//! its SHA-256 digest), one line of column names, then one line per asset ending with its
//! position and signature.
//! Cells are defused against formula injection before they are signed, so what a verifier reads
//! is what was signed.

use super::signing::Signer25519;
use super::{FORMAT, SnapshotInput, canonical, header, row_message, rows_digest, sign_header};
use crate::safe;
use crate::views::AssetView;

/// Column names of format 2, in order (the last two are the row's position and signature).
pub const COLUMNS: [&str; 24] = [
    "mac",
    "ips",
    "hostnames",
    "vendor",
    "category",
    "kind",
    "manufacturer",
    "model",
    "firmware",
    "confidence",
    "managed",
    "asset_tag",
    "name",
    "location",
    "owner",
    "criticality",
    "flags",
    "first_seen",
    "last_seen",
    "seen_by",
    "services",
    "evidence",
    "row",
    "signature",
];

/// Column names of format 1 (no manufacturer, model, firmware), for verifying old snapshots.
pub const COLUMNS_V1: [&str; 21] = [
    "mac",
    "ips",
    "hostnames",
    "vendor",
    "category",
    "kind",
    "confidence",
    "managed",
    "asset_tag",
    "name",
    "location",
    "owner",
    "criticality",
    "flags",
    "first_seen",
    "last_seen",
    "seen_by",
    "services",
    "evidence",
    "row",
    "signature",
];

/// Separator of the cells in a row's signed message (never in a cell: it is a control
/// character, which cells never keep).
pub(crate) const UNIT: char = '\u{1f}';

/// The cells of a row, defused, without position and signature.
pub(crate) fn cells(view: &AssetView) -> Vec<String> {
    let registry = view.registry.clone().unwrap_or_default();
    let join = |items: Vec<String>, separator: &str| items.join(separator);
    let cells = [
        view.mac.to_string(),
        join(view.ips.iter().map(ToString::to_string).collect(), " "),
        join(view.hostnames.clone(), " "),
        view.vendor.clone().unwrap_or_default(),
        view.category.to_string(),
        view.kind.clone(),
        view.identity.manufacturer.clone().unwrap_or_default(),
        view.identity.model.clone().unwrap_or_default(),
        view.identity.firmware.clone().unwrap_or_default(),
        format!("{:.2}", view.confidence),
        if view.managed { "yes" } else { "no" }.to_owned(),
        registry.asset_tag,
        registry.name,
        registry.location,
        registry.owner,
        registry
            .criticality
            .map(|criticality| criticality.to_string())
            .unwrap_or_default(),
        join(
            view.flags.iter().map(|flag| flag.to_string()).collect(),
            " ",
        ),
        view.first_seen.map(|at| at.to_string()).unwrap_or_default(),
        view.last_seen.map(|at| at.to_string()).unwrap_or_default(),
        join(view.seen_by.clone(), " "),
        join(
            view.services
                .iter()
                .map(|service| {
                    let port = service
                        .port
                        .map_or_else(|| "-".to_owned(), |p| p.to_string());
                    format!("{} {port} {}", service.service_type, service.instance)
                })
                .collect(),
            "; ",
        ),
        join(
            view.evidence.iter().map(|item| item.rule.clone()).collect(),
            "; ",
        ),
    ];
    cells.iter().map(|cell| safe::csv_cell(cell)).collect()
}

/// The signed content of a row: its cells and position, joined by [`UNIT`].
pub(crate) fn row_content(cells: &[String], index: usize) -> Vec<u8> {
    let mut content = cells.join(&UNIT.to_string());
    content.push(UNIT);
    content.push_str(&index.to_string());
    content.into_bytes()
}

/// Writes a signed CSV snapshot.
pub fn write(input: &SnapshotInput, signer: &Signer25519) -> Vec<u8> {
    let mut header = header(input, signer);
    let mut lines = Vec::with_capacity(input.assets.len());
    let mut signatures = Vec::with_capacity(input.assets.len());
    for (index, view) in input.assets.iter().enumerate() {
        let cells = cells(view);
        let signature = signer.sign(&row_message(&header.id, &row_content(&cells, index)));
        signatures.push(signature);
        lines.push((cells, index, hex::encode(signature)));
    }
    header.rows_digest = rows_digest(signatures.iter());
    let (header_digest, header_signature) = sign_header(&header, signer);
    let header_json = String::from_utf8(canonical(
        &serde_json::to_value(&header).unwrap_or_default(),
    ))
    .unwrap_or_default();

    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record([
        format!("#{FORMAT}"),
        header_json,
        header_signature,
        header_digest,
    ]);
    let _ = writer.write_record(COLUMNS);
    for (cells, index, signature) in lines {
        let mut record = cells;
        record.push(index.to_string());
        record.push(signature);
        let _ = writer.write_record(&record);
    }
    writer.into_inner().unwrap_or_default()
}
