#!/usr/bin/env python3
"""Alerting end-to-end test: exporter -> Prometheus -> rules -> Alertmanager -> webhook.

Inside a fresh network namespace (loopback only) it starts:

  * tcpstate_exporter (poll every second, namespaces.mode all as in the DaemonSet,
    tests/fixtures/alerting/exporter.yml.in),
  * a real Prometheus scraping it every second, adding the target label cluster="e2e-cluster",
    with the rules rendered by the mixin (mixin/generate.sh --config RENDER_CONFIG: short
    `for:`, short windows, a 10 s CLOSE_WAIT age limit and a CLOSE_WAIT count limit of 20
    (all three CLOSE_WAIT alerts can fire ~15 s after the leak starts);
    never an edited copy),
  * a real Alertmanager sending every notification, resolved ones included, to
  * a webhook receiver of this test (webhook_receiver.py) that logs every POST to a file; a
    route on pod_namespace sends the simulated pod's alerts to that namespace's receiver,
  * a simulated pod: its own network namespace (loopback only), a kubelet-style pod cgroup
    (kubepods/besteffort/pod<uid>/<container>, as in tests/e2e/pods_test.py) and the kubelet's
    pod log directory <namespace>_<name>_<uid>, which names the pod; in it
  * leaker.py, a process named "leaky-client" that leaks 2 CLOSE_WAIT sockets per second,
    outbound to its own port 23456 (and, for the TIME_WAIT panels, sockpop).

It checks that:

  1. TcpstateCloseWaitGrowing, TcpstateCloseWaitLingering and TcpstateCloseWaitHigh fire and
     reach the webhook with process="leaky-client", direction="outbound", port="23456",
     pod_namespace and pod_name of the simulated pod, its pod_uid and cluster (and the job,
     instance, severity and runbook_url they should have; the summary names pod and cluster),
     on the pod namespace's route;
  2. every query of every Grafana dashboard panel (grafana/list-queries.py, run against this
     Prometheus with the real cluster, job and instance) succeeds and returns data, as an
     instant query and, for time-series panels, as a range query; the per-pod panels also with
     the namespace and pod variables set to the simulated pod; a query ending in `or vector(0)`
     must return data without that fallback too; every metric a query names exists in this
     Prometheus; every label_values() dashboard variable has values, the cluster, namespace and
     pod variables the test's. A metric that cannot exist where the exporter runs is a KNOWN GAP
     only after checking why at run time (INIT_NETNS_ONLY: net.ipv4.tcp_max_orphans is shown
     only in the initial network namespace; with namespaces.mode all the exporter reads that
     one too, so normally there is no gap);
  2a. TcpstateFdUsageHigh fires for "fd-hog", a process of the pod holding 56 fds (one a
     listening socket) of a soft RLIMIT_NOFILE of 64 (both checked in /proc first), with
     "(limit 64)" in its description; TcpstateFdExhaustionForecast fires for the leaker, whose
     fds climb with its CLOSE_WAIT sockets, and its description says that they grow too;
  2b. a listener in the pod that never accepts (backlog 1) drops its clients' SYNs:
     TcpstateListenDropsPerPort reaches the webhook for that port, with the pod's labels;
  2c. TcpstateTcpMemoryPressure (threshold lowered) fires and names the top holder, mem-hog in
     the pod, which queues more bytes than the per-CPU reserves can hide from sockstat;
  3. after the leaker exits, the three alerts resolve and the webhook receives them with
     status "resolved" (and not before the leaker exits).

Every wait is bounded and says on timeout what it waited for and the last state seen. All
processes are stopped, the namespace deleted (no process may be left in it) and the temporary
directory removed, also on failure. A run takes about 40 s; it gives up after OVERALL_TIMEOUT
(180 s) plus at most CLEANUP_TIMEOUT (45 s) of cleanup.

Usage: alerting_test.py EXPORTER SOCKPOP
Needs root and a writable cgroup hierarchy (exit 77 = skipped otherwise), jsonnet (the mixin)
and the prometheus, alertmanager (Debian:
prometheus-alertmanager) and promtool binaries (exit 77 when missing, unless
TCPSTATE_E2E_REQUIRE_PROMETHEUS=1, which makes that a failure). PROMETHEUS, ALERTMANAGER,
PROMTOOL and AMTOOL in the environment override the binaries' paths.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "alerting")
sys.path.insert(0, HERE)
from netns_util import (SKIP, Netns, fetch_all, find_binary, parse_exposition,  # noqa: E402
                        require_root, value, wait_for)
from pod_util import (PodCgroup, choose_hierarchies, new_container_id,  # noqa: E402
                      new_pod_uid)

OVERALL_TIMEOUT = 180  # then at most CLEANUP_TIMEOUT more; ctest TIMEOUT is 300
CLEANUP_TIMEOUT = 45
JOB = "tcpstate-e2e"
EXPORTER_ADDR = "127.0.0.1:19930"
PROMETHEUS_ADDR = "127.0.0.1:19090"
ALERTMANAGER_ADDR = "127.0.0.1:19093"
WEBHOOK_ADDR = "127.0.0.1:19095"
LEAK_PORT = 23456  # outside ip_local_port_range, so the port label is the number
LEAK_NAME = "leaky-client"
TIME_WAIT_BASE_PORT = 24000  # sockpop: TIME_WAIT sockets toward BASE+2

CLUSTER = "e2e-cluster"
POD_NAMESPACE = "team-payments"
POD_NAME = f"checkout-{os.getpid()}"
# The documented override: the mixin rendered with short `for:` and windows (every 15m, 10m and
# 5m `for` is 5s, the 30m and 5m windows 20s), two thresholds lowered so that the CLOSE_WAIT
# alerts fire within seconds, and the test's job.
RENDER_CONFIG = "{ " + ", ".join([
    f"tcpstateSelector: 'job=\"{JOB}\"'",
    "closeWaitGrowing+: { window: '20s', 'for': '5s' }",
    "closeWaitHigh+: { threshold: 20, 'for': '5s' }",
    "closeWaitLingering+: { thresholdSeconds: 10, 'for': '5s' }",
    "timeWaitBuckets+: { warning+: { 'for': '5s' }, critical+: { 'for': '5s' } }",
    "timeWaitOverflow+: { window: '20s' }",
    "ephemeralPortExhaustion+: { warning+: { 'for': '5s' }, critical+: { 'for': '5s' } }",
    "acceptQueueNearFull+: { 'for': '5s' }",
    "listenOverflows+: { window: '20s' }", "listenDropsPerPort+: { window: '20s' }",
    # Any TCP memory in use on this node fires (its real use is far below 0.8 of tcp_mem);
    # MEM_HOG makes sure there is some the node-wide counter shows.
    "tcpMemoryPressure+: { threshold: 1e-12, 'for': '5s' }",
    "exporterDown+: { 'for': '5s' }", "exporterAbsent+: { 'for': '5s' }",
    "exporterTargetsMissing+: { 'for': '5s' }", "exporterPollsFailing+: { 'for': '5s' }",
    "exporterSourceDown+: { 'for': '5s' }", "processAttributionUnavailable+: { 'for': '5s' }",
    "exporterConfigReloadFailed+: { 'for': '5s' }",
    "fdUsage+: { 'for': '5s' }",
    "fdExhaustionForecast+: { window: '20s', 'for': '5s', closeWaitWindow: '20s' }",
]) + " }"
# A process of the pod holding FD_HOG_OPEN of a soft RLIMIT_NOFILE of FD_HOG_LIMIT fds (87.5%,
# above TcpstateFdUsageHigh's 0.8), one of them a listening socket so that it owns sockets.
# A process of the pod that queues unread bytes on loopback connections until they exceed what
# the per-CPU forward allocations may hide from /proc/net/sockstat (Linux 6.0+: each possible CPU
# keeps up to net.core.mem_pcpu_rsv pages before they reach the node-wide counter), so that the
# node's TCP memory in use reads above 0 and this process is the top holder.
MEM_HOG_NAME = "mem-hog"
MEM_HOG_PORT = 23480
MEM_HOG_MAX_CONNS = 512
MEM_HOG_CODE = r"""
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
want, max_conns = int(sys.argv[3]), int(sys.argv[4])
srv = socket.socket()
srv.bind(("127.0.0.1", int(sys.argv[2])))
srv.listen(max_conns)
held, queued, chunk = [], 0, b"m" * 65536
while queued < want:
    if len(held) >= 2 * max_conns:
        sys.exit(f"queued only {queued} of {want} bytes on {max_conns} connections")
    c = socket.create_connection(srv.getsockname())
    s, _ = srv.accept()  # never read: the bytes stay in its receive and c's send queue
    c.setblocking(False)
    while True:
        try:
            queued += c.send(chunk)
        except BlockingIOError:
            break
    held += [c, s]
