#!/usr/bin/env bash
# systemd_check.sh - check deploy/systemd/tcpstate_exporter.service.
#
#   1. systemd-analyze verify (ExecStart mapped to the built binary: verify insists that it
#      exists), and systemd-analyze security --offline: exposure must stay at or below 3.0
#   2. the settings the exporter depends on are present and the ones that would break it are
#      absent: the capability sets, NoNewPrivileges, /proc left whole (ProtectProc,
#      ProcSubset), the host network and user namespaces kept, AF_NETLINK allowed,
#      ExecReload sends SIGHUP, MemoryMax set, a sysusers.d entry for User=
#   3. the capability set is sufficient (root and setpriv needed, else skipped): the exporter,
#      run as an unprivileged user with exactly the unit's AmbientCapabilities (bounding set
#      the same, no_new_privs), attributes a socket of another user's process
#      (tcpstate_process_attribution_available 1); with no capabilities it reports 0 and still
#      counts the socket (the documented degradation)
#
# systemd is not PID 1 here, so the sandbox itself is not started: the unit is checked
# statically, the capability set at run time.
#
# Usage: tests/deploy/systemd_check.sh [--unit FILE] EXPORTER
# Exit status: 0 passed, 1 failed, 77 systemd-analyze missing (skipped).

set -uo pipefail

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH='' cd -- "$here/../.." && pwd)
unit="$root/deploy/systemd/tcpstate_exporter.service"
sysusers="$root/deploy/systemd/tcpstate_exporter.sysusers"
if [ "${1:-}" = --unit ]; then unit=$2; shift 2; fi # a modified copy, to see the checks fail
exporter=${1:-}
[ -n "$exporter" ] && [ -x "$exporter" ] || { echo "usage: $0 [--unit FILE] EXPORTER (the built tcpstate_exporter)" >&2; exit 2; }
exporter=$(readlink -f "$exporter")

passed=0
failed=0
pass() { printf '  ok: %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAILED: %s\n' "$*"; failed=$((failed + 1)); }
step() { printf '\n=== %s\n' "$1"; }

command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd_check.sh: SKIP: systemd-analyze not found (Debian: apt-get install systemd)"; exit 77; }

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# The value of KEY= in [Service] (the last assignment wins, as in systemd; "" when absent).
setting() {
    awk -v k="$1" '
        /^\[/ { section = $0 }
        section == "[Service]" && index($0, k "=") == 1 { v = substr($0, length(k) + 2) }
        END { print v }' "$unit"
}
words_sorted() { tr ' ' '\n' | grep -v '^$' | sort | tr '\n' ' '; }

step "1. systemd-analyze ($(systemd-analyze --version | head -1))"
# verify checks that ExecStart= is executable: point it at the built binary, nothing else changes.
sed "s#^ExecStart=/usr/local/bin/tcpstate_exporter #ExecStart=$exporter #" "$unit" >"$tmp/tcpstate_exporter.service"
if (cd "$tmp" && systemd-analyze verify "$tmp/tcpstate_exporter.service") >"$tmp/verify.log" 2>&1 && [ ! -s "$tmp/verify.log" ]; then
    pass "systemd-analyze verify: no warnings"
else
    cat "$tmp/verify.log"
    fail "systemd-analyze verify"
fi
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    systemd-analyze security --offline=true "$tmp/tcpstate_exporter.service" >"$tmp/security.log" 2>&1
    level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$tmp/security.log")
    if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }'; then
        pass "systemd-analyze security --offline: exposure $level (at most 3.0)"
    else
        grep '✗' "$tmp/security.log"
        fail "systemd-analyze security: exposure ${level:-unknown}, more than 3.0"
    fi
else
    echo "  (systemd-analyze security --offline needs systemd 250 or newer: not checked)"
fi

step "2. settings the exporter depends on"
expect() { # KEY EXPECTED-VALUE REASON
    local v
    v=$(setting "$1")
    [ "$v" = "$2" ] && pass "$1=$2" || fail "$1 is '$v', expected '$2': $3"
}
forbid() { # KEY BAD-ERE REASON
    local v
    v=$(setting "$1")
    if printf '%s' "$v" | grep -Eq "$2"; then fail "$1=$v: $3"; else pass "$1 is not /$2/ (${v:-unset})"; fi
}
caps="CAP_DAC_READ_SEARCH CAP_SYS_PTRACE "
[ "$(setting AmbientCapabilities | words_sorted)" = "$caps" ] && pass "AmbientCapabilities=$caps" ||
    fail "AmbientCapabilities must be exactly $caps(is '$(setting AmbientCapabilities)')"
[ "$(setting CapabilityBoundingSet | words_sorted)" = "$caps" ] && pass "CapabilityBoundingSet=$caps" ||
    fail "CapabilityBoundingSet must be exactly $caps(is '$(setting CapabilityBoundingSet)')"
