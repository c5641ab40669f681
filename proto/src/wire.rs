//! Checking an encoded message against the contract's limits *before* it is decoded.
//!
//! prost allocates as it decodes, and checks nothing: an `ObservationBatch` of 8 million empty
//! observations fits in 16 MB on the wire and decodes into gigabytes, long before the
//! 5,000-entry limit can be checked on the decoded value. So every message a peer sends is
//! first walked once on the wire, without allocating, against a table of the contract's fields:
//! each repeated field has a count limit ([`limits`]), an observation a byte limit, and the
//! walk adds up what the decoded message will hold on the heap ([`Shape::decoded_bytes`]).
//! Only a message that passes is handed to prost.
//!
//! Unknown fields are skipped (a newer peer may send them; prost skips them too, without
//! allocating). Fields of a known number but the wrong wire type are refused here, as prost
//! would refuse them. Groups (wire types 3 and 4, deprecated since proto2) are refused, and so
//! is a singular message field that appears twice in one parent: prost would merge the two,
//! adding up their repeated fields past the limits each was checked against.

use std::mem::size_of;

use hygie_domain::{Invalid, InvalidMessage, limits};

use crate::pb;

/// What a checked message turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// Field number of the `oneof kind` member set (0 if none), e.g. 2 for a batch.
    pub kind: u32,
    /// The batch's sequence number, if the message is a batch that carries one.
    pub sequence: Option<u64>,
    /// An upper estimate of the heap the decoded message holds, in bytes.
    pub decoded_bytes: usize,
}

/// A refused message: the reason, and the batch it belonged to if that was known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct WireRefusal {
    /// Why, naming the field.
    pub error: InvalidMessage,
    /// The refused batch's sequence, when the message was a batch whose sequence came first.
    pub sequence: Option<u64>,
}

/// Checks an encoded `hygie.v1.AgentMessage`.
pub fn check_agent_message(bytes: &[u8]) -> Result<Shape, WireRefusal> {
    check(bytes, &AGENT_MESSAGE, 2)
}

/// Checks an encoded `hygie.v1.CollectorMessage`.
pub fn check_collector_message(bytes: &[u8]) -> Result<Shape, WireRefusal> {
    check(bytes, &COLLECTOR_MESSAGE, 0)
}

/// `batch_field`: the top-level field whose field 1 is a batch sequence (0: none).
fn check(bytes: &[u8], schema: &'static Schema, batch_field: u32) -> Result<Shape, WireRefusal> {
    let mut shape = Shape {
        decoded_bytes: schema.size,
        ..Shape::default()
    };
    let mut walk = Walk {
        decoded: schema.size,
        sequence: None,
        batch_field,
        kind: 0,
    };
    let result = walk.message(bytes, schema, 0);
    shape.kind = walk.kind;
    shape.sequence = walk.sequence;
    shape.decoded_bytes = walk.decoded;
    result.map(|()| shape).map_err(|error| WireRefusal {
        error,
        sequence: walk.sequence,
    })
}

/// How a field is encoded and what decoding it costs.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A varint, fixed32 or fixed64 scalar (or an enum): stored inline.
    Scalar,
    /// `string` or `bytes`: the payload is copied to the heap.
    Bytes,
    /// `repeated uint32`, packed (or not, which is also legal).
    PackedVarints,
    /// A nested message.
    Message(&'static Schema),
}

#[derive(Debug)]
struct FieldSpec {
    number: u32,
    name: &'static str,
    kind: Kind,
    /// For repeated fields: the most entries one parent may hold. `None`: singular.
    max_count: Option<usize>,
    /// The most bytes one entry may take on the wire (`usize::MAX`: only the message bound).
    max_len: usize,
    /// Heap bytes per entry beyond its payload: the element of a `Vec` for repeated fields,
    /// 0 for a singular field stored inline.
    element: usize,
}

#[derive(Debug)]
struct Schema {
    /// Heap bytes of the message itself when it is an element of a repeated field.
    size: usize,
    fields: &'static [FieldSpec],
}

const fn scalar(number: u32, name: &'static str) -> FieldSpec {
    FieldSpec {
        number,
        name,
        kind: Kind::Scalar,
        max_count: None,
        max_len: usize::MAX,
        element: 0,
    }
}

const fn text(number: u32, name: &'static str) -> FieldSpec {
    FieldSpec {
        number,
        name,
        kind: Kind::Bytes,
        max_count: None,
        max_len: usize::MAX,
        element: 0,
    }
}

