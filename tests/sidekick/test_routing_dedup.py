"""Routing by rule, tags and source (beyond minimumpriority), and the de-duplication window."""

from __future__ import annotations

import json

from .conftest import alert, wait_for


def test_routing_by_rule_tags_and_source(receiver, sidekick_factory, tmp_path) -> None:
    sk = sidekick_factory({
        "webhook": {"address": receiver.url("/by-rule"), "rules": ["Write below *", "Exact rule"]},
        "slack": {"webhookurl": receiver.url("/by-tag"), "tags": "shell,network"},  # a comma list, as in env
        "discord": {"webhookurl": receiver.url("/by-source"), "sources": ["k8s_audit"],
                    "minimumpriority": "warning"},
        "file": {"path": str(tmp_path / "all.jsonl")},
    })
    alerts = [
        alert("Write below etc", "Error", 1, tags=["filesystem"]),
        alert("Exact rule", "Notice", 2, tags=["network"]),
        alert("Terminal shell in container", "Warning", 3, tags=["shell", "container"]),
        alert("K8s secret read", "Warning", 4, source="k8s_audit", tags=["k8s"]),
        alert("K8s noise", "Informational", 5, source="k8s_audit", tags=["k8s"]),
    ]
    for a in alerts:
        assert sk.post(a)[0] == 200
    assert sk.post(b"", path="/test")[0] == 200  # Test rule reaches every output
    path = tmp_path / "all.jsonl"
    wait_for(lambda: path.exists() and len(path.read_text().splitlines()) == 6, 20, "file gets all")

    def rules(p: str) -> list[str]:
        return sorted(r.json()["rule"] if p == "/by-rule" else "" for r in receiver.on(p))

    wait_for(lambda: len(receiver.on("/by-rule")) == 3, 20, "webhook")
    wait_for(lambda: len(receiver.on("/by-tag")) == 3, 20, "slack")
    wait_for(lambda: len(receiver.on("/by-source")) == 2, 20, "discord")
    assert rules("/by-rule") == ["Exact rule", "Test rule", "Write below etc"]
    tagged = sorted(f["value"] for r in receiver.on("/by-tag") for f in r.json()["attachments"][0]["fields"]
                    if f["title"] == "rule")
    assert tagged == ["Exact rule", "Terminal shell in container", "Test rule"]
    by_source = sorted(f["value"] for r in receiver.on("/by-source") for f in r.json()["embeds"][0]["fields"]
                       if f["name"] == "rule")
    assert by_source == ["K8s secret read", "Test rule"]  # "K8s noise" is below warning
    assert sk.metric("rae_sidekick_output_filtered_total", destination="discord") == 4


def test_dedup_window_sends_one_summary(sidekick_factory, tmp_path) -> None:
    path = tmp_path / "d.jsonl"
    sk = sidekick_factory({"file": {"path": str(path)}, "dedup": {"window": 1.0}})
    for n in range(5):  # same rule and fields; only evt.time differs
        body = alert("Repeated", "Warning", 0)
        body["output_fields"]["evt.time"] += n
        assert sk.post(body)[0] == 200
    assert sk.post(alert("Repeated", "Warning", 0, fields={"proc.name": "sh"}))[0] == 200  # other fields
    lines = wait_for(lambda: path.exists() and len(path.read_text().splitlines()) == 3 and
                     [json.loads(x) for x in path.read_text().splitlines()], 20, "two alerts and one summary")
    assert [x["output_fields"]["proc.name"] for x in lines[:2]] == ["bash", "sh"]
    summary = lines[2]
    assert summary["output_fields"]["rae.dedup.count"] == 4
    assert "fired 4 more times with the same fields in the last 1s" in summary["output"]
    assert sk.metric("rae_sidekick_dedup_suppressed_total") == 4
    assert sk.metric("rae_sidekick_dedup_summaries_total") == 1
    # every received event is still counted in falcosidekick's metric
    assert sk.metric("falcosecurity_falcosidekick_falco_events_total", rule="Repeated") == 6
