"""Processes that hold a fixed, timer-free TCP population inside a test network namespace,
for hostile_names_test.py and least_privilege_test.py. Standard library only.

A server (one process) listens on two loopback ports:
  port_e  accepted connections are kept open: both ends ESTABLISHED
  port_c  accepted connections are shut down for writing (shutdown(SHUT_WR)) and kept: the
          server's end sits in FIN_WAIT2 and the client's in CLOSE_WAIT, both with an owner,
          so neither expires (only orphaned FIN_WAIT2 sockets time out)
The server may rename itself too. A client renames itself (prctl(PR_SET_NAME) or a write to /proc/self/comm), then opens
n_e connections to port_e and n_c to port_c, waits until every port_c connection has seen
the server's FIN (it is then in CLOSE_WAIT), prints "ready PID" and holds everything until
its stdin closes.

The holder code runs as `python3 -c HOLDER_CODE ...`, so that a process under another uid
(setpriv) needs no read access to this directory.
"""

import os
import re
import select
import shutil
import subprocess
import sys
import time

HOLDER_CODE = r'''
import ctypes, os, select, socket, sys

def rename(name, method):
    if method == "prctl":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(15, ctypes.c_char_p(name), 0, 0, 0) != 0:  # PR_SET_NAME
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")
    elif method == "comm":
        fd = os.open("/proc/self/comm", os.O_WRONLY)
        os.write(fd, name)
        os.close(fd)

def server(port_e, port_c, name_hex):
    rename(bytes.fromhex(name_hex), "prctl" if name_hex else "none")
    listeners = {}
    for port in (port_e, port_c):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(256)
        listeners[s] = port
    held = []
    print("ready %d" % os.getpid(), flush=True)
    while True:
        readable, _, _ = select.select(list(listeners) + [sys.stdin], [], [])
        for r in readable:
            if r is sys.stdin:
                if not os.read(sys.stdin.fileno(), 4096):
                    return
                continue
            conn, _ = r.accept()
            if listeners[r] == port_c:
                conn.shutdown(socket.SHUT_WR)
            held.append(conn)

def client(name_hex, method, port_e, port_c, n_e, n_c):
    rename(bytes.fromhex(name_hex), method)
    held = [socket.create_connection(("127.0.0.1", port_e)) for _ in range(n_e)]
    closing = [socket.create_connection(("127.0.0.1", port_c)) for _ in range(n_c)]
    for s in closing:
        s.settimeout(20)
        if s.recv(1) != b"":
            raise AssertionError("expected the server's FIN")
    print("ready %d" % os.getpid(), flush=True)
    while os.read(sys.stdin.fileno(), 4096):
        pass

if sys.argv[1] == "server":
    server(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
else:
    client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]),
           int(sys.argv[7]))
'''


def _wait_ready(proc, what, timeout=30):
    """Reads the "ready PID" line of a holder within `timeout` seconds; returns the pid."""
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            raise AssertionError(f"{what}: not ready within {timeout}s")
        chunk = os.read(proc.stdout.fileno(), 1)
        if not chunk:
            raise AssertionError(f"{what}: exited with {proc.wait(timeout=10)} before ready")
        line += chunk
    m = re.fullmatch(rb"ready (\d+)\n", line)
    assert m, f"{what}: unexpected line {line!r}"
    return int(m.group(1))


class Holder:
    def __init__(self, proc, pid, what):
        self.proc, self.pid, self.what = proc, pid, what

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _python(prefix):
    """The interpreter for a holder: ours, or under another user (a setpriv prefix) the
    system's, which that user can surely execute (ours may live under /root)."""
    if prefix:
        return shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    return sys.executable


def start_server(ns, port_e, port_c, name=b"", prefix=()):
    """`name`: b"" keeps python's own name; otherwise set with prctl(PR_SET_NAME)."""
    argv = list(prefix) + [_python(prefix), "-c", HOLDER_CODE, "server", str(port_e), str(port_c),
                           name.hex()]
    proc = ns.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    return Holder(proc, _wait_ready(proc, "socket holder server"), "server")


def start_client(ns, name, method, port_e, port_c, n_e, n_c, prefix=()):
    """`name` (bytes) is what the client asks for; the kernel keeps the first 15 bytes
    (up to a NUL). method: "prctl", "comm" or "none" (keep python's own name)."""
    argv = list(prefix) + [_python(prefix), "-c", HOLDER_CODE, "client", name.hex(), method,
                           str(port_e), str(port_c), str(n_e), str(n_c)]
    proc = ns.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    return Holder(proc, _wait_ready(proc, f"socket holder client {name!r}"), f"client {name!r}")


def kernel_comm(pid):
    """The comm the kernel holds for `pid`, as raw bytes, from /proc/PID/stat (the field
    between the first '(' and the last ')', which is what the exporter reads)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return stat[stat.index(b"(") + 1:stat.rindex(b")")]


SS_PID = re.compile(rb"pid=(\d+),fd=\d+")


def ss_pid_counts(ns, state):
    """{pid: sockets in `state` (an ss state filter name such as close-wait)} from
    `ss -tanp` in the namespace. ss prints process names raw (a newline in a name splits the
    line), so only the `pid=N,fd=M` fields are read, one per fd holding the socket."""
    out = ns.run(["ss", "-tanpH", "state", state], check=True, text=False).stdout
    counts = {}
    for pid in SS_PID.findall(out):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts
