"""Falco's Kubernetes audit regression cases (falco_k8s_audit_tests.yaml) through rae's replay.

Each case names rules files, an audit trace (``-o plugins[0].open_params=FILE``) and what Falco
reported: ``detect`` (any alert), ``detect_level`` (at least one alert of that priority, as
Falco's harness checks it), ``detect_counts`` (exact alerts per rule) and ``stderr_contains``.
Every case runs; none is skipped.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_helpers import CORPUS

import rae.rules
from rae.priority import Priority

SUITE = CORPUS / "falco-regression" / "falco_k8s_audit_tests.yaml"
_BUILD = {
    "BUILD_DIR/falcosecurity-rules-falco-prefix/src/falcosecurity-rules-falco/falco_rules.yaml": (
        "upstream-rules/falco_rules-1.0.1.yaml"
    ),
    "BUILD_DIR/k8saudit-rules-prefix/src/k8saudit-rules/k8s_audit_rules.yaml": (
        "upstream-rules/k8s_audit_rules-0.6.0.yaml"
    ),
}
_OPEN_PARAMS = re.compile(r"-o\s+plugins\[0\]\.open_params=(\S+)")


class _MuxLoader(yaml.SafeLoader):
    """Reads the avocado ``!mux`` files: tags are ignored, the mapping is kept."""


_MuxLoader.add_multi_constructor("!", lambda loader, _suffix, node: loader.construct_mapping(node, deep=True))


def map_path(path: str) -> Path:
    """A path as written in a case → the corpus file (build-tree paths per the corpus README)."""
    if path in _BUILD:
        return CORPUS / _BUILD[path]
    if path.startswith("BUILD_DIR/test/"):
        return CORPUS / "falco-regression" / path[len("BUILD_DIR/test/") :]
    return CORPUS / "falco-regression" / path


def load_cases() -> dict[str, dict[str, Any]]:
    if not SUITE.is_file():
        return {}
    with open(SUITE, encoding="utf-8") as f:
        return dict(yaml.load(f, Loader=_MuxLoader)["trace_files"])


def as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def trace_of(case: dict[str, Any]) -> Path:
    m = _OPEN_PARAMS.search(case.get("addl_cmdline_opts", ""))
    assert m, "a k8s audit case names its trace in -o plugins[0].open_params"
    return map_path(m.group(1))


def expected_counts(case: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in as_list(case.get("detect_counts")):
        counts.update(item)
    return counts


CASES = load_cases()


@functools.cache
def ruleset_for(paths: tuple[str, ...]) -> Any:
    return rae.rules.load_rules(list(paths), rae.rules.LoadOptions())


def test_suite_is_complete() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    assert len(CASES) == 66


@pytest.mark.parametrize("name", sorted(CASES))
def test_case(name: str, capfd: pytest.CaptureFixture[str]) -> None:
    from rae.commands.replay import run_replay
    from rae.k8s_audit.replay import open_audit_source

    case = CASES[name]
    assert case.get("enable_source", "k8s_audit") == "k8s_audit"
    assert map_path(case["conf_file"]).is_file()
    rules = tuple(str(map_path(p)) for p in as_list(case["rules_file"]))
    ruleset = ruleset_for(rules)
    alerts: list[Any] = []
    _n, by_rule, by_prio = run_replay(
        [open_audit_source(str(trace_of(case)))], ruleset, alerts.append, hostname="test", iso8601=False
    )
    err = capfd.readouterr().err
    detected = sum(by_rule.values())
    assert (detected > 0) == bool(case["detect"]), dict(by_rule)
    # Falco's harness looks at detect_level only when detections are expected
    for level in as_list(case.get("detect_level")) if case["detect"] else []:
        assert by_prio[Priority.parse(level)] > 0, (level, dict(by_prio))
    for rule, count in expected_counts(case).items():
        assert by_rule[rule] == count, (rule, dict(by_rule))
    if "stderr_contains" in case:
        assert re.search(case["stderr_contains"], err), err
    # every alert renders (output fields resolvable for audit events)
    for alert in alerts:
        assert alert.output


def test_counts_cover_every_rule_fired() -> None:
    """Where a case lists counts, no unlisted rule fired (a stricter check than Falco's)."""
    exact = {n: c for n, c in CASES.items() if c.get("detect_counts")}
    assert exact
    from rae.commands.replay import run_replay
    from rae.k8s_audit.replay import open_audit_source

    extra: dict[str, Counter[str]] = {}
    for name, case in exact.items():
        rules = tuple(str(map_path(p)) for p in as_list(case["rules_file"]))
        _n, by_rule, _p = run_replay(
            [open_audit_source(str(trace_of(case)))], ruleset_for(rules), lambda a: None, hostname="", iso8601=False
        )
        unexpected = Counter({r: n for r, n in by_rule.items() if r not in expected_counts(case)})
        if unexpected:
            extra[name] = unexpected
    assert not extra, extra


@pytest.mark.parametrize("name", ["create_privileged_pod", "fal_01_003", "json_pointer_correct_parse"])
def test_cases_through_the_cli(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A few cases as the command line runs them: `rae replay TRACE -r RULES...`."""
    from rae.cli import main

    case = CASES[name]
    argv = ["replay", str(trace_of(case))]
    for p in as_list(case["rules_file"]):
        argv += ["-r", str(map_path(p))]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    alerts = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert (len(alerts) > 0) == bool(case["detect"])
    got = Counter(a["rule"] for a in alerts)
    for rule, count in expected_counts(case).items():
        assert got[rule] == count
        assert f"   {rule}: {count}" in err  # the Falco-style summary
    assert f"Events detected: {len(alerts)}" in err
    if "stderr_contains" in case:
        assert case["stderr_contains"] in err
