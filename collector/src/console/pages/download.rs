//! Downloads written as they are read: a blocking read writes into a [`ChunkWriter`], whose
//! chunks the response streams out. Memory stays flat whatever the inventory's size; a closed
//! browser tab ends the read (the next write fails).

use std::io::{self, Write};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::console::db::{DbError, Readers};
use crate::query::Query;
use crate::store::SqliteStore;

const CHUNK: usize = 64 * 1024;

/// An [`io::Write`] sending chunks to a response.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    buffer: Vec<u8>,
    sender: mpsc::Sender<Result<Bytes, io::Error>>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the download was abandoned"))
    }

    /// Ends the download with an error the browser sees as a broken transfer (never a
    /// truncated file that looks whole).
    pub(crate) fn fail(self, error: String) {
        let _ = self.sender.blocking_send(Err(io::Error::other(error)));
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A response streaming what `write` writes on a read-only connection, as `file_name`.
pub(crate) fn stream(
    readers: &Arc<Readers>,
    content_type: &'static str,
    file_name: &'static str,
    write: impl FnOnce(&Query<SqliteStore>, &mut ChunkWriter) -> Result<(), String> + Send + 'static,
) -> Response {
    let (sender, receiver) = mpsc::channel(8);
    let readers = Arc::clone(readers);
    tokio::spawn(async move {
        let result = readers
            .read(move |query| -> Result<(), DbError> {
                let mut out = ChunkWriter {
                    buffer: Vec::with_capacity(CHUNK),
                    sender,
                };
                match write(query, &mut out).and_then(|()| out.flush().map_err(|e| e.to_string())) {
                    Ok(()) => {}
                    Err(error) => {
                        tracing::warn!(%error, file = file_name, "console: download stopped");
                        out.fail(error);
                    }
                }
                Ok(())
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(error = %hygie_proto::error_chain(&error), "console: download failed");
        }
    });
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from_stream(ReceiverStream::new(receiver)),
    )
        .into_response()
}
