//! Reading the daemons' `/metrics` endpoints as Prometheus would, in tests.
//!
//! [`scrape`] asks for both text formats, checks each with `hygie_metrics::check` (names under
//! `hygie_`, counters in `_total`, cumulative histograms, no duplicate series) and with the
//! Prometheus project's own parsers (python3-prometheus-client, installed by tests/setup.sh:
//! its OpenMetrics parser is strict), and returns the OpenMetrics reading.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use hygie_metrics::{Format, Scrape};

/// Why a scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The endpoint could not be reached or read.
    #[error("scraping {address}: {source}")]
    Io {
        /// The endpoint.
        address: SocketAddr,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// Not a 200 with a body.
    #[error("scraping {address}: {reason}")]
    Http {
        /// The endpoint.
        address: SocketAddr,
        /// What came back.
        reason: String,
    },
    /// The exposition is not well-formed.
    #[error("{format:?} exposition from {address} refused: {reason}\n{text}")]
    Format {
        /// The endpoint.
        address: SocketAddr,
        /// Which format.
        format: Format,
        /// Which check refused it, and why.
        reason: String,
        /// The exposition.
        text: String,
    },
}

/// `GET /metrics` at `address` in `format`: the body.
pub fn get(address: SocketAddr, format: Format) -> Result<String, ScrapeError> {
    let io = |source| ScrapeError::Io { address, source };
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(io)?;
    let accept = match format {
        Format::OpenMetrics => "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        Format::Text => "text/plain",
    };
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(io)?;
    let http = |reason: String| ScrapeError::Http { address, reason };
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| http(format!("no header end in {response:?}")))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(http(head.to_owned()));
    }
    let content_type = format.content_type().to_ascii_lowercase();
    if !head.to_ascii_lowercase().contains(&content_type) {
        return Err(http(format!("not {content_type}: {head}")));
    }
    // Small bodies come with a Content-Length; a chunked one would need decoding.
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(http("chunked body".into()));
    }
    Ok(body.to_owned())
}

/// The Prometheus project's parser of `format`, run over `text`.
fn oracle(text: &str, format: Format) -> Result<(), String> {
    let parser = match format {
        Format::OpenMetrics => "prometheus_client.openmetrics.parser",
        Format::Text => "prometheus_client.parser",
    };
    let script = format!(
        "import sys\nfrom {parser} import text_string_to_metric_families as parse\n\
         families = list(parse(sys.stdin.read()))\nprint(len(families))\n"
    );
    // Debian's interpreter, where apt installs the package (not a pyenv shim's).
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run /usr/bin/python3 (run tests/setup.sh): {error}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|error| error.to_string())?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| error.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "{parser}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

/// Scrapes `address` in both formats, checks both (see the module docs), and returns the
/// OpenMetrics reading.
pub fn scrape(address: SocketAddr) -> Result<Scrape, ScrapeError> {
    let mut reading = None;
    for format in [Format::Text, Format::OpenMetrics] {
        let text = get(address, format)?;
        let refused = |reason: String| ScrapeError::Format {
            address,
            format,
            reason,
            text: text.clone(),
        };
        let checked = hygie_metrics::check(&text, hygie_metrics::PREFIX)
            .map_err(|error| refused(error.to_string()))?;
        if checked.samples.is_empty() {
            return Err(refused("no samples".into()));
        }
        oracle(&text, format).map_err(refused)?;
        reading = Some(checked);
    }
    Ok(reading.unwrap_or_default())
}
