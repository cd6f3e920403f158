"""Outputs against real servers: one `rae sidekick` feeds Redis, MQTT, NATS, PostgreSQL, rsyslog, SMTP,
Alertmanager and InfluxDB at once; each test reads back exactly what its server received."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from .conftest import SidekickProcess, alert, free_port, http, wait_for
from .servers import (
    NatsSubscriber,
    alertmanager_server,
    influxdb_server,
    mosquitto_server,
    nats_server,
    postgres_server,
    redis_server,
    rsyslog_server,
    smtp_server,
)

ALERTS = [
    alert("Terminal shell in container", "Warning", 1,
          fields={"k8s.ns.name": "prod", "k8s.pod.name": "web-1", "proc.cmdline": 'bash -c "id"'}),
    alert("Write below etc", "Critical", 2, fields={"fd.name": "/etc/shadow"}, tags=["filesystem"]),
    alert("Debug noise", "Debug", 3, hostname="node-2", source="k8s_audit"),
]
RULES = [a["rule"] for a in ALERTS]


def _mqtt_subscriber(port: int, topic: str):
    import paho.mqtt.client as mqtt

    got: list[bytes] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda c, u, mid, rc, p: subscribed.set()
    client.on_message = lambda c, u, msg: got.append(msg.payload)
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert subscribed.wait(10), "MQTT subscription not acknowledged"
    return client, got


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("outputs")
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server(tmp))
        mosq = stack.enter_context(mosquitto_server(tmp))
        nats = stack.enter_context(nats_server(tmp))
        pg = stack.enter_context(postgres_server())
        syslog = stack.enter_context(rsyslog_server(tmp))
        smtp = stack.enter_context(smtp_server())
        am = stack.enter_context(alertmanager_server(tmp))
        influx = stack.enter_context(influxdb_server(tmp))

        async def create_table() -> None:
            import asyncpg

            conn = await asyncpg.connect(host="127.0.0.1", port=pg.port, user="postgres", database="postgres")
            await conn.execute("CREATE DATABASE falcosidekick")
            await conn.close()
            conn = await asyncpg.connect(host="127.0.0.1", port=pg.port, user="postgres", database="falcosidekick")
            await conn.execute(
                "CREATE TABLE falcosidekick_events (time timestamptz NOT NULL, rule text, priority text,"
                " source text, output text, tags text, hostname text, cluster text)"
            )
            await conn.close()

        asyncio.run(create_table())
        mqtt_client, mqtt_got = _mqtt_subscriber(mosq.port, "falco/events")
        stack.callback(mqtt_client.loop_stop)
        stack.callback(mqtt_client.disconnect)
        nats_sub = NatsSubscriber(nats.port, "falco.>")
        stack.callback(nats_sub.close)

        sk = SidekickProcess(
            config={
                "customfields": {"cluster": "c1"},
                "redis": {"address": f"127.0.0.1:{redis.port}"},
                "mqtt": {"broker": f"tcp://127.0.0.1:{mosq.port}"},
                "nats": {"hostport": f"nats://127.0.0.1:{nats.port}"},
                "timescaledb": {"host": "127.0.0.1", "port": str(pg.port), "password": ""},
                "syslog": {"host": "127.0.0.1", "port": str(syslog.port), "protocol": "tcp"},
                "smtp": {"hostport": f"127.0.0.1:{smtp.port}", "tls": False, "from": "falco@example.org",
                         "to": "sec@example.org,ops@example.org", "minimumpriority": "notice"},
                # HA: two Alertmanagers, the first one down
                "alertmanager": {"hostport": f"http://127.0.0.1:{free_port()},http://127.0.0.1:{am.port}",
                                 "extralabels": {"team": "sec"}},
                "influxdb": {"hostport": f"http://127.0.0.1:{influx.port}"},
            },
            tmp=tmp,
        ).start()
        stack.callback(sk.stop)
        for a in ALERTS:
            assert sk.post(a) == (200, b"")
        yield SimpleNamespace(sk=sk, redis=redis, pg=pg, syslog=syslog, smtp=smtp, am=am, influx=influx,
                              mqtt=mqtt_got, nats=nats_sub)


def _delivered(env, destination: str, count: int) -> None:
    wait_for(lambda: env.sk.metric("falcosecurity_falcosidekick_outputs_total", destination=destination,
                                   status="ok") >= count, 30, f"{destination} deliveries\n{env.sk.log()}")


def test_redis_list(env) -> None:
    import redis

    _delivered(env, "redis", 3)
    client = redis.Redis(host="127.0.0.1", port=env.redis.port)
    items = [json.loads(x) for x in client.lrange("falco", 0, -1)]
    client.close()
    assert [i["rule"] for i in items] == RULES
    assert items[0]["output_fields"]["k8s.pod.name"] == "web-1"
    assert items[0]["output_fields"]["cluster"] == "c1"
    assert {i["priority"] for i in items} == {"Warning", "Critical", "Debug"}


def test_mqtt(env) -> None:
    wait_for(lambda: len(env.mqtt) == 3, 30, "MQTT messages")
    assert sorted(json.loads(m)["rule"] for m in env.mqtt) == sorted(RULES)


def test_nats_subjects(env) -> None:
    wait_for(lambda: len(env.nats.messages) == 3, 30, "NATS messages")
    subjects = sorted(s for s, _ in env.nats.messages)
    assert subjects == [
        "falco.critical.write_below_etc",
        "falco.debug.debug_noise",
        "falco.warning.terminal_shell_in_container",
    ]
    assert all(json.loads(p)["uuid"] for _, p in env.nats.messages)


def test_postgresql_rows(env) -> None:
    _delivered(env, "timescaledb", 3)

    async def rows() -> list:
        import asyncpg

        conn = await asyncpg.connect(host="127.0.0.1", port=env.pg.port, user="postgres", database="falcosidekick")
        try:
            return await conn.fetch("SELECT * FROM falcosidekick_events ORDER BY time")
        finally:
            await conn.close()

    got = asyncio.run(rows())
    assert [r["rule"] for r in got] == RULES
    assert [r["priority"] for r in got] == ["Warning", "Critical", "Debug"]
    assert got[0]["time"].isoformat() == "2024-01-02T03:04:05.123457+00:00"  # microseconds in PostgreSQL
    assert got[1]["tags"] == "filesystem"
    assert got[2]["hostname"] == "node-2"
    assert got[0]["cluster"] == "c1"


def test_rsyslog(env) -> None:
    path: Path = env.syslog.extra["file"]
    lines = wait_for(lambda: path.exists() and len(path.read_text().splitlines()) >= 3 and path.read_text()
                     .splitlines(), 30, "rsyslog file")
    parsed = [line.split("|", 2) for line in lines]
    assert [p[0] for p in parsed] == ["4", "2", "7"]  # warning, crit, debug severities
    assert {p[1] for p in parsed} == {"Falco"}
    assert parsed[0][2].startswith("<4>2024-01-02T03:04:05Z ")
    body = json.loads(parsed[1][2].split("]: ", 1)[1])
    assert body["rule"] == "Write below etc"
    assert body["output_fields"]["fd.name"] == "/etc/shadow"


def test_smtp_minimumpriority(env) -> None:
    received = env.smtp.extra["received"]
    wait_for(lambda: len(received) == 2, 30, "two e-mails")
    _delivered(env, "smtp", 2)
    assert env.sk.metric("rae_sidekick_output_filtered_total", destination="smtp") == 1  # the Debug one
    msgs = [email.message_from_bytes(e.original_content, policy=email.policy.default) for e in received]
    subjects = sorted(m["Subject"] for m in msgs)
    assert subjects[0].startswith("[Critical] ") and subjects[1].startswith("[Warning] ")
    assert all(e.rcpt_tos == ["sec@example.org", "ops@example.org"] for e in received)
    assert all(e.mail_from == "falco@example.org" for e in received)
    text = msgs[0].get_body(("plain",)).get_content()
    assert "Rule:" in text and "Priority:" in text


def test_alertmanager(env) -> None:
    def alerts() -> list:
        status, body, _ = http("GET", f"http://127.0.0.1:{env.am.port}/api/v2/alerts")
        return json.loads(body) if status == 200 else []

    got = wait_for(lambda: len(alerts()) == 3 and alerts(), 30, "alerts in Alertmanager")
    _delivered(env, "alertmanager", 3)  # one of the two Alertmanagers is down: still delivered
    by_name = {a["labels"]["alertname"]: a for a in got}
    assert set(by_name) == set(RULES)
    crit = by_name["Write below etc"]
    assert crit["labels"]["severity"] == "critical"
    assert crit["labels"]["priority"] == "Critical"
    assert crit["labels"]["source"] == "falco"
    assert crit["labels"]["fd_name"] == "/etc/shadow"
    assert crit["labels"]["team"] == "sec"
    assert crit["annotations"]["summary"] == "Write below etc"
    assert by_name["Debug noise"]["labels"]["severity"] == "information"
    assert by_name["Debug noise"]["labels"]["eventsource"] == "k8s_audit"


def test_influxdb(env) -> None:
    _delivered(env, "influxdb", 3)
    status, body, _ = http("GET", f"http://127.0.0.1:{env.influx.port}/query?db=falco&q=SELECT+*+FROM+events")
    assert status == 200
    series = json.loads(body)["results"][0]["series"][0]
    rows = [dict(zip(series["columns"], v, strict=True)) for v in series["values"]]
    assert [r["rule"] for r in rows] == [r.replace(" ", "_") for r in RULES]
    assert rows[0]["time"] == "2024-01-02T03:04:05.12345679Z"  # the event's own time (n=1)
    assert rows[0]["proc.cmdline"] == 'bash_-c_"id"'
    assert rows[0]["value"].endswith("(n=1 proc=bash)")
