//! Listings written row by row, as they are read: `assets --format json|csv` and the console's
//! downloads write the same bytes. Memory stays flat whatever the listing's length.

use std::io::{self, Write};

use crate::views::AssetView;

/// How a listing is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// A JSON array, one asset a line, text defused as [`defused_json`] does.
    Json,
    /// CSV with a header line, cells defused against formula injection.
    Csv,
}

/// `text` (JSON) with the characters that could act on a terminal or a viewer (C1 controls,
/// direction overrides) written as `\uXXXX` escapes. They only occur inside strings, so the
/// JSON means the same.
pub fn defused_json(text: &str) -> String {
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

/// A listing being written into `out`: [`ListingWriter::row`] per asset, then
/// [`ListingWriter::finish`], which closes the document (an unfinished one is visibly cut).
#[derive(Debug)]
pub struct ListingWriter<W: Write> {
    format: RowFormat,
    out: W,
    rows: u64,
}

impl<W: Write> ListingWriter<W> {
    /// A listing in `format` into `out`; nothing is written before the first row or the end.
    pub fn new(format: RowFormat, out: W) -> Self {
        ListingWriter {
            format,
            out,
            rows: 0,
        }
    }

    /// Writes one asset.
    ///
    /// # Errors
    /// What writing to `out` returns.
    pub fn row(&mut self, view: &AssetView) -> io::Result<()> {
        let first = self.rows == 0;
        self.rows += 1;
        match self.format {
            RowFormat::Json => {
                let text = defused_json(&serde_json::to_string(view).map_err(io::Error::other)?);
                self.out.write_all(if first { b"[\n" } else { b",\n" })?;
                self.out.write_all(text.as_bytes())
            }
            RowFormat::Csv => {
                if first {
                    self.out.write_all(&super::assets_csv_header())?;
                }
                self.out.write_all(&super::assets_csv_row(view))
            }
        }
    }

    /// Ends the document and flushes; returns `out`.
    ///
    /// # Errors
    /// What writing to `out` returns.
    pub fn finish(mut self) -> io::Result<W> {
        let empty = self.rows == 0;
        match (self.format, empty) {
            (RowFormat::Json, true) => self.out.write_all(b"[]\n")?,
            (RowFormat::Json, false) => self.out.write_all(b"\n]\n")?,
            (RowFormat::Csv, true) => self.out.write_all(&super::assets_csv_header())?,
            (RowFormat::Csv, false) => {}
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_listings_are_whole_documents() {
        let json = ListingWriter::new(RowFormat::Json, Vec::new())
            .finish()
            .unwrap();
        assert_eq!(json, b"[]\n");
        let csv = ListingWriter::new(RowFormat::Csv, Vec::new())
            .finish()
            .unwrap();
        assert_eq!(csv, super::super::assets_csv_header());
    }

    #[test]
    fn controls_and_direction_overrides_are_escaped() {
        assert_eq!(defused_json("\"a\u{202e}b\u{9b}\""), "\"a\\u202eb\\u009b\"");
        assert_eq!(defused_json("[\n \"x\"]"), "[\n \"x\"]");
    }
}
