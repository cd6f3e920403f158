"""Fixtures for the k8s_audit tests: the corpus's audit traces, TLS material from trustme, a webhook."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from rae.k8s_audit.webhook import AuditWebhook, WebhookConfig


@pytest.fixture(scope="session")
def traces(corpus_dir: Path) -> Path:
    return corpus_dir / "falco-regression" / "trace_files" / "k8s_audit"


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``combined`` (cert + key, like Deckhouse's falco.pem), ``cert``, ``key`` and ``ca`` PEMs."""
    d = tmp_path_factory.mktemp("tls")
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    files = {
        "combined": d / "falco.pem",
        "cert": d / "tls.crt",
        "key": d / "tls.key",
        "ca": d / "ca.crt",
    }
    cert_pem = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    key_pem = leaf.private_key_pem.bytes()
    files["combined"].write_bytes(cert_pem + b"\n" + key_pem)
    files["cert"].write_bytes(cert_pem)
    files["key"].write_bytes(key_pem)
    files["ca"].write_bytes(ca.cert_pem.bytes())
    return files


@pytest.fixture(scope="session")
def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    """What kube-apiserver does with the webhook kubeconfig: verify the server against the CA."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(ctx)
    return ctx


@pytest.fixture
def webhook(tls_files: dict[str, Path]) -> Iterator[AuditWebhook]:
    """A webhook on a free port, TLS from the combined PEM, small limits to keep tests quick."""
    config = WebhookConfig(
        url="https://127.0.0.1:0/k8s-audit",
        cert_file=str(tls_files["combined"]),
        max_batch_size=1024 * 1024,
        queue_size=1000,
    )
    hook = AuditWebhook(config)
    hook.start_in_thread()
    try:
        yield hook
    finally:
        hook.stop_thread()
