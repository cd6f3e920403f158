"""Pure parts: config and environment mapping, event decoding, enrichment, metric label cap, payload builders."""

from __future__ import annotations

import json

import pytest
from prometheus_client import generate_latest

from rae.priority import Priority
from rae.sidekick.config import SidekickConfigError, env_name
from rae.sidekick.enrich import Enricher
from rae.sidekick.event import EventDecodeError, SidekickEvent, format_go_time, parse_rfc3339_ns
from rae.sidekick.metrics import OVERFLOW, SidekickMetrics
from rae.sidekick.outputs import OUTPUT_CLASSES
from rae.sidekick.outputs.base import OutputContext
from rae.sidekick.service import load

from .conftest import alert


def _event(**kw) -> SidekickEvent:
    return SidekickEvent.from_dict(alert(**kw))


def _output(name: str, cfg_text: str = "", **block):
    cfg = load(None, {})
    cfg.tree[name].update(block)
    return OUTPUT_CLASSES[name](cfg.tree[name], OutputContext(cfg, ("cluster",), ()))


def test_env_mapping(tmp_path) -> None:
    assert env_name("slack.webhookurl") == "SLACK_WEBHOOKURL"
    f = tmp_path / "c.yaml"
    f.write_text("Slack:\n  WebhookURL: http://file\n  MinimumPriority: error\nlistenport: 3000\n"
                 "customfields:\n  Team: blue\n")
    cfg = load(str(f), {
        "SLACK_WEBHOOKURL": "http://env",
        "LISTENPORT": "4000",
        "TLSSERVER_NOTLSPATHS": "/ping,/metrics",
        "ALERTMANAGER_HOSTPORT": "http://a:9093,http://b:9093",
        "WEBHOOK_CUSTOMHEADERS": "Authorization:Bearer x,X-A:b",
        "REDIS_CHECKCERT": "false",
        "BUFFER_INITIALBACKOFF": "0.25",
    })
    assert cfg.get("slack.webhookurl") == "http://env"
    assert cfg.get("slack.minimumpriority") == "error"  # keys are case-insensitive
    assert cfg.listen_port == 4000
    assert cfg.get("tlsserver.notlspaths") == ["/ping", "/metrics"]
    assert cfg.get("alertmanager.hostport") == ["http://a:9093", "http://b:9093"]
    assert cfg.get("webhook.customheaders") == {"Authorization": "Bearer x", "X-A": "b"}
    assert cfg.get("redis.checkcert") is False
    assert cfg.get("buffer.initialbackoff") == 0.25
    assert cfg.customfields == {"Team": "blue"}  # map keys keep their case
    with pytest.raises(SidekickConfigError, match="LISTENPORT: not an integer"):
        load(None, {"LISTENPORT": "x"})


def test_decode_rules() -> None:
    ev = SidekickEvent.from_json(b'{"priority":"INFO","rule":"r","time":"2024-01-02T04:04:05.5+01:00",'
                                 b'"output_fields":{"a":1}} trailing')
    assert ev.priority is Priority.INFORMATIONAL and ev.check()
    assert ev.time_text == "2024-01-02T03:04:05.5Z"
    assert SidekickEvent.from_dict({"priority": "nope", "rule": "r"}).priority is None
    for bad in (b'{"time": 5}', b'{"output_fields": []}', b'"x"', b'{"hostname": 1}'):
        with pytest.raises(EventDecodeError):
            SidekickEvent.from_json(bad)
    assert format_go_time(parse_rfc3339_ns("2024-01-02T03:04:05.120000000Z")) == "2024-01-02T03:04:05.12Z"


