"""Reads ``.scap`` capture files (plain or gzip'd) into `SyscallEvent` objects and state records.

Interface (used by the state engine and replay)::

    reader = ScapReader(path)          # opens the file; nothing read yet (also: ScapReader(fileobj))
    reader.read_header()               # optional: parses every block up to the first event
    reader.machine                     # MachineInfo | None
    reader.threads                     # list[ThreadRecord], in file order
    reader.fds                         # dict[tid, list[FdRecord]], in file order
    reader.users / reader.groups       # list[UserRecord] / list[GroupRecord]
    reader.interfaces                  # list[InterfaceRecord]
    reader.section                     # (major, minor) of the section header
    for evt in reader: ...             # SyscallEvent, evt.num = 1, 2, …  (calls read_header first)
    reader.skipped_blocks              # Counter: unknown block type → count (each also logged once)
    reader.skipped_events              # Counter: event code beyond the event table → count
    reader.close()                     # also a context manager

All header records are complete before the first event is yielded. Metadata blocks found after
the first event (unusual) are parsed into the same lists. A truncated or corrupt file yields the
events read so far, then raises `CaptureError` (a `RaeError`) naming the byte offset in the
(decompressed) stream; a corrupt parameter payload raises `CaptureError` naming the event when
``params`` is first decoded.

Block versions: see docs/scap.md. Event parameters are validated (lengths add up) when the event
is read and decoded lazily (`decode_params`) on first access to ``evt.params``.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

from rae.errors import RaeError
from rae.syscall import events as _events_module
from rae.syscall.event_table import (
    DYN_TABLES,
    EF_LARGE_PAYLOAD,
    EVENT_MAX,
    EVENTS,
    PPME_INFRASTRUCTURE_EVENT_E,
    PPME_NOTIFICATION_E,
)
from rae.syscall.events import (
    EventInfo,
    FdRecord,
    GroupRecord,
    InterfaceRecord,
    MachineInfo,
    SyscallEvent,
    ThreadRecord,
    UserRecord,
)

__all__ = ["CaptureError", "ScapReader", "decode_params", "decode_value", "read_capture"]

log = logging.getLogger(__name__)


class CaptureError(RaeError):
    """The capture is truncated or corrupt."""


# --- block types -----------------------------------------------------------------------------------
SHB_BLOCK = 0x0A0D0D0A
SHB_MAGIC = 0x1A2B3C4D
MI_BLOCKS = frozenset((0x201, 0x8002ABCD))
#: process-list block type → record version
PL_BLOCKS = {0x202: 1, 0x8000ABCD: 1, 0x207: 2, 0x8013ABCD: 2, 0x209: 3, 0x8014ABCD: 3, 0x210: 4,
             0x211: 5, 0x212: 6, 0x213: 7, 0x214: 8, 0x215: 9}
FDL_BLOCKS = {0x203: 1, 0x8001ABCD: 1, 0x218: 2}
IL_BLOCKS = {0x205: 1, 0x8011ABCD: 1, 0x219: 2}
UL_BLOCKS = {0x206: 1, 0x8012ABCD: 1, 0x220: 2}
#: event block type → (header has nparams, block has flags)
EV_BLOCKS = {0x204: (False, False), 0x8010ABCD: (False, False), 0x216: (True, False),
             0x221: (True, False), 0x208: (False, True), 0x217: (True, True), 0x222: (True, True)}
_NON_LARGE_MAX = 65536  # libscap's read buffer for non-large event blocks
_CHUNK = 1 << 20

_BH = struct.Struct("<II")
_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
# cpu, ts, tid, len, type[, nparams] — with a u32 of flags after cpu for EVF blocks
_EV1 = struct.Struct("<HQqIH")
_EV2 = struct.Struct("<HQqIHI")
_EVF1 = struct.Struct("<HIQqIH")
_EVF2 = struct.Struct("<HIQqIHI")
_SHB = struct.Struct("<IHHq")
# block type, block length, then the V2 event: cpu, ts, tid, len, type, nparams
_EVHDR = struct.Struct("<IIHQqIHI")
_LARGE_EV_BLOCKS = frozenset((0x221, 0x222))
#: code → EventInfo for the codes whose parameter lengths are u16 (None for large-payload ones)
_SMALL_CODES = [None if e.flags & EF_LARGE_PAYLOAD else e for e in EVENTS]
_MI = struct.Struct("<IQQ128sQQQQ")

_LENS16: dict[int, struct.Struct] = {}
_LENS32: dict[int, struct.Struct] = {}


def _lens_struct(n: int, large: bool) -> struct.Struct:
    cache = _LENS32 if large else _LENS16
    s = cache.get(n)
    if s is None:
        s = cache[n] = struct.Struct(f"<{n}{'I' if large else 'H'}")
    return s


# --- byte source -----------------------------------------------------------------------------------


class _Source:
    """Raw or gzip'd bytes, read forward. Problems in the gzip layer end the data early and are kept
    in ``problem`` so that the reader can name them after delivering what was readable."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self._z: Any = None
        self._pending = b""
        self._started = False
        self.eof = False
        self.problem: str | None = None

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the data)."""
        if not self._started:
            self._started = True
            head = self._f.read(2)
            if head == b"\x1f\x8b":
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._pending = self._inflate(head)
            else:
                self._pending = head
        out = [self._pending] if self._pending else []
        have = len(self._pending)
        self._pending = b""
        while have < n and not self.eof:
            if self._z is None:
                data = self._f.read(max(n - have, _CHUNK))
                if not data:
                    self.eof = True
            else:
                data = self._inflate(self._f.read(_CHUNK // 4))
            if data:
                out.append(data)
                have += len(data)
        blob = b"".join(out)
        if len(blob) > n:
            self._pending = blob[n:]
            blob = blob[:n]
        return blob

    def _inflate(self, comp: bytes) -> bytes:
        z = self._z
        if not comp:
            self.eof = True
            if not z.eof:
                self.problem = "gzip data truncated"
            return b""
        try:
            if z.eof:  # a further gzip member
                self._z = z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = z.decompress(comp)
            while z.eof and z.unused_data:
                rest = z.unused_data
                self._z = z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out += z.decompress(rest)
            return out
        except zlib.error as exc:
            self.eof = True
            self.problem = f"corrupt gzip data ({exc})"
            return b""


# --- the reader ------------------------------------------------------------------------------------


class ScapReader:
    """Iterates the events of one capture; header records are attributes (see the module doc)."""

    def __init__(self, path_or_file: str | IO[bytes], name: str | None = None) -> None:
        if isinstance(path_or_file, str):
            try:
                self._file: IO[bytes] = open(path_or_file, "rb")  # noqa: SIM115 (closed by close())
            except OSError as exc:
                raise CaptureError(f"{path_or_file}: cannot read: {exc.strerror}") from None
            self._owned = True
            self.name = name or path_or_file
        else:
            self._file = path_or_file
            self._owned = False
            self.name = name or getattr(path_or_file, "name", "<capture>")
        self._src = _Source(self._file)
        self._buf = b""
        self._pos = 0
        self._base = 0  # stream offset of _buf[0]
        self._header_done = False
        self._iterating = False
        self.section: tuple[int, int] | None = None
        self.machine: MachineInfo | None = None
        self.threads: list[ThreadRecord] = []
        self.fds: dict[int, list[FdRecord]] = {}
        self.users: list[UserRecord] = []
        self.groups: list[GroupRecord] = []
        self.interfaces: list[InterfaceRecord] = []
        self.skipped_blocks: Counter[int] = Counter()
        self.skipped_events: Counter[int] = Counter()
        self.nevents = 0
        self._done = False

    # context manager
    def __enter__(self) -> ScapReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._file.close()

    # -- buffer management
    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available at ``_pos``; False if the data ends first."""
        avail = len(self._buf) - self._pos
        if avail >= need:
            return True
        data = self._src.read(max(need - avail, _CHUNK))
        self._base += self._pos
        self._buf = self._buf[self._pos:] + data
        self._pos = 0
        return len(self._buf) >= need

    def _err(self, offset: int, msg: str) -> CaptureError:
        extra = f" ({self._src.problem})" if self._src.problem else ""
        return CaptureError(f"{self.name}: {msg} at byte offset {offset}{extra}")

    # -- header
    def read_header(self) -> None:
        """Parse the section header and every metadata block before the first event."""
        if self._header_done:
            return
        self._header_done = True
        if not self._fill(8):
            if len(self._buf) == 0:
                raise CaptureError(f"{self.name}: empty capture file")
            raise self._err(self._base, "capture truncated in the section header")
        btype, blen = _BH.unpack_from(self._buf, self._pos)
        if btype != SHB_BLOCK:
            raise CaptureError(f"{self.name}: not a scap capture (no section header block)")
        if self._fill(12):
            (magic,) = _U32.unpack_from(self._buf, self._pos + 8)
            if magic != SHB_MAGIC:
                raise self._err(self._base + self._pos + 8, f"bad section magic 0x{magic:08x} "
                                "(byte-swapped or not a scap capture)")
        body = self._block(btype, blen)
        if len(body) < _SHB.size:
            raise self._err(self._base + self._pos, "section header block too short")
        magic, major, minor, _seclen = _SHB.unpack_from(body, 0)
        if magic != SHB_MAGIC:
            raise self._err(self._base + self._pos + 8, f"bad section magic 0x{magic:08x} "
                            "(byte-swapped or not a scap capture)")
        if major > 1:
            raise self._err(self._base + self._pos + 12, f"unsupported capture version {major}.{minor}")
        self.section = (major, minor)
        self._pos += blen
        while True:
            if not self._fill(8):
                if len(self._buf) - self._pos:
                    raise self._err(self._base + self._pos, "capture truncated inside a block header")
                return
            btype, blen = _BH.unpack_from(self._buf, self._pos)
            if btype in EV_BLOCKS:
                return
            self._metadata_block(btype, blen)

    def _block(self, btype: int, blen: int) -> memoryview:
        """The body of the block at ``_pos`` (checked: complete, trailer matches)."""
        off = self._base + self._pos
        if blen < 12:
            raise self._err(off, f"invalid block length {blen} (block type 0x{btype:x})")
        if not self._fill(blen):
            raise self._err(off, f"capture truncated: block of type 0x{btype:x} and length {blen} "
                            f"has only {len(self._buf) - self._pos} bytes")
        pos = self._pos
        (trailer,) = _U32.unpack_from(self._buf, pos + blen - 4)
        if trailer != blen:
            raise self._err(off, f"corrupt block (type 0x{btype:x}): length {blen} but trailer {trailer}")
        return memoryview(self._buf)[pos + 8:pos + blen - 4]

    def _metadata_block(self, btype: int, blen: int) -> None:
        off = self._base + self._pos
        body = self._block(btype, blen)
        try:
            if btype in MI_BLOCKS:
                self._read_mi(body)
            elif btype in PL_BLOCKS:
                self._read_pl(body, PL_BLOCKS[btype])
            elif btype in FDL_BLOCKS:
                self._read_fdl(body, FDL_BLOCKS[btype])
            elif btype in IL_BLOCKS:
                self._read_il(body, IL_BLOCKS[btype])
            elif btype in UL_BLOCKS:
                self._read_ul(body, UL_BLOCKS[btype])
            elif btype == SHB_BLOCK:
                pass  # a further section (concatenated captures): nothing to keep
            else:
                if not self.skipped_blocks[btype]:
                    log.warning("%s: skipping unknown block type 0x%x at byte offset %d",
                                self.name, btype, off)
                self.skipped_blocks[btype] += 1
        except (struct.error, IndexError, ValueError) as exc:
            raise self._err(off, f"corrupt block of type 0x{btype:x} ({exc})") from None
        finally:
            body.release()
        self._pos += blen

    def _read_mi(self, b: memoryview) -> None:
        ncpu, mem, maxpid, host, boot, flags, r3, r4 = _MI.unpack_from(b, 0)
        self.machine = MachineInfo(ncpu, mem, maxpid, _cstr(host), boot, flags, r3, r4)

    def _read_pl(self, b: memoryview, ver: int) -> None:
        c = _Cursor(b)
        while c.left() >= 4:
            start = c.pos
            rec_len = c.u32() if ver == 9 else 0
            tid, pid, ptid = c.u64(), c.u64(), c.u64()
            sid = c.i64() if ver >= 6 else None
            vpgid = c.i64() if ver >= 8 else None
            comm, exe = c.str16(), c.str16()
            exepath = c.str16() if ver >= 7 else None
            args, cwd = c.str16(), c.str16()
            fdlimit, flags, uid, gid = c.u64(), c.u32(), c.u32(), c.u32()
            t = ThreadRecord(tid, pid, ptid, comm, exe, _split0(args), cwd, fdlimit, flags, uid, gid,
                             sid=sid, vpgid=vpgid, exepath=exepath)
            if ver >= 2:
                t.vmsize_kb, t.vmrss_kb, t.vmswap_kb = c.u32(), c.u32(), c.u32()
                t.pfmajor, t.pfminor = c.u64(), c.u64()
            if ver >= 3:
                t.env = _split0(c.str16())
            if ver >= 4:
                t.vtid, t.vpid = c.i64(), c.i64()
                t.cgroups = _split0(c.str16())
            if ver >= 5:
                t.root = c.str16()
            if rec_len:
                end = start + rec_len
                if end > len(b) or c.pos > end:
                    raise ValueError(f"process record of tid {tid} overruns its length {rec_len}")
                _read_pl_tail(c, t, end)
                c.pos = end
            self.threads.append(t)

    def _read_fdl(self, b: memoryview, ver: int) -> None:
        c = _Cursor(b)
        tid = c.u64()
        lst = self.fds.setdefault(tid, [])
        while c.left() >= 4:
            start = c.pos
            rec_len = c.u32() if ver == 2 else 0
            fd, ino, ftype = c.i64(), c.u64(), c.u8()
            r = FdRecord(tid, fd, ino, ftype)
            if ftype == 3:
                r.sip, r.dip, r.sport, r.dport, r.l4proto = c.raw(4), c.raw(4), c.u16(), c.u16(), c.u8()
            elif ftype == 5:
                r.sip, r.sport, r.l4proto = c.raw(4), c.u16(), c.u8()
            elif ftype == 4:
                r.sip, r.dip, r.sport, r.dport, r.l4proto = c.raw(16), c.raw(16), c.u16(), c.u16(), c.u8()
            elif ftype == 6:
                r.sip, r.sport, r.l4proto = c.raw(16), c.u16(), c.u8()
            elif ftype == 8:
                r.source, r.dest, r.name = c.u64(), c.u64(), c.str16()
            elif ftype == 16:
                r.open_flags, r.name = c.u32(), c.str16()
                if rec_len and c.pos + 4 <= start + rec_len:
                    r.dev = c.u32()
            elif ftype in _FD_NAME_TYPES:
                r.name = c.str16()
            elif ftype != 0:
                raise ValueError(f"unknown fd type {ftype}")
            if rec_len:
                end = start + rec_len
                if end > len(b) or c.pos > end:
                    raise ValueError(f"fd record {fd} overruns its length {rec_len}")
                c.pos = end
            lst.append(r)

    def _read_il(self, b: memoryview, ver: int) -> None:
        c = _Cursor(b)
        while c.left() >= 4:
            entry_end = None
            if ver == 2:
                n = c.u32()
                entry_end = c.pos + n
            itype, namelen = c.u16(), c.u16()
            if itype in (1, 3):
                addr, mask, bcast = c.raw(4), c.raw(4), c.raw(4)
            elif itype in (2, 4):
                addr, mask, bcast = c.raw(16), c.raw(16), c.raw(16)
            else:
                raise ValueError(f"unknown interface type {itype}")
            speed = c.u64() if itype in (1, 2) else 0
            name = _text(c.raw(namelen))
            self.interfaces.append(InterfaceRecord(itype, name, addr, mask, bcast, speed))
            if entry_end is not None:
                if entry_end > len(b) or c.pos > entry_end:
                    raise ValueError("interface entry overruns its length")
                c.pos = entry_end

    def _read_ul(self, b: memoryview, ver: int) -> None:
        c = _Cursor(b)
        while c.left() >= 4:
            start = c.pos
            rec_len = c.u32() if ver == 2 else 0
            kind = c.u8()
            if kind == 0:
                uid, gid = c.u32(), c.u32()
                self.users.append(UserRecord(uid, gid, c.str16(), c.str16(), c.str16()))
            else:
                gid = c.u32()
                self.groups.append(GroupRecord(gid, c.str16()))
            if rec_len:
                end = start + rec_len
                if end > len(b) or c.pos > end:
                    raise ValueError("user entry overruns its length")
                c.pos = end

    # -- events
    def __iter__(self) -> Iterator[SyscallEvent]:
        if self._iterating:
            raise RuntimeError("a ScapReader can be iterated only once")
        self._iterating = True
        self.read_header()
        return self._events()

    def _events(self) -> Iterator[SyscallEvent]:
        """The hot loop: V2 event blocks take an inlined fast path, everything else `_other_block`."""
        hdr = _EVHDR.unpack_from
        u32 = _U32.unpack_from
        lens16 = [_lens_struct(n, False).unpack_from for n in range(33)]
        small = _SMALL_CODES
        emax = EVENT_MAX
        new = object.__new__
        cls = SyscallEvent
        other = self._other_block
        num = self.nevents
        buf = self._buf
        pos = self._pos
        end = len(buf)
        try:
            while True:
                if end - pos >= 36:
                    btype, blen, cpu, ts, tid, elen, code, npar = hdr(buf, pos)
                    if (btype == 0x216 and blen <= end - pos and 36 <= elen + 10 <= blen - 4
                            and blen <= 65544 and code < emax and small[code] and npar <= 32
                            and u32(buf, pos + blen - 4)[0] == blen):
                        eend = pos + 10 + elen
                        if (npar and pos + 36 + 2 * npar + sum(lens16[npar](buf, pos + 36)) == eend) or (
                                not npar and eend == pos + 36):
                            num += 1
                            e = new(cls)
                            e.num = num
                            e.ts = ts
                            e.tid = tid
                            e.cpu = cpu
                            e.code = code
                            e.info = small[code]
                            e._params = None
                            e.raw = buf[pos + 36:eend]
                            e.nparams = npar
                            e.thread = e.fdinfo = e.extra = None
                            yield e
                            pos += blen
                            continue
                # anything else: refill, other block types, errors
                self._pos = pos
                self.nevents = num
                evt = other()
                buf, pos, end = self._buf, self._pos, len(self._buf)
                if evt is None:
                    if self._done:
                        return
                    continue
                num = evt.num
                yield evt
        finally:
            self.nevents = num

    def _other_block(self) -> SyscallEvent | None:
        """Handle the block at ``_pos`` (advancing past it): an event, or None (metadata, skipped
        event, or the end of the data: then ``_done`` is set)."""
        if not self._fill(8):
            if len(self._buf) - self._pos:
                raise self._err(self._base + self._pos, "capture truncated inside a block header")
            self._done = True
            return None
        btype, blen = _BH.unpack_from(self._buf, self._pos)
        kind = EV_BLOCKS.get(btype)
        if kind is None:
            self._metadata_block(btype, blen)
            return None
        self._block(btype, blen)  # complete and trailer checked
        buf, pos = self._buf, self._pos
        off = self._base + pos
        has_np, has_flags = kind
        try:
            if has_np:
                if has_flags:
                    cpu, _fl, ts, tid, elen, code, npar = _EVF2.unpack_from(buf, pos + 8)
                    hstart = pos + 14
                else:
                    cpu, ts, tid, elen, code, npar = _EV2.unpack_from(buf, pos + 8)
                    hstart = pos + 10
                pstart = hstart + 26
            else:
                if has_flags:
                    cpu, _fl, ts, tid, elen, code = _EVF1.unpack_from(buf, pos + 8)
                    hstart = pos + 14
                else:
                    cpu, ts, tid, elen, code = _EV1.unpack_from(buf, pos + 8)
                    hstart = pos + 10
                pstart = hstart + 22
                npar = -1
        except struct.error:
            raise self._err(off, f"event block too short ({blen} bytes)") from None
        eend = hstart + elen
        if eend > pos + blen - 4 or pstart > eend:
            raise self._err(off, f"event length {elen} does not fit its block of {blen} bytes")
        if btype not in _LARGE_EV_BLOCKS and blen - 8 > _NON_LARGE_MAX:
            raise self._err(off, f"event block of {blen} bytes exceeds the 64 KiB limit")
        self._pos = pos + blen
        if code >= EVENT_MAX:
            self.skipped_events[code] += 1
            return None
        info = EVENTS[code]
        large = bool(info.flags & EF_LARGE_PAYLOAD)
        num = self.nevents + 1
        bad = f"corrupt event #{num} ({info.name}): parameter lengths do not add up to the event length"
        if npar < 0:
            if code in (PPME_NOTIFICATION_E, PPME_INFRASTRUCTURE_EVENT_E):
                eend -= 3
            npar = _infer_nparams(buf, pstart, eend, len(info.params), large)
            if npar < 0:
                raise self._err(off, bad)
        elif npar:
            if npar > 32:
                raise self._err(off, f"corrupt event #{num}: {npar} parameters")
            lsz = 4 if large else 2
            if pstart + lsz * npar > eend or pstart + lsz * npar + sum(
                    _lens_struct(npar, large).unpack_from(buf, pstart)) != eend:
                raise self._err(off, bad)
        elif pstart != eend:
            raise self._err(off, bad)
        return SyscallEvent(num, ts, tid, cpu, code, info, None, buf[pstart:eend], nparams=npar)


