"""The state engine on hand-built events (each libsinsp behaviour it mirrors) and on corpus captures."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from thread_records import CID, trec

from rae.errors import RaeError
from rae.syscall import state as state_mod
from rae.syscall.event_table import EVENTS
from rae.syscall.events import FdRecord, GroupRecord, SyscallEvent, UserRecord
from rae.syscall.replay import open_capture_source
from rae.syscall.state import (
    AT_FDCWD,
    CL_CLONE_FILES,
    CL_CLONE_THREAD,
    FD,
    ROLE_CLIENT,
    ROLE_SERVER,
    State,
    concat_paths,
)

_num = itertools.count(1)


def ev(code: int, tid: int, *params: Any, ts: int = 1_000_000_000) -> SyscallEvent:
    return SyscallEvent(next(_num), ts, tid, 0, code, EVENTS[code], params=list(params))


def make_state(**kw: Any) -> State:
    reader = SimpleNamespace(
        threads=[
            trec(1, 1, 0, "systemd"),
            trec(100, 100, 1, "bash", args=["-i"], cwd="/home/u", uid=1000, gid=1000,
                 env=["HOME=/home/u", "TERM=xterm"], loginuid=1000, tty=34816),
            trec(101, 100, 1, "bash", flags=CL_CLONE_THREAD | CL_CLONE_FILES),
            trec(200, 200, 100, "node", cgroups=[f"cpuset=/docker/{CID}"]),
        ],
        fds={100: [FdRecord(tid=100, fd=0, ino=0, type=FD.FILE, name="/dev/pts/0"),
                   FdRecord(tid=100, fd=5, ino=0, type=FD.FILE_V2, name="/etc/passwd", open_flags=1)]},
        users=[UserRecord(0, 0, "root", "/root", "/bin/bash"), UserRecord(1000, 1000, "u", "/home/u", "/bin/sh")],
        groups=[GroupRecord(0, "root"), GroupRecord(1000, "u")],
        interfaces=[],
        machine=None,
    )
    st = State(**kw)
    st.load_header(reader)
    return st


def clone_x(tid: int, res: int, *, pid: int, ptid: int, comm: str = "bash", flags: int = 0,
            cgroups: bytes = b"", vtid: int | None = None, vpid: int | None = None) -> SyscallEvent:
    return ev(223, tid, res, comm.encode(), b"", tid, pid, ptid, b"/", 1024, 0, 0, 0, 0, 0,
              comm.encode(), cgroups, flags, 1000, 1000,
              tid if vtid is None else vtid, pid if vpid is None else vpid)


def test_initial_state() -> None:
    st = make_state()
    bash = st.threads[100]
    assert bash.cwd == "/home/u/"
    assert bash.get_cwd() == "/home/u/"
    assert st.threads[101].get_cwd() == "/home/u/"  # threads share the main thread's cwd
    assert st.threads[101].fd_table() is bash.fds
    assert bash.fds[5].name == "/etc/passwd" and bash.fds[5].typechar == "f"
    assert st.threads[200].container_id == CID[:12]
    assert st.containers[CID[:12]].type == "docker"
    assert st.users[1000].name == "u" and st.groups[0].name == "root"
    assert [a.comm for a in st.threads[200].ancestors()] == ["bash", "systemd"]


def test_concat_paths() -> None:
    assert concat_paths("/a/b/", "c") == ("/a/b/c", True)
    assert concat_paths("/a/b/", "../c/./d/") == ("/a/c/d", True)
    assert concat_paths("/x/", "/etc//passwd") == ("/etc/passwd", False)
    assert concat_paths("/a/b/", "..") == ("/a", True)


def test_unknown_thread_is_a_placeholder() -> None:
    st = make_state()
    e = ev(6, 4242, 3, 10)  # read > on a thread not in the process list
    st.process(e)
    t = e.thread
    assert t is not None and t.comm == "<NA>" and t.exe == "<NA>"
    assert t.pid == 4242 and t.ptid == -1 and t.uid == 0xFFFFFFFF and t.cwd == ""
    assert e.fdinfo is None and t.lastevent_fd == 3


def test_procinfo_does_not_create_threads() -> None:
    st = make_state()
    e = ev(234, 7, 1, 2)
    st.process(e)
    assert e.thread is None and 7 not in st.threads


def test_clone_parent_then_child() -> None:
    st = make_state()
    st.process(ev(222, 100))
    p = clone_x(100, 300, pid=100, ptid=1)
    st.process(p)
    child = st.threads[300]
    assert child.pid == 300 and child.ptid == 100
    assert child.comm == "bash" and child.cwd == "/home/u/" and child.env == ["HOME=/home/u", "TERM=xterm"]
    assert child.fds[5].name == "/etc/passwd" and child.fds is not st.threads[100].fds
    assert child.clone_ts == p.ts and child.loginuid == 1000 and child.tty == 34816
    c = clone_x(300, 0, pid=300, ptid=100)
    st.process(c)
    assert c.thread is child and st.threads[300] is child


def test_inverted_clone_and_container_child() -> None:
    st = make_state()
    # the child's clone exit arrives first: the child creates itself from its parent
    c = clone_x(400, 0, pid=400, ptid=100, cgroups=b"cpuset=/docker/" + CID.encode() + b"\0")
    st.process(c)
    child = st.threads[400]
    assert c.thread is child  # the fields find the thread the event just created
    assert child.ptid == 100 and child.container_id == CID[:12]
    p = clone_x(100, 400, pid=100, ptid=1)
    st.process(p)
    assert st.threads[400] is child  # the parent's exit does not replace it


def test_clone_thread_shares_fds() -> None:
    st = make_state()
    st.process(ev(222, 100))
    st.process(clone_x(100, 102, pid=100, ptid=1, flags=CL_CLONE_THREAD | CL_CLONE_FILES))
    th = st.threads[102]
    assert th.pid == 100 and not th.is_main()
    assert th.fd_table() is st.threads[100].fds
    assert st.threads[100].nchilds == 2  # thread 101 of the process list, and this one


def test_execve() -> None:
    st = make_state()
    st.process(ev(292, 100, b"../bin/ls"))
    env = b"PATH=/bin\0HOME=/root\0"
    x = ev(293, 100, 0, b"/bin/ls", b"-l\0/tmp\0", 100, 100, 1, b"/home/u", 1024, 0, 0, 0, 0, 0, b"ls",
           b"cpuset=/\0", env, 34817, 100, 1000, 1, 0, 0x3FF, 0x3FF)
    st.process(x)
    t = st.threads[100]
    assert (t.comm, t.exe, t.args) == ("ls", "/bin/ls", ["-l", "/tmp"])
    assert t.env == ["PATH=/bin", "HOME=/root"] and t.tty == 34817
    assert t.exepath == "/home/bin/ls"
    assert t.exe_writable is True and t.cap_permitted == 0x3FF
    assert t.cmdline() == "ls -l /tmp"
    # a failed execve changes nothing
    st.process(ev(292, 100, b"/nope"))
    st.process(ev(293, 100, -2, b"/nope", b"", 100, 100, 1, b"/", 1024, 0, 0, 0, 0, 0, b"nope"))
    assert t.comm == "ls"


def test_open_enter_exit_and_relative_paths() -> None:
    st = make_state()
    e = ev(2, 100, b"notes.txt", 1, 0)
    st.process(e)
    assert e.fdinfo is None and e.thread.lastevent_fd == -1
    x = ev(3, 100, 7, b"notes.txt", 1, 0, 0, 0)
    st.process(x)
    assert x.fdinfo is not None and x.fdinfo.name == "/home/u/notes.txt"
    assert x.thread.lastevent_fd == 7 and st.threads[100].fds[7] is x.fdinfo
    # openat relative to a directory fd
    st.process(ev(306, 100, AT_FDCWD, b"d", (1 << 10) | 1, 0))
    st.process(ev(307, 100, 8, AT_FDCWD, b"d", (1 << 10) | 1, 0, 0, 0))
    assert st.threads[100].fds[8].type == FD.DIRECTORY
    st.process(ev(306, 100, 8, b"f", 1, 0))
    y = ev(307, 100, 9, 8, b"f", 1, 0, 0, 0)
    st.process(y)
    assert y.fdinfo.name == "/home/u/d/f"
    # failed open: no fd
    st.process(ev(2, 100, b"/x", 1, 0))
    z = ev(3, 100, -2, b"/x", 1, 0, 0, 0)
    st.process(z)
    assert z.fdinfo is None and -2 not in st.threads[100].fds


@pytest.mark.parametrize(("dirfd", "path", "want"), [
    (AT_FDCWD, b"/etc/passwd", "/etc/passwd"),
    (77, b"/etc/passwd", "/etc/passwd"),  # absolute: the dirfd (unknown here) is not looked at
    (77, b"/etc//x/../passwd/", "/etc/passwd"),  # absolute, not clean: sanitised
    (AT_FDCWD, b"/", "/"),
    (AT_FDCWD, b"./a/../b", "/home/u/b"),
    (77, b"rel", "<UNKNOWN>rel"),
    (AT_FDCWD, b"", ""),
    # not printable ASCII: each byte sanitised to "." as libsinsp does (here "caf.." then climbs)
    (AT_FDCWD, b"/caf\xc3\xa9/\xff", "/"),
])
def test_openat_exit_paths(dirfd: int, path: bytes, want: str) -> None:
    """The openat exit's path as its fd name, absolute or relative, clean or not, with and without
    an enter event (the exit's own parameters then)."""
    for with_enter in (True, False):
        st = make_state()
        if with_enter:
            st.process(ev(306, 100, dirfd, path, 1, 0))
        x = ev(307, 100, 9, dirfd, path, 1, 0, 0, 0)
        st.process(x)
        assert x.fdinfo is not None and x.fdinfo.name == want
        assert x.fdinfo.nameraw == path.decode("utf-8", "surrogateescape")


def test_exit_only_events_stand_for_their_enter() -> None:
    """Live, the probe leaves openat's enter in the kernel: a failed openat exit must not show the fd
    an earlier call left in the thread, nor pair with an older enter event."""
    for exit_only in (False, True):
        st = make_state()
        if exit_only:
            st.set_exit_only({307})
        st.process(ev(6, 100, 5, 100, ts=10))  # read > on fd 5 (/etc/passwd)
        st.process(ev(7, 100, 10, b"root:x", ts=20))
        x = ev(307, 100, -2, AT_FDCWD, b"/nope", 1, 0, 0, 0, ts=50)
        st.process(x)
        if exit_only:
            assert x.fdinfo is None and x.thread.lastevent_fd == -1 and x.thread.latency == 0
        else:  # libsinsp without the enter: the thread's last fd (what sysdig shows for a capture)
            assert x.fdinfo is not None and x.fdinfo.name == "/etc/passwd"
        ok = ev(307, 100, 9, AT_FDCWD, b"notes.txt", 1, 0, 0, 0, ts=60)
        st.process(ok)
        assert ok.fdinfo is not None and ok.fdinfo.name == "/home/u/notes.txt"


def test_exit_only_sockets_close_and_credentials() -> None:
    """Newer drivers' exits carry their enter's parameters: with no enter event at all, the state
    comes out as it does from enter/exit pairs (test_sockets, test_credentials)."""
    st = make_state()
    st.set_exit_only({5, 19, 21, 23, 199, 193})
    s = ev(19, 100, 3, 2, 1, 0)  # socket < fd, domain AF_INET, SOCK_STREAM, proto 0
    st.process(s)
    assert s.fdinfo.type == FD.IPV4_SOCK
    cx = ev(23, 100, -115, (2, b"\x7f\0\0\x01", 47192, b"\x7f\0\0\x01", 80), 3, (2, b"\x7f\0\0\x01", 80))
    st.process(cx)
    fi = cx.fdinfo
    assert fi is st.threads[100].fds[3]
    assert fi.name == "127.0.0.1:47192->127.0.0.1:80" and fi.connected and fi.role == ROLE_CLIENT
    st.process(ev(19, 100, 4, 2, 1, 6))
    b = ev(21, 100, 0, (2, b"\0\0\0\0", 8080), 4)  # bind < res, addr, fd
    st.process(b)
    assert b.fdinfo.type == FD.IPV4_SERVSOCK and b.fdinfo.name == "0.0.0.0:8080"
    c = ev(5, 100, 0, 3)  # close < res, fd
    st.process(c)
    assert c.fdinfo is fi and c.thread.lastevent_fd == 3
    st.process(ev(199, 100, 0, 4))  # a later event purges the closed fd
    assert 3 not in st.threads[100].fds and 4 in st.threads[100].fds
    failed = ev(5, 100, -9, 4)  # EBADF: nothing closed
    st.process(failed)
    st.process(ev(199, 100, 0, 4))
    assert 4 in st.threads[100].fds
    st.process(ev(193, 100, 0, 0xFFFFFFFF, 33, 0xFFFFFFFF))  # setresuid < res, ruid, euid, suid
    assert st.threads[100].uid == 33
    st.process(ev(199, 100, 0, 1000))  # setuid < res, uid
    assert st.threads[100].uid == 1000
    st.process(ev(199, 100, -1, 5))  # failed
    assert st.threads[100].uid == 1000


def test_fd_on_enter_and_exit_and_deferred_close() -> None:
    st = make_state()
    r = ev(6, 100, 5, 100)
    st.process(r)
    assert r.fdinfo is not None and r.fdinfo.name == "/etc/passwd"
    rx = ev(7, 100, 10, b"root:x")
    st.process(rx)
    assert rx.fdinfo is r.fdinfo and rx.thread.lastevent_fd == 5
    c = ev(4, 100, 5)
    st.process(c)
    cx = ev(5, 100, 0)
    st.process(cx)
    assert cx.fdinfo is not None and cx.fdinfo.name == "/etc/passwd"  # still visible on close <
    assert 5 in st.threads[100].fds
    st.process(ev(6, 100, 0, 1))
    assert 5 not in st.threads[100].fds
    assert st.stats["fds_removed"] == 1


def test_dup_and_fcntl() -> None:
    st = make_state()
    st.process(ev(366, 100, 5))
    d = ev(367, 100, 9, 5)
    st.process(d)
    assert st.threads[100].fds[9].name == "/etc/passwd" and d.fdinfo.fd == 9
    st.process(ev(150, 100, 5, 1))  # F_DUPFD
    st.process(ev(151, 100, 12))
    assert st.threads[100].fds[12].name == "/etc/passwd"
    st.process(ev(150, 100, 5, 2))  # F_GETFD: no new fd
    st.process(ev(151, 100, 13))
    assert 13 not in st.threads[100].fds


def test_sockets() -> None:
    st = make_state()
    st.process(ev(18, 100, 2, 1, 0))
    s = ev(19, 100, 3)
    st.process(s)
    assert s.fdinfo.type == FD.IPV4_SOCK and s.fdinfo.name == ""
    st.process(ev(22, 100, 3, (2, b"\x7f\0\0\x01", 80)))
    cx = ev(23, 100, -115, (2, b"\x7f\0\0\x01", 47192, b"\x7f\0\0\x01", 80))
    st.process(cx)
    fi = cx.fdinfo
    assert fi.name == "127.0.0.1:47192->127.0.0.1:80" and fi.connected and fi.role == ROLE_CLIENT
    # server: socket, bind, accept
    st.process(ev(18, 100, 2, 1, 6))
    st.process(ev(19, 100, 4))
    st.process(ev(20, 100, 4))
    b = ev(21, 100, 0, (2, b"\0\0\0\0", 8080))
    st.process(b)
    assert b.fdinfo.type == FD.IPV4_SERVSOCK and b.fdinfo.name == "0.0.0.0:8080" and b.fdinfo.role == ROLE_SERVER
    st.process(ev(246, 100))
    a = ev(247, 100, 6, (2, b"\x0a\0\0\x02", 5555, b"\x0a\0\0\x01", 8080), 0, 0, 0)
    st.process(a)
    assert a.fdinfo.name == "10.0.0.2:5555->10.0.0.1:8080" and a.fdinfo.role == ROLE_SERVER
    assert a.thread.lastevent_fd == 6
    # unix socketpair, pipe
    st.process(ev(42, 100, 1, 1, 0))
    st.process(ev(43, 100, 0, 20, 21, 0xAB, 0xCD))
    assert st.threads[100].fds[21].type == FD.UNIX_SOCK
    st.process(ev(60, 100))
    st.process(ev(61, 100, 0, 22, 23, 99))
    assert {st.threads[100].fds[n].typechar for n in (22, 23)} == {"p"}


def test_chdir_fchdir() -> None:
    st = make_state()
    st.process(ev(94, 100))
    st.process(ev(95, 100, 0, b"../tmp"))
    assert st.threads[100].get_cwd() == "/home/tmp/"
    st.process(ev(306, 100, AT_FDCWD, b"/var/log", 1 << 10, 0))
    st.process(ev(307, 100, 30, AT_FDCWD, b"/var/log", 1 << 10, 0, 0, 0))
    st.process(ev(96, 100, 30))
    st.process(ev(97, 100, 0))
    assert st.threads[100].get_cwd() == "/var/log/"
    assert st.threads[101].get_cwd() == "/var/log/"


def test_credentials() -> None:
    st = make_state()
    st.process(ev(198, 100, 0))
    st.process(ev(199, 100, 0))
    assert st.threads[100].uid == 0
    st.process(ev(192, 100, 0xFFFFFFFF, 33, 0xFFFFFFFF))
    st.process(ev(193, 100, 0))
    assert st.threads[100].uid == 33
    st.process(ev(192, 100, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))  # "unchanged"
    st.process(ev(193, 100, 0))
    assert st.threads[100].uid == 33
    st.process(ev(198, 100, 5))
    st.process(ev(199, 100, -1))  # failed
    assert st.threads[100].uid == 33


def test_procexit_purges_after_the_exit_event() -> None:
    st = make_state()
    e = ev(186, 200, 0, 0, 0, 0)
    st.process(e)
    assert e.thread is not None and 200 in st.threads  # the rules still see the exiting thread
    st.process(ev(6, 100, 5, 1))
    assert 200 not in st.threads
    assert st.stats["threads_removed"] == 1


def test_thread_cap() -> None:
    st = make_state(max_threads=5)
    for tid in (900, 901, 902):
        st.process(ev(6, tid, 0, 1))
    assert len(st.threads) == 5
    assert st.stats["threads_dropped"] == 2


def test_fd_table_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_mod, "MAX_FD_TABLE_SIZE", 4)  # bash holds fds 0 and 5 from the header
    st = make_state()
    for fd in (6, 7):
        st.process(ev(3, 100, fd, b"/tmp/f%d" % fd, 1, 0, 0, 0))  # open< (fd, name, flags, mode, dev, ino)
    full = ev(3, 100, 8, b"/tmp/f8", 1, 0, 0, 0)
    st.process(full)
    assert sorted(st.threads[100].fds) == [0, 5, 6, 7] and st.stats["fds_dropped"] == 1
    assert full.fdinfo is None and st.threads[100].lastevent_fd == 8  # like libsinsp: fd.num, no fd info
    again = ev(3, 100, 6, b"/tmp/g", 1, 0, 0, 0)  # an fd already in the table is replaced
    st.process(again)
    assert st.threads[100].fds[6].name == "/tmp/g" and st.stats["fds_dropped"] == 1
    # the /proc scan's fds obey the same bound
    fds = [FdRecord(tid=300, fd=i, ino=0, type=FD.FILE, name=f"/tmp/s{i}") for i in range(6)]
    st.thread_lookup = lambda tid: (trec(300, 300, 1, "scanned"), fds)
    st.process(ev(6, 300, 9, 1))  # close> of a thread first seen: looked up with its fds
    assert sorted(st.threads[300].fds) == [0, 1, 2, 3] and st.stats["fds_dropped"] == 3


