//! SSDP, the discovery half of UPnP (UPnP Device Architecture 1.1 and 2.0): HTTP messages
//! carried in UDP datagrams on port 1900.
//!
//! Three messages matter. A device announces itself with `NOTIFY * HTTP/1.1` sent to
//! 239.255.255.250 or ff02::c (`NT` says what it is, `NTS` whether it arrives or leaves); a
//! control point looks for devices with `M-SEARCH * HTTP/1.1` to the same groups (`ST` is what
//! it looks for, not what it is); a device answers a search with a unicast `HTTP/1.1 200 OK`
//! (`ST` is then what it is). Anything else on the port is refused with a reason.
//!
//! Only the start line and seven discovery headers are read: `SERVER`, `USER-AGENT` (or the
//! `X-USER-AGENT` some Belkin and Realtek stacks send instead), `NT`, `NTS`, `ST`, `USN` and
//! `LOCATION`; a body, if any, is never looked at. `LOCATION` is kept as text and never fetched:
//! that would be an active probe of the device.
//!
//! Everything in a message is device-supplied and untrusted: lines and header counts are
//! bounded, bytes that are not UTF-8 are decoded lossily, and every value kept is trimmed,
//! cleaned of control and formatting characters and clamped to the contract's limit. No header
//! is taken as the sender's identity (a `LOCATION` may name any host): the device is the frame's
//! sender, as [`Sender`] tells.

use hygie_domain::text::clean_value;
use hygie_domain::{Detail, SsdpDetails, SsdpMessage, is_device_ip, limits};

use crate::heard::{Sender, Sighting};

/// The SSDP port.
pub const PORT: u16 = 1900;
/// Header lines read after the start line; a message with more is refused (real stacks send
/// fewer than fifteen).
pub const MAX_HEADER_LINES: usize = 64;
/// Bytes in one line, without its line end; a longer line is refused (the longest real
/// headers, `LOCATION` URLs, are a few hundred bytes).
pub const MAX_LINE_LEN: usize = 2048;

/// Why a SSDP message was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsdpError {
    /// No complete start line.
    #[error("SSDP message truncated")]
    Truncated,
    /// The start line is neither `NOTIFY *`, `M-SEARCH *` nor an HTTP/1.x status line (the
    /// text is not repeated here: it is the device's).
    #[error("not an SSDP start line")]
    StartLine,
    /// A status line with a status other than 2xx.
    #[error("SSDP response with status {0}")]
    Status(u16),
    /// A line longer than [`MAX_LINE_LEN`].
    #[error("SSDP line longer than {MAX_LINE_LEN} bytes")]
    LineTooLong,
    /// More than [`MAX_HEADER_LINES`] header lines.
    #[error("more than {MAX_HEADER_LINES} SSDP header lines")]
    TooManyHeaders,
}

impl SsdpError {
    /// A short, stable name of the reason, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            SsdpError::Truncated => "truncated SSDP",
            SsdpError::StartLine => "not an SSDP start line",
            SsdpError::Status(_) => "SSDP error status",
            SsdpError::LineTooLong => "SSDP line too long",
            SsdpError::TooManyHeaders => "too many SSDP headers",
        }
    }
}

/// A decoded SSDP message: its discovery headers, cleaned and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsdpPacket {
    /// The message and its headers. For a search, `notification_type` holds `ST`, what the
    /// sender looks for ([`SsdpDetails::device_type`] ignores it).
    pub details: SsdpDetails,
}

/// Decodes a SSDP message (the UDP payload).
pub fn parse(payload: &[u8]) -> Result<SsdpPacket, SsdpError> {
    let mut lines = Lines { rest: payload };
    let start = lines.next().ok_or(SsdpError::Truncated)??;
    let message = start_line(&String::from_utf8_lossy(start))?;
    let mut headers = Headers::default();
    let mut count = 0usize;
    for line in lines {
        let line = line?;
        if line.is_empty() {
            // The end of the headers: what follows is a body, never read.
            break;
        }
        count += 1;
        if count > MAX_HEADER_LINES {
            return Err(SsdpError::TooManyHeaders);
        }
        headers.add(line);
    }
    let Headers {
        server,
        user_agent,
        x_user_agent,
        nt,
        nts,
        st,
        usn,
        location,
    } = headers;
    let notification_type = match message {
        SsdpMessage::Notify => nt,
        SsdpMessage::Search | SsdpMessage::Response => st,
    };
    Ok(SsdpPacket {
        details: SsdpDetails {
            message,
            notification_subtype: nts,
            server,
            user_agent: user_agent.or(x_user_agent),
            notification_type,
            usn,
            location,
        },
    })
}

