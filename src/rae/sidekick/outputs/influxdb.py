"""InfluxDB: one line-protocol point per event, to the v1 ``/write?db=`` or the v2 ``/api/v2/write`` API.

Measurement ``events``; tags ``rule`` (spaces → ``_``), ``priority``, ``source``, every string
output field (spaces → ``_``), ``hostname`` and ``tags`` (joined with ``_``); one string field
``value`` holding the output; the event's time as the timestamp (``precision``, default ns).
Unlike falcosidekick, commas, ``=`` and quotes are escaped as the line protocol requires, so an
output with a quote in it is not rejected.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlencode

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import HttpOutput, register

_PRECISION = {"ns": 1, "u": 1_000, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def _tag(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "_").replace("\n", "_")


def _field(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@register
class InfluxdbOutput(HttpOutput):
    name = "influxdb"
    enable_key = "hostport"
    content_type = "text/plain; charset=utf-8"
    defaults: ClassVar[dict[str, Any]] = {
        "hostport": "",
        "database": "falco",
        "organization": "",
        "bucket": "falco",
        "precision": "ns",
        "user": "",
        "password": "",
        "token": "",
    }

    def build(self, event: SidekickEvent) -> str:
        tags = [f"rule={_tag(event.rule)}", f"priority={_tag(event.priority_title)}", f"source={_tag(event.source)}"]
        for key, value in sorted(event.output_fields.items()):
            if isinstance(value, str) and value:
                tags.append(f"{_tag(key)}={_tag(value)}")
        if event.hostname:
            tags.append(f"hostname={_tag(event.hostname)}")
        if event.tags:
            tags.append("tags=" + _tag("_".join(event.tags)))
        divisor = _PRECISION.get(str(self.cfg.get("precision") or "ns"), 1)
        return f"events,{','.join(tags)} value={_field(event.output)} {event.time_ns // divisor}"

    def url(self, payload: Any) -> str:
        base = str(self.cfg["hostport"]).rstrip("/")
        query: dict[str, str] = {}
        if self.cfg.get("organization") and self.cfg.get("bucket"):
            path = "/api/v2/write"
            query = {"org": str(self.cfg["organization"]), "bucket": str(self.cfg["bucket"])}
        else:
            path = "/write"
            query = {"db": str(self.cfg.get("database") or "falco")}
        if self.cfg.get("user") and self.cfg.get("password") and not self.cfg.get("token"):
            query.update(u=str(self.cfg["user"]), p=str(self.cfg["password"]))
        if self.cfg.get("precision"):
            query["precision"] = str(self.cfg["precision"])
        return f"{base}{path}?{urlencode(query)}"

    def headers(self, payload: Any) -> dict[str, str]:
        out = {"Accept": "application/json"}
        if self.cfg.get("token"):
            out["Authorization"] = "Token " + str(self.cfg["token"])
        return out
