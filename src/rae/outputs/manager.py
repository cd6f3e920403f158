"""The bounded queue between the rules and the outputs, and the worker thread that drains it.

The engine calls :meth:`OutputManager.submit` for each alert; it never blocks: the alert is
rate-limited (if ``outputs.rate`` is set), then put in a bounded queue or, when the queue is
full, dropped and counted (``falcosecurity_falco_outputs_queue_num_drops_total``, plus a log line
at most every :data:`LOG_EVERY_S` seconds). One worker thread renders each alert once and hands
it to every sink in turn; a sink that fails is counted and logged and the others still get the
alert; a sink slower than ``output_timeout`` is reported. A slow or dead output therefore only
fills the queue — the engine keeps running and the loss is counted exactly.

``close(timeout)`` stops accepting alerts, lets the worker flush what is queued, then closes the
sinks; what could not be delivered in time is counted and reported. ``outputs_queue.capacity:
0`` (Falco's "unbounded") is bounded at :data:`rae.config.DEFAULT_OUTPUTS_QUEUE_BOUND`, and the
queue also holds at most :data:`QUEUE_BYTES` of alerts (estimated by `alert_bytes`): a count
alone bounds the memory of a stuck output only at count × the longest alert.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from rae.alerts import Alert
from rae.config import Config
from rae.metrics import OutputMetrics, register_outputs
from rae.outputs.base import MessageFormat, Sink
from rae.outputs.ratelimit import TokenBucket

__all__ = ["LOG_EVERY_S", "QUEUE_BYTES", "OutputCounters", "OutputManager", "alert_bytes", "build_sinks"]

log = logging.getLogger("rae.outputs")

#: the shortest interval between two log lines about drops or suppressed alerts
LOG_EVERY_S = 10.0

#: the most memory queued alerts may take (`alert_bytes` estimates): 65,536 alerts of ~1 KiB (a
#: built-in rule's alert with a short command line) would add ~64 MiB, and long command lines
#: several times that — past the engine's 80 MB goal, where this budget keeps a stuck output
QUEUE_BYTES = 16 << 20

_STOP = object()


def alert_bytes(alert: Alert) -> int:
    """The memory a queued alert takes, roughly: its output text, the field values it was rendered
    from (about as long), and the objects around them (measured with tracemalloc: ~1,000 bytes for
    a 300-character output with 9 fields). O(1): no walk over the fields."""
    return 2 * len(alert.output) + 400


@dataclass
class OutputCounters:
    """Exact counts since start; read them any time (``OutputManager.counters``)."""

    submitted: int = 0
    queued: int = 0
    dropped_queue_full: int = 0
    dropped_closed: int = 0
    rate_limited: int = 0
    processed: int = 0
    undelivered_at_close: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    slow: dict[str, int] = field(default_factory=dict)


class _Throttled:
    """Log a counted event immediately the first time, then at most every LOG_EVERY_S seconds."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.pending = 0
        self.next_at = 0.0

    def hit(self, level: int = logging.WARNING, **kw: object) -> None:
        self.pending += 1
        now = time.monotonic()
        if now >= self.next_at:
            log.log(level, self.fmt.format(n=self.pending, **kw))
            self.pending = 0
            self.next_at = now + LOG_EVERY_S

    def flush(self, level: int = logging.WARNING, **kw: object) -> None:
        if self.pending:
            log.log(level, self.fmt.format(n=self.pending, **kw))
            self.pending = 0


def build_sinks(cfg: Config) -> list[Sink]:
    """The sinks enabled in ``cfg`` (stdout, file, syslog, program, http), in Falco's order."""
    from rae.outputs.file import FileSink
    from rae.outputs.http import HttpSink
    from rae.outputs.program import ProgramSink
    from rae.outputs.stdout import StdoutSink
    from rae.outputs.syslog import SyslogSink

    sinks: list[Sink] = []
    if cfg.file_output.enabled:
        sinks.append(FileSink(cfg.file_output.filename, cfg.file_output.keep_alive, cfg.buffered_outputs))
    if cfg.stdout_output.enabled:
        sinks.append(StdoutSink(cfg.buffered_outputs))
    if cfg.syslog_output.enabled:
        sinks.append(SyslogSink(cfg.syslog_output.address))
    if cfg.program_output.enabled:
        po = cfg.program_output
        sinks.append(ProgramSink(po.program, po.keep_alive, cfg.buffered_outputs))
    if cfg.http_output.enabled:
        timeout_s = max(cfg.output_timeout_ms, 1) / 1000
        sinks.append(HttpSink(cfg.http_output, cfg.json_output, timeout_s=timeout_s))
    return sinks


