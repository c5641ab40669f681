//! Shared by the command line's tests: a configuration in a temporary directory, and the
//! umask held for tests that change it.

use std::path::Path;

use hygie_collector::config::CollectorConfig;

/// A configuration with everything (database, PKI, signing key) under `dir`.
pub(crate) fn config_in(dir: &Path) -> CollectorConfig {
    CollectorConfig::from_toml(
        &format!("data_dir = \"{}\"", dir.join("data").display()),
        Path::new("/"),
    )
    .unwrap()
}

/// Runs `test` with the process umask set to `mask`, one such test at a time (the umask is
/// process-wide and tests run on threads).
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

/// The mode bits of a file.
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}
