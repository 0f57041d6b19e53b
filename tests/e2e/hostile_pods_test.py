#!/usr/bin/env python3
"""Hostile pods (docs/security.md, "Threat model: the DaemonSet"): the exporter in
`namespaces.mode: all` against simulated pods whose files, cgroups and namespaces attack it.

Each pod is a network namespace with a process (tests/e2e/hostile_pod_holder.py) that holds
a listener and a connection (three sockets), chroots into a root file system of its own (so
/proc/<pid>/root is the pod's root, as with a container runtime) and sits in a kubelet-style
pod cgroup (cgroupfs and systemd drivers, v1 and v2 as the host allows, pod_util.py). The
roots carry, at /etc/hostname and at the service-account namespace path
/var/run/secrets/kubernetes.io/serviceaccount/namespace:

  legit     real files; /var/run -> /run and namespace -> ..data/namespace (projected volume)
  abs       absolute symlinks to a canary file on the node
  dotdot    relative symlinks climbing out with ../../..
  magic     symlinks through /proc/self/root and /proc/1/root (a procfs is mounted in the
            pod's root): magic links that jump to the READER's root
  loop      symlink loops
  fifo      FIFOs (an ordinary open() blocks for ever)
  device    character devices (/dev/zero's and /dev/null's numbers)
  huge      a 1 TiB sparse file and a 1 MiB one
  changing  rewritten in a loop while the exporter reads it
  impostor  claims legit's hostname, and its process sits in a nested cgroup named like
            legit's pod (.../pod<own uid>/<container>/kubepods/pod<legit uid>/...)
Beside them, a pod namespace churns (created, populated, deleted every ~150 ms).

Runs (serve mode, poll interval 250 ms, ~5 s each):
  1. namespaces.pod_names: pod — names read from the pods' files: only legit's, the
     impostor's and the changing one's (one of the values written, or empty when read
     between truncate and write) are published, every other label
     is empty, tcpstate_pod_identity_failures_total counts each reason; no byte of the
     canary appears in the output.
  2. namespaces.pod_names: kubelet (the default) — names from a simulated kubelet log
     directory; the impostor is labelled with its own kubelet name and pod UID.
  3. namespaces.read_timeout 60 ms beside a pod of 100,000 sockets (a dump and aggregation
     of well over 100 ms): that pod's read is cut
     (tcpstate_netns_stale 1, tcpstate_netns_deadline_exceeded_total grows), the others are
     published with every poll.
In every run: polls keep coming (no poll takes longer than its deadlines allow), the
exporter's threads and fds do not grow, socket counts per pod equal `ss` in the pod, the
process survives and exits 0 on SIGTERM.

Usage: hostile_pods_test.py EXPORTER SOCKPOP   (root; 77 = skipped, with the reason)
"""

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_util import Netns, log, parse_exposition, scrape, time_limit, value, wait_for  # noqa: E402
from pod_util import (PodCgroup, choose_hierarchies, new_container_id, new_pod_uid,  # noqa: E402
                      remove_tree, skip)

HERE = os.path.dirname(os.path.abspath(__file__))
HOLDER = os.path.join(HERE, "hostile_pod_holder.py")
SA = "var/run/secrets/kubernetes.io/serviceaccount/namespace"
SA_RUN = "run/secrets/kubernetes.io/serviceaccount"
POLL = 0.25


def write(root, rel, content):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(content)


def link(root, rel, target):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)


