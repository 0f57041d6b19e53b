#!/usr/bin/env python3
"""Holds the CLOSE_WAIT causes and an overflowing listener inside a test network namespace
(for live_netns_test.py). Standard library only; every wait is bounded.

On 127.0.0.1, with comm set to --name:
  PORT    a listener that never accepts: --not-accepted clients connect (one sends 3 bytes)
          and close, so each server end reaches CLOSE_WAIT inside the accept queue, no owner
  PORT+1  a listener whose connections are accepted and held; each client sends bytes, then
          closes:
            --not-closed of them are read to the EOF (recv() returns b""), never closed
            --not-reading of them are never read: --bytes of data + the FIN stay queued
  PORT+2  a listener with backlog 1 that never accepts, and --overflow non-blocking clients:
          the accept queue holds 2, the others' SYNs are dropped (ListenDrops) and retried

Writes one line "READY {json}" to stdout once the CLOSE_WAIT sockets exist, then holds
everything until stdin closes (or --max-seconds).

Usage: close_wait_causes.py [--port 21200] [--name cw-causes] [--not-accepted 3]
                            [--not-closed 2] [--not-reading 4] [--bytes 1000] [--overflow 6]
"""

import argparse
import ctypes
import json
import select
import socket
import sys
import time


def listener(port, backlog):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(backlog)
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=21200)
    ap.add_argument("--name", default="cw-causes")
    ap.add_argument("--not-accepted", type=int, default=3)
    ap.add_argument("--not-closed", type=int, default=2)
    ap.add_argument("--not-reading", type=int, default=4)
    ap.add_argument("--bytes", type=int, default=1000)
    ap.add_argument("--overflow", type=int, default=6)
    ap.add_argument("--max-seconds", type=float, default=300)
    args = ap.parse_args()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, ctypes.c_char_p(args.name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME

    held = []
    queue = listener(args.port, 64)
    for i in range(args.not_accepted):
        c = socket.create_connection(("127.0.0.1", args.port), timeout=5)
        if i == 0:
            c.sendall(b"abc")
        c.close()
    held.append(queue)

    server = listener(args.port + 1, 64)
    server.settimeout(5)
    for i in range(args.not_closed + args.not_reading):
        c = socket.create_connection(("127.0.0.1", args.port + 1), timeout=5)
        a, _ = server.accept()
        c.sendall(b"x" * args.bytes)
        c.close()
        if i < args.not_closed:
            a.settimeout(5)
            got = 0
            while True:  # to the EOF: bounded by the timeout
                chunk = a.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
            assert got == args.bytes, got
        held.append(a)
    held.append(server)

    drop = listener(args.port + 2, 1)
    held.append(drop)
    for _ in range(args.overflow):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", args.port + 2))
        except BlockingIOError:
            pass
        held.append(c)

    time.sleep(0.3)  # the FINs of the closed clients are delivered over loopback
    print("READY " + json.dumps({
        "port": args.port, "not_accepted": args.not_accepted, "not_closed": args.not_closed,
        "not_reading": args.not_reading, "bytes": args.bytes, "overflow": args.overflow}),
        flush=True)
    deadline = time.monotonic() + args.max_seconds
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sys.stdin], [], [], 1)
        if readable and not sys.stdin.buffer.read1(4096):
            return


if __name__ == "__main__":
    main()
