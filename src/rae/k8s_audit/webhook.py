"""The HTTPS endpoint kube-apiserver posts its audit events to (the k8saudit plugin's webhook).

Listens where the plugin's ``open_params`` URL says (default
``https://127.0.0.1:9765/k8s-audit``), with TLS from one combined PEM (certificate and key, as
Deckhouse's ``falco.pem``) or separate files. A ``POST`` of an ``audit.k8s.io`` ``EventList``
or ``Event`` with ``Content-Type: application/json`` is decoded at once; the accepted events go
to an `EventQueue` that the engine consumes (see `WebhookEventSource`).

Every refusal gets a 4xx (or 503) with a one-line reason, a warning log line and a count in
``rae_k8s_audit_webhook_rejected_total{reason}``:

==========================  ======  =============================================
reason                      status  when
==========================  ======  =============================================
``not_found``               404     another path
``method``                  405     not POST
``content_type``            415     not ``application/json``
``batch_too_large``         413     body above ``webhookMaxBatchSize``
``truncated``               400     the body ended before its Content-Length
``invalid_json``            400     not JSON (a body cut short lands here too)
``not_audit``               422     JSON, but not an Event/EventList
``event_too_large``         413     an event above ``maxEventSize`` (others kept)
``bad_event``               422     an event without a usable stageTimestamp (others kept)
``queue_full``              503     the engine is behind; kube-apiserver retries
``plain_http``              400     plain HTTP on the TLS port (then closed)
==========================  ======  =============================================

Events dropped are counted in ``rae_k8s_audit_events_dropped_total{reason}``; nothing is lost
without a count and a log line.

Run alone (tests, benchmarks): ``python -m rae.k8s_audit.webhook --url URL --cert PEM``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import signal
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import Counter as PromCounter

from rae.errors import RaeError
from rae.k8s_audit.events import (
    MAX_EVENT_SIZE,
    SOURCE,
    WEBHOOK_MAX_BATCH_SIZE,
    AuditEvent,
    PayloadError,
    decode_payload,
)
from rae.k8s_audit.queue import DEFAULT_QUEUE_SIZE, EventQueue
from rae.signals import SignalInbox

__all__ = [
    "DEFAULT_URL",
    "AuditWebhook",
    "WebhookConfig",
    "WebhookEventSource",
    "parse_listen_url",
]

log = logging.getLogger("rae.k8s_audit.webhook")

DEFAULT_URL = "https://127.0.0.1:9765/k8s-audit"
#: bodies larger than this are decoded off the event loop
_OFFLOAD_BYTES = 256 * 1024
_PLAIN_HTTP_REPLY = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
    b"Content-Length: 48\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)

REQUESTS = PromCounter(
    "rae_k8s_audit_webhook_requests", "Requests to the k8s audit webhook, by HTTP status", ["code"]
)
REJECTED = PromCounter(
    "rae_k8s_audit_webhook_rejected",
    "Requests (or events) the k8s audit webhook refused, by reason",
    ["reason"],
)
EVENTS = PromCounter("rae_k8s_audit_events_received", "Audit events accepted by the webhook")
DROPPED = PromCounter(
    "rae_k8s_audit_events_dropped", "Audit events dropped by the webhook, by reason", ["reason"]
)


def parse_listen_url(url: str) -> tuple[bool, str, int, str]:
    """``(tls, host, port, path)`` of a webhook URL such as ``https://127.0.0.1:9765/k8s-audit``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise RaeError(f"webhook URL {url!r}: the scheme must be http or https")
    try:
        port = parts.port
    except ValueError as exc:
        raise RaeError(f"webhook URL {url!r}: {exc}") from None
    tls = parts.scheme == "https"
    host = parts.hostname or "0.0.0.0"
    return tls, host, port if port is not None else (443 if tls else 80), parts.path or "/"


@dataclass
class WebhookConfig:
    """Where to listen and the limits. ``cert_file`` may hold the key too (``key_file`` None)."""

    url: str = DEFAULT_URL
    cert_file: str | None = None
    key_file: str | None = None
    max_event_size: int = MAX_EVENT_SIZE
    max_batch_size: int = WEBHOOK_MAX_BATCH_SIZE
    queue_size: int = DEFAULT_QUEUE_SIZE
    handshake_timeout: float = 10.0


