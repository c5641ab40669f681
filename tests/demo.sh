#!/usr/bin/env bash
# The demo: a collector, an agent feeding it a small facility's observations, the inventory.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
cargo build --release --workspace --bins --locked
exec target/release/hygie-demo "$@"