def _infer_nparams(buf: bytes, pstart: int, eend: int, schema_n: int, large: bool) -> int:
    """Old (v1) events: the number of parameters whose lengths add up to the event length, or -1."""
    lsz = 4 if large else 2
    for n in range(schema_n, -1, -1):
        vstart = pstart + lsz * n
        if vstart > eend:
            continue
        total = vstart + (sum(_lens_struct(n, large).unpack_from(buf, pstart)) if n else 0)
        if total < eend:
            return -1
        if total == eend:
            return n
    return -1


_FD_NAME_TYPES = frozenset((1, 2, 7, 9, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20, 21))


def _read_pl_tail(c: _Cursor, t: ThreadRecord, end: int) -> None:
    """V9 optional trailing fields, read while the record leaves room.

    Files of libs ≤ 0.10 lack the first two (then at most 29 bytes are left)."""
    if end - c.pos > 29:
        if c.pos + 8 <= end:
            t.pidns_init_start_ts = c.u64()
        if c.pos + 4 <= end:
            t.tty = c.u32()
    if c.pos + 4 <= end:
        t.loginuid = c.i32()
    if c.pos + 1 <= end:
        t.exe_writable = bool(c.u8())
    if c.pos + 8 <= end:
        t.cap_inheritable = c.u64()
    if c.pos + 8 <= end:
        t.cap_permitted = c.u64()
    if c.pos + 8 <= end:
        t.cap_effective = c.u64()
    if c.pos + 1 <= end:
        t.exe_upper_layer = bool(c.u8())
    if c.pos + 8 <= end:
        t.exe_ino = c.u64()
    if c.pos + 8 <= end:
        t.exe_ino_ctime = c.u64()
    if c.pos + 8 <= end:
        t.exe_ino_mtime = c.u64()
    if c.pos + 1 <= end:
        t.exe_from_memfd = bool(c.u8())
    if c.pos + 1 <= end:
        t.exe_lower_layer = bool(c.u8())
    if c.pos + 8 <= end:
        t.pgid = c.i64()


