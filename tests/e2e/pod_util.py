"""Helpers of pods_test.py: pod-like cgroups, simulated pods (a network namespace, a mount
namespace with the pod's /etc/hostname and service account namespace file, a sockpop
population placed in a kubelet-style cgroup), the DaemonSet's way of running the exporter
(arguments and capabilities read from deploy/kubernetes/base/daemonset.yaml), and a fixture
proc root. Standard library only (PyYAML is used for daemonset.yaml when installed).

Everything here cleans up after itself: Pod.close() and PodCgroup.remove() never raise.
"""

import errno
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid

from netns_util import SS_STATES, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Capability numbers (linux/capability.h) of the names the DaemonSet may add.
CAP_NUMBERS = {
    "chown": 0, "dac_override": 1, "dac_read_search": 2, "fowner": 3, "fsetid": 4, "kill": 5,
    "setgid": 6, "setuid": 7, "setpcap": 8, "net_bind_service": 10, "net_raw": 13,
    "ipc_lock": 14, "sys_chroot": 18, "sys_ptrace": 19, "sys_admin": 21, "sys_resource": 24,
    "net_admin": 12, "mknod": 27, "audit_write": 29, "setfcap": 31, "bpf": 39, "perfmon": 38,
}


def cap_mask(caps):
    mask = 0
    for cap in caps:
        mask |= 1 << CAP_NUMBERS[cap]
    return mask


def log(message):
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# cgroups

class Hierarchy:
    """A mounted cgroup hierarchy: v1 (with its controllers or name=...) or v2."""

    def __init__(self, mountpoint, version, options):
        self.mountpoint = mountpoint
        self.version = version
        self.options = options  # v1: the controller list / name=..., as in /proc/self/cgroup

    def __repr__(self):
        return f"cgroup v{self.version} {self.options or ''} at {self.mountpoint}"

    def cgroup_line_prefix(self):
        """What /proc/<pid>/cgroup lines of this hierarchy look like before the path."""
        return ":" if self.version == 2 else f":{self.options}:"


def cgroup_hierarchies():
    """Mounted cgroup hierarchies, by controller list (v1) or "unified" (v2)."""
    found = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 4:
                continue
            mountpoint, fstype, options = fields[1], fields[2], fields[3].split(",")
            if fstype == "cgroup2":
                found.setdefault("unified", Hierarchy(mountpoint, 2, ""))
            elif fstype == "cgroup":
                names = [o for o in options
                         if o not in ("rw", "ro", "relatime", "noatime", "nosuid", "nodev",
                                      "noexec", "clone_children", "nsdelegate")
                         and not o.startswith("release_agent=")]
                key = ",".join(names)
                found.setdefault(key, Hierarchy(mountpoint, 1, key))
    return found


def writable(hierarchy):
    """Can we create a child cgroup and move a process into it?"""
    probe = os.path.join(hierarchy.mountpoint, f"tcpstate-pods-probe-{os.getpid()}")
    try:
        os.mkdir(probe)
    except OSError:
        return False
    child = None
    try:
        child = subprocess.Popen(["sleep", "30"])
        with open(os.path.join(probe, "cgroup.procs"), "w") as f:
            f.write(str(child.pid))
        return True
    except OSError:
        return False
    finally:
        if child is not None:
            child.kill()
            child.wait(timeout=10)
        wait_rmdir(probe, 5)


