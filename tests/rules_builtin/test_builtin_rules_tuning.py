"""The tuning recipes of docs/rules.md work: a user file loaded after the built-in one can append to
a list, add exception values, disable a rule, and a FalcoAuditRules resource can replace a list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from builtin_capture import RULES, WEB, Capture, alerts_of, fired

from rae.rules import LoadOptions, load_rules
from rae.rules_loader.convert import convert_spec, dump_rules

O_RDONLY, W_NEW = 1, 2 | 4 | 256


def capture(tmp_path: Path) -> Path:
    """python3 reads /etc/shadow and writes a cron file; sshd reads /etc/shadow; nginx spawns sh."""
    c = Capture()
    c.process(150, "bash", "/usr/bin/bash")
    c.process(200, "python3", "/usr/bin/python3", ["x.py"], ptid=150)
    c.openat(200, "/etc/shadow", O_RDONLY, 3)
    c.openat(200, "/etc/cron.d/backdoor", W_NEW, 4)
    c.process(210, "sshd", "/usr/sbin/sshd", ptid=1)
    c.openat(210, "/etc/shadow", O_RDONLY, 3)
    c.process(50, "nginx", "/usr/sbin/nginx", ptid=1, container=WEB, vpid=1)
    c.process(100, "nginx", "/usr/sbin/nginx", ptid=50, container=WEB, vpid=7)
    c.execve(100, "/bin/sh", ["-c", "id"])
    return c.write(tmp_path / "tuning.scap")


def run(tmp_path: Path, user_rules: str | None) -> list[str]:
    paths = [str(RULES)]
    if user_rules is not None:
        extra = tmp_path / "user.yaml"
        extra.write_text(user_rules)
        paths.append(str(extra))
    ruleset: Any = load_rules(paths, LoadOptions(rule_matching="all"))
    return fired(alerts_of(capture(tmp_path), ruleset))


READ, ETC, SHELL = "Read Sensitive File by Untrusted Program", "Write Below Etc", "Shell Spawned in Container"


def test_baseline(tmp_path: Path) -> None:
    assert run(tmp_path, None) == [READ, ETC, SHELL]


def test_append_to_a_list(tmp_path: Path) -> None:
    user = """
- list: rae_sensitive_file_readers
  items: [python3]
  append: true
"""
    assert run(tmp_path, user) == [ETC, SHELL]


def test_append_exception_values(tmp_path: Path) -> None:
    user = """
- rule: Write Below Etc
  exceptions:
    - name: proc_writer
      values:
        - [python3, /etc/cron.d/backdoor]
  append: true
- rule: Shell Spawned in Container
  exceptions:
    - name: parent_and_image
      values:
        - [nginx, docker.io/library/nginx]
  override:
    exceptions: append
"""
    assert run(tmp_path, user) == [READ]


def test_disable_a_rule(tmp_path: Path) -> None:
    user = """
- rule: Shell Spawned in Container
  enabled: false
"""
    assert run(tmp_path, user) == [READ, ETC]


def test_falco_audit_rules_resource_replaces_a_list(tmp_path: Path) -> None:
    """A CR cannot append: its list replaces ours, so it must repeat the entries it keeps."""
    spec = {"rules": [{"list": {"name": "rae_sensitive_file_readers", "items": ["python3"]}}]}
    user = dump_rules(convert_spec(spec))
    assert yaml.safe_load(user) == [{"list": "rae_sensitive_file_readers", "items": ["python3"]}]
    # python3 is now trusted, and sshd (no longer listed) is reported
    got = run(tmp_path, user)
    assert got == [ETC, READ, SHELL]


def _doc_yaml_blocks() -> list[str]:
    doc = (RULES.parents[1] / "docs" / "rules.md").read_text()
    tuning = doc.split("### Tuning", 1)[1].split("### Limits", 1)[0]
    return [b.split("```", 1)[0] for b in tuning.split("```yaml\n")[1:]]


def test_documented_recipes_load(tmp_path: Path) -> None:
    """Every YAML example of docs/rules.md's Tuning section loads on top of the built-in rules."""
    blocks = _doc_yaml_blocks()
    assert len(blocks) == 4
    for i, text in enumerate(blocks):
        doc = yaml.safe_load(text)
        if isinstance(doc, dict):  # the FalcoAuditRules resource
            assert doc["kind"] == "FalcoAuditRules"
            text = dump_rules(convert_spec(doc["spec"]))
        extra = tmp_path / f"doc{i}.yaml"
        extra.write_text(text)
        ruleset = load_rules([str(RULES), str(extra)], LoadOptions())
        assert [w.one_line() for w in ruleset.warnings] == []
    # the override example lowers the priority and narrows the condition
    extra = tmp_path / "doc2.yaml"
    ruleset = load_rules([str(RULES), str(extra)], LoadOptions())
    rule = next(r for r in ruleset.rules if r.name == "Outbound Connection to Mining Pool Port")
    assert rule.priority.name == "NOTICE" and "my-game-server" in rule.condition