def build_root(root, kind, canary):
    """The pod's root file system for `kind` (see the module docstring)."""
    os.makedirs(os.path.join(root, "etc"))
    os.makedirs(os.path.join(root, "var"))
    if kind in ("legit", "impostor", "changing"):
        link(root, "var/run", "/run")
        write(root, f"{SA_RUN}/..2026_12_03/namespace", f"{kind}-ns\n")
        link(root, f"{SA_RUN}/..data", "..2026_12_03")
        link(root, f"{SA_RUN}/namespace", "..data/namespace")
        write(root, "etc/hostname", "legit-pod\n")  # the impostor claims legit's name
        return
    if kind == "abs":
        link(root, "etc/hostname", canary)
        link(root, SA, canary)
    elif kind == "dotdot":
        link(root, "etc/hostname", "../" * 16 + canary.lstrip("/"))
        link(root, SA, "../" * 24 + canary.lstrip("/"))
    elif kind == "magic":
        link(root, "etc/hostname", "/proc/self/root" + canary)
        link(root, SA, "/proc/1/root" + canary)
    elif kind == "loop":
        link(root, "etc/hostname", "hostname2")
        link(root, "etc/hostname2", "/etc/hostname")
        link(root, SA, "namespace")
    elif kind == "fifo":
        os.mkfifo(os.path.join(root, "etc/hostname"))
        os.makedirs(os.path.dirname(os.path.join(root, SA)))
        os.mkfifo(os.path.join(root, SA))
    elif kind == "device":
        os.mknod(os.path.join(root, "etc/hostname"), 0o644 | 0o020000, os.makedev(1, 5))
        os.makedirs(os.path.dirname(os.path.join(root, SA)))
        os.mknod(os.path.join(root, SA), 0o644 | 0o020000, os.makedev(1, 3))
    elif kind == "huge":
        with open(os.path.join(root, "etc/hostname"), "w") as f:
            f.truncate(1 << 40)
        write(root, SA, "x" * (1 << 20))
    else:
        raise ValueError(kind)


class HostilePod:
    def __init__(self, key, kind, hierarchy, driver, port):
        self.key, self.kind, self.port = key, kind, port
        self.netns = f"tcpstate-hpod{key}-{os.getpid()}"
        self.uid = new_pod_uid()
        self.container_id = new_container_id()
        self.kubelet_name = f"kpod-{key}"
        self.kubelet_namespace = f"kns-{key}"
        if driver == "cgroupfs":
            self.rel = f"kubepods/burstable/pod{self.uid}/{self.container_id}"
        else:
            esc = self.uid.replace("-", "_")
            self.rel = (f"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{esc}"
                        f".slice/cri-containerd-{self.container_id}.scope")
        self.hierarchy = hierarchy
        self.cgroup = None
        self.proc = None
        self.inode = None
        self.created = False

    def start(self, workdir, canary, impostor_of=None):
        self.root = os.path.join(workdir, f"root-{self.key}")
        build_root(self.root, self.kind, canary)
        subprocess.run(["ip", "netns", "add", self.netns], check=True, timeout=30)
        self.created = True
        subprocess.run(["ip", "netns", "exec", self.netns, "ip", "link", "set", "lo", "up"],
                       check=True, timeout=30)
        link_text = subprocess.run(["ip", "netns", "exec", self.netns, "readlink",
                                    "/proc/self/ns/net"], check=True, capture_output=True,
                                   text=True, timeout=30).stdout.strip()
        self.inode = re.fullmatch(r"net:\[(\d+)\]", link_text).group(1)
        rel = self.rel
        if impostor_of is not None:
            # A cgroup of its own below its container, named like another pod's.
            rel += f"/kubepods/pod{impostor_of.uid}/{new_container_id()}"
        self.cgroup = PodCgroup(self.hierarchy, rel)
        self.cgroup.create()
        ready = os.path.join(workdir, f"ready-{self.key}")
        argv = [sys.executable, HOLDER, self.root, str(self.port), ready]
        if self.kind == "magic":
            argv.append("--proc")
        if self.kind == "changing":
            argv += ["--rewrite", "/etc/hostname",
                     "--rewrite-values", "changing-short," + "changing-long-" + "y" * 60]
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.netns] + argv,
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_for(lambda: os.path.exists(ready) or self.proc.poll() is not None, 30,
                 f"pod {self.key} ready")
        if self.proc.poll() is not None:
            raise AssertionError(f"pod {self.key}: holder exited: {self.proc.stderr.read()}")
        # ip netns exec execs the holder: the pid we started is the holder.
        self.cgroup.add(self.proc.pid)

    def ss_counts(self):
        out = subprocess.run(["ip", "netns", "exec", self.netns, "ss", "-tanH"], check=True,
                             capture_output=True, text=True, timeout=30).stdout
        counts = {}
        for line in out.splitlines():
            state = {"ESTAB": "established", "LISTEN": "listen"}.get(line.split()[0], "other")
            counts[state] = counts.get(state, 0) + 1
        return counts

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.created:
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, timeout=30)
            self.created = False


