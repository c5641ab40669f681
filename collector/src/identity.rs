//! Who an agent is: its name and site, as written in its client certificate.
//!
//! The certificate subject carries the agent name as its common name (CN) and the site as its
//! organizational unit (OU). Nothing an agent sends on the stream can change who it is.

use std::fmt;

/// An agent's name and site, both validated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentIdentity {
    name: String,
    site: String,
}

/// A name or site that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not allowed: use 1 to 64 letters, digits, '.', '_' or '-'")]
pub struct InvalidIdentity {
    what: &'static str,
    value: String,
}

impl AgentIdentity {
    /// Longest name or site.
    pub const MAX_LEN: usize = 64;

    /// Validates and builds an identity.
    pub fn new(name: &str, site: &str) -> Result<Self, InvalidIdentity> {
        Ok(AgentIdentity {
            name: check_label("agent name", name)?,
            site: check_label("site", site)?,
        })
    }

    /// The agent's name, unique within its site.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The site (facility) the agent belongs to.
    pub fn site(&self) -> &str {
        &self.site
    }
}

impl fmt::Display for AgentIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.site, self.name)
    }
}

/// Names travel in certificates, logs, file names and reports: keep them plain.
pub(crate) fn check_label(what: &'static str, value: &str) -> Result<String, InvalidIdentity> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if value.is_empty() || value.len() > AgentIdentity::MAX_LEN || !value.chars().all(plain) {
        return Err(InvalidIdentity {
            what,
            value: value.chars().take(80).collect(),
        });
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        let identity = AgentIdentity::new("ward-3.agent_1", "chu-nord").unwrap();
        assert_eq!(identity.to_string(), "chu-nord/ward-3.agent_1");
    }

    #[test]
    fn refuses_anything_else() {
        for (name, site) in [
            ("", "site"),
            ("agent", ""),
            ("agent one", "site"),
            ("agent/../x", "site"),
            ("agent", "site\n"),
            ("ågent", "site"),
        ] {
            assert!(AgentIdentity::new(name, site).is_err(), "{name:?} {site:?}");
        }
        assert!(AgentIdentity::new(&"a".repeat(65), "site").is_err());
    }
}
