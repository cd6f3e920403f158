"""The state engine: threads, file descriptors, users and containers, rebuilt event by event.

It mirrors what libsinsp's parser keeps (falcosecurity/libs of 2022, the libraries of Debian's
``sysdig`` 0.29.3 that serves as the field oracle), so that field values match:

* the thread table starts from the capture's process list, fd lists and user/group lists, and
  is then updated by clone/fork/vfork/clone3 exits (child creation, inverted clones, tid
  collisions), execve/execveat exits, procexit, the fd-creating and fd-destroying calls,
  chdir/fchdir, setuid/setgid/setresuid/setresgid, setsid, chroot and container events;
* a thread that shows up only through its events becomes a placeholder with ``comm`` and
  ``exe`` ``"<NA>"`` and uid/gid/loginuid 0xffffffff (libsinsp's "fake" entry);
* before the rules see an event, `State.process` sets ``evt.thread`` (None for events libsinsp
  attaches to no thread) and ``evt.fdinfo``: the fd the event refers to as the fd fields see
  it — on enter events of fd-taking calls the ``fd`` argument's entry, on exit events the fd of
  the matching enter event or the fd the call created; None for events that neither take nor
  create nor destroy an fd. ``thread.lastevent_fd`` is what ``fd.num`` shows;
* removals are deferred like libsinsp's: a closed fd or an exited thread stays visible to the
  rules for the close/procexit event itself and is dropped when the next event arrives.

Bounded: an exited process's threads and fd table are dropped; the thread table has a cap
(``max_threads``) past which new threads are not added (counted in ``stats["threads_dropped"]``),
and a process's fd table one (`MAX_FD_TABLE_SIZE`, ``stats["fds_dropped"]``).
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Callable, Iterable
from typing import Any

from rae.containers.cgroup import container_from_cgroups, parse_cgroups
from rae.syscall.event_table import (
    EF_CREATES_FD,
    EF_DESTROYS_FD,
    EF_LARGE_PAYLOAD,
    EF_SKIPPARSERESET,
    EF_USES_FD,
)

__all__ = [
    "AT_FDCWD",
    "CL_CLONE_FILES",
    "CL_CLONE_THREAD",
    "CL_IS_MAIN_THREAD",
    "FD",
    "ROLE_CLIENT",
    "ROLE_NONE",
    "ROLE_SERVER",
    "Container",
    "FdInfo",
    "State",
    "Thread",
    "concat_paths",
]

# --- constants (libs ppm_events_public.h / scap.h) -------------------------------------------------

EF_FD_ANY = EF_CREATES_FD | EF_DESTROYS_FD | EF_USES_FD

CL_CLONE_FILES = 1 << 0
CL_CLONE_THREAD = 1 << 13
CL_CLONE_PARENT = 1 << 8
CL_CLONE_INVERTED = 1 << 16
CL_CLOSED = 1 << 18
CL_ACTIVE = 1 << 19
CL_PIPE_SRC = 1 << 21
CL_PIPE_DST = 1 << 22
CL_CHILD_IN_PIDNS = 1 << 29
CL_IS_MAIN_THREAD = 1 << 30

O_DIRECTORY = 1 << 10
AT_FDCWD = -100
FCNTL_F_DUPFD = 1
FCNTL_F_DUPFD_CLOEXEC = 26
EXE_WRITABLE = 1
#: execve exit flags bit of newer drivers (rae's probe sets it): the image is a memfd
EXE_FROM_MEMFD = 1 << 2
EXVAT_AT_EMPTY_PATH = 1
#: execveat's enter event: a successful execveat ends with an *execve* exit (libs' drivers)
EXECVEAT_E = 330
EINPROGRESS = 115
UID_NONE = 0xFFFFFFFF
CLONE_STALE_TIME_NS = 2_000_000_000
#: exits remembered so that a parent's clone exit read after its child's exit does not bring the
#: child back (a vfork/posix_spawn child can exec and exit before its parent's clone returns)
RECENT_EXITS_MAX = 4096
#: how far apart (kernel time, either order) such a clone exit and the child's exit may be
RECENT_EXIT_WINDOW_NS = 10_000_000_000
DEFAULT_MAX_THREADS = 131072
#: libsinsp's MAX_FD_TABLE_SIZE: a process's fd table holds at most this many fds; a new fd past it is
#: not tracked (counted in ``stats["fds_dropped"]``) and its event has no fd, as with libsinsp
MAX_FD_TABLE_SIZE = 4096

#: the container table's bound (oldest entries evicted past it, counted in ``stats["containers_evicted"]``)
DEFAULT_MAX_CONTAINERS = 4096

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16
SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
IPPROTO_IP = 0
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_RAW = 255

# l4 protocols (scap_l4_proto)
L4_UNKNOWN = 0
L4_NA = 1
L4_TCP = 2
L4_UDP = 3
L4_ICMP = 4
L4_RAW = 5

ROLE_NONE = 0
ROLE_CLIENT = 1
ROLE_SERVER = 2


class FD:
    """scap fd types (``scap_fd_type``)."""

    UNKNOWN = 0
    FILE = 1
    DIRECTORY = 2
    IPV4_SOCK = 3
    IPV6_SOCK = 4
    IPV4_SERVSOCK = 5
    IPV6_SERVSOCK = 6
    FIFO = 7
    UNIX_SOCK = 8
    EVENT = 9
    UNSUPPORTED = 10
    SIGNALFD = 11
    EVENTPOLL = 12
    INOTIFY = 13
    TIMERFD = 14
    NETLINK = 15
    FILE_V2 = 16
    BPF = 17
    USERFAULTFD = 18
    IOURING = 19
    MEMFD = 20
    PIDFD = 21


#: fd type → fd.typechar
TYPECHARS: dict[int, str] = {
    FD.FILE: "f", FD.FILE_V2: "f", FD.DIRECTORY: "d", FD.IPV4_SOCK: "4", FD.IPV4_SERVSOCK: "4",
    FD.IPV6_SOCK: "6", FD.IPV6_SERVSOCK: "6", FD.FIFO: "p", FD.UNIX_SOCK: "u", FD.EVENT: "e",
    FD.UNKNOWN: "o", FD.UNSUPPORTED: "X", FD.SIGNALFD: "s", FD.EVENTPOLL: "l", FD.INOTIFY: "i",
    FD.TIMERFD: "t", FD.NETLINK: "n", FD.BPF: "b", FD.USERFAULTFD: "u", FD.IOURING: "r",
    FD.MEMFD: "m", FD.PIDFD: "P",
}
#: fd type → fd.type
TYPESTRINGS: dict[int, str] = {
    FD.FILE: "file", FD.FILE_V2: "file", FD.DIRECTORY: "directory", FD.IPV4_SOCK: "ipv4",
    FD.IPV4_SERVSOCK: "ipv4", FD.IPV6_SOCK: "ipv6", FD.IPV6_SERVSOCK: "ipv6", FD.UNIX_SOCK: "unix",
    FD.FIFO: "pipe", FD.EVENT: "event", FD.SIGNALFD: "signalfd", FD.EVENTPOLL: "eventpoll",
    FD.INOTIFY: "inotify", FD.TIMERFD: "timerfd", FD.NETLINK: "netlink", FD.BPF: "bpf",
    FD.USERFAULTFD: "userfaultfd", FD.IOURING: "io_uring", FD.MEMFD: "memfd", FD.PIDFD: "pidfd",
}

_INET_SOCKS = frozenset((FD.IPV4_SOCK, FD.IPV6_SOCK))
_FILE_TYPES = frozenset((FD.FILE, FD.FILE_V2))
#: fds a send/receive tuple can describe
_TUPLE_SOCKS = frozenset((FD.IPV4_SOCK, FD.IPV6_SOCK, FD.IPV4_SERVSOCK, FD.IPV6_SERVSOCK, FD.UNIX_SOCK))


# --- paths ------------------------------------------------------------------------------------------


def _copy_sanitized(buf: list[str], path: str) -> None:
    """Append ``path`` to ``buf`` the way libsinsp's ``copy_and_sanitize_path`` does: ``./`` is
    skipped, ``../`` climbs one directory, repeated ``/`` collapse, a trailing ``/`` goes, and
    bytes that are not printable ASCII become ``.``."""
    if not (path.isascii() and path.isprintable()):
        path = "".join(c if " " <= c <= "~" else "." * len(c.encode("utf-8", "surrogateescape"))
                       for c in path)
    i = 0
    n = len(path)
    while i < n:
        c = path[i]
        if c == ".":
            nxt = path[i + 1 : i + 2]
            if nxt == ".":
                if path[i + 2 : i + 3] == "/":
                    _rewind(buf)
                    i += 3
                elif i + 2 >= n:
                    _rewind(buf)
                    i += 2
                else:
                    buf.append(".")
                    buf.append(".")
                    i += 2
            elif nxt == "/":
                i += 2
            elif i + 1 >= n:
                i += 1
            else:
                buf.append(".")
                i += 1
        elif c == "/":
            if not (buf and buf[-1] == "/"):
                buf.append("/")
            i += 1
        else:
            buf.append(c)
            i += 1
    if len(buf) > 1 and buf[-1] == "/":
        buf.pop()


def _rewind(buf: list[str]) -> None:
    if len(buf) <= 1:
        return
    buf.pop()
    while buf and buf[-1] != "/":
        buf.pop()


def _is_clean(path: str) -> bool:
    """True when sanitising ``path`` leaves it as it is (the common case: checked in C, not walked
    character by character): printable ASCII, no ``./``, ``..`` or ``//``, no trailing ``/``/``.``."""
    return (path[-1] not in "/." and "//" not in path and "./" not in path and ".." not in path
            and path.isascii() and path.isprintable())


def concat_paths(base: str, path: str) -> tuple[str, bool]:
    """libsinsp's ``concatenate_paths``: ``(base + path sanitised, True)`` for a relative
    ``path``, ``(path sanitised, False)`` for an absolute (or empty) one."""
    if path and _is_clean(path):
        if path[0] == "/":
            return path, False
        return base + path, True
    if path and path[0] != "/":
        buf = list(base)
        _copy_sanitized(buf, path)
        return "".join(buf), True
    buf = []
    _copy_sanitized(buf, path)
    return "".join(buf), False


# --- value helpers -----------------------------------------------------------------------------------

#: comm and exe repeat across thousands of threads: one string object each
_intern = sys.intern

_SIGNED_TYPES = frozenset(("INT8", "INT16", "INT32", "INT64", "ERRNO", "FD", "PID"))
_UNSIGNED_TYPES = frozenset(("UINT8", "UINT16", "UINT32", "UINT64", "FLAGS8", "FLAGS16", "FLAGS32",
                             "ENUMFLAGS8", "ENUMFLAGS16", "ENUMFLAGS32", "UID", "GID", "MODE", "SIGTYPE",
                             "SYSCALLID", "PORT", "L4PROTO", "SOCKFAMILY", "BOOL", "SIGSET", "RELTIME",
                             "ABSTIME"))
