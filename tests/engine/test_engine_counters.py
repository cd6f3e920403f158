"""The engine's user-space loss counters reach /metrics' ``rae_user_drops_total{cause}``."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from rae.engine import Engine, RunArgs


class _BrokenRule:
    name = "broken rule"

    def make_alert(self, evt: Any, **_kw: Any) -> Any:
        raise KeyError("a formatting bug")


def test_an_alert_that_cannot_be_rendered_is_counted() -> None:
    registry = CollectorRegistry()
    engine = Engine(RunArgs(), registry=registry)
    engine.metrics.set_stats_provider(engine._stats)  # as start() does
    engine._alert(_BrokenRule(), SimpleNamespace())  # type: ignore[arg-type]
    engine._alert(_BrokenRule(), SimpleNamespace())  # type: ignore[arg-type]
    assert engine.counters.alerts == 0
    assert engine._stats().n_drops_user == {"undecodable": 0, "state_error": 0, "alert_error": 2}
    assert registry.get_sample_value("rae_user_drops_total", {"cause": "alert_error"}) == 2
