"""The audit webhook over real TLS sockets, played the way kube-apiserver talks to it."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import trustme
from k8s_helpers import load_events

from rae.errors import RaeError
from rae.k8s_audit.webhook import AuditWebhook, WebhookConfig, WebhookEventSource, parse_listen_url


def post(
    hook: AuditWebhook,
    ctx: ssl.SSLContext,
    body: bytes,
    *,
    method: str = "POST",
    path: str | None = None,
    content_type: str = "application/json",
) -> tuple[int, str]:
    conn = http.client.HTTPSConnection("127.0.0.1", hook.port, context=ctx, timeout=10)
    try:
        conn.request(method, path or hook.path, body=body, headers={"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def event_list(items: list[dict[str, Any]]) -> bytes:
    return json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}).encode()


def drain(hook: AuditWebhook) -> list[Any]:
    return hook.queue.get_batch(100000, timeout=0)


def test_listen_url_parsing() -> None:
    assert parse_listen_url("https://127.0.0.1:9765/k8s-audit") == (True, "127.0.0.1", 9765, "/k8s-audit")
    assert parse_listen_url("http://localhost:8080/audit") == (False, "localhost", 8080, "/audit")
    assert parse_listen_url("https://[::1]/x") == (True, "::1", 443, "/x")
    with pytest.raises(RaeError):
        parse_listen_url("file:///var/log/audit.log")


def test_eventlist_over_tls_verified_against_ca(
    webhook: AuditWebhook, client_ctx: ssl.SSLContext, traces: Path
) -> None:
    items = load_events(traces / "create_nginx_pod_privileged.json") + load_events(traces / "exec_pod.json")
    status, text = post(webhook, client_ctx, event_list(items))
    assert status == 200, text
    assert json.loads(text) == {"accepted": len(items)}
    got = drain(webhook)
    assert [e.obj["auditID"] for e in got] == [i["auditID"] for i in items]
    assert [e.num for e in got] == list(range(1, len(items) + 1))
    # a single Event body, too
    status, _ = post(webhook, client_ctx, json.dumps(items[0]).encode())
    assert status == 200
    assert drain(webhook)[0].num == len(items) + 1


def test_server_certificate_is_checked(webhook: AuditWebhook, client_ctx: ssl.SSLContext) -> None:
    """A client that trusts another CA refuses the server: the kubeconfig's CA really matters."""
    other = ssl.create_default_context()
    trustme.CA().configure_trust(other)
    with pytest.raises(ssl.SSLCertVerificationError):
        post(webhook, other, b"{}")
    deadline = time.monotonic() + 10
    while webhook.stats["tls_failed"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert webhook.stats["tls_failed"] == 1
    assert post(webhook, client_ctx, b"{}")[0] == 422  # and it keeps serving


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'{"kind":"EventList","items":[{"kind":"Event","stageTimestamp":"2024-01-01', 400, "invalid_json"),
        (b'{"kind": 0}', 422, "not_audit"),
        (b'{"kind":"Pod","apiVersion":"v1"}', 422, "not_audit"),
        (b"\xff\xfe garbage", 400, "invalid_json"),
        (b"[" * 100000 + b"]" * 100000, 400, "invalid_json"),
        (event_list([{"kind": "Event", "auditID": "x"}]), 422, "bad_event"),
    ],
    ids=["bad-json", "truncated", "kind-number", "wrong-kind", "not-utf8", "deep-nesting", "no-timestamp"],
)
def test_malformed_bodies_get_4xx_and_server_keeps_serving(
    webhook: AuditWebhook, client_ctx: ssl.SSLContext, traces: Path, body: bytes, status: int, reason: str
) -> None:
    got, text = post(webhook, client_ctx, body)
    assert got == status, text
    assert text.strip()
    assert webhook.stats[reason] == 1
    good = load_events(traces / "create_deployment.json")
    assert post(webhook, client_ctx, event_list(good))[0] == 200
    assert len(drain(webhook)) == len(good)


def test_oversized_event_refused_others_kept(
    webhook: AuditWebhook, client_ctx: ssl.SSLContext, traces: Path
) -> None:
    good = load_events(traces / "create_deployment.json")[0]
    big = dict(good, auditID="big", annotations={"junk": "x" * 262144})
    status, text = post(webhook, client_ctx, event_list([good, big, good]))
    assert status == 413
    assert "maxEventSize" in text
    assert webhook.stats["event_too_large"] == 1
    assert [e.obj["auditID"] for e in drain(webhook)] == [good["auditID"], good["auditID"]]


