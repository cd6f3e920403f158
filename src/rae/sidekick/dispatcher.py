"""One dispatcher for every output: filters, de-duplication, retry buffers, metrics and error logs.

falcosidekick repeats the enable check, the minimum-priority check, the four metric updates
and the error log in every destination. Here each output is a registered class with a pure
``build`` and a ``send``; this module decides who gets an event, and keeps delivering it.

Per output:

* **Route**: ``minimumpriority`` (an event passes when its priority is at least this),
  plus rae's ``rules`` (shell globs), ``tags`` (any of) and ``sources``. Empty = everything.
  ``Test rule`` (``POST /test``) passes every filter, as in falcosidekick.
* **Batches**: an output that can deliver several events in one operation (``max_batch`` > 1:
  Redis ``RPUSH`` with many values, one ``write`` to a file) gets what is waiting, up to that
  many, in one ``send_many`` call; the batch succeeds or fails as a whole.
* **Retry buffer**: a bounded FIFO (``buffer.size``, or the output's ``buffersize``). A failed
  delivery stays at the head and is retried with exponential back-off
  (``buffer.initialbackoff`` … ``buffer.maxbackoff`` seconds), so an output that is down for a
  while loses nothing as long as the buffer holds. A full buffer refuses the new event
  (``dropped{reason="overflow"}``); a permanent error (HTTP 4xx, a payload the server rejects)
  drops at once (``reason="rejected"``); ``buffer.maxattempts`` > 0 bounds the attempts
  (``reason="attempts"``); events still buffered at shutdown after the drain timeout are
  ``reason="shutdown"``.

Globally, ``dedup.window`` > 0 holds back an event identical to one already sent within the
window (same rule, priority, source, host and ``dedup.fields`` — by default every output field
except times and counters) and, when the window closes, sends one summary event: "rule X
fired N more times with the same fields in the last M s".
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fnmatch
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rae.priority import Priority
from rae.sidekick.config import as_list
from rae.sidekick.event import TEST_RULE, SidekickEvent, parse_go_priority
from rae.sidekick.metrics import SidekickMetrics
from rae.sidekick.outputs.base import Output, OutputError

__all__ = ["Deduplicator", "Dispatcher", "OutputRunner", "Route"]

log = logging.getLogger("rae.sidekick")

_MAX_WORKERS = 64
_VOLATILE_FIELD_PREFIXES = ("evt.time", "evt.rawtime", "evt.datetime", "evt.reltime", "evt.num", "evt.latency")


@dataclass(slots=True)
class Route:
    """Which events an output takes."""

    minimum: int = 0  # falcosidekick numbering; 0 = everything
    rules: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, name: str, cfg: dict[str, Any]) -> Route:
        text = str(cfg.get("minimumpriority") or "")
        prio: Priority | None = parse_go_priority(text) if text else None
        if text and prio is None:
            log.warning("%s: unknown minimumpriority %r, taking every priority (as falcosidekick)", name, text)
        return cls(
            minimum=prio.sidekick_number if prio is not None else 0,
            rules=tuple(as_list(cfg.get("rules"))),
            tags=frozenset(as_list(cfg.get("tags"))),
            sources=frozenset(as_list(cfg.get("sources"))),
        )

    def accepts(self, event: SidekickEvent) -> bool:
        if event.rule == TEST_RULE:
            return True
        if event.priority_number < self.minimum:
            return False
        if self.rules and not any(fnmatch.fnmatchcase(event.rule, pattern) for pattern in self.rules):
            return False
        if self.tags and self.tags.isdisjoint(event.tags):
            return False
        return not (self.sources and event.source not in self.sources)


@dataclass(slots=True)
class _Item:
    event: SidekickEvent
    payload: Any = None
    built: bool = False
    attempts: int = 0


class OutputRunner:
    """One output's buffer and workers (``maxconcurrentrequests`` of them, at least one)."""

    def __init__(
        self,
        output: Output,
        route: Route,
        metrics: SidekickMetrics,
        *,
        capacity: int,
        initial_backoff: float,
        max_backoff: float,
        max_attempts: int = 0,
    ) -> None:
        self.output = output
        self.name = output.name
        self.route = route
        self.metrics = metrics
        self.capacity = max(1, capacity)
        self.initial_backoff = max(0.01, initial_backoff)
        self.max_backoff = max(self.initial_backoff, max_backoff)
        self.max_attempts = max_attempts
        self.buffer: collections.deque[_Item] = collections.deque()
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._backoff = 0.0
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_overflow_log = 0.0
        self.delivered = 0
        self.batch_max = max(1, int(getattr(output, "max_batch", 1)))
        metrics.declare_output(self.name, self.capacity)

    def offer(self, event: SidekickEvent) -> bool:
        if len(self.buffer) + self._in_flight >= self.capacity:
            self.metrics.dropped.labels(self.name, "overflow").inc()
            now = time.monotonic()
            if now - self._last_overflow_log >= 5.0:  # a log line, not a flood
                self._last_overflow_log = now
                log.error("%s: retry buffer full (%d events), dropping new events", self.name, self.capacity)
            return False
        self.buffer.append(_Item(event))
        self._idle.clear()
        self.metrics.buffer_length.labels(self.name).set(len(self.buffer))
        self._wakeup.set()
        return True

    async def start(self) -> None:
        try:
            await self.output.start()
        except Exception as exc:  # the server may come later; send() reconnects
            log.error("%s: %s", self.name, exc)
        workers = int(self.output.cfg.get("maxconcurrentrequests", 1) or 0)
        workers = _MAX_WORKERS if workers <= 0 else min(workers, _MAX_WORKERS)  # 0: "unlimited"
        self._tasks = [asyncio.create_task(self._worker(), name=f"sidekick-{self.name}-{i}") for i in range(workers)]

    async def stop(self, drain_timeout: float) -> None:
        if self.buffer or self._in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), drain_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        lost = len(self.buffer)
        if lost:
            self.metrics.dropped.labels(self.name, "shutdown").inc(lost)
            log.error("%s: %d buffered events not delivered at shutdown", self.name, lost)
            self.buffer.clear()
        try:
            await self.output.close()
        except Exception as exc:
            log.error("%s: close: %s", self.name, exc)

    async def _worker(self) -> None:
        while True:
            if not self.buffer:
                if not self._in_flight:
                    self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._backoff:
                await asyncio.sleep(self._backoff)
                if not self.buffer:
                    continue
            count = min(self.batch_max, len(self.buffer))
            items = [self.buffer.popleft() for _ in range(count)]
            self._in_flight += count
            try:
                await self._attempt(items)
            finally:
                self._in_flight -= count
                self.metrics.buffer_length.labels(self.name).set(len(self.buffer))

    def _build(self, items: list[_Item]) -> list[_Item]:
        """Build the payloads not built yet; an event whose payload cannot be built is dropped."""
        ready = []
        for item in items:
            if not item.built:
                try:
                    item.payload = self.output.build(item.event.copy())
                    item.built = True
                except Exception as exc:
                    self.metrics.outputs.labels(self.name, "error").inc()
                    self.metrics.dropped.labels(self.name, "rejected").inc()
                    log.error("%s: cannot build the payload for rule %r: %s", self.name, item.event.rule, exc)
                    continue
            ready.append(item)
        return ready

    async def _attempt(self, batch: list[_Item]) -> None:
        items = self._build(batch)
        if not items:
            return
        n = len(items)
        retried = sum(1 for item in items if item.attempts)
        if retried:
            self.metrics.retries.labels(self.name).inc(retried)
        for item in items:
            item.attempts += 1
        try:
            if n == 1:
                await self.output.send(items[0].payload)
            else:
                await self.output.send_many([item.payload for item in items])
        except asyncio.CancelledError:  # shutdown mid-delivery: back to the buffer, counted as not delivered
            self.buffer.extendleft(reversed(items))
            raise
        except Exception as exc:
            retryable = exc.retryable if isinstance(exc, OutputError) else True
            self.metrics.outputs.labels(self.name, "error").inc(n)
            if not retryable:
                self.metrics.dropped.labels(self.name, "rejected").inc(n)
                log.error("%s: %s (not retried, %d events)", self.name, exc, n)
                return
            keep = [item for item in items if not (self.max_attempts and item.attempts >= self.max_attempts)]
            if len(keep) < n:
                self.metrics.dropped.labels(self.name, "attempts").inc(n - len(keep))
                log.error("%s: %s (gave up on %d events after %d attempts)", self.name, exc, n - len(keep),
                          self.max_attempts)
            if not keep:
                return
            self._backoff = min(self.max_backoff, (self._backoff * 2) or self.initial_backoff)
            log.error("%s: %s (retrying in %.2fs, %d buffered)", self.name, exc, self._backoff,
                      len(self.buffer) + len(keep))
            self.buffer.extendleft(reversed(keep))
            return
        self._backoff = 0.0
        self.delivered += n
        self.metrics.outputs.labels(self.name, "ok").inc(n)
        if self.output.ctx.config.get("debug"):
            for item in items:
                log.debug("%s: delivered %s", self.name, item.event.uuid)


