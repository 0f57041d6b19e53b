"""Shared helpers for the end-to-end tests: throwaway network namespaces,
bounded waits, exposition parsing and `ss` counts. Standard library only."""

import os
import re
import subprocess
import sys
import time
import urllib.request

SKIP = 77  # ctest SKIP_RETURN_CODE


def require_root():
    if os.geteuid() != 0:
        print("SKIP: needs root to create network namespaces", file=sys.stderr)
        sys.exit(SKIP)


class Netns:
    """A network namespace with loopback up, deleted on exit with every
    process the test started inside it."""

    def __init__(self, prefix):
        self.name = f"{prefix}-{os.getpid()}"
        self.procs = []

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run(["ip", "link", "set", "lo", "up"], check=True)
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        # Anything else still inside (it should not be) dies with the netns pids.
        pids = subprocess.run(["ip", "netns", "pids", self.name],
                              capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        return False

    def cmd(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def run(self, argv, **kwargs):
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 120)
        return subprocess.run(self.cmd(argv), **kwargs)

    def spawn(self, argv, **kwargs):
        proc = subprocess.Popen(self.cmd(argv), **kwargs)
        self.procs.append(proc)
        return proc


def wait_for(predicate, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """Returns [(name, {label: value}, float)] for every sample."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            raise AssertionError(f"unparseable exposition line: {line!r}")
        labels = dict(LABEL.findall(m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def value(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`; None if none."""
    found = [v for n, l, v in samples
             if n == name and all(l.get(k) == w for k, w in labels.items())]
    return sum(found) if found else None


# ss prints these names; the exporter uses node_exporter's.
SS_STATES = {
    "ESTAB": "established", "SYN-SENT": "syn_sent", "SYN-RECV": "syn_recv",
    "FIN-WAIT-1": "fin_wait1", "FIN-WAIT-2": "fin_wait2", "TIME-WAIT": "time_wait",
    "UNCONN": "close", "CLOSE-WAIT": "close_wait", "LAST-ACK": "last_ack",
    "LISTEN": "listen", "CLOSING": "closing",
}


def ss_state_counts(netns):
    out = netns.run(["ss", "-tanH"], check=True).stdout
    counts = {}
    for line in out.splitlines():
        state = SS_STATES.get(line.split()[0], line.split()[0])
        counts[state] = counts.get(state, 0) + 1
    return counts


def scrape(netns, url):
    """Fetches a URL from inside the namespace (its loopback is not ours)."""
    code = ("import sys,urllib.request;"
            "r=urllib.request.urlopen(sys.argv[1],timeout=10);"
            "sys.stdout.write(r.read().decode())")
    result = netns.run([sys.executable, "-c", code, url], check=True, timeout=30)
    return result.stdout
