"""Start-up scan of ``/proc``: the threads, processes and open fds that exist before the probe's first event.

Live capture only sees what happens after the probe attaches; without a snapshot every thread
already running would be a placeholder with no name, cwd or fds. The scan produces the same
records a capture's header blocks carry (``rae.syscall.events`` ThreadRecord, FdRecord,
UserRecord, GroupRecord, InterfaceRecord, MachineInfo) under the same attribute names as
`rae.syscall.scap_reader.ScapReader`, so ``State.load_header(snapshot)`` and
``ScapWriter.write_header_from``-style writers take either::

    snap = scan_proc()                 # ProcSnapshot
    state.load_header(snap)            # threads, fds, users, groups, interfaces, machine

Processes that vanish during the scan are skipped silently (they raced with us).
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from rae.syscall.events import (
    FdRecord,
    GroupRecord,
    InterfaceRecord,
    MachineInfo,
    ThreadRecord,
    UserRecord,
)

__all__ = ["ProcSnapshot", "lookup_thread", "scan_proc"]

# scap fd types (event_table.FD_TYPES)
_FD_FILE, _FD_DIR, _FD_IPV4, _FD_IPV6, _FD_IPV4_SRV, _FD_IPV6_SRV = 1, 2, 3, 4, 5, 6
_FD_FIFO, _FD_UNIX, _FD_EVENT, _FD_UNSUPPORTED, _FD_SIGNALFD, _FD_EVENTPOLL = 7, 8, 9, 10, 11, 12
_FD_INOTIFY, _FD_TIMERFD, _FD_NETLINK, _FD_FILE_V2 = 13, 14, 15, 16
_L4_TCP, _L4_UDP, _L4_RAW = 1, 2, 5
#: a socket table row: local ip, local port, remote ip, remote port, l4proto, listening
_InetEntry = tuple[bytes, int, bytes, int, int, bool]
#: read buffer of the socket tables (streamed: `_inet_table`)
_TABLE_BUFFER = 1 << 16

# fd types newer than libs 0.9.0's fd-list reader (bpf, userfaultfd, io_uring, memfd, pidfd) are
# written as "unsupported" (memfds as files), or sysdig 0.29 refuses the whole capture
_ANON = {
    "[eventfd]": _FD_EVENT, "[signalfd]": _FD_SIGNALFD, "[eventpoll]": _FD_EVENTPOLL,
    "inotify": _FD_INOTIFY, "[timerfd]": _FD_TIMERFD,
}
# libscap reads at most this much of /proc/PID/cmdline and /proc/PID/environ (SCAP_MAX_ARGS_SIZE,
# SCAP_MAX_ENV_SIZE): a process with a huge command line costs no more state than that
ARGS_MAX_LEN = 4096
ENV_MAX_LEN = 4096
# x86_64 open flags → scap file_flags (the access mode is converted apart)
_OPEN_FLAGS = (
    (0o100, 4), (0o200, 32), (0o1000, 256), (0o2000, 8), (0o4000, 64), (0o10000, 16), (0o40000, 512),
    (0o100000, 2048), (0o200000, 1024), (0o2000000, 4096), (0o4000000, 128), (0o20000000, 8192),
)


@dataclass
class ProcSnapshot:
    """The host's state at scan time, shaped like a capture reader's header records."""

    machine: MachineInfo | None = None
    threads: list[ThreadRecord] = field(default_factory=list)
    fds: dict[int, list[FdRecord]] = field(default_factory=dict)
    users: list[UserRecord] = field(default_factory=list)
    groups: list[GroupRecord] = field(default_factory=list)
    interfaces: list[InterfaceRecord] = field(default_factory=list)

    def read_header(self) -> None:
        """Nothing to do: present so writers and state engines can treat it like a ScapReader."""


def open_flags_to_scap(flags: int) -> int:
    out = (flags & 3) + 1
    for native, scap in _OPEN_FLAGS:
        if flags & native:
            out |= scap
    return out


def _read(path: str, limit: int = -1) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "surrogateescape")
    except OSError:
        return None


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _status(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def _fdlimit(pid: int) -> int:
    text = _read(f"/proc/{pid}/limits") or ""
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line[len("Max open files"):].split()[0]
            return (1 << 64) - 1 if soft == "unlimited" else int(soft)
    return 0


def _thread(pid: int, tid: int, main: dict[str, object]) -> ThreadRecord | None:
    base = f"/proc/{pid}/task/{tid}"
    status = _read(f"{base}/status")
    stat = _read(f"{base}/stat")
    if status is None or stat is None:
        return None
    st = _status(status)
    # stat: "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt ..."
    rest = stat[stat.rfind(")") + 2:].split()
    try:
        pgrp, sid, tty = int(rest[2]), int(rest[3]), int(rest[4])
        minflt, majflt = int(rest[7]), int(rest[9])
    except (IndexError, ValueError):
        return None

    def kb(key: str) -> int:
        v = st.get(key, "0 kB").split()
        return int(v[0]) if v and v[0].isdigit() else 0

    def ids(key: str) -> list[int]:
        return [int(x) for x in st.get(key, "").split() if x.lstrip("-").isdigit()]

    uid = ids("Uid")
    gid = ids("Gid")
    nspid = ids("NSpid")
    nstgid = ids("NStgid")
    loginuid = _read(f"/proc/{pid}/loginuid")
    return ThreadRecord(
        tid=tid, pid=pid, ptid=int(st.get("PPid", "0") or 0),
        comm=st.get("Name", ""), exe=str(main["exe"]), args=list(main["args"]),  # type: ignore[call-overload]
        cwd=str(main["cwd"]), fdlimit=int(main["fdlimit"]), flags=0,  # type: ignore[call-overload]
        uid=uid[1] if len(uid) > 1 else 0, gid=gid[1] if len(gid) > 1 else 0,
        sid=sid, vpgid=pgrp, exepath=str(main["exepath"]),
        vmsize_kb=kb("VmSize"), vmrss_kb=kb("VmRSS"), vmswap_kb=kb("VmSwap"),
        pfmajor=majflt, pfminor=minflt, env=list(main["env"]),  # type: ignore[call-overload]
        vtid=nspid[-1] if nspid else tid, vpid=nstgid[-1] if nstgid else pid,
        cgroups=list(main["cgroups"]), root=str(main["root"]),  # type: ignore[call-overload]
        tty=tty, loginuid=int(loginuid) if loginuid and loginuid.strip().lstrip("-").isdigit() else None,
        cap_inheritable=int(st.get("CapInh", "0"), 16), cap_permitted=int(st.get("CapPrm", "0"), 16),
        cap_effective=int(st.get("CapEff", "0"), 16), pgid=pgrp,
    )


def _cgroups(text: str) -> list[str]:
    """``/proc/PID/cgroup`` lines → the ``subsys=path`` entries captures store (``=path`` for v2)."""
    out: list[str] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or parts[1].startswith("name="):
            continue
        _hid, subs, path = parts
        if not subs:
            out.append(f"={path}")
        else:
            out.extend(f"{sub}={path}" for sub in subs.split(","))
    return out


def _process_info(pid: int) -> dict[str, object] | None:
    cmdline = _read(f"/proc/{pid}/cmdline", ARGS_MAX_LEN)
    if cmdline is None:
        return None
    argv = cmdline.split("\0")
    if argv and argv[-1] == "":
        argv.pop()
    comm = (_read(f"/proc/{pid}/comm") or "").rstrip("\n")
    exe = argv[0] if argv else comm  # kernel threads have no cmdline: libscap uses the comm
    env = (_read(f"/proc/{pid}/environ", ENV_MAX_LEN) or "").split("\0")
    if env and env[-1] == "":
        env.pop()
    cwd = _readlink(f"/proc/{pid}/cwd") or ""
    cgroups = _cgroups(_read(f"/proc/{pid}/cgroup") or "")
    return {
        "exe": exe, "args": argv[1:], "cwd": cwd, "exepath": _readlink(f"/proc/{pid}/exe") or "",
        "env": env, "fdlimit": _fdlimit(pid), "cgroups": cgroups,
        "root": _readlink(f"/proc/{pid}/root") or "/",
    }


# --- sockets ---------------------------------------------------------------------------------------


def _inet_table(path: str, l4: int, wanted: Collection[int]) -> dict[int, _InetEntry]:
    """inode → (local ip, local port, remote ip, remote port, l4proto, listening), for the inodes in
    ``wanted`` only.

    Read line by line, never whole: on a host that opens many connections ``/proc/net/tcp`` lists
    every socket in TIME_WAIT (no inode, owned by no process) — 48,000 lines, 7 MB after a minute
    of bench/live — and reading, decoding and splitting it whole made the engine's start-up scan the
    peak of its RSS (+27 MB for a moment)."""
    out: dict[int, _InetEntry] = {}
    if not wanted:
        return out

    def ip(h: bytes) -> bytes:
        return b"".join(int(h[i:i + 8], 16).to_bytes(4, "little") for i in range(0, len(h), 8))

    try:
        with open(path, "rb", buffering=_TABLE_BUFFER) as f:
            next(f, None)  # the header line
            for line in f:
                fld = line.split()
                if len(fld) < 10 or not fld[9].isdigit() or int(fld[9]) not in wanted:
                    continue
                lip, lport = fld[1].split(b":")
                rip, rport = fld[2].split(b":")
                listening = (l4 == _L4_TCP and fld[3] == b"0A") or (l4 != _L4_TCP and int(rport, 16) == 0)
                out[int(fld[9])] = (ip(lip), int(lport, 16), ip(rip), int(rport, 16), l4, listening)
    except OSError:
        pass  # no such table (no IPv6, say): nothing from it
    return out


def _unix_table(path: str, wanted: Collection[int]) -> dict[int, str]:
    """inode → path of the unix sockets in ``wanted`` (read line by line, as `_inet_table`)."""
    out: dict[int, str] = {}
    if not wanted:
        return out
    try:
        with open(path, "rb", buffering=_TABLE_BUFFER) as f:
            next(f, None)
            for line in f:
                fld = line.split()
                if len(fld) >= 7 and fld[6].isdigit() and int(fld[6]) in wanted:
                    out[int(fld[6])] = fld[7].decode("utf-8", "surrogateescape") if len(fld) > 7 else ""
    except OSError:
        pass
    return out


class _Sockets:
    """The kernel's socket tables, restricted to the sockets some scanned process holds (``wanted``
    inodes; none wanted, nothing read)."""

    def __init__(self, wanted: Collection[int]) -> None:
        self.inet: dict[int, _InetEntry] = {}
        for name, l4 in (("tcp", _L4_TCP), ("udp", _L4_UDP), ("raw", _L4_RAW),
                         ("tcp6", _L4_TCP), ("udp6", _L4_UDP), ("raw6", _L4_RAW)):
            self.inet.update(_inet_table(f"/proc/net/{name}", l4, wanted))
        self.unix = _unix_table("/proc/net/unix", wanted)

    def record(self, tid: int, fd: int, ino: int) -> FdRecord:
        if ino in self.inet:
            lip, lport, rip, rport, l4, listening = self.inet[ino]
            v6 = len(lip) == 16
            if listening:
                return FdRecord(tid=tid, fd=fd, ino=ino, type=_FD_IPV6_SRV if v6 else _FD_IPV4_SRV,
                                sip=lip, sport=lport, l4proto=l4)
            return FdRecord(tid=tid, fd=fd, ino=ino, type=_FD_IPV6 if v6 else _FD_IPV4, sip=lip, sport=lport,
                            dip=rip, dport=rport, l4proto=l4)
        if ino in self.unix:
            return FdRecord(tid=tid, fd=fd, ino=ino, type=_FD_UNIX, name=self.unix[ino], source=0, dest=0)
        return FdRecord(tid=tid, fd=fd, ino=ino, type=_FD_NETLINK, name="")


def _fd_flags(pid: int, fd: int) -> int:
    text = _read(f"/proc/{pid}/fdinfo/{fd}") or ""
    for line in text.splitlines():
        if line.startswith("flags:"):
            try:
                return open_flags_to_scap(int(line.split()[1], 8))
            except (IndexError, ValueError):
                return 0
    return 0


def _fds(pid: int) -> tuple[list[FdRecord], list[tuple[int, int]]]:
    """The records of ``pid``'s open fds but its sockets, and its sockets as (fd, inode): their
    records need the socket tables, read once for all the sockets found (`_with_sockets`)."""
    out: list[FdRecord] = []
    sockets: list[tuple[int, int]] = []
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out, sockets
    for name in names:
        if not name.isdigit():
            continue
        fd = int(name)
        target = _readlink(f"/proc/{pid}/fd/{fd}")
        if target is None:
            continue
        ino = 0
        if target.startswith(("socket:[", "pipe:[")):
            ino = int(target[target.index("[") + 1:-1])
            if target.startswith("socket:"):
                sockets.append((fd, ino))
            else:
                out.append(FdRecord(tid=pid, fd=fd, ino=ino, type=_FD_FIFO, name=target))
            continue
        if target.startswith("anon_inode:"):
            kind = target[len("anon_inode:"):]
            typ = _ANON.get(kind, _FD_UNSUPPORTED)
            out.append(FdRecord(tid=pid, fd=fd, ino=0, type=typ, name=target))
            continue
        try:
            st = os.stat(f"/proc/{pid}/fd/{fd}")
            ino = st.st_ino
            dev = os.major(st.st_dev) << 20 | os.minor(st.st_dev)
            is_dir = os.path.isdir(f"/proc/{pid}/fd/{fd}")
        except OSError:
            dev, is_dir = 0, False
        if is_dir:
            out.append(FdRecord(tid=pid, fd=fd, ino=ino, type=_FD_DIR, name=target))
        else:
            out.append(FdRecord(tid=pid, fd=fd, ino=ino, type=_FD_FILE_V2, name=target,
                                open_flags=_fd_flags(pid, fd), dev=_encode_dev(dev)))
    return out, sockets


def _with_sockets(pid: int, recs: list[FdRecord], sockets: list[tuple[int, int]], socks: _Sockets) -> list[FdRecord]:
    """``recs`` and the records of ``sockets`` (from `_fds`), in fd order."""
    if sockets:
        recs.extend(socks.record(pid, fd, ino) for fd, ino in sockets)
        recs.sort(key=lambda r: r.fd)
    return recs


def _encode_dev(dev: int) -> int:
    major, minor = dev >> 20, dev & 0xFFFFF
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


# --- machine, users, interfaces --------------------------------------------------------------------


def _machine() -> MachineInfo:
    mem = 0
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    pid_max = int((_read("/proc/sys/kernel/pid_max") or "32768").strip() or 32768)
    boot = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    return MachineInfo(num_cpus=os.cpu_count() or 1, memory_bytes=mem, max_pid=pid_max,
                       hostname=socket.gethostname(), boot_ts=boot)


def _interfaces() -> list[InterfaceRecord]:
    import fcntl
    import struct

    out: list[InterfaceRecord] = []
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _idx, name in socket.if_nameindex():
            req = struct.pack("256s", name.encode()[:15])
            try:
                addr = fcntl.ioctl(s.fileno(), 0x8915, req)[20:24]  # SIOCGIFADDR
                mask = fcntl.ioctl(s.fileno(), 0x891B, req)[20:24]  # SIOCGIFNETMASK
            except OSError:
                continue
            try:
                bcast = fcntl.ioctl(s.fileno(), 0x8919, req)[20:24]  # SIOCGIFBRDADDR
            except OSError:
                bcast = b"\0\0\0\0"
            out.append(InterfaceRecord(type=1, name=name, addr=addr, netmask=mask, bcast=bcast))
    finally:
        s.close()
    return out


def lookup_thread(tid: int) -> tuple[ThreadRecord, list[FdRecord]] | None:
    """One thread read from ``/proc`` (with its process's fds when it is the main thread), or None
    when it is gone: ``State.thread_lookup`` for live capture, so that a thread whose creation was
    not seen (events dropped, or started during the start-up scan) gets its real name, command
    line, cwd, fds and container instead of a ``<NA>`` placeholder, as libsinsp does."""
    status = _read(f"/proc/{tid}/status")
    if status is None:
        return None
    try:
        pid = int(_status(status).get("Tgid", "") or tid)
    except ValueError:
        return None
    info = _process_info(pid)
    if info is None:
        return None
    rec = _thread(pid, tid, info)
    if rec is None:
        return None
    if tid != pid:
        return rec, []
    recs, sockets = _fds(pid)
    return rec, _with_sockets(pid, recs, sockets, _Sockets({ino for _fd, ino in sockets}))


def scan_proc(proc: str = "/proc", with_fds: bool = True) -> ProcSnapshot:
    """Every thread of every process (with its process's fds) and the user/group tables."""
    snap = ProcSnapshot(machine=_machine())
    found: list[tuple[int, list[FdRecord], list[tuple[int, int]]]] = []
    wanted: set[int] = set()
    for entry in sorted(Path(proc).iterdir(), key=lambda p: (len(p.name), p.name)):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        info = _process_info(pid)
        if info is None:
            continue
        try:
            tids = sorted(int(t) for t in os.listdir(f"{proc}/{pid}/task") if t.isdigit())
        except OSError:
            continue
        for tid in tids:
            rec = _thread(pid, tid, info)
            if rec is not None:
                snap.threads.append(rec)
        if with_fds:
            recs, sockets = _fds(pid)
            if recs or sockets:
                found.append((pid, recs, sockets))
                wanted.update(ino for _fd, ino in sockets)
    socks = _Sockets(wanted)  # after the fds: only the sockets some process holds are kept
    for pid, recs, sockets in found:
        snap.fds[pid] = _with_sockets(pid, recs, sockets, socks)
    for u in pwd.getpwall():
        snap.users.append(UserRecord(uid=u.pw_uid, gid=u.pw_gid, name=u.pw_name, homedir=u.pw_dir,
                                     shell=u.pw_shell))
    for g in grp.getgrall():
        snap.groups.append(GroupRecord(gid=g.gr_gid, name=g.gr_name))
    snap.interfaces = _interfaces()
    return snap
