"""Collecting rules-file items across files: definition, redefinition, append, override, enable.

The collector holds lists, macros and rules in definition order with Falco's two numbers per
item: ``index`` (its position in the evaluation order, kept on redefinition) and
``visibility`` (the position of its latest definition or update, which decides what it may
reference). Nothing is compiled here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from rae import ENGINE_VERSION
from rae.fields import SOURCES, UnknownFieldError, catalog
from rae.plugins import PLUGIN_VERSIONS
from rae.priority import Priority
from rae.rules.ast import UnaryCheck
from rae.rules.compiler import CompileError, resolve_operand
from rae.rules.errors import LoadMessage, LoadResult, Location, RuleLoadException
from rae.rules.parser import LIST_OPS, OPERATORS, ConditionSyntaxError, parse_condition

__all__ = [
    "PLUGIN_VERSIONS",
    "Collector",
    "ExceptionEntry",
    "ExceptionInfo",
    "ListInfo",
    "MacroInfo",
    "RuleInfo",
    "RuleUpdate",
]

Chain = tuple[Location, ...]


_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


def _semver(text: str) -> tuple[int, int, int] | None:
    m = _SEMVER.match(text.strip())
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _fail(chain: Chain, message: str, code: str = "LOAD_ERR_VALIDATE") -> RuleLoadException:
    return RuleLoadException(code, message, chain)


@dataclass(slots=True)
class ListInfo:
    name: str
    items: list[str]
    ctx: Chain
    index: int = 0
    visibility: int = 0


@dataclass(slots=True)
class MacroInfo:
    name: str
    cond: str
    ctx: Chain
    cond_ctx: Chain
    index: int = 0
    visibility: int = 0


@dataclass(frozen=True, slots=True)
class ExceptionEntry:
    """A scalar (``item``) or a list (``items``) in an exception's fields/comps/values."""

    is_list: bool
    item: str
    items: tuple[ExceptionEntry, ...]


@dataclass(slots=True)
class ExceptionInfo:
    name: str
    fields: ExceptionEntry | None
    comps: ExceptionEntry | None
    values: list[ExceptionEntry]
    ctx: Chain


@dataclass(slots=True)
class RuleInfo:
    name: str
    cond: str
    output: str
    desc: str
    priority: Priority
    source: str
    enabled: bool
    capture: bool
    capture_duration: int
    warn_evttypes: bool
    skip_if_unknown_filter: bool
    tags: set[str]
    exceptions: list[ExceptionInfo]
    ctx: Chain
    cond_ctx: Chain
    output_ctx: Chain
    index: int = 0
    visibility: int = 0
    unknown_source: bool = False


@dataclass(slots=True)
class RuleUpdate:
    """An append or a selective replace of an existing rule (``None`` = key absent)."""

    name: str
    source: str
    ctx: Chain
    cond: str | None = None
    cond_ctx: Chain | None = None
    output: str | None = None
    output_ctx: Chain | None = None
    desc: str | None = None
    tags: list[str] | None = None
    exceptions: list[ExceptionInfo] | None = None
    priority: Priority | None = None
    capture: bool | None = None
    capture_duration: int | None = None
    enabled: bool | None = None
    warn_evttypes: bool | None = None
    skip_if_unknown_filter: bool | None = None

    def has_any_value(self) -> bool:
        return any(
            v is not None
            for v in (
                self.cond,
                self.output,
                self.desc,
                self.tags,
                self.exceptions,
                self.priority,
                self.capture,
                self.capture_duration,
                self.enabled,
                self.warn_evttypes,
                self.skip_if_unknown_filter,
            )
        )


T = TypeVar("T", ListInfo, MacroInfo, RuleInfo)


class _Indexed(Generic[T]):
    """Items by name, iterated in index order."""

    def __init__(self) -> None:
        self.by_name: dict[str, T] = {}
        self.order: list[T] = []

    def get(self, name: str) -> T | None:
        return self.by_name.get(name)

    def define(self, info: T, pos: int) -> None:
        prev = self.by_name.get(info.name)
        if prev is not None:
            info.index = prev.index
            info.visibility = pos
            self.order[self.order.index(prev)] = info
        else:
            info.index = pos
            info.visibility = pos
            self.order.append(info)
        self.by_name[info.name] = info

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


def _normalize_comp(s: str) -> str:
    return s.strip(" \t\r\n")


