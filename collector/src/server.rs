//! `hygie-collector serve`: TLS material, the store, the writer and the gRPC server, wired up and
//! run until the shutdown signal.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::ca::{CaError, CertificateAuthority, PkiPaths, Validity};
use crate::config::CollectorConfig;
use crate::grpc::InventoryService;
use crate::ingest::{self, Clock};
use crate::store::{SqliteStore, StoreError};

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot create the data directory {path}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "TLS material is missing: {path} does not exist. Run `hygie-collector ca init` (and `ca issue-server`) first, or fix the [tls] paths"
    )]
    MissingTls { path: std::path::PathBuf },
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {address}")]
    Bind {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the gRPC server failed")]
    Transport(#[from] tonic::transport::Error),
}

/// Validity of a CA created on first start.
pub const CA_DAYS: u32 = 3650;
/// Validity of a server certificate created on first start or by `ca issue-server`.
pub const SERVER_DAYS: u32 = 825;

/// Names for a server certificate made without operator input: loopback and this host's name.
pub fn default_server_names() -> (Vec<String>, Vec<IpAddr>) {
    let mut names = vec!["localhost".to_owned()];
    if let Some(host) = hostname()
        && host != "localhost"
    {
        names.push(host);
    }
    let ips = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    (names, ips)
}

fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty() && name.len() <= 253).then(|| name.to_owned())
}

/// Creates a CA and a server certificate in `paths` (`ca init`). Refuses to replace an existing
/// CA unless `force`.
pub fn init_pki(
    paths: &PkiPaths,
    dns_names: &[String],
    ips: &[IpAddr],
    force: bool,
    now: Timestamp,
) -> Result<(), CaError> {
    let ca = CertificateAuthority::create("Hygie collector CA", Validity::days_from(now, CA_DAYS))?;
    ca.save(paths, force)?;
    ca.issue_server(dns_names, ips, Validity::days_from(now, SERVER_DAYS))?
        .save(&paths.server_cert, &paths.server_key)
}

/// On first start with the default layout, creates the PKI so the collector works out of the box.
fn ensure_pki(config: &CollectorConfig) -> Result<(), ServeError> {
    let paths = &config.pki;
    let nothing_yet = !paths.ca_cert.exists()
        && !paths.ca_key.exists()
        && !paths.server_cert.exists()
        && !paths.server_key.exists();
    if config.pki_is_default && nothing_yet {
        let (names, ips) = default_server_names();
        init_pki(paths, &names, &ips, false, Timestamp::now())?;
        tracing::info!(
            ca = %paths.ca_cert.display(),
            server_names = ?names,
            "created a CA and a server certificate on first start; issue agent certificates with `hygie-collector ca issue-agent`"
        );
    }
    for path in [&paths.ca_cert, &paths.server_cert, &paths.server_key] {
        if !path.exists() {
            return Err(ServeError::MissingTls { path: path.clone() });
        }
    }
    Ok(())
}

fn read_pem(path: &std::path::Path) -> Result<String, ServeError> {
    std::fs::read_to_string(path).map_err(|source| {
        ServeError::Ca(CaError::Read {
            path: path.to_owned(),
            source,
        })
    })
}

/// Runs the collector until `shutdown` completes, then drains the writer.
pub async fn serve(
    config: CollectorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    ensure_pki(&config)?;
    let identity = Identity::from_pem(
        read_pem(&config.pki.server_cert)?,
        read_pem(&config.pki.server_key)?,
    );
    let client_ca = Certificate::from_pem(read_pem(&config.pki.ca_cert)?);

    let store = SqliteStore::open_writer(&config.database, config.durability)?;
    let clock: Clock = Arc::new(Timestamp::now);
    let (ingest, writer) = ingest::start_writer(store, config.writer, clock)?;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            address: config.listen,
            source,
        })?;
    tracing::info!(
        listen = %listener.local_addr().unwrap_or(config.listen),
        database = %config.database.display(),
        "collector serving {}", hygie_proto::CONTRACT
    );

    let tls = ServerTlsConfig::new()
        .identity(identity)
        .client_ca_root(client_ca)
        .timeout(Duration::from_secs(10));
    let result = Server::builder()
        .tls_config(tls)?
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .tcp_keepalive(Some(Duration::from_secs(60)))
        .add_service(InventoryService::new(ingest).into_server())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await;

    // Sessions still running hold writer handles; the writer finishes their commits and stops
    // once the last one closes.
    let joined = tokio::task::spawn_blocking(move || writer.join());
    if tokio::time::timeout(Duration::from_secs(30), joined)
        .await
        .is_err()
    {
        tracing::warn!("the writer did not stop within 30 s of shutdown");
    }
    tracing::info!("collector stopped");
    Ok(result?)
}
