//! A JSON-lines file of observations: for imports, tests and replaying what another tool found.
//!
//! One observation per line, in the form `hygie-agent replay --format json` prints:
//!
//! ```json
//! {"mac":"00:09:5c:11:22:01","ips":["198.18.0.11"],"hostname":"mon-icu-01","source":"manual"}
//! ```
//!
//! `seen_at` is optional (the time the line is read) and so is `source` (`manual`). Blank lines
//! and lines starting with `#` are ignored. A line that does not parse or fails the contract's
//! checks is skipped with a warning naming its line number; the rest of the file still counts.
//!
//! The read position is saved in the outbox together with the observations read up to it, so
//! an agent restart resumes where it stopped, neither losing nor repeating a line. When
//! following, a file that shrinks or is replaced (rotation) is read again from its start.
//!
//! A file that does not exist yet, disappears or cannot be read never stops the agent, nor the
//! other sources: the source warns once and looks for it every `poll_interval` until it can
//! read it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hygie_proto::{Detail, InvalidMessage, MacAddr, MdnsService, Observation, Source};
use jiff::Timestamp;
use serde::Deserialize;
use std::os::unix::fs::MetadataExt;

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::SourceEvent;
use crate::config::FileSourceSettings;
use crate::outbox::SourcePosition;

/// Longest line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Why one line was skipped.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("not a JSON observation: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Invalid(#[from] InvalidMessage),
    #[error("longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    mac: MacAddr,
    #[serde(default)]
    ips: Vec<IpAddr>,
    seen_at: Option<Timestamp>,
    #[serde(default = "manual")]
    source: Source,
    #[serde(default)]
    interface: String,
    hostname: Option<String>,
    #[serde(default)]
    services: Vec<MdnsService>,
    detail: Option<Detail>,
}

fn manual() -> Source {
    Source::Manual
}

/// Parses one line; `Ok(None)` for blank and comment lines. `now` stamps lines without `seen_at`.
pub fn parse_line(bytes: &[u8], now: Timestamp) -> Result<Option<Observation>, LineError> {
    let text = bytes.trim_ascii();
    if text.is_empty() || text.starts_with(b"#") {
        return Ok(None);
    }
    let line: Line = serde_json::from_slice(text)?;
    let mut observation = Observation {
        mac: line.mac,
        ips: line.ips,
        seen_at: line.seen_at.unwrap_or(now),
        source: line.source,
        interface: line.interface,
        hostname: line.hostname,
        services: line.services,
        detail: line.detail,
    };
    observation.normalise();
    observation.check()?;
    Ok(Some(observation))
}

/// Counts of one pass over a file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FileReport {
    /// Observations handed to the outbox.
    pub observations: u64,
    /// Lines skipped as invalid.
    pub skipped: u64,
}

/// Reads a JSON-lines file and sends its observations on.
#[derive(Debug)]
pub struct FileSource {
    settings: FileSourceSettings,
    key: String,
}

impl FileSource {
    /// A source for the configured file.
    pub fn new(settings: FileSourceSettings) -> Self {
        let key = format!("file:{}", settings.path.display());
        FileSource { settings, key }
    }

