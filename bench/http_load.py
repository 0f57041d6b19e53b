#!/usr/bin/env python3
"""The HTTP endpoint under load (issue 11): scrape latency of one exporter binary, or of a
"before" and an "after" binary side by side, in these scenarios (each on a fresh exporter in
a network namespace of its own, loopback, IPv4, plain HTTP, the configuration's defaults
except `web.request_timeout: 30s` so that a flood outlives the scrapes on both servers, and
`poll.interval: 1m`):

  none       200 scrapes, nothing else connected;
  idle       10,000 idle connections open (never send a byte), then 200 scrapes;
  slow       200 clients trickling request header bytes, one every 100 ms, then 200 scrapes;
  scrapers   20 concurrent scrapers, 1,000 scrapes in all;
  memory     VmRSS with 10,000 idle connections, plain HTTP and TLS (after binary only).

A scrape is a fresh connection, GET /metrics, the whole body (tests/e2e/http_load.py); one
that gets no answer within 10 s (Prometheus' default scrape timeout) counts as failed, and
no new scrape starts 60 s after the first. Latencies are of the answered ones. Writes the
section between the `http:begin` / `http:end` markers of docs/benchmarks.md.

Usage (root): bench/http_load.py [--after build/tcpstate_exporter]
              [--before /tmp/before/tcpstate_exporter] [--scenarios none,idle,slow,scrapers,memory]
              [--no-write]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from http_load import LoadClient, vm_rss_kib  # noqa: E402
from netns_util import Netns, fetch, fetch_all  # noqa: E402

PORT = 19951
IDLE, SLOW, SCRAPES, SCRAPERS, SCRAPERS_TOTAL = 10_000, 200, 200, 20, 1_000


def self_signed(tmp):
    crt, key = os.path.join(tmp, "server.crt"), os.path.join(tmp, "server.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days",
                    "2", "-subj", "/CN=bench", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    web = os.path.join(tmp, "web.yml")
    with open(web, "w") as f:
        f.write(f"tls_server_config:\n  cert_file: {crt}\n  key_file: {key}\n")
    return crt, web


def run_scenario(exporter, scenario, tmp, tls=None):
    """One fresh exporter in a fresh namespace; returns the client's results and VmRSS."""
    cfg = os.path.join(tmp, "bench.yml")
    with open(cfg, "w") as f:
        f.write("web:\n  request_timeout: 30s\npoll:\n  interval: 1m\nlog:\n  level: error\n")
    with Netns("tcpstate-bench-http") as ns:
        argv = [exporter, "--config", cfg, "--web.listen-address", f"127.0.0.1:{PORT}"]
        if tls:
            argv += ["--web.config.file", tls[1]]
        e = ns.spawn(argv, stdout=subprocess.DEVNULL)
        scheme = "https" if tls else "http"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if tls:
                ok = subprocess.run(ns.cmd(["curl", "-sf", "--cacert", tls[0], "-o", "/dev/null",
                                            f"https://127.0.0.1:{PORT}/metrics"])).returncode == 0
            else:
                ok = fetch(ns, f"{scheme}://127.0.0.1:{PORT}/metrics")[0] == 200
            if ok:
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"{exporter} did not come up")
        target = {"host": "127.0.0.1", "port": PORT, "timeout": 10}
        if tls:
            target.update({"tls": True, "cafile": tls[0]})
        flood = []
        if scenario in ("idle", "memory"):
            flood = [{"host": "127.0.0.1", "port": PORT, "tls": bool(tls), "idle": IDLE}]
        elif scenario == "slow":
            flood = [{"host": "127.0.0.1", "port": PORT, "trickle": SLOW, "trickle_interval": 0.1}]
        count = SCRAPERS_TOTAL if scenario == "scrapers" else SCRAPES
        job = {"flood": flood, "connect_budget": 10,
               "scrapes": [{"targets": [target], "count": count, "budget": 60,
                            "concurrency": SCRAPERS if scenario == "scrapers" else 1}]}
        if scenario == "memory":
            job["scrapes"][0]["count"] = 10
        if not tls:
            fetch_all(ns, [f"http://127.0.0.1:{PORT}/metrics"] * 20)  # warm: first answers allocate
        rss0 = vm_rss_kib(e.pid)
        client = LoadClient(ns.name, job)
        try:
            flooded = client.flooded(timeout=90)
            if flood:
                time.sleep(1.0)  # the server takes what it accepts
            rss1 = vm_rss_kib(e.pid)
            scraped = client.command("scrape", timeout=200)
            rss2 = vm_rss_kib(e.pid)
        finally:
            client.close()
        e.terminate()
        e.wait(timeout=30)
    return {"flooded": flooded, "result": scraped["results"][0], "rss": (rss0, rss1, rss2)}


