"""Log lines on stderr as Falco writes them: ``<time>: <message>``.

The time is ``Thu Nov 26 15:20:01 2026`` (Falco's ctime form) or, with
``time_format_iso_8601``, ``2026-11-26T15:20:01+0000``. Warnings and errors carry their level.
"""

from __future__ import annotations

import logging
import sys
import time

__all__ = ["setup_logging"]

_LEVELS = {
    "emergency": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "notice": logging.INFO,
    "info": logging.INFO,
    "informational": logging.INFO,
    "debug": logging.DEBUG,
}


class _FalcoFormatter(logging.Formatter):
    def __init__(self, iso8601: bool) -> None:
        super().__init__()
        self.iso8601 = iso8601

    def format(self, record: logging.LogRecord) -> str:
        t = time.gmtime(record.created) if self.iso8601 else time.localtime(record.created)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+0000", t) if self.iso8601 else time.strftime("%a %b %d %H:%M:%S %Y", t)
        msg = record.getMessage()
        if record.levelno >= logging.WARNING:
            msg = f"{record.levelname.capitalize()}: {msg}"
        return f"{stamp}: {msg}"


def setup_logging(level: str = "info", *, iso8601: bool = False, stderr: bool = True) -> None:
    """Configure the root logger once per process (later calls replace the handler)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_rae", False):
            root.removeHandler(h)
    root.setLevel(_LEVELS.get(level.lower(), logging.INFO))
    if not stderr:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._rae = True  # type: ignore[attr-defined]
    handler.setFormatter(_FalcoFormatter(iso8601))
    root.addHandler(handler)