def test_header_fds_of_a_thread_stay_in_its_own_table() -> None:
    """A capture's fd list is stored in the table of the thread it is listed under (libsinsp's
    add_fd_from_scap writes the thread's own table), even for a thread sharing its process's files:
    fds listed under thread 101 neither reach nor replace the main thread's."""
    reader = SimpleNamespace(
        threads=[trec(100, 100, 1, "bash"), trec(101, 100, 1, "bash", flags=CL_CLONE_THREAD | CL_CLONE_FILES),
                 trec(301, 300, 1, "orphan", flags=CL_CLONE_THREAD | CL_CLONE_FILES)],
        fds={100: [FdRecord(tid=100, fd=5, ino=0, type=FD.FILE, name="/etc/passwd")],
             101: [FdRecord(tid=101, fd=5, ino=0, type=FD.FILE, name="/tmp/thread5"),
                   FdRecord(tid=101, fd=7, ino=0, type=FD.FILE, name="/tmp/thread7")],
             301: [FdRecord(tid=301, fd=3, ino=0, type=FD.FILE, name="/tmp/orphan3")]},
        users=[], groups=[], interfaces=[], machine=None,
    )
    st = State()
    st.load_header(reader)
    main, thread, orphan = st.threads[100], st.threads[101], st.threads[301]
    assert {fd: f.name for fd, f in main.fds.items()} == {5: "/etc/passwd"}
    assert {fd: f.name for fd, f in thread.fds.items()} == {5: "/tmp/thread5", 7: "/tmp/thread7"}
    assert thread.get_fd(5) is main.fds[5] and thread.get_fd(7) is None  # lookups go to the main table
    assert sorted(orphan.fds) == [3]  # no main thread: kept in its own table, not dropped
    assert st.stats["fds_dropped"] == 0


