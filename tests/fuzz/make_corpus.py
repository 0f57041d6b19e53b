#!/usr/bin/env python3
"""Regenerates the seed corpora in tests/fuzz/corpus/ (committed; run this
only to change them). Standard library only.

fuzz_inet_diag_decoder: byte 0 is the mode (see fuzz_inet_diag_decoder.cpp),
the rest a datagram: every message of the recorded `ss -D` dumps on its own,
the whole dumps (plain, aggregated, chunked) and synthetic messages for every
branch of the decoder.
fuzz_config_loader: the shipped and fixture configurations, plus deep
nesting, huge scalars, wrong types, anchors and hostile regexes.
fuzz_replay_transport: the recorded dumps as files, whole, cut and corrupted.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DUMPS = os.path.join(ROOT, "tests", "fixtures", "golden", "dumps")

SEQ, PID = 123456, 12476  # the fixed identity of the fuzz target
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_MULTI, NLM_F_DUMP_INTR = 2, 16
STAMP, AGGREGATE = 0x01, 0x02


def align(n):
    return (n + 3) & ~3


def message(mtype, payload, flags=NLM_F_MULTI, seq=SEQ, pid=PID, length=None):
    length = 16 + len(payload) if length is None else length
    body = struct.pack("<IHHII", length, mtype, flags, seq, pid) + payload
    return body + b"\0" * (align(len(body)) - len(body))


def diag(family=2, state=1, sport=80, dport=40000, inode=1000, cookie=1,
         rqueue=0, wqueue=0, attrs=b""):
    src = bytes([127, 0, 0, 1]) + b"\0" * 12 if family == 2 else b"\0" * 15 + b"\1"
    sock_id = struct.pack(">HH", sport, dport) + src + src + struct.pack("<III", 0, cookie & 0xffffffff, cookie >> 32)
    msg = struct.pack("<BBBB", family, state, 0, 0) + sock_id + struct.pack(
        "<IIIII", 0, rqueue, wqueue, 0, inode)
    assert len(msg) == 72, len(msg)
    return message(SOCK_DIAG_BY_FAMILY, msg + attrs)


def attr(atype, payload):
    body = struct.pack("<HH", 4 + len(payload), atype) + payload
    return body + b"\0" * (align(len(body)) - len(body))


def done(status=0):
    return message(NLMSG_DONE, struct.pack("<i", status))


def split_messages(blob):
    out, off = [], 0
    while off + 16 <= len(blob):
        length = struct.unpack_from("<I", blob, off)[0]
        out.append(blob[off:off + align(length)])
        off += align(length)
    return out


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def decoder_seeds():
    t = "fuzz_inet_diag_decoder"
    for fname in ["inet.bin", "inet6.bin"]:
        blob = open(os.path.join(DUMPS, fname), "rb").read()
        base = fname.split(".")[0]
        # inet.bin carries the fixed identity; inet6.bin another portid.
        mode = 0 if fname == "inet.bin" else STAMP
        for i, msg in enumerate(split_messages(blob)):
            write(t, f"recorded-{base}-msg{i:02d}", bytes([mode]) + msg)
        write(t, f"recorded-{base}-whole", bytes([mode]) + blob)
        write(t, f"recorded-{base}-whole-aggregated", bytes([mode | AGGREGATE]) + blob)
        write(t, f"recorded-{base}-chunked-by-4", bytes([mode | AGGREGATE | 0x30]) + blob)
    synthetic = {
        "ack": message(NLMSG_ERROR, struct.pack("<i", 0) + b"\0" * 16, flags=0) + done(),
        "nlmsg-error-enobufs": message(NLMSG_ERROR, struct.pack("<i", -105) + b"\0" * 16, flags=0),
        "nlmsg-error-short": message(NLMSG_ERROR, b"\1\2"),
        "done-with-error": done(-16),
        "done-short": message(NLMSG_DONE, b""),
        "noop-then-done": message(NLMSG_NOOP, b"") + done(),
        "overrun": message(NLMSG_OVERRUN, b""),
        "unknown-type": message(99, b"abcd"),
        "dump-intr": message(SOCK_DIAG_BY_FAMILY, diag()[16:], flags=NLM_F_MULTI | NLM_F_DUMP_INTR) + done(),
        "v4-listen-established-closewait": diag(state=10, sport=443, dport=0, inode=7, rqueue=3, wqueue=128)
            + diag(state=1, sport=443, dport=50000, inode=8) + diag(state=8, sport=51000, dport=443, inode=14, cookie=99)
            + diag(state=8, sport=443, dport=52000, inode=0, cookie=100) + done(),
        "v6-with-attrs": diag(family=10, state=1, attrs=attr(5, b"\0" * 4) + attr(15, b"\0" * 4)) + done(),
        "attr-overrun": diag(attrs=struct.pack("<HH", 200, 1) + b"\0" * 4) + done(),
        "attr-zero-len": diag(attrs=struct.pack("<HH", 0, 1) + b"\0" * 4) + done(),
        "bad-family": diag(family=1) + done(),
        "unknown-states": diag(state=13) + diag(state=31) + diag(state=255) + done(),
        "short-diag": message(SOCK_DIAG_BY_FAMILY, b"\2\1" + b"\0" * 30),
        "len-below-header": struct.pack("<IHHII", 8, 20, 2, SEQ, PID),
        "len-beyond-datagram": struct.pack("<IHHII", 4000, 20, 2, SEQ, PID) + b"\0" * 64,
        "unaligned-last": diag()[:-0] + message(NLMSG_DONE, b"\0\0\0\0")[:-0],
        "wrong-seq": message(SOCK_DIAG_BY_FAMILY, diag()[16:], seq=SEQ + 1),
        "wrong-portid": message(SOCK_DIAG_BY_FAMILY, diag()[16:], pid=PID + 1),
        "header-only": b"\0" * 10,
        "many-ports-caps": b"".join(diag(state=1, sport=40000 + i, dport=1000 + i, inode=100 + i, cookie=i)
                                    for i in range(12)) + done(),
    }
    for name, data in synthetic.items():
        write(t, f"synthetic-{name}", bytes([0]) + data)
        write(t, f"synthetic-{name}-aggregated", bytes([AGGREGATE]) + data)


def config_seeds():
    t = "fuzz_config_loader"
    files = [os.path.join(ROOT, "config", "tcpstate_exporter.yml")]
    fixtures = os.path.join(ROOT, "tests", "fixtures", "config")
    files += [os.path.join(fixtures, f) for f in sorted(os.listdir(fixtures))]
    files += [os.path.join(ROOT, "tests", "fixtures", "golden", "config.yml"),
              os.path.join(ROOT, "tests", "fixtures", "alerting", "exporter.yml")]
    for path in files:
        if os.path.exists(path):
            write(t, "file-" + os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path),
                  open(path, "rb").read())
    seeds = {
        "empty": b"",
        "null": b"~\n",
        "nested-flow-200": b"[" * 200 + b"]" * 200,
        "nested-map-100": b"".join(b"  " * i + b"k%d:\n" % i for i in range(100)),
        "nested-under-web-100": b"web:\n  listen_address: " + b"[" * 100 + b"]" * 100 + b"\n",
        "huge-scalar": b"poll:\n  interval: " + b"9" * 4000 + b"s\n",
        "huge-port": b"ports:\n  include: [" + b"9" * 300 + b"]\n",
        "duration-sum": b"poll:\n  interval: 500000000000h500000000000h\n",
        "wrong-types": b"web: [1, 2]\npoll: {interval: [1s]}\nports: {include: {a: b}}\n",
        "map-key": b"? [a, b]\n: 1\n",
        "anchors": b"a: &x [1, 2, 3]\nb: *x\nprocesses: {groups: [{name: g, match: *x}]}\n",
        "groups": b"processes:\n  groups:\n    - {name: web, match: '^(nginx|envoy)$'}\n"
                  b"    - {name: jvm, match: 'java|kotlin'}\n",
        "regex-nested-parens": b"processes:\n  groups:\n    - {name: g, match: '" + b"(" * 40 + b"a" + b")" * 40 + b"'}\n",
        "regex-repeat": b"processes:\n  groups:\n    - {name: g, match: 'a{1,50}b{2,}'}\n",
        "states": b"processes:\n  states: [close_wait, state_31, all]\n",
        "thresholds": b"close_wait:\n  age_thresholds: [1s, 1m30s, 1d]\n  max_tracked: 0\n",
        "namespaces": b"namespaces: {mode: all, max: 1}\noutbound: {max_destinations: 0}\nlog: {level: debug}\n",
        "listen-v6": b"web: {listen_address: '[::1]:9930', max_connections: 1024, request_timeout: 10m}\n",
        "binary": bytes(range(256)),
        "tabs-and-bom": b"\xef\xbb\xbfweb:\n\tlisten_address: :1\n",
        "multi-doc": b"web: {}\n---\npoll: {}\n",
    }
    for name, data in seeds.items():
        write(t, name, data)


def replay_seeds():
    t = "fuzz_replay_transport"
    for fname in ["inet.bin", "inet6.bin"]:
        blob = open(os.path.join(DUMPS, fname), "rb").read()
        base = fname.split(".")[0]
        write(t, f"recorded-{base}", blob)
        write(t, f"recorded-{base}-cut-mid-message", blob[:len(blob) // 2 + 7])
        write(t, f"recorded-{base}-no-done", blob[:-20])
    write(t, "empty", b"")
    write(t, "zero-length-second-message", diag() + b"\0" * 16)
    write(t, "done-error", diag() + done(-5))
    write(t, "nlmsg-error", message(NLMSG_ERROR, struct.pack("<i", -1) + b"\0" * 16, flags=0))


if __name__ == "__main__":
    decoder_seeds()
    config_seeds()
    replay_seeds()
