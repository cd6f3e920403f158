"""``stdout_output``: one message per line on standard output."""

from __future__ import annotations

import contextlib
import sys
from typing import TextIO

from rae.alerts import Alert

__all__ = ["StdoutSink"]


class StdoutSink:
    """Writes each message and a newline; flushes per alert unless ``buffered_outputs``."""

    name = "stdout"

    def __init__(self, buffered: bool = False, stream: TextIO | None = None) -> None:
        self.buffered = buffered
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def emit(self, alert: Alert, message: str) -> None:
        s = self.stream
        s.write(message + "\n")
        if not self.buffered:
            s.flush()

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()
