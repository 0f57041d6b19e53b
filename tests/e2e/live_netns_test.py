#!/usr/bin/env python3
"""Live end-to-end test against a real kernel socket table.

In a fresh network namespace, sockpop creates known numbers of LISTEN,
ESTABLISHED, CLOSE_WAIT, FIN_WAIT2 and TIME_WAIT sockets over IPv4 and IPv6.
The exporter's counts per state must equal `ss` for the same namespace, the
CLOSE_WAIT sockets must be attributed to sockpop and the right port, and
their age must grow between two polls.

Then a process with a low soft RLIMIT_NOFILE holds sockets and files: the exporter's
tcpstate_process_open_fds and tcpstate_process_max_fds for it must equal the count of
/proc/<pid>/fd and the "Max open files" soft limit of /proc/<pid>/limits, for the same
processes as tcpstate_process_sockets. And the namespace's Tcp counters (tcpstate_tcp_*_total)
must equal its /proc/net/snmp (read with `ip netns exec`) before and after K connections
and one refused connect, whose deltas must be exactly K+1 ActiveOpens, K PassiveOpens and
1 AttemptFails.
In a second namespace, close_wait_causes.py builds each CLOSE_WAIT cause (never
accepted, not reading, read but never closed): the exporter's `cause` counts
must equal the cause `ss -tanp` shows (no owner / Recv-Q > 0 / Recv-Q 0) and the
numbers the holder built; a listener with backlog 1 that never accepts overflows, and its
per-port drop counter must match the namespace's TcpExt ListenDrops; the bytes the holder
leaves unread must equal `ss` Recv-Q per process and per port.

Usage: live_netns_test.py EXPORTER SOCKPOP
"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_util import (Netns, parse_exposition, require_root, scrape,  # noqa: E402
                        ss_sockets, ss_state_counts, value, wait_for)

BASE_PORT = 21000
CAUSE_PORT = 21200
HERE = os.path.dirname(os.path.abspath(__file__))
POPULATION = {"listen": 2, "established": 5, "close-wait": 7, "time-wait": 9}


def start_population(ns, sockpop, ready_file):
    argv = [sockpop, "--family", "both", "--port", str(BASE_PORT)]
    for option, count in POPULATION.items():
        argv += [f"--{option}", str(count)]
    argv += ["--ready-file", ready_file, "--hold-seconds", "300"]
    ns.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    line = wait_for(lambda: os.path.exists(ready_file) and open(ready_file).read().strip(),
                    60, "sockpop READY")
    expected = dict(kv.split("=") for kv in line.split()[1:])
    return {k: int(v) for k, v in expected.items()}


def check_counts_against_ss(ns, exporter, expected):
    result = ns.run([exporter, "--once", "--log.level", "warn"])
    assert result.returncode == 0, f"--once failed: {result.stderr}"
    ss = ss_state_counts(ns)
    samples = parse_exposition(result.stdout)
    print(f"ss counts: {ss}")
    mismatches = []
    for state in ["listen", "established", "close_wait", "fin_wait2", "time_wait",
                  "syn_sent", "syn_recv", "fin_wait1", "last_ack", "closing"]:
        got = value(samples, "tcpstate_sockets", state=state)
        want = ss.get(state, 0)
        print(f"  {state:12} exporter={got} ss={want}")
        if got != want:
            mismatches.append((state, got, want))
    assert not mismatches, f"exporter disagrees with ss: {mismatches}"
    # ss and the population generator must agree too, or the test proves nothing.
    for state, key in [("listen", "listen"), ("established", "established"),
                       ("close_wait", "close_wait"), ("fin_wait2", "fin_wait2"),
                       ("time_wait", "time_wait")]:
        assert ss.get(state, 0) == expected[key], (state, ss.get(state, 0), expected[key])
    assert value(samples, "tcpstate_poll_sockets") == sum(ss.values())
    return samples


def check_attribution(samples, expected):
    cw_port = str(BASE_PORT + 1)
    got = value(samples, "tcpstate_close_wait_sockets", process="sockpop",
                direction="outbound", port=cw_port)
    assert got == expected["close_wait"], \
        f"CLOSE_WAIT attributed to sockpop:{cw_port} = {got}, want {expected['close_wait']}"
    others = [(l, v) for n, l, v in samples
              if n == "tcpstate_close_wait_sockets" and l.get("process") != "sockpop"]
    assert not others, f"CLOSE_WAIT attributed elsewhere: {others}"
    est = value(samples, "tcpstate_process_sockets", process="sockpop", state="established")
    assert est == expected["established"], est
    tw = value(samples, "tcpstate_process_sockets", process="(none)", state="time_wait")
    assert tw == expected["time_wait"], tw
    listen_backlog = value(samples, "tcpstate_listen_backlog", port=cw_port)
    assert listen_backlog and listen_backlog > 0, listen_backlog
    print(f"  CLOSE_WAIT sockpop/outbound/{cw_port} = {got}; poll took "
          f"{value(samples, 'tcpstate_poll_duration_seconds'):.4f}s")


def check_age_grows(ns, exporter, tmp):
    config = os.path.join(tmp, "fast.yml")
    with open(config, "w") as f:
        f.write("poll:\n  interval: 500ms\nlog:\n  level: warn\n")
    ns.spawn([exporter, "--config", config, "--web.listen-address", "127.0.0.1:19931"])
    url = "http://127.0.0.1:19931/metrics"
    cw = dict(process="sockpop", direction="outbound", port=str(BASE_PORT + 1))

    def age():
        try:
            samples = parse_exposition(scrape(ns, url))
        except Exception:  # not up yet
            return None
        return value(samples, "tcpstate_close_wait_oldest_age_seconds", **cw)

    # A 1-tuple so that an age of 0.0 still counts as an answer.
    first = wait_for(lambda: (a := age()) is not None and (a,), 30, "exporter up")[0]
    time.sleep(2.5)
    second = age()
    print(f"  CLOSE_WAIT oldest age: {first:.1f}s then {second:.1f}s")
    assert second is not None and second >= first + 1.5, (first, second)


FD_HOLDER = "fd-holder"
FD_HOLDER_PORT = BASE_PORT + 100
FD_HOLDER_LIMIT = 50
FD_HOLDER_CODE = r"""
import ctypes, os, resource, socket, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
resource.setrlimit(resource.RLIMIT_NOFILE,
                   (int(sys.argv[3]), resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[2])))
