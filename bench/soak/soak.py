#!/usr/bin/env python3
"""Soak test of tcpstate_exporter: a long run of fast polls under socket and
process churn, with the exporter's RSS, fd count, thread count and series
count sampled all along (docs/reliability.md, section "Soak run").

Needs root. Everything happens in a network namespace of its own (loopback
only, deleted at the end), which the harness enters itself (setns), so every
process it starts lives there:

  * the exporter: processes enabled, poll.interval 1s (120x the production
    rate of 15 s: 30 minutes = 1,800 polls), namespaces.mode host, caps
    processes.max_distinct / ports.max_distinct as configured here;
  * a steady population: tools/sockpop (IPv4 + IPv6; LISTEN, ESTABLISHED,
    CLOSE_WAIT, FIN_WAIT2 and an initial TIME_WAIT batch);
  * socket churn (churn.py conn): connections opened and closed all the time,
    so TIME_WAIT sockets and new inodes and cookies never stop appearing;
    some server ends stay in CLOSE_WAIT for 5-40 s;
  * process churn (soak_procchurn, built from procchurn.cpp next to
    sockpop): short-lived processes with a socket each, named
    soakp-000..soakp-399, about 100 alive at a time, so process labels come
    and go beyond processes.max_distinct;
  * port churn (churn.py listen): listening ports on random numbers that
    come and go, beyond ports.max_distinct.

Before the churn starts, it scrapes 2 x web.max_connections times so that
every civetweb worker thread (the server before issue 11) has served once (the
first request of each touched ~16 KB of its stack and its malloc arena: a
one-off ramp of about 1.3 MB that would otherwise stretch over 64 samples).
The Beast server has no per-connection threads; the warm-up is kept so that
runs stay comparable.

Every --sample-every seconds it records in a CSV: VmRSS, VmHWM, resident
memory by kind (main heap, other anonymous, file-backed, from smaps), open
fds (and the lowest of a few counts 0.1 s apart: the fds held between polls,
with their targets when more than stdin/stdout/stderr and the listener),
threads, CPU time of the exporter, the series (sample lines) of one /metrics
scrape and its latency, and the exporter's self metrics. At the end it prints
(and writes next to the CSV) a summary: medians of the first and the last
window after the warm-up, least-squares slopes per hour, and the verdict.

Exit status 0 when the exporter stayed up, no poll or scrape failed, the
label caps held in every sample, the median RSS grew by no more than
--rss-tolerance-pct + --rss-tolerance-mb between the windows, the lowest
count of fds held between polls did not grow, and the exporter exited 0 on
SIGTERM; 1 otherwise; 2 on bad usage or when the harness itself could not
run (not root, a churn generator died, ...).

Every loop is bounded by --duration (plus fixed start-up and shutdown
timeouts). SIGINT/SIGTERM/SIGHUP end the run early, clean up, and still print
the summary of what was measured.
"""

import argparse
import csv
import ctypes
import datetime
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CHURN = os.path.join(HERE, "churn.py")
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
from netns_util import parse_exposition, value as metric  # noqa: E402

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)

# stdin, stdout, stderr and the listening socket: fewer is impossible, more
# (between polls) worth a look.
FDS_FLOOR = 4
SPECIAL_PROCESSES = {"(none)", "(unknown)", "(other)"}
SPECIAL_PORTS = {"other", "ephemeral"}

_stop_signal = None


class HarnessError(Exception):
    """The harness could not do its job (not an exporter failure)."""


def _on_signal(signum, frame):
    global _stop_signal
    _stop_signal = signum


def parse_duration(text):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (e.g. 30m, 180s, 1h, 90)")
    return float(m.group(1)) * {"s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def fmt_duration(seconds):
    seconds = int(round(seconds))
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _pdeathsig():
    # Runs in the child between fork and exec: it dies with the harness even
    # if the harness is killed with SIGKILL (cleanup then never ran).
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# ---------------------------------------------------------------------------
# Network namespace

class Netns:
    def __init__(self, name):
        self.name = name
        self.created = False

    def create_and_enter(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=30)
        self.created = True
        subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"],
                       check=True, timeout=30)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise HarnessError(f"setns({self.name}): {os.strerror(err)}")
        finally:
            os.close(fd)

    def remove(self):
        if not self.created:
            return
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                              text=True, timeout=30).stdout.split()
        for pid in pids:
            if int(pid) == os.getpid():
                continue
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", self.name], check=False, timeout=30)
        self.created = False


