"""Fixtures for the output tests: configs with every output off unless a test turns it on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from outhelpers import make_alert

from rae.alerts import Alert
from rae.config import Config, load_config


@pytest.fixture
def alert_factory() -> Callable[..., Alert]:
    return make_alert


@pytest.fixture
def config_factory(tmp_path: Path) -> Iterator[Callable[..., Config]]:
    """``config_factory("key=value", …)``: Falco defaults with every output off, then the overrides."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("")

    def make(*overrides: str, base: str | Path | None = None) -> Config:
        off = ["stdout_output.enabled=false", "syslog_output.enabled=false"]
        return load_config(base or empty, [*off, *overrides])

    yield make
