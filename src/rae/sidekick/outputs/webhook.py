"""Generic HTTP webhook: the event's JSON, POST or PUT, with custom headers (falcosidekick ``webhook``)."""

from __future__ import annotations

from typing import Any, ClassVar

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import HttpOutput, register


@register
class WebhookOutput(HttpOutput):
    name = "webhook"
    enable_key = "address"
    defaults: ClassVar[dict[str, Any]] = {"address": "", "method": "POST"}

    def method(self) -> str:
        return "PUT" if str(self.cfg.get("method", "")).upper() == "PUT" else "POST"

    def build(self, event: SidekickEvent) -> dict[str, Any]:
        return event.to_dict()
