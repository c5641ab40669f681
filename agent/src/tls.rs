//! The agent's mutual-TLS credentials, read and checked once, the same way for
//! `hygie-agent validate` and for the uplink: PEM files that parse, a key that belongs to the
//! certificate, and a certificate the collector will accept, that is one that chains to the
//! configured CA as the collector checks it (rustls' `WebPkiClientVerifier`).
//!
//! Two kinds of refusal. Files that cannot make a TLS identity at all (unreadable, not PEM,
//! swapped, a key of another pair) are errors of [`ClientTls::load`]: nothing could connect.
//! A certificate the collector will refuse (another CA, expired, not for clients) still loads,
//! with its [`ClientTls::refusal`]: `validate` fails on it, while `run` says so at ERROR and
//! keeps collecting into the outbox, as it does when the collector refuses it (the operator
//! may be fixing the collector's side).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, Error as RustlsError, InconsistentKeys};
use tonic::transport::{Certificate, Identity};

use crate::config::CollectorSettings;

/// Why the certificate files cannot be used, naming the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the {what} {path}")]
    Read {
        /// `collector.ca`, `collector.cert` or `collector.key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// A file does not exist: the agent was not enrolled yet (or `[collector]` names the
    /// wrong path).
    #[error(
        "the {what} {path} does not exist: this agent is not enrolled yet, or [collector] names \
         the wrong file. Enrol it: on the collector, `hygie-collector ca issue-agent --name NAME \
         --site SITE --out DIR`; install DIR's ca.pem, agent.pem and agent.key where [collector] \
         says (docs/operator-guide.md, section 4); then `systemctl restart hygie-agent`"
    )]
    NotEnrolled {
        /// `collector.ca`, `collector.cert` or `collector.key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// No PEM block of the expected kind.
    #[error(
        "the {what} {path} is not a PEM {kind}: {detail}; expected a file with a \
         \"-----BEGIN {label}-----\" block (as `hygie-collector ca issue-agent` writes)"
    )]
    NotPem {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What was expected.
        kind: &'static str,
        /// The PEM label expected.
        label: &'static str,
        /// What was found instead.
        detail: String,
    },
    /// The certificate file holds a key and the key file a certificate.
    #[error(
        "collector.cert ({cert}) holds a private key and collector.key ({key}) a certificate: \
         the two settings are swapped"
    )]
    Swapped {
        /// The certificate setting's file.
        cert: PathBuf,
        /// The key setting's file.
        key: PathBuf,
    },
    /// The CA file holds something rustls cannot use as a trust anchor.
    #[error("the CA certificate {path} cannot be used as a trust anchor: {reason}")]
    BadCa {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A key of a type rustls cannot sign with.
    #[error(
        "the private key {path} cannot be used: {reason} (ECDSA P-256/P-384, Ed25519 or RSA expected)"
    )]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error(
        "the private key {key} does not belong to the certificate {cert}: copy the key that was \
         issued with this certificate (`hygie-collector ca issue-agent` writes both)"
    )]
    KeyMismatch {
        /// The certificate.
        cert: PathBuf,
        /// The key.
        key: PathBuf,
    },
    /// Not issued by the configured CA: the collector would refuse it.
    #[error(
        "the certificate {cert} is not signed by the CA {ca}: the collector would refuse it. \
         Issue one with that CA (`hygie-collector ca issue-agent`), or point collector.ca at the \
         collector's CA"
    )]
    NotIssuedByCa {
        /// The certificate.
        cert: PathBuf,
        /// The CA.
        ca: PathBuf,
    },
    /// Outside its validity period.
    #[error("the certificate {cert} is {when}: issue a new one (`hygie-collector ca issue-agent`)")]
    NotValidNow {
        /// The certificate.
        cert: PathBuf,
        /// "expired" or "not valid yet", with dates when known.
        when: String,
    },
    /// Refused for another reason (not for client authentication, a bad extension...).
    #[error("the certificate {cert} would be refused by the collector: {reason}")]
    Refused {
        /// The certificate.
        cert: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

/// Checked credentials: the PEM bytes, ready for tonic, and the collector's verdict on them.
#[derive(Debug)]
pub struct ClientTls {
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    refusal: Option<TlsError>,
}

impl ClientTls {
    /// Reads `collector.ca`, `collector.cert` and `collector.key` and checks them as the
    /// collector will: every refusal names the file and what to do. Fails if they cannot make
    /// a TLS identity; a certificate the collector will refuse is in [`ClientTls::refusal`].
    pub fn load(collector: &CollectorSettings) -> Result<Self, TlsError> {
        let ca_pem = read("CA certificate (collector.ca)", &collector.ca)?;
        let cert_pem = read("certificate (collector.cert)", &collector.cert)?;
        let key_pem = read("private key (collector.key)", &collector.key)?;

        let roots = trust_anchors(&collector.ca, &ca_pem)?;
        let chain = certificates(collector, &cert_pem, &key_pem)?;
        let key = private_key(collector, &cert_pem, &key_pem)?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|error| {
            TlsError::BadKey {
                path: collector.key.clone(),
                reason: error.to_string(),
            }
        })?;
        match CertifiedKey::new(chain.clone(), signing).keys_match() {
            Ok(()) | Err(RustlsError::InconsistentKeys(InconsistentKeys::Unknown)) => {}
            Err(_) => {
                return Err(TlsError::KeyMismatch {
                    cert: collector.cert.clone(),
                    key: collector.key.clone(),
                });
            }
        }
        Ok(ClientTls {
            ca_pem,
            cert_pem,
            key_pem,
            refusal: verify_chain(collector, roots, &chain).err(),
        })
    }

    /// Why the collector will refuse this certificate (another CA, expired...), if it will.
    pub fn refusal(&self) -> Option<&TlsError> {
        self.refusal.as_ref()
    }

    /// Fails if the collector will refuse the certificate: for `hygie-agent validate`.
    pub fn require_accepted(mut self) -> Result<Self, TlsError> {
        match self.refusal.take() {
            Some(refusal) => Err(refusal),
            None => Ok(self),
        }
    }

    /// The CA that signs the collector's certificate, for tonic.
    pub fn ca_certificate(&self) -> Certificate {
        Certificate::from_pem(&self.ca_pem)
    }

    /// This agent's certificate and key, for tonic.
    pub fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            TlsError::NotEnrolled {
                what,
                path: path.to_owned(),
            }
        } else {
            TlsError::Read {
                what,
                path: path.to_owned(),
                source,
            }
        }
    })
}

