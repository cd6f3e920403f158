"""Audit events per second through the HTTPS webhook into the rules engine.

    python -m bench.k8s_audit [--events N] [--batch 1 --batch 100] [--clients 4] [--rules FILE]

The server side (webhook thread + one engine thread matching every event against the rules,
rendering an alert for each match) runs in this process; the client (kube-apiserver's part:
TLS keep-alive connections posting EventLists) runs in a child process so it does not compete
for this process's interpreter lock. The figure is events accepted and fully matched per
second, from the first request to the last event leaving the engine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import trustme

from bench.k8s_audit.client import post_all
from rae.k8s_audit.webhook import AuditWebhook, WebhookConfig
from rae.rules import LoadOptions, load_rules

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".." / "shared" / "corpus"


def _corpus_events() -> list[dict[str, Any]]:
    traces = CORPUS / "falco-regression" / "trace_files" / "k8s_audit"
    out: list[dict[str, Any]] = []
    for f in sorted(traces.glob("*.json")):
        for line in f.read_text().splitlines():
            if line.strip():
                obj = json.loads(line)
                if obj.get("kind") == "Event":
                    out.append(obj)
    return out


_ROUTINE = [
    ("get", "configmaps", "system:kube-controller-manager"),
    ("list", "pods", "system:kube-scheduler"),
    ("watch", "endpoints", "system:kube-proxy"),
    ("update", "leases", "system:node:worker-1"),
    ("get", "secrets", "system:serviceaccount:kube-system:coredns"),
    ("patch", "nodes", "system:node:worker-2"),
    ("create", "events", "system:kube-scheduler"),
]


def _routine_events(template: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """What a cluster mostly audits: control-plane reads, lease renewals, node status patches."""
    out = []
    for i in range(n):
        verb, resource, user = _ROUTINE[i % len(_ROUTINE)]
        e = json.loads(json.dumps(template))
        e.pop("requestObject", None)
        e.pop("responseObject", None)
        e["verb"] = verb
        e["user"] = {"username": user, "groups": ["system:authenticated"]}
        e["objectRef"] = {"resource": resource, "namespace": "kube-system", "name": f"obj-{i}", "apiVersion": "v1"}
        e["requestURI"] = f"/api/v1/namespaces/kube-system/{resource}/obj-{i}"
        e["responseStatus"] = {"metadata": {}, "code": 200}
        out.append(e)
    return out


def _mixed_events(mix: str) -> list[dict[str, Any]]:
    attacks = _corpus_events()
    if mix == "attack":
        return attacks
    # 1 corpus event (≈90% of which alert) in 20: a busy cluster with some suspicious activity
    routine = _routine_events(attacks[0], 19 * len(attacks))
    out = []
    for i, a in enumerate(attacks):
        out.append(a)
        out.extend(routine[19 * i : 19 * (i + 1)])
    return out


def _bodies(n_events: int, batch: int, mix: str = "attack") -> list[bytes]:
    base = _mixed_events(mix)
    bodies = []
    for start in range(0, n_events, batch):
        items = []
        for i in range(start, min(start + batch, n_events)):
            item = dict(base[i % len(base)])
            item["auditID"] = f"bench-{i}"
            items.append(item)
        bodies.append(json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}).encode())
    return bodies


def bench(
    batch: int, n_events: int, clients: int, rules: str, tls: dict[str, Any], mix: str = "attack"
) -> dict[str, Any]:
    ruleset = load_rules([rules], LoadOptions())
    hook = AuditWebhook(
        WebhookConfig(url="https://127.0.0.1:0/k8s-audit", cert_file=tls["pem"], queue_size=50000)
    )
    port = hook.start_in_thread()
    bodies = _bodies(n_events, batch, mix)
    done = threading.Event()
    counts = {"events": 0, "alerts": 0}
    t_last = [0.0]

    def engine() -> None:
        match = ruleset.match
        queue = hook.queue
        while counts["events"] < n_events:
            for evt in queue.get_batch(1024, timeout=1.0):
                for rule in match(evt, "k8s_audit"):
                    rule.make_alert(evt, hostname="bench")
                    counts["alerts"] += 1
                counts["events"] += 1
        t_last[0] = time.time()
        done.set()

    eng = threading.Thread(target=engine, daemon=True)
    eng.start()
    result: Any = multiprocessing.get_context("spawn").Queue()
    proc = multiprocessing.get_context("spawn").Process(
        target=post_all, args=(port, tls["ca"], bodies, clients, result)
    )
    proc.start()
    t0 = result.get(timeout=60)
    while not done.wait(0.5):
        if not proc.is_alive() and proc.exitcode not in (0, None):
            raise SystemExit(f"the client process failed (exit {proc.exitcode})")
    proc.join(60)
    errors = result.get(timeout=10)
    hook.stop_thread()
    elapsed = t_last[0] - t0
    return {
        "mix": mix,
        "batch": batch,
        "events": counts["events"],
        "alerts": counts["alerts"],
        "seconds": round(elapsed, 3),
        "events_per_s": round(counts["events"] / elapsed),
        "http_errors": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.k8s_audit", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--clients", type=int, default=1, help="concurrent connections (default 1, as kube-apiserver)")
    parser.add_argument("--rules", default=str(CORPUS / "upstream-rules" / "k8s_audit_rules.yaml"))
    parser.add_argument(
        "--mix", action="append", choices=["attack", "routine"],
        help="attack: the corpus events (~90%% alert); routine: 19 routine control-plane events per corpus event",
    )
    args = parser.parse_args()
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    with tempfile.TemporaryDirectory() as d:
        pem = Path(d) / "falco.pem"
        pem.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems) + leaf.private_key_pem.bytes())
        tls = {"pem": str(pem), "ca": ca.cert_pem.bytes()}
        for mix in args.mix or ["attack", "routine"]:
            for batch in args.batch or [1, 100]:
                n = args.events if batch > 1 else min(args.events, 5000)
                print(json.dumps(bench(batch, n, args.clients, args.rules, tls, mix)), flush=True)


if __name__ == "__main__":
    main()
