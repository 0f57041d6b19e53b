#!/usr/bin/env python3
"""Secure endpoint end-to-end test: TLS, basic auth, limits and binding.

In two throwaway network namespaces joined by a veth pair (10.77.0.1 <-> 10.77.0.2), with a
throwaway CA and certificates made by `openssl` and bcrypt hashes made by `htpasswd -B`:

  * bad web configuration files: exit status 2 and a message naming the key (also with
    --config.check), a good one passes --config.check;
  * TLS + basic auth (`curl --cacert`): no credentials, a wrong password, an unknown user and a
    malformed header get 401 with `WWW-Authenticate: Basic realm="tcpstate_exporter"`; the right
    ones get the metrics; /healthz and /readyz need no credentials; configured headers are sent;
  * an unknown user costs a bcrypt computation like a wrong password (server time measured by
    curl), and a successful login is cached (the second costs no bcrypt);
  * beyond web.max_requests_in_flight, requests get 503 at once, while a scraper whose login is
    cached still gets through;
  * plain HTTP to the TLS port fails without an HTTP answer and the exporter keeps serving;
  * mutual TLS with min_version TLS13: a client certificate from the CA passes, none, a foreign
    one, or TLS 1.2 fail;
  * a real Prometheus scrapes over TLS with basic auth (`scheme: https`, `tls_config.ca_file`,
    `basic_auth`): up == 1, and 0 for a job with a wrong password;
  * slowloris: 2 x web.max_connections connections trickling TLS handshake or header bytes (and
    reconnecting when cut), then a normal scrape must succeed within 10 s (also over plain HTTP);
    a 2.2 s TLS handshake is cut at request_timeout (3 s) from accept, ~0.8 s after it is done
    (one deadline for the handshake and the headers together);
  * --web.listen-address 127.0.0.1:PORT is not reachable on the namespace's other address, from
    inside or from the peer namespace, while an exporter bound to that address is;
  * a renewed certificate is served without a restart; SIGHUP applies a changed password and
    keeps the running users when the new file is bad.

Needs root (exit 77 = skipped otherwise), curl, openssl, htpasswd (apache2-utils) and prometheus;
a missing tool is a failure. Usage: secure_endpoint_test.py EXPORTER
"""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_util import Netns, parse_exposition, require_root, value, wait_for  # noqa: E402

OVERALL_TIMEOUT = 420
NS_ADDR, PEER_ADDR = "10.77.0.1", "10.77.0.2"
PORT_AUTH = 19441     # TLS + basic auth, 127.0.0.1
PORT_MTLS = 19443     # mutual TLS, TLS 1.3 only, 127.0.0.1
PORT_BOUND = 19444    # plain, on NS_ADDR only (positive control of the binding test)
PORT_SLOW_TLS = 19445
PORT_SLOW_PLAIN = 19446
PORT_PROMETHEUS = 19490
MAX_CONNECTIONS = 8   # for the slowloris instances
SCRAPE_TIMEOUT = 10.0
COST = 10             # bcrypt cost of the test users (~70 ms on an idle core)

START = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - START:6.1f}s] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Client side, run inside a namespace: `secure_endpoint_test.py --client` reads a JSON job on
# stdin and prints the JSON result.

