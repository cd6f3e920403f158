"""Signals taken by a handler that takes no lock; the main thread acts on them in its own time.

A Python signal handler runs in the main thread between two bytecodes, possibly while that thread
holds a lock: inside ``threading.Event.wait`` or ``Event.set``, or inside another handler. A handler
that sets an Event (takes its condition's lock) then waits for itself forever: `rae run` hung that
way when two SIGTERMs arrived together (``timeout`` signals its child and then the child's
group). `SignalInbox`'s handler only appends the signal number to a deque (atomic under the GIL);
the owner's wait loop takes them out and does the work.
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Iterable

__all__ = ["SignalInbox"]


class SignalInbox:
    """Record ``signals`` as they arrive (``install``, from the main thread); ``take`` returns them."""

    def __init__(self) -> None:
        self._pending: deque[int] = deque()

    def install(self, signals: Iterable[int]) -> None:
        for sig in signals:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, sig: int, _frame: object) -> None:
        self._pending.append(sig)  # nothing else: no lock, no logging, no I/O

    def take(self) -> list[int]:
        """The signals received since the last call, in arrival order."""
        out: list[int] = []
        pending = self._pending
        while pending:
            out.append(pending.popleft())
        return out
