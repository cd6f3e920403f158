"""The one small interface every event source implements, and replay-file detection.

An event source is an iterable of events plus the name of the Falco source its events belong
to. Every event object, whatever its source, has:

* ``ts``: the event time, nanoseconds since the epoch (``int``), used for the alert time;
* ``evtype``: the event-type name the ruleset is indexed on (``"open"``, ``"execve"``… for
  syscalls; the source name for sources without event types, such as ``k8s_audit``).

Everything else on the event is private to the source and its field extractors.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any, Protocol

from rae.errors import RaeError

__all__ = ["EventSource", "detect_replay_kind", "open_replay"]


class EventSource(Protocol):
    source: str

    def __iter__(self) -> Iterator[Any]: ...


_SCAP_MAGICS = (b"\x0a\x0d\x0d\x0a",)  # pcapng-style section header block type


def detect_replay_kind(path: str) -> str:
    """``"scap"`` or ``"k8s_audit"`` from the file's content (gzip is looked through)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise RaeError(f"{path}: cannot read: {exc.strerror}") from None
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as g:
                head = g.read(4096)
        except (OSError, EOFError) as exc:
            raise RaeError(f"{path}: corrupt gzip data: {exc}") from None
    if head[:4] in _SCAP_MAGICS:
        return "scap"
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return "k8s_audit"
    if not head:
        raise RaeError(f"{path}: empty file")
    raise RaeError(f"{path}: not a .scap capture nor Kubernetes audit JSON")


def open_replay(path: str) -> EventSource:
    """An event source reading ``path``, by its detected kind."""
    kind = detect_replay_kind(path)
    if kind == "scap":
        from rae.syscall.replay import open_capture_source

        return open_capture_source(path)
    from rae.k8s_audit.replay import open_audit_source

    return open_audit_source(path)
