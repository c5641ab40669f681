#!/usr/bin/env bash
# Builds the Debian packages of the agent and the collector from this checkout.
#
#   packaging/build-debs.sh [--deb-version VERSION] [--no-build] [--out DIR]
#
#   --deb-version VERSION  the packages' version (default: the workspace's, revision 1)
#   --no-build             pack the release binaries already built (another version of the
#                          same build, as tests/packaging.sh does for its upgrade)
#   --out DIR              where the .deb files go (default: TARGET/debian)
#
# One release build of both binaries; each binary then writes its own man pages and shell
# completions (`PROGRAM __write-manuals DIR`, see packaging/manuals); cargo-deb packs them with
# the stripped binaries, the example configurations (conffiles under /etc/hygie), the systemd
# units and the sysusers.d files (see [package.metadata.deb] in agent/ and collector/
# Cargo.toml). cargo-deb is installed from crates.io if missing; nothing else is downloaded
# but crates. Prints the path of each package on standard output.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
version=
build=1
out=
while (($#)); do
  case $1 in
    --deb-version) version=${2:?--deb-version needs a version}; shift 2 ;;
    --no-build) build=; shift ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    *) echo "build-debs.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

target=${CARGO_TARGET_DIR:-$PWD/target}
out=${out:-$target/debian}
release=$target/release

if ! cargo deb --version >/dev/null 2>&1; then
  echo "build-debs.sh: installing cargo-deb $CARGO_DEB_VERSION" >&2
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" >&2
fi

if [[ -n $build ]]; then
  cargo build --release --locked -p hygie-agent -p hygie-collector >&2
fi
for program in hygie-agent hygie-collector; do
  if [[ ! -x $release/$program ]]; then
    echo "build-debs.sh: $release/$program is missing: run without --no-build" >&2
    exit 1
  fi
  # Written afresh each time, so a page of a subcommand since removed is not packed.
  rm -rf "$release/manuals/$program"
  "$release/$program" __write-manuals "$release/manuals/$program"
  # Debian policy: man pages gzipped (cargo-deb compresses only the assets it did not build).
  gzip -9n "$release/manuals/$program/man/"*.1
done

mkdir -p "$out"
# The profile keeps line tables for backtraces; the packages ship stripped binaries.
options=(--no-build --locked --strip --output "$out")
[[ -z $version ]] || options+=(--deb-version "$version")
for program in hygie-agent hygie-collector; do
  cargo deb -p "$program" "${options[@]}" | tail -n 1
done