@dataclass(slots=True)
class _DedupEntry:
    start: float
    count: int = 0
    last: SidekickEvent | None = None


@dataclass(slots=True)
class Deduplicator:
    """Holds back duplicates within ``window`` seconds; reports them in one summary event."""

    window: float
    fields: tuple[str, ...] = ()
    metrics: SidekickMetrics | None = None
    entries: dict[tuple[Any, ...], _DedupEntry] = field(default_factory=dict)

    def key(self, event: SidekickEvent) -> tuple[Any, ...]:
        f = event.output_fields
        if self.fields:
            items = tuple((k, repr(f.get(k))) for k in self.fields)
        else:
            items = tuple(
                (k, repr(v)) for k, v in sorted(f.items()) if not k.startswith(_VOLATILE_FIELD_PREFIXES)
            )
        return (event.rule, event.priority_number, event.source, event.hostname, items)

    def admit(self, event: SidekickEvent, now: float | None = None) -> bool:
        """True: send it now. False: a duplicate, counted for the summary."""
        if event.rule == TEST_RULE:
            return True
        now = time.monotonic() if now is None else now
        key = self.key(event)
        entry = self.entries.get(key)
        if entry is None or now - entry.start >= self.window:
            if entry is not None and entry.count:
                return True  # the expired window still owes its summary: flush() sends it
            self.entries[key] = _DedupEntry(start=now)
            return True
        entry.count += 1
        entry.last = event
        if self.metrics is not None:
            self.metrics.dedup_suppressed.inc()
        return False

    def flush(self, now: float | None = None, force: bool = False) -> list[SidekickEvent]:
        """Summary events for every window that has closed (all of them when ``force``)."""
        now = time.monotonic() if now is None else now
        out: list[SidekickEvent] = []
        for key, entry in list(self.entries.items()):
            if force or now - entry.start >= self.window:
                del self.entries[key]
                if entry.count and entry.last is not None:
                    out.append(self._summary(entry))
        if self.metrics is not None and out:
            self.metrics.dedup_summaries.inc(len(out))
        return out

    def _summary(self, entry: _DedupEntry) -> SidekickEvent:
        assert entry.last is not None
        ev = entry.last.copy()
        ev.uuid = str(uuid.uuid4())
        ev.output = (
            f"{ev.output} (rule {ev.rule!r} fired {entry.count} more times with the same fields "
            f"in the last {self.window:g}s)"
        )
        ev.output_fields["rae.dedup.count"] = entry.count
        ev.output_fields["rae.dedup.window"] = self.window
        return ev


