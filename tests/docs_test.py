#!/usr/bin/env python3
"""The README's metric table, docs/metrics.md and the exporter's real output
must name the same metrics, so the documentation cannot drift.

Usage: docs_test.py EXPORTER
"""
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
NAME = re.compile(r"^\| `((?:tcpstate|process)_[a-z0-9_]+)` \|", re.M)


def table_names(path):
    return set(NAME.findall(open(os.path.join(ROOT, path)).read()))


def main():
    readme = table_names("README.md")
    reference = table_names("docs/metrics.md")
    fixture = os.path.join(ROOT, "tests", "fixtures", "golden")
    out = subprocess.run(
        [sys.argv[1], "--once", "--log.level", "error",
         "--netlink.replay-dir", os.path.join(fixture, "dumps"),
         "--path.procfs", os.path.join(fixture, "proc")],
        capture_output=True, text=True, timeout=60, check=True).stdout
    emitted = set(re.findall(r"^# TYPE ((?:tcpstate|process)_[a-z0-9_]+) ", out, re.M))
    # Present only where the kernel has the sysctl (absent inside the fixture's
    # netns), only in `namespaces: {mode: all}`, or only after a rejected reload.
    optional = {"tcpstate_kernel_tcp_max_orphans", "tcpstate_config_last_reload_failure_info",
                "tcpstate_netns_read",
                "tcpstate_netns_over_cap", "tcpstate_netns_vanished_total",
                "tcpstate_netns_enter_failures_total",
                "tcpstate_netns_unreadable_processes", "tcpstate_netns_deadline_exceeded_total",
                "tcpstate_pod_identity_failures_total", "tcpstate_pod_identity_reads_in_flight"}
    problems = []
    for name, names in (("README.md", readme), ("docs/metrics.md", reference)):
        if emitted - names:
            problems.append(f"{name} lacks {sorted(emitted - names)}")
        if names - emitted - optional:
            problems.append(f"{name} documents metrics never emitted: "
                            f"{sorted(names - emitted - optional)}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"{len(emitted)} metrics documented in README.md and docs/metrics.md")


if __name__ == "__main__":
    main()
