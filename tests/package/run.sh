#!/usr/bin/env bash
# The "package" suite: builds the Debian package from BUILD/switchboard and checks it as an
# administrator would meet it.
#   - lintian reports no error (its warnings are printed);
#   - systemd-analyze verify accepts the unit, and its offline security review stays "OK";
#   - the system calls the server makes pass the unit's SystemCallFilter (strace on the host);
#   - the package installs into a fresh Debian 12 root (debootstrap --variant=minbase, its
#     dependencies from deb.debian.org with apt-get -f install), with its user, modes and
#     conffile naming every setting, and a man page naming every flag; without credentials the
#     installed binary refuses to start; run as the switchboard user in that root with the
#     installed config plus an API key, it serves /healthz, refuses anonymous publish and
#     subscribe, carries a publish to a subscriber, keeps it in /var/lib/switchboard across a
#     restart and drains on SIGTERM; installing again keeps an edited conffile; purge removes what
#     it should.
# systemd is never started in the root: the unit is checked on the host.
#
#   tests/package/run.sh [BUILD]
#
# Needs root (debootstrap, chroot, mount: in a container, one allowed to mount) or passwordless
# sudo, and the network the first time on a given day: the fresh root is cached as
# build/package-test/bookworm-<date>.tar, and the packages apt fetched into it in
# build/package-test/apt-archives. Without the network the suite
# fails, saying so. Prints TAP-like lines and "# pass N" / "# fail N" for scripts/run-tests.sh.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${1:-build}
work="$root/$build/package-test"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

pass=0
fail=0
n=0
ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $1"; }
not_ok() {
  n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"
  shift
  for line in "$@"; do echo "#   $line"; done
}
check() {  # description, command...: ok when the command succeeds
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else not_ok "$what" "failed: $*"; fi
}
finish() {
  echo "# pass $pass"
  echo "# fail $fail"
  [[ $fail -eq 0 ]]
  exit
}
give_up() {  # a step the rest depends on failed: report it and stop
  not_ok "$@"
  finish
}

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo_cmd=(sudo -n)
  else
    give_up "root: debootstrap, chroot and mount need root or passwordless sudo; run as root"
  fi
fi
as_root() { "${sudo_cmd[@]}" "$@"; }
trap 'exit 1' INT TERM  # so that the EXIT traps below clean up after an interrupt too
# Removes a root this run made: first whatever is mounted under it (debootstrap mounts /proc and
# /sys while it works and may leave them on failure; we mount /proc), deepest first.
remove_tree() {
  [[ -d "$1" ]] || return 0
  local mnt
  awk -v d="$1/" 'index($2 "/", d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mnt; do
    as_root umount -l "$mnt"
  done
  as_root rm -rf --one-file-system "$1"
}
for tool in lintian systemd-analyze debootstrap curl python3 strace; do
  command -v "$tool" >/dev/null || give_up "$tool is installed (run scripts/install-deps.sh --test)"
done

# --- the package -------------------------------------------------------------------------------
mkdir -p "$work"
if ! scripts/build-deb.sh "$build" >"$work/build-deb.log" 2>&1; then
  give_up "scripts/build-deb.sh builds the package" "$(tail -5 "$work/build-deb.log")"
fi
deb=$(sed -n 's/^built \(.*\.deb\) .*/\1/p' "$work/build-deb.log")
ok "scripts/build-deb.sh builds $deb"
version=$(dpkg-deb -f "$deb" Version)

# lintian: no error. Warnings and the informational tags are printed, not failed on (the README's
# "Install as a service" lists the ones that remain and why).
lintian --fail-on error --display-info --tag-display-limit 0 "$deb" >"$work/lintian.log" 2>&1
lintian_rc=$?
grep -E '^[EWI]: ' "$work/lintian.log" | sed 's/^/# lintian: /'
if [[ $lintian_rc -eq 0 ]] && ! grep -q '^E: ' "$work/lintian.log"; then
  ok "lintian: no errors ($(grep -c '^W: ' "$work/lintian.log") warnings)"
else
  not_ok "lintian: no errors" "$(grep '^E: ' "$work/lintian.log" | head -10)"
fi

# systemd-analyze verify, in a root that holds the package's files, the host's units (the targets
# the unit names) and kill (ExecReload): on the host itself /usr/bin/switchboard would not exist.
verify_root=$(mktemp -d)
dpkg-deb -x "$deb" "$verify_root"
cp -rn /lib/systemd/system/. "$verify_root/lib/systemd/system/"
mkdir -p "$verify_root/bin" && cp "$(type -P kill)" "$verify_root/bin/kill"
verify_out=$(systemd-analyze verify --man=no --root="$verify_root" switchboard.service 2>&1)
if [[ $? -eq 0 && -z "$verify_out" ]]; then
  ok "systemd-analyze verify accepts switchboard.service"