def cell(r):
    res = r["result"]
    lat = res["latency"]
    text = f"{res['ok']}/{res['attempted']} answered"
    if res["attempted"] < res["asked"]:
        text += f" (of {res['asked']}: 60 s budget)"
    if lat["n"]:
        text += (f"; p50 {lat['p50'] * 1000:.1f} ms, p99 {lat['p99'] * 1000:.1f} ms, "
                 f"max {lat['max'] * 1000:.0f} ms")
    if r["flooded"]["failed"]:
        text += f"; {r['flooded']['failed']} flood connects never completed"
    return text


def version(exporter):
    out = subprocess.run([exporter, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"revision (\w+)", out)
    return m.group(1)[:7] if m else "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--after", default=os.path.join(ROOT, "build", "tcpstate_exporter"))
    ap.add_argument("--before", default="/tmp/before/tcpstate_exporter",
                    help="pre-Beast (civetweb) build, e.g. of commit 51b3840; '' to skip")
    ap.add_argument("--scenarios", default="none,idle,slow,scrapers,memory")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    scenarios = args.scenarios.split(",")
    binaries = [("after", os.path.abspath(args.after))]
    if args.before:
        binaries.insert(0, ("before", os.path.abspath(args.before)))
    results = {}
    with tempfile.TemporaryDirectory(prefix="tcpstate-bench-http-") as tmp:
        tls = self_signed(tmp)
        for scenario in scenarios:
            for name, exporter in binaries:
                if scenario == "memory" and name == "before":
                    continue
                runs = [run_scenario(exporter, scenario, tmp)]
                if scenario == "memory":
                    runs.append(run_scenario(exporter, scenario, tmp, tls=tls))
                results[(scenario, name)] = runs
                for r in runs:
                    print(f"{scenario:9} {name:6} {cell(r)}; VmRSS {r['rss']} KiB", flush=True)
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    labels = {"none": "no other connection, 200 scrapes",
              "idle": f"{IDLE:,} idle connections, 200 scrapes",
              "slow": f"{SLOW} clients trickling header bytes (one per 100 ms), 200 scrapes",
              "scrapers": f"{SCRAPERS} concurrent scrapers, {SCRAPERS_TOTAL:,} scrapes"}
    names = [n for n, _ in binaries]
    heads = {"before": f"before (civetweb 1.15, {version(dict(binaries)['before'])})"
             if "before" in names else "",
             "after": f"after (Boost.Beast, {rev})"}
    lines = [
        "## HTTP endpoint under load (bench/http_load.py)",
        "",
        f"Run at {rev}. Each row: a fresh exporter in its own network namespace, loopback "
        "IPv4, plain HTTP, default configuration except `web.request_timeout: 30s` (so the "
        "flood outlives the scrapes on both servers) and `poll.interval: 1m`; the exporter's "
        "own (small) metrics. A scrape = a fresh connection, `GET /metrics`, the whole body, "
        "10 s timeout (Prometheus' default), no new scrape after 60 s; latencies of the "
        "answered ones, from one Python client process that also holds the flood (its "
        "scheduling is in the figures). Target (issue 11): p99 < 100 ms with 10,000 idle "
        "connections and 200 byte-trickling clients.",
        "",
        "| scenario | " + " | ".join(heads[n] for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for scenario in scenarios:
        if scenario == "memory":
            continue
        lines.append(f"| {labels[scenario]} | " +
                     " | ".join(cell(results[(scenario, n)][0]) for n in names) + " |")
    if "memory" in scenarios:
        lines += ["", "Memory per idle connection (after; VmRSS with 10,000 idle connections "
                  "open minus before they were opened, divided by 10,000):", "",
                  "| endpoint | VmRSS before | with 10,000 idle | per connection |",
                  "|---|---|---|---|"]
        for r, what in zip(results[("memory", "after")], ("plain HTTP", "TLS (not handshaken)")):
            rss0, rss1, _ = r["rss"]
            lines.append(f"| {what} | {rss0 / 1024:.1f} MiB | {rss1 / 1024:.1f} MiB | "
                         f"{(rss1 - rss0) * 1024 / IDLE / 1024:.1f} KiB |")
    lines += ["", "Run with: `sudo bench/http_load.py --before /tmp/before/tcpstate_exporter` "
              "(writes this section; the before binary built from 51b3840).", ""]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        path = os.path.join(ROOT, "docs", "benchmarks.md")
        text = open(path).read()
        block = f"<!-- http:begin -->\n{section}<!-- http:end -->"
        if "<!-- http:begin -->" in text:
            text = re.sub(r"<!-- http:begin -->.*?<!-- http:end -->", lambda _: block, text,
                          flags=re.S)
        else:
            text = text.replace("## Commands", block + "\n\n## Commands", 1)
        open(path, "w").write(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
