#!/usr/bin/env python3
"""The drill-down pages /close_wait and /time_wait, and the landing page's summary, loaded by
a real browser (headless Chromium) from the exporter over a live population, checked against
`ss -tanp` in the same network namespace.

In a network namespace of its own the test starts:
  * the socket holders of hostile_names_test.py: a server, and one client per hostile name
    (plus one named with HTML markup) holding 1 + i % 4 CLOSE_WAIT sockets toward
    127.0.0.1:PORT_C
  * a "billing" process holding CLOSE_WAIT sockets toward two backends, 7 to
    127.0.0.2:PORT_B and 3 to 127.0.0.3:PORT_B (the backends shut down their end)
  * a "crawler" that opened and closed 40 short connections to 127.0.0.4:PORT_T, leaving up
    to 40 TIME_WAIT sockets toward that destination (loopback may reuse a few)
and the exporter (root, poll.interval 1s). Checks:
  1. /close_wait?format=json and /time_wait?format=json validate against the JSON schemas in
     tests/fixtures/pages (jsonschema); their rows equal ss: per (pid, remote address, remote
     port) the CLOSE_WAIT count, per destination the TIME_WAIT count; every fd a row names is
     an fd `ss -tanp` shows that pid holding a CLOSE_WAIT socket toward that peer
  2. Chromium (--headless --dump-dom, in the namespace) renders /close_wait: its table rows
     equal ss the same way, each process cell is the documented sanitization of the pid's
     comm (the markup name is text, not an element); a screenshot of each page is kept under
     build/test-artifacts/ and its path printed
  3. filters: ?process=billing shows billing's two rows only; ?port=PORT_B the same;
     ?pod_namespace=nothing shows none; a bad query is 400
  4. the landing page (Chromium) shows the states, billing's 7-socket row among the top
     offenders, TIME_WAIT against tcp_max_tw_buckets, and links to both pages
  5. a second exporter with pages.enabled: false answers 404 on both pages and its landing
     page has no link to them

Needs root (exit 77 otherwise), ss, chromium and python3-jsonschema (exit 77 when missing,
unless TCPSTATE_E2E_REQUIRE_CHROMIUM=1).

Usage: drilldown_pages_test.py EXPORTER [ARTIFACT_DIR]
"""

import html.parser
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_names_test import expected_label, hostile_names  # noqa: E402
from netns_util import SKIP, Netns, fetch, fetch_all, log, require_root, time_limit, wait_for  # noqa: E402
from socket_holders import kernel_comm, start_client, start_server  # noqa: E402

OVERALL_TIMEOUT = 90
EXPORTER_ADDR = "127.0.0.1:19960"
DISABLED_ADDR = "127.0.0.1:19961"
PORT_E, PORT_C, PORT_B, PORT_T = 19962, 19963, 19964, 19965
SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "pages")
MARKUP_NAME = b"<i>x</i>&'\"b"

# billing: CLOSE_WAIT toward two backends; crawler: TIME_WAIT toward one site.
POPULATION_CODE = r'''
import ctypes, os, socket, sys, time
port_b, port_t = int(sys.argv[1]), int(sys.argv[2])
backends = {"127.0.0.2": 7, "127.0.0.3": 3}
listeners = []
for addr in list(backends) + ["127.0.0.4"]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port_t if addr == "127.0.0.4" else port_b))
    s.listen(128)
    listeners.append(s)
pid = os.fork()
if pid == 0:
    ctypes.CDLL(None).prctl(15, b"billing", 0, 0, 0)
    held = []
    for addr, n in backends.items():
        for _ in range(n):
            held.append(socket.create_connection((addr, port_b)))
    for s in held:
        s.settimeout(20)
        assert s.recv(1) == b""
    # The crawler's connections: the client closes first and keeps TIME_WAIT.
    for _ in range(40):
        c = socket.create_connection(("127.0.0.4", port_t))
        c.close()
    print("ready %d" % os.getpid(), flush=True)
    while os.read(0, 4096):
        pass
    os._exit(0)
accepted = []
import select
while True:
    r, _, _ = select.select(listeners + [sys.stdin], [], [])
    for l in r:
        if l is sys.stdin:
            if not os.read(0, 4096):
                os._exit(0)
            continue
        conn, _ = l.accept()
        if l is listeners[-1]:
            conn.recv(1)  # the crawler's FIN
            conn.close()
        else:
            conn.shutdown(socket.SHUT_WR)
            accepted.append(conn)
'''