def test_container_json_event() -> None:
    st = make_state()
    doc = {"container": {"id": CID[:12], "image": "node:latest", "name": "express_server", "type": 0,
                         "privileged": True, "labels": {"io.kubernetes.pod.name": "web-0"}}}
    e = ev(272, -1, json.dumps(doc).encode())
    st.process(e)
    # like libsinsp, a container event stands on a detached thread of the container
    assert e.thread is not None and e.thread.comm == "container:" + CID[:12] and e.thread.pid == -1
    assert e.thread.container_id == CID[:12] and -1 not in st.threads
    c = st.containers[CID[:12]]
    assert (c.name, c.image, c.privileged) == ("express_server", "node:latest", True)


def _trace(corpus_dir: Path, name: str) -> str:
    return str(corpus_dir / "falco-regression" / "trace_files" / name)


def test_corpus_replay_state(corpus_dir: Path) -> None:
    src = open_capture_source(_trace(corpus_dir, "cat_write.scap"))
    opens = [e for e in src if e.evtype == "open" and e.dir == "<" and e.thread is not None
             and e.thread.comm == "cat"]
    assert [e.fdinfo.name for e in opens] == [
        "/etc/ld.so.cache", "/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/locale/locale-archive", "/dev/null"]
    cat = opens[0].thread
    assert cat.ptid == 11310 and cat.parent() is not None and cat.parent().comm == "bash"
    assert src.state.stats["threads_dropped"] == 0


