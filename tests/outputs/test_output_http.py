"""http_output against a real HTTP(S) receiver on loopback: headers, body, TLS, mTLS, gzip."""

from __future__ import annotations

import gzip
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from outhelpers import make_alert

from rae.config import Config
from rae.outputs import OutputManager


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer_cert: dict | None


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    reply: bytes = b"ok\n"


def _serve(tls: ssl.SSLContext | None) -> tuple[ThreadingHTTPServer, Receiver]:
    rec = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
            rec.requests.append(Received("POST", self.path, dict(self.headers.items()), body, peer))
            self.send_response(rec.status)
            self.send_header("Content-Length", str(len(rec.reply)))
            self.end_headers()
            self.wfile.write(rec.reply)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if tls is not None:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    scheme = "https" if tls else "http"
    rec.url = f"{scheme}://127.0.0.1:{srv.server_address[1]}/alerts"
    return srv, rec


@pytest.fixture
def serve() -> Iterator[Callable[[ssl.SSLContext | None], Receiver]]:
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(tls: ssl.SSLContext | None = None) -> Receiver:
        srv, rec = _serve(tls)
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        servers.append((srv, t))
        return rec

    try:
        yield start
    finally:
        for srv, t in servers:
            srv.shutdown()
            srv.server_close()
            t.join(5)


@dataclass
class Pki:
    ca: trustme.CA
    ca_file: str
    client_cert: str
    client_key: str

    def server_ctx(self, require_client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(ctx)
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    client = ca.issue_cert("rae-client@example.org")
    client.cert_chain_pems[0].write_to_path(str(d / "client.crt"))
    client.private_key_pem.write_to_path(str(d / "client.key"))
    return Pki(ca, str(d / "ca.pem"), str(d / "client.crt"), str(d / "client.key"))


def send(cfg: Config, n: int = 1) -> OutputManager:
    om = OutputManager(cfg)
    for i in range(n):
        om.submit(make_alert(i))
    om.close(timeout=20)
    return om


def test_http_json_post(serve: Callable[..., Receiver], config_factory: Callable[..., Config]) -> None:
    rec = serve()
    cfg = config_factory("http_output.enabled=true", f"http_output.url={rec.url}", "json_output=true",
                         "http_output.user_agent=deckhouse/runtime-audit-engine")
    om = send(cfg, 3)
    assert om.counters.delivered == {"http": 3} and om.counters.errors == {"http": 0}
    assert [r.body.decode() for r in rec.requests] == [make_alert(i).to_json() for i in range(3)]
    h = rec.requests[0].headers
    assert (rec.requests[0].method, rec.requests[0].path) == ("POST", "/alerts")
    assert h["Content-Type"] == "application/json"
    assert h["User-Agent"] == "deckhouse/runtime-audit-engine"
    assert "Content-Encoding" not in h


def test_http_text_post_and_default_user_agent(serve: Callable[..., Receiver],
                                               config_factory: Callable[..., Config]) -> None:
    rec = serve()
    send(config_factory("http_output.enabled=true", f"http_output.url='{rec.url}'"))  # quoted URL, as Falco
    (r,) = rec.requests
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["User-Agent"] == "falcosecurity/falco"
    assert r.body.decode() == make_alert(0).text_line()


def test_http_gzip_upload(serve: Callable[..., Receiver], config_factory: Callable[..., Config]) -> None:
    rec = serve()
    send(config_factory("http_output.enabled=true", f"http_output.url={rec.url}", "json_output=true",
                        "http_output.compress_uploads=true"))
    (r,) = rec.requests
    assert r.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(r.body)) == json.loads(make_alert(0).to_json())


def test_https_with_ca_cert_and_ca_bundle(serve: Callable[..., Receiver], pki: Pki,
                                          config_factory: Callable[..., Config]) -> None:
    for key in ("ca_cert", "ca_bundle"):
        rec = serve(pki.server_ctx())
        om = send(config_factory("http_output.enabled=true", f"http_output.url={rec.url}",
                                 f"http_output.{key}={pki.ca_file}"))
        assert om.counters.delivered == {"http": 1}, key
        assert len(rec.requests) == 1


def test_https_untrusted_fails_unless_insecure(serve: Callable[..., Receiver], pki: Pki,
                                               config_factory: Callable[..., Config]) -> None:
    rec = serve(pki.server_ctx())
    om = send(config_factory("http_output.enabled=true", f"http_output.url={rec.url}"), 2)
    assert om.counters.errors == {"http": 2} and om.counters.delivered == {"http": 0}
    assert rec.requests == []
    om = send(config_factory("http_output.enabled=true", f"http_output.url={rec.url}", "http_output.insecure=true"))
    assert om.counters.delivered == {"http": 1} and len(rec.requests) == 1


def test_https_mutual_tls(serve: Callable[..., Receiver], pki: Pki, config_factory: Callable[..., Config]) -> None:
    rec = serve(pki.server_ctx(require_client_cert=True))
    base = ["http_output.enabled=true", f"http_output.url={rec.url}", f"http_output.ca_cert={pki.ca_file}"]
    om = send(config_factory(*base))  # no client certificate: the server refuses the handshake
    assert om.counters.errors == {"http": 1} and rec.requests == []
    om = send(config_factory(*base, "http_output.mtls=true", f"http_output.client_cert={pki.client_cert}",
                             f"http_output.client_key={pki.client_key}", "http_output.keep_alive=true"), 2)
    assert om.counters.delivered == {"http": 2}
    assert len(rec.requests) == 2
    peer = rec.requests[0].peer_cert
    assert peer is not None
    assert ("email", "rae-client@example.org") in peer.get("subjectAltName", ())


def test_http_error_status_and_dead_server_are_counted(serve: Callable[..., Receiver],
                                                       config_factory: Callable[..., Config]) -> None:
    rec = serve()
    rec.status = 500
    om = send(config_factory("http_output.enabled=true", f"http_output.url={rec.url}"), 2)
    assert om.counters.errors == {"http": 2} and len(rec.requests) == 2
    # nothing listens there any more: connection refused, counted, the engine side unaffected
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    om = send(config_factory("http_output.enabled=true", f"http_output.url=http://127.0.0.1:{port}/"), 3)
    assert om.counters.errors == {"http": 3} and om.counters.submitted == 3


def test_http_echo_writes_the_response(serve: Callable[..., Receiver], config_factory: Callable[..., Config],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    rec = serve()
    rec.reply = b"hello from receiver\n"
    send(config_factory("http_output.enabled=true", f"http_output.url={rec.url}", "http_output.echo=true"))
    assert "hello from receiver" in capsys.readouterr().out


def test_http_bad_client_cert_is_a_config_error(tmp_path: Path, config_factory: Callable[..., Config]) -> None:
    from rae.errors import RaeError

    cfg = config_factory("http_output.enabled=true", "http_output.url=https://127.0.0.1:1/",
                         "http_output.mtls=true", f"http_output.client_cert={tmp_path}/none.crt")
    with pytest.raises(RaeError, match="cannot load client cert/key"):
        OutputManager(cfg)
