"""Differential test of the syscall code index: `Ruleset.match` against evaluating every enabled
rule's whole condition in load order, on every event of real captures, with real rulesets.

Events: every corpus capture (replayed through the capture source and the state engine, as
``rae replay`` does: enter and exit events, generic ``syscall`` events, ``procinfo``…) and the
synthetic captures of the built-in rules' behaviour tests (their positive and benign actions,
so that the rules do fire). Rulesets: the built-in rules, Falco's falco_rules-1.0.1.yaml and
current falco_rules.yaml, and a small ruleset of this file whose rules fire on the corpus
captures (exit and enter rules, generic events, rules without ``evt.dir`` or ``evt.type``, a
top-level ``or``) — each with ``rule_matching`` first and all. Matches are compared at each
event, while the state is that of the event.
"""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rae.rules import LoadOptions, load_rules
from rae.rules.ruleset import CompiledRule, Ruleset
from rae.syscall.replay import open_capture_source

REPO = Path(__file__).resolve().parents[2]

FIRING = """
- macro: exit_evt
  condition: evt.dir = <
- rule: open exit with a name
  desc: d
  condition: evt.type in (open, openat) and exit_evt and fd.name exists
  output: o
  priority: WARNING
- rule: open enter
  desc: d
  condition: (evt.type = open and (evt.dir = '>'))
  output: o
  priority: WARNING
- rule: exit of a known process
  desc: d
  condition: evt.dir=< and proc.name exists and not evt.type in (open, openat)
  output: o
  priority: WARNING
  warn_evttypes: false
- rule: generic exit
  desc: d
  condition: evt.type in (mprotect, madvise, arch_prctl, rt_sigaction) and evt.dir != >
  output: o
  priority: WARNING
- rule: generic enter
  desc: d
  condition: evt.type in (madvise, exit_group) and not evt.dir = <
  output: o
  priority: WARNING
- rule: no direction
  desc: d
  condition: evt.type in (close, fstat, mmap, madvise) and evt.num > 0
  output: o
  priority: WARNING
- rule: top-level or
  desc: d
  condition: evt.type = sendmsg or (evt.dir = > and proc.name in (cat, ping, curl))
  output: o
  priority: WARNING
  warn_evttypes: false
- rule: not a type
  desc: d
  condition: not evt.type in (procinfo, open) and evt.dir = > and evt.num > 0
  output: o
  priority: WARNING
  warn_evttypes: false
- rule: any event
  desc: d
  condition: evt.num > 0
  output: o
  priority: WARNING
  warn_evttypes: false
"""


def _synthetic_captures(tmp: Path) -> list[Path]:
    """The built-in rules' behaviour-test actions, written as captures."""
    sys.path.insert(0, str(REPO / "tests" / "rules_builtin"))
    try:
        mod = importlib.import_module("test_builtin_rules_behaviour")
    finally:
        sys.path.remove(str(REPO / "tests" / "rules_builtin"))
    out = []
    for i, (_, name, make) in enumerate([*mod.POSITIVE, *mod.NEGATIVE]):
        got = make()
        cap = got[0] if isinstance(got, tuple) else got
        out.append(cap.write(tmp / f"{i:03d}-{name}.scap"))
    return out


@pytest.fixture(scope="module")
def rulesets(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Ruleset]]:
    firing = tmp_path_factory.mktemp("rules") / "firing.yaml"
    firing.write_text(FIRING)
    up = corpus_dir / "upstream-rules"
    files = {
        "built-in": [str(REPO / "rules" / "falco_rules.yaml")],
        "falco_rules-1.0.1": [str(up / "falco_rules-1.0.1.yaml")],
        "falco_rules": [str(up / "falco_rules.yaml")],
        "firing": [str(firing)],
    }
    return [
        (f"{name}/{matching}", load_rules(paths, LoadOptions(rule_matching=matching)))
        for name, paths in files.items()
        for matching in ("first", "all")
    ]


def _events(paths: list[Path]) -> Iterator[tuple[str, Any]]:
    for p in paths:
        for evt in open_capture_source(str(p)):
            yield p.name, evt


def _reference(rules: list[CompiledRule], evt: Any, first: bool) -> tuple[list[CompiledRule], int]:
    out = []
    errors = 0
    for r in rules:
        try:
            if r.match(evt):
                out.append(r)
                if first:
                    break
        except Exception:
            errors += 1
    return out, errors


def test_match_equals_every_rule_evaluated_in_order(
    corpus_dir: Path, rulesets: list[tuple[str, Ruleset]], tmp_path: Path
) -> None:
    captures = sorted((corpus_dir / "falco-regression" / "trace_files").glob("*.scap"))
    assert len(captures) >= 6
    captures += _synthetic_captures(tmp_path)
    plain = [(rs, [r for r in rs.rules if r.enabled and r.source == "syscall"]) for _, rs in rulesets]
    kinds: Counter[tuple[bool, str]] = Counter()
    fired: Counter[str] = Counter()
    mismatches = []
    ref_errors = 0
    n = 0
    for cap, evt in _events(captures):
        n += 1
        kinds[(evt.info.name == "syscall", evt.info.dir)] += 1
        for (label, _), (rs, rules) in zip(rulesets, plain, strict=True):
            got = rs.match(evt, "syscall")
            want, errors = _reference(rules, evt, not rs.match_all)
            ref_errors += errors
            if got != want:
                mismatches.append((label, cap, evt.num, evt.evtype, evt.info.dir, [r.name for r in got],
                                   [r.name for r in want]))
            for r in got:
                fired[f"{label}: {r.name}"] += 1
    assert mismatches == [], mismatches[:10]
    # what the comparison covered
    assert n > 4000
    assert kinds[(False, ">")] > 100 and kinds[(False, "<")] > 100
    assert kinds[(True, ">")] > 0 and kinds[(True, "<")] > 0
    for rule in ("open exit with a name", "open enter", "exit of a known process", "generic exit",
                 "generic enter", "no direction", "top-level or", "not a type"):
        assert fired[f"firing/all: {rule}"] > 0, rule
    assert fired["firing/first: any event"] > 0
    for label in ("built-in/all", "falco_rules-1.0.1/all", "falco_rules/all"):
        assert sum(v for k, v in fired.items() if k.startswith(label + ":")) > 5, label
    # no evaluation error on either side
    assert ref_errors == 0 and all(rs.eval_errors == 0 for _, rs in rulesets)
