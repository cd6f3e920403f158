"""The rules watcher catches what no watch could see — a file written into a directory that just
appeared before the watch on it is armed, a change between the rules' load and the watcher's
start — by comparing, once armed, what it can see with what the last load or reload request saw."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import watchfiles
import yaml
from prometheus_client import CollectorRegistry

from rae.engine import Engine, RunArgs

RULE = """
- rule: {name}
  desc: d
  condition: ka.verb = get
  output: o
  priority: INFO
  source: k8s_audit
"""


def _engine(tmp_path: Path, *rules: Path) -> Engine:
    """An engine prepared (config and rules loaded, no source opened) with its files in tmp_path."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"json_output": True, "load_plugins": [], "rules_files": [str(r) for r in rules]}))
    engine = Engine(RunArgs(config=str(cfg)), registry=CollectorRegistry())
    engine.prepare()
    return engine


def test_file_written_before_the_new_watch_is_armed_is_reloaded(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(RULE.format(name="base"))
    rules_d = tmp_path / "rules.d"
    engine = _engine(tmp_path, base, rules_d)
    calls: list[tuple[str, ...]] = []

    def fake_watch(*roots: str, **kw: Any) -> Iterator[set[tuple[watchfiles.Change, str]]]:
        calls.append(roots)
        if len(calls) == 1:  # watching tmp_path (rules.d is missing): the directory appears
            rules_d.mkdir()
            yield {(watchfiles.Change.added, str(rules_d))}
        elif len(calls) == 2:  # watching rules.d: a file lands before the watch is armed
            (rules_d / "10-extra.yaml").write_text(RULE.format(name="extra"))
            if kw.get("yield_on_timeout"):  # as watchfiles: empty sets only when asked for
                yield set()  # the first timeout: armed
                yield set()
            engine._stop.set()

    reloads: list[int] = []
    monkeypatch.setattr(watchfiles, "watch", fake_watch)
    monkeypatch.setattr(engine, "request_reload", lambda: reloads.append(len(calls)))
    engine._watch()
    assert calls == [(str(tmp_path),), (str(tmp_path), str(rules_d))]
    # one reload for the new directory, one for the file its new watch could not see
    assert reloads == [1, 2]


def test_no_extra_reload_when_nothing_changed_before_the_watch_was_armed(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(RULE.format(name="base"))
    engine = _engine(tmp_path, base)

    def fake_watch(*_roots: str, **kw: Any) -> Iterator[set[tuple[watchfiles.Change, str]]]:
        if kw.get("yield_on_timeout"):
            yield set()
            yield set()
        engine._stop.set()

    reloads: list[int] = []
    monkeypatch.setattr(watchfiles, "watch", fake_watch)
    monkeypatch.setattr(engine, "request_reload", lambda: reloads.append(1))
    engine._watch()
    assert reloads == []


def test_change_between_the_rules_load_and_the_watch_start_is_reloaded(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(RULE.format(name="base"))
    rules_d = tmp_path / "rules.d"
    engine = _engine(tmp_path, base, rules_d)  # rules.d missing when the rules are loaded
    rules_d.mkdir()  # before the watcher thread computed its roots (start-up is busy)
    (rules_d / "10-extra.yaml").write_text(RULE.format(name="extra"))
    calls: list[tuple[str, ...]] = []

    def fake_watch(*roots: str, **kw: Any) -> Iterator[set[tuple[watchfiles.Change, str]]]:
        calls.append(roots)
        if kw.get("yield_on_timeout"):
            yield set()  # armed: nothing more happens
        engine._stop.set()

    reloads: list[int] = []
    monkeypatch.setattr(watchfiles, "watch", fake_watch)
    monkeypatch.setattr(engine, "request_reload", lambda: reloads.append(1))
    engine._watch()
    assert calls == [(str(tmp_path), str(rules_d))]
    assert reloads == [1]
