#!/usr/bin/env python3
"""Benchmark harness for tcpstate_exporter; writes docs/benchmarks.md.

Usage (as root, from anywhere): bench/run.sh [options]   (see --help)

For each socket population, in a network namespace of its own, it measures
side by side on the same live population: the exporter's poll (no
attribution; attribution cold = first poll of a fresh process; attribution
warm = a later poll of a long-running exporter), bench/rawdump (the same
sock_diag requests, counting messages only: the kernel's floor), `ss -tan`,
`ss -tanp` and node_exporter's tcpstat collector (started in the namespace
with only that collector, scraped for timing). Then the scenarios behind the
remaining targets: attribution with 200 processes x 1,000 sockets, /metrics
with ~5,000 series under 20 concurrent scrapers, and the exporter's CPU over
60 s of serving at the default 15 s interval on the 500k+ population. Plus
Google Benchmark micro-benchmarks (ns per socket) and, where perf exists, a
flat profile of the poll.

Populations are LISTEN/ESTABLISHED/CLOSE_WAIT+FIN_WAIT2 sockets held by
sockpop (tools/sockpop) plus TIME_WAIT sockets kept at a constant count by
bench/twgen, which replaces every TIME_WAIT socket that expires (they live
60 s). twgen is paused (SIGSTOP) while a measured command runs, so every
measurement sees the full population on an otherwise idle namespace.

Standard library only. Cleans up every process and namespace it created,
also on errors and SIGINT/SIGTERM.
"""

import argparse
import ctypes
import datetime
import glob
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from netns_util import parse_exposition, value as metric  # noqa: E402
BUILD = os.path.join(ROOT, "build-bench")
CLK_TCK = os.sysconf("SC_CLK_TCK")
CLONE_NEWNET = 0x40000000
RUNSTAT = None  # bench/runstat, set once built
RUNSTAT_DIR = tempfile.gettempdir()

# sockpop arguments (counts are per family, IPv4 only) and twgen's TIME_WAIT
# count. LISTEN = 3 + --listen; ESTABLISHED = 2 x --established (both ends);
# --close-wait N = N CLOSE_WAIT + N FIN_WAIT2.
POPULATIONS = {
    "10k": {"listen": 17, "established": 400, "close-wait": 800, "time-wait": 7_600,
            "procs": 10},
    "100k": {"listen": 97, "established": 3_000, "close-wait": 8_000, "time-wait": 78_000,
             "procs": 10},
    "500k": {"listen": 997, "established": 20_000, "close-wait": 50_000,
             "time-wait": 500_000, "procs": 10},
}
# Attribution bound: 200 processes each holding 1,000 sockets (500
# connections, both ends) plus their copies of the 3 listeners.
PROCS_SCENARIO = {"listen": 0, "established": 100_000, "close-wait": 0, "procs": 200}
# /metrics with ~5,000 series: 1,620 listening ports (3 series each) with
# pid labels on 20 processes.
SERIES_SCENARIO = {"listen": 1_617, "established": 1_000, "close-wait": 1_000, "procs": 20}
SERIES_CONFIG = """ports:
  max_distinct: 5000
processes:
  pid_label: true
  max_distinct: 1000
"""
TWGEN_PORT = 30000
TWGEN_RATE = 0  # first fill as fast as possible: quiet windows between the waves
TWGEN_WORKERS = max(1, min(2, os.cpu_count() or 1))  # holding 500k needs ~8.3k/s
NODE_PORT = 19100
EXPORTER_PORT = 19930
WARM_INTERVAL = 6  # s, poll interval of the long-running (warm) exporter
SLOW_TOOL_SECONDS = 20  # a tool this slow runs once only
DEFAULT_NEED = 10.0  # s of quiet TIME_WAIT window reserved for a tool's first run
WINDOW_WAIT = 3.0  # s to wait for such a window before settling for a top-up
TOPUP_WAIT = 10.0  # s to wait for the top-up
TOPUP_FRACTION = 0.98

TARGETS_POPULATION = "500k"
ATTR_CONFIG = "processes:\n  enabled: true\n"
NOATTR_CONFIG = "processes:\n  enabled: false\n"


# ---------------------------------------------------------------------------
# Small helpers

def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_s(seconds):
    if seconds is None:
        return "n/a"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_mb(kb):
    return "n/a" if kb is None else f"{kb / 1024:.1f} MB"


def fmt_x(ratio):
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def ratio(a, b):
    return a / b if a is not None and b else None


def read(path):
    with open(path) as f:
        return f.read()


def series_count(text):
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def http_get(url, timeout=60):
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = r.read().decode()
    return body, time.perf_counter() - t0


# ---------------------------------------------------------------------------
# Process accounting

