"""A parent's clone exit read after its child already exec'd and exited must not bring the child back.

Live, a ``posix_spawn`` (vfork) child can exec and exit before the parent's clone exit is read
from the ring; without the recently-exited memory the late clone exit re-created the child (with
a copy of the parent's fd table) and the thread table grew for as long as processes were spawned.
"""

from __future__ import annotations

import itertools
from typing import Any

from rae.syscall.event_table import EVENTS
from rae.syscall.events import SyscallEvent, ThreadRecord
from rae.syscall.state import CL_CLONE_FILES, CL_CLONE_THREAD, RECENT_EXITS_MAX, State

_num = itertools.count(1)
SEC = 1_000_000_000


def ev(code: int, tid: int, *params: Any, ts: int) -> SyscallEvent:
    return SyscallEvent(next(_num), ts, tid, 0, code, EVENTS[code], params=list(params))


def clone_x(tid: int, res: int, *, pid: int, ptid: int, ts: int, flags: int = 0) -> SyscallEvent:
    return ev(223, tid, res, b"sh", b"", tid, pid, ptid, b"/", 1024, 0, 0, 0, 0, 0, b"sh", b"", flags,
              0, 0, tid, pid, ts=ts)


def procexit(tid: int, ts: int) -> SyscallEvent:
    return ev(186, tid, 0, 0, 0, 0, ts=ts)


def state() -> State:
    st = State()
    st.add_thread_record(ThreadRecord(tid=100, pid=100, ptid=1, comm="sh", exe="sh", args=[], cwd="/",
                                      fdlimit=1024, flags=0, uid=0, gid=0))
    return st


def spawn_and_exit_first(st: State, child: int, t0: int, *, late_by: int = 1000) -> None:
    """Child's clone exit, child's exit, an unrelated event, then the parent's clone exit."""
    st.process(clone_x(child, 0, pid=child, ptid=100, ts=t0))
    assert child in st.threads
    st.process(procexit(child, t0 + 10))
    st.process(ev(222, 100, ts=t0 + 20))  # clone enter of the parent: the exit is purged here
    assert child not in st.threads
    st.process(clone_x(100, child, pid=100, ptid=1, ts=t0 + late_by))


def test_late_parent_clone_exit_does_not_recreate_the_exited_child() -> None:
    st = state()
    spawn_and_exit_first(st, 300, 5 * SEC)
    assert 300 not in st.threads
    assert st.stats["late_clones_ignored"] == 1


def test_many_spawns_leave_no_thread_behind() -> None:
    st = state()
    for i in range(500):
        spawn_and_exit_first(st, 1000 + i, 5 * SEC + i * 100_000)
    assert set(st.threads) == {100}
    assert st.stats["late_clones_ignored"] == 500


def test_late_clone_of_an_exited_thread_does_not_recreate_it() -> None:
    st = state()
    t0 = 5 * SEC
    flags = CL_CLONE_THREAD | CL_CLONE_FILES
    st.process(clone_x(101, 0, pid=100, ptid=1, ts=t0, flags=flags))
    st.process(procexit(101, t0 + 10))
    st.process(ev(222, 100, ts=t0 + 20))
    st.process(clone_x(100, 101, pid=100, ptid=1, ts=t0 + 30, flags=flags))
    assert 101 not in st.threads
    assert st.threads[100].nchilds == 0  # the main thread can go when it exits


def test_a_reused_tid_is_created_again() -> None:
    st = state()
    t0 = 5 * SEC
    spawn_and_exit_first(st, 300, t0)
    # the tid comes back much later (pid wrap-around): its parent's clone exit creates it
    st.process(clone_x(100, 300, pid=100, ptid=1, ts=t0 + 60 * SEC))
    assert 300 in st.threads


def test_exit_long_before_the_clone_exit_is_not_taken_for_the_same_child() -> None:
    st = state()
    t0 = 5 * SEC
    st.process(clone_x(300, 0, pid=300, ptid=100, ts=t0))
    st.process(procexit(300, t0 + 10))
    st.process(ev(222, 100, ts=t0 + 20))
    st.process(clone_x(100, 300, pid=100, ptid=1, ts=t0 + 30 * SEC))
    assert 300 in st.threads and st.stats["late_clones_ignored"] == 0


def test_a_live_thread_clears_the_exit_mark() -> None:
    st = state()
    t0 = 5 * SEC
    st.process(clone_x(300, 0, pid=300, ptid=100, ts=t0))
    st.process(procexit(300, t0 + 10))
    st.process(ev(222, 100, ts=t0 + 20))
    # the tid is reused at once and its new child side shows up first, then its parent's exit
    st.process(clone_x(300, 0, pid=300, ptid=100, ts=t0 + 30))
    st.process(clone_x(100, 300, pid=100, ptid=1, ts=t0 + 40))
    assert 300 in st.threads and st.stats["late_clones_ignored"] == 0


def test_the_exit_memory_is_bounded() -> None:
    st = state()
    t0 = 5 * SEC
    n = RECENT_EXITS_MAX + 100
    for i in range(n):
        tid = 10_000 + i
        st.process(clone_x(tid, 0, pid=tid, ptid=100, ts=t0 + i))
        st.process(procexit(tid, t0 + i))
    st.process(ev(222, 100, ts=t0 + n))
    assert len(st._recent_exits) == RECENT_EXITS_MAX
    # the oldest exits were forgotten: a late clone exit for one of them re-creates it, as before
    st.process(clone_x(100, 10_000, pid=100, ptid=1, ts=t0 + n + 1))
    assert 10_000 in st.threads
    st.process(ev(222, 100, ts=t0 + n + 2))
    st.process(clone_x(100, 10_000 + n - 1, pid=100, ptid=1, ts=t0 + n + 3))
    assert 10_000 + n - 1 not in st.threads
