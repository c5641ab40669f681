//! Hygie's end-to-end tests: real processes, real SQLite files, real gRPC over TCP with mutual
//! TLS. Run `cargo build --workspace --bins` first (tests/run.sh does).

mod alerts;
mod asof;
mod audit;
mod backup;
mod console;
mod facility;
mod faults;
mod fleet;
mod full;
mod glpi;
mod kills;
mod netbox;
mod netns;
mod policy;
mod restore;
mod revocation;
mod site;
mod spine;
mod sweep_kills;
