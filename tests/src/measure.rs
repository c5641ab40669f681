//! Wall time and peak memory of one command, run under a time limit and an address-space cap.
//!
//! A process's own `getrusage(RUSAGE_CHILDREN)` reports the largest peak RSS among the
//! children it has waited for, so to get one command's peak alone the benchmark runs each
//! command under a fresh wrapper: the benchmark's own executable, called with [`WRAPPER_ARG`]
//! first. The wrapper caps its address space with `setrlimit(RLIMIT_AS)` (inherited by the
//! command it spawns: no code between fork and exec, so no unsafe), spawns the command, kills
//! it with SIGKILL if it outlives the time limit, waits for it, and writes one line to a
//! report file: the wall time, the command's peak RSS and how it ended.
//!
//! The wall time runs from just before the spawn to the return of `wait`: process start-up is
//! included, as a person at a shell would feel it.
//!
//! A command that hits the cap fails an allocation: Rust aborts with "memory allocation of N
//! bytes failed", SQLite says "out of memory". [`Measured::outcome`] calls both
//! [`Outcome::OutOfMemory`], so a caller reports it instead of failing.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, UsageWho, getrusage, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The first argument that makes a benchmark binary act as the measuring wrapper: its `main`
/// hands the rest of its arguments to [`wrapper_main`].
pub const WRAPPER_ARG: &str = "__measure";

/// Limits each measured command runs under.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Killed (SIGKILL) after this long.
    pub timeout: Duration,
    /// Address-space cap (`RLIMIT_AS`), in bytes.
    pub address_space: u64,
}

/// How a measured command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exit status 0.
    Succeeded,
    /// It ran out of memory under the cap.
    OutOfMemory,
    /// Killed at the time limit.
    TimedOut,
    /// Another non-zero exit status.
    Failed(i32),
    /// Killed by a signal it was not sent by the wrapper (SIGKILL: perhaps the kernel's OOM
    /// killer).
    Signalled(i32),
}

/// One command's figures.
#[derive(Debug, Clone)]
pub struct Measured {
    /// From spawn to the return of `wait`.
    pub wall: Duration,
    /// The command's peak resident memory, in KiB.
    pub peak_rss_kib: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The end of its standard error, for a report of a failure.
    pub stderr_tail: String,
}

/// Failures of the measurement itself (not of the command measured).
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the measuring wrapper failed ({status}); its report: {report:?}; stderr: {stderr}")]
    Wrapper {
        status: ExitStatus,
        report: String,
        stderr: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MeasureError {
    let what = what.into();
    move |source| MeasureError::Io { what, source }
}

/// Runs `program args` under `caps`, its standard output to `stdout` (a file, or
/// `/dev/null`), its standard error and the wrapper's report in files named after `label` in
/// `work`.
pub fn measure(
    label: &str,
    program: &Path,
    args: &[OsString],
    stdout: &Path,
    caps: Caps,
    work: &Path,
) -> Result<Measured, MeasureError> {
    let report = work.join(format!("{label}.measure"));
    let stderr_path = work.join(format!("{label}.stderr"));
    let wrapper = std::env::current_exe().map_err(io("finding the benchmark's executable"))?;
    let stdout_file = File::create(stdout).map_err(io(format!("opening {}", stdout.display())))?;
    let stderr_file =
        File::create(&stderr_path).map_err(io(format!("creating {}", stderr_path.display())))?;
    let status = Command::new(wrapper)
        .arg(WRAPPER_ARG)
        .arg(caps.timeout.as_millis().to_string())
        .arg(caps.address_space.to_string())
        .arg(&report)
        .arg("--")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout_file)
        .stderr(stderr_file)
        .status()
        .map_err(io("starting the measuring wrapper"))?;
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let stderr_tail = tail(&stderr, 600);
    let line = std::fs::read_to_string(&report).unwrap_or_default();
    let wrapper_error = || MeasureError::Wrapper {
        status,
        report: line.clone(),
        stderr: stderr_tail.clone(),
    };
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [wall_ns, rss, kind, value] = fields[..] else {
        return Err(wrapper_error());
    };
    let number = |text: &str| text.parse::<i64>().map_err(|_| wrapper_error());
    let value = i32::try_from(number(value)?).map_err(|_| wrapper_error())?;
    let out_of_memory = stderr.contains("memory allocation of")
        || stderr.contains("out of memory")
        || stderr.contains("Cannot allocate memory");
    let outcome = match kind {
        "timeout" => Outcome::TimedOut,
        "exit" if value == 0 => Outcome::Succeeded,
        _ if out_of_memory => Outcome::OutOfMemory,
        "exit" => Outcome::Failed(value),
        "signal" => Outcome::Signalled(value),
        _ => return Err(wrapper_error()),
    };
    Ok(Measured {
        wall: Duration::from_nanos(number(wall_ns)?.unsigned_abs()),
        peak_rss_kib: number(rss)?.unsigned_abs(),
        outcome,
        stderr_tail,
    })
}

fn tail(text: &str, bytes: usize) -> String {
    let mut start = text.len().saturating_sub(bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].trim().to_owned()
}

/// The wrapper: `TIMEOUT_MS ADDRESS_SPACE_BYTES REPORT -- PROGRAM ARGS...`. Writes
/// `WALL_NS PEAK_RSS_KIB exit|signal|timeout VALUE` to REPORT.
pub fn wrapper_main(args: &[OsString]) -> ExitCode {
    match wrap(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("measure: {message}");
            ExitCode::from(2)
        }
    }
}

fn wrap(args: &[OsString]) -> Result<(), String> {
    let [timeout_ms, cap, report, separator, program, rest @ ..] = args else {
        return Err("usage: TIMEOUT_MS ADDRESS_SPACE_BYTES REPORT -- PROGRAM ARGS...".into());
    };
    if separator != "--" {
        return Err("expected -- before the program".into());
    }
    let number = |text: &OsString| {
        text.to_str()
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or_else(|| format!("not a number: {text:?}"))
    };
    let timeout = Duration::from_millis(number(timeout_ms)?);
    let cap = number(cap)?;
    setrlimit(Resource::RLIMIT_AS, cap, cap)
        .map_err(|error| format!("setrlimit(RLIMIT_AS, {cap}): {error}"))?;

    let started = Instant::now();
    let mut child = Command::new(program)
        .args(rest)
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", PathBuf::from(program).display()))?;
    let pid = i32::try_from(child.id()).map_err(|_| "pid out of range".to_owned())?;
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        // Nothing received within the time limit: the command is still running.
        let timed_out = matches!(
            finished.recv_timeout(timeout),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if timed_out {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        timed_out
    });
    let status = child.wait().map_err(|error| format!("wait: {error}"))?;
    let wall = started.elapsed();
    let _ = done.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    let usage =
        getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|error| format!("getrusage: {error}"))?;

    use std::os::unix::process::ExitStatusExt as _;
    let (kind, value) = match (timed_out, status.code(), status.signal()) {
        (true, _, _) => ("timeout", 0),
        (false, Some(code), _) => ("exit", code),
        (false, None, Some(signal)) => ("signal", signal),
        (false, None, None) => ("exit", -1),
    };
    std::fs::write(
        Path::new(report),
        format!("{} {} {kind} {value}\n", wall.as_nanos(), usage.max_rss()),
    )
    .map_err(|error| format!("writing the report: {error}"))
}
