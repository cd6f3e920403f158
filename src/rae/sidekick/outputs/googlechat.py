"""Google Chat: a webhook message with one card of key/value widgets (or text only)."""

from __future__ import annotations

from typing import Any, ClassVar

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs._chat import compile_message_format, render_message
from rae.sidekick.outputs.base import HttpOutput, OutputContext, register


@register
class GooglechatOutput(HttpOutput):
    name = "googlechat"
    enable_key = "webhookurl"
    defaults: ClassVar[dict[str, Any]] = {"webhookurl": "", "outputformat": "all", "messageformat": ""}

    def __init__(self, cfg: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(cfg, ctx)
        self.template = compile_message_format(str(cfg.get("messageformat") or ""))

    def build(self, event: SidekickEvent) -> dict[str, Any]:
        text = render_message(self.template, event, self.name)
        if self.cfg.get("outputformat") == "text":
            return {"text": text}

        def kv(label: str, content: str) -> dict[str, Any]:
            return {"keyValue": {"topLabel": label, "content": content}}

        widgets = [kv("rule", event.rule), kv("priority", event.priority_title), kv("source", event.source)]
        if event.hostname:
            widgets.append(kv("hostname", event.hostname))
        widgets.extend(kv(k, v) for k, v in event.string_fields().items())
        if event.tags:
            widgets.append(kv("tags", ", ".join(sorted(event.tags))))
        widgets.append(kv("time", event.time_text))
        payload: dict[str, Any] = {"cards": [{"sections": [{"widgets": widgets}]}]}
        if text:
            payload = {"text": text, **payload}
        return payload
