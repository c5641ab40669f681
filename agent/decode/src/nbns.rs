//! The NetBIOS name service (RFC 1001 / RFC 1002), UDP port 137: how Windows machines, Samba
//! servers and many embedded devices (printers, NAS, medical workstations) claim and find
//! NetBIOS names on a LAN.
//!
//! The format is DNS's: a 12-byte header (transaction id; flags with the response bit, a 4-bit
//! opcode and the broadcast bit; counts of questions, answers, authority and additional
//! records), questions, then resource records. Names are NetBIOS names in first-level
//! encoding: a 32-byte label of `'A' + nibble` characters holding 15 name characters padded
//! with spaces and a 16th byte, the suffix, saying what the name is (`0x00` workstation, `0x20`
//! file server...), optionally followed by a scope (DNS labels), and perhaps reached through a
//! compression pointer. Two record types carry data: NB (an owner's flags, whose top bit marks
//! a group name, and IPv4 address, perhaps several) and NBSTAT (a node status: the names a node
//! holds, then statistics starting with its adapter's MAC, the "unit id").
//!
//! Everything is device-supplied and untrusted: counts are bounded before anything is
//! allocated, compression pointers may only point backwards and are followed a bounded number
//! of times, names are decoded lossily and cleaned. And many messages speak of another host
//! than their sender (a query names whom it looks for; a name server answers for others), so
//! the sighting of a message pins names on the sender only when the message says they are its
//! own (see there).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use hygie_domain::text::{clean_hostname, clean_label};
use hygie_domain::{Detail, MacAddr, NetbiosDetails, NetbiosName, is_device_ip, limits};

use crate::heard::{Sender, Sighting};

/// The NetBIOS name service port.
pub const PORT: u16 = 137;
/// Questions and records of all sections together that a message may announce: real messages
/// hold one question, or one question and one record, or one answer.
pub const MAX_RECORDS: usize = 64;
/// Addresses kept from one NB record (the contract's limit for one observation).
pub const MAX_NB_ENTRIES: usize = limits::MAX_ADDRESSES;
/// Record type NB: owners' flags and addresses.
pub const TYPE_NB: u16 = 0x0020;
/// Record type NBSTAT: a node status.
pub const TYPE_NBSTAT: u16 = 0x0021;
/// Opcode of a name query (and of a node status request).
pub const OPCODE_QUERY: u8 = 0;
/// Opcode of a name registration.
pub const OPCODE_REGISTRATION: u8 = 5;
/// Opcode of a name release.
pub const OPCODE_RELEASE: u8 = 6;
/// Opcode of a WACK (wait for acknowledgement).
pub const OPCODE_WACK: u8 = 7;
/// Opcode of a name refresh.
pub const OPCODE_REFRESH: u8 = 8;
/// The other opcode of a name refresh (a typo in RFC 1002 that implementations kept).
pub const OPCODE_REFRESH_ALT: u8 = 9;
/// Opcode of a multi-homed name registration.
pub const OPCODE_MULTI_HOMED_REGISTRATION: u8 = 15;
/// The group bit of NB flags and of node status name flags.
pub const GROUP_FLAG: u16 = 0x8000;

const HEADER_LEN: usize = 12;
/// A first-level encoded name: 16 bytes, two characters each.
const ENCODED_NAME_LEN: usize = 32;
/// A name's bytes on the wire, pointers followed, as for DNS.
const MAX_NAME_WIRE_LEN: usize = 255;
/// Compression pointers followed in one name: a real message needs one.
const MAX_POINTER_JUMPS: usize = 8;
/// One node status entry: 15 name bytes, the suffix, two bytes of flags.
const NODE_NAME_LEN: usize = 18;

/// Why a NetBIOS message was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NbnsError {
    /// The message ends before what its header or a length says follows.
    #[error("NetBIOS message truncated")]
    Truncated,
    /// The header announces more than [`MAX_RECORDS`] questions and records.
    #[error("NetBIOS message announces {0} questions and records")]
    TooManyRecords(usize),
    /// A name is not in first-level encoding (its first label is not 32 characters from `A` to
    /// `P`), is empty, or uses a reserved label type.
    #[error("NetBIOS name not in first-level encoding")]
    BadName,
    /// A compression pointer points forwards or at itself, or too many pointers are chained.
    #[error("NetBIOS name compression pointer loops")]
    BadPointer,
    /// A name is longer than 255 bytes on the wire.
    #[error("NetBIOS name longer than 255 bytes")]
    NameTooLong,
    /// A node status record is shorter than its count of names says.
    #[error("NetBIOS node status shorter than its names")]
    BadNodeStatus,
}

