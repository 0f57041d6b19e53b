#!/usr/bin/env python3
"""Listen addresses over IPv4 and IPv6, in a fresh network namespace (loopback only):

  * the DaemonSet's exact arguments (tests/e2e/pod_util.py DaemonSetRun) with $(HOST_IP)
    expanded to an IPv6 address (::1, as status.hostIP reads on an IPv6-only node) and to
    an IPv4 one (127.0.0.1): the exporter serves /metrics there;
  * ":P" is dual stack (reachable on 127.0.0.1 and ::1); "[::1]:P" is IPv6 loopback only;
    --web.listen-address given twice serves both;
  * a link-local address with its zone, "[fe80::1%lo]:P" (fe80::1/64 added to the
    namespace's lo): served there, on that interface only (not on ::1);
  * --config.check fails, naming the address and the reason, on an address that does not
    parse (an unbracketed IPv6 host) or cannot be bound (not an address of this host).

Needs root (exit 77 = skipped otherwise). Usage: listen_ipv6_test.py EXPORTER
"""

import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_util import Netns, fetch, log, require_root, wait_for  # noqa: E402
from pod_util import DaemonSetRun  # noqa: E402

PORT = 19471


def url(host, port, path="/metrics"):
    return f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"


def serves(ns, host, port):
    status, _ = fetch(ns, url(host, port, "/healthz"))
    return status == 200


LINK_LOCAL_GET = r"""
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    print(s.recv(100).split(b"\r\n")[0].decode())
except OSError as e:
    print(f"error {e}")
"""


def get_scoped(ns, host, port):
    """The status line of GET /healthz on host (which may carry a %zone), or 'error ...'."""
    return ns.run([sys.executable, "-c", LINK_LOCAL_GET, host, str(port)], timeout=30).stdout.strip()


def start(ns, argv):
    proc = ns.spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc


def stop(proc):
    proc.terminate()
    proc.wait(timeout=10)


def main():
    require_root()
    exporter = sys.argv[1]
    ds = DaemonSetRun()
    with Netns("tcpstate-ipv6") as ns:
        for host in ["::1", "127.0.0.1"]:
            argv = ds.argv(exporter, PORT, host_ip=host)
            log(f"DaemonSet arguments with HOST_IP={host}: {argv[1:]}")
            proc = start(ns, argv)
            wait_for(lambda: proc.poll() is not None or serves(ns, host, PORT), 15,
                     f"the exporter on {host}")
            assert proc.poll() is None, f"exited {proc.returncode}: {proc.stderr.read()}"
            # /metrics is empty until the first poll has published (mode all reads every
            # namespace first): wait for it, bounded.
            status, body = wait_for(
                lambda: (lambda r: r if r[0] == 200 and b"tcpstate_" in r[1] else None)(
                    fetch(ns, url(host, PORT))), 15, f"metrics on {host}",
                state=lambda: fetch(ns, url(host, PORT)))
            stop(proc)

        proc = start(ns, [exporter, "--web.listen-address", f":{PORT}"])
        wait_for(lambda: proc.poll() is not None or serves(ns, "127.0.0.1", PORT), 15,
                 "the exporter on :PORT")
        assert serves(ns, "::1", PORT), ":PORT is not dual stack (no answer on ::1)"
        listeners = ns.run(["ss", "-Hltn"]).stdout
        assert f"*:{PORT} " in listeners, listeners
        stop(proc)
        log(f"  :{PORT} answers on 127.0.0.1 and ::1 (one socket: {listeners.split()[3]})")

        proc = start(ns, [exporter, "--web.listen-address", f"[::1]:{PORT}",
                          "--web.listen-address", f"127.0.0.1:{PORT + 1}"])
        wait_for(lambda: proc.poll() is not None or serves(ns, "::1", PORT), 15,
                 "the exporter on [::1]:PORT")
        assert serves(ns, "127.0.0.1", PORT + 1), "second --web.listen-address not served"
        status, _ = fetch(ns, url("127.0.0.1", PORT, "/healthz"))
        assert status == 0, f"[::1]:{PORT} also answered on 127.0.0.1"
        stop(proc)
        log("  [::1]:P only on ::1; two --web.listen-address flags both served")

        ns.run(["ip", "addr", "add", "fe80::1/64", "dev", "lo"], check=True)
        proc = start(ns, [exporter, "--web.listen-address", f"[fe80::1%lo]:{PORT}"])
        wait_for(lambda: proc.poll() is not None or
                 get_scoped(ns, "fe80::1%lo", PORT) == "HTTP/1.1 200 OK", 15,
                 "the exporter on [fe80::1%lo]:PORT")
        assert proc.poll() is None, f"exited {proc.returncode}: {proc.stderr.read()}"
        assert get_scoped(ns, "::1", PORT).startswith("error"), "fe80::1%lo answered on ::1"
        listeners = ns.run(["ss", "-Hltn"]).stdout
        assert f"[fe80::1]%lo:{PORT} " in listeners, listeners
        stop(proc)
        log("  [fe80::1%lo]:P served on fe80::1 of lo only")

        for address, reason in [(f"::1:{PORT}", "must be bracketed"),
                                (f"[2001:db8::1]:{PORT}", "not an address of this host"),
                                (f"192.0.2.1:{PORT}", "not an address of this host")]:
            r = ns.run([exporter, "--web.listen-address", address, "--config.check"])
            assert r.returncode == 2 and address in r.stderr and reason in r.stderr, \
                (address, r.returncode, r.stderr)
            log(f"  --config.check {address}: {r.stderr.strip()}")
        r = ns.run([exporter, "--web.listen-address", f"[::1]:{PORT}", "--config.check"])
        assert r.returncode == 0, r.stderr
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
