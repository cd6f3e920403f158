"""`rae run` with only the audit webhook (engine.kind=nodriver): a test playing kube-apiserver
posts EventLists over TLS, verifying the server certificate against the CA, and reads the
alerts from the engine's stdout; malformed and fuzzed requests leave the engine serving."""

from __future__ import annotations

import http.client
import json
import os
import queue
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_helpers import load_events
from test_k8s_webhook_fuzz import _mutate, _rss_kib

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "k8s_audit_rules.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.port = port
        self.alerts: queue.Queue[dict[str, Any]] = queue.Queue()

    def read_alerts(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(b"{"):
                self.alerts.put(json.loads(line))

    def wait_alerts(self, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            try:
                got.append(self.alerts.get(timeout=0.2))
            except queue.Empty:
                continue
        return got


@pytest.fixture(scope="module")
def engine(tls_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    d = tmp_path_factory.mktemp("run")
    port = _free_port()
    cfg = {
        "engine": {"kind": "nodriver"},
        "plugins": [
            {
                "name": "k8saudit",
                "library_path": "libk8saudit.so",
                "init_config": {"sslCertificate": str(tls_files["combined"])},
                "open_params": f"https://127.0.0.1:{port}/k8s-audit",
            },
            {"name": "json", "library_path": "libjson.so", "init_config": ""},
        ],
        "load_plugins": ["k8saudit", "json"],
        "json_output": True,
        "webserver": {"enabled": False},
        "stdout_output": {"enabled": True},
        "syslog_output": {"enabled": False},
    }
    (d / "falco.yaml").write_text(json.dumps(cfg))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rae.cli", "run", "-c", str(d / "falco.yaml"), "-r", str(RULES)],
        stdout=subprocess.PIPE,
        stderr=open(d / "stderr.txt", "wb"),  # noqa: SIM115
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    eng = Engine(proc, port)
    threading.Thread(target=eng.read_alerts, daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"rae run exited {proc.returncode}: {(d / 'stderr.txt').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("rae run did not open the webhook port")
                time.sleep(0.1)
        yield eng
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _post(engine: Engine, ctx: ssl.SSLContext, body: bytes, method: str = "POST", path: str = "/k8s-audit") -> int:
    conn = http.client.HTTPSConnection("127.0.0.1", engine.port, context=ctx, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _list(items: list[dict[str, Any]]) -> bytes:
    return json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}).encode()


def test_alerts_from_posted_events(engine: Engine, client_ctx: ssl.SSLContext, traces: Path) -> None:
    items = load_events(traces / "exec_pod.json") + load_events(traces / "create_nginx_pod_privileged.json")
    assert _post(engine, client_ctx, _list(items)) == 200
    alerts = engine.wait_alerts(2)
    assert sorted(a["rule"] for a in alerts) == ["Attach/Exec Pod", "Privileged Pod Created"]
    for a in alerts:
        assert a["source"] == "k8s_audit"
    exec_alert = next(a for a in alerts if a["rule"] == "Attach/Exec Pod")
    assert exec_alert["output_fields"]["ka.uri.param[command]"] == "bash"
    assert exec_alert["time"] == "2018-10-26T13:38:34.902914000Z"  # the event's stageTimestamp


def test_malformed_requests_leave_the_engine_serving(engine: Engine, client_ctx: ssl.SSLContext, traces: Path) -> None:
    good = load_events(traces / "attach_pod.json")[0]
    big = dict(good, annotations={"x": "y" * 262144})
    assert _post(engine, client_ctx, b"{not json") == 400
    assert _post(engine, client_ctx, b'{"kind":"Pod"}') == 422
    assert _post(engine, client_ctx, _list([big])) == 413
    assert _post(engine, client_ctx, _list([good])[:-30]) == 400
    assert _post(engine, client_ctx, b"", method="GET") == 405
    assert _post(engine, client_ctx, b"{}", path="/nope") == 404
    with (
        socket.create_connection(("127.0.0.1", engine.port)) as raw,
        client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"POST /k8s-audit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 99999999\r\n\r\n")
        assert tls.recv(4096).startswith(b"HTTP/1.1 413")
    with socket.create_connection(("127.0.0.1", engine.port), timeout=10) as raw:
        raw.sendall(b"POST /k8s-audit HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        assert raw.recv(4096).startswith(b"HTTP/1.1 400")
    assert engine.proc.poll() is None
    assert _post(engine, client_ctx, _list([good])) == 200
    assert [a["rule"] for a in engine.wait_alerts(1)] == ["Attach/Exec Pod"]


def test_fuzzed_bodies_memory_bounded(engine: Engine, client_ctx: ssl.SSLContext, traces: Path) -> None:
    items = load_events(traces / "create_nginx_pod_privileged.json") + load_events(traces / "exec_pod.json")
    base = _list(items)
    rng = random.Random(7)
    for _ in range(10):
        _post(engine, client_ctx, base)
    engine.wait_alerts(20, timeout=10)
    rss_before = _rss_kib(engine.proc.pid)
    for _ in range(150):
        assert _post(engine, client_ctx, _mutate(rng, base)) in (200, 400, 413, 422)
    assert engine.proc.poll() is None
    rss_after = _rss_kib(engine.proc.pid)
    assert rss_after - rss_before < 80 * 1024, (rss_before, rss_after)
    while not engine.alerts.empty():
        engine.alerts.get_nowait()
    assert _post(engine, client_ctx, _list(load_events(traces / "attach_pod.json"))) == 200
    assert "Attach/Exec Pod" in [a["rule"] for a in engine.wait_alerts(1)]
