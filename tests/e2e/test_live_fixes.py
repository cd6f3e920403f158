"""The gaps found when the built-in rules were run live, each fixed and pinned here.

Unit tests (hand-built events, no root): the decoder's module-level imports, execveat ending with an
execve exit (as libs' drivers emit it), ``AT_EMPTY_PATH`` and memfd executables, generic events named
from their native syscall number, and the ``/proc`` thread lookup the engine plugs into the state.
Live tests (root, BTF, built probe): the probe's controlling tty and memfd flag in execve exits.
"""

from __future__ import annotations

import dis
import itertools
import logging
import os
import pty
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from live_probe import live

from rae.fields import catalog
from rae.syscall import ebpf, procscan
from rae.syscall.event_table import EVENTS
from rae.syscall.event_table_data import SYSCALL_NAMES
from rae.syscall.events import FdRecord, SyscallEvent, ThreadRecord
from rae.syscall.state import FD, State

_num = itertools.count(1)
MEMFD_CREATE_X = 405  # a newer libs event the state engine knows (captures from recent Falco)


def ev(code: int, tid: int, *params: Any) -> SyscallEvent:
    return SyscallEvent(next(_num), 1_000_000_000, tid, 0, code, EVENTS[code], params=list(params))


def trec(tid: int, pid: int, ptid: int, comm: str, **kw: Any) -> ThreadRecord:
    base: dict[str, Any] = dict(tid=tid, pid=pid, ptid=ptid, comm=comm, exe=comm, args=[], cwd="/work",
                                fdlimit=1024, flags=0, uid=0, gid=0, sid=1, vpgid=1)
    base.update(kw)
    return ThreadRecord(**base)


def state(fds: list[FdRecord] | None = None) -> State:
    st = State()
    st.load_header(SimpleNamespace(threads=[trec(1, 1, 0, "init"), trec(100, 100, 1, "python3")],
                                   fds={100: fds or []}, users=[], groups=[], interfaces=[], machine=None))
    return st


def execve_x(tid: int, exe: bytes, flags: int = 0) -> SyscallEvent:
    return ev(293, tid, 0, exe, b"", tid, tid, 1, b"", 1024, 0, 0, 0, 0, 0, exe, b"", b"", 0, tid, 0, flags,
              0, 0, 0)


def field(name: str) -> Any:
    cat = catalog("syscall")
    return cat.extractor(cat.resolve(name, None))


# --- (a) the decoder --------------------------------------------------------------------------------


def test_record_to_event_imports_nothing_per_call() -> None:
    assert not [i for i in dis.get_instructions(ebpf.record_to_event) if i.opname == "IMPORT_NAME"]
    body = struct.pack("<H", 8) + struct.pack("<q", 3)  # close> fd=3
    rec = struct.pack("<QQIHI", 5, 42, 26 + len(body), 4, 1) + body
    evt = ebpf.record_to_event(rec, 7)
    assert (evt.num, evt.ts, evt.tid, evt.evtype, evt.dir, evt.params) == (7, 5, 42, "close", ">", [3])
    assert ebpf.record_to_event(struct.pack("<QQIHI", 5, 42, 26, 9999, 0)) is None
    # a record still in the ring: the parameters are copied out (the ring slot is reused after the batch)
    ring = bytearray(rec)
    evt = ebpf.record_to_event(memoryview(ring), 8)
    ring[26:] = bytes(len(ring) - 26)
    assert type(evt.raw) is bytes and (evt.num, evt.evtype, evt.params) == (8, "close", [3])


# --- (c) execveat ending with an execve exit ---------------------------------------------------------


def test_execveat_enter_pairs_with_the_execve_exit() -> None:
    st = state([FdRecord(tid=100, fd=5, ino=0, type=FD.DIRECTORY, name="/opt/tools")])
    st.process(ev(330, 100, 5, b"bin/run", 0))  # execveat(5, "bin/run", 0)
    x = execve_x(100, b"run")
    st.process(x)
    assert x.thread.exepath == "/opt/tools/bin/run"
    assert field("proc.exepath")(x) == "/opt/tools/bin/run"
    assert x.thread.exe_from_memfd is False
    # the same with the execveat exit code (older kernels' sched_process_exec path) still works
    st.process(ev(330, 100, -100, b"/usr/bin/env", 0))
    st.process(ev(331, 100, 0, b"env", b"", 100, 100, 1, b"", 1024, 0, 0, 0, 0, 0, b"env"))
    assert st.threads[100].exepath == "/usr/bin/env"
    # an execve exit after an execveat enter of ANOTHER syscall in between does not pair
    st.process(ev(330, 100, 5, b"bin/other", 0))
    st.process(ev(4, 100, 7))
    st.process(ev(5, 100, 0))
    st.process(execve_x(100, b"other"))
    assert st.threads[100].exepath == "/usr/bin/env"


