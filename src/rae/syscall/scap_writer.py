"""Writes ``.scap`` captures that sysdig/Falco (libs 0.9.0 and later) read back with the same values.

Used by live capture and by the benchmark generator. The layout written is the 2019+ one: a
section header (1.2), machine info, process list V9, fd lists V2, interface list V2, user list V2,
then one ``EV_V2`` block (``EV_V2_LARGE`` for large-payload or > 64 KiB events) per event::

    with ScapWriter("out.scap") as w:            # gzip=True for a gzip'd file
        w.write_header(machine=..., threads=..., fds=..., users=..., groups=..., interfaces=...)
        # or: w.write_header_from(reader)
        for evt in events:
            w.write_event(evt)                   # or w.write_raw(code, ts, tid, cpu, nparams, raw)

Events read from a capture are written from their raw parameter bytes (old v1 events gain their
inferred ``nparams``); events built in code are encoded from ``params`` by the event table's
parameter types (`encode_value`). Process records keep only the optional V9 trailing fields that
libs 0.9.0 knows (loginuid, exe_writable, capabilities), since older readers would misplace the
newer ones.
"""

from __future__ import annotations

import gzip as _gzip
import struct
from collections.abc import Iterable, Mapping
from typing import IO, Any

from rae.syscall.event_table import DYN_TABLES, EF_LARGE_PAYLOAD, EVENTS
from rae.syscall.events import (
    FdRecord,
    GroupRecord,
    InterfaceRecord,
    MachineInfo,
    SyscallEvent,
    ThreadRecord,
    UserRecord,
)

__all__ = ["ScapWriter", "encode_params", "encode_value"]

SHB_BLOCK = 0x0A0D0D0A
MI_BLOCK = 0x201
PL_V9_BLOCK = 0x215
FDL_V2_BLOCK = 0x218
IL_V2_BLOCK = 0x219
UL_V2_BLOCK = 0x220
EV_V2_BLOCK = 0x216
EV_V2_LARGE_BLOCK = 0x221

_EVHDR = struct.Struct("<IIHQqIHI")  # block type, block len, cpu, ts, tid, evt len, code, nparams
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_MI = struct.Struct("<IQQ128sQQQQ")
_NON_LARGE_MAX = 65536
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


def _enc(s: str | None) -> bytes:
    return (s or "").encode("utf-8", "surrogateescape")


# libscap refuses a whole capture whose header strings exceed its buffers ("invalid argslen 25713"),
# so strings are cut to what it accepts: paths < SCAP_MAX_PATH_SIZE (1024), argv/env/cgroups blobs
# <= 4096 (SCAP_MAX_ARGS_SIZE and friends), user and group strings < MAX_CREDENTIALS_STR_LEN (256).
PATH_MAX_LEN = 1023
BLOB_MAX_LEN = 4096
CREDENTIAL_MAX_LEN = 255


def _str16(s: str | None, limit: int = PATH_MAX_LEN) -> bytes:
    b = _enc(s)
    if len(b) > limit:
        b = b[:limit]
    return _U16.pack(len(b)) + b


def _list16(items: list[str] | None) -> bytes:
    """NUL-separated strings, cut like libscap's /proc scan: at most 4096 bytes, NUL-terminated."""
    b = _enc("".join(i + "\0" for i in items) if items else "")
    if len(b) > BLOB_MAX_LEN:
        b = b[:BLOB_MAX_LEN - 1] + b"\0"
    return _U16.pack(len(b)) + b


