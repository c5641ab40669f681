//! Hygie's end-to-end tests: real processes, real SQLite files, real gRPC over TCP with mutual
//! TLS. Run `cargo build --workspace --bins` first (tests/run.sh does).

mod audit;
mod facility;
mod faults;
mod netns;
mod site;
mod spine;
