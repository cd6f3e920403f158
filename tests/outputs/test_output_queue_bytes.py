"""The outputs queue's memory bound: besides its count (``outputs_queue.capacity``), the queue holds at
most ``max_bytes`` of alerts, so a stuck output cannot grow the engine by count × the longest alert."""

from __future__ import annotations

import logging
import tracemalloc
from collections.abc import Callable
from dataclasses import replace

import pytest
from outhelpers import BlockingSink, make_alert, wait_for
from prometheus_client import CollectorRegistry

from rae.alerts import Alert
from rae.config import Config
from rae.outputs import OutputManager
from rae.outputs.manager import alert_bytes


def _long_alert(i: int) -> Alert:
    cmdline = f"python -c {'x' * 4000} {i}"  # a long command line, as libscap keeps up to 4 KiB of it
    return replace(make_alert(i), output=f"Sensitive file opened (cmdline={cmdline})",
                   output_fields={"proc.cmdline": cmdline, "n": i})


def test_a_stuck_output_holds_at_most_max_bytes_of_alerts(
    config_factory: Callable[..., Config], caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config_factory()  # capacity 0: rae's count bound (65,536 alerts), far above this budget
    reg = CollectorRegistry()
    sink = BlockingSink()
    budget = 256 << 10
    om = OutputManager(cfg, sinks=[sink], registry=reg, max_bytes=budget)
    caplog.set_level(logging.WARNING, "rae.outputs")
    assert om.submit(_long_alert(0))
    assert sink.entered.wait(10)  # alert 0 is inside the hung output, out of the queue
    results = [om.submit(_long_alert(i)) for i in range(1, 1001)]
    queued = results.count(True)
    per_alert = alert_bytes(_long_alert(1))
    assert queued == budget // per_alert  # filled to the budget, not to the count
    assert results == [True] * queued + [False] * (1000 - queued)
    assert om.counters.dropped_queue_full == 1000 - queued
    assert reg.get_sample_value("falcosecurity_falco_outputs_queue_num_drops_total") == 1000 - queued
    assert any("outputs queue full (0.2 MiB of alerts): dropped 1 alert(s)" in r.getMessage()
               for r in caplog.records)
    sink.release.set()
    assert om.close(timeout=10) == 0
    assert [a.output_fields["n"] for a in sink.got] == list(range(queued + 1))
    assert om._queued_bytes == 0  # every delivered alert gave its share back


def test_the_budget_frees_as_alerts_are_delivered(config_factory: Callable[..., Config]) -> None:
    sink = BlockingSink()
    sink.release.set()  # a live output: the queue drains
    om = OutputManager(config_factory(), sinks=[sink], max_bytes=2 * alert_bytes(_long_alert(0)))
    for i in range(50):  # one at a time, each delivered before the next: never more than the budget
        assert om.submit(_long_alert(i))
        wait_for(lambda n=i: len(sink.got) == n + 1, f"alert {i} delivered")
    assert om.close(timeout=10) == 0
    assert om.counters.dropped_queue_full == 0 and om._queued_bytes == 0


def test_alert_bytes_follows_the_memory_an_alert_takes() -> None:
    """The estimate is within a factor 2 of what a queued alert really holds (tracemalloc)."""
    for make in (make_alert, _long_alert):
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            kept = [make(i) for i in range(200)]
            used = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
        finally:
            tracemalloc.stop()
        est = alert_bytes(kept[0])
        assert used / 2 <= est <= used * 2, (make.__name__, est, used)


def test_alerts_discarded_at_close_give_their_bytes_back(config_factory: Callable[..., Config]) -> None:
    """close() with a hung output discards what is queued: those alerts leave the budget too."""
    sink = BlockingSink()
    om = OutputManager(config_factory(), sinks=[sink], max_bytes=1 << 20)
    assert om.submit(_long_alert(0))
    assert sink.entered.wait(10)  # alert 0 is inside the hung output, out of the queue
    for i in range(1, 6):
        assert om.submit(_long_alert(i))
    assert om._queued_bytes == 5 * alert_bytes(_long_alert(1))
    assert om.close(timeout=0.2) == 5
    assert om._queued_bytes == 0