def test_oversized_batch(webhook: AuditWebhook, client_ctx: ssl.SSLContext) -> None:
    # announced by Content-Length: refused before the body is read
    with (
        socket.create_connection(("127.0.0.1", webhook.port)) as raw,
        client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            b"POST /k8s-audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000000\r\n\r\n"
        )
        head = tls.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head
    # chunked, with no length announced: cut off at the limit while reading
    blob = b'{"kind":"EventList","items":[' + b" " * (1024 * 1024 + 10) + b"]}"
    conn = http.client.HTTPSConnection("127.0.0.1", webhook.port, context=client_ctx, timeout=10)
    try:
        conn.request("POST", "/k8s-audit", body=iter([blob]), headers={"Content-Type": "application/json"},
                     encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 413
    finally:
        conn.close()
    assert webhook.stats["batch_too_large"] == 2


def test_wrong_method_path_and_content_type(webhook: AuditWebhook, client_ctx: ssl.SSLContext) -> None:
    assert post(webhook, client_ctx, b"", method="GET")[0] == 405
    assert post(webhook, client_ctx, b"{}", method="PUT")[0] == 405
    assert post(webhook, client_ctx, b"{}", path="/other")[0] == 404
    assert post(webhook, client_ctx, b"{}", content_type="text/plain")[0] == 415
    assert webhook.stats["method"] == 2
    assert webhook.stats["not_found"] == 1
    assert webhook.stats["content_type"] == 1


def test_plain_http_on_tls_port(webhook: AuditWebhook, client_ctx: ssl.SSLContext, traces: Path) -> None:
    with socket.create_connection(("127.0.0.1", webhook.port), timeout=10) as raw:
        raw.sendall(b"POST /k8s-audit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 2\r\n\r\n{}")
        reply = b""
        while chunk := raw.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert b"HTTPS" in reply
    assert webhook.stats["plain_http"] == 1
    assert post(webhook, client_ctx, event_list(load_events(traces / "create_deployment.json")))[0] == 200


def test_truncated_body_connection_dropped(webhook: AuditWebhook, client_ctx: ssl.SSLContext) -> None:
    """The client announces more than it sends and goes away: counted, and the server lives on."""
    with (
        socket.create_connection(("127.0.0.1", webhook.port)) as raw,
        client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            b"POST /k8s-audit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 5000\r\n\r\n{"kind":"EventList",'
        )
    deadline = time.monotonic() + 10
    while webhook.stats["truncated"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert webhook.stats["truncated"] == 1
    assert post(webhook, client_ctx, b"{}")[0] == 422


def test_full_queue_answers_503(tls_files: dict[str, Path], client_ctx: ssl.SSLContext, traces: Path) -> None:
    config = WebhookConfig(url="https://127.0.0.1:0/k8s-audit", cert_file=str(tls_files["cert"]),
                           key_file=str(tls_files["key"]), queue_size=3)
    hook = AuditWebhook(config)
    hook.start_in_thread()
    try:
        items = load_events(traces / "create_deployment.json")
        assert post(hook, client_ctx, event_list(items * 2))[0] == 200  # 2 events
        status, text = post(hook, client_ctx, event_list(items * 2))  # would make 4 > 3
        assert status == 503, text
        assert hook.stats["events_dropped"] == 2
        assert len(drain(hook)) == 2
        assert post(hook, client_ctx, event_list(items * 2))[0] == 200
    finally:
        hook.stop_thread()


def test_bad_tls_material_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "falco.pem"
    bad.write_text("not a pem\n")
    with pytest.raises(RaeError, match=r"falco\.pem"):
        AuditWebhook(WebhookConfig(url="https://127.0.0.1:0/k8s-audit", cert_file=str(bad)))
    with pytest.raises(RaeError, match="certificate"):
        AuditWebhook(WebhookConfig(url="https://127.0.0.1:0/k8s-audit"))


def test_webhook_event_source_for_the_engine(
    tls_files: dict[str, Path], client_ctx: ssl.SSLContext, traces: Path
) -> None:
    src = WebhookEventSource(WebhookConfig(url="https://127.0.0.1:0/k8s-audit", cert_file=str(tls_files["combined"])))
    assert src.source == "k8s_audit"
    src.start()
    try:
        items = load_events(traces / "create_deployment.json") + load_events(traces / "exec_pod.json")
        assert post(src.webhook, client_ctx, event_list(items))[0] == 200
    finally:
        src.stop()  # the queue closes: iteration drains what arrived, then ends
    assert [e.obj["auditID"] for e in src] == [i["auditID"] for i in items]
