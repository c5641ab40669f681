//! The outbox's room on disk: how `max_size` is shared between the files (Invariant 8), the
//! reserve that keeps sending and acknowledging possible on a full filesystem (Invariant 9),
//! and private file modes (Invariant 6).

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// SQLite's shared-memory index: one 32 KiB region covers 4,096 WAL frames, more than the WAL
/// allowance ever holds, so the file stays at one region.
pub(super) const SHM_BYTES: u64 = 32 * 1024;
/// The WAL header; each frame adds 24 bytes to its page.
const WAL_HEADER: u64 = 32;
const FRAME_HEADER: u64 = 24;
/// Pages left free under the data budget for the small tables (`batches`, `meta`) that grow
/// outside appends.
pub(super) const DATA_MARGIN_PAGES: u64 = 8;
/// The data budget never falls below this, so a tiny `max_size` (tests) still holds a schema.
const MIN_DATA_PAGES: u64 = 32;

/// How `max_size` is shared between the outbox's files (Invariant 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Budget {
    /// The configured bound on the files, in bytes.
    pub(super) max_bytes: u64,
    /// SQLite's page size.
    pub(super) page_size: u64,
    /// The WAL's allowance: `journal_size_limit`, and a checkpoint once the WAL passes it.
    pub(super) wal_bytes: u64,
    /// The reserve file's size.
    pub(super) reserve_bytes: u64,
    /// Pages the database file may span (`page_count`): what is left of `max_size`.
    pub(super) data_pages: u64,
}

impl Budget {
    /// The WAL gets a sixteenth of the bound (128 KiB to 4 MiB), the reserve a thirty-second
    /// (128 KiB to 1 MiB), the shm index 32 KiB, and the database the rest.
    pub(super) fn new(max_bytes: u64, page_size: u64) -> Self {
        let frame = page_size + FRAME_HEADER;
        let frames = (max_bytes / 16).clamp(128 * 1024, 4 * 1024 * 1024) / frame;
        let wal_bytes = WAL_HEADER + frames * frame;
        let reserve_bytes = (max_bytes / 32).clamp(128 * 1024, 1024 * 1024);
        let data = max_bytes.saturating_sub(wal_bytes + SHM_BYTES + reserve_bytes);
        Budget {
            max_bytes,
            page_size,
            wal_bytes,
            reserve_bytes,
            data_pages: (data / page_size).max(MIN_DATA_PAGES),
        }
    }
}

/// The sizes of the outbox's files, for the bound and for `hygie-agent outbox`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileSizes {
    /// The database file.
    pub database: u64,
    /// Its write-ahead log (`-wal`).
    pub wal: u64,
    /// Its shared-memory index (`-shm`).
    pub shm: u64,
    /// The reserve file (`.reserve`).
    pub reserve: u64,
}

impl FileSizes {
    /// Measures the files of the outbox at `path`; a missing file counts 0.
    pub fn of(path: &Path) -> Self {
        let size = |suffix: &str| {
            std::fs::metadata(sibling(path, suffix)).map_or(0, |metadata| metadata.len())
        };
        FileSizes {
            database: size(""),
            wal: size("-wal"),
            shm: size("-shm"),
            reserve: size(".reserve"),
        }
    }

    /// All four together: what `max_size` bounds.
    pub fn total(&self) -> u64 {
        self.database + self.wal + self.shm + self.reserve
    }
}

/// `<outbox><suffix>`, e.g. the `-wal` beside the database.
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A filesystem, named for an operator: the outbox's directory, the device and where it is
/// mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The outbox's directory.
    pub dir: PathBuf,
    /// `major:minor` of the device.
    pub device: String,
    /// Its mount point, when `/proc/self/mountinfo` tells.
    pub mount: Option<PathBuf>,
}

impl fmt::Display for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, device {}", self.dir.display(), self.device)?;
        if let Some(mount) = &self.mount {
            write!(f, " mounted on {}", mount.display())?;
        }
        Ok(())
    }
}

impl Disk {
    /// The filesystem holding `dir`.
    pub(super) fn of(dir: &Path) -> Self {
        let device = std::fs::metadata(dir).ok().map(|metadata| {
            let dev = metadata.dev();
            (nix::sys::stat::major(dev), nix::sys::stat::minor(dev))
        });
        Disk {
            dir: dir.to_owned(),
            device: device.map_or_else(
                || "?".to_owned(),
                |(major, minor)| format!("{major}:{minor}"),
            ),
            mount: device.and_then(|device| mount_point(dir, device)),
        }
    }
}

/// The longest mount point of `device` that contains `dir`.
fn mount_point(dir: &Path, (major, minor): (u64, u64)) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let wanted = format!("{major}:{minor}");
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let device = fields.nth(2)?;
            let point = PathBuf::from(fields.nth(1)?.replace("\\040", " "));
            (device == wanted && dir.starts_with(&point)).then_some(point)
        })
        .max_by_key(|point| point.as_os_str().len())
}

