//! The clinical scan policy as the agent holds it: received from the collector, kept on disk
//! across restarts, and read by the probe loops before every probe.
//!
//! The collector sends the whole policy of the agent's site on connect and whenever it changes
//! (see `ScanPolicy` in the contract). The uplink saves it (atomically, mode 0600: it lists a
//! facility's medical devices) *before* publishing it, so a restart never forgets a protection
//! that was applied. Discovery reads the latest through a watch channel: a change applies
//! before the next probe, not the next sweep.
//!
//! Until any policy is known (first start, no collector yet), active discovery waits up to
//! `discovery.policy_wait`: the first sweep of a new agent should already spare the devices the
//! collector knows to be fragile.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hygie_proto::ScanPolicy;
use tokio::sync::watch;

use crate::files::{self, WriteError};

/// The policy file beside the outbox: `<outbox>.scan-policy.json`.
pub fn policy_path(outbox: &Path) -> PathBuf {
    files::beside(outbox, "scan-policy.json")
}

/// Loads a saved policy; a missing file is `None`, an unreadable one is logged and `None` (the
/// collector sends the policy again on the next connection).
pub fn load(path: &Path) -> Option<ScanPolicy> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the saved scan policy");
            return None;
        }
    };
    match serde_json::from_str::<ScanPolicy>(&text) {
        Ok(policy) if policy.check().is_ok() => Some(policy),
        Ok(_) | Err(_) => {
            tracing::warn!(path = %path.display(), "the saved scan policy is not valid; waiting for the collector's");
            None
        }
    }
}

/// The policy in force and who waits for it.
#[derive(Debug, Clone)]
pub struct PolicyBoard {
    path: PathBuf,
    sender: Arc<watch::Sender<Option<Arc<ScanPolicy>>>>,
}

impl PolicyBoard {
    /// The board of an agent whose outbox is at `outbox`, starting from the saved policy.
    pub fn open(outbox: &Path) -> Self {
        let path = policy_path(outbox);
        let saved = load(&path);
        if let Some(policy) = &saved {
            tracing::info!(
                version = policy.version,
                protected = policy.devices.len(),
                networks = policy.networks.len(),
                passive_only = policy.passive_only,
                "scan policy loaded from disk"
            );
        }
        PolicyBoard {
            path,
            sender: Arc::new(watch::Sender::new(saved.map(Arc::new))),
        }
    }

    /// A board with no file, for scans and tests: `initial` applies until replaced.
    pub fn in_memory(initial: Option<ScanPolicy>) -> Self {
        PolicyBoard {
            path: PathBuf::new(),
            sender: Arc::new(watch::Sender::new(initial.map(Arc::new))),
        }
    }

    /// The version in force (0: none yet).
    pub fn version(&self) -> u64 {
        self.sender
            .borrow()
            .as_ref()
            .map_or(0, |policy| policy.version)
    }

    /// Saves and publishes a policy from the collector. Not publishing one that could not be
    /// saved would leave a protection unapplied; publishing it unsaved only risks forgetting it
    /// at a restart, until the collector sends it again: so it is published either way.
    pub fn apply(&self, policy: ScanPolicy) -> Result<(), WriteError> {
        let unchanged = self
            .sender
            .borrow()
            .as_ref()
            .is_some_and(|current| **current == policy);
        if unchanged {
            return Ok(());
        }
        let saved = if self.path.as_os_str().is_empty() {
            Ok(())
        } else {
            match serde_json::to_vec(&policy) {
                Ok(json) => files::write_private(&self.path, &json),
                Err(error) => {
                    tracing::error!(%error, "cannot encode the scan policy; it applies until the agent restarts");
                    Ok(())
                }
            }
        };
        tracing::info!(
            version = policy.version,
            protected = policy.devices.len(),
            networks = policy.networks.len(),
            passive_only = policy.passive_only,
            "scan policy applied"
        );
        self.sender.send_replace(Some(Arc::new(policy)));
        saved
    }

    /// A receiver for the probe loops.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<ScanPolicy>>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use hygie_proto::{MacAddr, ProtectedDevice, ProtectionReason};

    use super::*;

    fn policy(version: u64) -> ScanPolicy {
        ScanPolicy {
            version,
            devices: vec![ProtectedDevice {
                mac: MacAddr::new([0x00, 0x09, 0x5c, 1, 2, 3]),
                addresses: vec!["198.18.0.20".parse().unwrap()],
                reason: ProtectionReason::Biomedical,
            }],
            networks: Vec::new(),
            passive_only: false,
        }
    }

    #[test]
    fn an_applied_policy_survives_a_restart_in_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox.sqlite");
        let board = PolicyBoard::open(&outbox);
        assert_eq!(board.version(), 0);
        let mut receiver = board.subscribe();
        board.apply(policy(4)).unwrap();
        assert!(receiver.has_changed().unwrap());
        assert_eq!(receiver.borrow_and_update().as_ref().unwrap().version, 4);

        let again = PolicyBoard::open(&outbox);
        assert_eq!(again.version(), 4);
        let mode = std::fs::metadata(policy_path(&outbox))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_corrupt_policy_file_is_ignored_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox.sqlite");
        std::fs::write(policy_path(&outbox), b"{not json").unwrap();
        assert_eq!(PolicyBoard::open(&outbox).version(), 0);
    }
}
