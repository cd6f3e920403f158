"""Harness: Falco's regression cases that replay a capture, run through `rae replay`.

Each case becomes a `rae replay` invocation (in process, through the CLI entry point) with the
case's rules, config, options and trace file, and its expectations are checked: ``detect``,
``detect_level``, exact ``detect_counts``, ``stdout_contains``/``stderr_contains`` (and their
``not`` forms), ``output_strictly_contains`` against the golden files, ``exit_status``.
Cases that cannot apply are listed in NOT_APPLICABLE with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from falco_cases import as_list, corpus_path, select_cases

from rae.cli import main as rae_main

NOT_APPLICABLE = {
    "detect_counts": "its trace traces-positive/falco-event-generator.scap is not public any more",
    "grpc_unix_socket_outputs": "the gRPC output was removed from Falco (0.44); rae has none",
    "monitor_syscall_drops_none": "simulate_drops fakes kernel drops; drop monitoring is tested live (issue 4)",
    "monitor_syscall_drops_ignore": "simulate_drops fakes kernel drops; drop monitoring is tested live (issue 4)",
    "monitor_syscall_drops_ignore_and_log": "simulate_drops fakes kernel drops; drop monitoring is tested live",
    "monitor_syscall_drops_log": "simulate_drops fakes kernel drops; drop monitoring is tested live (issue 4)",
    "monitor_syscall_drops_alert": "simulate_drops fakes kernel drops; drop monitoring is tested live (issue 4)",
    "monitor_syscall_drops_exit": "simulate_drops fakes kernel drops; drop monitoring is tested live (issue 4)",
}

#: stderr texts that differ only in rae's error prefix ("rae replay: error: …" vs "Error: …")
CASE_INSENSITIVE_STDERR = {"disabled_and_enabled_rules_1", "disabled_and_enabled_rules_2"}

_SUMMARY_LEVEL = re.compile(r"^\s+([A-Z]+): (\d+)$", re.M)
_SUMMARY_RULE = re.compile(r"^Triggered rules by rule name:\n((?:\s+.+: \d+\n?)*)", re.M)


def _cases() -> list[tuple[str, str, dict[str, Any]]]:
    return select_cases(lambda name, case: "trace_file" in case and "validate_rules_file" not in case
                        and not name.startswith("k8s"))


def _args(corpus: Path, case: dict[str, Any]) -> list[str]:
    args = ["replay", str(corpus_path(corpus, case["trace_file"]))]
    for r in as_list(case.get("rules_file")):
        args += ["-r", str(corpus_path(corpus, r))]
    if "conf_file" in case:
        args += ["-c", str(corpus_path(corpus, case["conf_file"]))]
    else:
        args += ["-c", os.devnull]
    args += ["-o", f"json_output={str(bool(case.get('json_output', False))).lower()}"]
    for key in ("json_include_output_property", "json_include_tags_property"):
        if key in case:
            args += ["-o", f"{key}={str(bool(case[key])).lower()}"]
    if case.get("time_iso_8601"):
        args += ["-o", "time_format_iso_8601=true"]
    if "priority" in case:
        args += ["-o", f"priority={case['priority']}"]
    for d in as_list(case.get("disabled_rules")):
        args += ["-D", str(d)]
    for t in as_list(case.get("disable_tags")):
        args += ["-T", str(t)]
    for t in as_list(case.get("run_tags")):
        args += ["-t", str(t)]
    return args


def _summary_counts(err: str) -> tuple[int, Counter[str], Counter[str]]:
    m = re.search(r"^Events detected: (\d+)$", err, re.M)
    total = int(m.group(1)) if m else 0
    levels: Counter[str] = Counter()
    sev = err.split("Rule counts by severity:", 1)
    if len(sev) == 2:
        block = sev[1].split("Triggered rules by rule name:", 1)[0]
        for lvl, n in _SUMMARY_LEVEL.findall(block):
            levels[lvl] += int(n)
    rules: Counter[str] = Counter()
    rm = _SUMMARY_RULE.search(err)
    if rm:
        for line in rm.group(1).splitlines():
            name, _, n = line.strip().rpartition(": ")
            rules[name] += int(n)
    return total, levels, rules


def _level(text: str) -> str:
    t = text.upper()
    return {"INFORMATIONAL": "INFO", "WARN": "WARNING"}.get(t, t)


@pytest.fixture
def falco_outputs() -> Any:
    d = Path("/tmp/falco_outputs")
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize(("suite", "name", "case"), _cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_replay_case(
    corpus_dir: Path,
    suite: str,
    name: str,
    case: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
    falco_outputs: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if name in NOT_APPLICABLE:
        pytest.skip(NOT_APPLICABLE[name])
    monkeypatch.setenv("FALCO_HOSTNAME", "test-falco-hostname")
    rc = rae_main(_args(corpus_dir, case))
    out, err = capfd.readouterr()
    assert "Traceback" not in err
    assert rc == case.get("exit_status", 0), err
    total, levels, rules = _summary_counts(err)
    if "detect" in case and rc == 0:
        if case["detect"]:
            assert total > 0, err
            for lvl in as_list(case.get("detect_level")):
                assert levels[_level(lvl)] > 0, f"no {lvl} alert: {err}"
        else:
            assert total == 0, err
    for entry in as_list(case.get("detect_counts")):
        for rule, n in entry.items():
            assert rules[rule] == n, f"{rule}: expected {n}, got {rules[rule]}\n{err}"
    for pat in as_list(case.get("stdout_contains")):
        assert re.search(pat, out, re.M), f"stdout lacks /{pat}/:\n{out[:2000]}"
    for pat in as_list(case.get("stdout_not_contains")):
        assert not re.search(pat, out, re.M)
    flags = re.M | (re.I if name in CASE_INSENSITIVE_STDERR else 0)
    for pat in as_list(case.get("stderr_contains")):
        assert re.search(pat, err, flags), f"stderr lacks /{pat}/:\n{err[:2000]}"
    for pat in as_list(case.get("stderr_not_contains")):
        assert not re.search(pat, err, re.M)
    for entry in as_list(case.get("output_strictly_contains")):
        for where, golden in entry.items():
            text = out if where == "stdout" else Path(where).read_text()
            want = corpus_path(corpus_dir, golden).read_text().splitlines()
            got = [line for line in text.splitlines() if line in set(want)]
            assert got == want, f"golden {golden} differs"


def test_print_mode_filter_after_options(corpus_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """`rae replay FILE -p FORMAT FILTER`: the trailing filter is taken, as sysdig takes it."""
    cap = corpus_dir / "falco-regression" / "trace_files" / "cat_write.scap"
    rc = rae_main(["replay", str(cap), "-p", "%evt.num %evt.type %evt.dir %fd.name", "evt.type=open and evt.dir=<"])
    out, err = capfd.readouterr()
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 4 and all(" open < " in line for line in lines)
    assert lines[-1].endswith("/dev/null")
    rc = rae_main(["replay", str(cap), "-p", "%evt.num", "evt.type=open and"])
    assert rc == 1 and "invalid filter" in capfd.readouterr().err


def test_corrupt_captures_exit_1_with_one_line(
    corpus_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Truncated, bit-flipped and empty captures: exit 1, one error line naming the file, no traceback."""
    import gzip
    import random

    data = gzip.decompress((corpus_dir / "falco-regression/trace_files/cat_write.scap").read_bytes())
    rng = random.Random(7)
    cases = {"empty.scap": b"", "trunc.scap": data[: len(data) // 2], "garbage.scap": b"\x0a\x0d\x0d\x0a" + b"x" * 64}
    for i in range(12):
        flipped = bytearray(data)
        for _ in range(20):
            flipped[rng.randrange(100, len(flipped))] ^= 0xFF
        cases[f"flip{i}.scap"] = bytes(flipped)
    for name, blob in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        rc = rae_main(["replay", str(p), "-p", "%evt.num %proc.name %fd.name %evt.args"])
        _out, err = capfd.readouterr()
        assert "Traceback" not in err
        if rc != 0:
            errors = [line for line in err.splitlines() if "error" in line]
            assert rc == 1 and len(errors) == 1 and name in errors[0], err
        else:  # a flip that only changed values is read to the end
            assert name.startswith("flip")
    assert rc in (0, 1)