class ScapWriter:
    """Writes one capture; see the module docstring."""

    def __init__(self, path_or_file: str | IO[bytes], *, gzip: bool = False, compresslevel: int = 6) -> None:
        if isinstance(path_or_file, str):
            raw: IO[bytes] = open(path_or_file, "wb")  # noqa: SIM115 (closed by close())
            self._owned = True
        else:
            raw = path_or_file
            self._owned = False
        self._raw = raw
        self._f: IO[bytes] = (_gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=0)
                              if gzip else raw)
        self._header_written = False
        self.nevents = 0

    def __enter__(self) -> ScapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._header_written:
            self.write_header()
        if self._f is not self._raw:
            self._f.close()
        if self._owned:
            self._raw.close()
        else:
            self._raw.flush()

    def _block(self, btype: int, body: bytes) -> None:
        pad = _PAD[len(body) % 4]
        blen = 12 + len(body) + len(pad)
        self._f.write(b"".join((struct.pack("<II", btype, blen), body, pad, _U32.pack(blen))))

    # -- header
    def write_header(
        self,
        *,
        machine: MachineInfo | None = None,
        threads: Iterable[ThreadRecord] = (),
        fds: Mapping[int, Iterable[FdRecord]] | None = None,
        users: Iterable[UserRecord] = (),
        groups: Iterable[GroupRecord] = (),
        interfaces: Iterable[InterfaceRecord] = (),
    ) -> None:
        """Section header and metadata blocks; must come before the first event (once)."""
        if self._header_written:
            raise RuntimeError("capture header already written")
        self._header_written = True
        self._block(SHB_BLOCK, struct.pack("<IHHq", 0x1A2B3C4D, 1, 2, -1))
        if machine is not None:
            self._block(MI_BLOCK, _MI.pack(machine.num_cpus, machine.memory_bytes, machine.max_pid,
                                           _enc(machine.hostname)[:127], machine.boot_ts, machine.flags,
                                           machine.reserved3, machine.reserved4))
        threads = list(threads)
        if threads:
            self._write_pl(threads)
        for tid, lst in (fds or {}).items():
            self._block(FDL_V2_BLOCK, struct.pack("<Q", tid & 0xFFFFFFFFFFFFFFFF)
                        + b"".join(_fd_record(r) for r in lst))
        interfaces = list(interfaces)
        if interfaces:
            self._block(IL_V2_BLOCK, b"".join(_if_entry(i) for i in interfaces))
        users, groups = list(users), list(groups)
        if users or groups:
            body = [_user_entry(u) for u in users] + [_group_entry(g) for g in groups]
            self._block(UL_V2_BLOCK, b"".join(body))

    def write_header_from(self, reader: Any) -> None:
        """The header records of a `ScapReader` (after its ``read_header``)."""
        reader.read_header()
        self.write_header(machine=reader.machine, threads=reader.threads, fds=reader.fds,
                          users=reader.users, groups=reader.groups, interfaces=reader.interfaces)

    def _write_pl(self, threads: list[ThreadRecord]) -> None:
        # Split into blocks of at most ~1 MiB: readers have no limit, but it keeps memory flat.
        chunk: list[bytes] = []
        size = 0
        for t in threads:
            rec = _thread_record(t)
            chunk.append(rec)
            size += len(rec)
            if size > 1 << 20:
                self._block(PL_V9_BLOCK, b"".join(chunk))
                chunk, size = [], 0
        if chunk:
            self._block(PL_V9_BLOCK, b"".join(chunk))

    # -- events
    def write_raw(self, code: int, ts: int, tid: int, cpu: int, nparams: int,
                  raw: bytes | memoryview) -> None:
        """One event from its parts: ``raw`` is the lengths array followed by the parameter bytes."""
        if not self._header_written:
            self.write_header()
        elen = 26 + len(raw)
        body_len = 2 + elen
        pad = _PAD[body_len % 4]
        blen = 8 + body_len + len(pad) + 4
        # readers refuse non-large event blocks whose content (all but the 8-byte header) exceeds 64 KiB
        large = blen - 8 > _NON_LARGE_MAX or EVENTS[code].flags & EF_LARGE_PAYLOAD
        f = self._f
        f.write(_EVHDR.pack(EV_V2_LARGE_BLOCK if large else EV_V2_BLOCK, blen, cpu,
                            ts & 0xFFFFFFFFFFFFFFFF, tid, elen, code, nparams))
        f.write(raw)
        f.write(pad + _U32.pack(blen))
        self.nevents += 1

    def write_event(self, evt: SyscallEvent, *, ts: int | None = None, tid: int | None = None) -> None:
        """One event (``ts``/``tid`` override the event's own, e.g. to shift copies in time)."""
        if evt.raw is not None:
            raw, n = evt.raw, evt.nparams
        else:
            raw, n = encode_params(evt.code, evt.params), len(evt.params)
        self.write_raw(evt.code, evt.ts if ts is None else ts, evt.tid if tid is None else tid, evt.cpu, n,
                       raw)


