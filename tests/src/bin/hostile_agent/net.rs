//! Connections to the collector: TCP, TLS with the agent's valid certificate, HTTP/2 by hand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use h2::client::SendRequest;
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::report::Outcome;

/// How long a TCP connect or a TLS handshake may take before it counts as refused.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the collector is and how to authenticate to it.
#[derive(Debug, clap::Args)]
pub(crate) struct TargetArgs {
    /// The collector's address; only loopback addresses are accepted.
    #[arg(long, default_value = "127.0.0.1:7443")]
    pub(crate) address: SocketAddr,
    /// The name the collector's certificate is checked against.
    #[arg(long, default_value = "localhost")]
    pub(crate) server_name: String,
    /// The CA that issued the collector's certificate.
    #[arg(long)]
    pub(crate) ca: PathBuf,
    /// A valid agent certificate (PEM).
    #[arg(long)]
    pub(crate) cert: PathBuf,
    /// Its private key (PEM).
    #[arg(long)]
    pub(crate) key: PathBuf,
}

/// The collector, ready to be connected to.
pub(crate) struct Target {
    address: SocketAddr,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    /// The `:authority` of requests.
    pub(crate) authority: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("address", &self.address)
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl Target {
    pub(crate) fn new(args: &TargetArgs) -> Result<Self> {
        // This tool exhausts the server it talks to: it must never point anywhere but here.
        if !args.address.ip().is_loopback() {
            bail!(
                "refusing {}: hostile-agent only targets a collector on this machine (127.0.0.0/8 or ::1)",
                args.address
            );
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&args.ca)
            .with_context(|| format!("reading {}", args.ca.display()))?
        {
            roots.add(cert.with_context(|| format!("parsing {}", args.ca.display()))?)?;
        }
        let chain = CertificateDer::pem_file_iter(&args.cert)
            .with_context(|| format!("reading {}", args.cert.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("parsing {}", args.cert.display()))?;
        let key = PrivateKeyDer::from_pem_file(&args.key)
            .with_context(|| format!("reading {}", args.key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Target {
            address: args.address,
            server_name: ServerName::try_from(args.server_name.clone())?,
            tls: TlsConnector::from(Arc::new(config)),
            authority: format!("{}:{}", args.server_name, args.address.port()),
        })
    }

    /// A plain TCP connection.
    pub(crate) async fn tcp(&self) -> Result<TcpStream, Outcome> {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.address)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(error)) => Err(Outcome::new("tcp_refused", error.to_string())),
            Err(_) => Err(Outcome::new("tcp_refused", "connect timed out")),
        }
    }

    /// A TLS connection with the agent certificate, handshake complete.
    pub(crate) async fn tls(&self) -> Result<TlsStream<TcpStream>, Outcome> {
        let tcp = self.tcp().await?;
        let handshake = self.tls.connect(self.server_name.clone(), tcp);
        match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(error)) => Err(Outcome::new("tls_failed", error.to_string())),
            Err(_) => Err(Outcome::new("tls_failed", "handshake timed out")),
        }
    }

    /// An HTTP/2 connection, its frames driven by a task of its own.
    pub(crate) async fn h2(&self) -> Result<Conn, Outcome> {
        let tls = self.tls().await?;
        let handshake = h2::client::Builder::new()
            // Replies must never wait for us: we read everything the collector sends.
            .initial_window_size(4 << 20)
            .initial_connection_window_size(16 << 20)
            .handshake::<_, Bytes>(tls);
        let (send, connection) = match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(error)) => return Err(crate::grpc::h2_outcome(&error)),
            Err(_) => return Err(Outcome::new("h2_failed", "HTTP/2 handshake timed out")),
        };
        // Its error, if any, reaches every stream of the connection as theirs.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn { send, driver })
    }
}

/// One HTTP/2 connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) send: SendRequest<Bytes>,
    driver: JoinHandle<()>,
}

impl Conn {
    fn is_open(&self) -> bool {
        !self.driver.is_finished()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// A fixed number of HTTP/2 connections that streams share, each reopened when it dies.
#[derive(Debug)]
pub(crate) struct Pool {
    target: Arc<Target>,
    slots: Vec<Mutex<Option<Conn>>>,
}

impl Pool {
    pub(crate) fn new(target: Arc<Target>, connections: usize) -> Self {
        Pool {
            target,
            slots: (0..connections.max(1)).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// A handle on connection `unit % connections`, connecting it if needed.
    pub(crate) async fn get(&self, unit: usize) -> Result<SendRequest<Bytes>, Outcome> {
        let mut slot = self.slots[unit % self.slots.len()].lock().await;
        if let Some(conn) = slot.as_ref()
            && conn.is_open()
        {
            return Ok(conn.send.clone());
        }
        let conn = self.target.h2().await?;
        let send = conn.send.clone();
        *slot = Some(conn);
        Ok(send)
    }

    pub(crate) fn authority(&self) -> &str {
        &self.target.authority
    }
}