const fn texts(number: u32, name: &'static str, max: usize) -> FieldSpec {
    FieldSpec {
        number,
        name,
        kind: Kind::Bytes,
        max_count: Some(max),
        max_len: usize::MAX,
        element: size_of::<Vec<u8>>(),
    }
}

const fn one(number: u32, name: &'static str, schema: &'static Schema) -> FieldSpec {
    FieldSpec {
        number,
        name,
        kind: Kind::Message(schema),
        max_count: None,
        max_len: usize::MAX,
        element: 0,
    }
}

const fn many(number: u32, name: &'static str, schema: &'static Schema, max: usize) -> FieldSpec {
    FieldSpec {
        number,
        name,
        kind: Kind::Message(schema),
        max_count: Some(max),
        max_len: usize::MAX,
        element: schema.size,
    }
}

const fn inline(fields: &'static [FieldSpec]) -> Schema {
    Schema { size: 0, fields }
}

static TIMESTAMP: Schema = inline(&[scalar(1, "seconds"), scalar(2, "nanos")]);

static IP_NETWORK: Schema = Schema {
    size: size_of::<pb::IpNetwork>(),
    fields: &[text(1, "address"), scalar(2, "prefix_len")],
};

static AGENT_INTERFACE: Schema = Schema {
    size: size_of::<pb::AgentInterface>(),
    fields: &[
        text(1, "name"),
        text(2, "mac"),
        many(3, "networks", &IP_NETWORK, limits::MAX_INTERFACE_NETWORKS),
    ],
};

static HELLO: Schema = inline(&[
    text(1, "agent_version"),
    text(2, "hostname"),
    many(3, "interfaces", &AGENT_INTERFACE, limits::MAX_INTERFACES),
    text(4, "outbox_id"),
]);

static TXT_ENTRY: Schema = Schema {
    size: size_of::<pb::TxtEntry>(),
    fields: &[text(1, "key"), text(2, "value"), scalar(3, "flag")],
};

static MDNS_SERVICE: Schema = Schema {
    size: size_of::<pb::MdnsService>(),
    fields: &[
        text(1, "instance"),
        text(2, "service_type"),
        scalar(3, "port"),
        many(4, "txt", &TXT_ENTRY, limits::MAX_TXT_ENTRIES),
    ],
};

static DHCP: Schema = inline(&[
    scalar(1, "version"),
    scalar(2, "message_type"),
    FieldSpec {
        number: 3,
        name: "parameter_request_list",
        kind: Kind::PackedVarints,
        max_count: Some(limits::MAX_PARAMETER_REQUESTS),
        max_len: usize::MAX,
        element: size_of::<u32>(),
    },
    text(4, "vendor_class"),
    scalar(5, "vendor_enterprise"),
    text(6, "client_id"),
    text(7, "fqdn"),
    texts(8, "user_class", limits::MAX_DETAIL_ITEMS),
    text(9, "requested_address"),
]);

static LLDP_MED: Schema = inline(&[
    scalar(1, "device_class"),
    text(2, "hardware_revision"),
    text(3, "firmware_revision"),
    text(4, "software_revision"),
    text(5, "serial_number"),
    text(6, "manufacturer"),
    text(7, "model"),
    text(8, "asset_id"),
]);

static LLDP: Schema = inline(&[
    text(1, "chassis_id"),
    text(2, "port_id"),
    text(3, "port_description"),
    text(4, "system_name"),
    text(5, "system_description"),
    texts(6, "capabilities", limits::MAX_DETAIL_ITEMS),
    texts(7, "management_addresses", limits::MAX_DETAIL_ITEMS),
    one(8, "med", &LLDP_MED),
]);

static SSDP: Schema = inline(&[
    scalar(1, "message"),
    text(2, "notification_subtype"),
    text(3, "server"),
    text(4, "user_agent"),
    text(5, "notification_type"),
    text(6, "usn"),
    text(7, "location"),
]);

static CDP: Schema = inline(&[
    text(1, "device_id"),
    text(2, "platform"),
    text(3, "software_version"),
    text(4, "port_id"),
    texts(5, "capabilities", limits::MAX_DETAIL_ITEMS),
    texts(6, "addresses", limits::MAX_DETAIL_ITEMS),
    scalar(7, "native_vlan"),
]);

static NETBIOS_NAME: Schema = Schema {
    size: size_of::<pb::NetbiosName>(),
    fields: &[text(1, "name"), scalar(2, "suffix"), scalar(3, "group")],
};

