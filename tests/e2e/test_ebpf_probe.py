"""Live tests of the eBPF probe, its loader and `rae capture` (root, a BTF kernel, the built probe)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_capture import LiveCapture
from live_probe import live

from rae.syscall import ebpf

REPO = Path(__file__).resolve().parents[2]
PROBE_NAMES = {"rae_sys_enter", "rae_sys_exit", "rae_sched_exec", "rae_sched_exit", "rae_sched_fork"}


pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]


def _rae_prog_ids() -> set[int]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True)
    return {p["id"] for p in json.loads(out.stdout) if p.get("name") in PROBE_NAMES}


@pytest.fixture
def child_waiting() -> Iterator[subprocess.Popen[str]]:
    """A child that runs the Python code it reads on stdin only when told to, so a probe can attach first."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; exec(sys.stdin.read())"],
                            stdin=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _collect(probe: ebpf.Probe, pred, until_proc: subprocess.Popen[str] | None = None, timeout: float = 5.0):
    """Events matching pred until the child exited and the ring is drained."""
    out = []
    end = time.monotonic() + timeout
    quiet_after_exit = None
    while time.monotonic() < end:
        got = False
        for evt in probe.events(timeout=0.05):
            got = True
            if pred(evt):
                out.append(evt)
        if until_proc is not None and until_proc.poll() is not None:
            if quiet_after_exit is None:
                quiet_after_exit = time.monotonic()
            elif not got and time.monotonic() - quiet_after_exit > 0.2:
                break
    return out


@live
def test_attach_and_clean_detach_leave_no_programs() -> None:
    before = _rae_prog_ids()
    probe = ebpf.Probe(selected={"openat"})
    probe.open()
    try:
        ours = _rae_prog_ids() - before
        assert len(ours) == len(PROBE_NAMES), f"expected one program per hook, got {ours}"
    finally:
        probe.close()
    # the kernel frees detached programs after an RCU grace period: wait for it, boundedly
    deadline = time.monotonic() + 10
    while ours & _rae_prog_ids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (ours & _rae_prog_ids()), "programs still loaded after close()"
    probe.close()  # idempotent


@live
def test_exactly_n_openat_dev_null_from_a_child(child_waiting: subprocess.Popen[str]) -> None:
    n = 57
    with ebpf.Probe(selected={"openat", "close"}) as probe:
        assert child_waiting.stdin is not None
        child_waiting.stdin.write(
            f"import os\nfor _ in range({n}):\n    fd = os.open('/dev/null', os.O_RDONLY)\n    os.close(fd)\n")
        child_waiting.stdin.close()
        pid = child_waiting.pid
        evts = _collect(probe, lambda e: e.tid == pid and e.evtype == "openat"
                        and e.arg("name") == b"/dev/null", child_waiting)
        stats = probe.stats()
    exits = [e for e in evts if e.dir == "<"]
    enters = [e for e in evts if e.dir == ">"]
    assert len(exits) == n, f"{len(exits)} openat exit events for {n} calls (stats {stats})"
    assert len(enters) == n
    for e in exits:
        assert e.arg("fd") >= 0
        assert e.arg("dirfd") == -100  # AT_FDCWD
        assert e.arg("flags") & 3 == 1  # PPM_O_RDONLY
        assert e.arg("ino") > 0
    # the events come in order: times never go back
    ts = [e.ts for e in evts]
    assert ts == sorted(ts)
    assert abs(ts[0] - time.time_ns()) < 60 * 10**9, "timestamps are not wall-clock nanoseconds"


@live
def test_execve_exit_event_carries_argv_and_process_info(tmp_path: Path) -> None:
    with ebpf.Probe(selected={"execve", "clone", "fork", "vfork", "clone3", "procexit"}) as probe:
        proc = subprocess.Popen(["/bin/echo", "rae-marker-4711", "second arg"], stdout=subprocess.DEVNULL,
                                cwd=tmp_path)
        proc.wait()
        evts = _collect(probe, lambda e: e.tid == proc.pid, proc)
    execs = [e for e in evts if e.evtype == "execve" and e.dir == "<"]
    assert len(execs) == 1, evts
    x = execs[0]
    assert x.arg("res") == 0
    assert x.arg("exe") == b"/bin/echo"
    assert x.arg("args").split(b"\0")[:2] == [b"rae-marker-4711", b"second arg"]
    assert x.arg("tid") == proc.pid and x.arg("pid") == proc.pid
    assert x.arg("ptid") == os.getpid()
    assert x.arg("comm") == b"echo"
    assert b"=/" in x.arg("cgroups")
    enters = [e for e in evts if e.evtype == "execve" and e.dir == ">"]
    assert [e.arg("filename") for e in enters] == [b"/bin/echo"]
    assert any(e.evtype == "procexit" for e in evts)


