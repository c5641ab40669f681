//! Whom the collector trusts when it opens a TLS connection, and the one rustls client
//! configuration built from it (HTTPS to webhooks and GLPI, syslog over TLS).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// The trust anchors of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's store, as `rustls-native-certs` finds it (`SSL_CERT_FILE`, `SSL_CERT_DIR`,
    /// then the distribution's bundle, `/etc/ssl/certs/ca-certificates.crt` on Debian).
    System,
    /// Only the CAs of this PEM file: a private CA pins the receiver, and a certificate
    /// from a public CA is refused.
    CaFile(PathBuf),
}

impl Trust {
    /// The CA file when one is configured, else the system's store.
    pub fn from_ca_file(ca: Option<&Path>) -> Trust {
        ca.map_or(Trust::System, |path| Trust::CaFile(path.to_owned()))
    }
}

/// The trust anchors cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(
        "cannot read the CA file {path}: {source}; check the path and that the collector's user may read it"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error(
        "the CA file {path} holds no usable certificate; it must hold the PEM (BEGIN CERTIFICATE) of the CA that signed the receiver's certificate"
    )]
    Empty { path: PathBuf },
    #[error(
        "the system's trust store holds no certificate; install the ca-certificates package or configure a CA file"
    )]
    NoSystemRoots,
    #[error("TLS set-up failed: {0}")]
    Rustls(#[from] rustls::Error),
}

fn roots(trust: &Trust) -> Result<RootCertStore, TrustError> {
    let mut roots = RootCertStore::empty();
    match trust {
        Trust::CaFile(path) => {
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<_, _>>())
                .map_err(|source| TrustError::Read {
                    path: path.clone(),
                    source,
                })?;
            let (added, _ignored) = roots.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(TrustError::Empty { path: path.clone() });
            }
        }
        Trust::System => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "a certificate of the system's trust store cannot be read");
            }
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(TrustError::NoSystemRoots);
            }
        }
    }
    Ok(roots)
}

/// A TLS client configuration on ring trusting `trust`, with rustls's safe default protocol
/// versions (TLS 1.2 and 1.3) and no client certificate.
pub fn client_config(trust: &Trust) -> Result<ClientConfig, TrustError> {
    with_roots(roots(trust)?)
}

/// A configuration trusting nothing, for a client that only speaks plain HTTP: an `https://`
/// URL reached with it fails its handshake rather than trusting anything.
pub(super) fn trust_nothing() -> Result<ClientConfig, TrustError> {
    with_roots(RootCertStore::empty())
}

fn with_roots(roots: RootCertStore) -> Result<ClientConfig, TrustError> {
    Ok(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
