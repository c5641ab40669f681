//! The front door: TCP accept, TLS with client certificates, the HTTP/2 preface, each step
//! bounded in time and in number, before a connection reaches the gRPC server.
//!
//! Without these bounds a peer needs no key to exhaust the collector (TCP connections that never
//! start TLS), and a peer with one agent's key can hold descriptors forever (TLS connections
//! that never speak HTTP/2). Here:
//! - [`admission`] caps connections in total, handshakes per address and in total, and open
//!   connections per agent identity (the oldest gives way);
//! - the TLS handshake and the HTTP/2 preface each have a deadline;
//! - client certificates are checked against the CA and the revocation list ([`tls`]), and
//!   connections whose certificate is revoked while open are closed within seconds
//!   ([`watch_revocations`]);
//! - every refusal is logged at WARN with the peer's address and, once known, its identity —
//!   at most once per [`LOG_EVERY`] per kind, with a count of those held back, so a flood cannot
//!   fill the disk with log lines.

pub mod admission;
mod connection;
pub mod tls;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::ca::RevokedSerials;
use crate::grpc::peer::identity_from_certificate;
use crate::throttle::LogThrottle;
pub use admission::{AdmissionLimits, ConnectionTable, Refusal};
use connection::TableEntry;
pub use connection::{AgentConnection, AgentPeer, PREFACE};
pub use tls::{RevocationList, TlsError, TlsFiles, certificate_serial, server_config};

/// Bounds of the front door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontDoorSettings {
    /// Connection counts.
    pub admission: AdmissionLimits,
    /// Time a peer has to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time an authenticated peer has to send the HTTP/2 preface.
    pub preface_timeout: Duration,
}

impl Default for FrontDoorSettings {
    fn default() -> Self {
        FrontDoorSettings {
            admission: AdmissionLimits::default(),
            handshake_timeout: Duration::from_secs(10),
            preface_timeout: Duration::from_secs(10),
        }
    }
}

/// The shortest interval between two WARN lines of the same kind of refusal.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The front door's shared state.
#[derive(Clone)]
pub struct FrontDoor {
    acceptor: TlsAcceptor,
    settings: FrontDoorSettings,
    table: Arc<Mutex<ConnectionTable>>,
    revoked: Arc<RevocationList>,
    throttle: Arc<Mutex<LogThrottle>>,
}

