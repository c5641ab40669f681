//! Operators' decisions about single devices (`hygie-collector policy allow|deny|clear`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use hygie_proto::MacAddr;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What an operator decided for one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Probe it even though its category is protected. Lifts only that protection: a
    /// registry entry, a site exclusion or a denial still protects it.
    Allow,
    /// Never probe it, at any site.
    Deny,
}

impl Decision {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored decision that is neither `allow` nor `deny`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a decision (allow, deny)")]
pub struct UnknownDecision(pub String);

impl FromStr for Decision {
    type Err = UnknownDecision;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "allow" => Ok(Decision::Allow),
            "deny" => Ok(Decision::Deny),
            other => Err(UnknownDecision(other.to_owned())),
        }
    }
}

/// One operator decision, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Override {
    /// The device.
    pub mac: MacAddr,
    /// Allow or deny.
    pub decision: Decision,
    /// Why, in the operator's words.
    pub reason: String,
    /// Who decided (the OS user who ran the command).
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// Every decision, as the writer holds them.
#[derive(Debug, Clone, Default)]
pub struct OverrideSnapshot {
    /// Decisions by MAC.
    pub entries: HashMap<MacAddr, Override>,
    /// Changes whenever a decision does, so the running collector knows to reload them.
    pub generation: i64,
}
