//! Bounds on what one message may carry. Both sides enforce them: the agent clamps what it
//! observes before queuing it, the collector rejects anything larger with `invalid_argument`.

/// Observations in one batch (`hygie.v1.ObservationBatch`).
pub const MAX_BATCH_OBSERVATIONS: usize = 5_000;
/// IPv4 plus IPv6 addresses in one observation.
pub const MAX_ADDRESSES: usize = 32;
/// Host name, in bytes (a DNS name is at most 253 characters).
pub const MAX_HOSTNAME_LEN: usize = 253;
/// Interface name, in bytes.
pub const MAX_INTERFACE_LEN: usize = 64;
/// Services announced by one device in one observation.
pub const MAX_SERVICES: usize = 64;
/// DNS-SD instance name and service type, in bytes.
pub const MAX_SERVICE_NAME_LEN: usize = 255;
/// TXT entries of one service.
pub const MAX_TXT_ENTRIES: usize = 64;
/// A TXT key, in bytes.
pub const MAX_TXT_KEY_LEN: usize = 64;
/// A TXT value, in bytes (a DNS TXT string is at most 255 bytes; lossy decoding may grow it).
pub const MAX_TXT_VALUE_LEN: usize = 512;
/// Free-text fields of the agent's Hello (version, host name), in bytes.
pub const MAX_HELLO_TEXT_LEN: usize = 255;
/// Interfaces listed in one Hello.
pub const MAX_INTERFACES: usize = 64;
/// Addresses of one interface in a Hello.
pub const MAX_INTERFACE_NETWORKS: usize = 64;
/// One encoded `hygie.v1.Observation`, in bytes. The field limits above would allow far more
/// (64 services of 64 TXT entries); an agent drops TXT entries, then services, until an
/// observation fits, and a collector refuses one that does not.
pub const MAX_OBSERVATION_BYTES: usize = 16 * 1024;
/// The encoded observations of one batch, in bytes, not counting the field tag and length that
/// frame each of them.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// The tag and length framing one observation of at most [`MAX_OBSERVATION_BYTES`] in a batch.
pub const OBSERVATION_FRAMING_BYTES: usize = 4;
/// What an `AgentMessage` adds around a batch: its own tag and length, and the sequence field.
const BATCH_FRAMING_BYTES: usize = 32;
/// Largest encoded gRPC message either side accepts, in bytes: a full batch with its framing,
/// derived from the batch limits rather than chosen. Everything else on the stream (a Hello, a
/// scan policy) is smaller.
pub const MAX_MESSAGE_BYTES: usize =
    MAX_BATCH_BYTES + MAX_BATCH_OBSERVATIONS * OBSERVATION_FRAMING_BYTES + BATCH_FRAMING_BYTES;
// A tag byte and a length of at most three varint bytes frame an observation.
const _: () = assert!(MAX_OBSERVATION_BYTES < 1 << 21 && OBSERVATION_FRAMING_BYTES >= 4);
/// Devices listed in one scan policy. A site with more protected devices gets a passive-only
/// policy instead (see `ScanPolicy.passive_only`).
pub const MAX_POLICY_DEVICES: usize = 20_000;
/// Addresses of one protected device in a scan policy.
pub const MAX_POLICY_DEVICE_ADDRESSES: usize = 8;
/// Networks in one scan policy.
pub const MAX_POLICY_NETWORKS: usize = 1_024;
/// A free-text field of a protocol detail (an SSDP header, an LLDP description, a DHCP vendor
/// class), in bytes.
pub const MAX_DETAIL_TEXT_LEN: usize = 512;
/// Entries of a list in a protocol detail (capabilities, addresses, NetBIOS names, user classes).
pub const MAX_DETAIL_ITEMS: usize = 32;
/// Codes in a DHCP parameter request list (option 55 holds at most 255 one-byte codes).
pub const MAX_PARAMETER_REQUESTS: usize = 255;
/// A DHCP client identifier or DUID in hex (option 61 holds at most 255 bytes).
pub const MAX_CLIENT_ID_HEX_LEN: usize = 2 * 255;
/// A capability label such as `telephone`, in bytes.
pub const MAX_LABEL_LEN: usize = 32;
/// A NetBIOS name (15 characters on the wire, each perhaps shown as U+FFFD), in bytes.
pub const MAX_NETBIOS_NAME_LEN: usize = 48;
