"""The built-in syscall rules over every capture of Falco's regression corpus raise no alert.

The corpus captures record ordinary activity (cat writing a file, a localhost connect, ping,
opening files, a madvise loop, an idle host running docker, dragent, java and sshd): nothing the
built-in rules should report. Any alert here is a false positive to tune away, so the expected
set is empty; it is spelled out per capture so that a deliberate exception shows up in review.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builtin_capture import RULES, alerts_of

from rae.rules import LoadOptions, load_rules

TRACES = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "falco-regression" / "trace_files"
#: capture name → rules expected to fire on it (with the reason), none so far
EXPECTED: dict[str, dict[str, str]] = {}


def captures() -> list[Path]:
    return sorted(TRACES.glob("*.scap")) if TRACES.is_dir() else []


@pytest.fixture(scope="module")
def ruleset() -> Any:
    return load_rules([str(RULES)], LoadOptions(rule_matching="all"))


def test_corpus_is_there(corpus_dir: Path) -> None:
    assert len(captures()) >= 6


@pytest.mark.parametrize("capture", captures(), ids=lambda p: p.name)
def test_no_unexpected_alert_on_corpus_capture(capture: Path, ruleset: Any) -> None:
    alerts = alerts_of(capture, ruleset)
    got = sorted({a["rule"] for a in alerts})
    assert got == sorted(EXPECTED.get(capture.name, {})), [a["output"] for a in alerts][:5]