def test_enrichment_order_and_truncation() -> None:
    enricher = Enricher({"env": "prod"}, ["custom"], {"team": '{{ fields.get("k8s.ns.name") or "none" }}',
                                                      "bad": "{{ fields[ }}"}, bracketreplacer="_")
    ev = _event(fields={"k8s.ns.name": "ns1", "proc.aname[3]": "init", "big": "x" * 5000}, source="", tags=["b"])
    ev.output += " " + "x" * 5000
    enriched = enricher.enrich(ev)
    assert (enriched.k8s_ns, enriched.k8s_pod) == ("ns1", "")
    assert ev.tags == ["b", "custom"] and ev.source == "syscalls"
    assert ev.output_fields["team"] == "ns1" and ev.output_fields["bad"] == "" and ev.output_fields["env"] == "prod"
    enricher.finish(ev)
    assert "proc.aname_3" in ev.output_fields
    assert ev.output_fields["big"] == "x" * 507 + "[...]"


def test_label_cardinality_cap() -> None:
    m = SidekickMetrics(customfields=["cluster"], max_label_sets=3)
    for n in range(10):
        ev = _event(n=n, fields={"k8s.pod.name": f"pod-{n}", "cluster": "c1"})
        m.count_event(m.event_labels(ev, "ns", f"pod-{n}"))
    text = generate_latest(m.registry).decode()
    series = [x for x in text.splitlines() if x.startswith("falcosecurity_falcosidekick_falco_events_total{")]
    assert len(series) == 4  # 3 real label sets + 1 folded one
    folded = [x for x in series if f'k8s_pod_name="{OVERFLOW}"' in x]
    assert folded and folded[0].endswith(" 7.0")
    assert 'rule="Terminal shell in container"' in folded[0] and 'priority="4"' in folded[0]
    assert "rae_sidekick_events_labelsets_folded_total 7.0" in text


def test_nats_subject_and_redis_hashmap_payload() -> None:
    nats = _output("nats", hostport="x")
    subject, body = nats.build(_event(rule="Read sensitive file (untrusted)!", priority="Error"))
    assert subject == "falco.error.read_sensitive_file_untrusted"
    assert json.loads(body)["rule"] == "Read sensitive file (untrusted)!"


def test_syslog_cef() -> None:
    out = _output("syslog", host="h", protocol="udp", format="cef")
    ev = _event(rule="R", priority="Critical")
    ev.uuid = "u-1"
    line = out.build(ev).decode()
    assert line.startswith("<2>2024-01-02T03:04:05Z ")
    assert "CEF:0|Falcosecurity|Falco|1.0|Falco Event|R|8|uuid=u-1 start=2024-01-02T03:04:05Z msg=" in line
    assert line.endswith("tags=container,shell\n")


def test_alertmanager_drop_thresholds_and_expiry() -> None:
    out = _output("alertmanager", hostport=["http://x"], expiresafter=60, customseveritymap={"warning": "major"})
    [payload] = out.build(_event(priority="Notice", fields={"n_drops": 150, "n_evts": 1000, "proc.name": "x"}))
    assert payload["labels"]["n_drops"] == ">100"
    assert payload["labels"]["priority"] == "Critical"  # raised by the threshold
    assert "n_evts" not in payload["labels"]
    assert payload["endsAt"] == "2024-01-02T03:05:05.123456789Z"
    [warn] = out.build(_event(priority="Warning"))
    assert warn["labels"]["severity"] == "major"


def test_influxdb_line_protocol_escaping() -> None:
    out = _output("influxdb", hostport="http://i:8086", user="u", password="p")
    line = out.build(_event(rule="A rule, with=signs", fields={"fd.name": "/tmp/a b"}))
    assert line.startswith("events,rule=A_rule\\,_with\\=signs,priority=Warning,source=syscall,")
    assert "fd.name=/tmp/a_b" in line and line.endswith(" 1704164645123456789")
    assert out.url(line) == "http://i:8086/write?db=falco&u=u&p=p&precision=ns"


def test_kafka_payload() -> None:
    out = _output("kafka", hostport="k:9092", topic="falco")
    assert json.loads(out.build(_event(rule="K")))["rule"] == "K"


