//! Writing to the terminal: output formats, and text and JSON defused for it.

use std::io::Write;

use anyhow::Result;
use clap::ValueEnum;
use hygie_collector::report;
use hygie_collector::views::AssetView;

/// Output of one-record commands.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
}

/// Output of listings.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ListFormat {
    Table,
    Json,
    Csv,
}

pub(crate) fn print(text: &str) -> Result<()> {
    print_bytes(text.as_bytes())
}

pub(crate) fn print_bytes(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    match stdout.write_all(bytes) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// JSON for a terminal: characters that could act on it (C1 controls, direction overrides)
/// are written as `\uXXXX` escapes. They only occur inside strings, so the JSON means the same.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut safe = terminal_json(&serde_json::to_string_pretty(value)?);
    safe.push('\n');
    print(&safe)
}

/// `text` (JSON) with the characters that could act on a terminal written as `\uXXXX`.
pub(crate) fn terminal_json(text: &str) -> String {
    let mut safe = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if hygie_proto::is_unsafe_char(c) && !matches!(c, '\n' | ' ') {
            use std::fmt::Write as _;
            let _ = write!(safe, "\\u{:04x}", u32::from(c));
        } else {
            safe.push(c);
        }
    }
    safe
}

/// A listing written row by row to standard output.
pub(crate) trait RowFormat {
    /// Bytes of one row (`first`: nothing was written before).
    fn row(&mut self, view: &AssetView, first: bool) -> Result<Vec<u8>>;
    /// Bytes after the last row (`empty`: no row was written).
    fn end(&mut self, empty: bool) -> Vec<u8>;
}

/// Listings as a JSON array, one asset a line.
#[derive(Debug, Default)]
pub(crate) struct JsonRows;

impl RowFormat for JsonRows {
    fn row(&mut self, view: &AssetView, first: bool) -> Result<Vec<u8>> {
        let text = terminal_json(&serde_json::to_string(view)?);
        Ok(format!("{}{text}", if first { "[\n" } else { ",\n" }).into_bytes())
    }
    fn end(&mut self, empty: bool) -> Vec<u8> {
        if empty {
            b"[]\n".to_vec()
        } else {
            b"\n]\n".to_vec()
        }
    }
}

/// Listings as CSV with a header line.
#[derive(Debug, Default)]
pub(crate) struct CsvRows;

impl RowFormat for CsvRows {
    fn row(&mut self, view: &AssetView, first: bool) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        if first {
            bytes.extend(report::assets_csv_header());
        }
        bytes.extend(report::assets_csv_row(view));
        Ok(bytes)
    }
    fn end(&mut self, empty: bool) -> Vec<u8> {
        if empty {
            report::assets_csv_header()
        } else {
            Vec::new()
        }
    }
}

/// Writes each row `source` hands out as it comes (the source stops when told `false`); a
/// closed pipe (`| head`) ends the listing quietly. Returns what the source returns.
pub(crate) fn stream_rows<T>(
    mut format: impl RowFormat,
    source: impl FnOnce(&mut dyn FnMut(AssetView) -> bool) -> Result<T>,
) -> Result<T> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed: Option<anyhow::Error> = None;
    let mut written = 0u64;
    let outcome = source(&mut |view| {
        let written_ok = format
            .row(&view, written == 0)
            .and_then(|bytes| Ok(out.write_all(&bytes)?));
        written += 1;
        match written_ok {
            Ok(()) => true,
            Err(error) => {
                failed = Some(error);
                false
            }
        }
    })?;
    let result = match failed {
        Some(error) => Err(error),
        None => out
            .write_all(&format.end(written == 0))
            .and_then(|()| out.flush())
            .map_err(anyhow::Error::from),
    };
    match result {
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(outcome)
        }
        Err(error) => Err(error),
        Ok(()) => Ok(outcome),
    }
}
