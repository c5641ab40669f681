//! DHCPv4 (RFC 2131; options RFC 2132): the BOOTP header, then the options that fingerprint a
//! client.
//!
//! A message is a fixed 236-byte BOOTP header (RFC 951), the magic cookie 99.130.83.99, then
//! options as code/length/value triples, with pad (0) and end (255) on their own. An option
//! given more than once in a message is one option whose values are concatenated (RFC 3396),
//! and option 52 (overload) continues the options in the `file` field, then in `sname`.
//!
//! What a message proves is about the client hardware address (`chaddr`), not about the frame
//! source: a relay agent forwards the client's message under its own MAC, and an agent on a
//! mirror port hears a server's reply as the server sent it. A client message carries its own
//! fingerprint (option 55, vendor class, host name, ...); of a server's replies only an ACK
//! says something, that `yiaddr` is now bound to `chaddr`.
//!
//! Everything in a message is device-supplied and untrusted: every length is checked against
//! the bytes received, every string is cleaned of control and invisible formatting characters
//! and clamped, every list is bounded by the contract's limits.

use std::net::{IpAddr, Ipv4Addr};

use hygie_domain::text::{clean_hostname, clean_value};
use hygie_domain::{Detail, DhcpDetails, DhcpVersion, MacAddr, is_device_ip, limits};

use crate::heard::{Sender, Sighting};

/// The server port.
pub const SERVER_PORT: u16 = 67;
/// The client port.
pub const CLIENT_PORT: u16 = 68;

/// The magic cookie that starts the options (RFC 2131 §3): 99.130.83.99.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

/// Length of the fixed BOOTP header, up to the options.
const HEADER_LEN: usize = 236;
/// Where the options start: the header, then the cookie.
const OPTIONS_START: usize = HEADER_LEN + MAGIC_COOKIE.len();
/// Where `sname` and `file` lie in the header.
const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;

/// The message type (option 53) codes of RFC 2132 §9.6.
pub mod message_type {
    /// A client looks for servers.
    pub const DISCOVER: u8 = 1;
    /// A server offers an address.
    pub const OFFER: u8 = 2;
    /// A client asks for (or renews) an address.
    pub const REQUEST: u8 = 3;
    /// A client found its offered address already in use.
    pub const DECLINE: u8 = 4;
    /// A server binds the address to the client.
    pub const ACK: u8 = 5;
    /// A server refuses.
    pub const NAK: u8 = 6;
    /// A client gives its address back.
    pub const RELEASE: u8 = 7;
    /// A client that holds an address asks for other parameters.
    pub const INFORM: u8 = 8;
}

/// The options kept (RFC 2132 unless noted).
mod code {
    pub(super) const PAD: u8 = 0;
    pub(super) const HOST_NAME: u8 = 12;
    pub(super) const REQUESTED_ADDRESS: u8 = 50;
    pub(super) const OVERLOAD: u8 = 52;
    pub(super) const MESSAGE_TYPE: u8 = 53;
    pub(super) const PARAMETER_REQUEST_LIST: u8 = 55;
    pub(super) const VENDOR_CLASS: u8 = 60;
    pub(super) const CLIENT_ID: u8 = 61;
    /// RFC 3004.
    pub(super) const USER_CLASS: u8 = 77;
    /// RFC 4702.
    pub(super) const CLIENT_FQDN: u8 = 81;
    pub(super) const END: u8 = 255;

    pub(super) const KEPT: [u8; 9] = [
        HOST_NAME,
        REQUESTED_ADDRESS,
        OVERLOAD,
        MESSAGE_TYPE,
        PARAMETER_REQUEST_LIST,
        VENDOR_CLASS,
        CLIENT_ID,
        USER_CLASS,
        CLIENT_FQDN,
    ];
}

/// Why a DHCPv4 message was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    /// Shorter than the fixed BOOTP header and the magic cookie.
    #[error("DHCP message truncated: {0} of at least 240 bytes")]
    Truncated(usize),
    /// The BOOTP operation is neither 1 (request) nor 2 (reply).
    #[error("unknown BOOTP operation {0}")]
    Operation(u8),
    /// A hardware address length beyond the 16 bytes of `chaddr`.
    #[error("BOOTP hardware address length {0} exceeds 16")]
    HardwareLength(u8),
    /// The options do not start with the DHCP magic cookie.
    #[error("DHCP magic cookie {0:02x?}, expected 63:82:53:63")]
    Cookie([u8; 4]),
    /// An option's length runs past the end of its field.
    #[error("DHCP option {code} truncated")]
    OptionTruncated {
        /// The option's code.
        code: u8,
    },
    /// The message type (option 53) is not one byte long.
    #[error("DHCP message type option of {0} bytes, expected 1")]
    MessageTypeLength(usize),
}

