"""The engine webserver over real HTTP(S): /healthz, /versions, /metrics in Falco's shapes."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from outhelpers import make_alert
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from rae import metrics
from rae.config import Config
from rae.errors import RaeError
from rae.outputs import OutputManager
from rae.priority import Priority
from rae.webserver import EngineWebserver


@pytest.fixture
def start() -> Iterator[Callable[..., EngineWebserver]]:
    started: list[EngineWebserver] = []

    def run(cfg: Config, registry: CollectorRegistry | None, **kw: object) -> EngineWebserver:
        ws = EngineWebserver(cfg.webserver, registry, **kw)  # type: ignore[arg-type]
        ws.start()
        started.append(ws)
        return ws

    try:
        yield run
    finally:
        for ws in started:
            ws.stop()


def get(url: str, ctx: ssl.SSLContext | None = None) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10, context=ctx) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


LOCAL = ("webserver.listen_address=127.0.0.1", "webserver.listen_port=0")


def test_healthz_and_versions(start: Callable[..., EngineWebserver], config_factory: Callable[..., Config]) -> None:
    ws = start(config_factory(*LOCAL), None)
    base = f"http://127.0.0.1:{ws.port}"
    assert get(base + "/healthz") == (200, "application/json", b'{"status": "ok"}')
    code, ctype, body = get(base + "/versions")
    assert (code, ctype) == (200, "application/json")
    v = json.loads(body)
    assert set(v) == {"falco_version", "libs_version", "plugin_api_version", "driver_api_version",
                      "driver_schema_version", "default_driver_version", "engine_version",
                      "engine_version_semver", "plugin_versions"}
    assert v["engine_version_semver"] == "0.62.0" and v["engine_version"] == "62"
    import rae

    assert v["falco_version"] == rae.__version__
    from rae.rules.collector import PLUGIN_VERSIONS

    assert v["plugin_versions"] == PLUGIN_VERSIONS and "k8saudit" in v["plugin_versions"]
    assert get(base + "/metrics")[0] == 404  # prometheus_metrics_enabled is false by default (as Falco)
    assert get(base + "/nope")[0] == 404


def test_custom_healthz_endpoint_and_health_callback(start: Callable[..., EngineWebserver],
                                                     config_factory: Callable[..., Config]) -> None:
    healthy = [True]
    ws = start(config_factory(*LOCAL, "webserver.k8s_healthz_endpoint=/live"), None, health=lambda: healthy[0])
    base = f"http://127.0.0.1:{ws.port}"
    assert get(base + "/live")[0] == 200 and get(base + "/healthz")[0] == 404
    healthy[0] = False
    assert get(base + "/live")[:2] == (503, "application/json")


def test_metrics_endpoint(start: Callable[..., EngineWebserver], config_factory: Callable[..., Config],
                          tmp_path: Path) -> None:
    cfg = config_factory(*LOCAL, "webserver.prometheus_metrics_enabled=true", "outputs_queue.capacity=1")
    reg = CollectorRegistry()
    em = metrics.register(reg)
    rules = tmp_path / "my_rules.yaml"
    rules.write_text("- rule: x\n")
    em.set_loaded_files([str(rules)])
    em.set_stats_provider(lambda: metrics.EngineStats(
        n_evts=1000, num_evts=990, n_drops=7, n_drops_buffer={("open", "exit"): 5}, n_drops_page_faults=2,
        n_drops_user={"ringbuf_parse": 1}))
    em.rule_matched("Read sensitive file untrusted", Priority.WARNING, "syscall", ["T1555", "maturity_stable"])
    em.rule_matched("Read sensitive file untrusted", Priority.WARNING, "syscall", ["T1555", "maturity_stable"])
    em.rule_matched("Create Privileged Pod", Priority.CRITICAL, "k8s_audit")

    class Stuck:
        name = "stuck"

        def emit(self, alert: object, message: str) -> None:
            import time

            time.sleep(0.2)

        def reopen(self) -> None: ...
        def close(self) -> None: ...

    om = OutputManager(cfg, sinks=[Stuck()], registry=reg)
    for i in range(5):
        om.submit(make_alert(i))
    dropped = om.counters.dropped_queue_full
    assert dropped >= 3
    ws = start(cfg, reg)
    code, ctype, body = get(f"http://127.0.0.1:{ws.port}/metrics")
    om.close(timeout=5)
    assert code == 200 and ctype.startswith("text/plain; version=0.0.4")
    text = body.decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples[("falcosecurity_scap_n_evts_total", ())] == 1000
    assert samples[("falcosecurity_falco_num_evts_total", ())] == 990
    assert samples[("falcosecurity_scap_n_drops_total", ())] == 7
    assert samples[("falcosecurity_scap_n_drops_buffer_total", (("dir", "exit"), ("drop", "open")))] == 5
    assert samples[("falcosecurity_scap_n_drops_page_faults_total", ())] == 2
    assert samples[("rae_user_drops_total", (("cause", "ringbuf_parse"),))] == 1
    assert samples[("falcosecurity_falco_outputs_queue_num_drops_total", ())] == dropped
    assert 'falcosecurity_falco_rules_matches_total{priority="4",rule_name="Read sensitive file untrusted",' \
           'source="syscall",tag_T1555="true",tag_maturity_stable="true"} 2.0' in text
    assert samples[("falcosecurity_falco_rules_matches_total",
                    (("priority", "2"), ("rule_name", "Create Privileged Pod"), ("source", "k8s_audit")))] == 1
    import hashlib

    sha = hashlib.sha256(rules.read_bytes()).hexdigest()
    assert samples[("falcosecurity_falco_sha256_rules_files_info",
                    (("file_name", "my_rules.yaml"), ("sha256", sha)))] == 1
    assert any(k[0] == "rae_ruleset_checksum_info" and k[1][0][1] == em.ruleset_checksum for k in samples)
    assert samples[("falcosecurity_falco_memory_rss_bytes", ())] > 0
    assert samples[("falcosecurity_falco_cpu_usage_ratio", ())] >= 0


def test_tls_webserver(start: Callable[..., EngineWebserver], config_factory: Callable[..., Config],
                       tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    pem = tmp_path / "falco.pem"  # one file: key + certificate, as Falco's ssl_certificate
    pem.write_bytes(cert.private_key_pem.bytes() + b"".join(c.bytes() for c in cert.cert_chain_pems))
    ws = start(config_factory(*LOCAL, "webserver.ssl_enabled=true", f"webserver.ssl_certificate={pem}"), None)
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    assert get(f"https://127.0.0.1:{ws.port}/healthz", ctx)[2] == b'{"status": "ok"}'


def test_port_in_use_and_bad_certificate_are_one_line_errors(
    start: Callable[..., EngineWebserver], config_factory: Callable[..., Config], tmp_path: Path
) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        port = s.getsockname()[1]
        cfg = config_factory("webserver.listen_address=127.0.0.1", f"webserver.listen_port={port}")
        with pytest.raises(RaeError, match=rf"webserver: cannot listen on 127.0.0.1:{port}: "):
            start(cfg, None)
    finally:
        s.close()
    cfg = config_factory(*LOCAL, "webserver.ssl_enabled=true", f"webserver.ssl_certificate={tmp_path}/none.pem")
    with pytest.raises(RaeError, match="cannot load ssl_certificate"):
        start(cfg, None)
