"""What sidekick does to an accepted event before fan-out, in falcosidekick's order.

1. merge ``customfields`` into ``output_fields``; 2. append ``customtags``; 3. source: rule
``Test rule`` → ``internal``, empty → ``syscalls``; 4. a fresh UUIDv4; 5. ``k8s.ns.name`` and
``k8s.pod.name`` kept aside for the metric labels; 6. ``templatedfields``; 7. sort the tags;
(8. metrics, done by the caller with :attr:`Enriched.k8s_ns`/``k8s_pod``); 9. ``bracketreplacer``
on field names containing ``[``; 10. ``outputfieldformat`` rewrites an output that starts like
Falco's text line (``<time>: <Priority> <text>``) from the placeholders ``<timestamp>``,
``<priority>``, ``<output>``, ``<custom_fields>``, ``<templated_fields>`` and ``<tags>``;
11. an event longer than 4096 bytes has its string fields over 512 characters cut to 507 plus
``[...]``.

``templatedfields`` are Jinja2 templates, not Go templates (Go's ``text/template`` cannot run
in Python): the output fields are the variable ``fields`` (``{{ fields["k8s.ns.name"] }}``),
and ``{{ fields.get("k8s.ns.labels.team") or "none" }}`` stands for Go's
``{{ or (index . "k8s.ns.labels.team") "none" }}``. A template that fails to compile or render
is logged and yields an empty value, as falcosidekick does.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.sandbox

from rae.sidekick.event import TEST_RULE, SidekickEvent

__all__ = ["Enriched", "Enricher"]

log = logging.getLogger("rae.sidekick")

_FALCO_TEXT = re.compile(r"(?i)[0-9:]+\.[0-9]+: (Debug|Informational|Notice|Warning|Error|Critical|Alert|Emergency) .*")
_MAX_EVENT_BYTES = 4096
_MAX_FIELD_CHARS = 512
_CUT_TO = 507


@dataclass(slots=True)
class Enriched:
    event: SidekickEvent
    k8s_ns: str
    k8s_pod: str


class Enricher:
    def __init__(
        self,
        customfields: dict[str, str],
        customtags: list[str],
        templatedfields: dict[str, str],
        bracketreplacer: str = "",
        outputfieldformat: str = "",
    ) -> None:
        self.customfields = customfields
        self.customtags = customtags
        self.bracketreplacer = bracketreplacer
        self.outputfieldformat = outputfieldformat
        env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.ChainableUndefined, autoescape=False)
        self.templates: dict[str, jinja2.Template | None] = {}
        for key, text in templatedfields.items():
            try:
                self.templates[key] = env.from_string(text)
            except jinja2.TemplateError as exc:
                log.error("templatedfields: parsing error for templated field '%s': %s", key, exc)
                self.templates[key] = None

    def enrich(self, event: SidekickEvent) -> Enriched:
        fields = event.output_fields
        fields.update(self.customfields)
        event.tags.extend(self.customtags)
        if event.rule == TEST_RULE:
            event.source = "internal"
        if not event.source:
            event.source = "syscalls"
        event.uuid = str(uuid.uuid4())
        ns = fields.get("k8s.ns.name")
        pod = fields.get("k8s.pod.name")
        k8s_ns = ns if isinstance(ns, str) else ""
        k8s_pod = pod if isinstance(pod, str) else ""
        if self.templates:
            context = dict(fields)
            for key, template in self.templates.items():
                fields[key] = self._render(key, template, context)
        event.tags.sort()
        return Enriched(event, k8s_ns, k8s_pod)

    def finish(self, event: SidekickEvent) -> None:
        """The steps after the metrics: bracket replacement and truncation of oversized events."""
        fields = event.output_fields
        if self.bracketreplacer:
            for key in [k for k in fields if "[" in k]:
                value = fields.pop(key)
                fields[key.replace("]", "").replace("[", self.bracketreplacer)] = value
        if self.outputfieldformat and _FALCO_TEXT.search(event.output):
            self._reformat(event)
        if len(event.to_json().encode()) > _MAX_EVENT_BYTES:
            for key, value in list(fields.items()):
                if isinstance(value, str) and len(value) > _MAX_FIELD_CHARS:
                    cut = value[:_CUT_TO] + "[...]"
                    event.output = event.output.replace(value, cut)
                    fields[key] = cut

    def _reformat(self, event: SidekickEvent) -> None:
        parts = event.output.split(" ")
        if len(parts) < 3:
            return
        custom = " ".join(f"{k}={v}" for k, v in self.customfields.items())
        templated = " ".join(f"{k}={event.output_fields.get(k, '')}" for k in self.templates)
        text = (
            self.outputfieldformat.replace("<timestamp>", parts[0].removesuffix(":"))
            .replace("<priority>", event.priority_title)
            .replace("<output>", " ".join(parts[2:]))
            .replace("<custom_fields>", custom)
            .replace("<templated_fields>", templated)
            .replace("<tags>", ",".join(event.tags))
        )
        event.output = text.removesuffix(" ").removesuffix("( )").removesuffix("()").removesuffix(" ")

    @staticmethod
    def _render(key: str, template: jinja2.Template | None, context: dict[str, Any]) -> str:
        if template is None:
            return ""
        try:
            return template.render(fields=context)
        except Exception as exc:  # a user template: any failure is logged, never fatal
            log.error("templatedfields: rendering error for templated field '%s': %s", key, exc)
            return ""
