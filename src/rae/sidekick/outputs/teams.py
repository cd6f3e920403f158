"""Microsoft Teams: an Office 365 connector ``MessageCard`` with one section (text and facts)."""

from __future__ import annotations

from typing import Any, ClassVar

from rae.priority import Priority
from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs._chat import DEFAULT_ICON, color
from rae.sidekick.outputs.base import HttpOutput, register

_COLORS = {
    Priority.EMERGENCY: "e20b0b",
    Priority.ALERT: "ff5400",
    Priority.CRITICAL: "ff9000",
    Priority.ERROR: "ffc700",
    Priority.WARNING: "ffff00",
    Priority.NOTICE: "5bffb5",
    Priority.INFORMATIONAL: "68c2ff",
    Priority.DEBUG: "ccfff2",
}


@register
class TeamsOutput(HttpOutput):
    name = "teams"
    enable_key = "webhookurl"
    defaults: ClassVar[dict[str, Any]] = {"webhookurl": "", "activityimage": DEFAULT_ICON, "outputformat": "all"}

    def build(self, event: SidekickEvent) -> dict[str, Any]:
        fmt = str(self.cfg.get("outputformat") or "all")
        section: dict[str, Any] = {"activityTitle": "Falcosidekick", "activitySubtitle": event.time_text}
        section["text"] = event.output if fmt in ("all", "text", "") else ""
        if self.cfg.get("activityimage"):
            section["activityImage"] = str(self.cfg["activityimage"])
        if fmt in ("all", "facts", ""):
            facts = [
                {"name": "rule", "value": event.rule},
                {"name": "priority", "value": event.priority_title},
                {"name": "source", "value": event.source},
            ]
            if event.hostname:
                facts.append({"name": "hostname", "value": event.hostname})
            facts.extend({"name": k, "value": v} for k, v in event.string_fields().items())
            if event.tags:
                facts.append({"name": "tags", "value": ", ".join(sorted(event.tags))})
            section["facts"] = facts
        return {
            "@type": "MessageCard",
            "summary": event.output,
            "themeColor": color(event, _COLORS),
            "sections": [section],
        }
