"""Exit-only events, live (root): the probe leaves in the kernel the enter events of the
`layout.EXIT_COMPLETE` syscalls when no rule can match one, and sends them again as soon as a
reloaded rule can; the state engine never pairs such an exit with an older enter.

Seen from the alerts: ``evt.latency`` is 0 on an openat exit without its enter and positive with
it; a rule on openat enter events fires once it is loaded; a failed openat shows no stale fd.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from enginehelpers import RaeRun, free_port, live_marks, replace_file, write_config

pytestmark = live_marks(90)

EXIT_RULE = "Exit-only test - marker opened"
FAILED_RULE = "Exit-only test - failed open"
ENTER_RULE = "Exit-only test - marker open starting"


def _rules(tmp: Path, with_enter_rule: bool) -> str:
    text = f"""
- rule: {EXIT_RULE}
  desc: the test's marker opened
  condition: evt.type in (open, openat) and evt.dir=< and fd.name startswith {tmp}/marker
  output: opened (fd.name=%fd.name latency=%evt.latency)
  priority: NOTICE
- rule: {FAILED_RULE}
  desc: an open of the test's missing file failed
  condition: evt.type in (open, openat) and evt.dir=< and evt.rawres < 0 and evt.arg.name startswith {tmp}/missing
  output: failed (name=%evt.arg.name fd.name=%fd.name fd.num=%fd.num)
  priority: NOTICE
"""
    if with_enter_rule:
        text += f"""
- rule: {ENTER_RULE}
  desc: an openat of the test's marker is starting (an enter event)
  condition: evt.type = openat and evt.dir = > and evt.arg.name startswith {tmp}/marker
  output: starting (name=%evt.arg.name)
  priority: NOTICE
"""
    return text


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RaeRun, Path, Path]]:
    tmp = tmp_path_factory.mktemp("exit-only")
    for name in ("marker-1.txt", "marker-2.txt"):
        (tmp / name).write_text("x\n")
    web = free_port()
    cfg = write_config(tmp / "rae.yaml", web, {"rule_matching": "all"})
    rules = tmp / "rules.yaml"
    rules.write_text(_rules(tmp, with_enter_rule=False))
    run = RaeRun(["-c", str(cfg), "-r", str(rules)], web)
    try:
        run.wait_healthy()
        yield run, tmp, rules
    finally:
        assert run.stop() == 0


def _rule(name: str) -> Any:
    return lambda a: a["rule"] == name


def _open(path: Path) -> None:
    # cat holds fds of its own (stdin/out/err) and reads a file: a stale fd would have a name
    subprocess.run(["cat", str(path)], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_openat_enters_stay_in_the_kernel(engine: tuple[RaeRun, Path, Path]) -> None:
    run, tmp, _ = engine
    assert any("report exit events only" in ln and not ln.rstrip().endswith("; 0 report exit events only")
               for ln in run.err.lines), run.err.lines[-20:]
    start = len(run.out)
    _open(tmp / "marker-1.txt")
    _, alert = run.wait_alert(_rule(EXIT_RULE), start)
    assert alert["output_fields"]["evt.latency"] == 0


def test_failed_open_shows_no_stale_fd(engine: tuple[RaeRun, Path, Path]) -> None:
    run, tmp, _ = engine
    start = len(run.out)
    _open(tmp / "missing-file")
    _, alert = run.wait_alert(_rule(FAILED_RULE), start)
    f = alert["output_fields"]
    assert f["evt.arg.name"] == str(tmp / "missing-file")
    # libsinsp names the fd of a failed open after its path; its number is the thread's last fd,
    # -1 here: an exit taken for its own enter, not the fd an earlier call left in the thread
    assert f["fd.name"] == str(tmp / "missing-file") and f["fd.num"] == -1, alert["output"]


def test_a_rule_on_enter_events_brings_them_back(engine: tuple[RaeRun, Path, Path]) -> None:
    run, tmp, rules = engine
    err_start = len(run.err)
    replace_file(rules, _rules(tmp, with_enter_rule=True))
    run.err.wait_for(lambda ln: "Rules reloaded: 3 rules enabled" in ln, err_start)
    start = len(run.out)
    _open(tmp / "marker-2.txt")
    _, enter = run.wait_alert(_rule(ENTER_RULE), start)
    assert enter["output_fields"]["evt.arg.name"] == str(tmp / "marker-2.txt")
    # the state engine pairs exits with enters again once the ring holds no event from before the
    # reload (until then an exit may still be taken as exit-only: latency 0, nothing else lost)
    for _ in range(50):
        start = len(run.out)
        _open(tmp / "marker-2.txt")
        _, opened = run.wait_alert(lambda a: _rule(EXIT_RULE)(a) and "marker-2" in a["output"], start)
        if opened["output_fields"]["evt.latency"] > 0:
            break
        time.sleep(0.1)
    assert opened["output_fields"]["evt.latency"] > 0  # paired with its enter again