impl SsdpPacket {
    /// What the message proves about its sender: its presence at its source address, and its
    /// headers. NOTIFY and M-SEARCH go to a group, so their frame's MAC is the sender's; a
    /// response is unicast, and [`Sender::own_mac`] says whether its frame came straight from
    /// the device or from a router. No host name: SSDP carries none.
    pub(crate) fn sighting(&self, sender: &Sender) -> Option<Sighting> {
        let mac = sender.own_mac()?;
        Some(Sighting {
            mac: Some(mac),
            ips: sender
                .ip
                .filter(|ip| is_device_ip(*ip))
                .into_iter()
                .collect(),
            detail: Some(Detail::Ssdp(self.details.clone())),
            ..Sighting::default()
        })
    }
}

/// The message a start line opens. Methods and the version are compared case-insensitively: a
/// sloppy stack is still the device it says it is.
fn start_line(line: &str) -> Result<SsdpMessage, SsdpError> {
    let mut parts = line.split_ascii_whitespace();
    let (Some(first), Some(second)) = (parts.next(), parts.next()) else {
        return Err(SsdpError::StartLine);
    };
    let third = parts.next();
    if is_http1(first) {
        // `HTTP/1.1 200 OK`: the reason phrase may be several words, or absent.
        let status = status_code(second).ok_or(SsdpError::StartLine)?;
        return if (200..300).contains(&status) {
            Ok(SsdpMessage::Response)
        } else {
            Err(SsdpError::Status(status))
        };
    }
    // `METHOD * HTTP/1.1`, nothing more: SSDP requests always target `*` (GENA's `NOTIFY
    // /path` event messages go over TCP and are not discovery).
    match (third, parts.next()) {
        (Some(version), None) if second == "*" && is_http1(version) => {
            if first.eq_ignore_ascii_case("NOTIFY") {
                Ok(SsdpMessage::Notify)
            } else if first.eq_ignore_ascii_case("M-SEARCH") {
                Ok(SsdpMessage::Search)
            } else {
                Err(SsdpError::StartLine)
            }
        }
        _ => Err(SsdpError::StartLine),
    }
}

fn is_http1(version: &str) -> bool {
    version.eq_ignore_ascii_case("HTTP/1.1") || version.eq_ignore_ascii_case("HTTP/1.0")
}

/// A three-digit status code.
fn status_code(text: &str) -> Option<u16> {
    (text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// The lines of a message, without their CRLF or bare LF. A trailing fragment with no line
/// end is not a line: the datagram was cut there (by a capture's snap length, or on purpose),
/// and a half header would be a wrong value.
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<&'a [u8], SsdpError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Look no further than one line may go: a hostile datagram of one endless line costs
        // no more than a good one.
        let window = self.rest.get(..MAX_LINE_LEN + 2).unwrap_or(self.rest);
        let Some(end) = window.iter().position(|b| *b == b'\n') else {
            if self.rest.len() > MAX_LINE_LEN + 1 {
                self.rest = &[];
                return Some(Err(SsdpError::LineTooLong));
            }
            return None;
        };
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest.get(1..).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE_LEN {
            self.rest = &[];
            return Some(Err(SsdpError::LineTooLong));
        }
        Some(Ok(line))
    }
}

/// The headers kept, each the first non-empty occurrence of its name.
#[derive(Default)]
struct Headers {
    server: Option<String>,
    user_agent: Option<String>,
    x_user_agent: Option<String>,
    nt: Option<String>,
    nts: Option<String>,
    st: Option<String>,
    usn: Option<String>,
    location: Option<String>,
}

impl Headers {
    /// Reads one header line. A line without a colon, and a continuation line (obsolete line
    /// folding, RFC 9112 §5.2: it starts with a space or a tab) are skipped: no stack folds
    /// the short discovery headers.
    fn add(&mut self, line: &[u8]) {
        if line.first().is_some_and(|b| matches!(b, b' ' | b'\t')) {
            return;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return;
        };
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or_default();
        let name = name.trim_ascii();
        let slot = if name.eq_ignore_ascii_case(b"SERVER") {
            &mut self.server
        } else if name.eq_ignore_ascii_case(b"USER-AGENT") {
            &mut self.user_agent
        } else if name.eq_ignore_ascii_case(b"X-USER-AGENT") {
            &mut self.x_user_agent
        } else if name.eq_ignore_ascii_case(b"NT") {
            &mut self.nt
        } else if name.eq_ignore_ascii_case(b"NTS") {
            &mut self.nts
        } else if name.eq_ignore_ascii_case(b"ST") {
            &mut self.st
        } else if name.eq_ignore_ascii_case(b"USN") {
            &mut self.usn
        } else if name.eq_ignore_ascii_case(b"LOCATION") {
            &mut self.location
        } else {
            return;
        };
        // The first occurrence wins, as for duplicate TXT keys: a later copy cannot override
        // what the message said first.
        if slot.is_none() {
            *slot = header_value(value);
        }
    }
}

/// A header value trimmed, decoded lossily, cleaned and clamped; `None` if nothing is left.
fn header_value(value: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(value.trim_ascii());
    let cleaned = clean_value(&text, limits::MAX_DETAIL_TEXT_LEN);
    // Clamping may leave a space at the cut.
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

#[cfg(test)]
mod tests;