else
  not_ok "systemd-analyze verify accepts switchboard.service" "$verify_out"
fi
exposure=$(systemd-analyze security --offline=yes --root="$verify_root" switchboard.service 2>&1 |
  sed -n 's/.*Overall exposure level for switchboard.service: \([0-9.]*\).*/\1/p')
if [[ -n "$exposure" ]] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
  ok "systemd-analyze security: exposure $exposure (at most 2.0)"
else
  not_ok "systemd-analyze security: exposure ${exposure:-unknown} (at most 2.0)"
fi
man_page=$(sed -n 's/^Documentation=man:\([a-z]*\)(\([0-9]\))$/usr\/share\/man\/man\2\/\1.\2.gz/p' \
  "$verify_root/lib/systemd/system/switchboard.service")
check "the unit's Documentation= page is in the package ($man_page)" test -f "$verify_root/$man_page"
rm -rf "$verify_root"

# SystemCallFilter=@system-service ~@privileged: every system call the server makes over a start
# with history_dir, a subscribe, a publish, SIGHUP and a drain must be in the first set and not in
# the second (strace on the host; the filter itself needs systemd, which the test never starts).
expand_filter() {  # @set: its system calls, nested sets expanded
  systemd-analyze syscall-filter "$1" 2>/dev/null | sed -n '/^@/,$p' | tail -n +2 | sed 's/#.*//' |
    awk '{print $1}' | grep . | while read -r name; do
      if [[ $name == @* ]]; then expand_filter "$name"; else echo "$name"; fi
    done
}
syscall_check() {
  local dir port url tracer sub used allowed privileged
  dir=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  url="http://127.0.0.1:$port"
  env -i SWITCHBOARD_API_KEYS=trace-key strace -f -qq -o "$dir/trace" "$build/switchboard" \
    --listen "127.0.0.1:$port" --history-dir "$dir/history" >"$dir/log" 2>&1 &
  tracer=$!
  for _ in $(seq 100); do curl -s -o /dev/null "$url/healthz" && break; sleep 0.1; done
  curl -sN -m 5 -H 'Authorization: Bearer trace-key' "$url/v1/events?topic=t/s" >"$dir/sub" 2>&1 &
  sub=$!
  for _ in $(seq 50); do grep -q '^retry:' "$dir/sub" && break; sleep 0.1; done
  curl -s -o /dev/null -X POST -H 'Authorization: Bearer trace-key' --data x "$url/v1/topics/t/s"
  for _ in $(seq 50); do grep -q '^data: x' "$dir/sub" && break; sleep 0.1; done
  local server
  server=$(pgrep -P "$tracer" -x switchboard | head -1)
  [[ -n "$server" ]] && kill -HUP "$server" && sleep 0.3 && kill -TERM "$server"
  for _ in $(seq 150); do kill -0 "$tracer" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$tracer" 2>/dev/null
  wait "$tracer" 2>/dev/null
  kill "$sub" 2>/dev/null
  wait "$sub" 2>/dev/null
  used=$(grep -oE '^[0-9]+ +[a-z_0-9]+\(' "$dir/trace" | sed -E 's/^[0-9]+ +//; s/\($//' | sort -u)
  allowed=$(expand_filter @system-service | sort -u)
  privileged=$(expand_filter @privileged | sort -u)
  local outside inside
  outside=$(comm -23 <(echo "$used") <(echo "$allowed") | tr '\n' ' ')
  inside=$(comm -12 <(echo "$used") <(echo "$privileged") | tr '\n' ' ')
  if [[ $(wc -l <<<"$used") -ge 20 ]] && grep -q '^data: x' "$dir/sub" && [[ -z "$outside$inside" ]]; then
    ok "SystemCallFilter: the server's $(wc -l <<<"$used") system calls are in @system-service, none in @privileged"
  else
    not_ok "SystemCallFilter: the server's system calls are in @system-service, none in @privileged" \
      "outside @system-service: ${outside:-none}" "in @privileged: ${inside:-none}" \
      "calls seen: $(wc -l <<<"$used"); subscriber got: $(tr '\n' '|' <"$dir/sub")"
  fi
  rm -rf "$dir"
}
syscall_check

