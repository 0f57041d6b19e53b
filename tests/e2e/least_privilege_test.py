#!/usr/bin/env python3
"""Least privilege: with no capabilities at all, as an unprivileged user, the exporter
still serves exact socket counts, sysctls and TcpExt counters, names the processes of its
own user, says (metric and one log line) that it cannot attribute the others, and exits 0
on SIGTERM.

In a network namespace of its own, socket holders (tests/e2e/socket_holders.py) hold a
timer-free population: a root server `lp-server` (2 LISTEN, the server ends: ESTABLISHED
and FIN_WAIT2) and three clients, each with ESTABLISHED and CLOSE_WAIT sockets: `lp-root`
(uid 0), `lp-other` (uid 1001) and `lp-nobody` (uid 65534, the exporter's own uid). The
exporter runs as uid/gid 65534, no supplementary groups, every capability set empty
(bounding, permitted, effective, inheritable, ambient) and no_new_privs:
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --ambient-caps=-all
          --bounding-set=-all --no-new-privs
Checks:
  1. --once: exit 0; tcpstate_sockets per state == `ss -tan` in the namespace (every state,
     absent = 0); tcpstate_process_attribution_available 0, tcpstate_source_up{process} 0,
     the other sources 1, last poll successful, permission errors counted; CLOSE_WAIT of
     root and uid 1001 under process="(unknown)", lp-nobody's under its own name, no
     series names lp-root, lp-other or lp-server, per-state sums over process equal
     tcpstate_sockets; sysctls equal the namespace's, TcpExt counters equal its
     /proc/net/netstat; exactly one warning naming CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH
     and process="(unknown)"; `promtool check metrics` accepts the output
  2. serve mode (poll.interval 1s): /proc/PID/status of the running exporter shows uid
     65534, all capability sets 0, NoNewPrivs 1; after >= 3 polls the same checks hold
     (counts exclude the sockets of the scrapes themselves: port 9930), CLOSE_WAIT ages
     grow for (unknown) owners, the warning is still logged once, promtool accepts the
     scrape; SIGTERM: exit 0 within 5 s, no error lines in the log

With exactly the DaemonSet's capabilities (deploy/kubernetes/base/daemonset.yaml: uid 0,
SYS_PTRACE + DAC_READ_SEARCH + SYS_ADMIN) attribution is available and root- and
nobody-owned sockets are named: asserted by tests/e2e/pods_test.py (check 2), and for the
systemd unit's capabilities (uid 65534 + ambient SYS_PTRACE, DAC_READ_SEARCH) by
tests/deploy/systemd_check.sh (step 3). Not repeated here.

Needs root (exit 77 = skipped otherwise), setpriv, ss and promtool (exit 77 when missing).

Usage: least_privilege_test.py EXPORTER
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_util import (SKIP, Netns, find_binary, log, parse_exposition,  # noqa: E402
                        require_root, scrape, ss_sockets, ss_state_counts, time_limit, value,
                        wait_for)
from socket_holders import start_client, start_server  # noqa: E402

OVERALL_TIMEOUT = 110
EXPORTER_PORT = 9930
PORT_E, PORT_C = 19960, 19961
NOBODY = 65534
OTHER_UID = 1001
STATES = ["established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2", "time_wait",
          "close", "close_wait", "last_ack", "listen", "closing"]
WARNING = ("cannot read other processes' fds (need CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH): "
           "their sockets are labelled process=\"(unknown)\"")
# As it appears in a logfmt line (msg="..." escapes its quotes).
WARNING_LOGGED = WARNING.replace('"', '\\"')
SYSCTLS = {"tcpstate_kernel_somaxconn": "net.core.somaxconn",
           "tcpstate_kernel_tcp_max_tw_buckets": "net.ipv4.tcp_max_tw_buckets",
           "tcpstate_kernel_tcp_fin_timeout_seconds": "net.ipv4.tcp_fin_timeout",
           "tcpstate_kernel_tcp_max_syn_backlog": "net.ipv4.tcp_max_syn_backlog"}
TCPEXT = {"tw": "TW", "listen_overflows": "ListenOverflows", "listen_drops": "ListenDrops",
          "abort_on_close": "TCPAbortOnClose", "abort_on_timeout": "TCPAbortOnTimeout"}


def setpriv(uid, gid):
    """No capabilities in any set, no supplementary groups, no_new_privs."""
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
            "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs",
            "--"]


def counts(rows, exclude_port=None):
    out = {}
    for state, local, peer, _ in rows:
        if exclude_port in (local, peer):
            continue
        out[state] = out.get(state, 0) + 1
    return out


def netstat(ns):
    out = ns.run(["cat", "/proc/net/netstat"], check=True).stdout.splitlines()
    for head, vals in zip(out[::2], out[1::2]):
        if head.startswith("TcpExt:"):
            return dict(zip(head.split()[1:], (int(v) for v in vals.split()[1:])))
    raise AssertionError("no TcpExt in /proc/net/netstat")


def table(ns):
    return ss_sockets(ns), netstat(ns)


def promtool_ok(promtool, text, what):
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30)
    assert lint.returncode == 0, f"{what}: promtool check metrics:\n{lint.stdout}{lint.stderr}"


def check_samples(ns, samples, ss_rows, nstat, population, what, exclude_port=None):
    """The checks shared by --once and serve mode. `exclude_port`: sockets of the scrapes
    (serve mode) are left out on both sides: ss rows with that local or peer port, and the
    exporter's tcpstate_port_sockets{port=...} (inbound: local port; outbound: remote port)."""
    ss = counts(ss_rows, exclude_port)
    got = {}
    for state in STATES:
        n = value(samples, "tcpstate_sockets", state=state) or 0
        if exclude_port is not None:
            n -= value(samples, "tcpstate_port_sockets", state=state,
                       port=str(exclude_port)) or 0
        got[state] = n
    mismatch = [(s, got[s], ss.get(s, 0)) for s in STATES if got[s] != ss.get(s, 0)]
    unknown_states = set(ss) - set(STATES)
    assert not unknown_states, f"{what}: ss states not mapped: {unknown_states}"
    assert not mismatch, f"{what}: tcpstate_sockets != ss -tan (state, exporter, ss): {mismatch}"
    log(f"  {what}: tcpstate_sockets == ss -tan{'' if exclude_port is None else f' (without port {exclude_port})'}: "
        f"{ {s: int(v) for s, v in got.items() if v} }")

    assert value(samples, "tcpstate_process_attribution_available") == 0, \
        "tcpstate_process_attribution_available is not 0 without capabilities"
    for source, want in (("process", 0), ("sock_diag", 1), ("sysctl", 1), ("netstat", 1)):
        got_up = value(samples, "tcpstate_source_up", source=source)
        assert got_up == want, f"{what}: tcpstate_source_up{{source={source!r}}} = {got_up}"
    assert value(samples, "tcpstate_last_poll_success") == 1
    assert (value(samples, "tcpstate_process_attribution_errors_total",
                  reason="permission") or 0) > 0, f"{what}: no permission errors counted"

    # CLOSE_WAIT: root's and uid 1001's are (unknown), the exporter's own user's are named.
    cw = {l["process"]: v for n, l, v in samples
          if n == "tcpstate_close_wait_sockets" and l.get("port") == str(PORT_C)}
    want_cw = {"(unknown)": population["lp-root"][1] + population["lp-other"][1],
               "lp-nobody": population["lp-nobody"][1]}
    assert cw == want_cw, f"{what}: CLOSE_WAIT by process {cw}, want {want_cw}"
    names = {l.get("process") for n, l, v in samples if "process" in l}
    hidden = names & {"lp-root", "lp-other", "lp-server"}
    assert not hidden, f"{what}: processes of other users named without privileges: {hidden}"
    for state in STATES:
        total = value(samples, "tcpstate_sockets", state=state) or 0
        per_process = value(samples, "tcpstate_process_sockets", state=state) or 0
        assert per_process == total, \
            f"{what}: sum over process of tcpstate_process_sockets{{state={state!r}}} " \
            f"{per_process} != tcpstate_sockets {total}"
    own = {s: value(samples, "tcpstate_process_sockets", process="lp-nobody", state=s)
           for s in ("established", "close_wait")}
    assert own == {"established": population["lp-nobody"][0],
                   "close_wait": population["lp-nobody"][1]}, f"{what}: lp-nobody {own}"
    log(f"  {what}: attribution_available 0, source_up process 0 (sock_diag, sysctl, "
        f"netstat 1), CLOSE_WAIT {cw}, permission errors "
        f"{value(samples, 'tcpstate_process_attribution_errors_total', reason='permission'):.0f}")

    for metric, key in SYSCTLS.items():
        want = int(ns.run(["sysctl", "-n", key], check=True).stdout)
        assert value(samples, metric) == want, f"{what}: {metric} {value(samples, metric)} != {want}"
    low, high = (int(x) for x in ns.run(["sysctl", "-n", "net.ipv4.ip_local_port_range"],
                                        check=True).stdout.split())
    assert value(samples, "tcpstate_kernel_ip_local_port_range_low") == low
    assert value(samples, "tcpstate_kernel_ip_local_port_range_high") == high
    if nstat is not None:
        for metric, key in TCPEXT.items():
            got_n = value(samples, f"tcpstate_tcpext_{metric}_total")
            assert got_n == nstat[key], f"{what}: tcpstate_tcpext_{metric}_total {got_n} != {nstat[key]}"
    log(f"  {what}: {len(SYSCTLS) + 2} sysctls equal the namespace's"
        f"{'' if nstat is None else f', {len(TCPEXT)} TcpExt counters equal its /proc/net/netstat'}")