SS_LINE = re.compile(r"^(\S+)\s+\d+\s+\d+\s+(\S+):(\d+)\s+(\S+):(\d+)(.*)$")
SS_USER = re.compile(r"pid=(\d+),fd=(\d+)")


def ss_rows(ns, state):
    """[(local addr, local port, peer addr, peer port, [(pid, fd)], Recv-Q)] for `state`."""
    out = ns.run(["ss", "-tanpH", "state", state], check=True, text=False).stdout
    rows = []
    # ss prints comm raw: a newline in a name splits a line, so the users part is read from
    # the whole remainder up to the next socket line.
    text = out.decode("utf-8", "replace")
    entries = re.split(r"\n(?=\d+\s+\d+\s+\S+:\d+\s)", text.strip()) if text.strip() else []
    for entry in entries:
        fields = entry.split(None, 4)
        local, peer = fields[2], fields[3]
        laddr, lport = local.rsplit(":", 1)
        paddr, pport = peer.rsplit(":", 1)
        users = [(int(p), int(f)) for p, f in SS_USER.findall(entry)]
        rows.append((laddr, int(lport), paddr, int(pport), users, int(fields[0])))
    return rows


def ss_close_wait_groups(ns):
    """{(pid, remote addr, remote port): (count, {fds}, {causes})} for outbound CLOSE_WAIT
    sockets; the cause as ss shows it (every one is owned here): unread bytes or the FIN in
    Recv-Q, not_reading; Recv-Q 0, not_closed."""
    groups = {}
    for _, _, paddr, pport, users, recv_q in ss_rows(ns, "close-wait"):
        assert len(users) == 1, f"expected one owner per CLOSE_WAIT socket, got {users}"
        pid, fd = users[0]
        count, fds, causes = groups.get((pid, paddr, pport), (0, set(), set()))
        cause = "not_reading" if recv_q > 0 else "not_closed"
        groups[(pid, paddr, pport)] = (count + 1, fds | {fd}, causes | {cause})
    return groups


# The test's own requests leave TIME_WAIT sockets on the exporters' ports (the server closes
# first); they come and go between a poll and `ss`, so both sides leave them out.
OWN_PORTS = {int(a.rsplit(":", 1)[1]) for a in (EXPORTER_ADDR, DISABLED_ADDR)}


def ss_time_wait_groups(ns):
    groups = {}
    for _, lport, paddr, pport, _, _ in ss_rows(ns, "time-wait"):
        if lport in OWN_PORTS or pport in OWN_PORTS:
            continue
        groups[(paddr, pport)] = groups.get((paddr, pport), 0) + 1
    return groups


class Rows(html.parser.HTMLParser):
    """The <tr class="row"> cells of the table with id `table_id`, by class; any element
    inside a cell (markup that escaped) is recorded."""

    def __init__(self, table_id):
        super().__init__(convert_charrefs=True)
        self.table_id, self.in_table, self.rows, self.cell, self.elements_in_cells = \
            table_id, False, [], None, []
        self.ids, self.links = set(), set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.links.add(a["href"])
        if tag == "table":
            self.in_table = a.get("id") == self.table_id
        elif self.in_table and tag == "tr" and a.get("class") == "row":
            self.rows.append({})
        elif self.in_table and tag == "td" and self.rows:
            self.cell = a.get("class", "").split()[0]
            self.rows[-1][self.cell] = ""
        elif self.cell is not None:
            self.elements_in_cells.append(tag)

    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None
        elif tag == "table":
            self.in_table = False

    def handle_data(self, data):
        if self.cell is not None and self.rows:
            self.rows[-1][self.cell] += data


