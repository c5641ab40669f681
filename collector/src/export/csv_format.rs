//! The CSV snapshot, for spreadsheets: one line of header (format, header JSON, its signature,
//! its SHA-256 digest), one line of column names, then one line per asset ending with its
//! position and signature.
//! Cells are defused against formula injection before they are signed, so what a verifier reads
//! is what was signed.

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::signing::Signer25519;
use super::{
    Encoded, FORMAT, Header, RowEncoder, RowWriter, RowsDigest, SnapshotInput, SnapshotMeta,
    canonical, header, row_message, sign_header,
};
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

/// Writes a signed CSV snapshot row by row. The header line comes first and signs the rows'
/// digest, so rows are staged in `spool` (a temporary file) and copied after it by
/// [`CsvWriter::finish`]: memory stays flat, the disk holds the rows twice for a moment.
/// [`super::SignedRows`] signs the rows on the other cores.
#[derive(Debug)]
pub struct CsvWriter<'a, S: Read + Write + Seek> {
    spool: io::BufWriter<S>,
    signer: &'a Signer25519,
    header: Header,
    digest: RowsDigest,
}

/// Signs and encodes CSV rows apart from their writer: the bytes [`CsvWriter::row`] stages.
#[derive(Debug, Clone)]
pub struct CsvRows {
    snapshot_id: String,
    signer: Signer25519,
}

/// Appends the rows, each with its position (CSV records depend on nothing but their fields:
/// rows encoded apart and put end to end are the bytes one writer would write).
fn encode_rows<'v>(
    snapshot_id: &str,
    signer: &Signer25519,
    rows: impl IntoIterator<Item = (usize, &'v AssetView)>,
    encoded: &mut Encoded,
) -> io::Result<()> {
    let mut out = csv::WriterBuilder::new()
        .flexible(true)
        .buffer_capacity(16 * 1024)
        .from_writer(&mut encoded.bytes);
    for (index, view) in rows {
        let mut record = cells(view);
        let signature = signer.sign(&row_message(snapshot_id, &row_content(&record, index)));
        encoded.signatures.push(signature);
        record.push(index.to_string());
        record.push(hex::encode(signature));
        out.write_record(&record).map_err(io::Error::other)?;
    }
    out.flush()
}

impl RowEncoder for CsvRows {
    fn encode(&self, rows: Vec<(usize, AssetView)>) -> io::Result<Encoded> {
        let mut encoded = Encoded::with_capacity(rows.len());
        encode_rows(
            &self.snapshot_id,
            &self.signer,
            rows.iter().map(|(index, view)| (*index, view)),
            &mut encoded,
        )?;
        Ok(encoded)
    }
}

impl<'a, S: Read + Write + Seek> CsvWriter<'a, S> {
    /// Starts a snapshot of `meta`, staging rows in `spool`.
    pub fn begin(spool: S, meta: &SnapshotMeta, signer: &'a Signer25519) -> Self {
        CsvWriter {
            spool: io::BufWriter::with_capacity(64 * 1024, spool),
            signer,
            header: header(meta, signer),
            digest: RowsDigest::default(),
        }
    }

    /// Signs and stages the next row.
    pub fn row(&mut self, view: &AssetView) -> io::Result<()> {
        let mut encoded = Encoded::default();
        encode_rows(
            &self.header.id,
            self.signer,
            [(self.digest.rows(), view)],
            &mut encoded,
        )?;
        self.write_encoded(&encoded)
    }

    /// Gives the snapshot a chosen id, so that two writers sign the same rows alike.
    #[cfg(test)]
    pub(crate) fn set_id(&mut self, id: &str) {
        self.header.id = id.to_owned();
    }

    /// Replaces the counts the header will state: for outputs that learn them from the rows
    /// they write (a reconstruction knows its counts only at the end).
    pub fn set_counts(&mut self, counts: crate::views::Counts) {
        self.header.counts = counts.into();
    }

    /// Replaces the reconstruction the header will state: a reconstruction learns the event
    /// it stands on as it reads.
    pub fn set_reconstruction(&mut self, reconstruction: Option<crate::asof::Reconstruction>) {
        self.header.reconstruction = reconstruction;
    }

    /// Writes the header line, the column line and the staged rows to `out`; returns the
    /// header.
    pub fn finish(self, mut out: impl Write) -> io::Result<Header> {
        let mut header = self.header;
        header.rows = self.digest.rows();
        header.rows_digest = self.digest.finish();
        let (header_digest, header_signature) = sign_header(&header, self.signer);
        let header_json = String::from_utf8(canonical(
            &serde_json::to_value(&header).map_err(io::Error::other)?,
        ))
        .map_err(io::Error::other)?;
        {
            let mut lines = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(&mut out);
            lines
                .write_record([
                    format!("#{FORMAT}"),
                    header_json,
                    header_signature,
                    header_digest,
                ])
                .map_err(io::Error::other)?;
            lines.write_record(COLUMNS).map_err(io::Error::other)?;
            lines.flush()?;
        }
        let mut spool = self
            .spool
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        spool.seek(SeekFrom::Start(0))?;
        io::copy(&mut spool, &mut out)?;
        out.flush()?;
        Ok(header)
    }
}

impl<S: Read + Write + Seek> RowWriter for CsvWriter<'_, S> {
    type Encoder = CsvRows;

    fn encoder(&self) -> CsvRows {
        CsvRows {
            snapshot_id: self.header.id.clone(),
            signer: self.signer.clone(),
        }
    }

    fn rows(&self) -> usize {
        self.digest.rows()
    }

    fn write_encoded(&mut self, encoded: &Encoded) -> io::Result<()> {
        self.spool.write_all(&encoded.bytes)?;
        for signature in &encoded.signatures {
            self.digest.push(signature);
        }
        Ok(())
    }
}

/// Writes a signed CSV snapshot of rows held in memory.
pub fn write(input: &SnapshotInput, signer: &Signer25519) -> Vec<u8> {
    let written = (|| -> io::Result<Vec<u8>> {
        let mut writer = CsvWriter::begin(io::Cursor::new(Vec::new()), &input.meta(), signer);
        for view in &input.assets {
            writer.row(view)?;
        }
        let mut out = Vec::new();
        writer.finish(&mut out)?;
        Ok(out)
    })();
    // Writing to memory cannot fail.
    written.unwrap_or_default()
}
