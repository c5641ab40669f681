//! `hygie-collector serve`: TLS material, the store, the writer and the gRPC server, wired up and
//! run until the shutdown signal.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
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
    #[error("cannot create the snapshot signing key")]
    SigningKey(#[from] crate::export::signing::KeyError),
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
    #[error("the inventory writer stopped unexpectedly; see the log above")]
    WriterStopped,
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
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

/// This host's name, from the kernel.
pub fn hostname() -> Option<String> {
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
    // Snapshots must be signable from the first export on.
    if crate::export::signing::ensure_key(&config.signing_key)? {
        tracing::info!(
            key = %config.signing_key.display(),
            public_key = %crate::export::signing::public_key_path(&config.signing_key).display(),
            "created the snapshot signing key; give its public half to auditors"
        );
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

/// How long streams get to finish their Acks after a shutdown request before the server stops
/// waiting for them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// Runs the collector until `shutdown` completes, then drains the writer. Returns an error if
/// the writer dies first: serving without it would only refuse every batch.
pub async fn serve(
    config: CollectorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    crate::files::create_private_dir(&config.data_dir).map_err(|error| match error {
        crate::files::FileError::CreateDir { path, source }
        | crate::files::FileError::Write { path, source } => ServeError::DataDir { path, source },
    })?;
    // One writer per database: a second `serve` on this directory stops here, naming the
    // first. Held until serve returns, after the writer has drained.
    let _lock = crate::lock::DataDirLock::acquire(&config.data_dir)?;
    ensure_pki(&config)?;
    let identity = Identity::from_pem(
        read_pem(&config.pki.server_cert)?,
        read_pem(&config.pki.server_key)?,
    );
    let client_ca = Certificate::from_pem(read_pem(&config.pki.ca_cert)?);

    let signer = crate::export::signing::Signer25519::load(&config.signing_key)?;
    let store = SqliteStore::open_writer(&config.database, config.durability)?.with_sealer(signer);
    // The command line computes flags at read time: with the rules in force here.
    store.publish_flag_rules(&config.writer.flag_rules)?;
    let clock: Clock = Arc::new(Timestamp::now);
    let (ingest, writer) = ingest::start_writer(store, config.writer.clone(), clock)?;

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
    let stopping = CancellationToken::new();
    let mut server = Box::pin(
        Server::builder()
            .tls_config(tls)?
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .tcp_keepalive(Some(Duration::from_secs(60)))
            .add_service(InventoryService::new(ingest, stopping.clone()).into_server())
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(listener),
                stopping.clone().cancelled_owned(),
            ),
    );

    let mut writer_done = tokio::task::spawn_blocking(move || writer.join());
    tokio::pin!(shutdown);
    let result = tokio::select! {
        result = &mut server => result.map_err(ServeError::from),
        _ = &mut writer_done => Err(ServeError::WriterStopped),
        () = &mut shutdown => {
            // Streams see the token, send their last Acks and end; connections then close.
            stopping.cancel();
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(result) => result.map_err(ServeError::from),
                Err(_) => {
                    tracing::warn!("streams still open {SHUTDOWN_GRACE:?} after shutdown; stopping anyway");
                    Ok(())
                }
            }
        }
    };
    stopping.cancel();
    // Dropping the server drops the service's writer handles; the writer then finishes its
    // queue and stops.
    drop(server);
    if !writer_done.is_finished()
        && tokio::time::timeout(Duration::from_secs(30), writer_done)
            .await
            .is_err()
    {
        tracing::warn!("the writer did not stop within 30 s of shutdown");
    }
    tracing::info!("collector stopped");
    result
}