/// Bytes an unprivileged writer may still use on the filesystem holding `dir`.
pub(super) fn free_bytes(dir: &Path) -> Option<u64> {
    let stats = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(
        stats
            .blocks_available()
            .saturating_mul(stats.fragment_size()),
    )
}

/// Whether SQLite failed for lack of space: `SQLITE_FULL`, or an I/O error (the shm index
/// cannot grow, a write or sync failed) while the filesystem is nearly full.
pub(super) fn is_disk_full(error: &rusqlite::Error, dir: &Path) -> bool {
    let Some(error) = error.sqlite_error() else {
        return false;
    };
    match error.code {
        ErrorCode::DiskFull => true,
        ErrorCode::SystemIoFailure => {
            matches!(
                error.extended_code,
                rusqlite::ffi::SQLITE_IOERR_WRITE
                    | rusqlite::ffi::SQLITE_IOERR_FSYNC
                    | rusqlite::ffi::SQLITE_IOERR_TRUNCATE
                    | rusqlite::ffi::SQLITE_IOERR_SHMSIZE
            ) && free_bytes(dir).is_some_and(|free| free < 1024 * 1024)
        }
        _ => false,
    }
}

/// The reserve (Invariant 9): a file of real, allocated bytes beside the outbox. When the
/// filesystem fills, it is deleted so the writes that drain the outbox (forming batches,
/// acknowledgements, setting aside) find room; it is written again once the filesystem has
/// room for it twice over.
#[derive(Debug)]
pub(super) struct Reserve {
    path: PathBuf,
    bytes: u64,
    held: bool,
}

impl Reserve {
    /// The reserve of the outbox at `path`; held if its file is already there at full size.
    pub(super) fn new(path: &Path, bytes: u64) -> Self {
        let path = sibling(path, ".reserve");
        let held = std::fs::metadata(&path).is_ok_and(|metadata| metadata.len() == bytes);
        Reserve { path, bytes, held }
    }

    /// Whether the file is in place.
    pub(super) fn held(&self) -> bool {
        self.held
    }

    /// Its size.
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Writes the file if it is not held and the filesystem has room for it twice over (never
    /// fill a disk to make a reserve). Returns whether it is held.
    pub(super) fn ensure(&mut self, dir: &Path) -> std::io::Result<bool> {
        if self.held {
            return Ok(true);
        }
        if free_bytes(dir).is_none_or(|free| free < 2 * self.bytes) {
            return Ok(false);
        }
        match self.write() {
            Ok(()) => {
                self.held = true;
                Ok(true)
            }
            Err(error) => {
                let _ = std::fs::remove_file(&self.path);
                if error.kind() == std::io::ErrorKind::StorageFull {
                    Ok(false)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// Random bytes, not zeros: a compressing or deduplicating filesystem must allocate them.
    fn write(&self) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&self.path)?;
        restrict(&self.path)?;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut left = self.bytes;
        while left > 0 {
            rand::fill(chunk.as_mut_slice());
            let take = usize::try_from(left).map_or(chunk.len(), |left| left.min(chunk.len()));
            file.write_all(&chunk[..take])?;
            left -= take as u64;
        }
        file.sync_all()
    }

    /// Deletes the file, giving its bytes back to the filesystem.
    pub(super) fn release(&mut self) -> std::io::Result<()> {
        self.held = false;
        match std::fs::remove_file(&self.path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

/// Creates `dir` and its missing parents with mode 0700 whatever the umask: they hold a
/// facility's device map. Existing directories are left as they are.
pub(super) fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut next = Some(dir);
    while let Some(path) = next {
        if path.as_os_str().is_empty() || path.exists() {
            break;
        }
        missing.push(path);
        next = path.parent();
    }
    for path in missing.into_iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(path) {
            Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => return Err(error),
            _ => {}
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Sets a file's mode to 0600 if it exists (the umask may have widened it, or an older agent).
pub(super) fn restrict(path: &Path) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.permissions().mode() & 0o777 != 0o600 => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        }
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Creates an empty file with mode 0600 unless it exists: SQLite gives the `-wal` and `-shm`
/// it creates the database file's mode, so all three stay private.
pub(super) fn create_private_file(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => Err(error),
        _ => restrict(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_shares_max_size_between_the_files() {
        for max in [1 << 20, 16 << 20, 256 << 20, 4 << 30] {
            let budget = Budget::new(max, 4096);
            let total =
                budget.wal_bytes + SHM_BYTES + budget.reserve_bytes + budget.data_pages * 4096;
            assert!(total <= max, "{budget:?}");
            assert!(
                max - total < 4096,
                "nothing but a page's rounding is lost: {budget:?}"
            );
        }
        let small = Budget::new(1 << 20, 4096);
        assert_eq!(
            (small.wal_bytes, small.reserve_bytes),
            (32 + 31 * 4120, 128 * 1024)
        );
    }
}