@dataclass
class Collector:
    """Everything read so far, across files; the enabled sources decide unknown-source rules."""

    sources: frozenset[str] = frozenset(SOURCES)
    lists: _Indexed[ListInfo] = field(default_factory=_Indexed)
    macros: _Indexed[MacroInfo] = field(default_factory=_Indexed)
    rules: _Indexed[RuleInfo] = field(default_factory=_Indexed)
    required_engine_version: tuple[int, int, int] = (0, 0, 0)
    required_plugins: list[list[tuple[str, str]]] = field(default_factory=list)
    _pos: int = 0

    def _next(self) -> int:
        p = self._pos
        self._pos += 1
        return p

    # -- versions ------------------------------------------------------------------------
    def require_engine_version(self, text: str, chain: Chain) -> None:
        t = text.strip()
        if t.isdigit():
            ver = (0, int(t), 0)
        else:
            v = _semver(t)
            if v is None:
                raise _fail(
                    chain,
                    f"Unable to parse engine version '{text}' as a semver string. Expected \"x.y.z\" semver format.",
                    "LOAD_ERR_YAML_VALIDATE",
                )
            ver = v
        if ver > ENGINE_VERSION:
            have = ".".join(map(str, ENGINE_VERSION))
            raise _fail(chain, f"Rules require engine version {t}, but engine version is {have}")
        self.required_engine_version = max(self.required_engine_version, ver)

    def require_plugin_versions(self, alternatives: list[tuple[str, str]], chain: Chain) -> None:
        seen: set[str] = set()
        for name, version in alternatives:
            if _semver(version) is None:
                raise _fail(chain, f"Invalid required version '{version}' for plugin '{name}'")
            if name in seen:
                raise _fail(chain, f"Defined multiple alternative version requirements for plugin '{name}'")
            seen.add(name)
        self.required_plugins.append(alternatives)

    # -- lists and macros --------------------------------------------------------------------
    def define_list(self, info: ListInfo) -> None:
        self.lists.define(info, self._next())

    def append_list(self, info: ListInfo, *, legacy: bool) -> None:
        prev = self.lists.get(info.name)
        if prev is None:
            raise _fail(
                info.ctx,
                "List has 'append' key but no list by that name already exists"
                if legacy
                else "List uses 'append' or 'override.items: append' but no list by that name already exists",
            )
        prev.items.extend(info.items)
        prev.visibility = self._next()

    def define_macro(self, info: MacroInfo) -> None:
        self.macros.define(info, self._next())

    def append_macro(self, info: MacroInfo, *, legacy: bool) -> None:
        prev = self.macros.get(info.name)
        if prev is None:
            raise _fail(
                info.ctx,
                "Macro has 'append' key but no macro by that name already exists"
                if legacy
                else "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists",
            )
        prev.cond = f"{prev.cond} {info.cond}"
        prev.visibility = self._next()

    # -- rules ---------------------------------------------------------------------------------
    def _find_prev_rule(self, name: str, source: str, chain: Chain) -> RuleInfo | None:
        prev = self.rules.get(name)
        if prev is not None and prev.source and source and prev.source != source:
            raise _fail(chain, "Rule has been re-defined with a different source")
        return prev

    def define_rule(self, info: RuleInfo, result: LoadResult) -> None:
        self._find_prev_rule(info.name, info.source, info.ctx)
        if info.source not in self.sources:
            info.unknown_source = True
            result.add(LoadMessage("LOAD_UNKNOWN_SOURCE", f"Unknown source {info.source}, skipping", info.ctx))
        for ex in info.exceptions:
            if ex.fields is None:
                raise _fail(ex.ctx, "Rule exception item must have fields property with a list of fields")
            self._validate_exception(None if info.unknown_source else info.source, ex)
        self.rules.define(info, self._next())

    def append_rule(self, upd: RuleUpdate, *, legacy: bool) -> None:
        prev = self._find_prev_rule(upd.name, upd.source, upd.ctx)
        if prev is None:
            raise _fail(
                upd.ctx,
                "Rule has 'append' key but no rule by that name already exists"
                if legacy
                else "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists",
            )
        if not upd.has_any_value():
            raise _fail(upd.ctx, "Appended rule must have exceptions or condition property")
        source = None if prev.unknown_source else prev.source
        if upd.cond:
            prev.cond = f"{prev.cond} {upd.cond}"
        if upd.output:
            prev.output = f"{prev.output} {upd.output}"
        if upd.desc:
            prev.desc = f"{prev.desc} {upd.desc}"
        if upd.tags is not None:
            prev.tags.update(upd.tags)
        for ex in upd.exceptions or ():
            same = next((e for e in prev.exceptions if e.name == ex.name), None)
            if same is None:
                if ex.fields is None:
                    raise _fail(ex.ctx, "Rule exception must have fields property with a list of fields")
                if not ex.values:
                    raise _fail(ex.ctx, "Rule exception must have values property with a list of values")
                self._validate_exception(source, ex)
                prev.exceptions.append(ex)
            else:
                if ex.fields is not None:
                    raise _fail(ex.ctx, "Can not append exception fields to existing exception, only values")
                if ex.comps is not None:
                    raise _fail(ex.ctx, "Can not append exception comps to existing exception, only values")
                same.values.extend(ex.values)
        prev.visibility = self._next()

    def replace_rule(self, upd: RuleUpdate) -> None:
        prev = self._find_prev_rule(upd.name, upd.source, upd.ctx)
        if prev is None:
            raise _fail(
                upd.ctx,
                "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists",
            )
        if not upd.has_any_value():
            raise _fail(upd.ctx, "The rule must have at least one field that can be replaced")
        source = None if prev.unknown_source else prev.source
        if upd.cond is not None:
            prev.cond = upd.cond
            if upd.cond_ctx is not None:
                prev.cond_ctx = upd.cond_ctx
        if upd.output is not None:
            prev.output = upd.output.strip()
            if upd.output_ctx is not None:
                prev.output_ctx = upd.output_ctx
        if upd.desc is not None:
            prev.desc = upd.desc
        if upd.tags is not None:
            prev.tags = set(upd.tags)
        if upd.exceptions is not None:
            for ex in upd.exceptions:
                if ex.fields is None:
                    raise _fail(ex.ctx, "Rule exception item must have fields property with a list of fields")
                self._validate_exception(source, ex)
            prev.exceptions = upd.exceptions
        if upd.priority is not None:
            prev.priority = upd.priority
        if upd.capture is not None:
            prev.capture = upd.capture
        if upd.capture_duration is not None:
            prev.capture_duration = upd.capture_duration
        if upd.enabled is not None:
            prev.enabled = upd.enabled
        if upd.warn_evttypes is not None:
            prev.warn_evttypes = upd.warn_evttypes
        if upd.skip_if_unknown_filter is not None:
            prev.skip_if_unknown_filter = upd.skip_if_unknown_filter
        prev.visibility = self._next()

    def enable_rule(self, name: str, enabled: bool, chain: Chain) -> None:
        prev = self.rules.get(name)
        if prev is None:
            raise _fail(chain, "Rule has 'enabled' key but no rule by that name already exists")
        prev.enabled = enabled

    # -- exceptions -------------------------------------------------------------------------
    def _valid_field(self, source: str, name: str) -> bool:
        cat = catalog(source)
        if "(" in name:
            # a field inside transformers (Falco 0.44): valid when "<it> exists" compiles, the
            # check Falco makes; parsing and resolving the operand is that check (the rule's
            # condition compiles it later, so nothing is generated here)
            try:
                tree = parse_condition(f"{name} exists")
                if not isinstance(tree, UnaryCheck):
                    return False
                resolve_operand(tree.left, cat)
            except (ConditionSyntaxError, CompileError):
                return False
            return True
        m = re.fullmatch(r"([^\[\]]+)(?:\[(.*)\])?", name.strip())
        if m is None:
            return False
        try:
            cat.resolve(m.group(1), m.group(2))
        except UnknownFieldError:
            return False
        return True

    def _validate_exception(self, source: str | None, ex: ExceptionInfo) -> None:
        assert ex.fields is not None
        if ex.fields.is_list:
            if ex.comps is None:
                ex.comps = ExceptionEntry(True, "", tuple(ExceptionEntry(False, "=", ()) for _ in ex.fields.items))
            if not ex.comps.is_list or len(ex.fields.items) != len(ex.comps.items):
                raise _fail(ex.ctx, "Fields and comps lists must have equal length")
            comps = tuple(ExceptionEntry(False, _normalize_comp(c.item), ()) for c in ex.comps.items)
            ex.comps = ExceptionEntry(True, "", comps)
            for c in comps:
                if c.item not in OPERATORS:
                    raise _fail(ex.ctx, f"'{c.item}' is not a supported comparison operator")
            if source is not None:
                for f in ex.fields.items:
                    if not self._valid_field(source, f.item):
                        raise _fail(ex.ctx, f"'{f.item}' is not a supported filter field")
        else:
            if ex.comps is None:
                ex.comps = ExceptionEntry(False, "in", ())
            if ex.comps.is_list:
                raise _fail(ex.ctx, "Fields and comps must both be strings")
            ex.comps = ExceptionEntry(False, _normalize_comp(ex.comps.item), ())
            if ex.comps.item not in LIST_OPS:
                raise _fail(
                    ex.ctx,
                    "When fields is a single value, comps must be one of (in, pmatch, intersects)",
                )
            if source is not None and not self._valid_field(source, ex.fields.item):
                raise _fail(ex.ctx, f"'{ex.fields.item}' is not a supported filter field")
