"""Append events to a file, one per line (rae's own; falcosidekick has no file output).

``file.format``: ``json`` (the event as the webhook would send it) or ``text``
(``<time> <Priority> <output>``). The file is opened in append mode and reopened when it is
moved or removed (log rotation).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

from rae.sidekick.event import SidekickEvent
from rae.sidekick.outputs.base import Output, OutputError, register


@register
class FileOutput(Output):
    name = "file"
    enable_key = "path"
    defaults: ClassVar[dict[str, Any]] = {"path": "", "format": "json"}

    _fd: int | None = None
    _ino: tuple[int, int] | None = None

    def __init__(self, cfg: dict[str, Any], ctx: Any) -> None:
        super().__init__(cfg, ctx)
        if str(cfg.get("format", "json")) not in ("json", "text"):
            raise ValueError(f"format must be json or text, not {cfg.get('format')!r}")

    def build(self, event: SidekickEvent) -> bytes:
        if self.cfg.get("format") == "text":
            line = f"{event.time_text} {event.priority_title} {event.output}"
        else:
            line = event.to_json()
        return (line.replace("\n", " ") + "\n").encode()

    def _open(self) -> int:
        path = str(self.cfg["path"])
        try:
            st = os.stat(path)
            current: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            current = None
        if self._fd is not None and current != self._ino:
            os.close(self._fd)
            self._fd = None
        if self._fd is None:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            st = os.fstat(self._fd)
            self._ino = (st.st_dev, st.st_ino)
        return self._fd

    max_batch = 500  # one write(2) of many lines

    async def send(self, payload: bytes) -> None:
        await self.send_many([payload])

    async def send_many(self, payloads: list[bytes]) -> None:
        data = b"".join(payloads)
        try:
            fd = self._open()
            while data:
                written = os.write(fd, data)
                data = data[written:]
        except OSError as exc:
            raise OutputError(f"{self.cfg['path']}: {exc.strerror or exc}") from None
        await asyncio.sleep(0)

    async def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
