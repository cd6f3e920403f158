"""The Falco rules language: load, validate and compile rules files into a `Ruleset`.

    from rae.rules import load_rules, LoadOptions
    ruleset = load_rules(["rules/"], LoadOptions(min_priority=Priority.NOTICE))
    for rule in ruleset.match(evt, "syscall"):
        alert = rule.make_alert(evt, hostname="node-1")

`compile_filter` compiles a standalone filter (sysdig-style ``-p FORMAT FILTER``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rae.errors import RaeError
from rae.fields import catalog
from rae.rules.compiler import CompileError, compile_condition
from rae.rules.errors import LoadMessage, LoadResult, RulesLoadError
from rae.rules.formatter import FormatError, OutputFormat
from rae.rules.loader import LoadOptions, expand_paths, load_rules, load_rules_results
from rae.rules.parser import ConditionSyntaxError, parse_condition
from rae.rules.ruleset import CompiledRule, Ruleset

__all__ = [
    "CompiledRule",
    "LoadMessage",
    "LoadOptions",
    "LoadResult",
    "OutputFormat",
    "RulesLoadError",
    "Ruleset",
    "compile_filter",
    "compile_format",
    "expand_paths",
    "load_rules",
    "load_rules_results",
]


def compile_filter(text: str, source: str = "syscall") -> Callable[[Any], bool]:
    """A filter expression (no macros or lists) → ``evt -> bool``; RaeError when invalid."""
    try:
        tree = parse_condition(text)
        return compile_condition(tree, catalog(source), "filter")
    except ConditionSyntaxError as exc:
        raise RaeError(f"invalid filter: {exc}") from None
    except CompileError as exc:
        raise RaeError(f"invalid filter: {exc.message} (at index {exc.pos.idx})") from None


def compile_format(text: str, source: str = "syscall") -> OutputFormat:
    """An output format (``%field`` tokens) → `OutputFormat`; RaeError when invalid."""
    try:
        return OutputFormat(text, catalog(source))
    except FormatError as exc:
        raise RaeError(f"invalid format: {exc}") from None
