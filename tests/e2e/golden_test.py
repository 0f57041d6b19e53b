#!/usr/bin/env python3
"""Golden test in the node_exporter style: the exporter runs once on recorded
sock_diag dumps and a fake /proc tree; its whole output, with the few values
that depend on the clock or the build masked, must equal the expected file,
and the raw output must pass `promtool check metrics`. The exporter's own
process_* metrics (real /proc/self, not the fixture) are masked too, and
checked for sane values instead: resident memory between 1 MB and 1 GB, open
fds > 0 and <= max fds, start time within the last hour.

Usage: golden_test.py EXPORTER [--update]
"""

import difflib
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "fixtures", "golden")
EXPECTED = os.path.join(FIXTURE, "expected.prom")

# Samples whose value depends on timing, not on the input.
VOLATILE = re.compile(r"^(tcpstate_poll_duration_seconds|tcpstate_source_duration_seconds"
                      r"|tcpstate_last_poll_success_timestamp_seconds"
                      r"|tcpstate_config_last_reload_success_timestamp_seconds"
                      r"|process_[a-z_]+)(\{[^}]*\})? .*$")
BUILD_INFO = re.compile(r"^tcpstate_build_info\{.*\} 1$")


def normalize(text):
    lines = []
    for line in text.splitlines():
        m = VOLATILE.match(line)
        if m:
            line = f"{m.group(1)}{m.group(2) or ''} <volatile>"
        elif BUILD_INFO.match(line):
            line = 'tcpstate_build_info{<build>} 1'
        lines.append(line)
    return "\n".join(lines) + "\n"


def check_process_metrics(text):
    values = {m.group(1): float(m.group(2))
              for m in re.finditer(r"^(process_[a-z_]+) (\S+)$", text, re.M)}
    want = {"process_cpu_seconds_total", "process_resident_memory_bytes",
            "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
            "process_start_time_seconds"}
    assert set(values) == want, f"process_* metrics: {sorted(values)}"
    assert 1e6 < values["process_resident_memory_bytes"] < 1e9, values
    assert values["process_virtual_memory_bytes"] >= values["process_resident_memory_bytes"], values
    assert 0 < values["process_open_fds"] <= values["process_max_fds"], values
    assert values["process_cpu_seconds_total"] >= 0, values
    now = time.time()
    assert now - 3600 < values["process_start_time_seconds"] <= now + 1, (values, now)


def main():
    exporter = sys.argv[1]
    update = "--update" in sys.argv[2:]
    result = subprocess.run(
        [exporter, "--once", "--log.level", "warn",
         "--config", os.path.join(FIXTURE, "config.yml"),
         "--netlink.replay-dir", os.path.join(FIXTURE, "dumps"),
         "--path.procfs", os.path.join(FIXTURE, "proc")],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"exporter failed ({result.returncode}): {result.stderr}"

    lint = subprocess.run(["promtool", "check", "metrics"], input=result.stdout,
                          capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, f"promtool check metrics:\n{lint.stdout}{lint.stderr}"

    check_process_metrics(result.stdout)
    got = normalize(result.stdout)
    if update:
        with open(EXPECTED, "w") as f:
            f.write(got)
        print(f"updated {EXPECTED}")
        return
    want = open(EXPECTED).read()
    if got != want:
        diff = difflib.unified_diff(want.splitlines(), got.splitlines(),
                                    "expected.prom", "actual", lineterm="")
        print("\n".join(diff))
        sys.exit(1)
    print(f"golden output matches ({len(got.splitlines())} lines); promtool check metrics clean")


if __name__ == "__main__":
    main()
