"""The HTTP API of `rae sidekick` against falcosidekick's behaviour: routes, validation, error texts, TLS."""

from __future__ import annotations

import json
import ssl
import urllib.error
from pathlib import Path

import pytest

from .conftest import alert, free_port, http, wait_for


@pytest.fixture(scope="module")
def sk(tmp_path_factory: pytest.TempPathFactory):
    from .conftest import SidekickProcess

    tmp = tmp_path_factory.mktemp("api")
    proc = SidekickProcess(
        config={"file": {"path": str(tmp / "out.jsonl")}, "customfields": {"cluster": "c1"}}, tmp=tmp
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def _lines(sk) -> list[dict]:
    path = Path(sk.config["file"]["path"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_healthz_ping(sk) -> None:
    status, body, headers = http("GET", sk.url("/healthz"))
    assert (status, body, headers["Content-Type"]) == (200, b'{"status": "ok"}', "application/json")
    status, body, _ = http("GET", sk.url("/ping"))
    assert (status, body) == (200, b"pong\n")


@pytest.mark.parametrize(
    ("method", "path", "body", "text"),
    [
        ("GET", "/", None, b"Please send with post http method\n"),
        ("GET", "/test", None, b"Please send with post http method\n"),
        ("PUT", "/anything/else", b"{}", b"Please send with post http method\n"),
        ("POST", "/", b"", b"Please send a valid request body\n"),
        ("POST", "/", b"{not json", b"Please send a valid request body\n"),
        ("POST", "/", b"[1,2]", b"Please send a valid request body\n"),
    ],
)
def test_rejections_have_falcosidekick_texts(sk, method, path, body, text) -> None:
    before = sk.metric("falcosecurity_falcosidekick_inputs_total", status="rejected")
    status, answer, headers = http(method, sk.url(path), body)
    assert status == 400
    assert answer == text
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert sk.metric("falcosecurity_falcosidekick_inputs_total", status="rejected") == before + 1


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a.pop("priority"),
        lambda a: a.update(priority="loud"),
        lambda a: a.pop("rule"),
        lambda a: a.pop("time"),
        lambda a: a.update(time="yesterday"),
        lambda a: a.update(output_fields={}),
        lambda a: a.update(rule=12),
        lambda a: a.update(tags="x"),
    ],
)
def test_check_failures_are_rejected(sk, mutate) -> None:
    body = alert(rule="Check me")
    mutate(body)
    assert sk.post(body) == (400, b"Please send a valid request body\n")


def test_accepted_event_is_enriched_and_forwarded(sk) -> None:
    body = alert(rule="Accepted rule", priority="info", source="", tags=["z", "a"])
    body["unknown_key"] = "ignored"
    assert sk.post(body, path="/any/path") == (200, b"")
    line = wait_for(lambda: [e for e in _lines(sk) if e["rule"] == "Accepted rule"], what="file line")[0]
    assert line["priority"] == "Informational"
    assert line["source"] == "syscalls"  # falcosidekick's default when empty
    assert line["tags"] == ["a", "z"]
    assert line["output_fields"]["cluster"] == "c1"
    assert len(line["uuid"]) == 36
    assert line["time"] == "2024-01-02T03:04:05.123456789Z"
    assert sk.metric("falcosecurity_falcosidekick_falco_events_total", rule="Accepted rule", priority="2",
                     priority_raw="informational", source="syscalls", hostname="node-1") == 1


def test_test_endpoint(sk) -> None:
    assert sk.post(b"", path="/test") == (200, b"")
    line = wait_for(lambda: [e for e in _lines(sk) if e["rule"] == "Test rule"], what="test event")[0]
    assert line["source"] == "internal"
    assert line["priority"] == "Debug"
    assert line["output"] == "This is a test from falcosidekick"
    assert line["tags"] == ["example", "test"]


def test_debug_vars(sk) -> None:
    status, body, _ = http("GET", sk.url("/debug/vars"))
    data = json.loads(body)
    assert status == 200
    assert data["inputs.requests"]["total"] == data["inputs.requests"]["accepted"] + data["inputs.requests"][
        "rejected"]


def test_environment_overrides_file(sidekick_factory, tmp_path: Path, receiver) -> None:
    """WEBHOOK_ADDRESS enables an output absent from the file; CUSTOMFIELDS is a k:v map."""
    sk = sidekick_factory(
        {"webhook": {"address": "http://127.0.0.1:1/never"}},
        env={
            "WEBHOOK_ADDRESS": receiver.url("/hook"),
            "WEBHOOK_CUSTOMHEADERS": "X-Token:abc,X-Other:1",
            "CUSTOMFIELDS": "team:blue,zone:%SK_ZONE",
            "SK_ZONE": "eu-1",
            "WEBHOOK_MINIMUMPRIORITY": "error",
        },
    )
    assert sk.post(alert(rule="Low", priority="Notice"))[0] == 200
    assert sk.post(alert(rule="High", priority="Critical"))[0] == 200
    req = wait_for(lambda: receiver.on("/hook"), what="webhook")[0]
    wait_for(lambda: sk.metric("rae_sidekick_output_filtered_total", destination="webhook") == 1)
    assert [r.json()["rule"] for r in receiver.on("/hook")] == ["High"]
    assert req.headers["x-token"] == "abc"
    assert req.json()["output_fields"]["team"] == "blue"
    assert req.json()["output_fields"]["zone"] == "eu-1"


def test_bad_config_is_one_line_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("syslog:\n  host: 127.0.0.1\n  protocol: carrier-pigeon\n")
    res = subprocess.run([sys.executable, "-m", "rae.cli", "sidekick", "-c", str(cfg)], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1].startswith("rae sidekick: error: syslog:")
    assert "Traceback" not in res.stderr


def test_mutual_tls_input_and_notls_paths(sidekick_factory, pki) -> None:
    notls = free_port()
    sk = sidekick_factory(
        {
            "tlsserver": {
                "deploy": True,
                "mutualtls": True,
                "certfile": str(pki["server_crt"]),
                "keyfile": str(pki["server_key"]),
                "cacertfile": str(pki["ca"]),
                "notlsport": notls,
                "notlspaths": ["/healthz", "/metrics"],
            }
        },
        scheme="https",
    )
    with_cert = ssl.create_default_context(cafile=str(pki["ca"]))
    with_cert.load_cert_chain(str(pki["client_crt"]), str(pki["client_key"]))
    status, _, _ = http("POST", sk.url("/"), json.dumps(alert()).encode(), context=with_cert)
    assert status == 200
    without_cert = ssl.create_default_context(cafile=str(pki["ca"]))
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        http("POST", sk.url("/"), json.dumps(alert()).encode(), context=without_cert)
    # the plain-HTTP listener serves only the listed paths
    assert http("GET", f"http://127.0.0.1:{notls}/healthz")[0] == 200
    assert b"falcosecurity_falcosidekick_inputs_total" in http("GET", f"http://127.0.0.1:{notls}/metrics")[1]
    assert http("POST", f"http://127.0.0.1:{notls}/", json.dumps(alert()).encode())[0] == 404


def test_webhook_output_over_mutual_tls(sidekick_factory, pki, tmp_path: Path) -> None:
    """An output with mutualtls presents the client certificate and verifies the server."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[bytes, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            peer = self.connection.getpeercert()
            got.append((body, dict(x[0] for x in peer["subject"]).get("commonName") if peer else None))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki["ca"]))
    ctx.load_cert_chain(str(pki["server_crt"]), str(pki["server_key"]))
    ctx.verify_mode = ssl.CERT_REQUIRED
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sk = sidekick_factory(
            {
                "mutualtlsclient": {
                    "certfile": str(pki["client_crt"]),
                    "keyfile": str(pki["client_key"]),
                    "cacertfile": str(pki["ca"]),
                },
                "webhook": {"address": f"https://127.0.0.1:{server.server_address[1]}/", "mutualtls": True},
            }
        )
        assert sk.post(alert(rule="Over mTLS"))[0] == 200
        body, _cn = wait_for(lambda: got, what="mTLS delivery")[0]
        assert json.loads(body)["rule"] == "Over mTLS"
        assert wait_for(lambda: sk.metric("falcosecurity_falcosidekick_outputs_total", destination="webhook",
                                          status="ok") == 1)
    finally:
        server.shutdown()
        server.server_close()
