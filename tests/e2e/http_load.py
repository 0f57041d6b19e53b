"""HTTP load and abuse against the exporter's endpoint, shared by tests/e2e/http_load_test.py
and bench/http_load.py. Standard library only.

The load runs in a client process inside the exporter's network namespace
(`python3 http_load.py --client`, driven by LoadClient below) that holds:

  * idle connections: connected, never send a byte;
  * trickling connections: send one byte every `trickle_interval` seconds of a request that
    never ends (plain HTTP: a request line and endless headers; TLS: a ClientHello);

while it times scrapes (a fresh connection each: connect, GET /metrics, the whole body) from
one or more threads. Afterwards it can watch the flood connections until the server closes
them, and report how long each lived.

Protocol (one JSON object per line): the parent writes the job, the client answers
{"event": "flooded"}; then the parent sends commands "scrape", "watch SECONDS" and "close",
each answered with one line.
"""

import json
import os
import resource
import select
import socket
import ssl
import subprocess
import sys
import threading
import time

HEADER_TRICKLE = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: 1\r\n" * 100_000


def client_hello(host):
    """The bytes of a real TLS ClientHello (made with a memory BIO, never sent anywhere)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=host)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(values):
    if not values:
        return {"n": 0}
    return {"n": len(values), "min": min(values), "p50": percentile(values, 50),
            "p99": percentile(values, 99), "max": max(values)}


# ---------------------------------------------------------------------------------------------
# Client side (inside the namespace).

class Flood:
    """The idle and trickling connections, and a thread that trickles and watches them."""

    def __init__(self, specs, connect_budget):
        self.ep = select.epoll()
        self.conns = {}  # fd -> dict(sock, kind, start, closed, data, pos)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.failed = 0
        self.interval = min([s.get("trickle_interval", 0.1) for s in specs] or [0.1])
        t0 = time.monotonic()
        pending = {}
        for spec in specs:
            family = socket.AF_INET6 if ":" in spec["host"] else socket.AF_INET
            hello = client_hello(spec["host"]) if spec.get("tls") else None
            for kind, count in (("idle", spec.get("idle", 0)), ("trickle", spec.get("trickle", 0))):
                for _ in range(count):
                    sock = socket.socket(family, socket.SOCK_STREAM)
                    sock.setblocking(False)
                    start = time.monotonic()
                    err = sock.connect_ex((spec["host"], spec["port"]))
                    conn = {"sock": sock, "kind": kind, "start": start, "closed": None,
                            "data": (hello or HEADER_TRICKLE) if kind == "trickle" else b"",
                            "pos": 0, "answered": False}
                    if err == 0:
                        self.conns[sock.fileno()] = conn
                    elif err == 115:  # EINPROGRESS
                        pending[sock.fileno()] = conn
                        self.ep.register(sock.fileno(), select.EPOLLOUT)
                    else:
                        self.failed += 1
                        sock.close()
        deadline = time.monotonic() + connect_budget
        while pending and time.monotonic() < deadline:
            for fd, _ in self.ep.poll(0.1):
                conn = pending.pop(fd)
                self.ep.unregister(fd)
                if conn["sock"].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    self.conns[fd] = conn
                else:
                    self.failed += 1
                    conn["sock"].close()
        for fd, conn in pending.items():
            self.ep.unregister(fd)
            conn["sock"].close()
        self.failed += len(pending)
        self.connect_s = time.monotonic() - t0
        for fd in self.conns:
            self.ep.register(fd, select.EPOLLIN | select.EPOLLRDHUP)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def _closed(self, fd, conn, now):
        conn["closed"] = now
        try:
            self.ep.unregister(fd)
        except OSError:
            pass
        conn["sock"].close()

    def run(self):
        next_trickle = time.monotonic() + self.interval
        while not self.stop.is_set():
            timeout = max(0.0, min(0.05, next_trickle - time.monotonic()))
            events = self.ep.poll(timeout)
            now = time.monotonic()
            with self.lock:
                for fd, _ in events:
                    conn = self.conns.get(fd)
                    if conn is None or conn["closed"] is not None:
                        continue
                    try:
                        data = conn["sock"].recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if data:
                        conn["answered"] = True  # e.g. a 400; wait for the close
                    else:
                        self._closed(fd, conn, now)
                if now >= next_trickle:
                    next_trickle += self.interval
                    for fd, conn in self.conns.items():
                        if conn["kind"] != "trickle" or conn["closed"] is not None:
                            continue
                        if conn["pos"] >= len(conn["data"]):
                            continue
                        try:
                            conn["sock"].send(conn["data"][conn["pos"]:conn["pos"] + 1])
                            conn["pos"] += 1
                        except BlockingIOError:
                            pass
                        except OSError:
                            self._closed(fd, conn, now)

    def open_count(self):
        with self.lock:
            return sum(1 for c in self.conns.values() if c["closed"] is None)

    def report(self):
        with self.lock:
            out = {}
            for kind in ("idle", "trickle"):
                conns = [c for c in self.conns.values() if c["kind"] == kind]
                lifetimes = [c["closed"] - c["start"] for c in conns if c["closed"] is not None]
                out[kind] = {"connections": len(conns),
                             "open": sum(1 for c in conns if c["closed"] is None),
                             "answered": sum(1 for c in conns if c["answered"]),
                             "bytes_sent_max": max([c["pos"] for c in conns] or [0]),
                             "lifetime": summary(lifetimes)}
            return out

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        with self.lock:
            for conn in self.conns.values():
                if conn["closed"] is None:
                    conn["sock"].close()


def scrape_once(target):
    """One GET /metrics on a fresh connection: (status, seconds, error). Reads exactly the
    body Content-Length announces."""
    t0 = time.monotonic()
    deadline = t0 + target.get("timeout", 10)
    sock = None
    try:
        sock = socket.create_connection((target["host"], target["port"]),
                                        timeout=target.get("timeout", 10))
        if target.get("tls"):
            ctx = ssl.create_default_context(cafile=target["cafile"])
            ctx.check_hostname = False
            sock = ctx.wrap_socket(sock, server_hostname=target["host"])
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while b"\r\n\r\n" not in raw:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response headers")
            raw += chunk
        head, body = raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, val = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(val.strip())
        while len(body) < length:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {len(body)} of {length} body bytes")
            body += chunk
        if status == 200 and b"tcpstate_" not in body:
            return 0, time.monotonic() - t0, "200 without tcpstate_ metrics"
        return status, time.monotonic() - t0, ""
    except (OSError, ssl.SSLError, ValueError, IndexError) as e:
        return 0, time.monotonic() - t0, f"{type(e).__name__}: {e}"
    finally:
        if sock is not None:
            sock.close()


def scrapes(job):
    """job: targets (round robin), count, concurrency, budget (s: no new scrape after it)."""
    targets, count = job["targets"], job["count"]
    concurrency = job.get("concurrency", 1)
    stop_at = time.monotonic() + job.get("budget", 120)
    results, lock, next_i = [], threading.Lock(), [0]

    def worker():
        while True:
            with lock:
                i = next_i[0]
                if i >= count or time.monotonic() > stop_at:
                    return
                next_i[0] += 1
            status, seconds, error = scrape_once(targets[i % len(targets)])
            with lock:
                results.append((status, seconds, error))

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    ok = [s for status, s, _ in results if status == 200]
    errors = sorted({f"{status} {e}" for status, _, e in results if status != 200})
    return {"asked": count, "attempted": len(results), "ok": len(ok),
            "latency": summary(ok), "wall_s": wall, "errors": errors[:5]}


def client_main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    job = json.loads(sys.stdin.readline())
    flood = Flood(job.get("flood", []), job.get("connect_budget", 20))
    out = sys.stdout

    def say(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    say({"event": "flooded", "connected": len(flood.conns), "failed": flood.failed,
         "connect_s": flood.connect_s, "nofile": hard})
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "scrape":
            say({"event": "scraped", "open": flood.open_count(),
                 "results": [scrapes(s) for s in job.get("scrapes", [])],
                 "open_after": flood.open_count()})
        elif cmd[0] == "watch":
            deadline = time.monotonic() + float(cmd[1])
            while flood.open_count() and time.monotonic() < deadline:
                time.sleep(0.05)
            say({"event": "watched", "flood": flood.report()})
        elif cmd[0] == "close":
            flood.close()
            say({"event": "closed"})
            return 0
    flood.close()
    return 0


# ---------------------------------------------------------------------------------------------
# Parent side.

class LoadClient:
    """Runs the client in a network namespace (`ip netns exec NAME`)."""

    def __init__(self, netns_name, job):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", netns_name, sys.executable, os.path.abspath(__file__),
             "--client"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()

    def _answer(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"load client gave no answer within {timeout}s")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"load client exited ({self.proc.wait(timeout=5)})")
        return json.loads(line)

    def flooded(self, timeout=60):
        return self._answer(timeout)

    def command(self, cmd, timeout):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._answer(timeout)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.command("close", 15)
            except (AssertionError, OSError, ValueError):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--client":
        sys.exit(client_main())
    print(__doc__, file=sys.stderr)
    sys.exit(2)
