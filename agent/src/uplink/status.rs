//! What the uplink is doing, for people: kept in `<outbox>.uplink.json`, shown by
//! `hygie-agent outbox`, rewritten when the state changes (not on every Ack).

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::files;

/// The uplink's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UplinkState {
    /// Connecting, or between sessions after a success.
    Connecting,
    /// A session is open and batches flow.
    Connected,
    /// The collector is unreachable or failing; retrying with backoff.
    Retrying,
    /// A certificate or identity was refused (by either side); retrying slowly until it is
    /// fixed. Nothing is sent to a server that fails verification.
    Refused,
}

/// The status file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UplinkStatus {
    /// The state.
    pub state: UplinkState,
    /// Since when.
    pub since: Timestamp,
    /// Why, when retrying or refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// When the next attempt is due, when waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<Timestamp>,
    /// The collector's version, once connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collector_version: Option<String>,
    /// The scan policy version in force (0: none yet), kept current as policies are applied.
    pub policy_version: u64,
}

/// Writes the status beside the outbox.
#[derive(Debug, Clone)]
pub struct StatusFile {
    path: PathBuf,
    last: Option<UplinkStatus>,
}

/// `<outbox>.uplink.json`.
pub fn status_path(outbox: &Path) -> PathBuf {
    files::beside(outbox, "uplink.json")
}

/// Reads the status an agent left, if any.
pub fn read_status(outbox: &Path) -> Option<UplinkStatus> {
    let text = std::fs::read_to_string(status_path(outbox)).ok()?;
    serde_json::from_str(&text).ok()
}

impl StatusFile {
    /// The status file of the outbox at `outbox`.
    pub fn new(outbox: &Path) -> Self {
        StatusFile {
            path: status_path(outbox),
            last: None,
        }
    }

    /// A status file that writes nothing (scans and tests).
    pub fn none() -> Self {
        StatusFile {
            path: PathBuf::new(),
            last: None,
        }
    }

    /// Records `status` if it differs from the last one in more than its times.
    pub fn record(&mut self, status: UplinkStatus) {
        let same = self.last.as_ref().is_some_and(|last| {
            last.state == status.state
                && last.reason == status.reason
                && last.failures == status.failures
                && last.policy_version == status.policy_version
                && last.collector_version == status.collector_version
        });
        if same || self.path.as_os_str().is_empty() {
            return;
        }
        match serde_json::to_vec_pretty(&status) {
            Ok(json) => {
                // The status is for people: failing to write it (a full disk) changes nothing
                // else, and says so once per state.
                if let Err(error) = files::write_private(&self.path, &json) {
                    tracing::warn!(error = %hygie_proto::error_chain(&error), "cannot record the uplink status");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot encode the uplink status"),
        }
        self.last = Some(status);
    }

    /// Records that the scan policy in force is now `version`; the state and its times stay.
    pub fn policy_applied(&mut self, version: u64) {
        if let Some(last) = &self.last
            && last.policy_version != version
        {
            let status = UplinkStatus {
                policy_version: version,
                ..last.clone()
            };
            self.record(status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: UplinkState, failures: u32) -> UplinkStatus {
        UplinkStatus {
            state,
            since: Timestamp::from_second(1_795_000_000).unwrap(),
            reason: Some("the collector's certificate is not trusted".into()),
            failures,
            next_attempt: None,
            collector_version: None,
            policy_version: 0,
        }
    }

    #[test]
    fn a_policy_applied_while_connected_is_recorded_without_changing_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox.sqlite");
        let mut file = StatusFile::new(&outbox);
        file.record(status(UplinkState::Connected, 0));
        file.policy_applied(2);
        let read = read_status(&outbox).unwrap();
        assert_eq!(read.policy_version, 2);
        assert_eq!(
            read,
            UplinkStatus {
                policy_version: 2,
                ..status(UplinkState::Connected, 0)
            }
        );
    }

    #[test]
    fn the_status_is_kept_beside_the_outbox_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox.sqlite");
        let mut file = StatusFile::new(&outbox);
        file.record(status(UplinkState::Refused, 3));
        assert_eq!(read_status(&outbox), Some(status(UplinkState::Refused, 3)));
        file.record(status(UplinkState::Connected, 0));
        assert_eq!(read_status(&outbox).unwrap().state, UplinkState::Connected);
    }
}
