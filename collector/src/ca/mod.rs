//! A small certificate authority for the collector and its agents (rcgen).
//!
//! Hospital IT should get working mutual TLS without PKI skills: `ca init` creates a CA and the
//! collector's server certificate; `ca issue-agent` creates one client certificate per agent,
//! with the agent name as its common name (CN) and the site as its organizational unit (OU).
//! Keys are ECDSA P-256 and written with mode 0600, certificates 0644, in a 0700 directory
//! (see [`crate::files`]). The CA key never leaves the collector host.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};

use crate::files;
use crate::identity::AgentIdentity;

pub mod record;

pub use record::{
    CertificateError, CertificateFacts, CertificateKind, CertificateRecord, CertificateStatus,
    RevokedSerials, normal_serial, parse_serial, serial_of_der,
};

/// Failures of certificate tooling, with the file or name involved.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} already exists; refusing to overwrite a CA (every agent certificate would stop working). Use --force to replace it"
    )]
    AlreadyExists { path: PathBuf },
    #[error("{path} is not a usable {what}")]
    Parse {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot create the {what}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("invalid name {name:?} for the server certificate")]
    ServerName {
        name: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("a server certificate needs at least one --dns name or --ip address")]
    NoServerNames,
    #[error("validity period out of range")]
    Validity,
    #[error(transparent)]
    File(#[from] files::FileError),
    #[error("the certificate just issued cannot be read back")]
    Certificate(#[from] CertificateError),
}

/// The files of a collector's PKI directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiPaths {
    /// CA certificate (PEM), given to every agent.
    pub ca_cert: PathBuf,
    /// CA private key (PEM), secret.
    pub ca_key: PathBuf,
    /// Collector server certificate (PEM).
    pub server_cert: PathBuf,
    /// Collector server key (PEM), secret.
    pub server_key: PathBuf,
}

impl PkiPaths {
    /// The standard layout inside `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        PkiPaths {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        }
    }
}

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
}

impl Validity {
    /// From `now` (minus an hour, to tolerate clock skew between hosts) for `days` days.
    pub fn days_from(now: Timestamp, days: u32) -> Self {
        let hour = SignedDuration::from_hours(1);
        let span = SignedDuration::from_hours(24 * i64::from(days));
        Validity {
            not_before: now.saturating_sub(hour).unwrap_or(now),
            not_after: now.saturating_add(span).unwrap_or(now),
        }
    }
}

/// A certificate and its private key, both PEM, with what the issuance log records of it.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (secret).
    pub key_pem: String,
    /// Serial, names, validity and fingerprint, read back from the certificate itself.
    pub facts: CertificateFacts,
}

/// A CA able to issue agent and server certificates.
#[derive(Debug)]
pub struct CertificateAuthority {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl CertificateAuthority {
    /// Creates a new self-signed CA.
    pub fn create(common_name: &str, validity: Validity) -> Result<Self, CaError> {
        let key = generate_key("CA key")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Hygie");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params, validity)?;
        params.serial_number = Some(random_serial());
        let certificate = params
            .self_signed(&key)
            .map_err(|source| CaError::Generate {
                what: "CA certificate",
                source,
            })?;
        Ok(CertificateAuthority {
            cert_pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA from its certificate and key files.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, CaError> {
        let cert_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|source| CaError::Parse {
            path: key_path.to_owned(),
            what: "private key",
            source,
        })?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|source| CaError::Parse {
            path: cert_path.to_owned(),
            what: "CA certificate",
            source,
        })?;
        Ok(CertificateAuthority { cert_pem, issuer })
    }

    /// Writes the CA certificate and key, refusing to replace an existing CA unless `force`.
    pub fn save(&self, paths: &PkiPaths, force: bool) -> Result<(), CaError> {
        if !force && paths.ca_key.exists() {
            return Err(CaError::AlreadyExists {
                path: paths.ca_key.clone(),
            });
        }
        write_public(&paths.ca_cert, &self.cert_pem)?;
        write_secret(&paths.ca_key, &self.issuer.key().serialize_pem())
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a client certificate for an agent: CN = name, OU = site, EKU clientAuth.
    pub fn issue_agent(
        &self,
        identity: &AgentIdentity,
        validity: Validity,
    ) -> Result<IssuedCertificate, CaError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, identity.name());
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, identity.site());
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Hygie agents");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(params, validity, CertificateKind::Agent)
    }

