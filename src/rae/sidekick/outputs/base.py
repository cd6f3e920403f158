"""The output interface, the registry of output classes, and the shared HTTP and TLS plumbing.

How to add a destination:

1. a module in this package with one subclass of :class:`Output` (or :class:`HttpOutput`);
2. ``name`` is its config block and its ``destination`` metric label, ``enable_key`` the key
   whose non-empty value turns it on (falcosidekick's rule), ``defaults`` its own keys;
3. ``build(event)`` is pure: it returns the payload (testable without a server);
4. ``send(payload)`` delivers it and raises :class:`OutputError` on failure, saying whether a
   retry can help;
5. decorate the class with :func:`register` and import the module in ``__init__.py``.

The dispatcher owns everything else: priority and routing filters, buffering and retries,
metrics and error logs. An output never counts or logs its own deliveries.
"""

from __future__ import annotations

import abc
import ssl
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import aiohttp

from rae.sidekick.config import SidekickConfig
from rae.sidekick.event import SidekickEvent, go_json

__all__ = [
    "OUTPUT_CLASSES",
    "HttpOutput",
    "Output",
    "OutputContext",
    "OutputError",
    "client_ssl_context",
    "client_tls_files",
    "register",
]


class OutputError(Exception):
    """A failed delivery. ``retryable`` False means the same payload can never succeed (e.g. HTTP 400)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(slots=True)
class OutputContext:
    """What an output may read besides its own block: the global settings."""

    config: SidekickConfig
    customfields: tuple[str, ...] = ()
    templatedfields: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class Output(abc.ABC):
    name: ClassVar[str]
    enable_key: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, cfg: dict[str, Any], ctx: OutputContext) -> None:
        self.cfg = cfg
        self.ctx = ctx

    @classmethod
    def is_enabled(cls, cfg: dict[str, Any]) -> bool:
        return bool(cfg.get(cls.enable_key))

    @abc.abstractmethod
    def build(self, event: SidekickEvent) -> Any:
        """The payload for one event; pure (no I/O, no clock beyond the event's own time)."""

    @abc.abstractmethod
    async def send(self, payload: Any) -> None:
        """Deliver one payload; raise OutputError on failure."""

    #: how many buffered events ``send_many`` may take at once (1: no batching)
    max_batch: ClassVar[int] = 1

    async def send_many(self, payloads: list[Any]) -> None:
        """Deliver several payloads as one operation that succeeds or fails as a whole.

        Only called when ``max_batch`` > 1; an output that sets it overrides this.
        """
        for payload in payloads:
            await self.send(payload)

    async def start(self) -> None:  # noqa: B027 (optional hook)
        """Open clients. Failure to reach a server here is not fatal: send() retries."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Release clients."""


OUTPUT_CLASSES: dict[str, type[Output]] = {}

_O = TypeVar("_O", bound=type[Output])


def register(cls: _O) -> _O:
    if cls.name in OUTPUT_CLASSES:
        raise RuntimeError(f"output {cls.name!r} registered twice")
    OUTPUT_CLASSES[cls.name] = cls
    return cls


def client_tls_files(cfg: dict[str, Any], config: SidekickConfig) -> tuple[str, str, str]:
    """Client certificate, key and CA for ``mutualtls``: the output's own files, else
    ``mutualtlsclient.*``, else ``client.crt``/``client.key``/``ca.crt`` under ``mutualtlsfilespath``."""
    base = str(config.get("mutualtlsfilespath") or "/etc/certs")
    cert = cfg.get("certfile") or config.get("mutualtlsclient.certfile") or f"{base}/client.crt"
    key = cfg.get("keyfile") or config.get("mutualtlsclient.keyfile") or f"{base}/client.key"
    ca = cfg.get("cacertfile") or config.get("mutualtlsclient.cacertfile") or f"{base}/ca.crt"
    return str(cert), str(key), str(ca)


def client_ssl_context(cfg: dict[str, Any], config: SidekickConfig) -> ssl.SSLContext:
    """TLS for an output, with falcosidekick's options.

    ``mutualtls``: present the client certificate (``mutualtlsclient.*``, else the files
    ``client.crt``/``client.key``/``ca.crt`` under ``mutualtlsfilespath``) and always verify the
    server. Otherwise ``checkcert: false`` disables verification, and ``tlsclient.cacertfile``
    is added to the system roots.
    """
    if cfg.get("mutualtls"):
        cert, key, ca = client_tls_files(cfg, config)
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(cert, key)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx
    ctx = ssl.create_default_context()
    extra_ca = config.get("tlsclient.cacertfile")
    if extra_ca:
        ctx.load_verify_locations(cafile=extra_ca)
    if not cfg.get("checkcert", True):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class HttpOutput(Output):
    """An output that POSTs (or PUTs) one request per event. Success is 200, 201, 202 or 204."""

    content_type: ClassVar[str] = "application/json; charset=utf-8"
    ok_statuses: ClassVar[frozenset[int]] = frozenset({200, 201, 202, 204})
    _session: aiohttp.ClientSession | None = None

    def url(self, payload: Any) -> str:
        return str(self.cfg[self.enable_key])

    def method(self) -> str:
        return "POST"

    def headers(self, payload: Any) -> dict[str, str]:
        return {}

    def encode(self, payload: Any) -> bytes:
        if isinstance(payload, bytes):
            return payload
        if isinstance(payload, str):
            return payload.encode()
        return go_json(payload).encode()

    async def start(self) -> None:
        ssl_ctx = client_ssl_context(self.cfg, self.ctx.config)
        limit = int(self.cfg.get("maxconcurrentrequests") or 0)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_ctx, limit=limit),
            timeout=aiohttp.ClientTimeout(total=10),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, payload: Any) -> None:
        await self.request(self.url(payload), payload)

    async def request(self, url: str, payload: Any) -> None:
        """One HTTP request; OutputError unless the status is a success."""
        if self._session is None:
            await self.start()
        assert self._session is not None
        headers = {"Content-Type": self.content_type, "User-Agent": "Falcosidekick"}
        headers.update(self.headers(payload))
        for k, v in dict(self.cfg.get("customheaders") or {}).items():
            headers[k] = str(v)
        try:
            async with self._session.request(
                self.method(), url, data=self.encode(payload), headers=headers
            ) as resp:
                body = await resp.read()
                if resp.status not in self.ok_statuses:
                    text = body[:200].decode(errors="replace").strip()
                    retryable = resp.status >= 500 or resp.status in (408, 425, 429)
                    raise OutputError(f"HTTP {resp.status} {resp.reason}: {text}", retryable=retryable)
                self.check_response(resp.status, body)
        except aiohttp.ClientError as exc:
            raise OutputError(f"{type(exc).__name__}: {exc}") from None
        except TimeoutError:
            raise OutputError("timed out") from None

    def check_response(self, status: int, body: bytes) -> None:
        """Hook for APIs that report errors inside a 2xx answer (Elasticsearch's _bulk)."""
