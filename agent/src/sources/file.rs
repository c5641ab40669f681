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

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hygie_proto::{InvalidMessage, MacAddr, MdnsService, Observation, Source};
use jiff::Timestamp;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::SourceEvent;
use crate::config::FileSourceSettings;
use crate::outbox::SourcePosition;

/// Longest line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Why a file source stopped.
#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

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
    services: Vec<LineService>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineService {
    instance: String,
    service_type: String,
    port: u16,
    #[serde(default)]
    txt: BTreeMap<String, String>,
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
        services: line
            .services
            .into_iter()
            .map(|service| MdnsService {
                instance: service.instance,
                service_type: service.service_type,
                port: service.port,
                txt: service.txt,
            })
            .collect(),
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
    /// when following.
    pub async fn run(
        self,
        start: Option<SourcePosition>,
        events: mpsc::Sender<SourceEvent>,
        shutdown: CancellationToken,
    ) -> Result<FileReport, FileSourceError> {
        let path = self.settings.path.clone();
        let io_error = |source| FileSourceError::Io {
            path: path.clone(),
            source,
        };
        let mut reader = Reader {
            key: self.key.clone(),
            path: path.clone(),
            offset: start.as_ref().map_or(0, |p| p.offset),
            line: start.as_ref().map_or(0, |p| p.line),
            partial: Vec::new(),
            discarding: None,
            report: FileReport::default(),
        };
        let mut opened: Option<(tokio::fs::File, u64)> = None;
        loop {
            if opened.is_none() {
                match open_at(&path, reader.offset).await {
                    Ok(Some((file, inode, restarted))) => {
                        if restarted {
                            tracing::info!(path = %path.display(), "file is shorter than the saved position (truncated or replaced): reading it from the start");
                            reader.restart();
                        }
                        opened = Some((file, inode));
                    }
                    Ok(None) if self.settings.follow => {}
                    Ok(None) => {
                        return Err(io_error(std::io::Error::from(std::io::ErrorKind::NotFound)));
                    }
                    Err(error) => return Err(io_error(error)),
                }
            }
            let mut at_end = true;
            if let Some((file, _)) = opened.as_mut() {
                let mut buffer = vec![0u8; 64 * 1024];
                let read = file.read(&mut buffer).await.map_err(io_error)?;
                if read > 0 {
                    at_end = false;
                    let batch = reader.consume(&buffer[..read], Timestamp::now());
                    if !batch.observations.is_empty() || batch.position.is_some() {
                        let shutting_down = shutdown.is_cancelled();
                        if events.send(batch).await.is_err() || shutting_down {
                            return Ok(reader.report);
                        }
                    }
                }
            }
            if !at_end {
                continue;
            }
            if !self.settings.follow {
                // A last line without its newline still counts.
                let last = reader.finish(Timestamp::now());
                if !last.observations.is_empty() || last.position.is_some() {
                    let _ = events.send(last).await;
                }
                tracing::info!(
                    path = %path.display(),
                    observations = reader.report.observations,
                    skipped = reader.report.skipped,
                    "file read"
                );
                return Ok(reader.report);
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(reader.report),
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
            // Rotation or truncation: the path now names another file, or a shorter one.
            if let Some((_, inode)) = &opened {
                match tokio::fs::metadata(&path).await {
                    Ok(metadata) => {
                        use std::os::unix::fs::MetadataExt;
                        if metadata.ino() != *inode || metadata.len() < reader.offset {
                            opened = None;
                            reader.offset = 0;
                            reader.restart();
                            tracing::info!(path = %path.display(), "file was replaced or truncated: reading it from the start");
                        }
                    }
                    Err(_) => opened = None,
                }
            }
        }
    }
}

/// Opens `path` positioned at `offset`; returns the file, its inode and whether the saved
/// offset was past the end (the file was replaced), in which case it is read from the start.
async fn open_at(
    path: &Path,
    offset: u64,
) -> std::io::Result<Option<(tokio::fs::File, u64, bool)>> {
    use std::os::unix::fs::MetadataExt;
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let metadata = file.metadata().await?;
    let restarted = metadata.len() < offset;
    let start = if restarted { 0 } else { offset };
    file.seek(std::io::SeekFrom::Start(start)).await?;
    Ok(Some((file, metadata.ino(), restarted)))
}

/// Splits bytes into lines and lines into observations, tracking the position.
struct Reader {
    key: String,
    path: PathBuf,
    /// Offset just after the last complete line consumed.
    offset: u64,
    line: u64,
    partial: Vec<u8>,
    /// Inside an over-long line: the bytes dropped so far, until its newline.
    discarding: Option<u64>,
    report: FileReport,
}

impl Reader {
    fn restart(&mut self) {
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
            offset: self.offset,
            line: self.line,
        }
    }
}

#[cfg(test)]
mod tests;
