"""Syslog over TCP or UDP, framed as Go's ``log/syslog`` writes it (what falcosidekick uses).

One line per event: ``<PRI>TIMESTAMP HOSTNAME Falco[PID]: MESSAGE\\n`` where PRI is the syslog
severity of the priority (facility kern, 0), TIMESTAMP is RFC 3339 (the event's time, where
Go uses the send time) and MESSAGE is the event's JSON (``format: json``) or a CEF record
(``format: cef``). TCP uses newline framing and one persistent connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, ClassVar

from rae.priority import Priority
from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import Output, OutputError, register

# falcosidekick's CEF severities (Debug 0 … Emergency 10)
_CEF_SEVERITY = {
    Priority.DEBUG: "0",
    Priority.INFORMATIONAL: "3",
    Priority.NOTICE: "4",
    Priority.WARNING: "6",
    Priority.ERROR: "7",
    Priority.CRITICAL: "8",
    Priority.ALERT: "9",
    Priority.EMERGENCY: "10",
}


def cef_record(event: SidekickEvent) -> str:
    sev = _CEF_SEVERITY.get(event.priority, "Uknown") if event.priority is not None else "Uknown"
    parts = [
        f"CEF:0|Falcosecurity|Falco|1.0|Falco Event|{event.rule}|{sev}|uuid={event.uuid} "
        f"start={event.time_text.split('.')[0] + 'Z' if '.' in event.time_text else event.time_text} "
        f"msg={event.output} source={event.source}"
    ]
    if event.hostname:
        parts.append(f" hostname={event.hostname}")
    parts.append(" outputfields=")
    parts.append("".join(f"{k}:{v} " for k, v in sorted(event.output_fields.items())))
    if event.tags:
        parts.append("tags=" + ",".join(event.tags))
    return "".join(parts).rstrip(" ")


@register
class SyslogOutput(Output):
    name = "syslog"
    enable_key = "host"
    defaults: ClassVar[dict[str, Any]] = {"host": "", "port": "", "protocol": "", "format": "json"}

    _writer: asyncio.StreamWriter | None = None
    _udp: asyncio.DatagramTransport | None = None

    def __init__(self, cfg: dict[str, Any], ctx: Any) -> None:
        super().__init__(cfg, ctx)
        protocol = str(cfg.get("protocol") or "").lower()
        if protocol not in ("tcp", "udp"):
            raise ValueError(f"failed to configure Syslog client: invalid protocol {cfg.get('protocol')!r}")
        self.protocol = protocol
        self.hostname = socket.gethostname()
        self.pid = os.getpid()

    def build(self, event: SidekickEvent) -> bytes:
        severity = int(event.priority) if event.priority is not None else 0  # Falco's enum is syslog's
        message = cef_record(event) if self.cfg.get("format") == "cef" else event.to_json()
        stamp = event.time_text
        if "." in stamp:
            stamp = stamp.split(".")[0] + "Z"
        line = f"<{severity}>{stamp} {self.hostname} Falco[{self.pid}]: {message}"
        if not line.endswith("\n"):
            line += "\n"
        return line.encode()

    def _address(self) -> tuple[str, int]:
        return str(self.cfg["host"]), int(self.cfg.get("port") or 514)

    async def send(self, payload: bytes) -> None:
        host, port = self._address()
        try:
            if self.protocol == "udp":
                if self._udp is None:
                    loop = asyncio.get_running_loop()
                    self._udp, _ = await loop.create_datagram_endpoint(
                        asyncio.DatagramProtocol, remote_addr=(host, port)
                    )
                self._udp.sendto(payload)
                return
            if self._writer is None or self._writer.is_closing():
                _, self._writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            self._writer.write(payload)
            await asyncio.wait_for(self._writer.drain(), 5)
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise OutputError(f"{host}:{port}: {exc}") from None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
