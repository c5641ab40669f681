//! Files the collector writes: modes that do not depend on the umask, and whole-or-nothing
//! writes.
//!
//! Invariants:
//! 1. A directory of secrets (the data directory, `pki/`, an agent's `--out` directory) is
//!    created 0700; a private key, the inventory database (and SQLite's `-wal`/`-shm` beside
//!    it) and a backup are 0600; a certificate or public key is 0644. The mode is set
//!    explicitly after creation, so a umask of 000 (or 077) changes nothing.
//! 2. A file written here is either the old file or the whole new one, never a part: the bytes
//!    go to a temporary file in the same directory (created 0600, so a secret is never briefly
//!    readable), which is flushed to disk and renamed over the target; the directory is then
//!    synced so the rename itself survives a power cut. On any error the temporary file is
//!    removed and the target is untouched.

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of a directory holding secrets.
pub const PRIVATE_DIR: u32 = 0o700;
/// Mode of a private key, the database and a backup.
pub const SECRET: u32 = 0o600;
/// Mode of a certificate or a public key.
pub const PUBLIC: u32 = 0o644;

/// A file or directory that could not be written, with its path.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot create the directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn write_error(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
    move |source| FileError::Write {
        path: path.to_owned(),
        source,
    }
}

/// Creates `dir` (and missing parents) with mode 0700 (Invariant 1). An existing directory is
/// left as it is, with a warning if others can enter it: it may be shared on purpose, and
/// tightening a directory the operator chose (`/srv`) behind their back would be worse.
pub fn create_private_dir(dir: &Path) -> Result<(), FileError> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    let create_error = |source| FileError::CreateDir {
        path: dir.to_owned(),
        source,
    };
    match fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    mode = format_args!("{mode:o}"),
                    "directory of secrets is open to other users; chmod 700 it"
                );
            }
            return Ok(());
        }
        _ => {}
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)
        .map_err(create_error)?;
    // The umask may have removed bits of the mode asked for: set it outright.
    fs::set_permissions(dir, Permissions::from_mode(PRIVATE_DIR)).map_err(create_error)
}

/// Creates the parent directory of `path` if missing, 0700.
pub fn create_private_parent(path: &Path) -> Result<(), FileError> {
    match path.parent() {
        Some(parent) => create_private_dir(parent),
        None => Ok(()),
    }
}

/// Writes `bytes` to `path` whole or not at all (Invariant 2), with `mode`.
pub fn write_atomic(path: &Path, mode: u32, bytes: &[u8]) -> Result<(), FileError> {
    write_atomic_with(path, mode, |file| file.write_all(bytes))
}

/// Like [`write_atomic`], with the content produced by `write`: if it fails midway, nothing
/// is left behind and `path` keeps its old content.
pub fn write_atomic_with(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), FileError> {
    stage_with(path, mode, write)?.commit()
}

/// A file written in full under a temporary name beside its target: [`Staged::commit`] puts it
/// in place; dropping it removes it. Lets a command write several files, record them, and
/// only then make them appear.
#[derive(Debug)]
pub struct Staged {
    temporary: tempfile::NamedTempFile,
    path: PathBuf,
}

/// Stages `bytes` for `path` with `mode` (the directory must exist).
pub fn stage(path: &Path, mode: u32, bytes: &[u8]) -> Result<Staged, FileError> {
    stage_with(path, mode, |file| file.write_all(bytes))
}

/// Stages for `path` with `mode` the content `write` produces.
pub fn stage_with(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<Staged, FileError> {
    let mut temporary = tempfile::Builder::new()
        .prefix(".hygie-")
        .suffix(".partial")
        .tempfile_in(dir_of(path))
        .map_err(write_error(path))?;
    write(temporary.as_file_mut()).map_err(write_error(path))?;
    let file = temporary.as_file();
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(write_error(path))?;
    file.sync_all().map_err(write_error(path))?;
    Ok(Staged {
        temporary,
        path: path.to_owned(),
    })
}

impl Staged {
    /// Renames the file over its target and syncs the directory.
    pub fn commit(self) -> Result<(), FileError> {
        let path = self.path;
        self.temporary
            .persist(&path)
            .map_err(|error| write_error(&path)(error.error))?;
        sync_dir(dir_of(&path)).map_err(write_error(&path))
    }
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Flushes a directory's entries (a rename or a new file in it) to disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Sets `path`'s mode to `mode` if it exists; true if it does.
pub fn restrict(path: &Path, mode: u32) -> io::Result<bool> {
    match fs::set_permissions(path, Permissions::from_mode(mode)) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

/// The mode bits of `path` (for checks and tests).
pub fn mode(path: &Path) -> io::Result<u32> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o7777)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Runs `test` with the process umask set to `mask`. The umask is process-wide and tests
    /// run on threads: tests that change it take this lock, so one never restores the mask
    /// while another still relies on it.
    pub(crate) fn with_umask<T>(mask: u32, test: impl FnOnce() -> T) -> T {
        use nix::sys::stat::{Mode, umask};
        static UMASK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = UMASK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let previous = umask(Mode::from_bits_truncate(mask));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(test));
        umask(previous);
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn invariant_1_modes_do_not_depend_on_the_umask() {
        for mask in [0o000, 0o077, 0o022] {
            with_umask(mask, || {
                let dir = tempfile::tempdir().unwrap();
                let private = dir.path().join("data").join("pki");
                create_private_dir(&private).unwrap();
                assert_eq!(mode(&private).unwrap(), PRIVATE_DIR, "umask {mask:o}");
                let secret = private.join("ca.key");
                write_atomic(&secret, SECRET, b"key").unwrap();
                assert_eq!(mode(&secret).unwrap(), SECRET, "umask {mask:o}");
                let public = private.join("ca.pem");
                write_atomic(&public, PUBLIC, b"cert").unwrap();
                assert_eq!(mode(&public).unwrap(), PUBLIC, "umask {mask:o}");
            });
        }
    }

    #[test]
    fn invariant_2_a_failed_write_leaves_the_old_file_and_no_partial_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.json");
        write_atomic(&path, PUBLIC, b"old").unwrap();
        let failed = write_atomic_with(&path, PUBLIC, |file| {
            file.write_all(b"half of the new")?;
            Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
        });
        assert!(matches!(failed, Err(FileError::Write { .. })), "{failed:?}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(dir.path()), ["snapshot.json"]);

        // Nothing at all when there was no old file.
        let new = dir.path().join("new.csv");
        assert!(write_atomic_with(&new, PUBLIC, |_| Err(io::Error::other("midway"))).is_err());
        assert_eq!(entries(dir.path()), ["snapshot.json"]);

        write_atomic(&path, PUBLIC, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(entries(dir.path()), ["snapshot.json"]);
    }

    #[test]
    fn a_write_into_a_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone").join("file");
        assert!(matches!(
            write_atomic(&path, SECRET, b"x"),
            Err(FileError::Write { .. })
        ));
        assert_eq!(entries(dir.path()), Vec::<String>::new());
    }
}