server.listen(16)
held = []
for _ in range(5):  # 5 connections to itself: 10 ESTABLISHED sockets
    held.append(socket.create_connection(("127.0.0.1", int(sys.argv[2]))))
    held.append(server.accept()[0])
held += [open("/dev/null") for _ in range(13)]
print("READY", flush=True)
sys.stdin.read()
"""
# K connections over loopback (listener, connect, accept, close) and one connect to a closed
# port (refused: an AttemptFails, and a RST sent).
CHURN = 7
CHURN_CODE = r"""
import socket, sys
k, port = int(sys.argv[1]), int(sys.argv[2])
server = socket.socket()
server.bind(("127.0.0.1", port))
server.listen(k)
conns = []
for _ in range(k):
    conns.append(socket.create_connection(("127.0.0.1", port)))
    conns.append(server.accept()[0])
for c in conns:
    c.close()
try:
    socket.create_connection(("127.0.0.1", port + 1), timeout=5)
    sys.exit("connect to a closed port succeeded")
except ConnectionRefusedError:
    pass
"""
SNMP_METRICS = {"ActiveOpens": "tcpstate_tcp_active_opens_total",
                "PassiveOpens": "tcpstate_tcp_passive_opens_total",
                "AttemptFails": "tcpstate_tcp_attempt_fails_total",
                "EstabResets": "tcpstate_tcp_estab_resets_total",
                "RetransSegs": "tcpstate_tcp_retrans_segments_total",
                "InErrs": "tcpstate_tcp_in_errors_total",
                "OutRsts": "tcpstate_tcp_out_resets_total"}


def ns_snmp(ns):
    """The namespace's Tcp: counters, from its own /proc/net/snmp."""
    lines = [l.split() for l in ns.run(["cat", "/proc/net/snmp"], check=True).stdout.splitlines()
             if l.startswith("Tcp:")]
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:]) if k in SNMP_METRICS}


def exporter_once(ns, exporter):
    result = ns.run([exporter, "--once", "--log.level", "warn"])
    assert result.returncode == 0, f"--once failed: {result.stderr}"
    return parse_exposition(result.stdout)


