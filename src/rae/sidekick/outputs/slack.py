"""Slack, and the two webhooks that accept its payload (Mattermost, Rocket.Chat): an incoming-webhook
message with one attachment (the output, and rule, priority, source, host, tags, string output
fields and time as fields), coloured by priority."""

from __future__ import annotations

from typing import Any, ClassVar

from rae.priority import Priority
from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs._chat import DEFAULT_ICON, color, compile_message_format, render_message
from rae.sidekick.outputs.base import HttpOutput, OutputContext, register

_COLORS = {
    Priority.EMERGENCY: "#e20b0b",
    Priority.ALERT: "#ff5400",
    Priority.CRITICAL: "#ff5400",
    Priority.ERROR: "#e20b0b",
    Priority.WARNING: "#ffc700",
    Priority.NOTICE: "#5bffb5",
    Priority.INFORMATIONAL: "#68c2ff",
    Priority.DEBUG: "#ccfff2",
}
DEFAULT_FOOTER = "https://github.com/falcosecurity/falcosidekick"

#: the keys Mattermost and Rocket.Chat take; Slack adds ``channel``
_DEFAULTS: dict[str, Any] = {
    "webhookurl": "",
    "footer": DEFAULT_FOOTER,
    "username": "Falcosidekick",
    "icon": DEFAULT_ICON,
    "outputformat": "all",
    "messageformat": "",
}


@register
class SlackOutput(HttpOutput):
    name = "slack"
    enable_key = "webhookurl"
    defaults: ClassVar[dict[str, Any]] = {**_DEFAULTS, "channel": ""}

    def __init__(self, cfg: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(cfg, ctx)
        self.template = compile_message_format(str(cfg.get("messageformat") or ""))

    def build(self, event: SidekickEvent) -> dict[str, Any]:
        cfg = self.cfg
        fmt = str(cfg.get("outputformat") or "all")
        attachment: dict[str, Any] = {"fallback": event.output, "color": color(event, _COLORS)}
        fields: list[dict[str, Any]] = []
        if fmt in ("all", "fields", ""):
            fields.append({"title": "rule", "value": event.rule, "short": True})
            fields.append({"title": "priority", "value": event.priority_title, "short": True})
            fields.append({"title": "source", "value": event.source, "short": True})
            if event.hostname:
                fields.append({"title": "hostname", "value": event.hostname, "short": True})
            if event.tags:
                fields.append({"title": "tags", "value": ", ".join(sorted(event.tags)), "short": True})
            for key, value in event.string_fields().items():
                fields.append({"title": key, "value": value, "short": len(value) < 36})
            fields.append({"title": "time", "value": event.time_text, "short": False})
            attachment["footer"] = str(cfg.get("footer") or DEFAULT_FOOTER)
        if fmt in ("all", "text", ""):
            attachment["text"] = event.output
        attachment["fields"] = fields
        payload: dict[str, Any] = {}
        text = render_message(self.template, event, self.name)
        if text:
            payload["text"] = text
        if cfg.get("username"):
            payload["username"] = str(cfg["username"])
        if cfg.get("icon"):
            payload["icon_url"] = str(cfg["icon"])
        if cfg.get("channel"):
            payload["channel"] = str(cfg["channel"])
        payload["attachments"] = [attachment]
        return payload


@register
class MattermostOutput(SlackOutput):
    name = "mattermost"
    defaults: ClassVar[dict[str, Any]] = _DEFAULTS


@register
class RocketchatOutput(SlackOutput):
    name = "rocketchat"
    defaults: ClassVar[dict[str, Any]] = _DEFAULTS
