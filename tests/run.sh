#!/usr/bin/env bash
# Runs all of Hygie's tests: unit tests, then end-to-end tests with the real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
