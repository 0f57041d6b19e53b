#!/usr/bin/env python3
"""Concurrency test: many parallel scrapes while polls publish snapshots.

In a fresh network namespace: a sockpop population, the exporter in serve
mode polling every 100 ms, and one Python process inside the namespace with
THREADS threads, each doing sequential GETs of /metrics, SCRAPES in all.
Every scrape must answer 200 with a complete exposition (every line parses,
the body ends with a newline and holds the same metric families, ending with
the same last family, as a reference scrape); polls must keep succeeding
while it runs; `promtool check metrics` must accept a sample. Built with
ThreadSanitizer (TSAN_OPTIONS halt_on_error=1 exitcode=66), the exporter
must then stop on SIGTERM with status 0 and no ThreadSanitizer report.

Usage: concurrency_test.py EXPORTER SOCKPOP [--threads 50] [--scrapes 2000]
       concurrency_test.py --scraper URL THREADS SCRAPES OUTDIR   (internal)
Exit: 0 pass, 1 fail, 77 skip (not root).
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import re
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_util import Netns, parse_exposition, require_root, value, wait_for  # noqa: E402

PORT = 19941
BASE_PORT = 22000


def families(body):
    """Metric family names in order of their # TYPE lines."""
    return [line.split()[2] for line in body.splitlines() if line.startswith("# TYPE ")]


def get(host, port, path, timeout=30):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, resp.getheader("Content-Length"), body
    finally:
        conn.close()


POLLS_RE = re.compile(rb'^tcpstate_polls_total\{result="success"\} (\S+)$', re.M)


