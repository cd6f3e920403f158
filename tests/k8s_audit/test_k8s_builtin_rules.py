"""The built-in Kubernetes audit rules (rules/k8s_audit_rules.yaml) load and fire where meant."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_helpers import CORPUS

import rae.rules
from rae.k8s_audit.events import decode_payload
from rae.k8s_audit.replay import open_audit_source

RULES = Path(__file__).resolve().parents[2] / "rules" / "k8s_audit_rules.yaml"
UPSTREAM = CORPUS / "upstream-rules"


@pytest.fixture(scope="module")
def ruleset() -> Any:
    return rae.rules.load_rules([str(RULES)], rae.rules.LoadOptions(rule_matching="all"))


def fired(ruleset: Any, events: list[Any]) -> Counter[str]:
    out: Counter[str] = Counter()
    for evt in events:
        for rule in ruleset.match(evt, "k8s_audit"):
            rule.make_alert(evt, hostname="h")  # outputs render
            out[rule.name] += 1
    return out


def on_trace(ruleset: Any, traces: Path, name: str) -> Counter[str]:
    return fired(ruleset, list(open_audit_source(str(traces / name))))


def audit(**fields: Any) -> Any:
    obj = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "auditID": "t",
        "stage": "ResponseComplete",
        "stageTimestamp": "2024-05-06T07:08:09.000001Z",
        "verb": "get",
        "user": {"username": "alice", "groups": ["system:authenticated"]},
        "responseStatus": {"code": 200},
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }
    obj.update(fields)
    return decode_payload(json.dumps(obj))[0][0]


def test_every_rule_is_documented_and_tagged() -> None:
    doc = yaml.safe_load(RULES.read_text())
    rules = [item for item in doc if "rule" in item]
    assert len(rules) >= 10
    for r in rules:
        assert r["source"] == "k8s_audit"
        assert r["desc"].strip() and r["output"].strip()
        assert r["priority"] in ("EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG")
        assert "k8s" in r["tags"] and any(t.startswith("mitre_") for t in r["tags"]), r["rule"]
        assert any(t.startswith("T1") for t in r["tags"]), r["rule"]
    # the Deckhouse built-in rule names are kept
    names = {r["rule"] for r in rules}
    deckhouse = {"Anonymous Request Allowed", "Attach/Exec Pod", "FalcoAuditRules Created", "FalcoAuditRules Deleted"}
    assert deckhouse <= names
    # lists and macros cannot collide with Falco's own k8s audit rules
    named = [item.get("list") or item.get("macro") for item in doc if "list" in item or "macro" in item]
    assert named and all(n.startswith("rae_") for n in named)


@pytest.mark.parametrize(
    ("trace", "rule"),
    [
        ("anonymous_creates_namespace_foo.json", "Anonymous Request Allowed"),
        ("exec_pod.json", "Attach/Exec Pod"),
        ("attach_pod.json", "Attach/Exec Pod"),
        ("create_nginx_pod_privileged.json", "Privileged Pod Created"),
        ("create_nginx_pod_privileged_2nd_container.json", "Privileged Pod Created"),
        ("create_nginx_pod_hostnetwork.json", "Host Namespace Pod Created"),
        ("create_nginx_pod_sensitive_mount.json", "Sensitive hostPath Mount Pod Created"),
        ("create_nginx_pod_sensitive_mount_2nd_container.json", "Sensitive hostPath Mount Pod Created"),
        ("attach_cluster_admin_role.json", "Cluster-Admin Role Bound"),
    ],
)
def test_fires_on_corpus_traces(ruleset: Any, traces: Path, trace: str, rule: str) -> None:
    assert on_trace(ruleset, traces, trace) == Counter({rule: 1})


@pytest.mark.parametrize(
    "trace",
    [
        "create_nginx_pod_unprivileged.json",
        "create_nginx_pod_nohostnetwork.json",
        "create_nginx_pod_unsensitive_mount.json",
        "create_clusterrolebinding.json",
        "create_pod_kube_system_namespace.json",
        "some-user_creates_namespace_foo.json",
        "create_deployment.json",
        "create_secret.json",
    ],
)
def test_quiet_on_benign_traces(ruleset: Any, traces: Path, trace: str) -> None:
    assert on_trace(ruleset, traces, trace) == Counter()


def test_secret_reads(ruleset: Any) -> None:
    ref = {"resource": "secrets", "namespace": "prod", "name": "db"}
    assert fired(ruleset, [audit(objectRef=ref)]) == Counter({"Secret Read by Unexpected User": 1})
    for user in ("system:serviceaccount:kube-system:generic-garbage-collector", "system:kube-controller-manager",
                 "system:node:worker-1", "system:serviceaccount:d8-system:deckhouse"):
        assert not fired(ruleset, [audit(objectRef=ref, user={"username": user})]), user
    denied = audit(objectRef=ref, responseStatus={"code": 403})
    assert not fired(ruleset, [denied])


def test_anonymous_variants(ruleset: Any) -> None:
    unauth = audit(user={"username": "x", "groups": ["system:unauthenticated"]}, requestURI="/api/v1/pods")
    assert fired(ruleset, [unauth]) == Counter({"Anonymous Request Allowed": 1})
    probe = audit(user={"username": "system:anonymous"}, requestURI="/readyz?verbose")
    assert not fired(ruleset, [probe])
    refused = audit(user={"username": "system:anonymous"}, requestURI="/api",
                    annotations={"authorization.k8s.io/decision": "forbid"})
    assert not fired(ruleset, [refused])


def test_falcoauditrules_and_ephemeral_containers(ruleset: Any) -> None:
    ref = {"resource": "falcoauditrules", "name": "custom", "apiGroup": "deckhouse.io"}
    assert fired(ruleset, [audit(verb="create", objectRef=ref, responseStatus={"code": 201})]) == Counter(
        {"FalcoAuditRules Created": 1}
    )
    assert fired(ruleset, [audit(verb="delete", objectRef=ref)]) == Counter({"FalcoAuditRules Deleted": 1})
    eph = audit(
        verb="patch",
        objectRef={"resource": "pods", "subresource": "ephemeralcontainers", "name": "web", "namespace": "prod"},
        requestObject={"spec": {"ephemeralContainers": [{"name": "debugger", "image": "busybox"}]}},
    )
    assert fired(ruleset, [eph]) == Counter({"Ephemeral Container Added to Pod": 1})


def test_privileged_init_container_and_system_namespace(ruleset: Any) -> None:
    spec = {"containers": [{"name": "a", "image": "nginx"}],
            "initContainers": [{"name": "i", "image": "busybox", "securityContext": {"privileged": True}}]}
    ev = audit(verb="create", objectRef={"resource": "pods", "namespace": "prod"}, responseStatus={"code": 201},
               requestObject={"kind": "Pod", "spec": spec})
    assert fired(ruleset, [ev]) == Counter({"Privileged Pod Created": 1})
    sys_ev = audit(verb="create", objectRef={"resource": "pods", "namespace": "d8-monitoring"},
                   responseStatus={"code": 201}, requestObject={"kind": "Pod", "spec": spec})
    assert not fired(ruleset, [sys_ev])


def test_loads_next_to_falco_k8s_rules(traces: Path) -> None:
    """Loaded with Falco's own k8s audit rules, both keep working (no shared macro names)."""
    both = rae.rules.load_rules(
        [str(UPSTREAM / "k8s_audit_rules-0.6.0.yaml"), str(RULES)], rae.rules.LoadOptions(rule_matching="all")
    )
    got = fired(both, list(open_audit_source(str(traces / "create_nginx_pod_privileged.json"))))
    assert got["Create Privileged Pod"] == 1 and got["Privileged Pod Created"] == 1