# --- records ---------------------------------------------------------------------------------------


def _thread_record(t: ThreadRecord) -> bytes:
    def u64(v: int | None) -> bytes:
        return struct.pack("<Q", (v or 0) & 0xFFFFFFFFFFFFFFFF)

    def i64(v: int | None, default: int) -> bytes:
        return struct.pack("<q", default if v is None else v)

    # absent fields get libscap's defaults for records of older versions
    parts = [
        u64(t.tid), u64(t.pid), u64(t.ptid), i64(t.sid, -1), i64(t.vpgid, -1),
        _str16(t.comm), _str16(t.exe), _str16(t.exepath),
        _list16(t.args), _str16(t.cwd),
        struct.pack("<QIII", t.fdlimit & 0xFFFFFFFFFFFFFFFF, t.flags, t.uid & 0xFFFFFFFF, t.gid & 0xFFFFFFFF),
        struct.pack("<IIIQQ", t.vmsize_kb or 0, t.vmrss_kb or 0, t.vmswap_kb or 0, t.pfmajor or 0,
                    t.pfminor or 0),
        _list16(t.env),
        i64(t.vtid, -1), i64(t.vpid, -1), _list16(t.cgroups), _str16(t.root),
    ]
    tail = [
        (t.loginuid, lambda v: struct.pack("<i", v if v < 0x80000000 else v - (1 << 32))),
        (t.exe_writable, lambda v: struct.pack("<B", 1 if v else 0)),
        (t.cap_inheritable, lambda v: struct.pack("<Q", v)),
        (t.cap_permitted, lambda v: struct.pack("<Q", v)),
        (t.cap_effective, lambda v: struct.pack("<Q", v)),
    ]
    last = max((i for i, (v, _) in enumerate(tail) if v is not None), default=-1)
    for i, (v, enc) in enumerate(tail[:last + 1]):
        parts.append(enc(v if v is not None else (-1 if i == 0 else 0)))
    body = b"".join(parts)
    return _U32.pack(4 + len(body)) + body


def _fd_record(r: FdRecord) -> bytes:
    head = struct.pack("<qQB", r.fd, r.ino & 0xFFFFFFFFFFFFFFFF, r.type)
    t = r.type
    if t == 3:
        body = (r.sip or b"\0" * 4) + (r.dip or b"\0" * 4) + struct.pack("<HHB", r.sport or 0, r.dport or 0,
                                                                         r.l4proto or 0)
    elif t == 5:
        body = (r.sip or b"\0" * 4) + struct.pack("<HB", r.sport or 0, r.l4proto or 0)
    elif t == 4:
        body = (r.sip or b"\0" * 16) + (r.dip or b"\0" * 16) + struct.pack("<HHB", r.sport or 0, r.dport or 0,
                                                                           r.l4proto or 0)
    elif t == 6:
        body = (r.sip or b"\0" * 16) + struct.pack("<HB", r.sport or 0, r.l4proto or 0)
    elif t == 8:
        body = struct.pack("<QQ", r.source or 0, r.dest or 0) + _str16(r.name)
    elif t == 16:
        body = _U32.pack(r.open_flags or 0) + _str16(r.name)
        if r.dev is not None:
            body += _U32.pack(r.dev)
    elif t == 0:
        body = b""
    else:
        body = _str16(r.name)
    rec = head + body
    return _U32.pack(4 + len(rec)) + rec


def _if_entry(i: InterfaceRecord) -> bytes:
    name = _enc(i.name)
    body = struct.pack("<HH", i.type, len(name)) + i.addr + i.netmask + i.bcast
    if i.type in (1, 2):
        body += struct.pack("<Q", i.linkspeed)
    body += name
    return _U32.pack(len(body)) + body


