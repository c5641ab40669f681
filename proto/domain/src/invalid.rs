//! Why a message (or a domain value) was refused, with the path of the offending field.

use std::fmt;
use std::net::IpAddr;

use crate::MacAddr;

/// A refused message: where in it, and why.
///
/// Displays as `observations[3].mac: ...`, so the sender's log names the exact field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidMessage {
    path: String,
    /// What is wrong.
    pub reason: Invalid,
}

/// The reasons a message or value is refused.
#[allow(missing_docs, reason = "each variant's message is its documentation")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("expected a 6-byte MAC address, got {0} bytes")]
    MacLength(usize),
    #[error("{0} is a multicast or broadcast address, not a device")]
    MulticastMac(MacAddr),
    #[error("the all-zero MAC address does not name a device")]
    ZeroMac,
    #[error("expected {expected} address bytes, got {got}")]
    AddressLength { expected: usize, got: usize },
    #[error("{0} cannot be the address of a device")]
    UnusableAddress(IpAddr),
    #[error("prefix length {prefix_len} is out of range for {address}")]
    PrefixLength { address: IpAddr, prefix_len: u32 },
    #[error("{count} entries exceed the limit of {max}")]
    TooMany { count: usize, max: usize },
    #[error("{len} bytes exceed the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("contains a control character")]
    ControlCharacter,
    #[error("must not be empty")]
    Empty,
    #[error("missing")]
    Missing,
    #[error("timestamp out of range")]
    TimestampRange,
    #[error("source is unspecified")]
    UnspecifiedSource,
    #[error("unknown value {0}")]
    UnknownEnumValue(i32),
    #[error("port {0} is out of range")]
    PortRange(u32),
    #[error("sequence numbers start at 1")]
    ZeroSequence,
    #[error("sequence {0} exceeds 2^63 - 1")]
    SequenceRange(u64),
    #[error("expected {expected} bytes, got {got}")]
    IdLength { expected: usize, got: usize },
    #[error("unknown name {0:?}")]
    UnknownName(String),
    #[error("must be lower-case hexadecimal")]
    NotHex,
    #[error("must be a snake_case label of at most 32 bytes")]
    NotALabel,
    #[error("{0} is out of range")]
    OutOfRange(u64),
    #[error("is not valid protobuf (truncated, a bad varint, a group or the wrong wire type)")]
    Malformed,
    #[error("appears twice")]
    Repeated,
}

impl InvalidMessage {
    /// A refusal of the field at `path`.
    pub fn new(path: impl Into<String>, reason: Invalid) -> Self {
        InvalidMessage {
            path: path.into(),
            reason,
        }
    }

    /// Prefixes the path with the enclosing field, e.g. `observations[3]`.
    #[must_use]
    pub fn within(mut self, parent: impl fmt::Display) -> Self {
        self.path = if self.path.is_empty() {
            parent.to_string()
        } else {
            format!("{parent}.{}", self.path)
        };
        self
    }

    /// The dotted path of the refused field.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

/// Checks a free-text field: bounded length and, unless `allow_control`, no control characters.
pub(crate) fn check_text(
    path: &str,
    value: &str,
    max: usize,
    allow_control: bool,
) -> Result<(), InvalidMessage> {
    if value.len() > max {
        return Err(InvalidMessage::new(
            path,
            Invalid::TooLong {
                len: value.len(),
                max,
            },
        ));
    }
    // Printable ASCII, by far the common case, holds no control character: no need to decode.
    let printable = value.bytes().all(|byte| (0x20..0x7f).contains(&byte));
    let control = !printable && value.chars().any(char::is_control);
    if !allow_control && control {
        return Err(InvalidMessage::new(path, Invalid::ControlCharacter));
    }
    Ok(())
}

/// Checks the number of entries of a repeated field before anything is allocated for them.
pub fn check_count(path: &str, count: usize, max: usize) -> Result<(), InvalidMessage> {
    if count > max {
        return Err(InvalidMessage::new(path, Invalid::TooMany { count, max }));
    }
    Ok(())
}