class _Cursor:
    """Sequential little-endian reads over a block body; struct.error/ValueError on overrun."""

    __slots__ = ("b", "pos")

    def __init__(self, b: memoryview) -> None:
        self.b = b
        self.pos = 0

    def left(self) -> int:
        return len(self.b) - self.pos

    def _get(self, s: struct.Struct) -> Any:
        v = s.unpack_from(self.b, self.pos)[0]
        self.pos += s.size
        return v

    def u8(self) -> int:
        return self._get(_U8)

    def u16(self) -> int:
        return self._get(_U16)

    def u32(self) -> int:
        return self._get(_U32)

    def i32(self) -> int:
        return self._get(_I32)

    def u64(self) -> int:
        return self._get(_U64)

    def i64(self) -> int:
        return self._get(_I64)

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.b):
            raise ValueError("read past the end of the block")
        v = bytes(self.b[self.pos:self.pos + n])
        self.pos += n
        return v

    def str16(self) -> str:
        return _text(self.raw(self.u16()))


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _cstr(b: bytes) -> str:
    return _text(b.split(b"\0", 1)[0])


def _split0(s: str) -> list[str]:
    """A NUL-separated list (a trailing NUL does not add an empty item)."""
    if not s:
        return []
    if s.endswith("\0"):
        s = s[:-1]
    return s.split("\0")


