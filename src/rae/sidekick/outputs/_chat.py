"""What the chat outputs share: priority colours and the optional ``messageformat`` template.

``messageformat`` is a Jinja2 template (falcosidekick's is a Go template) with the variables
``rule``, ``priority``, ``output``, ``source``, ``hostname``, ``tags``, ``time``, ``uuid`` and
``fields`` (the output fields): ``"Alert *{{ rule }}* on {{ hostname }}"``.
"""

from __future__ import annotations

import logging
from typing import Any

import jinja2
import jinja2.sandbox

from rae.priority import Priority
from rae.sidekick.event import SidekickEvent

log = logging.getLogger("rae.sidekick")

SLACK_COLORS = {
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
DEFAULT_ICON = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick_color.png"

_ENV = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.ChainableUndefined, autoescape=False)


def compile_message_format(text: str) -> jinja2.Template | None:
    if not text:
        return None
    return _ENV.from_string(text)  # a TemplateSyntaxError surfaces as a config error at start


def render_message(template: jinja2.Template | None, event: SidekickEvent, output: str) -> str:
    if template is None:
        return ""
    try:
        return template.render(
            rule=event.rule,
            priority=event.priority_title,
            output=event.output,
            source=event.source,
            hostname=event.hostname,
            tags=event.tags,
            time=event.time_text,
            uuid=event.uuid,
            fields=event.output_fields,
        )
    except Exception as exc:  # a user template: log, send without the text
        log.error("%s: error expanding the message format: %s", output, exc)
        return ""


def color(event: SidekickEvent, table: dict[Priority, str]) -> str:
    return table.get(event.priority, "") if event.priority is not None else ""


def slack_like(event: SidekickEvent, cfg: dict[str, Any], template: jinja2.Template | None, output: str) -> dict:
    """Slack's incoming-webhook payload; Mattermost and Rocket.Chat accept the same shape."""
    fmt = str(cfg.get("outputformat") or "all")
    attachment: dict[str, Any] = {"fallback": event.output, "color": color(event, SLACK_COLORS)}
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
    text = render_message(template, event, output)
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
