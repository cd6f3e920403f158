"""The decoded syscall-event model shared by the capture reader, the state engine and the extractors.

Kept apart from the reader so that the state engine and the field extractors can be written (and
tested with hand-built events) without a capture file.

Decoded parameter values (``SyscallEvent.params[i]``), by ``ParamInfo.type`` (the libs
``PT_*`` name without the prefix):

==========================================================  ==========================================
type                                                        Python value
==========================================================  ==========================================
INT8 INT16 INT32 INT64, ERRNO, FD, PID                      ``int`` (signed)
UINT8 UINT16 UINT32 UINT64, FLAGS8/16/32, ENUMFLAGS8/16/32,  ``int`` (unsigned; flag names are rendered
UID, GID, MODE, SIGTYPE, SYSCALLID, PORT, L4PROTO,          from ``ParamInfo.flags_table`` by the
SOCKFAMILY, BOOL, SIGSET, RELTIME, ABSTIME                  renderer, see ``event_table.FLAG_TABLES``)
CHARBUF, FSPATH, FSRELPATH                                  ``bytes`` without the trailing NUL
BYTEBUF                                                     ``bytes``, exactly as stored (execve args /
                                                            env / cgroups are NUL-separated)
SOCKADDR                                                    ``(family, ip, port)`` for AF_INET (2) /
                                                            AF_INET6 (10), ``ip`` being the 4 / 16
                                                            network-order bytes; ``(1, path_bytes)``
                                                            for AF_UNIX; ``(family, rest_bytes)`` else
SOCKTUPLE                                                   ``(family, sip, sport, dip, dport)`` for
                                                            INET/INET6 (ips as bytes as above);
                                                            ``(1, src_u64, dst_u64, path_bytes)`` for
                                                            AF_UNIX; ``(family, rest_bytes)`` else
FDLIST                                                      ``list[tuple[int, int]]`` of (fd, flags)
IPV4ADDR, IPV6ADDR                                          ``bytes`` (4 / 16, network order)
IPNET                                                       ``bytes`` as stored
DOUBLE                                                      ``float``
DYN                                                         ``(index, value)``: ``value`` decoded by the
                                                            sub-type ``event_table.DYN_TABLES[
                                                            flags_table][index]`` names
anything else (NONE, unknown)                               ``bytes`` as stored
==========================================================  ==========================================

A zero-length parameter is "absent" and decodes to ``None`` (``b""`` for BYTEBUF). Only the
parameters present in the capture are in ``params`` (old drivers wrote fewer than the schema
lists; ``len(evt.params)`` may be smaller than ``len(evt.info.params)``).

``params`` is decoded lazily on first access from ``raw`` (the stored lengths array followed by
the parameter bytes); events built in code pass ``params`` directly and ``raw=None``.

State snapshots found before the first event of a capture (process list, fd lists, users,
groups, interfaces, machine info) are delivered as the plain records at the end of this module
(see ``rae.syscall.scap_reader``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rae.syscall.event_table_data import SYSCALL_NAMES as _SYSCALL_NAMES
from rae.syscall.probe.layout import NATIVE_SYSCALLS as _NATIVE_SYSCALLS

__all__ = [
    "EventInfo",
    "FdRecord",
    "GroupRecord",
    "InterfaceRecord",
    "MachineInfo",
    "ParamInfo",
    "SyscallEvent",
    "ThreadRecord",
    "UserRecord",
    "generic_syscall_name",
]

#: x86_64 syscall number → name, for generic events whose PPM code libs 0.9.0 lacks
_NATIVE_NAMES = {nr: name for name, nr in _NATIVE_SYSCALLS.items()}


def generic_syscall_name(evt: Any) -> str:
    """The syscall a generic ``syscall`` event stands for: its PPM code's name when libs 0.9.0
    knows it, else the name of its native syscall number (``nativeID``; an exit event has none
    and takes it from its enter event, which the state engine keeps on the thread), else
    ``<unknown>``. This is how ``memfd_create``, ``init_module`` or ``finit_module`` get their name."""
    p = evt.params
    ppm = p[0] if p else None
    if isinstance(ppm, int) and 0 < ppm < len(_SYSCALL_NAMES):
        return _SYSCALL_NAMES[ppm]
    native = p[1] if len(p) > 1 else None
    if native is None and evt.info.dir == "<":
        t = evt.thread
        enter = getattr(t, "enter_evt", None)
        if enter is not None and enter.code == evt.code - 1 and getattr(t, "lastevent_valid", False):
            ep = enter.params
            if len(ep) > 1 and (ep[0] == ppm or ppm is None):
                native = ep[1]
    name = _NATIVE_NAMES.get(native) if isinstance(native, int) else None
    return name or _SYSCALL_NAMES[0]


@dataclass(slots=True, frozen=True)
class ParamInfo:
    """One parameter of an event schema."""

    name: str
    #: PT_* name without the prefix ("FD", "CHARBUF", "FLAGS32"…)
    type: str
    #: PF_* print format without the prefix ("DEC", "HEX", "OCT", "NA"…)
    fmt: str
    #: flag/enum table (FLAGS*, ENUMFLAGS*, MODE) or dynamic-param table (DYN) name, else None
    flags_table: str | None = None
    #: FSRELPATH only: index of the parameter holding the directory fd the path is relative to
    dirfd: int | None = None


@dataclass(slots=True)
class EventInfo:
    """The schema of one event type (one row of the event table)."""

    code: int
    name: str
    #: ">" enter, "<" exit
    dir: str
    category: str
    flags: int
    params: tuple[ParamInfo, ...]
    #: all EC_* bits (``category`` is the name of the category proper; these add syscall/tracepoint…)
    category_bits: int = 0
    #: parameter name → index in ``params`` (filled by ``__post_init__``)
    param_index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.param_index:
            self.param_index = {p.name: i for i, p in enumerate(self.params)}


def _decode(evt: SyscallEvent) -> list[Any]:
    """Replaced by `rae.syscall.scap_reader.decode_params` when that module is imported."""
    from rae.syscall.scap_reader import decode_params

    return decode_params(evt)


class SyscallEvent:
    """One event of a capture; ``params`` decodes lazily, the state slots are filled by the engine.

    Written as a ``__slots__`` class (not a dataclass) so that ``params`` can be a lazy property;
    the constructor takes the same arguments as the dataclass would.
    """

    __slots__ = ("_params", "code", "cpu", "extra", "fdinfo", "info", "nparams", "num", "raw", "thread",
                 "tid", "ts")

    def __init__(
        self,
        num: int,
        ts: int,
        tid: int,
        cpu: int,
        code: int,
        info: EventInfo,
        params: list[Any] | None = None,
        raw: memoryview | bytes | None = None,
        thread: Any = None,
        fdinfo: Any = None,
        extra: Any = None,
        nparams: int | None = None,
    ) -> None:
        self.num = num
        self.ts = ts
        self.tid = tid
        self.cpu = cpu
        self.code = code
        self.info = info
        self._params = params  # None: not decoded yet
        self.raw = raw
        #: number of parameters present (``len(params)``)
        self.nparams = nparams if nparams is not None else (len(params) if params is not None else 0)
        self.thread = thread
        self.fdinfo = fdinfo
        self.extra = extra

    @property
    def params(self) -> list[Any]:
        p = self._params
        if p is None:
            p = self._params = _decode(self)
        return p

    @params.setter
    def params(self, value: list[Any]) -> None:
        self._params = value
        self.nparams = len(value)

    @property
    def evtype(self) -> str:
        """The event-type name rules see: for generic ``syscall`` events, the syscall's name."""
        name = self.info.name
        if name == "syscall":
            return generic_syscall_name(self)
        return name

    @property
    def dir(self) -> str:
        return self.info.dir

    def arg(self, name: str) -> Any:
        """The decoded parameter ``name``, or None when the schema or this event lacks it."""
        i = self.info.param_index.get(name)
        if i is None:
            return None
        p = self._params
        if p is None:
            p = self.params
        return p[i] if i < len(p) else None

    def __repr__(self) -> str:
        return (f"SyscallEvent(num={self.num}, ts={self.ts}, tid={self.tid}, cpu={self.cpu}, "
                f"{self.info.dir} {self.info.name})")