# --- parameter decoding ----------------------------------------------------------------------------

def _signed(d: bytes) -> int:
    return int.from_bytes(d, "little", signed=True)


def _unsigned(d: bytes) -> int:
    return int.from_bytes(d, "little")


def _string(d: bytes) -> bytes:
    return d[:-1] if d[-1] == 0 else d


def _bytes(d: bytes) -> bytes:
    return d


def _sockaddr(d: bytes) -> tuple[Any, ...]:
    fam = d[0]
    if fam == 2 and len(d) >= 7:
        return (2, d[1:5], int.from_bytes(d[5:7], "little"))
    if fam == 10 and len(d) >= 19:
        return (10, d[1:17], int.from_bytes(d[17:19], "little"))
    if fam == 1:
        return (1, d[1:].split(b"\0", 1)[0])
    return (fam, d[1:])


def _socktuple(d: bytes) -> tuple[Any, ...]:
    fam = d[0]
    if fam == 2 and len(d) >= 13:
        return (2, d[1:5], int.from_bytes(d[5:7], "little"), d[7:11], int.from_bytes(d[11:13], "little"))
    if fam == 10 and len(d) >= 37:
        return (10, d[1:17], int.from_bytes(d[17:19], "little"), d[19:35], int.from_bytes(d[35:37], "little"))
    if fam == 1 and len(d) >= 17:
        return (1, int.from_bytes(d[1:9], "little"), int.from_bytes(d[9:17], "little"),
                d[17:].split(b"\0", 1)[0])
    return (fam, d[1:])


