//! The agent identity behind a TLS connection, read from its verified client certificate.

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::identity::{AgentIdentity, InvalidIdentity};

/// Why a peer has no usable agent identity.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("no client certificate was presented")]
    NoCertificate,
    #[error("the client certificate cannot be parsed")]
    Unparsable,
    #[error("the client certificate has no {0} in its subject")]
    MissingField(&'static str),
    #[error(transparent)]
    Invalid(#[from] InvalidIdentity),
}

/// Reads the agent name (CN) and site (OU) from a DER certificate. The TLS layer has already
/// verified the chain; this only interprets the subject.
pub fn identity_from_certificate(der: &[u8]) -> Result<AgentIdentity, PeerError> {
    let (_, certificate) = X509Certificate::from_der(der).map_err(|_| PeerError::Unparsable)?;
    let subject = certificate.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|attribute| attribute.as_str().ok())
        .ok_or(PeerError::MissingField("common name (agent name)"))?;
    let site = subject
        .iter_organizational_unit()
        .next()
        .and_then(|attribute| attribute.as_str().ok())
        .ok_or(PeerError::MissingField("organizational unit (site)"))?;
    Ok(AgentIdentity::new(name, site)?)
}

/// The identity of the peer of a gRPC request, from the first (leaf) certificate of its chain.
pub fn identity_of<T>(request: &tonic::Request<T>) -> Result<AgentIdentity, PeerError> {
    let certificates = request.peer_certs().ok_or(PeerError::NoCertificate)?;
    let leaf = certificates.first().ok_or(PeerError::NoCertificate)?;
    identity_from_certificate(leaf)
}
