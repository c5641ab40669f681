//! Writing to the terminal: output formats, and text and JSON defused for it.

use std::io::Write;

use anyhow::Result;
use clap::ValueEnum;
use hygie_collector::report::{self, ListingWriter, RowFormat};
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
    let mut safe = report::defused_json(&serde_json::to_string_pretty(value)?);
    safe.push('\n');
    print(&safe)
}

/// Writes each row `source` hands out as it comes (the source stops when told `false`); a
/// closed pipe (`| head`) ends the listing quietly. Returns what the source returns.
pub(crate) fn stream_rows<T>(
    format: RowFormat,
    source: impl FnOnce(&mut dyn FnMut(AssetView) -> bool) -> Result<T>,
) -> Result<T> {
    let mut writer = ListingWriter::new(format, std::io::BufWriter::new(std::io::stdout().lock()));
    let mut failed: Option<std::io::Error> = None;
    let outcome = source(&mut |view| match writer.row(&view) {
        Ok(()) => true,
        Err(error) => {
            failed = Some(error);
            false
        }
    })?;
    let result = match failed {
        Some(error) => Err(error),
        None => writer.finish().map(drop),
    };
    match result {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(outcome),
        Err(error) => Err(error.into()),
        Ok(()) => Ok(outcome),
    }
}
