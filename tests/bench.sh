#!/usr/bin/env bash
# Benchmarks, each printing its figures beside a reference measured in the same run.
#   tests/bench.sh ingest [options]   observations/s end to end vs raw SQLite upserts
#   sudo tests/bench.sh discovery     ARP sweep vs arp-scan; capture decoding vs tcpdump, tshark
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-ingest}
shift || true
tests/setup.sh bench
cargo build --release --workspace --bins --locked
case "$what" in
  ingest) exec target/release/ingest-bench "$@" ;;
  discovery) exec target/release/discovery-bench "$@" ;;
  *) echo "unknown benchmark $what (ingest, discovery)" >&2; exit 2 ;;
esac