impl DhcpError {
    /// A short, stable name of the reason, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            DhcpError::Truncated(_) => "truncated DHCP",
            DhcpError::Operation(_) => "unknown BOOTP operation",
            DhcpError::HardwareLength(_) => "bad BOOTP hardware address length",
            DhcpError::Cookie(_) => "bad DHCP magic cookie",
            DhcpError::OptionTruncated { .. } => "truncated DHCP options",
            DhcpError::MessageTypeLength(_) => "bad DHCP message type",
        }
    }
}

/// The BOOTP operation: who sent the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `BOOTREQUEST` (1): from a client (perhaps through a relay).
    Request,
    /// `BOOTREPLY` (2): from a server (perhaps through a relay).
    Reply,
}

/// A decoded DHCPv4 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpPacket {
    /// `op`: request (client) or reply (server).
    pub operation: Operation,
    /// `htype`: the client's hardware type (1 for Ethernet).
    pub hardware_type: u8,
    /// `hlen`: the length of the client's hardware address (6 for Ethernet), at most 16.
    pub hardware_len: u8,
    /// `hops`: relay agents the message went through.
    pub hops: u8,
    /// `xid`: the transaction id.
    pub transaction_id: u32,
    /// `ciaddr`: the address a client already holds (zero otherwise).
    pub client_ip: Ipv4Addr,
    /// `yiaddr`: the address a server offers or binds.
    pub your_ip: Ipv4Addr,
    /// `siaddr`: the next server (TFTP) address.
    pub server_ip: Ipv4Addr,
    /// `giaddr`: the relay agent's address (zero without a relay).
    pub relay_ip: Ipv4Addr,
    /// `chaddr`: the client's hardware address, the first `hardware_len` bytes of which count.
    pub client_hardware: [u8; 16],
    /// `sname`, as text (cleaned), when present and not used for options.
    pub server_name: Option<String>,
    /// `file`, as text (cleaned), when present and not used for options.
    pub boot_file: Option<String>,
    /// Option 52: 1 when `file` holds options, 2 for `sname`, 3 for both; 0 without overload.
    pub overload: u8,
    /// Option 12, through [`clean_hostname`].
    pub host_name: Option<String>,
    /// What the options say, cleaned and bounded. `message_type` is 0 for a plain BOOTP
    /// message (no option 53).
    pub details: DhcpDetails,
}

/// Decodes the UDP payload of a DHCPv4 message.
pub fn parse(payload: &[u8]) -> Result<DhcpPacket, DhcpError> {
    let header: &[u8; OPTIONS_START] = payload
        .get(..OPTIONS_START)
        .and_then(|head| head.try_into().ok())
        .ok_or(DhcpError::Truncated(payload.len()))?;
    let operation = match header[0] {
        1 => Operation::Request,
        2 => Operation::Reply,
        other => return Err(DhcpError::Operation(other)),
    };
    let hardware_len = header[2];
    if usize::from(hardware_len) > 16 {
        return Err(DhcpError::HardwareLength(hardware_len));
    }
    let cookie = [header[236], header[237], header[238], header[239]];
    if cookie != MAGIC_COOKIE {
        return Err(DhcpError::Cookie(cookie));
    }
    let ip = |at: usize| Ipv4Addr::new(header[at], header[at + 1], header[at + 2], header[at + 3]);
    let mut client_hardware = [0u8; 16];
    client_hardware.copy_from_slice(&header[28..44]);
    let sname = &header[SNAME];
    let file = &header[FILE];

    // The options field first; option 52 there says whether `file`, then `sname`, continue it.
    let mut options = Gathered::default();
    scan(
        payload.get(OPTIONS_START..).unwrap_or_default(),
        &mut options,
        true,
    )?;
    let overload = match options.get(code::OVERLOAD) {
        Some(&[value @ 1..=3]) => value,
        _ => 0,
    };
    if overload & 1 != 0 {
        scan(file, &mut options, false)?;
    }
    if overload & 2 != 0 {
        scan(sname, &mut options, false)?;
    }

    let message_type = match options.get(code::MESSAGE_TYPE) {
        None => 0,
        Some(&[value]) => value,
        Some(other) => return Err(DhcpError::MessageTypeLength(other.len())),
    };
    let details = DhcpDetails {
        version: DhcpVersion::V4,
        message_type,
        parameter_request_list: options
            .get(code::PARAMETER_REQUEST_LIST)
            .unwrap_or_default()
            .iter()
            .take(limits::MAX_PARAMETER_REQUESTS)
            .map(|&code| u16::from(code))
            .collect(),
        vendor_class: options.get(code::VENDOR_CLASS).and_then(detail_text),
        vendor_enterprise: None,
        client_id: options.get(code::CLIENT_ID).and_then(hex),
        fqdn: options.get(code::CLIENT_FQDN).and_then(client_fqdn),
        user_class: options
            .get(code::USER_CLASS)
            .map(user_classes)
            .unwrap_or_default(),
        requested_address: match options.get(code::REQUESTED_ADDRESS) {
            Some(&[a, b, c, d]) => Some(Ipv4Addr::new(a, b, c, d)),
            _ => None,
        },
    };
    Ok(DhcpPacket {
        operation,
        hardware_type: header[1],
        hardware_len,
        hops: header[3],
        transaction_id: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
        client_ip: ip(12),
        your_ip: ip(16),
        server_ip: ip(20),
        relay_ip: ip(24),
        client_hardware,
        server_name: (overload & 2 == 0).then(|| field_text(sname)).flatten(),
        boot_file: (overload & 1 == 0).then(|| field_text(file)).flatten(),
        overload,
        host_name: options
            .get(code::HOST_NAME)
            .and_then(|name| clean_hostname(&String::from_utf8_lossy(trim_nul(name)))),
        details,
    })
}