def check_fds(ns, exporter):
    holder = ns.spawn([sys.executable, "-c", FD_HOLDER_CODE, FD_HOLDER, str(FD_HOLDER_PORT),
                       str(FD_HOLDER_LIMIT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"READY", "fd holder did not get ready"
    try:
        fds = len(os.listdir(f"/proc/{holder.pid}/fd"))
        with open(f"/proc/{holder.pid}/limits") as f:
            soft = int(next(l for l in f if l.startswith("Max open files")).split()[3])
        samples = exporter_once(ns, exporter)
        assert len(os.listdir(f"/proc/{holder.pid}/fd")) == fds, "the holder's fds changed"
        got_fds = value(samples, "tcpstate_process_open_fds", process=FD_HOLDER)
        got_max = value(samples, "tcpstate_process_max_fds", process=FD_HOLDER)
        print(f"  {FD_HOLDER}: exporter open_fds={got_fds} max_fds={got_max}; "
              f"/proc: {fds} fds, soft limit {soft}")
        assert soft == FD_HOLDER_LIMIT, soft  # or the test proves nothing
        assert (got_fds, got_max) == (fds, soft), ((got_fds, got_max), (fds, soft))
        owners = {l["process"] for n, l, _ in samples if n == "tcpstate_process_sockets"} \
            - {"(none)", "(unknown)"}
        with_fds = {l["process"] for n, l, _ in samples if n == "tcpstate_process_open_fds"}
        assert with_fds == owners and FD_HOLDER in owners, (with_fds, owners)
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def check_churn(ns, exporter):
    before = ns_snmp(ns)
    samples = exporter_once(ns, exporter)
    after = ns_snmp(ns)
    assert before == after, f"the namespace is not idle: {before} -> {after}"
    got = {k: value(samples, m) for k, m in SNMP_METRICS.items()}
    assert got == before, f"exporter {got} != /proc/net/snmp {before}"
    assert value(samples, "tcpstate_source_up", source="snmp") == 1
    ns.run([sys.executable, "-c", CHURN_CODE, str(CHURN), str(BASE_PORT + 200)], check=True)
    samples = exporter_once(ns, exporter)
    now = ns_snmp(ns)
    got_now = {k: value(samples, m) for k, m in SNMP_METRICS.items()}
    delta = {k: got_now[k] - got[k] for k in got}
    print(f"  Tcp counter deltas after {CHURN} connections and 1 refused: {delta}")
    assert got_now == now, f"exporter {got_now} != /proc/net/snmp {now}"
    assert (delta["ActiveOpens"], delta["PassiveOpens"], delta["AttemptFails"]) == \
        (CHURN + 1, CHURN, 1), delta
    assert delta["OutRsts"] >= 1, delta  # the RST answering the refused SYN
def ss_close_wait(ns):
    """[(local port, Recv-Q, cause)] of the namespace's CLOSE_WAIT sockets, the cause read
    from `ss -tanp` the way the exporter defines it (docs/metrics.md)."""
    rows = []
    for line in ns.run(["ss", "-tanpH"], check=True).stdout.splitlines():
        fields = line.split()
        if fields[0] != "CLOSE-WAIT":
            continue
        recv_q, port = int(fields[1]), int(fields[3].rsplit(":", 1)[1])
        cause = ("not_accepted" if "users:" not in line
                 else "not_closed" if recv_q == 0 else "not_reading")
        rows.append((port, recv_q, cause))
    return rows


def listen_drops(ns):
    """TcpExt ListenDrops of the namespace (/proc/net/netstat read inside it)."""
    lines = ns.run(["cat", "/proc/net/netstat"], check=True).stdout.splitlines()
    for names, values in zip(lines, lines[1:]):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            return int(dict(zip(names.split()[1:], values.split()[1:]))["ListenDrops"])
    raise AssertionError("no TcpExt in /proc/net/netstat")


def check_listen_drops(ns, samples, before, after):
    """Only the backlog-1 listener at CAUSE_PORT+2 overflows (its clients' SYNs are dropped and
    retried), so its per-port counter is the namespace's ListenDrops, read just before and
    after the exporter's poll; every other port has none."""
    port = str(CAUSE_PORT + 2)
    got = value(samples, "tcpstate_listen_drops_total", port=port)
    print(f"  listen drops port {port}: exporter {got}, namespace ListenDrops {before}..{after}")
    assert before > 0, "the overflow listener dropped nothing: the test proves nothing"
    assert got is not None and before <= got <= after, (got, before, after)
    others = [(l, v) for n, l, v in samples
              if n == "tcpstate_listen_drops_total" and l["port"] != port and v != 0]
    assert not others, others
    # Its accept queue is full (backlog 1 holds 2), beside the drops; SYN_RECV per port
    # matches ss (0 here: a full queue drops the SYN before any SYN_RECV exists).
    assert value(samples, "tcpstate_listen_queue_length", port=port) == 2
    syn = sum(1 for st, local, *_ in ss_sockets(ns) if st == "syn_recv" and local == int(port))
    assert value(samples, "tcpstate_listen_syn_recv_sockets", port=port) == syn, syn


def check_queue_bytes(ns, samples, built):
    """The holder's unread bytes (not_reading sockets: data + the FIN) are what `ss` shows in
    Recv-Q, per process and per port; and the node's TCP memory is there in bytes."""
    by_process, by_port = 0, 0
    for line in ns.run(["ss", "-tanpH"], check=True).stdout.splitlines():
        fields = line.split()
        if fields[0] == "LISTEN":
            continue
        recv_q, port = int(fields[1]), int(fields[3].rsplit(":", 1)[1])
        if '"cw-causes"' in line:
            by_process += recv_q
        if port == CAUSE_PORT + 1:
            by_port += recv_q
    got_process = value(samples, "tcpstate_process_queue_bytes", process="cw-causes",
                        queue="recv")
    got_port = value(samples, "tcpstate_port_queue_bytes", direction="inbound",
                     port=str(CAUSE_PORT + 1), queue="recv")
    print(f"  Recv-Q bytes of cw-causes: exporter {got_process}, ss {by_process}; "
          f"port {CAUSE_PORT + 1}: exporter {got_port}, ss {by_port}")
    assert by_process == built["not_reading"] * (built["bytes"] + 1), by_process
    assert got_process == by_process and got_port == by_port, (got_process, got_port)
    # The node's TCP memory (sockstat "mem", pages) may read 0 even with these bytes queued:
    # since Linux 6.0 each CPU keeps up to 1 MiB of forward allocation before it reaches the
    # global counter (net.core.mem_pcpu_rsv, tcp_memory_per_cpu_fw_alloc). So: exported, in
    # whole pages, and no more than the machine has.
    memory = value(samples, "tcpstate_kernel_tcp_memory_in_use_bytes")
    page = os.sysconf("SC_PAGESIZE")
    assert memory is not None and 0 <= memory <= page * os.sysconf("SC_PHYS_PAGES"), memory
    assert memory % page == 0, memory


def check_close_wait_causes(exporter):
    with Netns("tcpstate-cause") as ns:
        holder = ns.spawn([sys.executable, os.path.join(HERE, "close_wait_causes.py"),
                           "--port", str(CAUSE_PORT)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = holder.stdout.readline()
        assert line.startswith("READY "), f"holder: {line!r}"
        built = json.loads(line.split(" ", 1)[1])
        drops_before = listen_drops(ns)
        result = ns.run([exporter, "--once", "--log.level", "warn"])
        drops_after = listen_drops(ns)
        assert result.returncode == 0, f"--once failed: {result.stderr}"
        samples = parse_exposition(result.stdout)
        check_listen_drops(ns, samples, drops_before, drops_after)
        rows = ss_close_wait(ns)
        print(f"  ss CLOSE_WAIT (port, Recv-Q, cause): {sorted(rows)}")
        # What the kernel shows, measured: the FIN counts 1 in Recv-Q until it is read.
        recv_q = {c: sorted(q for _, q, cc in rows if cc == c) for c in
                  ("not_accepted", "not_reading", "not_closed")}
        assert recv_q["not_reading"] == [built["bytes"] + 1] * built["not_reading"], recv_q
        assert recv_q["not_closed"] == [0] * built["not_closed"], recv_q
        assert len(recv_q["not_accepted"]) == built["not_accepted"], recv_q
        assert all(q >= 1 for q in recv_q["not_accepted"]), recv_q
        want = {("(none)", CAUSE_PORT, "not_accepted"): built["not_accepted"],
                ("cw-causes", CAUSE_PORT + 1, "not_reading"): built["not_reading"],
                ("cw-causes", CAUSE_PORT + 1, "not_closed"): built["not_closed"]}
        got = {(l["process"], int(l["port"]), l["cause"]): v for n, l, v in samples
               if n == "tcpstate_close_wait_sockets"}
        from_ss = {}
        for port, _, cause in rows:
            key = ("(none)" if cause == "not_accepted" else "cw-causes", port, cause)
            from_ss[key] = from_ss.get(key, 0) + 1
        print(f"  exporter CLOSE_WAIT by cause: {got}")
        assert got == from_ss == want, (got, from_ss, want)
        for n, l, v in samples:
            if n == "tcpstate_close_wait_sockets":
                assert l["direction"] == "inbound", l
        check_queue_bytes(ns, samples, built)
        holder.stdin.close()


def main():
    require_root()
    exporter, sockpop = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp, Netns("tcpstate-live") as ns:
        expected = start_population(ns, sockpop, os.path.join(tmp, "ready"))
        print(f"population ready: {expected}")
        samples = check_counts_against_ss(ns, exporter, expected)
        check_attribution(samples, expected)
        check_fds(ns, exporter)
        check_churn(ns, exporter)
        check_age_grows(ns, exporter, tmp)
    check_close_wait_causes(exporter)
    print("live end-to-end test passed")


if __name__ == "__main__":
    main()