_LENS16 = [struct.Struct(f"<{n}H").unpack_from for n in range(33)]
#: event code → (its EventInfo, parameter name → (index, signed) for its integer parameters)
_INT_PARAMS: dict[int, tuple[Any, dict[str, tuple[int, bool]]]] = {}


def _int_params_of(info: Any) -> dict[str, tuple[int, bool]]:
    got = _INT_PARAMS.get(info.code)
    if got is not None and got[0] is info:
        return got[1]
    m = {p.name: (i, p.type in _SIGNED_TYPES) for i, p in enumerate(info.params)
         if p.type in _SIGNED_TYPES or p.type in _UNSIGNED_TYPES}
    _INT_PARAMS[info.code] = (info, m)
    return m


def _raw_int(evt: Any, i: int, signed: bool) -> Any:
    """Integer parameter ``i`` of ``evt``, decoded alone from the raw bytes when the others have not
    been decoded yet (same value as ``evt.params[i]``, without decoding every parameter)."""
    p = evt._params
    if p is None:
        raw = evt.raw
        n = evt.nparams
        if raw is not None and i < n <= 32 and not evt.info.flags & EF_LARGE_PAYLOAD:
            try:
                lens = _LENS16[n](raw, 0)
            except struct.error:
                return evt.params[i]  # corrupt: let the full decoder say so
            ln = lens[i]
            if not ln:
                return None
            off = 2 * n + (sum(lens[:i]) if i else 0)
            if off + ln <= len(raw):
                return int.from_bytes(raw[off : off + ln], "little", signed=signed)
        p = evt.params
    return p[i] if i < len(p) else None


_Idx = int | None
#: event code → (its EventInfo, indexes of fd, name, flags, dev, ino, dirfd) for the open family
_OPEN_INDEX: dict[int, tuple[Any, _Idx, _Idx, _Idx, _Idx, _Idx, _Idx]] = {}


def _open_index(info: Any) -> tuple[Any, _Idx, _Idx, _Idx, _Idx, _Idx, _Idx]:
    got = _OPEN_INDEX.get(info.code)
    if got is None or got[0] is not info:
        pi = info.param_index
        got = _OPEN_INDEX[info.code] = (info, pi.get("fd"), pi.get("name"), pi.get("flags"), pi.get("dev"),
                                        pi.get("ino"), pi.get("dirfd"))
    return got


def _iarg(evt: Any, name: str) -> Any:
    """``evt.arg(name)`` for an integer parameter, without decoding the other parameters."""
    p = evt._params
    if p is not None:  # decoded already: what evt.arg gives, without its calls
        i = evt.info.param_index.get(name)
        return p[i] if i is not None and i < len(p) else None
    spec = _int_params_of(evt.info).get(name)
    if spec is None:
        return evt.arg(name)
    return _raw_int(evt, spec[0], spec[1])



class _Named:
    """Some parameters by name, looked up once per event type: ``values(evt)`` is
    ``[evt.arg(n) for n in names]`` without a call and a name lookup per parameter (the clone
    and execve exits read twenty)."""

    __slots__ = ("by_code", "names")

    def __init__(self, *names: str) -> None:
        self.names = names
        self.by_code: dict[int, tuple[Any, tuple[int, ...]]] = {}

    def values(self, evt: Any) -> list[Any]:
        info = evt.info
        got = self.by_code.get(info.code)
        if got is None or got[0] is not info:
            pi = info.param_index
            # a name the schema lacks gets an index past any list (evt.arg gives None for it too)
            got = self.by_code[info.code] = (info, tuple(pi.get(n, 1 << 30) for n in self.names))
        p = evt._params
        if p is None:
            p = evt.params
        n = len(p)
        return [p[i] if i < n else None for i in got[1]]


_SOCKET_EXIT = _Named("fd", "domain", "type", "proto")
_CLONE_EXIT = _Named("flags", "vtid", "vpid", "pid", "ptid", "exe", "comm", "args", "fdlimit", "pgft_maj",
                     "pgft_min", "vm_size", "vm_rss", "vm_swap", "uid", "gid", "cgroups")
#: thread attributes an execve exit sets from the parameters of the same names, when it has them
_EXECVE_MORE = ("cap_inheritable", "cap_permitted", "cap_effective", "exe_ino", "exe_ino_ctime", "exe_ino_mtime",
                "pidns_init_start_ts")
_EXECVE_EXIT = _Named("exe", "comm", "args", "pid", "ptid", "fdlimit", "pgft_maj", "pgft_min", "vm_size", "vm_rss",
                      "vm_swap", "env", "cgroups", "tty", "pgid", "loginuid", "flags", *_EXECVE_MORE)


def _set_memory_counters(t: Any, pf_maj: Any, pf_min: Any, vm_size: Any, vm_rss: Any, vm_swap: Any) -> None:
    """The page-fault and memory counters a clone or execve exit carries (those it has)."""
    if isinstance(pf_maj, int):
        t.pfmajor = pf_maj
    if isinstance(pf_min, int):
        t.pfminor = pf_min
    if isinstance(vm_size, int):
        t.vmsize_kb = vm_size
    if isinstance(vm_rss, int):
        t.vmrss_kb = vm_rss
    if isinstance(vm_swap, int):
        t.vmswap_kb = vm_swap


def _text(b: Any) -> str:
    if b is None:
        return ""
    if isinstance(b, str):
        return b
    return bytes(b).decode("utf-8", "surrogateescape")