print("READY", queued, len(held) // 2, flush=True)
sys.stdin.read()
"""


def pcpu_hidden_tcp_memory_bytes():
    """The most TCP memory the per-CPU forward allocations can keep from sockstat's `mem`."""
    try:
        with open("/proc/sys/net/core/mem_pcpu_rsv", encoding="ascii") as f:
            rsv_pages = int(f.read())
    except FileNotFoundError:  # before Linux 6.0 every page reaches the counter
        return 0
    n_cpus = 0
    with open("/sys/devices/system/cpu/possible", encoding="ascii") as f:
        for part in f.read().strip().split(","):
            lo, _, hi = part.partition("-")
            n_cpus += int(hi or lo) - int(lo) + 1
    return n_cpus * rsv_pages * os.sysconf("SC_PAGE_SIZE")


FD_HOG_NAME = "fd-hog"
FD_HOG_PORT = 23460
FD_HOG_LIMIT = 64
FD_HOG_OPEN = 56
FD_HOG_CODE = r"""
import ctypes, os, resource, socket, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[3]), resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[2])))
s.listen(8)
held = []
while len(os.listdir("/proc/self/fd")) - 1 < int(sys.argv[4]):  # listdir's own fd
    held.append(open("/dev/null"))
print("READY", len(os.listdir("/proc/self/fd")) - 1, flush=True)
sys.stdin.read()
"""
FD_ALERTS = {"TcpstateFdUsageHigh": FD_HOG_NAME, "TcpstateFdExhaustionForecast": LEAK_NAME}
CLOSE_WAIT_ALERTS = {
    "TcpstateCloseWaitGrowing": "warning",
    "TcpstateCloseWaitLingering": "warning",
    "TcpstateCloseWaitHigh": "critical",
}
# Metrics that cannot exist while the exporter runs outside the initial network namespace: their
# sysctl is global, and /proc/sys shows it only in the initial namespace, so the exporter omits
# the metric. A dashboard query that returns no data only because it names one of these is
# reported as a known gap, not a failure, and only after checking at run time that the file is
# absent in the test's namespace and present in the initial one. Any other empty query fails.
INIT_NETNS_ONLY = {"tcpstate_kernel_tcp_max_orphans": "/proc/sys/net/ipv4/tcp_max_orphans"}
LEAK_LABELS = {"process": LEAK_NAME, "direction": "outbound", "port": str(LEAK_PORT),
               "job": JOB, "instance": EXPORTER_ADDR, "cluster": CLUSTER,
               "pod_namespace": POD_NAMESPACE, "pod_name": POD_NAME}

START = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - START:6.1f}s] {msg}", flush=True)


class Timeout(AssertionError):
    pass


def on_alarm(*_):
    raise Timeout(f"test exceeded its overall limit of {OVERALL_TIMEOUT}s")


