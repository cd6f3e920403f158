"""Mutated bodies against the standalone webhook process: it must answer each, stay alive, and
keep its memory bounded."""

from __future__ import annotations

import http.client
import json
import os
import random
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from k8s_helpers import load_events

N_BODIES = 300
SEED = 20240605


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _mutate(rng: random.Random, base: bytes) -> bytes:
    data = bytearray(base)
    op = rng.randrange(9)
    if op == 0:  # flip bytes
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif op == 1:  # truncate
        del data[rng.randrange(len(data)) :]
    elif op == 2:  # insert random bytes
        pos = rng.randrange(len(data))
        data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif op == 3:  # swap the kind
        kind = rng.choice([b'"Event"', b"null", b'"Pod"', b"[]", b"{}"])
        data = bytearray(base.replace(b'"EventList"', kind))
    elif op == 4:  # deep nesting
        depth = rng.randint(10, 50000)
        data = bytearray(b"[" * depth + b"]" * rng.choice([depth, depth // 2]))
    elif op == 5:  # a huge string in an event
        doc = json.loads(base)
        doc["items"][0]["annotations"] = {"x": "y" * rng.choice([1000, 300000])}
        data = bytearray(json.dumps(doc).encode())
    elif op == 6:  # odd numbers and literals
        number = rng.choice([b"1e999999", b"-0", b"NaN", b"Infinity", b"1.5e3"])
        data = bytearray(base.replace(b"201", number))
    elif op == 7:  # timestamps
        data = bytearray(base.replace(b"2018-10-25T", rng.choice([b"2018-13-45T", b"", b"yesterdayT", b"1"])))
    else:  # duplicate the item list many times
        doc = json.loads(base)
        doc["items"] = doc["items"] * rng.randint(1, 200)
        data = bytearray(json.dumps(doc).encode())
    return bytes(data)


@pytest.fixture
def server(tls_files: dict[str, Path]):  # type: ignore[no-untyped-def]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rae.k8s_audit.webhook", "--url", "https://127.0.0.1:0/k8s-audit",
         "--cert", str(tls_files["combined"]), "--queue-size", "20000"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert proc.stderr is not None
        port = 0
        for _ in range(50):
            line = proc.stderr.readline().decode()
            if not line:
                break
            if line.startswith("listening "):
                port = int(line.rsplit(":", 1)[1].split("/", 1)[0])
                break
        assert port, "the webhook process did not start"
        # keep the pipe drained so warning lines never block the server
        import threading

        drain = threading.Thread(target=lambda: proc.stderr.read(), daemon=True)  # type: ignore[union-attr]
        drain.start()
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_fuzzed_bodies(server, client_ctx: ssl.SSLContext, traces: Path) -> None:  # type: ignore[no-untyped-def]
    proc, port = server
    items = load_events(traces / "create_nginx_pod_privileged.json") + load_events(traces / "exec_pod.json")
    base = json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}).encode()
    rng = random.Random(SEED)

    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_ctx, timeout=30)

    def send(body: bytes) -> int:
        nonlocal conn
        for _attempt in range(2):
            try:
                conn.request("POST", "/k8s-audit", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                return resp.status
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_ctx, timeout=30)
        raise AssertionError("the webhook stopped answering")

    # warm up, then measure
    for _ in range(20):
        assert send(base) == 200
    rss_before = _rss_kib(proc.pid)
    statuses: dict[int, int] = {}
    for _ in range(N_BODIES):
        status = send(_mutate(rng, base))
        statuses[status] = statuses.get(status, 0) + 1
        assert status in (200, 400, 413, 422), status
    assert proc.poll() is None, "the webhook process died"
    assert send(base) == 200
    rss_after = _rss_kib(proc.pid)
    conn.close()
    # several kinds of refusal were exercised, and memory did not run away
    assert len(statuses) >= 3, statuses
    assert rss_after - rss_before < 80 * 1024, (rss_before, rss_after)
