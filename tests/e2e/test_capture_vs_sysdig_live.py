"""`rae capture` output read by sysdig gives the same field values as `rae replay` of that file.

A short real workload (execs, opens for reading and writing, a directory, a failed open, a TCP connect)
is captured live with ``rae capture -w FILE FILTER`` (the filter keeps this test's children), then
``sysdig -r FILE -p FMT`` and ``rae replay FILE -p FMT`` are compared line by line on key fields.

Known mismatches, each with its reason (docs/ebpf.md "rae capture and sysdig"):

* ``evt.args`` is not compared: rae renders every parameter the probe writes, sysdig 0.29.3 only those
  of its (libs 0.9.0) schema — ``openat`` exits carry ``ino``, execve exits ``cap_*`` beyond it;
* ``dup2``/``dup3`` events use event codes libs 0.9.0 does not know: sysdig skips them (so its fd table
  misses the duplication, and later ``fd.*`` values of that fd differ: rae's are right). Programs dup2
  more than one thinks (coreutils ``touch`` reopens its file onto fd 0, shells redirect with dup2), so
  the workload here avoids them (Python's subprocess with inherited stdio, ``cp`` rather than ``touch``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from live_capture import LiveCapture
from live_probe import why_not_live

REPO = Path(__file__).resolve().parents[2]
FIELDS = ["evt.rawtime", "thread.tid", "evt.type", "evt.dir", "proc.name", "proc.pid", "proc.ppid",
          "proc.pname", "proc.cmdline", "proc.exepath", "proc.cwd", "fd.num", "fd.name", "fd.typechar",
          "fd.directory", "evt.res", "evt.rawres", "user.name", "container.id", "proc.tty"]
SEP = " ||| "
#: event types sysdig 0.29.3 cannot read (newer event codes): listed, never compared
SYSDIG_SKIPS = frozenset({"dup2", "dup3"})


def _why_not() -> str | None:
    if why_not_live() is not None:
        return why_not_live()
    if shutil.which("sysdig") is None:
        return "sysdig is not installed (tools/apt-packages.txt)"
    return None


pytestmark = [pytest.mark.live, pytest.mark.timeout(90),
              pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")]


def _workload(tmp: Path) -> None:
    """Children of this process with inherited stdio (no dup2 in them)."""
    data = tmp / "data.txt"
    data.write_text("hello\n")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    try:
        for cmd in (["cat", str(data)], ["ls", str(tmp)], ["cp", str(data), str(tmp / "new.txt")],
                    ["mkdir", str(tmp / "sub")], ["cat", str(tmp / "missing")], ["head", "-c", "1", "/etc/hostname"],
                    [sys.executable, "-c", f"import socket;socket.create_connection(('127.0.0.1',{port})).close()"]):
            subprocess.run(cmd, cwd=tmp, check=False)
    finally:
        srv.close()


def test_sysdig_reads_a_live_capture_like_rae_replay(tmp_path: Path) -> None:
    out = tmp_path / "live.scap"
    work = tmp_path / "work"
    work.mkdir()
    with LiveCapture(out, [f"proc.ppid = {os.getpid()}"]) as cap:
        _workload(work)
    assert cap.returncode == 0, cap.stderr
    fmt = "*" + SEP.join("%" + f for f in FIELDS)
    theirs = subprocess.run(["sysdig", "-r", str(out), "-p", fmt], capture_output=True, text=True, timeout=60)
    assert theirs.returncode == 0, theirs.stderr
    ours = subprocess.run([sys.executable, "-m", "rae.cli", "replay", str(out), "-p", fmt], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert ours.returncode == 0, ours.stderr
    s_lines, r_lines = theirs.stdout.splitlines(), ours.stdout.splitlines()
    r_lines = [ln for ln in r_lines if ln.split(SEP)[2] not in SYSDIG_SKIPS]
    assert len(s_lines) > 50, theirs.stdout[:2000]  # the workload is there
    types = {ln.split(SEP)[2] for ln in s_lines}
    assert {"execve", "openat", "connect"} <= types and types & {"mkdir", "mkdirat"}, (types, cap.stderr)
    mismatches = []
    for a, b in zip(s_lines, r_lines, strict=False):
        if a != b:
            diff = [f"{f}: sysdig {x!r} rae {y!r}" for f, x, y in zip(FIELDS, a.split(SEP), b.split(SEP),
                                                                      strict=False) if x != y]
            mismatches.append(f"{a.split(SEP)[:4]}: {diff}")
    assert len(s_lines) == len(r_lines)
    assert mismatches == [], "\n".join(mismatches[:20])
