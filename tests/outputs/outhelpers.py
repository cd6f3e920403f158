"""Helpers for the output tests (a module with a unique name: a bare `conftest` import is ambiguous)."""

from __future__ import annotations

from pathlib import Path

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
