//! Device discovery on the agent's subnets: passive listening first, then gentle active probing.
//!
//! - [`frame`], [`arp`], [`mdns_wire`], [`decode`]: pure decoders, `&[u8]` in, typed value out,
//!   shared by live capture and capture-file replay.
//! - [`sweep`]: the sweep plan, the rate limiter and the sweep state machine (pure, time passed
//!   in).
//! - [`capture`]: frames in and out of an interface, behind two small traits.
//! - [`live`]: the threads that run all of it on real interfaces; [`mdns_active`]: DNS-SD
//!   queries through mdns-sd.
//! - [`settings`]: the validated `[discovery]` configuration; [`text`]: cleaning device-supplied
//!   strings; [`neighbours`]: the IP → MAC table.

pub mod arp;
pub mod capture;
pub mod decode;
pub mod frame;
pub mod live;
pub mod mdns_active;
pub mod mdns_wire;
pub mod neighbours;
pub mod settings;
pub mod sweep;
pub mod text;