class LeakPod:
    """The simulated pod of the leak: a network namespace (loopback only), a kubelet-style pod
    cgroup (cgroupfs driver, BestEffort) and the kubelet's pod log directory, which is where
    the exporter (namespaces.pod_names: kubelet) takes pod_namespace and pod_name from.
    Processes start in the cgroup (the shell joins it before exec), so that no sample of the
    leak is ever without its pod labels."""

    def __init__(self, hierarchy, logs_dir):
        self.netns = f"tcpstate-alerting-pod-{os.getpid()}"
        self.uid = new_pod_uid()
        self.cgroup = PodCgroup(hierarchy,
                                f"kubepods/besteffort/pod{self.uid}/{new_container_id()}")
        self.log_dir = os.path.join(logs_dir, f"{POD_NAMESPACE}_{POD_NAME}_{self.uid}")
        self.created = False
        self.inode = None

    def create(self):
        subprocess.run(["ip", "netns", "add", self.netns], check=True, timeout=30)
        self.created = True
        subprocess.run(["ip", "netns", "exec", self.netns, "ip", "link", "set", "lo", "up"],
                       check=True, timeout=30)
        link = subprocess.run(["ip", "netns", "exec", self.netns, "readlink", "/proc/self/ns/net"],
                              capture_output=True, text=True, check=True, timeout=30).stdout
        self.inode = re.fullmatch(r"net:\[(\d+)\]\s*", link).group(1)
        self.cgroup.create()
        os.makedirs(self.log_dir)

    def argv(self, argv):
        # $0 is the cgroup directory: join it, then enter the namespace and exec the command.
        return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', self.cgroup.path,
                "ip", "netns", "exec", self.netns] + list(argv)

    def describe(self):
        return (f"pod {POD_NAMESPACE}/{POD_NAME} uid {self.uid}: netns {self.netns} (inode "
                f"{self.inode}), cgroup {self.cgroup.path}, kubelet directory {self.log_dir}")

    def remove(self):
        """Kills what is left in the namespace, removes cgroup and namespace. Never raises."""
        try:
            if self.created:
                pids = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True,
                                      text=True, timeout=30).stdout.split()
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
            self.cgroup.remove()
        except Exception as e:  # noqa: BLE001 - cleanup goes on
            print(f"cleanup of the pod: {e!r}", file=sys.stderr)
        if self.created:
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, timeout=30)
            self.created = False


class Harness:
    def __init__(self, ns, tmp, binaries):
        self.ns = ns
        self.tmp = tmp
        self.bin = binaries
        self.procs = []  # (name, Popen, log path), in start order
        self.hooks = os.path.join(tmp, "webhook.jsonl")

    # ---- processes -------------------------------------------------------------------------

    def spawn(self, name, argv, stdin=subprocess.DEVNULL, pod=None):
        """Starts argv in the test's namespace, or with pod= in the simulated pod."""
        path = os.path.join(self.tmp, f"{name}.log")
        logf = open(path, "wb")
        try:
            if pod is None:
                proc = self.ns.spawn(argv, stdin=stdin, stdout=logf, stderr=subprocess.STDOUT)
            else:
                proc = subprocess.Popen(pod.argv(argv), stdin=stdin, stdout=logf,
                                        stderr=subprocess.STDOUT)
        finally:
            logf.close()
        self.procs.append((name, proc, path))
        log(f"started {name} (pid {proc.pid}): {' '.join(argv)}")
        return proc

    def check_alive(self):
        for name, proc, path in self.procs:
            if name in ("leaker", "sockpop"):
                continue
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with status {proc.returncode}:\n"
                                     f"{self.tail(path)}")

    @staticmethod
    def tail(path, lines=25):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return f"({e})"

    def dump_logs(self):
        for name, proc, path in self.procs:
            status = "running" if proc.poll() is None else f"exited {proc.returncode}"
            print(f"----- {name} ({status}), last lines of {path}:\n{self.tail(path)}",
                  file=sys.stderr)
        try:
            state = self.describe_state()
        except BaseException as e:  # also a Timeout of the overall alarm
            state = f"(could not get the state: {e!r})"
        print(f"----- state at failure:\n{state}", file=sys.stderr)

    def stop(self, name, proc, timeout=15):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{name} ignored SIGTERM for {timeout}s, killing it")
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdin:
            proc.stdin.close()

    def stop_all(self):
        """Stops every process in reverse start order, then checks the namespace is empty."""
        for name, proc, _ in reversed(self.procs):
            self.stop(name, proc)
        pids = subprocess.run(["ip", "netns", "pids", self.ns.name], capture_output=True,
                              text=True, check=True).stdout.split()
        left = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
                left.append(f"{pid}: {cmdline}")
            except OSError:
                pass
        assert not left, f"processes left in netns {self.ns.name}: {left}"
        log(f"all processes stopped, netns {self.ns.name} is empty")

    # ---- HTTP inside the namespace ---------------------------------------------------------

    def fetch(self, urls):
        """GETs every URL from inside the namespace (one helper process for all of them).
        Returns [(status, body)]; status 0 means no HTTP answer (body = the error)."""
        return [(status, body.decode("utf-8", "replace"))
                for status, body in fetch_all(self.ns, urls)]

    def get(self, url):
        return self.fetch([url])[0]

    def api(self, path, **params):
        return f"http://{PROMETHEUS_ADDR}{path}?{urllib.parse.urlencode(params, doseq=True)}"

    def prom_json(self, path, **params):
        status, body = self.get(self.api(path, **params))
        if status == 0:
            raise AssertionError(f"Prometheus {path} {params}: no answer: {body}")
        return json.loads(body)

    def query(self, expr):
        doc = self.prom_json("/api/v1/query", query=expr)
        if doc.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {doc}")
        return doc["data"]["result"]

    def describe_prometheus_alerts(self):
        try:
            alerts = self.prom_json("/api/v1/alerts")["data"]["alerts"]
        except Exception as e:
            return f"(Prometheus /api/v1/alerts: {e!r})"
        lines = [f"  {a['labels'].get('alertname')} {a['state']} value={a.get('value')} "
                 f"{ {k: v for k, v in a['labels'].items() if k != 'alertname'} }"
                 for a in alerts]
        return "Prometheus /api/v1/alerts:\n" + ("\n".join(lines) or "  (none)")

    def describe_close_wait(self):
        try:
            rows = self.query('{__name__=~"tcpstate_close_wait_sockets|'
                              f'tcpstate_close_wait_oldest_age_seconds", job="{JOB}"}}')
        except Exception as e:
            return f"(CLOSE_WAIT series: {e!r})"
        return "CLOSE_WAIT series in Prometheus:\n" + ("\n".join(
            f"  {r['metric']} {r['value'][1]}" for r in rows) or "  (none)")

    # ---- webhook ---------------------------------------------------------------------------

    def hook_records(self):
        try:
            with open(self.hooks, encoding="utf-8") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        # Only complete lines: a record is written in one write(), but be safe.
        return [json.loads(line) for line in data.split("\n")[:-1] if line.strip()]

    def hook_events(self, records=None):
        """[(record index, notification status, alert status, labels, annotations)]"""
        events = []
        for i, rec in enumerate(self.hook_records() if records is None else records):
            body = rec["body"]
            for a in body.get("alerts", []):
                events.append((i, body.get("status"), a.get("status"), a.get("labels", {}),
                               a.get("annotations", {})))
        return events

    def describe_hooks(self):
        events = self.hook_events()
        return "\n".join(f"  #{i} {a_status} {labels}" for i, _, a_status, labels, _ in events) \
            or "  (none)"

    def describe_state(self):
        return "\n".join([self.describe_prometheus_alerts(), self.describe_close_wait(),
                          "webhook notifications:", self.describe_hooks()])


