"""The outputs queue: never blocks the engine, counts every drop, rate-limits loudly, flushes on close."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from outhelpers import BlockingSink, make_alert
from prometheus_client import CollectorRegistry

from rae.alerts import Alert
from rae.config import Config
from rae.outputs import OutputManager


class ListSink:
    name = "list"

    def __init__(self, delay: float = 0.0, fail_every: int = 0) -> None:
        self.delay = delay
        self.fail_every = fail_every
        self.messages: list[str] = []
        self.closed = False
        self.calls = 0

    def emit(self, alert: Alert, message: str) -> None:
        self.calls += 1
        if self.fail_every and self.calls % self.fail_every == 0:
            raise OSError("receiver said no")
        if self.delay:
            time.sleep(self.delay)
        self.messages.append(message)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def metric(reg: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    v = reg.get_sample_value(name, labels or {})
    return 0.0 if v is None else v


def test_blocked_output_never_blocks_submit_and_drops_are_exact(
    config_factory: Callable[..., Config], caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config_factory("outputs_queue.capacity=5")
    reg = CollectorRegistry()
    sink = BlockingSink()
    om = OutputManager(cfg, sinks=[sink], registry=reg)
    caplog.set_level(logging.WARNING, "rae.outputs")
    assert om.submit(make_alert(0))
    assert sink.entered.wait(10)  # the worker holds alert 0 inside the hung output
    results = [om.submit(make_alert(i)) for i in range(1, 1 + 5 + 7)]  # returns although the output hangs
    assert results == [True] * 5 + [False] * 7
    assert om.counters.dropped_queue_full == 7
    assert metric(reg, "falcosecurity_falco_outputs_queue_num_drops_total") == 7
    assert any("outputs queue full (5 alerts): dropped 1 alert(s)" in r.getMessage() for r in caplog.records)
    sink.release.set()
    assert om.close(timeout=10) == 0
    assert [a.output_fields["n"] for a in sink.got] == [0, 1, 2, 3, 4, 5]
    assert om.counters.submitted == 13 and om.counters.delivered == {"blocking": 6}
    # the rest of the drops is summarised at close: nothing is silent
    assert any("dropped 6 alert(s)" in r.getMessage() for r in caplog.records)


def test_close_flushes_pending_alerts(config_factory: Callable[..., Config]) -> None:
    sink = ListSink(delay=0.002)
    om = OutputManager(config_factory(), sinks=[sink])
    for i in range(100):
        assert om.submit(make_alert(i))
    assert om.close(timeout=30) == 0
    assert len(sink.messages) == 100 and sink.closed
    assert not om.submit(make_alert(101))  # after close: refused and counted
    assert om.counters.dropped_closed == 1


def test_close_with_a_hung_output_reports_the_loss(config_factory: Callable[..., Config],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    sink = BlockingSink()
    om = OutputManager(config_factory(), sinks=[sink])
    om.submit(make_alert(0))
    assert sink.entered.wait(10)
    for i in range(1, 4):
        om.submit(make_alert(i))
    caplog.set_level(logging.ERROR, "rae.outputs")
    sink.close = lambda: None  # type: ignore[method-assign] # stays hung through close
    lost = om.close(timeout=0.2)
    assert lost == 3 and om.counters.undelivered_at_close == 3
    assert any("3 queued alert(s) not delivered" in r.getMessage() for r in caplog.records)
    sink.release.set()


def test_rate_limiter_counts_and_logs_what_it_suppresses(
    config_factory: Callable[..., Config], caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config_factory("outputs.rate=0.0001", "outputs.max_burst=3")
    reg = CollectorRegistry()
    sink = ListSink()
    caplog.set_level(logging.WARNING, "rae.outputs")
    om = OutputManager(cfg, sinks=[sink], registry=reg)
    sent = [om.submit(make_alert(i)) for i in range(10)]
    other = [om.submit(make_alert(i, source="k8s_audit")) for i in range(2)]  # its own bucket
    om.close(timeout=10)
    assert sent == [True] * 3 + [False] * 7 and other == [True, True]
    assert om.counters.rate_limited == 7
    assert len(sink.messages) == 5
    assert metric(reg, "rae_outputs_rate_limited_total", {"source": "syscall"}) == 7
    msgs = [r.getMessage() for r in caplog.records]
    assert any("suppressed 1 syscall alert(s)" in m for m in msgs)  # at once, on the first one
    assert any("suppressed 6 syscall alert(s)" in m for m in msgs)  # the rest, summarised at close


def test_rate_limiter_refills(config_factory: Callable[..., Config]) -> None:
    from rae.outputs.ratelimit import TokenBucket

    now = [0.0]
    b = TokenBucket(rate=2, max_burst=2, clock=lambda: now[0])
    assert [b.claim() for _ in range(3)] == [True, True, False]
    now[0] += 0.5  # one token back
    assert [b.claim(), b.claim()] == [True, False]
    now[0] += 100  # capped at max_burst
    assert [b.claim() for _ in range(3)] == [True, True, False]


def test_failing_output_does_not_starve_the_others(config_factory: Callable[..., Config],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    bad, good = ListSink(fail_every=2), ListSink()
    bad.name = "bad"
    reg = CollectorRegistry()
    caplog.set_level(logging.ERROR, "rae.outputs")
    om = OutputManager(config_factory(), sinks=[bad, good], registry=reg)
    for i in range(10):
        om.submit(make_alert(i))
    om.close(timeout=10)
    assert len(good.messages) == 10
    assert om.counters.errors == {"bad": 5, "list": 0}
    assert om.counters.delivered == {"bad": 5, "list": 10}
    assert metric(reg, "rae_outputs_errors_total", {"output": "bad"}) == 5
    assert metric(reg, "rae_outputs_delivered_total", {"output": "list"}) == 10
    assert any("output bad: 1 failure(s), last: emit: OSError: receiver said no" in r.getMessage()
               for r in caplog.records)


def test_slow_output_is_reported(config_factory: Callable[..., Config], caplog: pytest.LogCaptureFixture) -> None:
    sink = ListSink(delay=0.05)
    caplog.set_level(logging.WARNING, "rae.outputs")
    om = OutputManager(config_factory("output_timeout=10"), sinks=[sink])
    om.submit(make_alert(0))
    om.close(timeout=10)
    assert om.counters.slow == {"list": 1}
    assert any("took longer than output_timeout (10 ms)" in r.getMessage() for r in caplog.records)


def test_capacity_zero_means_the_documented_bound(config_factory: Callable[..., Config]) -> None:
    from rae.config import DEFAULT_OUTPUTS_QUEUE_BOUND

    om = OutputManager(config_factory("outputs_queue.capacity=0"), sinks=[ListSink()])
    assert om.capacity == DEFAULT_OUTPUTS_QUEUE_BOUND
    om.close()


def test_build_sinks_from_config(tmp_path: Path, config_factory: Callable[..., Config]) -> None:
    from rae.outputs import build_sinks

    cfg = config_factory("stdout_output.enabled=true", "file_output.enabled=true",
                         f"file_output.filename={tmp_path}/x", "program_output.enabled=true",
                         "program_output.program=cat >/dev/null", "http_output.enabled=true",
                         "http_output.url=http://127.0.0.1:2801/", "syslog_output.enabled=true")
    assert [s.name for s in build_sinks(cfg)] == ["file", "stdout", "syslog", "program", "http"]


def test_concurrent_submitters_are_counted_exactly(config_factory: Callable[..., Config]) -> None:
    sink = ListSink()
    om = OutputManager(config_factory("outputs_queue.capacity=50"), sinks=[sink])
    barrier = threading.Barrier(4)

    def flood() -> None:
        barrier.wait()
        for i in range(500):
            om.submit(make_alert(i))

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    om.close(timeout=30)
    c = om.counters
    assert c.submitted == 2000
    assert c.queued + c.dropped_queue_full == 2000
    assert len(sink.messages) == c.queued == c.delivered["list"]


def test_rebuilding_the_outputs_on_one_registry_reuses_the_metrics(config_factory: Callable[..., Config]) -> None:
    from rae import metrics

    reg = CollectorRegistry()
    assert metrics.register(reg) is metrics.register(reg)
    first = OutputManager(config_factory("outputs_queue.capacity=1"), sinks=[BlockingSink()], registry=reg)
    first.close(timeout=1)
    second = OutputManager(config_factory(), sinks=[ListSink()], registry=reg)  # e.g. after a config reload
    second.submit(make_alert(0))
    second.close(timeout=5)
    assert metric(reg, "rae_outputs_delivered_total", {"output": "list"}) == 1
