//! Syslog over UDP, TCP and TLS (its TLS configuration is the one HTTPS uses:
//! [`crate::http_client::client_config`]), and the error a failed delivery reports.
//!
//! Syslog over TCP and TLS has no acknowledgement (RFC 5425): a message counts as delivered
//! once written and flushed to the connection. Before each write the connection is checked for
//! an end the receiver already sent (a receiver never writes to it, so anything readable means
//! it closed), so a receiver that was restarted gets a new connection instead of a lost
//! message. Over UDP a message counts as delivered once the datagram is sent; an ICMP refusal
//! reported by the kernel fails the next send.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::settings::{SyslogTarget, Transport};
use super::syslog;
use crate::http_client::{Trust, TrustError, client_config};

/// A message that was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendError {
    /// The receiver refused this message for good (Invariant 8 of [`super`]).
    pub permanent: bool,
    /// What happened.
    pub reason: String,
}

impl SendError {
    pub(crate) fn retry(reason: String) -> SendError {
        SendError {
            permanent: false,
            reason,
        }
    }

    pub(crate) fn refused(reason: String) -> SendError {
        SendError {
            permanent: true,
            reason,
        }
    }
}

/// The name a receiver's certificate must carry.
fn server_name(host: &str) -> Result<ServerName<'static>, SendError> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| SendError::retry(format!("{host:?} is not a host name or address for TLS")))
}

enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A syslog receiver and the connection to it, if any.
pub(crate) struct SyslogClient {
    target: SyslogTarget,
    tls: Option<TlsConnector>,
    timeout: Duration,
    stream: Option<Stream>,
    udp: Option<UdpSocket>,
}

impl std::fmt::Debug for SyslogClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogClient")
            .field("target", &self.target)
            .field("connected", &(self.stream.is_some() || self.udp.is_some()))
            .finish()
    }
}

impl SyslogClient {
    pub(crate) fn new(
        target: &SyslogTarget,
        timeout: Duration,
    ) -> Result<SyslogClient, TrustError> {
        let tls = match (&target.transport, &target.ca) {
            (Transport::Tls, Some(ca)) => Some(TlsConnector::from(Arc::new(client_config(
                &Trust::CaFile(ca.clone()),
            )?))),
            _ => None,
        };
        Ok(SyslogClient {
            target: target.clone(),
            tls,
            timeout,
            stream: None,
            udp: None,
        })
    }

    /// The largest message this transport takes.
    pub(crate) fn max_message(&self) -> usize {
        match self.target.transport {
            Transport::Udp => syslog::MAX_UDP,
            Transport::Tcp | Transport::Tls => syslog::MAX_STREAM,
        }
    }

    /// Sends one RFC 5424 message.
    pub(crate) async fn send(&mut self, message: &[u8]) -> Result<(), SendError> {
        let timeout = self.timeout;
        let address = self.target.address.clone();
        tokio::time::timeout(timeout, self.send_now(message))
            .await
            .unwrap_or_else(|_| {
                Err(SendError::retry(format!(
                    "syslog receiver {address} did not take the message within {timeout:?}"
                )))
            })
            .inspect_err(|_| {
                // Start afresh next time: a half-written frame must not prefix the next one.
                self.stream = None;
                self.udp = None;
            })
    }

    async fn send_now(&mut self, message: &[u8]) -> Result<(), SendError> {
        let address = &self.target.address;
        let failed = |what: &str, error: std::io::Error| {
            SendError::retry(format!("syslog {what} {address} failed: {error}"))
        };
        if self.target.transport == Transport::Udp {
            if self.udp.is_none() {
                self.udp = Some(self.bind_udp().await?);
            }
            if let Some(socket) = &self.udp {
                socket
                    .send(message)
                    .await
                    .map_err(|error| failed("send to", error))?;
            }
            return Ok(());
        }
        if self.stream.as_mut().is_some_and(closed) {
            tracing::debug!(%address, "the syslog receiver closed the connection; reconnecting");
            self.stream = None;
        }
        if self.stream.is_none() {
            self.stream = Some(self.connect().await?);
        }
        let frame = syslog::octet_counted(message);
        match &mut self.stream {
            Some(Stream::Tcp(stream)) => write(stream, &frame).await,
            Some(Stream::Tls(stream)) => write(stream.as_mut(), &frame).await,
            None => Ok(()),
        }
        .map_err(|error| failed("write to", error))
    }

    async fn bind_udp(&self) -> Result<UdpSocket, SendError> {
        let address = &self.target.address;
        let peer = tokio::net::lookup_host(address)
            .await
            .ok()
            .and_then(|mut addresses| addresses.next())
            .ok_or_else(|| SendError::retry(format!("cannot resolve {address}")))?;
        let local: std::net::SocketAddr = if peer.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|error| SendError::retry(format!("cannot open a UDP socket: {error}")))?;
        socket
            .connect(peer)
            .await
            .map_err(|error| SendError::retry(format!("cannot reach {address}: {error}")))?;
        Ok(socket)
    }

    async fn connect(&self) -> Result<Stream, SendError> {
        let address = &self.target.address;
        let tcp = TcpStream::connect(address.as_str())
            .await
            .map_err(|error| SendError::retry(format!("cannot connect to {address}: {error}")))?;
        let _ = tcp.set_nodelay(true);
        let Some(connector) = &self.tls else {
            return Ok(Stream::Tcp(tcp));
        };
        let name = server_name(&self.target.server_name)?;
        let stream = connector
            .connect(name, tcp)
            .await
            .map_err(|error| SendError::retry(format!("TLS with {address} failed: {error}")))?;
        Ok(Stream::Tls(Box::new(stream)))
    }
}

/// Whether the receiver ended the connection (it never writes to it).
fn closed(stream: &mut Stream) -> bool {
    let mut byte = [0u8; 1];
    let read = match stream {
        Stream::Tcp(stream) => stream.read(&mut byte).now_or_never(),
        Stream::Tls(stream) => stream.read(&mut byte).now_or_never(),
    };
    // Pending: nothing to read, still open. Anything else (end, error, unexpected bytes)
    // means this connection is not one to write an alert to.
    read.is_some()
}

async fn write<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    frame: &[u8],
) -> std::io::Result<()> {
    stream.write_all(frame).await?;
    stream.flush().await
}
