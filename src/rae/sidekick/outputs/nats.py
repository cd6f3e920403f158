"""NATS: publish the event's JSON on ``subjecttemplate`` (default ``falco.<priority>.<rule>``).

``<priority>`` is the lower-case priority and ``<rule>`` the rule name lower-cased with every
run of characters other than ``a-z0-9`` turned into ``_`` (trimmed), as falcosidekick slugs
it. ``tls://host:port`` (or ``mutualtls``) connects over TLS. Each publish is confirmed with a
flush (a PING/PONG round trip), so a message counted ``ok`` has reached the server.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, ClassVar

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import Output, OutputError, client_ssl_context, register

_SLUG = re.compile(r"[^a-z0-9]+")


def nats_subject(template: str, event: SidekickEvent) -> str:
    subject = template or "falco.<priority>.<rule>"
    subject = subject.replace("<priority>", event.priority_title.lower())
    return subject.replace("<rule>", _SLUG.sub("_", event.rule.lower()).strip("_"))


@register
class NatsOutput(Output):
    name = "nats"
    enable_key = "hostport"
    defaults: ClassVar[dict[str, Any]] = {"hostport": "", "subjecttemplate": "falco.<priority>.<rule>"}

    _nc: Any = None

    def build(self, event: SidekickEvent) -> tuple[str, bytes]:
        return nats_subject(str(self.cfg.get("subjecttemplate") or ""), event), event.to_json().encode()

    async def send(self, payload: tuple[str, bytes]) -> None:
        import nats
        import nats.errors

        subject, body = payload
        try:
            if self._nc is None or self._nc.is_closed:
                server = str(self.cfg["hostport"])
                if "://" not in server:
                    server = "nats://" + server
                tls = None
                if server.startswith("tls://") or self.cfg.get("mutualtls"):
                    tls = client_ssl_context(self.cfg, self.ctx.config)
                self._nc = await nats.connect(
                    servers=[server], allow_reconnect=False, connect_timeout=5, max_reconnect_attempts=0, tls=tls
                )
            await self._nc.publish(subject, body)
            await self._nc.flush(timeout=5)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            await self.close()
            raise OutputError(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await nc.close()