def check_warning(stderr, what):
    lines = [l for l in stderr.splitlines() if WARNING_LOGGED in l]
    assert len(lines) == 1, \
        f"{what}: want exactly one log line containing {WARNING!r}, got {len(lines)}:\n{stderr}"
    assert " level=warn " in lines[0], f"{what}: not logged as a warning: {lines[0]}"
    errors = [l for l in stderr.splitlines() if " level=error " in l]
    assert not errors, f"{what}: error lines in the log: {errors}"
    log(f"  {what}: log says: {lines[0]}")


def check_once(ns, exporter, config, promtool, population):
    log("== 1. --once as uid 65534 without capabilities")
    argv = setpriv(NOBODY, NOBODY) + [exporter, "--config", config, "--once"]
    for attempt in range(4):
        before = table(ns)
        result = ns.run(argv, timeout=60)
        after = table(ns)
        if before == after:
            break
        log(f"  socket table or TcpExt changed during the run, again (attempt {attempt + 1})")
    else:
        raise AssertionError("socket table never stable across a run")
    assert result.returncode == 0, f"--once: exit status {result.returncode}\n{result.stderr}"
    samples = parse_exposition(result.stdout)
    check_samples(ns, samples, before[0], before[1], population, "--once")
    check_warning(result.stderr, "--once")
    promtool_ok(promtool, result.stdout, "--once")
    log("  --once: exit 0, promtool check metrics clean")


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def exporter_pid(launcher_pid):
    """ip netns exec and setpriv exec in place: the pid we started is the exporter's."""
    with open(f"/proc/{launcher_pid}/comm") as f:
        comm = f.read().strip()
    assert comm.startswith("tcpstate_export"), f"pid {launcher_pid} is {comm!r}"
    return launcher_pid


