"""The live engine's scan for threads that died unseen (`rae.engine._purge_dead_threads`)."""

from __future__ import annotations

import os
import subprocess

from rae.engine import _purge_dead_threads
from rae.syscall.state import State, Thread


def _dead_tid() -> int:
    """The tid of a process that has exited and been reaped."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_a_dead_thread_goes_at_the_second_scan_a_live_one_stays() -> None:
    state = State()
    live, dead = os.getpid(), _dead_tid()
    for tid in (live, dead):
        t = Thread(state, tid)
        t.pid = tid
        state.threads[tid] = t

    suspects = _purge_dead_threads(state, set())
    assert suspects == {dead}
    assert set(state.threads) == {live, dead}  # one scan is not enough: its events may still be queued

    suspects = _purge_dead_threads(state, suspects)
    assert set(state.threads) == {live}
    assert suspects == set()
    assert state.stats["threads_removed"] == 1


def test_a_thread_that_appears_dead_once_is_only_a_suspect() -> None:
    state = State()
    live = os.getpid()
    t = Thread(state, live)
    t.pid = live
    state.threads[live] = t
    assert _purge_dead_threads(state, {live}) == set()
    assert live in state.threads
