//! The web console: the inventory, the unknown devices and their evidence, registry approval
//! and the audit trail, for the people of a care facility who do not live in a terminal.
//!
//! Served by `hygie-collector serve` on its own HTTPS listener when `[console]` is configured
//! (loopback by default). Pages are rendered on the server (askama templates with an escaper
//! that also defuses control and direction characters, [`html`]); one small stylesheet is
//! served from the binary; there is no script, inline or not, and the Content-Security-Policy
//! says so. Every device-supplied string is hostile and reaches a page only escaped.
//!
//! Reads go through the read port ([`crate::store::InventoryReader`]) on a few read-only
//! connections; registry changes go through the same operation as `approve` and `registry`
//! ([`crate::store::SqliteStore::change_registry_by`]) on a connection of their own, like the
//! command line's: SQLite's write lock orders them with the ingest writer's commits, and the
//! writer, which polls the registry generation before each commit and every tick, takes the
//! change in (flags, verdicts, scan policies) within a second. Each change's events name the
//! console user, inside the hash chain.
//!
//! Accounts are local (`hygie-collector user`), with roles ([`Role`]); passwords are argon2id
//! hashes; sessions live in memory ([`session`]), login attempts are slowed per address and
//! per account ([`throttle`]). A reverse proxy doing single sign-on may name the user in a
//! header, believed from its addresses only ([`proxy`]).

mod accounts;
mod app;
mod auth;
mod chart;
mod db;
mod html;
mod listener;
mod pages;
mod proxy;
mod session;
mod summary;
mod throttle;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use accounts::{
    AccountError, Capability, MIN_PASSWORD_CHARS, Role, UnknownRole, check_name, check_password,
    hash_password, verify_password,
};
pub use proxy::ProxyTrust;

use crate::config::CollectorConfig;

/// Where the console's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleTls {
    /// The collector's server certificate (`[tls] server_cert`), issued by its CA: browsers
    /// that trust the CA certificate trust the console.
    CollectorCertificate,
    /// A certificate chain and key the operator gives (PEM).
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
}

/// The validated `[console]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Its certificate.
    pub tls: ConsoleTls,
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// A session ends this long after login, however used.
    pub session_lifetime: Duration,
    /// An agent is shown silent when its last report is older than this (agents do not tell
    /// the collector their sweep interval: set it to theirs).
    pub agent_silent_after: Duration,
    /// Largest CMMS file accepted for review, in bytes.
    pub max_import: usize,
    /// A reverse proxy whose user header signs people in (single sign-on), if any.
    pub proxy: Option<ProxyTrust>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls: ConsoleTls::CollectorCertificate,
            session_idle: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            agent_silent_after: Duration::from_secs(3600),
            max_import: 4 * 1024 * 1024,
            proxy: None,
        }
    }
}

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console TLS: {0}")]
    Tls(#[from] crate::net::TlsError),
    #[error("the console cannot listen on {address}: give another [console] listen")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the console cannot load the snapshot signing key")]
    SigningKey(#[from] crate::export::signing::KeyError),
}

/// A console bound to its address, ready to serve.
#[derive(Debug)]
pub struct Console {
    listener: TcpListener,
    tls: std::sync::Arc<rustls::ServerConfig>,
    state: std::sync::Arc<app::State>,
}

impl Console {
    /// Loads the certificate and binds the listener (so that a bad setting stops `serve`
    /// before it starts).
    pub async fn bind(
        config: &CollectorConfig,
        settings: &ConsoleSettings,
    ) -> Result<Console, ConsoleError> {
        let (cert, key) = match &settings.tls {
            ConsoleTls::CollectorCertificate => (&config.pki.server_cert, &config.pki.server_key),
            ConsoleTls::Files { cert, key } => (cert, key),
        };
        let tls = listener::server_config(cert, key)?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| ConsoleError::Bind {
                    address: settings.listen,
                    source,
                })?;
        let state = app::State::new(config, settings)?;
        Ok(Console {
            listener,
            tls,
            state: std::sync::Arc::new(state),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(
            listen = %self.local_addr().map_or_else(|| "?".into(), |address| address.to_string()),
            "console serving https"
        );
        tokio::spawn(summary::Summaries::warm(std::sync::Arc::clone(&self.state)));
        let app = app::router(self.state);
        listener::serve(self.listener, self.tls, app, stop).await;
    }
}

#[cfg(test)]
mod tests;