class Dispatcher:
    """Fans events out to the runners, through the optional de-duplication window."""

    def __init__(
        self, runners: Iterable[OutputRunner], metrics: SidekickMetrics, dedup: Deduplicator | None = None
    ) -> None:
        self.runners = list(runners)
        self.metrics = metrics
        self.dedup = dedup
        self._flusher: asyncio.Task[None] | None = None

    def submit(self, event: SidekickEvent) -> None:
        if self.dedup is not None and not self.dedup.admit(event):
            return
        self._fan_out(event)

    def _fan_out(self, event: SidekickEvent) -> None:
        for runner in self.runners:
            if runner.route.accepts(event):
                runner.offer(event)
            else:
                self.metrics.routed_out.labels(runner.name).inc()

    async def start(self) -> None:
        for runner in self.runners:
            await runner.start()
        if self.dedup is not None:
            self._flusher = asyncio.create_task(self._flush_loop(), name="sidekick-dedup")

    async def _flush_loop(self) -> None:
        assert self.dedup is not None
        period = min(1.0, max(0.05, self.dedup.window / 4))
        while True:
            await asyncio.sleep(period)
            for summary in self.dedup.flush():
                self._fan_out(summary)

    async def stop(self, drain_timeout: float = 5.0) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            assert self.dedup is not None
            for summary in self.dedup.flush(force=True):
                self._fan_out(summary)
        await asyncio.gather(*(r.stop(drain_timeout) for r in self.runners))
