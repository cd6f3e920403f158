"""Kubernetes audit events: the event object and the decoding of audit payloads.

A payload (a webhook body, one line of an audit log) is an ``audit.k8s.io`` ``Event``, an
``EventList`` (its ``items``), or a JSON array of those, as the k8saudit plugin accepts. The
payload as a whole is refused when it is not JSON or not recognisably audit data; single events
are refused (and the others kept) when they have no usable ``stageTimestamp`` or are larger than
``maxEventSize`` once re-encoded compactly — again as the plugin does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rae.k8s_audit import jsontext

__all__ = [
    "MAX_EVENT_SIZE",
    "SOURCE",
    "WEBHOOK_MAX_BATCH_SIZE",
    "AuditEvent",
    "EventProblem",
    "PayloadError",
    "decode_payload",
    "decode_value",
    "parse_rfc3339_ns",
]

SOURCE = "k8s_audit"
#: the plugin's ``maxEventSize`` default (bytes of one event, compact JSON)
MAX_EVENT_SIZE = 262144
#: the plugin's ``webhookMaxBatchSize`` default (bytes of one webhook body)
WEBHOOK_MAX_BATCH_SIZE = 12 * 1024 * 1024

NOT_RECOGNIZED = "data not recognized as a k8s audit event"


class AuditEvent:
    """One audit event: the parsed JSON object, its time (``stageTimestamp``) and number.

    ``t0`` is the time of the first event of its stream (for ``evt.reltime``). ``_compact``,
    ``_query`` and ``memo`` cache the compact JSON text, the parsed request-URI query and
    extracted field values.
    """

    __slots__ = ("_compact", "_query", "memo", "num", "obj", "t0", "ts")

    source = SOURCE

    def __init__(self, obj: dict[str, Any], ts: int, num: int = 0, t0: int | None = None) -> None:
        self.obj = obj
        self.ts = ts
        self.num = num
        self.t0 = ts if t0 is None else t0
        self._compact: str | None = None
        self._query: Any = None
        #: field values already extracted (fields read by many rules are extracted once)
        self.memo: dict[str, Any] = {}

    @property
    def evtype(self) -> str:
        """What the ruleset indexes audit rules on: the value ``ka.verb`` extracts ("" for none)."""
        obj = self.obj
        if "auditID" not in obj:
            return ""
        if "verb" not in obj:
            return ""
        v = obj["verb"]
        return v if type(v) is str else jsontext.compact(v)

    @property
    def raw(self) -> str:
        """The event as compact JSON text (what the plugin stores as the event's data)."""
        text = self._compact
        if text is None:
            text = self._compact = jsontext.compact(self.obj)
        return text

    def __repr__(self) -> str:
        return f"AuditEvent(num={self.num}, ts={self.ts}, auditID={self.obj.get('auditID')!r})"


class PayloadError(ValueError):
    """The whole payload is refused. ``reason`` is a short metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EventProblem:
    """One event of a payload that was dropped: why (metric label, message) and its position."""

    reason: str  # "no_timestamp" | "bad_timestamp" | "too_large"
    message: str
    index: int


_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:(Z)|([+-])(\d\d):(\d\d))\Z"
)
_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (Go's ``time.RFC3339Nano`` parse)."""
    m = _RFC3339.match(text)
    if m is None:
        raise ValueError(f"cannot parse {text!r} as RFC 3339 time")
    year, month, day, hour, minute, sec = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    try:
        date = datetime(year, month, day, hour, minute, sec)
    except ValueError as exc:
        raise ValueError(f"cannot parse {text!r} as RFC 3339 time: {exc}") from None
    frac = m.group(7) or ""
    nanos = int((frac + "000000000")[:9])
    secs = (date.toordinal() - _EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60 + sec
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        secs += -offset if m.group(9) == "+" else offset
    return secs * 1_000_000_000 + nanos


def _single(
    item: Any,
    index: int,
    max_event_size: int,
    check_size: bool,
    out: list[AuditEvent],
    problems: list[EventProblem],
) -> None:
    stamp = item.get("stageTimestamp") if isinstance(item, dict) else None
    if stamp is None:
        problems.append(EventProblem("no_timestamp", "can't read stageTimestamp", index))
        return
    try:
        ts = parse_rfc3339_ns(stamp if isinstance(stamp, str) else "")
    except ValueError as exc:
        problems.append(EventProblem("bad_timestamp", str(exc), index))
        return
    event = AuditEvent(item, ts)
    if check_size:
        size = jsontext.estimate_size(item)
        if size > max_event_size * 0.99:
            event._compact = jsontext.compact(item)
            size = len(event._compact.encode("utf-8"))
        if size > max_event_size:
            problems.append(EventProblem("too_large", f"event larger than maxEventSize: size={size}", index))
            return
    out.append(event)


def _collect(
    value: Any, max_event_size: int, check_size: bool, out: list[AuditEvent], problems: list[EventProblem]
) -> None:
    if isinstance(value, list):
        for item in value:
            _collect(item, max_event_size, check_size, out, problems)
        return
    kind = value.get("kind") if isinstance(value, dict) else None
    if kind == "EventList":
        items = value.get("items")
        if isinstance(items, list):
            base = len(out) + len(problems)
            for i, item in enumerate(items):
                _single(item, base + i, max_event_size, check_size, out, problems)
            return
    elif kind == "Event":
        _single(value, len(out) + len(problems), max_event_size, check_size, out, problems)
        return
    raise PayloadError("not_audit", NOT_RECOGNIZED)


def decode_value(
    value: Any, *, max_event_size: int = MAX_EVENT_SIZE, size_hint: int | None = None
) -> tuple[list[AuditEvent], list[EventProblem]]:
    """The events of a parsed payload, and the events dropped with their reasons.

    ``size_hint`` is the payload's size in bytes. The compact form of an event is never longer
    than its source text (whitespace goes, escapes only shrink or stay), so when the whole
    payload fits in ``max_event_size`` the per-event size check is skipped.
    """
    check_size = size_hint is None or size_hint > max_event_size
    events: list[AuditEvent] = []
    problems: list[EventProblem] = []
    _collect(value, max_event_size, check_size, events, problems)
    return events, problems


def decode_payload(
    data: bytes | str, *, max_event_size: int = MAX_EVENT_SIZE
) -> tuple[list[AuditEvent], list[EventProblem]]:
    """Decode one payload; raises `PayloadError` when it is not JSON or not audit data."""
    try:
        value = jsontext.loads(data)
    except UnicodeDecodeError as exc:
        raise PayloadError("invalid_json", f"invalid JSON: not UTF-8 text ({exc.reason})") from None
    except ValueError as exc:
        raise PayloadError("invalid_json", f"invalid JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("invalid_json", "invalid JSON: nested too deeply") from None
    return decode_value(value, max_event_size=max_event_size, size_hint=len(data))