expect NoNewPrivileges yes "no setuid or file-capability escalation"
expect ProtectSystem strict "the exporter writes nothing"
expect ProtectHome yes "no reason to see home directories"
expect PrivateTmp yes "no shared /tmp"
expect ProtectKernelTunables yes "sysctls are only read"
expect ProtectControlGroups yes "cgroups are only read"
expect ExecReload '/bin/kill -HUP $MAINPID' "the exporter reloads its configuration on SIGHUP"
expect SystemCallFilter '~@privileged @resources' "deny list after the @system-service allow list"
grep -q '^SystemCallFilter=@system-service$' "$unit" && pass "SystemCallFilter=@system-service" || fail "SystemCallFilter=@system-service missing"
for fam in AF_NETLINK AF_INET AF_INET6 AF_UNIX; do
    case " $(setting RestrictAddressFamilies) " in
        *" $fam "*) pass "RestrictAddressFamilies allows $fam" ;;
        *) fail "RestrictAddressFamilies lacks $fam (AF_NETLINK: sock_diag; AF_INET*: /metrics; AF_UNIX: journal)" ;;
    esac
done
forbid ProtectProc '^(invisible|noaccess|ptraceable)$' "hides other users' processes: no process attribution"
forbid ProcSubset '^pid$' "hides /proc/sys and /proc/net: no sysctls, no TcpExt counters"
forbid PrivateNetwork '^(yes|true|1)$' "the exporter would see an empty network namespace"
forbid PrivateUsers '^(yes|true|1)$' "capabilities would not count in the host's user namespace"
forbid DynamicUser '^(yes|true|1)$' "the unit uses a fixed system user"
forbid User '^(root|0|)$' "runs as an unprivileged user with ambient capabilities"
[ -n "$(setting MemoryMax)" ] && pass "MemoryMax=$(setting MemoryMax)" || fail "MemoryMax missing"
user=$(setting User)
grep -Eq "^u $user " "$sysusers" && pass "sysusers.d entry for $user" || fail "no sysusers.d entry for User=$user in $sysusers"
grep -q "^ExecStart=/usr/local/bin/tcpstate_exporter --config.file /etc/tcpstate_exporter/tcpstate_exporter.yml$" "$unit" &&
    pass "ExecStart with --config.file" || fail "ExecStart must run /usr/local/bin/tcpstate_exporter --config.file /etc/tcpstate_exporter/tcpstate_exporter.yml"

step "3. the unit's capabilities suffice for process attribution"
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
    echo "  (needs root, setpriv and python3: not checked)"
else
    # A root-owned process with a listening socket: another user's, seen from the service user.
    python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
time.sleep(120)' >"$tmp/port" &
    pids+=($!)
    for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
    port=$(cat "$tmp/port")
    chmod 0755 "$tmp"
    printf 'processes:\n  enabled: true\n' >"$tmp/config.yml"
    chmod 0644 "$tmp/config.yml"
    ambient=$(setting AmbientCapabilities | tr 'A-Z' 'a-z' | sed -e 's/cap_//g' -e 's/^ *//' -e 's/ *$//' -e 's/  */,+/g')
    run_as_service() { # CAPS(setpriv list, "" = none): --once as nobody, like the unit
        local list=$1
        if [ -n "$list" ]; then
            setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs \
                --inh-caps="-all,+$list" --ambient-caps="-all,+$list" --bounding-set="-all,+$list" \
                "$exporter" --config "$tmp/config.yml" --once --log.level error
        else
            setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs \
                --inh-caps=-all --ambient-caps=-all --bounding-set=-all \
                "$exporter" --config "$tmp/config.yml" --once --log.level error
        fi
    }
    if [ -z "$port" ]; then
        fail "the test listener did not start"
    else
        run_as_service "$ambient" >"$tmp/with.prom" 2>"$tmp/with.err"
        if grep -q '^tcpstate_process_attribution_available 1$' "$tmp/with.prom" &&
            grep -Eq "^tcpstate_process_sockets\{process=\"python3\",state=\"listen\"\} [1-9]" "$tmp/with.prom"; then
            pass "as uid 65534 with ambient +$ambient: attribution available, the root-owned listener is process=\"python3\""
        else
            cat "$tmp/with.err"
            grep -E '^tcpstate_process_attribution_available|process_sockets.*listen' "$tmp/with.prom"
            fail "with the unit's capabilities the exporter could not attribute another user's socket"
        fi
        run_as_service "" >"$tmp/without.prom" 2>"$tmp/without.err"
        if grep -q '^tcpstate_process_attribution_available 0$' "$tmp/without.prom" &&
            grep -Eq '^tcpstate_sockets\{state="listen"\} [1-9]' "$tmp/without.prom" &&
            ! grep -Eq '^tcpstate_process_sockets\{process="python3",state="listen"\}' "$tmp/without.prom"; then
            pass "without capabilities: tcpstate_process_attribution_available 0, the listener still counted"
        else
            grep -E '^tcpstate_process_attribution_available|listen' "$tmp/without.prom"
            fail "without capabilities the documented degradation did not happen"
        fi
    fi
fi

printf '\nsystemd_check.sh: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
