//! A PKI made by the test itself, through the collector's own CA code.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use hygie_collector::ca::{CaError, CertificateAuthority, PkiPaths, Validity};
use hygie_collector::identity::AgentIdentity;
use jiff::Timestamp;

/// Certificate files for one agent.
#[derive(Debug, Clone)]
pub struct AgentCerts {
    /// The CA the agent trusts for the collector.
    pub ca: PathBuf,
    /// The agent's certificate.
    pub cert: PathBuf,
    /// The agent's key.
    pub key: PathBuf,
}

/// A CA, a server certificate for 127.0.0.1 and localhost, and agent certificates on demand.
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
    ca: CertificateAuthority,
    /// The collector's PKI files.
    pub paths: PkiPaths,
}

impl TestPki {
    /// Creates the CA and server certificate under `dir`.
    pub fn create(dir: &Path) -> Result<Self, CaError> {
        let now = Timestamp::now();
        let paths = PkiPaths::in_dir(dir);
        let ca = CertificateAuthority::create("Test CA", Validity::days_from(now, 30))?;
        ca.save(&paths, true)?;
        ca.issue_server(
            &["localhost".to_owned()],
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            Validity::days_from(now, 30),
        )?
        .save(&paths.server_cert, &paths.server_key)?;
        Ok(TestPki {
            dir: dir.to_owned(),
            ca,
            paths,
        })
    }

    /// Issues a valid certificate for `name` at `site`.
    pub fn agent(&self, name: &str, site: &str) -> Result<AgentCerts, CaError> {
        self.agent_valid(name, site, Validity::days_from(Timestamp::now(), 30))
    }

    /// Issues a certificate for `name` at `site` with the given validity (e.g. already expired).
    pub fn agent_valid(
        &self,
        name: &str,
        site: &str,
        validity: Validity,
    ) -> Result<AgentCerts, CaError> {
        let identity = AgentIdentity::new(name, site).map_err(|error| CaError::Write {
            path: self.dir.clone(),
            source: std::io::Error::other(error),
        })?;
        let issued = self.ca.issue_agent(&identity, validity)?;
        let cert = self.dir.join(format!("{site}-{name}.pem"));
        let key = self.dir.join(format!("{site}-{name}.key"));
        issued.save(&cert, &key)?;
        Ok(AgentCerts {
            ca: self.paths.ca_cert.clone(),
            cert,
            key,
        })
    }
}
