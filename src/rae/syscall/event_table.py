"""The event schema of the capture format, as `EventInfo` objects shared by decoder and extractors.

The raw facts (names, parameter types, print formats, flag tables) live in the generated module
`rae.syscall.event_table_data` (falcosecurity/libs 0.9.0, the schema of Falco 0.33/0.34 and of
Debian's sysdig 0.29.3); this module turns them into typed objects and adds the few helpers every
consumer needs (flag rendering, syscall names, fd-type codes).
"""

from __future__ import annotations

from rae.syscall import event_table_data as _data
from rae.syscall.events import EventInfo, ParamInfo

__all__ = [
    "DYN_TABLES",
    "EF_CREATES_FD",
    "EF_DESTROYS_FD",
    "EF_LARGE_PAYLOAD",
    "EF_MODIFIES_STATE",
    "EF_OLD_VERSION",
    "EF_READS_FROM_FD",
    "EF_SKIPPARSERESET",
    "EF_UNUSED",
    "EF_USES_FD",
    "EF_WAITS",
    "EF_WRITES_TO_FD",
    "EVENTS",
    "EVENTS_BY_NAME",
    "EVENT_MAX",
    "FD_TYPES",
    "FLAG_TABLES",
    "LIBS_TAG",
    "SYSCALL_NAMES",
    "code_of",
    "event_info",
    "render_flags",
]

LIBS_TAG: str = _data.LIBS_TAG

# EF_* event flags
EF_CREATES_FD = 1 << 0
EF_DESTROYS_FD = 1 << 1
EF_USES_FD = 1 << 2
EF_READS_FROM_FD = 1 << 3
EF_WRITES_TO_FD = 1 << 4
EF_MODIFIES_STATE = 1 << 5
EF_UNUSED = 1 << 6
EF_WAITS = 1 << 7
EF_SKIPPARSERESET = 1 << 8
EF_OLD_VERSION = 1 << 9
EF_LARGE_PAYLOAD = 1 << 11

# EC_* category bits: the low bits are the category proper, the high ones say where it came from
EC_SYSCALL = 1 << 9
EC_TRACEPOINT = 1 << 10
EC_PLUGIN = 1 << 11
EC_METAEVENT = 1 << 12
EC_INTERNAL = 1 << 8
_SOURCE_BITS = EC_INTERNAL | EC_SYSCALL | EC_TRACEPOINT | EC_PLUGIN | EC_METAEVENT

#: the category proper → its name (the spelling of libsinsp's evt.category, I/O split by kind)
_CATEGORY_NAMES = {
    0: "unknown", 1: "other", 2: "file", 3: "net", 4: "IPC", 5: "memory", 6: "process", 7: "sleep",
    8: "system", 9: "signal", 10: "user", 11: "time", 12: "processing", 32: "io_read",
    33: "io_write", 34: "io_other", 64: "wait", 128: "scheduler",
}

#: SCAP_FD_* codes of fd-list records (the fd kinds libscap knows)
FD_TYPES: dict[int, str] = {
    0: "UNKNOWN", 1: "FILE", 2: "DIRECTORY", 3: "IPV4_SOCK", 4: "IPV6_SOCK", 5: "IPV4_SERVSOCK",
    6: "IPV6_SERVSOCK", 7: "FIFO", 8: "UNIX_SOCK", 9: "EVENT", 10: "UNSUPPORTED", 11: "SIGNALFD",
    12: "EVENTPOLL", 13: "INOTIFY", 14: "TIMERFD", 15: "NETLINK", 16: "FILE_V2", 17: "BPF",
    18: "USERFAULTFD", 19: "IOURING", 20: "MEMFD", 21: "PIDFD",
}

#: flag/enum table name → ((flag name, value), …) in the order libsinsp scans them
FLAG_TABLES: dict[str, tuple[tuple[str, int], ...]] = _data.FLAG_TABLES
#: dynamic-parameter table name → {sub-type index: (PT type, PF format)}
DYN_TABLES: dict[str, dict[int, tuple[str, str]]] = _data.DYN_TABLES
#: PPM_SC code → syscall name (used by the generic ``syscall`` events' ``ID`` parameter)
SYSCALL_NAMES: tuple[str, ...] = _data.SYSCALL_NAMES


def _category(bits: int) -> str:
    return _CATEGORY_NAMES.get(bits & ~_SOURCE_BITS, "unknown")


def _build() -> tuple[EventInfo, ...]:
    out = []
    for code, (name, cat, flags, params) in enumerate(_data.EVENTS):
        pinfos = []
        for pname, ptype, pfmt, extra in params:
            if isinstance(extra, int):  # FSRELPATH: index of its dirfd parameter
                pinfos.append(ParamInfo(pname, ptype, pfmt, None, extra))
            else:
                pinfos.append(ParamInfo(pname, ptype, pfmt, extra))
        out.append(EventInfo(code, name, ">" if code % 2 == 0 else "<", _category(cat), flags,
                             tuple(pinfos), category_bits=cat))
    return tuple(out)


#: the event table, indexed by event code (PPME_*)
EVENTS: tuple[EventInfo, ...] = _build()
#: one past the highest known code; captures' events with larger codes are skipped
EVENT_MAX = len(EVENTS)
#: event name → all its codes' infos (every version, enter and exit), in code order
EVENTS_BY_NAME: dict[str, tuple[EventInfo, ...]] = {}
for _e in EVENTS:
    EVENTS_BY_NAME[_e.name] = (*EVENTS_BY_NAME.get(_e.name, ()), _e)
del _e

# A few meta events, by code (their names are shared by several versions of other events).
PPME_GENERIC_E = 0
PPME_GENERIC_X = 1
PPME_CONTAINER_E = 228
PPME_PROCINFO_E = 234
PPME_CONTAINER_JSON_E = 272
PPME_NOTIFICATION_E = 280
PPME_INFRASTRUCTURE_EVENT_E = 286
PPME_PLUGINEVENT_E = 322
PPME_CONTAINER_JSON_2_E = 324


def event_info(code: int) -> EventInfo | None:
    """The schema of event ``code``, or None if it is beyond the table."""
    return EVENTS[code] if 0 <= code < EVENT_MAX else None


def code_of(name: str, direction: str) -> int:
    """The newest (highest) code of event ``name`` in ``direction`` (">" or "<") that is not unused."""
    for info in reversed(EVENTS_BY_NAME.get(name, ())):
        if info.dir == direction and not info.flags & EF_UNUSED:
            return info.code
    raise KeyError(f"{name} {direction}")


def render_flags(table: str | None, value: int, *, exact: bool = False) -> str:
    """The symbolic form libsinsp shows in parentheses after a flags value (``O_RDONLY|O_CLOEXEC``).

    ``exact`` is for ENUMFLAGS parameters: the first entry equal to the value. For bit flags, the
    entries whose bits are all set are listed in table order (each consuming its bits); a zero
    value matches an entry whose value is zero. Returns "" when nothing matches.
    """
    entries = FLAG_TABLES.get(table or "", ())
    if exact:
        for fname, fval in entries:
            if fval == value:
                return fname
        return ""
    names = []
    rest = value
    for fname, fval in entries:
        if fval == value:
            names.append(fname)
            break
        if (fval == 0 and value == 0) or (fval != 0 and rest != 0 and rest & fval == fval):
            names.append(fname)
            rest &= ~fval
    return "|".join(names)
