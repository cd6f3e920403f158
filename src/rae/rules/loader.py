"""Rules files → a compiled `Ruleset`: read, collect, then compile lists, macros and rules.

The compile step follows Falco's: lists are expanded one level by earlier lists; conditions get
list names substituted *textually* (a name delimited by blanks, ``(``, ``)``, ``,`` or ``=``);
macros are parsed once and expanded in the tree, each macro seeing only macros defined before
its latest definition, rules seeing all; loops and undefined macros are errors; exceptions are
turned into ``and not (…)`` text before any of that. The first error stops loading, as in Falco;
warnings accumulate.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rae.fields import catalog
from rae.priority import Priority
from rae.rules.ast import (
    And,
    BinaryCheck,
    Expr,
    Identifier,
    ListValue,
    Not,
    Or,
    Pos,
    UnaryCheck,
    Value,
)
from rae.rules.collector import Collector, ExceptionInfo, RuleInfo
from rae.rules.compiler import CompileError, compile_condition
from rae.rules.errors import LoadMessage, LoadResult, Location, RuleLoadException, RulesLoadError
from rae.rules.evttypes import ALL, event_types
from rae.rules.formatter import FormatError, OutputFormat
from rae.rules.parser import LIST_OPS, ConditionSyntaxError, parse_condition
from rae.rules.reader import read_rules_content
from rae.rules.ruleset import CompiledRule, Ruleset

__all__ = ["INDEX_FIELDS", "LoadOptions", "expand_paths", "load_rules", "load_rules_results"]

#: per source, the field whose value events are indexed on (an event's ``evtype`` is that
#: field's value): syscall rules by event type, audit rules by verb, as most of them pin one
INDEX_FIELDS = {"syscall": "evt.type", "k8s_audit": "ka.verb"}

Chain = tuple[Location, ...]


@dataclass
class LoadOptions:
    """How to load: priority floor, selection, matching mode and the enabled sources."""

    min_priority: Priority = Priority.DEBUG
    disabled_substrings: Sequence[str] = ()
    run_tags: Sequence[str] = ()
    skip_tags: Sequence[str] = ()
    selection: Sequence[dict[str, Any]] = ()
    rule_matching: str = "first"
    sources: frozenset[str] | None = None
    #: compile after every file (``rae validate``: each file gets its own result)
    per_file_compile: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files as given; a directory → its ``*.yaml``/``*.yml`` regular files sorted by path."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            names = sorted(os.path.join(p, n) for n in os.listdir(p))
            out.extend(n for n in names if os.path.isfile(n) and n.endswith((".yaml", ".yml")))
        else:
            out.append(p)
    return out


# -- condition text helpers -------------------------------------------------------------------

_BLANKS = " \t\n\r"
#: what a list name can be in condition text (delimited by blanks, parentheses, commas, '=')
_TOKEN = re.compile(r"[^\s(),=]+")
_DELIMS = _BLANKS + "(),="


def _quote_item(e: str) -> str:
    if " " in e and e[:1] not in ('"', "'"):
        return f'"{e}"'
    return e


def _paren_item(e: str) -> str:
    return e if e.startswith("(") else f"({e})"


def resolve_list(cond: str, name: str, items: list[str]) -> tuple[str, bool]:
    """Substitute one list name in condition text, as Falco does (delimited occurrences only)."""
    used = False
    start = cond.find(name)
    while start != -1:
        end = start + len(name)
        if (start == 0 or cond[start - 1] in _DELIMS) and (end >= len(cond) or cond[end] in _DELIMS):
            while start > 0 and cond[start - 1] in _BLANKS:
                start -= 1
            while end < len(cond) and cond[end] in _BLANKS:
                end += 1
            sub = ", ".join(_quote_item(v) for v in items)
            if not sub:
                if start > 0 and cond[start - 1] == ",":
                    start -= 1
                elif end < len(cond) and cond[end] == ",":
                    end += 1
            new = ""
            if start > 0:
                new += cond[:start] + " "
            new += sub + " "
            new += cond[end:]
            cond = new
            start += len(sub) + 1
            used = True
        start = cond.find(name, start + 1)
    return cond, used


def build_exceptions(cond: str, exceptions: list[ExceptionInfo]) -> str:
    """Append one ``and not (…)`` clause per exception with values (before list expansion)."""
    cond = f"({cond})"
    for ex in exceptions:
        assert ex.fields is not None and ex.comps is not None
        if not ex.fields.is_list:
            parts: list[str] = []
            for val in ex.values:
                if val.is_list:
                    raise RuleLoadException(
                        "LOAD_ERR_VALIDATE", "Expected values array to contain a list of strings", ex.ctx
                    )
                parts.append(_quote_item(val.item))
            icond = f"({ex.fields.item} {ex.comps.item} ({', '.join(parts)}))" if parts else ""
        else:
            conj: list[str] = []
            for values in ex.values:
                if len(ex.fields.items) != len(values.items):
                    raise RuleLoadException(
                        "LOAD_ERR_VALIDATE", "Fields and values lists must have equal length", ex.ctx
                    )
                terms: list[str] = []
                for k, f in enumerate(ex.fields.items):
                    v = values.items[k]
                    comp = ex.comps.items[k].item
                    if v.is_list:
                        istr = "(" + ", ".join(_quote_item(x.item) for x in v.items) + ")"
                    elif comp in LIST_OPS:
                        istr = _paren_item(v.item)
                    else:
                        istr = _quote_item(v.item)
                    terms.append(f" {f.item} {comp} {istr}")
                conj.append("(" + " and ".join(terms) + ")")
            icond = "(" + " or ".join(conj) + ")" if conj else ""
        if icond:
            cond += " and not " + icond
    return cond


# -- macro resolution -----------------------------------------------------------------------------


class _MacroError(Exception):
    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class _Visible:
    """The macros a macro may use: those whose index is below its visibility."""

    __slots__ = ("current", "index", "visibility")

    def __init__(self, current: dict[str, Expr], index: dict[str, int], visibility: int) -> None:
        self.current = current
        self.index = index
        self.visibility = visibility

    def get(self, name: str) -> Expr | None:
        i = self.index.get(name)
        if i is None or i >= self.visibility:
            return None
        return self.current[name]


def _expand(e: Expr, macros: dict[str, Expr] | _Visible, path: list[str], used: set[str]) -> Expr:
    match e:
        case And(children, pos):
            return And(tuple(_expand(c, macros, path, used) for c in children), pos)
        case Or(children, pos):
            return Or(tuple(_expand(c, macros, path, used) for c in children), pos)
        case Not(child, pos):
            return Not(_expand(child, macros, path, used), pos)
        case Identifier(name, pos):
            body = macros.get(name)
            if body is None:
                raise _MacroError(f"Undefined macro '{name}' used in filter.", pos)
            if name in path:
                raise _MacroError(f"reference loop in macro '{name}'", pos)
            path.append(name)
            out = _expand(body, macros, path, used)
            path.pop()
            used.add(name)
            return out
    return e


def _has_identifier(e: Expr) -> bool:
    match e:
        case And(children) | Or(children):
            return any(_has_identifier(c) for c in children)
        case Not(child):
            return _has_identifier(child)
        case Identifier():
            return True
    return False


def _na_checks(e: Expr, out: list[Pos]) -> None:
    match e:
        case And(children) | Or(children):
            for c in children:
                _na_checks(c, out)
        case Not(child):
            _na_checks(child, out)
        case BinaryCheck(_, op, right, pos):
            if (op in ("=", "==", "!=") and isinstance(right, Value) and right.value == "<NA>") or (
                isinstance(right, ListValue) and "<NA>" in right.values
            ):
                out.append(pos)
        case UnaryCheck():
            pass


# -- compile --------------------------------------------------------------------------------------


def _expr_chain(cond_ctx: Chain, pos: Pos) -> Chain:
    base = cond_ctx[-1] if cond_ctx else Location("", "", "")
    line = base.line + pos.line - 1
    col = base.column + pos.col - 1 if pos.line == 1 else pos.col
    return (*cond_ctx, Location("condition expression", "", base.file, line, col, base.offset + pos.idx))


class _Compiler:
    def __init__(self, col: Collector, result: LoadResult, options: LoadOptions) -> None:
        self.col = col
        self.result = result
        self.options = options

    def warn(self, code: str, message: str, chain: Chain) -> None:
        self.result.add(LoadMessage(code, message, chain))

    def run(self) -> list[CompiledRule]:
        col = self.col
        # lists, expanded one level by lists defined before their latest definition
        lists: list[tuple[str, list[str]]] = []
        list_used: dict[str, bool] = {}
        for li in col.lists:
            items: list[str] = []
            for it in li.items:
                ref = col.lists.get(it)
                if ref is not None and ref.index < li.visibility:
                    list_used[ref.name] = True
                    items.extend(ref.items)
                else:
                    items.append(it)
            lists.append((li.name, items))
            list_used.setdefault(li.name, False)
        self.lists = lists
        self.list_names = frozenset(name for name, _ in lists)
        self.list_used = list_used

        # macros: parse, then expand with visibility
        parsed: dict[str, Expr] = {}
        for m in col.macros:
            parsed[m.name] = self.parse(m.cond, m.cond_ctx)
        resolved: dict[str, Expr] = {}
        used_macros: set[str] = set()
        current = dict(parsed)
        index = {o.name: o.index for o in col.macros}
        for m in col.macros:
            visible = _Visible(current, index, m.visibility)
            try:
                current[m.name] = _expand(current[m.name], visible, [], used_macros)
            except _MacroError as exc:
                raise RuleLoadException("LOAD_ERR_VALIDATE", exc.message, _expr_chain(m.cond_ctx, exc.pos)) from None
            resolved[m.name] = current[m.name]

        compiled: list[CompiledRule] = []
        for r in col.rules:
            if r.unknown_source:
                continue
            rule = self.rule(r, resolved, used_macros)
            if rule is not None:
                compiled.append(rule)

        for m in col.macros:
            if m.name not in used_macros:
                self.warn("LOAD_UNUSED_MACRO", "Macro not referred to by any other rule/macro", m.ctx)
        for li in col.lists:
            if not list_used.get(li.name):
                self.warn("LOAD_UNUSED_LIST", "List not referred to by any other rule/macro", li.ctx)
        return compiled

    def parse(self, cond: str, cond_ctx: Chain) -> Expr:
        tokens = set(_TOKEN.findall(cond))
        if not tokens.isdisjoint(self.list_names):
            for name, items in self.lists:
                if name not in tokens:
                    continue
                cond, used = resolve_list(cond, name, items)
                if used:
                    self.list_used[name] = True
                    tokens = set(_TOKEN.findall(cond))
        try:
            return parse_condition(cond)
        except ConditionSyntaxError as exc:
            raise RuleLoadException(
                "LOAD_ERR_COMPILE_CONDITION", exc.message, _expr_chain(cond_ctx, exc.pos), cond
            ) from None

    def rule(self, r: RuleInfo, macros: dict[str, Expr], used_macros: set[str]) -> CompiledRule | None:
        cat = catalog(r.source)
        cond = r.cond
        if r.exceptions:
            cond = build_exceptions(cond, r.exceptions)
        output_text = r.output
        if "%container.info" in output_text:
            self.warn(
                "LOAD_DEPRECATED_ITEM",
                "%container.info is deprecated and no more useful; it is replaced by an empty string.",
                r.ctx,
            )
            output_text = output_text.replace("%container.info", "")
        try:
            fmt = OutputFormat("*" + output_text, cat)
        except FormatError as exc:
            msg = str(exc)
            if r.skip_if_unknown_filter and _unknown_field_error(msg):
                self.warn("LOAD_UNKNOWN_FILTER", msg, r.output_ctx)
                return None
            raise RuleLoadException("LOAD_ERR_COMPILE_OUTPUT", msg, r.output_ctx) from None
        tree = self.parse(cond, r.cond_ctx)
        try:
            tree = _expand(tree, macros, [], used_macros)
        except _MacroError as exc:
            raise RuleLoadException("LOAD_ERR_VALIDATE", exc.message, _expr_chain(r.cond_ctx, exc.pos)) from None
        na: list[Pos] = []
        _na_checks(tree, na)
        for pos in na:
            self.warn(
                "LOAD_UNSAFE_NA_CHECK",
                "Comparing a field value with <NA> is unsafe and can lead to unpredictable behavior of the rule "
                "condition. If you need to check for the existence of a field, consider using the 'exists' "
                "operator instead.",
                _expr_chain(r.cond_ctx, pos),
            )
        try:
            fn = compile_condition(tree, cat, r.name)
        except CompileError as exc:
            if r.skip_if_unknown_filter and _unknown_field_error(exc.message):
                self.warn("LOAD_UNKNOWN_FILTER", exc.message, _expr_chain(r.cond_ctx, exc.pos))
                return None
            raise RuleLoadException(
                "LOAD_ERR_COMPILE_CONDITION", exc.message, _expr_chain(r.cond_ctx, exc.pos), cond
            ) from None
        index_field = INDEX_FIELDS.get(r.source)
        types = event_types(tree, field=index_field) if index_field else ALL
        if r.source == "syscall" and types.negated and r.warn_evttypes:
            self.warn(
                "LOAD_NO_EVTTYPE",
                "Rule matches too many evt.type values. This has a significant performance penalty.",
                r.ctx,
            )
        return CompiledRule(
            name=r.name,
            desc=r.desc,
            priority=r.priority,
            source=r.source,
            tags=tuple(sorted(r.tags)),
            condition=cond,
            match=fn,
            evttypes=types,
            output=fmt,
            index=r.index,
            enabled=r.enabled,
        )


def _unknown_field_error(msg: str) -> bool:
    return any(
        s in msg for s in ("nonexistent field", "invalid formatting token", "unknown event type", "unknown filter:")
    )


def _read_file(path: str, result: LoadResult) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as exc:
        result.add(
            LoadMessage(
                "LOAD_ERR_FILE_READ",
                f"Could not read file {path}: {exc.strerror}",
                (Location("rules content", "", path),),
            )
        )
        return None


def load_rules_results(
    paths: Iterable[str], options: LoadOptions | None = None, *, contents: dict[str, str] | None = None
) -> tuple[Ruleset | None, list[LoadResult]]:
    """Load and compile; returns the ruleset (None on error) and every file's result."""
    options = options or LoadOptions()
    col = Collector(sources=options.sources if options.sources is not None else Collector().sources)
    results: list[LoadResult] = []
    digest = hashlib.sha256()
    compiled: list[CompiledRule] | None = []
    files = expand_paths(paths)
    for path in files:
        result = LoadResult(path)
        results.append(result)
        text = contents[path] if contents and path in contents else _read_file(path, result)
        if text is None:
            return None, results
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0" + text.encode("utf-8", "surrogateescape"))
        if not read_rules_content(text, path, col, result):
            return None, results
        if options.per_file_compile:
            compiled = _compile(col, result, options)
            if compiled is None:
                return None, results
    if not options.per_file_compile:
        final = results[-1] if results else LoadResult("")
        compiled = _compile(col, final, options)
        if compiled is None:
            return None, results
    assert compiled is not None
    compiled = [r for r in compiled if r.priority <= options.min_priority]
    rs = Ruleset(
        compiled,
        results,
        rule_matching=options.rule_matching,
        content_digest=digest.hexdigest(),
        required_engine_version=col.required_engine_version,
        required_plugins=col.required_plugins,
    )
    rs.select(
        disabled_substrings=options.disabled_substrings,
        run_tags=options.run_tags,
        skip_tags=options.skip_tags,
        selection=options.selection,
    )
    return rs, results


def _compile(col: Collector, result: LoadResult, options: LoadOptions) -> list[CompiledRule] | None:
    try:
        return _Compiler(col, result, options).run()
    except RuleLoadException as exc:
        result.add(exc.msg)
        return None


def load_rules(paths: Iterable[str], options: LoadOptions | None = None) -> Ruleset:
    """Load rules files for running: raises `RulesLoadError` on the first error."""
    rs, results = load_rules_results(paths, options)
    if rs is None:
        raise RulesLoadError(results)
    return rs
