"""Hot reload while events flow (root, live): a rule added to the watched rules file takes effect
without a restart, and no event is lost across the swap.

A workload opens a marker file every 20 ms (plus a stream of other syscalls) for about 3 s; rule A
matches every one of those opens from the start. Mid-way, rule B (the same condition, another name)
is added by rewriting the file. Afterwards: rule A fired exactly once per open (before, during and
after the reload: the count of the workload's opens), rule B fired for every open after its first
alert and for none before the file changed, its first alert came within 2 s of the file change
(event time), and the engine's counters show the events and no drop of any kind.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from enginehelpers import RaeRun, free_port, live_marks, replace_file, write_config

pytestmark = live_marks(90)

OPENS = 150

WORKLOAD = """
import os, sys, time
marker, done, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    with open(marker) as f:
        f.read()
    for _ in range(20):  # flow the rules do not match
        os.close(os.open("/dev/null", os.O_RDONLY))
    time.sleep(0.02)
open(done).close()
"""


def _rule(name: str, marker: Path) -> str:
    return f"""
- rule: {name}
  desc: an open of the reload test's marker
  condition: evt.type in (open, openat) and evt.dir=< and fd.name={marker}
  output: marker opened (proc.pid=%proc.pid fd.name=%fd.name)
  priority: NOTICE
"""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[RaeRun, Path, Path]]:
    marker = tmp_path / "flow-marker.txt"
    marker.write_text("x\n")
    web = free_port()
    cfg = write_config(tmp_path / "rae.yaml", web, {"rule_matching": "all"})
    rules = tmp_path / "rules.yaml"
    rules.write_text(_rule("Flow rule A", marker))
    run = RaeRun(["-c", str(cfg), "-r", str(rules)], web)
    try:
        run.wait_healthy()
        yield run, rules, marker
    finally:
        assert run.stop() == 0


def test_rule_added_under_flow_takes_effect_and_nothing_is_lost(engine: tuple[RaeRun, Path, Path],
                                                                tmp_path: Path) -> None:
    run, rules, marker = engine
    done = tmp_path / "flow-done.txt"
    done.write_text("")
    evts_before = run.metric("falcosecurity_scap_n_evts_total") or 0
    start = len(run.out)
    err_start = len(run.err)
    work = subprocess.Popen([sys.executable, "-c", WORKLOAD, str(marker), str(done), str(OPENS)])
    try:
        run.wait_alert(lambda a: a["rule"] == "Flow rule A", start)  # the flow is on
        time.sleep(1.0)
        changed_ns = time.time_ns()
        replace_file(rules, _rule("Flow rule A", marker) + _rule("Flow rule B", marker))
        run.err.wait_for(lambda ln: "Rules reloaded: 2 rules enabled" in ln, err_start)
        assert work.wait(60) == 0
    finally:
        if work.poll() is None:
            work.kill()
            work.wait()
    # the workload's last open is followed by its open of `done`: wait until both rules saw the last one
    pid = str(work.pid)

    def mine(rule: str) -> list[dict]:
        return [a for a in run.alerts(start) if a["rule"] == rule and str(a["output_fields"]["proc.pid"]) == pid]

    def settled() -> bool:
        # both rules' alerts for the last open are written one after the other: wait for B's too
        a, b = mine("Flow rule A"), mine("Flow rule B")
        if len(a) < OPENS or not b:
            return False
        first = min(int(x["output_fields"]["evt.time"]) for x in b)
        return len(b) >= sum(1 for x in a if int(x["output_fields"]["evt.time"]) >= first)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not settled():
        time.sleep(0.1)
    a_alerts, b_alerts = mine("Flow rule A"), mine("Flow rule B")
    assert len(a_alerts) == OPENS  # every open, before, during and after the reload
    assert 0 < len(b_alerts) < OPENS
    first_b = min(int(a["output_fields"]["evt.time"]) for a in b_alerts)
    assert first_b >= changed_ns
    assert first_b - changed_ns < 2_000_000_000, "the new rule took effect after more than 2 s"
    # rule B fired for every open of the marker from its first alert on
    assert len(b_alerts) == sum(1 for a in a_alerts if int(a["output_fields"]["evt.time"]) >= first_b)
    assert not any("reload failed" in ln for ln in run.err.lines[err_start:])
    # counted, and no drop of any kind
    assert (run.metric("falcosecurity_scap_n_evts_total") or 0) > evts_before + OPENS * 40
    assert run.metric("falcosecurity_scap_n_drops_total") == 0
    text = run.metrics()
    drops = [ln for ln in text.splitlines() if ln.startswith(("rae_user_drops_total", "falcosecurity_falco_outputs_"
                                                               "queue_num_drops_total")) and not ln.endswith(" 0.0")]
    assert drops == [], drops
