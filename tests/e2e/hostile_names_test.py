#!/usr/bin/env python3
"""Label hygiene: processes with hostile names still yield output that promtool and a real
Prometheus accept, with the documented sanitized `process` label.

In a network namespace of its own the test starts a socket holder server and one client
per hostile name (tests/e2e/socket_holders.py). Every client renames itself (prctl
PR_SET_NAME or a write to /proc/self/comm; the kernel keeps 15 bytes) and holds
ESTABLISHED and CLOSE_WAIT sockets, a different number per client. Names: invalid UTF-8,
a quote and a backslash, a newline, an exposition line, the empty name, only control
characters, overlong and surrogate encodings, valid multi-byte characters with a C1
control, a reserved label value, 16 bytes of random junk (seed printed; HOSTILE_SEED=N
repeats a run), and a name cut by the kernel.

The exporter (root, processes.pid_label: true, poll.interval 1s) and Prometheus (scrape
interval 1s) run in the namespace. Checks:
  1. the kernel holds the intended names (else the test proves nothing)
  2. a scrape is valid UTF-8, every line parses, `promtool check metrics` accepts it, and
     per client pid its process label (unescaped) is the expected one
  3. Prometheus: the target is "up" with an empty lastError; per client pid,
     tcpstate_process_sockets{state="close_wait",pid=PID} is one series whose process
     label is the expected one and whose value equals `ss -tanp` for that pid (also for
     established and for tcpstate_close_wait_sockets); selecting by the expected process
     label value in PromQL finds the same series
  4. SIGTERM: exporter exit 0

The expected label is computed here from the documented rule (daemon/common/utf8.h,
docs/metrics.md), not by the exporter's code: every byte that does not start a valid UTF-8
sequence (stray continuation byte, truncated sequence, overlong form, surrogate, beyond
U+10FFFF) becomes U+FFFD, one per byte; so does every C0 control character and DEL; valid
characters (C1 controls included) are kept; the result is cut to 64 bytes on a character
boundary (a 15-byte comm never reaches that).

Needs root (exit 77 = skipped otherwise), ss, prometheus and promtool (exit 77 when
missing, unless TCPSTATE_E2E_REQUIRE_PROMETHEUS=1).

Usage: hostile_names_test.py EXPORTER
"""

import codecs
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_util import (LABEL, LINE, SKIP, Netns, fetch, fetch_all, find_binary,  # noqa: E402
                        log, require_root, time_limit, wait_for)
from socket_holders import kernel_comm, ss_pid_counts, start_client, start_server  # noqa: E402

OVERALL_TIMEOUT = 110
EXPORTER_ADDR = "127.0.0.1:19950"
PROMETHEUS_ADDR = "127.0.0.1:19951"
PORT_E, PORT_C = 19952, 19953


# ---- the documented sanitization rule, implemented independently ---------------------------

def _one_byte_at_a_time(exc):
    # Python's decoder reports the maximal invalid subpart; the documented rule replaces
    # each byte that does not start a valid sequence, so resume at the next byte.
    return "\ufffd", exc.start + 1


codecs.register_error("tcpstate-per-byte", _one_byte_at_a_time)


def expected_label(raw, max_bytes=64):
    text = raw.decode("utf-8", errors="tcpstate-per-byte")
    text = "".join("\ufffd" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)
    out, size = [], 0
    for c in text:
        n = len(c.encode("utf-8"))
        if size + n > max_bytes:
            break
        out.append(c)
        size += n
    return "".join(out)


def self_check_rule():
    """The rule itself, on cases whose answer is known (a wrong rule must not make the
    comparison with the exporter vacuous)."""
    cases = {
        b"plain": "plain",
        b"\xff\xfe bad\xc3": "\ufffd\ufffd bad\ufffd",
        b"\xe2\x82A": "\ufffd\ufffdA",            # truncated 3-byte sequence: 2 bytes, 2 U+FFFD
        b"\xc0\xaf": "\ufffd\ufffd",              # overlong '/'
        b"\xed\xa0\x80": "\ufffd" * 3,            # surrogate U+D800
        b"\xf4\x90\x80\x80": "\ufffd" * 4,        # beyond U+10FFFF
        b"a\nb\tc\x7f": "a\ufffdb\ufffdc\ufffd",
        b"\xc2\x85\xc3\xa9": "\u0085\u00e9",      # C1 control and e-acute: valid, kept
        b"\xf0\x9f\x98\x80": "\U0001F600",
        "\u00e9".encode() * 40: "\u00e9" * 32,    # cut at 64 bytes on a character boundary
        b"": "",
    }
    for raw, want in cases.items():
        got = expected_label(raw)
        assert got == want, f"sanitizer rule self-check: {raw!r} -> {got!r}, want {want!r}"


# ---- exposition format ------------------------------------------------------------------------

