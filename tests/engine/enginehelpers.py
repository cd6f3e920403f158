"""A `rae run` child process for the engine tests: its config, its output read line by line, its endpoints."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def why_not_live() -> str | None:
    """Why the live syscall source cannot run here (None: it can)."""
    from rae.syscall import ebpf

    if os.geteuid() != 0:
        return "needs root (CAP_BPF and CAP_PERFMON) for the eBPF probe"
    if not os.path.exists(ebpf.BTF_PATH):
        return f"no kernel BTF at {ebpf.BTF_PATH}"
    if not ebpf.default_object_path().exists():
        return "probe object not built (make probe)"
    return None


def live_marks(timeout: float) -> list[pytest.MarkDecorator]:
    """A live engine test module's ``pytestmark``: marked live, bounded in time, skipped (with the
    reason) where the probe cannot run."""
    reason = why_not_live()
    return [pytest.mark.live, pytest.mark.timeout(timeout), pytest.mark.skipif(reason is not None, reason=reason or "")]


def write_config(path: Path, web_port: int, extra: dict[str, Any] | None = None) -> Path:
    cfg: dict[str, Any] = {
        "json_output": True,
        "stdout_output": {"enabled": True},
        "syslog_output": {"enabled": False},
        "log_level": "info",
        "webserver": {"enabled": True, "listen_address": "127.0.0.1", "listen_port": web_port,
                      "prometheus_metrics_enabled": True},
        "plugins": [],
        "load_plugins": [],
    }
    cfg.update(extra or {})
    path.write_text(yaml.safe_dump(cfg))
    return path


def replace_file(path: Path, text: str) -> None:
    """Write ``path`` whole in one rename, as editors and config management do."""
    tmp = path.with_name(path.name + ".tmp~")
    tmp.write_text(text)
    os.replace(tmp, path)


class Lines:
    """The lines a pipe produced so far, collected by a thread; wait for one with `wait_for`."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._cv:
                self.lines.append(line.rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self.lines.append("\0EOF")
            self._cv.notify_all()

    def wait_for(self, pred: Callable[[str], bool], start: int = 0, timeout: float = 10.0) -> tuple[int, str]:
        """The first line from index ``start`` on with ``pred(line)``; fails after ``timeout`` s."""
        end = time.monotonic() + timeout
        with self._cv:
            i = start
            while True:
                while i < len(self.lines):
                    line = self.lines[i]
                    if line != "\0EOF" and pred(line):
                        return i, line
                    i += 1
                left = end - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1] == "\0EOF"):
                    last = self.lines[-15:]
                    raise AssertionError(f"no matching line within {timeout}s; last lines: {last}")
                self._cv.wait(left)

    def join(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)

    def __len__(self) -> int:
        with self._cv:
            return len(self.lines)


class RaeRun:
    """`rae run ARGS` as a child process with its stdout (alerts) and stderr (log) collected."""

    def __init__(self, args: list[str], web_port: int) -> None:
        self.web_port = web_port
        env = dict(os.environ, FALCO_HOSTNAME="engine-test", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "rae.cli", "run", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO))
        self.out = Lines(self.proc.stdout)
        self.err = Lines(self.proc.stderr)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.err.join()
                raise AssertionError(f"rae run exited with {self.proc.returncode}: {self.err.lines[-10:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/healthz", timeout=1) as r:
                    if r.status == 200 and json.loads(r.read()) == {"status": "ok"}:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"rae run not healthy within {timeout}s: {self.err.lines[-10:]}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, sample_prefix: str) -> float | None:
        """The value of the first sample line starting with ``sample_prefix`` (name plus labels)."""
        for line in self.metrics().splitlines():
            if line.startswith(sample_prefix):
                return float(line.rsplit(" ", 1)[1])
        return None

    def alerts(self, start: int = 0) -> list[dict[str, Any]]:
        out = []
        for line in self.out.lines[start:]:
            if line.startswith("{"):
                out.append(json.loads(line.replace(', "output_fields": ', ',"output_fields":')))
        return out

    def wait_alert(self, pred: Callable[[dict[str, Any]], bool], start: int = 0,
                   timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
        def match(line: str) -> bool:
            return line.startswith("{") and pred(json.loads(line))

        i, line = self.out.wait_for(match, start, timeout)
        return i, json.loads(line)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.join()
        self.err.join()
        return self.proc.returncode


def post_audit(url: str, body: bytes, ctx: ssl.SSLContext) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def audit_event_list(user: str, secret: str, verb: str = "get") -> bytes:
    """An ``audit.k8s.io/v1`` EventList with one event: ``user`` reads the secret ``secret``."""
    event = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": "ResponseComplete",
        "auditID": f"a-{user}-{secret}", "requestURI": f"/api/v1/namespaces/default/secrets/{secret}",
        "verb": verb, "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.1.2.3"], "userAgent": "kubectl/v1.30.0",
        "objectRef": {"resource": "secrets", "namespace": "default", "name": secret, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2026-11-26T10:00:00.000000Z",
        "stageTimestamp": "2026-11-26T10:00:00.100000Z",
    }
    return json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [event]}).encode()
