"""Reads ``.scap`` capture files (plain or gzip'd) into `SyscallEvent` objects and state records.

Interface (used by the state engine and replay)::

    reader = ScapReader(path)          # opens the file; nothing read yet
    reader.read_header()               # optional: parses every block up to the first event
    reader.machine                     # MachineInfo | None
    reader.threads                     # list[ThreadRecord], in file order
    reader.fds                         # dict[tid, list[FdRecord]]
    reader.users / reader.groups       # list[UserRecord] / list[GroupRecord]
    reader.interfaces                  # list[InterfaceRecord]
    for evt in reader: ...             # SyscallEvent, evt.num = 1, 2, …  (calls read_header first)
    reader.skipped_blocks              # Counter of unknown block types skipped
    reader.close()                     # also a context manager

All header records are complete before the first event is yielded. A truncated or corrupt file
yields the events read so far, then raises `CaptureError` (a `RaeError`) naming the byte offset
(in the decompressed stream).
"""

from __future__ import annotations

from typing import Any

from rae.errors import RaeError

__all__ = ["CaptureError", "decode_params"]


class CaptureError(RaeError):
    """The capture is truncated or corrupt."""


def decode_params(evt: Any) -> list[Any]:
    raise NotImplementedError