# --- (d) AT_EMPTY_PATH and memfd executables ------------------------------------------------------------


def test_fexecve_of_a_memfd_gives_its_name_and_the_memfd_flag() -> None:
    st = state()
    st.process(ev(MEMFD_CREATE_X - 1, 100, b"x", 1))
    st.process(ev(MEMFD_CREATE_X, 100, 3, b"x", 1))
    st.process(ev(330, 100, 3, b"", 1))  # execveat(3, "", AT_EMPTY_PATH)
    x = execve_x(100, b"true")
    st.process(x)
    assert x.thread.exepath == "memfd:x"  # not memfd:x/memfd:x
    assert field("proc.is_exe_from_memfd")(x) is True
    # the next ordinary exec clears it
    st.process(ev(292, 100, b"/bin/true"))
    y = execve_x(100, b"true")
    st.process(y)
    assert (y.thread.exepath, y.thread.exe_from_memfd) == ("/bin/true", False)


def test_memfd_from_the_proc_scan_and_through_proc_self_fd() -> None:
    st = state([FdRecord(tid=100, fd=4, ino=9, type=FD.FILE_V2, name="/memfd:payload (deleted)")])
    st.process(ev(292, 100, b"/proc/self/fd/4"))
    x = execve_x(100, b"payload")
    st.process(x)
    assert (x.thread.exepath, x.thread.exe_from_memfd) == ("/proc/self/fd/4", True)


def test_unknown_dirfd_and_the_probe_flag() -> None:
    st = state()
    st.process(ev(330, 100, 9, b"", 1))  # fd 9 unknown to the state (memfd_create live has no fd)
    x = execve_x(100, b"memfd:x", flags=4)  # PPM_EXE_FROM_MEMFD, set by rae's probe
    st.process(x)
    assert (x.thread.exepath, x.thread.exe_from_memfd) == ("<NA>", True)


# --- (e) generic events named from the native syscall number --------------------------------------------


@pytest.mark.parametrize(("native", "name"), [(319, "memfd_create"), (175, "init_module"),
                                              (313, "finit_module")])
def test_generic_events_unknown_to_libs_0_9_are_named_natively(native: int, name: str) -> None:
    st = state()
    enter, exit_ = ev(0, 100, 0, native), ev(1, 100, 0)
    st.process(enter)
    assert enter.evtype == name and field("evt.type")(enter) == name
    st.process(exit_)
    assert exit_.evtype == name and field("evt.type")(exit_) == name
    assert field("evt.category")(exit_) == "other"


def test_generic_events_known_or_unpaired() -> None:
    st = state()
    fcntl_e = ev(0, 100, SYSCALL_NAMES.index("fcntl"), 72)
    st.process(fcntl_e)
    assert fcntl_e.evtype == "fcntl"
    lone = ev(1, 100, 0)  # an exit whose enter was not seen
    st.process(ev(2, 100, b"/x", 1, 0))
    st.process(lone)
    assert lone.evtype == "<unknown>"


def test_clone_parent_gives_the_callers_parent() -> None:
    """runc's init stages clone with CLONE_PARENT: the container's process is runc's child, not the
    stage's (which exits at once), so proc.pname is runc."""
    st = state()
    clone_x = [0, b"runc", b"", 100, 100, 1, b"", 1024, 0, 0, 0, 0, 0, b"runc:[1:CHILD]", b"", 256, 0, 0,
               100, 100]
    st.process(ev(222, 100))
    clone_x[0] = 150
    st.process(ev(223, 100, *clone_x))
    assert st.threads[150].ptid == 1  # python3's parent, init
    st.process(ev(222, 100))
    clone_x[0], clone_x[15] = 151, 0
    st.process(ev(223, 100, *clone_x))
    assert st.threads[151].ptid == 100


# --- (f) threads read from /proc ----------------------------------------------------------------------


