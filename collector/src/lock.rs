//! One writer per database: `serve` holds an exclusive lock on its data directory for as long
//! as it runs, so a second `serve` on the same directory refuses at once instead of ingesting
//! beside the first (two writers each keep their own outbox cursors in memory, and counted one
//! batch twice).
//!
//! Invariants:
//! 1. At most one [`DataDirLock`] exists per data directory, across processes and within one:
//!    it is an `flock` on `<data_dir>/collector.lock`, which belongs to the open file, so a
//!    second open in the same process conflicts as a second process does.
//! 2. The lock ends with its holder: dropping it, or the process dying in any way (SIGKILL
//!    included), releases it, since the kernel drops the lock with the last descriptor. The
//!    file itself stays (removing it would let a newcomer lock a fresh file while another
//!    still holds the old one).
//! 3. A refusal names the holder: the file holds the holder's PID and start time, written
//!    after the lock is taken, and the holder's command line is read from `/proc` when it is
//!    readable.
//!
//! Commands that write the database without serving (registry, approve, ca) do not take this
//! lock: SQLite serialises their short transactions with the server's. `restore`, which
//! replaces the database file itself, does.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "collector.lock";

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another collector is already using the data directory {dir}: {holder}. Stop it first, or give this one another data_dir (lock file {path})"
    )]
    Held {
        dir: PathBuf,
        path: PathBuf,
        holder: Holder,
    },
    #[error("cannot lock {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Who holds a lock, as far as can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its process id, once it has written it.
    pub pid: Option<u32>,
    /// When it took the lock (RFC 3339), as it wrote it.
    pub started: Option<String>,
    /// Its command line, from `/proc/PID/cmdline`, if readable.
    pub command_line: Option<String>,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "PID {pid}")?,
            // It took the lock an instant ago and has not written its PID yet.
            None => f.write_str("a process that has not yet recorded its PID")?,
        }
        if let Some(command_line) = &self.command_line {
            write!(f, " ({command_line})")?;
        }
        if let Some(started) = &self.started {
            write!(f, ", started {started}")?;
        }
        Ok(())
    }
}

/// The exclusive lock on a data directory, held until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    path: PathBuf,
    // Holding the open file holds the lock (Invariant 2).
    _file: File,
}

impl DataDirLock {
    /// Takes the lock on `dir` (which must exist), or says who holds it. Never waits.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io_error = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        // Not truncated on open: the holder's PID must survive a newcomer's attempt.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file);
                return Err(LockError::Held {
                    dir: dir.to_owned(),
                    path,
                    holder,
                });
            }
            Err(TryLockError::Error(source)) => return Err(io_error(source)),
        }
        let started = Timestamp::now();
        let record = format!("pid {}\nstarted {started}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(record.as_bytes()))
            .and_then(|()| file.sync_data())
            .map_err(io_error)?;
        tracing::debug!(lock = %path.display(), "data directory locked");
        Ok(DataDirLock { path, _file: file })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_holder(file: &mut File) -> Holder {
    let mut text = String::new();
    // Bounded: the file is ours, but anyone able to write the data directory could fill it.
    let _ = file.take(4096).read_to_string(&mut text);
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .map(|value| value.trim().to_owned())
    };
    let pid = field("pid").and_then(|pid| pid.parse::<u32>().ok());
    Holder {
        pid,
        started: field("started").map(|started| hygie_proto::terminal_safe(&started, 64)),
        command_line: pid.and_then(command_line),
    }
}

/// A process's command line, arguments separated by spaces, from `/proc`.
fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<String> = raw
        .split(|&byte| byte == 0)
        .filter(|word| !word.is_empty())
        .map(|word| String::from_utf8_lossy(word).into_owned())
        .collect();
    (!words.is_empty()).then(|| hygie_proto::terminal_safe(&words.join(" "), 400))
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;

    const CHILD_DIR: &str = "HYGIE_LOCK_TEST_DIR";

    fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn invariant_1_a_second_lock_in_the_same_process_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        assert_eq!(first.path(), dir.path().join(LOCK_FILE));
        let Err(LockError::Held { holder, .. }) = DataDirLock::acquire(dir.path()) else {
            panic!("a second lock was granted");
        };
        assert_eq!(holder.pid, Some(std::process::id()));
        assert!(holder.started.is_some());
        let exe = std::env::current_exe().unwrap();
        let exe_name = exe.file_name().unwrap().to_string_lossy().into_owned();
        let command_line = holder.command_line.clone().unwrap();
        assert!(command_line.contains(&exe_name), "{command_line}");
        // Invariant 2: released on drop.
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn the_refusal_says_what_to_do() {
        let error = LockError::Held {
            dir: "/var/lib/hygie".into(),
            path: "/var/lib/hygie/collector.lock".into(),
            holder: Holder {
                pid: Some(4242),
                started: Some("2026-11-25T08:00:00Z".into()),
                command_line: Some(
                    "hygie-collector --config /etc/hygie/collector.toml serve".into(),
                ),
            },
        };
        assert_eq!(
            error.to_string(),
            "another collector is already using the data directory /var/lib/hygie: PID 4242 \
             (hygie-collector --config /etc/hygie/collector.toml serve), started \
             2026-11-25T08:00:00Z. Stop it first, or give this one another data_dir (lock file \
             /var/lib/hygie/collector.lock)"
        );
    }

    /// Not a test on its own: the other process of the test below, started from this test
    /// binary with the directory in `HYGIE_LOCK_TEST_DIR`. It takes the lock, says so, and
    /// holds it until told to release or killed.
    #[test]
    fn lock_holder_child() {
        let Some(dir) = std::env::var_os(CHILD_DIR) else {
            return;
        };
        let dir = PathBuf::from(dir);
        let lock = DataDirLock::acquire(&dir).unwrap();
        std::fs::write(dir.join("ready"), "").unwrap();
        wait_for("release", || dir.join("release").exists());
        drop(lock);
    }

    fn spawn_holder(dir: &Path) -> std::process::Child {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "lock::tests::lock_holder_child", "--nocapture"])
            .env(CHILD_DIR, dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("the child to lock", || dir.join("ready").exists());
        child
    }

    #[test]
    fn invariants_1_to_3_across_two_processes() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = spawn_holder(dir.path());
        let Err(LockError::Held { holder, .. }) = DataDirLock::acquire(dir.path()) else {
            panic!("granted while another process holds it");
        };
        assert_eq!(holder.pid, Some(child.id()));
        assert!(
            holder
                .command_line
                .as_deref()
                .is_some_and(|line| line.contains("lock_holder_child")),
            "{holder:?}"
        );
        std::fs::write(dir.path().join("release"), "").unwrap();
        assert!(child.wait().unwrap().success());
        let mine = DataDirLock::acquire(dir.path()).unwrap();
        drop(mine);

        // A holder killed outright releases the lock too.
        std::fs::remove_file(dir.path().join("ready")).unwrap();
        std::fs::remove_file(dir.path().join("release")).unwrap();
        let mut child = spawn_holder(dir.path());
        assert!(DataDirLock::acquire(dir.path()).is_err());
        child.kill().unwrap();
        child.wait().unwrap();
        let after = DataDirLock::acquire(dir.path()).unwrap();
        let text = std::fs::read_to_string(after.path()).unwrap();
        assert!(
            text.starts_with(&format!("pid {}\n", std::process::id())),
            "{text}"
        );
    }
}