def wait_rmdir(path, timeout):
    """rmdir a cgroup, retrying while exiting members still hold it (EBUSY)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno in (errno.EBUSY, errno.ENOTEMPTY) and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            return False


def choose_hierarchies():
    """(cgroupfs-style v1, systemd v1, v2) hierarchies to put the three pods in; a missing one
    falls back to another writable hierarchy. Returns (choice, notes) or (None, reason)."""
    all_h = cgroup_hierarchies()
    notes = []
    # cpuset needs cpus/mems configured before a process can join; memory may carry the
    # sandbox's own limits. Any other v1 hierarchy will do.
    v1_order = ["pids", "freezer", "devices", "blkio", "cpu", "cpuacct", "perf_event",
                "net_cls,net_prio", "hugetlb"]
    v1 = next((all_h[k] for k in v1_order if k in all_h and writable(all_h[k])), None)
    systemd = all_h.get("name=systemd")
    systemd = systemd if systemd and writable(systemd) else None
    v2 = all_h.get("unified")
    v2 = v2 if v2 and writable(v2) else None
    usable = [h for h in (v1, systemd, v2) if h]
    if not usable:
        return None, ("no writable cgroup hierarchy (tried v1 " + ", ".join(v1_order) +
                      ", name=systemd and cgroup2): cannot place processes in pod cgroups; "
                      f"mounted: {list(all_h.values())}")
    choice = [v1, systemd, v2]
    for i, what in enumerate(["a cgroup v1 controller hierarchy", "the v1 name=systemd hierarchy",
                              "a cgroup2 hierarchy"]):
        if choice[i] is None:
            choice[i] = usable[0]
            notes.append(f"no writable {what}: using {usable[0]} instead")
    return choice, notes


class PodCgroup:
    """One container cgroup of a pod, kubelet style. Creates the missing parents and removes
    what it created (deepest first) at the end; parents shared with other tests stay."""

    def __init__(self, hierarchy, relpath):
        self.hierarchy = hierarchy
        self.relpath = relpath.strip("/")
        self.path = os.path.join(hierarchy.mountpoint, self.relpath)
        self.created = []

    def create(self):
        for attempt in range(10):
            try:
                current = self.hierarchy.mountpoint
                for part in self.relpath.split("/"):
                    current = os.path.join(current, part)
                    try:
                        os.mkdir(current)
                        self.created.append(current)
                    except FileExistsError:
                        pass
                return
            except FileNotFoundError:
                # Another test removed a shared parent (kubepods) meanwhile: start over.
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError(f"cannot create cgroup {self.path}")

    def add(self, pid):
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def members(self):
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def proc_line(self):
        """The /proc/<pid>/cgroup line expected for a member (relative to the hierarchy root,
        which is the cgroup namespace root here)."""
        return f"{self.hierarchy.cgroup_line_prefix()}/{self.relpath}"

    def remove(self):
        # Members still alive (should not be) go back to the root cgroup first.
        for pid in self.members():
            try:
                with open(os.path.join(self.hierarchy.mountpoint, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
            except OSError as e:
                log(f"cleanup: cannot move pid {pid} out of {self.path}: {e}")
        for path in reversed(self.created):
            if not wait_rmdir(path, 5 if path == self.path else 0):
                if path == self.path:
                    log(f"cleanup: cannot remove {path}")
                # A shared parent still used by another test: theirs to remove.
        self.created = []


# --------------------------------------------------------------------------------------------
# pods

# Runs inside `ip netns exec NS` (its own mount namespace, mounts do not propagate back):
# gives the pod its /etc/hostname and, when POD_SA_NAMESPACE is set, the service account
# namespace file at /var/run/secrets/kubernetes.io/serviceaccount/namespace as the pod sees it.
#   POD_LAYOUT=var-dir           /var/run is a directory (tmpfs on /var)
#   POD_LAYOUT=var-run-symlink   /var/run -> /run, as in Debian-based images: the kubelet's
#                                mount lands in /run (tmpfs on /run)
POD_SETUP = r'''
set -eu
case "$POD_LAYOUT" in
  var-dir)
    mount -t tmpfs -o size=1m,mode=755 tcpstate-pod /var || exit 97
    mkdir -p /var/run
    base=/var/run ;;
  var-run-symlink)
    [ "$(readlink /var/run)" = /run ] || { echo "pod setup: /var/run is not -> /run" >&2; exit 98; }
    mount -t tmpfs -o size=1m,mode=755 tcpstate-pod /run || exit 97
    base=/run ;;
esac
mkdir -p "$base/pod"
printf '%s\n' "$POD_HOSTNAME" > "$base/pod/hostname"
mount --bind "$base/pod/hostname" /etc/hostname || exit 97
if [ -n "$POD_SA_NAMESPACE" ]; then
  mkdir -p "$base/secrets/kubernetes.io/serviceaccount"
  printf '%s\n' "$POD_SA_NAMESPACE" > "$base/secrets/kubernetes.io/serviceaccount/namespace"
  # What a process of the pod reads at the kubelet's path.
  [ "$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)" = "$POD_SA_NAMESPACE" ]
fi
[ "$(cat /etc/hostname)" = "$POD_HOSTNAME" ]
exec "$@"
'''


def new_pod_uid():
    return str(uuid.uuid4())


def new_container_id():
    return secrets.token_hex(32)


class Pod:
    """A simulated pod: network namespace + sockpop population in a kubelet-style cgroup."""

    def __init__(self, key, *, hierarchy, driver, qos, hostname, sa_namespace, layout,
                 population, port, user=None, sysctls=None):
        self.key = key
        self.netns = f"tcpstate-pod{key}-{os.getpid()}"
        self.uid = new_pod_uid()
        self.container_id = new_container_id()
        self.hostname = hostname  # what the pod claims in /etc/hostname
        self.sa_namespace = sa_namespace
        # What the kubelet knows (its pod log directory): deliberately not the hostname.
        self.name = f"{key}-kubelet-name-{os.getpid()}"
        self.k8s_namespace = sa_namespace or "default"
        self.layout = layout
        self.population = population  # sockpop options without dashes -> value
        self.port = port
        self.user = user  # None: root; else (uid, gid)
        self.sysctls = sysctls or {}
        self.driver = driver
        if driver == "cgroupfs":
            qos_dir = "" if qos == "guaranteed" else f"{qos}/"
            rel = f"kubepods/{qos_dir}pod{self.uid}/{self.container_id}"
        else:
            escaped = self.uid.replace("-", "_")
            if qos == "guaranteed":
                slices = f"kubepods.slice/kubepods-pod{escaped}.slice"
            else:
                slices = (f"kubepods.slice/kubepods-{qos}.slice/"
                          f"kubepods-{qos}-pod{escaped}.slice")
            runtime = "cri-containerd" if key != "c" else "crio"
            rel = f"{slices}/{runtime}-{self.container_id}.scope"
        self.cgroup = PodCgroup(hierarchy, rel)
        self.proc = None
        self.inode = None
        self.expected = None
        self.pids = []
        self.netns_created = False
        self.stderr_path = None
        self.ready_at = None

    def describe(self):
        return (f"pod {self.key}: netns {self.netns} (inode {self.inode}), uid {self.uid}, "
                f"{self.driver} cgroup {self.cgroup.hierarchy.mountpoint}/{self.cgroup.relpath}, "
                f"hostname {self.hostname}, service account namespace "
                f"{self.sa_namespace or '(none)'} ({self.layout}), sockpop as "
                f"{'root' if self.user is None else 'uid %d' % self.user[0]}, "
                f"population {self.expected}")

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.netns] + list(argv)

    def run(self, argv, **kwargs):
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 60)
        return subprocess.run(self.exec_argv(argv), **kwargs)

    def start(self, sockpop, workdir):
        """Creates the namespace, starts sockpop, waits for READY, moves its processes into
        the pod cgroup. Returns None, or an exit status of POD_SETUP (97: mounts refused)."""
        subprocess.run(["ip", "netns", "add", self.netns], check=True, timeout=30)
        self.netns_created = True
        self.run(["ip", "link", "set", "lo", "up"], check=True)
        link = self.run(["readlink", "/proc/self/ns/net"], check=True).stdout.strip()
        self.inode = re.fullmatch(r"net:\[(\d+)\]", link).group(1)
        for name, val in self.sysctls.items():
            self.run(["sysctl", "-q", "-w", f"{name}={val}"], check=True)
        ready_dir = os.path.join(workdir, f"pod-{self.key}")
        os.makedirs(ready_dir)
        if self.user is not None:
            os.chown(ready_dir, self.user[0], self.user[1])
        ready = os.path.join(ready_dir, "ready")
        argv = [sockpop, "--port", str(self.port)]
        for option, val in self.population.items():
            argv += [f"--{option}", str(val)]
        argv += ["--ready-file", ready, "--hold-seconds", "600"]
        if self.user is not None:
            argv = ["setpriv", f"--reuid={self.user[0]}", f"--regid={self.user[1]}",
                    "--clear-groups", "--"] + argv
        env = dict(os.environ, POD_LAYOUT=self.layout, POD_HOSTNAME=self.hostname,
                   POD_SA_NAMESPACE=self.sa_namespace or "")
        self.stderr_path = os.path.join(workdir, f"pod-{self.key}.stderr")
        with open(self.stderr_path, "w") as err:
            # stdin is a pipe: sockpop also stops when this test dies (EOF).
            self.proc = subprocess.Popen(
                self.exec_argv(["sh", "-c", POD_SETUP, "pod-setup"] + argv),
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=env)

        def ready_line():
            if self.proc.poll() is not None:
                return ("exited",)
            try:
                with open(ready) as f:
                    return f.read().strip() or None
            except FileNotFoundError:
                return None
        line = wait_for(ready_line, 60, f"sockpop READY in pod {self.key}")
        if line == ("exited",):
            if self.proc.returncode in (97, 98):
                return self.proc.returncode
            raise AssertionError(f"pod {self.key}: sockpop exited with {self.proc.returncode}: "
                                 f"{self.stderr()}")
        self.expected = {k: int(v) for k, v in
                         (kv.split("=") for kv in line.split()[1:])}
        # The parent and its workers, as `ip netns pids` lists them.
        self.pids = [int(p) for p in subprocess.run(
            ["ip", "netns", "pids", self.netns], capture_output=True, text=True,
            check=True, timeout=30).stdout.split()]
        want = 1 + int(self.population.get("procs", 1))
        assert len(self.pids) == want, \
            f"pod {self.key}: ip netns pids lists {self.pids}, expected {want} sockpop processes"
        self.cgroup.create()
        for pid in self.pids:
            self.cgroup.add(pid)
        for pid in self.pids:
            with open(f"/proc/{pid}/comm") as f:
                assert f.read().strip() == "sockpop", f"pid {pid} is not sockpop"
            with open(f"/proc/{pid}/cgroup") as f:
                lines = f.read().splitlines()
            assert any(line.endswith(self.cgroup.proc_line()) for line in lines), \
                f"pid {pid} not in {self.cgroup.proc_line()}: {lines}"
        return None

    def add_kubelet_log_dir(self, logs_dir):
        """What the kubelet creates for every pod: <logs_dir>/<namespace>_<name>_<uid>."""
        os.makedirs(os.path.join(logs_dir, f"{self.k8s_namespace}_{self.name}_{self.uid}"))

    def stderr(self):
        try:
            with open(self.stderr_path) as f:
                return f.read()[-2000:]
        except (OSError, TypeError):
            return ""

    def ss_counts(self):
        out = self.run(["ss", "-tanH"], check=True).stdout
        counts = {}
        for line in out.splitlines():
            state = SS_STATES.get(line.split()[0], line.split()[0])
            counts[state] = counts.get(state, 0) + 1
        return counts

    def netstat(self):
        """TcpExt counters of the pod's namespace, read from inside it, and its Tcp counters
        of /proc/net/snmp under keys "Tcp:<name>"."""
        text = self.run(["cat", "/proc/net/netstat"], check=True).stdout.splitlines()
        snmp = self.run(["cat", "/proc/net/snmp"], check=True).stdout.splitlines()
        tcp = {}
        for header, values in zip(snmp, snmp[1:]):
            if header.startswith("Tcp:") and values.startswith("Tcp:"):
                tcp = {"Tcp:" + k: int(v) for k, v in zip(header.split()[1:], values.split()[1:])}
                break
        assert tcp, "no Tcp in /proc/net/snmp"
        for header, values in zip(text, text[1:]):
            if header.startswith("TcpExt:") and values.startswith("TcpExt:"):
                return dict(zip(header.split()[1:], (int(v) for v in values.split()[1:])), **tcp)
        raise AssertionError("no TcpExt in /proc/net/netstat")

    def sysctl(self, name):
        return self.run(["sysctl", "-n", name], check=True).stdout.split()

    def stop(self):
        """Stops the population and removes namespace and cgroup. Never raises."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            if self.netns_created:
                left = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True,
                                      text=True, timeout=30).stdout.split()
                for pid in left + [str(p) for p in self.pids]:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                try:
                    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") and
                                             not _zombie(p) for p in self.pids),
                             10, f"pod {self.key} processes to exit")
                except AssertionError as e:
                    log(f"cleanup: {e}")
        except Exception as e:  # noqa: BLE001 - cleanup goes on
            log(f"cleanup of pod {self.key}: {e!r}")
        try:
            self.cgroup.remove()
        except Exception as e:  # noqa: BLE001
            log(f"cleanup of pod {self.key} cgroup: {e!r}")
        if self.netns_created:
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, timeout=30)
            self.netns_created = False


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# --------------------------------------------------------------------------------------------
# the DaemonSet's way of running the exporter

