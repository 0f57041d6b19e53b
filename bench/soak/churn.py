#!/usr/bin/env python3
"""Churn generators of the soak harness (bench/soak/soak.py). Each mode runs in
the current network namespace (loopback only), renames itself, writes its
counters to STATUS_FILE about once a second (tmp file + rename, one line of
key=value pairs) and stops on SIGTERM/SIGINT, at --seconds, or when its parent
dies (PR_SET_PDEATHSIG). Standard library only.

  churn.py conn   --port P --rate R ...   comm "soak-conn"
      R connections a second to its own listener on 127.0.0.1:P and [::1]:P
      (alternating). The client closes first (client end -> TIME_WAIT, no
      owner); the server end is closed at once, or for --leak-share of them
      kept open --leak-min..--leak-max seconds (CLOSE_WAIT owned by soak-conn,
      new inet_diag cookies all the time).

  churn.py listen --every S --batch K --life L ...   comm "soak-listen"
      Every S seconds opens K listeners on random ports in --port-low..
      --port-high (outside the ephemeral range, so they become port labels)
      with one connection to each (both ends held), and closes those older
      than L seconds: about K*L/S listening ports alive, thousands of
      distinct ports over a long run (ports.max_distinct must fold them).

The process churn is bench/soak/procchurn.cpp (soak_procchurn): Python's fork
is too slow for 100+ forks a second on a loaded machine.
"""

import argparse
import ctypes
import os
import random
import signal
import socket
import sys
import time

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)
_stop = False


def _on_signal(signum, frame):
    global _stop
    _stop = True


def setup(name):
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # parent already gone
        sys.exit(0)
    set_comm(name)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def set_comm(name):
    _libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


class Status:
    def __init__(self, path):
        self.path = path
        self.last = 0.0

    def write(self, force=False, **counters):
        now = time.monotonic()
        if not self.path or (not force and now - self.last < 1.0):
            return
        self.last = now
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(" ".join(f"{k}={v}" for k, v in counters.items()) + "\n")
        os.replace(tmp, self.path)


def listener(family, host, port, backlog=4096):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


class Pacer:
    """Yields how many events are due, at `rate` a second, never bursting
    more than 0.1 s worth of backlog."""

    def __init__(self, rate):
        self.period = 1.0 / rate
        self.next = time.monotonic()

    def due(self):
        now = time.monotonic()
        if now < self.next:
            return 0
        n = int((now - self.next) / self.period) + 1
        cap = max(1, int(0.1 / self.period))
        if n > cap:
            self.next = now  # behind: drop the backlog instead of bursting
            n = cap
        self.next += n * self.period
        return n

    def wait(self, limit):
        time.sleep(max(0.0, min(limit, self.next - time.monotonic())))


def mode_conn(a):
    setup("soak-conn")
    lst = [listener(socket.AF_INET, "127.0.0.1", a.port),
           listener(socket.AF_INET6, "::1", a.port)]
    addrs = [("127.0.0.1", a.port), ("::1", a.port)]
    status = Status(a.status)
    deadline = time.monotonic() + a.seconds
    pacer = Pacer(a.rate)
    rng = random.Random(a.seed)
    leaks = []  # (close_at, socket)
    made = errors = leaked = 0
    i = 0
    while not _stop and time.monotonic() < deadline:
        for _ in range(pacer.due()):
            fam = i % 2
            i += 1
            try:
                c = socket.create_connection(addrs[fam], timeout=2)
                lst[fam].settimeout(2)
                s, _ = lst[fam].accept()
            except OSError:
                errors += 1
                continue
            c.close()  # the client closes first: its end ends in TIME_WAIT
            made += 1
            if rng.random() < a.leak_share:
                leaks.append((time.monotonic() + rng.uniform(a.leak_min, a.leak_max), s))
                leaked += 1
            else:
                s.close()
        now = time.monotonic()
        keep = []
        for close_at, s in leaks:
            if close_at <= now:
                s.close()
            else:
                keep.append((close_at, s))
        leaks = keep
        status.write(conns=made, errors=errors, leaked=leaked, close_wait_held=len(leaks))
        pacer.wait(0.05)
    for _, s in leaks:
        s.close()
    status.write(force=True, conns=made, errors=errors, leaked=leaked, close_wait_held=0)
    return 0


def mode_listen(a):
    setup("soak-listen")
    status = Status(a.status)
    deadline = time.monotonic() + a.seconds
    rng = random.Random(a.seed)
    alive = {}  # port -> (opened_at, [sockets])
    opened = errors = 0
    distinct = set()
    next_batch = time.monotonic()
    while not _stop and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_batch:
            next_batch = now + a.every
            for port in [p for p, (t, _) in alive.items() if now - t >= a.life]:
                for s in alive.pop(port)[1]:
                    s.close()
            for _ in range(a.batch):
                port = rng.randrange(a.port_low, a.port_high + 1)
                if port in alive:
                    continue
                try:
                    lst = listener(socket.AF_INET, "127.0.0.1", port, backlog=16)
                    c = socket.create_connection(("127.0.0.1", port), timeout=2)
                    lst.settimeout(2)
                    s, _ = lst.accept()
                except OSError:
                    errors += 1
                    continue
                alive[port] = (now, [lst, c, s])
                opened += 1
                distinct.add(port)
        status.write(opened=opened, errors=errors, alive=len(alive), distinct=len(distinct))
        time.sleep(max(0.0, min(0.2, next_batch - time.monotonic())))
    for _, socks in alive.values():
        for s in socks:
            s.close()
    status.write(force=True, opened=opened, errors=errors, alive=0, distinct=len(distinct))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seconds", type=float, required=True, help="stop after this long")
    common.add_argument("--status", default="", help="counters file")
    common.add_argument("--seed", type=int, default=1)

    c = sub.add_parser("conn", parents=[common])
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--rate", type=float, default=100)
    c.add_argument("--leak-share", type=float, default=0.05)
    c.add_argument("--leak-min", type=float, default=5)
    c.add_argument("--leak-max", type=float, default=40)

    li = sub.add_parser("listen", parents=[common])
    li.add_argument("--every", type=float, default=5)
    li.add_argument("--batch", type=int, default=10)
    li.add_argument("--life", type=float, default=40)
    li.add_argument("--port-low", type=int, default=10000)
    li.add_argument("--port-high", type=int, default=19999)

    a = p.parse_args()
    return {"conn": mode_conn, "listen": mode_listen}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
