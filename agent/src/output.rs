//! Standard output of the command line (a module of the binary, not of the library).
//!
//! Every subcommand prints through here, never with `println!`: `println!` panics when the
//! reader has gone (`hygie-agent outbox | head`) or the disk is full. A reader that closed its
//! end ends the command quietly and successfully ([`OutputError::Closed`], see
//! [`OutputError::is_closed`]); any other write error is reported as the command's error.

use std::io::{BufWriter, StdoutLock, Write};

/// Standard output could not take what was printed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OutputError {
    /// The reader closed its end (`| head`): nothing more is wanted.
    #[error("standard output was closed by its reader")]
    Closed,
    /// Any other failure (a full disk, a revoked terminal).
    #[error("cannot write to standard output")]
    Write(#[source] std::io::Error),
}

impl OutputError {
    fn from_io(error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            OutputError::Closed
        } else {
            OutputError::Write(error)
        }
    }

    /// True if `error` (anywhere in its chain) is a closed standard output: the command stops
    /// there and exits with success, printing nothing more.
    pub(crate) fn is_closed(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut current = Some(error);
        while let Some(error) = current {
            if matches!(error.downcast_ref(), Some(OutputError::Closed)) {
                return true;
            }
            current = error.source();
        }
        false
    }
}

/// Writes `text` to standard output and flushes it.
pub(crate) fn print(text: &str) -> Result<(), OutputError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(OutputError::from_io)
}

/// Standard output written piece by piece from a callback that cannot fail (a replay's
/// observations): the first error is kept, and nothing more is written after it.
pub(crate) struct Stream {
    out: BufWriter<StdoutLock<'static>>,
    failed: Option<std::io::Error>,
}

impl Stream {
    /// Locks standard output for the stream's lifetime.
    pub(crate) fn new() -> Self {
        Stream {
            out: BufWriter::new(std::io::stdout().lock()),
            failed: None,
        }
    }

    /// Runs `write` on the output, unless an earlier write failed.
    pub(crate) fn write(&mut self, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
        if self.failed.is_none()
            && let Err(error) = write(&mut self.out)
        {
            self.failed = Some(error);
        }
    }

    /// Flushes, and returns the first error, if any.
    pub(crate) fn finish(mut self) -> Result<(), OutputError> {
        let flushed = self.out.flush();
        match self.failed.take() {
            Some(error) => Err(OutputError::from_io(error)),
            None => flushed.map_err(OutputError::from_io),
        }
    }
}

/// Writes to standard error, for progress and summaries beside the output. A closed or
/// failing standard error (`2>&1 | head`) is ignored: it must not stop the command, nor panic
/// as `eprint!` would. [`note!`] is its `eprintln!`.
pub(crate) fn to_stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// Like `eprintln!`, through [`to_stderr`].
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::to_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use note;