/// The kept options of a message, each the concatenation of its instances (RFC 3396).
#[derive(Default)]
struct Gathered(Vec<(u8, Vec<u8>)>);

impl Gathered {
    fn push(&mut self, code: u8, value: &[u8]) {
        match self.0.iter_mut().find(|(kept, _)| *kept == code) {
            Some((_, values)) => values.extend_from_slice(value),
            None => self.0.push((code, value.to_vec())),
        }
    }

    fn get(&self, code: u8) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(kept, _)| *kept == code)
            .map(|(_, value)| value.as_slice())
    }
}

/// Reads one field of options up to its end option (or its last byte: many stacks omit the
/// end). Option 52 counts only in the options field proper (RFC 2131 §4.1): one inside `file`
/// or `sname` is ignored, so a field cannot re-point the decoder at itself.
fn scan(field: &[u8], options: &mut Gathered, main: bool) -> Result<(), DhcpError> {
    let mut rest = field;
    // Every turn consumes at least one byte, so the loop ends.
    while let Some((&code, after)) = rest.split_first() {
        match code {
            code::PAD => rest = after,
            code::END => break,
            _ => {
                let (&len, after) = after
                    .split_first()
                    .ok_or(DhcpError::OptionTruncated { code })?;
                let (value, after) = after
                    .split_at_checked(usize::from(len))
                    .ok_or(DhcpError::OptionTruncated { code })?;
                if code::KEPT.contains(&code) && (main || code != code::OVERLOAD) {
                    options.push(code, value);
                }
                rest = after;
            }
        }
    }
    Ok(())
}

/// Cuts the NUL bytes that some stacks leave at the end of a string option.
fn trim_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |at| at + 1);
    bytes.get(..end).unwrap_or_default()
}

/// A free-text option as a detail value: cleaned, bounded, `None` when empty.
pub(crate) fn detail_text(bytes: &[u8]) -> Option<String> {
    let text = clean_value(
        &String::from_utf8_lossy(trim_nul(bytes)),
        limits::MAX_DETAIL_TEXT_LEN,
    );
    (!text.is_empty()).then_some(text)
}

/// `sname` or `file`: a NUL-terminated string.
fn field_text(field: &[u8]) -> Option<String> {
    let text = field.split(|&b| b == 0).next().unwrap_or_default();
    detail_text(text)
}

/// An identifier in lower-case hex, at most the contract's length; `None` when empty.
pub(crate) fn hex(bytes: &[u8]) -> Option<String> {
    use std::fmt::Write as _;
    let bytes = bytes
        .get(..limits::MAX_CLIENT_ID_HEX_LEN / 2)
        .unwrap_or(bytes);
    let mut text = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    (!text.is_empty()).then_some(text)
}

/// Option 81 (RFC 4702 §2): flags, two obsolete RCODE bytes, then the name: in DNS wire format
/// when the E flag (0x04) is set, in ASCII (deprecated, but what Windows sends) otherwise.
fn client_fqdn(value: &[u8]) -> Option<String> {
    const ENCODED: u8 = 0x04;
    let (&flags, rest) = value.split_first()?;
    let name = rest.get(2..)?;
    if flags & ENCODED != 0 {
        detail_text(wire_name(name)?.as_bytes())
    } else {
        detail_text(name)
    }
}