class OutputManager:
    """Alert delivery for the engine: ``submit(alert)``, ``close(timeout)``, ``counters``."""

    def __init__(
        self,
        cfg: Config,
        *,
        sinks: Sequence[Sink] | None = None,
        registry: CollectorRegistry | None = None,
        metrics: OutputMetrics | None = None,
        max_bytes: int = QUEUE_BYTES,
    ) -> None:
        try:
            self.sinks: list[Sink] = list(sinks) if sinks is not None else build_sinks(cfg)
        except ValueError as exc:
            from rae.errors import RaeError

            raise RaeError(f"outputs: {exc}") from None
        self.format = MessageFormat.from_config(cfg)
        self.capacity = cfg.outputs_queue_bound
        self.max_bytes = max_bytes
        self._queued_bytes = 0  # alert_bytes of the alerts in the queue (under _submit_lock)
        self.output_timeout_s = cfg.output_timeout_ms / 1000
        self.metrics = metrics if metrics is not None else register_outputs(registry)
        self.counters = OutputCounters(
            delivered={s.name: 0 for s in self.sinks}, errors={s.name: 0 for s in self.sinks},
            slow={s.name: 0 for s in self.sinks},
        )
        self._rate, self._burst = cfg.outputs.rate, cfg.outputs.max_burst
        self._buckets: dict[str, TokenBucket] = {}
        self._suppressed_since_log: dict[str, int] = {}
        self._next_suppress_log = 0.0
        self._queue: queue.Queue[object] = queue.Queue(self.capacity)
        self._drop_log = _Throttled("outputs queue full ({capacity} alerts): dropped {n} alert(s)")
        self._bytes_log = _Throttled("outputs queue full ({mib:.1f} MiB of alerts): dropped {n} alert(s)")
        self._err_logs = {s.name: _Throttled(f"output {s.name}: {{n}} failure(s), last: {{err}}")
                          for s in self.sinks}
        self._slow_logs = {
            s.name: _Throttled(f"output {s.name}: {{n}} alert(s) took longer than output_timeout"
                               f" ({cfg.output_timeout_ms} ms), last {{ms}} ms")
            for s in self.sinks
        }
        self._reopen = False  # a plain flag: reopen() may run in a signal handler (no lock)
        self._closed = False
        self._lock = threading.Lock()
        self._submit_lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="rae-outputs", daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- engine side

    def submit(self, alert: Alert) -> bool:
        """Queue ``alert`` for every output; never blocks. False if it was rate-limited or dropped.

        Thread-safe (the syscall loop and the audit webhook may both submit); the lock is held
        only for counter updates and a non-blocking put.
        """
        c = self.counters
        with self._submit_lock:
            c.submitted += 1
            if self._closed:
                c.dropped_closed += 1
                return False
            if self._rate > 0 and not self._claim(alert.source):
                return False
            size = alert_bytes(alert)
            if self._queued_bytes + size > self.max_bytes and self._queued_bytes:
                c.dropped_queue_full += 1
                self.metrics.queue_drops.inc()
                self._bytes_log.hit(mib=self.max_bytes / (1 << 20))
                return False
            try:
                self._queue.put_nowait(alert)
            except queue.Full:
                c.dropped_queue_full += 1
                self.metrics.queue_drops.inc()
                self._drop_log.hit(capacity=self.capacity)
                return False
            self._queued_bytes += size
            c.queued += 1
            return True

    def _claim(self, source: str) -> bool:
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = self._buckets[source] = TokenBucket(self._rate, self._burst)
        if bucket.claim():
            return True
        self.counters.rate_limited += 1
        self.metrics.rate_limited.labels(source=source).inc()
        self._suppressed_since_log[source] = self._suppressed_since_log.get(source, 0) + 1
        now = time.monotonic()
        if now >= self._next_suppress_log:
            self._log_suppressed()
            self._next_suppress_log = now + LOG_EVERY_S
        return False

    def _log_suppressed(self) -> None:
        for source, n in sorted(self._suppressed_since_log.items()):
            if n:
                log.warning(
                    "outputs rate limit (rate=%g/s, max_burst=%d): suppressed %d %s alert(s)",
                    self._rate, self._burst, n, source,
                )
        self._suppressed_since_log.clear()

    def reopen(self) -> None:
        """Ask every sink to re-open its file/connection before the next alert (SIGUSR1)."""
        self._reopen = True

    def install_sigusr1(self) -> None:
        """Re-open outputs on SIGUSR1, as Falco (call from the main thread)."""
        signal.signal(signal.SIGUSR1, lambda _sig, _frame: self.reopen())

    @property
    def queue_length(self) -> int:
        return self._queue.qsize()

    # ---------------------------------------------------------------- worker side

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            with self._submit_lock:
                self._queued_bytes -= alert_bytes(item)  # type: ignore[arg-type]
            self.metrics.queue_length.set(self._queue.qsize())
            if self._reopen:
                self._reopen = False
                for s in self.sinks:
                    self._safe(s, "reopen", s.reopen)
            try:
                message = self.format.render(item)  # type: ignore[arg-type]
            except Exception as exc:  # a broken alert must not kill the worker
                log.error("cannot render alert of rule %r: %s", getattr(item, "rule", "?"), exc)
                self.counters.processed += 1
                continue
            for s in self.sinks:
                t0 = time.monotonic()
                if self._safe(s, "emit", s.emit, item, message):
                    self.counters.delivered[s.name] += 1
                    self.metrics.delivered.labels(output=s.name).inc()
                took = time.monotonic() - t0
                if took > self.output_timeout_s:
                    self.counters.slow[s.name] += 1
                    self._slow_logs[s.name].hit(ms=int(took * 1000))
            self.counters.processed += 1

    def _safe(self, s: Sink, what: str, fn: object, *args: object) -> bool:
        try:
            fn(*args)  # type: ignore[operator]
            return True
        except Exception as exc:
            if what == "emit":
                self.counters.errors[s.name] += 1
                self.metrics.errors.labels(output=s.name).inc()
            self._err_logs[s.name].hit(level=logging.ERROR, err=f"{what}: {type(exc).__name__}: {exc}")
            return False

    # ---------------------------------------------------------------- shutdown

    def close(self, timeout: float = 5.0) -> int:
        """Stop accepting alerts, deliver what is queued within ``timeout`` s, close the sinks.

        Returns the number of queued alerts that could not be delivered (also in ``counters``).
        """
        with self._lock:
            if self._closed:
                return self.counters.undelivered_at_close
            with self._submit_lock:
                self._closed = True
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):  # full and never drained: handled below
            self._queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
        self._worker.join(max(0.0, deadline - time.monotonic()))
        lost = 0
        if self._worker.is_alive():
            while True:  # discard what is left so a stuck worker stops after its current alert
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    lost += 1
                    with self._submit_lock:
                        self._queued_bytes -= alert_bytes(item)  # type: ignore[arg-type]
            self._queue.put_nowait(_STOP)
            log.error("outputs: %d queued alert(s) not delivered within %.1fs at shutdown", lost, timeout)
            for s in self.sinks:
                kill = getattr(s, "kill", None)
                if callable(kill):
                    kill()
        self.counters.undelivered_at_close = lost
        if self._rate > 0:
            self._log_suppressed()
        self._drop_log.flush(capacity=self.capacity)
        self._bytes_log.flush(mib=self.max_bytes / (1 << 20))
        for s in self.sinks:
            self._safe(s, "close", s.close)
            self._err_logs[s.name].flush(level=logging.ERROR, err="(see above)")
        return lost