class Churn:
    """A pod namespace created, populated and deleted in a loop (bounded: 200 rounds)."""

    def __init__(self, sockpop, workdir):
        self.sockpop, self.workdir = sockpop, workdir
        self.stop_event = threading.Event()
        self.rounds = 0
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        name = f"tcpstate-hchurn-{os.getpid()}"
        try:
            for i in range(200):
                if self.stop_event.is_set():
                    return
                subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
                try:
                    p = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "0.15"])
                    p.wait(timeout=30)
                finally:
                    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
                self.rounds = i + 1
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(timeout=60)


def threads_and_fds(pid):
    return (len(os.listdir(f"/proc/{pid}/task")), len(os.listdir(f"/proc/{pid}/fd")))


def run_exporter(exporter, node, workdir, name, extra_config):
    port = 19000 + secrets.randbelow(900)
    config = os.path.join(workdir, f"{name}.yml")
    with open(config, "w") as f:
        f.write(f"""poll:
  interval: {int(POLL * 1000)}ms
web:
  listen_address: 127.0.0.1:{port}
namespaces:
  mode: all
{extra_config}""")
    errlog = open(os.path.join(workdir, f"{name}.log"), "w")
    wrap = os.environ.get("HOSTILE_WRAP", "").split()
    proc = subprocess.Popen(["ip", "netns", "exec", node.name] + wrap + [exporter, "--config", config],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errlog)
    return proc, f"http://127.0.0.1:{port}/metrics", errlog.name


def polls(samples):
    return value(samples, "tcpstate_polls_total") or 0


def observe(node, url, proc, seconds):
    """Scrapes for `seconds`; returns (first samples, last samples, last text, (threads, fds)
    at the start, the largest (threads, fds) seen), checking that polls keep coming."""
    def up():
        try:
            return scrape(node, url)
        except subprocess.CalledProcessError:
            return None
    text = wait_for(up, 20, "the exporter's first scrape")
    wait_for(lambda: polls(parse_exposition(scrape(node, url))) >= 3, 20, "three polls")
    first = parse_exposition(scrape(node, url))
    start_resources = threads_and_fds(proc.pid)
    largest = start_resources
    end = time.monotonic() + seconds
    last_polls, last_change = polls(first), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.5)
        assert proc.poll() is None, f"the exporter exited with {proc.returncode}"
        text = scrape(node, url)
        samples = parse_exposition(text)
        now = polls(samples)
        if now > last_polls:
            last_polls, last_change = now, time.monotonic()
        # Deadlines: 5 s per namespace by default, 1 s of pod-file reads per poll.
        assert time.monotonic() - last_change < 3.0, \
            f"no poll for {time.monotonic() - last_change:.1f}s: the poll loop is stuck"
        tf = threads_and_fds(proc.pid)
        largest = (max(largest[0], tf[0]), max(largest[1], tf[1]))
    last = parse_exposition(text)
    made = polls(last) - polls(first)
    # The gap check above is the real one; a loaded CI machine may poll slower than 4/s.
    assert made >= 2, f"only {made} polls in {seconds}s at {POLL}s"
    return first, last, text, start_resources, largest


def check_resources(start, largest, what):
    # Namespace reads run on a thread each, joined; at most 4 pod-file reads may be stuck.
    assert largest[0] <= start[0] + 5, f"{what}: threads grew from {start[0]} to {largest[0]}"
    assert largest[1] <= start[1] + 12, f"{what}: fds grew from {start[1]} to {largest[1]}"
    log(f"  {what}: threads {start[0]} -> at most {largest[0]}, fds {start[1]} -> at most "
        f"{largest[1]}")


def check_counts(samples, pods, what):
    for pod in pods:
        ss = pod.ss_counts()
        got = {s: value(samples, "tcpstate_sockets", netns=pod.inode, state=s)
               for s in ("listen", "established")}
        assert got == {"listen": ss.get("listen", 0), "established": ss.get("established", 0)}, \
            f"{what}: pod {pod.key} ({pod.kind}): exporter {got}, ss {ss}"