def server_ssl_context(cert_file: str, key_file: str | None = None) -> ssl.SSLContext:
    """A TLS server context from a combined PEM (certificate chain + key) or two files."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except FileNotFoundError as exc:
        raise RaeError(f"webhook TLS: {exc.filename}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        where = cert_file if key_file is None else f"{cert_file} / {key_file}"
        raise RaeError(f"webhook TLS: {where}: cannot load the certificate and key: {exc}") from None
    return ctx


class AuditWebhook:
    """The webhook server. Use `start`/`stop` inside an asyncio loop, or `start_in_thread`."""

    def __init__(self, config: WebhookConfig, queue: EventQueue[AuditEvent] | None = None) -> None:
        self.config = config
        self.tls, self.host, self.port, self.path = parse_listen_url(config.url)
        if self.tls and not config.cert_file:
            raise RaeError("webhook: an https URL needs a certificate (sslCertificate)")
        self.queue: EventQueue[AuditEvent] = queue if queue is not None else EventQueue(config.queue_size)
        #: per-instance counts (the Prometheus counters are process-wide)
        self.stats: Counter[str] = Counter()
        self._ssl = server_ssl_context(config.cert_file, config.key_file) if self.tls else None
        self._num = itertools.count(1)
        self._t0: int | None = None
        self._sock: socket.socket | None = None
        self._runner: web.AppRunner | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None

    # --- HTTP ---------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_batch_size)
        app.router.add_route("*", self.path, self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    def _reject(self, request: web.Request | None, status: int, reason: str, message: str) -> web.Response:
        self.stats[reason] += 1
        REJECTED.labels(reason).inc()
        REQUESTS.labels(str(status)).inc()
        peer = request.remote if request is not None else "?"
        log.warning("k8s audit webhook: %d %s from %s: %s", status, reason, peer, message)
        return web.Response(status=status, text=message + "\n")

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._reject(request, 404, "not_found", f"no audit webhook at {request.path}")

    async def _handle(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            resp = self._reject(request, 405, "method", f"{request.method} method not allowed")
            resp.headers["Allow"] = "POST"
            return resp
        if "application/json" not in request.headers.get("Content-Type", ""):
            return self._reject(request, 415, "content_type", "wrong Content-Type: application/json expected")
        length = request.content_length
        limit = self.config.max_batch_size
        if length is not None and length > limit:
            message = f"request body of {length} bytes above webhookMaxBatchSize {limit}"
            return self._reject(request, 413, "batch_too_large", message)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            message = f"request body above webhookMaxBatchSize {limit}"
            return self._reject(request, 413, "batch_too_large", message)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            return self._reject(request, 400, "truncated", f"incomplete request body: {exc}")
        except Exception as exc:  # aiohttp's payload errors (ContentLengthError…) have no common base
            return self._reject(request, 400, "truncated", f"incomplete request body: {type(exc).__name__}")
        try:
            if len(body) > _OFFLOAD_BYTES:
                loop = asyncio.get_running_loop()
                events, problems = await loop.run_in_executor(None, self._decode, body)
            else:
                events, problems = self._decode(body)
        except PayloadError as exc:
            status = 400 if exc.reason == "invalid_json" else 422
            return self._reject(request, status, exc.reason, f"bad request: {exc}")
        if events:
            for evt in events:
                evt.num = next(self._num)
                if self._t0 is None:
                    self._t0 = evt.ts
                evt.t0 = self._t0
            if not self.queue.offer(events):
                DROPPED.labels("queue_full").inc(len(events))
                self.stats["events_dropped"] += len(events)
                resp = self._reject(
                    request, 503, "queue_full", f"engine busy: {len(events)} events not accepted, retry later"
                )
                resp.headers["Retry-After"] = "1"
                return resp
            EVENTS.inc(len(events))
            self.stats["events"] += len(events)
        if problems:
            big = [p for p in problems if p.reason == "too_large"]
            for p in problems:
                DROPPED.labels(p.reason).inc()
            self.stats["events_dropped"] += len(problems)
            shown = "; ".join(f"item {p.index}: {p.message}" for p in problems[:3])
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            message = f"{len(problems)} of {len(problems) + len(events)} events refused: {shown}{more}"
            if big:
                return self._reject(request, 413, "event_too_large", message)
            return self._reject(request, 422, "bad_event", message)
        REQUESTS.labels("200").inc()
        self.stats["requests_ok"] += 1
        return web.json_response({"accepted": len(events)})

    def _decode(self, body: bytes) -> tuple[list[AuditEvent], list[Any]]:
        return decode_payload(body, max_event_size=self.config.max_event_size)

    # --- connections --------------------------------------------------------------------------

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._sock is not None
        while True:
            try:
                conn, addr = await loop.sock_accept(self._sock)
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                log.warning("k8s audit webhook: accept failed: %s", exc)
                await asyncio.sleep(0.05)
                continue
            task = loop.create_task(self._dispatch(conn, addr))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _wait_readable(self, conn: socket.socket, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(conn.fileno(), ready)
        try:
            await asyncio.wait_for(fut, timeout)
        finally:
            loop.remove_reader(conn.fileno())

    async def _dispatch(self, conn: socket.socket, addr: Any) -> None:
        loop = asyncio.get_running_loop()
        conn.setblocking(False)
        assert self._runner is not None
        try:
            if self._ssl is not None:
                await self._wait_readable(conn, self.config.handshake_timeout)
                first = conn.recv(1, socket.MSG_PEEK)
                if not first:
                    conn.close()
                    return
                if first[0] != 0x16:  # not a TLS handshake record
                    await self._refuse_plain(conn, addr)
                    return
            await loop.connect_accepted_socket(
                self._runner.server,
                conn,
                ssl=self._ssl,
                ssl_handshake_timeout=self.config.handshake_timeout if self._ssl else None,
            )
        except asyncio.CancelledError:
            conn.close()
            raise
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            self.stats["tls_failed"] += 1
            REJECTED.labels("tls").inc()
            reason = str(exc) or type(exc).__name__
            log.warning("k8s audit webhook: connection from %s failed: %s", _peer(addr), reason)
            conn.close()

    async def _refuse_plain(self, conn: socket.socket, addr: Any) -> None:
        loop = asyncio.get_running_loop()
        self.stats["plain_http"] += 1
        REJECTED.labels("plain_http").inc()
        REQUESTS.labels("400").inc()
        log.warning("k8s audit webhook: 400 plain_http from %s: plain HTTP on the TLS port", _peer(addr))
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(loop.sock_recv(conn, 65536), 0.5)
            await loop.sock_sendall(conn, _PLAIN_HTTP_REPLY)
            conn.shutdown(socket.SHUT_WR)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    while await loop.sock_recv(conn, 65536):
                        pass
        except OSError:
            pass
        finally:
            conn.close()

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> int:
        """Start listening in the running loop; returns the bound port (useful with port 0)."""
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        try:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            sock = socket.create_server((self.host, self.port), family=family, backlog=512)
        except OSError as exc:
            await runner.cleanup()
            raise RaeError(f"webhook: cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._accept_task = asyncio.get_running_loop().create_task(self._accept_loop())
        scheme = "https" if self.tls else "http"
        log.info("k8s audit webhook listening on %s://%s:%d%s", scheme, self.host, self.port, self.path)
        return self.port

    async def stop(self) -> None:
        """Stop listening, close connections, and close the queue (consumers drain and end)."""
        if self._accept_task is not None:
            self._accept_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accept_task
            self._accept_task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.queue.close()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{self.path}"

    def start_in_thread(self) -> int:
        """Serve from a background thread with its own loop; returns the bound port."""
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._stopped = asyncio.Event()
                loop.run_until_complete(self.start())
            except BaseException as exc:
                errors.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_until_complete(self._stopped.wait())
                loop.run_until_complete(self.stop())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="k8s-audit-webhook", daemon=True)
        self._thread.start()
        started.wait()
        if errors:
            raise errors[0]
        return self.port

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop a server started with `start_in_thread` and wait for its thread."""
        loop, stopped, thread = self._loop, self._stopped, self._thread
        if loop is None or stopped is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stopped.set)
        thread.join(timeout)
        self._thread = None


