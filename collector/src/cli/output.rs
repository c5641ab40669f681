//! Writing to the terminal: output formats, and text and JSON defused for it.

use std::io::Write;

use anyhow::Result;
use clap::ValueEnum;

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
