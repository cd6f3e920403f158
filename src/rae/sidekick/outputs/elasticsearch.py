"""Elasticsearch / OpenSearch: index one document per event.

``POST <hostport>/<index>-<suffix>/<type>`` (type ``_doc``) with the event's JSON plus
``@timestamp``. ``suffix`` is ``daily`` (``falco-2024.05.01``), ``monthly``, ``annually`` or
``none``, computed from the event's time (falcosidekick uses the send time). ``username`` +
``password`` use basic authentication, ``apikey`` the ``Authorization: APIKey`` header,
``pipeline`` the ingest pipeline query parameter. ``flattenfields`` turns dots in field names
into ``_`` (so ``proc.name`` and ``proc.name.x`` do not collide in a mapping).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, ClassVar
from urllib.parse import quote

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import HttpOutput, OutputError, register


@register
class ElasticsearchOutput(HttpOutput):
    name = "elasticsearch"
    enable_key = "hostport"
    defaults: ClassVar[dict[str, Any]] = {
        "hostport": "",
        "index": "falco",
        "type": "_doc",
        "suffix": "daily",
        "username": "",
        "password": "",
        "apikey": "",
        "pipeline": "",
        "flattenfields": False,
    }

    def index(self, event: SidekickEvent) -> str:
        base = str(self.cfg.get("index") or "falco")
        tm = time.gmtime(event.time_ns // 1_000_000_000)
        suffix = str(self.cfg.get("suffix") or "daily")
        if suffix == "none":
            return base
        if suffix == "monthly":
            return base + time.strftime("-%Y.%m", tm)
        if suffix == "annually":
            return base + time.strftime("-%Y", tm)
        return base + time.strftime("-%Y.%m.%d", tm)

    def build(self, event: SidekickEvent) -> tuple[str, dict[str, Any]]:
        doc = event.to_dict()
        if self.cfg.get("flattenfields") and doc.get("output_fields"):
            doc["output_fields"] = {k.replace(".", "_"): v for k, v in doc["output_fields"].items()}
        doc["@timestamp"] = doc["time"]
        return self.index(event), doc

    def encode(self, payload: Any) -> bytes:
        return super().encode(payload[1])

    def url(self, payload: Any) -> str:
        url = f"{str(self.cfg['hostport']).rstrip('/')}/{quote(payload[0])}/{self.cfg.get('type') or '_doc'}"
        if self.cfg.get("pipeline"):
            url += "?pipeline=" + quote(str(self.cfg["pipeline"]))
        return url

    def headers(self, payload: Any) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.cfg.get("apikey"):
            out["Authorization"] = "APIKey " + str(self.cfg["apikey"])
        if self.cfg.get("username") and self.cfg.get("password"):
            token = base64.b64encode(f"{self.cfg['username']}:{self.cfg['password']}".encode()).decode()
            out["Authorization"] = "Basic " + token
        return out

    def check_response(self, status: int, body: bytes) -> None:
        try:
            answer = json.loads(body or b"{}")
        except ValueError:
            return
        if isinstance(answer, dict) and answer.get("error"):
            raise OutputError(f"elasticsearch error: {answer['error']}", retryable=False)
