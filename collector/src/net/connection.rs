//! One admitted agent connection, as handed to the gRPC server: TLS, the HTTP/2 preface that
//! was read to admit it (replayed first), and a token that closes it from outside (eviction,
//! revocation, shutdown).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::Connected;

use super::admission::{ConnectionId, ConnectionTable};
use crate::identity::AgentIdentity;

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Who is at the other end of a connection; every request on it carries this in its extensions.
#[derive(Debug, Clone)]
pub struct AgentPeer {
    /// The peer's address.
    pub remote: SocketAddr,
    /// The identity its verified certificate names.
    pub identity: AgentIdentity,
    /// Its certificate's serial, normal form.
    pub serial: String,
    /// The connection, in the front door's table.
    pub connection: ConnectionId,
}

/// Removes the connection from the table when it ends, however it ends.
#[derive(Debug)]
pub(super) struct TableEntry {
    pub(super) table: Arc<Mutex<ConnectionTable>>,
    pub(super) id: ConnectionId,
}

impl Drop for TableEntry {
    fn drop(&mut self) {
        if let Ok(mut table) = self.table.lock() {
            table.close(self.id);
        }
    }
}

/// An admitted connection.
pub struct AgentConnection {
    tls: TlsStream<TcpStream>,
    /// Bytes of the preface not yet handed to the HTTP/2 server.
    preface_left: usize,
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
    peer: AgentPeer,
    _entry: TableEntry,
}

impl std::fmt::Debug for AgentConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConnection")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl AgentConnection {
    pub(super) fn new(
        tls: TlsStream<TcpStream>,
        closing: CancellationToken,
        peer: AgentPeer,
        entry: TableEntry,
    ) -> Self {
        AgentConnection {
            tls,
            preface_left: PREFACE.len(),
            closing: Box::pin(closing.cancelled_owned()),
            peer,
            _entry: entry,
        }
    }

    fn closed(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        self.closing.as_mut().poll(cx).is_ready().then(|| {
            io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection closed by the collector",
            )
        })
    }
}

impl Connected for AgentConnection {
    type ConnectInfo = AgentPeer;

    fn connect_info(&self) -> AgentPeer {
        self.peer.clone()
    }
}

impl AsyncRead for AgentConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(error) = this.closed(cx) {
            return Poll::Ready(Err(error));
        }
        if this.preface_left > 0 {
            let start = PREFACE.len() - this.preface_left;
            let take = this.preface_left.min(buf.remaining());
            buf.put_slice(&PREFACE[start..start + take]);
            this.preface_left -= take;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for AgentConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(error) = this.closed(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.tls).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(error) = this.closed(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.tls).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tls.is_write_vectored()
    }
}
