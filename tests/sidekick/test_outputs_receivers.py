"""HTTP and UDP outputs against local receivers that check the wire requests.

No server for Slack, Mattermost, Rocket.Chat, Teams, Discord, Google Chat, Loki or
Elasticsearch can run here; the receiver answers as those APIs do (status codes and bodies)
and records the requests, which are checked field by field. The webhook and file outputs
and StatsD/DogStatsD (a UDP socket) need nothing more.
"""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from .conftest import Receiver, SidekickProcess, alert, wait_for

A1 = alert("Terminal shell in container", "Warning", 1,
           fields={"k8s.ns.name": "prod", "k8s.pod.name": "web-1", "proc.aname[2]": "sshd"})
A2 = alert("Write below etc", "Critical", 2, fields={"fd.name": "/etc/<shadow>"}, tags=["filesystem"])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("receivers")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(10)
    with Receiver() as rx:
        rx.answers["/loki/api/v1/push"] = (204, b"", "text/plain")
        rx.answers["/es/"] = (201, b'{"_index":"falco","result":"created","_shards":{"failed":0}}',
                              "application/json")
        rx.answers["/discord"] = (204, b"", "text/plain")
        sk = SidekickProcess(
            config={
                "bracketreplacer": "_",
                "customfields": {"cluster": "c1"},
                "webhook": {"address": rx.url("/webhook"), "method": "PUT", "customheaders": {"X-Key": "k"}},
                "file": {"path": str(tmp / "alerts.jsonl")},
                "slack": {"webhookurl": rx.url("/slack"), "channel": "#sec",
                          "messageformat": "Alert {{ rule }} on {{ hostname }}"},
                "mattermost": {"webhookurl": rx.url("/mattermost"), "outputformat": "text"},
                "rocketchat": {"webhookurl": rx.url("/rocketchat")},
                "teams": {"webhookurl": rx.url("/teams")},
                "discord": {"webhookurl": rx.url("/discord")},
                "googlechat": {"webhookurl": rx.url("/googlechat")},
                "loki": {"hostport": rx.url(), "tenant": "t1", "user": "u", "apikey": "p",
                         "extralabels": "proc.name"},
                "elasticsearch": {"hostport": rx.url("/es"), "index": "falco", "username": "elastic",
                                  "password": "pw", "minimumpriority": "critical"},
                "statsd": {"forwarder": f"127.0.0.1:{udp.getsockname()[1]}"},
            },
            tmp=tmp,
        ).start()
        try:
            for a in (A1, A2):
                assert sk.post(a) == (200, b"")
            yield SimpleNamespace(sk=sk, rx=rx, udp=udp, tmp=tmp)
        finally:
            sk.stop()
            udp.close()


def _two(env, path: str) -> list:
    reqs = wait_for(lambda: len(env.rx.on(path)) == 2 and env.rx.on(path), 20, f"2 requests on {path}")
    return sorted(reqs, key=lambda r: r.body)


def test_webhook(env) -> None:
    reqs = _two(env, "/webhook")
    assert {r.method for r in reqs} == {"PUT"}
    assert reqs[0].headers["x-key"] == "k"
    assert reqs[0].headers["content-type"].startswith("application/json")
    bodies = {r.json()["rule"]: r.json() for r in reqs}
    first = bodies["Terminal shell in container"]
    assert list(first) == ["uuid", "output", "priority", "rule", "time", "output_fields", "source", "tags",
                           "hostname"]
    assert first["output_fields"]["proc.aname_2"] == "sshd"  # bracketreplacer
    assert "proc.aname[2]" not in first["output_fields"]
    assert b"\\u003cshadow\\u003e" in next(r for r in reqs if b"Write below" in r.body).body  # Go's HTML escaping


def test_file(env) -> None:
    path = env.tmp / "alerts.jsonl"
    lines = wait_for(lambda: path.exists() and len(path.read_text().splitlines()) == 2 and
                     path.read_text().splitlines(), 20, "file lines")
    assert [json.loads(x)["rule"] for x in lines] == [A1["rule"], A2["rule"]]


def test_slack(env) -> None:
    bodies = {r.json()["attachments"][0]["fallback"]: r.json() for r in _two(env, "/slack")}
    s = bodies[A2["output"]]
    assert s["text"] == "Alert Write below etc on node-1"
    assert s["channel"] == "#sec" and s["username"] == "Falcosidekick"
    att = s["attachments"][0]
    assert att["color"] == "#ff5400"
    assert att["text"] == A2["output"]
    titles = [f["title"] for f in att["fields"]]
    assert titles[:5] == ["rule", "priority", "source", "hostname", "tags"]
    assert titles[-1] == "time"
    assert {"title": "fd.name", "value": "/etc/<shadow>", "short": True} in att["fields"]


