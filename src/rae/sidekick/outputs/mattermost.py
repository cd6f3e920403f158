"""Mattermost: an incoming-webhook message with one attachment (the output, and rule, priority,
source, host, tags, string output fields and time as fields), coloured by priority."""

from __future__ import annotations

from typing import Any, ClassVar

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs._chat import DEFAULT_FOOTER, DEFAULT_ICON, compile_message_format, slack_like
from rae.sidekick.outputs.base import HttpOutput, OutputContext, register


@register
class MattermostOutput(HttpOutput):
    name = "mattermost"
    enable_key = "webhookurl"
    defaults: ClassVar[dict[str, Any]] = {
        "webhookurl": "",
        "footer": DEFAULT_FOOTER,
        "username": "Falcosidekick",
        "icon": DEFAULT_ICON,
        "outputformat": "all",
        "messageformat": "",
    }

    def __init__(self, cfg: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(cfg, ctx)
        self.template = compile_message_format(str(cfg.get("messageformat") or ""))

    def build(self, event: SidekickEvent) -> dict[str, Any]:
        return slack_like(event, self.cfg, self.template, self.name)