def labels_of(samples, pod):
    found = {(l.get("pod_uid"), l.get("pod_name"), l.get("pod_namespace"))
             for n, l, _ in samples if n == "tcpstate_sockets" and l.get("netns") == pod.inode}
    assert len(found) == 1, f"pod {pod.key} ({pod.kind}): label sets {found}"
    return found.pop()


def stop_exporter(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError("the exporter did not exit within 10 s of SIGTERM")
    assert rc == 0, f"the exporter exited with {rc} on SIGTERM"


def run_pod_files(exporter, node, workdir, pods, canary_text, sockpop):
    log("run 1: namespaces.pod_names: pod (the pods' own files)")
    proc, url, errlog = run_exporter(exporter, node, workdir, "pod-files", "  pod_names: pod\n")
    try:
        with Churn(sockpop, workdir) as churn:
            first, last, text, start, largest = observe(node, url, proc, 5)
        assert churn.error is None, f"namespace churn failed: {churn.error!r}"
        log(f"  a pod namespace was created and deleted {churn.rounds} times meanwhile")
        assert canary_text not in text, "a byte of the node's canary file was published"
        check_resources(start, largest, "pod files")
        check_counts(last, pods, "pod files")
        by_kind = {p.kind: labels_of(last, p) for p in pods}
        for pod in pods:
            uid, name, ns = by_kind[pod.kind]
            assert uid == pod.uid, f"pod {pod.kind}: pod_uid {uid}, want {pod.uid}"
            if pod.kind in ("legit", "impostor"):
                # What the pod supplies is what it gets: the impostor's claim shows (that is
                # why the default is the kubelet's names), its cgroup trick does not.
                assert (name, ns) == ("legit-pod", f"{pod.kind}-ns"), (pod.kind, name, ns)
            elif pod.kind == "changing":
                # Read between truncate and write it is empty: never a mix, never more.
                assert name in (None, "changing-short", "changing-long-" + "y" * 60), name
            else:
                assert (name, ns) == (None, None), \
                    f"pod {pod.kind}: labels pod_name={name!r} pod_namespace={ns!r}"
        reasons = {l["reason"]: v for n, l, v in last
                   if n == "tcpstate_pod_identity_failures_total"}
        log(f"  failures by reason: { {k: int(v) for k, v in reasons.items() if v} }")
        # abs + dotdot (4 files) resolve inside the pod to nothing; loop (2) and the
        # /proc/self/root magic link are ELOOP; /proc/1/root fails the ptrace check (EACCES,
        # "error") or, with that allowed, RESOLVE_NO_MAGICLINKS (ELOOP).
        want = {"missing": 4, "symlink_loop": 3, "not_regular": 4, "too_large": 2}
        for reason, n in want.items():
            assert reasons.get(reason, 0) >= n, f"{reason}: {reasons.get(reason)} < {n}"
        assert reasons.get("symlink_loop", 0) + reasons.get("error", 0) >= 4, reasons
        assert value(last, "tcpstate_pod_identity_reads_in_flight") == 0
    finally:
        stop_exporter(proc)
    with open(errlog) as f:
        assert canary_text not in f.read(), "the canary reached the exporter's log"


def run_kubelet(exporter, node, workdir, pods):
    log("run 2: namespaces.pod_names: kubelet (the default)")
    logs = os.path.join(workdir, "var-log-pods")
    os.makedirs(logs)
    for pod in pods:
        os.makedirs(os.path.join(logs, f"{pod.kubelet_namespace}_{pod.kubelet_name}_{pod.uid}"))
    proc, url, _ = run_exporter(exporter, node, workdir, "kubelet",
                                f"  kubelet_pod_logs_dir: {logs}\n")
    try:
        first, last, text, start, largest = observe(node, url, proc, 3)
        check_resources(start, largest, "kubelet names")
        check_counts(last, pods, "kubelet names")
        for pod in pods:
            got = labels_of(last, pod)
            assert got == (pod.uid, pod.kubelet_name, pod.kubelet_namespace), \
                f"pod {pod.kind}: labels {got}, want the kubelet's " \
                f"{(pod.uid, pod.kubelet_name, pod.kubelet_namespace)}"
        log("  every pod, the impostor too, is named by the kubelet's directory")
    finally:
        stop_exporter(proc)


def run_deadline(exporter, node, workdir, pods, sockpop):
    log("run 3: namespaces.read_timeout 60ms beside a pod of 100,000 sockets")
    with Netns("tcpstate-hbig") as big:
        ready = os.path.join(workdir, "big.ready")
        big.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", big.name, sockpop, "--procs", "6", "--established", "50000",
             "--sources", "3", "--ready-file", ready, "--hold-seconds", "300"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: os.path.exists(ready), 120, "100,000 sockets")
        big_inode = re.fullmatch(r"net:\[(\d+)\]", big.run(
            ["readlink", "/proc/self/ns/net"], check=True).stdout.strip()).group(1)
        proc, url, _ = run_exporter(exporter, node, workdir, "deadline",
                                    "  pod_names: none\n  read_timeout: 60ms\n")
        try:
            first, last, text, start, largest = observe(node, url, proc, 3)
            check_resources(start, largest, "deadline")
            # Sampled over ten scrapes: on a loaded machine a tiny pod's read can now and
            # then be descheduled past 60 ms too; the big one must miss nearly always, the
            # small ones mostly not.
            stale = {p.kind: 0 for p in pods}
            big_stale = 0
            for _ in range(10):
                time.sleep(POLL)
                samples = parse_exposition(scrape(node, url))
                big_stale += value(samples, "tcpstate_netns_stale", netns=big_inode) == 1
                for pod in pods:
                    stale[pod.kind] += value(samples, "tcpstate_netns_stale", netns=pod.inode) == 1
            assert big_stale >= 8, f"the 100,000-socket namespace stale in {big_stale}/10"
            often = {k: n for k, n in stale.items() if n > 5}
            assert not often, f"small pods stale in more than 5 of 10 scrapes: {often}"
            log(f"  big namespace stale in {big_stale}/10 scrapes, small pods: {stale}")
            cut = (value(last, "tcpstate_netns_deadline_exceeded_total") -
                   value(first, "tcpstate_netns_deadline_exceeded_total"))
            made = polls(last) - polls(first)
            assert cut >= made * 0.8, f"{cut} reads cut in {made} polls"
            log(f"  {int(cut)} namespace reads cut in {int(made)} polls")
        finally:
            stop_exporter(proc)


