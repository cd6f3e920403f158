"""Real servers for the sidekick output tests, each on 127.0.0.1 and a free port, stopped on exit.

Debian packages (tools/apt-packages.txt): redis-server, mosquitto, nats-server, postgresql,
rsyslog, prometheus, prometheus-alertmanager, influxdb. SMTP is aiosmtpd (PyPI), in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import daemon, free_port, http, wait_for

# Debian keeps the PostgreSQL server binaries out of PATH, under the major version
PG_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)


def need(binary: str) -> str:
    path = shutil.which(binary) or next((str(d / binary) for d in PG_BINS if (d / binary).exists()), None)
    if path is None:
        pytest.skip(f"{binary} is not installed (tools/apt-packages.txt; run `make deps`)")
    return path


@dataclass
class Server:
    port: int
    dir: Path
    proc: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def redis_server(tmp: Path, port: int | None = None) -> Iterator[Server]:
    port = port or free_port()
    argv = [need("redis-server"), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(tmp), "--protected-mode", "no"]
    with daemon(argv, port, tmp / f"redis-{port}.log") as proc:
        yield Server(port, tmp, proc)


@contextlib.contextmanager
def mosquitto_server(tmp: Path) -> Iterator[Server]:
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n")
    with daemon([need("mosquitto"), "-c", str(conf)], port, tmp / "mosquitto.log") as proc:
        yield Server(port, tmp, proc)


@contextlib.contextmanager
def nats_server(tmp: Path) -> Iterator[Server]:
    port = free_port()
    with daemon([need("nats-server"), "-a", "127.0.0.1", "-p", str(port)], port, tmp / "nats.log") as proc:
        yield Server(port, tmp, proc)


async def _pg_ping(port: int) -> bool:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres", timeout=2)
    try:
        return await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


@contextlib.contextmanager
def postgres_server(base: Path | None = None, port: int | None = None) -> Iterator[Server]:
    """initdb into a fresh directory (as the postgres user when we are root) and run postgres.

    With ``base`` (a directory from an earlier run) the same cluster is started again.
    """
    initdb, postgres = need("initdb"), need("postgres")
    owned = base is None
    base = base or Path(tempfile.mkdtemp(prefix="rae-pg-", dir="/tmp"))
    as_user: dict[str, Any] = {}
    try:
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root; the process itself switches user
            shutil.chown(base, "postgres", "postgres")
            as_user = {"user": "postgres", "group": "postgres", "extra_groups": []}
        data = base / "data"
        if not data.exists():
            subprocess.run([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                           check=True, capture_output=True, timeout=120, cwd=base, **as_user)
        port = port or free_port()
        argv = [postgres, "-D", str(data), "-p", str(port), "-k", str(base),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        # SIGINT: PostgreSQL's "fast" shutdown, which does not wait for clients to disconnect
        log = base / f"postgres-{port}.log"  # removed with the cluster
        with daemon(argv, port, log, signal.SIGINT, cwd=base, **as_user) as proc:
            # the port opens before the cluster accepts sessions ("the database system is starting up")
            wait_for(lambda: asyncio.run(_pg_ping(port)), 30, "PostgreSQL accepting connections")
            yield Server(port, base, proc)
    finally:
        if owned:
            shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def rsyslog_server(tmp: Path) -> Iterator[Server]:
    """rsyslogd in the foreground with its own config: imtcp on a free port, each message into a file."""
    port = free_port()
    work = tmp / "rsyslog"
    work.mkdir()
    out = work / "messages.log"
    conf = work / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{work}")\n'
        'module(load="imtcp")\n'
        f'input(type="imtcp" address="127.0.0.1" port="{port}")\n'
        'template(name="exact" type="string" string="%syslogseverity%|%programname%|%rawmsg%\\n")\n'
        f'*.* action(type="omfile" file="{out}" template="exact")\n'
    )
    argv = [need("rsyslogd"), "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")]
    with daemon(argv, port, tmp / "rsyslog.log") as proc:
        yield Server(port, tmp, proc, {"file": out})


@contextlib.contextmanager
def alertmanager_server(tmp: Path) -> Iterator[Server]:
    port = free_port()
    work = tmp / "alertmanager"
    work.mkdir()
    conf = work / "alertmanager.yml"
    conf.write_text('route:\n  receiver: "null"\n  group_wait: 0s\nreceivers:\n  - name: "null"\n')
    argv = [need("prometheus-alertmanager"), f"--config.file={conf}", f"--storage.path={work}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    with daemon(argv, port, tmp / "alertmanager.log") as proc:
        wait_for(lambda: http("GET", f"http://127.0.0.1:{port}/-/ready")[0] == 200, 30, "alertmanager ready")
        yield Server(port, work, proc)


@contextlib.contextmanager
def influxdb_server(tmp: Path) -> Iterator[Server]:
    port, rpc = free_port(), free_port()
    work = tmp / "influxdb"
    work.mkdir()
    conf = work / "influxdb.conf"
    conf.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n'
        f'[meta]\n  dir = "{work}/meta"\n'
        f'[data]\n  dir = "{work}/data"\n  wal-dir = "{work}/wal"\n  query-log-enabled = false\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
    )
    with daemon([need("influxd"), "-config", str(conf)], port, tmp / "influxdb.log") as proc:
        wait_for(lambda: http("GET", f"http://127.0.0.1:{port}/ping")[0] == 204, 30, "influxdb ping")
        status, body, _ = http("POST", f"http://127.0.0.1:{port}/query?q=CREATE+DATABASE+falco")
        assert status == 200, body
        yield Server(port, work, proc)


@contextlib.contextmanager
def prometheus_server(tmp: Path, target_port: int, rules: str) -> Iterator[Server]:
    port = free_port()
    work = tmp / "prometheus"
    work.mkdir()
    (work / "rules.yml").write_text(rules)
    (work / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "rule_files:\n  - rules.yml\n"
        "scrape_configs:\n  - job_name: sidekick\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target_port}']\n"
    )
    argv = [need("prometheus"), f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}"]
    with daemon(argv, port, tmp / "prometheus.log") as proc:
        wait_for(lambda: http("GET", f"http://127.0.0.1:{port}/-/ready")[0] == 200, 30, "prometheus ready")
        yield Server(port, work, proc)


@contextlib.contextmanager
def smtp_server() -> Iterator[Server]:
    """aiosmtpd in a thread: records every envelope (sender, recipients, raw message)."""
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 Message accepted for delivery"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Server(port, Path("."), controller, {"received": received})
    finally:
        controller.stop()


class NatsSubscriber:
    """A minimal NATS client speaking the text protocol (CONNECT, SUB, PING/PONG, MSG)."""

    def __init__(self, port: int, subject: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.file = self.sock.makefile("rb")
        self.file.readline()  # INFO
        self.sock.sendall(f'CONNECT {{"verbose":false}}\r\nSUB {subject} 1\r\nPING\r\n'.encode())
        assert self.file.readline().strip() == b"PONG"
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while True:
                line = self.file.readline()
                if not line:
                    return
                if line.startswith(b"PING"):
                    self.sock.sendall(b"PONG\r\n")
                elif line.startswith(b"MSG"):
                    parts = line.split()
                    size = int(parts[-1])
                    payload = self.file.read(size + 2)[:size]
                    self.messages.append((parts[1].decode(), payload))
        except OSError:
            return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