    /// The name under which the outbox keeps this source's position.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Reads from `start` (a saved position) until the end of the file, or until `shutdown`
    /// when following. A file that does not exist (yet), disappears or cannot be read does
    /// not stop the source: it says so once and looks again every `poll_interval`, until the
    /// file can be read (then read once, or followed) or `shutdown`.
    pub async fn run(
        self,
        start: Option<SourcePosition>,
        events: mpsc::Sender<SourceEvent>,
        shutdown: CancellationToken,
    ) -> FileReport {
        let path = self.settings.path.clone();
        let poll = self.settings.poll_interval;
        let mut reader = Reader {
            key: self.key.clone(),
            path: path.clone(),
            inode: start.as_ref().map_or(0, |p| p.inode),
            offset: start.as_ref().map_or(0, |p| p.offset),
            line: start.as_ref().map_or(0, |p| p.line),
            partial: Vec::new(),
            discarding: None,
            report: FileReport::default(),
        };
        let mut trouble = Trouble::default();
        let mut file: Option<tokio::fs::File> = None;
        loop {
            if file.is_none() {
                match open_resuming(&path, &mut reader).await {
                    Ok(Some(opened)) => {
                        trouble.cleared(&path);
                        file = Some(opened);
                    }
                    Ok(None) => trouble.report(&path, poll, "does not exist".into()),
                    Err(error) => trouble.report(&path, poll, format!("cannot be opened: {error}")),
                }
            }
            if let Some(open) = file.as_mut() {
                match reader.read_to_end(open, &events, &shutdown).await {
                    Ok(true) => {}
                    Ok(false) => return reader.report,
                    Err(error) => {
                        // Reopened later from the last complete line.
                        trouble.report(&path, poll, format!("cannot be read: {error}"));
                        file = None;
                    }
                }
            }
            if file.is_some() && !self.settings.follow {
                // A last line without its newline still counts.
                let last = reader.finish(Timestamp::now());
                let _ = events.send(last).await;
                tracing::info!(
                    path = %path.display(),
                    observations = reader.report.observations,
                    skipped = reader.report.skipped,
                    "file read"
                );
                return reader.report;
            }
            tokio::select! {
                () = shutdown.cancelled() => return reader.report,
                () = tokio::time::sleep(poll) => {}
            }
            // Rotation (the path names another file now) or truncation. The old file is read to
            // its end first: lines written just before the rename still count. A path that is
            // missing (rename, then create; or deleted) keeps the old file until a new one
            // appears.
            let Some(open) = file.as_mut() else { continue };
            match tokio::fs::metadata(&path).await {
                Ok(metadata) if metadata.ino() != reader.inode => {
                    trouble.cleared(&path);
                    match reader.read_to_end(open, &events, &shutdown).await {
                        Ok(true) | Err(_) => {}
                        Ok(false) => return reader.report,
                    }
                    let last = reader.finish(Timestamp::now());
                    let _ = events.send(last).await;
                    tracing::info!(path = %path.display(), "file was replaced (rotated): reading the new one from its start");
                    reader.restart(metadata.ino());
                    file = None;
                }
                Ok(metadata) if metadata.len() < reader.offset => {
                    trouble.cleared(&path);
                    tracing::info!(path = %path.display(), "file was truncated: reading it from the start");
                    reader.restart(metadata.ino());
                    file = None;
                }
                Ok(_) => trouble.cleared(&path),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => trouble.report(
                    &path,
                    poll,
                    "disappeared (its last lines were read; a new file at this path will be)"
                        .into(),
                ),
                Err(error) => trouble.report(&path, poll, format!("cannot be looked at: {error}")),
            }
        }
    }
}

/// Says once why a file source's file cannot be read, and once that it can again, so a file
/// missing for days is one warning, not one per poll.
#[derive(Debug, Default)]
struct Trouble {
    reported: Option<String>,
}

impl Trouble {
    fn report(&mut self, path: &Path, poll: std::time::Duration, problem: String) {
        if self.reported.as_deref() != Some(problem.as_str()) {
            tracing::warn!(
                path = %path.display(),
                %problem,
                retry_every = ?poll,
                "file source unavailable: looking for it again; other sources and discovery go on"
            );
            self.reported = Some(problem);
        }
    }

    fn cleared(&mut self, path: &Path) {
        if self.reported.take().is_some() {
            tracing::info!(path = %path.display(), "file source available again: reading it");
        }
    }
}

