//! The `hygie.v1` contract between Hygie agents and the collector.
//!
//! - [`pb`]: the generated protobuf messages and gRPC client/server stubs.
//! - The domain types both sides share come from `hygie-domain` and are re-exported here, so a
//!   crate speaking the contract needs one import. Converting a wire message with `TryFrom`
//!   either yields a checked, normalised domain value or an [`InvalidMessage`] that names the
//!   offending field.

pub mod codec;
mod convert;
mod host;
pub mod wire;

#[cfg(test)]
mod tests;

/// Generated `hygie.v1` messages and gRPC stubs.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    reason = "generated code"
)]
pub mod pb {
    tonic::include_proto!("hygie.v1");
}

pub use convert::{encode_observation, timestamp_from_wire, timestamp_to_wire};
pub use host::kernel_hostname;
pub use hygie_domain::*;

/// The contract's package version, reported in logs and the collector's Welcome.
pub const CONTRACT: &str = "hygie.v1";

/// gRPC metadata key set on an `invalid_argument` status that refuses one batch: its value is
/// the refused batch's sequence. The agent sets that batch aside and resumes with the next one;
/// an `invalid_argument` without it (a bad Hello) is fatal to the stream.
pub const REJECTED_SEQUENCE_METADATA: &str = "hygie-rejected-sequence";
