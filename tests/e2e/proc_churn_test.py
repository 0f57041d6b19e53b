#!/usr/bin/env python3
"""/proc churn test: socket owners that come and go faster than a poll.

In a fresh network namespace: a long-lived process named `stable-owner`
holds 3 listeners, 2K ESTABLISHED sockets (both ends of K connections) and K
CLOSE_WAIT sockets, and accepts-and-closes every connection to its churn
port; `churn-parent` forks RATE children a second, each renamed `churn-child`
before it makes a socket, connecting to that port, holding the socket
0..HOLD ms and exiting. The exporter polls every 100 ms meanwhile.

Checked at SAMPLES moments during the churn, against `ss -tanp` of the
namespace:
  * the sockets of stable-owner are never attributed to anyone else: its
    LISTEN count and its CLOSE_WAIT count on its port equal ss exactly; its
    ESTABLISHED count is never below its held connections (above by at most
    a few accepted-and-closed churn connections caught in flight);
  * no series names a process that never held that kind of socket: process
    labels are limited to the processes of the namespace (stable-owner,
    churn-child, the exporter, curl, and the (none)/(unknown)/(other) values),
    churn-parent (which never holds a TCP socket) never appears, churn
    children never own a LISTEN socket;
  * the exporter survives, keeps polling successfully and counts processes
    that vanished mid-scan under tcpstate_process_attribution_errors_total.

Then, same exporter and namespace, phase "hand-offs" (tests/e2e/attr_handoff_helper.py):
sockets that change hands the ways servers hand them, each fd number reused at once:
  * SCM_RIGHTS: `h-dispatch` passes K accepted connections to `h-worker`, closes them and
    accepts K new ones (which get the fd numbers just closed);
  * dup: `h-dup` dup()s a socket, closes the first fd and accepts a new connection into
    its number while the old socket lives on through the dup;
  * fork: `h-parent` forks `h-child` with K connections and closes its copies;
  * exec: `h-before` execs itself as `h-after`, keeping K sockets.
After each step, within a bounded wait (several polls), the exporter's per-process
ESTABLISHED counts must equal `ss -tanp`'s for every h-* process (a socket several processes
hold may be credited to any of them: the count must lie between the sockets ss shows the
process as the only user of and those it shows it among the users of), and no socket may
stay credited to a process that gave it up. Skipped with --no-handoffs.

The test runs in a private PID namespace with its own /proc (unshare
--pid --fork --mount-proc) unless --host-pids is given: the exporter's /proc
scans then see the namespace's processes only, so a busy host (another
process holding a million fds) cannot slow its polls down and make the
figures meaningless.

Usage: proc_churn_test.py EXPORTER HELPER [--seconds 20] [--rate 1000] [--host-pids]
                          [--no-handoffs]
Exit: 0 pass, 1 fail, 77 skip (not root).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_util import (Netns, parse_exposition, require_root, ss_sockets,  # noqa: E402
                        value, wait_for)

PORT = 19951          # exporter
CHURN_PORT = 23000    # stable-owner: churn target; +1 established; +2 close_wait
K = 20
HOLD_MS = 30
MAX_CHILDREN = 200
# accepted-and-closed churn connections a poll may catch in flight
ESTABLISHED_SLACK = 8

ALLOWED_STATES = {
    "stable-owner": {"listen", "established", "close_wait"},
    "churn-child": {"syn_sent", "established", "close_wait"},
}
ANY = {"(none)", "(unknown)", "(other)", "curl"}
HANDOFF_NAMES = ("h-client", "h-dispatch", "h-worker", "h-dup", "h-parent", "h-child",
                 "h-before", "h-after")
HANDOFF_K = 30
HANDOFF_WAIT = 15  # seconds for the exporter (100 ms polls) to catch up after a step


def scrape(ns):
    r = ns.run(["curl", "-sf", "--max-time", "10", f"http://127.0.0.1:{PORT}/metrics"],
               timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"scrape failed: curl exit {r.returncode}")
    return parse_exposition(r.stdout)


def check_sample(ns, exporter_comm, n):
    # ss first, then the scrape: the snapshot served is at most one poll
    # older or newer than ss; the held sockets do not change in between.
    ss = ss_sockets(ns, owners=True)
    samples = scrape(ns)
    mine = [s for s in ss if "stable-owner" in s[3]]
    ss_listen = sum(1 for s in mine if s[0] == "listen")
    ss_cw = sum(1 for s in mine if s[0] == "close_wait" and s[1] == CHURN_PORT + 2)
    ss_est_held = sum(1 for s in mine if s[0] == "established"
                      and CHURN_PORT + 1 in (s[1], s[2]))
    got_listen = value(samples, "tcpstate_process_sockets", process="stable-owner",
                       state="listen") or 0
    got_cw = value(samples, "tcpstate_close_wait_sockets", process="stable-owner",
                   direction="inbound", port=str(CHURN_PORT + 2)) or 0
    got_est = value(samples, "tcpstate_process_sockets", process="stable-owner",
                    state="established") or 0
    problems = []
    if (ss_listen, ss_cw, ss_est_held) != (3, K, 2 * K):
        problems.append(f"ss shows stable-owner with listen={ss_listen} close_wait={ss_cw} "
                        f"established={ss_est_held}: the population is not in place")
    if got_listen != ss_listen:
        problems.append(f"stable-owner LISTEN: exporter {got_listen}, ss {ss_listen}")
    if got_cw != ss_cw:
        problems.append(f"stable-owner CLOSE_WAIT port {CHURN_PORT + 2}: exporter {got_cw}, "
                        f"ss {ss_cw}")
    if not ss_est_held <= got_est <= ss_est_held + ESTABLISHED_SLACK:
        problems.append(f"stable-owner ESTABLISHED: exporter {got_est}, ss {ss_est_held} held")

    allowed = dict(ALLOWED_STATES)
    allowed[exporter_comm] = {"listen", "established", "close_wait", "syn_recv"}
    names = {}
    for name, labels, v in samples:
        if name in ("tcpstate_process_sockets", "tcpstate_close_wait_sockets") and v > 0:
            proc = labels.get("process")
            state = labels.get("state", "close_wait")
            names.setdefault(proc, set()).add(state)
    for proc, states in names.items():
        if proc in ANY:
            continue
        if proc not in allowed:
            problems.append(f"series for process {proc!r} ({sorted(states)}), which holds no "
                            "TCP socket in this namespace")
        elif not states <= allowed[proc]:
            problems.append(f"process {proc!r} credited with {sorted(states - allowed[proc])} "
                            "sockets it never holds")
    child_series = value(samples, "tcpstate_process_sockets", process="churn-child") or 0
    vanished = value(samples, "tcpstate_process_attribution_errors_total",
                     reason="vanished") or 0
    print(f"  sample {n}: stable-owner listen {got_listen}/{ss_listen} close_wait "
          f"{got_cw}/{ss_cw} established {got_est}/{ss_est_held}+churn; churn-child "
          f"sockets {child_series:.0f}; vanished so far {vanished:.0f}; processes "
          f"{sorted(names)}")
    return problems, samples, got_est - ss_est_held, child_series


def handoff_counts(ns):
    """(exporter, ss) ESTABLISHED counts per h-* process; ss as (sole user, among users)."""
    ss = ss_sockets(ns, owners=True)
    samples = scrape(ns)
    got = {n: value(samples, "tcpstate_process_sockets", process=n, state="established") or 0
           for n in HANDOFF_NAMES}
    truth = {}
    for n in HANDOFF_NAMES:
        sole = sum(1 for s in ss if s[0] == "established" and s[3] and set(s[3]) == {n})
        among = sum(1 for s in ss if s[0] == "established" and n in s[3])
        truth[n] = (sole, among)
    return got, truth


def handoff_phase(ns, helper_py):
    """Runs the hand-off steps; returns a list of problems."""
    helper = ns.spawn([sys.executable, helper_py], stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, text=True)
    problems = []

    def step(cmd, expect):
        helper.stdin.write(cmd + "\n")
        helper.stdin.flush()
        answer = helper.stdout.readline().strip()
        if not answer.startswith("ok"):
            raise AssertionError(f"hand-off helper: {cmd}: {answer!r}")
        last = {}

        def settled():
            got, truth = handoff_counts(ns)
            last["got"], last["truth"] = got, truth
            for n, want in expect.items():
                sole, among = truth[n]
                if (sole, among) != (want, want) and not sole <= want <= among:
                    return False  # the population is not in place yet
            return all(truth[n][0] <= got[n] <= truth[n][1] for n in HANDOFF_NAMES)
        try:
            wait_for(settled, HANDOFF_WAIT, f"exporter counts = ss -tanp after {cmd}",
                     interval=0.2)
            print(f"  {cmd}: {answer[3:][:120]}; exporter "
                  f"{ {n: int(v) for n, v in last['got'].items() if v} } = ss")
        except AssertionError:
            problems.append(f"after {cmd!r} ({answer[3:][:200]}): exporter {last.get('got')}, "
                            f"ss (only user, among users) {last.get('truth')}")
            print(f"  {cmd}: MISMATCH {problems[-1]}")
    k = HANDOFF_K
    try:
        step(f"pass-setup {k}", {"h-dispatch": k})
        step("pass-move", {"h-dispatch": k, "h-worker": k})
        step("dup-setup", {"h-dup": 21})
        step("dup-reuse", {"h-dup": 22})
        step(f"fork-setup {k}", {"h-parent": k})
        step("fork-split", {"h-parent": 0, "h-child": k})
        step(f"exec-setup {k}", {"h-before": k})
        step("exec", {"h-before": 0, "h-after": k})
    finally:
        try:
            helper.stdin.write("quit\n")
            helper.stdin.flush()
            helper.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            helper.kill()
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("exporter")
    parser.add_argument("helper")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--no-handoffs", action="store_true",
                        help="skip the hand-off phase (SCM_RIGHTS, dup, fork, exec)")
    parser.add_argument("--host-pids", action="store_true",
                        help="stay in the host PID namespace (scan every host process)")
    args = parser.parse_args()
    require_root()
    if not args.host_pids and os.environ.get("TCPSTATE_CHURN_PIDNS") != "1" \
            and shutil.which("unshare"):
        env = dict(os.environ, TCPSTATE_CHURN_PIDNS="1")
        argv = ["unshare", "--pid", "--fork", "--mount-proc", sys.executable,
                os.path.abspath(__file__)] + sys.argv[1:]
        sys.exit(subprocess.run(argv, env=env).returncode)
    print("PID namespace: " + ("private (only this test's processes in /proc)"
                               if os.environ.get("TCPSTATE_CHURN_PIDNS") == "1" else "host"))
    tmp = tempfile.mkdtemp(prefix="tcpstate-churn-")
    try:
        config = os.path.join(tmp, "exporter.yml")
        with open(config, "w") as f:
            f.write(f"web:\n  listen_address: 127.0.0.1:{PORT}\n"
                    "poll:\n  interval: 100ms\nprocesses:\n  max_distinct: 1000\n"
                    "log:\n  level: warn\n")
        with Netns("tcpstate-churn") as ns:
            stderr_path = os.path.join(tmp, "exporter.stderr")
            exporter = ns.spawn([args.exporter, "--config", config],
                                stdout=subprocess.DEVNULL, stderr=open(stderr_path, "w"))
            exporter_comm = open(f"/proc/{exporter.pid}/comm").read().strip() \
                if os.path.exists(f"/proc/{exporter.pid}/comm") else "tcpstate_export"
            ready = os.path.join(tmp, "ready")
            ns.spawn([args.helper, "stable", str(CHURN_PORT), str(K), ready],
                     stdout=subprocess.DEVNULL)
            wait_for(lambda: os.path.exists(ready) and open(ready).read().strip(), 30,
                     "stable-owner READY")

            def up():
                if exporter.poll() is not None:
                    raise AssertionError(f"exporter exited: {open(stderr_path).read()[-3000:]}")
                try:
                    return scrape(ns)
                except AssertionError:
                    return None
            before = wait_for(up, 30, "exporter up")
            exporter_comm = open(f"/proc/{exporter.pid}/comm").read().strip()
            polls_ok_before = value(before, "tcpstate_polls_total", result="success") or 0

            churn = ns.spawn([args.helper, "churn", str(CHURN_PORT), str(args.rate),
                              str(args.seconds), str(MAX_CHILDREN), str(HOLD_MS)],
                             stdout=subprocess.PIPE, text=True)
            started = time.monotonic()
            problems = []
            excess = []
            child_seen = 0
            time.sleep(1.0)
            gap = max(0.5, (args.seconds - 2.0) / args.samples)
            for n in range(args.samples):
                if exporter.poll() is not None:
                    problems.append(f"exporter exited with {exporter.returncode}")
                    break
                p, samples, extra, children = check_sample(ns, exporter_comm, n + 1)
                problems += [f"sample {n + 1}: {x}" for x in p]
                excess.append(extra)
                child_seen += children > 0
                if time.monotonic() - started + gap > args.seconds:
                    break
                time.sleep(gap)
            out, _ = churn.communicate(timeout=args.seconds + 60)
            print(f"churn: {out.strip()}")
            stats = dict(kv.split("=") for kv in out.split())
            after = scrape(ns)
            alive = exporter.poll() is None
            polls_ok = (value(after, "tcpstate_polls_total", result="success") or 0) - polls_ok_before
            polls_failed = value(after, "tcpstate_polls_total", result="failure") or 0
            vanished = value(after, "tcpstate_process_attribution_errors_total",
                             reason="vanished") or 0
            scans = {k: value(after, "tcpstate_process_attribution_scans_total", kind=k) or 0
                     for k in ("partial", "full")}
            fds = value(after, "tcpstate_process_attribution_fds_read_total") or 0
            retries = value(after, "tcpstate_netlink_dump_retries_total") or 0
            duration = value(after, "tcpstate_poll_duration_seconds") or 0
            print(f"exporter: alive {alive}; polls ok {polls_ok:.0f} failed {polls_failed:.0f}; "
                  f"dump retries {retries:.0f}; vanished {vanished:.0f}; scans {scans}; "
                  f"fd links read {fds:.0f}; last poll {1000 * duration:.1f} ms; "
                  f"stable-owner ESTABLISHED excess per sample {excess}; "
                  f"samples with churn-child sockets {child_seen}")
            forked = int(stats.get("forked", 0))
            if not alive:
                problems.append(f"exporter died: {open(stderr_path).read()[-3000:]}")
            if forked < args.rate * args.seconds * 0.3:
                problems.append(f"only {forked} children forked: the churn did not happen")
            # The property under test is correct attribution under churn, not speed:
            # polls only have to keep coming (a dump walks the kernel's shared socket
            # hash, so other namespaces' sockets on a busy machine slow every poll).
            min_polls = args.seconds * 10 * 0.05
            if polls_ok < min_polls:
                problems.append(f"only {polls_ok} successful polls in {args.seconds}s at 100 ms")
            if value(after, "tcpstate_last_poll_success") != 1:
                problems.append("last poll failed")
            if child_seen == 0 and vanished == 0:
                problems.append("no sample saw a churn-child socket and no owner vanished "
                                "mid-scan: the churn was not observed, the test proves nothing")
            if not args.no_handoffs and not problems:
                print("hand-offs (SCM_RIGHTS, dup, fork, exec):")
                problems += handoff_phase(ns, os.path.join(os.path.dirname(
                    os.path.abspath(__file__)), "attr_handoff_helper.py"))
            assert not problems, "\n".join(problems)
        print("proc churn test passed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
