"""Replay of Kubernetes audit files: JSON lines (one ``Event`` or ``EventList`` per line, the
audit-log and corpus form) and whole JSON documents (a pretty-printed ``EventList``).

Like the k8saudit plugin, a bad line or a dropped event is reported and skipped, and the replay
goes on: each problem is one warning line naming the file and line (``FILE:LINE: reason``).
Files may be gzip-compressed; a directory replays its files in name order.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from typing import IO

from rae.errors import RaeError
from rae.k8s_audit import jsontext
from rae.k8s_audit.events import MAX_EVENT_SIZE, SOURCE, AuditEvent, PayloadError, decode_value

__all__ = ["AuditFileSource", "open_audit_source"]


def _warn_stderr(message: str) -> None:
    sys.stderr.write(f"rae: warning: {message}\n")


def _open_text(path: str) -> IO[str]:
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="surrogateescape")
    return open(path, encoding="utf-8", errors="surrogateescape")


class AuditFileSource:
    """An event source over audit files. ``problems`` counts dropped items by reason."""

    source = SOURCE

    def __init__(
        self,
        paths: list[str],
        *,
        max_event_size: int = MAX_EVENT_SIZE,
        on_problem: Callable[[str], None] = _warn_stderr,
    ) -> None:
        self.paths = paths
        self.max_event_size = max_event_size
        self.on_problem = on_problem
        self.problems: Counter[str] = Counter()
        self._num = itertools.count(1)
        self._t0: int | None = None

    def _problem(self, reason: str, where: str, message: str) -> None:
        self.problems[reason] += 1
        self.on_problem(f"{where}: {message}")

    def _emit(self, value: object, where: str, size: int) -> Iterator[AuditEvent]:
        try:
            events, problems = decode_value(value, max_event_size=self.max_event_size, size_hint=size)
        except PayloadError as exc:
            self._problem(exc.reason, where, str(exc))
            return
        for p in problems:
            self._problem(p.reason, f"{where}: event {p.index}", p.message)
        for evt in events:
            if self._t0 is None:
                self._t0 = evt.ts
            evt.num = next(self._num)
            evt.t0 = self._t0
            yield evt

    def _read_file(self, path: str) -> Iterator[AuditEvent]:
        try:
            f = _open_text(path)
        except OSError as exc:
            raise RaeError(f"{path}: cannot read: {exc.strerror}") from None
        with f:
            try:
                yield from self._read_stream(path, iter(f))
            except (OSError, EOFError) as exc:
                raise RaeError(f"{path}: read error: {exc}") from None

    def _read_stream(self, path: str, lines: Iterator[str], lineno: int = 0) -> Iterator[AuditEvent]:
        for line in lines:
            lineno += 1
            text = line.strip()
            if not text:
                continue
            try:
                value = jsontext.loads(text)
            except json.JSONDecodeError as exc:
                if exc.pos >= len(text) - 1 and text[0] in "{[":
                    # an unfinished value: maybe a multi-line JSON document starts here
                    rest = line + "".join(lines)
                    done = yield from self._read_document(path, lineno, rest)
                    if not done:
                        self._problem("invalid_json", f"{path}:{lineno}", f"invalid JSON: {exc.msg}")
                        yield from self._read_stream(path, iter(rest.splitlines(True)[1:]), lineno)
                    return
                msg = f"invalid JSON: {exc.msg} (column {exc.colno})"
                self._problem("invalid_json", f"{path}:{lineno}", msg)
                continue
            except (ValueError, RecursionError) as exc:
                self._problem("invalid_json", f"{path}:{lineno}", f"invalid JSON: {exc}")
                continue
            yield from self._emit(value, f"{path}:{lineno}", len(text))

    def _read_document(self, path: str, first_line: int, text: str) -> Generator[AuditEvent, None, bool]:
        """Values spanning lines; returns False (having emitted nothing) if the first is bad."""
        decoder = jsontext._DECODER
        pos, end = 0, len(text)
        count = 0
        while True:
            while pos < end and text[pos] in " \t\r\n":
                pos += 1
            if pos >= end:
                return True
            line = first_line + text.count("\n", 0, pos)
            try:
                value, new_pos = decoder.raw_decode(text, pos)
            except (ValueError, RecursionError) as exc:
                if count == 0:
                    return False
                where = f"{path}:{line}"
                if isinstance(exc, json.JSONDecodeError):
                    where = f"{path}:{first_line + exc.lineno - 1}"
                    exc = exc.msg  # type: ignore[assignment]
                self._problem("invalid_json", where, f"invalid JSON: {exc}; rest of the file skipped")
                return True
            count += 1
            yield from self._emit(value, f"{path}:{line}", new_pos - pos)
            pos = new_pos

    def __iter__(self) -> Iterator[AuditEvent]:
        for path in self.paths:
            if os.path.isdir(path):
                for name in sorted(os.listdir(path)):
                    full = os.path.join(path, name)
                    if os.path.isfile(full):
                        yield from self._read_file(full)
            else:
                yield from self._read_file(path)


def open_audit_source(path: str) -> AuditFileSource:
    """The event source replaying one audit file (or a directory of them)."""
    if not os.path.exists(path):
        raise RaeError(f"{path}: no such file")
    return AuditFileSource([path])
