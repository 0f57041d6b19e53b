#!/usr/bin/env python3
"""Warm-poll CPU per poll of two exporters, interleaved in one run (issue 13's cost check).

In a fresh network namespace, sockpop holds 6 x 10,000 sockets (30,000 ESTABLISHED,
15,000 CLOSE_WAIT, 15,000 FIN_WAIT2 over 6 processes: the hard RLIMIT_NOFILE here is
20,000). Each round runs BEFORE then AFTER (the order alternates between rounds) as a
long-running exporter polling every second: 6 s of warm-up (the cold poll), then 24 s
measured. CPU per poll = utime + stime from /proc/PID/stat over the measurement divided by
the successful polls counted by the exporter itself. Prints every round and the medians.

Usage (root): bench/warm_poll_ab.py BEFORE_EXPORTER AFTER_EXPORTER SOCKPOP [ROUNDS]
"""
import os, re, subprocess, sys, time, urllib.request
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from netns_util import Netns, scrape, wait_for
before, after, sockpop = sys.argv[1], sys.argv[2], sys.argv[3]
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
TCK = os.sysconf("SC_CLK_TCK")
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
def polls(ns, port):
    t = scrape(ns, f"http://127.0.0.1:{port}/metrics")
    return sum(float(m) for m in re.findall(r'^tcpstate_polls_total\{result="success"\} (\S+)', t, re.M))
with Netns("tcpstate-cost") as ns:
    ready = "/tmp/warm_poll_ab.ready"
    if os.path.exists(ready): os.unlink(ready)
    ns.spawn([sockpop, "--procs", "6", "--established", "15000", "--close-wait", "15000",
              "--port", "22000", "--ready-file", ready, "--hold-seconds", "900"],
             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    print(wait_for(lambda: os.path.exists(ready) and open(ready).read().strip(), 120, "ready"), flush=True)
    cfg = "/tmp/warm_poll_ab.yml"
    open(cfg, "w").write("poll:\n  interval: 1s\nlog:\n  level: warn\n")
    res = {"before": [], "after": []}
    for r in range(rounds):
        order = (("before", before), ("after", after))
        for name, exe in (order if r % 2 == 0 else order[::-1]):
            p = ns.spawn([exe, "--config", cfg, "--web.listen-address", "127.0.0.1:19977"])
            time.sleep(6)  # cold poll + warm-up
            c0, n0 = cpu(p.pid), polls(ns, 19977)
            time.sleep(24)
            c1, n1 = cpu(p.pid), polls(ns, 19977)
            p.terminate(); p.wait()
            ms = (c1 - c0) / TCK * 1000 / (n1 - n0)
            res[name].append(ms)
            print(f"round {r} {name}: {ms:.1f} ms CPU/poll over {n1-n0:.0f} polls", flush=True)
    import statistics
    b, a = statistics.median(res["before"]), statistics.median(res["after"])
    print(f"median before {b:.1f} ms, after {a:.1f} ms, change {100*(a-b)/b:+.1f}%")
