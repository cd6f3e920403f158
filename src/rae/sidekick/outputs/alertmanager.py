"""Alertmanager: one alert per event POSTed to ``/api/v2/alerts`` on every ``hostport`` (HA).

Labels: the output fields (names with characters outside ``[a-zA-Z0-9_]`` replaced by ``_``;
``n_evts*`` skipped; ``n_drop*`` bucketed by ``dropeventthresholds``, which may raise the
priority), ``source=falco``, ``rule``, ``alertname=<rule>``, ``eventsource``, ``hostname``,
``tags`` (sorted, comma-joined), ``priority`` and ``severity`` (from the priority, or
``customseveritymap``); annotations ``info``/``description`` (the output) and ``summary``
(the rule); ``endsAt`` = time + ``expiresafter`` seconds when set; then ``extralabels`` and
``extraannotations``. The alert goes to every Alertmanager; delivery succeeds (and is not
retried) when at least one of them accepts it, the others' failures being logged.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from rae.priority import Priority
from rae.sidekick.event import SidekickEvent, format_go_time, parse_go_priority
from rae.sidekick.outputs.base import HttpOutput, OutputError, register

log = logging.getLogger("rae.sidekick")

_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
_DEFAULT_SEVERITY = {
    Priority.DEBUG: "information",
    Priority.INFORMATIONAL: "information",
    Priority.NOTICE: "information",
    Priority.WARNING: "warning",
    Priority.ERROR: "warning",
    Priority.CRITICAL: "critical",
    Priority.ALERT: "critical",
    Priority.EMERGENCY: "critical",
}


def _thresholds(text: str) -> list[tuple[int, Priority]]:
    out = []
    for part in re.split(r"[,\s]+", text.strip()):
        value, _, prio = part.strip().partition(":")
        parsed = parse_go_priority(prio) if prio else None
        if value.isdigit() and parsed is not None:
            out.append((int(value), parsed))
    return sorted(out, key=lambda t: -t[0])


@register
class AlertmanagerOutput(HttpOutput):
    name = "alertmanager"
    enable_key = "hostport"
    defaults: ClassVar[dict[str, Any]] = {
        "hostport": [],
        "endpoint": "/api/v2/alerts",
        "expiresafter": 0,
        "extralabels": {},
        "extraannotations": {},
        "customseveritymap": {},
        "dropeventdefaultpriority": "critical",
        "dropeventthresholds": "10000:critical, 1000:critical, 100:critical, 10:warning, 1:warning",
    }

    def hosts(self) -> list[str]:
        value = self.cfg.get("hostport") or []
        if isinstance(value, str):
            value = value.split(",")
        return [str(v).strip().rstrip("/") for v in value if str(v).strip()]

    def build(self, event: SidekickEvent) -> list[dict[str, Any]]:
        labels: dict[str, str] = {}
        prio = event.priority or Priority.DEBUG
        thresholds = _thresholds(str(self.cfg.get("dropeventthresholds") or ""))
        default_drop = parse_go_priority(str(self.cfg.get("dropeventdefaultpriority") or "")) or Priority.CRITICAL
        for key, value in event.output_fields.items():
            if key.startswith("n_evts"):
                continue
            if key.startswith("n_drop"):
                try:
                    count = int(str(value))
                except ValueError:
                    continue
                bucket = ""
                if count == 0:
                    prio = min(prio, Priority.WARNING)  # Falco's enum: smaller is more severe
                    bucket = "0"
                else:
                    for limit, level in thresholds:
                        if count > limit:
                            bucket = f">{limit}"
                            prio = min(prio, level)
                            break
                if not bucket:
                    bucket = str(count)
                    prio = min(prio, default_drop)
                labels[key] = bucket
                continue
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                continue
            labels[_UNSAFE.sub("_", key)] = str(value)
        labels["source"] = "falco"
        labels["rule"] = event.rule
        labels["alertname"] = event.rule
        labels["eventsource"] = event.source
        if event.hostname:
            labels["hostname"] = event.hostname
        if event.tags:
            labels["tags"] = ",".join(sorted(event.tags))
        labels["priority"] = prio.title
        custom = {parse_go_priority(k): str(v) for k, v in dict(self.cfg.get("customseveritymap") or {}).items()}
        labels["severity"] = custom.get(prio) or _DEFAULT_SEVERITY[prio]
        annotations = {"info": event.output, "description": event.output, "summary": event.rule}
        alert: dict[str, Any] = {"labels": labels, "annotations": annotations}
        expires = int(self.cfg.get("expiresafter") or 0)
        if expires:
            alert["endsAt"] = format_go_time(event.time_ns + expires * 1_000_000_000)
        labels.update({str(k): str(v) for k, v in dict(self.cfg.get("extralabels") or {}).items()})
        annotations.update({str(k): str(v) for k, v in dict(self.cfg.get("extraannotations") or {}).items()})
        return [alert]

    async def send(self, payload: Any) -> None:
        """POST to every Alertmanager (as falcosidekick and Prometheus do); fail only if none accepted."""
        endpoint = str(self.cfg.get("endpoint") or "/api/v2/alerts")
        errors = []
        hosts = self.hosts()
        for host in hosts:
            try:
                await self.request(host + endpoint, payload)
            except OutputError as exc:
                errors.append(exc)
                log.warning("alertmanager %s: %s", host, exc)
        if not hosts:
            raise OutputError("no alertmanager hostport", retryable=False)
        if len(errors) == len(hosts):
            raise OutputError("; ".join(str(e) for e in errors), retryable=any(e.retryable for e in errors))
