#!/usr/bin/env bash
# Runs all of Hygie's tests: unit tests, end-to-end tests with the real binaries, and (as root)
# the simulated-facility tests in network namespaces and the Debian packages' test
# (tests/packaging.sh: a release build, dpkg -i, upgrade, purge; HYGIE_SKIP_PACKAGING=1 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
# setup.sh installed tshark: the decoders' comparisons with it must run, not be skipped.
export HYGIE_REQUIRE_TSHARK=1
if [[ $(id -u) -eq 0 ]]; then
  # As root the namespace tests must run: a failure to create namespaces is a failure.
  export HYGIE_REQUIRE_NETNS=1
else
  echo "tests/run.sh: not root, the network-namespace tests will be skipped (run with sudo for all)"
fi
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
if [[ $(id -u) -eq 0 && -z ${HYGIE_SKIP_PACKAGING:-} ]]; then
  tests/packaging.sh
fi
