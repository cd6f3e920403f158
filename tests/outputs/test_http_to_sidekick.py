"""http_output → a real `rae sidekick` process: alerts arrive; a dead sidekick never stalls submit()."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from outhelpers import ROOT, make_alert, stop_process, wait_for
from prometheus_client.parser import text_string_to_metric_families

from rae.config import Config
from rae.outputs import OutputManager


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


@contextmanager
def sidekick(port: int, log: Path) -> Iterator[str]:
    env = {**os.environ, "LISTENPORT": str(port), "LISTENADDRESS": "127.0.0.1"}
    with open(log, "ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "rae.cli", "sidekick"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=err)
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 30
        while get(base + "/healthz")[0] != 200:
            if proc.poll() is not None or time.monotonic() > end:
                raise AssertionError(f"rae sidekick did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield base
    finally:
        stop_process(proc)


def events_by_rule(base: str) -> dict[str, float]:
    text = get(base + "/metrics")[1].decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "falcosecurity_falcosidekick_falco_events_total":
                out[s.labels["rule"]] = out.get(s.labels["rule"], 0) + s.value
    return out


def test_http_output_to_sidekick_and_through_an_outage(
    tmp_path: Path, config_factory: Callable[..., Config]
) -> None:
    pytest.importorskip("rae.sidekick.service")
    port = free_port()
    cfg = config_factory("http_output.enabled=true", f"http_output.url=http://127.0.0.1:{port}/",
                         "json_output=true", "outputs_queue.capacity=1000")
    log = tmp_path / "sidekick.log"
    om = OutputManager(cfg)  # one engine-side manager through the whole outage
    try:
        with sidekick(port, log) as base:
            for i in range(5):
                assert om.submit(make_alert(i))
            wait_for(lambda: om.counters.processed == 5, "5 alerts processed", limit=15)
            assert om.counters.delivered == {"http": 5}
            wait_for(lambda: events_by_rule(base).get("open_from_cat") == 5, "5 events in sidekick's metrics",
                     limit=15)

        # sidekick is down: submit() still returns at once, every failed POST is counted
        assert all(om.submit(make_alert(i)) for i in range(20))
        wait_for(lambda: om.counters.processed == 25, "20 more alerts processed", limit=15)
        assert om.counters.errors == {"http": 20} and om.counters.delivered == {"http": 5}

        # back up on the same port: delivery resumes, nothing restarted on the engine side
        with sidekick(port, log) as base:
            for i in range(3):
                om.submit(make_alert(i))
            wait_for(lambda: om.counters.processed == 28, "3 more alerts processed", limit=15)
            assert om.counters.delivered == {"http": 8}
            wait_for(lambda: events_by_rule(base).get("open_from_cat") == 3, "3 events after the restart",
                     limit=15)
    finally:
        om.close(timeout=20)