def test_mattermost_text_only(env) -> None:
    for r in _two(env, "/mattermost"):
        att = r.json()["attachments"][0]
        assert att["fields"] == [] and att["text"] in (A1["output"], A2["output"])


def test_rocketchat(env) -> None:
    colors = sorted(r.json()["attachments"][0]["color"] for r in _two(env, "/rocketchat"))
    assert colors == ["#ff5400", "#ffc700"]


def test_teams(env) -> None:
    cards = {r.json()["summary"]: r.json() for r in _two(env, "/teams")}
    card = cards[A1["output"]]
    assert card["@type"] == "MessageCard" and card["themeColor"] == "ffff00"
    facts = {f["name"]: f["value"] for f in card["sections"][0]["facts"]}
    assert facts["rule"] == A1["rule"] and facts["k8s.pod.name"] == "web-1"


def test_discord(env) -> None:
    embeds = {r.json()["embeds"][0]["description"]: r.json()["embeds"][0] for r in _two(env, "/discord")}
    e = embeds[A2["output"]]
    assert e["color"] == "15105570"
    assert {"name": "fd.name", "value": "```/etc/<shadow>```", "inline": True} in e["fields"]


def test_googlechat(env) -> None:
    for r in _two(env, "/googlechat"):
        widgets = r.json()["cards"][0]["sections"][0]["widgets"]
        assert widgets[0]["keyValue"]["topLabel"] == "rule"
        assert widgets[-1]["keyValue"]["topLabel"] == "time"


def test_loki(env) -> None:
    reqs = _two(env, "/loki/api/v1/push")
    r = next(x for x in reqs if b"Terminal shell" in x.body)
    assert r.headers["x-scope-orgid"] == "t1"
    assert r.headers["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    stream = r.json()["streams"][0]
    assert stream["stream"] == {
        "rule": A1["rule"], "source": "syscall", "priority": "Warning", "k8s_ns_name": "prod",
        "k8s_pod_name": "web-1", "cluster": "c1", "proc_name": "bash", "hostname": "node-1",
        "tags": "container,shell",
    }
    assert stream["values"] == [["1704164645123456790", A1["output"]]]


def test_elasticsearch_minimumpriority(env) -> None:
    r = wait_for(lambda: env.rx.on("/es/"), 20, "elasticsearch")[0]
    wait_for(lambda: env.sk.metric("rae_sidekick_output_filtered_total", destination="elasticsearch") == 1)
    assert len(env.rx.on("/es/")) == 1
    assert r.method == "POST"
    assert r.path == "/es/falco-2024.01.02/_doc"
    assert r.headers["authorization"] == "Basic " + base64.b64encode(b"elastic:pw").decode()
    doc = r.json()
    assert doc["rule"] == A2["rule"] and doc["@timestamp"] == doc["time"]


def test_statsd(env) -> None:
    datagrams = [env.udp.recv(65536).decode() for _ in range(2)]
    lines = sorted(line for d in datagrams for line in d.splitlines())
    assert lines == [
        "falcosidekick.falco.accepted.Critical:1|c",
        "falcosidekick.falco.accepted.Warning:1|c",
        "falcosidekick.inputs.requests.accepted:1|c",
        "falcosidekick.inputs.requests.accepted:1|c",
    ]


def test_output_metrics(env) -> None:
    for dest in ("webhook", "file", "slack", "mattermost", "rocketchat", "teams", "discord", "googlechat", "loki"):
        wait_for(lambda d=dest: env.sk.metric("falcosecurity_falcosidekick_outputs_total", destination=d,
                                              status="ok") == 2, 20, f"{dest} ok=2")
        assert env.sk.metric("falcosecurity_falcosidekick_outputs_total", destination=dest, status="error") == 0


def test_file_text_format(tmp_path: Path, sidekick_factory) -> None:
    sk = sidekick_factory({"file": {"path": str(tmp_path / "a.log"), "format": "text"}})
    assert sk.post(A1)[0] == 200
    line = wait_for(lambda: (tmp_path / "a.log").exists() and (tmp_path / "a.log").read_text(), 20, "text line")
    assert line == f"2024-01-02T03:04:05.12345679Z Warning {A1['output']}\n"
