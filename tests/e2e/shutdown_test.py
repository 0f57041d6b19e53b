#!/usr/bin/env python3
"""SIGTERM in the middle of a poll: the exporter exits 0 within 5 s whatever the
poll is doing.

1. A poll stuck for ever: the fake proc root (--path.procfs) has a FIFO with no
   writer where the first sysctl is (<proc>/sys/net/ipv4/tcp_max_tw_buckets,
   the first file every poll reads), so the first poll blocks in open() for
   ever. The HTTP server must still come up (/healthz 200, /readyz 503), and
   SIGTERM must end the exporter with status 0 within 5 s, after the warning
   "poll still running after 3s (reading sysctls below ...), exiting without
   waiting".
2. A slow but progressing owner scan: 400 processes in the fake proc root whose
   <pid>/stat is a FIFO that this test answers 25 ms after each open, so the
   scan for the owner of the exporter's listening socket takes ~10 s. SIGTERM
   while it runs must end the exporter with status 0 within 5 s *without* the
   warning: the scan saw the stop flag and returned, the poll thread was joined.

Every exporter runs in a network namespace of its own making and talks to its
loopback only. Usage: shutdown_test.py EXPORTER [stuck] [slow] (default both)
"""

import errno
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_util import Netns, fetch, require_root, wait_for  # noqa: E402

ADDRESS = "127.0.0.1:19941"
LIMIT_SECONDS = 5
WARNING = "exiting without waiting"
SLOW_PROCESSES = 400
SLOW_ANSWER_SECONDS = 0.025

CONFIG = "poll:\n  interval: 500ms\nlog:\n  level: info\n"


def get(ns, path):
    """HTTP status of a GET from inside the namespace, None if no answer."""
    return fetch(ns, f"http://{ADDRESS}{path}")[0] or None


def write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(content)


def sysctls(proc_root):
    for name, content in [("ipv4/tcp_max_tw_buckets", "262144\n"),
                          ("ipv4/ip_local_port_range", "32768\t60999\n"),
                          ("ipv4/tcp_fin_timeout", "60\n"),
                          ("core/somaxconn", "4096\n")]:
        write(os.path.join(proc_root, "sys", "net", name), content)


def start(ns, exporter, tmp, proc_root):
    config = os.path.join(tmp, "config.yml")
    write(config, CONFIG)
    stderr = open(os.path.join(tmp, "exporter.stderr"), "w+")
    proc = ns.spawn([exporter, "--config", config, "--web.listen-address", ADDRESS,
                     "--path.procfs", proc_root], stderr=stderr, stdout=subprocess.DEVNULL)
    wait_for(lambda: get(ns, "/healthz") == 200, 30, "exporter serving /healthz")
    return proc, stderr


def terminate(proc, stderr):
    """SIGTERM; returns (exit status, seconds to exit, stderr text)."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=LIMIT_SECONDS + 20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        code = f"none: still running {LIMIT_SECONDS + 20} s after SIGTERM, killed"
    took = time.monotonic() - started
    stderr.seek(0)
    text = stderr.read()
    stderr.close()
    return code, took, text


def stuck_poll(ns, exporter, tmp):
    proc_root = os.path.join(tmp, "proc-stuck")
    sysctls(proc_root)
    fifo = os.path.join(proc_root, "sys", "net", "ipv4", "tcp_max_tw_buckets")
    os.remove(fifo)
    os.mkfifo(fifo)  # never opened for writing: open() for reading blocks for ever
    proc, stderr = start(ns, exporter, tmp, proc_root)
    time.sleep(1.5)  # three intervals: a poll that could finish would have
    ready = get(ns, "/readyz")
    assert ready == 503, f"/readyz {ready} while the first poll is stuck"
    code, took, err = terminate(proc, stderr)
    print(f"  stuck poll: /healthz 200, /readyz 503; SIGTERM: exit status {code} after {took:.2f}s")
    assert code == 0, f"stuck poll: exit status {code}\n{err}"
    assert took <= LIMIT_SECONDS, f"stuck poll: took {took:.2f}s\n{err}"
    assert WARNING in err and "reading sysctls below" in err, f"no warning:\n{err}"
    print("  " + next(line for line in err.splitlines() if WARNING in line))


class SlowStat:
    """Answers every open of a FIFO with one process stat line, 25 ms later."""

    def __init__(self, path):
        self.path = path
        self.reads = 0
        self.done = threading.Event()
        os.mkfifo(path)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        line = b"1 (slow) S" + b" 0" * 18 + b" 7 0 0\n"
        while not self.done.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
                time.sleep(0.001)
                continue
            try:
                time.sleep(SLOW_ANSWER_SECONDS)
                os.write(fd, line)
                self.reads += 1
            except BrokenPipeError:
                pass
            finally:
                os.close(fd)

    def stop(self):
        self.done.set()
        self.thread.join(timeout=10)


def slow_scan(ns, exporter, tmp):
    proc_root = os.path.join(tmp, "proc-slow")
    sysctls(proc_root)
    write(os.path.join(proc_root, "net", "netstat"), "TcpExt: ListenOverflows\nTcpExt: 0\n")
    slow = SlowStat(os.path.join(tmp, "stat.fifo"))
    try:
        for pid in range(1000, 1000 + SLOW_PROCESSES):
            os.makedirs(os.path.join(proc_root, str(pid), "fd"))
            os.symlink(slow.path, os.path.join(proc_root, str(pid), "stat"))
            os.symlink("/dev/null", os.path.join(proc_root, str(pid), "fd", "0"))
        proc, stderr = start(ns, exporter, tmp, proc_root)
        # The first poll looks for the owner of the exporter's listening socket
        # in every process: ~400 x 25 ms. Signal it well inside that scan.
        wait_for(lambda: slow.reads >= 20, 30, "the owner scan under way")
        at_signal = slow.reads
        code, took, err = terminate(proc, stderr)
        after = slow.reads
        print(f"  slow scan: SIGTERM after {at_signal} of {SLOW_PROCESSES} processes "
              f"({after} read in all): exit status {code} after {took:.2f}s")
        assert at_signal < SLOW_PROCESSES / 2, "the scan was not under way at SIGTERM"
        assert code == 0, f"slow scan: exit status {code}\n{err}"
        assert took <= LIMIT_SECONDS, f"slow scan: took {took:.2f}s\n{err}"
        assert WARNING not in err, f"slow scan: the stop check did not stop it:\n{err}"
        assert after <= at_signal + 3, f"slow scan went on after SIGTERM: {after} reads"
    finally:
        slow.stop()


def main():
    require_root()
    exporter = sys.argv[1]
    cases = sys.argv[2:] or ["stuck", "slow"]
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp, Netns("tcpstate-shut") as ns:
            {"stuck": stuck_poll, "slow": slow_scan}[case](ns, exporter, tmp)
    print("shutdown test passed")


if __name__ == "__main__":
    main()
