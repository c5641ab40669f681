#!/usr/bin/env bash
# Benchmarks, each printing its figures beside a reference measured in the same run.
#   tests/bench.sh ingest [options]   observations/s end to end vs raw SQLite upserts
#   tests/bench.sh reads [--assets N] the read commands on an inventory of N assets (default
#                                     1,000,000) vs the issue's targets and a rusqlite floor
#   sudo tests/bench.sh discovery     ARP sweep vs arp-scan; capture decoding vs tcpdump, tshark
# Not part of tests/run.sh (nor of CI): run by hand, on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-ingest}
shift || true
tests/setup.sh bench
cargo build --release --workspace --bins --locked
bin=${CARGO_TARGET_DIR:-target}/release
case "$what" in
  ingest) exec "$bin/ingest-bench" "$@" ;;
  reads) exec "$bin/reads-bench" "$@" ;;
  discovery) exec "$bin/discovery-bench" "$@" ;;
  *) echo "unknown benchmark $what (ingest, reads, discovery)" >&2; exit 2 ;;
esac
