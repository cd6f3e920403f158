"""Helpers for the output tests (a module with a unique name: a bare `conftest` import is ambiguous)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rae.alerts import Alert
from rae.priority import Priority

ROOT = Path(__file__).resolve().parents[2]
CONFS = ROOT / ".." / "shared" / "corpus" / "falco-regression" / "confs"

TS = 1470327477881781397  # 2016-08-04T16:17:57.881781397Z, the regression suite's golden alert


def make_alert(i: int = 0, *, priority: Priority = Priority.WARNING, source: str = "syscall") -> Alert:
    return Alert(
        time_ns=TS + i,
        rule="open_from_cat",
        priority=priority,
        source=source,
        output=f"An open was seen (command=cat /dev/null n={i})",
        output_fields={"proc.cmdline": "cat /dev/null", "n": i},
        tags=("filesystem", "process", "testing"),
        hostname="test-falco-hostname",
    )


def wait_for(pred: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    """Poll until ``pred()``; the limit only stops a broken test from hanging."""
    end = time.monotonic() + limit
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Stop a receiver the test started (SIGTERM, SIGKILL after 10 s)."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class BlockingSink:
    """Blocks on every alert until released: a dead or hung output."""

    name = "blocking"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.got: list[Alert] = []

    def emit(self, alert: Alert, message: str) -> None:
        self.entered.set()
        self.release.wait(30)
        self.got.append(alert)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        self.release.set()