def _fdlist(d: bytes) -> list[tuple[int, int]]:
    n = int.from_bytes(d[:2], "little")
    if 2 + 10 * n > len(d):
        raise ValueError("fd list longer than its parameter")
    return [(int.from_bytes(d[2 + 10 * i:10 + 10 * i], "little", signed=True),
             int.from_bytes(d[10 + 10 * i:12 + 10 * i], "little")) for i in range(n)]


def _double(d: bytes) -> float:
    return _DOUBLE.unpack(d[:8])[0]


_DOUBLE = struct.Struct("<d")
_DECODERS: dict[str, Any] = {
    **dict.fromkeys(("INT8", "INT16", "INT32", "INT64", "ERRNO", "FD", "PID"), _signed),
    **dict.fromkeys(("UINT8", "UINT16", "UINT32", "UINT64", "FLAGS8", "FLAGS16", "FLAGS32", "ENUMFLAGS8",
                     "ENUMFLAGS16", "ENUMFLAGS32", "UID", "GID", "MODE", "SIGTYPE", "SYSCALLID", "PORT",
                     "L4PROTO", "SOCKFAMILY", "BOOL", "SIGSET", "RELTIME", "ABSTIME"), _unsigned),
    **dict.fromkeys(("CHARBUF", "FSPATH", "FSRELPATH"), _string),
    "SOCKADDR": _sockaddr,
    "SOCKTUPLE": _socktuple,
    "FDLIST": _fdlist,
    "DOUBLE": _double,
}


