//! `hygie-collector serve`: TLS material, the store, the writer and the gRPC server, wired up and
//! run until the shutdown signal.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;

use crate::ca::CaError;
use crate::config::CollectorConfig;
use crate::grpc::InventoryService;
use crate::grpc::frames::GuardLayer;
use crate::ingest::{self, Clock};
use crate::metrics::CollectorMetrics;
use crate::net::{self, FrontDoor, RevocationList, TlsFiles};
use crate::policy::PolicyChannels;
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
    #[error(transparent)]
    Metrics(#[from] hygie_metrics::BindError),
    #[error("the gRPC server failed")]
    Transport(#[from] tonic::transport::Error),
    #[error(transparent)]
    Tls(#[from] net::TlsError),
    #[error("the inventory writer stopped unexpectedly; see the log above")]
    WriterStopped,
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    #[error("cannot load the classification rules")]
    Rules(#[from] crate::classify::RulesError),
    #[error(transparent)]
    Alerts(#[from] crate::alerts::AlertsError),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
}

/// Validity of a CA created on first start.
pub const CA_DAYS: u32 = 3650;
/// Validity of a server certificate created on first start or by `ca issue-server`.
pub const SERVER_DAYS: u32 = 825;

/// Names for a server certificate made without operator input: loopback and this host's name.
pub fn default_server_names() -> (Vec<String>, Vec<IpAddr>) {
    let mut names = vec!["localhost".to_owned()];
    if let Some(host) = hygie_proto::kernel_hostname()
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

/// On first start with the default layout, creates the PKI so the collector works out of the box;
/// returns the server certificate it issued, for the certificate log.
fn ensure_pki(
    config: &CollectorConfig,
) -> Result<Option<crate::ca::IssuedCertificate>, ServeError> {
    let paths = &config.pki;
    let nothing_yet = !paths.ca_cert.exists()
        && !paths.ca_key.exists()
        && !paths.server_cert.exists()
        && !paths.server_key.exists();
    let mut issued = None;
    if config.pki_is_default && nothing_yet {
        let (names, ips) = default_server_names();
        issued = Some(crate::ca::init(
            paths,
            &names,
            &ips,
            false,
            Timestamp::now(),
            CA_DAYS,
            SERVER_DAYS,
        )?);
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
    Ok(issued)
}

/// How often the database is asked whether a certificate was revoked: an open connection
/// presenting it is closed within this.
const REVOCATION_POLL: Duration = Duration::from_secs(2);

/// How long streams get to finish their Acks after a shutdown request before the server stops
/// waiting for them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// Raises the soft descriptor limit to the hard one and keeps `max_connections` under it, with
/// room for the database, logs and listeners: running out of descriptors would refuse the
/// honest agent's reconnection along with everyone else's.
fn fit_descriptor_limit(limits: &mut crate::config::Limits) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    const RESERVED: u64 = 64;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let soft = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    let room = usize::try_from(soft.saturating_sub(RESERVED)).unwrap_or(usize::MAX);
    let admission = &mut limits.front_door.admission;
    if admission.max_connections > room {
        tracing::warn!(
            descriptors = soft,
            configured = admission.max_connections,
            used = room.max(1),
            "the descriptor limit is below limits.max_connections; accepting fewer connections (raise LimitNOFILE)"
        );
        admission.max_connections = room.max(1);
        admission.max_handshakes = admission.max_handshakes.min(admission.max_connections);
    }
}

/// The endpoint's view of `metrics`: the inventory's figures refreshed before each scrape.
fn exposition(metrics: CollectorMetrics) -> hygie_metrics::Exposition {
    let figures = metrics.inventory;
    hygie_metrics::Exposition::new(metrics.registry).with_refresh(Arc::new(move || {
        let figures = Arc::clone(&figures);
        Box::pin(async move { figures.refresh().await })
    }))
}

/// Runs the collector until `shutdown` completes, then drains the writer. Returns an error if
/// the writer dies first: serving without it would only refuse every batch.
pub async fn serve(
    mut config: CollectorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    crate::files::create_private_dir(&config.data_dir).map_err(|error| match error {
        crate::files::FileError::CreateDir { path, source }
        | crate::files::FileError::Write { path, source } => ServeError::DataDir { path, source },
    })?;
    // One writer per database: a second `serve` on this directory stops here, naming the
    // first. Held until serve returns, after the writer has drained.
    let _lock = crate::lock::DataDirLock::acquire(&config.data_dir)?;
    let first_server_certificate = ensure_pki(&config)?;
    // Secrets and CAs of the alert sinks are read now: a mistake stops here, not at the first alert.
    let alerts = crate::alerts::prepare(&config.alerts)?;
    // The web console, when configured: bound now, so that a bad setting stops serve here.
    let console = match &config.console {
        Some(settings) => Some(crate::console::Console::bind(&config, settings).await?),
        None => None,
    };
    fit_descriptor_limit(&mut config.limits);
    let limits = config.limits;
    // Revocations apply from the first handshake, and are reloaded while serving.
    let signer = crate::export::signing::Signer25519::load(&config.signing_key)?;
    let mut store =
        SqliteStore::open_writer(&config.database, config.durability)?.with_sealer(signer);
    if let Some(server) = first_server_certificate {
        store.record_issued(&server.facts, false, Timestamp::now())?;
    }
    let revocations = SqliteStore::open_reader(&config.database)?;
    let revoked = Arc::new(RevocationList::default());
    let initial = revocations.revoked_serials()?;
    if !initial.is_empty() {
        tracing::info!(
            revoked = initial.len(),
            "refusing revoked agent certificates"
        );
    }
    let mut generation = initial.generation;
    revoked.replace(Arc::new(initial));
    let tls = net::server_config(
        TlsFiles {
            ca_cert: &config.pki.ca_cert,
            server_cert: &config.pki.server_cert,
            server_key: &config.pki.server_key,
        },
        Arc::clone(&revoked),
    )?;

    // The command line computes flags at read time: with the rules in force here.
    store.publish_flag_rules(&config.writer.flag_rules)?;
    let clock: Clock = Arc::new(Timestamp::now);
    let policies = PolicyChannels::new();
    // The scan policies protect assets by category: the writer classifies with the rules the
    // command line shows.
    let rules = crate::classify::Rules::load(config.rules.as_deref())?;
    let metrics = CollectorMetrics::new(config.database.clone());
    let (ingest, writer) = ingest::start_writer(
        store,
        config.writer.clone(),
        rules,
        Arc::clone(&policies),
        clock,
        metrics.ingest.clone(),
    )?;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            address: config.listen,
            source,
        })?;
    // Bound before the collector says it serves: a taken port stops it here, naming the address.
    let metrics_listener = match config.metrics.listen {
        Some(address) => Some(hygie_metrics::bind(address).await?),
        None => None,
    };
    tracing::info!(
        listen = %listener.local_addr().unwrap_or(config.listen),
        database = %config.database.display(),
        max_connections = limits.front_door.admission.max_connections,
        memory = limits.memory,
        "collector serving {}", hygie_proto::CONTRACT
    );

    let stopping = CancellationToken::new();
    let service_metrics = metrics.service.clone();
    let (alert_metrics, glpi_metrics) = (metrics.alerts.clone(), metrics.glpi.clone());
    if let Some(listener) = metrics_listener {
        tokio::spawn(listener.serve(exposition(metrics), stopping.clone()));
    }
    let _glpi_push = crate::glpi::spawn_scheduled(&config, &stopping, glpi_metrics);
    if let Some(console) = console {
        tokio::spawn(console.run(stopping.clone()));
    }
    let door = FrontDoor::new(tls, revoked, limits.front_door);
    let (admitted, incoming) = mpsc::channel(64);
    let accepting = tokio::spawn(door.clone().run(listener, admitted, stopping.clone()));
    let reload_revocations = move || -> Result<Option<crate::ca::RevokedSerials>, StoreError> {
        if revocations.revocation_generation()? == generation {
            return Ok(None);
        }
        let serials = revocations.revoked_serials()?;
        generation = serials.generation;
        tracing::info!(revoked = serials.len(), "revoked certificates reloaded");
        Ok(Some(serials))
    };
    tokio::spawn(net::watch_revocations(
        door.clone(),
        reload_revocations,
        REVOCATION_POLL,
        stopping.clone(),
    ));
    let incoming = ReceiverStream::new(incoming).map(Ok::<_, std::io::Error>);
    let service = InventoryService::new(ingest, policies, limits.service, stopping.clone())
        .with_metrics(service_metrics);
    let mut server = Box::pin(
        Server::builder()
            // An agent needs one stream; a reconnecting one briefly two.
            .max_concurrent_streams(Some(2))
            .initial_stream_window_size(Some(256 * 1024))
            .initial_connection_window_size(Some(512 * 1024))
            .http2_max_header_list_size(Some(16 * 1024))
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .tcp_keepalive(Some(Duration::from_secs(60)))
            .layer(GuardLayer::new(limits.deadlines, limits.wire_bytes))
            .add_service(service.into_server())
            .serve_with_incoming_shutdown(incoming, stopping.clone().cancelled_owned()),
    );

    let alerting = (!alerts.is_empty()).then(|| {
        tokio::spawn(
            alerts
                .with_metrics(alert_metrics)
                .run(config.database.clone(), stopping.clone()),
        )
    });
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
    let _ = accepting.await;
    // The alert sinks save their cursors as they stop.
    if let Some(alerting) = alerting
        && tokio::time::timeout(Duration::from_secs(5), alerting)
            .await
            .is_err()
    {
        tracing::warn!("the alert sinks did not stop within 5 s of shutdown");
    }
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
