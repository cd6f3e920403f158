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


def _bodies(n_events: int, batch: int) -> list[bytes]:
    base = _corpus_events()
    bodies = []
    for start in range(0, n_events, batch):
        items = []
        for i in range(start, min(start + batch, n_events)):
            item = dict(base[i % len(base)])
            item["auditID"] = f"bench-{i}"
            items.append(item)
        bodies.append(json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}).encode())
    return bodies


def bench(batch: int, n_events: int, clients: int, rules: str, tls: dict[str, Any]) -> dict[str, Any]:
    ruleset = load_rules([rules], LoadOptions())
    hook = AuditWebhook(
        WebhookConfig(url="https://127.0.0.1:0/k8s-audit", cert_file=tls["pem"], queue_size=50000)
    )
    port = hook.start_in_thread()
    bodies = _bodies(n_events, batch)
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
    args = parser.parse_args()
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    with tempfile.TemporaryDirectory() as d:
        pem = Path(d) / "falco.pem"
        pem.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems) + leaf.private_key_pem.bytes())
        tls = {"pem": str(pem), "ca": ca.cert_pem.bytes()}
        for batch in args.batch or [1, 100]:
            n = args.events if batch > 1 else min(args.events, 5000)
            print(json.dumps(bench(batch, n, args.clients, args.rules, tls)), flush=True)


if __name__ == "__main__":
    main()
