//! Snapshot files written from rows handed out one at a time (the present inventory through
//! the read port, or a reconstruction): memory stays flat whatever the inventory's size. The
//! header states the counts over the rows actually written.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Result;
use hygie_collector::export::signing::Signer25519;
use hygie_collector::export::{SignedRows, SnapshotMeta, csv_format, html, json};
use hygie_collector::files;
use hygie_collector::query::SnapshotSink;
use hygie_collector::views::{AssetView, Counts};

use super::snapshot::ExportFormat;

/// Writes the snapshot `feed` produces to `out`, whole or not at all (a failure leaves no
/// partial file, and an older snapshot there stays as it was). `feed` begins the sink once,
/// hands it every row and returns what the header says besides the counts (the counts are
/// those of the rows written). Returns those counts.
pub(super) fn write_snapshot(
    out: &Path,
    format: ExportFormat,
    signer: &Signer25519,
    feed: impl FnOnce(&mut dyn SnapshotSink) -> std::io::Result<SnapshotMeta>,
) -> Result<Counts> {
    let mut counts = None;
    files::write_atomic_with(out, files::PUBLIC, |file| {
        let mut output = BufWriter::new(file);
        let written = match format {
            ExportFormat::Json => {
                let mut sink = JsonSink::new(&mut output, signer);
                let meta = feed(&mut sink)?;
                sink.finish(&meta)?
            }
            ExportFormat::Csv => {
                let spool = tempfile::tempfile_in(spool_dir(out))?;
                let mut sink = CsvSink::new(spool, signer);
                let meta = feed(&mut sink)?;
                sink.finish(&meta, &mut output)?
            }
            ExportFormat::Netbox => {
                return Err(std::io::Error::other(
                    "NetBox files are not a snapshot: written apart",
                ));
            }
            ExportFormat::Html => {
                let mut sink = SectionSink::default();
                let meta = feed(&mut sink)?;
                let mut header = hygie_collector::export::report_header(&meta, signer);
                header.rows = sink.counts.assets;
                header.counts = sink.counts.clone().into();
                output.write_all(html::render(&header, &sink.sections).as_bytes())?;
                sink.counts
            }
        };
        counts = Some(written);
        output.flush()
    })?;
    Ok(counts.unwrap_or_default())
}

/// The CSV rows are staged beside the output (same file system, same privacy as the output).
fn spool_dir(out: &Path) -> &Path {
    match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The JSON writer fed by the snapshot as rows are read, its rows signed on the machine's cores.
struct JsonSink<'a, W: Write> {
    signer: &'a Signer25519,
    out: Option<W>,
    rows: Option<SignedRows<json::JsonWriter<'a, W>>>,
    counts: Counts,
}

impl<'a, W: Write> JsonSink<'a, W> {
    fn new(out: W, signer: &'a Signer25519) -> Self {
        JsonSink {
            signer,
            out: Some(out),
            rows: None,
            counts: Counts::zero(),
        }
    }

    fn finish(self, meta: &SnapshotMeta) -> std::io::Result<Counts> {
        let Some(rows) = self.rows else {
            return Err(std::io::Error::other("the snapshot wrote nothing"));
        };
        let mut writer = rows.finish()?;
        writer.set_counts(self.counts.clone());
        writer.set_reconstruction(meta.reconstruction.clone());
        writer.finish()?;
        Ok(self.counts)
    }
}

impl<W: Write> SnapshotSink for JsonSink<'_, W> {
    fn begin(&mut self, meta: &SnapshotMeta) -> std::io::Result<()> {
        let out = self
            .out
            .take()
            .ok_or_else(|| std::io::Error::other("a snapshot begins once"))?;
        let writer = json::JsonWriter::begin(out, meta, self.signer)?;
        self.rows = Some(SignedRows::new(writer)?);
        Ok(())
    }

    fn row(&mut self, view: AssetView) -> std::io::Result<()> {
        let Some(rows) = &mut self.rows else {
            return Err(std::io::Error::other("a row before the snapshot began"));
        };
        self.counts.add(&view);
        rows.row(view)
    }
}

/// The CSV writer fed by the snapshot as rows are read, its rows signed on the machine's cores.
struct CsvSink<'a> {
    signer: &'a Signer25519,
    spool: Option<std::fs::File>,
    rows: Option<SignedRows<csv_format::CsvWriter<'a, std::fs::File>>>,
    counts: Counts,
}

impl<'a> CsvSink<'a> {
    fn new(spool: std::fs::File, signer: &'a Signer25519) -> Self {
        CsvSink {
            signer,
            spool: Some(spool),
            rows: None,
            counts: Counts::zero(),
        }
    }

    fn finish(self, meta: &SnapshotMeta, out: impl Write) -> std::io::Result<Counts> {
        let Some(rows) = self.rows else {
            return Err(std::io::Error::other("the snapshot wrote nothing"));
        };
        let mut writer = rows.finish()?;
        writer.set_counts(self.counts.clone());
        writer.set_reconstruction(meta.reconstruction.clone());
        writer.finish(out)?;
        Ok(self.counts)
    }
}

impl SnapshotSink for CsvSink<'_> {
    fn begin(&mut self, meta: &SnapshotMeta) -> std::io::Result<()> {
        let spool = self
            .spool
            .take()
            .ok_or_else(|| std::io::Error::other("a snapshot begins once"))?;
        let writer = csv_format::CsvWriter::begin(spool, meta, self.signer);
        self.rows = Some(SignedRows::new(writer)?);
        Ok(())
    }

    fn row(&mut self, view: AssetView) -> std::io::Result<()> {
        let Some(rows) = &mut self.rows else {
            return Err(std::io::Error::other("a row before the snapshot began"));
        };
        self.counts.add(&view);
        rows.row(view)
    }
}

/// The HTML report's bounded sections, filled as rows are read.
#[derive(Default)]
struct SectionSink {
    sections: html::Sections,
    counts: Counts,
}

impl SnapshotSink for SectionSink {
    fn begin(&mut self, _: &SnapshotMeta) -> std::io::Result<()> {
        self.counts = Counts::zero();
        Ok(())
    }

    fn row(&mut self, view: AssetView) -> std::io::Result<()> {
        self.counts.add(&view);
        self.sections.add(view);
        Ok(())
    }
}
