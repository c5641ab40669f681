//! Bounds on what one message may carry. Both sides enforce them: the agent clamps what it
//! observes before queuing it, the collector rejects anything larger with `invalid_argument`.

/// Observations in one [`crate::pb::ObservationBatch`].
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
/// Largest encoded gRPC message either side accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
