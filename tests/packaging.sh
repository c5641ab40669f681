#!/usr/bin/env bash
# The Debian packages, end to end, on this machine. Needs root and dpkg; tests/run.sh runs it
# as root (set HYGIE_SKIP_PACKAGING=1 to skip it there).
#
#  1. packaging/build-debs.sh builds both packages (one release build), then packs the same
#     binaries again under a lower version: the "previous" packages of the upgrade.
#  2. Installs the previous packages (dpkg -i) and checks files, conffiles, owners and modes,
#     the system users, the man pages and completions, `systemd-analyze verify` and
#     `systemd-analyze security` (at most 2.0) of the installed units and the directives the
#     units must keep.
#  3. Runs `ca init` and starts the collector once, as its unit would (below): private keys
#     0600 owned by hygie-collector. Issues the agent's certificate, as an operator would.
#  4. Puts in place what an earlier version left: an inventory at schema 7 with its signing key
#     (tests/packaging/inventory-v7, made by commit df20cfb), and edits both conffiles.
#  5. Upgrades to the newer packages: the edited conffiles, the keys and the inventory stay.
#  6. Runs both daemons as their units would: the collector migrates the inventory (7 -> the
#     current schema, data and sealed event chain intact); the agent discovers a device on
#     its interface and the collector records it.
#  7. Purges both packages: nothing is left but the system users (kept, as Debian packages
#     keep theirs), which the test then deletes.
#
# "As the unit would", since PID 1 is not systemd here: the unit's ExecStartPre and ExecStart
# command lines, read from the installed unit, run as its User/Group (setpriv) with exactly its
# AmbientCapabilities/CapabilityBoundingSet (the collector none, the agent CAP_NET_RAW),
# NoNewPrivileges, UMask=0077, in a mount namespace where / is read-only except the
# StateDirectory (ProtectSystem=strict), /tmp and /var/tmp are private (PrivateTmp) and /root
# and /home are empty (ProtectHome). Both run inside a network namespace the test creates: the
# collector on its loopback, the agent on a veth whose other end is a "device" in a second
# namespace. Nothing is sent outside these namespaces (addresses in 198.18.0.0/15).
#
# The machine is left as found, also on failure or interruption (trap): daemons stopped,
# namespaces deleted, packages purged, users deleted. It refuses to start if a hygie package
# or user already exists. Prints "N passed, N failed" and exits non-zero on any failure.
# shellcheck disable=SC2016 # the bash -c scripts expand their own variables
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if [[ $(id -u) -ne 0 ]]; then
  echo "tests/packaging.sh: needs root (dpkg -i, users, namespaces): run it with sudo" >&2
  exit 1
fi
for package in hygie-agent hygie-collector; do
  if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q installed ||
    getent passwd "$package" >/dev/null || getent group "$package" >/dev/null; then
    echo "tests/packaging.sh: $package is already installed or its user exists; this test installs" \
      "and purges the packages itself: run 'dpkg --purge $package; userdel $package' first" >&2
    exit 1
  fi
done

started=$SECONDS
work=$(mktemp -d /tmp/hygie-packaging.XXXXXX)
chmod 0755 "$work"
ns=hygie-$$-0-pkg
device_ns=$ns.dev
pids=()
passed=0
failed=0