def check_serve(ns, exporter, config, promtool, population, tmp):
    log("== 2. serve mode as uid 65534 without capabilities, poll.interval 1s")
    log_path = os.path.join(tmp, "serve.stderr")
    argv = setpriv(NOBODY, NOBODY) + [exporter, "--config", config,
                                      "--web.listen-address", f"127.0.0.1:{EXPORTER_PORT}"]
    with open(log_path, "w") as err:
        proc = ns.spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{EXPORTER_PORT}/metrics"
    try:
        def polled(n):
            def check():
                assert proc.poll() is None, \
                    f"exporter exited {proc.returncode}: {open(log_path).read()}"
                try:
                    samples = parse_exposition(scrape(ns, url))
                except (subprocess.CalledProcessError, urllib.error.URLError):
                    return None
                polls = value(samples, "tcpstate_polls_total", result="success") or 0
                return samples if polls >= n else None
            return check
        first = wait_for(polled(1), 30, "the serving exporter's first poll")
        pid = exporter_pid(proc.pid)
        status = proc_status(pid)
        log(f"  pid {pid}: Uid {status['Uid']} Gid {status['Gid']} Groups "
            f"{status['Groups']!r} CapInh {status['CapInh']} CapPrm {status['CapPrm']} CapEff "
            f"{status['CapEff']} CapBnd {status['CapBnd']} CapAmb {status['CapAmb']} "
            f"NoNewPrivs {status['NoNewPrivs']}")
        assert status["Uid"].split() == [str(NOBODY)] * 4, status["Uid"]
        assert status["Gid"].split() == [str(NOBODY)] * 4, status["Gid"]
        assert status["Groups"].strip() == "", status["Groups"]
        for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(status[key], 16) == 0, f"{key} {status[key]}"
        assert status["NoNewPrivs"].strip() == "1"
        age_first = value(first, "tcpstate_close_wait_oldest_age_seconds", process="(unknown)",
                          port=str(PORT_C))

        # >= 3 polls later; compare with ss read between two polls (the population has no
        # timers; only the scrapes' own sockets, all on EXPORTER_PORT, come and go).
        start_polls = value(first, "tcpstate_polls_total", result="success")
        wait_for(polled(start_polls + 3), 20, "three more polls")
        for attempt in range(4):
            before = ss_sockets(ns)
            samples = parse_exposition(scrape(ns, url))
            after = ss_sockets(ns)
            if counts(before, EXPORTER_PORT) == counts(after, EXPORTER_PORT):
                break
        check_samples(ns, samples, before, None, population, "serve", EXPORTER_PORT)
        age = value(samples, "tcpstate_close_wait_oldest_age_seconds", process="(unknown)",
                    port=str(PORT_C))
        assert age is not None and age_first is not None and age >= age_first + 2, \
            f"CLOSE_WAIT age of (unknown) owners does not grow: {age_first} then {age}"
        log(f"  serve: CLOSE_WAIT age of (unknown) owners {age_first:.0f}s -> {age:.0f}s")
        promtool_ok(promtool, scrape(ns, url), "serve")
        log("  serve: promtool check metrics clean")

        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        took = time.monotonic() - t0
        assert code == 0, f"exit status {code} after SIGTERM\n{open(log_path).read()}"
        assert took <= 5, f"SIGTERM took {took:.1f}s"
        log(f"  serve: SIGTERM -> exit 0 after {took:.2f}s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    with open(log_path) as f:
        check_warning(f.read(), "serve")


def main():
    require_root()
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    exporter = os.path.abspath(sys.argv[1])
    promtool = find_binary("PROMTOOL", "promtool")
    missing = [n for n, p in (("promtool", promtool), ("setpriv", shutil.which("setpriv")),
                              ("ss", shutil.which("ss"))) if not p]
    if missing:
        print(f"SKIP: {', '.join(missing)} not found (Debian: apt-get install prometheus "
              "util-linux iproute2)", file=sys.stderr)
        return SKIP
    # (established, close_wait) per client; the exporter's uid is 65534.
    population = {"lp-root": (2, 3), "lp-other": (1, 4), "lp-nobody": (3, 2)}
    users = {"lp-root": None, "lp-other": (OTHER_UID, OTHER_UID), "lp-nobody": (NOBODY, NOBODY)}
    holders = []
    with time_limit(OVERALL_TIMEOUT), \
            tempfile.TemporaryDirectory(prefix="tcpstate-leastpriv-",
                                        ignore_cleanup_errors=True) as tmp, \
            Netns("tcpstate-leastpriv") as ns:
        os.chmod(tmp, 0o755)  # the exporter runs as 65534 and reads its configuration here
        config = os.path.join(tmp, "config.yml")
        with open(config, "w") as f:
            f.write("poll:\n  interval: 1s\nprocesses:\n  enabled: true\n  states: [all]\n"
                    "log:\n  level: info\n")
        os.chmod(config, 0o644)
        try:
            holders.append(start_server(ns, PORT_E, PORT_C, name=b"lp-server"))
            for name, (n_e, n_c) in population.items():
                prefix = setpriv(*users[name]) if users[name] else ()
                holders.append(start_client(ns, name.encode(), "prctl", PORT_E, PORT_C,
                                            n_e, n_c, prefix=prefix))
                log(f"{name}: pid {holders[-1].pid}, uid "
                    f"{proc_status(holders[-1].pid)['Uid'].split()[0]}, {n_e} established, "
                    f"{n_c} close_wait")
            n_e = sum(e for e, _ in population.values())
            n_c = sum(c for _, c in population.values())
            want = {"listen": 2, "established": 2 * n_e, "close_wait": n_c, "fin_wait2": n_c}
            # The server's FINs may still await their ACK (FIN_WAIT1) for a moment.
            last = {}
            wait_for(lambda: last.update(ss=ss_state_counts(ns)) or last["ss"] == want, 10,
                     f"the population in ss -tan: {want}",
                     state=lambda: f"ss -tan: {last.get('ss')}")
            check_once(ns, exporter, config, promtool, population)
            check_serve(ns, exporter, config, promtool, population, tmp)
        finally:
            for holder in reversed(holders):
                holder.stop()
    log("least privilege test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
