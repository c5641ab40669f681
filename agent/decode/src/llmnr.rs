//! LLMNR, link-local multicast name resolution (RFC 4795): the DNS part ([`crate::ip`]
//! decodes the IP and UDP headers). Windows hosts (and systemd-resolved) ask for a name on
//! 224.0.0.252 / ff02::1:3, port 5355, and the host that has the name answers by unicast.
//!
//! The message is a DNS message whose header flags differ: QR (response), the opcode, C
//! (conflict: the name is not unique), TC (truncated), T (tentative: the responder has not yet
//! verified that the name is unique), four reserved Z bits (ignored, RFC 4795 §2.1.1) and the
//! response code. The header is read here; the sections are parsed by `simple-dns`. Only the
//! question and the A and AAAA records of the answer section are kept.
//!
//! Everything in a message is device-supplied and untrusted. RFC 4795 has exactly one question
//! in every message, so anything else is refused, and so is a message claiming more than
//! [`MAX_RECORDS`] records, before anything is allocated for them. Names are cleaned of
//! control and invisible characters and clamped.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hygie_domain::is_device_ip;
use hygie_domain::text::clean_hostname;
use simple_dns::rdata::RData;
use simple_dns::{CLASS, Packet};

use crate::heard::{Sender, Sighting};

/// The LLMNR port.
pub const PORT: u16 = 5355;
/// The most records (answer, authority and additional together) a message may claim. A real
/// response answers its one question with a few addresses; a larger claim is refused before
/// `simple-dns` sizes its vectors by it.
pub const MAX_RECORDS: usize = 64;

/// The DNS header's length.
const HEADER_LEN: usize = 12;
/// The header's reserved Z bits. `simple-dns` refuses a message with one of them (0x0040)
/// set, as plain DNS requires; LLMNR says to ignore them.
const Z_BITS: u16 = 0x00f0;

/// Why a LLMNR message was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmnrError {
    /// Shorter than the 12-byte header.
    #[error("LLMNR message truncated: {0} of 12 header bytes")]
    Truncated(usize),
    /// An opcode other than 0 (standard query), the only one LLMNR defines.
    #[error("LLMNR opcode {0}, not a standard query")]
    Opcode(u8),
    /// RFC 4795 §2.1.1: queries and responses with a question count other than one are
    /// discarded.
    #[error("LLMNR message with {0} questions, not one")]
    QuestionCount(u16),
    /// More records than [`MAX_RECORDS`].
    #[error("LLMNR message claiming {0} records")]
    TooManyRecords(usize),
    /// The sections do not parse as DNS.
    #[error("malformed LLMNR message: {0}")]
    Malformed(String),
}

impl LlmnrError {
    /// A short, stable name of the reason, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmnrError::Truncated(_) => "truncated LLMNR",
            LlmnrError::Opcode(_) => "unknown LLMNR opcode",
            LlmnrError::QuestionCount(_) => "LLMNR question count not one",
            LlmnrError::TooManyRecords(_) => "too many LLMNR records",
            LlmnrError::Malformed(_) => "malformed LLMNR",
        }
    }
}

/// The question of a LLMNR message: the name asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmnrQuestion {
    /// The name, cleaned (lower case, no trailing dot); `None` if nothing was left.
    pub name: Option<String>,
    /// The record type asked for (1 A, 28 AAAA, 255 ANY, ...).
    pub record_type: u16,
}

/// An A or AAAA record of the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmnrAnswer {
    /// The name, cleaned (lower case, no trailing dot).
    pub name: String,
    /// Its address.
    pub address: IpAddr,
}

/// A decoded LLMNR message.
///
/// Its sighting: the sender's MAC when the frame names it (`on_link`), and its address. A
/// response proves the sender's own name when an answer for the name asked gives it the
/// sender's address; the other addresses answered for that name are the sender's too. A query
/// proves only that the sender is there: the name asked for is someone else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmnrPacket {
    /// The transaction id.
    pub id: u16,
    /// QR: a response (true) or a query.
    pub response: bool,
    /// C: in a query, the sender saw several answers; in a response, the name is not unique.
    pub conflict: bool,
    /// TC: the message was truncated.
    pub truncated: bool,
    /// T: the responder has not yet verified that the name is unique.
    pub tentative: bool,
    /// The response code (0: no error).
    pub response_code: u8,
    /// The question.
    pub question: LlmnrQuestion,
    /// The A and AAAA records of the answer section (class IN), in order.
    pub answers: Vec<LlmnrAnswer>,
}

