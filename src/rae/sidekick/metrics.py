"""Sidekick's Prometheus metrics: falcosidekick 2.30's names and labels, plus rae's delivery metrics.

Compatibility contract (falcosidekick ≥ 2.30):

* ``falcosecurity_falcosidekick_falco_events_total{hostname,rule,priority,priority_raw,source,
  k8s_ns_name,k8s_pod_name, <customfields>, <templatedfields>, <prometheus.extralabels>}`` with
  ``priority`` the number (Debug = 1 … Emergency = 8, 0 unset) and ``priority_raw`` the
  lower-case name;
* ``falcosecurity_falcosidekick_inputs_total{source,status}``;
* ``falcosecurity_falcosidekick_outputs_total{destination,status}`` (``ok`` / ``error``).

rae adds a cap on the label sets of the events counter (``prometheus.maxlabelsets``): once it
is reached, a new label set keeps ``rule``, ``priority``, ``priority_raw`` and ``source`` and has
every other label replaced by ``_overflow_`` (bounded by rules × priorities × sources), and
``rae_sidekick_events_labelsets_folded_total`` counts the events folded so.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    gc_collector,
    platform_collector,
    process_collector,
)

from rae.sidekick.event import SidekickEvent

__all__ = ["OVERFLOW", "SidekickMetrics"]

OVERFLOW = "_overflow_"
_LABEL_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_BASE_LABELS = ("hostname", "rule", "priority", "priority_raw", "source", "k8s_ns_name", "k8s_pod_name")
_KEPT_WHEN_FOLDED = frozenset({"rule", "priority", "priority_raw", "source"})


class SidekickMetrics:
    """All metrics of one sidekick, in a registry of their own (served at ``/metrics``)."""

    def __init__(
        self,
        *,
        customfields: Iterable[str] = (),
        templatedfields: Iterable[str] = (),
        extralabels: Iterable[str] = (),
        max_label_sets: int = 0,
    ) -> None:
        self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        # extra label name → the output field (or custom field) it comes from, in sidekick's order
        self._custom: dict[str, str] = {}
        self._templated: dict[str, str] = {}
        self._extra: dict[str, str] = {}
        for key in customfields:
            if _LABEL_RE.match(key.replace(".", "_")):
                self._custom[key.replace(".", "_")] = key
        for key in templatedfields:
            if _LABEL_RE.match(key.replace(".", "_")):
                self._templated[key.replace(".", "_")] = key
        for key in extralabels:
            if _LABEL_RE.match(key.replace(".", "_")):
                self._extra[key.replace(".", "_")] = key
        names = list(_BASE_LABELS)
        for extra in (*self._custom, *self._templated, *self._extra):
            if extra not in names:
                names.append(extra)
        self._label_names = tuple(names)
        self.max_label_sets = max_label_sets
        self._seen: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

        self.falco_events = Counter(
            "falcosecurity_falcosidekick_falco_events",
            "Falco events received, by rule, priority, source, host and Kubernetes pod",
            self._label_names,
            registry=self.registry,
        )
        self.inputs = Counter(
            "falcosecurity_falcosidekick_inputs",
            "Requests received on the inputs, by status",
            ("source", "status"),
            registry=self.registry,
        )
        self.outputs = Counter(
            "falcosecurity_falcosidekick_outputs",
            "Deliveries to the outputs, by destination and status",
            ("destination", "status"),
            registry=self.registry,
        )
        self.folded = Counter(
            "rae_sidekick_events_labelsets_folded",
            "Events counted under a folded (_overflow_) label set because prometheus.maxlabelsets was reached",
            registry=self.registry,
        )
        self.label_sets = Gauge(
            "rae_sidekick_events_labelsets",
            "Distinct label sets of falcosecurity_falcosidekick_falco_events_total, folded ones excluded",
            registry=self.registry,
        )
        self.buffer_length = Gauge(
            "rae_sidekick_output_buffer_events",
            "Events waiting in an output's retry buffer",
            ("destination",),
            registry=self.registry,
        )
        self.buffer_capacity = Gauge(
            "rae_sidekick_output_buffer_capacity",
            "Size of an output's retry buffer",
            ("destination",),
            registry=self.registry,
        )
        self.retries = Counter(
            "rae_sidekick_output_retries",
            "Delivery attempts repeated after a failure",
            ("destination",),
            registry=self.registry,
        )
        self.dropped = Counter(
            "rae_sidekick_output_dropped",
            "Events an output lost: overflow (buffer full), rejected (permanent error), attempts (gave up)",
            ("destination", "reason"),
            registry=self.registry,
        )
        self.routed_out = Counter(
            "rae_sidekick_output_filtered",
            "Events not sent to an output because of its minimumpriority or routing",
            ("destination",),
            registry=self.registry,
        )
        self.dedup_suppressed = Counter(
            "rae_sidekick_dedup_suppressed",
            "Events held back as duplicates within dedup.window",
            registry=self.registry,
        )
        self.dedup_summaries = Counter(
            "rae_sidekick_dedup_summaries",
            "Summary events sent at the end of a dedup window for suppressed duplicates",
            registry=self.registry,
        )
        for status in ("accepted", "rejected"):
            self.inputs.labels("requests", status)

    def declare_output(self, destination: str, capacity: int) -> None:
        """Pre-initialise an enabled output's series to zero."""
        for status in ("ok", "error"):
            self.outputs.labels(destination, status)
        for reason in ("overflow", "rejected", "attempts"):
            self.dropped.labels(destination, reason)
        self.retries.labels(destination)
        self.routed_out.labels(destination)
        self.buffer_capacity.labels(destination).set(capacity)
        self.buffer_length.labels(destination).set(0)

    def event_labels(self, event: SidekickEvent, k8s_ns: str, k8s_pod: str) -> dict[str, str]:
        """The label values falcosidekick computes for one accepted event."""
        labels: dict[str, str] = {
            "hostname": event.hostname or "unknown",
            "rule": event.rule,
            "priority": str(event.priority_number),
            "priority_raw": event.priority_title.lower(),
            "source": event.source,
            "k8s_ns_name": k8s_ns,
            "k8s_pod_name": k8s_pod,
        }
        fields = event.output_fields
        for label, key in self._custom.items():
            labels[label] = _text(fields.get(key))
        for label, key in self._templated.items():
            labels[label] = _text(fields.get(key))
        for label, key in self._extra.items():
            value = fields.get(key)
            labels.setdefault(label, value if isinstance(value, str) else "")
        return labels

    def count_event(self, labels: dict[str, str]) -> None:
        """Increment the events counter, folding the label set when the cap is reached."""
        values = tuple(labels.get(n, "") for n in self._label_names)
        with self._lock:
            if values not in self._seen:
                if self.max_label_sets and len(self._seen) >= self.max_label_sets:
                    values = tuple(
                        v if n in _KEPT_WHEN_FOLDED else OVERFLOW
                        for n, v in zip(self._label_names, values, strict=True)
                    )
                    self.folded.inc()
                else:
                    self._seen.add(values)
                    self.label_sets.set(len(self._seen))
        self.falco_events.labels(*values).inc()


def _text(value: Any) -> str:
    return "" if value is None else str(value)
