"""Every public rules file loads with zero errors and every rule compiles; CR conversion matches Deckhouse."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rae.priority import Priority
from rae.rules import LoadOptions, load_rules, load_rules_results
from rae.rules_loader.convert import convert_spec, dump_rules, snake_case

UPSTREAM = ("falco_rules.yaml", "falco_rules-1.0.1.yaml", "k8s_audit_rules.yaml", "k8s_audit_rules-0.6.0.yaml")


def _rule_names(path: Path) -> list[str]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return [it["rule"] for d in docs for it in d if isinstance(it, dict) and "rule" in it and "condition" in it]


@pytest.mark.parametrize("name", UPSTREAM)
def test_upstream_rules_load_and_compile(corpus_dir: Path, name: str) -> None:
    path = corpus_dir / "upstream-rules" / name
    rs, results = load_rules_results([str(path)])
    assert rs is not None, [e.one_line() for r in results for e in r.errors]
    assert not [w for w in rs.warnings if w.code in ("LOAD_UNKNOWN_FILTER", "LOAD_UNKNOWN_SOURCE")]
    names = {r.name for r in rs.rules}
    assert set(_rule_names(path)) == names
    for r in rs.rules:
        assert callable(r.match) and r.output.text


def test_deckhouse_k8s_audit_rules(corpus_dir: Path) -> None:
    rs = load_rules([str(corpus_dir / "deckhouse" / "k8s_audit_rules.yaml")])
    assert rs.rules and all(r.source == "k8s_audit" for r in rs.rules)


def test_fstec_cr_converted_loads(corpus_dir: Path, tmp_path: Path) -> None:
    cr = next(d for d in yaml.safe_load_all((corpus_dir / "deckhouse" / "fstec.far.yaml").read_text()) if d)
    items = convert_spec(cr["spec"])
    out = tmp_path / "fstec.yaml"
    out.write_text(dump_rules(items))
    rs, results = load_rules_results([str(out)])
    assert rs is not None, [e.one_line() for r in results for e in r.errors]
    n_rules = sum(1 for it in items if "rule" in it)
    assert n_rules and len(rs.rules) == n_rules


def test_examples_with_builtin_macros_load(corpus_dir: Path, tmp_path: Path) -> None:
    """The docs' example CRs load after the 1.0.1 ruleset, whose macros they use."""
    files = [str(corpus_dir / "upstream-rules" / "falco_rules-1.0.1.yaml")]
    for ex in sorted((corpus_dir / "deckhouse" / "examples").glob("*.yaml")):
        cr = next(d for d in yaml.safe_load_all(ex.read_text()) if d)
        out = tmp_path / ex.name
        out.write_text(dump_rules(convert_spec(cr["spec"])))
        files.append(str(out))
    rs, results = load_rules_results(files)
    assert rs is not None, [e.one_line() for r in results for e in r.errors]


def _norm(items: list[dict]) -> list[dict]:
    out = []
    for it in items:
        it = dict(it)
        if isinstance(it.get("priority"), str):
            it["priority"] = it["priority"].upper()
        out.append(it)
    return out


def test_conversion_cases(corpus_dir: Path) -> None:
    cases = yaml.safe_load((corpus_dir / "deckhouse" / "conversion-cases.yaml").read_text())
    assert cases
    for case in cases:
        assert _norm(convert_spec(case["spec"])) == _norm(case["expect"]), case["name"]


def test_snake_case() -> None:
    assert snake_case("K8sAudit") == "k8s_audit"
    assert snake_case("Syscall") == "syscall"


def test_priority_floor_and_selection(corpus_dir: Path) -> None:
    path = str(corpus_dir / "upstream-rules" / "falco_rules-1.0.1.yaml")
    full = load_rules([path])
    high = load_rules([path], LoadOptions(min_priority=Priority.ERROR))
    assert 0 < len(high.rules) < len(full.rules)
    assert all(r.priority <= Priority.ERROR for r in high.rules)
    sel = load_rules([path], LoadOptions(selection=[{"disable": {"rule": "*"}}, {"enable": {"tag": "network"}}]))
    on = sel.enabled_rules
    assert on and all("network" in r.tags for r in on)
    dis = load_rules([path], LoadOptions(disabled_substrings=["shell"]))
    assert not [r for r in dis.enabled_rules if "shell" in r.name]