def test_corpus_initial_containers_not_yielded(corpus_dir: Path) -> None:
    src = open_capture_source(_trace(corpus_dir, "open-multiple-files.scap"))
    evts = list(src)
    assert evts[0].num == 4 and src.events_read == len(evts) + 3
    assert {c.name for c in src.state.containers.values()} >= {"falco", "express_server"}


def test_truncated_capture_is_an_error(tmp_path: Path, corpus_dir: Path) -> None:
    import gzip

    raw = gzip.decompress((corpus_dir / "falco-regression" / "trace_files" / "cat_write.scap").read_bytes())
    p = tmp_path / "t.scap"
    p.write_bytes(raw[: len(raw) - 5000])
    seen = 0
    with pytest.raises(RaeError, match="offset"):
        for _ in open_capture_source(str(p)):
            seen += 1
    assert seen > 0


def test_main_thread_that_exited_first_goes_with_its_last_thread() -> None:
    st = make_state()
    st.process(ev(222, 100))
    st.process(clone_x(100, 102, pid=100, ptid=1, flags=CL_CLONE_THREAD | CL_CLONE_FILES))
    st.process(ev(186, 100, 0, 0, 0, 0))  # the main thread exits first: its threads still run
    st.process(ev(6, 102, 5, 1))
    assert 100 in st.threads and st.threads[102].get_fd(5) is not None
    for tid in (101, 102):
        st.process(ev(186, tid, 0, 0, 0, 0))
    st.process(ev(6, 1, 0, 1))
    assert not {100, 101, 102} & set(st.threads)


