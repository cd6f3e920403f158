"""Loki: push one stream entry per event to ``hostport + endpoint`` (``/loki/api/v1/push``).

Stream labels: ``rule``, ``source``, ``priority``, ``k8s_ns_name`` and ``k8s_pod_name`` (when
present), the custom and templated fields and the ``extralabels`` fields (string values only,
names with ``.`` → ``_`` and brackets removed), ``hostname`` and ``tags``. The line is the
output text (``format: text``) or the event's JSON (``format: json``); its timestamp is the
event's time in nanoseconds. ``tenant`` sets ``X-Scope-OrgID``; ``user`` + ``apikey`` use basic
authentication.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import HttpOutput, register


def _label(name: str) -> str:
    return name.replace(".", "_").replace("]", "").replace("[", "")


@register
class LokiOutput(HttpOutput):
    name = "loki"
    enable_key = "hostport"
    defaults: ClassVar[dict[str, Any]] = {
        "hostport": "",
        "user": "",
        "apikey": "",
        "tenant": "",
        "format": "text",
        "endpoint": "/loki/api/v1/push",
        "extralabels": "",
    }

    def _extra(self) -> list[str]:
        value = self.cfg.get("extralabels") or ""
        if isinstance(value, dict):
            return list(value)
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return [str(v) for v in value]

    def build(self, event: SidekickEvent) -> dict[str, Any]:
        stream: dict[str, str] = {"rule": event.rule, "source": event.source, "priority": event.priority_title}
        fields = event.output_fields
        for key in ("k8s.ns.name", "k8s.pod.name"):
            if isinstance(fields.get(key), str):
                stream[_label(key)] = fields[key]
        wanted = {*self.ctx.customfields, *self.ctx.templatedfields, *self._extra()}
        for key, value in fields.items():
            if key in wanted and isinstance(value, str):
                stream[_label(key)] = value.replace('"', "")
        if event.hostname:
            stream["hostname"] = event.hostname
        if event.tags:
            stream["tags"] = ",".join(sorted(event.tags))
        line = event.to_json() if self.cfg.get("format") == "json" else event.output
        return {"streams": [{"stream": stream, "values": [[str(event.time_ns), line]]}]}

    def url(self, payload: Any) -> str:
        return str(self.cfg["hostport"]).rstrip("/") + str(self.cfg.get("endpoint") or "/loki/api/v1/push")

    def headers(self, payload: Any) -> dict[str, str]:
        out = {"Content-Type": "application/json"}
        if self.cfg.get("tenant"):
            out["X-Scope-OrgID"] = str(self.cfg["tenant"])
        if self.cfg.get("user") and self.cfg.get("apikey"):
            token = base64.b64encode(f"{self.cfg['user']}:{self.cfg['apikey']}".encode()).decode()
            out["Authorization"] = "Basic " + token
        return out