def leak_events(events, status, since=0):
    """{alertname: first matching event} of the CLOSE_WAIT alerts for the leaker's labels."""
    found = {}
    for ev in events:
        i, _, a_status, labels, _ = ev
        name = labels.get("alertname")
        if i < since or a_status != status or name not in CLOSE_WAIT_ALERTS:
            continue
        if all(labels.get(k) == v for k, v in LEAK_LABELS.items()):
            found.setdefault(name, ev)
    return found


# ---- PromQL helpers for the dashboard check -------------------------------------------------

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan", "atan2", "sum", "min", "max", "avg", "group", "stddev",
    "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
}


def metric_names(expr):
    """Identifiers used as metric names in a PromQL expression (as grafana/check.sh)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", e)
    return {m.group(1) for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e)
            if not m.group(2) and m.group(1) not in KEYWORDS}


def nonempty(doc):
    data = doc.get("data", {})
    if data.get("resultType") == "scalar":
        return True
    return bool(data.get("result"))


# ---- the test -------------------------------------------------------------------------------

def render_rules(h):
    out = os.path.join(h.tmp, "mixin")
    subprocess.run(["sh", os.path.join(ROOT, "mixin", "generate.sh"), "--config", RENDER_CONFIG,
                    "--out", out], check=True, stdout=subprocess.DEVNULL)
    rules = os.path.join(out, "deploy", "prometheus", "tcpstate_exporter.rules.yml")
    subprocess.run([h.bin["promtool"], "check", "rules", rules], check=True,
                   stdout=subprocess.DEVNULL)
    with open(rules, encoding="utf-8") as f:
        text = f.read()
    assert "tcpstate_close_wait_oldest_age_seconds:max > 10\n" in text, "threshold not rendered"
    assert f'up{{job="{JOB}"}}' in text, "job selector not rendered"
    log(f"rendered rules: mixin/generate.sh --config {RENDER_CONFIG}")
    return rules


def write_configs(h, rules, kubelet_logs):
    def fill(name, **subst):
        with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
            text = f.read()
        for k, v in subst.items():
            text = text.replace(f"@{k}@", v)
        assert "@" not in re.sub(r"^\s*#.*$", "", text, flags=re.M), f"{name}: unfilled placeholder"
        out = os.path.join(h.tmp, name.removesuffix(".in"))
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        return out

    prom = fill("prometheus.yml.in", RULES=rules, ALERTMANAGER=ALERTMANAGER_ADDR, JOB=JOB,
                EXPORTER=EXPORTER_ADDR, CLUSTER=CLUSTER)
    am = fill("alertmanager.yml.in", WEBHOOK_URL=f"http://{WEBHOOK_ADDR}/alerts",
              POD_NAMESPACE=POD_NAMESPACE)
    h.exporter_cfg = fill("exporter.yml.in", KUBELET_POD_LOGS_DIR=kubelet_logs)
    subprocess.run([h.bin["promtool"], "check", "config", prom], check=True,
                   stdout=subprocess.DEVNULL)
    if h.bin.get("amtool"):
        subprocess.run([h.bin["amtool"], "check-config", am], check=True,
                       stdout=subprocess.DEVNULL)
    return prom, am


def start_stack(h, exporter, prom_cfg, am_cfg):
    h.spawn("exporter", [exporter, "--config", h.exporter_cfg, "--web.listen-address", EXPORTER_ADDR])
    h.spawn("webhook", [sys.executable, os.path.join(HERE, "webhook_receiver.py"),
                        "--listen", WEBHOOK_ADDR, "--out", h.hooks])
    h.spawn("alertmanager", [h.bin["alertmanager"], f"--config.file={am_cfg}",
                             f"--storage.path={os.path.join(h.tmp, 'alertmanager')}",
                             f"--web.listen-address={ALERTMANAGER_ADDR}",
                             "--cluster.listen-address=", "--log.level=info"])
    h.spawn("prometheus", [h.bin["prometheus"], f"--config.file={prom_cfg}",
                           f"--storage.tsdb.path={os.path.join(h.tmp, 'prometheus')}",
                           f"--web.listen-address={PROMETHEUS_ADDR}",
                           "--rules.alert.resend-delay=1s", "--log.level=info"])

    urls = {"exporter": f"http://{EXPORTER_ADDR}/metrics",
            "webhook": f"http://{WEBHOOK_ADDR}/",
            "alertmanager": f"http://{ALERTMANAGER_ADDR}/-/ready",
            "prometheus": f"http://{PROMETHEUS_ADDR}/-/ready"}
    last = {}

    def all_ready():
        h.check_alive()
        for (name, url), (status, body) in zip(urls.items(), h.fetch(list(urls.values()))):
            last[name] = f"{status} {body[:200]!r}"
        return all(s.startswith("200") for s in last.values())

    wait_for(all_ready, 60, "exporter, webhook, Alertmanager and Prometheus to answer",
             interval=0.5, state=lambda: "\n".join(f"  {k}: {v}" for k, v in last.items()))
    samples = parse_exposition(h.get(urls["exporter"])[1])
    assert value(samples, "tcpstate_process_attribution_available") == 1, \
        "the exporter cannot attribute sockets to processes (not root?)"

    def scraped():
        rows = h.query(f'up{{job="{JOB}", instance="{EXPORTER_ADDR}"}} == 1')
        am = h.prom_json("/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
        rules = h.prom_json("/api/v1/rules", type="alert")["data"]["groups"]
        return rows and am and rules

    wait_for(scraped, 30, f"Prometheus to scrape the exporter (up{{job={JOB!r}}} == 1), "
             "discover Alertmanager and load the alert rules", interval=1.0,
             state=lambda: json.dumps(h.prom_json("/api/v1/targets")["data"], indent=1)[:3000])
    log("stack ready: exporter scraped by Prometheus, Alertmanager and webhook up")


def start_leaker(h, pod):
    ready = os.path.join(h.tmp, "leaker.ready")
    proc = h.spawn("leaker", [sys.executable, os.path.join(HERE, "leaker.py"),
                              "--port", str(LEAK_PORT), "--name", LEAK_NAME, "--rate", "2",
                              "--interval", "1", "--max", "2000", "--max-seconds",
                              str(OVERALL_TIMEOUT), "--ready-file", ready],
                   stdin=subprocess.PIPE, pod=pod)

    def is_ready():
        if proc.poll() is not None:
            raise AssertionError(f"leaker exited with {proc.returncode}:\n"
                                 f"{h.tail(os.path.join(h.tmp, 'leaker.log'))}")
        return os.path.exists(ready) and open(ready, encoding="utf-8").read().strip()

    line = wait_for(is_ready, 20, "leaker READY", interval=0.2)
    # `ip netns exec` execs the command, so the pid is the leaker's own.
    with open(f"/proc/{proc.pid}/comm", encoding="utf-8") as f:
        comm = f.read().strip()
    assert comm == LEAK_NAME, f"leaker pid {proc.pid} has comm {comm!r}, want {LEAK_NAME!r}"
    with open(f"/proc/{proc.pid}/cgroup", encoding="utf-8") as f:
        cgroups = f.read()
    assert pod.cgroup.proc_line() in cgroups, f"leaker not in {pod.cgroup.proc_line()}: {cgroups}"
    assert os.readlink(f"/proc/{proc.pid}/ns/net") == f"net:[{pod.inode}]", "leaker not in the pod"
    log(f"leaker: {line}")
    return proc


def start_fd_hog(h, pod):
    proc = h.spawn("fd-hog", [sys.executable, "-c", FD_HOG_CODE, FD_HOG_NAME, str(FD_HOG_PORT),
                              str(FD_HOG_LIMIT), str(FD_HOG_OPEN)], stdin=subprocess.PIPE, pod=pod)
    path = os.path.join(h.tmp, "fd-hog.log")

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"fd-hog exited with {proc.returncode}:\n{h.tail(path)}")
        return os.path.exists(path) and "READY" in open(path, encoding="utf-8").read()

    wait_for(ready, 20, "fd-hog READY", interval=0.2)
    n_fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
    with open(f"/proc/{proc.pid}/limits", encoding="utf-8") as f:
        soft = int(next(line for line in f if line.startswith("Max open files")).split()[3])
    assert (n_fds, soft) == (FD_HOG_OPEN, FD_HOG_LIMIT), (n_fds, soft)
    log(f"fd-hog (pid {proc.pid}): {n_fds} fds open of a soft limit of {soft}")
    return proc


def wait_fd_alerts(h, pod):
    """TcpstateFdUsageHigh for fd-hog and TcpstateFdExhaustionForecast for the leaker (its fds
    climb with its CLOSE_WAIT sockets, so the description must say so) reach the webhook."""
    def found():
        h.check_alive()
        got = {}
        for ev in h.hook_events():
            _, _, a_status, labels, annotations = ev
            name = labels.get("alertname")
            if a_status == "firing" and FD_ALERTS.get(name) == labels.get("process") and \
                    labels.get("pod_name") == POD_NAME:
                got.setdefault(name, (labels, annotations))
        return got if len(got) == len(FD_ALERTS) else None

    got = wait_for(found, 60, "the webhook to receive firing " + ", ".join(FD_ALERTS),
                   interval=1.0, state=h.describe_state)
    labels, annotations = got["TcpstateFdUsageHigh"]
    assert labels.get("severity") == "warning" and labels.get("pod_uid") == pod.uid, labels
    want = f"has {FD_HOG_OPEN / FD_HOG_LIMIT:.1%} of its soft RLIMIT_NOFILE in use " \
           f"(limit {FD_HOG_LIMIT})"
    assert want in annotations.get("description", ""), (want, annotations)
    assert "CLOSE_WAIT" not in annotations["description"], annotations  # fd-hog has none
    assert annotations.get("runbook_url", "").endswith("#tcpstatefdusagehigh"), annotations
    labels, annotations = got["TcpstateFdExhaustionForecast"]
    assert "Its CLOSE_WAIT sockets are growing too" in annotations.get("description", ""), \
        annotations
    for name, (labels, annotations) in sorted(got.items()):
        log(f"webhook got {name} firing for {labels.get('process')}: "
            f"{annotations.get('description')}")
DROP_BASE_PORT = 23470  # close_wait_causes.py: the overflowing listener is at +2


def check_listen_drops_alert(h, pod):
    """A listener with backlog 1 that never accepts, in the pod, with 6 clients: their SYNs
    are dropped (and retried): TcpstateListenDropsPerPort must reach the webhook for that port
    with the pod's labels."""
    holder = h.spawn("drops", [sys.executable, os.path.join(HERE, "close_wait_causes.py"),
                               "--port", str(DROP_BASE_PORT), "--name", "drop-server",
                               "--not-accepted", "0", "--not-closed", "0", "--not-reading", "0",
                               "--overflow", "6", "--max-seconds", str(OVERALL_TIMEOUT)],
                     stdin=subprocess.PIPE, pod=pod)
    port = str(DROP_BASE_PORT + 2)
    want = {"alertname": "TcpstateListenDropsPerPort", "port": port, "severity": "warning",
            "pod_namespace": POD_NAMESPACE, "pod_name": POD_NAME, "cluster": CLUSTER}

    def fired():
        h.check_alive()
        if holder.poll() is not None:
            raise AssertionError(f"close_wait_causes.py exited with {holder.returncode}")
        return [ev for ev in h.hook_events() if ev[2] == "firing"
                and all(ev[3].get(k) == v for k, v in want.items())]

    events = wait_for(fired, 60, f"the webhook to receive {want}", interval=1.0,
                      state=h.describe_state)
    annotations = events[0][4]
    assert f"Port {port} on" in annotations.get("summary", ""), annotations
    assert annotations.get("runbook_url", "").endswith("#tcpstatelistendropsperport"), annotations
    log(f"webhook got TcpstateListenDropsPerPort firing for port {port}: {annotations['summary']}")