def test_lookup_thread_reads_proc() -> None:
    found = procscan.lookup_thread(os.getpid())
    assert found is not None
    rec, fds = found
    assert (rec.tid, rec.pid, rec.comm) == (os.getpid(), os.getpid(), Path("/proc/self/comm").read_text().strip())
    assert rec.cwd == os.getcwd()
    assert any(r.name == "/dev/null" or r.fd in (0, 1, 2) for r in fds)
    with open(__file__) as f:
        again = procscan.lookup_thread(os.getpid())
        assert again is not None and any(r.fd == f.fileno() and r.name == __file__ for r in again[1])
    assert procscan.lookup_thread(2 ** 22 + 7) is None
    ready, done = threading.Event(), threading.Event()
    tids: list[int] = []

    def worker() -> None:
        tids.append(threading.get_native_id())
        ready.set()
        done.wait(10)

    th = threading.Thread(target=worker)
    th.start()
    try:
        ready.wait(10)
        trec_, tfds = procscan.lookup_thread(tids[0]) or (None, None)
        assert trec_ is not None and (trec_.tid, trec_.pid) == (tids[0], os.getpid()) and tfds == []
    finally:
        done.set()
        th.join()


def test_state_repairs_an_unknown_thread_from_proc() -> None:
    child = subprocess.Popen(["sleep", "30"], cwd="/tmp")
    try:
        time.sleep(0.05)
        st = state()
        st.thread_lookup = procscan.lookup_thread
        e = ev(2, child.pid, b"/etc/hostname", 1, 0)
        st.process(e)
        assert (e.thread.comm, e.thread.cmdline(), e.thread.get_cwd()) == ("sleep", "sleep 30", "/tmp/")
        assert e.thread.ptid == os.getpid()
    finally:
        child.kill()
        child.wait()


def test_the_engine_plugs_the_lookup_into_its_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rae import engine as eng
    from rae.runsetup import RunArgs

    class FakeProbe:
        def __init__(self, **kw: Any) -> None:
            pass

        def open(self) -> None:
            pass

        def stats(self) -> dict[str, int]:
            return {n: 0 for n in ebpf.STAT_NAMES}

    monkeypatch.setattr(ebpf, "Probe", FakeProbe)
    monkeypatch.setattr(procscan, "scan_proc", lambda: procscan.ProcSnapshot())
    cfg = tmp_path / "c.yaml"
    cfg.write_text("plugins: []\nload_plugins: []\nwebserver: {enabled: false}\n")
    rules = tmp_path / "r.yaml"
    rules.write_text("- rule: x\n  desc: x\n  condition: evt.type=open\n  output: x\n  priority: INFO\n")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        e = eng.Engine(RunArgs(config=str(cfg), rules=(str(rules),)))
        e.prepare()  # configures the root logger: restored below
        e._open_probe(1 << 20)
        assert e._state.thread_lookup is procscan.lookup_thread
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


# --- (b), and the memfd flag, live from the probe ---------------------------------------------------------


def _exec_exits(probe: ebpf.Probe, pid: int, done: Any, timeout: float = 5.0) -> list[SyscallEvent]:
    """The successful exec exits of ``pid`` until ``done()`` says it finished (and the ring is read)."""
    out: list[SyscallEvent] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        finished = done()
        out += [e for e in probe.events(timeout=0.1) if e.tid == pid and e.code in (293, 331)
                and e.params[0] == 0]
        if finished:
            break
    return out


@live
@pytest.mark.timeout(30)
def test_probe_records_the_controlling_tty_and_memfd_images() -> None:
    code = ("import os;m=os.memfd_create('rae-x');os.write(m,open('/bin/sleep','rb').read());"
            "os.execve(m,['sleep','0.3'],{})")
    with ebpf.Probe(selected={"execve", "execveat"}) as probe:
        # a child with a pty as its controlling terminal (pty.fork makes it the session's tty)
        pid, master = pty.fork()
        if pid == 0:  # pragma: no cover - the child
            os.execv("/bin/sleep", ["sleep", "0.5"])
        try:
            time.sleep(0.1)
            tty_nr = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[4])
            exits = _exec_exits(probe, pid, lambda: os.waitpid(pid, os.WNOHANG)[0] == pid)
        finally:
            os.close(master)
        assert tty_nr != 0
        assert exits and exits[0].params[16] == tty_nr  # execve exit: tty
        plain = subprocess.Popen(["/bin/sleep", "0.3"], stdin=subprocess.DEVNULL, start_new_session=True)
        plain_exits = _exec_exits(probe, plain.pid, lambda: plain.poll() is not None)
        assert plain_exits and plain_exits[0].params[16] == 0  # no controlling terminal
        assert plain_exits[0].params[19] & 4 == 0
        fileless = subprocess.Popen([sys.executable, "-c", code])
        mem_exits = _exec_exits(probe, fileless.pid, lambda: fileless.poll() is not None)
        assert [e.params[19] & 4 for e in mem_exits][-1:] == [4]  # PPM_EXE_FROM_MEMFD
