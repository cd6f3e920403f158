"""Kafka: produce the event's JSON to ``kafka.topic`` (aiokafka), keyed by nothing, as falcosidekick.

``requiredacks``: ``NONE`` (0), ``ONE`` (1) or ``ALL``; ``compression``: ``NONE``, ``GZIP``,
``SNAPPY``, ``LZ4``, ``ZSTD``; ``clientid``; ``tls``; ``sasl`` ``PLAIN`` / ``SCRAM_SHA256`` /
``SCRAM_SHA512`` with ``username`` and ``password``.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import Output, OutputError, client_ssl_context, register

_ACKS: dict[str, int | str] = {"NONE": 0, "ONE": 1, "ALL": "all"}


@register
class KafkaOutput(Output):
    name = "kafka"
    enable_key = "hostport"
    defaults: ClassVar[dict[str, Any]] = {
        "hostport": "",
        "topic": "",
        "sasl": "",
        "tls": False,
        "username": "",
        "password": "",
        "clientid": "",
        "compression": "NONE",
        "requiredacks": "NONE",
    }

    _producer: Any = None

    def build(self, event: SidekickEvent) -> bytes:
        return event.to_json().encode()

    async def _connect(self) -> Any:
        from aiokafka import AIOKafkaProducer

        kwargs: dict[str, Any] = {}
        tls = bool(self.cfg.get("tls"))
        sasl = str(self.cfg.get("sasl") or "").upper().replace("_", "-")
        if sasl:
            kwargs["sasl_mechanism"] = {"SCRAM-SHA256": "SCRAM-SHA-256", "SCRAM-SHA512": "SCRAM-SHA-512"}.get(
                sasl, sasl
            )
            kwargs["sasl_plain_username"] = str(self.cfg.get("username") or "")
            kwargs["sasl_plain_password"] = str(self.cfg.get("password") or "")
        if tls:
            kwargs["ssl_context"] = client_ssl_context(self.cfg, self.ctx.config)
        kwargs["security_protocol"] = ("SASL_" if sasl else "") + ("SSL" if tls else "PLAINTEXT")
        compression = str(self.cfg.get("compression") or "NONE").lower()
        producer = AIOKafkaProducer(
            bootstrap_servers=[h.strip() for h in str(self.cfg["hostport"]).split(",") if h.strip()],
            client_id=str(self.cfg.get("clientid") or "falcosidekick"),
            acks=_ACKS.get(str(self.cfg.get("requiredacks") or "NONE").upper(), 0),
            compression_type=None if compression == "none" else compression,
            request_timeout_ms=10000,
            **kwargs,
        )
        await producer.start()
        return producer

    async def send(self, payload: bytes) -> None:
        from aiokafka.errors import KafkaError

        topic = str(self.cfg.get("topic") or "")
        if not topic:
            raise OutputError("kafka.topic is empty", retryable=False)
        try:
            if self._producer is None:
                self._producer = await self._connect()
            await self._producer.send_and_wait(topic, payload)
        except (KafkaError, OSError) as exc:
            await self.close()
            raise OutputError(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()