def start_mem_hog(h, pod):
    """Starts mem-hog in the pod before the stack, so that TcpstateTcpMemoryPressure, which any
    use fires, names it from its first evaluation on."""
    want = pcpu_hidden_tcp_memory_bytes() + (1 << 20)
    hog = h.spawn(MEM_HOG_NAME, [sys.executable, "-c", MEM_HOG_CODE, MEM_HOG_NAME,
                                 str(MEM_HOG_PORT), str(want), str(MEM_HOG_MAX_CONNS)],
                  stdin=subprocess.PIPE, pod=pod)
    path = os.path.join(h.tmp, f"{MEM_HOG_NAME}.log")

    def ready():
        if hog.poll() is not None:
            raise AssertionError(f"mem-hog exited with {hog.returncode}:\n{h.tail(path)}")
        return os.path.exists(path) and "READY" in open(path, encoding="utf-8").read()

    wait_for(ready, 30, "mem-hog READY", interval=0.2)
    _, queued, conns = h.tail(path, 1).split()
    log(f"mem-hog (pid {hog.pid}): {queued} B queued on {conns} connections; the per-CPU "
        f"reserves may hide {want - (1 << 20)} B")


def check_tcp_memory_alert(h):
    """TcpstateTcpMemoryPressure (threshold lowered to fire on any use) reaches the webhook
    for the node's namespace, whose tcp_mem the exporter reads through pid 1, and names the
    process with the most queued bytes: mem-hog in the pod, which queues more than the per-CPU
    reserves can hide from the node-wide counter."""
    def fired():
        h.check_alive()
        return [ev for ev in h.hook_events() if ev[2] == "firing"
                and ev[3].get("alertname") == "TcpstateTcpMemoryPressure"]

    events = wait_for(fired, 60, "the webhook to receive TcpstateTcpMemoryPressure firing",
                      interval=1.0, state=h.describe_state)
    description = events[0][4].get("description", "")
    m = re.search(r"Top holder: (.+?)( in pod \S+)? with \S+ queued\.", description)
    assert m, description
    assert m.group(1) == MEM_HOG_NAME and m.group(2) == f" in pod {POD_NAMESPACE}/{POD_NAME}", \
        description
    top = h.query(f'tcpstate_process_queue_bytes{{process="{m.group(1)}"}}')
    assert top, (m.group(1), description)
    log(f"webhook got TcpstateTcpMemoryPressure firing: top holder {m.group(1)!r}")