def parse_exposition(text):
    """[(name, {label: unescaped value}, float)]. Lines end at "\\n" only, as in Prometheus'
    parser (str.splitlines() would also split at U+0085 and U+2028, which are valid in a
    label value)."""
    samples = []
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, f"unparseable exposition line: {line!r}"
        labels = {k: unescape_label(v) for k, v in LABEL.findall(m.group(3) or "")}
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def unescape_label(value):
    """Exposition label value escapes: \\\\, \\" and \\n."""
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"\\": "\\", '"': '"', "n": "\n"}.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def promql_string(value):
    """A PromQL double-quoted string literal. Everything outside printable ASCII is written
    as a Go escape: Prometheus 2.42's lexer rejects a raw U+FFFD in a query ("invalid UTF-8
    rune"), which is exactly what sanitized labels contain."""
    out = []
    for c in value:
        if c in '\\"':
            out.append("\\" + c)
        elif 0x20 <= ord(c) < 0x7F:
            out.append(c)
        elif ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


# ---- hostile names ----------------------------------------------------------------------------

def junk(rng, size):
    """Random bytes: C0 controls, DEL, 0x80-0xFF and exposition punctuation, never NUL and
    never a letter or digit (so that `ss` output cannot accidentally contain `pid=N,fd=M`)."""
    pool = (list(range(0x01, 0x20)) + [0x7F] + list(range(0x80, 0x100))
            + list(b'"\\{}=,# \n'))
    return bytes(rng.choice(pool) for _ in range(size))


def hostile_names(rng):
    """[(what, requested name, method)]; the kernel keeps name.split(b'\\0')[0][:15]."""
    return [
        ("invalid UTF-8", b"\xff\xfe bad\xc3", "prctl"),
        ("quote and backslash", b'a"b\\c', "prctl"),
        ("newline", b"line1\nline2", "comm"),
        ("exposition line", b'x"} 1\n# HELP', "prctl"),
        ("empty", b"", "prctl"),
        ("control characters only", b"\t\x01\x1b\x7f", "comm"),
        ("overlong, surrogate, > U+10FFFF", b"\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80", "prctl"),
        ("multi-byte, C1 control, truncated", b"\xf0\x9f\x98\x80\xc2\x85\xe2\x82Z", "comm"),
        ("reserved label value", b"(unknown)", "prctl"),
        ("16 bytes of random junk", junk(rng, 16), "comm"),
        ("16 bytes of random junk", junk(rng, 16), "prctl"),
        ("cut by the kernel mid-character", b"abcdefghijklmn\xc3\xa9", "prctl"),
    ]


# ---- helpers ----------------------------------------------------------------------------------

def api_url(path, **params):
    return f"http://{PROMETHEUS_ADDR}{path}?{urllib.parse.urlencode(params)}"


def api_data(what, status, body):
    assert status == 200, f"Prometheus {what}: {status} {body[:300]!r}"
    doc = json.loads(body.decode("utf-8"))
    assert doc.get("status") == "success", doc
    return doc["data"]


def prom_api(ns, path, **params):
    return api_data(f"{path} {params}", *fetch(ns, api_url(path, **params)))


def query(ns, expr):
    return queries(ns, [expr])[0]


def queries(ns, exprs):
    """Instant queries, all in one helper process; [result vector] in order."""
    answers = fetch_all(ns, [api_url("/api/v1/query", query=e) for e in exprs])
    return [api_data(f"query {e!r}", *a)["result"] for e, a in zip(exprs, answers)]