impl std::fmt::Debug for FrontDoor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontDoor")
            .field("settings", &self.settings)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The table's invariants hold between statements: a panic elsewhere leaves it usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FrontDoor {
    /// A front door with this TLS configuration (see [`server_config`]) and bounds.
    pub fn new(
        tls: Arc<rustls::ServerConfig>,
        revoked: Arc<RevocationList>,
        settings: FrontDoorSettings,
    ) -> Self {
        FrontDoor {
            acceptor: TlsAcceptor::from(tls),
            settings,
            table: Arc::new(Mutex::new(ConnectionTable::new(settings.admission))),
            revoked,
            throttle: Arc::new(Mutex::new(LogThrottle::new(LOG_EVERY))),
        }
    }

    /// Open connections right now.
    pub fn open_connections(&self) -> usize {
        lock(&self.table).open_count()
    }

    /// Logs a refusal at WARN unless one of the same kind was logged within [`LOG_EVERY`].
    fn refused(&self, kind: &'static str, log: impl FnOnce(u64)) {
        if let Some(held_back) = lock(&self.throttle).admit(kind, std::time::Instant::now()) {
            log(held_back);
        }
    }

    /// Accepts connections until `shutdown`, handing each admitted one to `incoming`.
    pub async fn run(
        self,
        listener: TcpListener,
        incoming: mpsc::Sender<AgentConnection>,
        shutdown: CancellationToken,
    ) {
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, remote) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Typically out of descriptors: wait for some to be released rather than
                    // spin on a listener that stays readable.
                    self.refused("accept", |held_back| {
                        tracing::warn!(error = %error, held_back, "cannot accept connections");
                    });
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if let Err(refusal) = lock(&self.table).begin_handshake(remote.ip()) {
                self.refused(refusal.kind(), |held_back| {
                    tracing::warn!(peer = %remote, reason = %refusal, held_back, "connection refused");
                });
                continue;
            }
            let span = tracing::info_span!("connection", peer = %remote);
            tokio::spawn(
                self.clone()
                    .admit(tcp, remote, incoming.clone())
                    .instrument(span),
            );
        }
    }

    /// Takes one connection through TLS and the preface (its handshake is already counted).
    async fn admit(
        self,
        tcp: TcpStream,
        remote: SocketAddr,
        incoming: mpsc::Sender<AgentConnection>,
    ) {
        let handshake = self.settings.handshake_timeout;
        let accepted = tokio::time::timeout(handshake, self.acceptor.accept(tcp)).await;
        lock(&self.table).end_handshake(remote.ip());
        let mut tls = match accepted {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                self.refused("handshake_failed", |held_back| {
                    tracing::warn!(error = %error, held_back, "TLS handshake failed");
                });
                return;
            }
            Err(_) => {
                self.refused("handshake_timeout", |held_back| {
                    tracing::warn!(timeout = ?handshake, held_back, "TLS handshake not completed in time; connection closed");
                });
                return;
            }
        };
        let Some(leaf) = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
        else {
            // Unreachable with a mandatory client certificate; refuse rather than assume.
            tracing::warn!("no client certificate after the handshake; connection closed");
            return;
        };
        let serial = certificate_serial(leaf).unwrap_or_default();
        // The handshake's verifier refused revoked serials already; checked again here so
        // that no handshake path (a resumed session would skip the verifier) admits one.
        if self.revoked.contains(&serial) {
            self.refused("revoked", |held_back| {
                tracing::warn!(serial = %serial, held_back, "certificate revoked: connection refused");
            });
            return;
        }
        let identity = match identity_from_certificate(leaf) {
            Ok(identity) => identity,
            Err(error) => {
                self.refused("identity", |held_back| {
                    tracing::warn!(serial = %serial, error = %error, held_back, "certificate names no usable agent identity; connection closed");
                });
                return;
            }
        };

        let closing = CancellationToken::new();
        let (id, displaced) = lock(&self.table).open(admission::OpenConnection {
            identity: identity.clone(),
            serial: serial.clone(),
            remote,
            closing: closing.clone(),
        });
        for old in displaced {
            self.refused("displaced", |held_back| {
                tracing::warn!(
                    agent = %old.identity,
                    old_peer = %old.remote,
                    limit = self.settings.admission.max_connections_per_agent,
                    held_back,
                    "agent has too many connections: closed its oldest"
                );
            });
        }
        let entry = TableEntry {
            table: Arc::clone(&self.table),
            id,
        };

        let mut preface = [0u8; PREFACE.len()];
        let read =
            tokio::time::timeout(self.settings.preface_timeout, tls.read_exact(&mut preface));
        match read.await {
            Ok(Ok(_)) if &preface == PREFACE => {}
            Ok(Ok(_)) => {
                self.refused("not_http2", |held_back| {
                    tracing::warn!(agent = %identity, held_back, "peer does not speak HTTP/2; connection closed");
                });
                return;
            }
            Ok(Err(error)) => {
                tracing::debug!(agent = %identity, error = %error, "connection closed before its HTTP/2 preface");
                return;
            }
            Err(_) => {
                self.refused("preface_timeout", |held_back| {
                    tracing::warn!(
                        agent = %identity,
                        timeout = ?self.settings.preface_timeout,
                        held_back,
                        "no HTTP/2 preface in time; connection closed"
                    );
                });
                return;
            }
        }
        let peer = AgentPeer {
            remote,
            identity,
            serial,
            connection: id,
        };
        // The receiver is gone only when the server stops; the connection then just closes.
        let _ = incoming
            .send(AgentConnection::new(tls, closing, peer, entry))
            .await;
    }

    /// Applies a new set of revoked serials: refused at the next handshake, and open
    /// connections presenting one closed now.
    pub fn apply_revocations(&self, serials: Arc<RevokedSerials>) {
        let closed = lock(&self.table).close_revoked(&serials);
        self.revoked.replace(serials);
        for connection in closed {
            tracing::warn!(
                agent = %connection.identity,
                peer = %connection.remote,
                "certificate revoked: connection closed"
            );
        }
    }
}

/// Reloads the revoked serials every `every` and applies them, until `shutdown`. `load` returns
/// `None` when nothing changed since its last call.
pub async fn watch_revocations<L, E>(
    door: FrontDoor,
    mut load: L,
    every: Duration,
    shutdown: CancellationToken,
) where
    L: FnMut() -> Result<Option<RevokedSerials>, E> + Send + 'static,
    E: std::error::Error + Send + 'static,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        // A database read: keep it off the runtime's workers.
        let (returned, result) = match tokio::task::spawn_blocking(move || {
            let result = load();
            (load, result)
        })
        .await
        {
            Ok(pair) => pair,
            Err(_) => {
                tracing::error!(
                    "the revocation watcher panicked; revocations are no longer reloaded"
                );
                return;
            }
        };
        load = returned;
        match result {
            Ok(Some(serials)) => door.apply_revocations(Arc::new(serials)),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(error = %hygie_proto::error_chain(&error), "cannot reload the revoked certificates");
            }
        }
    }
}