# --- state snapshots (header blocks of a capture) -------------------------------------------------
# Text is decoded as UTF-8 with "surrogateescape" so that the writer can re-encode it losslessly.


@dataclass(slots=True)
class MachineInfo:
    num_cpus: int
    memory_bytes: int
    max_pid: int
    hostname: str
    boot_ts: int = 0
    flags: int = 0
    reserved3: int = 0
    reserved4: int = 0


@dataclass(slots=True)
class ThreadRecord:
    """One thread of a process-list block (fields absent from older block versions stay None)."""

    tid: int
    pid: int
    ptid: int
    comm: str
    exe: str
    args: list[str]
    cwd: str
    fdlimit: int
    flags: int
    uid: int
    gid: int
    sid: int | None = None
    vpgid: int | None = None
    exepath: str | None = None
    vmsize_kb: int | None = None
    vmrss_kb: int | None = None
    vmswap_kb: int | None = None
    pfmajor: int | None = None
    pfminor: int | None = None
    env: list[str] | None = None
    vtid: int | None = None
    vpid: int | None = None
    cgroups: list[str] | None = None
    root: str | None = None
    pidns_init_start_ts: int | None = None
    tty: int | None = None
    loginuid: int | None = None
    exe_writable: bool | None = None
    cap_inheritable: int | None = None
    cap_permitted: int | None = None
    cap_effective: int | None = None
    exe_upper_layer: bool | None = None
    exe_ino: int | None = None
    exe_ino_ctime: int | None = None
    exe_ino_mtime: int | None = None
    exe_from_memfd: bool | None = None
    exe_lower_layer: bool | None = None
    pgid: int | None = None


@dataclass(slots=True)
class FdRecord:
    """One fd of an fd-list block. ``type`` is the SCAP_FD_* code (``event_table.FD_TYPES``)."""

    tid: int
    fd: int
    ino: int
    type: int
    #: path / description for file-like types (also the unix socket path)
    name: str | None = None
    open_flags: int | None = None
    dev: int | None = None
    #: INET/INET6 sockets: 4/16 network-order bytes; servers fill only sip/sport
    sip: bytes | None = None
    dip: bytes | None = None
    sport: int | None = None
    dport: int | None = None
    #: SCAP_L4_*: 0 unknown, 1 n/a, 2 TCP, 3 UDP, 4 ICMP, 5 raw
    l4proto: int | None = None
    #: unix sockets: kernel socket addresses of both ends
    source: int | None = None
    dest: int | None = None


@dataclass(slots=True)
class InterfaceRecord:
    """An interface address: ``type`` 1 IPv4, 2 IPv6 (3/4: the same without link speed)."""

    type: int
    name: str
    addr: bytes
    netmask: bytes
    bcast: bytes
    linkspeed: int = 0


@dataclass(slots=True)
class UserRecord:
    uid: int
    gid: int
    name: str
    homedir: str
    shell: str


@dataclass(slots=True)
class GroupRecord:
    gid: int
    name: str
