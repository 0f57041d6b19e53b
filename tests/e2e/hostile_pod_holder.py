#!/usr/bin/env python3
"""One process of a hostile simulated pod (tests/e2e/hostile_pods_test.py): run inside
`ip netns exec NS` (its own mount namespace). Holds a listener and one connection on
127.0.0.1:PORT (three sockets), optionally mounts a procfs in the pod's root (so that
/proc/self/... magic links exist there), chroots into ROOTFS (so /proc/<pid>/root is the
pod's root, not the node's), writes READY and holds until stdin closes or --hold-seconds.
With --rewrite PATH the file PATH inside the root is rewritten in a loop (a file that
changes while the exporter reads it), alternating between the values of --rewrite-values.

Usage: hostile_pod_holder.py ROOTFS PORT READY_FILE [--proc] [--rewrite PATH]
                             [--rewrite-values A,B] [--hold-seconds N]
"""
import argparse
import os
import socket
import subprocess
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rootfs")
    ap.add_argument("port", type=int)
    ap.add_argument("ready")
    ap.add_argument("--proc", action="store_true")
    ap.add_argument("--rewrite")
    ap.add_argument("--rewrite-values", default="a,b")
    ap.add_argument("--hold-seconds", type=float, default=300)
    args = ap.parse_args()

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(8)
    client = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    server, _ = listener.accept()
    if args.proc:
        os.makedirs(os.path.join(args.rootfs, "proc"), exist_ok=True)
        subprocess.run(["mount", "-t", "proc", "proc", os.path.join(args.rootfs, "proc")],
                       check=True)
    ready = os.open(args.ready + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    ready_dir = os.open(os.path.dirname(os.path.abspath(args.ready)), os.O_RDONLY)
    os.chroot(args.rootfs)
    os.chdir("/")
    stop = threading.Event()
    if args.rewrite:
        values = args.rewrite_values.split(",")

        def rewrite():
            i = 0
            while not stop.is_set() and i < 5_000_000:
                with open(args.rewrite, "w") as f:
                    f.write(values[i % len(values)] + "\n")
                i += 1
        threading.Thread(target=rewrite, daemon=True).start()
    os.write(ready, b"READY\n")
    os.close(ready)
    os.rename(os.path.basename(args.ready) + ".tmp", os.path.basename(args.ready),
              src_dir_fd=ready_dir, dst_dir_fd=ready_dir)
    deadline = time.monotonic() + args.hold_seconds
    # stdin is a pipe from the test: EOF (the test ended or died) ends the pod.
    os.set_blocking(sys.stdin.fileno(), False)
    while time.monotonic() < deadline:
        try:
            if os.read(sys.stdin.fileno(), 1) == b"":
                break
        except BlockingIOError:
            pass
        time.sleep(0.1)
    stop.set()
    for s in (client, server, listener):
        s.close()


if __name__ == "__main__":
    main()
