//! Device discovery on the agent's subnets: passive listening first, then gentle active probing.
//!
//! The pure decoders live in `hygie-decode` (shared with capture-file replay); here:
//! - [`sweep`]: the sweep plan, the rate limiter and the sweep state machine (pure, time passed
//!   in).
//! - [`capture`]: frames in and out of an interface, behind two small traits.
//! - [`live`]: the threads that run all of it on real interfaces; [`mdns_active`]: DNS-SD
//!   queries through mdns-sd.
//! - [`settings`]: the validated `[discovery]` configuration; [`neighbours`]: the IP → MAC
//!   table.

pub mod capture;
pub mod live;
pub mod mdns_active;
pub mod neighbours;
pub mod settings;
pub mod sweep;