def stop(proc, what, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise AssertionError(f"{what} ignored SIGTERM for {timeout}s")
    return proc.returncode


# ---- the test ---------------------------------------------------------------------------------

def run(ns, tmp, exporter, prometheus, promtool, seed):
    rng = random.Random(seed)
    server = start_server(ns, PORT_E, PORT_C)
    clients = []  # (what, holder, kernel comm, expected label, n_e, n_c)
    holders = [server]
    try:
        for i, (what, name, method) in enumerate(hostile_names(rng)):
            n_e, n_c = 1 + i % 3, 1 + i
            holder = start_client(ns, name, method, PORT_E, PORT_C, n_e, n_c)
            holders.append(holder)
            comm = kernel_comm(holder.pid)
            intended = name.split(b"\0")[0][:15]
            assert comm == intended, \
                f"{what}: the kernel holds comm {comm!r}, expected {intended!r}"
            clients.append((what, holder, comm, expected_label(comm), n_e, n_c))
            log(f"pid {holder.pid:>7} {what:<34} comm {comm!r:<50} -> label "
                f"{expected_label(comm)!r}, {n_e} established, {n_c} close_wait")
        checks(ns, tmp, exporter, prometheus, promtool, clients)
    finally:
        for holder in reversed(holders):
            holder.stop()


def checks(ns, tmp, exporter, prometheus, promtool, clients):
    config = os.path.join(tmp, "exporter.yml")
    with open(config, "w") as f:
        f.write("poll:\n  interval: 1s\nprocesses:\n  enabled: true\n  states: [all]\n"
                "  pid_label: true\n  max_distinct: 50\nlog:\n  level: info\n")
    exporter_log = open(os.path.join(tmp, "exporter.log"), "wb")
    exp = ns.spawn([exporter, "--config", config, "--web.listen-address", EXPORTER_ADDR],
                   stdin=subprocess.DEVNULL, stdout=exporter_log, stderr=subprocess.STDOUT)
    exporter_log.close()
    prom_dir = os.path.join(tmp, "prometheus")
    prom_cfg = os.path.join(tmp, "prometheus.yml")
    with open(prom_cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: tcpstate\n"
                f"    static_configs:\n      - targets: ['{EXPORTER_ADDR}']\n")
    prom_log = open(os.path.join(tmp, "prometheus.log"), "wb")
    prom = ns.spawn([prometheus, f"--config.file={prom_cfg}", f"--storage.tsdb.path={prom_dir}",
                     f"--web.listen-address={PROMETHEUS_ADDR}", "--log.level=warn"],
                    stdin=subprocess.DEVNULL, stdout=prom_log, stderr=subprocess.STDOUT)
    prom_log.close()

    def logs():
        parts = []
        for name in ("exporter.log", "prometheus.log"):
            with open(os.path.join(tmp, name), "rb") as f:
                parts.append(f"----- {name}:\n" + f.read()[-3000:].decode("utf-8", "replace"))
        return "\n".join(parts)

    try:
        # 2. a scrape with every client in it: UTF-8, parseable, promtool-clean, labels.
        url = f"http://{EXPORTER_ADDR}/metrics"
        pids = {str(h.pid) for _, h, *_ in clients}
        last = {}

        def scrape_with_all_clients():
            assert exp.poll() is None, f"exporter exited {exp.returncode}\n{logs()}"
            status, body = fetch(ns, url)
            last["body"] = body
            if status != 200:
                return None
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise AssertionError(f"the scrape is not valid UTF-8: {e}: "
                                     f"{body[max(0, e.start - 80):e.end + 80]!r}") from None
            samples = parse_exposition(text)
            seen = {l.get("pid") for n, l, v in samples
                    if n == "tcpstate_process_sockets" and l.get("state") == "close_wait"}
            return body if pids <= seen else None

        body = wait_for(scrape_with_all_clients, 30, "a scrape showing every client",
                        interval=0.5,
                        state=lambda: last.get("body", b"")[-2000:].decode("utf-8", "replace"))
        t0 = time.monotonic()
        lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                              timeout=30)
        assert lint.returncode == 0, \
            f"promtool check metrics rejects the scrape:\n{lint.stdout!r}\n{lint.stderr!r}"
        log(f"scrape: {len(body)} bytes, valid UTF-8, every line parses, promtool check "
            f"metrics clean ({time.monotonic() - t0:.2f}s)")
        raw_labels = {l.get("pid"): l.get("process")
                      for n, l, _ in parse_exposition(body.decode("utf-8"))
                      if n == "tcpstate_process_sockets" and l.get("state") == "close_wait"}
        for what, holder, comm, want, *_ in clients:
            got = raw_labels.get(str(holder.pid))
            assert got == want, (f"{what}: exposition label process={got!r} for pid "
                                 f"{holder.pid}, expected {want!r} (comm {comm!r})")
        log(f"exposition: the process label of all {len(clients)} clients is the documented "
            "sanitization of their comm")

        # 3. Prometheus.
        def target_up():
            assert prom.poll() is None, f"prometheus exited {prom.returncode}\n{logs()}"
            try:
                targets = prom_api(ns, "/api/v1/targets")["activeTargets"]
            except (AssertionError, ValueError):
                return None
            mine = [t for t in targets if t["scrapeUrl"] == url]
            return mine if mine and mine[0]["health"] != "unknown" else None

        targets = wait_for(target_up, 40, "Prometheus to scrape the exporter", interval=0.5,
                           state=logs)
        target = targets[0]
        assert target["health"] == "up" and target["lastError"] == "", \
            f"Prometheus rejects the scrape: health {target['health']!r}, lastError " \
            f"{target['lastError']!r}\n{logs()}"

        def all_series():
            rows = query(ns, 'tcpstate_process_sockets{state="close_wait"}')
            return rows if pids <= {r["metric"].get("pid") for r in rows} else None

        wait_for(all_series, 20, "every client's series in Prometheus", interval=0.5, state=logs)
        targets = prom_api(ns, "/api/v1/targets")["activeTargets"]
        target = [t for t in targets if t["scrapeUrl"] == url][0]
        assert target["health"] == "up" and target["lastError"] == "", target
        up = query(ns, f'up{{instance="{EXPORTER_ADDR}"}}')
        assert [r["value"][1] for r in up] == ["1"], up
        log(f"Prometheus: target health {target['health']!r}, lastError "
            f"{target['lastError']!r}, up 1, last scrape {target['lastScrapeDuration']:.3f}s")

        ss = {"close_wait": ss_pid_counts(ns, "close-wait"),
              "established": ss_pid_counts(ns, "established")}
        exprs = []
        for what, holder, comm, want, n_e, n_c in clients:
            pid = str(holder.pid)
            assert ss["close_wait"].get(holder.pid) == n_c and \
                ss["established"].get(holder.pid) == n_e, \
                f"{what}: ss -tanp shows {ss['close_wait'].get(holder.pid)} close_wait / " \
                f"{ss['established'].get(holder.pid)} established for pid {pid}, " \
                f"the client holds {n_c} / {n_e}"
            exprs += [f'tcpstate_process_sockets{{state="close_wait",pid="{pid}"}}',
                      f'tcpstate_process_sockets{{state="established",pid="{pid}"}}',
                      f'sum(tcpstate_close_wait_sockets{{pid="{pid}",direction="outbound",'
                      f'port="{PORT_C}"}})',
                      f'tcpstate_process_sockets{{state="close_wait",'
                      f'process={promql_string(want)}}}']
        answers = iter(queries(ns, exprs))
        for what, holder, comm, want, n_e, n_c in clients:
            pid = str(holder.pid)
            for state in ("close_wait", "established"):
                rows = next(answers)
                assert len(rows) == 1, f"{what}: {len(rows)} {state} series for pid {pid}: {rows}"
                got = rows[0]["metric"].get("process", "")  # "" is no label in Prometheus
                assert got == want, (f"{what}: Prometheus has process={got!r} for pid {pid}, "
                                     f"expected {want!r} (comm {comm!r})")
                count = float(rows[0]["value"][1])
                assert count == ss[state][holder.pid], \
                    f"{what}: {state} = {count} in Prometheus, ss -tanp {ss[state][holder.pid]}"
            rows = next(answers)
            assert rows and float(rows[0]["value"][1]) == ss["close_wait"][holder.pid], \
                f"{what}: tcpstate_close_wait_sockets for pid {pid}: {rows}"
            rows = next(answers)
            assert pid in {r["metric"].get("pid") for r in rows}, \
                f"{what}: selecting by process={promql_string(want)} finds no series of pid {pid}"
        # docs/security.md: a regex finds a sanitized value without writing U+FFFD.
        bad = [str(h.pid) for what, h, *_ in clients if what == "invalid UTF-8"]
        rows = query(ns, 'tcpstate_process_sockets{state="close_wait",process=~".*bad.*"}')
        assert bad and bad[0] in {r["metric"].get("pid") for r in rows}, \
            f'process=~".*bad.*" does not find pid {bad}: {rows}'
        log(f"Prometheus: all {len(clients)} hostile clients have one series per state with "
            "the expected process label, counts equal to ss -tanp, selectable by that label")

        # 4. SIGTERM
        t0 = time.monotonic()
        code = stop(exp, "exporter")
        assert code == 0, f"exporter exit status {code} after SIGTERM\n{logs()}"
        log(f"exporter: exit 0 {time.monotonic() - t0:.2f}s after SIGTERM")
    finally:
        stop(prom, "prometheus", timeout=15)
        stop(exp, "exporter")


