"""MQTT: publish the event's JSON to ``mqtt.topic`` (default ``falco/events``) with ``qos`` and ``retained``."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any, ClassVar
from urllib.parse import urlsplit

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import Output, OutputError, client_ssl_context, register


@register
class MQTTOutput(Output):
    name = "mqtt"
    enable_key = "broker"
    defaults: ClassVar[dict[str, Any]] = {
        "broker": "",
        "topic": "falco/events",
        "qos": 0,
        "retained": False,
        "user": "",
        "password": "",
    }

    _client: Any = None

    def build(self, event: SidekickEvent) -> bytes:
        return event.to_json().encode()

    def _target(self) -> tuple[str, int, bool]:
        broker = str(self.cfg["broker"])
        if "://" not in broker:
            broker = "tcp://" + broker
        parts = urlsplit(broker)
        tls = parts.scheme in ("ssl", "tls", "mqtts", "tcps")
        return parts.hostname or "localhost", parts.port or (8883 if tls else 1883), tls

    async def _connect(self) -> Any:
        import aiomqtt

        host, port, tls = self._target()
        client = aiomqtt.Client(
            host,
            port,
            identifier="falcosidekick-" + uuid.uuid4().hex[:6],
            username=self.cfg.get("user") or None,
            password=self.cfg.get("password") or None,
            tls_context=client_ssl_context(self.cfg, self.ctx.config) if tls else None,
            timeout=5,
        )
        await client.__aenter__()
        return client

    async def send(self, payload: bytes) -> None:
        import aiomqtt

        try:
            if self._client is None:
                self._client = await self._connect()
            await self._client.publish(
                str(self.cfg.get("topic") or "falco/events"),
                payload,
                qos=int(self.cfg.get("qos") or 0),
                retain=bool(self.cfg.get("retained")),
                timeout=5,
            )
        except (aiomqtt.MqttError, OSError) as exc:
            await self.close()
            raise OutputError(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)