cleanup() {
  local status=$?
  set +e
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  ip netns del "$ns" 2>/dev/null
  ip netns del "$device_ns" 2>/dev/null
  for package in hygie-agent hygie-collector; do
    if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q installed; then
      dpkg --purge "$package" >/dev/null 2>&1
    fi
    getent passwd "$package" >/dev/null && userdel "$package"
    getent group "$package" >/dev/null && groupdel "$package"
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '== %s\n' "$*"; }
pass() { passed=$((passed + 1)); printf '  ok    %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf '  FAIL  %s\n' "$1"; }
# check DESCRIPTION COMMAND...: one assertion; the test goes on after a failure.
check() {
  local what=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then pass "$what"; else
    fail "$what"
    sed 's/^/        /' "$work/check.out" | tail -n 20
  fi
}
# must DESCRIPTION COMMAND...: a step the rest depends on; stops the test when it fails.
must() {
  local what=$1
  shift
  if "$@" >"$work/must.out" 2>&1; then pass "$what"; else
    fail "$what"
    sed 's/^/        /' "$work/must.out" | tail -n 40
    echo "$passed passed, $failed failed"
    exit 1
  fi
}
# is_mode PATH MODE OWNER GROUP
is_mode() {
  local found
  found=$(stat -c '%a %U %G' "$1") || return 1
  [[ $found == "$2 $3 $4" ]] || { echo "$1: $found, expected $2 $3 $4"; return 1; }
}
# contains FILE EXTENDED-REGEX
contains() { grep -Eq -- "$2" "$1" || { echo "$1 lacks /$2/"; tail -n 30 "$1"; return 1; }; }
lacks() { ! grep -Eq -- "$2" "$1" || { echo "$1 has /$2/:"; grep -E -- "$2" "$1" | head; return 1; }; }
# wait_for SECONDS COMMAND...: polls every 0.2 s.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
sql() { sqlite3 -readonly /var/lib/hygie-collector/inventory.sqlite "$1"; }

# --- 1. build -------------------------------------------------------------------------------
say "building the packages (packaging/build-debs.sh)"
build_started=$SECONDS
must "packaging/build-debs.sh builds both packages" \
  packaging/build-debs.sh --out "$work/new"
build_seconds=$((SECONDS - build_started))
new_agent=$(ls "$work"/new/hygie-agent_*.deb)
new_collector=$(ls "$work"/new/hygie-collector_*.deb)
new_version=$(dpkg-deb -f "$new_agent" Version)
old_version=${new_version%-*}-0.1
must "the previous version ($old_version) sorts below $new_version" \
  dpkg --compare-versions "$old_version" lt "$new_version"
must "the same build packs again as $old_version (--no-build)" \
  packaging/build-debs.sh --no-build --deb-version "$old_version" --out "$work/old"
old_agent=$(ls "$work"/old/hygie-agent_*.deb)
old_collector=$(ls "$work"/old/hygie-collector_*.deb)
for deb in "$new_agent" "$new_collector"; do
  printf '  %s: %s bytes\n' "$(basename "$deb")" "$(stat -c %s "$deb")"
done

for program in hygie-agent hygie-collector; do
  deb=$work/new/${program}_${new_version}_$(dpkg --print-architecture).deb
  mkdir -p "$work/unpacked/$program"
  dpkg-deb -x "$deb" "$work/unpacked/$program"
  dpkg-deb -e "$deb" "$work/unpacked/$program/DEBIAN"
  check "$program: /etc/hygie/${program#hygie-}.toml is a conffile" \
    contains "$work/unpacked/$program/DEBIAN/conffiles" "^/etc/hygie/${program#hygie-}\.toml$"
  check "$program: the binary is stripped" \
    bash -c "! readelf -S '$work/unpacked/$program/usr/bin/$program' | grep -Eq '\.(symtab|debug_info|debug_line) '"
  check "$program: depends on libc and on a sysusers implementation" \
    bash -c "dpkg-deb -f '$deb' Depends | grep -q libc6 && dpkg-deb -f '$deb' Depends | grep -q systemd-sysusers"
done

# --- 2. install the previous version -----------------------------------------------------------
say "installing $old_version (dpkg -i)"
must "dpkg -i installs both packages" dpkg -i "$old_agent" "$old_collector"

for program in hygie-agent hygie-collector; do
  name=${program#hygie-}
  unit=/usr/lib/systemd/system/$program.service
  check "$program: a system user with no login shell, home /var/lib/$program" bash -c "
    IFS=: read -r _ _ uid gid _ home shell < <(getent passwd $program)
    [[ \$uid -lt 1000 && \$home == /var/lib/$program && \$shell == */nologin ]] &&
      [[ \$(getent group $program | cut -d: -f3) == \$gid ]]"
  check "$program: /usr/bin/$program" is_mode "/usr/bin/$program" 755 root root
  check "$program: /etc/hygie/$name.toml readable by its group only" \
    is_mode "/etc/hygie/$name.toml" 640 root "$program"
  check "$program: /var/lib/$program private to the user" \
    is_mode "/var/lib/$program" 700 "$program" "$program"
  check "$program: the unit and the sysusers.d file are installed" \
    test -f "$unit" -a -f "/usr/lib/sysusers.d/$program.conf"
  check "$program: man pages" bash -c "
    zcat /usr/share/man/man1/$program.1.gz | grep -q '^\.TH' &&
      ls /usr/share/man/man1/$program-*.1.gz >/dev/null"
  check "$program: bash, zsh and fish completions" bash -c "
    source /usr/share/bash-completion/completions/$program && complete -p $program &&
      test -s /usr/share/zsh/vendor-completions/_$program &&
      test -s /usr/share/fish/vendor_completions.d/$program.fish"
  check "$program: --version runs" "/usr/bin/$program" --version
  check "$program: systemd-analyze verify" systemd-analyze verify "$unit"
  systemd-analyze security --offline=true "$unit" >"$work/$program.security" 2>&1 || true
  score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' "$work/$program.security")
  printf '  %s: systemd-analyze security --offline=true: %s\n' "$program" "${score:-?}"
  check "$program: exposure $score is at most 2.0" \
    awk -v score="$score" 'BEGIN { exit !(score != "" && score <= 2.0) }'
  for directive in ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
    ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
    ProtectControlGroups=yes NoNewPrivileges=yes RestrictNamespaces=yes RestrictRealtime=yes \
    RestrictSUIDSGID=yes LockPersonality=yes MemoryDenyWriteExecute=yes \
    SystemCallFilter=@system-service SystemCallArchitectures=native UMask=0077 \
    "StateDirectory=$program" "User=$program" Restart=on-failure; do
    check "$program.service: $directive" contains "$unit" "^$directive\$"
  done
done
check "hygie-collector.service: validates before serving" contains \
  /usr/lib/systemd/system/hygie-collector.service \
  '^ExecStartPre=/usr/bin/hygie-collector validate /etc/hygie/collector.toml$'
# The agent's `run` checks its configuration itself and exits 78 on what a restart cannot fix:
# systemd ignores RestartPreventExitStatus= for an ExecStartPre (systemd#11868).
check "hygie-agent.service: no restart into a configuration error (78)" bash -c "
  grep -qx 'RestartPreventExitStatus=78' /usr/lib/systemd/system/hygie-agent.service &&
    ! grep -q '^ExecStartPre=' /usr/lib/systemd/system/hygie-agent.service"
agent_unit=/usr/lib/systemd/system/hygie-agent.service
collector_unit=/usr/lib/systemd/system/hygie-collector.service
check "hygie-agent.service: address families" \
  contains "$agent_unit" '^RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_PACKET AF_NETLINK$'
check "hygie-agent.service: CAP_NET_RAW and nothing else" bash -c "
  grep -qx 'AmbientCapabilities=CAP_NET_RAW' $agent_unit &&
    grep -qx 'CapabilityBoundingSet=CAP_NET_RAW' $agent_unit"
check "hygie-collector.service: IP and local sockets only" \
  contains "$collector_unit" '^RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX$'
check "hygie-collector.service: no capability at all" bash -c "
  grep -qx 'AmbientCapabilities=' $collector_unit && grep -qx 'CapabilityBoundingSet=' $collector_unit"
check "no unit runs as root" bash -c "! grep -Eq '^User=(root|0)?$' $agent_unit $collector_unit"

# --- running a daemon as its unit would ----------------------------------------------------------
# The value of DIRECTIVE in UNIT (the last one).
directive() { sed -n "s/^$2=//p" "$1" | tail -n 1; }
# CAP_NET_RAW CAP_X -> net_raw,x (setpriv's spelling).
caps() { tr ' ' '\n' <<<"$1" | sed -n 's/^CAP_//p' | tr '[:upper:]' '[:lower:]' | paste -sd, -; }
# as_unit_exec UNIT COMMAND...: becomes COMMAND (exec), in the network namespace, as the unit
# would run it; so `as_unit_exec ... &` leaves the daemon's own pid in $!.
as_unit_exec() {
  local unit=$1
  shift
  local user group state ambient bounding setpriv_caps
  user=$(directive "$unit" User)
  group=$(directive "$unit" Group)
  state=/var/lib/$(directive "$unit" StateDirectory)
  ambient=$(caps "$(directive "$unit" AmbientCapabilities)")
  bounding=$(caps "$(directive "$unit" CapabilityBoundingSet)")
  if [[ $(directive "$unit" UMask) != 0077 || $(directive "$unit" NoNewPrivileges) != yes ]]; then
    echo "as_unit: $unit no longer says UMask=0077 and NoNewPrivileges=yes: update tests/packaging.sh"
    exit 1
  fi
  setpriv_caps=(--inh-caps=-all --bounding-set=-all)
  if [[ -n $ambient ]]; then
    setpriv_caps=(--inh-caps="+${ambient//,/,+}" --ambient-caps="+${ambient//,/,+}"
      --bounding-set="-all,+${bounding//,/,+}")
  fi
  exec ip netns exec "$ns" unshare --mount --propagation private -- bash -c '
    set -e
    state=$1 user=$2 group=$3
    shift 3
    mount --bind "$state" "$state"                    # StateDirectory= stays writable
    mount -o remount,bind,ro /                         # ProtectSystem=strict
    mount -t tmpfs -o mode=1777 tmpfs /tmp             # PrivateTmp=yes
    mount -t tmpfs -o mode=1777 tmpfs /var/tmp
    for home in /root /home; do                        # ProtectHome=yes
      [ ! -d "$home" ] || mount -t tmpfs -o ro,mode=755 tmpfs "$home"
    done
    umask 0077
    cd /
    exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$state" USER="$user" LOGNAME="$user" \
      setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs "$@"
  ' as_unit "$state" "$user" "$group" "${setpriv_caps[@]}" -- "$@"
}
# as_unit UNIT COMMAND...: runs COMMAND as the unit would, and waits for it.
as_unit() ( as_unit_exec "$@" )
# The unit's ExecStartPre (if any), then its ExecStart in the background; sets $daemon to its pid.
start_unit() {
  local unit=$1 log=$2 pre start
  pre=$(directive "$unit" ExecStartPre)
  start=$(directive "$unit" ExecStart)
  if [[ -n $pre ]]; then
    # shellcheck disable=SC2086 # the unit's command lines hold no quoting
    as_unit "$unit" $pre >"$log.pre" 2>&1 || { echo "ExecStartPre failed:"; cat "$log.pre"; return 1; }
  fi
  # shellcheck disable=SC2086
  as_unit_exec "$unit" $start >"$log" 2>&1 &
  daemon=$!
  pids+=("$daemon")
}
# stop_unit PID: SIGTERM, as systemctl stop; succeeds when it exits 0.
stop_unit() {
  local pid=$1 status=0 left=() other
  kill -TERM "$pid"
  wait "$pid" || status=$?
  for other in "${pids[@]}"; do [[ $other == "$pid" ]] || left+=("$other"); done
  pids=("${left[@]}")
  [[ $status -eq 0 ]] || { echo "exited with status $status"; return 1; }
}
serving() { grep -q 'collector serving' "$work/collector.log"; }
# serves_within SECONDS: the collector's log says it serves, or the log is shown.
serves_within() {
  wait_for "$1" serving || { echo "the collector does not serve; its log:"; cat "$work/collector.log"; return 1; }
}

say "network namespaces $ns (agent and collector) and $device_ns (a device)"
ip netns add "$ns"
ip netns add "$device_ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add hpa0 type veth peer name hpd0 netns "$device_ns"
ip -n "$ns" addr add 198.18.77.1/29 dev hpa0
ip -n "$ns" link set hpa0 up
ip -n "$device_ns" link set lo up
ip -n "$device_ns" addr add 198.18.77.2/29 dev hpd0
ip -n "$device_ns" link set hpd0 up
device_mac=$(ip -n "$device_ns" -br link show hpd0 | awk '{print $3}')

# --- 3. first start, enrolment ---------------------------------------------------------------------
say "editing the conffiles as an operator would: the collector on loopback, the agent on hpa0"
sed -i 's/^listen = "0.0.0.0:7443"/listen = "127.0.0.1:7443"/' /etc/hygie/collector.toml
sed -i -e 's|^endpoint = .*|endpoint = "https://127.0.0.1:7443"|' \
  -e 's|^interfaces = .*|interfaces = ["hpa0"]|' /etc/hygie/agent.toml
check "the edited agent.toml names only the namespace's interface" \
  contains /etc/hygie/agent.toml '^interfaces = \["hpa0"\]$'

say "ca init as hygie-collector (the packaged configuration names its PKI), then a first start"
must "ca init" as_unit "$collector_unit" /usr/bin/hygie-collector \
  --config /etc/hygie/collector.toml ca init --dns localhost --ip 127.0.0.1
must "the collector starts (ExecStartPre validate, then serve)" \
  start_unit "$collector_unit" "$work/collector.log"
must "it serves within 30 s" serves_within 30
must "it stops on SIGTERM, exit 0" stop_unit "$daemon"
check "the PKI directory is private" is_mode /var/lib/hygie-collector/pki 700 hygie-collector hygie-collector
for key in ca.key server.key signing.key; do
  check "pki/$key: 0600, owned by hygie-collector" \
    is_mode "/var/lib/hygie-collector/pki/$key" 600 hygie-collector hygie-collector
done
check "the inventory: 0600, owned by hygie-collector" \
  is_mode /var/lib/hygie-collector/inventory.sqlite 600 hygie-collector hygie-collector
check "the journal gets plain text (no escape codes)" lacks "$work/collector.log" $'\e\\['

say "enrolling the agent: ca issue-agent as hygie-collector, files installed for hygie-agent"
must "ca issue-agent" as_unit "$collector_unit" /usr/bin/hygie-collector \
  --config /etc/hygie/collector.toml ca issue-agent --name ward-pkg --site chu-pkg \
  --out /var/lib/hygie-collector/enrol
install -o hygie-agent -g hygie-agent -m 0600 /var/lib/hygie-collector/enrol/agent.key /etc/hygie/agent/
install -o root -g root -m 0644 /var/lib/hygie-collector/enrol/{agent,ca}.pem /etc/hygie/agent/
rm -r /var/lib/hygie-collector/enrol
check "/etc/hygie/agent: readable by hygie-agent's group" is_mode /etc/hygie/agent 750 root hygie-agent

# --- 4. what an earlier version left -----------------------------------------------------------------
say "the state an earlier version left: an inventory at schema 7 and the key that sealed it"
fixture=$repo/tests/packaging/inventory-v7
rm -f /var/lib/hygie-collector/inventory.sqlite*
must "the schema 7 inventory loads" as_unit "$collector_unit" \
  sqlite3 /var/lib/hygie-collector/inventory.sqlite <"$fixture/inventory.sql"
install -o hygie-collector -g hygie-collector -m 0600 "$fixture/signing.key" /var/lib/hygie-collector/pki/
install -o hygie-collector -g hygie-collector -m 0644 "$fixture/signing.pub" /var/lib/hygie-collector/pki/
check "it is at schema 7" test "$(sql 'PRAGMA user_version')" = 7
fixture_assets=$(sql 'SELECT count(*) FROM assets')
fixture_events=$(sql 'SELECT count(*) FROM events')
fixture_registry=$(sql 'SELECT count(*) FROM registry')
kept=(/etc/hygie/agent.toml /etc/hygie/collector.toml /etc/hygie/agent/* /var/lib/hygie-collector/pki/*)
sha256sum "${kept[@]}" >"$work/kept.sha256"

# --- 5. upgrade ----------------------------------------------------------------------------------------
say "upgrading to $new_version (dpkg -i)"
must "dpkg -i upgrades both packages" dpkg -i "$new_agent" "$new_collector"
check "both are at $new_version" bash -c "
  [[ \$(dpkg-query -W -f='\${Version}' hygie-agent) == $new_version &&
     \$(dpkg-query -W -f='\${Version}' hygie-collector) == $new_version ]]"
check "the edited conffiles, the certificates and the keys are unchanged" \
  sha256sum --check --quiet "$work/kept.sha256"
check "no conffile was set aside (.dpkg-*)" bash -c '! ls /etc/hygie/*.dpkg-* 2>/dev/null'
check "the configurations are still readable by the daemons' groups" bash -c "
  [[ \$(stat -c '%a %U %G' /etc/hygie/agent.toml) == '640 root hygie-agent' &&
     \$(stat -c '%a %U %G' /etc/hygie/collector.toml) == '640 root hygie-collector' ]]"
check "dpkg left the inventory alone (still schema 7)" test "$(sql 'PRAGMA user_version')" = 7

# --- 6. both daemons, upgraded -------------------------------------------------------------------------
say "the upgraded collector: migrates the inventory on start"
must "the collector starts" start_unit "$collector_unit" "$work/collector.log"
must "it serves within 30 s" serves_within 30
collector=$daemon
version=$(sql 'PRAGMA user_version')
check "the inventory was migrated past 7 (now $version), one logged migration per version" bash -c "
  [[ $version -gt 7 ]] && for v in \$(seq 8 $version); do
    grep -Eq \"inventory schema migrated.*version=\$v\\b\" '$work/collector.log' || exit 1; done"
check "its $fixture_assets assets, $fixture_registry registry entries and $fixture_events events are kept" \
  test "$(sql 'SELECT count(*) FROM assets'),$(sql 'SELECT count(*) FROM registry'),$(sql 'SELECT count(*) FROM events')" \
  = "$fixture_assets,$fixture_registry,$fixture_events"
check "the migrated inventory's verdicts cover the fixture's devices within 30 s" \
  wait_for 30 bash -c "[[ \$(sqlite3 -readonly /var/lib/hygie-collector/inventory.sqlite \
    'SELECT count(*) FROM verdicts WHERE seen = 1') -ge $fixture_assets ]]"

say "the agent, with CAP_NET_RAW only, on hpa0: finds the device $device_mac"
must "the agent starts (run, which validates its configuration)" start_unit "$agent_unit" "$work/agent.log"
agent=$daemon
recorded() { [[ $(sql "SELECT count(*) FROM asset_macs WHERE mac_text = '$device_mac'") == 1 ]]; }
check "the collector records the device within 60 s" bash -c "
  $(declare -f wait_for sql recorded); device_mac=$device_mac
  wait_for 60 recorded || { echo 'not recorded; the agent log:'; cat '$work/agent.log'; exit 1; }"
check "the agent's outbox: 0600, owned by hygie-agent" \
  is_mode /var/lib/hygie-agent/outbox.sqlite 600 hygie-agent hygie-agent
check "the agent stops on SIGTERM, exit 0" stop_unit "$agent"
check "the agent logged no capability error" lacks "$work/agent.log" 'CAP_NET_RAW|Operation not permitted'
check "the collector stops on SIGTERM, exit 0" stop_unit "$collector"
check "the event chain, old and new events, verifies with the key that sealed it" \
  as_unit "$collector_unit" /usr/bin/hygie-collector --config /etc/hygie/collector.toml verify --events
check "the collector's files are all its user's" bash -c \
  '[[ -z $(find /var/lib/hygie-collector ! -user hygie-collector) ]]'

# --- 7. purge --------------------------------------------------------------------------------------------
say "purging both packages (dpkg --purge)"
must "dpkg --purge removes both packages" dpkg --purge hygie-agent hygie-collector
check "no package file, conffile or state is left" bash -c '
  for path in /usr/bin/hygie-agent /usr/bin/hygie-collector /etc/hygie /var/lib/hygie-agent \
    /var/lib/hygie-collector /usr/lib/systemd/system/hygie-agent.service \
    /usr/lib/systemd/system/hygie-collector.service /usr/lib/sysusers.d/hygie-agent.conf \
    /usr/lib/sysusers.d/hygie-collector.conf /usr/share/man/man1/hygie-agent.1.gz \
    /usr/share/doc/hygie-collector; do
    if [[ -e $path ]]; then echo "$path is left"; exit 1; fi
  done'
check "dpkg knows neither package any more" bash -c \
  '! dpkg-query -W hygie-agent hygie-collector 2>/dev/null | grep -q .'
check "the system users are kept, owning no file" bash -c '
  getent passwd hygie-agent >/dev/null && getent passwd hygie-collector >/dev/null &&
    [[ -z $(find /etc /var /usr /opt /srv /run /tmp -xdev \( -user hygie-agent -o -user hygie-collector \) \
      -print -quit 2>/dev/null) ]]'

echo "tests/packaging.sh: build $build_seconds s, whole test $((SECONDS - started)) s"
echo "packaging: $passed passed, $failed failed"
((failed == 0))
