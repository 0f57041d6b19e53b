"""Shared helpers for the end-to-end tests: throwaway network namespaces,
bounded waits, an overall time limit, HTTP from inside a namespace, exposition
parsing and `ss` tables. Standard library only."""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77  # ctest SKIP_RETURN_CODE
START = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - START:5.1f}s] {msg}", flush=True)


def find_binary(env, *names):
    """$env if set, else the first of `names` on PATH; None if none."""
    return os.environ.get(env) or next(filter(None, map(shutil.which, names)), None)


@contextlib.contextmanager
def time_limit(seconds):
    """Fails the test (AssertionError) after `seconds`; SIGTERM (a ctest timeout) exits
    through every `finally`, so namespaces and processes are cleaned up either way."""
    def on_alarm(*_):
        raise AssertionError(f"test exceeded its overall limit of {seconds}s")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)


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


def wait_for(predicate, timeout, what, interval=0.1, state=None):
    """The first true value of predicate(); on timeout raises, with state() (the last
    state seen, for the message) when given."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    message = f"timed out after {timeout}s waiting for {what}"
    if state is not None:
        try:
            message += f"\nlast state:\n{state()}"
        except Exception as e:  # noqa: BLE001 - the state is only for the message
            message += f"\n(could not get the last state: {e!r})"
    raise AssertionError(message)


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


SS_USERS = re.compile(r'\("([^"]*)",pid=(\d+),fd=(\d+)\)')


def ss_sockets(netns, owners=False):
    """[(state, local port, peer port (0 for *), [owner names])] from `ss -tan` in the
    namespace; owner names only with owners=True (ss -p)."""
    out = netns.run(["ss", "-tanpH" if owners else "-tanH"], check=True).stdout
    rows = []
    for line in out.splitlines():
        fields = line.split()
        local, peer = (f.rsplit(":", 1)[1] for f in fields[3:5])
        rows.append((SS_STATES.get(fields[0], fields[0]), int(local),
                     int(peer) if peer.isdigit() else 0,
                     [m.group(1) for m in SS_USERS.finditer(line)]))
    return rows


def ss_state_counts(netns):
    counts = {}
    for state, *_ in ss_sockets(netns):
        counts[state] = counts.get(state, 0) + 1
    return counts


FETCH = r"""
import json, sys, urllib.error, urllib.request
out = []
for url in json.load(sys.stdin):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            out.append([r.status, r.read().hex()])
    except urllib.error.HTTPError as e:
        out.append([e.code, e.read().hex()])
    except Exception as e:
        out.append([0, repr(e).encode().hex()])
json.dump(out, sys.stdout)
"""


def fetch_all(netns, urls):
    """GETs every URL from inside the namespace (one helper process for all);
    [(status, body bytes)]; status 0 = no HTTP answer (the body is the error)."""
    result = netns.run([sys.executable, "-c", FETCH], input=json.dumps(urls),
                       timeout=max(30, 10 * len(urls)))
    assert result.returncode == 0, f"fetch helper failed: {result.stderr}"
    return [(status, bytes.fromhex(body)) for status, body in json.loads(result.stdout)]


def fetch(netns, url):
    return fetch_all(netns, [url])[0]


def scrape(netns, url):
    """Fetches a URL from inside the namespace (its loopback is not ours)."""
    code = ("import sys,urllib.request;"
            "r=urllib.request.urlopen(sys.argv[1],timeout=10);"
            "sys.stdout.write(r.read().decode())")
    result = netns.run([sys.executable, "-c", code, url], check=True, timeout=30)
    return result.stdout
