"""Harness: every rule-loading case of Falco's regression suite, through `rae validate`'s loader.

A case passes when rae reaches the same verdict (valid / invalid) and reports each expected
error and warning with the same code on the same item (item type and name). Messages are
compared exactly, except for the cases listed in MESSAGE_DIFFERS with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from falco_cases import as_list, corpus_path, select_cases

from rae.cli import main as rae_main
from rae.rules import LoadOptions, load_rules_results

#: case → why rae's message text differs from Falco 0.34's (code and item still match)
MESSAGE_DIFFERS = {
    "invalid_yaml_parse_error": "the YAML parser is PyYAML, not yaml-cpp: its problem text differs",
    "invalid_engine_version_not_number": (
        "rae follows Falco ≥ 0.36, which reads non-integer versions as semver and says why they fail"
    ),
    "rule_exception_unknown_fields": "rae's catalog error text",
}

#: old code names used by the suite → current Falco code names
CODE_ALIASES = {"LOAD_UNKNOWN_FIELD": "LOAD_UNKNOWN_FILTER"}


def _cases() -> list[tuple[str, str, dict[str, Any]]]:
    return select_cases(lambda _name, case: "validate_rules_file" in case)


def _matches(expected: dict[str, Any], got: list[Any], case: str) -> bool:
    code = CODE_ALIASES.get(expected["code"], expected["code"])
    for m in got:
        if m.code != code:
            continue
        locs = [(loc.item_type, loc.item_name) for loc in m.locations]
        if (expected["item_type"], str(expected["item_name"])) not in locs:
            continue
        if case in MESSAGE_DIFFERS:
            return True
        if "message" in expected and m.message != expected["message"]:
            continue
        if "message_contains" in expected and expected["message_contains"] not in m.message:
            continue
        return True
    return False


@pytest.mark.parametrize(("suite", "name", "case"), _cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_validation_case(corpus_dir: Path, suite: str, name: str, case: dict[str, Any]) -> None:
    files = [str(corpus_path(corpus_dir, f)) for f in as_list(case["validate_rules_file"])]
    _, results = load_rules_results(files, LoadOptions(per_file_compile=True))
    errors = [e for r in results for e in r.errors]
    warnings = [w for r in results for w in r.warnings]
    listing = "\n".join(m.one_line() for m in errors + warnings)
    for ok in as_list(case.get("validate_ok")):
        res = next(r for r in results if r.name.endswith("/" + ok))
        assert res.successful, f"{ok} should load: {listing}"
    expected_errors = as_list(case.get("validate_errors"))
    for exp in expected_errors:
        assert _matches(exp, errors, name), f"missing error {exp}\ngot:\n{listing}"
    for exp in as_list(case.get("validate_warnings")):
        assert _matches(exp, warnings, name), f"missing warning {exp}\ngot:\n{listing}"
    if expected_errors:
        assert errors, "expected the load to fail"
    else:
        assert not errors, f"unexpected errors:\n{listing}"


def test_validate_cli_json_shape(corpus_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = corpus_dir / "falco-regression/rules/invalid_rule_output.yaml"
    rc = rae_main(["validate", "--json", str(bad)])
    assert rc == 1
    doc = json.loads(capsys.readouterr().out.splitlines()[0])
    (res,) = doc["falco_load_results"]
    assert res["successful"] is False
    err = res["errors"][0]
    assert err["code"] == "LOAD_ERR_COMPILE_OUTPUT"
    assert err["codedesc"] == "Error compiling output"
    assert "invalid formatting token not_a_real_field" in err["message"]
    locs = err["context"]["locations"]
    assert ("rule", "rule_with_invalid_output") in [(x["item_type"], x["item_name"]) for x in locs]
    assert all({"name", "line", "column", "offset"} <= set(x["position"]) for x in locs)


def test_validate_cli_text_one_line_per_message(corpus_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = corpus_dir / "falco-regression/rules/invalid_base_macro.yaml"
    bad = corpus_dir / "falco-regression/rules/invalid_overwrite_macro.yaml"
    rc = rae_main(["validate", str(base), str(bad)])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert out[-1].endswith("invalid_overwrite_macro.yaml: Invalid")
    err = [line for line in out if ": error: " in line]
    assert err and "macro 'some macro': LOAD_ERR_VALIDATE: Undefined macro 'foo' used in filter." in err[0]
    assert "Traceback" not in "\n".join(out)
