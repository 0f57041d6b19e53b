#!/usr/bin/env python3
"""Lifecycle: a port already in use fails at start with a clear message and a
non-zero exit; SIGHUP with a bad configuration keeps the running one and says
so, and why, at once (not at the next poll: the test polls every 30 s) in
tcpstate_config_last_reload_successful, tcpstate_config_reloads_total and
tcpstate_config_last_reload_failure_info; a good one applies it; a storm of
200 SIGHUPs among two good files and a bad one, under continuous scrapes,
fails no scrape and leaves the exporter reloadable; SIGTERM and SIGINT end the
exporter with status 0 within 5 s.

Usage: lifecycle_test.py EXPORTER
"""

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_util import Netns, parse_exposition, require_root, value, wait_for  # noqa: E402

ADDRESS = "127.0.0.1:19940"
HOST, PORT = ADDRESS.split(":")
PORT = int(PORT)
CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)

IMMEDIATE = 2.0  # seconds a reload outcome may take to show; the poll interval is 30 s
STORM_SIGNALS = 200
STORM_GAP = 0.005
SCRAPE_GAP = 0.010


def in_netns(ns, fn):
    """Runs fn in a thread that entered the namespace (setns changes only
    the calling thread), so a scrape costs no process start."""
    result = {}

    def run():
        fd = os.open(f"/run/netns/{ns.name}", os.O_RDONLY)
        try:
            if LIBC.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
        finally:
            os.close(fd)
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            result["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def http_get(path="/metrics"):
    """One raw HTTP/1.1 GET; (status, headers, body bytes). Must run inside the netns."""
    with socket.create_connection((HOST, PORT), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {ADDRESS}\r\nConnection: close\r\n\r\n"
                  .encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no end of headers in {data[:200]!r}"
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip()
               for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def checked_scrape():
    """A scrape that must be complete: 200, Content-Length equal to the body,
    ending in a newline, parseable, with the exporter's own series."""
    status, headers, body = http_get()
    assert status == 200, f"status {status}"
    assert int(headers.get("content-length", -1)) == len(body), \
        f"Content-Length {headers.get('content-length')} but {len(body)} bytes"
    assert body.endswith(b"\n"), "body does not end with a newline"
    samples = parse_exposition(body.decode())
    assert value(samples, "tcpstate_config_last_reload_successful") is not None, "incomplete"
    return samples


def metrics(ns):
    try:
        return in_netns(ns, checked_scrape)
    except OSError:
        return None


def ready(ns):
    try:
        return in_netns(ns, lambda: http_get("/readyz"))[0] == 200
    except OSError:
        return False


def start(ns, exporter, config):
    proc = ns.spawn([exporter, "--config", config, "--web.listen-address", ADDRESS],
                    stderr=subprocess.PIPE, text=True)
    # Until the first poll /metrics answers 200 with an empty body: wait for /readyz.
    wait_for(lambda: ready(ns) and metrics(ns), 30, "exporter serving")
    return proc


def stop_within(proc, signo, seconds):
    started = time.monotonic()
    proc.send_signal(signo)
    code = proc.wait(timeout=seconds + 5)
    took = time.monotonic() - started
    assert code == 0, f"{signal.Signals(signo).name}: exit status {code}"
    assert took <= seconds, f"{signal.Signals(signo).name}: took {took:.1f}s"
    print(f"  {signal.Signals(signo).name}: exit 0 after {took:.2f}s")


def write(path, text):
    """Atomically, so a reload never reads half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def reloads(m, result):
    return value(m, "tcpstate_config_reloads_total", result=result)


def failure_info(m):
    found = [labels for name, labels, _ in m
             if name == "tcpstate_config_last_reload_failure_info"]
    assert len(found) <= 1, found
    return found[0] if found else None


def reload_shows(ns, proc, predicate, what):
    """Sends SIGHUP; the outcome must be visible within IMMEDIATE seconds."""
    started = time.monotonic()
    proc.send_signal(signal.SIGHUP)
    m = wait_for(lambda: (m := metrics(ns)) and predicate(m) and m, IMMEDIATE + 3, what,
                 interval=0.02)
    took = time.monotonic() - started
    assert took <= IMMEDIATE, f"{what}: visible after {took:.2f}s, not within {IMMEDIATE}s"
    assert proc.poll() is None, f"exporter died: {what}"
    return m, took


def check_bad_reloads(ns, exporter, config):
    """(a) Each rejected reload is visible at once with its reason."""
    slow = "poll:\n  interval: 30s\nlog:\n  level: info\n"
    write(config, slow)
    proc = start(ns, exporter, config)
    m = metrics(ns)
    assert value(m, "tcpstate_config_last_reload_successful") == 1
    assert reloads(m, "success") == 0 and reloads(m, "failure") == 0
    assert failure_info(m) is None
    started_at = value(m, "tcpstate_config_last_reload_success_timestamp_seconds")
    assert started_at > 0
    polls = value(m, "tcpstate_polls_total")

    # A second exporter on the same address must fail at start, clearly.
    second = ns.run([exporter, "--config", config, "--web.listen-address", ADDRESS],
                    timeout=30)
    assert second.returncode != 0, "second exporter on a used port did not fail"
    assert f"cannot listen on {ADDRESS}" in second.stderr, second.stderr
    print(f"  port in use: exit {second.returncode}: {second.stderr.strip().splitlines()[-1]}")

    cases = [
        ("invalid value", lambda: write(config, "poll:\n  interval: 0s\n"),
         {"file": "config", "reason": "invalid", "key": "poll.interval"}),
        ("unknown key", lambda: write(config, "poll:\n  intervall: 1s\n"),
         {"file": "config", "reason": "invalid", "key": "poll.intervall"}),
        ("syntax error", lambda: write(config, "poll: [\n  interval: 1s\n"),
         {"file": "config", "reason": "yaml_syntax"}),
        # chmod 000 does not stop root: a missing file does.
        ("unreadable file", lambda: os.remove(config),
         {"file": "config", "reason": "unreadable"}),
    ]
    for failures, (what, break_it, info) in enumerate(cases, 1):
        break_it()
        m, took = reload_shows(
            ns, proc,
            lambda m, n=failures, i=info: (
                value(m, "tcpstate_config_last_reload_successful") == 0 and
                reloads(m, "failure") == n and failure_info(m) == i),
            f"{what}: reload failure with {info}")
        assert value(m, "tcpstate_last_poll_success") == 1
        print(f"  bad SIGHUP ({what}): successful 0, failures {failures}, "
              f"failure_info {info} after {took:.2f}s")

    write(config, slow)
    time.sleep(0.01)  # a coarse clock must still see the timestamp move
    m, took = reload_shows(
        ns, proc,
        lambda m: (value(m, "tcpstate_config_last_reload_successful") == 1 and
                   reloads(m, "success") == 1 and failure_info(m) is None),
        "good reload")
    stamp = value(m, "tcpstate_config_last_reload_success_timestamp_seconds")
    assert stamp > started_at, f"success timestamp {stamp} not after {started_at}"
    print(f"  good SIGHUP: successful 1, failure_info gone, success timestamp "
          f"+{stamp - started_at:.2f}s after {took:.2f}s")
    # Every outcome above went out without a poll: the interval is 30 s.
    print(f"  polls meanwhile: {value(m, 'tcpstate_polls_total') - polls:.0f} "
          f"(poll.interval 30s)")
    stop_within(proc, signal.SIGTERM, 5)


def check_storm(ns, exporter, config):
    """(b) SIGHUP storm under continuous scrapes."""
    good = ["poll:\n  interval: 200ms\nprocesses:\n  enabled: true\n",
            "poll:\n  interval: 300ms\nprocesses:\n  enabled: false\n"]
    bad = "poll:\n  interval: 0s\n"
    write(config, good[0])
    proc = start(ns, exporter, config)

    stop = threading.Event()
    stats = {"scrapes": 0, "errors": [], "outcomes": set(), "max_gap": 0.0}

    def scraper():
        last = (0, 0)
        previous = time.monotonic()
        deadline = previous + 120  # bounded even if the storm hangs
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                m = checked_scrape()
                now = (reloads(m, "success"), reloads(m, "failure"))
                if now[0] < last[0] or now[1] < last[1]:
                    raise AssertionError(f"reload counters went back: {last} -> {now}")
                last = now
                stats["outcomes"].add(value(m, "tcpstate_config_last_reload_successful"))
            except Exception as e:  # noqa: BLE001 - collected, asserted below
                stats["errors"].append(repr(e))
            stats["scrapes"] += 1
            done = time.monotonic()
            stats["max_gap"] = max(stats["max_gap"], done - previous)
            previous = done
            time.sleep(SCRAPE_GAP)

    thread = threading.Thread(target=lambda: in_netns(ns, scraper))
    thread.start()
    started = time.monotonic()
    try:
        for i in range(STORM_SIGNALS):
            write(config, [good[0], good[1], bad][i % 3])
            proc.send_signal(signal.SIGHUP)
            time.sleep(STORM_GAP)
        time.sleep(0.2)  # scrapes after the last signal too
    finally:
        stop.set()
        thread.join(timeout=150)
    storm = time.monotonic() - started
    assert not thread.is_alive(), "scraper did not stop"
    assert proc.poll() is None, "exporter died in the SIGHUP storm"
    assert stats["scrapes"] > 0
    assert not stats["errors"], \
        f"{len(stats['errors'])} of {stats['scrapes']} scrapes failed: {stats['errors'][:5]}"
    m = metrics(ns)
    seen = (int(reloads(m, "success")), int(reloads(m, "failure")))
    assert 0 < seen[0] and 0 < seen[1] and sum(seen) <= STORM_SIGNALS, seen
    print(f"  SIGHUP storm: {STORM_SIGNALS} signals in {storm:.2f}s, {stats['scrapes']} "
          f"scrapes all complete (longest gap {stats['max_gap'] * 1000:.0f} ms), reloads seen "
          f"success {seen[0]} failure {seen[1]} (signals arriving together count once), "
          f"exporter alive")

    # A final good reload applies: process attribution flips.
    m = metrics(ns)
    had_processes = value(m, "tcpstate_process_sockets") is not None
    write(config, "poll:\n  interval: 200ms\nprocesses:\n  enabled: %s\n"
          % ("false" if had_processes else "true"))
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: (m := metrics(ns)) and
             value(m, "tcpstate_config_last_reload_successful") == 1 and
             (value(m, "tcpstate_process_sockets") is None) == had_processes,
             10, "final good reload applied")
    print(f"  final good SIGHUP: applied (tcpstate_process_sockets "
          f"{'gone' if had_processes else 'back'})")
    stop_within(proc, signal.SIGTERM, 5)


def main():
    require_root()
    exporter = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp, Netns("tcpstate-life") as ns:
        config = os.path.join(tmp, "config.yml")
        check_bad_reloads(ns, exporter, config)
        check_storm(ns, exporter, config)
        write(config, "poll:\n  interval: 500ms\n")
        stop_within(start(ns, exporter, config), signal.SIGINT, 5)
    print("lifecycle test passed")


if __name__ == "__main__":
    main()
