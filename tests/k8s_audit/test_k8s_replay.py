"""Replay of audit files: JSON lines, EventList documents, gzip, and the problems reported."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from k8s_helpers import load_events

from rae.errors import RaeError
from rae.k8s_audit.events import MAX_EVENT_SIZE, decode_payload
from rae.k8s_audit.replay import AuditFileSource, open_audit_source
from rae.sources import detect_replay_kind


def collect(path: Path) -> tuple[list[str], list[int], list[str]]:
    warnings: list[str] = []
    src = AuditFileSource([str(path)], on_problem=warnings.append)
    events = list(src)
    return [e.obj.get("auditID") for e in events], [e.num for e in events], warnings


def test_every_corpus_trace_replays(traces: Path) -> None:
    files = sorted(traces.glob("*.json"))
    assert len(files) == 47
    for f in files:
        ids, nums, warnings = collect(f)
        expected = [e.get("auditID") for e in load_events(f) if e.get("kind") == "Event"]
        assert ids == expected, f
        assert nums == list(range(1, len(ids) + 1))
        if f.name == "fal_01_003.json":
            assert warnings == [f"{f}:1: data not recognized as a k8s audit event"]
        else:
            assert warnings == [], f


def test_source_protocol(traces: Path) -> None:
    src = open_audit_source(str(traces / "create_deployment.json"))
    assert src.source == "k8s_audit"
    evt = next(iter(src))
    assert evt.evtype == evt.obj["verb"] == "create"  # audit rules are indexed by verb
    assert isinstance(evt.ts, int) and evt.ts > 1_500_000_000 * 10**9
    assert detect_replay_kind(str(traces / "create_deployment.json")) == "k8s_audit"
    with pytest.raises(RaeError):
        open_audit_source(str(traces / "does-not-exist.json"))


def test_eventlist_document_and_gzip(tmp_path: Path, traces: Path) -> None:
    items = load_events(traces / "create_nginx_pod_privileged.json") + load_events(traces / "exec_pod.json")
    doc = tmp_path / "list.json"
    doc.write_text(json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}, indent=2))
    ids, _, warnings = collect(doc)
    assert ids == [i["auditID"] for i in items] and not warnings
    gz = tmp_path / "list.json.gz"
    gz.write_bytes(gzip.compress(doc.read_bytes()))
    assert collect(gz)[0] == ids
    assert detect_replay_kind(str(gz)) == "k8s_audit"
    # JSON lines mixing Events and EventLists
    mixed = tmp_path / "mixed.json"
    mixed.write_text(
        json.dumps(items[0]) + "\n\n" + json.dumps({"kind": "EventList", "items": items[1:]}) + "\n"
    )
    assert collect(mixed)[0] == ids


def test_bad_lines_are_reported_with_file_and_line_and_skipped(tmp_path: Path, traces: Path) -> None:
    good = load_events(traces / "create_deployment.json")[0]
    no_ts = {k: v for k, v in good.items() if k != "stageTimestamp"}
    big = dict(good, annotations={"x": "y" * MAX_EVENT_SIZE})
    path = tmp_path / "audit.log"
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{this is not json}",
                json.dumps(no_ts),
                json.dumps(big),
                '{"kind":"Pod"}',
                json.dumps(dict(good, stageTimestamp="not a time")),
                json.dumps(good),
            ]
        )
        + "\n"
    )
    ids, nums, warnings = collect(path)
    assert ids == [good["auditID"], good["auditID"]]
    assert nums == [1, 2]
    assert [w.split(": ", 1)[0] for w in warnings] == [
        f"{path}:2",
        f"{path}:3",
        f"{path}:4",
        f"{path}:5",
        f"{path}:6",
    ]
    assert "invalid JSON" in warnings[0]
    assert "can't read stageTimestamp" in warnings[1]
    assert "event larger than maxEventSize" in warnings[2]
    assert "data not recognized" in warnings[3]
    assert "RFC 3339" in warnings[4]


def test_a_truncated_last_line(tmp_path: Path, traces: Path) -> None:
    good = load_events(traces / "create_deployment.json")[0]
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(good) + "\n" + json.dumps(good)[:100])
    ids, _, warnings = collect(path)
    assert len(ids) == 1
    assert len(warnings) == 1 and warnings[0].startswith(f"{path}:2: invalid JSON")


def test_payload_forms() -> None:
    event = {"kind": "Event", "auditID": "a", "stageTimestamp": "2024-01-01T00:00:00Z"}
    assert len(decode_payload(json.dumps([event, {"kind": "EventList", "items": [event, event]}]))[0]) == 3
    assert decode_payload(json.dumps({"kind": "EventList", "items": []})) == ([], [])