def main():
    require_root()
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    exporter = os.path.abspath(sys.argv[1])
    prometheus = find_binary("PROMETHEUS", "prometheus")
    promtool = find_binary("PROMTOOL", "promtool")
    missing = [n for n, p in (("prometheus", prometheus), ("promtool", promtool),
                              ("ss", shutil.which("ss"))) if not p]
    if missing:
        msg = f"{', '.join(missing)} not found (Debian: apt-get install prometheus iproute2)"
        if os.environ.get("TCPSTATE_E2E_REQUIRE_PROMETHEUS") == "1":
            print(f"FAIL: {msg}", file=sys.stderr)
            return 1
        print(f"SKIP: {msg}", file=sys.stderr)
        return SKIP
    self_check_rule()
    seed = int(os.environ.get("HOSTILE_SEED", random.SystemRandom().randrange(1 << 32)))
    log(f"random junk seed {seed} (HOSTILE_SEED={seed} repeats it)")
    with time_limit(OVERALL_TIMEOUT), \
            tempfile.TemporaryDirectory(prefix="tcpstate-hostile-",
                                        ignore_cleanup_errors=True) as tmp, \
            Netns("tcpstate-hostile") as ns:
        run(ns, tmp, exporter, prometheus, promtool, seed)
    log("hostile names test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
