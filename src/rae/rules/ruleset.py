"""The compiled ruleset: rules in load order, indexed by source and event type, and matching.

Per event, the candidates are the enabled rules of the event's source whose event-type set
contains the event's type, in load order (Falco's evttype index). ``rule_matching: first``
stops at the first match; ``all`` returns every match. The index is built lazily per event-type
name and bounded by the number of names seen, so rules matching "all but X" need no table of
every type. A ruleset is immutable once built: reload builds a new one and swaps it in.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rae.alerts import Alert
from rae.priority import Priority
from rae.rules.errors import LoadResult
from rae.rules.evttypes import TypeSet
from rae.rules.formatter import OutputFormat

__all__ = ["CompiledRule", "Ruleset"]

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class CompiledRule:
    name: str
    desc: str
    priority: Priority
    source: str
    tags: tuple[str, ...]
    condition: str  # after exceptions, before list/macro expansion
    match: Callable[[Any], bool]
    evttypes: TypeSet
    output: OutputFormat
    index: int
    enabled: bool = True
    errors: int = 0  # evaluation errors (extractor bugs), counted, never raised

    def make_alert(self, evt: Any, *, hostname: str = "", iso8601: bool = False) -> Alert:
        text, fields = self.output.render(evt)
        return Alert(
            time_ns=int(getattr(evt, "ts", 0) or 0),
            rule=self.name,
            priority=self.priority,
            source=self.source,
            output=text,
            output_fields=fields,
            tags=self.tags,
            hostname=hostname,
            iso8601=iso8601,
        )


@dataclass(slots=True)
class _SourceIndex:
    rules: tuple[CompiledRule, ...]
    by_type: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)

    def for_type(self, evtype: str) -> tuple[CompiledRule, ...]:
        got = self.by_type.get(evtype)
        if got is None:
            got = tuple(r for r in self.rules if r.evttypes.contains(evtype))
            if len(self.by_type) < 4096:
                self.by_type[evtype] = got
        return got


class Ruleset:
    """Loaded rules; `match` is the hot path."""

    def __init__(
        self,
        rules: list[CompiledRule],
        results: list[LoadResult],
        *,
        rule_matching: str = "first",
        content_digest: str = "",
        required_engine_version: tuple[int, int, int] = (0, 0, 0),
        required_plugins: list[list[tuple[str, str]]] | None = None,
    ) -> None:
        self.rules = rules
        self.results = results
        self.match_all = rule_matching == "all"
        self.checksum = content_digest or hashlib.sha256(
            "\n".join(f"{r.name}\0{r.condition}\0{r.output.text}" for r in rules).encode()
        ).hexdigest()
        self.required_engine_version = required_engine_version
        self.required_plugins = required_plugins or []
        self.eval_errors = 0
        self._index: dict[str, _SourceIndex] = {}
        self._reindex()

    def _reindex(self) -> None:
        by_source: dict[str, list[CompiledRule]] = {}
        for r in self.rules:
            if r.enabled:
                by_source.setdefault(r.source, []).append(r)
        self._index = {s: _SourceIndex(tuple(rs)) for s, rs in by_source.items()}

    @property
    def warnings(self) -> list[Any]:
        return [w for r in self.results for w in r.warnings]

    @property
    def enabled_rules(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.enabled]

    def sources(self) -> set[str]:
        return set(self._index)

    def event_types(self, source: str = "syscall") -> TypeSet:
        """The union of the enabled rules' event types (for syscall selection)."""
        out = TypeSet(frozenset(), False)
        idx = self._index.get(source)
        for r in idx.rules if idx else ():
            out = out.union(r.evttypes)
        return out

    def candidates(self, source: str, evtype: str) -> tuple[CompiledRule, ...]:
        idx = self._index.get(source)
        return idx.for_type(evtype) if idx is not None else ()

    def match(self, evt: Any, source: str) -> list[CompiledRule]:
        """The rules that match ``evt`` (at most one with ``rule_matching: first``)."""
        idx = self._index.get(source)
        if idx is None:
            return []
        rules = idx.by_type.get(evt.evtype)
        if rules is None:
            rules = idx.for_type(evt.evtype)
        if not self.match_all:
            for r in rules:
                try:
                    if r.match(evt):
                        return [r]
                except Exception as exc:  # an extractor bug must not stop the engine
                    self._eval_error(r, exc)
            return []
        out: list[CompiledRule] = []
        for r in rules:
            try:
                if r.match(evt):
                    out.append(r)
            except Exception as exc:
                self._eval_error(r, exc)
        return out

    def _eval_error(self, r: CompiledRule, exc: Exception) -> None:
        r.errors += 1
        self.eval_errors += 1
        if r.errors == 1:
            log.warning("rule %r: evaluation error %s: %s (counted, rule kept)", r.name, type(exc).__name__, exc)

    def select(
        self,
        *,
        disabled_substrings: Iterable[str] = (),
        run_tags: Iterable[str] = (),
        skip_tags: Iterable[str] = (),
        selection: Iterable[dict[str, Any]] = (),
    ) -> None:
        """Apply command-line and config rule selection (-D, -t, -T, falco.yaml ``rules:``)."""
        subs = [s for s in disabled_substrings if s]
        run = set(run_tags)
        skip = set(skip_tags)
        for r in self.rules:
            if any(s in r.name for s in subs):
                r.enabled = False
            if skip and skip.intersection(r.tags):
                r.enabled = False
        if run:
            for r in self.rules:
                r.enabled = bool(run.intersection(r.tags))
        for entry in selection:
            for action, what in entry.items():
                if action not in ("enable", "disable") or not isinstance(what, dict):
                    continue
                on = action == "enable"
                pat_rule = what.get("rule")
                tag = what.get("tag")
                for r in self.rules:
                    by_name = pat_rule is not None and fnmatch.fnmatchcase(r.name, str(pat_rule))
                    if by_name or (tag is not None and str(tag) in r.tags):
                        r.enabled = on
        self._reindex()

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "name": r.name,
                "desc": r.desc,
                "priority": r.priority.title,
                "source": r.source,
                "tags": list(r.tags),
                "enabled": r.enabled,
                "condition": r.condition,
                "output": r.output.text,
                "evttypes": "all" if r.evttypes.negated else sorted(r.evttypes.names),
            }
            for r in self.rules
        ]