# ---------------------------------------------------------------------------
# Child processes

class Children:
    def __init__(self):
        self.procs = {}  # name -> Popen

    def spawn(self, name, argv, **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, start_new_session=True, preexec_fn=_pdeathsig, **kwargs)
        self.procs[name] = proc
        return proc

    def stop(self, name, timeout=10, sig=signal.SIGTERM):
        """Stops one child; returns (exit status, seconds it took) or None."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        if proc.poll() is not None:
            return proc.returncode, 0.0
        start = time.monotonic()
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        return proc.returncode, time.monotonic() - start

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)


# ---------------------------------------------------------------------------
# Measurements

def read_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(rest.split()[0])
    return out


def read_smaps(pid):
    """Resident kB by kind of mapping: the main malloc heap ([heap]), other
    anonymous memory (thread malloc arenas, thread stacks, mmap'd blocks) and
    file-backed pages (the binary, libraries): tells a leak in the heap from
    arenas of new threads or pages of shared libraries touched late."""
    heap = anon = files = 0
    kind = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if not first.endswith(":") or "-" in first:  # a mapping header
                parts = line.split()
                path = parts[5] if len(parts) > 5 else ""
                kind = "heap" if path == "[heap]" else ("file" if path.startswith("/")
                                                        else "anon")
            elif first == "Rss:":
                kb = int(line.split()[1])
                if kind == "heap":
                    heap += kb
                elif kind == "file":
                    files += kb
                else:
                    anon += kb
    return heap, anon, files


def count_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def list_fds(pid):
    out = []
    try:
        names = sorted(os.listdir(f"/proc/{pid}/fd"), key=int)
    except OSError:
        return out
    for name in names:
        try:
            out.append(f"{name} -> {os.readlink(f'/proc/{pid}/fd/{name}')}")
        except OSError:
            pass
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape(port, path="/metrics", timeout=10):
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        status = resp.status
    finally:
        conn.close()
    return status, body.decode("utf-8", "replace"), time.monotonic() - start


def read_helper_status(path):
    try:
        with open(path) as f:
            return dict(kv.split("=", 1) for kv in f.read().split())
    except (OSError, ValueError):
        return {}


# CSV columns, in order. Values that a scrape did not provide stay empty.
COLUMNS = [
    "t_s", "rss_kb", "hwm_kb", "rss_heap_kb", "rss_anon_kb", "rss_file_kb",
    "fds", "fds_idle", "threads", "cpu_s", "cpu_pct",
    "scrape_ok", "scrape_ms", "scrape_bytes", "series",
    "polls_ok", "polls_failed", "last_poll_success", "poll_duration_s",
    "source_sock_diag_s", "source_process_s", "poll_sockets",
    "sockets_established", "sockets_close_wait", "sockets_time_wait", "sockets_listen",
    "process_labels", "port_labels", "folded_process", "folded_port",
    "close_wait_series", "fds_read_total", "scans_full", "scans_partial",
    "attr_vanished", "attr_permission", "attr_io", "dump_retries", "netlink_errors",
    "owner_cache_entries",
    "close_wait_tracked",
    "churn_conns", "churn_conn_errors", "churn_forked", "churn_fork_failed",
    "churn_listeners_opened", "churn_distinct_ports", "fds_extra",
]


def sample(t, pid, port, helper_status, prev_cpu):
    row = {"t_s": round(t, 1)}
    st = read_status(pid)
    row["rss_kb"] = st.get("VmRSS")
    row["hwm_kb"] = st.get("VmHWM")
    row["threads"] = st.get("Threads")
    row["fds"] = count_fds(pid)
    # A poll holds a few fds while it runs (netlink socket, /proc
    # directories): the lowest of a few counts 0.1 s apart is what the
    # exporter keeps open between polls, the count a leak raises.
    idle = row["fds"]
    for _ in range(4):
        if idle <= FDS_FLOOR:
            break
        time.sleep(0.1)
        idle = min(idle, count_fds(pid))
    row["fds_idle"] = idle
    if idle > FDS_FLOOR:
        row["fds_extra"] = " ".join(f for f in list_fds(pid)
                                    if int(f.split(" ", 1)[0]) >= FDS_FLOOR)
    row["rss_heap_kb"], row["rss_anon_kb"], row["rss_file_kb"] = read_smaps(pid)
    cpu = cpu_seconds(pid)
    row["cpu_s"] = round(cpu, 2)
    if prev_cpu is not None and t > prev_cpu[0]:
        row["cpu_pct"] = round(100 * (cpu - prev_cpu[1]) / (t - prev_cpu[0]), 1)
    try:
        status, body, seconds = scrape(port)
        row["scrape_ok"] = 1 if status == 200 and body.endswith("\n") else 0
        row["scrape_ms"] = round(seconds * 1000, 2)
        row["scrape_bytes"] = len(body.encode())
        s = parse_exposition(body) if status == 200 else []
    # AssertionError: parse_exposition's unparseable line.
    except (OSError, http.client.HTTPException, ValueError, AssertionError) as e:
        row["scrape_ok"] = 0
        row["scrape_error"] = str(e)
        s = []
    if s:
        row["series"] = len(s)
        row["polls_ok"] = metric(s, "tcpstate_polls_total", result="success")
        row["polls_failed"] = metric(s, "tcpstate_polls_total", result="failure")
        row["last_poll_success"] = metric(s, "tcpstate_last_poll_success")
        row["poll_duration_s"] = metric(s, "tcpstate_poll_duration_seconds")
        row["source_sock_diag_s"] = metric(s, "tcpstate_source_duration_seconds",
                                           source="sock_diag")
        row["source_process_s"] = metric(s, "tcpstate_source_duration_seconds", source="process")
        row["poll_sockets"] = metric(s, "tcpstate_poll_sockets")
        for state in ("established", "close_wait", "time_wait", "listen"):
            row[f"sockets_{state}"] = metric(s, "tcpstate_sockets", state=state)
        process_values = {l.get("process") for n, l, _ in s if n == "tcpstate_process_sockets"}
        port_values = {l.get("port") for n, l, _ in s if n == "tcpstate_port_sockets"}
        row["process_labels"] = len(process_values)
        row["port_labels"] = len(port_values)
        row["folded_process"] = metric(s, "tcpstate_folded_series", cap="process")
        row["folded_port"] = metric(s, "tcpstate_folded_series", cap="port")
        row["close_wait_series"] = sum(1 for n, _, _ in s if n == "tcpstate_close_wait_sockets")
        row["fds_read_total"] = metric(s, "tcpstate_process_attribution_fds_read_total")
        row["scans_full"] = metric(s, "tcpstate_process_attribution_scans_total", kind="full")
        row["scans_partial"] = metric(s, "tcpstate_process_attribution_scans_total",
                                      kind="partial")
        for reason in ("vanished", "permission", "io"):
            row[f"attr_{reason}"] = metric(s, "tcpstate_process_attribution_errors_total",
                                           reason=reason)
        row["dump_retries"] = metric(s, "tcpstate_netlink_dump_retries_total")
        row["netlink_errors"] = metric(s, "tcpstate_netlink_errors_total") or 0
        row["owner_cache_entries"] = metric(s, "tcpstate_process_attribution_cached_sockets")
        row["close_wait_tracked"] = metric(s, "tcpstate_close_wait_tracked_sockets")
        row["_process_values"] = process_values
        row["_port_values"] = port_values
    conn = helper_status.get("conn", {})
    procs = helper_status.get("procs", {})
    listen = helper_status.get("listen", {})
    row["churn_conns"] = conn.get("conns")
    row["churn_conn_errors"] = conn.get("errors")
    row["churn_forked"] = procs.get("forked")
    row["churn_fork_failed"] = procs.get("failed")
    row["churn_listeners_opened"] = listen.get("opened")
    row["churn_distinct_ports"] = listen.get("distinct")
    return row, (t, cpu)


# ---------------------------------------------------------------------------
# Summary

def num(rows, key):
    return [(r["t_s"], float(r[key])) for r in rows
            if r.get(key) is not None and r.get(key) != ""]


def median(values):
    return statistics.median(values) if values else None


def slope_per_hour(points):
    if len(points) < 3:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    if den == 0:
        return None
    return sum((t - mt) * (v - mv) for t, v in points) / den * 3600


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.{digits}f}"
    return f"{int(v):,}"


def summarize(rows, a, elapsed, events):
    post = [r for r in rows if r["t_s"] >= a.warmup]
    first = [r for r in post if r["t_s"] < a.warmup + a.window]
    last = [r for r in post if r["t_s"] >= elapsed - a.window]
    # A short or interrupted run: the windows must not overlap.
    if first and last and last[0]["t_s"] < first[-1]["t_s"]:
        mid = len(post) // 2
        first, last = post[:mid], post[mid:]

    def med(rs, key, scale=1.0):
        vals = [v for _, v in num(rs, key)]
        return None if not vals else median(vals) * scale

    res = {"first": len(first), "last": len(last)}
    lines = []
    metrics_table = [
        ("RSS (VmRSS), MB", "rss_kb", 1 / 1024, 1),
        ("peak RSS (VmHWM), MB", "hwm_kb", 1 / 1024, 1),
        ("of RSS: main heap, MB", "rss_heap_kb", 1 / 1024, 1),
        ("of RSS: other anonymous (thread arenas, stacks), MB", "rss_anon_kb", 1 / 1024, 1),
        ("of RSS: file-backed, MB", "rss_file_kb", 1 / 1024, 1),
        ("open fds (median)", "fds", 1, 0),
        ("open fds between polls (median)", "fds_idle", 1, 0),
        ("threads", "threads", 1, 0),
        ("series (sample lines)", "series", 1, 0),
        ("process label values", "process_labels", 1, 0),
        ("port label values", "port_labels", 1, 0),
        ("sockets seen", "poll_sockets", 1, 0),
        ("of which TIME_WAIT", "sockets_time_wait", 1, 0),
        ("of which CLOSE_WAIT", "sockets_close_wait", 1, 0),
        ("poll duration, ms", "poll_duration_s", 1000, 1),
        ("scrape latency, ms", "scrape_ms", 1, 1),
        ("CPU, % of one core", "cpu_pct", 1, 1),
    ]
    if any(r.get("owner_cache_entries") not in (None, "") for r in rows):
        metrics_table.append(("owner cache entries", "owner_cache_entries", 1, 0))
    if any(r.get("close_wait_tracked") not in (None, "") for r in rows):
        metrics_table.append(("CLOSE_WAIT sockets tracked", "close_wait_tracked", 1, 0))
    table = ["| measure | first window | last window | max over the run |",
             "|---|---|---|---|"]
    for label, key, scale, digits in metrics_table:
        f, l = med(first, key, scale), med(last, key, scale)
        allv = [v * scale for _, v in num(post, key)]
        res[key] = (f, l)
        table.append(f"| {label} | {fmt(f, digits)} | {fmt(l, digits)} | "
                     f"{fmt(max(allv) if allv else None, digits)} |")

    rss_slope = slope_per_hour([(t, v / 1024) for t, v in num(post, "rss_kb")])
    fd_slope = slope_per_hour(num(post, "fds_idle"))
    series_slope = slope_per_hour(num(post, "series"))

    lastrow = next((r for r in reversed(rows) if r.get("polls_ok") not in (None, "")), {})
    polls_ok = lastrow.get("polls_ok")
    polls_failed = lastrow.get("polls_failed") or 0
    scrapes_failed = sum(1 for r in rows if r.get("scrape_ok") == 0)
    cap_violations = events["cap_violations"]

    failures = list(events["failures"])
    if polls_failed:
        failures.append(f"{int(polls_failed)} polls failed")
    if scrapes_failed:
        failures.append(f"{scrapes_failed} scrapes failed")
    if cap_violations:
        failures.append(f"label caps exceeded in {cap_violations} samples")
    rss_f, rss_l = res["rss_kb"]
    # Lowest of each window (a sample may still land in a poll). fds have no
    # warm-up of their own: the first window for them starts at the first
    # sample (the exporter serves, so it has set up), so that a leak during the
    # warm-up counts too.
    early = [r for r in rows if r["t_s"] < a.warmup + a.window]
    fd_f = min((v for _, v in num(early, "fds_idle")), default=None)
    fd_l = min((v for _, v in num(last, "fds_idle")), default=None)
    if len(post) < 4 or not first or not last:
        failures.append("too few samples after the warm-up to compare windows")
    else:
        limit = rss_f * (1 + a.rss_tolerance_pct / 100) + a.rss_tolerance_mb * 1024
        if rss_l > limit:
            failures.append(f"RSS grew: {rss_f / 1024:.1f} MB -> {rss_l / 1024:.1f} MB "
                            f"(limit {limit / 1024:.1f} MB)")
        if fd_f is not None and fd_l is not None and fd_l > fd_f:
            failures.append(f"fd count between polls grew: lowest {fd_f:.0f} -> {fd_l:.0f}")

    window_desc = (f"windows: first = {fmt_duration(a.warmup)}..{fmt_duration(a.warmup + a.window)}"
                   f" after start, last = the final {fmt_duration(a.window)}"
                   f" ({res['first']} / {res['last']} samples)")
    lines.append(f"soak run: {fmt_duration(elapsed)} of {fmt_duration(a.duration)} planned, "
                 f"poll.interval {fmt_duration(a.poll_interval)}, "
                 f"sample every {fmt_duration(a.sample_every)}; {window_desc}")
    lines.append("")
    lines.extend(table)
    lines.append("")
    lines.append(f"fds held between polls, lowest: {fmt(fd_f, 0)} from the start to the end "
                 f"of the first window, {fmt(fd_l, 0)} in the last window")
    lines.append(f"slopes (least squares over the samples after the warm-up, per hour): "
                 f"RSS {fmt(rss_slope, 2)} MB/h, fds {fmt(fd_slope, 2)}/h, "
                 f"series {fmt(series_slope, 1)}/h")
    lines.append(
        f"polls: {fmt(polls_ok, 0)} ok, {fmt(polls_failed, 0)} failed "
        f"(dump retries {fmt(lastrow.get('dump_retries'), 0)}, "
        f"netlink errors {fmt(lastrow.get('netlink_errors'), 0)}); "
        f"scrapes: {len(rows) - scrapes_failed} ok, {scrapes_failed} failed; "
        f"attribution: {fmt(lastrow.get('scans_full'), 0)} full / "
        f"{fmt(lastrow.get('scans_partial'), 0)} partial scans, "
        f"{fmt(lastrow.get('fds_read_total'), 0)} fd links read, "
        f"{fmt(lastrow.get('attr_vanished'), 0)} vanished")
    churn = rows[-1] if rows else {}
    lines.append(
        f"churn: {fmt(_int(churn.get('churn_conns')), 0)} connections "
        f"({fmt(_int(churn.get('churn_conn_errors')), 0)} errors), "
        f"{fmt(_int(churn.get('churn_forked')), 0)} processes forked "
        f"({fmt(_int(churn.get('churn_fork_failed')), 0)} failed), "
        f"{fmt(_int(churn.get('churn_listeners_opened')), 0)} listening ports opened "
        f"({fmt(_int(churn.get('churn_distinct_ports')), 0)} distinct); "
        f"distinct process labels seen {events['process_values_seen']}, "
        f"port labels seen {events['port_values_seen']}")
    if events.get("fds_at_end"):
        lines.append("exporter fds at the end: " + ", ".join(events["fds_at_end"]))
    if events.get("exit") is not None:
        code, secs = events["exit"]
        lines.append(f"exporter exit on SIGTERM: status {code} after {secs:.2f} s")
    lines.append("")
    lines.append("verdict: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
    return "\n".join(lines), failures


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------
# Main

def apply_defaults(a):
    if a.sample_every is None:
        a.sample_every = 10.0 if a.duration >= 600 else 5.0
    if a.warmup is None:
        a.warmup = max(60.0, min(120.0, a.duration / 6))
    if a.window is None:
        a.window = min(300.0, a.duration / 4)


def resummarize(a):
    rows = []
    with open(a.resummarize, newline="") as f:
        for raw in csv.DictReader(f):
            row = {}
            for k, v in raw.items():
                if v in (None, ""):
                    continue
                try:
                    row[k] = float(v)
                except ValueError:
                    row[k] = v
            if "scrape_ok" in row:
                row["scrape_ok"] = int(row["scrape_ok"])
            rows.append(row)
    if not rows:
        print(f"soak: no samples in {a.resummarize}", file=sys.stderr)
        return 2
    apply_defaults(a)
    events = {"failures": [], "cap_violations": 0, "process_values_seen": "n/a",
              "port_values_seen": "n/a", "exit": None, "fds_at_end": None}
    text, failures = summarize(rows, a, rows[-1]["t_s"], events)
    print(text)
    print("(re-summarized from the CSV: the label caps, the exit on SIGTERM and the fds at the end"
          " were checked by the run itself, see its .summary.md)")
    return 1 if failures else 0


def wait_ready_file(path, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _stop_signal is not None:
            raise HarnessError(f"interrupted while waiting for {what}")
        if os.path.exists(path):
            with open(path) as f:
                return f.read().strip()
        if proc.poll() is not None:
            raise HarnessError(f"{what} exited with status {proc.returncode} before it was ready")
        time.sleep(0.2)
    raise HarnessError(f"timed out after {timeout} s waiting for {what}")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=parse_duration, default=parse_duration("30m"),
                   help="length of the run after the exporter started (default 30m)")
    p.add_argument("--exporter", default=os.path.join(REPO, "build", "tcpstate_exporter"))
    p.add_argument("--sockpop", default=None,
                   help="default: tools/sockpop/sockpop of the exporter's build directory")
    p.add_argument("--procchurn", default=None,
                   help="default: bench/soak/soak_procchurn of the exporter's build directory")
    p.add_argument("--poll-interval", type=parse_duration, default=1.0)
    p.add_argument("--sample-every", type=parse_duration, default=None,
                   help="default 10s (5s for runs under 10 minutes)")
    p.add_argument("--warmup", type=parse_duration, default=None,
                   help="samples before this are not compared (default duration/6, within 1m..2m;"
                   " TIME_WAIT needs 60 s to reach its steady count)")
    p.add_argument("--window", type=parse_duration, default=None,
                   help="length of the first and last windows (default min(5m, duration/4))")
    p.add_argument("--csv", default=None,
                   help="default bench/soak/results/soak-<UTC time>.csv (+ .summary.md)")
    p.add_argument("--listen-port", type=int, default=9930)
    p.add_argument("--web-threads", type=int, default=64,
                   help="web.max_connections set for the run, and half the warm-up "
                   "scrapes (default 64; the exporter's own default is 16384)")
    p.add_argument("--max-processes", type=int, default=50, help="processes.max_distinct")
    p.add_argument("--max-ports", type=int, default=100, help="ports.max_distinct")
    p.add_argument("--population", default="--family both --listen 20 --established 400 "
                   "--close-wait 300 --time-wait 300 --procs 4",
                   help="sockpop arguments of the steady population")
    p.add_argument("--population-hold", type=parse_duration, default=3600,
                   help="replace the population (new sockpop on other ports) after this"
                   " long minus a minute (default and sockpop's cap: 1h)")
    p.add_argument("--conn-rate", type=float, default=100, help="socket churn, connections/s")
    p.add_argument("--proc-rate", type=float, default=100, help="process churn, forks/s")
    p.add_argument("--proc-names", type=int, default=400, help="distinct churn process names")
    p.add_argument("--proc-hold-ms", type=int, default=2000,
                   help="each churn process holds its socket 0..this ms (default 2000:"
                   " about RATE owners alive, beyond processes.max_distinct)")
    p.add_argument("--listen-every", type=float, default=5)
    p.add_argument("--listen-batch", type=int, default=10)
    p.add_argument("--listen-life", type=float, default=40)
    p.add_argument("--rss-tolerance-pct", type=float, default=10)
    p.add_argument("--rss-tolerance-mb", type=float, default=2)
    p.add_argument("--resummarize", metavar="CSV",
                   help="only print the summary of an earlier run's CSV (with --duration as"
                   " that run's, and optionally other --warmup/--window); no root needed")
    a = p.parse_args()

    if a.resummarize:
        return resummarize(a)
    if os.geteuid() != 0:
        print("soak: needs root (network namespace, /proc of other processes)", file=sys.stderr)
        return 2
    a.exporter = os.path.abspath(a.exporter)
    build = os.path.dirname(a.exporter)
    if a.sockpop is None:
        a.sockpop = os.path.join(build, "tools", "sockpop", "sockpop")
    if a.procchurn is None:
        a.procchurn = os.path.join(build, "bench", "soak", "soak_procchurn")
    for path, what in ((a.exporter, "exporter"), (a.sockpop, "sockpop"),
                       (a.procchurn, "soak_procchurn")):
        if not os.access(path, os.X_OK):
            print(f"soak: {what} not found or not executable: {path} (build it: cmake --build "
                  f"build, with TCPSTATE_BUILD_BENCH=ON for sockpop and soak_procchurn)",
                  file=sys.stderr)
            return 2
    if not 90 <= a.population_hold <= 3600:
        print("soak: --population-hold must be within 90s..1h", file=sys.stderr)
        return 2
    if a.duration < 120:
        print("soak: --duration must be at least 2m (1 min of warm-up, then two windows)",
              file=sys.stderr)
        return 2
    apply_defaults(a)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    if a.csv is None:
        a.csv = os.path.join(HERE, "results", f"soak-{stamp}.csv")
    os.makedirs(os.path.dirname(os.path.abspath(a.csv)), exist_ok=True)
    summary_path = os.path.splitext(a.csv)[0] + ".summary.md"
    log_path = os.path.splitext(a.csv)[0] + ".exporter.log"

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)

    netns = Netns(f"tcpstate-soak-{os.getpid()}")
    children = Children()
    tmp = tempfile.mkdtemp(prefix="tcpstate-soak-")
    rows = []
    events = {"failures": [], "cap_violations": 0, "process_values_seen": 0,
              "port_values_seen": 0, "exit": None, "fds_at_end": None}
    elapsed = 0.0
    harness_error = None
    log = open(log_path, "w")
    try:
        netns.create_and_enter()
        config = os.path.join(tmp, "soak.yml")
        with open(config, "w") as f:
            f.write(f"""web:
  listen_address: "127.0.0.1:{a.listen_port}"
  max_connections: {a.web_threads}
poll:
  interval: {int(a.poll_interval * 1000)}ms
processes:
  enabled: true
  states: [all]
  max_distinct: {a.max_processes}
ports:
  max_distinct: {a.max_ports}
namespaces:
  mode: host
log:
  level: info
""")
        check = subprocess.run([a.exporter, "--config", config, "--config.check"],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise HarnessError(f"config rejected: {check.stderr.strip()}")

        # Bounded lifetimes: nothing started here outlives the run by much,
        # even if the cleanup below never runs.
        helper_seconds = a.duration + 60
        # sockpop holds at most 3600 s: a longer run replaces it by a new one
        # (on other ports) a minute before it would let go.
        def start_population(generation, remaining):
            ready = os.path.join(tmp, f"sockpop-{generation}.ready")
            hold = int(min(a.population_hold, remaining + 120))
            port = 20000 + 1000 * (generation % 2)
            pop = children.spawn("sockpop", [a.sockpop, *a.population.split(), "--port",
                                             str(port), "--ready-file", ready,
                                             "--hold-seconds", str(hold)],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
            line = wait_ready_file(ready, pop, 90, "sockpop")
            return line, time.monotonic() + hold - 60

        generation = 0
        line, replace_population_at = start_population(generation, a.duration)
        print("soak: population:", line, flush=True)

        status_files = {k: os.path.join(tmp, f"{k}.status") for k in ("conn", "procs", "listen")}
        t0 = time.monotonic()
        exporter = children.spawn("exporter", [a.exporter, "--config", config],
                                  stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body, _ = scrape(a.listen_port, "/metrics", timeout=2)
                if status == 200 and "tcpstate_polls_total" in body:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if exporter.poll() is not None:
                raise HarnessError(f"exporter exited with status {exporter.returncode} at start "
                                   f"(see {log_path})")
            if time.monotonic() > deadline or _stop_signal is not None:
                raise HarnessError("exporter not serving /metrics within 20 s")
            time.sleep(0.2)
        # Every civetweb worker thread touches ~16 KB of its stack and its
        # malloc arena the first time it serves a request, and the workers
        # take turns: at one scrape per sample that ramp (about +1.3 MB with
        # 64 threads, bounded by web.max_connections) would last 64 samples
        # and blur the comparison. Serve each of them once now.
        for _ in range(2 * a.web_threads):
            try:
                scrape(a.listen_port, "/metrics", timeout=10)
            except (OSError, http.client.HTTPException):
                pass
        py = sys.executable
        common = ["--seconds", str(helper_seconds)]
        children.spawn("conn", [py, CHURN, "conn", *common, "--port", "31000",
                                "--rate", str(a.conn_rate), "--status", status_files["conn"]],
                       stdout=log, stderr=log)
        children.spawn("procs", [a.procchurn, "31001", str(a.proc_rate), str(helper_seconds),
                                 str(a.proc_names), str(a.proc_hold_ms), "300",
                                 status_files["procs"]],
                       stdout=log, stderr=log)
        children.spawn("listen", [py, CHURN, "listen", *common,
                                  "--every", str(a.listen_every), "--batch", str(a.listen_batch),
                                  "--life", str(a.listen_life),
                                  "--status", status_files["listen"]],
                       stdout=log, stderr=log)
        print(f"soak: exporter pid {exporter.pid} in netns {netns.name}, "
              f"{fmt_duration(a.duration)}, CSV {a.csv}", flush=True)

        process_seen, port_seen = set(), set()
        prev_cpu = None
        next_sample = t0
        next_progress = t0 + 60
        with open(a.csv, "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            while True:
                now = time.monotonic()
                elapsed = now - t0
                if _stop_signal is not None:
                    events["failures"].append(
                        f"interrupted by signal {signal.Signals(_stop_signal).name} "
                        f"after {fmt_duration(elapsed)}")
                    break
                if exporter.poll() is not None:
                    events["failures"].append(
                        f"exporter died (status {exporter.returncode}) after "
                        f"{fmt_duration(elapsed)}")
                    break
                for name in ("sockpop", "conn", "procs", "listen"):
                    proc = children.procs.get(name)
                    if proc is not None and proc.poll() is not None:
                        raise HarnessError(f"{name} exited with status {proc.returncode} "
                                           f"after {fmt_duration(elapsed)} (see {log_path})")
                last = elapsed >= a.duration
                if now >= replace_population_at and a.duration - elapsed > 60:
                    old = children.procs.pop("sockpop")
                    generation += 1
                    _, replace_population_at = start_population(generation,
                                                                a.duration - elapsed)
                    children.procs[f"sockpop-{generation - 1}"] = old
                    children.stop(f"sockpop-{generation - 1}", timeout=30)
                    continue
                if now >= next_sample or last:
                    next_sample += a.sample_every
                    helper_status = {k: read_helper_status(v) for k, v in status_files.items()}
                    try:
                        row, prev_cpu = sample(elapsed, exporter.pid, a.listen_port,
                                               helper_status, prev_cpu)
                    except (FileNotFoundError, ProcessLookupError):
                        continue  # the exporter just died: seen at the top of the loop
                    pv, qv = row.pop("_process_values", set()), row.pop("_port_values", set())
                    process_seen |= pv
                    port_seen |= qv
                    if (len(pv - SPECIAL_PROCESSES) > a.max_processes
                            or len(qv - SPECIAL_PORTS) > a.max_ports):
                        events["cap_violations"] += 1
                    rows.append(row)
                    writer.writerow({k: int(v) if isinstance(v, float) and v.is_integer() else v
                                     for k, v in row.items()})
                    out.flush()
                    if now >= next_progress or last:
                        next_progress += 60
                        print(f"soak: {fmt_duration(elapsed):>6}  rss {row['rss_kb'] / 1024:.1f} MB"
                              f"  fds {row['fds']} ({row['fds_idle']} between polls)"
                              f"  series {row.get('series')}"
                              f"  polls {fmt(row.get('polls_ok'), 0)} ok"
                              f" / {fmt(row.get('polls_failed'), 0)} failed"
                              f"  poll {fmt((row.get('poll_duration_s') or 0) * 1000, 1)} ms"
                              f"  scrape {row.get('scrape_ms')} ms", flush=True)
                if last:
                    break
                time.sleep(max(0.0, min(1.0, next_sample - time.monotonic())))
        events["process_values_seen"] = len(process_seen)
        events["port_values_seen"] = len(port_seen)
        if exporter.poll() is None:
            events["fds_at_end"] = list_fds(exporter.pid)
            code, secs = children.stop("exporter", timeout=10)
            events["exit"] = (code, secs)
            if code != 0:
                events["failures"].append(f"exporter exited with status {code} on SIGTERM")
    except HarnessError as e:
        harness_error = str(e)
    finally:
        children.stop_all()
        netns.remove()
        shutil.rmtree(tmp, ignore_errors=True)
        log.close()

    if harness_error:
        print(f"soak: harness error: {harness_error}", file=sys.stderr)
    if not rows:
        print("soak: no samples taken", file=sys.stderr)
        return 2
    text, failures = summarize(rows, a, elapsed, events)
    with open(summary_path, "w") as f:
        f.write(text + "\n")
    print()
    print(text)
    print(f"\nCSV: {a.csv}\nsummary: {summary_path}\nexporter log: {log_path}")
    if harness_error:
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
