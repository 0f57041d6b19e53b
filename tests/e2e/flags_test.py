#!/usr/bin/env python3
"""Flags in the Prometheus exporters' conventions, on the real binary (recorded dumps and the
golden fake /proc, so no root and no kernel state needed):

  * --help and the README list every flag the exporter accepts;
  * --config.file FILE, --config.file=FILE and the alias --config FILE read the file (a bad
    one fails with exit 2 under each spelling);
  * --log.format: logfmt by default (ts=... level=... msg="..."), json on request (one JSON
    object a line with ts, level, msg), anything else exit 2 naming the flag;
  * --web.telemetry-path: the metrics move there (the old path answers 404, the landing page
    links the new one); "/", /healthz, /readyz and paths without a leading '/' are refused
    with exit 2 naming the flag; web.telemetry_path in the file, overridden by the flag;
  * process_* self-metrics are served with sane values: resident memory between 1 MB and
    1 GB, open fds > 0 and <= max fds, start time within the last hour, CPU seconds >= 0.

Usage: flags_test.py EXPORTER
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
FIXTURE = os.path.join(HERE, "..", "fixtures", "golden")
REPLAY = ["--netlink.replay-dir", os.path.join(FIXTURE, "dumps"),
          "--path.procfs", os.path.join(FIXTURE, "proc")]
FLAGS = ["--config.file", "--config", "--web.listen-address", "--web.config.file",
         "--web.telemetry-path", "--path.procfs", "--log.level", "--log.format", "--config.check",
         "--once", "--netlink.replay-dir", "--version", "--help"]
LOGFMT = re.compile(r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(debug|info|warn|error) '
                    r'msg="(?:[^"\\]|\\.)*"$')


def log(msg):
    print(msg, flush=True)


def run(exporter, *args):
    return subprocess.run([exporter, *args], capture_output=True, text=True, timeout=60)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Serving:
    """The exporter serving on a free loopback port until the block ends (SIGTERM)."""

    def __init__(self, exporter, *args):
        self.port = free_port()
        self.stderr = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [exporter, "--web.listen-address", f"127.0.0.1:{self.port}", *REPLAY, *args],
            stdout=subprocess.DEVNULL, stderr=self.stderr, text=True)

    def __enter__(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"exporter exited: {self.log()}"
            try:
                if get(self.port, "/readyz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"exporter not ready: {self.log()}")

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=10) == 0

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read()


def check_help(exporter):
    r = run(exporter, "--help")
    assert r.returncode == 0, r
    readme = open(os.path.join(ROOT, "README.md")).read()
    for flag in FLAGS:
        assert re.search(rf"(^|\s){re.escape(flag)}[\s=,]", r.stdout), f"--help lacks {flag}"
        assert f"`{flag}" in readme, f"README.md lacks `{flag}`"
    assert re.search(r"--config FILE\s+alias of --config.file", r.stdout), r.stdout
    log(f"--help and README.md list all {len(FLAGS)} flags; --config is the alias of --config.file")


def check_config_file(exporter, tmp):
    good = os.path.join(FIXTURE, "config.yml")
    bad = os.path.join(tmp, "bad.yml")
    with open(bad, "w") as f:
        f.write("poll:\n  interval: never\n")
    for spelling in (["--config.file", good], [f"--config.file={good}"], ["--config", good],
                     [f"--config={good}"]):
        r = run(exporter, *spelling, "--config.check")
        assert r.returncode == 0 and f"configuration {good} is valid" in r.stdout, (spelling, r)
    for spelling in (["--config.file", bad], [f"--config.file={bad}"], ["--config", bad]):
        r = run(exporter, *spelling, "--config.check")
        assert r.returncode == 2 and "poll.interval" in r.stderr, (spelling, r)
    log("--config.file FILE, --config.file=FILE, --config FILE: the file is read (a bad one: "
        "exit 2 naming poll.interval)")


def check_log_format(exporter):
    for value in ("text", "JSON", ""):
        r = run(exporter, f"--log.format={value}", "--once", *REPLAY)
        assert r.returncode == 2 and "--log.format" in r.stderr, (value, r)
    r = run(exporter, "--log.format")
    assert r.returncode == 2 and "--log.format needs a value" in r.stderr, r
    log("--log.format text/JSON/empty/missing: exit 2 naming the flag")

    with Serving(exporter) as s:
        pass
    lines = s.log().splitlines()
    assert len(lines) >= 3, lines
    for line in lines:
        assert LOGFMT.match(line), f"not logfmt: {line!r}"
    assert any('level=info msg="received Terminated, shutting down"' in l for l in lines), lines
    log(f"default logfmt: {len(lines)} lines, e.g. {lines[1]}")

    with Serving(exporter, "--log.format", "json", "--log.level=debug") as s:
        pass
    lines = s.log().splitlines()
    assert len(lines) >= 3, lines
    for line in lines:
        record = json.loads(line)
        assert list(record) == ["ts", "level", "msg"], record
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", record["ts"]), record
        assert record["level"] in ("debug", "info", "warn", "error"), record
    assert any(json.loads(l)["msg"] == "stopped" for l in lines), lines
    log(f"--log.format json: {len(lines)} JSON lines, e.g. {lines[-1]}")


def process_values(text):
    values = {}
    for line in text.splitlines():
        m = re.match(r"^(process_[a-z_]+) (\S+)$", line)
        if m:
            values[m.group(1)] = float(m.group(2))
    return values


def check_telemetry_path(exporter, tmp):
    for value in ("/", "/healthz", "/readyz", "metrics", "/a b"):
        r = run(exporter, "--web.telemetry-path", value, "--config.check")
        assert r.returncode == 2 and "--web.telemetry-path" in r.stderr, (value, r)
    log("--web.telemetry-path / /healthz /readyz metrics '/a b': exit 2 naming the flag")

    with Serving(exporter, "--web.telemetry-path=/tcpstate/metrics") as s:
        status, body = get(s.port, "/tcpstate/metrics")
        assert status == 200 and "tcpstate_sockets{" in body, status
        assert get(s.port, "/metrics")[0] == 404
        status, page = get(s.port, "/")
        assert status == 200 and 'href="/tcpstate/metrics"' in page, page
        assert 'href="/metrics"' not in page, page
        check_process_metrics(body)
    log("--web.telemetry-path=/tcpstate/metrics: served there, /metrics 404, landing page links it")

    config = os.path.join(tmp, "web.yml")
    with open(config, "w") as f:
        f.write("web:\n  telemetry_path: /from-file\n")
    with Serving(exporter, "--config.file", config) as s:
        assert get(s.port, "/from-file")[0] == 200
        assert get(s.port, "/metrics")[0] == 404
    with Serving(exporter, "--config.file", config, "--web.telemetry-path", "/from-flag") as s:
        assert get(s.port, "/from-flag")[0] == 200
        assert get(s.port, "/from-file")[0] == 404
    log("web.telemetry_path in the file is served; --web.telemetry-path overrides it")


def check_process_metrics(body):
    values = process_values(body)
    want = {"process_cpu_seconds_total", "process_resident_memory_bytes",
            "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
            "process_start_time_seconds"}
    assert set(values) == want, f"process_* metrics: {sorted(values)}"
    for name in want:
        assert f"# TYPE {name} {'counter' if name.endswith('_total') else 'gauge'}\n" in body, name
    assert 1e6 < values["process_resident_memory_bytes"] < 1e9, values
    assert values["process_virtual_memory_bytes"] >= values["process_resident_memory_bytes"], values
    assert 0 < values["process_open_fds"] <= values["process_max_fds"], values
    assert values["process_cpu_seconds_total"] >= 0, values
    now = time.time()
    assert now - 3600 < values["process_start_time_seconds"] <= now + 1, (values, now)
    log(f"process_* sane: RSS {values['process_resident_memory_bytes'] / 1e6:.1f} MB, "
        f"{values['process_open_fds']:.0f}/{values['process_max_fds']:.0f} fds, started "
        f"{now - values['process_start_time_seconds']:.1f}s ago")


def main():
    exporter = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        check_help(exporter)
        check_config_file(exporter, tmp)
        check_log_format(exporter)
        check_telemetry_path(exporter, tmp)
    log("PASS")


if __name__ == "__main__":
    main()