def _decoder(ptype: str, dyn_table: str | None) -> Any:
    """The bytes → value function of a parameter type (None for BYTEBUF: kept as is, even empty)."""
    if ptype == "BYTEBUF":
        return None
    if ptype == "DYN":
        subs = {i: _decoder(t, None) for i, (t, _f) in DYN_TABLES.get(dyn_table or "", {}).items()}

        def dyn(d: bytes) -> tuple[int, Any]:
            sub = subs.get(d[0], _bytes)
            rest = d[1:]
            if sub is None:
                return (d[0], rest)
            return (d[0], sub(rest) if rest else None)

        return dyn
    return _DECODERS.get(ptype, _bytes)


def decode_value(ptype: str, data: bytes, dyn_table: str | None = None) -> Any:
    """One parameter's bytes → its Python value (see `rae.syscall.events` for the mapping)."""
    dec = _decoder(ptype, dyn_table)
    if dec is None:
        return bytes(data)
    return dec(bytes(data)) if data else None


_CODE_DECODERS: dict[tuple[int, int], Any] = {}
_INLINE_INT = {_signed: "True", _unsigned: "False"}
#: byte width of the integer parameter types in the capture format: when an event's integer
#: parameters have these lengths, its generated decoder unpacks each run of them in one struct call
_INT_WIDTH = {
    **dict.fromkeys(("INT8", "UINT8", "FLAGS8", "ENUMFLAGS8", "SIGTYPE", "L4PROTO", "SOCKFAMILY"), 1),
    **dict.fromkeys(("INT16", "UINT16", "FLAGS16", "ENUMFLAGS16", "SYSCALLID", "PORT"), 2),
    **dict.fromkeys(("INT32", "UINT32", "FLAGS32", "ENUMFLAGS32", "UID", "GID", "MODE", "BOOL", "SIGSET"), 4),
    **dict.fromkeys(("INT64", "UINT64", "ERRNO", "FD", "PID", "RELTIME", "ABSTIME"), 8),
}
_STRUCT_CHAR = {(1, True): "b", (1, False): "B", (2, True): "h", (2, False): "H", (4, True): "i",
                (4, False): "I", (8, True): "q", (8, False): "Q"}


