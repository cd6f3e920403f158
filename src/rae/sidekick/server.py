"""Sidekick's HTTP API, falcosidekick 2.30's: ``POST /``, ``/healthz``, ``/ping``, ``/test``, ``/metrics``.

As in falcosidekick, ``/`` is the catch-all: any path that is not one of the others is the
main input. A request that is not a POST gets 400 ``Please send with post http method``; a
body that does not decode or fails ``Check()`` gets 400 ``Please send a valid request body``
(both with Go's ``http.Error`` framing: text/plain, trailing newline). An accepted event
gets 200 with an empty body; it is delivered asynchronously. ``/debug/vars``, documented by
falcosidekick but not served since 2.28, answers here with the expvar-style counters.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rae.sidekick.config import SidekickConfig
from rae.sidekick.dispatcher import Dispatcher
from rae.sidekick.enrich import Enricher
from rae.sidekick.event import EventDecodeError, SidekickEvent, format_go_time
from rae.sidekick.metrics import SidekickMetrics

__all__ = ["BAD_BODY", "NOT_POST", "SidekickAPI", "server_ssl_context"]

log = logging.getLogger("rae.sidekick")

BAD_BODY = "Please send a valid request body"
NOT_POST = "Please send with post http method"
_MAX_BODY = 16 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _go_error(text: str, status: int = 400) -> web.Response:
    """Go's ``http.Error``: the message plus a newline, as plain text."""
    resp = web.Response(status=status, body=(text + "\n").encode(), content_type="text/plain", charset="utf-8")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def test_event_body() -> bytes:
    """falcosidekick's ``/test`` event (its source becomes ``internal``, as for any ``Test rule``)."""
    now = format_go_time(time.time_ns() // 1_000_000_000 * 1_000_000_000)
    return json.dumps(
        {
            "output": "This is a test from falcosidekick",
            "source": "debug",
            "priority": "Debug",
            "hostname": "falcosidekick",
            "rule": "Test rule",
            "time": now,
            "output_fields": {"proc.name": "falcosidekick", "user.name": "falcosidekick"},
            "tags": ["test", "example"],
        }
    ).encode()


class SidekickAPI:
    """The request handlers; owns nothing but references to the pipeline parts."""

    def __init__(
        self, config: SidekickConfig, metrics: SidekickMetrics, enricher: Enricher, dispatcher: Dispatcher
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.enricher = enricher
        self.dispatcher = dispatcher
        self.debug = bool(config.get("debug"))

    def routes(self) -> dict[str, Handler]:
        return {
            "/ping": self.ping,
            "/healthz": self.healthz,
            "/test": self.test,
            "/metrics": self.prometheus,
            "/debug/vars": self.debug_vars,
        }

    def make_app(self, paths: list[str] | None = None) -> web.Application:
        """The full API, or (``paths``) only those routes: the plain-HTTP ``notlspaths`` listener."""
        app = web.Application(client_max_size=_MAX_BODY)
        routes = self.routes()
        if paths is None:
            for path, handler in routes.items():
                app.router.add_route("*", path, handler)
            app.router.add_route("*", "/{tail:.*}", self.main)
            return app
        for path in paths:
            if path == "/":
                app.router.add_route("*", "/{tail:.*}", self.main)
            elif path in routes:
                app.router.add_route("*", path, routes[path])
            else:
                log.warning("tlsserver.notlspaths has unknown path '%s'", path)
        return app

    def _reject(self) -> None:
        self.metrics.inputs.labels("requests", "rejected").inc()

    async def main(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            self._reject()
            return _go_error(NOT_POST)
        return self.accept(await request.read())

    def accept(self, body: bytes) -> web.Response:
        try:
            event = SidekickEvent.from_json(body)
        except EventDecodeError as exc:
            if self.debug:
                log.debug("rejected body: %s", exc)
            self._reject()
            return _go_error(BAD_BODY)
        if not event.check():
            self._reject()
            return _go_error(BAD_BODY)
        self.metrics.inputs.labels("requests", "accepted").inc()
        self.ingest(event)
        return web.Response(status=200)

    def ingest(self, event: SidekickEvent) -> None:
        """Enrich, count and hand one valid event to the dispatcher."""
        enriched = self.enricher.enrich(event)
        self.metrics.count_event(self.metrics.event_labels(event, enriched.k8s_ns, enriched.k8s_pod))
        self.enricher.finish(event)
        if self.debug:
            log.debug("Falco's payload : %s", event.to_json())
        self.dispatcher.submit(event)

    async def test(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            self._reject()
            return _go_error(NOT_POST)
        return self.accept(test_event_body())

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong\n", content_type="text/plain", charset="utf-8")

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(body=b'{"status": "ok"}', content_type="application/json")

    async def prometheus(self, request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest(self.metrics.registry))
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def debug_vars(self, request: web.Request) -> web.Response:
        """expvar-shaped counters: ``inputs.requests``, ``falco.priority``, ``outputs.<name>``."""
        data: dict[str, Any] = {"inputs.requests": {}, "falco.priority": {}, "outputs": {}}
        for family in self.metrics.registry.collect():
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                if family.name == "falcosecurity_falcosidekick_inputs":
                    data["inputs.requests"][sample.labels["status"]] = int(sample.value)
                elif family.name == "falcosecurity_falcosidekick_falco_events":
                    prio = sample.labels["priority_raw"]
                    data["falco.priority"][prio] = data["falco.priority"].get(prio, 0) + int(sample.value)
                elif family.name == "falcosecurity_falcosidekick_outputs":
                    out = data["outputs"].setdefault(sample.labels["destination"], {})
                    out[sample.labels["status"]] = int(sample.value)
        data["inputs.requests"]["total"] = sum(data["inputs.requests"].values())
        return web.json_response(data)


def server_ssl_context(config: SidekickConfig) -> ssl.SSLContext | None:
    """``tlsserver.deploy``: HTTPS; ``tlsserver.mutualtls``: client certificates required, TLS ≥ 1.2."""
    if not config.get("tlsserver.deploy"):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(config.get("tlsserver.certfile")), str(config.get("tlsserver.keyfile")))
    if config.get("tlsserver.mutualtls"):
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(cafile=str(config.get("tlsserver.cacertfile")))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
