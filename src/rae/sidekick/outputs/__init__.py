"""One module per destination; importing this package fills :data:`OUTPUT_CLASSES` (name → class)."""

from __future__ import annotations

from rae.sidekick.outputs import (  # noqa: F401  (each import registers its class)
    alertmanager,
    discord,
    elasticsearch,
    file,
    googlechat,
    influxdb,
    kafka,
    loki,
    mqtt,
    nats,
    redis,
    slack,
    smtp,
    statsd,
    syslog,
    teams,
    timescaledb,
    webhook,
)
from rae.sidekick.outputs.base import OUTPUT_CLASSES, Output, OutputError

__all__ = ["OUTPUT_CLASSES", "Output", "OutputError"]
