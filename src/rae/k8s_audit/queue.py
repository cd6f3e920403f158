"""The bounded hand-off between the audit webhook (producer) and the engine (consumer).

Thread-safe, so the webhook's asyncio loop and an engine thread can share it. A batch is
accepted whole or not at all (`offer` returns False when it does not fit), so the webhook can
tell kube-apiserver to retry (HTTP 503) instead of silently losing part of a request; one batch
larger than the whole queue is still accepted when the queue is empty, so no request can be
refused forever.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

__all__ = ["DEFAULT_QUEUE_SIZE", "EventQueue"]

T = TypeVar("T")

DEFAULT_QUEUE_SIZE = 16384


class EventQueue(Generic[T]):
    """A bounded FIFO of events with all-or-nothing batch insertion."""

    def __init__(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError("queue size must be at least 1")
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._cv = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, batch: Sequence[T]) -> bool:
        """Append the whole batch, or nothing (False) when it does not fit or the queue is closed."""
        if not batch:
            return True
        with self._cv:
            if self._closed:
                return False
            if self._items and len(self._items) + len(batch) > self.maxsize:
                return False
            self._items.extend(batch)
            self._cv.notify_all()
            return True

    def get_batch(self, max_items: int = 512, timeout: float | None = None) -> list[T]:
        """Up to ``max_items`` events; waits up to ``timeout`` seconds (None: until some arrive or
        the queue is closed). An empty list means a timeout or a closed, drained queue."""
        with self._cv:
            if not self._items and not self._closed:
                self._cv.wait_for(lambda: self._items or self._closed, timeout)
            items = self._items
            n = min(max_items, len(items))
            return [items.popleft() for _ in range(n)]

    def close(self) -> None:
        """No more events will come; consumers drain what is left and stop."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def __iter__(self) -> Iterator[T]:
        """Every event until the queue is closed and drained (blocking)."""
        while True:
            batch = self.get_batch()
            if not batch:
                if self._closed and not self._items:
                    return
                continue
            yield from batch