class DaemonSetRun:
    """Arguments and privileges of the exporter container in deploy/kubernetes/base/
    daemonset.yaml, mapped onto this machine: the image ENTRYPOINT (deploy/docker/Dockerfile)
    with the ConfigMap path replaced by deploy/kubernetes/base/tcpstate_exporter.yml (what the
    ConfigMap generator packs), $(HOST_IP) replaced by 127.0.0.1, and the port by a free one."""

    def __init__(self):
        self.notes = []
        self.config_file = os.path.join(REPO, "deploy/kubernetes/base/tcpstate_exporter.yml")
        self.entrypoint = ["tcpstate_exporter", "--config.file",
                           "/etc/tcpstate_exporter/tcpstate_exporter.yml"]
        self.args = ["--web.listen-address=[$(HOST_IP)]:9930"]
        self.caps = ["sys_ptrace", "dac_read_search", "sys_admin"]
        self.uid, self.gid = 0, 0
        self.no_new_privs = True
        self.config_mount = "/etc/tcpstate_exporter"
        self.host_network = self.host_pid = True
        self._load()
        if not os.path.exists(self.config_file):
            raise AssertionError(f"{self.config_file} missing (deploy/kubernetes/generate.sh)")
        with open(self.config_file) as f:
            mode = re.search(r"^namespaces:\n(?:[ #].*\n)*?  mode: (\w+)", f.read(), re.M)
        assert mode and mode.group(1) == "all", \
            f"the DaemonSet's ConfigMap {self.config_file} does not set namespaces.mode: all"

    def _load(self):
        dockerfile = os.path.join(REPO, "deploy/docker/Dockerfile")
        if os.path.exists(dockerfile):
            with open(dockerfile) as f:
                m = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", f.read(), re.M)
            if m:
                self.entrypoint = json.loads(m.group(1))
        path = os.path.join(REPO, "deploy/kubernetes/base/daemonset.yaml")
        if not os.path.exists(path):
            self.notes.append("deploy/kubernetes/base/daemonset.yaml not found: using the "
                              "documented arguments and capabilities")
            return
        try:
            import yaml  # noqa: PLC0415 - optional
        except ImportError:
            self.notes.append("PyYAML not installed: daemonset.yaml not parsed, using the "
                              "documented arguments and capabilities")
            return
        with open(path) as f:
            ds = yaml.safe_load(f)
        pod = ds["spec"]["template"]["spec"]
        self.host_network = bool(pod.get("hostNetwork"))
        self.host_pid = bool(pod.get("hostPID"))
        container = pod["containers"][0]
        if container.get("command"):
            self.entrypoint = list(container["command"])
        self.args = list(container.get("args") or [])
        psc = pod.get("securityContext") or {}
        csc = container.get("securityContext") or {}
        self.uid = csc.get("runAsUser", psc.get("runAsUser", 0))
        self.gid = csc.get("runAsGroup", psc.get("runAsGroup", 0))
        self.no_new_privs = csc.get("allowPrivilegeEscalation") is False
        capabilities = csc.get("capabilities") or {}
        dropped = [c.upper() for c in capabilities.get("drop") or []]
        if "ALL" not in dropped:
            raise AssertionError("daemonset.yaml does not drop ALL capabilities: this test "
                                 "models the runtime's set as exactly the added ones")
        self.caps = [c.lower().removeprefix("cap_") for c in capabilities.get("add") or []]
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            if "configMap" in volumes.get(mount["name"], {}):
                self.config_mount = mount["mountPath"]
        if csc.get("privileged"):
            raise AssertionError("daemonset.yaml runs the exporter privileged")

    def map_host_paths(self, tmp):
        """The DaemonSet's hostPath /var/log/pods (the kubelet's pod log directories) mapped
        to a directory below `tmp`: the ConfigMap copy used from now on points
        namespaces.kubelet_pod_logs_dir there. Returns that directory."""
        logs = os.path.join(tmp, "var-log-pods")
        os.makedirs(logs)
        with open(self.config_file) as f:
            text = f.read()
        text, n = re.subn(r"^(  kubelet_pod_logs_dir: )/var/log/pods$", rf"\g<1>{logs}", text,
                          flags=re.M)
        assert n == 1, f"{self.config_file} has no `kubelet_pod_logs_dir: /var/log/pods`"
        copy = os.path.join(tmp, os.path.basename(self.config_file))
        with open(copy, "w") as f:
            f.write(text)
        self.config_file = copy
        return logs

    def argv(self, exporter, listen_port, config_file=None, extra=(), host_ip="127.0.0.1"):
        """The container's command line on this machine; $(HOST_IP) expands to host_ip
        unbracketed, as the kubelet expands it (status.hostIP is "fd00::5" on IPv6 nodes)."""
        out = [exporter]
        for arg in list(self.entrypoint[1:]) + list(self.args):
            arg = arg.replace("$(HOST_IP)", host_ip)
            arg = re.sub(r":9930$", f":{listen_port}", arg)
            if arg.startswith(self.config_mount + "/"):
                arg = config_file or self.config_file
            if "$(" in arg:
                raise AssertionError(f"cannot map DaemonSet argument {arg!r} to this machine")
            out.append(arg)
        assert (config_file or self.config_file) in out, \
            f"the DaemonSet's command line {out} does not load the ConfigMap"
        return out + list(extra)

    def setpriv(self, caps=None):
        """setpriv prefix leaving the process exactly `caps` (default: the DaemonSet's), as a
        container runtime does for capabilities drop ALL / add [...]: bounding set = permitted =
        effective = caps (uid 0 gets its bounding set on exec), inheritable and ambient empty,
        no_new_privs from allowPrivilegeEscalation: false."""
        caps = self.caps if caps is None else caps
        bounding = ",".join(["-all"] + [f"+{c}" for c in caps])
        argv = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                "--inh-caps=-all", "--ambient-caps=-all", f"--bounding-set={bounding}"]
        if self.no_new_privs:
            argv.append("--no-new-privs")
        return argv + ["--"]

    def describe(self):
        return (f"DaemonSet run: uid {self.uid} gid {self.gid}, capabilities "
                f"{'+'.join(self.caps)} (all others dropped), no_new_privs "
                f"{self.no_new_privs}, hostNetwork {self.host_network}, hostPID "
                f"{self.host_pid}, entrypoint {self.entrypoint} args {self.args}, ConfigMap "
                f"{os.path.relpath(self.config_file, REPO)} mounted at {self.config_mount}")


