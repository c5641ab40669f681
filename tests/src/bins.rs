//! Where the workspace's binaries are.
//!
//! Tests and the demo run the real `hygie-collector` and `hygie-agent` executables. Cargo builds
//! them with `cargo build --workspace --bins` (the test script does); they sit next to the
//! running executable's profile directory, or in `HYGIE_BIN_DIR` if set.

use std::path::PathBuf;

/// A workspace binary that has not been built.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} not found: build the binaries first (`cargo build --workspace --bins`, which tests/run.sh does), or set HYGIE_BIN_DIR"
)]
pub struct MissingBinary {
    path: PathBuf,
}

/// The path of a built workspace binary such as `hygie-collector`.
pub fn binary(name: &str) -> Result<PathBuf, MissingBinary> {
    let dir = match std::env::var_os("HYGIE_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().unwrap_or_default();
            let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
            // Test executables live in target/<profile>/deps/.
            if dir.ends_with("deps") {
                dir.pop();
            }
            dir
        }
    };
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(MissingBinary { path })
    }
}