def _peer(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


class WebhookEventSource:
    """The webhook as an event source for the engine: iterating yields the accepted events in
    arrival order, blocking while none are queued, and ends once the webhook is stopped and the
    queue drained. ``rae run`` starts it with `start`, iterates it in its k8s_audit thread, and
    calls `stop` on shutdown."""

    source = SOURCE

    def __init__(self, config: WebhookConfig) -> None:
        self.webhook = AuditWebhook(config)

    def start(self) -> int:
        return self.webhook.start_in_thread()

    def stop(self) -> None:
        self.webhook.stop_thread()

    def __iter__(self) -> Iterator[AuditEvent]:
        return iter(self.webhook.queue)


# --- standalone -----------------------------------------------------------------------------


def _consume(queue: EventQueue[AuditEvent], mode: str) -> None:
    out = sys.stdout
    for evt in queue:
        if mode == "events":
            out.write(json.dumps({"num": evt.num, "ts": evt.ts, "auditID": evt.obj.get("auditID")}) + "\n")
            out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rae.k8s_audit.webhook", description="Serve the k8s audit webhook alone."
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="listen URL (default %(default)s)")
    parser.add_argument("--cert", help="PEM certificate (with the key, unless --key)")
    parser.add_argument("--key", help="PEM private key, when not in --cert")
    parser.add_argument("--max-event-size", type=int, default=MAX_EVENT_SIZE)
    parser.add_argument("--max-batch-size", type=int, default=WEBHOOK_MAX_BATCH_SIZE)
    parser.add_argument("--queue-size", type=int, default=DEFAULT_QUEUE_SIZE)
    parser.add_argument("--print", dest="mode", choices=("events", "none"), default="none",
                        help="print one JSON line per accepted event (default: none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    config = WebhookConfig(
        url=args.url,
        cert_file=args.cert,
        key_file=args.key,
        max_event_size=args.max_event_size,
        max_batch_size=args.max_batch_size,
        queue_size=args.queue_size,
    )
    try:
        hook = AuditWebhook(config)
        hook.start_in_thread()
    except RaeError as exc:
        sys.stderr.write(f"rae: error: {exc}\n")
        return 1
    sys.stderr.write(f"listening {hook.url}\n")
    sys.stderr.flush()
    signals = SignalInbox()  # no Event.set in a handler (rae.signals)
    signals.install((signal.SIGTERM, signal.SIGINT))
    consumer = threading.Thread(target=_consume, args=(hook.queue, args.mode), daemon=True)
    consumer.start()
    while not signals.take():
        time.sleep(0.2)
    hook.stop_thread()
    consumer.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