@live
def test_failed_execve_is_reported_with_its_error() -> None:
    with ebpf.Probe(selected={"execve"}) as probe:
        proc = subprocess.Popen([sys.executable, "-c",
                                 "import os\ntry:\n os.execv('/nonexistent/rae-prog', ['x'])\nexcept OSError:\n pass"])
        proc.wait()
        evts = _collect(probe, lambda e: e.tid == proc.pid and e.evtype == "execve", proc)
    fails = [e for e in evts if e.dir == "<" and e.arg("res") == -2]
    assert len(fails) == 1
    assert [e.arg("filename") for e in evts if e.dir == ">"][-1] == b"/nonexistent/rae-prog"


@live
def test_drop_counters_count_a_full_ring(child_waiting: subprocess.Popen[str]) -> None:
    # a one-page ring holds a few dozen records: 3000 opens and closes without reading must overflow it
    with ebpf.Probe(selected={"openat", "close"}, skip_enter={"openat", "close"}, ring_bytes=4096) as probe:
        assert child_waiting.stdin is not None
        child_waiting.stdin.write("import os\nfor _ in range(3000):\n    os.close(os.open('/dev/null', 0))\n")
        child_waiting.stdin.close()
        child_waiting.wait(timeout=30)
        stats = probe.stats()
        kept = sum(1 for _ in probe.records(timeout=0.05))
    assert set(ebpf.STAT_NAMES) <= set(stats)
    assert stats["drops_full"] > 0
    assert stats["events"] > 0 and kept > 0
    assert stats["seen"] >= stats["events"] + stats["drops_full"]
    # exit events only: every drop is an openat or a close exit, counted in libscap's categories
    assert stats["drops_full_open_exit"] > 0 and stats["drops_full_close_exit"] > 0
    assert stats["drops_full_open_exit"] + stats["drops_full_close_exit"] == stats["drops_full"]
    assert sum(v for k, v in stats.items() if k.startswith("drops_full_")) == stats["drops_full"]


@live
def test_drops_of_generic_events_are_counted_in_their_syscall_category(
        child_waiting: subprocess.Popen[str]) -> None:
    # setsid and capset have no layout of their own (generic syscall events); libscap counts their
    # exits in other_interest, as it does ptrace's
    with ebpf.Probe(selected={"setsid", "capset"}, ring_bytes=4096) as probe:
        assert child_waiting.stdin is not None
        child_waiting.stdin.write("import os\nfor _ in range(3000):\n    try:\n        os.setsid()\n"
                                  "    except OSError:\n        pass\n")
        child_waiting.stdin.close()
        child_waiting.wait(timeout=30)
        stats = probe.stats()
    assert stats["drops_full"] > 0
    assert stats["drops_full_other_interest_exit"] > 0  # the exits dropped (enters: no category)
    assert stats["drops_full_other_interest_exit"] < stats["drops_full"]


@live
def test_selection_map_changes_what_is_emitted(child_waiting: subprocess.Popen[str]) -> None:
    with ebpf.Probe(selected={"close"}) as probe:
        assert child_waiting.stdin is not None
        child_waiting.stdin.write("import os\nfor _ in range(5):\n    os.close(os.open('/dev/null', 0))\n")
        child_waiting.stdin.close()
        evts = _collect(probe, lambda e: e.tid == child_waiting.pid, child_waiting)
    types = {e.evtype for e in evts}
    assert "close" in types
    assert "openat" not in types


@live
@pytest.mark.skipif(shutil.which("sysdig") is None, reason="sysdig not installed")
def test_capture_file_is_read_by_sysdig(tmp_path: Path) -> None:
    out = tmp_path / "live.scap"
    marker = tmp_path / "rae-capture-marker.txt"
    marker.write_text("x\n")
    with LiveCapture(out) as cap:
        subprocess.run(["/bin/cat", str(marker)], check=True, stdout=subprocess.DEVNULL)
    assert cap.returncode == 0, cap.stderr
    assert "events written" in cap.stderr
    res = subprocess.run(["sysdig", "-r", str(out), "-p", "*%evt.dir %evt.type %proc.name %fd.name %proc.pname",
                          f"evt.type=openat and fd.name={marker}"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    # the exit event, with the process known from the /proc snapshot and the clone/execve events
    assert any(ln.startswith(f"< openat cat {marker} ") for ln in lines), res.stdout
