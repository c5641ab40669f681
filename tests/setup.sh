#!/usr/bin/env bash
# Installs the system packages that the tests, the demo and the benchmarks use, if missing.
#   tests/setup.sh           what tests and the demo need: iproute2 (namespaces), tcpdump,
#                            tshark (the decoders' oracle), and the daemons the simulated
#                            facility's devices run: dnsmasq (DHCP server), udhcpc (DHCP
#                            clients), lldpd (LLDP-MED), radvd (IPv6 router advertisements),
#                            the Prometheus project's OpenMetrics parser (python3-
#                            prometheus-client), the metrics endpoints' oracle; and what
#                            tests/packaging.sh builds and checks packages with:
#                            dpkg-dev (dpkg-shlibdeps), binutils (strip, readelf), systemd
#                            (systemd-analyze, systemd-sysusers), sqlite3; chromium + chromium-driver (the
#                            console's browser tests)
#   tests/setup.sh bench     also what benchmarks compare against (arp-scan)
# Needs root (or sudo) only when something is missing.
#
# The daemons run only inside the namespaces the tests create. Installing them must not start
# them on this machine's own interfaces (a DHCP server or an LLDP agent on a real network), so
# service starts are refused during the installation (policy-rc.d, the Debian mechanism).
set -euo pipefail

packages=(iproute2 tcpdump tshark dnsmasq udhcpc lldpd radvd python3-prometheus-client dpkg-dev binutils systemd sqlite3 chromium chromium-driver)
if [[ ${1:-} == bench ]]; then
  packages+=(arp-scan)
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
  policy=/usr/sbin/policy-rc.d
  ours=
  if [[ ! -e $policy ]]; then
    ours=1
    printf '#!/bin/sh\n# tests/setup.sh: no service starts while it installs packages\nexit 101\n' |
      "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 0755 "$policy"
    trap '"${sudo_cmd[@]}" rm -f "$policy"' EXIT
  fi
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # On a machine with systemd, packages enable their units even when not started: keep the
  # daemons off outside the tests.
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    for unit in dnsmasq lldpd radvd; do
      "${sudo_cmd[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
  fi
  [[ -z $ours ]] || { "${sudo_cmd[@]}" rm -f "$policy"; trap - EXIT; }
fi