def _param_lines(i: int, dec: Any, env: dict[str, Any], indent: str) -> list[str]:
    """Generated lines decoding parameter ``i`` from ``raw[o:o + l<i>]`` into ``p<i>``."""
    out = [f"{indent}e = o + l{i}"]
    if dec is None:
        out.append(f"{indent}p{i} = raw[o:e]")
    elif dec in _INLINE_INT:
        out.append(f"{indent}p{i} = fb(raw[o:e], 'little', signed={_INLINE_INT[dec]}) if l{i} else None")
    else:
        env[f"f{i}"] = dec
        out.append(f"{indent}p{i} = f{i}(raw[o:e]) if l{i} else None")
    out.append(f"{indent}o = e")
    return out


def _make_decoder(info: EventInfo, n: int) -> Any:
    """A function ``raw → params`` for ``n`` parameters of one event type, generated once.

    The per-parameter loop of a generic decoder costs ~0.4 µs a parameter in CPython; the generated
    straight-line code (integers decoded inline, no per-parameter call or branch on the type)
    halves that on the live engine's hottest events (openat exits, 7 parameters). When every
    integer parameter has its type's width (always, from the probe and from libscap), each run of
    consecutive integers is unpacked by one struct call (an `int.from_bytes` per integer cost
    ~0.2 µs); other lengths, or a run past the end of the buffer, take the per-parameter path.
    The values are exactly those of the loop it replaces: BYTEBUF as bytes even when empty, other
    empty parameters as None, parameters beyond the schema as bytes.
    """
    large = bool(info.flags & EF_LARGE_PAYLOAD)
    decs = [_decoder(p.type, p.flags_table) for p in info.params[:n]]
    widths = [_INT_WIDTH.get(p.type) if dec in _INLINE_INT else None
              for p, dec in zip(info.params[:n], decs, strict=True)]
    decs += [None] * (n - len(decs))
    widths += [None] * (n - len(widths))
    env: dict[str, Any] = {"L": _lens_struct(n, large).unpack_from, "fb": int.from_bytes,
                           "StructError": struct.error}
    lines = ["def d(raw):", f"    {', '.join(f'l{i}' for i in range(n))}, = L(raw, 0)"]
    if any(widths):
        cond = " and ".join(f"l{i} == {w}" for i, w in enumerate(widths) if w)
        lines += [f"    if {cond}:", "        try:", f"            o = {(4 if large else 2) * n}"]
        i = 0
        while i < n:
            if not widths[i]:
                lines += _param_lines(i, decs[i], env, "            ")
                i += 1
                continue
            j = i
            fmt = "<"
            while j < n and widths[j]:
                fmt += _STRUCT_CHAR[widths[j], decs[j] is _signed]  # type: ignore[index]
                j += 1
            env[f"U{i}"] = struct.Struct(fmt).unpack_from
            lines += [f"            {', '.join(f'p{k}' for k in range(i, j))}, = U{i}(raw, o)",
                      f"            o += {struct.calcsize(fmt)}"]
            i = j
        lines += [f"            return [{', '.join(f'p{i}' for i in range(n))}]",
                  "        except StructError:",  # a run past the end: the slices below truncate
                  "            pass"]
    lines.append(f"    o = {(4 if large else 2) * n}")
    for i, dec in enumerate(decs):
        lines += _param_lines(i, dec, env, "    ")
    lines.append(f"    return [{', '.join(f'p{i}' for i in range(n))}]")
    exec(compile("\n".join(lines), f"<decoder {info.name}{info.dir}/{n}>", "exec"), env)
    return env["d"]


def decode_params(evt: SyscallEvent) -> list[Any]:
    """Decode ``evt.raw`` (lengths array + parameter bytes) against ``evt.info``."""
    raw = evt.raw
    if raw is None:
        return []
    n = evt.nparams
    if not n:
        return []
    info: EventInfo = evt.info
    key = (info.code, n)
    dec = _CODE_DECODERS.get(key)
    if dec is None:
        dec = _CODE_DECODERS[key] = _make_decoder(info, n)
    if not isinstance(raw, bytes):
        raw = bytes(raw)
    try:
        return dec(raw)  # type: ignore[no-any-return]
    except (struct.error, ValueError, IndexError) as exc:
        raise CaptureError(f"corrupt parameters in event #{evt.num} ({info.name}): {exc}") from None


_events_module._decode = decode_params  # the lazy ``SyscallEvent.params`` calls it directly


def read_capture(path: str) -> tuple[ScapReader, list[SyscallEvent]]:
    """Convenience for tests and tools: the reader (header records filled) and all its events."""
    with ScapReader(path) as r:
        evts = list(r)
    return r, evts