# --- a fresh Debian 12 root --------------------------------------------------------------------
today=$(date -u +%Y%m%d)
tarball="$work/bookworm-$today.tar"
made="cached"
if [[ ! -f "$tarball" ]]; then
  started=$SECONDS
  rm -f "$work"/bookworm-*.tar "$work"/bookworm-*.tar.gz
  fresh="$work/debootstrap"
  remove_tree "$fresh"
  trap 'remove_tree "$fresh"' EXIT
  echo "# debootstrap --variant=minbase bookworm from $mirror (cached for today as $tarball)"
  if ! timeout 600 "${sudo_cmd[@]}" debootstrap --variant=minbase bookworm "$fresh" "$mirror" \
    >"$work/debootstrap.log" 2>&1; then
    give_up "a fresh Debian 12 root: debootstrap from $mirror failed; is the network reachable?" \
      "$(tail -5 "$work/debootstrap.log")"
  fi
  # As a Debian 12 machine has it: point release updates and security fixes too (the package is
  # built against the host's libraries, which may have them). The lists are fetched once per day.
  security=${DEBIAN_SECURITY_MIRROR:-http://security.debian.org/debian-security}
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
    "$mirror" "$mirror" "$security" | as_root tee "$fresh/etc/apt/sources.list" >/dev/null
  as_root cp /etc/resolv.conf "$fresh/etc/resolv.conf"
  if ! as_root chroot "$fresh" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    apt-get update -q -o Acquire::Languages=none >>"$work/debootstrap.log" 2>&1; then
    give_up "a fresh Debian 12 root: apt-get update failed; is the network reachable?" \
      "$(tail -5 "$work/debootstrap.log")"
  fi
  # Uncompressed: the two cores are the scarce thing here, not the disk.
  as_root tar -C "$fresh" -cf "$tarball.tmp" . && as_root mv "$tarball.tmp" "$tarball"
  remove_tree "$fresh"
  trap - EXIT
  made="made in $((SECONDS - started)) s"
fi
ok "a fresh Debian 12 root ($(basename "$tarball"), $made)"

chroot_dir="$work/root.$$"
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]] && as_root kill -0 "$server_pid" 2>/dev/null; then
    as_root kill -KILL "$server_pid" 2>/dev/null
  fi
  # Anything else this run started inside its root (only its own root: the path has our pid).
  local proc
  for proc in /proc/[0-9]*; do
    if [[ "$(as_root readlink "$proc/root" 2>/dev/null)" == "$chroot_dir"* ]]; then
      as_root kill -KILL "${proc#/proc/}" 2>/dev/null
    fi
  done
  remove_tree "$chroot_dir"
}
trap cleanup EXIT
as_root mkdir -p "$chroot_dir"
as_root tar -C "$chroot_dir" -xf "$tarball"
as_root mount -t proc proc "$chroot_dir/proc"
as_root cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
in_root() { as_root chroot "$chroot_dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
# What apt fetched on an earlier run, so that a rerun downloads nothing it already has.
archives="$work/apt-archives"
mkdir -p "$archives"
as_root cp "$archives"/*.deb "$chroot_dir/var/cache/apt/archives/" 2>/dev/null
as_root cp "$deb" "$chroot_dir/tmp/switchboard.deb"

# --- install -----------------------------------------------------------------------------------
in_root dpkg -i /tmp/switchboard.deb >"$work/install.log" 2>&1  # fails: dependencies missing
if ! in_root apt-get -f install -y -q --no-install-recommends >>"$work/install.log" 2>&1; then
  give_up "dpkg -i and apt-get -f install in the fresh root (network to $mirror?)" \
    "$(tail -5 "$work/install.log")"
fi
cp "$chroot_dir"/var/cache/apt/archives/*.deb "$archives/" 2>/dev/null
status=$(in_root dpkg-query -W -f='${Status} ${Version}' switchboard 2>&1)
if [[ "$status" == "install ok installed $version" ]]; then
  ok "dpkg -i + apt-get -f install: $status"
else
  give_up "dpkg -i + apt-get -f install: switchboard installed" "$status" "$(tail -5 "$work/install.log")"
fi

passwd_line=$(in_root getent passwd switchboard)
uid=$(cut -d: -f3 <<<"$passwd_line")
if [[ -n "$uid" && "$uid" -lt 1000 && "$passwd_line" == *:/var/lib/switchboard:/usr/sbin/nologin ]]; then
  ok "system user switchboard ($passwd_line)"
else
  not_ok "system user switchboard" "getent: ${passwd_line:-none}"
fi
conf_mode=$(in_root stat -c '%a %U:%G' /etc/switchboard/switchboard.toml)
[[ "$conf_mode" == "640 root:switchboard" ]] && ok "switchboard.toml is 640 root:switchboard" ||
  not_ok "switchboard.toml is 640 root:switchboard" "it is $conf_mode"
state_mode=$(in_root stat -c '%a %U:%G' /var/lib/switchboard)
[[ "$state_mode" == "750 switchboard:switchboard" ]] && ok "/var/lib/switchboard is 750 switchboard:switchboard" ||
  not_ok "/var/lib/switchboard is 750 switchboard:switchboard" "it is $state_mode"
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' switchboard)
[[ "$conffiles" == *"/etc/switchboard/switchboard.toml "* ]] && ok "switchboard.toml is a conffile" ||
  not_ok "switchboard.toml is a conffile" "Conffiles: $conffiles"
installed_version=$(in_root /usr/bin/switchboard --version)
[[ "$installed_version" == "switchboard $version "* ]] && ok "installed binary: $installed_version" ||
  not_ok "installed binary prints its version" "$installed_version"
# Every setting the binary knows is in the installed file (live or commented out), and the file
# holds no key the binary does not know.
keys_binary=$(in_root /usr/bin/switchboard --print-config | sed -n 's/^#\? \?\([a-z0-9_]*\) = .*/\1/p' | sort)
keys_file=$(in_root cat /etc/switchboard/switchboard.toml | sed -n 's/^#\? \?\([a-z0-9_]*\) = .*/\1/p' | sort -u)
if [[ -n "$keys_binary" && "$keys_binary" == "$keys_file" ]]; then
  ok "switchboard.toml names all $(wc -l <<<"$keys_binary") settings"
else
  not_ok "switchboard.toml names every setting" "$(diff <(echo "$keys_binary") <(echo "$keys_file") | head -5)"
fi
# switchboard(8) documents every setting's flag (roff writes each - as \-).
man_text=$(in_root zcat /usr/share/man/man8/switchboard.8.gz)
missing=()
for k in $keys_binary; do
  flag="--${k//_/-}"
  [[ "$man_text" == *"\fB${flag//-/\\-}\fR"* ]] || missing+=("$flag")
done
[[ -n "$keys_binary" && ${#missing[@]} -eq 0 ]] && ok "switchboard(8) documents every setting's flag" ||
  not_ok "switchboard(8) documents every setting's flag" "missing: ${missing[*]}"
live=$(in_root grep -E '^[a-z]' /etc/switchboard/switchboard.toml | tr '\n' ' ')
[[ "$live" == *'allow_anonymous_publish = false'* && "$live" == *'allow_anonymous_subscribe = false'* ]] &&
  ok "switchboard.toml refuses anonymous publish and subscribe" ||
  not_ok "switchboard.toml refuses anonymous publish and subscribe" "live lines: $live"

# --- the installed binary serves ---------------------------------------------------------------
# As installed, with no credentials, it refuses to start rather than serve nobody.
refusal=$("${sudo_cmd[@]}" chroot --userspec=switchboard:switchboard "$chroot_dir" env -i \
  timeout 10 /usr/bin/switchboard --config /etc/switchboard/switchboard.toml --listen 127.0.0.1:0 2>&1)
refusal_rc=$?
if [[ $refusal_rc -eq 2 && "$refusal" == *"no credentials are configured"* ]]; then
  ok "without credentials the installed config refuses to start (exit 2)"
else
  not_ok "without credentials the installed config refuses to start (exit 2)" "exit $refusal_rc: $refusal"
fi
key=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
start_server() {  # log file
  # As the service would run it: its user, the installed config, a key from the environment; the
  # listen address moved to a free loopback port (the root shares the host's network).
  # (A simple command, not the as_root function, so that $! is the server itself.)
  "${sudo_cmd[@]}" chroot --userspec=switchboard:switchboard "$chroot_dir" \
    env -i SWITCHBOARD_API_KEYS="$key" /usr/bin/switchboard \
    --config /etc/switchboard/switchboard.toml --listen "127.0.0.1:$port" >"$1" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "$base/healthz" && return 0
    as_root kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
stop_rc=
stop_server() {  # SIGTERM; sets stop_rc to the exit status, or "timeout" after 15 s
  as_root kill -TERM "$server_pid"
  stop_rc=timeout
  for _ in $(seq 150); do
    if ! as_root kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid"
      stop_rc=$?
      server_pid=
      return
    fi
    sleep 0.1
  done
}
if ! start_server "$work/server.log"; then
  give_up "the installed binary starts with the installed config" "$(tail -5 "$work/server.log")"
fi
ok "the installed binary starts as user switchboard with the installed config ($base)"

health=$(curl -s -w ' %{http_code}' "$base/healthz" | tr -d '\n')
[[ "$health" == "ok 200" ]] && ok "GET /healthz: 200 ok" || not_ok "GET /healthz: 200 ok" "got: $health"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data x "$base/v1/topics/pkg/test")
[[ "$code" == 401 ]] && ok "anonymous publish: 401" || not_ok "anonymous publish: 401" "got $code"
code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$base/v1/events?topic=pkg/test")
[[ "$code" == 401 ]] && ok "anonymous subscribe: 401" || not_ok "anonymous subscribe: 401" "got $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer wrong-$key" --data x "$base/v1/topics/pkg/test")
[[ "$code" == 401 ]] && ok "publish with a wrong key: 401" || not_ok "publish with a wrong key: 401" "got $code"

# Round trip: a subscriber with the key, then a publish with it.
sub_out="$work/subscriber.txt"
curl -sN -m 20 -H "Authorization: Bearer $key" "$base/v1/events?topic=pkg/test" >"$sub_out" 2>&1 &
sub_pid=$!
for _ in $(seq 50); do grep -q '^retry:' "$sub_out" && break; sleep 0.1; done
payload="package round trip $$"
published=$(curl -s -w ' %{http_code}' -X POST -H "Authorization: Bearer $key" --data "$payload" "$base/v1/topics/pkg/test?event=note")
id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$published")
if [[ "$published" == '{"topic":"pkg/test","id":"'*'"} 201' && -n "$id" ]]; then
  ok "publish with the key: 201 id $id"
else
  not_ok "publish with the key: 201" "got: $published"
fi
expected=$(printf 'id: %s\nevent: note\ndata: %s' "$id" "$payload")
for _ in $(seq 50); do grep -qF "data: $payload" "$sub_out" && break; sleep 0.1; done
kill "$sub_pid" 2>/dev/null
wait "$sub_pid" 2>/dev/null
received=$(<"$sub_out")
if [[ -n "$id" && "$received" == *"$expected"* ]]; then
  ok "the subscriber received it: id, event and data"
else
  not_ok "the subscriber received it" "expected: $expected" "got: $(tr '\n' '|' <"$sub_out")"
fi
health=$(curl -s -w ' %{http_code}' "$base/healthz" | tr -d '\n')
[[ "$health" == "ok 200" ]] && ok "still serving after the bad requests" || not_ok "still serving" "got: $health"

stop_server
[[ "$stop_rc" == 0 ]] && grep -q 'SIGTERM: draining' "$work/server.log" && ok "SIGTERM drains and exits 0" ||
  not_ok "SIGTERM drains and exits 0" "exit: $stop_rc" "$(tail -3 "$work/server.log")"

# history_dir = /var/lib/switchboard: the message is still there after a restart.
if start_server "$work/server2.log"; then
  history=$(curl -s -H "Authorization: Bearer $key" "$base/v1/topics/pkg/test/history")
  [[ "$history" == *"{\"id\":\"$id\",\"event\":\"note\",\"data\":\"$payload\","* ]] && ok "history in /var/lib/switchboard survives a restart" ||
    not_ok "history in /var/lib/switchboard survives a restart" "got: $history"
  stop_server
else
  not_ok "the installed binary starts again" "$(tail -5 "$work/server2.log")"
fi

# --- reinstall (as an upgrade runs the scripts) keeps the administrator's edits ------------------
as_root sed -i 's/^# log_level = "info"$/log_level = "warn"/' "$chroot_dir/etc/switchboard/switchboard.toml"
if in_root dpkg -i /tmp/switchboard.deb >"$work/reinstall.log" 2>&1 &&
  as_root grep -q '^log_level = "warn"$' "$chroot_dir/etc/switchboard/switchboard.toml" &&
  [[ "$(in_root stat -c '%a %U:%G' /etc/switchboard/switchboard.toml)" == "640 root:switchboard" ]] &&
  [[ "$(in_root getent passwd switchboard)" == "$passwd_line" ]]; then
  ok "dpkg -i again keeps the edited switchboard.toml, its mode and the user"
else
  not_ok "dpkg -i again keeps the edited switchboard.toml, its mode and the user" "$(tail -3 "$work/reinstall.log")"
fi

# --- purge -------------------------------------------------------------------------------------
if in_root dpkg --purge switchboard >"$work/purge.log" 2>&1 &&
  ! as_root test -e "$chroot_dir/etc/switchboard" && ! as_root test -e "$chroot_dir/var/lib/switchboard" &&
  ! as_root test -e "$chroot_dir/usr/bin/switchboard"; then
  ok "dpkg --purge removes the binary, /etc/switchboard and /var/lib/switchboard"
else
  not_ok "dpkg --purge removes the binary, /etc/switchboard and /var/lib/switchboard" "$(tail -3 "$work/purge.log")"
fi

finish
