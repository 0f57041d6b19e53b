#!/usr/bin/env python3
"""Mode `all` on a simulated Kubernetes node: CPU per poll of the exporter with N idle pod
network namespaces (10, 40, 110; each one sockpop with a listener and one connection)
beside a large population in another namespace, with the pods sharing the node's
established socket hash (the kernel default) and with a hash of their own
(net.ipv4.tcp_child_ehash_entries=1024 while they are created). Writes the section between
the `pods:begin` / `pods:end` markers of docs/benchmarks.md.

The exporter runs inside the large namespace, so its poll thread reads that one and the
namespace thread ("tcpstate-netns") reads the node's and the pods'. CPU per poll =
(utime + stime over the measurement) / polls made, for the whole process and for the
namespace thread; poll interval 1 s, attribution on. Per-pod overhead = (namespace
thread's CPU per poll with N pods - with no pods) / N: the kernel's walk and all our
per-namespace work (setns, sysctls, counters, dump, aggregation), without the large
population's noise.

Usage (root): bench/pods.py [--exporter build/tcpstate_exporter] [--sockpop ...]
              [--big-sockets 240000] [--pods 10,40,110] [--seconds 20] [--no-write]
"""
import argparse
import os
import re
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


NETNS = [None]  # where the exporter runs (its loopback serves /metrics)


def sh(*argv):
    return subprocess.run(list(argv), check=True, capture_output=True, text=True).stdout


class Node:
    def __init__(self, sockpop, tag):
        self.sockpop, self.tag = sockpop, tag
        self.procs, self.namespaces = [], []

    def netns(self, name, own_hash=False):
        old = sh("sysctl", "-n", "net.ipv4.tcp_child_ehash_entries").strip()
        if own_hash:
            sh("sysctl", "-q", "-w", "net.ipv4.tcp_child_ehash_entries=1024")
        try:
            sh("ip", "netns", "add", name)
        finally:
            sh("sysctl", "-q", "-w", f"net.ipv4.tcp_child_ehash_entries={old}")
        self.namespaces.append(name)
        sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        return name

    def populate(self, ns, args, timeout=300):
        ready = f"/dev/shm/tcpstate-bench-pods-{self.tag}-{ns}.ready"
        p = subprocess.Popen(["ip", "netns", "exec", ns, self.sockpop, "--ready-file", ready,
                              "--hold-seconds", "3000"] + args, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append((p, ready))
        deadline = time.monotonic() + timeout
        while not os.path.exists(ready):
            if p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"sockpop in {ns} did not become ready")
            time.sleep(0.05)

    def remove(self, names):
        for p, ready in list(self.procs):
            if any(f"-{n}.ready" in ready for n in names):
                p.stdin.close()
                p.terminate()
                p.wait(timeout=30)
                os.unlink(ready)
                self.procs.remove((p, ready))
        for n in names:
            subprocess.run(["ip", "netns", "del", n])
            self.namespaces.remove(n)

    def close(self):
        for p, ready in self.procs:
            try:
                p.stdin.close()
                p.terminate()
                p.wait(timeout=30)
            except Exception:  # noqa: BLE001 - cleanup goes on
                p.kill()
            if os.path.exists(ready):
                os.unlink(ready)
        for n in self.namespaces:
            subprocess.run(["ip", "netns", "del", n])


def cpu_seconds(pid, thread=None):
    path = f"/proc/{pid}/stat"
    if thread:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() == thread:
                    path = f"/proc/{pid}/task/{tid}/stat"
                    break
        else:
            return 0.0
    f = open(path).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def polls(port):
    text = subprocess.run(["ip", "netns", "exec", NETNS[0], "python3", "-c",
                           "import sys,urllib.request;sys.stdout.write(urllib.request.urlopen("
                           f"'http://127.0.0.1:{port}/metrics',timeout=60).read().decode())"],
                          capture_output=True, text=True, timeout=90)
    if text.returncode != 0:
        raise OSError(text.stderr)
    text = text.stdout
    return sum(float(l.split()[-1]) for l in text.splitlines()
               if l.startswith("tcpstate_polls_total")), text


