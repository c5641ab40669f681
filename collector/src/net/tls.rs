//! TLS for agents: the server's certificate, and client certificates checked against the CA and
//! the revocation list, with every refusal logged.
//!
//! rustls's own verifier checks the chain, validity and key usage; the wrapper here adds the
//! revoked serials (kept in the collector's database and reloaded while running, so a
//! revocation applies to the next handshake; sessions are never resumed, so every connection
//! has a full handshake that checks them) and names the refused certificate in the log:
//! rustls refuses silently, and an operator chasing a silent agent needs to see "agent ward-3 of
//! site chu-nord, serial 1f…: certificate expired".

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::ca::{RevokedSerials, normal_serial, serial_of_der};

/// The TLS settings could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{path} holds no certificate")]
    NoCertificate { path: std::path::PathBuf },
    #[error("the CA certificate {path} cannot be used: {source}")]
    BadCa {
        path: std::path::PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("cannot build the client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("the server certificate and key cannot be used together: {0}")]
    ServerIdentity(#[source] rustls::Error),
}

/// The revoked serials in force, shared by the verifier and the revocation watcher.
#[derive(Debug, Default)]
pub struct RevocationList {
    current: RwLock<Arc<RevokedSerials>>,
}

impl RevocationList {
    /// Replaces the set in force.
    pub fn replace(&self, serials: Arc<RevokedSerials>) {
        match self.current.write() {
            Ok(mut guard) => *guard = serials,
            Err(poisoned) => *poisoned.into_inner() = serials,
        }
    }

    /// The set in force.
    pub fn current(&self) -> Arc<RevokedSerials> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Whether `serial` (normal form) is revoked.
    pub fn contains(&self, serial: &str) -> bool {
        self.current().contains(serial)
    }
}

/// The serial of a DER certificate in [`normal_serial`]'s form, if it parses.
pub fn certificate_serial(der: &[u8]) -> Option<String> {
    serial_of_der(der).ok()
}

/// What the log says about a presented certificate (unverified: for the operator only).
fn describe(der: &[u8]) -> (String, String, String) {
    let Ok((_, certificate)) = X509Certificate::from_der(der) else {
        return ("?".into(), "?".into(), "?".into());
    };
    let subject = certificate.subject();
    let field = |value: Option<&str>| hygie_proto::text::terminal_safe(value.unwrap_or("-"), 64);
    let name = field(
        subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok()),
    );
    let site = field(
        subject
            .iter_organizational_unit()
            .next()
            .and_then(|a| a.as_str().ok()),
    );
    (name, site, normal_serial(certificate.raw_serial()))
}

/// rustls's verifier, plus revocation and logging.
#[derive(Debug)]
struct AgentCertificateVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    revoked: Arc<RevocationList>,
}

impl ClientCertVerifier for AgentCertificateVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
            .and_then(|verified| {
                let serial = certificate_serial(end_entity).unwrap_or_default();
                if self.revoked.contains(&serial) {
                    Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))
                } else {
                    Ok(verified)
                }
            });
        if let Err(error) = &verdict {
            // Runs inside the handshake's span, which names the peer's address.
            let (name, site, serial) = describe(end_entity);
            tracing::warn!(agent = %name, site = %site, serial = %serial, reason = %error, "client certificate refused");
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Paths of the collector's TLS material.
#[derive(Debug, Clone, Copy)]
pub struct TlsFiles<'a> {
    /// The CA that issues agent certificates.
    pub ca_cert: &'a Path,
    /// The server's certificate chain.
    pub server_cert: &'a Path,
    /// The server's private key.
    pub server_key: &'a Path,
}

/// Builds the server's TLS configuration: HTTP/2 only, client certificates mandatory.
pub fn server_config(
    files: TlsFiles<'_>,
    revoked: Arc<RevocationList>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let read_error = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Read { path, source }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    let ca: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(files.ca_cert)
        .map_err(read_error(files.ca_cert))?
        .collect::<Result<_, _>>()
        .map_err(read_error(files.ca_cert))?;
    if ca.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.ca_cert.to_owned(),
        });
    }
    for certificate in ca {
        roots.add(certificate).map_err(|source| TlsError::BadCa {
            path: files.ca_cert.to_owned(),
            source,
        })?;
    }
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .build()?;
    let verifier = Arc::new(AgentCertificateVerifier { inner, revoked });

    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(files.server_cert)
        .map_err(read_error(files.server_cert))?
        .collect::<Result<_, _>>()
        .map_err(read_error(files.server_cert))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.server_cert.to_owned(),
        });
    }
    let key =
        PrivateKeyDer::from_pem_file(files.server_key).map_err(read_error(files.server_key))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::ServerIdentity)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(TlsError::ServerIdentity)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    // No session resumption: a resumed session skips the client certificate's verification,
    // so an agent revoked while connected would come straight back in on its next connection.
    // Agents connect rarely; a full handshake each time costs nothing worth that.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn revoked_serials_are_replaced_whole() {
        let list = RevocationList::default();
        assert!(!list.contains("1f"));
        list.replace(Arc::new(RevokedSerials::new(
            1,
            HashSet::from(["1f".to_owned()]),
        )));
        assert!(list.contains("1f"));
        list.replace(Arc::new(RevokedSerials::new(2, HashSet::new())));
        assert!(!list.contains("1f"));
    }
}
