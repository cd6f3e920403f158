"""Token bucket (``outputs.rate``/``outputs.max_burst``), one per event source, as Falco ≤ 0.36.

``rate`` tokens per second refill a bucket of ``max_burst``; an alert takes one token or is
suppressed. ``rate == 0`` disables limiting. Suppressions are counted, never silent: the
:class:`~rae.outputs.manager.OutputManager` exports them and logs a summary periodically.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    def __init__(self, rate: float, max_burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.max_burst = float(max_burst)
        self.tokens = float(max_burst)
        self._clock = clock
        self._last = clock()

    def claim(self) -> bool:
        """Take one token; False when none is left."""
        now = self._clock()
        self.tokens = min(self.max_burst, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