impl NbnsError {
    /// A short, stable name of the reason, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            NbnsError::Truncated => "truncated NetBIOS",
            NbnsError::TooManyRecords(_) => "too many NetBIOS records",
            NbnsError::BadName => "bad NetBIOS name",
            NbnsError::BadPointer => "bad NetBIOS name pointer",
            NbnsError::NameTooLong => "NetBIOS name too long",
            NbnsError::BadNodeStatus => "bad NetBIOS node status",
        }
    }
}

/// A NetBIOS name as sent: its 15 bytes, its suffix and its scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NbnsName {
    /// The 15 name bytes, padding included (spaces, or NULs after the `*` of a wildcard).
    pub bytes: [u8; 15],
    /// The 16th byte: what the name is.
    pub suffix: u8,
    /// The NetBIOS scope (the labels after the encoded name, joined by dots), cleaned; `None`
    /// when there is none, as on almost every network.
    pub scope: Option<String>,
}

impl NbnsName {
    /// The name without its padding, decoded lossily (NetBIOS names are in an OEM code page,
    /// not UTF-8) and cleaned of control characters; `None` if nothing is left.
    pub fn text(&self) -> Option<String> {
        let end = self
            .bytes
            .iter()
            .rposition(|b| !matches!(b, b' ' | 0))
            .map_or(0, |last| last + 1);
        let raw = self.bytes.get(..end).unwrap_or_default();
        clean_label(&String::from_utf8_lossy(raw), limits::MAX_NETBIOS_NAME_LEN)
    }

    /// The `*` name of a node status request (padded with NULs, or with spaces by sloppy
    /// stacks): nobody's name (`*` is not allowed in NetBIOS names).
    pub fn is_wildcard(&self) -> bool {
        self.bytes.first() == Some(&b'*')
            && self.bytes.iter().skip(1).all(|b| matches!(b, 0 | b' '))
    }
}

/// A question: a name and what is asked of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbnsQuestion {
    /// The name asked about (or, in a registration, refresh or release, the name claimed).
    pub name: NbnsName,
    /// [`TYPE_NB`] for a name query, [`TYPE_NBSTAT`] for a node status request.
    pub question_type: u16,
}

/// A resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbnsRecord {
    /// The name it is about.
    pub name: NbnsName,
    /// Its type.
    pub record_type: u16,
    /// Its time to live, in seconds.
    pub ttl: u32,
    /// What it says.
    pub data: RecordData,
}

/// The data of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    /// NB: the name's owners, at most [`MAX_NB_ENTRIES`] (whole 6-byte entries only; a
    /// trailing fragment, as in a WACK's 2-byte data, is ignored).
    Nb(Vec<NbEntry>),
    /// NBSTAT: a node status.
    NodeStatus(NodeStatus),
    /// Any other type, not decoded.
    Other,
}

/// One owner of a name, in an NB record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NbEntry {
    /// A group name (shared by several hosts) rather than one host's.
    pub group: bool,
    /// The owner's address.
    pub address: Ipv4Addr,
}

/// A node status: the names a node holds, and its adapter's MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The names, in the node's order.
    pub names: Vec<NodeName>,
    /// The first six bytes of the statistics, the adapter's MAC ("unit id"); `None` when the
    /// statistics are missing. Samba sends zeros.
    pub unit_id: Option<MacAddr>,
}

/// One name of a node status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeName {
    /// The name (node status names have no scope).
    pub name: NbnsName,
    /// Its flags: group bit, owner node type, and state bits (deregistering, conflict, active,
    /// permanent).
    pub flags: u16,
}

impl NodeName {
    /// A group name rather than one host's.
    pub fn group(&self) -> bool {
        self.flags & GROUP_FLAG != 0
    }
}

/// A decoded NetBIOS name service message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbnsPacket {
    /// The transaction id.
    pub transaction_id: u16,
    /// The opcode (see the `OPCODE_` constants).
    pub opcode: u8,
    /// A response rather than a request.
    pub response: bool,
    /// The broadcast bit: sent to the subnet's broadcast address (B-node behaviour).
    pub broadcast: bool,
    /// The response code (0 for success).
    pub rcode: u8,
    /// The questions.
    pub questions: Vec<NbnsQuestion>,
    /// The answer records.
    pub answers: Vec<NbnsRecord>,
    /// The authority records.
    pub authority: Vec<NbnsRecord>,
    /// The additional records (a registration's claim).
    pub additional: Vec<NbnsRecord>,
}