    /// Issues the collector's server certificate for the given names and addresses.
    pub fn issue_server(
        &self,
        dns_names: &[String],
        ips: &[IpAddr],
        validity: Validity,
    ) -> Result<IssuedCertificate, CaError> {
        if dns_names.is_empty() && ips.is_empty() {
            return Err(CaError::NoServerNames);
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let common_name = dns_names
            .first()
            .cloned()
            .or_else(|| ips.first().map(ToString::to_string))
            .unwrap_or_default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Hygie collector");
        for name in dns_names {
            let dns = name
                .clone()
                .try_into()
                .map_err(|source| CaError::ServerName {
                    name: name.clone(),
                    source,
                })?;
            params.subject_alt_names.push(SanType::DnsName(dns));
        }
        params
            .subject_alt_names
            .extend(ips.iter().copied().map(SanType::IpAddress));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(params, validity, CertificateKind::Server)
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        validity: Validity,
        kind: CertificateKind,
    ) -> Result<IssuedCertificate, CaError> {
        let what = match kind {
            CertificateKind::Agent => "agent certificate",
            CertificateKind::Server => "server certificate",
        };
        set_validity(&mut params, validity)?;
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let key = generate_key(what)?;
        let certificate = params
            .signed_by(&key, &self.issuer)
            .map_err(|source| CaError::Generate { what, source })?;
        Ok(IssuedCertificate {
            cert_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
            facts: CertificateFacts::from_der(kind, certificate.der())?,
        })
    }
}

impl IssuedCertificate {
    /// Writes the certificate (0644) and key (0600).
    pub fn save(&self, cert_path: &Path, key_path: &Path) -> Result<(), CaError> {
        write_public(cert_path, &self.cert_pem)?;
        write_secret(key_path, &self.key_pem)
    }
}

/// Creates a CA and the collector's server certificate in `paths` (`ca init`), refusing to
/// replace an existing CA unless `force`; returns the server certificate, for the issuance
/// log.
pub fn init(
    paths: &PkiPaths,
    dns_names: &[String],
    ips: &[IpAddr],
    force: bool,
    now: Timestamp,
    ca_days: u32,
    server_days: u32,
) -> Result<IssuedCertificate, CaError> {
    let ca = CertificateAuthority::create("Hygie collector CA", Validity::days_from(now, ca_days))?;
    ca.save(paths, force)?;
    let server = ca.issue_server(dns_names, ips, Validity::days_from(now, server_days))?;
    server.save(&paths.server_cert, &paths.server_key)?;
    Ok(server)
}

fn generate_key(what: &'static str) -> Result<KeyPair, CaError> {
    KeyPair::generate().map_err(|source| CaError::Generate { what, source })
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and without a leading zero byte, as DER integers prefer.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

fn set_validity(params: &mut CertificateParams, validity: Validity) -> Result<(), CaError> {
    let convert = |timestamp: Timestamp| {
        time::OffsetDateTime::from_unix_timestamp(timestamp.as_second())
            .map_err(|_| CaError::Validity)
    };
    params.not_before = convert(validity.not_before)?;
    params.not_after = convert(validity.not_after)?;
    Ok(())
}

fn read(path: &Path) -> Result<String, CaError> {
    fs::read_to_string(path).map_err(|source| CaError::Read {
        path: path.to_owned(),
        source,
    })
}

fn write_public(path: &Path, contents: &str) -> Result<(), CaError> {
    files::create_private_parent(path)?;
    Ok(files::write_atomic(
        path,
        files::PUBLIC,
        contents.as_bytes(),
    )?)
}

/// Writes a private key readable by its owner only (0600 whatever the umask), whole or not at
/// all; it is never briefly readable by others.
pub fn write_secret(path: &Path, contents: &str) -> Result<(), CaError> {
    files::create_private_parent(path)?;
    Ok(files::write_atomic(
        path,
        files::SECRET,
        contents.as_bytes(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::peer::identity_from_certificate;

    fn now() -> Timestamp {
        "2026-11-25T10:00:00Z".parse().unwrap()
    }

    fn der(pem: &str) -> Vec<u8> {
        x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .unwrap()
            .1
            .contents
    }

    #[test]
    fn agent_certificate_carries_name_and_site() {
        let ca = CertificateAuthority::create("Test CA", Validity::days_from(now(), 10)).unwrap();
        let identity = AgentIdentity::new("ward-3", "chu-nord").unwrap();
        let issued = ca
            .issue_agent(&identity, Validity::days_from(now(), 1))
            .unwrap();
        assert_eq!(
            identity_from_certificate(&der(&issued.cert_pem)).unwrap(),
            identity
        );
    }

    #[test]
    fn saved_ca_loads_back_and_keys_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let paths = PkiPaths::in_dir(dir.path());
        let ca = CertificateAuthority::create("Test CA", Validity::days_from(now(), 10)).unwrap();
        ca.save(&paths, false).unwrap();
        let mode = fs::metadata(&paths.ca_key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        assert!(matches!(
            ca.save(&paths, false),
            Err(CaError::AlreadyExists { .. })
        ));
        let loaded = CertificateAuthority::load(&paths.ca_cert, &paths.ca_key).unwrap();
        let server = loaded
            .issue_server(
                &["localhost".into()],
                &["127.0.0.1".parse().unwrap()],
                Validity::days_from(now(), 1),
            )
            .unwrap();
        assert!(server.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn server_certificate_needs_a_name() {
        let ca = CertificateAuthority::create("Test CA", Validity::days_from(now(), 10)).unwrap();
        assert!(matches!(
            ca.issue_server(&[], &[], Validity::days_from(now(), 1)),
            Err(CaError::NoServerNames)
        ));
    }

    #[test]
    fn keys_are_0600_certificates_0644_and_the_pki_directory_0700_whatever_the_umask() {
        use crate::files::{PRIVATE_DIR, PUBLIC, SECRET, mode, tests::with_umask};
        with_umask(0o000, || {
            let dir = tempfile::tempdir().unwrap();
            let pki = dir.path().join("data").join("pki");
            let paths = PkiPaths::in_dir(&pki);
            let ca =
                CertificateAuthority::create("Test CA", Validity::days_from(now(), 10)).unwrap();
            ca.save(&paths, false).unwrap();
            ca.issue_server(&["localhost".into()], &[], Validity::days_from(now(), 1))
                .unwrap()
                .save(&paths.server_cert, &paths.server_key)
                .unwrap();
            let signing = pki.join("signing.key");
            crate::export::signing::ensure_key(&signing).unwrap();
            assert_eq!(mode(&pki).unwrap(), PRIVATE_DIR);
            for secret in [&paths.ca_key, &paths.server_key, &signing] {
                assert_eq!(mode(secret).unwrap(), SECRET, "{}", secret.display());
            }
            for public in [&paths.ca_cert, &paths.server_cert, &pki.join("signing.pub")] {
                assert_eq!(mode(public).unwrap(), PUBLIC, "{}", public.display());
            }
        });
    }

    #[test]
    fn issued_certificates_carry_the_facts_the_log_records() {
        let ca = CertificateAuthority::create("Test CA", Validity::days_from(now(), 10)).unwrap();
        let identity = AgentIdentity::new("ward-3", "chu-nord").unwrap();
        let validity = Validity::days_from(now(), 1);
        let issued = ca.issue_agent(&identity, validity).unwrap();
        let facts = &issued.facts;
        assert_eq!(facts.kind, CertificateKind::Agent);
        assert_eq!(
            (facts.name.as_str(), facts.site.as_deref()),
            ("ward-3", Some("chu-nord"))
        );
        assert_eq!(
            (facts.not_before, facts.not_after),
            (validity.not_before, validity.not_after)
        );
        let der = der(&issued.cert_pem);
        assert_eq!(serial_of_der(&der).unwrap(), facts.serial);
        assert!(!facts.serial.starts_with('0'), "{}", facts.serial);
        assert_eq!(
            parse_serial(&facts.serial.to_uppercase()),
            Some(facts.serial.clone())
        );
        use sha2::Digest as _;
        assert_eq!(facts.fingerprint, hex::encode(sha2::Sha256::digest(&der)));
        let server = ca
            .issue_server(&["collector.local".into()], &[], validity)
            .unwrap();
        assert_eq!(server.facts.kind, CertificateKind::Server);
        assert_eq!(server.facts.name, "collector.local");
        assert_eq!(server.facts.site, None);
        assert_ne!(server.facts.serial, facts.serial);
    }
}
