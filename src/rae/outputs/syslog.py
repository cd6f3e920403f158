"""``syslog_output``: each alert as a syslog message, facility LOG_USER, severity = its priority.

Falco calls libc ``syslog(LOG_USER | priority, …)``. rae writes the same datagram itself
(``<PRI>Mmm dd hh:mm:ss rae[pid]: message``, RFC 3164) so the destination can be chosen:
``/dev/log`` by default, another unix socket path, or ``udp://host:port`` (the rae-only key
``syslog_output.address``). Falco's priorities are syslog severities (Emergency = 0 … Debug = 7).
"""

from __future__ import annotations

import os
import socket
import time

from rae.alerts import Alert

__all__ = ["LOG_USER", "SyslogSink"]

LOG_USER = 1  # facility code (the PRI value is facility * 8 + severity)
_RETRY_S = 5.0


class SyslogSink:
    name = "syslog"

    def __init__(self, address: str = "/dev/log", ident: str = "rae") -> None:
        self.address = address
        self.ident = ident
        self._sock: socket.socket | None = None
        self._target: object = None
        self._next_try = 0.0

    def _connect(self) -> socket.socket:
        if self.address.startswith("udp://"):
            host, _, port = self.address[6:].rpartition(":")
            host = host.strip("[]") or "127.0.0.1"
            info = socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(info[0], socket.SOCK_DGRAM)
            sock.connect(info[4])
            return sock
        last: OSError | None = None
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            sock = socket.socket(socket.AF_UNIX, kind)
            try:
                sock.connect(self.address)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
        assert last is not None
        raise last

    def format(self, alert: Alert, message: str) -> bytes:
        pri = LOG_USER * 8 + int(alert.priority)
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime())
        return f"<{pri}>{stamp} {self.ident}[{os.getpid()}]: {message}".encode()

    def emit(self, alert: Alert, message: str) -> None:
        data = self.format(alert, message)
        if self._sock is None:
            now = time.monotonic()
            if now < self._next_try:
                raise OSError(f"syslog {self.address} unavailable (retrying in {self._next_try - now:.0f}s)")
            try:
                self._sock = self._connect()
            except OSError:
                self._next_try = now + _RETRY_S
                raise
        try:
            if self._sock.type == socket.SOCK_STREAM:
                self._sock.sendall(data + b"\n")
            else:
                self._sock.send(data)
        except OSError:
            self.close()  # reconnect next time (syslog daemon restarted)
            raise

    def reopen(self) -> None:
        self.close()

    def close(self) -> None:
        s, self._sock = self._sock, None
        if s is not None:
            s.close()
