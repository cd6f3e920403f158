"""Starts ``rae capture`` and returns once it says it is capturing, so that a slow machine (a long
/proc scan, a slow probe load) cannot make a test's workload happen before the capture begins."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class LiveCapture:
    """``with LiveCapture(out, [filter...]) as cap: <workload>``; then ``cap.stderr``, ``cap.returncode``."""

    def __init__(self, out: Path, extra: list[str] | None = None) -> None:
        self.cmd = [sys.executable, "-m", "rae.cli", "capture", "-w", str(out), *(extra or [])]
        self.stderr = ""
        self.returncode: int | None = None
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> LiveCapture:
        self._proc = subprocess.Popen(self.cmd, stderr=subprocess.PIPE, text=True, cwd=REPO)
        assert self._proc.stderr is not None
        seen = []
        for line in self._proc.stderr:  # the test's timeout bounds a capture that never starts
            seen.append(line)
            if "capturing to" in line:
                return self
        self._proc.wait()
        raise AssertionError("rae capture ended before capturing: " + "".join(seen))

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        assert proc is not None
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            self.stderr = err or ""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.returncode = proc.returncode
