"""`rae run` → `http_output` → `rae sidekick`, end to end, as root (issue 6).

A real `rae sidekick` (free port, its file output) receives the engine's alerts over HTTP; the
engine's rule fires on opens of the test's marker files. While sidekick is down the engine keeps
detecting (alerts on its stdout, `/healthz` ok) and counts every failed delivery
(`rae_outputs_errors_total{output="http"}`) instead of stalling; once sidekick is back, later
alerts get through again. The engine does not retry what failed (as Falco's `http_output`): a
delivery is either in sidekick or counted as an error, which the test checks exactly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from enginehelpers import REPO, RaeRun, free_port, live_marks, write_config
from prometheus_client.parser import text_string_to_metric_families

pytestmark = live_marks(120)

RULE = "Sidekick e2e marker opened"
#: falcosidekick's numeric priority label (Debug = 1 … Emergency = 8)
WARNING_NUM = "4"


def poll(pred: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Sidekick:
    """`rae sidekick` on a fixed port with a file output; can be stopped and started again."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.port = port
        self.events_file = tmp / "sidekick-events.json"
        self.cfg = tmp / "sidekick.yaml"
        self.cfg.write_text(yaml.safe_dump({
            "listenaddress": "127.0.0.1", "listenport": port,
            "file": {"path": str(self.events_file), "format": "json"},
        }))
        self.log = tmp / "sidekick.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "rae.cli", "sidekick", "-c", str(self.cfg)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                tail = self.log.read_text()[-2000:]
                raise AssertionError(f"sidekick exited {self.proc.returncode}: {tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        poll(healthy, 30, "rae sidekick to answer /healthz")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def received(self) -> list[dict[str, Any]]:
        """The alerts sidekick's file output wrote so far."""
        try:
            text = self.events_file.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def events_total(self, **labels: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        total = 0.0
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name == "falcosecurity_falcosidekick_falco_events_total" and all(
                        s.labels.get(k) == v for k, v in labels.items()):
                    total += s.value
        return total


@pytest.fixture
def sidekick(tmp_path: Path) -> Iterator[Sidekick]:
    sk = Sidekick(tmp_path, free_port())
    sk.start()
    try:
        yield sk
    finally:
        sk.stop()


@pytest.fixture
def engine(tmp_path: Path, sidekick: Sidekick) -> Iterator[RaeRun]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""
- rule: {RULE}
  desc: an open of one of the test's marker files
  condition: evt.type in (open, openat, openat2) and evt.dir=< and fd.name startswith {tmp_path}/mark-
  output: marker opened (fd.name=%fd.name proc.name=%proc.name)
  priority: WARNING
  tags: [engine_test]
""")
    web_port = free_port()
    cfg = write_config(tmp_path / "rae.yaml", web_port, {"watch_config_files": False})
    run = RaeRun(["-c", str(cfg), "-r", str(rules), "-o", "http_output.enabled=true",
                  "-o", f"http_output.url=http://127.0.0.1:{sidekick.port}/"], web_port)
    try:
        run.wait_healthy()
        yield run
    finally:
        run.stop()


def touch_markers(tmp: Path, phase: str, n: int = 3) -> list[str]:
    """Open ``n`` new marker files (the rule fires on each open's exit); their paths."""
    paths = []
    for i in range(n):
        p = tmp / f"mark-{phase}-{i}"
        with open(p, "w") as f:
            f.write(phase)
        paths.append(str(p))
    return paths


def fd_names(alerts: list[dict[str, Any]]) -> set[str]:
    return {a["output_fields"]["fd.name"] for a in alerts if a.get("rule") == RULE}


def http_counter(run: RaeRun, name: str) -> float:
    return run.metric(f'{name}{{output="http"}}') or 0.0


def engine_alerts_for(run: RaeRun, paths: list[str]) -> set[str]:
    def seen() -> set[str] | None:
        got = fd_names(run.alerts()) & set(paths)
        return got if got == set(paths) else None

    return poll(seen, 15, f"the engine's stdout alerts for {paths}")


def test_alerts_reach_sidekick_and_engine_survives_its_outage(tmp_path: Path, sidekick: Sidekick,
                                                              engine: RaeRun) -> None:
    # 1. sidekick up: every alert arrives in its file output and its metrics, by rule and priority
    first = touch_markers(tmp_path, "up")
    engine_alerts_for(engine, first)
    poll(lambda: set(first) <= fd_names(sidekick.received()), 15, "the alerts in sidekick's file output")
    got = [a for a in sidekick.received() if a["output_fields"]["fd.name"] in first]
    assert {(a["rule"], a["priority"], a["hostname"], a["source"]) for a in got} == {
        (RULE, "Warning", "engine-test", "syscall")}
    assert all(f"marker opened (fd.name={a['output_fields']['fd.name']} " in a["output"] for a in got)
    assert sidekick.events_total(rule=RULE, priority=WARNING_NUM, priority_raw="warning") == len(first)
    # the engine counts a delivery once it has read sidekick's answer: a moment after the file write
    poll(lambda: http_counter(engine, "rae_outputs_delivered_total") == len(first), 10,
         "the deliveries counted")
    assert http_counter(engine, "rae_outputs_errors_total") == 0

    # 2. sidekick down: the engine keeps detecting and serving; each failed delivery is counted
    sidekick.stop()
    processed0 = engine.metric("falcosecurity_falco_num_evts_total") or 0.0
    down = touch_markers(tmp_path, "down")
    engine_alerts_for(engine, down)
    poll(lambda: http_counter(engine, "rae_outputs_errors_total") == len(down), 15,
         "rae_outputs_errors_total{output=http} to count the failed deliveries")
    with urllib.request.urlopen(f"http://127.0.0.1:{engine.web_port}/healthz", timeout=5) as r:
        assert json.loads(r.read()) == {"status": "ok"}
    assert engine.proc.poll() is None
    assert (engine.metric("falcosecurity_falco_num_evts_total") or 0.0) > processed0
    assert (engine.metric("falcosecurity_falco_outputs_queue_num_drops_total") or 0.0) == 0
    late = touch_markers(tmp_path, "still-down", 2)  # the outputs worker is not stuck on the dead peer
    engine_alerts_for(engine, late)
    poll(lambda: http_counter(engine, "rae_outputs_errors_total") == len(down) + len(late), 15,
         "the later failures to be counted too")

    # 3. sidekick back (same port): later alerts get through; what failed was counted, not delivered
    sidekick.start()
    again = touch_markers(tmp_path, "back")
    engine_alerts_for(engine, again)
    poll(lambda: set(again) <= fd_names(sidekick.received()), 15, "the alerts after sidekick's restart")
    assert fd_names(sidekick.received()) == set(first) | set(again)
    assert sidekick.events_total(rule=RULE, priority=WARNING_NUM, priority_raw="warning") == len(again)
    poll(lambda: http_counter(engine, "rae_outputs_delivered_total") == len(first) + len(again), 10,
         "the deliveries after the restart counted")
    assert http_counter(engine, "rae_outputs_errors_total") == len(down) + len(late)
    assert engine.stop() == 0
