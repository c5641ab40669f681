//! What the collector knows of the certificates it issued: facts read from each certificate
//! itself, the issuance log's records, and the set of revoked serials the server checks on
//! every handshake.
//!
//! **Serial normal form**: the serial's big-endian bytes as lower-case hex, without colons and
//! without leading zeros (`0` for a zero serial). A DER INTEGER may carry a leading `00` byte
//! to stay positive, and people copy serials as `3A:0F:…` from `openssl x509 -text`; all of
//! those spellings name one certificate, so they are compared in this form only. The log
//! stores it; [`serial_of_der`] computes it from a presented certificate; [`parse_serial`]
//! reads what an operator typed.

use std::collections::HashSet;
use std::fmt;

use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("not a PEM certificate")]
    Pem,
    #[error("not a readable X.509 certificate")]
    Der,
    #[error("the certificate has no {0} in its subject")]
    MissingField(&'static str),
    #[error("the certificate's validity is out of range")]
    Validity,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateKind {
    /// An agent's client certificate (CN = name, OU = site).
    Agent,
    /// The collector's server certificate.
    Server,
}

impl CertificateKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateKind::Agent => "agent",
            CertificateKind::Server => "server",
        }
    }

    /// From the stored name.
    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "agent" => Some(CertificateKind::Agent),
            "server" => Some(CertificateKind::Server),
            _ => None,
        }
    }
}

impl fmt::Display for CertificateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The serial in normal form (see the module docs) from its big-endian bytes.
pub fn normal_serial(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// The serial, in normal form, of a DER certificate: what the server calls on each handshake
/// with the client's leaf certificate before looking it up in [`RevokedSerials`].
pub fn serial_of_der(der: &[u8]) -> Result<String, CertificateError> {
    let (_, certificate) = X509Certificate::from_der(der).map_err(|_| CertificateError::Der)?;
    Ok(normal_serial(certificate.tbs_certificate.raw_serial()))
}

/// An operator's spelling of a serial (hex, any case, with or without colons or leading
/// zeros) in normal form; `None` if it is not hex.
pub fn parse_serial(text: &str) -> Option<String> {
    let digits: String = text.trim().chars().filter(|&c| c != ':').collect();
    if digits.is_empty() || digits.len() > 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let lower = digits.to_ascii_lowercase();
    let trimmed = lower.trim_start_matches('0');
    Some(if trimmed.is_empty() { "0" } else { trimmed }.to_owned())
}

/// What a certificate says about itself, as the issuance log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateFacts {
    /// Serial, normal form.
    pub serial: String,
    /// Agent or server.
    pub kind: CertificateKind,
    /// Subject common name: the agent's name, or the collector's first name.
    pub name: String,
    /// Subject organizational unit: the agent's site (none for a server certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub fingerprint: String,
}

impl CertificateFacts {
    /// Reads a PEM certificate.
    pub fn from_pem(kind: CertificateKind, pem: &str) -> Result<Self, CertificateError> {
        let (_, block) =
            x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|_| CertificateError::Pem)?;
        Self::from_der(kind, &block.contents)
    }

    /// Reads a DER certificate.
    pub fn from_der(kind: CertificateKind, der: &[u8]) -> Result<Self, CertificateError> {
        let (_, certificate) = X509Certificate::from_der(der).map_err(|_| CertificateError::Der)?;
        let subject = certificate.subject();
        let name = subject
            .iter_common_name()
            .next()
            .and_then(|attribute| attribute.as_str().ok())
            .ok_or(CertificateError::MissingField("common name"))?
            .to_owned();
        let site = subject
            .iter_organizational_unit()
            .next()
            .and_then(|attribute| attribute.as_str().ok())
            .map(str::to_owned);
        if kind == CertificateKind::Agent && site.is_none() {
            return Err(CertificateError::MissingField("organizational unit (site)"));
        }
        let time =
            |seconds: i64| Timestamp::from_second(seconds).map_err(|_| CertificateError::Validity);
        let validity = certificate.validity();
        Ok(CertificateFacts {
            serial: normal_serial(certificate.tbs_certificate.raw_serial()),
            kind,
            name,
            site,
            not_before: time(validity.not_before.timestamp())?,
            not_after: time(validity.not_after.timestamp())?,
            fingerprint: hex::encode(Sha256::digest(der)),
        })
    }
}

/// Whether a logged certificate may still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    /// Within its validity and not revoked.
    Valid,
    /// Past its end of validity (and not revoked).
    Expired,
    /// Revoked.
    Revoked,
}

impl CertificateStatus {
    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Valid => "valid",
            CertificateStatus::Expired => "expired",
            CertificateStatus::Revoked => "revoked",
        }
    }
}

/// One row of the issuance log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateRecord {
    /// What the certificate says.
    #[serde(flatten)]
    pub facts: CertificateFacts,
    /// When the collector issued it.
    pub issued_at: Timestamp,
    /// When it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_reason: Option<String>,
}

impl CertificateRecord {
    /// Its status at `now`: revoked wins over expired.
    pub fn status(&self, now: Timestamp) -> CertificateStatus {
        if self.revoked_at.is_some() {
            CertificateStatus::Revoked
        } else if self.facts.not_after < now {
            CertificateStatus::Expired
        } else {
            CertificateStatus::Valid
        }
    }
}

/// The revoked serials, in normal form, and the generation they were read at.
///
/// For the server: poll [`crate::store::SqliteStore::revocation_generation`] (one indexed
/// read) every second or two, reload with
/// [`crate::store::SqliteStore::revoked_serials`] when it differs from
/// [`RevokedSerials::generation`], and refuse a handshake whose leaf certificate's
/// [`serial_of_der`] is [`RevokedSerials::contains`]-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokedSerials {
    /// Changes whenever a certificate is revoked (never goes back).
    pub generation: i64,
    serials: HashSet<String>,
}

impl RevokedSerials {
    /// A set read at `generation`.
    pub fn new(generation: i64, serials: HashSet<String>) -> Self {
        RevokedSerials {
            generation,
            serials,
        }
    }

    /// Whether `serial` (normal form) is revoked.
    pub fn contains(&self, serial: &str) -> bool {
        self.serials.contains(serial)
    }

    /// How many serials are revoked.
    pub fn len(&self) -> usize {
        self.serials.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.serials.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_have_one_normal_form() {
        assert_eq!(normal_serial(&[0x00, 0x8f, 0x0a]), "8f0a");
        assert_eq!(normal_serial(&[0x01, 0x02]), "102");
        assert_eq!(normal_serial(&[0, 0]), "0");
        assert_eq!(parse_serial("00:8F:0A").as_deref(), Some("8f0a"));
        assert_eq!(parse_serial(" 8f0a ").as_deref(), Some("8f0a"));
        assert_eq!(parse_serial("0102").as_deref(), Some("102"));
        assert_eq!(parse_serial("000").as_deref(), Some("0"));
        assert_eq!(parse_serial("8g"), None);
        assert_eq!(parse_serial(""), None);
        assert_eq!(parse_serial(&"a".repeat(65)), None);
    }
}
