//! Hygie's passive decoders: `&[u8]` in, typed value out, with no I/O, clock or runtime, so
//! they build, test and fuzz in seconds. Live capture and capture-file replay both go through
//! [`decode`] and [`Heard::observation`], so they decode exactly alike.
//!
//! Protocols: link layer ([`frame`]: Ethernet, Linux cooked captures, VLAN tags, LLC/SNAP),
//! [`arp`], [`ip`] and UDP, [`mdns`], [`dhcp`] (v4), [`dhcpv6`], [`ssdp`], [`lldp`] (with
//! LLDP-MED), [`cdp`], [`nbns`] (NetBIOS name service), [`llmnr`] and [`nd`] (IPv6 neighbour
//! discovery). Each refuses a malformed packet with a reason that [`DecodeError::kind`] names
//! for counts; none panics on any input (their tests feed random and mutated real frames, and
//! each has a cargo fuzz target).
//!
//! LLDP and CDP are heard on the agent's own link only: switches consume them rather than
//! forward them, so an agent learns of the switch port it is plugged into and of the devices
//! sharing its segment through a hub or a mirror port, not of the whole network.

#![warn(missing_docs)]

pub mod arp;
pub mod cdp;
pub mod dhcp;
pub mod dhcpv6;
pub mod frame;
mod heard;
pub mod ip;
pub mod lldp;
pub mod llmnr;
pub mod mdns;
pub mod nbns;
pub mod nd;
pub mod ssdp;

#[cfg(test)]
mod testing;

pub use frame::LinkType;
pub use heard::{DecodeError, Heard, Hearing, Message, Sender, Sighting, decode};