def proc_status_caps(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            if key.startswith("Cap") or key in ("NoNewPrivs", "Uid"):
                fields[key] = val.strip()
    return fields


# --------------------------------------------------------------------------------------------
# fixture proc root

def fixture_proc_root(path, pids, fake_pids=()):
    """A proc root for --path.procfs: every non-numeric /proc entry (sys, net, thread-self...)
    and the given pids as symlinks into /proc, plus fake process directories
    {pid: {"netns": inode, "cgroup": text}} whose ns/net is a plain symlink to the text
    "net:[inode]": it reads like a namespace link but opens like a namespace whose last
    process exited (ENOENT), i.e. a namespace that vanished between discovery and dump."""
    os.makedirs(path)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            os.symlink(f"/proc/{name}", os.path.join(path, name))
    for pid in pids:
        os.symlink(f"/proc/{pid}", os.path.join(path, str(pid)))
    for pid, spec in dict(fake_pids).items():
        d = os.path.join(path, str(pid))
        os.makedirs(os.path.join(d, "ns"))
        os.symlink(f"net:[{spec['netns']}]", os.path.join(d, "ns", "net"))
        with open(os.path.join(d, "cgroup"), "w") as f:
            f.write(spec.get("cgroup", "0::/\n"))
        with open(os.path.join(d, "comm"), "w") as f:
            f.write("ghost\n")
    return path


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


def skip(reason):
    print(f"SKIP: {reason}", file=sys.stderr, flush=True)
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)
