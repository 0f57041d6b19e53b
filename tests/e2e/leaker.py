#!/usr/bin/env python3
"""A program that leaks CLOSE_WAIT sockets at a steady rate (for alerting_test.py).

It listens on 127.0.0.1:PORT and, every INTERVAL seconds, connects to itself RATE times: the
server end of each connection calls shutdown(SHUT_WR), so the client end receives a FIN and
enters CLOSE_WAIT, and nothing ever closes the client end. The CLOSE_WAIT sockets are therefore
owned by this process, outbound, with remote port PORT (keep PORT outside
net.ipv4.ip_local_port_range, or the exporter labels it "ephemeral"). The server ends stay in
FIN_WAIT2, owned too.

The process renames itself (comm, what the exporter's `process` label shows) with
prctl(PR_SET_NAME), so that it is not just "python3".

Once listening it writes "READY port=<PORT> pid=<PID> comm=<NAME>" to --ready-file (tmp file +
rename). Exits, closing every socket, on SIGTERM/SIGINT, on EOF of stdin when stdin is a pipe,
or after --max-seconds. Stops growing (but keeps holding) at --max sockets.

Usage: leaker.py [--port 23456] [--name leaky-client] [--rate 2] [--interval 1]
                 [--max 2000] [--max-seconds 300] [--ready-file PATH]

Python 3 standard library only.
"""

import argparse
import ctypes
import os
import select
import signal
import socket
import stat
import sys
import time

PR_SET_NAME = 15


def set_comm(name):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NAME): {os.strerror(err)}")
    with open("/proc/self/comm", encoding="utf-8") as f:
        comm = f.read().strip()
    if comm != name[:15]:
        raise RuntimeError(f"comm is {comm!r} after PR_SET_NAME {name!r}")
    return comm


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=23456)
    ap.add_argument("--name", default="leaky-client")
    ap.add_argument("--rate", type=int, default=2, help="connections leaked per interval")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--max", type=int, default=2000, help="stop growing at this many")
    ap.add_argument("--max-seconds", type=float, default=300.0)
    ap.add_argument("--ready-file")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    comm = set_comm(args.name)

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(128)

    clients, servers = [], []

    def leak_one():
        c = socket.create_connection(("127.0.0.1", args.port), timeout=5)
        s, _ = srv.accept()
        s.shutdown(socket.SHUT_WR)  # FIN to the client end: CLOSE_WAIT there, never closed
        clients.append(c)
        servers.append(s)

    if args.ready_file:
        tmp = f"{args.ready_file}.tmp.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"READY port={args.port} pid={os.getpid()} comm={comm}\n")
        os.rename(tmp, args.ready_file)

    try:
        watch_stdin = stat.S_ISFIFO(os.fstat(0).st_mode) or stat.S_ISSOCK(os.fstat(0).st_mode)
    except OSError:
        watch_stdin = False
    start = time.monotonic()
    deadline = start + args.max_seconds
    next_tick = start
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        if now >= next_tick:
            for _ in range(args.rate):
                if len(clients) < args.max:
                    leak_one()
            next_tick += args.interval
        wait = max(0.0, min(next_tick, deadline) - time.monotonic())
        readable, _, _ = select.select([0] if watch_stdin else [], [], [], wait)
        if readable and not os.read(0, 4096):
            break  # stdin closed: the test wants us gone
    return 0


if __name__ == "__main__":
    sys.exit(main())