def scraper_main(url, threads, scrapes, outdir, min_polls=10, max_seconds=120):
    """Runs inside the namespace: THREADS threads share SCRAPES GETs, and go
    on (up to 3 x SCRAPES GETs or MAX_SECONDS) until the bodies show that at
    least MIN_POLLS polls were published while they ran: a poll slowed down by
    a busy host must not shrink the window in which scrapes and publication
    race."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    port = int(port)
    status, _, body = get(host, port, "/metrics")
    if status != 200:
        print(f"reference scrape answered {status}", file=sys.stderr)
        return 1
    reference = families(body.decode())
    with open(os.path.join(outdir, "reference.prom"), "wb") as f:
        f.write(body)
    lock = threading.Lock()
    failures = []
    latencies = []
    next_index = [0]
    saved = [False]
    polls_seen = []
    deadline = time.monotonic() + max_seconds

    def check(body_bytes, length_header):
        if length_header is not None and int(length_header) != len(body_bytes):
            return f"Content-Length {length_header} but {len(body_bytes)} bytes"
        text = body_bytes.decode("utf-8")
        if not text.endswith("\n"):
            return "body does not end with a newline"
        try:
            parse_exposition(text)
        except AssertionError as e:
            return str(e)
        got = families(text)
        if got != reference:
            return f"families differ from the reference: {len(got)} vs {len(reference)}"
        return None

    def worker():
        while True:
            with lock:
                window = max(polls_seen) - min(polls_seen) if polls_seen else 0
                enough = next_index[0] >= scrapes and window >= min_polls
                if (enough or next_index[0] >= 3 * scrapes or len(failures) > 20
                        or time.monotonic() > deadline):
                    return
                next_index[0] += 1
            start = time.monotonic()
            try:
                status, length, body_bytes = get(host, port, "/metrics")
            except Exception as e:  # connection refused, reset, timeout
                with lock:
                    failures.append(f"request failed: {e!r}")
                continue
            elapsed = time.monotonic() - start
            problem = (f"status {status}" if status != 200 else check(body_bytes, length))
            m = POLLS_RE.search(body_bytes) if status == 200 else None
            with lock:
                if m:
                    polls_seen.append(float(m.group(1)))
                latencies.append(elapsed)
                if problem:
                    failures.append(problem)
                elif not saved[0]:
                    saved[0] = True
                    with open(os.path.join(outdir, "sample.prom"), "wb") as f:
                        f.write(body_bytes)

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.monotonic() - started
    latencies.sort()
    result = {
        "scrapes": len(latencies) + sum(1 for f in failures if f.startswith("request failed")),
        "ok": len(latencies) - sum(1 for f in failures if not f.startswith("request failed")),
        "failures": failures[:20],
        "failure_count": len(failures),
        "wall_seconds": wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
        "max_ms": 1000 * latencies[-1] if latencies else None,
        "polls_seen": (max(polls_seen) - min(polls_seen)) if polls_seen else 0,
        "families": len(reference),
        "last_family": reference[-1] if reference else None,
    }
    with open(os.path.join(outdir, "result.json"), "w") as f:
        json.dump(result, f)
    return 0


def write_config(path, exporter, with_in_flight):
    web = f"  listen_address: 127.0.0.1:{PORT}\n  max_connections: 64\n"
    if with_in_flight:
        web += "  max_requests_in_flight: 64\n"
    with open(path, "w") as f:
        f.write("web:\n" + web + "poll:\n  interval: 100ms\nlog:\n  level: warn\n")
    return subprocess.run([exporter, "--config", path, "--config.check"],
                          capture_output=True, text=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--scraper":
        sys.exit(scraper_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]))
    parser = argparse.ArgumentParser()
    parser.add_argument("exporter")
    parser.add_argument("sockpop")
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--scrapes", type=int, default=2000)
    args = parser.parse_args()
    require_root()

    tmp = tempfile.mkdtemp(prefix="tcpstate-conc-")
    try:
        config = os.path.join(tmp, "exporter.yml")
        # web.max_requests_in_flight arrived with the hardened HTTP server;
        # older binaries reject the key. Either way 50 scrapers must fit.
        check = write_config(config, args.exporter, True)
        if check.returncode != 0 and "max_requests_in_flight" in check.stderr:
            check = write_config(config, args.exporter, False)
        assert check.returncode == 0, f"config rejected: {check.stderr}"

        with Netns("tcpstate-conc") as ns:
            ready = os.path.join(tmp, "ready")
            ns.spawn([args.sockpop, "--family", "both", "--port", str(BASE_PORT),
                      "--listen", "2", "--established", "50", "--close-wait", "20",
                      "--time-wait", "20", "--ready-file", ready, "--hold-seconds", "600"],
                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
            wait_for(lambda: os.path.exists(ready) and open(ready).read().strip(), 60,
                     "sockpop READY")

            env = dict(os.environ)
            env["TSAN_OPTIONS"] = ("halt_on_error=1 exitcode=66 second_deadlock_stack=1 " +
                                   env.get("TSAN_OPTIONS", "")).strip()
            stderr_path = os.path.join(tmp, "exporter.stderr")
            stderr = open(stderr_path, "w")
            exporter = ns.spawn([args.exporter, "--config", config], env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)

            def ready_now():
                if exporter.poll() is not None:
                    raise AssertionError(f"exporter exited with {exporter.returncode}: "
                                         + open(stderr_path).read()[-4000:])
                r = ns.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            f"http://127.0.0.1:{PORT}/readyz"], timeout=30)
                return r.stdout.strip() == "200"
            wait_for(ready_now, 60, "exporter ready")

            def polls():
                r = ns.run(["curl", "-s", f"http://127.0.0.1:{PORT}/metrics"], timeout=30)
                samples = parse_exposition(r.stdout)
                last_poll_ms[0] = 1000 * (value(samples, "tcpstate_poll_duration_seconds") or 0)
                return value(samples, "tcpstate_polls_total", result="success") or 0
            last_poll_ms = [0.0]
            idle_start = time.monotonic()
            idle_before = polls()
            time.sleep(1.0)
            polls_before = polls()
            idle_rate = (polls_before - idle_before) / (time.monotonic() - idle_start)
            print(f"idle: {idle_rate:.1f} polls/s, last poll took {last_poll_ms[0]:.1f} ms")

            outdir = os.path.join(tmp, "out")
            os.makedirs(outdir)
            started = time.monotonic()
            run = ns.run([sys.executable, os.path.abspath(__file__), "--scraper",
                          f"http://127.0.0.1:{PORT}/metrics", str(args.threads),
                          str(args.scrapes), outdir], timeout=600)
            wall = time.monotonic() - started
            assert run.returncode == 0, f"scraper failed: {run.stdout}{run.stderr}"
            result = json.load(open(os.path.join(outdir, "result.json")))
            polls_after = polls()
            print(f"scrapes: {result['ok']} of {result['scrapes']} OK in {result['wall_seconds']:.1f}s "
                  f"with {args.threads} threads; latency p50 {result['p50_ms']:.1f} ms, "
                  f"p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms; "
                  f"{result['families']} families, last {result['last_family']}")
            print(f"polls published during the scrapes: {result['polls_seen']:.0f} "
                  f"({polls_after - polls_before:.0f} between the checks around them, "
                  f"{wall:.1f}s at 100 ms); last poll took {last_poll_ms[0]:.1f} ms")

            if shutil.which("promtool"):
                lint = subprocess.run(["promtool", "check", "metrics"],
                                      stdin=open(os.path.join(outdir, "sample.prom")),
                                      capture_output=True, text=True)
                assert lint.returncode == 0, f"promtool check metrics: {lint.stdout}{lint.stderr}"
                print("promtool check metrics: sample accepted")
            else:
                print("promtool not found: lint skipped")

            exporter.send_signal(signal.SIGTERM)
            try:
                code = exporter.wait(timeout=60)
            except subprocess.TimeoutExpired:
                exporter.kill()
                raise AssertionError("exporter did not stop within 60 s of SIGTERM")
            stderr.close()
            log = open(stderr_path).read()
            races = log.count("WARNING: ThreadSanitizer")
            print(f"exporter exit status {code}; ThreadSanitizer reports: {races}")

            problems = []
            if result["failure_count"]:
                problems.append(f"{result['failure_count']} bad scrapes, e.g. {result['failures'][:5]}")
            if result["ok"] < args.scrapes or result["ok"] != result["scrapes"]:
                problems.append(f"{result['ok']} good scrapes of {result['scrapes']}")
            if result["polls_seen"] < 10:
                problems.append(f"only {result['polls_seen']:.0f} polls published during the "
                                f"scrapes (last poll took {last_poll_ms[0]:.1f} ms): the race "
                                "window was too small")
            if code != 0 or races:
                problems.append(f"exporter exit status {code}, {races} ThreadSanitizer report(s):\n"
                                + log[-8000:])
            assert not problems, "\n".join(problems)
        print("concurrency test passed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