/// Opens the file and positions it at the saved offset, unless it is another file than the one
/// the position belongs to (replaced while the agent was stopped) or shorter than the offset
/// (truncated): then from the start. `Ok(None)` if it does not exist.
async fn open_resuming(
    path: &Path,
    reader: &mut Reader,
) -> std::io::Result<Option<tokio::fs::File>> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let metadata = file.metadata().await?;
    let replaced = reader.inode != 0 && reader.inode != metadata.ino();
    if replaced || metadata.len() < reader.offset {
        if reader.offset > 0 {
            tracing::info!(path = %path.display(), "file differs from the one last read (replaced or truncated): reading it from the start");
        }
        reader.restart(metadata.ino());
    }
    reader.inode = metadata.ino();
    // Bytes read past the last complete line before are read again from the file.
    reader.partial.clear();
    reader.discarding = None;
    file.seek(std::io::SeekFrom::Start(reader.offset)).await?;
    Ok(Some(file))
}

/// Splits bytes into lines and lines into observations, tracking the position.
struct Reader {
    key: String,
    path: PathBuf,
    /// The file the position belongs to.
    inode: u64,
    /// Offset just after the last complete line consumed.
    offset: u64,
    line: u64,
    partial: Vec<u8>,
    /// Inside an over-long line: the bytes dropped so far, until its newline.
    discarding: Option<u64>,
    report: FileReport,
}

impl Reader {
    fn restart(&mut self, inode: u64) {
        self.inode = inode;
        self.offset = 0;
        self.line = 0;
        self.partial.clear();
        self.discarding = None;
    }

    fn consume(&mut self, bytes: &[u8], now: Timestamp) -> SourceEvent {
        let mut observations = Vec::new();
        let mut rest = bytes;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(newline);
            rest = &tail[1..];
            self.line += 1;
            if let Some(dropped) = self.discarding.take() {
                self.offset += dropped + head.len() as u64 + 1;
                continue;
            }
            self.partial.extend_from_slice(head);
            let line = std::mem::take(&mut self.partial);
            self.offset += line.len() as u64 + 1;
            self.take_line(&line, now, &mut observations);
        }
        if let Some(dropped) = self.discarding.as_mut() {
            *dropped += rest.len() as u64;
        } else {
            self.partial.extend_from_slice(rest);
            if self.partial.len() > MAX_LINE_BYTES {
                self.skip(self.line + 1, &LineError::TooLong);
                self.discarding = Some(self.partial.len() as u64);
                self.partial.clear();
            }
        }
        SourceEvent {
            observations,
            position: Some(self.position()),
        }
    }

    fn finish(&mut self, now: Timestamp) -> SourceEvent {
        let mut observations = Vec::new();
        if !self.partial.is_empty() && self.discarding.is_none() {
            let line = std::mem::take(&mut self.partial);
            self.offset += line.len() as u64;
            self.line += 1;
            self.take_line(&line, now, &mut observations);
        }
        SourceEvent {
            observations,
            position: Some(self.position()),
        }
    }

    fn take_line(&mut self, line: &[u8], now: Timestamp, observations: &mut Vec<Observation>) {
        match parse_line(line, now) {
            Ok(Some(observation)) => {
                self.report.observations += 1;
                observations.push(observation);
            }
            Ok(None) => {}
            Err(error) => self.skip(self.line, &error),
        }
    }

    fn skip(&mut self, line: u64, error: &LineError) {
        self.report.skipped += 1;
        tracing::warn!(path = %self.path.display(), line, error = %error, "line skipped");
    }

    fn position(&self) -> SourcePosition {
        SourcePosition {
            source: self.key.clone(),
            inode: self.inode,
            offset: self.offset,
            line: self.line,
        }
    }

    /// Reads `file` to its current end, sending what it holds; false when nobody listens any
    /// more or shutdown was requested.
    async fn read_to_end(
        &mut self,
        file: &mut tokio::fs::File,
        events: &mpsc::Sender<SourceEvent>,
        shutdown: &CancellationToken,
    ) -> std::io::Result<bool> {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                return Ok(true);
            }
            let event = self.consume(&buffer[..read], Timestamp::now());
            if events.send(event).await.is_err() || shutdown.is_cancelled() {
                return Ok(false);
            }
        }
    }
}

#[cfg(test)]
mod tests;
