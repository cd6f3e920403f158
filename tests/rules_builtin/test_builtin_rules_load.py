"""rules/falco_rules.yaml loads cleanly, is loaded by default, and every rule is documented and tagged."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rae.defaults import default_rules_paths
from rae.rules import LoadOptions, load_rules, load_rules_results

RULES = Path(__file__).resolve().parents[2] / "rules" / "falco_rules.yaml"
KEY_OUTPUT_FIELDS = ("%proc.name", "%proc.cmdline", "%proc.pname", "%user.name", "%container.id",
                     "%container.name", "%container.image.repository")
PRIORITIES = {"EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "INFO", "DEBUG"}
#: the behaviours the issue asks for, each covered by (at least) this rule
REQUIRED_RULES = {
    "Shell Spawned in Container", "Terminal Shell in Container", "Read Sensitive File by Untrusted Program",
    "Write Below Etc", "Write Below Binary Directory", "Write Below Library Directory",
    "Sensitive Mount by Container Process", "Container Started With Sensitive Mount",
    "Reverse Shell Socket Redirect", "Shell Started With Network Socket as Stdin", "Cryptocurrency Miner Launched",
    "Outbound Connection to Mining Pool Port", "Cgroup Release Agent Modified", "Container Runtime Binary Overwrite",
    "Privilege Escalation via Pkexec Empty Argv", "Kernel Module Loaded", "Ptrace Attach to Process",
    "Fileless Execution from Memory", "Log Files Cleared", "Shell History Deleted",
}


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    assert isinstance(doc, list)
    return doc


def rules_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if "rule" in i]


def test_validates_without_errors_or_warnings() -> None:
    ruleset, results = load_rules_results([str(RULES)], LoadOptions())
    assert ruleset is not None, [m.one_line() for r in results for m in r.errors]
    assert [m.one_line() for r in results for m in r.errors] == []
    warnings = [m for r in results for m in r.warnings]
    assert [w.code for w in warnings if w.code == "LOAD_NO_EVTTYPE"] == []
    assert [w.one_line() for w in warnings] == []
    assert {r.name for r in ruleset.rules} >= REQUIRED_RULES


def test_engine_version_is_semver(items: list[dict[str, Any]]) -> None:
    versions = [i["required_engine_version"] for i in items if "required_engine_version" in i]
    assert len(versions) == 1
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(versions[0]))


def test_every_rule_is_described_prioritised_and_mitre_tagged(items: list[dict[str, Any]]) -> None:
    rules = rules_of(items)
    assert len(rules) >= 20
    for r in rules:
        name = r["rule"]
        assert isinstance(r.get("desc"), str) and len(r["desc"]) > 40, name
        assert str(r.get("priority", "")).upper() in PRIORITIES, name
        tags = r.get("tags") or []
        assert any(t.startswith("mitre_") for t in tags), name
        assert any(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in tags), name
        assert r.get("source") == "syscall", name
        for f in (*KEY_OUTPUT_FIELDS, "%proc.pid"):
            assert f in r["output"], (name, f)
        if re.search(r"\bfd\.(name|filename|directory)\b", r["condition"]) and "open" in r["condition"]:
            assert "%fd.name" in r["output"], name


def test_lists_and_macros_are_prefixed_and_used(items: list[dict[str, Any]]) -> None:
    names = [i.get("list") or i.get("macro") for i in items if "list" in i or "macro" in i]
    assert names and all(n.startswith("rae_") for n in names)
    text = RULES.read_text()
    for n in names:
        assert len(re.findall(rf"\b{re.escape(n)}\b", text)) >= 2, f"{n} is never used"


def test_loaded_by_default_next_to_the_audit_rules() -> None:
    paths = default_rules_paths()
    assert str(RULES) in paths
    ruleset = load_rules(paths, LoadOptions())
    names = {r.name for r in ruleset.rules}
    assert names >= REQUIRED_RULES
    assert {r.source for r in ruleset.rules} >= {"syscall"}


def test_loads_next_to_falcos_own_rules(corpus_dir: Path) -> None:
    """The rae_ prefix keeps our lists and macros apart from Falco's when both files are loaded."""
    upstream = corpus_dir / "upstream-rules" / "falco_rules-1.0.1.yaml"
    ruleset = load_rules([str(upstream), str(RULES)], LoadOptions())
    names = {r.name for r in ruleset.rules}
    assert names >= REQUIRED_RULES and "Terminal shell in container" in names
