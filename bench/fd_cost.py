#!/usr/bin/env python3
"""Warm-poll cost of the per-process fd figures and the snmp Tcp counters (issue 13, items
1 and 5): CPU per poll of this tree's exporter and of a --before exporter, attribution on,
at the population of bench/attr_churn.py's scenario B without churn (100,000 held sockets
over 6 processes of 16,666; the hard RLIMIT_NOFILE of these machines is 20,000), in one
network namespace, loopback only. The two exporters run in alternation, ROUNDS times, in the
same population; CPU per poll = (utime + stime from /proc/PID/stat) / polls, over `seconds`
after 6 s of warm-up (attr_churn.measure). Prints each round and the medians.

Usage (root): bench/fd_cost.py --before /path/to/exporter-of-main
              [--exporter build/tcpstate_exporter] [--seconds 20] [--rounds 4]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attr_churn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--exporter", default=os.path.join(ROOT, "build", "tcpstate_exporter"))
    ap.add_argument("--before", required=True)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    procs, held, _ = attr_churn.SCENARIOS["B"]
    ns = f"tbfd-{os.getpid()}"
    attr_churn.sh("ip", "netns", "add", ns)
    holders = []
    cpu = {"before": [], "after": []}
    try:
        attr_churn.sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        total_seconds = 120 + args.rounds * 2 * (args.seconds + 12)
        for i in range(procs):
            ready = f"/dev/shm/tcpstate-bench-fd-{os.getpid()}-{i}.ready"
            p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable,
                                  os.path.join(ROOT, "bench", "attr_churn.py"), "--holder",
                                  str(held), "0", ready, str(total_seconds)])
            holders.append((p, ready))
        deadline = time.monotonic() + 300
        for p, ready in holders:
            while not os.path.exists(ready):
                if p.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"holder in {ns} did not become ready")
                time.sleep(0.1)
        for r in range(args.rounds):
            order = [("before", args.before), ("after", args.exporter)]
            if r % 2:
                order.reverse()  # neither always runs first
            for what, exe in order:
                c, links, polls, rss, _ = attr_churn.measure(exe, ns, True, args.seconds)
                cpu[what].append(c)
                print(f"round {r + 1}: {what}: {c * 1000:.1f} ms CPU/poll ({polls} polls, "
                      f"{links:.0f} fd links/poll, peak RSS {rss} MB)", flush=True)
    finally:
        for p, ready in holders:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
            if os.path.exists(ready):
                os.unlink(ready)
        subprocess.run(["ip", "netns", "del", ns])
    b, a = statistics.median(cpu["before"]), statistics.median(cpu["after"])
    print(f"median CPU per poll: before {b * 1000:.1f} ms, after {a * 1000:.1f} ms, "
          f"after/before {a / b:.3f}")


if __name__ == "__main__":
    main()
