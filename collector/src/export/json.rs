//! The JSON snapshot: `{"assets": [{..., row, signature}, ...], "snapshot": {header, digest,
//! signature}}`, one row a line. Whitespace and member order do not matter to verification:
//! signatures cover canonical JSON.

use std::io::{self, Write};

use serde_json::json;

use super::signing::Signer25519;
use super::{
    Encoded, Header, RowEncoder, RowWriter, RowsDigest, SnapshotInput, SnapshotMeta, header,
    row_message_of, sign_header,
};
use crate::views::AssetView;

/// Writes a signed JSON snapshot row by row: [`JsonWriter::row`] for each asset (or
/// [`super::SignedRows`] to sign them on the other cores), then [`JsonWriter::finish`] writes
/// the header.
#[derive(Debug)]
pub struct JsonWriter<'a, W: Write> {
    out: W,
    signer: &'a Signer25519,
    header: Header,
    digest: RowsDigest,
}

/// Signs and encodes JSON rows apart from their writer: the bytes [`JsonWriter::row`] writes.
#[derive(Debug, Clone)]
pub struct JsonRows {
    snapshot_id: String,
    signer: Signer25519,
}

/// Appends the row at `index` (with the separator before it) and returns its signature.
fn encode_row(
    snapshot_id: &str,
    signer: &Signer25519,
    index: usize,
    view: &AssetView,
    out: &mut Vec<u8>,
) -> io::Result<[u8; 64]> {
    let mut row = serde_json::to_value(view).map_err(io::Error::other)?;
    row["row"] = json!(index);
    let signature = signer.sign(&row_message_of(snapshot_id, &row));
    row["signature"] = json!(hex::encode(signature));
    out.extend_from_slice(if index == 0 { b"\n" } else { b",\n" });
    serde_json::to_writer(&mut *out, &row).map_err(io::Error::other)?;
    Ok(signature)
}

impl RowEncoder for JsonRows {
    fn encode(&self, rows: Vec<(usize, AssetView)>) -> io::Result<Encoded> {
        let mut encoded = Encoded::with_capacity(rows.len());
        for (index, view) in &rows {
            let signature = encode_row(
                &self.snapshot_id,
                &self.signer,
                *index,
                view,
                &mut encoded.bytes,
            )?;
            encoded.signatures.push(signature);
        }
        Ok(encoded)
    }
}

impl<'a, W: Write> JsonWriter<'a, W> {
    /// Starts a snapshot of `meta` on `out`.
    pub fn begin(mut out: W, meta: &SnapshotMeta, signer: &'a Signer25519) -> io::Result<Self> {
        out.write_all(b"{\"assets\":[")?;
        Ok(JsonWriter {
            out,
            signer,
            header: header(meta, signer),
            digest: RowsDigest::default(),
        })
    }

    /// Signs and writes the next row.
    pub fn row(&mut self, view: &AssetView) -> io::Result<()> {
        let mut bytes = Vec::new();
        let signature = encode_row(
            &self.header.id,
            self.signer,
            self.digest.rows(),
            view,
            &mut bytes,
        )?;
        self.write_encoded(&Encoded {
            bytes,
            signatures: vec![signature],
        })
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

    /// Writes the signed header after the rows; returns the output and the header.
    pub fn finish(mut self) -> io::Result<(W, Header)> {
        let mut header = self.header;
        header.rows = self.digest.rows();
        header.rows_digest = self.digest.finish();
        let (digest, signature) = sign_header(&header, self.signer);
        let mut snapshot = serde_json::to_value(&header).map_err(io::Error::other)?;
        snapshot["digest"] = json!(digest);
        snapshot["signature"] = json!(signature);
        self.out.write_all(b"\n],\n\"snapshot\":")?;
        serde_json::to_writer_pretty(&mut self.out, &snapshot).map_err(io::Error::other)?;
        self.out.write_all(b"}\n")?;
        self.out.flush()?;
        Ok((self.out, header))
    }
}

impl<W: Write> RowWriter for JsonWriter<'_, W> {
    type Encoder = JsonRows;

    fn encoder(&self) -> JsonRows {
        JsonRows {
            snapshot_id: self.header.id.clone(),
            signer: self.signer.clone(),
        }
    }

    fn rows(&self) -> usize {
        self.digest.rows()
    }

    fn write_encoded(&mut self, encoded: &Encoded) -> io::Result<()> {
        self.out.write_all(&encoded.bytes)?;
        for signature in &encoded.signatures {
            self.digest.push(signature);
        }
        Ok(())
    }
}

/// Writes a signed JSON snapshot of rows held in memory.
pub fn write(input: &SnapshotInput, signer: &Signer25519) -> String {
    let written = (|| -> io::Result<Vec<u8>> {
        let mut writer = JsonWriter::begin(Vec::new(), &input.meta(), signer)?;
        for view in &input.assets {
            writer.row(view)?;
        }
        Ok(writer.finish()?.0)
    })();
    // Writing to memory cannot fail; an unserializable view cannot exist (plain data).
    String::from_utf8(written.unwrap_or_default()).unwrap_or_default()
}