def measure(exporter, seconds, netns, port=19941):
    cfg = f"/dev/shm/tcpstate-bench-pods-{os.getpid()}.yml"
    with open(cfg, "w") as f:
        f.write(f"namespaces:\n  mode: all\n  pod_names: none\npoll:\n  interval: 1s\n"
                f"web:\n  listen_address: 127.0.0.1:{port}\nlog:\n  level: error\n")
    e = subprocess.Popen(["ip", "netns", "exec", netns, exporter, "--config", cfg],
                         stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                polls(port)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(4)  # first polls: cold owner cache
        c0, t0, (p0, _) = cpu_seconds(e.pid), cpu_seconds(e.pid, "tcpstate-netns"), polls(port)
        time.sleep(seconds)
        c1, t1, (p1, text) = cpu_seconds(e.pid), cpu_seconds(e.pid, "tcpstate-netns"), polls(port)
        read = re.search(r"^tcpstate_netns_read (\S+)", text, re.M)
        made = max(1, p1 - p0)
        return ((c1 - c0) / made, (t1 - t0) / made, int(p1 - p0),
                int(float(read.group(1)) if read else 0))
    finally:
        e.terminate()
        e.wait(timeout=30)
        os.unlink(cfg)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--exporter", default=os.path.join(ROOT, "build", "tcpstate_exporter"))
    ap.add_argument("--sockpop", default=os.path.join(ROOT, "build", "tools", "sockpop", "sockpop"))
    ap.add_argument("--big-sockets", type=int, default=240000)
    ap.add_argument("--pods", default="10,40,110")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces, sysctl)")
    counts = [int(n) for n in args.pods.split(",")]
    tag = os.getpid()
    node = Node(args.sockpop, tag)
    rows = []
    try:
        log = lambda m: print(m, flush=True)  # noqa: E731
        big = node.netns(f"tbp-big-{tag}")
        NETNS[0] = big
        conns = args.big_sockets // 4  # established pairs + close-wait pairs
        node.populate(big, ["--procs", "14", "--established", str(conns), "--close-wait",
                            str(conns), "--sources", "8"])
        alone, alone_thread, _, _ = measure(args.exporter, args.seconds, big)
        log(f"{args.big_sockets} sockets and no pods: {alone * 1000:.1f} ms/poll, namespace "
            f"thread {alone_thread * 1000:.1f} ms/poll")
        for own in (True, False):
            pods = []
            for n in counts:
                while len(pods) < n:
                    ns = node.netns(f"tbp-pod{len(pods)}-{tag}", own_hash=own)
                    node.populate(ns, ["--established", "1"])
                    pods.append(ns)
                cpu, thread, made, read = measure(args.exporter, args.seconds, big)
                per_pod = (thread - alone_thread) / n
                rows.append((n, "own" if own else "shared", cpu, per_pod, made, read))
                log(f"{n} pods, {'own' if own else 'shared'} hash: {cpu * 1000:.1f} ms/poll, "
                    f"{per_pod * 1000:.2f} ms per pod ({made} polls, {read} namespaces read)")
            node.remove(pods)
    finally:
        node.close()
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    lines = [
        "## Mode `all`: idle pods beside a large population (bench/pods.py)",
        "",
        f"Exporter at {rev}; one namespace with {args.big_sockets:,} sockets "
        f"(established and CLOSE_WAIT), N idle pod namespaces (one sockpop each: a listener "
        f"and one connection), attribution on, poll interval 1 s, {args.seconds} s per row; "
        "the exporter runs in the large namespace. Without pods: "
        f"{alone * 1000:.1f} ms CPU per poll, {alone_thread * 1000:.1f} ms of it on the "
        "namespace thread (the node's namespace). Per idle pod = (namespace thread's CPU per "
        "poll - that) / N. CPU time comes in clock ticks (10 ms), and the node's own namespace "
        "varies by a few ms per poll: a row of P polls resolves about 10 ms / (P x N) per pod, "
        "so figures near zero (or slightly negative) mean below that noise.",
        "",
        "| pods | socket hash of the pods | CPU per poll (process) | per idle pod | polls |",
        "|---|---|---|---|---|",
    ]
    for n, hash_kind, cpu, per_pod, made, _ in rows:
        lines.append(f"| {n} | {hash_kind} | {cpu * 1000:.1f} ms | {per_pod * 1000:.2f} ms | {made} |")
    lines += ["", "Run with: `sudo bench/pods.py` (writes this section).", ""]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        path = os.path.join(ROOT, "docs", "benchmarks.md")
        text = open(path).read()
        block = f"<!-- pods:begin -->\n{section}<!-- pods:end -->"
        if "<!-- pods:begin -->" in text:
            text = re.sub(r"<!-- pods:begin -->.*?<!-- pods:end -->", lambda _: block, text,
                          flags=re.S)
        else:
            text = text.replace("## Commands", block + "\n\n## Commands", 1)
        open(path, "w").write(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
