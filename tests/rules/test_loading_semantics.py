"""Loading semantics beyond the regression suite: override, redefinition order, visibility, sources."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rae.priority import Priority
from rae.rules import LoadOptions, load_rules, load_rules_results
from rae.rules.loader import build_exceptions, resolve_list

BASE = """
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve and evt.dir = <
- rule: shell
  desc: a shell
  condition: spawned and proc.name in (shells)
  output: shell %proc.name
  priority: WARNING
  tags: [a]
"""


def _write(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def _load(tmp: Path, *texts: str, **opts: object):  # type: ignore[no-untyped-def]
    files = [_write(tmp, f"f{i}.yaml", t) for i, t in enumerate(texts)]
    return load_rules_results(files, LoadOptions(**opts))  # type: ignore[arg-type]


def _errors(results) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{e.code}: {e.message}" for r in results for e in r.errors]


def test_override_append_and_replace(tmp_path: Path) -> None:
    rs, res = _load(
        tmp_path,
        BASE,
        """
        - list: shells
          items: [zsh]
          override: {items: append}
        - rule: shell
          condition: and proc.pname != sshd
          output: (parent=%proc.pname)
          tags: [b]
          override: {condition: append, output: append, tags: append}
        - rule: shell
          priority: error
          enabled: false
          override: {priority: replace, enabled: replace}
        """,
    )
    assert rs is not None, _errors(res)
    (r,) = rs.rules
    assert r.condition == "spawned and proc.name in (shells) and proc.pname != sshd"
    assert r.output.text == "*shell %proc.name (parent=%proc.pname)"
    assert r.tags == ("a", "b") and r.priority is Priority.ERROR and not r.enabled
    assert not rs.enabled_rules


def test_override_errors(tmp_path: Path) -> None:
    _, res = _load(tmp_path, BASE, "- rule: shell\n  condition: x\n  append: true\n  override: {condition: append}\n")
    assert "Keys 'override' and 'append: true' cannot be used together." in _errors(res)[0]
    _, res = _load(tmp_path, BASE, "- rule: shell\n  override: {condition: append}\n")
    assert "specified but 'condition' is not defined" in _errors(res)[0]
    _, res = _load(tmp_path, BASE, "- rule: shell\n  condition: a\n  desc: b\n  override: {condition: append}\n")
    assert "Unexpected key 'desc': no corresponding entry under 'override' is defined." in _errors(res)[0]
    _, res = _load(tmp_path, BASE, "- rule: shell\n  priority: INFO\n  override: {priority: append}\n")
    assert "Key 'priority' cannot be appended to, use 'replace' instead" in _errors(res)[0]
    _, res = _load(tmp_path, BASE, "- rule: nope\n  priority: INFO\n  override: {priority: replace}\n")
    assert "no rule by that name already exists" in _errors(res)[0]


def test_redefinition_keeps_order_and_replaces(tmp_path: Path) -> None:
    rs, res = _load(
        tmp_path,
        BASE,
        """
        - rule: second
          desc: d
          condition: evt.type = open
          output: o
          priority: INFO
        - rule: shell
          desc: redefined
          condition: evt.type = connect
          output: o2
          priority: NOTICE
        """,
    )
    assert rs is not None, _errors(res)
    assert [r.name for r in rs.rules] == ["shell", "second"]
    assert rs.rules[0].desc == "redefined" and rs.rules[0].tags == ()


def test_macro_visibility_and_rules_see_later_macros(tmp_path: Path) -> None:
    _, res = _load(tmp_path, "- macro: a\n  condition: b\n- macro: b\n  condition: evt.type = open\n")
    assert _errors(res) == ["LOAD_ERR_VALIDATE: Undefined macro 'b' used in filter."]
    rs, res = _load(
        tmp_path,
        "- rule: r\n  desc: d\n  condition: later\n  output: o\n  priority: INFO\n"
        "- macro: later\n  condition: evt.type = open\n",
    )
    assert rs is not None, _errors(res)


def test_list_references_only_earlier_lists(tmp_path: Path) -> None:
    rs, _res = _load(
        tmp_path,
        """
        - list: a
          items: [x]
        - list: b
          items: [a, y]
        - rule: r
          desc: d
          condition: proc.name in (b)
          output: o
          priority: INFO
        """,
    )
    assert rs is not None
    assert rs.rules[0].condition == "proc.name in (b)"
    assert not [w for w in rs.warnings if w.code == "LOAD_UNUSED_LIST"]


def test_unknown_source_skipped_and_skip_if_unknown(tmp_path: Path) -> None:
    rs, _res = _load(
        tmp_path,
        """
        - rule: cloud
          desc: d
          condition: ct.name = x
          output: o
          priority: INFO
          source: aws_cloudtrail
        - rule: maybe
          desc: d
          condition: proc.nobody = x
          output: o
          priority: INFO
          skip-if-unknown-filter: true
        """,
    )
    assert rs is not None and rs.rules == []
    codes = {w.code for w in rs.warnings}
    assert {"LOAD_UNKNOWN_SOURCE", "LOAD_UNKNOWN_FILTER"} <= codes


def test_sources_can_be_disabled(tmp_path: Path) -> None:
    rs, _ = _load(tmp_path, BASE, sources=frozenset({"k8s_audit"}))
    assert rs is not None and rs.rules == []
    assert any(w.code == "LOAD_UNKNOWN_SOURCE" for w in rs.warnings)


def test_engine_and_plugin_versions(tmp_path: Path) -> None:
    rs, res = _load(
        tmp_path,
        """
        - required_engine_version: 0.31.0
        - required_plugin_versions:
          - name: k8saudit
            version: 0.7.0
            alternatives:
              - name: k8saudit-eks
                version: 0.4.0
        """,
    )
    assert rs is not None, _errors(res)
    _, res = _load(tmp_path, "- required_engine_version: 0.99.0\n")
    assert "Rules require engine version 0.99.0, but engine version is 0.62.0" in _errors(res)[0]
    _, res = _load(tmp_path, "- required_plugin_versions:\n  - name: x\n    version: abc\n")
    assert "Invalid required version 'abc' for plugin 'x'" in _errors(res)[0]


def test_run_tags_and_disable_conflict_is_an_error() -> None:
    from rae.cli import main

    assert main(["replay", "/dev/null", "-D", "x", "-t", "a"]) == 1


def test_resolve_list_is_textual() -> None:
    out, used = resolve_list("proc.name in (shells)", "shells", ["bash", "a b"])
    assert used and out.replace(" ", "") == 'proc.namein(bash,"ab")'
    out, used = resolve_list("proc.name in (shells, zsh)", "shells", ["bash"])
    assert used and "bash" in out and "shells" not in out
    out, used = resolve_list("proc.name = myshells", "shells", ["bash"])
    assert not used and out == "proc.name = myshells"
    out, used = resolve_list("x in (empty, a)", "empty", [])
    assert used and "empty" not in out and "a" in out


def test_exception_text_building(tmp_path: Path) -> None:
    rs, res = _load(
        tmp_path,
        """
        - list: allowed
          items: [/tmp/a]
        - rule: r
          desc: d
          condition: evt.type = open
          output: o
          priority: INFO
          exceptions:
            - name: by_proc_and_file
              fields: [proc.name, fd.name]
              comps: [=, in]
              values:
                - [cat, allowed]
                - [my app, [/x, /y]]
            - name: single
              fields: proc.pname
              values: [sshd, "my shell"]
        """,
    )
    assert rs is not None, _errors(res)
    assert rs.rules[0].condition == (
        '(evt.type = open) and not (( proc.name = cat and  fd.name in (allowed)) or '
        '( proc.name = "my app" and  fd.name in (/x, /y))) and not (proc.pname in (sshd, "my shell"))'
    )
    assert build_exceptions("a", []) == "(a)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: LOUD\n", "Invalid priority"),
        ("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: '%nope.field'\n  priority: INFO\n",
         "invalid formatting token nope.field"),
        ("- rule: r\n  desc: d\n  condition: proc.name = (\n  output: o\n  priority: INFO\n",
         "expected a string value"),
        ("- rule: r\n  desc: d\n  condition: fd.num = abc\n  output: o\n  priority: INFO\n", "not a valid number"),
        ("- rule: r\n  desc: d\n  condition: evt.type = nosuchcall\n  output: o\n  priority: INFO\n",
         "unknown event type nosuchcall"),
    ],
)
def test_rule_errors(tmp_path: Path, text: str, message: str) -> None:
    _, res = _load(tmp_path, text)
    errs = _errors(res)
    assert errs and message in errs[0]


def test_load_rules_raises_one_line_error(tmp_path: Path) -> None:
    from rae.rules import RulesLoadError

    with pytest.raises(RulesLoadError) as exc:
        load_rules([_write(tmp_path, "bad.yaml", "- macro: m\n")])
    assert "Item has no mapping for key 'condition'" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_audit_rules_indexed_by_verb(corpus_dir: Path) -> None:
    """Audit rules are indexed on ka.verb as syscall rules on evt.type: candidates ⊇ matches."""
    import json

    from rae.k8s_audit.events import AuditEvent

    rs = load_rules([str(corpus_dir / "upstream-rules" / "k8s_audit_rules.yaml")])
    get_rules = rs.candidates("k8s_audit", "get")
    assert 0 < len(get_rules) < len(rs.rules) // 2
    all_verbs = [r for r in rs.rules if r.evttypes.negated]
    assert set(all_verbs) <= set(get_rules)
    # an exhaustive check: on every corpus event, matching through the index equals trying every rule
    for f in sorted((corpus_dir / "falco-regression/trace_files/k8s_audit").glob("*.json")):
        for line in f.read_text().splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            if obj.get("kind") != "Event":
                continue
            evt = AuditEvent(obj, 0)
            indexed = {r.name for r in rs.candidates("k8s_audit", evt.evtype) if r.match(evt)}
            brute = {r.name for r in rs.rules if r.enabled and r.match(evt)}
            assert indexed == brute, f.name


def test_exception_fields_may_be_transformers(tmp_path: Path) -> None:
    """Falco 0.44: an exception's fields may wrap fields in transformers."""
    rs, res = _load(
        tmp_path,
        """
        - rule: r
          desc: d
          condition: evt.type = open and evt.dir = <
          output: o
          priority: INFO
          exceptions:
            - name: by_lower_name
              fields: [tolower(proc.name), basename(fd.name)]
              values:
                - [cat, shadow]
            - name: by_lower_parent
              fields: toupper(proc.pname)
              comps: in
              values: [SSHD]
        """,
    )
    assert rs is not None, _errors(res)
    assert "tolower(proc.name) = cat and  basename(fd.name) = shadow" in rs.rules[0].condition
    assert "toupper(proc.pname) in (SSHD)" in rs.rules[0].condition
    for bad in ("tolower(nope.field)", "tolower(proc.name"):
        _, res = _load(tmp_path, f"""
        - rule: r
          desc: d
          condition: evt.type = open
          output: o
          priority: INFO
          exceptions:
            - name: e
              fields: [{bad}]
              values: [[x]]
        """)
        assert any(f"'{bad}' is not a supported filter field" in m for m in _errors(res)), _errors(res)