def wait_firing(h, leak_started, pod):
    def firing():
        h.check_alive()
        return len(leak_events(h.hook_events(), "firing")) == len(CLOSE_WAIT_ALERTS)

    wait_for(firing, 90, "the webhook to receive firing " + ", ".join(CLOSE_WAIT_ALERTS)
             + f" with labels {LEAK_LABELS}", interval=1.0, state=h.describe_state)
    records = h.hook_records()
    found = leak_events(h.hook_events(records), "firing")
    for name, (i, n_status, _, labels, annotations) in sorted(found.items()):
        assert labels.get("severity") == CLOSE_WAIT_ALERTS[name], (name, labels)
        assert n_status == "firing", (name, n_status)
        url = annotations.get("runbook_url", "")
        assert url.endswith("#" + name.lower()), (name, url)
        summary = annotations.get("summary", "")
        assert LEAK_NAME in summary and f"in pod {POD_NAMESPACE}/{POD_NAME}" in summary \
            and f"(cluster {CLUSTER})" in summary, (name, annotations)
        assert labels.get("pod_uid") == pod.uid and labels.get("netns") == pod.inode, \
            (name, labels, pod.describe())
        # The leaker never reads its sockets (the peer's FIN stays queued, Recv-Q 1): the
        # description names the cause, with the group's count from the real Prometheus.
        description = annotations.get("description", "")
        assert re.search(r"By cause: not_reading=\d+ \(", description), (name, description)
        # Routed on pod_namespace to the namespace's owner.
        assert records[i]["path"] == f"/alerts/{POD_NAMESPACE}", (name, records[i]["path"])
        # The annotation's link opens the exporter's page with the leak's sockets.
        page = annotations.get("close_wait_page", "")
        assert page == f"http://{EXPORTER_ADDR}/close_wait?process={LEAK_NAME}", (name, page)
        status, body = h.fetch([page + "&format=json"])[0]
        rows = json.loads(body)["rows"] if status == 200 else []
        assert any(r["process"] == LEAK_NAME and r["pod_name"] == POD_NAME and
                   r["remote_port"] == LEAK_PORT and r["sockets"] > 0 for r in rows), \
            (name, page, status, body[:500])
        log(f"webhook got {name} firing {records[i]['received_at'] - leak_started:.1f}s after "
            f"the leak started (notification #{i}): "
            f"{ {k: labels[k] for k in ('cluster', 'pod_namespace', 'pod_name', 'process', 'port', 'severity')} }"
            f" via {records[i]['path']}")


