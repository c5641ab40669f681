//! A small tmpfs for full-disk tests: mounted on a temporary directory, unmounted when
//! dropped (also while a test panics). Needs root; [`Tmpfs::mount`] skips otherwise, unless
//! `HYGIE_REQUIRE_NETNS` is set (as tests/run.sh does as root), which makes it fail.

use std::io::Write;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// A mounted tmpfs.
#[derive(Debug)]
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` on a new temporary directory; `None` (skip) when not root.
    pub fn mount(test: &str, bytes: u64) -> Option<Tmpfs> {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var_os("HYGIE_REQUIRE_NETNS").is_none(),
                "{test} needs root (to mount a tmpfs)"
            );
            eprintln!("SKIPPED {test}: needs root (to mount a tmpfs)");
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let options = format!("size={bytes},mode=0700");
        mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(options.as_str()),
        )
        .unwrap_or_else(|error| panic!("mounting a tmpfs on {}: {error}", dir.path().display()));
        Some(Tmpfs { dir })
    }

    /// Its mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `filler` until the filesystem refuses, to the last byte; returns the bytes
    /// written.
    pub fn fill(&self) -> std::io::Result<u64> {
        let mut file = std::fs::File::create(self.path().join("filler"))?;
        let chunk = vec![0x5a; 64 * 1024];
        let mut written = 0;
        for size in [chunk.len(), 4096, 1] {
            loop {
                match file.write(&chunk[..size]) {
                    Ok(0) => break,
                    Ok(n) => written += n as u64,
                    Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(written)
    }

    /// Bytes still available on it.
    pub fn free(&self) -> u64 {
        nix::sys::statvfs::statvfs(self.path())
            .map_or(0, |stats| stats.blocks_available() * stats.fragment_size())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process still holding a file there (a killed agent's last moments) must not
        // leave the mount behind.
        let _ = umount2(self.dir.path(), MntFlags::MNT_DETACH);
    }
}
