"""Fixtures for sidekick tests: the real `rae sidekick` process, HTTP receivers, polling helpers.

Every server binds 127.0.0.1 on a free port and is stopped in a ``finally``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the server may not be up yet
            last_exc = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last_exc})" if last_exc else ""))


def wait_port(port: int, timeout: float = 20.0) -> None:
    def ok() -> bool:
        with socket.socket() as s:
            s.settimeout(0.2)
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(ok, timeout, f"127.0.0.1:{port}")


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def alert(rule: str = "Terminal shell in container", priority: str = "Warning", n: int = 0, **extra: Any) -> dict:
    """A Falco JSON alert as `rae run` / Falco send it."""
    fields = {"proc.name": "bash", "container.id": f"c{n:04d}", "evt.time": 1704164645123456789 + n}
    fields.update(extra.pop("fields", {}))
    body = {
        "hostname": extra.pop("hostname", "node-1"),
        "output": f"15:04:05.123456789: {priority} shell spawned (n={n} proc=bash)",
        "priority": priority,
        "rule": rule,
        "source": extra.pop("source", "syscall"),
        "tags": extra.pop("tags", ["container", "shell"]),
        "time": f"2024-01-02T03:04:05.{123456789 + n:09d}Z",
        "output_fields": fields,
    }
    body.update(extra)
    return body


def http(method: str, url: str, body: bytes | None = None, timeout: float = 10.0, **kw: Any) -> tuple[int, bytes, Any]:
    req = urllib.request.Request(url, data=body, method=method, headers=kw.get("headers", {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=kw.get("context")) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


@dataclass
class SidekickProcess:
    """A running `rae sidekick`, started from a config dict."""

    config: dict[str, Any]
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    scheme: str = "http"

    def start(self, wait: bool = True) -> SidekickProcess:
        self.port = self.port or free_port()
        self.config.setdefault("listenport", self.port)
        self.config.setdefault("listenaddress", "127.0.0.1")
        cfg_path = self.tmp / f"sidekick-{self.port}.yaml"
        cfg_path.write_text(yaml.safe_dump(self.config))
        self.log_path = self.tmp / f"sidekick-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME", "LANG")}
        env.update(self.env)
        env["PYTHONPATH"] = str(REPO / "src")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rae.cli", "sidekick", "-c", str(cfg_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        if wait:
            wait_for(self._healthy, 30, f"sidekick on port {self.port} (log: {self.log_path})")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"sidekick exited {self.proc.returncode}: {self.log()}")
        if self.scheme != "http":
            with socket.create_connection(("127.0.0.1", self.port), 0.5):
                return True
        return http("GET", self.url("/healthz"), timeout=1)[0] == 200

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def post(self, body: dict | bytes | str, path: str = "/") -> tuple[int, bytes]:
        data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
        status, text, _ = http("POST", self.url(path), data, headers={"Content-Type": "application/json"})
        return status, text

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, text, _ = http("GET", self.url("/metrics"))
        assert status == 200
        out = {}
        for family in text_string_to_metric_families(text.decode()):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def metric(self, name: str, **labels: str) -> float:
        total = 0.0
        for (n, lbls), v in self.metrics().items():
            d = dict(lbls)
            if n == name and all(d.get(k) == val for k, val in labels.items()):
                total += v
        return total

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


@pytest.fixture
def sidekick_factory(tmp_path: Path) -> Iterator[Callable[..., SidekickProcess]]:
    started: list[SidekickProcess] = []

    def make(config: dict[str, Any], env: dict[str, str] | None = None, **kw: Any) -> SidekickProcess:
        sk = SidekickProcess(config=config, tmp=tmp_path, env=env or {}, **kw)
        started.append(sk)
        return sk.start()

    try:
        yield make
    finally:
        for sk in started:
            sk.stop()


# --- a recording HTTP receiver -------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A threaded HTTP server that records every request and answers per path.

    ``answers[path_prefix] = (status, body, content_type)``; default 200 with ``ok``.
    ``fail_next`` makes the next N requests answer 503 (an outage the sender should retry).
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answers: dict[str, tuple[int, bytes, str]] = {}
        self.fail_next = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver.lock:
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        status, answer, ctype = 503, b"unavailable", "text/plain"
                    else:
                        receiver.requests.append(
                            Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                        )
                        status, answer, ctype = 200, b"ok", "text/plain"
                        for prefix, spec in receiver.answers.items():
                            if self.path.startswith(prefix):
                                status, answer, ctype = spec
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_PUT = do_GET = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.split("?")[0].startswith(path)]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@contextlib.contextmanager
def daemon(
    argv: list[str], port: int, log: Path, stop_signal: int = signal.SIGTERM, **kw: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until the context ends (``stop_signal``, then SIGKILL); wait for its TCP port."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
    try:
        try:
            wait_port(port, 30)
        except AssertionError:
            raise AssertionError(f"{argv[0]} did not start: {log.read_text()[-2000:]}") from None
        yield proc
    finally:
        stop_process(proc, sig=stop_signal)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("falco-client@example")
    paths = {
        "ca": tmp / "ca.crt",
        "server_crt": tmp / "server.crt",
        "server_key": tmp / "server.key",
        "client_crt": tmp / "client.crt",
        "client_key": tmp / "client.key",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.private_key_pem.write_to_path(str(paths["server_key"]))
    server.cert_chain_pems[0].write_to_path(str(paths["server_crt"]))
    client.private_key_pem.write_to_path(str(paths["client_key"]))
    client.cert_chain_pems[0].write_to_path(str(paths["client_crt"]))
    return paths
