//! Small files the agent keeps beside its outbox (the scan policy, the uplink's status),
//! written whole or not at all, and private: they describe a facility's network.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}")]
pub struct WriteError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// `<outbox>.<suffix>`: where a file that belongs with the outbox lives.
pub fn beside(outbox: &Path, suffix: &str) -> PathBuf {
    let mut name = outbox.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes `bytes` to `path` atomically: a private (0600, whatever the umask) temporary file in
/// the same directory, synced, then renamed over `path`, and the directory synced.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let error = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".hygie-")
        .tempfile_in(dir)
        .map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.as_file().sync_all().map_err(error)?;
    file.persist(path).map_err(|persist| error(persist.error))?;
    if let Ok(dir) = std::fs::File::open(dir) {
        // The rename is durable once the directory is.
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn files_are_private_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = beside(&dir.path().join("outbox.sqlite"), "status.json");
        assert!(path.ends_with("outbox.sqlite.status.json"));
        write_private(&path, b"one").unwrap();
        write_private(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }
}