PROFILE_ROOT = []  # the test's temporary directory


def chromium_dom(ns, chromium, url, screenshot=None):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=PROFILE_ROOT[0])
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}"]
    dom = ns.run(base + ["--dump-dom", url], timeout=60)
    assert dom.returncode == 0, f"chromium --dump-dom {url}: {dom.returncode}\n{dom.stderr[-2000:]}"
    if screenshot:
        shot = ns.run(base + ["--window-size=1400,1000", f"--screenshot={screenshot}", url],
                      timeout=60)
        assert shot.returncode == 0 and os.path.getsize(screenshot) > 1000, \
            f"chromium --screenshot {url}: {shot.returncode}\n{shot.stderr[-2000:]}"
        log(f"screenshot of {url}: {screenshot}")
    return dom.stdout


def parse(dom, table_id):
    p = Rows(table_id)
    p.feed(dom)
    return p


def get_json(ns, url):
    status, body = fetch(ns, url)
    assert status == 200, f"{url}: {status} {body[:300]!r}"
    return json.loads(body.decode("utf-8"))


def run(ns, tmp, exporter, chromium, artifacts):
    import jsonschema
    rng = random.Random(int(os.environ.get("HOSTILE_SEED", "0")) or None)
    holders = [start_server(ns, PORT_E, PORT_C)]
    comms = {}  # pid -> expected process cell
    population = ns.spawn([sys.executable, "-c", POPULATION_CODE, str(PORT_B), str(PORT_T)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    names = hostile_names(rng) + [("HTML markup", MARKUP_NAME, "prctl")]
    try:
        for i, (what, name, method) in enumerate(names):
            holder = start_client(ns, name, method, PORT_E, PORT_C, 0, 1 + i % 4)
            holders.append(holder)
            comms[holder.pid] = expected_label(kernel_comm(holder.pid))
        line = population.stdout.readline().decode()
        assert line.startswith("ready "), f"population: {line!r}"
        billing = int(line.split()[1])
        comms[billing] = "billing"
        checks(ns, tmp, exporter, chromium, artifacts, comms, billing, jsonschema)
    finally:
        for holder in reversed(holders):
            holder.stop()
        population.stdin.close()


def start_exporter(ns, tmp, exporter, name, addr, extra=""):
    config = os.path.join(tmp, f"{name}.yml")
    with open(config, "w") as f:
        f.write("poll:\n  interval: 1s\nprocesses:\n  states: [close_wait]\n" + extra)
    out = open(os.path.join(tmp, f"{name}.log"), "wb")
    proc = ns.spawn([exporter, "--config", config, "--web.listen-address", addr],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    return proc


def checks(ns, tmp, exporter, chromium, artifacts, comms, billing, jsonschema):
    exp = start_exporter(ns, tmp, exporter, "exporter", EXPORTER_ADDR)
    off = start_exporter(ns, tmp, exporter, "disabled", DISABLED_ADDR, "pages:\n  enabled: false\n")
    base = f"http://{EXPORTER_ADDR}"
    schemas = {p: json.load(open(os.path.join(SCHEMAS, f"{p}.schema.json")))
               for p in ("close_wait", "time_wait")}

    def exporter_log():
        with open(os.path.join(tmp, "exporter.log"), "rb") as f:
            return f.read()[-3000:].decode("utf-8", "replace")

    # 1. JSON against ss, once both agree (the exporter polls every second).
    state = {}

    def agree():
        assert exp.poll() is None, f"exporter exited {exp.returncode}\n{exporter_log()}"
        status, body = fetch(ns, f"{base}/close_wait?format=json&limit=1000")
        if status != 200:
            state["last"] = f"{status} {body[:200]!r}"
            return None
        doc = json.loads(body)
        want = ss_close_wait_groups(ns)
        got = {(r["pid"], r["remote_address"], r["remote_port"]): r for r in doc["rows"]}
        state["last"] = f"ss {sorted((k, v[0]) for k, v in want.items())}\nexporter " \
                        f"{sorted((k, v['sockets']) for k, v in got.items())}"
        ok = set(got) == set(want) and all(got[k]["sockets"] == want[k][0] for k in want)
        return (doc, want) if ok and len(want) == len(comms) + 1 else None

    doc, want = wait_for(agree, 30, "/close_wait rows equal to ss -tanp", interval=0.5,
                         state=lambda: state.get("last"))
    jsonschema.validate(doc, schemas["close_wait"])
    for row in doc["rows"]:
        key = (row["pid"], row["remote_address"], row["remote_port"])
        assert row["direction"] == "outbound" and row["local_port"] is None, row
        assert row["process"] == comms[row["pid"]], (row, comms[row["pid"]])
        assert row["fds"] and set(row["fds"]) <= want[key][1], \
            f"fds {row['fds']} of {key} not among ss's {sorted(want[key][1])}"
        assert want[key][2] == {row["cause"]}, f"cause {row['cause']} of {key}, ss {want[key][2]}"
    billing_rows = [r for r in doc["rows"] if r["pid"] == billing]
    assert sorted((r["remote_address"], r["sockets"]) for r in billing_rows) == \
        [("127.0.0.2", 7), ("127.0.0.3", 3)], billing_rows
    log(f"/close_wait JSON: schema-valid, {len(doc['rows'])} rows equal ss -tanp per (pid, remote "
        f"address, port), fds among ss's; billing: 7 -> 127.0.0.2:{PORT_B}, 3 -> 127.0.0.3")

    tw = get_json(ns, f"{base}/time_wait?format=json")
    jsonschema.validate(tw, schemas["time_wait"])
    tw_want = ss_time_wait_groups(ns)
    tw_got = {(r["remote_address"], r["remote_port"]): r["sockets"] for r in tw["rows"]
              if r["local_port"] not in OWN_PORTS and r["remote_port"] not in OWN_PORTS}
    # Loopback reuses TIME_WAIT ports (tcp_tw_reuse 2), so a few of the 40 may be gone:
    # exporter and ss must agree, on most of them.
    crawled = tw_want.get(("127.0.0.4", PORT_T), 0)
    assert tw_got == tw_want and crawled >= 30, f"time_wait: exporter {tw_got}, ss {tw_want}"
    assert tw["namespaces"][0]["time_wait"] >= crawled and tw["namespaces"][0]["tcp_max_tw_buckets"]
    log(f"/time_wait JSON: schema-valid, {crawled} TIME_WAIT toward 127.0.0.4:{PORT_T} as in ss")

    # 2. Chromium renders /close_wait: rows equal ss, names escaped.
    os.makedirs(artifacts, exist_ok=True)
    dom = chromium_dom(ns, chromium, f"{base}/close_wait?limit=1000",
                       os.path.join(artifacts, "close_wait.png"))
    page = parse(dom, "rows")
    assert not page.elements_in_cells, f"markup inside cells: {page.elements_in_cells}"
    rendered = {}
    for r in page.rows:
        pid = int(r["pid"])
        rendered[(pid, r["remote-address"], int(r["remote-port"]))] = int(r["sockets"])
        assert r["process"] == comms[pid], f"pid {pid}: cell {r['process']!r}, want {comms[pid]!r}"
        fds = {int(x) for x in r["fds"].split()}
        assert fds and fds <= want[(pid, r["remote-address"], int(r["remote-port"]))][1], r
    now = ss_close_wait_groups(ns)
    assert rendered == {k: v[0] for k, v in now.items()}, f"chromium {rendered}\nss {now}"
    assert any(r["process"] == MARKUP_NAME.decode()[:15] for r in page.rows), "markup name row"
    log(f"chromium /close_wait: {len(page.rows)} rows equal ss -tanp, every process cell the "
        "sanitized comm, no markup inside a cell")
    dom = chromium_dom(ns, chromium, f"{base}/time_wait", os.path.join(artifacts, "time_wait.png"))
    page = parse(dom, "rows")
    tw_rendered = {(r["remote-address"], int(r["remote-port"])): int(r["sockets"])
                   for r in page.rows if r["local-port"] == "*" and
                   int(r["remote-port"]) not in OWN_PORTS}
    assert tw_rendered == tw_want, f"chromium {tw_rendered}\nss {tw_want}"
    log("chromium /time_wait: rows equal ss -tan state time-wait")

    # 3. Filters.
    by_process = get_json(ns, f"{base}/close_wait?format=json&process=billing")
    assert {r["pid"] for r in by_process["rows"]} == {billing} and \
        by_process["matching_sockets"] == 10, by_process
    by_port = get_json(ns, f"{base}/close_wait?format=json&port={PORT_B}")
    assert {r["pid"] for r in by_port["rows"]} == {billing} and len(by_port["rows"]) == 2
    assert get_json(ns, f"{base}/close_wait?format=json&pod_namespace=nothing")["rows"] == []
    first_two = get_json(ns, f"{base}/close_wait?format=json&limit=2")["rows"]
    assert [(r["pid"], r["sockets"]) for r in first_two] == \
        [(r["pid"], r["sockets"]) for r in doc["rows"][:2]], first_two
    status, _ = fetch(ns, f"{base}/close_wait?port=70000")
    assert status == 400, status
    log("filters: process=, port=, pod_namespace=, limit= select the right rows; bad query 400")

    # 4. The landing page.
    dom = chromium_dom(ns, chromium, f"{base}/", os.path.join(artifacts, "landing.png"))
    landing = parse(dom, "close-wait-top")
    assert {"states", "close-wait-top", "time-wait-limits"} <= landing.ids, landing.ids
    assert {"/close_wait", "/time_wait"} <= landing.links, landing.links
    top = [(r["process"], r["remote-address"], int(r["sockets"])) for r in landing.rows]
    assert ("billing", "127.0.0.2", 7) in top, top
    log(f"landing page: states, top CLOSE_WAIT offenders {top[:3]}..., TIME_WAIT limits, links")

    # 5. Pages off.
    off_base = f"http://{DISABLED_ADDR}"
    wait_for(lambda: fetch(ns, f"{off_base}/readyz")[0] == 200, 20, "the second exporter ready")
    answers = fetch_all(ns, [f"{off_base}/close_wait", f"{off_base}/time_wait?format=json",
                             f"{off_base}/"])
    assert [a[0] for a in answers[:2]] == [404, 404], answers[:2]
    assert b"/close_wait" not in answers[2][1] and b"127.0.0.2" not in answers[2][1]
    log("pages.enabled: false: both pages 404, no link on the landing page")

    for proc, what in ((exp, "exporter"), (off, "disabled exporter")):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, f"{what} exit {proc.returncode}"


def main():
    require_root()
    exporter = os.path.abspath(sys.argv[1])
    artifacts = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else
                                os.path.join(os.path.dirname(exporter), "test-artifacts"))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        chromium = None
    if not chromium or not shutil.which("ss"):
        if os.environ.get("TCPSTATE_E2E_REQUIRE_CHROMIUM") == "1":
            print("FAIL: chromium, ss or python3-jsonschema missing", file=sys.stderr)
            return 1
        print("SKIP: needs chromium, ss and python3-jsonschema", file=sys.stderr)
        return SKIP
    t0 = time.monotonic()
    with time_limit(OVERALL_TIMEOUT), tempfile.TemporaryDirectory() as tmp, Netns("drill") as ns:
        PROFILE_ROOT.append(tmp)
        run(ns, tmp, exporter, chromium, artifacts)
    log(f"PASS in {time.monotonic() - t0:.1f}s; screenshots in {artifacts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
