"""End to end: `rae replay` → http_output → `rae sidekick` → file output; the alert JSON rae emits
is what sidekick accepts, and an unreachable sidekick does not stop the engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, free_port, wait_for

TRACES = REPO / ".." / "shared" / "corpus" / "falco-regression" / "trace_files" / "k8s_audit"
FILES = ["attach_pod.json", "create_clusterrole.json", "create_cluster_role_wildcard_verbs.json"]


def _replay(url: str) -> subprocess.CompletedProcess[str]:
    paths = [str(TRACES / f) for f in FILES]
    if not all(Path(p).exists() for p in paths):
        pytest.skip(f"test corpus not found at {TRACES}")
    return subprocess.run(
        [sys.executable, "-m", "rae.cli", "replay", *paths, "-r", str(REPO / "rules" / "k8s_audit_rules.yaml"),
         "-o", "json_output=true", "-o", "http_output.enabled=true", "-o", f"http_output.url={url}"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )


def test_replay_alerts_reach_sidekick(sidekick_factory, tmp_path) -> None:
    out = tmp_path / "alerts.jsonl"
    sk = sidekick_factory({"file": {"path": str(out)}})
    res = _replay(sk.url("/"))
    assert res.returncode == 0, res.stderr
    printed = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert printed, res.stderr
    got = wait_for(lambda: out.exists() and len(out.read_text().splitlines()) == len(printed) and
                   [json.loads(x) for x in out.read_text().splitlines()], 30, "sidekick file output")
    assert sorted((a["rule"], a["output"]) for a in got) == sorted((a["rule"], a["output"]) for a in printed)
    assert all(a["source"] == "k8s_audit" and a["uuid"] for a in got)
    assert sk.metric("falcosecurity_falcosidekick_inputs_total", status="rejected") == 0
    assert sk.metric("falcosecurity_falcosidekick_falco_events_total", source="k8s_audit") == len(printed)


def test_replay_with_sidekick_down_still_emits() -> None:
    res = _replay(f"http://127.0.0.1:{free_port()}/")
    assert res.returncode == 0, res.stderr
    assert [line for line in res.stdout.splitlines() if line.startswith("{")]
