"""The capture replay source: a ``.scap`` file's events, each passed through the state engine.

`open_capture_source(path)` is what `rae.sources.open_replay` calls for captures. Iterating the
source opens the file, loads the initial state (process, fd and user lists), then yields every
event after `State.process` has attached its thread and fd, so rules and ``-p`` formats see the
state as libsinsp would at that event.

Container meta-events that precede the first real event describe the containers that existed
when the capture started; like sysdig, they only feed the container table and are not yielded.

A truncated or corrupt capture yields what was readable, then raises `RaeError` (the reader's
`CaptureError`) naming the file and the byte offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rae.errors import RaeError
from rae.syscall.state import DEFAULT_MAX_THREADS, State

__all__ = ["CaptureSource", "open_capture_source"]


class CaptureSource:
    """An `rae.sources.EventSource` over one capture file (``source = "syscall"``)."""

    source = "syscall"

    def __init__(self, path: str, max_threads: int = DEFAULT_MAX_THREADS) -> None:
        self.path = path
        self.max_threads = max_threads
        #: the state of the last (or current) iteration
        self.state: State = State(max_threads)
        #: events read from the file, yielded or not
        self.events_read = 0

    def __iter__(self) -> Iterator[Any]:
        from rae.syscall.scap_reader import ScapReader

        self.state = state = State(self.max_threads)
        process = state.process
        reader = ScapReader(self.path)
        evt: Any = None
        try:
            reader.read_header()
            state.load_header(reader)
            it = iter(reader)
            # initial-state container events
            for evt in it:
                self.events_read += 1
                process(evt)
                if evt.info.name != "container":
                    yield evt
                    break
            for evt in it:
                self.events_read += 1
                process(evt)
                yield evt
        except RaeError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError) as exc:
            where = f"event {evt.num}" if evt is not None else "header"
            raise RaeError(f"{self.path}: {where}: corrupt data ({type(exc).__name__}: {exc})") from None
        finally:
            reader.close()


def open_capture_source(path: str, max_threads: int = DEFAULT_MAX_THREADS) -> CaptureSource:
    """The event source replaying the capture at ``path``."""
    return CaptureSource(path, max_threads)