/// An uncompressed DNS name (RFC 1035 §3.1) filling `bytes`, as RFC 4702 and RFC 4704 carry
/// it: labels of 1 to 63 bytes, ending with the root (a zero byte) for a fully qualified name
/// or with the last label for a partial one. `None` for anything else: a compression pointer
/// (which both RFCs forbid), a label running past the end, bytes after the root, no label.
pub(crate) fn wire_name(bytes: &[u8]) -> Option<String> {
    let mut labels: Vec<String> = Vec::new();
    let mut rest = bytes;
    // Every turn consumes at least one byte, so the loop ends.
    while let Some((&len, after)) = rest.split_first() {
        if len == 0 {
            if !after.is_empty() {
                return None;
            }
            break;
        }
        if len > 63 {
            return None;
        }
        let (label, after) = after.split_at_checked(usize::from(len))?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        rest = after;
    }
    (!labels.is_empty()).then(|| labels.join("."))
}

/// Option 77: RFC 3004 instances (a length byte, then that many bytes, repeated to the end of
/// the option), or, as Windows and many embedded stacks send it, one plain string. The bytes
/// count as RFC 3004 only when they parse exactly as instances of at least one byte each.
fn user_classes(value: &[u8]) -> Vec<String> {
    let instances = || length_prefixed(value);
    if instances().all(|item| item.is_some()) && instances().next().is_some() {
        instances()
            .flatten()
            .filter_map(detail_text)
            .take(limits::MAX_DETAIL_ITEMS)
            .collect()
    } else {
        detail_text(value).into_iter().collect()
    }
}

/// The RFC 3004 instances of `value`; an item is `None` when it is empty or runs past the end
/// (and is the last item).
fn length_prefixed(value: &[u8]) -> impl Iterator<Item = Option<&[u8]>> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let (&len, after) = rest?.split_first()?;
        let split = after.split_at_checked(usize::from(len)).filter(|_| len > 0);
        rest = split.map(|(_, after)| after);
        Some(split.map(|(item, _)| item))
    })
}

impl DhcpPacket {
    /// The client's MAC: `chaddr` when the hardware is Ethernet (type 1, length 6) and the
    /// address names one device.
    pub fn client_mac(&self) -> Option<MacAddr> {
        if self.hardware_type != 1 || self.hardware_len != 6 {
            return None;
        }
        MacAddr::from_slice(self.client_hardware.get(..6)?).filter(|mac| mac.is_device())
    }

    /// What the message proves about the client: always about `chaddr`, never about the frame
    /// source (a relay forwards the client's message under its own MAC, and a server answers
    /// from its own).
    ///
    /// A client message (DISCOVER, REQUEST, DECLINE, RELEASE, INFORM) gives the client's
    /// fingerprint, its host name and the address it holds (`ciaddr`, non-zero only when it
    /// has one: INFORM, RELEASE, a renewing REQUEST). A server's ACK gives only the binding of
    /// `yiaddr` to the client: its fields are the server's, not the client's, and must not
    /// replace the client's own fingerprint. Offers, NAKs and plain BOOTP prove nothing.
    pub(crate) fn sighting(&self, _sender: &Sender) -> Option<Sighting> {
        use message_type::{ACK, DECLINE, DISCOVER, INFORM, RELEASE, REQUEST};
        let mac = self.client_mac()?;
        let address = |ip: Ipv4Addr| {
            let ip = IpAddr::V4(ip);
            is_device_ip(ip).then_some(ip).into_iter().collect()
        };
        match (self.operation, self.details.message_type) {
            (Operation::Request, DISCOVER | REQUEST | INFORM) => Some(Sighting {
                mac: Some(mac),
                ips: address(self.client_ip),
                hostname: self.host_name.clone(),
                services: Vec::new(),
                detail: Some(Detail::Dhcp(self.details.clone())),
            }),
            // A client giving its address back (or refusing one) is there, but such messages
            // carry no parameter request list: as a detail they would replace the client's
            // fingerprint in the inventory with an empty one.
            (Operation::Request, DECLINE | RELEASE) => Some(Sighting {
                mac: Some(mac),
                ips: address(self.client_ip),
                hostname: self.host_name.clone(),
                ..Sighting::default()
            }),
            (Operation::Reply, ACK) => Some(Sighting {
                mac: Some(mac),
                ips: address(self.your_ip),
                ..Sighting::default()
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