def test_timescaledb_insert() -> None:
    out = _output("timescaledb", host="db")
    ev = _event(fields={"cluster": "NULL"})
    sql, params = out.build(ev)
    assert sql == ("INSERT INTO falcosidekick_events (time,rule,priority,source,output,tags,hostname,cluster) "
                   "VALUES ($1,$2,$3,$4,$5,$6,$7,$8)")
    assert params[-1] is None and params[5] == "container,shell"


def test_every_output_is_registered_with_defaults() -> None:
    assert set(OUTPUT_CLASSES) >= {
        "webhook", "file", "redis", "syslog", "mqtt", "nats", "timescaledb", "smtp", "alertmanager", "loki",
        "elasticsearch", "slack", "mattermost", "rocketchat", "teams", "discord", "googlechat", "influxdb",
        "statsd", "dogstatsd", "kafka",
    }
    for name, cls in OUTPUT_CLASSES.items():
        assert cls.enable_key in cls.defaults, name
        assert not cls.is_enabled(load(None, {}).section(name)), name


class _StuckOutput:
    """An output whose delivery never finishes (a server that accepts and never answers)."""

    name = "stuck"
    max_batch = 1
    cfg: dict = {"maxconcurrentrequests": 2}

    def __init__(self) -> None:
        self.ctx = OutputContext(load(None, {}))

    def build(self, event):
        return event.rule

    async def start(self) -> None:
        pass

    async def send(self, payload) -> None:
        import asyncio

        await asyncio.sleep(3600)

    async def close(self) -> None:
        pass


def test_shutdown_counts_in_flight_and_buffered_events() -> None:
    import asyncio

    from rae.sidekick.dispatcher import OutputRunner, Route

    metrics = SidekickMetrics()

    async def scenario() -> None:
        runner = OutputRunner(_StuckOutput(), Route(), metrics, capacity=10, initial_backoff=0.1, max_backoff=1)
        await runner.start()
        for n in range(5):
            assert runner.offer(_event(n=n))
        await asyncio.sleep(0.05)  # two events in flight, three buffered
        await runner.stop(drain_timeout=0.05)

    asyncio.run(scenario())
    assert metrics.dropped.labels("stuck", "shutdown")._value.get() == 5


def test_route_and_dedup_units() -> None:
    from rae.sidekick.dispatcher import Deduplicator, Route

    route = Route.from_config("x", {"minimumpriority": "error", "rules": ["Write *"], "tags": ["fs"]})
    assert route.accepts(_event(rule="Write below etc", priority="Critical", tags=["fs", "x"]))
    assert not route.accepts(_event(rule="Write below etc", priority="Warning", tags=["fs"]))
    assert not route.accepts(_event(rule="Read", priority="Critical", tags=["fs"]))
    assert not route.accepts(_event(rule="Write below etc", priority="Critical", tags=["net"]))
    assert route.accepts(_event(rule="Test rule", priority="Debug", tags=[]))

    d = Deduplicator(10.0, ("proc.name",))
    assert d.admit(_event(n=1), now=0)
    assert not d.admit(_event(n=2), now=1)  # container.id differs, but only proc.name identifies
    assert d.admit(_event(n=3, fields={"proc.name": "sh"}), now=2)
    assert d.flush(now=5) == []
    [summary] = d.flush(now=10.5)
    assert summary.output_fields["rae.dedup.count"] == 1 and summary.output_fields["container.id"] == "c0002"
    assert d.admit(_event(n=4), now=11)  # a new window


def test_outputfieldformat() -> None:
    fmt = "<timestamp> [<priority>] <output> (<custom_fields>) <tags>"
    enricher = Enricher({"cluster": "c1"}, [], {}, outputfieldformat=fmt)
    ev = _event(priority="Error")
    enricher.enrich(ev)
    enricher.finish(ev)
    assert ev.output == "15:04:05.123456789 [Error] shell spawned (n=0 proc=bash) (cluster=c1) container,shell"
    plain = _event()
    plain.output = "no Falco prefix here"
    enricher.finish(plain)
    assert plain.output == "no Falco prefix here"
