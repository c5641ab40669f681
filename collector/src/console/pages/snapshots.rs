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
    let pem = state
        .signer
        .verifier()
        .to_pem()
        .map_err(PageError::Key)?;
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

/// Feeds a snapshot to a JSON or CSV writer as rows are read.
enum Sink<'a> {
    Json {
        out: Option<&'a mut ChunkWriter>,
        writer: Option<json::JsonWriter<'a, &'a mut ChunkWriter>>,
        signer: &'a Signer25519,
    },
    Csv {
        spool: Option<std::fs::File>,
        writer: Option<csv_format::CsvWriter<'a, std::fs::File>>,
        signer: &'a Signer25519,
    },
}

impl SnapshotSink for Sink<'_> {
    fn begin(&mut self, meta: &SnapshotMeta) -> std::io::Result<()> {
        let twice = || std::io::Error::other("a snapshot begins once");
        match self {
            Sink::Json {
                out,
                writer,
                signer,
            } => *writer = Some(json::JsonWriter::begin(out.take().ok_or_else(twice)?, meta, signer)?),
            Sink::Csv {
                spool,
                writer,
                signer,
            } => *writer = Some(csv_format::CsvWriter::begin(spool.take().ok_or_else(twice)?, meta, signer)),
        }
        Ok(())
    }

    fn row(&mut self, view: AssetView) -> std::io::Result<()> {
        let early = || std::io::Error::other("a row before the snapshot began");
        match self {
            Sink::Json { writer, .. } => writer.as_mut().ok_or_else(early)?.row(&view),
            Sink::Csv { writer, .. } => writer.as_mut().ok_or_else(early)?.row(&view),
        }
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
    download::stream(&state.readers, content_type, file_name, move |query, out| {
        let failed = |error: &dyn std::fmt::Display| error.to_string();
        if csv {
            let spool = tempfile::tempfile_in(&spool_dir).map_err(|e| failed(&e))?;
            let mut sink = Sink::Csv {
                spool: Some(spool),
                writer: None,
                signer: &signer,
            };
            query.snapshot(now, hostname, &mut sink).map_err(|e| failed(&e))?;
            let Sink::Csv {
                writer: Some(writer),
                ..
            } = sink
            else {
                return Err("the snapshot wrote nothing".into());
            };
            writer.finish(&mut *out).map_err(|e| failed(&e))?;
        } else {
            let mut sink = Sink::Json {
                out: Some(&mut *out),
                writer: None,
                signer: &signer,
            };
            query.snapshot(now, hostname, &mut sink).map_err(|e| failed(&e))?;
            let Sink::Json {
                writer: Some(writer),
                ..
            } = sink
            else {
                return Err("the snapshot wrote nothing".into());
            };
            writer.finish().map_err(|e| failed(&e))?;
        }
        out.flush().map_err(|e| failed(&e))
    })
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