def test_thread_lookup_hook_fills_unknown_threads() -> None:
    st = make_state()
    asked = []

    def lookup(tid: int) -> Any:
        asked.append(tid)
        if tid != 777:
            return None
        return (trec(777, 777, 100, "curl", args=["-s", "x"], cwd="/tmp"),
                [FdRecord(tid=777, fd=3, ino=0, type=FD.FILE_V2, name="/tmp/out")])

    st.thread_lookup = lookup
    e = ev(6, 777, 3, 10)
    st.process(e)
    assert e.thread.comm == "curl" and e.thread.cmdline() == "curl -s x" and e.thread.get_cwd() == "/tmp/"
    assert e.fdinfo is not None and e.fdinfo.name == "/tmp/out"
    f = ev(6, 778, 0, 1)
    st.process(f)
    assert f.thread.comm == "<NA>" and asked == [777, 778]


def test_container_table_is_bounded() -> None:
    from rae.syscall.state import Container, State

    st = State(max_containers=3)
    for i in range(5):
        st._put_container(f"c{i}", Container(f"c{i}"))
    assert list(st.containers) == ["c2", "c3", "c4"]
    assert st.stats["containers_evicted"] == 2
    st._put_container("c3", Container("c3"))  # an update of a known id evicts nothing
    assert st.stats["containers_evicted"] == 2
