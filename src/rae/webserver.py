"""The engine's webserver: ``/healthz`` (or ``k8s_healthz_endpoint``), ``/versions``, ``/metrics``.

Same endpoints and bodies as Falco's: ``{"status": "ok"}``, the versions object with Falco's
keys (rae's values), and the Prometheus text of a ``prometheus_client`` registry
(served when ``webserver.prometheus_metrics_enabled``; Falco also wants ``metrics.enabled``,
rae does not). With ``ssl_enabled`` the server speaks TLS with ``ssl_certificate``, one PEM file
holding the certificate and its key, as Falco.

Why ``http.server`` in a thread rather than aiohttp: the engine's hot loop is synchronous
(ring buffer or capture → rules), so an event loop would exist only for three GET handlers;
a ``ThreadingHTTPServer`` in its own daemon thread needs nothing from the engine's thread,
cannot stall it, and a scrape costs one short-lived thread. ``threadiness`` (Falco's pool size)
is accepted and ignored: one thread per request is plenty for health checks and scrapes.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

import rae
from rae.config import Webserver as WebserverConfig
from rae.errors import RaeError
from rae.plugins import PLUGIN_VERSIONS

__all__ = ["PROMETHEUS_CONTENT_TYPE", "EngineWebserver", "versions_info"]

log = logging.getLogger("rae.webserver")

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def versions_info(
    plugin_versions: Mapping[str, str] | None = None,
    driver_api_version: str = "0.0.0",
    driver_schema_version: str = "0.0.0",
    plugin_api_version: str = "0.0.0",
) -> dict[str, Any]:
    """``/versions``: Falco's keys. ``engine_version`` is the minor number as a string, as Falco.

    rae loads no plugins (``plugin_api_version`` 0.0.0); ``plugin_versions`` (default: the
    versions the rules loader declares) lists the plugins whose fields rae provides natively;
    the driver versions are the probe's, if the engine passes them.
    """
    major, minor, patch = rae.ENGINE_VERSION
    return {
        "default_driver_version": rae.__version__,
        "driver_api_version": driver_api_version,
        "driver_schema_version": driver_schema_version,
        "engine_version": str(minor),
        "engine_version_semver": f"{major}.{minor}.{patch}",
        "falco_version": rae.__version__,
        "libs_version": rae.__version__,
        "plugin_api_version": plugin_api_version,
        "plugin_versions": dict(PLUGIN_VERSIONS if plugin_versions is None else plugin_versions),
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "rae"

    def do_GET(self) -> None:
        srv = self.server
        path = self.path.split("?", 1)[0]
        if path == srv.healthz_path:
            ok = srv.health() if srv.health is not None else True
            body = b'{"status": "ok"}' if ok else b'{"status": "unhealthy"}'
            self._send(200 if ok else 503, "application/json", body)
        elif path == "/versions":
            self._send(200, "application/json", srv.versions_body)
        elif path == "/metrics" and srv.registry is not None:
            try:
                body = generate_latest(srv.registry)
            except Exception as exc:  # a broken collector must not kill the endpoint silently
                log.error("metrics collection failed: %s", exc)
                self._send(500, "text/plain", f"metrics collection failed: {exc}\n".encode())
                return
            self._send(200, PROMETHEUS_CONTENT_TYPE, body)
        else:
            self._send(404, "text/plain", b"not found\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _send(self, code: int, ctype: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    healthz_path = "/healthz"
    versions_body = b"{}"
    registry: CollectorRegistry | None = None
    health: Callable[[], bool] | None = None


class EngineWebserver:
    """Start with :meth:`start`, stop with :meth:`stop`; ``port`` is the bound port (``listen_port: 0``)."""

    def __init__(
        self,
        cfg: WebserverConfig,
        registry: CollectorRegistry | None,
        versions: Mapping[str, Any] | None = None,
        health: Callable[[], bool] | None = None,
    ) -> None:
        self.cfg = cfg
        self.registry = registry if cfg.prometheus_metrics_enabled else None
        self.versions = dict(versions) if versions is not None else versions_info()
        self.health = health
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("webserver not started")
        return int(self._server.server_address[1])

    def start(self) -> None:
        c = self.cfg
        where = f"{c.listen_address}:{c.listen_port}"
        try:
            srv = _Server((c.listen_address, c.listen_port), _Handler, bind_and_activate=False)
            srv.socket.settimeout(None)
            srv.server_bind()
            srv.server_activate()
        except OSError as exc:
            raise RaeError(f"webserver: cannot listen on {where}: {exc.strerror or exc}") from None
        if c.ssl_enabled:
            try:
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(c.ssl_certificate, c.ssl_certificate)
            except (OSError, ssl.SSLError) as exc:
                srv.server_close()
                raise RaeError(f"webserver: cannot load ssl_certificate {c.ssl_certificate}: {exc}") from None
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
        srv.healthz_path = c.k8s_healthz_endpoint
        srv.versions_body = json.dumps(self.versions, sort_keys=True, separators=(",", ":")).encode()
        srv.registry = self.registry
        srv.health = self.health
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="rae-webserver", daemon=True)
        self._thread.start()
        log.info("webserver listening on %s%s", where, " (TLS)" if c.ssl_enabled else "")

    def stop(self) -> None:
        srv, self._server = self._server, None
        if srv is None:
            return
        srv.shutdown()
        srv.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
