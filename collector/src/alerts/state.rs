//! Each sink's state file, `<state_dir>/<sink>.json`: its cursor and counters, written whole or
//! not at all ([`crate::files::write_atomic`], mode 0600) after deliveries and at shutdown.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::core::Progress;
use crate::files::{self, FileError};

/// What a sink has done, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkState {
    /// The sink's name.
    pub sink: String,
    /// Cursor and counters.
    #[serde(flatten)]
    pub progress: Progress,
    /// When this was written.
    pub updated_at: Timestamp,
    /// The last delivery, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<Timestamp>,
    /// The last failure since then, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A state file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the alert state {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the alert state {path} is not valid ({source}); move it away to start this sink again at the head of the event log"
    )]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Write(#[from] FileError),
}

/// The state file of `sink`.
pub fn path(dir: &Path, sink: &str) -> PathBuf {
    dir.join(format!("{sink}.json"))
}

/// The state of `sink`, if it ever ran.
pub fn load(dir: &Path, sink: &str) -> Result<Option<SinkState>, StateError> {
    let path = path(dir, sink);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Read { path, source }),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StateError::Corrupt { path, source })
}

/// Writes the state of its sink.
pub fn save(dir: &Path, state: &SinkState) -> Result<(), StateError> {
    files::create_private_dir(dir)?;
    // Plain data always serializes.
    let bytes = serde_json::to_vec_pretty(state).unwrap_or_default();
    files::write_atomic(&path(dir, &state.sink), files::SECRET, &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("alerts");
        assert_eq!(load(&state_dir, "siem").unwrap(), None);
        let state = SinkState {
            sink: "siem".into(),
            progress: Progress {
                cursor: 42,
                delivered: 40,
                suppressed: 1,
                dropped: 0,
                refused: 1,
            },
            updated_at: Timestamp::UNIX_EPOCH,
            last_delivery: None,
            last_error: Some("connection refused".into()),
        };
        save(&state_dir, &state).unwrap();
        assert_eq!(load(&state_dir, "siem").unwrap(), Some(state));
        std::fs::write(path(&state_dir, "siem"), "{").unwrap();
        let error = load(&state_dir, "siem").unwrap_err();
        assert!(error.to_string().contains("move it away"), "{error}");
    }
}
