//! The Hygie collector: receives observations from agents over mutual-TLS gRPC and keeps the
//! facility's device inventory in SQLite.
//!
//! Data flows one way: [`grpc`] (certificate identity, wire → domain) → [`ingest`] (the single
//! writer and its group commits) → [`inventory`] (the pure merge) → [`store`] (SQLite).
//! The command line reads through its own connections: [`query`] computes [`views`] of the
//! assets (with [`classify`] and the flags), [`report`] renders them for terminals and
//! [`export`] writes signed snapshots.

pub mod alerts;
pub mod asof;
pub mod audit;
/// The classifier (`hygie-classify`), shared with the agent's offline scans.
pub use hygie_classify as classify;
pub mod ca;
pub mod config;
pub mod console;
pub mod cursor;
pub mod export;
pub mod files;
pub mod glpi;
pub mod grpc;
pub mod http_client;
pub mod identity;
pub mod ingest;
pub mod inventory;
pub mod lock;
pub mod metrics;
pub mod net;
pub mod policy;
pub mod query;
pub mod registry;
pub mod report;
pub mod safe;
pub mod server;
pub mod store;
pub mod throttle;
pub mod views;
