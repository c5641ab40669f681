//! Hygie's end-to-end tests: real processes, real SQLite files, real gRPC over TCP with mutual
//! TLS. Run `cargo build --workspace --bins` first (tests/run.sh does).

mod audit;
mod backup;
mod console;
mod facility;
mod faults;
mod fleet;
mod full;
mod kills;
mod netns;
mod policy;
mod restore;
mod site;
mod spine;
mod sweep_kills;