/// Decodes a NetBIOS name service message (the UDP payload).
pub fn parse(payload: &[u8]) -> Result<NbnsPacket, NbnsError> {
    let header = payload.get(..HEADER_LEN).ok_or(NbnsError::Truncated)?;
    let word = |at: usize| {
        header
            .get(at..at + 2)
            .map_or(0, |pair| u16::from_be_bytes([pair[0], pair[1]]))
    };
    let flags = word(2);
    let counts = [word(4), word(6), word(8), word(10)].map(usize::from);
    let total: usize = counts.iter().sum();
    if total > MAX_RECORDS {
        return Err(NbnsError::TooManyRecords(total));
    }
    let [questions, answers, authority, additional] = counts;
    let mut reader = Reader {
        message: payload,
        at: HEADER_LEN,
    };
    let questions = (0..questions)
        .map(|_| reader.question())
        .collect::<Result<_, _>>()?;
    let mut records = |count: usize| {
        (0..count)
            .map(|_| reader.record())
            .collect::<Result<Vec<_>, _>>()
    };
    let answers = records(answers)?;
    let authority = records(authority)?;
    let additional = records(additional)?;
    Ok(NbnsPacket {
        transaction_id: word(0),
        opcode: ((flags >> 11) & 0x0f) as u8,
        response: flags & 0x8000 != 0,
        broadcast: flags & 0x0010 != 0,
        rcode: (flags & 0x000f) as u8,
        questions,
        answers,
        authority,
        additional,
    })
}

/// A cursor over a message; names may point back into any part of it.
struct Reader<'a> {
    message: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], NbnsError> {
        let end = self.at.checked_add(len).ok_or(NbnsError::Truncated)?;
        let bytes = self.message.get(self.at..end).ok_or(NbnsError::Truncated)?;
        self.at = end;
        Ok(bytes)
    }

    fn u16(&mut self) -> Result<u16, NbnsError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, NbnsError> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn question(&mut self) -> Result<NbnsQuestion, NbnsError> {
        let name = self.name()?;
        let question_type = self.u16()?;
        let _class = self.u16()?;
        Ok(NbnsQuestion {
            name,
            question_type,
        })
    }

    fn record(&mut self) -> Result<NbnsRecord, NbnsError> {
        let name = self.name()?;
        let record_type = self.u16()?;
        // The class is always IN; nothing depends on it.
        let _class = self.u16()?;
        let ttl = self.u32()?;
        let len = usize::from(self.u16()?);
        let data = self.take(len)?;
        let data = match record_type {
            TYPE_NB => RecordData::Nb(nb_entries(data)),
            TYPE_NBSTAT => RecordData::NodeStatus(node_status(data)?),
            _ => RecordData::Other,
        };
        Ok(NbnsRecord {
            name,
            record_type,
            ttl,
            data,
        })
    }

    /// Reads a name at the cursor, following compression pointers, and moves past it.
    fn name(&mut self) -> Result<NbnsName, NbnsError> {
        let mut labels: Vec<&[u8]> = Vec::new();
        let mut position = self.at;
        let mut resume = None;
        let mut jumps = 0;
        let mut wire_len = 0usize;
        // Each turn either consumes a label, which the wire length bounds, or follows a
        // pointer, which the jump count bounds: the loop ends.
        loop {
            let len = *self.message.get(position).ok_or(NbnsError::Truncated)?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    resume.get_or_insert(position + 1);
                    break;
                }
                0x00 => {
                    let len = usize::from(len);
                    wire_len += 1 + len;
                    if wire_len > MAX_NAME_WIRE_LEN {
                        return Err(NbnsError::NameTooLong);
                    }
                    let label = self
                        .message
                        .get(position + 1..position + 1 + len)
                        .ok_or(NbnsError::Truncated)?;
                    labels.push(label);
                    position += 1 + len;
                }
                0xc0 => {
                    let low = *self.message.get(position + 1).ok_or(NbnsError::Truncated)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                    jumps += 1;
                    // Only backwards, as compression is meant: a pointer to itself or beyond
                    // would be a loop or a read of what is not yet decoded.
                    if target >= position || jumps > MAX_POINTER_JUMPS {
                        return Err(NbnsError::BadPointer);
                    }
                    resume.get_or_insert(position + 2);
                    position = target;
                }
                // 0x40 and 0x80: label types RFC 1002 reserves.
                _ => return Err(NbnsError::BadName),
            }
        }
        self.at = resume.unwrap_or(position);
        let (first, scope) = labels.split_first().ok_or(NbnsError::BadName)?;
        let decoded = first_level_decode(first)?;
        let (bytes, suffix) = decoded.split_at(15);
        let scope = (!scope.is_empty())
            .then(|| {
                let joined: Vec<String> = scope
                    .iter()
                    .map(|label| String::from_utf8_lossy(label).into_owned())
                    .collect();
                clean_label(&joined.join("."), limits::MAX_HOSTNAME_LEN)
            })
            .flatten();
        Ok(NbnsName {
            bytes: bytes.try_into().map_err(|_| NbnsError::BadName)?,
            suffix: suffix.first().copied().ok_or(NbnsError::BadName)?,
            scope,
        })
    }
}