def main():
    if os.geteuid() != 0:
        skip("needs root: network namespaces, cgroups, chroot, mknod")
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    exporter, sockpop = sys.argv[1], sys.argv[2]
    for tool in ("ip", "ss", "mount"):
        if shutil.which(tool) is None:
            skip(f"{tool} not installed")
    hierarchies, notes = choose_hierarchies()
    if hierarchies is None:
        skip(notes)
    for note in notes:
        log(f"note: {note}")
    workdir = tempfile.mkdtemp(prefix="tcpstate-hostile-")
    canary_text = "NODE-CANARY-" + secrets.token_hex(8)
    canary = os.path.join(workdir, "node-secret")
    with open(canary, "w") as f:
        f.write(canary_text + "\n")
    kinds = ["legit", "abs", "dotdot", "magic", "loop", "fifo", "device", "huge", "changing",
             "impostor"]
    pods = []
    with time_limit(240):
        try:
            with Netns("tcpstate-hnode") as node:
                for i, kind in enumerate(kinds):
                    driver = "cgroupfs" if i % 2 == 0 else "systemd"
                    pod = HostilePod(chr(ord("a") + i), kind, hierarchies[i % 3], driver,
                                     26000 + i)
                    pods.append(pod)
                    pod.start(workdir, canary,
                              impostor_of=pods[0] if kind == "impostor" else None)
                log(f"{len(pods)} hostile pods: " + ", ".join(
                    f"{p.kind} (netns {p.inode}, {p.hierarchy})" for p in pods))
                run_pod_files(exporter, node, workdir, pods, canary_text, sockpop)
                run_kubelet(exporter, node, workdir, pods)
                run_deadline(exporter, node, workdir, pods, sockpop)
        finally:
            for pod in pods:
                pod.stop()
            remove_tree(workdir)
    log("hostile pods test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
