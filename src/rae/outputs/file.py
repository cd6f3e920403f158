"""``file_output``: append messages to a file; ``keep_alive`` keeps it open between alerts.

Without ``keep_alive`` the file is opened and closed for every alert (Falco's default), so a
rotated file is picked up at once; with it, the file stays open and SIGUSR1 (``reopen``)
re-opens it by name, as Falco does for log rotation.
"""

from __future__ import annotations

import threading
from typing import TextIO

from rae.alerts import Alert

__all__ = ["FileSink"]


class FileSink:
    name = "file"

    def __init__(self, filename: str, keep_alive: bool = False, buffered: bool = False) -> None:
        if not filename:
            raise ValueError("file_output.filename is empty")
        self.filename = filename
        self.keep_alive = keep_alive
        self.buffered = buffered
        self._f: TextIO | None = None
        self._reopen = threading.Event()

    def _open(self) -> TextIO:
        return open(self.filename, "a", encoding="utf-8")

    def emit(self, alert: Alert, message: str) -> None:
        if self._reopen.is_set():
            self._reopen.clear()
            self._close_file()
        if not self.keep_alive:
            with self._open() as f:
                f.write(message + "\n")
            return
        if self._f is None:
            self._f = self._open()
        self._f.write(message + "\n")
        if not self.buffered:
            self._f.flush()

    def reopen(self) -> None:
        """Close the file before the next alert, so that alert opens the (possibly new) file by name."""
        self._reopen.set()

    def _close_file(self) -> None:
        f, self._f = self._f, None
        if f is not None:
            f.close()

    def close(self) -> None:
        self._close_file()