/// The 16 bytes a 32-character first-level encoded label stands for.
fn first_level_decode(label: &[u8]) -> Result<[u8; 16], NbnsError> {
    if label.len() != ENCODED_NAME_LEN {
        return Err(NbnsError::BadName);
    }
    let nibble = |c: u8| match c {
        b'A'..=b'P' => Ok(c - b'A'),
        _ => Err(NbnsError::BadName),
    };
    let mut decoded = [0u8; 16];
    for (byte, pair) in decoded.iter_mut().zip(label.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(decoded)
}

fn nb_entries(data: &[u8]) -> Vec<NbEntry> {
    data.chunks_exact(6)
        .take(MAX_NB_ENTRIES)
        .map(|entry| NbEntry {
            group: u16::from_be_bytes([entry[0], entry[1]]) & GROUP_FLAG != 0,
            address: Ipv4Addr::new(entry[2], entry[3], entry[4], entry[5]),
        })
        .collect()
}

fn node_status(data: &[u8]) -> Result<NodeStatus, NbnsError> {
    let (&count, rest) = data.split_first().ok_or(NbnsError::BadNodeStatus)?;
    let names_len = usize::from(count) * NODE_NAME_LEN;
    let names = rest.get(..names_len).ok_or(NbnsError::BadNodeStatus)?;
    let names = names
        .chunks_exact(NODE_NAME_LEN)
        .map(|entry| NodeName {
            name: NbnsName {
                bytes: std::array::from_fn(|index| entry[index]),
                suffix: entry[15],
                scope: None,
            },
            flags: u16::from_be_bytes([entry[16], entry[17]]),
        })
        .collect();
    let unit_id = rest
        .get(names_len..names_len + 6)
        .and_then(MacAddr::from_slice);
    Ok(NodeStatus { names, unit_id })
}

impl NbnsPacket {
    /// What the message proves about its sender. NetBIOS names are pinned on the sender only
    /// when the message says they are its own:
    ///
    /// - a registration, refresh, multi-homed registration or release request: the names of
    ///   its questions, with the group bit and addresses of the additional NB record claiming
    ///   them (RFC 1002 always sends one; a question without it proves presence only, since
    ///   whether the name is a host's or a group's is then unknown);
    /// - a positive name query response whose NB answer lists the sender's own address: the
    ///   names answered (a name server answering for another host lists that host's address,
    ///   and proves its own presence only);
    /// - a positive node status response: the names listed; its MAC is the frame's when that
    ///   is the sender's, else the unit id when it is a device MAC (a routed answer from a
    ///   Windows host still names its adapter);
    /// - anything else, a name query request above all (the name asked is someone else's),
    ///   a WACK, a negative response, a name server's registration response (it names the
    ///   registrant, not the server): the sender's presence, its MAC and address, no names.
    ///
    /// The host name is the first unique name with suffix `0x00` (the workstation name), the
    /// workgroup the first group name with suffix `0x00`. The addresses are the source address,
    /// then those of the NB records claiming the names in a registration, and those answered
    /// for a unique name in a query response (a multi-homed host's others); the addresses
    /// answered for a group name are its other members', not the sender's.
    pub(crate) fn sighting(&self, sender: &Sender) -> Option<Sighting> {
        let claim = if self.response {
            self.answered_names(sender)
        } else if matches!(
            self.opcode,
            OPCODE_REGISTRATION
                | OPCODE_REFRESH
                | OPCODE_REFRESH_ALT
                | OPCODE_MULTI_HOMED_REGISTRATION
                | OPCODE_RELEASE
        ) {
            self.registered_names()
        } else {
            Claim::default()
        };
        let mac = sender.own_mac().or(claim.unit_id)?;
        let mut ips: Vec<IpAddr> = Vec::new();
        let candidates = sender
            .ip
            .into_iter()
            .chain(claim.addresses.iter().copied().map(IpAddr::V4));
        for ip in candidates.filter(|ip| is_device_ip(*ip)) {
            if ips.len() < limits::MAX_ADDRESSES && !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        let (hostname, detail) = claim.details();
        Some(Sighting {
            mac: Some(mac),
            ips,
            hostname,
            detail: detail.map(Detail::Netbios),
            ..Sighting::default()
        })
    }

    /// The names a registration, refresh or release claims for its sender.
    fn registered_names(&self) -> Claim {
        let mut claim = Claim::default();
        // A wildcard is not a name anyone can claim: such a message proves presence only.
        for question in self.questions.iter().filter(|q| !q.name.is_wildcard()) {
            let records = self
                .additional
                .iter()
                .filter(|record| record.name == question.name);
            for record in records {
                let RecordData::Nb(entries) = &record.data else {
                    continue;
                };
                let Some(first) = entries.first() else {
                    continue;
                };
                claim.names.push((question.name.clone(), first.group));
                // A registrant joining a group sends its own address too.
                claim
                    .addresses
                    .extend(entries.iter().map(|entry| entry.address));
            }
        }
        claim
    }

    /// The names a positive query or node status response gives as its sender's.
    fn answered_names(&self, sender: &Sender) -> Claim {
        let mut claim = Claim::default();
        if self.opcode != OPCODE_QUERY || self.rcode != 0 {
            return claim;
        }
        for answer in &self.answers {
            match &answer.data {
                RecordData::NodeStatus(status) => {
                    claim.names.extend(
                        status
                            .names
                            .iter()
                            .map(|name| (name.name.clone(), name.group())),
                    );
                    claim.unit_id = claim
                        .unit_id
                        .or(status.unit_id.filter(|mac| mac.is_device()));
                }
                RecordData::Nb(_) if answer.name.is_wildcard() => {}
                RecordData::Nb(entries) => {
                    let own = entries
                        .iter()
                        .find(|entry| sender.ip == Some(IpAddr::V4(entry.address)));
                    let Some(own) = own else {
                        continue;
                    };
                    claim.names.push((answer.name.clone(), own.group));
                    if !own.group {
                        claim
                            .addresses
                            .extend(entries.iter().map(|entry| entry.address));
                    }
                }
                RecordData::Other => {}
            }
        }
        claim
    }
}

/// Names (with their group bit) and addresses a message gives as its sender's.
#[derive(Default)]
struct Claim {
    names: Vec<(NbnsName, bool)>,
    addresses: Vec<Ipv4Addr>,
    unit_id: Option<MacAddr>,
}

impl Claim {
    /// The host name, and the names and workgroup, cleaned and bounded.
    fn details(&self) -> (Option<String>, Option<NetbiosDetails>) {
        let mut hostname = None;
        let mut workgroup = None;
        let mut names = BTreeSet::new();
        for (name, group) in &self.names {
            // `*` in a node status answers "whoever you are": it is no name of the node.
            if name.is_wildcard() {
                continue;
            }
            let Some(text) = name.text() else {
                continue;
            };
            if name.suffix == 0x00 {
                if *group {
                    workgroup.get_or_insert_with(|| text.clone());
                } else if hostname.is_none() {
                    hostname = clean_hostname(&text);
                }
            }
            if names.len() < limits::MAX_DETAIL_ITEMS {
                names.insert(NetbiosName {
                    name: text,
                    suffix: name.suffix,
                    group: *group,
                });
            }
        }
        if names.is_empty() {
            return (None, None);
        }
        let details = NetbiosDetails {
            names: names.into_iter().collect(),
            workgroup,
        };
        (hostname, Some(details))
    }
}

#[cfg(test)]
mod tests;
