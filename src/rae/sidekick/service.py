"""Wires config → metrics, enricher, outputs, dispatcher and the HTTP listeners; runs until a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from typing import Any

from aiohttp import web

from rae.sidekick.config import SidekickConfig, SidekickConfigError, load_config
from rae.sidekick.dispatcher import Deduplicator, Dispatcher, OutputRunner, Route
from rae.sidekick.enrich import Enricher
from rae.sidekick.metrics import SidekickMetrics
from rae.sidekick.outputs import OUTPUT_CLASSES
from rae.sidekick.outputs.base import OutputContext
from rae.sidekick.server import SidekickAPI, server_ssl_context

__all__ = ["Sidekick", "load"]

log = logging.getLogger("rae.sidekick")


def load(path: str | None, environ: dict[str, str] | None = None) -> SidekickConfig:
    defaults = {name: cls.defaults for name, cls in OUTPUT_CLASSES.items()}
    return load_config(path, defaults, environ)


class Sidekick:
    """One sidekick: build with a config, then ``await run()`` (or ``start()``/``stop()``)."""

    def __init__(self, config: SidekickConfig) -> None:
        self.config = config
        customfields = config.customfields
        templatedfields = config.templatedfields
        self.metrics = SidekickMetrics(
            customfields=customfields,
            templatedfields=templatedfields,
            extralabels=config.get_list("prometheus.extralabels"),
            max_label_sets=int(config.get("prometheus.maxlabelsets") or 0),
        )
        self.enricher = Enricher(
            customfields,
            config.customtags,
            templatedfields,
            str(config.get("bracketreplacer") or ""),
            str(config.get("outputfieldformat") or ""),
        )
        ctx = OutputContext(config, tuple(customfields), tuple(templatedfields))
        size = int(config.get("buffer.size") or 1)
        runners = []
        for name, cls in OUTPUT_CLASSES.items():
            block: dict[str, Any] = config.section(name)
            if not cls.is_enabled(block):
                continue
            try:
                output = cls(block, ctx)
            except (ValueError, OSError, ssl.SSLError) as exc:
                raise SidekickConfigError(f"{name}: {exc}") from None
            runners.append(
                OutputRunner(
                    output,
                    Route.from_config(name, block),
                    self.metrics,
                    capacity=int(block.get("buffersize") or size),
                    initial_backoff=float(config.get("buffer.initialbackoff")),
                    max_backoff=float(config.get("buffer.maxbackoff")),
                    max_attempts=int(config.get("buffer.maxattempts") or 0),
                )
            )
        window = float(config.get("dedup.window") or 0)
        dedup = None
        if window > 0:
            dedup = Deduplicator(window, tuple(config.get_list("dedup.fields")), self.metrics)
        self.dispatcher = Dispatcher(runners, self.metrics, dedup)
        self.api = SidekickAPI(config, self.metrics, self.enricher, self.dispatcher)
        self._runners: list[web.AppRunner] = []
        self.ports: list[int] = []

    @property
    def enabled_outputs(self) -> list[str]:
        return [r.name for r in self.dispatcher.runners]

    async def start(self) -> None:
        await self.dispatcher.start()
        host = self.config.listen_address or None
        try:
            ssl_ctx = server_ssl_context(self.config)
        except (OSError, ssl.SSLError) as exc:
            raise SidekickConfigError(f"tlsserver: {exc}") from None
        await self._serve(self.api.make_app(), host, self.config.listen_port, ssl_ctx)
        notls_paths = self.config.get_list("tlsserver.notlspaths")
        if ssl_ctx is not None and notls_paths:
            port = int(self.config.get("tlsserver.notlsport"))
            await self._serve(self.api.make_app(notls_paths), host, port, None)
            log.info("listening on %s:%d for TLS and %s:%d for non-TLS", host or "", self.ports[0], host or "", port)
        else:
            log.info("listening on %s:%d", host or "", self.ports[0])
        log.info("enabled outputs: %s", ", ".join(self.enabled_outputs) or "none")

    async def _serve(self, app: web.Application, host: str | None, port: int, ctx: ssl.SSLContext | None) -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ctx, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise SidekickConfigError(f"cannot listen on {host or '*'}:{port}: {exc.strerror or exc}") from None
        self._runners.append(runner)
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.ports.append(sockets[0].getsockname()[1] if sockets else port)

    async def stop(self, drain_timeout: float = 5.0) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        await self.dispatcher.stop(drain_timeout)

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await self.stop()
