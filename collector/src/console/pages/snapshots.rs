//! Signed snapshots for auditors, as `hygie-collector export` writes them (JSON or CSV), and the
//! public key that checks them offline (`hygie-collector verify FILE --key KEY`).

use std::io::Write;
use std::sync::Arc;

use askama::Template;
use axum::extract::State as Shared;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::download::{self, ChunkWriter};
use crate::console::accounts::Capability;
use crate::console::app::{PageError, State, render};
use crate::console::auth::{Nav, SignedIn};
use crate::export::signing::Signer25519;
use crate::export::{SnapshotMeta, csv_format, json};
use crate::query::SnapshotSink;
use crate::views::AssetView;

#[derive(Template)]
#[template(path = "snapshots.html")]
struct SnapshotsPage {
    title: &'static str,
    nav: Nav,
    key_id: String,
}

pub(crate) async fn show(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
) -> Result<Response, PageError> {
    user.require(Capability::Audit)?;
    render(&SnapshotsPage {
        title: "Snapshots",
        nav: user.nav(),
        key_id: state.signer.verifier().key_id(),
    })
}

pub(crate) async fn public_key(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
) -> Result<Response, PageError> {
    user.require(Capability::Audit)?;
    let pem = state.signer.verifier().to_pem().map_err(PageError::Key)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"hygie-signing-key.pub\"",
            ),
        ],
        pem,
    )
        .into_response())
}

/// Feeds a snapshot to the JSON writer as rows are read.
struct JsonSink<'a> {
    out: Option<&'a mut ChunkWriter>,
    writer: Option<json::JsonWriter<'a, &'a mut ChunkWriter>>,
    signer: &'a Signer25519,
}

/// Feeds a snapshot to the CSV writer, which stages its rows in a spool file.
struct CsvSink<'a> {
    spool: Option<std::fs::File>,
    writer: Option<csv_format::CsvWriter<'a, std::fs::File>>,
    signer: &'a Signer25519,
}

fn begun_once() -> std::io::Error {
    std::io::Error::other("a snapshot begins once")
}

fn not_begun() -> std::io::Error {
    std::io::Error::other("a row before the snapshot began")
}

impl SnapshotSink for JsonSink<'_> {
    fn begin(&mut self, meta: &SnapshotMeta) -> std::io::Result<()> {
        let out = self.out.take().ok_or_else(begun_once)?;
        self.writer = Some(json::JsonWriter::begin(out, meta, self.signer)?);
        Ok(())
    }

    fn row(&mut self, view: AssetView) -> std::io::Result<()> {
        self.writer.as_mut().ok_or_else(not_begun)?.row(&view)
    }
}

impl SnapshotSink for CsvSink<'_> {
    fn begin(&mut self, meta: &SnapshotMeta) -> std::io::Result<()> {
        let spool = self.spool.take().ok_or_else(begun_once)?;
        self.writer = Some(csv_format::CsvWriter::begin(spool, meta, self.signer));
        Ok(())
    }

    fn row(&mut self, view: AssetView) -> std::io::Result<()> {
        self.writer.as_mut().ok_or_else(not_begun)?.row(&view)
    }
}

fn snapshot(state: &Arc<State>, csv: bool) -> Response {
    let signer = Arc::clone(&state.signer);
    let hostname = state.hostname.clone();
    let now = state.now();
    let spool_dir = state.spool_dir();
    let (content_type, file_name) = if csv {
        ("text/csv; charset=utf-8", "hygie-snapshot.csv")
    } else {
        ("application/json", "hygie-snapshot.json")
    };
    download::stream(
        &state.readers,
        content_type,
        file_name,
        move |query, out| {
            let failed = |error: &dyn std::fmt::Display| error.to_string();
            let nothing = || "the snapshot wrote nothing".to_owned();
            if csv {
                let spool = tempfile::tempfile_in(&spool_dir).map_err(|e| failed(&e))?;
                let mut sink = CsvSink {
                    spool: Some(spool),
                    writer: None,
                    signer: &signer,
                };
                query
                    .snapshot(now, hostname, &mut sink)
                    .map_err(|e| failed(&e))?;
                let writer = sink.writer.ok_or_else(nothing)?;
                writer.finish(&mut *out).map_err(|e| failed(&e))?;
            } else {
                let mut sink = JsonSink {
                    out: Some(&mut *out),
                    writer: None,
                    signer: &signer,
                };
                query
                    .snapshot(now, hostname, &mut sink)
                    .map_err(|e| failed(&e))?;
                let writer = sink.writer.ok_or_else(nothing)?;
                writer.finish().map_err(|e| failed(&e))?;
            }
            out.flush().map_err(|e| failed(&e))
        },
    )
}

pub(crate) async fn json(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
) -> Result<Response, PageError> {
    user.require(Capability::Audit)?;
    tracing::info!(user = %user.user, "console: JSON snapshot downloaded");
    Ok(snapshot(&state, false))
}

pub(crate) async fn csv(
    Shared(state): Shared<Arc<State>>,
    user: SignedIn,
) -> Result<Response, PageError> {
    user.require(Capability::Audit)?;
    tracing::info!(user = %user.user, "console: CSV snapshot downloaded");
    Ok(snapshot(&state, true))
}
