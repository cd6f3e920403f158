"""``http_output``: POST each alert to a URL (falcosidekick's ``POST /`` reads it as is).

Body: the rendered message; ``Content-Type: application/json`` with ``json_output``, else
``text/plain`` (as Falco). TLS as Falco's libcurl set-up: ``insecure`` turns verification off;
``ca_cert``, else ``ca_bundle`` is the CA file, else ``ca_path`` the CA directory; ``mtls`` sends
``client_cert``/``client_key``. ``compress_uploads`` gzips the body and says so with
``Content-Encoding: gzip`` (Falco sets a libcurl transfer-encoding option instead, which does
not compress a request body; rae compresses for real). ``keep_alive`` turns on TCP keep-alive
probes; connections are pooled and reused either way. A request that times out is retried up to
``max_consecutive_timeouts`` times; ``echo`` copies the response body to stdout.

urllib3 (rather than ``http.client``) because it re-opens a pooled connection the server closed
and builds the TLS context from these options.
"""

from __future__ import annotations

import gzip
import logging
import socket
import ssl
import sys

import urllib3
from urllib3.exceptions import HTTPError, InsecureRequestWarning, TimeoutError

from rae.alerts import Alert
from rae.config import HttpOutput

__all__ = ["HttpSink"]

log = logging.getLogger("rae.outputs")


def _unquote(url: str) -> str:
    if len(url) >= 2 and url[0] == url[-1] and url[0] in "\"'":
        return url[1:-1]
    return url


class HttpSink:
    name = "http"

    def __init__(self, cfg: HttpOutput, json_output: bool, timeout_s: float = 2.0) -> None:
        self.cfg = cfg
        self.url = _unquote(cfg.url)
        if not self.url:
            raise ValueError("http_output.url is empty")
        self.headers = {
            "Content-Type": "application/json" if json_output else "text/plain",
            "User-Agent": cfg.user_agent,
        }
        if cfg.compress_uploads:
            self.headers["Content-Encoding"] = "gzip"
        self.timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        self.pool = urllib3.PoolManager(
            num_pools=2, maxsize=1, retries=False, ssl_context=self._ssl_context(),
            socket_options=self._socket_options(),
        )
        self.last_status: int | None = None

    def _socket_options(self) -> list[tuple[int, int, int]]:
        opts = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        if self.cfg.keep_alive:
            opts.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
        return opts

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.url.lower().startswith("https:"):
            return None
        c = self.cfg
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if c.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            # said once here instead of urllib3's warning on every request
            urllib3.disable_warnings(InsecureRequestWarning)
            log.warning("http_output: insecure: the server certificate of %s is not verified", self.url)
        else:
            cafile = c.ca_cert or c.ca_bundle or None
            capath = None if cafile else (c.ca_path or None)
            try:
                ctx.load_verify_locations(cafile=cafile, capath=capath)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"http_output: cannot load CA {cafile or capath}: {exc}") from None
        if c.mtls:
            try:
                ctx.load_cert_chain(c.client_cert, c.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"http_output: cannot load client cert/key {c.client_cert}: {exc}") from None
        return ctx

    def emit(self, alert: Alert, message: str) -> None:
        body = message.encode()
        if self.cfg.compress_uploads:
            body = gzip.compress(body)
        attempts = 0
        while True:
            attempts += 1
            try:
                resp = self.pool.request(
                    "POST", self.url, body=body, headers=self.headers, timeout=self.timeout,
                    redirect=False, preload_content=True,
                )
                break
            except TimeoutError:
                if attempts > self.cfg.max_consecutive_timeouts:
                    raise
            except HTTPError as exc:
                raise OSError(f"POST {self.url}: {exc}") from None
        self.last_status = resp.status
        if self.cfg.echo and resp.data:
            sys.stdout.write(resp.data.decode("utf-8", "replace"))
            sys.stdout.flush()
        if resp.status >= 400:
            raise OSError(f"POST {self.url}: HTTP {resp.status}")

    def reopen(self) -> None:
        self.pool.clear()

    def close(self) -> None:
        self.pool.clear()
