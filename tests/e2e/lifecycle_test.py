#!/usr/bin/env python3
"""Lifecycle: a port already in use fails at start with a clear message and a
non-zero exit; SIGHUP with a bad configuration keeps the running one and says
so in tcpstate_config_last_reload_successful, a good one applies it; SIGTERM
and SIGINT end the exporter with status 0 within 5 s.

Usage: lifecycle_test.py EXPORTER
"""

import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_util import Netns, parse_exposition, require_root, scrape, value, wait_for  # noqa: E402

ADDRESS = "127.0.0.1:19940"
URL = f"http://{ADDRESS}/metrics"


def metrics(ns):
    try:
        return parse_exposition(scrape(ns, URL))
    except subprocess.CalledProcessError:
        return None


def start(ns, exporter, config):
    proc = ns.spawn([exporter, "--config", config, "--web.listen-address", ADDRESS],
                    stderr=subprocess.PIPE, text=True)
    wait_for(lambda: metrics(ns), 30, "exporter serving")
    return proc


def stop_within(proc, signo, seconds):
    started = time.monotonic()
    proc.send_signal(signo)
    code = proc.wait(timeout=seconds + 5)
    took = time.monotonic() - started
    assert code == 0, f"{signal.Signals(signo).name}: exit status {code}"
    assert took <= seconds, f"{signal.Signals(signo).name}: took {took:.1f}s"
    print(f"  {signal.Signals(signo).name}: exit 0 after {took:.2f}s")


def main():
    require_root()
    exporter = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp, Netns("tcpstate-life") as ns:
        config = os.path.join(tmp, "config.yml")
        with open(config, "w") as f:
            f.write("poll:\n  interval: 500ms\nlog:\n  level: info\n")
        first = start(ns, exporter, config)

        # A second exporter on the same address must fail at start, clearly.
        second = ns.run([exporter, "--config", config, "--web.listen-address", ADDRESS],
                        timeout=30)
        assert second.returncode != 0, "second exporter on a used port did not fail"
        assert f"cannot listen on {ADDRESS}" in second.stderr, second.stderr
        print(f"  port in use: exit {second.returncode}: {second.stderr.strip().splitlines()[-1]}")

        # SIGHUP with a broken file: the running configuration stays.
        with open(config, "w") as f:
            f.write("poll:\n  intervall: 1s\n")
        first.send_signal(signal.SIGHUP)
        wait_for(lambda: (m := metrics(ns)) and
                 value(m, "tcpstate_config_last_reload_successful") == 0,
                 15, "reload failure in tcpstate_config_last_reload_successful")
        assert first.poll() is None, "exporter died on a bad reload"
        m = metrics(ns)
        assert value(m, "tcpstate_last_poll_success") == 1
        print("  bad SIGHUP: still serving, tcpstate_config_last_reload_successful 0")

        # A good file applies: process attribution switched off by the reload.
        with open(config, "w") as f:
            f.write("poll:\n  interval: 500ms\nprocesses:\n  enabled: false\n")
        first.send_signal(signal.SIGHUP)
        wait_for(lambda: (m := metrics(ns)) and
                 value(m, "tcpstate_config_last_reload_successful") == 1 and
                 value(m, "tcpstate_process_sockets") is None,
                 15, "good reload applied")
        print("  good SIGHUP: applied, tcpstate_config_last_reload_successful 1")

        stop_within(first, signal.SIGTERM, 5)
        stop_within(start(ns, exporter, config), signal.SIGINT, 5)
    print("lifecycle test passed")


if __name__ == "__main__":
    main()
