"""Rulesets written inline by the rules tests: ``load(rules(name=condition, ...))``."""

from __future__ import annotations

from rae.rules import LoadOptions, load_rules_results
from rae.rules.ruleset import Ruleset


def load(text: str, matching: str = "all") -> Ruleset:
    """The ruleset of one rules file's text (load errors fail the test with their messages)."""
    rs, results = load_rules_results(["t.yaml"], LoadOptions(rule_matching=matching), contents={"t.yaml": text})
    assert rs is not None, [f"{e.code}: {e.message}" for r in results for e in r.errors]
    return rs


def rules(**conds: str) -> str:
    """Rules named after the keywords, in that order, with the given conditions."""
    return "".join(
        f"- rule: {name}\n  desc: d\n  condition: {cond}\n  output: o\n  priority: WARNING\n"
        f"  warn_evttypes: false\n"
        for name, cond in conds.items()
    )
