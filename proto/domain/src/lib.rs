//! The domain types Hygie's agents and collector share, with no wire format, database or
//! runtime attached: so the packet decoders and the classifier that build on them compile and
//! test in seconds.
//!
//! - [`MacAddr`]: EUI-48 addresses in every field spelling.
//! - [`Observation`]: what an agent saw of one device, with its [`Detail`] (DHCP, SSDP, LLDP,
//!   CDP, NetBIOS, IPv6 ND) and [`MdnsService`]s; [`Observation::check`] enforces [`limits`].
//! - [`AgentHello`], [`ObservationBatch`]: the framing of an agent's stream.
//! - [`ScanPolicy`]: what an agent must never probe actively, and its [`ProbeGuard`].
//! - [`InvalidMessage`]: why a value is refused, naming the field (`observations[3].mac`).
//! - [`text`]: cleaning device-supplied strings for observations and for screens.

#![warn(missing_docs)]

mod details;
mod errors;
mod invalid;
pub mod limits;
mod mac;
mod observation;
mod policy;
mod session;
pub mod text;

pub use details::{
    CdpDetails, Detail, DetailKey, DetailKind, DhcpDetails, DhcpVersion, LldpDetails, LldpMed,
    NdDetails, NetbiosDetails, NetbiosName, SsdpDetails, SsdpMessage,
};
pub use errors::error_chain;
pub use invalid::{Invalid, InvalidMessage, check_count};
pub use mac::{MacAddr, MacParseError};
pub use observation::{MdnsService, Observation, Source, UnknownSource, is_device_ip};
pub use policy::{ProbeGuard, ProtectedDevice, ProtectionReason, ScanPolicy, UnknownReason};
pub use session::{AgentHello, AgentInterface, ObservationBatch, OutboxId, check_sequence};
pub use text::{is_unsafe_char, terminal_safe};