def _user_entry(u: UserRecord) -> bytes:
    body = (struct.pack("<BII", 0, u.uid & 0xFFFFFFFF, u.gid & 0xFFFFFFFF) + _str16(u.name, CREDENTIAL_MAX_LEN)
            + _str16(u.homedir, CREDENTIAL_MAX_LEN) + _str16(u.shell, CREDENTIAL_MAX_LEN))
    return _U32.pack(4 + len(body)) + body


def _group_entry(g: GroupRecord) -> bytes:
    body = struct.pack("<BI", 1, g.gid & 0xFFFFFFFF) + _str16(g.name, CREDENTIAL_MAX_LEN)
    return _U32.pack(4 + len(body)) + body


# --- parameter encoding ----------------------------------------------------------------------------

_SIZES = {"INT8": 1, "INT16": 2, "INT32": 4, "INT64": 8, "UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8,
          "ERRNO": 8, "FD": 8, "PID": 8, "FLAGS8": 1, "FLAGS16": 2, "FLAGS32": 4, "ENUMFLAGS8": 1,
          "ENUMFLAGS16": 2, "ENUMFLAGS32": 4, "UID": 4, "GID": 4, "MODE": 4, "SIGTYPE": 1, "SYSCALLID": 2,
          "PORT": 2, "L4PROTO": 1, "SOCKFAMILY": 1, "BOOL": 4, "SIGSET": 4, "RELTIME": 8, "ABSTIME": 8}
_SIGNED = frozenset(("INT8", "INT16", "INT32", "INT64", "ERRNO", "FD", "PID"))


def encode_value(ptype: str, value: Any, dyn_table: str | None = None) -> bytes:
    """The inverse of `rae.syscall.scap_reader.decode_value` (None → an absent, empty parameter)."""
    if value is None:
        return b""
    size = _SIZES.get(ptype)
    if size is not None:
        return int(value).to_bytes(size, "little", signed=ptype in _SIGNED) if ptype in _SIGNED \
            else (int(value) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    if ptype in ("CHARBUF", "FSPATH", "FSRELPATH"):
        b = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
        return b + b"\0"
    if ptype == "SOCKADDR":
        fam = value[0]
        if fam in (2, 10):
            return bytes((fam,)) + value[1] + _U16.pack(value[2])
        if fam == 1:
            return b"\x01" + value[1] + b"\0"
        return bytes((fam,)) + value[1]
    if ptype == "SOCKTUPLE":
        fam = value[0]
        if fam in (2, 10):
            return bytes((fam,)) + value[1] + _U16.pack(value[2]) + value[3] + _U16.pack(value[4])
        if fam == 1:
            return b"\x01" + struct.pack("<QQ", value[1], value[2]) + value[3] + b"\0"
        return bytes((fam,)) + value[1]
    if ptype == "FDLIST":
        return _U16.pack(len(value)) + b"".join(struct.pack("<qH", fd, fl) for fd, fl in value)
    if ptype == "DOUBLE":
        return struct.pack("<d", value)
    if ptype == "DYN":
        idx, sub_value = value
        sub = DYN_TABLES.get(dyn_table or "", {}).get(idx)
        return bytes((idx,)) + (encode_value(sub[0], sub_value) if sub else bytes(sub_value))
    return bytes(value)


def encode_params(code: int, params: list[Any]) -> bytes:
    """Lengths array + parameter bytes for event ``code`` with decoded ``params``."""
    info = EVENTS[code]
    large = info.flags & EF_LARGE_PAYLOAD
    datas = []
    for i, v in enumerate(params):
        if i < len(info.params):
            p = info.params[i]
            datas.append(encode_value(p.type, v, p.flags_table))
        else:
            datas.append(bytes(v))
    limit = 0xFFFFFFFF if large else 0xFFFF
    if any(len(d) > limit for d in datas):
        raise ValueError(f"{info.name}: a parameter longer than {limit} bytes cannot be encoded")
    lens = struct.pack(f"<{len(datas)}{'I' if large else 'H'}", *(len(d) for d in datas))
    return lens + b"".join(datas)