def proc_cpu_seconds(pid):
    """utime+stime of a process (all threads, dead ones included), in s."""
    fields = read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def group_cpu_seconds(pgid):
    """utime+stime of every live process of a process group, in s."""
    total = 0.0
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = read(path).rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def proc_cpu_ns(pid):
    """CPU time of the live threads from schedstat (ns precision)."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            total += int(read(path).split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def proc_status_kb(pid, key):
    for line in read(f"/proc/{pid}/status").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


class Measured:
    """One run of a command: wall, CPU (children's rusage), peak RSS."""

    def __init__(self, argv, wall, user, sys_, maxrss_kb, rc, stdout_path):
        self.argv, self.wall, self.user, self.sys = argv, wall, user, sys_
        self.cpu = user + sys_
        self.maxrss_kb, self.rc, self.stdout_path = maxrss_kb, rc, stdout_path


def run_measured(argv, stdout_path=None, timeout=300):
    """Runs argv under bench/runstat (see runstat.cpp for why not directly)."""
    stat_path = os.path.join(RUNSTAT_DIR, "runstat.out")
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    err = tempfile.TemporaryFile()
    try:
        p = subprocess.Popen([RUNSTAT, stat_path] + argv, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    finally:
        if stdout_path:
            out.close()
    if p.returncode != 0:
        err.seek(0)
        raise RuntimeError(f"{shlex.join(argv)} exited {p.returncode}: "
                           f"{err.read().decode(errors='replace')[-2000:]}")
    f = dict(kv.split("=") for kv in read(stat_path).split())
    return Measured(argv, float(f["wall"]), float(f["user"]), float(f["sys"]),
                    int(f["maxrss_kb"]), int(f["status"]), stdout_path)


# ---------------------------------------------------------------------------
# Network namespace handling (setns from this process: children inherit it)

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


class Namespace:
    """A fresh network namespace with lo up that this process enters; on exit
    every process started in it is stopped and the namespace deleted."""

    def __init__(self, label):
        self.name = f"bench-{label}-{os.getpid()}"
        self.procs = []
        self._home = None

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self._home = os.open("/proc/self/ns/net", os.O_RDONLY)
            fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        except BaseException:
            self.__exit__()
            raise
        return self

    def spawn(self, argv, **kwargs):
        p = subprocess.Popen(argv, **kwargs)
        self.procs.append(p)
        return p

    def stop(self, p, timeout=30):
        if p.poll() is not None:
            return
        try:
            if getattr(p, "group", False):
                os.killpg(p.pid, signal.SIGCONT)
            p.send_signal(signal.SIGCONT)
            if p.stdin:
                p.stdin.close()
            p.terminate()
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
        except (ProcessLookupError, OSError):
            pass

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            self.stop(p)
        if self._home is not None:
            _setns(self._home)
            os.close(self._home)
        # Anything still inside was started by us (sockpop workers die with
        # their parent); kill those pids one by one.
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        for _ in range(50):
            if subprocess.run(["ip", "netns", "del", self.name],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        return False


def machine_busy(sample=3.0):
    """Fraction of all CPUs busy over `sample` seconds (from /proc/stat)."""
    def snap():
        f = [int(x) for x in read("/proc/stat").splitlines()[0].split()[1:]]
        return f[3] + f[4], sum(f)  # idle + iowait, total
    i0, t0 = snap()
    time.sleep(sample)
    i1, t1 = snap()
    return 1 - (i1 - i0) / max(1, t1 - t0)


def wait_idle(max_wait, threshold=0.25):
    """Waits up to max_wait s for the machine to be mostly idle; returns the
    busy fraction seen last."""
    deadline = time.monotonic() + max_wait
    busy = machine_busy()
    while busy > threshold and time.monotonic() < deadline:
        log(f"  machine {busy:.0%} busy (other work): waiting for it to calm down")
        time.sleep(10)
        busy = machine_busy()
    return busy


def twgen_quiet_until(twgen):
    """time.time() before which no TIME_WAIT socket of twgen expires."""
    until = float("inf")
    for path in glob.glob(twgen.status_prefix + ".[0-9]*"):
        if path.endswith(".tmp"):
            continue
        try:
            f = dict(kv.split("=") for kv in read(path).split())
        except (OSError, ValueError):
            return 0.0
        expiry = float(f["next_expiry"])
        if expiry > 0:
            until = min(until, expiry)
    return until


def twgen_paused(twgen):
    """True once every twgen worker reports paused=1."""
    paths = [p for p in glob.glob(twgen.status_prefix + ".[0-9]*") if not p.endswith(".tmp")]
    if not paths:
        return False
    for path in paths:
        try:
            if "paused=1" not in read(path):
                return False
        except OSError:
            return False
    return True


def time_wait_count():
    text = read("/proc/net/sockstat")
    m = re.search(r"TCP: .* tw (\d+)", text)
    return int(m.group(1)) if m else 0


def wait_file(path, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and read(path).strip():
            return read(path).strip()
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before READY")
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def wait_http(url, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return http_get(url, timeout=10)[0]
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


# ---------------------------------------------------------------------------
# The harness

class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = {}
        self.tmp = tempfile.mkdtemp(prefix="tcpstate-bench-")
        self.shm = tempfile.mkdtemp(prefix="tcpstate-bench-", dir="/dev/shm"
                                    if os.path.isdir("/dev/shm") else None)
        self.results = {"populations": {}, "scenarios": {}}
        self.commands = {}

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.shm, ignore_errors=True)

    # -- build ---------------------------------------------------------------

    def build(self):
        top = read(os.path.join(ROOT, "CMakeLists.txt"))
        source = ROOT if re.search(r"^\s*add_subdirectory\(\s*bench\s*\)", top, re.M) \
            else os.path.join(ROOT, "bench", "standalone")
        cache = os.path.join(BUILD, "CMakeCache.txt")
        if os.path.exists(cache):
            home = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", read(cache), re.M)
            if home and os.path.realpath(home.group(1)) != os.path.realpath(source):
                log(f"{BUILD} was configured from {home.group(1)}: reconfiguring")
                shutil.rmtree(BUILD)
        configure = ["cmake", "-S", source, "-B", BUILD, "-DCMAKE_BUILD_TYPE=Release",
                     "-DTCPSTATE_BUILD_TESTS=OFF", "-DTCPSTATE_BUILD_BENCH=ON"]
        build = ["cmake", "--build", BUILD, "-j", str(os.cpu_count() or 2)]
        self.commands["build"] = [shlex.join(configure), shlex.join(build)]
        if not self.args.no_build:
            log("building (" + os.path.relpath(source, ROOT) + ")")
            for argv in (configure, build):
                r = subprocess.run(argv, capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError(f"{shlex.join(argv)} failed:\n{r.stdout[-3000:]}"
                                       f"{r.stderr[-3000:]}")

        def find(name):
            for path in sorted(glob.glob(os.path.join(BUILD, "**", name), recursive=True)):
                if os.path.isfile(path) and os.access(path, os.X_OK) and "CMakeFiles" not in path:
                    return path
            return None

        for name in ["tcpstate_exporter", "sockpop", "rawdump", "twgen", "scrapeload",
                     "runstat", "bench_micro"]:
            self.bin[name] = find(name)
        missing = [n for n, p in self.bin.items() if p is None and n != "bench_micro"]
        if missing:
            raise RuntimeError(f"not built: {missing}")
        global RUNSTAT, RUNSTAT_DIR
        RUNSTAT, RUNSTAT_DIR = self.bin["runstat"], self.tmp
        self.bin["node_exporter"] = shutil.which("prometheus-node-exporter")
        self.bin["ss"] = shutil.which("ss")
        self.bin["perf"] = shutil.which("perf")

    def rel(self, path):
        return os.path.relpath(path, ROOT) if path and path.startswith(ROOT) else path

    # -- machine ---------------------------------------------------------------

    def machine(self):
        cpu = "unknown"
        for line in read("/proc/cpuinfo").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", read("/proc/meminfo")).group(1))

        def cmd(argv):
            try:
                return subprocess.run(argv, capture_output=True, text=True,
                                      timeout=30).stdout.strip()
            except OSError:
                return "n/a"

        rev = cmd(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"])
        dirty = cmd(["git", "-C", ROOT, "status", "--porcelain", "--", "daemon"])
        return {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(),
            "cpu": cpu,
            "memory": f"{mem_kb / 1024 / 1024:.0f} GiB",
            "kernel": platform.release(),
            "os": cmd(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
            "compiler": cmd(["sh", "-c", "c++ --version | head -1"]),
            "revision": rev + (" (daemon/ has uncommitted changes)" if dirty else ""),
            "node_exporter": cmd(["sh", "-c", "prometheus-node-exporter --version 2>&1 | head -1"]),
            "ss": cmd(["ss", "-V"]),
            "ehash": cmd(["sysctl", "-n", "net.ipv4.tcp_ehash_entries"]),
            "loadavg_start": read("/proc/loadavg").split()[:3],
        }

    # -- micro-benchmarks ----------------------------------------------------

    def micro(self):
        if not self.bin.get("bench_micro"):
            log("bench_micro not built (no Google Benchmark): skipped")
            return None
        out = os.path.join(self.tmp, "micro.json")
        argv = [self.bin["bench_micro"], "--benchmark_repetitions=3",
                "--benchmark_report_aggregates_only=true", "--benchmark_min_time=0.3",
                f"--benchmark_out={out}", "--benchmark_out_format=json"]
        self.commands["micro"] = shlex.join([self.rel(self.bin["bench_micro"])] + argv[1:4])
        log("micro-benchmarks")
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=900)
        rows = []
        for b in json.load(open(out))["benchmarks"]:
            # An errored benchmark exits 0 and has no aggregates: do not let
            # its row vanish from the report.
            if b.get("error_occurred"):
                raise RuntimeError(f"bench_micro {b['name']}: {b.get('error_message')}")
            if b.get("aggregate_name") != "median":
                continue
            name = b["run_name"]
            scale = 1e-3 if b["time_unit"] == "ms" else 1e-6 if b["time_unit"] == "us" else 1e-9
            row = {"name": name, "real_s": b["real_time"] * scale, "cpu_s": b["cpu_time"] * scale}
            for key in ["sockets", "fds_read_per_poll", "series", "bytes"]:
                if key in b:
                    row[key] = b[key]
            rows.append(row)
        return rows

    # -- one population --------------------------------------------------------

    def start_sockpop(self, ns, spec, port=20000):
        ready = os.path.join(self.tmp, f"sockpop-{ns.name}.ready")
        argv = [self.bin["sockpop"], "--port", str(port), "--procs", str(spec["procs"])]
        for key in ["listen", "established", "close-wait"]:
            if spec.get(key):
                argv += [f"--{key}", str(spec[key])]
        argv += ["--ready-file", ready, "--hold-seconds", "3000"]
        t0 = time.monotonic()
        p = ns.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                     stderr=open(os.path.join(self.tmp, f"sockpop-{ns.name}.log"), "w"))
        line = wait_file(ready, 180, "sockpop", p)
        counts = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
        log(f"  sockpop READY after {time.monotonic() - t0:.1f} s: {line}")
        return p, counts, argv

    def start_twgen(self, ns, count):
        ready = os.path.join(self.tmp, f"twgen-{ns.name}.ready")
        status = os.path.join(self.tmp, f"twgen-{ns.name}.status")
        argv = [self.bin["twgen"], "--count", str(count), "--port", str(TWGEN_PORT),
                "--rate", str(TWGEN_RATE), "--workers", str(TWGEN_WORKERS),
                "--max-seconds", "3000", "--ready-file", ready, "--status-file", status]
        t0 = time.monotonic()
        # A process group of its own: SIGSTOP/SIGCONT reach every worker.
        p = ns.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                     stderr=open(os.path.join(self.tmp, f"twgen-{ns.name}.log"), "w"),
                     start_new_session=True)
        p.group = True
        p.status_prefix = status
        wait_file(ready, 240, "twgen", p)
        log(f"  twgen READY after {time.monotonic() - t0:.1f} s: {time_wait_count()} TIME_WAIT")
        return p, argv

    def write_config(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def side_by_side_configs(self):
        return {"noattr": self.write_config("noattr.yml", NOATTR_CONFIG),
                "attr": self.write_config("attr.yml", ATTR_CONFIG)}

    class Paused:
        """Runs a block with twgen paused (SIGSTOP of its process group).

        First lets twgen top the TIME_WAIT count up. Preferred: a quiet window,
        i.e. the count at the target and, from twgen's status files, none of
        its sockets expiring during the next `need` seconds (nothing changes
        during the measurement); waited for up to WINDOW_WAIT s. Otherwise,
        up to `until` (time.time(), default now + TOPUP_WAIT s), at least
        TOPUP_FRACTION of the target. `clean` says whether a quiet window was
        found."""

        def __init__(self, twgen, target, need=None, until=None):
            self.twgen, self.target = twgen, target
            self.need = DEFAULT_NEED if need is None else need
            now = time.time()
            self.until = until if until is not None else now + TOPUP_WAIT
            self.window_until = min(self.until, now + WINDOW_WAIT)
            self.clean = True
            self.tw_at_start = None

        def __enter__(self):
            if self.twgen is not None:
                self.clean = False
                while True:
                    now = time.time()
                    tw = time_wait_count()
                    if tw >= self.target and \
                            twgen_quiet_until(self.twgen) - 0.5 >= now + self.need:
                        self.clean = True
                        break
                    if now >= self.window_until and tw >= TOPUP_FRACTION * self.target:
                        break
                    if now >= self.until:
                        break
                    time.sleep(0.05)
                # Pause between two batches (no twgen connection left open,
                # so no socket of twgen's shows up in the dumps), then stop.
                os.killpg(self.twgen.pid, signal.SIGUSR1)
                deadline = time.time() + 3
                while not twgen_paused(self.twgen) and time.time() < deadline:
                    time.sleep(0.005)
                os.killpg(self.twgen.pid, signal.SIGSTOP)
            self.tw_at_start = time_wait_count()
            return self

        def __exit__(self, *exc):
            if self.twgen is not None:
                os.killpg(self.twgen.pid, signal.SIGCONT)
                os.killpg(self.twgen.pid, signal.SIGUSR2)
            return False

    def need(self, runs, key):
        """Seconds to reserve for the next run of a tool: its last run + 25%."""
        rs = runs.get(key) or []
        if not rs:
            return DEFAULT_NEED
        last = rs[-1]["m"].wall if rs[-1].get("m") else rs[-1]["wall"]
        return 1.25 * last + 0.3

    def once(self, config, label):
        out = os.path.join(self.tmp, f"once-{label}.prom")
        argv = [self.bin["tcpstate_exporter"], "--once", "--config", config, "--log.level", "warn"]
        m = run_measured(argv, out)
        s = parse_exposition(read(out))
        return m, {
            "poll": metric(s, "tcpstate_poll_duration_seconds"),
            "sock_diag": metric(s, "tcpstate_source_duration_seconds", source="sock_diag"),
            "process": metric(s, "tcpstate_source_duration_seconds", source="process"),
            "sockets": metric(s, "tcpstate_poll_sockets"),
            "fds_read": metric(s, "tcpstate_process_attribution_fds_read_total"),
        }

    def side_by_side(self, ns, twgen, tw_target, reps, node_url, configs, with_node=True):
        """Interleaved repetitions of every one-shot tool; returns per-tool runs.
        A tool whose run took longer than SLOW_TOOL_SECONDS is not repeated."""
        keys = ["rawdump", "poll_noattr", "poll_cold", "ss_tan", "ss_tanp", "node_exporter",
                "rawdump_v1", "rawdump_per_family", "rawdump_no_tw", "rawdump_empty_ns"]
        runs = {k: [] for k in keys}
        node_pid = self.node_proc.pid if with_node else None
        empty_ns = f"bench-empty-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", empty_ns], check=True)
        try:
            def slow(key):
                rs = runs[key]
                return bool(rs) and (rs[0]["m"].wall if rs[0].get("m") else rs[0]["wall"]) \
                    > SLOW_TOOL_SECONDS

            def rawdump(key, mode, netns=None):
                argv = [self.bin["rawdump"], "--mode", mode]
                out = os.path.join(self.tmp, "rawdump.out")
                if netns:  # runstat inside `ip netns exec`: ip's start-up is not counted
                    stat = os.path.join(self.tmp, "runstat-empty.out")
                    subprocess.run(["ip", "netns", "exec", netns, self.bin["runstat"], stat] +
                                   argv, check=True, stdout=open(out, "wb"))
                    f = dict(kv.split("=") for kv in read(stat).split())
                    m = Measured(argv, float(f["wall"]), float(f["user"]), float(f["sys"]),
                                 int(f["maxrss_kb"]), int(f["status"]), out)
                else:
                    m = run_measured(argv, out)
                f = dict(kv.split("=") for kv in read(out).split()[1:])
                runs[key].append({"m": m, "inner": float(f["seconds"]),
                                  "sockets": int(f["messages"])})

            for rep in range(reps):
                with self.Paused(twgen, tw_target, self.need(runs, "rawdump")) as w:
                    rawdump("rawdump", "exporter")
                runs["rawdump"][-1]["clean"] = w.clean
                with self.Paused(twgen, tw_target, self.need(runs, "poll_noattr")) as w:
                    m, st = self.once(configs["noattr"], "noattr")
                    runs["poll_noattr"].append({"m": m, "inner": st["poll"],
                                                "sockets": st["sockets"], "stats": st,
                                                "clean": w.clean})
                with self.Paused(twgen, tw_target, self.need(runs, "poll_cold")) as w:
                    m, st = self.once(configs["attr"], "attr")
                    runs["poll_cold"].append({"m": m, "inner": st["poll"],
                                              "sockets": st["sockets"], "stats": st,
                                              "clean": w.clean})
                for key, flags in [("ss_tan", "-tan"), ("ss_tanp", "-tanp")]:
                    if slow(key):
                        continue
                    out = os.path.join(self.shm, "ss.out")
                    with self.Paused(twgen, tw_target, self.need(runs, key)) as w:
                        m = run_measured([self.bin["ss"], flags], out, timeout=600)
                    with open(out, "rb") as fh:
                        lines = sum(1 for _ in fh) - 1  # header
                    os.unlink(out)
                    runs[key].append({"m": m, "inner": None, "sockets": lines,
                                      "clean": w.clean})
                if with_node:
                    with self.Paused(twgen, tw_target, self.need(runs, "node_exporter")) as w:
                        cpu0 = proc_cpu_ns(node_pid)
                        body, wall = http_get(node_url)
                        cpu1 = proc_cpu_ns(node_pid)
                    s = parse_exposition(body)
                    states = sum(v for n, l, v in s
                                 if n == "node_tcp_connection_states"
                                 and "queued" not in l.get("state", ""))
                    runs["node_exporter"].append({
                        "m": None, "wall": wall, "cpu": (cpu1 - cpu0) / 1e9,
                        "inner": metric(s, "node_scrape_collector_duration_seconds",
                                        collector="tcpstat"),
                        "sockets": int(states), "clean": w.clean})
                # What-if floors (see rawdump.cpp), in the same rounds.
                for key, mode, netns in [("rawdump_v1", "v1-single", None),
                                         ("rawdump_per_family", "per-family", None),
                                         ("rawdump_no_tw", "no-time-wait", None),
                                         ("rawdump_empty_ns", "exporter", empty_ns)]:
                    with self.Paused(twgen, tw_target, self.need(runs, key)) as w:
                        rawdump(key, mode, netns)
                    runs[key][-1]["clean"] = w.clean
                log(f"    rep {rep + 1}/{reps}: rawdump {fmt_s(runs['rawdump'][-1]['inner'])}, "
                    f"poll {fmt_s(runs['poll_noattr'][-1]['inner'])}, "
                    f"cold {fmt_s(runs['poll_cold'][-1]['inner'])}, "
                    f"ss -tan {fmt_s(runs['ss_tan'][-1]['m'].wall)}, "
                    f"ss -tanp {fmt_s(runs['ss_tanp'][-1]['m'].wall)}"
                    + (f", node_exporter {fmt_s(runs['node_exporter'][-1]['wall'])}"
                       if with_node else "")
                    + f"; v1 {fmt_s(runs['rawdump_v1'][-1]['inner'])}, "
                    f"per-family {fmt_s(runs['rawdump_per_family'][-1]['inner'])}, "
                    f"no-tw {fmt_s(runs['rawdump_no_tw'][-1]['inner'])}, "
                    f"empty ns {fmt_s(runs['rawdump_empty_ns'][-1]['inner'])}")
        finally:
            subprocess.run(["ip", "netns", "del", empty_ns], check=False)
        if with_node:
            runs["node_exporter_rss_kb"] = proc_status_kb(node_pid, "VmHWM")
        return runs

    def warm(self, ns, twgen, tw_target, polls, label):
        """A long-running exporter with attribution: its polls 2..polls+1,
        each with twgen paused from just before the poll until it ended."""
        port = EXPORTER_PORT
        config = self.write_config(f"warm-{label}.yml", ATTR_CONFIG + (
            f"web:\n  listen_address: 127.0.0.1:{port}\npoll:\n  interval: {WARM_INTERVAL}s\n"))
        url = f"http://127.0.0.1:{port}/metrics"
        argv = [self.bin["tcpstate_exporter"], "--config", config, "--log.level", "warn"]
        p = ns.spawn(argv, stdout=subprocess.DEVNULL,
                     stderr=open(os.path.join(self.tmp, f"warm-{label}.log"), "w"))
        try:
            def scrape():
                return parse_exposition(http_get(url)[0])

            def wait_polls(n, timeout=120, pause=0.05):
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    try:
                        s = scrape()
                        if (metric(s, "tcpstate_polls_total", result="success") or 0) >= n:
                            return s
                    except OSError:
                        pass
                    time.sleep(pause)
                raise RuntimeError(f"exporter did not complete poll {n}")

            s = wait_polls(1)
            first = {"poll": metric(s, "tcpstate_poll_duration_seconds"),
                     "fds_read": metric(s, "tcpstate_process_attribution_fds_read_total")}
            rows = []
            for k in range(2, polls + 2):
                end = metric(s, "tcpstate_last_poll_success_timestamp_seconds")
                dur = metric(s, "tcpstate_poll_duration_seconds")
                next_start = end - dur + WARM_INTERVAL
                fds_before = metric(s, "tcpstate_process_attribution_fds_read_total")
                expected = rows[-1]["poll"] if rows else first["poll"] / 2
                # Top up TIME_WAIT, then pause twgen just before the poll starts.
                time.sleep(max(0.0, next_start - time.time() - 4.0))
                with self.Paused(twgen, tw_target, need=0.3 + 1.5 * expected + 0.5,
                                 until=next_start - 0.2) as window:
                    while time.time() < next_start - 0.2:
                        time.sleep(0.01)
                    cpu0 = proc_cpu_ns(p.pid)
                    # No scrape while it polls, if possible: a scrape costs the
                    # exporter CPU, and its connection is a new socket to attribute.
                    time.sleep(0.2 + 1.5 * expected)
                    s = wait_polls(k, pause=0.3)
                    cpu1 = proc_cpu_ns(p.pid)
                rows.append({
                    "poll": metric(s, "tcpstate_poll_duration_seconds"),
                    "sock_diag": metric(s, "tcpstate_source_duration_seconds", source="sock_diag"),
                    "process": metric(s, "tcpstate_source_duration_seconds", source="process"),
                    "sockets": metric(s, "tcpstate_poll_sockets"),
                    "fds_read": metric(s, "tcpstate_process_attribution_fds_read_total") - fds_before,
                    "cpu": (cpu1 - cpu0) / 1e9,
                    "clean": window.clean,
                })
            return {"first": first, "polls": rows, "argv": argv,
                    "rss_hwm_kb": proc_status_kb(p.pid, "VmHWM"),
                    "rss_kb": proc_status_kb(p.pid, "VmRSS"),
                    "config": read(config)}
        finally:
            ns.stop(p)

    def perf_top(self, data):
        """Top symbols (self %) and the kernel's share of a perf.data file."""
        rep = subprocess.run([self.bin["perf"], "report", "-i", data, "--stdio", "--no-children",
                              "--sort", "dso,symbol", "--percent-limit", "1.5"],
                             capture_output=True, text=True).stdout
        top = []
        for line in rep.splitlines():
            m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$", line)
            if m:
                sym = re.sub(r"(\s+-)+\s*$", "", m.group(4)).strip()
                if len(sym) > 110:
                    sym = sym[:107] + "..."
                top.append((float(m.group(1)), m.group(2), m.group(3), sym))
        dsos = subprocess.run([self.bin["perf"], "report", "-i", data, "--stdio", "--no-children",
                               "--sort", "dso"], capture_output=True, text=True).stdout
        kshare = sum(float(m.group(1)) for m in
                     re.finditer(r"^\s*([\d.]+)%\s+\[kernel\.kallsyms\]", dsos, re.M))
        return top[:14], kshare

    def shown(self, argv):
        out = []
        for a in argv:
            a = self.rel(a)
            out.append(os.path.basename(a) if a.startswith(self.tmp) else a)
        return out

    def profile(self, ns, twgen, tw_target, configs):
        if not self.bin.get("perf"):
            return None
        result = {}
        dumps = os.path.join(self.tmp, "dumps")
        os.makedirs(dumps, exist_ok=True)
        with self.Paused(twgen, tw_target):
            subprocess.run([self.bin["ss"], "-t", "-a", "-4", "-D", f"{dumps}/inet.bin"], check=True)
            subprocess.run([self.bin["ss"], "-t", "-a", "-6", "-D", f"{dumps}/inet6.bin"], check=True)
        exporter = self.bin["tcpstate_exporter"]
        cases = [
            ("rawdump (kernel floor)", [self.bin["rawdump"], "--repeat", "3"], True, []),
            ("poll without attribution, live", [exporter, "--once", "--config", configs["noattr"],
                                                "--log.level", "warn"], True, []),
            ("poll without attribution, replayed dump (user space only)",
             [exporter, "--once", "--config", configs["noattr"], "--log.level", "warn",
              "--netlink.replay-dir", dumps], False, []),
            ("poll with attribution, cold, live", [exporter, "--once", "--config", configs["attr"],
                                                   "--log.level", "warn"], True, []),
        ]
        if self.bin.get("bench_micro"):
            cases.append(("warm attribution bookkeeping (bench_micro AggregateAttributionWarm/500, "
                          "user space)",
                          [self.bin["bench_micro"],
                           "--benchmark_filter=BM_AggregateAttributionWarm/500$",
                           "--benchmark_min_time=3"], False, ["--all-user"]))
        for name, argv, pause, flags in cases:
            data = os.path.join(self.tmp, "perf.data")
            rec = [self.bin["perf"], "record", "-q", "-F", "2999"] + flags + ["-o", data, "--"] + argv
            with self.Paused(twgen if pause else None, tw_target):
                subprocess.run(rec, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=600)
            top, kshare = self.perf_top(data)
            result[name] = {"argv": ["perf", "record", "-F", "2999"] + flags + ["--"] +
                            self.shown(argv), "top": top, "kernel_pct": kshare}
        return result

    def cpu_overhead(self, ns, seconds, attribution=True):
        """Default config (15 s interval, attribution on unless told): CPU
        over `seconds` of serving, twgen running, one scrape per interval."""
        port = EXPORTER_PORT + (1 if attribution else 3)
        config = self.write_config(
            f"serve-default-{attribution}.yml", f"web:\n  listen_address: 127.0.0.1:{port}\n" +
            ("" if attribution else NOATTR_CONFIG))
        url = f"http://127.0.0.1:{port}/metrics"
        argv = [self.bin["tcpstate_exporter"], "--config", config, "--log.level", "warn"]
        p = ns.spawn(argv, stdout=subprocess.DEVNULL,
                     stderr=open(os.path.join(self.tmp, "serve-default.log"), "w"))
        try:
            deadline = time.monotonic() + 120
            s = {}
            while time.monotonic() < deadline:
                try:
                    s = parse_exposition(http_get(url)[0])
                    if (metric(s, "tcpstate_polls_total", result="success") or 0) >= 1:
                        break
                except OSError:
                    pass
                time.sleep(0.25)
            polls0 = metric(s, "tcpstate_polls_total", result="success")
            fds0 = metric(s, "tcpstate_process_attribution_fds_read_total")
            twgen_cpu0 = group_cpu_seconds(self.twgen_proc.pid)
            t0 = time.monotonic()
            cpu0, ns0 = proc_cpu_seconds(p.pid), proc_cpu_ns(p.pid)
            scrapes = 0
            durations = []
            while time.monotonic() - t0 < seconds:
                # A Prometheus-like scrape in the middle of every interval.
                next_scrape = t0 + 7.5 + 15 * scrapes
                if next_scrape < t0 + seconds:
                    time.sleep(max(0.0, next_scrape - time.monotonic()))
                    s = parse_exposition(http_get(url)[0])
                    durations.append(metric(s, "tcpstate_poll_duration_seconds"))
                    scrapes += 1
                else:
                    time.sleep(max(0.0, t0 + seconds - time.monotonic()))
            elapsed = time.monotonic() - t0
            cpu1, ns1 = proc_cpu_seconds(p.pid), proc_cpu_ns(p.pid)
            twgen_cpu1 = group_cpu_seconds(self.twgen_proc.pid)
            s = parse_exposition(http_get(url)[0])
            polls1 = metric(s, "tcpstate_polls_total", result="success")
            return {
                "seconds": elapsed, "cpu": cpu1 - cpu0, "cpu_schedstat": (ns1 - ns0) / 1e9,
                "polls": polls1 - polls0, "scrapes": scrapes,
                "poll_durations": durations, "sockets": metric(s, "tcpstate_poll_sockets"),
                "rss_hwm_kb": proc_status_kb(p.pid, "VmHWM"),
                "rss_kb": proc_status_kb(p.pid, "VmRSS"),
                "fds_read": (metric(s, "tcpstate_process_attribution_fds_read_total") - fds0
                             if fds0 is not None else None),
                "twgen_cpu_pct": 100 * (twgen_cpu1 - twgen_cpu0) / elapsed,
                "argv": argv, "config": read(config),
            }
        finally:
            ns.stop(p)

    def population(self, label):
        spec = POPULATIONS[label]
        reps = self.args.reps
        log(f"population {label}: {spec}")
        busy_before = wait_idle(self.args.wait_idle)
        configs = self.side_by_side_configs()
        res = {"spec": spec, "busy_before": busy_before}
        with Namespace(label) as ns:
            sp, counts, sp_argv = self.start_sockpop(ns, spec)
            tw, tw_argv = self.start_twgen(ns, spec["time-wait"])
            self.twgen_proc = tw
            target = spec["time-wait"]
            node_argv = [self.bin["node_exporter"], "--collector.disable-defaults",
                         "--collector.tcpstat", f"--web.listen-address=127.0.0.1:{NODE_PORT}",
                         "--log.level=warn"]
            self.node_proc = ns.spawn(node_argv, stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(self.tmp, "node.log"), "w"))
            node_url = f"http://127.0.0.1:{NODE_PORT}/metrics"
            wait_http(node_url, 30, "node_exporter")
            res["expected"] = sum(counts.values()) + target
            res["sockpop"] = counts
            log(f"  side by side, {reps} interleaved repetitions")
            res["runs"] = self.side_by_side(ns, tw, target, reps, node_url, configs)
            ns.stop(self.node_proc)
            log(f"  warm attribution: {reps} polls of a long-running exporter")
            res["warm"] = self.warm(ns, tw, target, reps, label)
            if label == TARGETS_POPULATION and "profile" in self.args.scenarios:
                log("  perf profiles")
                res["profile"] = self.profile(ns, tw, target, configs)
            if label == TARGETS_POPULATION and "cpu" in self.args.scenarios:
                log(f"  CPU over {self.args.cpu_seconds} s of serving (15 s interval)")
                res["cpu"] = self.cpu_overhead(ns, self.args.cpu_seconds)
                log(f"  same without attribution")
                res["cpu_noattr"] = self.cpu_overhead(ns, self.args.cpu_seconds, False)
            self.commands[f"pop-{label}"] = {
                "sockpop": shlex.join([self.rel(a) for a in sp_argv]),
                "twgen": shlex.join([self.rel(a) for a in tw_argv]),
                "node_exporter": shlex.join(node_argv),
            }
        return res

    def procs_scenario(self):
        spec = PROCS_SCENARIO
        reps = self.args.reps
        log(f"scenario procs200: {spec}")
        busy_before = wait_idle(self.args.wait_idle)
        configs = self.side_by_side_configs()
        res = {"spec": spec, "busy_before": busy_before}
        with Namespace("procs") as ns:
            sp, counts, sp_argv = self.start_sockpop(ns, spec)
            res["sockpop"] = counts
            res["expected"] = sum(counts.values())
            res["runs"] = self.side_by_side(ns, None, 0, reps, None, configs, with_node=False)
            res["warm"] = self.warm(ns, None, 0, reps, "procs")
            res["command"] = shlex.join([self.rel(a) for a in sp_argv])
        return res

    def series_scenario(self):
        spec = SERIES_SCENARIO
        log(f"scenario series5000: {spec}")
        res = {"spec": spec, "runs": [], "busy_before": wait_idle(self.args.wait_idle)}
        with Namespace("series") as ns:
            sp, counts, sp_argv = self.start_sockpop(ns, spec)
            res["sockpop"] = counts
            res["command"] = shlex.join([self.rel(a) for a in sp_argv])
            for variant, extra in [("default", "")]:
                port = EXPORTER_PORT + 2
                config = self.write_config(
                    f"series-{variant}.yml",
                    SERIES_CONFIG + f"web:\n  listen_address: 127.0.0.1:{port}\n" + extra)
                argv = [self.bin["tcpstate_exporter"], "--config", config, "--log.level", "warn"]
                p = ns.spawn(argv, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.tmp, "series.log"), "w"))
                try:
                    url = f"http://127.0.0.1:{port}/metrics"
                    deadline = time.monotonic() + 60
                    body = ""
                    while time.monotonic() < deadline:
                        try:
                            body = http_get(url)[0]
                            if "tcpstate_port_sockets" in body:
                                break
                        except OSError:
                            pass
                        time.sleep(0.1)
                    series = series_count(body)
                    loads = []
                    # Plain text on a new connection per request (curl-like), then
                    # what Prometheus does: gzip on a kept-alive connection. The
                    # target row uses the last, Prometheus-like load.
                    for conc, secs, mode in [(1, 5, "plain"), (20, self.args.scrape_seconds,
                                                               "plain"),
                                             (1, 5, "prometheus"),
                                             (20, self.args.scrape_seconds, "prometheus")]:
                        load_argv = [self.bin["scrapeload"], "--port", str(port),
                                     "--concurrency", str(conc), "--seconds", str(secs)]
                        if mode == "prometheus":
                            load_argv += ["--gzip", "--keep-alive"]
                        c0 = proc_cpu_ns(p.pid)
                        out = subprocess.run(load_argv, capture_output=True, text=True,
                                             check=True, timeout=secs + 60).stdout
                        c1 = proc_cpu_ns(p.pid)
                        r = json.loads(out)
                        r["exporter_cpu_per_scrape"] = (c1 - c0) / 1e9 / max(1, r["requests"])
                        r["argv"] = shlex.join([self.rel(a) for a in load_argv])
                        r["mode"] = mode
                        loads.append(r)
                        log(f"  {variant}: {conc} scraper(s), {mode}, {series} series: "
                            f"p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms "
                            f"({r['requests']} requests, {r['errors']} errors)")
                    if (variant == "default" and self.bin.get("perf")
                            and "profile" in self.args.scenarios):
                        data = os.path.join(self.tmp, "perf-scrape.data")
                        load = subprocess.Popen(
                            [self.bin["scrapeload"], "--port", str(port), "--concurrency", "20",
                             "--seconds", "7", "--gzip", "--keep-alive"],
                            stdout=subprocess.DEVNULL)
                        time.sleep(1)
                        subprocess.run([self.bin["perf"], "record", "-q", "-F", "2999", "-p",
                                        str(p.pid), "-o", data, "--", "sleep", "5"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       timeout=60)
                        load.wait(timeout=60)
                        top, kshare = self.perf_top(data)
                        res["profile"] = {
                            "/metrics under 20 scrapers (exporter process, 5 s)": {
                                "argv": ["perf", "record", "-F", "2999", "-p", "PID", "--",
                                         "sleep", "5"], "top": top, "kernel_pct": kshare}}
                    res["runs"].append({"variant": variant, "series": series, "loads": loads,
                                        "config": read(config),
                                        "rss_hwm_kb": proc_status_kb(p.pid, "VmHWM")})
                finally:
                    ns.stop(p)
        return res

    # -- report ----------------------------------------------------------------

    def run(self):
        self.build()
        info = self.machine()
        self.results["machine"] = info
        t0 = time.monotonic()
        if "micro" in self.args.scenarios:
            self.results["micro"] = self.micro()
        for label in self.args.populations:
            self.results["populations"][label] = self.population(label)
        if "procs" in self.args.scenarios:
            self.results["scenarios"]["procs"] = self.procs_scenario()
        if "series" in self.args.scenarios:
            self.results["scenarios"]["series"] = self.series_scenario()
        info["loadavg_end"] = read("/proc/loadavg").split()[:3]
        info["runtime"] = time.monotonic() - t0
        Report(self).write(self.args.output)
        raw = os.path.join(BUILD, "bench-results.json")
        with open(raw, "w") as f:
            json.dump(self.results, f, indent=1, default=lambda o: o.__dict__)
        log(f"wrote {self.args.output} (raw results: {raw})")


# ---------------------------------------------------------------------------
# Markdown

TOOLS = [
    ("rawdump", "raw sock_diag dump (bench/rawdump, the floor)"),
    ("poll_noattr", "exporter poll, no attribution (`--once`)"),
    ("poll_cold", "exporter poll, attribution cold (`--once`)"),
    ("poll_warm", "exporter poll, attribution warm (long-running)"),
    ("ss_tan", "`ss -tan`"),
    ("ss_tanp", "`ss -tanp`"),
    ("node_exporter", "node_exporter tcpstat scrape"),
]


EXPERIMENTS = [
    ("rawdump", "the exporter's 2 legacy requests, both families per walk (= rawdump above)"),
    ("rawdump_v1", "ONE legacy request for every state (`--mode v1-single`)"),
    ("rawdump_per_family", "4 per-family v2 requests: the fallback, and the exporter before "
     "the single walk (`--mode per-family`)"),
    ("rawdump_no_tw", "the exporter's requests without TIME_WAIT in the state mask "
     "(`--mode no-time-wait`)"),
    ("rawdump_empty_ns", "the exporter's requests from an EMPTY namespace (walks the shared "
     "hash only)"),
]


def summarize(res):
    """Per tool: median wall (process), inner (the tool's own timing), CPU,
    RSS, sockets seen (min..max)."""
    out = {}
    runs = res["runs"]
    for key, _ in TOOLS + EXPERIMENTS[1:]:
        if key == "poll_warm":
            polls = res["warm"]["polls"]
            out[key] = {"wall": median([r["poll"] for r in polls]),
                        "inner": median([r["poll"] for r in polls]),
                        "cpu": median([r["cpu"] for r in polls]),
                        "rss": res["warm"]["rss_hwm_kb"],
                        "sockets": [r["sockets"] for r in polls],
                        "fds_read": [r["fds_read"] for r in polls], "n": len(polls),
                        "clean": sum(1 for r in polls if r.get("clean", True)),
                        "process": median([r["process"] for r in polls]),
                        "sock_diag": median([r["sock_diag"] for r in polls])}
            continue
        rs = runs.get(key) or []
        if not rs:
            continue
        if key == "node_exporter":
            out[key] = {"wall": median([r["wall"] for r in rs]),
                        "inner": median([r["inner"] for r in rs]),
                        "cpu": median([r["cpu"] for r in rs]),
                        "rss": runs.get("node_exporter_rss_kb"),
                        "sockets": [r["sockets"] for r in rs], "n": len(rs),
                        "clean": sum(1 for r in rs if r.get("clean", True))}
            continue
        out[key] = {"wall": median([r["m"].wall for r in rs]),
                    "inner": median([r["inner"] for r in rs]),
                    "cpu": median([r["m"].cpu for r in rs]),
                    "rss": median([r["m"].maxrss_kb for r in rs]),
                    "sockets": [r["sockets"] for r in rs], "n": len(rs),
                    "clean": sum(1 for r in rs if r.get("clean", True))}
        if key in ("poll_noattr", "poll_cold"):
            out[key]["process"] = median([r["stats"]["process"] for r in rs])
            out[key]["sock_diag"] = median([r["stats"]["sock_diag"] for r in rs])
            out[key]["fds_read"] = [r["stats"]["fds_read"] for r in rs]
    return out


def seen(values):
    values = [int(v) for v in values if v is not None]
    if not values:
        return "n/a"
    lo, hi = min(values), max(values)
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


class Report:
    def __init__(self, bench):
        self.b = bench
        self.r = bench.results
        self.lines = []

    def p(self, text=""):
        self.lines.append(text)

    def table(self, header, rows):
        self.p("| " + " | ".join(header) + " |")
        self.p("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            self.p("| " + " | ".join(str(c) for c in row) + " |")
        self.p()

    def targets(self):
        """[(target, measured, met, floor)] on the targets population and the
        scenarios. `floor`: the best any exporter sending the same kernel
        requests could do (rawdump in place of the exporter), and with one v1
        request (`rawdump --mode v1-single`)."""
        rows = []
        pop = self.r["populations"].get(TARGETS_POPULATION)

        def floors(raw_value, v1_value, other, limit, fmt=fmt_x):
            a, b = ratio(raw_value, other), ratio(v1_value, other)
            if a is None:
                return "n/a"
            return (f"{fmt(a)} / {fmt(b)}" + (" (out of reach)" if a > limit and
                                               (b is None or b > limit) else ""))

        if pop:
            s = summarize(pop)
            poll = s["poll_noattr"]["inner"]
            raw = s["rawdump"]["inner"]
            v1 = s.get("rawdump_v1", {}).get("inner")
            node = s.get("node_exporter", {}).get("wall")
            r1 = ratio(poll, raw)
            rows.append(("poll without attribution ≤ 1.2x raw dump (in-process timings)",
                         f"{fmt_s(poll)} vs {fmt_s(raw)} = {fmt_x(r1)} "
                         f"(CPU: {fmt_s(s['poll_noattr']['cpu'])} vs {fmt_s(s['rawdump']['cpu'])} "
                         f"= {fmt_x(ratio(s['poll_noattr']['cpu'], s['rawdump']['cpu']))})",
                         r1 is not None and r1 <= 1.2, "1.00x / " + fmt_x(ratio(v1, raw))))
            r2 = ratio(poll, node)
            rows.append(("poll without attribution ≤ 0.5x node_exporter scrape",
                         f"{fmt_s(poll)} vs {fmt_s(node)} = {fmt_x(r2)}",
                         r2 is not None and r2 <= 0.5, floors(raw, v1, node, 0.5)))
            rss = [pop["warm"]["rss_hwm_kb"]]
            if pop.get("cpu"):
                rss.append(pop["cpu"]["rss_hwm_kb"])
            rss_max = max(v for v in rss if v is not None)
            rows.append(("daemon peak RSS < 32 MB (VmHWM of the serving exporter, attribution on)",
                         f"{fmt_mb(rss_max)} (`--once`: {fmt_mb(s['poll_cold']['rss'])} with "
                         f"attribution, {fmt_mb(s['poll_noattr']['rss'])} without)",
                         rss_max < 32 * 1024, ""))
            ssp = s["ss_tanp"]["wall"]
            r3 = ratio(s["poll_warm"]["inner"], ssp)
            rows.append(("poll with attribution, warm ≤ 0.1x `ss -tanp`",
                         f"{fmt_s(s['poll_warm']['inner'])} vs {fmt_s(ssp)} = {fmt_x(r3)}",
                         r3 is not None and r3 <= 0.1, floors(raw, v1, ssp, 0.1)))
            r4 = ratio(s["poll_cold"]["inner"], ssp)
            rows.append(("poll with attribution, cold ≤ 0.3x `ss -tanp`",
                         f"{fmt_s(s['poll_cold']['inner'])} vs {fmt_s(ssp)} = {fmt_x(r4)} "
                         f"(whole `--once` process {fmt_s(s['poll_cold']['wall'])} = "
                         f"{fmt_x(ratio(s['poll_cold']['wall'], ssp))})",
                         r4 is not None and r4 <= 0.3, floors(raw, v1, ssp, 0.3)))
            if pop.get("cpu"):
                c = pop["cpu"]
                pct = 100 * c["cpu"] / c["seconds"]
                raw_cpu_pct = 100 * s["rawdump"]["cpu"] / 15 if s["rawdump"]["cpu"] else None
                v1_cpu_pct = 100 * s["rawdump_v1"]["cpu"] / 15 \
                    if s.get("rawdump_v1", {}).get("cpu") else None
                c2 = pop.get("cpu_noattr")
                extra = (f"; without attribution {100 * c2['cpu'] / c2['seconds']:.2f}%"
                         if c2 else "")
                rows.append(("CPU at the default 15 s interval < 2% of one core",
                             f"{pct:.2f}% ({c['cpu']:.2f} s CPU in {c['seconds']:.0f} s, "
                             f"{c['polls']:.0f} polls, {c['scrapes']} scrapes{extra})",
                             pct < 2,
                             (f"{raw_cpu_pct:.2f}% / {v1_cpu_pct:.2f}%" if raw_cpu_pct and
                              v1_cpu_pct else "n/a")))
        procs = self.r["scenarios"].get("procs")
        if procs:
            s = summarize(procs)
            cold = s["poll_cold"]
            warm = s["poll_warm"]
            fds_cold = median(cold["fds_read"])
            fds_warm = max(warm["fds_read"])
            ssp = s["ss_tanp"]["wall"]
            ok = (fds_warm == 0 and fds_cold is not None and
                  fds_cold <= 1.2 * procs["expected"] + 50000)
            rows.append(("attribution bounded, 200 processes x 1,000 sockets",
                         f"cold: {fmt_s(cold['inner'])} ({fds_cold:,.0f} fd links read, "
                         f"{fmt_x(ratio(cold['inner'], ssp))} `ss -tanp`); warm: "
                         f"{fmt_s(warm['inner'])} ({fds_warm:.0f} fd links read, "
                         f"{fmt_x(ratio(warm['inner'], ssp))} `ss -tanp`)", ok, ""))
        series = self.r["scenarios"].get("series")
        if series:
            run = series["runs"][0]
            load = run["loads"][-1]
            plain = [x for x in run["loads"] if x.get("mode") == "plain" and
                     x["concurrency"] == 20]
            also = (f"; plain text, new connection per request: p99 {plain[0]['p99_ms']:.2f} ms, "
                    f"{plain[0]['errors']:,} failed" if plain else "")
            rows.append(("/metrics with ~5,000 series, 20 concurrent scrapers: p99 < 10 ms",
                         f"p99 {load['p99_ms']:.2f} ms of the successful scrapes with "
                         f"{run['series']:,} series, Prometheus-like (gzip, keep-alive; p50 "
                         f"{load['p50_ms']:.2f} ms, {load['requests']:,} ok, {load['errors']:,} "
                         f"failed; default web settings){also}",
                         load["p99_ms"] < 10 and load["errors"] == 0, ""))
        return rows

    def write(self, path):
        r, b = self.r, self.b
        m = r["machine"]
        args = b.args
        cmdline = "bench/run.sh" + (" " + shlex.join(args.shown) if args.shown else "")
        self.p("# Benchmarks")
        self.p()
        self.p("Generated by `bench/run.sh` (bench/run.py); do not edit by hand. Regenerate the "
               "whole file, as root, with:")
        self.p()
        self.p("```sh")
        self.p(cmdline)
        self.p("```")
        self.p()
        self.p("`bench/run.sh --help` lists the options (populations, repetitions, scenarios). "
               f"This run took {m['runtime'] / 60:.1f} min.")
        self.p()
        self.p("## Machine")
        self.p()
        self.table(["", ""], [
            ("date", m["date"]), ("CPUs (nproc)", m["nproc"]), ("CPU model", m["cpu"]),
            ("memory", m["memory"]), ("kernel", m["kernel"]), ("OS", m["os"]),
            ("compiler", m["compiler"]), ("exporter revision", m["revision"]),
            ("build", "Release (`build-bench/`)"),
            ("node_exporter", m["node_exporter"]), ("ss", m["ss"]),
            ("TCP ehash buckets", m["ehash"]),
            ("load average at start / end", " ".join(m["loadavg_start"]) + " / " +
             " ".join(m["loadavg_end"])),
        ])
        self.p("Timings are only comparable within one run: other work on the machine (the load "
               "average above) slows every tool alike.")
        self.p()

        rows = self.targets()
        if rows:
            self.p(f"## Targets ({TARGETS_POPULATION}+ population unless stated; ratios from the "
                   "same run)")
            self.p()
            self.table(["target", "measured", "met", "floor: raw dump / one request"],
                       [(t, v, "**yes**" if ok else "**NO**", f) for t, v, ok, f in rows])
            self.p("Floor: the same ratio with the exporter replaced by the raw dump of its own "
                   "two requests (legacy `TCPDIAG_GETSOCK`, both families per walk: listeners, "
                   "then the rest; no exporter sending them can do better), and by ONE legacy "
                   "request for every state (see the what-if table of the population); for CPU, "
                   "the raw dump's CPU per 15 s. Before the single walk the exporter sent four "
                   "per-family requests (`rawdump --mode per-family` in the what-if table).")
            self.p()

        self.method()
        for label, pop in r["populations"].items():
            self.population(label, pop)
        if r["scenarios"].get("procs"):
            self.procs(r["scenarios"]["procs"])
        if r["scenarios"].get("series"):
            self.series(r["scenarios"]["series"])
        pop = r["populations"].get(TARGETS_POPULATION)
        if pop and pop.get("cpu"):
            self.cpu(pop["cpu"], pop.get("cpu_noattr"))
        if r.get("micro"):
            self.micro(r["micro"])
        profiles = {}
        if pop and pop.get("profile"):
            profiles.update(pop["profile"])
        if r["scenarios"].get("series", {}).get("profile"):
            profiles.update(r["scenarios"]["series"]["profile"])
        if profiles:
            self.profile(profiles)
        self.commands()
        text = "\n".join(self.lines).rstrip() + "\n"
        with open(path, "w") as f:
            f.write(text)

    def method(self):
        self.p("## Method")
        self.p()
        self.p("- Each population lives in a network namespace of its own (`bench-*`), on loopback. "
               "LISTEN, ESTABLISHED (both ends), CLOSE_WAIT and FIN_WAIT2 sockets are held by "
               "`sockpop` (10 worker processes, comm `sockpop`, IPv4). **TIME_WAIT is refreshed**: "
               f"`bench/twgen` ({TWGEN_WORKERS} processes) keeps the namespace's TIME_WAIT count "
               "(/proc/net/sockstat) at the target by opening and closing loopback connections "
               "(client end closes first), replacing expired sockets as fast as it can. A "
               "TIME_WAIT socket lives 60 s and creating 500k of them takes a good part of that, "
               "so a population made once would not last through the measurements. twgen is "
               "paused (SIGSTOP) while a measured command runs, so no socket churn competes with "
               "it. Before each command the harness lets twgen top the count up and prefers a "
               "quiet window: count at the target and, from twgen's status files, none of its "
               "sockets expiring during the command (1.25x its previous run, "
               f"{DEFAULT_NEED:.0f} s for the first); it waits up to {WINDOW_WAIT:.0f} s for one, "
               f"else settles for {TOPUP_FRACTION:.0%} of the target (up to {TOPUP_WAIT:.0f} s), "
               "and sockets may then expire during the command. Holding 500k TIME_WAIT takes "
               "about 8,300 new connections per second, which this machine sustains only when "
               "it is otherwise idle: the 'sockets seen' column gives what each tool actually "
               "saw, 'runs' how many runs had no quiet window.")
        self.p("- The one-shot tools run in interleaved rounds (rawdump, poll without "
               "attribution, poll with attribution, `ss -tan`, `ss -tanp`, node_exporter scrape, "
               "then the what-if rawdump modes; then the next round); tables give the "
               f"**median**. A tool slower than {SLOW_TOOL_SECONDS} s runs once. Wall = whole "
               "process (fork to exit); CPU = user + system time of the process, peak RSS = its "
               "ru_maxrss (both from wait4 in bench/runstat, which also takes the wall time). "
               "'own timing' is what the tool measures itself: rawdump's read, the exporter's "
               "`tcpstate_poll_duration_seconds`, node_exporter's "
               "`node_scrape_collector_duration_seconds{collector=\"tcpstat\"}`.")
        self.p("- Cold attribution: `--once` with attribution on, i.e. the first poll of a fresh "
               "process (empty owner cache: every process's fd links are read until every "
               "socket's owner is found). Warm attribution: a long-running exporter "
               f"(`poll.interval: {WARM_INTERVAL}s`); polls 2 and later, read from its own "
               "`tcpstate_poll_duration_seconds` after each poll; twgen is paused from just "
               "before each poll starts until it ended; CPU from /proc/PID/task/*/schedstat "
               "across the poll (includes the few scrapes that detect the poll's end); peak RSS "
               "is VmHWM.")
        self.p("- node_exporter (Debian's prometheus-node-exporter) runs inside the namespace "
               "with only the tcpstat collector; a scrape = one HTTP GET of /metrics from the "
               "harness (wall), CPU = its threads' schedstat across the scrape, RSS = VmHWM. "
               "`ss` writes to a tmpfs file.")
        self.p("- Ratios against the raw dump and node_exporter use the exporter's in-process "
               "poll time (no process start-up, no output); against `ss -tanp`, the exporter's "
               "poll time against ss's whole process (the whole `--once` process is given too).")
        self.p()

    def tools_table(self, s, expected):
        rows = []
        for key, title in TOOLS:
            if key not in s:
                continue
            t = s[key]
            n, clean = t.get("n", ""), t.get("clean")
            runs_text = f"{n}" if clean is None or clean == n else f"{n} ({n - clean} outside a quiet window)"
            rows.append((title, fmt_s(t["wall"]), fmt_s(t["inner"]), fmt_s(t["cpu"]),
                         fmt_mb(t["rss"]), seen(t["sockets"]), runs_text))
        self.table(["tool", "wall (median)", "own timing", "CPU", "peak RSS", "sockets seen",
                    "runs"], rows)
        self.p(f"Expected population: {expected:,} sockets (+ the few listeners and scrape "
               "connections of the tools themselves).")
        self.p()

    def ratios(self, s):
        poll = s["poll_noattr"]["inner"]
        rows = [
            ("poll (no attribution) / raw dump", fmt_x(ratio(poll, s["rawdump"]["inner"])),
             fmt_x(ratio(s["poll_noattr"]["cpu"], s["rawdump"]["cpu"]))),
        ]
        if "node_exporter" in s:
            rows.append(("poll (no attribution) / node_exporter scrape",
                         fmt_x(ratio(poll, s["node_exporter"]["wall"])),
                         fmt_x(ratio(s["poll_noattr"]["cpu"], s["node_exporter"]["cpu"]))))
        rows += [
            ("poll (no attribution) / `ss -tan`", fmt_x(ratio(poll, s["ss_tan"]["wall"])),
             fmt_x(ratio(s["poll_noattr"]["cpu"], s["ss_tan"]["cpu"]))),
            ("poll, attribution warm / `ss -tanp`",
             fmt_x(ratio(s["poll_warm"]["inner"], s["ss_tanp"]["wall"])),
             fmt_x(ratio(s["poll_warm"]["cpu"], s["ss_tanp"]["cpu"]))),
            ("`--once`, attribution cold / `ss -tanp`",
             fmt_x(ratio(s["poll_cold"]["wall"], s["ss_tanp"]["wall"])),
             fmt_x(ratio(s["poll_cold"]["cpu"], s["ss_tanp"]["cpu"]))),
            ("poll alone, attribution cold / `ss -tanp`",
             fmt_x(ratio(s["poll_cold"]["inner"], s["ss_tanp"]["wall"])), ""),
        ]
        self.table(["ratio", "wall", "CPU"], rows)

    def experiments(self, s):
        rows = []
        poll = s["poll_noattr"]["inner"]
        node = s.get("node_exporter", {}).get("wall")
        for key, title in EXPERIMENTS:
            if key not in s:
                continue
            t = s[key]
            rows.append((title, fmt_s(t["inner"]), fmt_s(t["cpu"]), seen(t["sockets"]),
                         fmt_x(ratio(t["inner"], s["rawdump"]["inner"])),
                         fmt_x(ratio(t["inner"], node)) if node else "n/a"))
        self.p("What-if floors (bench/rawdump modes, same rounds; not what the exporter does):")
        self.p()
        self.table(["kernel read", "own timing", "CPU", "messages", "vs exporter's requests",
                    "vs node_exporter scrape"], rows)

    def attribution_detail(self, s):
        cold, warm = s["poll_cold"], s["poll_warm"]
        self.table(["attribution", "poll", "of which sock_diag", "of which process", "fd links read"],
                   [("cold (`--once`)", fmt_s(cold["inner"]), fmt_s(cold["sock_diag"]),
                     fmt_s(cold["process"]), seen(cold["fds_read"])),
                    ("warm (polls 2+)", fmt_s(warm["inner"]), fmt_s(warm["sock_diag"]),
                     fmt_s(warm["process"]), seen(warm["fds_read"]))])

    def population(self, label, pop):
        spec = pop["spec"]
        self.p(f"## Population {label}")
        self.p()
        if pop.get("busy_before") is not None:
            self.p(f"(Machine {pop['busy_before']:.0%} busy with other work just before.)")
            self.p()
        self.p(f"sockpop `--listen {spec['listen']} --established {spec['established']} "
               f"--close-wait {spec['close-wait']} --procs {spec['procs']}` + twgen "
               f"`--count {spec['time-wait']}`: " +
               ", ".join(f"{k} {v:,}" for k, v in pop["sockpop"].items() if k != "time_wait") +
               f", time_wait {spec['time-wait']:,} (refreshed).")
        self.p()
        s = summarize(pop)
        self.tools_table(s, pop["expected"])
        self.ratios(s)
        self.attribution_detail(s)
        self.experiments(s)

    def procs(self, res):
        self.p("## Attribution with 200 processes x 1,000 sockets")
        self.p()
        self.p(f"`{res['command']}`: " + ", ".join(f"{k} {v:,}" for k, v in res["sockpop"].items())
               + "; each of the 200 workers holds 500 client and 500 server ends plus its copies "
               "of the 3 listeners. No TIME_WAIT, so nothing is paused.")
        self.p()
        s = summarize(res)
        self.tools_table(s, res["expected"])
        self.ratios(s)
        self.attribution_detail(s)
        self.p("Bounded: a cold poll reads every fd link once (about one per socket held, plus "
               "the other processes' fds on the machine), a warm poll reads none (it re-checks "
               "each known owner's /proc/PID/stat only).")
        self.p()

    def series(self, res):
        self.p("## /metrics under concurrent scrapers (~5,000 series)")
        self.p()
        self.p(f"`{res['command']}`; exporter config (plus `web.listen_address`):")
        self.p()
        self.p("```yaml")
        self.p(SERIES_CONFIG.rstrip())
        self.p("```")
        self.p()
        self.p("Each scraper sends one GET /metrics at a time and waits for the whole body "
               "(bench/scrapeload). `plain`: uncompressed text on a new connection per request, "
               "like curl. `prometheus`: what Prometheus does, `Accept-Encoding: gzip` on a "
               "kept-alive connection (the exporter gzips the text once per poll; the client "
               "does not inflate inside the timing: Prometheus does that on its own machine). "
               "Polls (every 15 s) go on meanwhile. Latencies are of the successful requests; "
               "'failed' counts the others by kind (status = a non-200 answer, e.g. 503 from "
               "the in-flight cap; a failed scrape is a gap in Prometheus).")
        self.p()
        rows = []
        for run in res["runs"]:
            for load in run["loads"]:
                kinds = load.get("error_kinds") or {}
                errors = f"{load['errors']:,}"
                if kinds:
                    errors += " (" + ", ".join(f"{k} {v:,}" for k, v in kinds.items()) + ")"
                rows.append((load.get("mode", "plain"), f"{run['series']:,}",
                             load["concurrency"], f"{load['requests']:,}", errors,
                             f"{load['p50_ms']:.2f}", f"{load['p90_ms']:.2f}",
                             f"{load['p99_ms']:.2f}", f"{load['max_ms']:.2f}",
                             f"{load['bytes'] / 1024:.0f} KiB",
                             fmt_s(load["exporter_cpu_per_scrape"])))
        self.table(["scraper", "series", "scrapers", "ok requests", "failed", "p50 ms", "p90 ms",
                    "p99 ms", "max ms", "body", "exporter CPU / scrape"], rows)

    def cpu(self, c, c_noattr=None):
        self.p(f"## CPU at the default 15 s interval ({TARGETS_POPULATION}+ population)")
        self.p()
        self.p(f"Default configuration (15 s interval) serving for {c['seconds']:.0f} s after its "
               "first poll, with one scrape in the middle of every interval, with attribution "
               "(the default) and without. twgen keeps replacing expiring TIME_WAIT sockets "
               f"meanwhile (it used {c['twgen_cpu_pct']:.0f}% of a core), as the connection churn "
               "that makes a TIME_WAIT population does on a real host: its short-lived "
               "connections are sockets with owners, new at every poll.")
        self.p()
        cols = [c] + ([c_noattr] if c_noattr else [])

        def row(title, fn):
            return tuple([title] + [fn(x) for x in cols])

        self.table(["", "attribution on"] + (["attribution off"] if c_noattr else []), [
            row("exporter CPU (utime+stime)",
                lambda x: f"{x['cpu']:.2f} s = **{100 * x['cpu'] / x['seconds']:.2f}% of one core**"),
            row("same from schedstat", lambda x: f"{x['cpu_schedstat']:.3f} s"),
            row("polls / scrapes in the window", lambda x: f"{x['polls']:.0f} / {x['scrapes']}"),
            row("CPU per poll (incl. its share of scrapes)",
                lambda x: fmt_s(x["cpu"] / x["polls"]) if x["polls"] else "n/a"),
            row("poll durations seen", lambda x: ", ".join(fmt_s(d) for d in x["poll_durations"])),
            row("fd links read in the window",
                lambda x: f"{x['fds_read']:,.0f}" if x.get("fds_read") is not None else "n/a"),
            row("sockets in the last poll", lambda x: f"{x['sockets']:,.0f}"),
            row("peak RSS (VmHWM) / RSS at the end",
                lambda x: f"{fmt_mb(x['rss_hwm_kb'])} / {fmt_mb(x['rss_kb'])}"),
        ])

    def micro(self, rows):
        self.p("## Micro-benchmarks (Google Benchmark, synthetic table)")
        self.p()
        self.p("bench/micro/decoder_aggregator_bench.cpp on a synthetic table shaped like the "
               "populations above (argument = thousands of TIME_WAIT sockets; 500 = 641,000 "
               "sockets, 10 = 12,820), median of 3 repetitions, CPU time. 'Pipeline' is a whole "
               "poll without the kernel (reader + decoder + aggregation + caps); 'Warm'/'Cold' "
               "use a fake /proc in tmpfs with 10 owner processes. 'OwnerCache' (argument = "
               "thousands of cached sockets) is the owner cache alone: Lookup of every socket, "
               "and a warm poll's BeginPoll + Lookups + EndPoll; 'CloseWaitTracker' (thousands "
               "of CLOSE_WAIT sockets) one poll of the tracker.")
        self.p()
        out = []
        for row in rows:
            sockets = row.get("sockets")
            per = f"{row['cpu_s'] / sockets * 1e9:.1f}" if sockets else ""
            extra = []
            if "fds_read_per_poll" in row:
                extra.append(f"{row['fds_read_per_poll']:,.0f} fd links read per poll")
            if "series" in row:
                extra.append(f"{row['series']:,.0f} series, {row['bytes'] / 1024:.0f} KiB")
            out.append((row["name"], fmt_s(row["cpu_s"]), per, ", ".join(extra)))
        self.table(["benchmark", "CPU per iteration", "ns per socket", "notes"], out)

    def profile(self, prof):
        self.p("## Where the time goes (perf)")
        self.p()
        self.p(f"Flat profiles (`perf record -F 2999`, self time, symbols ≥ 1.5%) on the "
               f"{TARGETS_POPULATION}+ population, and of the exporter under the 20-scraper load "
               "of the 5,000-series scenario. The replayed poll reads the population recorded "
               "with `ss -t -a -D` through `--netlink.replay-dir` (its file reading is part of "
               "it). `tcp_diag_dump` is the kernel's walk of the TCP hash tables.")
        self.p()
        for name, data in prof.items():
            self.p(f"**{name}** (kernel: {data['kernel_pct']:.0f}% of samples): "
                   f"`{shlex.join(data['argv'])}`")
            self.p()
            self.table(["self %", "object", "symbol"],
                       [(f"{pct:.1f}", f"`{dso}`", f"`{sym}`") for pct, dso, _, sym in data["top"]])

    def commands(self):
        b = self.b
        self.p("## Commands")
        self.p()
        self.p("Build:")
        self.p()
        self.p("```sh")
        for c in b.commands["build"]:
            self.p(c.replace(ROOT + "/", "").replace(ROOT, "."))
        self.p("```")
        self.p()
        self.p("Exporter configurations: no attribution `processes: {enabled: false}`; "
               "attribution `processes: {enabled: true}` (the default); the long-running ones add "
               f"`web.listen_address` and, for the warm polls, `poll.interval: {WARM_INTERVAL}s`.")
        self.p()
        self.p("Measured in each namespace (the harness enters it with setns, so no "
               "`ip netns exec` start-up is counted):")
        self.p()
        self.p("```sh")
        self.p("build-bench/bench/rawdump")
        self.p("build-bench/tcpstate_exporter --once --config noattr.yml --log.level warn")
        self.p("build-bench/tcpstate_exporter --once --config attr.yml --log.level warn")
        self.p("ss -tan > /dev/shm/…")
        self.p("ss -tanp > /dev/shm/…")
        self.p(f"curl http://127.0.0.1:{NODE_PORT}/metrics   # node_exporter, "
               "from the harness (urllib)")
        self.p("build-bench/tcpstate_exporter --config warm.yml --log.level warn   "
               "# long-running, warm polls")
        self.p("```")
        self.p()
        self.p("Populations:")
        self.p()
        self.p("```sh")
        for key, cmds in b.commands.items():
            if key.startswith("pop-"):
                self.p(f"# {key[4:]}")
                for c in cmds.values():
                    self.p(c.replace(self.b.tmp + "/", ""))
        self.p("```")
        self.p()
        if "micro" in b.commands:
            self.p("Micro-benchmarks: `" + b.commands["micro"] + "`")
            self.p()


def main():
    ap = argparse.ArgumentParser(
        description="Benchmarks tcpstate_exporter against a raw sock_diag dump, ss and "
                    "node_exporter on live socket populations; writes docs/benchmarks.md. "
                    "Needs root (network namespaces).")
    ap.add_argument("--populations", default="10k,100k,500k",
                    help="comma-separated subset of 10k,100k,500k (default: all)")
    ap.add_argument("--reps", type=int, default=5,
                    help="repetitions per tool, interleaved; the median is reported (default 5)")
    ap.add_argument("--scenarios", default="micro,procs,series,cpu,profile",
                    help="comma-separated subset of micro (Google Benchmark), procs (200 "
                         "processes x 1,000 sockets), series (5,000 series, 20 scrapers), cpu "
                         "(60 s of serving on 500k), profile (perf on 500k); default: all")
    ap.add_argument("--cpu-seconds", type=int, default=60,
                    help="serving time for the CPU measurement (default 60)")
    ap.add_argument("--scrape-seconds", type=int, default=20,
                    help="duration of the 20-scraper load (default 20)")
    ap.add_argument("--targets-population", default="500k",
                    help="population on which the targets are judged and the cpu and profile "
                         "scenarios run (default 500k)")
    ap.add_argument("--output", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--no-build", action="store_true", help="use the binaries in build-bench/")
    ap.add_argument("--wait-idle", type=int, default=300, metavar="SECONDS",
                    help="before each population and scenario, wait up to this long for the "
                         "machine to be less than 25%% busy with other work (default 300; 0: "
                         "do not wait)")
    args = ap.parse_args()
    args.raw = sys.argv[1:]
    # Options that do not change what is measured stay out of the doc's command.
    shown, skip = [], False
    for a in args.raw:
        if skip:
            skip = False
        elif a in ("--no-build", "--wait-idle"):
            skip = a == "--wait-idle"
        elif not a.startswith("--wait-idle="):
            shown.append(a)
    args.shown = shown
    args.populations = [p for p in args.populations.split(",") if p]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for p in args.populations:
        if p not in POPULATIONS:
            ap.error(f"unknown population {p}")
    for s in args.scenarios:
        if s not in ("micro", "procs", "series", "cpu", "profile"):
            ap.error(f"unknown scenario {s}")
    if not 1 <= args.reps <= 50:
        ap.error("--reps must be 1..50")
    if not 10 <= args.cpu_seconds <= 600:
        ap.error("--cpu-seconds must be 10..600")
    if not 1 <= args.scrape_seconds <= 300:
        ap.error("--scrape-seconds must be 1..300")
    if os.geteuid() != 0:
        sys.exit("bench/run.sh needs root (network namespaces, sysctls, /proc of every process)")
    if not shutil.which("prometheus-node-exporter"):
        log("installing prometheus-node-exporter (apt)")
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                        "prometheus-node-exporter"], check=True, stdout=subprocess.DEVNULL)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    global TARGETS_POPULATION
    TARGETS_POPULATION = args.targets_population
    bench = Bench(args)
    try:
        bench.run()
    finally:
        bench.close()


if __name__ == "__main__":
    main()