def http_request(r):
    """One request over a fresh connection. r: host, port, path, tls, cafile, certfile,
    keyfile, max_tls12, authorization, timeout. Returns status (0: no HTTP answer), headers,
    body, elapsed, peer_cn, error."""
    t0 = time.monotonic()
    out = {"status": 0, "headers": {}, "body": "", "peer_cn": "", "error": ""}
    try:
        sock = socket.create_connection((r["host"], r["port"]), timeout=r.get("timeout", 15))
        if r.get("tls"):
            ctx = ssl.create_default_context(cafile=r.get("cafile"))
            if r.get("certfile"):
                ctx.load_cert_chain(r["certfile"], r["keyfile"])
            if r.get("max_tls12"):
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            sock = ctx.wrap_socket(sock, server_hostname=r["host"])
            for rdn in sock.getpeercert().get("subject", ()):
                for key, val in rdn:
                    if key == "commonName":
                        out["peer_cn"] = val
        head = f"GET {r.get('path', '/metrics')} HTTP/1.1\r\nHost: {r['host']}\r\n"
        if r.get("authorization"):
            head += f"Authorization: {r['authorization']}\r\n"
        sock.sendall((head + "Connection: close\r\n\r\n").encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        header_text, _, body = data.partition(b"\r\n\r\n")
        lines = header_text.decode("latin-1").split("\r\n")
        if lines and lines[0].startswith("HTTP/"):
            out["status"] = int(lines[0].split()[1])
            for line in lines[1:]:
                k, _, v = line.partition(":")
                out["headers"][k.strip().lower()] = v.strip()
        out["body"] = body.decode("utf-8", "replace")
    except Exception as e:  # reported, judged by the caller
        out["error"] = f"{type(e).__name__}: {e}"
    out["elapsed"] = time.monotonic() - t0
    return out


def concurrent_requests(requests):
    results = [None] * len(requests)

    def run(i):
        results[i] = http_request(requests[i])
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def client_hello():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class SlowTls:
    """A TLS client over a memory BIO, so the bytes can be sent as slowly as we like."""

    def __init__(self, sock, cafile, host):
        ctx = ssl.create_default_context(cafile=cafile)
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=False,
                                server_hostname=host)

    def send_pending(self, chunks=1, interval=0.0):
        data = self.outgoing.read()
        step = max(1, -(-len(data) // chunks))
        for i in range(0, len(data), step):
            self.sock.sendall(data[i:i + step])
            if interval:
                time.sleep(interval)

    def handshake(self, chunks, interval):
        """The ClientHello in `chunks` pieces `interval` apart, the rest at once."""
        first = True
        while True:
            try:
                self.obj.do_handshake()
                self.send_pending()
                return
            except ssl.SSLWantReadError:
                self.send_pending(chunks if first else 1, interval if first else 0.0)
                first = False
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionResetError("EOF during the handshake")
                self.incoming.write(data)

    def write(self, data):
        self.obj.write(data)
        self.send_pending()


def slow_handshake(job):
    """One connection: the ClientHello trickled over about job["seconds"], then request
    header bytes every 0.1 s. Returns when the server cut the connection."""
    sock = socket.create_connection((job["host"], job["port"]), timeout=10)
    tls = SlowTls(sock, job["cafile"], job["host"])
    t0 = time.monotonic()
    out = {"handshake_s": None, "cut_after_handshake_s": None, "error": ""}
    try:
        tls.handshake(job["chunks"], job["seconds"] / job["chunks"])
        out["handshake_s"] = time.monotonic() - t0
        done = time.monotonic()
        sock.settimeout(0.1)
        for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: 1\r\n" * 100:
            if time.monotonic() - done > job["watch"]:
                break
            try:
                tls.write(bytes([byte]))
                if sock.recv(65536) == b"":
                    raise ConnectionResetError("EOF")
            except socket.timeout:
                pass
    except (OSError, ssl.SSLError) as e:
        out["error"] = f"{type(e).__name__}: {e}"
        if out["handshake_s"] is not None:
            out["cut_after_handshake_s"] = time.monotonic() - t0 - out["handshake_s"]
    return out


def slowloris(job):
    """Opens job["connections"] connections that trickle bytes (every job["interval"] s) and
    reconnect when the server cuts them, then times one normal request."""
    stop = threading.Event()
    stats = {"cut": 0, "opened": 0}
    lock = threading.Lock()
    hello = client_hello()

    def trickle(kind):
        while not stop.is_set():
            try:
                sock = socket.create_connection((job["host"], job["port"]), timeout=30)
                with lock:
                    stats["opened"] += 1
                if kind == "slow-handshake":
                    # A slow but complete handshake, then header bytes.
                    tls = SlowTls(sock, job["cafile"], job["host"])
                    tls.handshake(10, 0.12)
                    for byte in b"GET /metrics HTTP/1.1\r\n" + b"X-Slow: 1\r\n" * 10000:
                        if stop.is_set():
                            break
                        tls.write(bytes([byte]))
                        time.sleep(job["interval"])
                    continue
                if kind == "handshake":
                    data = hello  # a TLS ClientHello, a byte at a time
                else:
                    if job["tls"]:
                        ctx = ssl.create_default_context(cafile=job["cafile"])
                        sock = ctx.wrap_socket(sock, server_hostname=job["host"])
                    data = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: 1\r\n" * 10000
                for i in range(len(data)):
                    if stop.is_set():
                        break
                    sock.send(data[i:i + 1])
                    time.sleep(job["interval"])
                sock.close()
            except (OSError, ssl.SSLError):
                with lock:
                    stats["cut"] += 1  # the server gave up on us: reconnect at once

    kinds = ["header", "handshake", "slow-handshake"] if job["tls"] else ["header"]
    threads = [threading.Thread(target=trickle, args=(kinds[i % len(kinds)],), daemon=True)
               for i in range(job["connections"])]
    for t in threads:
        t.start()
    time.sleep(job["settle"])  # every trickler connected (queued behind the busy threads)
    stats_before = dict(stats)
    scrape = http_request(job["scrape"])
    stop.set()
    return {"scrape": scrape, "before_scrape": stats_before, "at_end": dict(stats)}


def connect_probe(targets):
    out = []
    for host, port in targets:
        try:
            socket.create_connection((host, port), timeout=3).close()
            out.append("connected")
        except ConnectionRefusedError:
            out.append("refused")
        except OSError as e:
            out.append(f"error {e}")
    return out


def client_main():
    job = json.load(sys.stdin)
    kind = job["kind"]
    if kind == "requests":
        result = concurrent_requests(job["requests"])
    elif kind == "slowloris":
        result = slowloris(job)
    elif kind == "slow-handshake":
        result = slow_handshake(job)
    elif kind == "connect":
        result = connect_probe(job["targets"])
    else:
        raise SystemExit(f"unknown job {kind}")
    json.dump(result, sys.stdout)
    return 0


# ---------------------------------------------------------------------------------------------
# Test side.

def run(argv, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 60)
    return subprocess.run(argv, **kwargs)


def client(ns, job, timeout=60):
    result = ns.run([sys.executable, os.path.abspath(__file__), "--client"],
                    input=json.dumps(job), timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"client helper failed: {result.stderr}")
    return json.loads(result.stdout)


def requests(ns, reqs, timeout=60):
    return client(ns, {"kind": "requests", "requests": reqs}, timeout)


def basic(user, password):
    import base64
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Pki:
    """A throwaway CA, server and client certificates made with the openssl command."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "pki")
        os.makedirs(self.dir)
        self.ca = self.make_ca("ca", "tcpstate test CA")
        self.other_ca = self.make_ca("other-ca", "foreign CA")
        self.server = self.make_leaf("server", "exporter", self.ca,
                                     f"subjectAltName=IP:127.0.0.1,IP:{NS_ADDR}\n"
                                     "extendedKeyUsage=serverAuth\n")
        self.client = self.make_leaf("client", "prometheus", self.ca,
                                     "subjectAltName=DNS:prometheus\n"
                                     "extendedKeyUsage=clientAuth\n")
        self.foreign = self.make_leaf("foreign", "intruder", self.other_ca,
                                      "extendedKeyUsage=clientAuth\n")

    def path(self, name):
        return os.path.join(self.dir, name)

    def openssl(self, *args):
        r = run(["openssl", *args])
        if r.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args)} failed: {r.stderr}")

    def make_ca(self, name, cn):
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", self.path(f"{name}.key"), "-out",
                     self.path(f"{name}.crt"), "-days", "2", "-subj", f"/CN={cn}")
        return name

    def make_leaf(self, name, cn, ca, extensions, out=None):
        out = out or name
        ext = self.path(f"{out}.ext")
        with open(ext, "w") as f:
            f.write(extensions)
        self.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", self.path(f"{out}.key"), "-out", self.path(f"{out}.csr"),
                     "-subj", f"/CN={cn}")
        self.openssl("x509", "-req", "-in", self.path(f"{out}.csr"), "-CA",
                     self.path(f"{ca}.crt"), "-CAkey", self.path(f"{ca}.key"),
                     "-CAcreateserial", "-out", self.path(f"{out}.crt"), "-days", "2",
                     "-extfile", ext)
        return out


def bcrypt(user, password, cost=COST):
    r = run(["htpasswd", "-nbBC", str(cost), user, password])
    if r.returncode != 0:
        raise AssertionError(f"htpasswd failed: {r.stderr}")
    return r.stdout.strip().split(":", 1)[1]


class Harness:
    def __init__(self, ns, peer, tmp, exporter):
        self.ns, self.peer, self.tmp, self.exporter = ns, peer, tmp, exporter
        self.procs = []  # (name, Popen, log path)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def spawn(self, name, argv):
        path = os.path.join(self.tmp, f"{name}.log")
        with open(path, "wb") as logf:
            proc = self.ns.spawn(argv, stdout=logf, stderr=subprocess.STDOUT)
        self.procs.append((name, proc, path))
        return proc

    def start_exporter(self, name, addr, web_config=None, config_text=""):
        config = self.write(f"{name}.yml", "poll:\n  interval: 1s\n" + config_text)
        argv = [self.exporter, "--config", config, "--web.listen-address", addr,
                "--log.level", "debug"]
        if web_config:
            argv += ["--web.config.file", web_config]
        proc = self.spawn(name, argv)
        host, port = addr.rsplit(":", 1)
        wait_for(lambda: proc.poll() is not None or
                 self.ns.run(["ss", "-Hltn", f"sport = :{port}"]).stdout.strip(),
                 15, f"{name} listening on {addr}")
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")
        return proc

    def tail(self, name, lines=30):
        for n, _, path in self.procs:
            if n == name:
                with open(path, encoding="utf-8", errors="replace") as f:
                    return "".join(f.readlines()[-lines:])
        return ""

    def log_text(self, name):
        for n, _, path in self.procs:
            if n == name:
                with open(path, encoding="utf-8", errors="replace") as f:
                    return f.read()
        return ""

    def stop_all(self):
        for name, proc, _ in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
                    raise AssertionError(f"{name} ignored SIGTERM")
            if name.startswith("exporter") and proc.returncode != 0:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")

    def dump_logs(self):
        for name, proc, path in self.procs:
            state = "running" if proc.poll() is None else f"exited {proc.returncode}"
            print(f"----- {name} ({state}), last lines of {path}:\n{self.tail(name)}",
                  file=sys.stderr)

    def curl(self, url, *args, ns=None):
        """curl inside the namespace: (http_code, server_seconds, headers, body, exit code).
        server_seconds: from the request sent to the first response byte (bcrypt shows here,
        the TLS handshake does not)."""
        hdr = os.path.join(self.tmp, "curl.headers")
        body = os.path.join(self.tmp, "curl.body")
        for p in (hdr, body):
            if os.path.exists(p):
                os.unlink(p)
        r = (ns or self.ns).run(["curl", "-sS", "--max-time", "15", "-D", hdr, "-o", body, "-w",
                                 "%{http_code} %{time_pretransfer} %{time_starttransfer}",
                                 *args, url])
        parts = (r.stdout.split() + ["000", "0", "0"])[:3]
        code, pre, first = int(parts[0]), float(parts[1]), float(parts[2])
        headers = open(hdr, errors="replace").read() if os.path.exists(hdr) else ""
        text = open(body, errors="replace").read() if os.path.exists(body) else ""
        return code, max(0.0, first - pre), headers, text, r.returncode


# ---------------------------------------------------------------------------------------------

def check_bad_web_configs(h, pki):
    good_hash = bcrypt("alice", "x", 4)
    tls = (f"tls_server_config:\n  cert_file: {pki.path('server.crt')}\n"
           f"  key_file: {pki.path('server.key')}\n")
    cases = [
        ("unknown key", "tls_server_config:\n  cert_fiel: server.crt\n",
         "tls_server_config.cert_fiel: unknown key"),
        ("bad min_version", tls + "  min_version: TLS14\n",
         "tls_server_config.min_version: unknown TLS version"),
        ("not bcrypt", "basic_auth_users:\n  alice: plaintext\n",
         "basic_auth_users.alice: not a bcrypt hash"),
        ("missing cert file", "tls_server_config:\n  cert_file: /nonexistent.crt\n"
         f"  key_file: {pki.path('server.key')}\n", "tls_server_config.cert_file: cannot read"),
        ("key of another cert", f"tls_server_config:\n  cert_file: {pki.path('server.crt')}\n"
         f"  key_file: {pki.path('client.key')}\n", "tls_server_config.key_file: the private key"),
        ("client CA without policy", tls + f"  client_ca_file: {pki.path('ca.crt')}\n",
         "tls_server_config.client_ca_file:"),
        ("unknown top-level key", f"basic_auth_users:\n  alice: {good_hash}\nbasic_auth: {{}}\n",
         "basic_auth: unknown key"),
    ]
    for i, (what, text, expected) in enumerate(cases):
        path = h.write(f"bad-web-{i}.yml", text)
        for extra in ([], ["--config.check"]):
            r = h.ns.run([h.exporter, "--web.config.file", path,
                          "--web.listen-address", "127.0.0.1:19499", *extra], timeout=20)
            assert r.returncode == 2, \
                f"{what} {extra}: exit {r.returncode}, want 2\n{r.stdout}{r.stderr}"
            assert expected in r.stderr, f"{what} {extra}: {expected!r} not in {r.stderr!r}"
        log(f"  bad web config ({what}): exit 2, {r.stderr.strip()}")
    r = h.ns.run([h.exporter, "--web.config.file", os.path.join(h.tmp, "missing.yml")])
    assert r.returncode == 2 and "missing.yml" in r.stderr, r.stderr
    good = h.write("good-web.yml", tls + f"basic_auth_users:\n  alice: {good_hash}\n")
    r = h.ns.run([h.exporter, "--web.config.file", good, "--config.check"])
    assert r.returncode == 0 and "web configuration" in r.stdout, r.stdout + r.stderr


def check_auth(h, pki, users):
    url = f"https://127.0.0.1:{PORT_AUTH}/metrics"
    ca = ["--cacert", pki.path("ca.crt")]

    def expect_401(what, *args):
        code, _, headers, _, _ = h.curl(url, *ca, *args)
        assert code == 401, f"{what}: HTTP {code}, want 401"
        assert 'www-authenticate: basic realm="tcpstate_exporter"' in headers.lower(), \
            f"{what}: no WWW-Authenticate in {headers!r}"
        log(f"  {what}: 401 with WWW-Authenticate")

    expect_401("no credentials")
    expect_401("wrong password", "-u", "alice:wrong")
    expect_401("unknown user", "-u", "mallory:" + users["alice"])
    expect_401("empty password", "-u", "alice:")
    expect_401("malformed header", "-H", "Authorization: Basic not-base64")
    expect_401("bearer token", "-H", "Authorization: Bearer abc")

    code, _, headers, body, _ = h.curl(url, *ca, "-u", "alice:" + users["alice"])
    assert code == 200, f"good login: HTTP {code}"
    samples = parse_exposition(body)
    assert value(samples, "tcpstate_build_info") == 1, "no tcpstate_build_info in the body"
    assert "x-content-type-options: nosniff" in headers.lower(), headers
    log(f"  good login over TLS (curl --cacert): 200, {len(samples)} samples, "
        "configured header sent")

    code, _, _, _, rc = h.curl(url, "-u", "alice:" + users["alice"])  # system CAs only
    assert code == 0 and rc == 60, f"without --cacert: HTTP {code}, curl exit {rc}, want 60"
    code, _, _, _, _ = h.curl(f"https://127.0.0.1:{PORT_AUTH}/", *ca)
    assert code == 401, f"landing page without credentials: {code}"
    code, _, _, _, _ = h.curl(f"https://127.0.0.1:{PORT_AUTH}/nope", *ca)
    assert code == 401, f"unknown path without credentials: {code} (must not reveal 404)"
    code, _, _, body, _ = h.curl(f"https://127.0.0.1:{PORT_AUTH}/healthz", *ca)
    assert code == 200 and body == "ok\n", f"/healthz without credentials: {code} {body!r}"
    wait_for(lambda: h.curl(f"https://127.0.0.1:{PORT_AUTH}/readyz", *ca)[0] == 200, 20,
             "/readyz 200 without credentials")
    log("  /healthz and /readyz without credentials: 200; / and unknown paths: 401")
    # The drill-down pages publish remote addresses: the same gate as /metrics.
    for page in ("/close_wait", "/time_wait?format=json"):
        code, _, _, _, _ = h.curl(f"https://127.0.0.1:{PORT_AUTH}{page}", *ca)
        assert code == 401, f"{page} without credentials: {code}"
        code, _, headers, body, _ = h.curl(f"https://127.0.0.1:{PORT_AUTH}{page}", *ca, "-u",
                                           "alice:" + users["alice"])
        assert code == 200 and "x-content-type-options: nosniff" in headers.lower(), \
            f"{page} with credentials: {code} {headers!r}"
        assert ('"page":"time_wait"' if "time_wait" in page else "CLOSE_WAIT") in body, body[:300]
    log("  /close_wait, /time_wait: 401 without credentials, 200 over TLS with them")


def check_timing(h, pki, users):
    """bcrypt shows in the server time: unknown users pay it too, cached logins do not."""
    url = f"https://127.0.0.1:{PORT_AUTH}/metrics"
    ca = ["--cacert", pki.path("ca.crt")]

    def server_time(*args, want):
        # The least of three: noise (a busy machine) only ever adds time.
        times = []
        for _ in range(3):
            code, t, _, _, _ = h.curl(url, *ca, *args)
            assert code == want, f"{args}: HTTP {code}, want {want}"
            times.append(t)
        return min(times)

    none = server_time(want=401)
    wrong = server_time("-u", "bob:wrong", want=401)
    unknown = server_time("-u", "nobody:wrong", want=401)
    first_ok = h.curl(url, *ca, "-u", "bob:" + users["bob"])  # bob's first login: bcrypt
    assert first_ok[0] == 200
    cached = server_time("-u", "bob:" + users["bob"], want=200)
    log(f"  server time: no credentials {none * 1000:.1f} ms, wrong password "
        f"{wrong * 1000:.1f} ms, unknown user {unknown * 1000:.1f} ms, first login "
        f"{first_ok[1] * 1000:.1f} ms, cached login {cached * 1000:.1f} ms (bcrypt cost {COST})")
    bcrypt_time = wrong - none
    assert bcrypt_time > 0.02, f"a wrong password cost only {bcrypt_time:.3f}s: no bcrypt?"
    assert unknown - none > 0.5 * bcrypt_time, \
        f"unknown user {unknown:.3f}s vs wrong password {wrong:.3f}s: user existence shows"
    assert first_ok[1] - none > 0.5 * bcrypt_time, "the first login did not run bcrypt?"
    assert cached < none + 0.5 * bcrypt_time, \
        f"cached login took {cached:.3f}s, bcrypt {bcrypt_time:.3f}s: not cached"


def check_in_flight(h, pki, users):
    """max_requests_in_flight 2 on this instance: a burst of wrong passwords (each a bcrypt
    run, one at a time) fills it; the rest get 503 at once. A cached login still passes."""
    base = {"host": "127.0.0.1", "port": PORT_AUTH, "tls": True, "cafile": pki.path("ca.crt")}
    # Half the burst on the drill-down pages: they count against the same cap.
    burst = [dict(base, authorization=basic("mallory", f"guess{i}"),
                  path="/close_wait" if i % 2 else "/metrics") for i in range(20)]
    cached = dict(base, authorization=basic("alice", users["alice"]))
    results = requests(h.ns, burst + [cached] * 3)
    codes = [r["status"] for r in results[:len(burst)]]
    fast_503 = [r["elapsed"] for r in results[:len(burst)] if r["status"] == 503]
    slow_401 = [r["elapsed"] for r in results[:len(burst)] if r["status"] == 401]
    log(f"  burst of {len(burst)} wrong passwords: codes {sorted(codes)}; 503 in "
        f"{max(fast_503, default=0) * 1000:.0f} ms at most, 401 up to "
        f"{max(slow_401, default=0) * 1000:.0f} ms; cached logins alongside: "
        f"{[r['status'] for r in results[len(burst):]]}")
    assert set(codes) <= {401, 503}, codes
    assert codes.count(503) >= 1, f"no 503 beyond the in-flight cap: {codes}"
    page_codes = [r["status"] for r, b in zip(results, burst) if b["path"] == "/close_wait"]
    assert 503 in page_codes, f"no 503 for the pages beyond the in-flight cap: {page_codes}"
    assert codes.count(401) >= 1, codes
    assert all(r["headers"].get("retry-after") == "1"
               for r in results[:len(burst)] if r["status"] == 503)
    assert max(fast_503) < max(slow_401), "503s were not answered before the bcrypt queue"
    assert all(r["status"] == 200 for r in results[len(burst):]), \
        f"cached logins during the burst: {[r['status'] for r in results[len(burst):]]}"


def check_plain_http_to_tls_port(h, pki, users):
    code, _, _, _, rc = h.curl(f"http://127.0.0.1:{PORT_AUTH}/metrics")
    assert code == 0 and rc != 0, f"plain HTTP to the TLS port answered HTTP {code}"
    raw = client(h.ns, {"kind": "requests", "requests": [
        {"host": "127.0.0.1", "port": PORT_AUTH, "tls": False, "timeout": 10}]})[0]
    assert raw["status"] == 0, raw
    code, _, _, _, _ = h.curl(f"https://127.0.0.1:{PORT_AUTH}/metrics", "--cacert",
                              pki.path("ca.crt"), "-u", "alice:" + users["alice"])
    assert code == 200, f"after plain HTTP attempts: HTTP {code}"
    log(f"  plain HTTP to the TLS port: no HTTP answer (curl exit {rc}), still serving TLS")


def check_mtls(h, pki):
    url = f"https://127.0.0.1:{PORT_MTLS}/metrics"
    ca = ["--cacert", pki.path("ca.crt")]
    cert = ["--cert", pki.path("client.crt"), "--key", pki.path("client.key")]
    code, _, _, _, _ = h.curl(url, *ca, *cert)
    assert code == 200, f"mTLS with the CA's client certificate: {code}"
    for what, args in [("no client certificate", []),
                       ("a foreign client certificate",
                        ["--cert", pki.path("foreign.crt"), "--key", pki.path("foreign.key")]),
                       ("TLS 1.2 (min_version TLS13)", cert + ["--tls-max", "1.2"])]:
        code, _, _, _, rc = h.curl(url, *ca, *args)
        assert code == 0 and rc != 0, f"mTLS with {what}: HTTP {code}"
        log(f"  mTLS: {what} refused (curl exit {rc})")
    log("  mTLS: the CA's client certificate over TLS 1.3: 200")


def check_binding(h):
    inside = client(h.ns, {"kind": "connect", "targets": [
        ["127.0.0.1", PORT_AUTH], [NS_ADDR, PORT_AUTH], [NS_ADDR, PORT_BOUND],
        ["127.0.0.1", PORT_BOUND]]})
    outside = client(h.peer, {"kind": "connect", "targets": [
        [NS_ADDR, PORT_AUTH], [NS_ADDR, PORT_BOUND]]})
    log(f"  connects inside the namespace: 127.0.0.1:{PORT_AUTH} {inside[0]}, "
        f"{NS_ADDR}:{PORT_AUTH} {inside[1]}, {NS_ADDR}:{PORT_BOUND} {inside[2]}, "
        f"127.0.0.1:{PORT_BOUND} {inside[3]}; from the peer: {NS_ADDR}:{PORT_AUTH} "
        f"{outside[0]}, {NS_ADDR}:{PORT_BOUND} {outside[1]}")
    assert inside == ["connected", "refused", "connected", "refused"], inside
    assert outside == ["refused", "connected"], outside
    listeners = h.ns.run(["ss", "-Hltn"]).stdout
    assert f"127.0.0.1:{PORT_AUTH} " in listeners and f"*:{PORT_AUTH} " not in listeners and \
        f"0.0.0.0:{PORT_AUTH} " not in listeners, listeners


def check_prometheus(h, pki, users, prometheus):
    data = os.path.join(h.tmp, "prometheus-data")
    job = ("    scheme: https\n    tls_config:\n      ca_file: {ca}\n"
           "    basic_auth:\n      username: prometheus\n      password: '{pw}'\n"
           "    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
    cfg = h.write("prometheus.yml",
                  "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
                  "  - job_name: secure\n" +
                  job.format(ca=pki.path("ca.crt"), pw=users["prometheus"], port=PORT_AUTH) +
                  "  - job_name: wrong_password\n" +
                  job.format(ca=pki.path("ca.crt"), pw="wrong", port=PORT_AUTH))
    proc = h.spawn("prometheus", [prometheus, f"--config.file={cfg}",
                                  f"--storage.tsdb.path={data}",
                                  f"--web.listen-address=127.0.0.1:{PORT_PROMETHEUS}",
                                  "--log.level=warn"])

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited {proc.returncode}:\n{h.tail('prometheus')}")
        q = urllib.parse.urlencode({"query": "up"})
        r = requests(h.ns, [{"host": "127.0.0.1", "port": PORT_PROMETHEUS, "tls": False,
                             "path": f"/api/v1/query?{q}"}])[0]
        if r["status"] != 200:
            return None
        got = {s["metric"]["job"]: s["value"][1]
               for s in json.loads(r["body"])["data"]["result"]}
        return got if len(got) == 2 else None

    got = wait_for(up, 60, "Prometheus to scrape both jobs", interval=1)
    # One scrape may have raced the start; wait for a settled answer.
    got = wait_for(lambda: (lambda g: g if g and g.get("secure") == "1" else None)(up()), 30,
                   f"up == 1 for the job with the right password (last {got})", interval=1)
    log(f"  Prometheus over https with basic_auth and tls_config.ca_file: up {got}")
    assert got == {"secure": "1", "wrong_password": "0"}, got
    proc.terminate()
    proc.wait(timeout=20)


def check_slowloris(h, pki, users, port, tls):
    scheme = "TLS" if tls else "plain HTTP"
    scrape = {"host": "127.0.0.1", "port": port, "tls": tls, "cafile": pki.path("ca.crt"),
              "authorization": basic("alice", users["alice"]), "timeout": 30}
    # Warm up: the scraper's login is cached from here on, as for a real Prometheus.
    warm = requests(h.ns, [scrape])[0]
    assert warm["status"] == 200, warm
    job = {"kind": "slowloris", "host": "127.0.0.1", "port": port, "tls": tls,
           "cafile": pki.path("ca.crt"), "connections": 2 * MAX_CONNECTIONS,
           "interval": 0.2, "settle": 1.0, "scrape": scrape}
    result = client(h.ns, job, timeout=120)
    s = result["scrape"]
    log(f"  slowloris over {scheme}: {job['connections']} trickling connections "
        f"(max_connections {MAX_CONNECTIONS}, request_timeout 3s, tricklers reconnect when "
        f"cut); a normal scrape got HTTP {s['status']} after {s['elapsed']:.2f}s; connections "
        f"cut by the server before/after it: {result['before_scrape']['cut']}/"
        f"{result['at_end']['cut']}")
    assert s["status"] == 200, f"scrape during slowloris over {scheme}: {s}"
    assert s["elapsed"] < SCRAPE_TIMEOUT, \
        f"scrape during slowloris over {scheme} took {s['elapsed']:.1f}s"
    assert result["at_end"]["cut"] >= MAX_CONNECTIONS // 2, \
        f"the server cut only {result['at_end']['cut']} trickling connections"
    assert h.procs and all(p.poll() is None for n, p, _ in h.procs if n.startswith("exporter"))
    return s["elapsed"]


def check_slow_handshake(h, pki):
    """A slow handshake leaves only what remains of request_timeout (one deadline from accept)
    for the headers, instead of getting request_timeout more."""
    result = client(h.ns, {"kind": "slow-handshake", "host": "127.0.0.1",
                           "port": PORT_SLOW_TLS, "cafile": pki.path("ca.crt"),
                           "chunks": 10, "seconds": 2.2, "watch": 5.0})
    assert result["handshake_s"] is not None and result["handshake_s"] > 1.8, result
    assert result["cut_after_handshake_s"] is not None, f"never cut: {result}"
    log(f"  a {result['handshake_s']:.1f}s handshake (request_timeout 3s from accept): cut "
        f"{result['cut_after_handshake_s'] * 1000:.0f} ms after it completed "
        f"({result['error']})")
    assert result["cut_after_handshake_s"] < 1.0, \
        f"cut {result['cut_after_handshake_s']:.1f}s after the handshake, not at once"
    fast = client(h.ns, {"kind": "slow-handshake", "host": "127.0.0.1",
                         "port": PORT_SLOW_TLS, "cafile": pki.path("ca.crt"),
                         "chunks": 2, "seconds": 0.2, "watch": 2.0})
    assert fast["cut_after_handshake_s"] is None or fast["cut_after_handshake_s"] > 1.5, \
        f"a quick handshake was cut: {fast}"


def check_certificate_renewal(h, pki, users):
    pki.make_leaf("server", "exporter-renewed", pki.ca,
                  f"subjectAltName=IP:127.0.0.1,IP:{NS_ADDR}\nextendedKeyUsage=serverAuth\n",
                  out="renewed")
    # Replace the files the web config names (key first: a new certificate with the old key
    # is rejected and the old pair kept until both are in place).
    for ext in ("key", "crt"):
        os.replace(pki.path(f"renewed.{ext}"), pki.path(f"server.{ext}"))
    req = {"host": "127.0.0.1", "port": PORT_AUTH, "tls": True, "cafile": pki.path("ca.crt"),
           "path": "/healthz"}
    got = wait_for(lambda: (lambda r: r if r["peer_cn"] == "exporter-renewed" else None)(
        requests(h.ns, [req])[0]), 10, "the renewed certificate to be served", interval=0.5)
    assert got["status"] == 200, got
    log("  renewed certificate and key files: served without a restart")


def check_sighup(h, pki, users, web_path, proc):
    url = f"https://127.0.0.1:{PORT_AUTH}/metrics"
    ca = ["--cacert", pki.path("ca.crt")]
    with open(web_path) as f:
        original = f.read()
    new_hash = bcrypt("alice", "changed-password")
    h.write(os.path.basename(web_path),
            original.replace(users["alice_hash"], new_hash))
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: h.curl(url, *ca, "-u", "alice:changed-password")[0] == 200, 10,
             "the new password to work after SIGHUP")
    assert h.curl(url, *ca, "-u", "alice:" + users["alice"])[0] == 401
    log("  SIGHUP: the changed password works, the old one gets 401")
    h.write(os.path.basename(web_path), original.replace(users["alice_hash"], "not-a-hash"))
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "web configuration reload rejected" in h.log_text("exporter-auth"), 10,
             "the bad web config to be rejected")
    assert h.curl(url, *ca, "-u", "alice:changed-password")[0] == 200
    log("  SIGHUP with a bad web config: rejected, the running users kept")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--client":
        return client_main()
    require_root()
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    exporter = os.path.abspath(sys.argv[1])
    prometheus = os.environ.get("PROMETHEUS") or shutil.which("prometheus")
    tools = {"curl": "curl", "openssl": "openssl", "htpasswd": "apache2-utils",
             "ss": "iproute2"}
    missing = [f"{t} (Debian: {pkg})" for t, pkg in tools.items() if not shutil.which(t)]
    if not prometheus:
        missing.append("prometheus (Debian: prometheus, or set PROMETHEUS)")
    if missing:
        # CI installs them (.ci/install-deps.sh): a missing tool is a failure, not a skip.
        print(f"FAIL: missing {', '.join(missing)}", file=sys.stderr)
        return 1

    def on_alarm(*_):
        raise TimeoutError(f"test still running after {OVERALL_TIMEOUT}s")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(OVERALL_TIMEOUT)
    tmp = tempfile.mkdtemp(prefix="tcpstate-secure-")
    try:
        with Netns("tcpstate-secure") as ns, Netns("tcpstate-peer") as peer:
            subprocess.run(["ip", "-n", ns.name, "link", "add", "vsec0", "type", "veth", "peer",
                            "name", "vsec1", "netns", peer.name], check=True)
            for n, dev, addr in [(ns.name, "vsec0", NS_ADDR), (peer.name, "vsec1", PEER_ADDR)]:
                subprocess.run(["ip", "-n", n, "addr", "add", f"{addr}/24", "dev", dev],
                               check=True)
                subprocess.run(["ip", "-n", n, "link", "set", dev, "up"], check=True)
            h = Harness(ns, peer, tmp, exporter)
            try:
                run_checks(h, prometheus)
                h.stop_all()
            except BaseException:
                h.dump_logs()
                raise
    finally:
        signal.alarm(0)
        shutil.rmtree(tmp, ignore_errors=True)
    log("secure endpoint end-to-end test passed")
    return 0


def run_checks(h, prometheus):
    pki = Pki(h.tmp)
    users = {"alice": "alice-secret", "bob": "bob-secret", "prometheus": "scrape-secret"}
    hashes = {u: bcrypt(u, p) for u, p in users.items()}
    users["alice_hash"] = hashes["alice"]
    tls = (f"tls_server_config:\n  cert_file: {pki.path('server.crt')}\n"
           f"  key_file: {pki.path('server.key')}\n")
    user_block = "basic_auth_users:\n" + "".join(f"  {u}: {hh}\n" for u, hh in hashes.items())

    log("bad web configurations")
    check_bad_web_configs(h, pki)

    auth_web = h.write("web-auth.yml", tls + user_block + "http_server_config:\n  headers:\n"
                                                          "    X-Content-Type-Options: nosniff\n")
    auth = h.start_exporter("exporter-auth", f"127.0.0.1:{PORT_AUTH}", auth_web,
                            "web:\n  max_requests_in_flight: 2\n")
    mtls_web = h.write("web-mtls.yml", tls + "  min_version: TLS13\n"
                       "  client_auth_type: RequireAndVerifyClientCert\n"
                       f"  client_ca_file: {pki.path('ca.crt')}\n")
    h.start_exporter("exporter-mtls", f"127.0.0.1:{PORT_MTLS}", mtls_web)
    h.start_exporter("exporter-bound", f"{NS_ADDR}:{PORT_BOUND}")
    slow_web = h.write("web-slow.yml", tls + user_block)
    slow_plain_web = h.write("web-slow-plain.yml", user_block)
    limits = f"web:\n  max_connections: {MAX_CONNECTIONS}\n"
    h.start_exporter("exporter-slow-tls", f"127.0.0.1:{PORT_SLOW_TLS}", slow_web, limits)
    h.start_exporter("exporter-slow-plain", f"127.0.0.1:{PORT_SLOW_PLAIN}", slow_plain_web,
                     limits)

    log("TLS + basic auth")
    check_auth(h, pki, users)
    log("bcrypt timing and cache")
    check_timing(h, pki, users)
    log("in-flight cap")
    check_in_flight(h, pki, users)
    log("plain HTTP to the TLS port")
    check_plain_http_to_tls_port(h, pki, users)
    log("mutual TLS")
    check_mtls(h, pki)
    log("binding")
    check_binding(h)
    log("Prometheus")
    check_prometheus(h, pki, users, prometheus)
    log("slowloris")
    check_slowloris(h, pki, users, PORT_SLOW_TLS, tls=True)
    check_slowloris(h, pki, users, PORT_SLOW_PLAIN, tls=False)
    check_slow_handshake(h, pki)
    log("certificate renewal")
    check_certificate_renewal(h, pki, users)
    log("SIGHUP")
    check_sighup(h, pki, users, auth_web, auth)


if __name__ == "__main__":
    sys.exit(main())
