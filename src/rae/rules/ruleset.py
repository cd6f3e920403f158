"""The compiled ruleset: rules in load order, indexed by source and event type, and matching.

Per event, the candidates are the enabled rules of the event's source whose event-type set
contains the event's type, in load order (Falco's evttype index). ``rule_matching: first``
stops at the first match; ``all`` returns every match. The index is built lazily per event-type
name and bounded by the number of names seen, so rules matching "all but X" need no table of
every type. A ruleset is immutable once built: reload builds a new one and swaps it in.

Syscall events (`rae.syscall.events.SyscallEvent`) are indexed finer, by event code: a code's
table entry fixes the event's direction and (but for generic ``syscall`` events, which are
bucketed by name within their code) its type, so every ``evt.type``/``evt.dir`` check of a
condition has a known value in a code's bucket. A rule is a candidate there only if its
condition, with those values folded in, can still be true (rules pinned to exit events are not
evaluated on enter events, whether the pin is a top-level conjunct or in every branch of an
``or``), and it is called with what remains (`rae.rules.compiler.KeyedPredicate`). The result
is the same rules in the same order as evaluating every enabled rule's whole condition; other
events (no ``SyscallEvent``, other sources) use the name index.

In a bucket whose candidates share extractions, they are joined into one function per bucket
(`rae.rules.compiler.compile_bucket`): each extraction runs at most once per call, whichever
rules ask for it (libsinsp's filter cache), with the same results and error counting.
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
from rae.rules.compiler import compile_bucket, extractions, keyed_predicate
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


Pairs = tuple[tuple[CompiledRule, Callable[[Any], bool]], ...]
#: ``(evt, on_error) -> matching rules``: a bucket's candidates joined into one function
Joined = Callable[[Any, Callable[[CompiledRule, Exception], None]], list[CompiledRule]]
#: what `Ruleset.match` runs for one bucket: the candidates with the predicates to call, or the
#: function joining them (`rae.rules.compiler.compile_bucket`, extractions shared)
Bucket = tuple[Pairs, Joined | None]

#: bound on the lazily built buckets (event-type names, codes, generic-event names)
_MAX_BUCKETS = 4096


@dataclass(slots=True)
class _SourceIndex:
    rules: tuple[CompiledRule, ...]
    match_all: bool = False
    #: the event class indexed by code (`SyscallEvent` for the syscall source), else None
    event_class: type | None = None
    by_type: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)
    by_type_pairs: dict[str, Bucket] = field(default_factory=dict)
    #: code → (the EventInfo it was built for, its bucket — or, for generic events, name → bucket)
    by_code: dict[int, tuple[Any, Bucket | dict[str, Bucket]]] = field(default_factory=dict)

    def for_type(self, evtype: str) -> tuple[CompiledRule, ...]:
        got = self.by_type.get(evtype)
        if got is None:
            got = tuple(r for r in self.rules if r.evttypes.contains(evtype))
            if len(self.by_type) < _MAX_BUCKETS:
                self.by_type[evtype] = got
        return got

    def type_pairs(self, evtype: str) -> Bucket:
        """The name index: candidates with their whole conditions."""
        got = self.by_type_pairs.get(evtype)
        if got is None:
            got = _bucket(tuple((r, r.match) for r in self.for_type(evtype)), self.match_all, evtype)
            if len(self.by_type_pairs) < _MAX_BUCKETS:
                self.by_type_pairs[evtype] = got
        return got

    def key_pairs(self, evtype: str, direction: str) -> Pairs:
        """Candidates for events of this type and direction, each with the condition left once
        the conjuncts the key decides are dropped (rules whose keyed conjuncts fail are out)."""
        out: list[tuple[CompiledRule, Callable[[Any], bool]]] = []
        for r in self.rules:
            if not r.evttypes.contains(evtype):
                continue
            kp = keyed_predicate(r.match)
            if kp is None:
                out.append((r, r.match))
                continue
            pred = kp.for_key(evtype, direction)
            if pred is not None:
                out.append((r, pred))
        return tuple(out)

    def code_entry(self, evt: Any) -> tuple[Any, Bucket | dict[str, Bucket]]:
        info = evt.info
        entry: tuple[Any, Bucket | dict[str, Bucket]]
        if info.name == "syscall":  # generic: the type comes from the syscall id, per event
            entry = (info, {})
        else:
            entry = (info, _bucket(self.key_pairs(info.name, info.dir), self.match_all, info.name + info.dir))
        if evt.code not in self.by_code and len(self.by_code) < _MAX_BUCKETS:
            self.by_code[evt.code] = entry
        return entry

    def generic_pairs(self, names: dict[str, Bucket], evtype: str, direction: str) -> Bucket:
        got = _bucket(self.key_pairs(evtype, direction), self.match_all, evtype + direction)
        if len(names) < _MAX_BUCKETS:
            names[evtype] = got
        return got


def _bucket(pairs: Pairs, match_all: bool, where: str) -> Bucket:
    """Candidates joined into one function when at least two share an extraction and every
    condition was generated against one catalog (so equal keys name equal extractions); the
    plain conditions otherwise — one candidate, or nothing in common: nothing to share, and a
    joined function would cost its compile time (milliseconds) and memory for a call per rule."""
    cat: Any = None
    seen: set[str] = set()
    repeated = False
    for _, pred in pairs:
        ex = extractions(pred)
        if ex is None:
            return pairs, None
        if ex.cat is not None:
            if cat is None:
                cat = ex.cat
            elif ex.cat is not cat:
                return pairs, None
        keys = set(ex.used())
        repeated = repeated or not seen.isdisjoint(keys)
        seen |= keys
    if not repeated:
        return pairs, None
    rules = tuple(r for r, _ in pairs)
    return pairs, compile_bucket(rules, tuple(p for _, p in pairs), match_all, where)


def _code_indexed_class(source: str) -> type | None:
    if source != "syscall":
        return None
    # loading syscall rules built the syscall field catalog, which imported this module already
    from rae.syscall.events import SyscallEvent

    return SyscallEvent


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
        for old in self._index.values():
            old.by_code.clear()  # a matcher taken before holds it: it now falls back to `match`
        by_source: dict[str, list[CompiledRule]] = {}
        for r in self.rules:
            if r.enabled:
                by_source.setdefault(r.source, []).append(r)
        self._index = {
            s: _SourceIndex(tuple(rs), self.match_all, _code_indexed_class(s)) for s, rs in by_source.items()
        }
        self._matchers: dict[str, Callable[[Any], list[CompiledRule]]] = {}

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

    def candidates(self, source: str, evtype: str, direction: str | None = None) -> tuple[CompiledRule, ...]:
        """The rules evaluated for events of type ``evtype``; with ``direction`` (syscall source),
        those of the code index for events of that type and direction."""
        idx = self._index.get(source)
        if idx is None:
            return ()
        if direction is None or idx.event_class is None:
            return idx.for_type(evtype)
        return tuple(r for r, _ in idx.key_pairs(evtype, direction))

    def match(self, evt: Any, source: str) -> list[CompiledRule]:
        """The rules that match ``evt`` (at most one with ``rule_matching: first``)."""
        idx = self._index.get(source)
        if idx is None:
            return []
        if evt.__class__ is idx.event_class:
            entry = idx.by_code.get(evt.code)
            if entry is None or entry[0] is not evt.info:
                entry = idx.code_entry(evt)
            bucket = entry[1]
            if bucket.__class__ is dict:
                names: dict[str, Bucket] = bucket  # type: ignore[assignment]
                evtype = evt.evtype
                bucket = names.get(evtype)  # type: ignore[assignment]
                if bucket is None:
                    bucket = idx.generic_pairs(names, evtype, evt.info.dir)
        else:
            evtype = evt.evtype
            bucket = idx.by_type_pairs.get(evtype)  # type: ignore[assignment]
            if bucket is None:
                bucket = idx.type_pairs(evtype)
        pairs, joined = bucket  # type: ignore[misc]
        if joined is not None:
            return joined(evt, self._eval_error)  # type: ignore[no-any-return]
        return self._run(pairs, evt) if pairs else []

    def matcher(self, source: str) -> Callable[[Any], list[CompiledRule]]:
        """``lambda evt: self.match(evt, source)``, cheaper for a source's hot loop: an event whose
        code the index holds runs its bucket straight away; any other goes through `match`. One
        taken before a `select` stays right (`_reindex` empties the code table it holds, so all
        goes through `match`); take it again after a selection for the speed."""
        got = self._matchers.get(source)
        if got is not None:
            return got
        match = self.match
        idx = self._index.get(source)
        if idx is None or idx.event_class is None:

            def by_match(evt: Any) -> list[CompiledRule]:
                return match(evt, source)

            got = by_match
        else:
            by_code, cls, err, run = idx.by_code, idx.event_class, self._eval_error, self._run

            def by_code_match(evt: Any) -> list[CompiledRule]:
                if evt.__class__ is cls:  # first: another event may have no code
                    entry = by_code.get(evt.code)
                    if entry is not None and entry[0] is evt.info:
                        bucket = entry[1]
                        if bucket.__class__ is tuple:
                            pairs, joined = bucket  # type: ignore[misc]
                            if joined is not None:
                                return joined(evt, err)  # type: ignore[no-any-return]
                            return run(pairs, evt) if pairs else []
                return match(evt, source)

            got = by_code_match
        self._matchers[source] = got
        return got

    def _run(self, pairs: Pairs, evt: Any) -> list[CompiledRule]:
        if not self.match_all:
            for r, pred in pairs:
                try:
                    if pred(evt):
                        return [r]
                except Exception as exc:  # an extractor bug must not stop the engine
                    self._eval_error(r, exc)
            return []
        out: list[CompiledRule] = []
        for r, pred in pairs:
            try:
                if pred(evt):
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