/// What a PEM file holds, for messages: its block labels, or "no PEM block".
fn describe(pem: &[u8]) -> String {
    let labels: Vec<String> = String::from_utf8_lossy(pem)
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("-----BEGIN ")
                .and_then(|rest| rest.strip_suffix("-----"))
                .map(|label| format!("a {label} block"))
        })
        .collect();
    if labels.is_empty() {
        "it holds no PEM block".to_owned()
    } else {
        format!("it holds {}", labels.join(", "))
    }
}

fn trust_anchors(path: &Path, pem: &[u8]) -> Result<Arc<RootCertStore>, TlsError> {
    let not_pem = || TlsError::NotPem {
        what: "CA certificate (collector.ca)",
        path: path.to_owned(),
        kind: "certificate",
        label: "CERTIFICATE",
        detail: describe(pem),
    };
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| not_pem())?;
    if certificates.is_empty() {
        return Err(not_pem());
    }
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|error| TlsError::BadCa {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
    }
    Ok(Arc::new(roots))
}

fn certificates(
    collector: &CollectorSettings,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default();
    if !chain.is_empty() {
        return Ok(chain);
    }
    if PrivateKeyDer::from_pem_slice(cert_pem).is_ok()
        && CertificateDer::from_pem_slice(key_pem).is_ok()
    {
        return Err(TlsError::Swapped {
            cert: collector.cert.clone(),
            key: collector.key.clone(),
        });
    }
    Err(TlsError::NotPem {
        what: "certificate (collector.cert)",
        path: collector.cert.clone(),
        kind: "certificate",
        label: "CERTIFICATE",
        detail: describe(cert_pem),
    })
}

fn private_key(
    collector: &CollectorSettings,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
        if CertificateDer::from_pem_slice(key_pem).is_ok()
            && PrivateKeyDer::from_pem_slice(cert_pem).is_ok()
        {
            TlsError::Swapped {
                cert: collector.cert.clone(),
                key: collector.key.clone(),
            }
        } else {
            TlsError::NotPem {
                what: "private key (collector.key)",
                path: collector.key.clone(),
                kind: "private key",
                label: "PRIVATE KEY",
                detail: describe(key_pem),
            }
        }
    })
}

/// What the collector does with the certificate: the same verifier, built from the CA.
fn verify_chain(
    collector: &CollectorSettings,
    roots: Arc<RootCertStore>,
    chain: &[CertificateDer<'static>],
) -> Result<(), TlsError> {
    let cert = || collector.cert.clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
        .build()
        .map_err(|error| TlsError::BadCa {
            path: collector.ca.clone(),
            reason: error.to_string(),
        })?;
    let Some((end_entity, intermediates)) = chain.split_first() else {
        return Err(TlsError::NotPem {
            what: "certificate (collector.cert)",
            path: cert(),
            kind: "certificate",
            label: "CERTIFICATE",
            detail: "it holds no certificate".into(),
        });
    };
    let error = match verifier.verify_client_cert(end_entity, intermediates, UnixTime::now()) {
        Ok(_) => return Ok(()),
        Err(error) => error,
    };
    Err(match error {
        RustlsError::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => TlsError::NotIssuedByCa {
            cert: cert(),
            ca: collector.ca.clone(),
        },
        RustlsError::InvalidCertificate(
            ref reason @ (CertificateError::Expired | CertificateError::ExpiredContext { .. }),
        ) => TlsError::NotValidNow {
            cert: cert(),
            when: format!("expired ({reason})"),
        },
        RustlsError::InvalidCertificate(
            ref reason @ (CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. }),
        ) => TlsError::NotValidNow {
            cert: cert(),
            when: format!("not valid yet ({reason})"),
        },
        other => TlsError::Refused {
            cert: cert(),
            reason: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests;
