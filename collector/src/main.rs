//! `hygie-collector`: the command line.

/// mimalloc rather than glibc's allocator: observations are decoded on the runtime's threads
/// and freed on the writer thread, and glibc's per-thread arenas then keep trimming and
/// regrowing the writer's heap. Measured with `tests/bench.sh ingest`: 11.6% of the writer's
/// time was the kernel zeroing re-faulted pages; with mimalloc ingest runs about 20% faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use hygie_collector::report;

fn main() -> ExitCode {
    // packaging/build-debs.sh: the man pages and completions of this very binary.
    if let Some(dir) = hygie_manuals::requested(std::env::args_os()) {
        return hygie_manuals::main(cli::Cli::command(), env!("CARGO_PKG_VERSION"), &dir);
    }
    let cli = cli::Cli::parse();
    hygie_daemon::init_logging(if cli.is_serve() { "info" } else { "warn" });
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Errors quote files and databases (a snapshot's fields, a CSV header): defuse.
            eprint!(
                "{}",
                report::safe_lines(&format!("hygie-collector: {error:#}"))
            );
            ExitCode::FAILURE
        }
    }
}
