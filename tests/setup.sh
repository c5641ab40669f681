#!/usr/bin/env bash
# Installs the system packages that the tests, the demo and the benchmarks use, if missing.
#   tests/setup.sh           what tests and the demo need (iproute2 for namespaces, tcpdump)
#   tests/setup.sh bench     also what benchmarks compare against (arp-scan, tshark)
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(iproute2 tcpdump)
if [[ ${1:-} == bench ]]; then
  packages+=(arp-scan tshark)
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "tests/setup.sh: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
