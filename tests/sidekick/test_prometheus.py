"""A real Prometheus scrapes `rae sidekick`: PromQL by rule and priority, and an alerting rule fires."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from .conftest import alert, http, wait_for
from .servers import prometheus_server

RULES = """groups:
  - name: runtime-audit
    rules:
      - alert: CriticalFalcoEvent
        expr: sum by (rule) (falcosecurity_falcosidekick_falco_events_total{priority_raw="critical"}) > 0
        labels:
          severity: critical
"""


def _query(port: int, expr: str) -> list[dict]:
    status, body, _ = http("GET", f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(expr)}")
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def test_prometheus_scrapes_and_alerts(sidekick_factory, tmp_path) -> None:
    sk = sidekick_factory({"prometheus": {"maxlabelsets": 100}})
    posted = [("Terminal shell in container", "Warning")] * 3 + [("Write below etc", "Critical")] * 2
    for n, (rule, prio) in enumerate(posted):
        assert sk.post(alert(rule, prio, n, fields={"k8s.ns.name": "prod", "k8s.pod.name": f"web-{n}"}))[0] == 200
    with prometheus_server(tmp_path, sk.port, RULES) as prom:
        expr = "sum by (rule, priority, priority_raw) (falcosecurity_falcosidekick_falco_events_total)"
        result = wait_for(lambda: len(_query(prom.port, expr)) == 2 and _query(prom.port, expr), 60,
                          "the first scrape")
        got = {(r["metric"]["rule"], r["metric"]["priority"], r["metric"]["priority_raw"]): float(r["value"][1])
               for r in result}
        assert got == {
            ("Terminal shell in container", "4", "warning"): 3.0,
            ("Write below etc", "6", "critical"): 2.0,
        }
        by_pod = _query(prom.port, 'falcosecurity_falcosidekick_falco_events_total{k8s_pod_name="web-4"}')
        assert [r["metric"]["k8s_ns_name"] for r in by_pod] == ["prod"]

        def firing() -> list[dict]:
            _, body, _ = http("GET", f"http://127.0.0.1:{prom.port}/api/v1/alerts")
            return [a for a in json.loads(body)["data"]["alerts"] if a["state"] == "firing"]

        alerts = wait_for(firing, 60, "CriticalFalcoEvent firing")
        assert [(a["labels"]["alertname"], a["labels"]["rule"]) for a in alerts] == [
            ("CriticalFalcoEvent", "Write below etc")
        ]


def test_exposition_passes_promtool(sidekick_factory, tmp_path) -> None:
    """`promtool check metrics` (Prometheus' linter) accepts /metrics, and no *_created series leak out."""
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    sk = sidekick_factory({"file": {"path": str(tmp_path / "a.jsonl")}})
    assert sk.post(alert("Lint me", "Error"))[0] == 200
    _, text, _ = http("GET", sk.url("/metrics"))
    res = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert b"_created" not in text
    assert b'falcosecurity_falcosidekick_outputs_total{destination="file",status="error"} 0.0' in text