static NETBIOS: Schema = inline(&[
    many(1, "names", &NETBIOS_NAME, limits::MAX_DETAIL_ITEMS),
    text(2, "workgroup"),
]);

static ND: Schema = inline(&[scalar(1, "router")]);

static OBSERVATION: Schema = Schema {
    size: size_of::<pb::Observation>(),
    fields: &[
        text(1, "mac"),
        texts(2, "ipv4", limits::MAX_ADDRESSES),
        texts(3, "ipv6", limits::MAX_ADDRESSES),
        one(4, "seen_at", &TIMESTAMP),
        scalar(5, "source"),
        text(6, "interface"),
        text(7, "hostname"),
        many(8, "services", &MDNS_SERVICE, limits::MAX_SERVICES),
        one(16, "dhcp", &DHCP),
        one(17, "lldp", &LLDP),
        one(18, "ssdp", &SSDP),
        one(19, "cdp", &CDP),
        one(20, "netbios", &NETBIOS),
        one(21, "nd", &ND),
    ],
};

static BATCH: Schema = inline(&[
    scalar(1, "sequence"),
    FieldSpec {
        number: 2,
        name: "observations",
        kind: Kind::Message(&OBSERVATION),
        max_count: Some(limits::MAX_BATCH_OBSERVATIONS),
        max_len: limits::MAX_OBSERVATION_BYTES,
        element: size_of::<pb::Observation>(),
    },
]);

static HEARTBEAT: Schema = inline(&[scalar(1, "applied_policy_version")]);

static AGENT_MESSAGE: Schema = Schema {
    size: size_of::<pb::AgentMessage>(),
    fields: &[
        one(1, "hello", &HELLO),
        one(2, "batch", &BATCH),
        one(3, "heartbeat", &HEARTBEAT),
    ],
};

static WELCOME: Schema = inline(&[
    text(1, "agent_name"),
    text(2, "site"),
    scalar(3, "max_batch_observations"),
    text(4, "collector_version"),
    scalar(5, "last_committed_sequence"),
    scalar(6, "heartbeat_interval_seconds"),
]);

static ACK: Schema = inline(&[
    scalar(1, "sequence"),
    scalar(2, "accepted"),
    scalar(3, "duplicate"),
    scalar(4, "refused_new_assets"),
]);

static PROTECTED_DEVICE: Schema = Schema {
    size: size_of::<pb::ProtectedDevice>(),
    fields: &[
        text(1, "mac"),
        texts(2, "addresses", limits::MAX_POLICY_DEVICE_ADDRESSES),
        scalar(3, "reason"),
    ],
};

static SCAN_POLICY: Schema = inline(&[
    scalar(1, "version"),
    many(2, "devices", &PROTECTED_DEVICE, limits::MAX_POLICY_DEVICES),
    many(3, "networks", &IP_NETWORK, limits::MAX_POLICY_NETWORKS),
    scalar(4, "passive_only"),
]);

static COLLECTOR_MESSAGE: Schema = Schema {
    size: size_of::<pb::CollectorMessage>(),
    fields: &[
        one(1, "welcome", &WELCOME),
        one(2, "ack", &ACK),
        one(3, "scan_policy", &SCAN_POLICY),
    ],
};

/// The most fields a schema above has: per-field counters live in a fixed array.
const MAX_FIELDS: usize = 16;

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

struct Walk {
    decoded: usize,
    sequence: Option<u64>,
    batch_field: u32,
    /// The top-level field being walked.
    kind: u32,
}

/// A refusal of malformed encoding (truncated, bad varint, group, wrong wire type).
fn malformed(name: &str) -> InvalidMessage {
    InvalidMessage::new(name, Invalid::Malformed)
}

