"""The alert: what a matching rule produces, and its Falco text and JSON forms.

Both forms are byte-compatible with Falco: the text line is ``<time>: <Priority> <output>``
and the JSON object has sorted keys, no spaces, and ``, "output_fields": {…}`` spliced in
before the closing brace, as Falco ≤ 0.38 wrote it (the golden files of Falco's regression
suite are compared byte for byte).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from rae.priority import Priority

__all__ = ["Alert", "format_time_iso8601", "format_time_local", "format_time_rfc3339"]


def format_time_rfc3339(ts_ns: int) -> str:
    """``2016-08-04T16:17:57.881781397Z`` (UTC, nanoseconds): the JSON ``time`` key."""
    secs, ns = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ns:09d}Z"


def format_time_iso8601(ts_ns: int) -> str:
    """``2016-08-04T16:17:57.881781397+0000``: ``%evt.time.iso8601`` (UTC, as libsinsp)."""
    secs, ns = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ns:09d}+0000"


def format_time_local(ts_ns: int) -> str:
    """``16:17:57.881781397`` in local time: ``%evt.time``."""
    secs, ns = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.localtime(secs)) + f".{ns:09d}"


@dataclass(slots=True)
class Alert:
    """One rule match. ``output`` is the rendered rule output, without time and priority."""

    time_ns: int
    rule: str
    priority: Priority
    source: str
    output: str
    output_fields: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    hostname: str = ""
    iso8601: bool = False  # whether the text prefix uses evt.time.iso8601

    def time_prefix(self) -> str:
        return format_time_iso8601(self.time_ns) if self.iso8601 else format_time_local(self.time_ns)

    def text_line(self) -> str:
        """Falco's text form: ``<time>: <Priority> <output>``."""
        return f"{self.time_prefix()}: {self.priority.title} {self.output}"

    def to_dict(
        self,
        *,
        include_output: bool = True,
        include_tags: bool = True,
        include_message: bool = False,
        include_output_fields: bool = True,
    ) -> dict[str, Any]:
        """The JSON object as a dict (sidekick's input schema)."""
        d: dict[str, Any] = {"hostname": self.hostname}
        if include_output:
            d["output"] = self.text_line()
        d["priority"] = self.priority.title
        d["rule"] = self.rule
        d["source"] = self.source
        if include_tags:
            d["tags"] = list(self.tags)
        d["time"] = format_time_rfc3339(self.time_ns)
        if include_message:
            d["message"] = self.output
        if include_output_fields:
            d["output_fields"] = self.all_output_fields()
        return d

    def all_output_fields(self) -> dict[str, Any]:
        """``output_fields`` plus the time field of the text prefix, as Falco adds it to rule alerts
        (internal alerts, such as syscall drops, carry only their own fields)."""
        if self.source == "internal":
            return dict(self.output_fields)
        key = "evt.time.iso8601" if self.iso8601 else "evt.time"
        fields = {key: self.time_ns}
        fields.update(self.output_fields)
        return fields

    def to_json(
        self,
        *,
        include_output: bool = True,
        include_tags: bool = True,
        include_message: bool = False,
        include_output_fields: bool = True,
    ) -> str:
        """One JSON line, laid out byte for byte as Falco writes it."""
        base = self.to_dict(
            include_output=include_output,
            include_tags=include_tags,
            include_message=include_message,
            include_output_fields=False,
        )
        text = json.dumps(base, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if not include_output_fields:
            return text
        fields = json.dumps(self.all_output_fields(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return f'{text[:-1]}, "output_fields": {fields}}}'