/// Decodes a LLMNR message.
pub fn parse(payload: &[u8]) -> Result<LlmnrPacket, LlmnrError> {
    let header: &[u8; HEADER_LEN] = payload
        .get(..HEADER_LEN)
        .and_then(|header| header.try_into().ok())
        .ok_or(LlmnrError::Truncated(payload.len()))?;
    let word = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    let flags = word(2);
    let opcode = ((flags >> 11) & 0x0f) as u8;
    if opcode != 0 {
        return Err(LlmnrError::Opcode(opcode));
    }
    let questions = word(4);
    if questions != 1 {
        return Err(LlmnrError::QuestionCount(questions));
    }
    // Bounded before `simple-dns` allocates a vector per section from these counts.
    let records = usize::from(word(6)) + usize::from(word(8)) + usize::from(word(10));
    if records > MAX_RECORDS {
        return Err(LlmnrError::TooManyRecords(records));
    }
    let bytes = if flags & Z_BITS == 0 {
        Cow::Borrowed(payload)
    } else {
        let mut copy = payload.to_vec();
        if let Some(low) = copy.get_mut(3) {
            *low &= !(Z_BITS as u8);
        }
        Cow::Owned(copy)
    };
    let packet = Packet::parse(&bytes).map_err(|error| LlmnrError::Malformed(error.to_string()))?;
    let question = packet
        .questions
        .first()
        .map(|question| LlmnrQuestion {
            name: clean_hostname(&crate::mdns::name_text(&question.qname)),
            record_type: question.qtype.into(),
        })
        .ok_or(LlmnrError::QuestionCount(0))?;
    let answers = packet
        .answers
        .iter()
        .filter(|record| record.class == CLASS::IN)
        .filter_map(|record| {
            let address = match &record.rdata {
                RData::A(a) => IpAddr::V4(Ipv4Addr::from(a.address)),
                RData::AAAA(aaaa) => IpAddr::V6(Ipv6Addr::from(aaaa.address)),
                _ => return None,
            };
            let name = clean_hostname(&crate::mdns::name_text(&record.name))?;
            Some(LlmnrAnswer { name, address })
        })
        .collect();
    Ok(LlmnrPacket {
        id: word(0),
        response: flags & 0x8000 != 0,
        conflict: flags & 0x0400 != 0,
        truncated: flags & 0x0200 != 0,
        tentative: flags & 0x0100 != 0,
        response_code: (flags & 0x000f) as u8,
        question,
        answers,
    })
}

impl LlmnrPacket {
    /// What the message proves about its sender.
    pub(crate) fn sighting(&self, sender: &Sender) -> Option<Sighting> {
        // Queries go to a group, so their frame names the sender; responses are unicast to
        // the querier, and `on_link` says whether the frame still names the sender.
        let mac = sender.own_mac()?;
        let source = sender.ip?;
        let mut ips: Vec<IpAddr> = Vec::new();
        if is_device_ip(source) {
            ips.push(source);
        }
        // A query proves only that the sender is there: the name it asks for is, as a rule,
        // someone else's. A host also asks for its own name when it starts, to find out
        // whether another host holds it (RFC 4795 §4.1), but nothing in the query tells that
        // check apart from an ordinary lookup, so its name is never taken for the sender's.
        //
        // A response names the sender when an answer for the name asked (a responder answers
        // for nothing else) gives it the sender's address, unless the response says the name
        // is not unique (C), not yet verified (T: a querier must discard it, RFC 4795 §2.1.1)
        // or is an error. A poisoner answering every query with its own address gets those
        // names on its own MAC: what it claims, and visible as such.
        let confirmed =
            self.response && !self.conflict && !self.tentative && self.response_code == 0;
        let asked = self.question.name.as_ref().filter(|_| confirmed);
        let hostname = asked.and_then(|asked| {
            self.answers
                .iter()
                .find(|answer| &answer.name == asked && answer.address == source)
                .map(|answer| answer.name.clone())
        });
        if let Some(name) = &hostname {
            for answer in self.answers.iter().filter(|answer| &answer.name == name) {
                if is_device_ip(answer.address) && !ips.contains(&answer.address) {
                    ips.push(answer.address);
                }
            }
        }
        ips.truncate(hygie_domain::limits::MAX_ADDRESSES);
        Some(Sighting {
            mac: Some(mac),
            ips,
            hostname,
            ..Sighting::default()
        })
    }
}

#[cfg(test)]
mod tests;
