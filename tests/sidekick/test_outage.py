"""Retry buffers: a Redis server stopped and restarted within the buffer's bound loses nothing;
beyond the bound, what is lost is exactly what the overflow counter says. HTTP retries too."""

from __future__ import annotations

import json

import redis

from .conftest import alert, free_port, wait_for
from .servers import redis_server


def _llen(port: int) -> list[dict]:
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        return [json.loads(x) for x in client.lrange("falco", 0, -1)]
    finally:
        client.close()


def _buffered(sk) -> float:
    return sk.metric("rae_sidekick_output_buffer_events", destination="redis")


def test_redis_outage_within_bound_loses_nothing(tmp_path, sidekick_factory) -> None:
    port = free_port()
    with redis_server(tmp_path, port):
        sk = sidekick_factory({"redis": {"address": f"127.0.0.1:{port}"},
                               "buffer": {"size": 50, "initialbackoff": 0.05, "maxbackoff": 0.2}})
        for n in range(3):
            assert sk.post(alert(n=n))[0] == 200
        wait_for(lambda: len(_llen(port)) == 3, 20, "3 alerts before the outage")
    # the server is down now (and its data gone: --save "")
    for n in range(100, 120):
        assert sk.post(alert(n=n))[0] == 200
    wait_for(lambda: _buffered(sk) == 20, 20, "20 alerts buffered")
    wait_for(lambda: sk.metric("rae_sidekick_output_retries_total", destination="redis") >= 2, 20, "retries")
    with redis_server(tmp_path, port):
        got = wait_for(lambda: len(_llen(port)) == 20 and _llen(port), 30, "buffered alerts after restart")
        assert [g["output_fields"]["container.id"] for g in got] == [f"c{n:04d}" for n in range(100, 120)]
        wait_for(lambda: _buffered(sk) == 0, 10, "empty buffer")
    assert sk.metric("rae_sidekick_output_dropped_total", destination="redis") == 0
    assert sk.metric("falcosecurity_falcosidekick_outputs_total", destination="redis", status="ok") == 23
    assert sk.metric("falcosecurity_falcosidekick_outputs_total", destination="redis", status="error") >= 1


def test_redis_outage_beyond_bound_counts_every_loss(tmp_path, sidekick_factory) -> None:
    port = free_port()
    sk = sidekick_factory({"redis": {"address": f"127.0.0.1:{port}", "buffersize": 10},
                           "buffer": {"initialbackoff": 0.05, "maxbackoff": 0.2}})
    sent = 25
    for n in range(sent):
        assert sk.post(alert(n=n))[0] == 200
    wait_for(lambda: sk.metric("rae_sidekick_output_dropped_total", destination="redis", reason="overflow") > 0,
             20, "overflow drops")
    with redis_server(tmp_path, port):
        wait_for(lambda: _buffered(sk) == 0 and len(_llen(port)) > 0, 30, "buffer drained")
        delivered = len(_llen(port))
    dropped = sk.metric("rae_sidekick_output_dropped_total", destination="redis")
    assert delivered == 10
    assert delivered + dropped == sent
    assert sk.metric("rae_sidekick_output_dropped_total", destination="redis", reason="overflow") == dropped


def test_http_retry_and_permanent_error(receiver, sidekick_factory) -> None:
    receiver.fail_next = 3  # three 503 answers, then success
    sk = sidekick_factory({"webhook": {"address": receiver.url("/hook")},
                           "buffer": {"initialbackoff": 0.05, "maxbackoff": 0.1}})
    assert sk.post(alert(rule="Retried"))[0] == 200
    wait_for(lambda: receiver.on("/hook"), 20, "delivery after 503s")
    assert sk.metric("rae_sidekick_output_retries_total", destination="webhook") == 3
    assert sk.metric("falcosecurity_falcosidekick_outputs_total", destination="webhook", status="error") == 3
    receiver.answers["/hook"] = (400, b"bad", "text/plain")
    assert sk.post(alert(rule="Refused"))[0] == 200
    wait_for(lambda: sk.metric("rae_sidekick_output_dropped_total", destination="webhook", reason="rejected") == 1,
             20, "a 400 is dropped, not retried")
    assert len([r for r in receiver.on("/hook") if b"Refused" in r.body]) == 1