def _split_nul(b: Any) -> list[str]:
    if not b:
        return []
    raw = bytes(b)
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    return [p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0")]


def _env_list(entries: list[str]) -> list[str]:
    """libsinsp's ``set_env`` stops where only NULs remain: drop trailing empty entries."""
    while entries and entries[-1] == "":
        entries.pop()
    return entries


_CGROUP_RENAMES = {"perf": "perf_event", "mem": "memory", "io": "blkio"}


def _cgroups(entries: list[str]) -> list[tuple[str, str]]:
    """``subsys=path`` entries the way libsinsp's ``set_cgroups`` names the subsystems."""
    out = []
    for e in entries:
        if not e:
            continue
        cut = e.rfind("=")
        if cut < 0:
            out.extend(parse_cgroups([e]))
            continue
        sub, path = e[:cut], e[cut + 1 :]
        sub = sub.replace("_cgroup", "", 1)
        sub = _CGROUP_RENAMES.get(sub, sub)
        out.append((sub, path))
    return out


#: raw ``cgroups`` parameter → its parsed list, shared by every thread with the same cgroups (they
#: are never modified in place): most processes of a host sit in a handful of cgroups
_CGROUPS_SHARED: dict[bytes, list[tuple[str, str]]] = {}
_CGROUPS_SHARED_MAX = 256


def _cgroups_param(raw: Any) -> list[tuple[str, str]]:
    key = bytes(raw) if raw else b""
    got = _CGROUPS_SHARED.get(key)
    if got is None:
        if len(_CGROUPS_SHARED) >= _CGROUPS_SHARED_MAX:
            _CGROUPS_SHARED.clear()
        got = _CGROUPS_SHARED[key] = _cgroups(_split_nul(key))
    return got


def ipv4_text(ip: bytes) -> str:
    return f"{ip[0]}.{ip[1]}.{ip[2]}.{ip[3]}"


def ipv6_text(ip: bytes) -> str:
    import ipaddress

    return ipaddress.IPv6Address(bytes(ip)).compressed


def _is_v4_mapped(ip: bytes) -> bool:
    return ip[:10] == b"\0" * 10 and (ip[10:12] == b"\xff\xff" or ip[10:] == b"\0" * 6)


# --- objects -----------------------------------------------------------------------------------------


class FdInfo:
    """One file descriptor of a process.

    Sockets keep both ends like libsinsp: ``sip``/``sport`` the client end, ``dip``/``dport``
    the server end (addresses as network-order bytes); server sockets use ``sip``/``sport``
    for the bound address. ``role`` tells which end this process is.
    """

    __slots__ = ("connected", "dev", "dip", "dport", "fd", "ino", "l4proto", "name", "nameraw", "oldname",
                 "openflags", "role", "sip", "sport", "type", "unix_dest", "unix_source")

    def __init__(self, fd: int, type_: int, name: str = "") -> None:
        self.fd = fd
        self.type = type_
        self.name = name
        #: the path as the program gave it (``fd.nameraw``); "" for everything but opened files
        self.nameraw = ""
        self.oldname = ""
        self.openflags = 0
        self.dev = 0
        self.ino = 0
        self.sip: bytes | None = None
        self.dip: bytes | None = None
        self.sport = 0
        self.dport = 0
        self.l4proto = L4_UNKNOWN
        self.role = ROLE_NONE
        self.connected = False
        self.unix_source = 0
        self.unix_dest = 0

    def copy(self, fd: int) -> FdInfo:
        # every slot spelled out: a clone copies the whole fd table, and a getattr/setattr loop
        # over __slots__ was most of the cost of a fork
        c = _new_fdinfo(FdInfo)
        c.connected = self.connected
        c.dev = self.dev
        c.dip = self.dip
        c.dport = self.dport
        c.fd = fd
        c.ino = self.ino
        c.l4proto = self.l4proto
        c.name = self.name
        c.nameraw = self.nameraw
        c.oldname = self.oldname
        c.openflags = self.openflags
        c.role = self.role
        c.sip = self.sip
        c.sport = self.sport
        c.type = self.type
        c.unix_dest = self.unix_dest
        c.unix_source = self.unix_source
        return c

    @property
    def typechar(self) -> str:
        return TYPECHARS.get(self.type, "?")

    @property
    def typestring(self) -> str | None:
        return TYPESTRINGS.get(self.type)

    def get_l4proto(self) -> int:
        t = self.type
        if t in _INET_SOCKS:
            if self.l4proto == L4_RAW:
                return L4_RAW
            if self.role == ROLE_NONE:
                return L4_NA
            return self.l4proto
        if t in (FD.IPV4_SERVSOCK, FD.IPV6_SERVSOCK):
            return self.l4proto
        return L4_NA

    def is_file(self) -> bool:
        return self.type in _FILE_TYPES

    def tuple_text(self) -> str:
        """``sip:sport->dip:dport`` (IPv4/IPv6 sockets) or ``ip:port`` (servers)."""
        t = self.type
        if t == FD.IPV4_SOCK:
            return (f"{ipv4_text(self.sip or bytes(4))}:{self.sport}->"
                    f"{ipv4_text(self.dip or bytes(4))}:{self.dport}")
        if t == FD.IPV6_SOCK:
            return (f"{ipv6_text(self.sip or bytes(16))}:{self.sport}->"
                    f"{ipv6_text(self.dip or bytes(16))}:{self.dport}")
        if t == FD.IPV4_SERVSOCK:
            return f"{ipv4_text(self.sip or bytes(4))}:{self.sport}"
        if t == FD.IPV6_SERVSOCK:
            return f"{ipv6_text(self.sip or bytes(16))}:{self.sport}"
        return self.name

    def __repr__(self) -> str:
        return f"FdInfo({self.fd}, {self.typechar!r}, {self.name!r})"


_new_fdinfo = object.__new__
assert len(FdInfo.__slots__) == 17, "FdInfo.copy spells out every slot: update it with __slots__"


class Thread:
    """One thread (libsinsp ``sinsp_threadinfo``). Process-wide data (cwd, fds) lives on the
    main thread; `main` finds it."""

    __slots__ = (
        "args",
        "cap_effective",
        "cap_inheritable",
        "cap_permitted",
        "cgroups",
        "clone_ts",
        "comm",
        "container_id",
        "cwd",
        "enter_evt",
        "enter_ts",
        "env",
        "exe",
        "exe_from_memfd",
        "exe_ino",
        "exe_ino_ctime",
        "exe_ino_mtime",
        "exe_lower_layer",
        "exe_upper_layer",
        "exe_writable",
        "exepath",
        "fdlimit",
        "fds",
        "flags",
        "gid",
        "lastevent_code",
        "lastevent_fd",
        "lastevent_valid",
        "latency",
        "loginuid",
        "nchilds",
        "pfmajor",
        "pfminor",
        "pid",
        "pidns_init_start_ts",
        "ptid",
        "root",
        "sid",
        "state",
        "tid",
        "tty",
        "uid",
        "vmrss_kb",
        "vmsize_kb",
        "vmswap_kb",
        "vpgid",
        "vpid",
        "vtid",
    )

    def __init__(self, state: State, tid: int) -> None:
        self.state = state
        self.tid = tid
        self.pid = tid
        self.ptid = -1
        self.sid = -1
        self.vpgid = -1
        self.comm = ""
        self.exe = ""
        self.exepath = ""
        self.exe_writable = False
        self.exe_ino = 0
        self.exe_ino_ctime = 0
        self.exe_ino_mtime = 0
        self.exe_from_memfd = False
        self.exe_upper_layer = False
        self.exe_lower_layer = False
        self.pidns_init_start_ts = 0
        self.args: list[str] = []
        self.env: list[str] = []
        self.cwd = ""
        self.uid = UID_NONE
        self.gid = UID_NONE
        self.loginuid = 0
        self.cap_inheritable = 0
        self.cap_permitted = 0
        self.cap_effective = 0
        self.tty = 0
        self.vtid = -1
        self.vpid = -1
        self.flags = 0
        self.fdlimit = -1
        self.fds: dict[int, FdInfo] = {}
        self.cgroups: list[tuple[str, str]] = []
        self.container_id = ""
        self.root = "/"
        self.clone_ts = 0
        self.nchilds = 0
        self.vmsize_kb = 0
        self.vmrss_kb = 0
        self.vmswap_kb = 0
        self.pfmajor = 0
        self.pfminor = 0
        self.lastevent_fd = 0
        self.lastevent_code = -1
        self.lastevent_valid = False
        self.enter_evt: Any = None
        self.enter_ts = 0
        self.latency = 0

    # process-level views ------------------------------------------------------------------------
    def is_main(self) -> bool:
        return self.pid == self.tid or bool(self.flags & CL_IS_MAIN_THREAD)

    def main(self) -> Thread | None:
        """The main thread of this thread's process (itself for single-threaded processes)."""
        if self.pid == self.tid or self.flags & CL_IS_MAIN_THREAD:
            return self
        return self.state.threads.get(self.pid)

    def fd_table(self) -> dict[int, FdInfo] | None:
        if not self.flags & CL_CLONE_FILES:
            return self.fds
        m = self.main()
        return None if m is None else m.fds

    def get_fd(self, fd: int) -> FdInfo | None:
        if self.flags & CL_CLONE_FILES:
            t = self.fd_table()
            if t is None:
                return None
        else:
            t = self.fds
        f = t.get(fd)
        if f is not None:
            f.oldname = f.name
        return f

    def add_fd(self, fd: int, info: FdInfo) -> FdInfo | None:
        """Track ``fd`` in the process's fd table (it becomes the event's fd); None when that table
        already holds `MAX_FD_TABLE_SIZE` other fds (counted in ``stats["fds_dropped"]``)."""
        self.lastevent_fd = fd
        t = self.fd_table()
        info.fd = fd
        if t is not None:
            if len(t) >= MAX_FD_TABLE_SIZE and fd not in t:
                self.state.stats["fds_dropped"] += 1
                return None
            t[fd] = info
        return info

    def put_fd(self, fd: int, info: FdInfo) -> bool:
        """An fd listed for this thread (capture header, /proc scan) into this thread's own table,
        as libsinsp's ``add_fd_from_scap`` does (not the process's: `fd_table`), unless it already
        holds `MAX_FD_TABLE_SIZE` other fds (counted in ``stats["fds_dropped"]``)."""
        t = self.fds
        info.fd = fd
        if len(t) >= MAX_FD_TABLE_SIZE and fd not in t:
            self.state.stats["fds_dropped"] += 1
            return False
        t[fd] = info
        return True

    def get_cwd(self) -> str:
        m = self.main()
        return m.cwd if m is not None else "./"

    def set_cwd(self, path: str) -> None:
        m = self.main()
        if m is None:
            return
        res, _rel = concat_paths(m.cwd, path)
        if not res.endswith("/"):
            res += "/"
        m.cwd = res

    def parent(self) -> Thread | None:
        return self.state.threads.get(self.ptid)

    def ancestors(self) -> Iterable[Thread]:
        """Parent, grandparent, … of the main thread (stops on loops, like libsinsp)."""
        mt = self.main()
        if mt is None:
            return
        seen = {id(mt)}
        p = mt.parent()
        while p is not None and p.tid != -1 and id(p) not in seen:
            yield p
            seen.add(id(p))
            if p.tid == p.ptid:
                return
            p = p.parent()

    def ancestor(self, n: int) -> Thread | None:
        """``[0]`` the process itself, ``[1]`` its parent, …"""
        mt = self.main()
        for _ in range(n):
            if mt is None:
                return None
            mt = mt.parent()
        return mt

    def cmdline(self) -> str:
        if self.args:
            return self.comm + " " + " ".join(self.args)
        return self.comm

    def __repr__(self) -> str:
        return f"Thread(tid={self.tid}, pid={self.pid}, ptid={self.ptid}, comm={self.comm!r})"


class Container:
    """Container metadata (from container JSON events of the capture, or a placeholder)."""

    __slots__ = (
        "created_time",
        "full_id",
        "id",
        "image",
        "imagedigest",
        "imageid",
        "imagerepo",
        "imagetag",
        "ip",
        "labels",
        "mounts",
        "name",
        "pod_labels",
        "privileged",
        "type",
    )

    def __init__(self, cid: str, type_: str = "docker") -> None:
        self.id = cid
        self.full_id = ""
        self.type = type_
        self.name = ""
        self.image = ""
        self.imageid = ""
        self.imagerepo = ""
        self.imagetag = ""
        self.imagedigest = ""
        self.ip = ""
        self.privileged = False
        self.labels: dict[str, str] = {}
        self.mounts: list[dict[str, Any]] = []
        #: the pod sandbox's labels (live CRI metadata, rae.containers.metadata); empty from captures
        self.pod_labels: dict[str, str] = {}
        #: creation time, ns since the epoch (0 when unknown)
        self.created_time = 0


#: container JSON "type" numbers (sinsp_container_type)
_CT_TYPES = {0: "docker", 1: "lxc", 2: "libvirt-lxc", 3: "mesos", 4: "rkt", 5: "cri", 6: "containerd",
             7: "cri-o", 8: "bpm", 9: "static", 10: "podman"}


# --- the engine --------------------------------------------------------------------------------------

#: executable facts a child inherits and a newer execve exit reports (by parameter name)
_EXE_ATTRS = ("exe_ino", "exe_ino_ctime", "exe_ino_mtime", "exe_from_memfd", "exe_upper_layer",
              "exe_lower_layer", "pidns_init_start_ts")
_CLONE_NAMES = frozenset(("clone", "fork", "vfork", "clone3"))
#: enter events whose parameters an exit handler (or an fd field) needs
_STORE_ENTER = frozenset((
    "open", "creat", "openat", "openat2", "socket", "execve", "execveat", "fcntl", "setuid", "setgid",
    "setresuid", "setresgid", "sendto", "sendmsg", "eventfd", "chdir", "fchdir", "setpgid",
    "syscall",  # generic events: the exit's syscall is named from the enter's nativeID
))

Handler = Callable[[Any, Thread], None]


class State:
    """Threads, fds, users, groups and containers of one event stream (one capture)."""

    def __init__(self, max_threads: int = DEFAULT_MAX_THREADS, max_containers: int = DEFAULT_MAX_CONTAINERS) -> None:
        self.threads: dict[int, Thread] = {}
        self.users: dict[int, Any] = {}
        self.groups: dict[int, Any] = {}
        self.containers: dict[str, Container] = {}
        self.interfaces: list[Any] = []
        self.machine: Any = None
        self.max_threads = max_threads
        self.max_containers = max_containers
        #: optional: tid → ThreadRecord (or (ThreadRecord, [FdRecord])) for a thread first seen in
        #: an event — live capture can read /proc here, as libsinsp does; None: a placeholder
        self.thread_lookup: Callable[[int], Any] | None = None
        #: optional: told of each container id first seen in cgroups (its placeholder); live capture
        #: sets it to rae.containers.metadata, which later replaces the placeholder with full metadata
        self.container_lookup: Callable[[Container], None] | None = None
        self.stats: dict[str, int] = {"threads_added": 0, "threads_removed": 0, "threads_dropped": 0,
                                      "fds_removed": 0, "fds_dropped": 0, "late_clones_ignored": 0,
                                      "containers_evicted": 0}
        #: the last cgroups list `_resolve_container` matched, and its match
        self._cgroups_match: tuple[Any, Any] = (None, None)
        #: tid → exit time of recently exited threads (insertion-ordered, at most RECENT_EXITS_MAX)
        self._recent_exits: dict[int, int] = {}
        #: timestamps: of the first event, of the current and of the previous one
        self.first_ts = 0
        self.cur_ts = 0
        self.prev_ts = 0
        #: evt.num of the last event whose parsing renamed its fd (fd.name_changed)
        self.name_changed_evt = -1
        #: evt.num of the last event whose fd only the fd fields see (not the parser's own)
        self.fd_fallback_evt = -1
        self._remove_tid: int | None = None
        #: the fd a close released, removed when the next event comes (its fields still see it)
        self._remove_fd: tuple[Thread, int] | None = None
        #: event code → its classification (see `_classify`)
        self._codes: dict[int, tuple[int, bool, bool, bool, bool, Handler | None, bool | None, bool, int | None]] = {}
        self._exit_only: frozenset[int] = frozenset()
        self._enter_handlers: dict[str, Handler] = {
            "close": self._close_enter,
            "connect": self._connect_enter,
            "fcntl": self._noop,
        }
        self._exit_handlers: dict[str, Handler] = {
            "open": self._open_exit, "creat": self._open_exit, "openat": self._open_exit,
            "openat2": self._open_exit,
            "clone": self._clone_exit, "fork": self._clone_exit, "vfork": self._clone_exit,
            "clone3": self._clone_exit,
            "execve": self._execve_exit, "execveat": self._execve_exit,
            "pipe": self._pipe_exit, "pipe2": self._pipe_exit,
            "socket": self._socket_exit, "socketpair": self._socketpair_exit,
            "bind": self._bind_exit, "connect": self._connect_exit,
            "accept": self._accept_exit, "accept4": self._accept_exit,
            "close": self._close_exit,
            "fcntl": self._fcntl_exit,
            "eventfd": self._simple_fd_exit(FD.EVENT), "eventfd2": self._simple_fd_exit(FD.EVENT),
            "signalfd": self._simple_fd_exit(FD.SIGNALFD), "signalfd4": self._simple_fd_exit(FD.SIGNALFD),
            "timerfd_create": self._simple_fd_exit(FD.TIMERFD),
            "inotify_init": self._simple_fd_exit(FD.INOTIFY),
            "inotify_init1": self._simple_fd_exit(FD.INOTIFY),
            "epoll_create": self._simple_fd_exit(FD.EVENTPOLL),
            "epoll_create1": self._simple_fd_exit(FD.EVENTPOLL),
            "userfaultfd": self._simple_fd_exit(FD.USERFAULTFD),
            "io_uring_setup": self._simple_fd_exit(FD.IOURING),
            "memfd_create": self._memfd_exit,
            "pidfd_open": self._simple_fd_exit(FD.PIDFD),
            "pidfd_getfd": self._simple_fd_exit(FD.PIDFD),
            "chdir": self._chdir_exit, "fchdir": self._fchdir_exit,
            "dup": self._dup_exit, "dup2": self._dup_exit, "dup3": self._dup_exit,
            "setuid": self._setuid_exit, "setgid": self._setgid_exit,
            "setresuid": self._setresuid_exit, "setresgid": self._setresgid_exit,
            "setsid": self._setsid_exit, "chroot": self._chroot_exit,
            "read": self._rw_exit, "write": self._rw_exit, "recv": self._rw_exit, "send": self._rw_exit,
            "recvfrom": self._rw_exit, "recvmsg": self._rw_exit, "sendto": self._rw_exit,
            "sendmsg": self._rw_exit, "readv": self._rw_exit, "writev": self._rw_exit,
            "pread": self._rw_exit, "pwrite": self._rw_exit, "preadv": self._rw_exit,
            "pwritev": self._rw_exit,
            "brk": self._vm_exit, "mmap": self._vm_exit, "mmap2": self._vm_exit, "munmap": self._vm_exit,
        }

    # --- initial state ---------------------------------------------------------------------------
    def load_header(self, reader: Any) -> None:
        """Initial state from a capture reader's header records (threads, fds, users, groups)."""
        self.machine = getattr(reader, "machine", None)
        self.interfaces = list(getattr(reader, "interfaces", []) or [])
        for u in getattr(reader, "users", []) or []:
            self.users[u.uid] = u
        for g in getattr(reader, "groups", []) or []:
            self.groups[g.gid] = g
        fds_by_tid: dict[int, list[Any]] = getattr(reader, "fds", {}) or {}
        for rec in getattr(reader, "threads", []) or []:
            self.add_thread_record(rec)
        for t in self.threads.values():
            if t.pid != t.tid:
                m = self.threads.get(t.pid)
                if m is not None:
                    m.nchilds += 1
        for tid, recs in fds_by_tid.items():
            t = self.threads.get(tid)
            if t is None:
                continue
            for r in recs:
                fi = self.fd_from_record(r)
                if fi is not None:
                    t.put_fd(r.fd, fi)
        self._fix_proc_sockets()

    def add_thread_record(self, rec: Any) -> Thread | None:
        """A thread of the capture's process list (libsinsp ``threadinfo::init``)."""
        t = Thread(self, rec.tid)
        t.pid = rec.pid
        t.ptid = rec.ptid
        t.sid = rec.sid if rec.sid is not None else -1
        t.vpgid = rec.vpgid if rec.vpgid is not None else -1
        t.comm = rec.comm
        t.exe = rec.exe
        t.exepath = rec.exepath or ""
        t.exe_writable = bool(rec.exe_writable)
        t.exe_ino = rec.exe_ino or 0
        t.exe_ino_ctime = rec.exe_ino_ctime or 0
        t.exe_ino_mtime = rec.exe_ino_mtime or 0
        t.exe_from_memfd = bool(rec.exe_from_memfd)
        t.exe_upper_layer = bool(rec.exe_upper_layer)
        t.exe_lower_layer = bool(rec.exe_lower_layer)
        t.pidns_init_start_ts = rec.pidns_init_start_ts or 0
        t.args = list(rec.args)
        t.flags = (rec.flags or 0) | CL_ACTIVE
        if t.is_main():
            t.env = _env_list(list(rec.env or []))
            cwd, _ = concat_paths("", rec.cwd)
            t.cwd = cwd if cwd.endswith("/") else cwd + "/"
        t.fdlimit = rec.fdlimit
        t.uid = rec.uid
        t.gid = rec.gid
        t.vmsize_kb = rec.vmsize_kb or 0
        t.vmrss_kb = rec.vmrss_kb or 0
        t.vmswap_kb = rec.vmswap_kb or 0
        t.pfmajor = rec.pfmajor or 0
        t.pfminor = rec.pfminor or 0
        t.vtid = rec.vtid if rec.vtid is not None else -1
        t.vpid = rec.vpid if rec.vpid is not None else -1
        t.tty = rec.tty or 0
        t.loginuid = rec.loginuid if rec.loginuid is not None else UID_NONE
        t.cap_inheritable = rec.cap_inheritable or 0
        t.cap_permitted = rec.cap_permitted or 0
        t.cap_effective = rec.cap_effective or 0
        t.root = rec.root or "/"
        t.cgroups = _cgroups(rec.cgroups or [])
        self._resolve_container(t)
        if not self._add_thread(t, from_proc=True):
            return None
        return t

    def fd_from_record(self, r: Any) -> FdInfo | None:
        """An fd of the capture's fd lists (libsinsp ``add_fd_from_scap``)."""
        typ = r.type
        fi = FdInfo(r.fd, typ, _printable(r.name or ""))
        fi.ino = r.ino or 0
        if typ == FD.IPV4_SOCK or typ == FD.IPV6_SOCK:
            sip, dip = r.sip or b"", r.dip or b""
            if typ == FD.IPV6_SOCK and len(sip) == 16 and _is_v4_mapped(sip) and _is_v4_mapped(dip):
                fi.type = FD.IPV4_SOCK
                sip, dip = sip[12:], dip[12:]
            fi.sip, fi.dip = bytes(sip), bytes(dip)
            fi.sport, fi.dport = r.sport or 0, r.dport or 0
            fi.l4proto = r.l4proto if r.l4proto is not None else L4_UNKNOWN
            fi.connected = fi.l4proto == L4_TCP
            self.infer_local_address(fi)
            fi.name = fi.tuple_text()
        elif typ == FD.IPV4_SERVSOCK or typ == FD.IPV6_SERVSOCK:
            fi.sip = bytes(r.sip or b"")
            fi.sport = r.sport or 0
            fi.l4proto = r.l4proto if r.l4proto is not None else L4_UNKNOWN
            fi.name = fi.tuple_text()
        elif typ == FD.UNIX_SOCK:
            fi.unix_source = r.source or 0
            fi.unix_dest = r.dest or 0
            fi.role = ROLE_SERVER if fi.name else ROLE_CLIENT
        elif typ == FD.FILE_V2:
            fi.openflags = r.open_flags or 0
            fi.dev = r.dev or 0
        fi.oldname = fi.name
        return fi

    def _iface_addrs(self, v6: bool) -> list[tuple[bytes, bytes]]:
        kinds = (2, 4) if v6 else (1, 3)
        out = []
        for itf in self.interfaces:
            if getattr(itf, "type", 0) in kinds:
                out.append((bytes(itf.addr), bytes(itf.netmask or b"")))
        return out

    def _infer_addr(self, dest: bytes, v6: bool) -> bytes:
        """The local address a socket talking to ``dest`` most likely has (libsinsp
        ``infer_ipv4_address``): an exact match, then same subnet, then the first non-loopback."""
        ifaces = self._iface_addrs(v6)
        for addr, _mask in ifaces:
            if addr == dest:
                return addr
        for addr, mask in ifaces:
            if v6:
                if addr[:8] == dest[:8]:
                    return addr
            elif mask and len(mask) == 4 and all((a & m) == (d & m) for a, d, m in zip(addr, dest, mask,
                                                                                       strict=False)):
                return addr
        loop = b"\0" * 15 + b"\x01" if v6 else b"\x7f\0\0\x01"
        for addr, _mask in ifaces:
            if addr != loop:
                return addr
        return bytes(16 if v6 else 4)

    def infer_local_address(self, fi: FdInfo) -> None:
        """Fill an unspecified end of a socket from the interface list (libsinsp ``update_fd``)."""
        if fi.type not in _INET_SOCKS:
            return
        v6 = fi.type == FD.IPV6_SOCK
        zero = bytes(16 if v6 else 4)
        sip = fi.sip or zero
        dip = fi.dip or zero
        if sip != zero and dip != zero:
            return
        if sip == zero:
            new = self._infer_addr(dip, v6)
            if new == dip and fi.sport == fi.dport:
                return
            fi.sip = new
        else:
            new = self._infer_addr(sip, v6)
            if new == sip and fi.sport == fi.dport:
                return
            fi.dip = new

    def _fix_proc_sockets(self) -> None:
        server_ports = {f.sport for t in self.threads.values() for f in t.fds.values()
                        if f.type in (FD.IPV4_SERVSOCK, FD.IPV6_SERVSOCK)}
        for t in self.threads.values():
            for f in t.fds.values():
                if f.type != FD.IPV4_SOCK:
                    continue
                if f.sport in server_ports:
                    f.sip, f.dip = f.dip, f.sip
                    f.sport, f.dport = f.dport, f.sport
                    f.name = f.oldname = f.tuple_text()
                    f.role = ROLE_SERVER
                else:
                    f.role = ROLE_CLIENT

    # --- thread table ----------------------------------------------------------------------------
    def _add_thread(self, t: Thread, from_proc: bool = False) -> bool:
        if len(self.threads) >= self.max_threads and t.tid not in self.threads:
            self.stats["threads_dropped"] += 1
            return False
        if not from_proc and t.flags & CL_CLONE_THREAD:
            m = self.threads.get(t.pid)
            if m is not None:
                m.nchilds += 1
        self.threads[t.tid] = t
        self.stats["threads_added"] += 1
        if self._recent_exits:
            self._recent_exits.pop(t.tid, None)  # the tid lives again
        return True

    def remove_thread(self, tid: int, force: bool = False) -> None:
        t = self.threads.get(tid)
        if t is None:
            return
        if t.nchilds and not force:
            return
        m = None
        if t.flags & CL_CLONE_THREAD and t.pid != t.tid:
            m = self.threads.get(t.pid)
            if m is not None and m.nchilds > 0:
                m.nchilds -= 1
        del self.threads[tid]
        self.stats["threads_removed"] += 1
        # a main thread that exited before its threads goes with the last of them (libsinsp keeps
        # it until an inactivity scan; a replay has none, so the table would only grow)
        if m is not None and m.nchilds == 0 and m.flags & CL_CLOSED:
            self.remove_thread(m.tid)

    def _fake_thread(self, tid: int) -> Thread | None:
        if len(self.threads) >= self.max_threads:
            self.stats["threads_dropped"] += 1
            return None
        if self.thread_lookup is not None:
            t = self._looked_up_thread(tid)
            if t is not None:
                return t
        t = Thread(self, tid)
        t.comm = "<NA>"
        t.exe = "<NA>"
        t.loginuid = UID_NONE
        self.threads[tid] = t
        self.stats["threads_added"] += 1
        if self._recent_exits:
            self._recent_exits.pop(tid, None)
        return t

    def _looked_up_thread(self, tid: int) -> Thread | None:
        """A thread unknown to the table, from ``thread_lookup`` (libsinsp asks /proc here)."""
        assert self.thread_lookup is not None
        try:
            found = self.thread_lookup(tid)
        except (OSError, ValueError):
            return None
        if found is None:
            return None
        rec, fds = found if isinstance(found, tuple) else (found, ())
        t = self.add_thread_record(rec)
        if t is None:
            return None
        for r in fds:
            fi = self.fd_from_record(r)
            if fi is not None:
                t.put_fd(r.fd, fi)
        return t

    # --- containers ------------------------------------------------------------------------------
    def _resolve_container(self, t: Thread) -> None:
        memo = self._cgroups_match
        if memo[0] is t.cgroups:  # a shared cgroups list seen just before (see `_cgroups_param`)
            m = memo[1]
        else:
            m = container_from_cgroups(t.cgroups)
            self._cgroups_match = (t.cgroups, m)
        if m is None:
            t.container_id = ""
            return
        t.container_id = m.id
        if m.id not in self.containers:
            c = Container(m.id, m.type)
            c.full_id = m.full_id
            self._put_container(m.id, c)
            if self.container_lookup is not None:
                self.container_lookup(c)

    def _put_container(self, cid: str, info: Container) -> None:
        """Bounded: past ``max_containers`` the oldest entry goes (counted); on a node that runs
        short-lived jobs for weeks, the oldest containers are the ones long gone."""
        containers = self.containers
        if cid not in containers and len(containers) >= self.max_containers:
            del containers[next(iter(containers))]
            self.stats["containers_evicted"] += 1
        containers[cid] = info

    def _container_thread(self, cid: str) -> Thread:
        t = Thread(self, -1)
        t.pid = -1
        t.vtid = t.vpid = -2
        t.comm = "container:" + cid
        t.container_id = cid
        t.uid = t.gid = 0
        return t

    def _container_json(self, evt: Any) -> str | None:
        raw = evt.arg("json")
        if not raw:
            return None
        try:
            doc = json.loads(bytes(raw).rstrip(b"\0").decode("utf-8", "replace"))
        except ValueError:
            return None
        c = doc.get("container") if isinstance(doc, dict) else None
        if not isinstance(c, dict):
            return None
        cid = c.get("id")
        if not isinstance(cid, str):
            return None
        info = Container(cid, _CT_TYPES.get(c.get("type", 0), "docker") if isinstance(c.get("type"), int)
                         else "docker")
        for key, attr in (("full_id", "full_id"), ("name", "name"), ("image", "image"),
                          ("imageid", "imageid"), ("imagerepo", "imagerepo"), ("imagetag", "imagetag"),
                          ("imagedigest", "imagedigest"), ("ip", "ip")):
            v = c.get(key)
            if isinstance(v, str):
                setattr(info, attr, v)
        ct = c.get("created_time")
        if isinstance(ct, int) and ct > 0:
            info.created_time = ct * 1_000_000_000 if ct < 10**12 else ct
        if isinstance(c.get("privileged"), bool):
            info.privileged = c["privileged"]
        labels = c.get("labels") or c.get("Labels")
        if isinstance(labels, dict):
            info.labels = {str(k): str(v) for k, v in labels.items()}
        mounts = c.get("Mounts") or c.get("mounts")
        if isinstance(mounts, list):
            info.mounts = [m for m in mounts if isinstance(m, dict)]
        self._put_container(cid, info)
        return cid

    def _container_evt(self, evt: Any) -> str | None:
        cid = _text(evt.arg("id"))
        if not cid:
            return None
        typ = evt.arg("type")
        info = Container(cid, _CT_TYPES.get(typ, "docker") if isinstance(typ, int) else "docker")
        info.name = _text(evt.arg("name"))
        info.image = _text(evt.arg("image"))
        self._put_container(cid, info)
        return cid

    # --- per event -------------------------------------------------------------------------------
    def set_exit_only(self, exit_codes: Iterable[int]) -> None:
        """Exit events whose enter events the source does not send (the live probe leaves them in
        the kernel, `layout.EXIT_COMPLETE`): each such exit stands for its own enter, so it never
        pairs with an older enter event or inherits the fd a previous call left in the thread."""
        self._exit_only = frozenset(exit_codes)
        self._codes.clear()

    def _classify(self, info: Any) -> tuple[int, bool, bool, bool, bool, Handler | None, bool | None, bool, int | None]:
        """Per event code, once: (kind, enter, store enter params, clone exit, procexit, handler,
        how to decode the ``fd`` first parameter alone — signed / unsigned / None: with the others —,
        copy_file_range, for an exit without an enter event: the index of its ``fd`` parameter, or
        -1 when it uses none; None for every other event)."""
        name = info.name
        if info.flags & EF_SKIPPARSERESET:
            kind = _K_SKIP
        elif name == "switch":
            kind = _K_SWITCH
        elif name == "container":
            kind = _K_CONTAINER
        else:
            kind = _K_SYSCALL
        enter = info.dir == ">"
        handler = (self._enter_handlers if enter else self._exit_handlers).get(name)
        fd0: bool | None = None
        if info.params and (info.params[0].type in _SIGNED_TYPES or info.params[0].type in _UNSIGNED_TYPES):
            fd0 = info.params[0].type in _SIGNED_TYPES
        return (kind, enter, enter and name in _STORE_ENTER, not enter and name in _CLONE_NAMES,
                name == "procexit", handler, fd0, name == "copy_file_range", self._noenter_fd(info, enter))

    def _noenter_fd(self, info: Any, enter: bool) -> int | None:
        if enter or info.code not in self._exit_only:
            return None
        i = info.param_index.get("fd")
        return i if i is not None and info.flags & EF_USES_FD else -1

    def process(self, evt: Any) -> None:
        """Update the state with one event and attach ``evt.thread`` / ``evt.fdinfo``."""
        rm = self._remove_fd
        if rm is not None:
            self._remove_fd = None
            tab = rm[0].fd_table()
            if tab is not None and tab.pop(rm[1], None) is not None:
                self.stats["fds_removed"] += 1
        if self._remove_tid is not None:
            tid = self._remove_tid
            self._remove_tid = None
            self.remove_thread(tid)
        info = evt.info
        code = evt.code
        cls = self._codes.get(code)
        if cls is None:
            cls = self._codes[code] = self._classify(info)
        kind, enter, store, clone_exit, procexit, handler, fd0, cfr, noenter = cls
        flags = info.flags
        evt.fdinfo = None
        evt.extra = self
        ts = evt.ts
        self.prev_ts = self.cur_ts or ts
        self.cur_ts = ts
        if not self.first_ts:
            self.first_ts = ts
        threads = self.threads
        tid = evt.tid
        if kind:
            if kind == _K_SKIP:
                # libsinsp attaches no thread here, but the fields look the thread up when they run
                evt.thread = threads.get(tid)
            elif kind == _K_SWITCH:
                t = evt.thread = threads.get(tid)
                if t is not None and evt.nparams >= 6:
                    p = evt.params
                    t.pfmajor, t.pfminor = p[1], p[2]
                    m = t.main()
                    if m is not None:
                        m.vmsize_kb, m.vmrss_kb, m.vmswap_kb = p[3], p[4], p[5]
            else:
                cid = None
                if evt.arg("json") is not None:
                    cid = self._container_json(evt)
                elif enter and evt.arg("id") is not None:
                    cid = self._container_evt(evt)
                # libsinsp gives a container event a detached thread standing for the container
                evt.thread = self._container_thread(cid) if cid else threads.get(tid)
            return
        t = threads.get(tid)
        if t is None:
            if clone_exit:
                evt.thread = None
                self._clone_exit(evt, None)
                # the fields find the thread the child's clone exit may just have created
                evt.thread = threads.get(tid)
                return
            t = self._fake_thread(tid)
            if t is None:
                evt.thread = None
                return
        evt.thread = t
        t.flags |= CL_ACTIVE
        if enter:
            t.lastevent_fd = -1
            t.lastevent_code = code
            t.enter_ts = ts
            t.latency = 0
            if store:
                raw = evt.raw
                if raw is not None and not (type(raw) is bytes or (type(raw) is memoryview
                                                                   and type(raw.obj) is bytes)):
                    _ = evt.params  # decode now: the reader may reuse its buffer
                t.enter_evt = evt
            else:
                t.enter_evt = None
            if flags & EF_USES_FD:
                if fd0 is None:
                    p = evt.params
                    fd = p[0] if p else None
                else:  # only the fd: the other parameters stay undecoded until someone asks
                    fd = _raw_int(evt, 0, fd0)
                if isinstance(fd, int):
                    t.lastevent_fd = fd
                    evt.fdinfo = t.get_fd(fd)
        else:
            if noenter is not None:  # what its enter event would have done, then the pairing (valid)
                t.lastevent_code = code - 1
                if noenter >= 0:  # the exit's handler decodes the rest anyway: decode all at once
                    p = evt.params
                    fd = p[noenter] if noenter < len(p) else None
                    if not isinstance(fd, int):
                        fd = -1
                else:
                    fd = -1
                t.lastevent_fd = fd
                t.enter_evt = None
                t.enter_ts = 0
                t.latency = 0
                valid = t.lastevent_valid = True
            else:
                if t.enter_ts:
                    t.latency = ts - t.enter_ts
                valid = t.lastevent_valid = code == t.lastevent_code + 1 or (
                    t.lastevent_code == EXECVEAT_E and info.name == "execve")
            if valid and flags & EF_USES_FD:
                if cfr:
                    fdout = evt.arg("fdout")
                    if isinstance(fdout, int):
                        t.lastevent_fd = fdout
                evt.fdinfo = t.get_fd(t.lastevent_fd)
        if handler is not None:
            handler(evt, t)
            t = evt.thread
        if procexit and t is not None:
            t.flags |= CL_CLOSED
            self._remove_tid = t.tid
            self._note_exit(t.tid, ts)
        fi = evt.fdinfo
        if fi is not None and fi.name != fi.oldname:
            self.name_changed_evt = evt.num
        # the fd as the fd fields see it (libsinsp extract_fd)
        if flags & EF_FD_ANY:
            if fi is None and t is not None and t.lastevent_fd != -1:
                fi = evt.fdinfo = t.get_fd(t.lastevent_fd)
                if fi is not None:
                    self.fd_fallback_evt = evt.num
        else:
            evt.fdinfo = None

    def _note_exit(self, tid: int, ts: int) -> None:
        rx = self._recent_exits
        rx.pop(tid, None)
        rx[tid] = ts
        if len(rx) > RECENT_EXITS_MAX:
            del rx[next(iter(rx))]

    def enter_event(self, evt: Any, t: Thread) -> Any:
        """The stored enter event matching exit ``evt`` (libsinsp ``retrieve_enter_event``)."""
        e = t.enter_evt
        if e is None or not t.lastevent_valid:
            return None
        if e.code != evt.code - 1 and not (e.code == EXECVEAT_E and evt.info.name == "execve"):
            return None
        return e

    # --- handlers --------------------------------------------------------------------------------
    def _noop(self, evt: Any, t: Thread) -> None:
        return None

    def _open_exit(self, evt: Any, t: Thread) -> None:
        info = evt.info
        name_ = info.name
        enter = None if t.enter_evt is None else self.enter_event(evt, t)
        got = _OPEN_INDEX.get(info.code)
        _, i_fd, i_name, i_flags, i_dev, i_ino, i_dirfd = got if got is not None and got[0] is info \
            else _open_index(info)
        p = evt._params
        if p is None:
            p = evt.params
        n = len(p)
        fd = p[i_fd] if i_fd is not None and i_fd < n else None
        if not isinstance(fd, int):
            return
        flags = 0
        path: Any = None
        sdir: str | None
        if name_ == "open":
            path = p[i_name] if i_name is not None and i_name < n else None
            flags = (p[i_flags] if i_flags is not None and i_flags < n else None) or 0
            if enter is not None and enter.nparams >= 2:
                ename = enter.arg("name")
                if ename and ename != b"(NULL)":
                    path = ename
                    flags = enter.arg("flags") or 0
            if fd < 0:
                return
            tpath = _text(path)
            sdir = t.get_cwd()
        elif name_ == "creat":
            path = p[i_name] if i_name is not None and i_name < n else None
            if enter is not None and enter.nparams >= 1:
                ename = enter.arg("name")
                if ename and ename != b"(NULL)":
                    path = ename
            if fd < 0:
                return
            tpath = _text(path)
            sdir = t.get_cwd()
        else:
            src = evt
            if name_ == "openat" and (i_name is None or i_name >= n or p[i_name] is None):
                # old openat exit carries only the fd: everything comes from the enter event
                if enter is None:
                    return
                src = enter
            elif enter is not None and enter.nparams >= 3:
                ename = enter.arg("name")
                if ename and ename != b"(NULL)":
                    src = enter
            if fd < 0:
                return
            if src is evt and i_flags is not None and i_dirfd is not None and i_flags < n and i_dirfd < n:
                path, flags, dirfd = p[i_name], p[i_flags] or 0, p[i_dirfd]  # type: ignore[index]
            else:
                path = src.arg("name")
                flags = src.arg("flags") or 0
                dirfd = src.arg("dirfd")
            tpath = path.decode("utf-8", "surrogateescape") if path.__class__ is bytes else _text(path)
            if tpath[:1] == "/" and _is_clean(tpath):
                sdir = None  # what concat_paths gives an absolute clean path, whatever the base
            else:
                sdir = self.dirfd_base(evt, t, tpath, dirfd if isinstance(dirfd, int) else AT_FDCWD)
        full = tpath if sdir is None else concat_paths(sdir, tpath)[0]
        fi = FdInfo(fd, FD.DIRECTORY if flags & O_DIRECTORY else FD.FILE_V2, full)
        fi.openflags = flags
        fi.nameraw = tpath
        dev = p[i_dev] if i_dev is not None and i_dev < n else None
        fi.dev = dev if isinstance(dev, int) else 0
        ino = p[i_ino] if i_ino is not None and i_ino < n else None
        fi.ino = ino if isinstance(ino, int) else 0
        evt.fdinfo = t.add_fd(fd, fi)

    def dirfd_base(self, evt: Any, t: Thread, name: str, dirfd: int) -> str:
        """The directory a *at() path is relative to (libsinsp ``parse_dirfd``)."""
        if name.startswith("/"):
            return "."
        if dirfd == AT_FDCWD:
            return t.get_cwd()
        fi = t.get_fd(dirfd)
        if fi is None:
            return "<UNKNOWN>"
        return fi.name if fi.name.endswith("/") else fi.name + "/"

    def _clone_exit(self, evt: Any, t: Thread | None) -> None:
        tid = evt.tid
        childtid = _iarg(evt, "res")
        if not isinstance(childtid, int) or childtid < 0:
            return
        (flags, p_vtid, p_vpid, pid, ptid, p_exe, p_comm, p_args, fdlimit, pf_maj, pf_min, vm_size, vm_rss, vm_swap,
         uid, gid, cgroups) = _CLONE_EXIT.values(evt)
        flags = flags or 0
        vtid, vpid = tid, -1
        has_v = "vtid" in evt.info.param_index
        if has_v:
            vtid = p_vtid if isinstance(p_vtid, int) else tid
            vpid = p_vpid if isinstance(p_vpid, int) else -1
        in_container = bool(flags & CL_CHILD_IN_PIDNS) or tid != vtid
        inverted = False
        if childtid == 0:
            if t is not None and t.clone_ts and evt.ts - t.clone_ts > CLONE_STALE_TIME_NS:
                self.remove_thread(tid, True)
                t = None
                evt.thread = None
            parenttid = pid if flags & CL_CLONE_THREAD else ptid
            if t is None:
                inverted = True
                childtid = tid
                tid = parenttid if isinstance(parenttid, int) else -1
            else:
                if in_container:
                    t.vtid = vtid
                    t.vpid = vpid
                return
        elif in_container:
            return
        elif self._recent_exits and childtid not in self.threads:
            exited = self._recent_exits.get(childtid)
            if exited is not None and abs(evt.ts - exited) <= RECENT_EXIT_WINDOW_NS:
                # the child already exec'd and exited (its exit was read first): don't re-create it
                del self._recent_exits[childtid]
                self.stats["late_clones_ignored"] += 1
                return
        ptinfo = self.threads.get(tid)
        if ptinfo is None:
            ptinfo = self._fake_thread(tid) if tid > 0 else None
            if ptinfo is None:
                return
        valid_parent = not (ptinfo.comm == "<NA>" and ptinfo.uid == UID_NONE)
        child = self.threads.get(childtid)
        if child is not None:
            if child.flags & CL_CLONE_INVERTED:
                return
            self.remove_thread(childtid, True)
        c = Thread(self, childtid)
        c.ptid = tid
        if flags & CL_CLONE_PARENT and not inverted and ptinfo.ptid > 0:
            c.ptid = ptinfo.ptid  # the caller's parent is the child's (runc's init stages use it)
        exe = _intern(_text(p_exe))
        comm = _intern(_text(p_comm)) if "comm" in evt.info.param_index else exe
        args = _split_nul(p_args)
        if valid_parent:
            c.comm, c.exe, c.exepath = ptinfo.comm, ptinfo.exe, ptinfo.exepath
            c.exe_writable = ptinfo.exe_writable
            c.args = list(ptinfo.args)
            c.root, c.sid, c.vpgid = ptinfo.root, ptinfo.sid, ptinfo.vpgid
            c.tty, c.loginuid = ptinfo.tty, ptinfo.loginuid
            c.cap_inheritable, c.cap_permitted = ptinfo.cap_inheritable, ptinfo.cap_permitted
            c.cap_effective = ptinfo.cap_effective
            for attr in _EXE_ATTRS:
                setattr(c, attr, getattr(ptinfo, attr))
            if not flags & CL_CLONE_THREAD:
                c.env = list(ptinfo.env)
        else:
            # the parent is itself a placeholder: take what the event says, for both
            ptinfo.comm, ptinfo.exe, ptinfo.args = comm, exe, list(args)
        c.pid = pid if isinstance(pid, int) else childtid
        c.flags = flags
        if not flags & CL_CLONE_THREAD:
            c.pid = childtid
            src = ptinfo.fd_table() or {}
            c.fds = {k: v.copy(k) for k, v in src.items()}
            c.cwd = ptinfo.get_cwd()
        if inverted:
            c.flags |= CL_CLONE_INVERTED
        c.exe = exe
        c.comm = comm
        c.args = args
        c.fdlimit = fdlimit if isinstance(fdlimit, int) else 0
        _set_memory_counters(c, pf_maj, pf_min, vm_size, vm_rss, vm_swap)
        c.uid = uid if isinstance(uid, int) else UID_NONE
        c.gid = gid if isinstance(gid, int) else UID_NONE
        if in_container:
            c.vtid, c.vpid = vtid, vpid
        else:
            c.vtid, c.vpid = c.tid, c.pid
        if has_v:
            c.cgroups = _cgroups_param(cgroups)
            self._resolve_container(c)
        elif valid_parent:
            c.cgroups = list(ptinfo.cgroups)
            c.container_id = ptinfo.container_id
        c.clone_ts = evt.ts
        self._add_thread(c)

    def _execve_exit(self, evt: Any, t: Thread) -> None:
        res = _iarg(evt, "res")
        if not isinstance(res, int) or res < 0:
            return
        pidx = evt.info.param_index
        (exe, comm, args, pid, ptid, fdlimit, pf_maj, pf_min, vm_size, vm_rss, vm_swap, env, cgroups, tty, pgid,
         loginuid, xflags, *more) = _EXECVE_EXIT.values(evt)
        t.exe = _intern(_text(exe))
        t.comm = _intern(_text(comm)) if "comm" in pidx else t.exe
        t.args = _split_nul(args)
        if isinstance(pid, int):
            t.pid = pid
        if t.ptid == -1 and isinstance(ptid, int):
            t.ptid = ptid
        if isinstance(fdlimit, int):
            t.fdlimit = fdlimit
        _set_memory_counters(t, pf_maj, pf_min, vm_size, vm_rss, vm_swap)
        if "env" in pidx:
            t.env = _env_list(_split_nul(env))
        if "cgroups" in pidx:
            t.cgroups = _cgroups_param(cgroups)
            self._resolve_container(t)
        if "tty" in pidx and isinstance(tty, int):
            t.tty = tty
        enter = self.enter_event(evt, t)
        t.exe_from_memfd = False
        if enter is not None:
            if enter.info.name == "execveat":
                self._execveat_exepath(evt, t, enter)
            elif "filename" in enter.info.param_index:
                fn = _text(enter.arg("filename"))
                if fn.startswith("<NA>"):
                    t.exepath = "<NA>"
                else:
                    t.exepath = concat_paths(t.cwd, fn)[0]
                    t.exe_from_memfd = _is_memfd(_proc_fd_entry(t, fn))
        if "pgid" in pidx and isinstance(pgid, int):
            t.vpgid = pgid
        if evt.nparams > 18 and isinstance(loginuid, int):
            t.loginuid = loginuid & 0xFFFFFFFF
        if evt.nparams > 19 and isinstance(xflags, int):
            t.exe_writable = bool(xflags & EXE_WRITABLE)
            if xflags & EXE_FROM_MEMFD:
                t.exe_from_memfd = True
        for attr, v in zip(_EXECVE_MORE, more, strict=True):
            if isinstance(v, int):  # None when the schema lacks it
                setattr(t, attr, v)
        keep = t.flags & (CL_PIPE_SRC | CL_PIPE_DST | CL_IS_MAIN_THREAD | CL_CLONE_INVERTED)
        t.flags = CL_ACTIVE | keep

    def _execveat_exepath(self, evt: Any, t: Thread, enter: Any) -> None:
        """``proc.exepath`` after execveat (libsinsp): with ``AT_EMPTY_PATH`` and no path, the
        file behind ``dirfd`` itself (a memfd for ``fexecve``), else the path relative to ``dirfd``."""
        dirfd = enter.arg("dirfd")
        dirfd = dirfd if isinstance(dirfd, int) else AT_FDCWD
        path = _text(enter.arg("pathname"))
        empty = bool((enter.arg("flags") or 0) & EXVAT_AT_EMPTY_PATH) and path in ("", "<NA>")
        if path.startswith("<NA>") and not empty:
            t.exepath = "<NA>"
            return
        sdir = self.dirfd_base(evt, t, path, dirfd)
        if sdir == "<UNKNOWN>":
            t.exepath = "<NA>"
        elif empty:
            t.exepath = concat_paths("", sdir)[0]
            t.exe_from_memfd = _is_memfd(t.get_fd(dirfd))
        else:
            t.exepath = concat_paths(sdir, path)[0]

    def _pipe_exit(self, evt: Any, t: Thread) -> None:
        res = _iarg(evt, "res")
        if not isinstance(res, int) or res < 0:
            return
        ino = evt.arg("ino")
        for pname in ("fd1", "fd2"):
            fd = evt.arg(pname)
            if isinstance(fd, int):
                fi = FdInfo(fd, FD.FIFO, "")
                fi.ino = ino if isinstance(ino, int) else 0
                evt.fdinfo = t.add_fd(fd, fi)

    def _socket_exit(self, evt: Any, t: Thread) -> None:
        fd, domain, typ, proto = _SOCKET_EXIT.values(evt)
        if not isinstance(fd, int) or fd < 0:
            return
        # newer drivers repeat the enter's parameters on the exit (and may send no enter)
        src = self.enter_event(evt, t) or (evt if domain is not None else None)
        if src is None:
            return
        if src is not evt:
            domain, typ, proto = src.arg("domain"), src.arg("type"), src.arg("proto")
        self.add_socket(evt, t, fd, domain or 0, typ or 0, proto or 0)

    def add_socket(self, evt: Any, t: Thread, fd: int, domain: int, typ: int, proto: int) -> None:
        fi = FdInfo(fd, FD.UNKNOWN, "")
        if domain == AF_UNIX:
            fi.type = FD.UNIX_SOCK
        elif domain in (AF_INET, AF_INET6):
            fi.type = FD.IPV4_SOCK if domain == AF_INET else FD.IPV6_SOCK
            l4 = L4_UNKNOWN
            if proto == IPPROTO_TCP:
                l4 = L4_RAW if typ == SOCK_RAW else L4_TCP
            elif proto == IPPROTO_UDP:
                l4 = L4_RAW if typ == SOCK_RAW else L4_UDP
            elif proto == IPPROTO_IP:
                if typ & 0xFF == SOCK_STREAM:
                    l4 = L4_TCP
                elif typ & 0xFF == SOCK_DGRAM:
                    l4 = L4_UDP
            elif proto == IPPROTO_ICMP:
                l4 = L4_RAW if typ == SOCK_RAW else L4_ICMP
            elif proto == IPPROTO_RAW:
                l4 = L4_RAW
            fi.l4proto = l4
        elif domain == AF_NETLINK:
            fi.type = FD.NETLINK
        if fi.type == FD.UNKNOWN:
            return
        evt.fdinfo = t.add_fd(fd, fi)

    def _socketpair_exit(self, evt: Any, t: Thread) -> None:
        res = _iarg(evt, "res")
        if not isinstance(res, int) or res < 0:
            return
        fd1, fd2 = evt.arg("fd1"), evt.arg("fd2")
        src, peer = evt.arg("source"), evt.arg("peer")
        if not isinstance(fd1, int) or not isinstance(fd2, int):
            return
        for i, fd in enumerate((fd1, fd2)):
            fi = FdInfo(fd, FD.UNIX_SOCK, "")
            fi.unix_source = src if isinstance(src, int) else 0
            fi.unix_dest = peer if isinstance(peer, int) else 0
            added = t.add_fd(fd, fi)
            if i == 0:
                evt.fdinfo = added

    def _bind_exit(self, evt: Any, t: Thread) -> None:
        fi = evt.fdinfo
        if fi is None:
            return
        res = _iarg(evt, "res")
        if not isinstance(res, int) or res < 0:
            return
        addr = evt.arg("addr")
        if not addr:
            return
        fam = addr[0]
        if fam == AF_INET and len(addr) >= 3:
            if addr[2] > 0:
                fi.type = FD.IPV4_SERVSOCK
                fi.sip, fi.sport = bytes(addr[1]), addr[2]
                fi.role = ROLE_SERVER
        elif fam == AF_INET6 and len(addr) >= 3:
            ip = bytes(addr[1])
            if addr[2] > 0:
                if _is_v4_mapped(ip):
                    fi.type = FD.IPV4_SERVSOCK
                    fi.sip = ip[12:]
                else:
                    fi.type = FD.IPV6_SERVSOCK
                    fi.sip = ip
                fi.sport = addr[2]
                fi.role = ROLE_SERVER
        fi.name = sockaddr_text(addr)

    def _connect_enter(self, evt: Any, t: Thread) -> None:
        fi = evt.fdinfo
        if fi is None or evt.nparams < 2:
            return
        self._connect_addr(fi, evt.arg("addr"))

    def _connect_addr(self, fi: FdInfo, addr: Any) -> None:
        """The destination a connect names, before its result is known."""
        if not addr:
            return
        fam = addr[0]
        if fam == AF_INET and len(addr) >= 3:
            fi.type = FD.IPV4_SOCK
            fi.dip, fi.dport = bytes(addr[1]), addr[2]
        elif fam == AF_INET6 and len(addr) >= 3:
            ip = bytes(addr[1])
            if _is_v4_mapped(ip):
                fi.type = FD.IPV4_SOCK
                fi.dip = ip[12:]
            else:
                fi.type = FD.IPV6_SOCK
                fi.dip = ip
            fi.dport = addr[2]
        else:
            fi.name = sockaddr_text(addr)
            if fam == AF_UNIX:
                fi.type = FD.UNIX_SOCK

    def _connect_exit(self, evt: Any, t: Thread) -> None:
        fi = evt.fdinfo
        if fi is None:
            return
        if evt.nparams >= 4 and self.enter_event(evt, t) is None:  # a newer exit with the enter's addr
            self._connect_addr(fi, evt.arg("addr"))
        res = _iarg(evt, "res")
        if not isinstance(res, int) or (res < 0 and res != -EINPROGRESS):
            return
        fi.connected = True
        tup = evt.arg("tuple")
        if not tup:
            return
        self._fill_client(fi, tup)

    def _fill_client(self, fi: FdInfo, tup: Any) -> None:
        fam = tup[0]
        if fam in (AF_INET, AF_INET6) and len(tup) >= 5:
            changed = self._set_tuple(fi, tup)
            if changed and fi.role == ROLE_SERVER and fi.type == FD.IPV4_SOCK and fi.l4proto == L4_UDP:
                _swap(fi)
            fi.name = fi.tuple_text()
        else:
            fi.name = socktuple_text(tup)
            if fam == AF_UNIX and len(tup) >= 3:
                fi.unix_source, fi.unix_dest = tup[1], tup[2]
        if fi.role == ROLE_NONE:
            fi.role = ROLE_CLIENT

    def _set_tuple(self, fi: FdInfo, tup: Any) -> bool:
        """Addresses of a socket from a SOCKTUPLE (libsinsp ``set_*_addresses_and_ports``)."""
        fam, sip, sport, dip, dport = tup[0], bytes(tup[1]), tup[2], bytes(tup[3]), tup[4]
        if fam == AF_INET6:
            if _is_v4_mapped(sip) and _is_v4_mapped(dip):
                fi.type = FD.IPV4_SOCK
                sip, dip = sip[12:], dip[12:]
            else:
                fi.type = FD.IPV6_SOCK
        else:
            fi.type = FD.IPV4_SOCK
        if fi.sip == sip and fi.sport == sport and fi.dip == dip and fi.dport == dport:
            return False
        if fi.sip == dip and fi.sport == dport and fi.dip == sip and fi.dport == sport:
            return False
        changed = False
        if fi.sip != sip:
            fi.sip, changed = sip, True
        if fi.sport != sport:
            fi.sport, changed = sport, True
        if fi.dip is None or not any(fi.dip):
            fi.dip, changed = dip, True
        if not fi.dport:
            fi.dport, changed = dport, True
        return changed

    def _accept_exit(self, evt: Any, t: Thread) -> None:
        fd = evt.arg("fd")
        if not isinstance(fd, int) or fd < 0:
            return
        t.lastevent_fd = fd
        tup = evt.arg("tuple")
        if not tup:
            return
        fam = tup[0]
        fi = FdInfo(fd, FD.UNKNOWN, "")
        if fam in (AF_INET, AF_INET6) and len(tup) >= 5:
            self._set_tuple(fi, tup)
            fi.l4proto = L4_TCP
        elif fam == AF_UNIX:
            fi.type = FD.UNIX_SOCK
            if len(tup) >= 3:
                fi.unix_source, fi.unix_dest = tup[1], tup[2]
        else:
            return
        fi.name = socktuple_text(tup)
        fi.role = ROLE_SERVER
        fi.connected = True
        evt.fdinfo = t.add_fd(fd, fi)

    def _close_enter(self, evt: Any, t: Thread) -> None:
        return None

    def _close_exit(self, evt: Any, t: Thread) -> None:
        res = _iarg(evt, "res")
        if isinstance(res, int) and res >= 0 and evt.fdinfo is not None:
            self._remove_fd = (t, t.lastevent_fd)

    def _fcntl_exit(self, evt: Any, t: Thread) -> None:
        enter = self.enter_event(evt, t)
        if enter is None:
            return
        cmd = enter.arg("cmd")
        if cmd not in (FCNTL_F_DUPFD, FCNTL_F_DUPFD_CLOEXEC):
            return
        res = _iarg(evt, "res")
        if isinstance(res, int) and res >= 0 and evt.fdinfo is not None:
            evt.fdinfo = t.add_fd(res, evt.fdinfo.copy(res))

    def _simple_fd_exit(self, typ: int) -> Handler:
        def handler(evt: Any, t: Thread) -> None:
            p = evt.params
            fd = p[0] if p else None
            if isinstance(fd, tuple):  # DYN (bpf): (index, value)
                fd = fd[1] if fd and fd[0] == 0 else None
            if isinstance(fd, int) and fd >= 0:
                evt.fdinfo = t.add_fd(fd, FdInfo(fd, typ, ""))

        return handler

    def _memfd_exit(self, evt: Any, t: Thread) -> None:
        fd = evt.arg("fd")
        if isinstance(fd, int) and fd >= 0:
            name = _text(evt.arg("name"))
            evt.fdinfo = t.add_fd(fd, FdInfo(fd, FD.MEMFD, "memfd:" + name if name else ""))

    def _chdir_exit(self, evt: Any, t: Thread) -> None:
        res = _iarg(evt, "res")
        if isinstance(res, int) and res >= 0:
            t.set_cwd(_text(evt.arg("path")))

    def _fchdir_exit(self, evt: Any, t: Thread) -> None:
        res = _iarg(evt, "res")
        if isinstance(res, int) and res >= 0 and evt.fdinfo is not None:
            t.set_cwd(evt.fdinfo.name)

    def _dup_exit(self, evt: Any, t: Thread) -> None:
        res = _iarg(evt, "res")
        if not isinstance(res, int) or res < 0:
            return
        if res == 0:
            t.flags |= CL_PIPE_DST
        elif res == 1:
            t.flags |= CL_PIPE_SRC
        if evt.fdinfo is None:
            return
        evt.fdinfo = t.add_fd(res, evt.fdinfo.copy(res))

    def _set_ids(self, evt: Any, t: Thread, param: str, attr: str, check_none: bool) -> None:
        res = _iarg(evt, "res")
        if not isinstance(res, int) or res < 0:
            return
        # newer drivers repeat the enter's parameters on the exit (and may send no enter)
        src = self.enter_event(evt, t) or evt
        v = src.arg(param)
        if isinstance(v, int) and (not check_none or v < UID_NONE):
            setattr(t, attr, v)

    def _setuid_exit(self, evt: Any, t: Thread) -> None:
        self._set_ids(evt, t, "uid", "uid", False)

    def _setgid_exit(self, evt: Any, t: Thread) -> None:
        self._set_ids(evt, t, "gid", "gid", False)

    def _setresuid_exit(self, evt: Any, t: Thread) -> None:
        self._set_ids(evt, t, "euid", "uid", True)

    def _setresgid_exit(self, evt: Any, t: Thread) -> None:
        self._set_ids(evt, t, "egid", "gid", True)

    def _setsid_exit(self, evt: Any, t: Thread) -> None:
        res = _iarg(evt, "res")
        if isinstance(res, int) and res >= 0:
            t.sid = res

    def _chroot_exit(self, evt: Any, t: Thread) -> None:
        res = _iarg(evt, "res")
        if res == 0:
            path = _text(evt.arg("path"))
            t.root = concat_paths(t.get_cwd(), path)[0]

    def _vm_exit(self, evt: Any, t: Thread) -> None:
        ints = _int_params_of(evt.info)
        for attr, pname in (("vmsize_kb", "vm_size"), ("vmrss_kb", "vm_rss"), ("vmswap_kb", "vm_swap")):
            spec = ints.get(pname)
            v = evt.arg(pname) if spec is None else _raw_int(evt, spec[0], spec[1])
            if isinstance(v, int):
                setattr(t, attr, v)

    def _rw_exit(self, evt: Any, t: Thread) -> None:
        fi = evt.fdinfo
        if fi is None or fi.type not in _TUPLE_SOCKS:
            return  # files, pipes…: nothing to learn (and no need to decode the data)
        res = _iarg(evt, "res")
        if not isinstance(res, int) or res < 0:
            return
        if fi.type in _INET_SOCKS:
            fi.connected = True
        name = evt.info.name
        if fi.name and fi.type == FD.IPV4_SOCK and fi.l4proto == L4_TCP:
            return
        if name in ("recvfrom", "recvmsg"):
            tup = evt.arg("tuple")
            incoming = True
        elif name in ("sendto", "sendmsg"):
            enter = self.enter_event(evt, t)
            if enter is None:
                return
            tup = enter.arg("tuple")
            incoming = False
        else:
            return
        if not tup:
            return
        fam = tup[0]
        if fam in (AF_INET, AF_INET6) and len(tup) >= 5:
            if not self._set_tuple(fi, tup):
                return
            if fi.l4proto == L4_UNKNOWN:
                fi.l4proto = L4_UDP
            self.infer_local_address(fi)
            if fi.role == ROLE_NONE:
                fi.role = ROLE_SERVER if incoming else ROLE_CLIENT
            if (incoming and fi.role == ROLE_CLIENT) or (not incoming and fi.role == ROLE_SERVER):
                _swap(fi)
            fi.name = fi.tuple_text()
        elif fam == AF_UNIX:
            fi.type = FD.UNIX_SOCK
            if len(tup) >= 4:
                fi.unix_source, fi.unix_dest = tup[1], tup[2]
                fi.name = _printable(_text(tup[3]))


_K_SYSCALL, _K_SKIP, _K_SWITCH, _K_CONTAINER = 0, 1, 2, 3


def _is_memfd(fi: FdInfo | None) -> bool:
    """An fd of a memfd: its own type, or the name /proc gives (``/memfd:NAME (deleted)``)."""
    return fi is not None and (fi.type == FD.MEMFD or fi.name.startswith(("memfd:", "/memfd:")))


def _proc_fd_entry(t: Thread, path: str) -> FdInfo | None:
    """The fd of ``t`` that ``/proc/self/fd/N``, ``/proc/<pid>/fd/N`` or ``/dev/fd/N`` names."""
    head, sep, num = path.rpartition("/")
    if not sep or not num.isdigit():
        return None
    if head in ("/dev/fd", "/proc/self/fd", f"/proc/{t.pid}/fd", "/proc/thread-self/fd"):
        return t.get_fd(int(num))
    return None


def _swap(fi: FdInfo) -> None:
    fi.sip, fi.dip = fi.dip, fi.sip
    fi.sport, fi.dport = fi.dport, fi.sport


def sockaddr_text(addr: Any) -> str:
    """A SOCKADDR value as libsinsp prints it (``1.2.3.4:80``, a unix path, ``family N``)."""
    if not addr:
        return "NULL"
    fam = addr[0]
    if fam == AF_UNIX:
        return _printable(_text(addr[1]) if len(addr) > 1 else "")
    if fam == AF_INET and len(addr) >= 3:
        return f"{ipv4_text(bytes(addr[1]))}:{addr[2]}"
    if fam == AF_INET6 and len(addr) >= 3:
        return f"{ipv6_text(bytes(addr[1]))}:{addr[2]}"
    return f"family {fam}"


def socktuple_text(tup: Any) -> str:
    """A SOCKTUPLE value as libsinsp prints it."""
    if not tup:
        return "NULL"
    fam = tup[0]
    if fam == AF_INET and len(tup) >= 5:
        return f"{ipv4_text(bytes(tup[1]))}:{tup[2]}->{ipv4_text(bytes(tup[3]))}:{tup[4]}"
    if fam == AF_INET6 and len(tup) >= 5:
        sip, dip = bytes(tup[1]), bytes(tup[3])
        if _is_v4_mapped(sip) and _is_v4_mapped(dip):
            return f"{ipv4_text(sip[12:])}:{tup[2]}->{ipv4_text(dip[12:])}:{tup[4]}"
        return f"{ipv6_text(sip)}:{tup[2]}->{ipv6_text(dip)}:{tup[4]}"
    if fam == AF_UNIX and len(tup) >= 4:
        return f"{tup[1]:x}->{tup[2]:x} {_printable(_text(tup[3]))}"
    return f"family {fam}"


def _printable(s: str) -> str:
    """libsinsp ``sanitize_string``: drop every character that is not printable ASCII."""
    if s.isascii() and s.isprintable():
        return s
    return "".join(c for c in s if " " <= c <= "~")


def split_image(image: str) -> tuple[str, str, str]:
    """``repo[:tag][@digest]`` → (repo, tag, digest), as libsinsp splits image names."""
    digest = ""
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = ""
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        image, tag = image[:colon], image[colon + 1 :]
    return image, tag, digest
