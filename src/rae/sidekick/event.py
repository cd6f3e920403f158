"""The event sidekick receives and forwards: Falco's JSON alert, decoded as falcosidekick 2.30 does.

The input schema is falcosidekick's ``types.FalcoPayload`` (``output, priority, rule, time,
output_fields, source, tags, hostname``, plus the ``uuid`` sidekick assigns). Decoding follows
its rules: unknown keys are ignored, a wrong JSON type is an error, and :meth:`SidekickEvent.check`
is its ``Check()``: a known priority, a rule, a non-zero time and at least one output field.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field
from typing import Any

from rae.priority import Priority

__all__ = [
    "TEST_RULE",
    "EventDecodeError",
    "SidekickEvent",
    "format_go_time",
    "go_json",
    "parse_go_priority",
    "parse_rfc3339_ns",
]

#: falcosidekick's synthetic rule: bypasses every output's minimumpriority, source ``internal``.
TEST_RULE = "Test rule"

# falcosidekick's own priority names (types/priority.go); anything else decodes to "unset".
_SIDEKICK_PRIORITIES = {
    "emergency": Priority.EMERGENCY,
    "alert": Priority.ALERT,
    "critical": Priority.CRITICAL,
    "error": Priority.ERROR,
    "warning": Priority.WARNING,
    "notice": Priority.NOTICE,
    "informational": Priority.INFORMATIONAL,
    "info": Priority.INFORMATIONAL,
    "debug": Priority.DEBUG,
}

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)


class EventDecodeError(ValueError):
    """The body is not a FalcoPayload (bad JSON or a wrong type): sidekick answers 400."""


def parse_go_priority(value: object) -> Priority | None:
    """Case-insensitive, with ``info``; unknown or empty → None (falcosidekick's ``Default``)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise EventDecodeError("priority must be a string")
    return _SIDEKICK_PRIORITIES.get(value.lower())


def parse_rfc3339_ns(text: str) -> int:
    """RFC 3339 with up to nanoseconds, as Go's ``time.Time`` JSON decoding accepts; → UTC epoch ns."""
    m = _RFC3339.match(text)
    if not m:
        raise EventDecodeError(f"invalid time {text!r}")
    year, month, day, hh, mm, ss = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hh < 24 and mm < 60 and ss < 60):
        raise EventDecodeError(f"invalid time {text!r}")
    frac = (m.group(7) or "").ljust(9, "0")
    secs = calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0))
    if m.group(9):
        offset = (int(m.group(10)) * 60 + int(m.group(11))) * 60
        secs -= offset if m.group(9) == "+" else -offset
    return secs * 1_000_000_000 + int(frac or "0")


def format_go_time(ts_ns: int) -> str:
    """Go's RFC3339Nano in UTC: fractional seconds with trailing zeros trimmed."""
    import time as _time

    secs, ns = divmod(ts_ns, 1_000_000_000)
    base = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(secs))
    if ns:
        base += "." + f"{ns:09d}".rstrip("0")
    return base + "Z"


def go_json(obj: Any) -> str:
    """``json.Marshal`` layout: compact, ``<>&`` and U+2028/9 escaped (keys in the order given)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


@dataclass(slots=True)
class SidekickEvent:
    """One alert on its way through sidekick. ``priority`` None means falcosidekick's "unset"."""

    output: str
    priority: Priority | None
    rule: str
    time_ns: int
    output_fields: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    tags: list[str] = field(default_factory=list)
    hostname: str = ""
    uuid: str = ""

    @classmethod
    def from_json(cls, body: bytes | str) -> SidekickEvent:
        """Decode one FalcoPayload (the first JSON value; trailing bytes are ignored, as Go's Decoder)."""
        try:
            text = body.decode("utf-8") if isinstance(body, bytes) else body
            obj, _end = json.JSONDecoder().raw_decode(text.lstrip())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EventDecodeError(str(exc)) from None
        if not isinstance(obj, dict):
            raise EventDecodeError("the body is not a JSON object")
        return cls.from_dict(obj)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> SidekickEvent:
        def text(key: str) -> str:
            value = obj.get(key)
            if value is None:
                return ""
            if not isinstance(value, str):
                raise EventDecodeError(f"{key} must be a string")
            return value

        raw_time = obj.get("time")
        time_ns = 0
        if raw_time is not None:
            if not isinstance(raw_time, str):
                raise EventDecodeError("time must be a string")
            time_ns = parse_rfc3339_ns(raw_time)
        fields = obj.get("output_fields")
        if fields is None:
            fields = {}
        if not isinstance(fields, dict):
            raise EventDecodeError("output_fields must be an object")
        tags = obj.get("tags")
        if tags is None:
            tags = []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise EventDecodeError("tags must be a list of strings")
        return cls(
            output=text("output"),
            priority=parse_go_priority(obj.get("priority")),
            rule=text("rule"),
            time_ns=time_ns,
            output_fields=dict(fields),
            source=text("source"),
            tags=list(tags),
            hostname=text("hostname"),
            uuid=text("uuid"),
        )

    def check(self) -> bool:
        """falcosidekick's ``Check()``: what makes a decoded body acceptable."""
        return self.priority is not None and bool(self.rule) and self.time_ns != 0 and bool(self.output_fields)

    @property
    def priority_title(self) -> str:
        """``Warning``; empty when unset (falcosidekick's ``Priority.String()``)."""
        return self.priority.title if self.priority is not None else ""

    @property
    def priority_number(self) -> int:
        """falcosidekick's numbering: 0 unset, Debug = 1 … Emergency = 8."""
        return self.priority.sidekick_number if self.priority is not None else 0

    @property
    def time_text(self) -> str:
        return format_go_time(self.time_ns)

    def string_fields(self) -> dict[str, str]:
        """The output fields whose values are strings, sorted by key (what chat outputs show)."""
        return {k: v for k, v in sorted(self.output_fields.items()) if isinstance(v, str)}

    def to_dict(self) -> dict[str, Any]:
        """The JSON object sidekick forwards, in falcosidekick's field order (uuid, tags, hostname omitempty)."""
        d: dict[str, Any] = {}
        if self.uuid:
            d["uuid"] = self.uuid
        d["output"] = self.output
        d["priority"] = self.priority_title
        d["rule"] = self.rule
        d["time"] = self.time_text
        d["output_fields"] = dict(sorted(self.output_fields.items())) if self.output_fields else None
        d["source"] = self.source
        if self.tags:
            d["tags"] = list(self.tags)
        if self.hostname:
            d["hostname"] = self.hostname
        return d

    def to_json(self) -> str:
        """One line, as falcosidekick's ``FalcoPayload.String()`` marshals it."""
        return go_json(self.to_dict())

    def copy(self) -> SidekickEvent:
        """A copy whose fields and tags an output may change without touching the others' view."""
        return SidekickEvent(
            output=self.output,
            priority=self.priority,
            rule=self.rule,
            time_ns=self.time_ns,
            output_fields=dict(self.output_fields),
            source=self.source,
            tags=list(self.tags),
            hostname=self.hostname,
            uuid=self.uuid,
        )