def check_dashboards(h, sockpop, pod):
    # TIME_WAIT panels need TIME_WAIT sockets: sockpop makes 5 in the pod (they live 60 s, no
    # owner; the pod's namespace gives them the pod labels).
    ready = os.path.join(h.tmp, "sockpop.ready")
    sp = h.spawn("sockpop", [sockpop, "--family", "4", "--time-wait", "5", "--port",
                             str(TIME_WAIT_BASE_PORT), "--hold-seconds", "120",
                             "--ready-file", ready], stdin=subprocess.PIPE, pod=pod)

    def sp_ready():
        if sp.poll() is not None:
            raise AssertionError(f"sockpop exited with {sp.returncode}:\n"
                                 f"{h.tail(os.path.join(h.tmp, 'sockpop.log'))}")
        return os.path.exists(ready) and open(ready, encoding="utf-8").read().strip()

    log(f"sockpop: {wait_for(sp_ready, 60, 'sockpop READY', interval=0.2)}")
    tw = f'tcpstate_port_sockets{{job="{JOB}", state="time_wait", direction="outbound", ' \
         f'port="{TIME_WAIT_BASE_PORT + 2}", pod_name="{POD_NAME}"}} > 0'
    wait_for(lambda: h.query(tw), 30, f"Prometheus to see the TIME_WAIT sockets ({tw})",
             interval=1.0, state=h.describe_close_wait)
    # rate()/increase() over 1m and deriv() need at least two samples; make sure the exporter
    # has been scraped for a while (it has: the alerts took longer), and that the leak is live.
    wait_for(lambda: h.query(f'count_over_time(up{{job="{JOB}"}}[1m]) >= 20'), 60,
             "20 scrapes of the exporter in the last minute", interval=1.0)
    assert h.query(f'tcpstate_close_wait_sockets{{job="{JOB}", process="{LEAK_NAME}"}} > 0'), \
        "the leak is not visible while checking the dashboards"

    lister = os.path.join(ROOT, "grafana", "list-queries.py")
    base = [sys.executable, lister, "--set", f"cluster={CLUSTER}", "--set", f"job={JOB}",
            "--set", f"instance={EXPORTER_ADDR}"]
    out = subprocess.run(base, capture_output=True, text=True, check=True).stdout
    queries = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert queries, "list-queries.py printed no query"
    # The per-pod panels once more with the namespace and pod variables set to the pod.
    out = subprocess.run(base + ["--set", f"namespace={POD_NAMESPACE}", "--set", f"pod={POD_NAME}"],
                         capture_output=True, text=True, check=True).stdout
    per_pod = [dict(q, panel=q["panel"] + " [namespace/pod selected]")
               for q in map(json.loads, filter(str.strip, out.splitlines()))
               if 'pod_name!=""' in q["expr"]]
    assert len(per_pod) >= 6, f"only {len(per_pod)} per-pod queries"
    queries += per_pod

    present = {r["metric"]["__name__"] for r in
               h.query(f'group by (__name__) ({{job="{JOB}"}})')}
    unavailable = {}  # metric -> why it cannot exist in this setup (verified)
    for m, path in INIT_NETNS_ONLY.items():
        if m not in present and os.path.exists(path) and \
                h.ns.run(["test", "-e", path]).returncode != 0:
            unavailable[m] = (f"{path} exists only in the initial network namespace, the "
                              "exporter runs in another one and omits the metric")
    now = time.time()
    urls, checks, gaps = [], [], []
    for q in queries:
        where = f"{q['dashboard']} / {q['panel']!r} / {q['ref_id']}"
        missing = metric_names(q["expr"]) - present
        if missing and missing <= set(unavailable):
            # Still sent, to check that it parses and runs; its emptiness is the known gap.
            urls.append(h.api("/api/v1/query", query=q["expr"], time=f"{now:.3f}"))
            checks.append((where, "gap", q["expr"]))
            gaps.append(f"{where}: no data, {'; '.join(unavailable[m] for m in sorted(missing))}"
                        f" ({', '.join(sorted(missing))})")
            continue
        exprs = [q["expr"]]
        stripped = re.sub(r"\s+or\s+vector\(\s*0\s*\)\s*$", "", q["expr"])
        if stripped != q["expr"]:
            exprs.append(stripped)  # the fallback must not be what makes the panel non-empty
        for e in exprs:
            urls.append(h.api("/api/v1/query", query=e, time=f"{now:.3f}"))
            checks.append((where, "instant", e))
            if not q["instant"]:
                urls.append(h.api("/api/v1/query_range", query=e, start=f"{now - 30:.3f}",
                                  end=f"{now:.3f}", step="5"))
                checks.append((where, "range", e))
        for m in sorted(metric_names(q["expr"]) - present):
            checks.append((where, "metric", m))

    answers = iter(h.fetch(urls))
    failures, ok = [], 0
    for where, kind, e in checks:
        if kind == "metric":
            failures.append(f"{where}: metric {e} does not exist in Prometheus (job {JOB})")
            continue
        status, body = next(answers)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {"status": "error", "error": body[:300]}
        if kind == "gap" and status == 200 and doc.get("status") == "success":
            continue
        if status != 200 or doc.get("status") != "success":
            failures.append(f"{where}: {kind} query failed ({status}): "
                            f"{doc.get('error', body[:300])}\n    {e}")
        elif doc.get("warnings"):
            failures.append(f"{where}: {kind} query warnings {doc['warnings']}\n    {e}")
        elif not nonempty(doc):
            failures.append(f"{where}: {kind} query returned no data\n    {e}")
        else:
            ok += 1

    # Dashboard variables: label_values(SELECTOR, LABEL) must offer values, and the ones this
    # test created.
    var_values = {"cluster": CLUSTER, "job": JOB, "instance": EXPORTER_ADDR, "process": ".*",
                  "port": ".*", "namespace": ".*", "pod": ".*"}
    want = {"cluster": CLUSTER, "job": JOB, "instance": EXPORTER_ADDR, "process": LEAK_NAME,
            "port": str(LEAK_PORT), "namespace": POD_NAMESPACE, "pod": POD_NAME}
    n_vars = 0
    for path in sorted(os.listdir(os.path.join(ROOT, "grafana", "dashboards"))):
        if not path.endswith(".json"):
            continue
        with open(os.path.join(ROOT, "grafana", "dashboards", path), encoding="utf-8") as f:
            dash = json.load(f)
        for var in dash.get("templating", {}).get("list", []):
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", str(var.get("query")))
            if var.get("type") != "query" or not m:
                continue
            n_vars += 1
            selector = re.sub(r"\$\{?(\w+)\}?", lambda v: var_values[v.group(1)], m.group(1))
            doc = h.prom_json("/api/v1/series", **{"match[]": selector, "start": f"{now - 120:.3f}",
                                                    "end": f"{now:.3f}"})
            values = {s.get(m.group(2)) for s in doc.get("data", [])} - {None}
            where = f"{dash.get('uid')} / variable {var.get('name')}"
            if doc.get("status") != "success" or not values:
                failures.append(f"{where}: label_values({selector}, {m.group(2)}) is empty: {doc}")
            elif want.get(var["name"]) and want[var["name"]] not in values:
                failures.append(f"{where}: {want[var['name']]!r} not among {sorted(values)}")
            else:
                ok += 1

    n_panels = len({(q["dashboard"], q["panel"]) for q in queries})
    assert not failures, (f"{len(failures)} dashboard check(s) failed:\n  "
                          + "\n  ".join(failures))
    log(f"dashboards: {len(queries) - len(gaps)} of {len(queries)} queries of {n_panels} panels "
        f"({len(per_pod)} per-pod queries with namespace/pod selected) and {n_vars} variables "
        f"return data ({ok} checks); every other metric they name exists")
    for g in gaps:
        log(f"KNOWN GAP (not a test failure): {g}")
    sp.stdin.close()  # sockpop may go; its TIME_WAIT sockets stay for 60 s
    sp.wait(timeout=30)