impl Walk {
    /// Walks one message; `depth` 0 is the top level.
    fn message(
        &mut self,
        mut bytes: &[u8],
        schema: &'static Schema,
        depth: u32,
    ) -> Result<(), InvalidMessage> {
        let mut counts = [0usize; MAX_FIELDS];
        while !bytes.is_empty() {
            let key = varint(&mut bytes).ok_or_else(|| malformed(""))?;
            let (number, wire_type) = (key >> 3, (key & 7) as u8);
            let Some((index, spec)) = u32::try_from(number).ok().and_then(|number| {
                schema
                    .fields
                    .iter()
                    .enumerate()
                    .find(|(_, spec)| spec.number == number)
            }) else {
                skip(&mut bytes, wire_type).ok_or_else(|| malformed(""))?;
                continue;
            };
            let count = &mut counts[index];
            *count += 1;
            let entry = *count - 1;
            let within = |error: InvalidMessage| {
                if spec.max_count.is_some() {
                    error.within(format_args!("{}[{entry}]", spec.name))
                } else {
                    error.within(spec.name)
                }
            };
            if let Some(max) = spec.max_count
                && *count > max
                && !matches!(spec.kind, Kind::PackedVarints)
            {
                return Err(InvalidMessage::new(
                    spec.name,
                    Invalid::TooMany { count: *count, max },
                ));
            }
            // prost merges a singular message that appears twice, adding up its repeated
            // fields past what each occurrence was checked for; no encoder sends one twice.
            if spec.max_count.is_none() && matches!(spec.kind, Kind::Message(_)) && *count > 1 {
                return Err(InvalidMessage::new(spec.name, Invalid::Repeated));
            }
            match (spec.kind, wire_type) {
                (Kind::Scalar, WIRE_VARINT) => {
                    let value = varint(&mut bytes).ok_or_else(|| malformed(spec.name))?;
                    if depth == 1 && self.kind == self.batch_field && spec.number == 1 {
                        self.sequence = Some(value);
                    }
                }
                (Kind::Scalar, WIRE_FIXED64 | WIRE_FIXED32) => {
                    skip(&mut bytes, wire_type).ok_or_else(|| malformed(spec.name))?;
                }
                (Kind::PackedVarints, WIRE_VARINT) => {
                    varint(&mut bytes).ok_or_else(|| malformed(spec.name))?;
                    self.decoded += spec.element * 2;
                    check_packed(spec, *count)?;
                }
                (Kind::PackedVarints, WIRE_LEN) => {
                    let payload = take_len(&mut bytes).ok_or_else(|| malformed(spec.name))?;
                    let mut values = payload;
                    let mut entries = 0;
                    while !values.is_empty() {
                        varint(&mut values).ok_or_else(|| malformed(spec.name))?;
                        entries += 1;
                    }
                    // `count` counted the packed run as one; count its entries instead (an
                    // empty run holds none).
                    *count = *count - 1 + entries;
                    self.decoded += spec.element * 2 * entries;
                    check_packed(spec, *count)?;
                }
                (Kind::Bytes, WIRE_LEN) => {
                    let payload = take_len(&mut bytes).ok_or_else(|| malformed(spec.name))?;
                    check_len(spec, payload.len()).map_err(within)?;
                    // A Vec element (doubled: a Vec grows by doubling) and the payload copy.
                    self.decoded += spec.element * 2 + payload.len();
                }
                (Kind::Message(nested), WIRE_LEN) => {
                    let payload = take_len(&mut bytes).ok_or_else(|| malformed(spec.name))?;
                    check_len(spec, payload.len()).map_err(within)?;
                    self.decoded += spec.element * 2;
                    if depth == 0 {
                        // A later member of the oneof replaces an earlier one, as in prost.
                        self.kind = spec.number;
                        self.sequence = None;
                    }
                    self.message(payload, nested, depth + 1).map_err(within)?;
                }
                _ => return Err(malformed(spec.name)),
            }
        }
        Ok(())
    }
}

fn check_packed(spec: &FieldSpec, count: usize) -> Result<(), InvalidMessage> {
    match spec.max_count {
        Some(max) if count > max => Err(InvalidMessage::new(
            spec.name,
            Invalid::TooMany { count, max },
        )),
        _ => Ok(()),
    }
}

fn check_len(spec: &FieldSpec, len: usize) -> Result<(), InvalidMessage> {
    if len > spec.max_len {
        return Err(InvalidMessage::new(
            "",
            Invalid::TooLong {
                len,
                max: spec.max_len,
            },
        ));
    }
    Ok(())
}

/// Reads a base-128 varint of at most 10 bytes.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in 0..10 {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << (shift * 7);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn take_len<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(varint(bytes)?).ok()?;
    if len > bytes.len() {
        return None;
    }
    let (payload, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(payload)
}

fn skip(bytes: &mut &[u8], wire_type: u8) -> Option<()> {
    match wire_type {
        WIRE_VARINT => varint(bytes).map(drop),
        WIRE_FIXED64 => advance(bytes, 8),
        WIRE_LEN => take_len(bytes).map(drop),
        WIRE_FIXED32 => advance(bytes, 4),
        // Groups (3, 4) and the unused 6 and 7.
        _ => None,
    }
}

fn advance(bytes: &mut &[u8], len: usize) -> Option<()> {
    *bytes = bytes.get(len..)?;
    Some(())
}

#[cfg(test)]
mod tests;
