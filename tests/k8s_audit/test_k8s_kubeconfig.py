"""`rae k8s-audit kubeconfig`: the printed file is what kube-apiserver needs to reach the webhook."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from pathlib import Path

import pytest
import yaml
from k8s_helpers import load_events

from rae.cli import main
from rae.k8s_audit.webhook import AuditWebhook


def test_kubeconfig_reaches_the_webhook(
    webhook: AuditWebhook, tls_files: dict[str, Path], traces: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["k8s-audit", "kubeconfig", "--ca", str(tls_files["ca"]), "--url", webhook.url]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["kind"] == "Config" and cfg["current-context"] == "audit-webhook"
    assert cfg["contexts"][0]["context"]["cluster"] == "audit-webhook"
    assert cfg["users"] == []
    cluster = cfg["clusters"][0]["cluster"]
    assert cluster["server"] == webhook.url
    ca_pem = base64.b64decode(cluster["certificate-authority-data"]).decode()
    assert ca_pem.strip() == tls_files["ca"].read_text().strip()
    # use it as kube-apiserver would: trust only that CA, post to that server
    ctx = ssl.create_default_context(cadata=ca_pem)
    url = cluster["server"].removeprefix("https://")
    hostport, path = url.split("/", 1)
    host, port = hostport.rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
    body = {"kind": "EventList", "items": load_events(traces / "create_deployment.json")}
    conn.request("POST", "/" + path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()


def test_default_url_and_errors(tls_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["k8s-audit", "kubeconfig", "--ca", str(tls_files["ca"])]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:9765/k8s-audit"
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello\n")
    assert main(["k8s-audit", "kubeconfig", "--ca", str(not_pem)]) == 1
    assert "no PEM certificate" in capsys.readouterr().err
    assert main(["k8s-audit", "kubeconfig", "--ca", str(tmp_path / "missing.pem")]) == 1
    assert main(["k8s-audit", "kubeconfig", "--ca", str(tls_files["ca"]), "--url", "http://x:1/a"]) == 1


def test_policy_is_an_audit_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["k8s-audit", "policy"]) == 0
    policy = yaml.safe_load(capsys.readouterr().out)
    assert policy["apiVersion"] == "audit.k8s.io/v1" and policy["kind"] == "Policy"
    assert policy["omitStages"] == ["RequestReceived"]
    assert policy["rules"][-1] == {"level": "Metadata"}
