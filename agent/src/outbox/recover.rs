//! Setting an unusable outbox file aside (Invariant 10): renamed, never deleted, so what it
//! held stays on disk for whoever wants to look.

use std::path::{Path, PathBuf};

use super::error::OutboxError;
use super::space::sibling;

/// Renames `path` to `<path>.corrupt-<UTC timestamp>`, and its `-wal` and `-shm` beside it
/// (`<path>.corrupt-<timestamp>-wal`, so SQLite still pairs them). Returns the new name.
pub(super) fn set_aside_file(path: &Path) -> Result<PathBuf, OutboxError> {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let mut target = sibling(path, &format!(".corrupt-{stamp}"));
    let mut n = 1;
    while target.exists() {
        target = sibling(path, &format!(".corrupt-{stamp}-{n}"));
        n += 1;
    }
    // The WAL first: a database renamed without it would lose committed pages if reopened.
    for suffix in ["-wal", "-shm"] {
        let from = sibling(path, suffix);
        if from.exists() {
            rename(&from, &sibling(&target, suffix))?;
        }
    }
    rename(path, &target)?;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        // Make the renames durable before a new file takes the name.
        let _ = std::fs::File::open(dir).and_then(|dir| dir.sync_all());
    }
    Ok(target)
}

fn rename(from: &Path, to: &Path) -> Result<(), OutboxError> {
    std::fs::rename(from, to).map_err(|source| OutboxError::File {
        what: "cannot set aside the unusable outbox file",
        path: from.to_owned(),
        source,
    })
}
