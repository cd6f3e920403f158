"""StatsD and DogStatsD: sidekick's own counters for each event, over UDP.

As in falcosidekick, these outputs do not carry the alert itself but counters about it:
``<namespace>inputs.requests.accepted`` and ``<namespace>falco.accepted`` — with the priority
as a suffix for StatsD (``falco.accepted.warning``) and as a tag for DogStatsD
(``falco.accepted:1|c|#priority:Warning``). Namespace defaults to ``falcosidekick.``.
(falcosidekick also sends per-output counters there; rae exposes those in Prometheus only.)
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import Output, OutputError, register


class _UDPCounterOutput(Output):
    enable_key = "forwarder"
    _transport: asyncio.DatagramTransport | None = None

    def lines(self, event: SidekickEvent) -> list[str]:
        raise NotImplementedError

    def build(self, event: SidekickEvent) -> bytes:
        return "\n".join(self.lines(event)).encode()

    async def send(self, payload: bytes) -> None:
        host, _, port = str(self.cfg["forwarder"]).rpartition(":")
        try:
            if self._transport is None:
                loop = asyncio.get_running_loop()
                self._transport, _ = await loop.create_datagram_endpoint(
                    asyncio.DatagramProtocol, remote_addr=(host or "127.0.0.1", int(port or 8125))
                )
            self._transport.sendto(payload)
        except OSError as exc:
            await self.close()
            raise OutputError(str(exc)) from None

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


@register
class StatsdOutput(_UDPCounterOutput):
    name = "statsd"
    defaults: ClassVar[dict[str, Any]] = {"forwarder": "", "namespace": "falcosidekick."}

    def lines(self, event: SidekickEvent) -> list[str]:
        ns = str(self.cfg.get("namespace") or "")
        prio = event.priority_title.replace(" ", "")
        return [f"{ns}inputs.requests.accepted:1|c", f"{ns}falco.accepted.{prio}:1|c"]


@register
class DogstatsdOutput(_UDPCounterOutput):
    name = "dogstatsd"
    defaults: ClassVar[dict[str, Any]] = {"forwarder": "", "namespace": "falcosidekick.", "tags": []}

    def lines(self, event: SidekickEvent) -> list[str]:
        ns = str(self.cfg.get("namespace") or "")
        extra = self.cfg.get("tags") or []
        if isinstance(extra, str):
            extra = [t.strip() for t in extra.split(",") if t.strip()]
        suffix = "|#" + ",".join(extra) if extra else ""
        prio_tags = ",".join([*extra, f"priority:{event.priority_title}"])
        return [f"{ns}inputs.requests.accepted:1|c{suffix}", f"{ns}falco.accepted:1|c|#{prio_tags}"]