def test_redis_over_mutual_tls(tmp_path, sidekick_factory, pki) -> None:
    """redis-server with TLS and client certificates required; the output presents the global client cert."""
    from .conftest import daemon
    from .servers import need

    port = free_port()
    argv = [need("redis-server"), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--tls-cert-file", str(pki["server_crt"]), "--tls-key-file", str(pki["server_key"]),
            "--tls-ca-cert-file", str(pki["ca"]), "--tls-auth-clients", "yes", "--dir", str(tmp_path)]
    with daemon(argv, port, tmp_path / "redis-tls.log"):
        sk = sidekick_factory({
            "mutualtlsclient": {"certfile": str(pki["client_crt"]), "keyfile": str(pki["client_key"]),
                                "cacertfile": str(pki["ca"])},
            "redis": {"address": f"127.0.0.1:{port}", "mutualtls": True, "storagetype": "hashmap"},
        })
        assert sk.post(alert(rule="Over TLS"))[0] == 200
        wait_for(lambda: sk.metric("falcosecurity_falcosidekick_outputs_total", destination="redis",
                                   status="ok") == 1, 20, f"delivery over TLS\n{sk.log()}")
        client = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(pki["ca"]),
                             ssl_certfile=str(pki["client_crt"]), ssl_keyfile=str(pki["client_key"]))
        try:
            stored = client.hgetall("falco")
        finally:
            client.close()
        [(uid, body)] = stored.items()
        assert json.loads(body)["rule"] == "Over TLS" and json.loads(body)["uuid"] == uid.decode()


def test_postgresql_restart_within_bound(sidekick_factory) -> None:
    """PostgreSQL stopped and started again (same cluster): asyncpg reconnects, every row arrives once."""
    import asyncio
    import shutil
    import tempfile
    from pathlib import Path

    import asyncpg

    from .servers import postgres_server

    async def sql(port: int, query: str, db: str = "falcosidekick") -> list:
        conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=db)
        try:
            return await conn.fetch(query)
        finally:
            await conn.close()

    base = Path(tempfile.mkdtemp(prefix="rae-pg-outage-", dir="/tmp"))
    port = free_port()
    try:
        with postgres_server(base, port):
            asyncio.run(sql(port, "CREATE DATABASE falcosidekick", "postgres"))
            asyncio.run(sql(port, "CREATE TABLE falcosidekick_events (time timestamptz, rule text, priority text,"
                                  " source text, output text, tags text, hostname text)"))
            sk = sidekick_factory({"timescaledb": {"host": "127.0.0.1", "port": str(port)},
                                   "buffer": {"initialbackoff": 0.05, "maxbackoff": 0.2}})
            assert sk.post(alert(rule="Before", n=0))[0] == 200
            wait_for(lambda: sk.metric("falcosecurity_falcosidekick_outputs_total", destination="timescaledb",
                                       status="ok") == 1, 20, "first row")
        for n in range(1, 11):
            assert sk.post(alert(rule="During", n=n))[0] == 200
        wait_for(lambda: sk.metric("rae_sidekick_output_buffer_events", destination="timescaledb") == 10, 20,
                 f"10 buffered\n{sk.log()}")
        with postgres_server(base, port):
            wait_for(lambda: sk.metric("rae_sidekick_output_buffer_events", destination="timescaledb") == 0, 30,
                     "buffer drained")
            rows = asyncio.run(sql(port, "SELECT rule, count(*) AS n FROM falcosidekick_events GROUP BY rule"))
        assert {r["rule"]: r["n"] for r in rows} == {"Before": 1, "During": 10}
        assert sk.metric("rae_sidekick_output_dropped_total", destination="timescaledb") == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)
