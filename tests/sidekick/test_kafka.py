"""Kafka output against a protocol-level fake broker (no Kafka broker is packaged for Debian or PyPI)."""

from __future__ import annotations

import json

import pytest

from .conftest import alert, wait_for
from .kafka_broker import FakeKafka, crc32c


@pytest.fixture
def broker():
    b = FakeKafka().start()
    try:
        yield b
    finally:
        b.stop()


def test_crc32c_known_answer() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


@pytest.mark.parametrize("acks", ["ALL", "NONE"])
def test_kafka_produce(broker, sidekick_factory, acks) -> None:
    sk = sidekick_factory({"kafka": {"hostport": f"127.0.0.1:{broker.port}", "topic": "falco-alerts",
                                     "requiredacks": acks}})
    for n, rule in enumerate(["Terminal shell in container", "Write below etc"]):
        assert sk.post(alert(rule, "Error", n))[0] == 200
    got = wait_for(lambda: len(broker.topics.get("falco-alerts", [])) == 2 and broker.topics["falco-alerts"], 30,
                   f"two records\n{sk.log()}")
    assert sorted(json.loads(v)["rule"] for v in got) == ["Terminal shell in container", "Write below etc"]
    assert (0, 3) in broker.requests  # Produce v3: record batches, magic 2
    wait_for(lambda: sk.metric("falcosecurity_falcosidekick_outputs_total", destination="kafka", status="ok") == 2)