def wait_resolved(h, leaker):
    before = h.hook_records()
    early = leak_events(h.hook_events(before), "resolved")
    assert not early, f"CLOSE_WAIT alerts resolved while the leak went on: {sorted(early)}"
    leaker.stdin.close()
    leaker.terminate()
    leaker.wait(timeout=15)
    stopped = len(before)
    log(f"leaker stopped (exit status {leaker.returncode}); {stopped} notifications so far")

    def resolved():
        h.check_alive()
        return len(leak_events(h.hook_events(), "resolved", since=stopped)) == \
            len(CLOSE_WAIT_ALERTS)

    wait_for(resolved, 60, "the webhook to receive resolved " + ", ".join(CLOSE_WAIT_ALERTS)
             + f" with labels {LEAK_LABELS} after the leaker exited", interval=1.0,
             state=h.describe_state)
    for name, (i, _, _, labels, _) in sorted(leak_events(h.hook_events(), "resolved",
                                                         since=stopped).items()):
        log(f"webhook got {name} resolved (notification #{i})")

    def gone():
        alerts = h.prom_json("/api/v1/alerts")["data"]["alerts"]
        return not [a for a in alerts if a["labels"].get("process") == LEAK_NAME]

    wait_for(gone, 20, f"Prometheus to drop every alert of process {LEAK_NAME}", interval=1.0,
             state=h.describe_prometheus_alerts)
    others = sorted({ev[3].get("alertname") + " " + json.dumps(ev[3], sort_keys=True)
                     for ev in h.hook_events()
                     if not all(ev[3].get(k) == v for k, v in LEAK_LABELS.items())})
    if others:  # not a failure: this test only asserts the CLOSE_WAIT alerts of the leak
        log("note: other alerts reached the webhook:\n  " + "\n  ".join(others))


def main():
    require_root()
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    exporter, sockpop = (os.path.abspath(p) for p in sys.argv[1:3])
    binaries = {
        "prometheus": find_binary("PROMETHEUS", "prometheus"),
        "alertmanager": find_binary("ALERTMANAGER", "prometheus-alertmanager", "alertmanager"),
        "promtool": find_binary("PROMTOOL", "promtool"),
        "amtool": find_binary("AMTOOL", "amtool"),
    }
    missing = [k for k in ("prometheus", "alertmanager", "promtool") if not binaries[k]]
    if missing:
        msg = f"{', '.join(missing)} not found (Debian: apt-get install prometheus " \
              "prometheus-alertmanager)"
        if os.environ.get("TCPSTATE_E2E_REQUIRE_PROMETHEUS") == "1":
            print(f"FAIL: {msg}", file=sys.stderr)
            return 1
        print(f"SKIP: {msg}", file=sys.stderr)
        return SKIP

    hierarchies, notes = choose_hierarchies()
    if hierarchies is None:
        print(f"SKIP: {notes}", file=sys.stderr)
        return SKIP

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    signal.alarm(OVERALL_TIMEOUT)
    tmp = tempfile.mkdtemp(prefix="tcpstate-alerting-")
    ns_name = None
    kubelet_logs = os.path.join(tmp, "var-log-pods")
    os.makedirs(kubelet_logs)
    pod = LeakPod(hierarchies[2], kubelet_logs)  # cgroup2 if writable, else another
    try:
        with Netns("tcpstate-alerting") as ns:
            ns_name = ns.name
            h = Harness(ns, tmp, binaries)
            try:
                rules = render_rules(h)
                prom_cfg, am_cfg = write_configs(h, rules, kubelet_logs)
                pod.create()
                log(f"simulated {pod.describe()}")
                start_mem_hog(h, pod)
                start_stack(h, exporter, prom_cfg, am_cfg)
                leaker = start_leaker(h, pod)
                t_leak = time.monotonic()
                start_fd_hog(h, pod)
                wait_firing(h, time.time(), pod)
                wait_fd_alerts(h, pod)
                t_firing = time.monotonic() - t_leak
                check_listen_drops_alert(h, pod)
                check_tcp_memory_alert(h)
                check_dashboards(h, sockpop, pod)
                t_stop = time.monotonic()
                wait_resolved(h, leaker)
                t_resolved = time.monotonic() - t_stop
            except BaseException:
                h.dump_logs()
                raise
            finally:
                signal.alarm(CLEANUP_TIMEOUT)  # the cleanup must not hang either
            h.stop_all()
    finally:
        pod.remove()
        signal.alarm(0)
        shutil.rmtree(tmp, ignore_errors=True)
        if ns_name:
            listed = subprocess.run(["ip", "netns", "list"], capture_output=True,
                                    text=True).stdout.split()
            if ns_name in listed:
                print(f"WARNING: netns {ns_name} still exists", file=sys.stderr)
    log(f"alerting end-to-end test passed: all alerts at the webhook {t_firing:.1f}s after the leak "
        f"started, resolved {t_resolved:.1f}s after the leaker was stopped; "
        f"total {time.monotonic() - START:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
