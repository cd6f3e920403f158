"""Discord: a webhook message with one embed (the output as description, fields inline)."""

from __future__ import annotations

from typing import Any, ClassVar

from rae.priority import Priority
from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs._chat import DEFAULT_ICON, color
from rae.sidekick.outputs.base import HttpOutput, register

_COLORS = {  # decimal RGB, as Discord wants
    Priority.EMERGENCY: "15158332",
    Priority.ALERT: "11027200",
    Priority.CRITICAL: "15105570",
    Priority.ERROR: "15844367",
    Priority.WARNING: "12745742",
    Priority.NOTICE: "3066993",
    Priority.INFORMATIONAL: "3447003",
    Priority.DEBUG: "12370112",
}


@register
class DiscordOutput(HttpOutput):
    name = "discord"
    enable_key = "webhookurl"
    defaults: ClassVar[dict[str, Any]] = {"webhookurl": "", "icon": DEFAULT_ICON}

    def build(self, event: SidekickEvent) -> dict[str, Any]:
        fields = [
            {"name": "rule", "value": event.rule, "inline": True},
            {"name": "priority", "value": event.priority_title, "inline": True},
            {"name": "source", "value": event.source, "inline": True},
        ]
        if event.hostname:
            fields.append({"name": "hostname", "value": event.hostname, "inline": True})
        for key, value in sorted(event.output_fields.items()):
            fields.append({"name": key, "value": f"```{value}```", "inline": True})
        if event.tags:
            fields.append({"name": "tags", "value": ", ".join(sorted(event.tags)), "inline": True})
        fields.append({"name": "time", "value": event.time_text, "inline": True})
        embed = {
            "title": "",
            "url": "",
            "description": event.output,
            "color": color(event, _COLORS),
            "fields": fields,
        }
        return {"content": "", "avatar_url": str(self.cfg.get("icon") or DEFAULT_ICON), "embeds": [embed]}
