//! The Hygie agent: discovers the devices of a facility subnet and streams what it sees to the
//! collector, buffering on disk so nothing is lost while the collector is unreachable.
//!
//! Data flows one way: [`sources`] → [`outbox`] (durable) → [`uplink`] (mutual-TLS gRPC).

pub mod aggregate;
pub mod config;
pub mod discovery;
pub mod files;
pub mod metrics;
pub mod outbox;
pub mod policy;
pub mod replay;
pub mod report;
pub mod run;
pub mod sources;
pub mod tls;
pub mod uplink;
