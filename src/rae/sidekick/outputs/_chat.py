"""What the chat outputs share: the priority colour lookup, the default icon and the optional
``messageformat`` template.

``messageformat`` is a Jinja2 template (falcosidekick's is a Go template) with the variables
``rule``, ``priority``, ``output``, ``source``, ``hostname``, ``tags``, ``time``, ``uuid`` and
``fields`` (the output fields): ``"Alert *{{ rule }}* on {{ hostname }}"``.
"""

from __future__ import annotations

import logging

import jinja2
import jinja2.sandbox

from rae.priority import Priority
from rae.sidekick.event import SidekickEvent

log = logging.getLogger("rae.sidekick")

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
