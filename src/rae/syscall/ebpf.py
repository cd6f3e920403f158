"""Loads the CO-RE probe through libbpf (ctypes over ``libbpf.so.1``) and reads its ring buffer.

Why ctypes and an mmap reader: Debian's libbpf 1.1 is all the runtime needs (no compiler, no
Python binding package fits, see platform-notes §2.8), and walking the ring buffer's memory
mapping in batches is faster from Python than libbpf's per-record callback. The probe writes with
``BPF_RB_NO_WAKEUP`` (forcing a wakeup only past ``wakeup_bytes`` of unread data), so the consumer
waits in ``epoll`` with a short timeout instead of being woken per event.

Typical use::

    with Probe(selected=select_syscalls(rule_evtypes)) as probe:
        for evt in probe.events():       # SyscallEvent objects (B1's decoder)
            ...
        probe.stats()                    # {"events": …, "drops_full": …, …}

Nothing is pinned: closing the probe (or the process exiting) detaches every program and frees
every map.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import mmap
import os
import platform
import select
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from rae.errors import RaeError
from rae.syscall.event_table import EVENT_MAX, EVENTS
from rae.syscall.events import SyscallEvent
from rae.syscall.probe import layout

__all__ = [
    "STAT_NAMES",
    "Probe",
    "ProbeError",
    "check_environment",
    "default_object_path",
    "record_to_event",
]

#: per-CPU counters of the probe, by slot (probe.bpf.c ST_*): then the ring-full drops by libscap
#: category (``drops_full_<category>_<dir>``, `layout.DROP_CATEGORIES`; they sum to ``drops_full``
#: but for events of no category)
STAT_NAMES = ("events", "drops_full", "truncated", "seen", "drops_noaux", "faults", "wakeups", "forks",
              *(f"drops_full_{cat}_{direction}" for cat, direction, _names in layout.DROP_CATEGORIES))

BTF_PATH = "/sys/kernel/btf/vmlinux"
_BTF_KIND_DATASEC = 15
_RINGBUF_BUSY = 1 << 31
_RINGBUF_DISCARD = 1 << 30
_RINGBUF_HDR = 8
_CAP_SYS_ADMIN, _CAP_PERFMON, _CAP_BPF = 21, 38, 39


class ProbeError(RaeError):
    """The probe cannot run here (privileges, kernel, BTF, build) — one line, exit 1."""


def default_object_path() -> Path:
    """The built probe object: ``$RAE_PROBE_OBJ`` or ``probe/probe.bpf.o`` next to this module."""
    env = os.environ.get("RAE_PROBE_OBJ")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "probe" / "probe.bpf.o"


def _cap_eff() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _kernel_version() -> tuple[int, int]:
    rel = platform.release()
    parts = rel.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def check_environment(obj_path: Path | None = None) -> None:
    """Raise ProbeError with a one-line reason when the probe cannot be loaded here."""
    caps = _cap_eff()
    has_bpf = bool(caps & (1 << _CAP_BPF)) or bool(caps & (1 << _CAP_SYS_ADMIN))
    has_perfmon = bool(caps & (1 << _CAP_PERFMON)) or bool(caps & (1 << _CAP_SYS_ADMIN))
    if os.geteuid() != 0 and not (has_bpf and has_perfmon):
        raise ProbeError("live capture needs root (or CAP_BPF and CAP_PERFMON)")
    if not (has_bpf and has_perfmon):
        missing = [n for n, ok in (("CAP_BPF", has_bpf), ("CAP_PERFMON", has_perfmon)) if not ok]
        raise ProbeError(f"live capture needs {' and '.join(missing)}")
    if _kernel_version() < (5, 8):
        raise ProbeError(f"kernel {platform.release()} is too old: the eBPF probe needs Linux >= 5.8")
    if not os.path.exists(BTF_PATH):
        raise ProbeError(f"{BTF_PATH} is missing: the eBPF probe needs a kernel built with BTF "
                         "(CONFIG_DEBUG_INFO_BTF=y)")
    path = obj_path or default_object_path()
    if not path.exists():
        raise ProbeError(f"{path}: probe object not built (run `make probe`)")


# --- libbpf through ctypes ---------------------------------------------------------------------

_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class _Lib:
    """The few libbpf entry points the loader uses, with their C signatures."""

    _instance: _Lib | None = None

    def __init__(self) -> None:
        name = ctypes.util.find_library("bpf") or "libbpf.so.1"
        try:
            lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
        except OSError:
            try:
                lib = ctypes.CDLL(name, use_errno=True)
            except OSError as exc:
                raise ProbeError(f"cannot load libbpf.so.1 (install Debian's libbpf1): {exc}") from None
        vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        sigs: dict[str, tuple[Any, list[Any]]] = {
            "bpf_object__open_file": (vp, [cp, vp]),
            "bpf_object__load": (i, [vp]),
            "bpf_object__close": (None, [vp]),
            "bpf_object__btf": (vp, [vp]),
            "bpf_object__find_map_by_name": (vp, [vp, cp]),
            "bpf_object__next_program": (vp, [vp, vp]),
            "bpf_program__name": (cp, [vp]),
            "bpf_program__attach": (vp, [vp]),
            "bpf_link__destroy": (i, [vp]),
            "bpf_map__fd": (i, [vp]),
            "bpf_map__set_max_entries": (i, [vp, ctypes.c_uint32]),
            "bpf_map__initial_value": (vp, [vp, ctypes.POINTER(ctypes.c_size_t)]),
            "bpf_map_update_elem": (i, [i, vp, vp, ctypes.c_uint64]),
            "bpf_map_lookup_elem": (i, [i, vp, vp]),
            "btf__find_by_name_kind": (i, [vp, cp, ctypes.c_uint32]),
            "btf__type_by_id": (vp, [vp, ctypes.c_uint32]),
            "btf__name_by_offset": (cp, [vp, ctypes.c_uint32]),
            "libbpf_num_possible_cpus": (i, []),
            "libbpf_set_print": (vp, [vp]),
        }
        for fname, (res, args) in sigs.items():
            fn = getattr(lib, fname)
            fn.restype = res
            fn.argtypes = args
        self.lib = lib
        self.log: list[str] = []
        libc = ctypes.CDLL(None)
        vsnprintf = libc.vsnprintf
        vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
        buf = ctypes.create_string_buffer(1 << 20)

        def _print(level: int, fmt: bytes, va: int) -> int:  # keeps libbpf's messages for errors
            vsnprintf(buf, len(buf), fmt, va)
            self.log.append(buf.value.decode("utf-8", "replace").rstrip())
            del self.log[:-200]
            return 0

        self._print_cb = _PRINT_FN(_print)
        lib.libbpf_set_print(ctypes.cast(self._print_cb, ctypes.c_void_p))

    @classmethod
    def get(cls) -> _Lib:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance


def _errno_msg(code: int) -> str:
    code = abs(code) or ctypes.get_errno()
    return os.strerror(code) if code else "unknown error"


# --- the probe ---------------------------------------------------------------------------------


class Probe:
    """The loaded, attached probe: fills its maps, reads its ring buffer, reports its counters."""

    def __init__(
        self,
        selected: Iterable[str] | None = None,
        obj_path: Path | None = None,
        ring_bytes: int = 8 << 20,
        wakeup_bytes: int = 1 << 20,
        exclude_self: bool = True,
        skip_enter: Iterable[str] = (),
    ) -> None:
        self.obj_path = obj_path or default_object_path()
        self.ring_bytes = ring_bytes
        self.wakeup_bytes = wakeup_bytes
        self.exclude_self = exclude_self
        self.selected = set(layout.select_syscalls(None) if selected is None else selected)
        self.skip_enter = set(skip_enter) & layout.EXIT_COMPLETE
        self._obj: int | None = None
        self._links: list[int] = []
        self._maps: dict[str, int] = {}
        self._cons_mm: mmap.mmap | None = None
        self._data_mm: mmap.mmap | None = None
        self._epoll: select.epoll | None = None
        self._cons: ctypes.c_uint64 | None = None
        self.ncpu = 1
        self.boot_ts = 0

    # lifecycle
    def __enter__(self) -> Probe:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        check_environment(self.obj_path)
        if self.ring_bytes < 4096 or self.ring_bytes & (self.ring_bytes - 1):
            raise ProbeError(f"ring buffer size {self.ring_bytes} must be a power of two >= 4096")
        lib = _Lib.get()
        L = lib.lib
        lib.log.clear()
        obj = L.bpf_object__open_file(str(self.obj_path).encode(), None)
        if not obj:
            raise ProbeError(f"{self.obj_path}: cannot open probe object: {_errno_msg(0)}")
        self._obj = obj
        try:
            self.ncpu = max(1, L.libbpf_num_possible_cpus())
            for name in ("events", "specs", "flag_tables", "enum_tables", "drop_cats", "aux_bufs", "stats",
                         ".rodata"):
                m = L.bpf_object__find_map_by_name(obj, name.encode())
                if not m:
                    raise ProbeError(f"{self.obj_path}: map {name} missing from the probe object")
                self._maps[name] = m
            L.bpf_map__set_max_entries(self._maps["events"], self.ring_bytes)
            L.bpf_map__set_max_entries(self._maps["aux_bufs"], self.ncpu)
            self.boot_ts = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            self._set_rodata({
                "own_tgid": os.getpid() if self.exclude_self else 0,
                "boot_ts": self.boot_ts,
                "wakeup_bytes": self.wakeup_bytes,
            })
            err = L.bpf_object__load(obj)
            if err:
                detail = next((m for m in reversed(lib.log) if m and not m.startswith("libbpf: prog")),
                              "")
                raise ProbeError(f"cannot load the eBPF probe: {_errno_msg(err)}"
                                 + (f" ({detail})" if detail else ""))
            self._fill_maps()
            prog = L.bpf_object__next_program(obj, None)
            while prog:
                link = L.bpf_program__attach(prog)
                if not link:
                    name = L.bpf_program__name(prog).decode()
                    raise ProbeError(f"cannot attach probe program {name}: {_errno_msg(0)}")
                self._links.append(link)
                prog = L.bpf_object__next_program(obj, prog)
            self._map_ring()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Detach every program and free the object (idempotent)."""
        L = _Lib.get().lib
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
        self._cons = None
        for mm_attr in ("_cons_mm", "_data_mm"):
            mm = getattr(self, mm_attr)
            if mm is not None:
                with contextlib.suppress(BufferError):  # a view still alive: freed with it
                    mm.close()
                setattr(self, mm_attr, None)
        while self._links:
            L.bpf_link__destroy(self._links.pop())
        if self._obj:
            L.bpf_object__close(self._obj)
            self._obj = None
        self._maps.clear()

    # set-up helpers
    def _set_rodata(self, values: dict[str, int]) -> None:
        L = _Lib.get().lib
        size = ctypes.c_size_t()
        base = L.bpf_map__initial_value(self._maps[".rodata"], ctypes.byref(size))
        btf = L.bpf_object__btf(self._obj)
        sec = L.btf__find_by_name_kind(btf, b".rodata", _BTF_KIND_DATASEC)
        if not base or not btf or sec < 0:
            raise ProbeError(f"{self.obj_path}: no .rodata section in the probe object")
        t = L.btf__type_by_id(btf, sec)
        _name_off, info, _size = struct.unpack("<III", ctypes.string_at(t, 12))
        found: dict[str, tuple[int, int]] = {}
        for i in range(info & 0xFFFF):
            vtype, off, vsize = struct.unpack("<III", ctypes.string_at(t + 12 + 12 * i, 12))
            vt = L.btf__type_by_id(btf, vtype)
            vname_off = struct.unpack("<I", ctypes.string_at(vt, 4))[0]
            found[L.btf__name_by_offset(btf, vname_off).decode()] = (off, vsize)
        for name, value in values.items():
            if name not in found:
                raise ProbeError(f"{self.obj_path}: probe variable {name} missing")
            off, vsize = found[name]
            ctypes.memmove(base + off, value.to_bytes(vsize, "little"), vsize)

    def _update(self, map_name: str, key: bytes, value: bytes) -> None:
        L = _Lib.get().lib
        fd = L.bpf_map__fd(self._maps[map_name])
        kb = ctypes.create_string_buffer(key, len(key))
        vb = ctypes.create_string_buffer(value, len(value))
        err = L.bpf_map_update_elem(fd, kb, vb, 0)
        if err:
            raise ProbeError(f"cannot fill probe map {map_name}: {_errno_msg(err)}")

    def _fill_maps(self) -> None:
        for slot, blob in layout.flag_table_blobs().items():
            self._update("flag_tables", struct.pack("<I", slot), blob)
        for key, val in layout.enum_table_entries().items():
            self._update("enum_tables", struct.pack("<Q", key), struct.pack("<I", val))
        for code, slot in layout.drop_category_slots().items():
            self._update("drop_cats", struct.pack("<I", code), struct.pack("<I", slot))
        self.set_selection(self.selected, self.skip_enter)

    def set_selection(self, selected: Iterable[str], skip_enter: Iterable[str] = ()) -> None:
        """Replace the syscall selection (the probe reads it on every syscall: takes effect at once);
        the `layout.EXIT_COMPLETE` syscalls of ``skip_enter`` report their exit events only."""
        specs = layout.build_specs(selected, skip_enter)
        empty = bytes(layout.SPEC_SIZE)
        for nr in range(layout.MAX_SYSCALLS):
            self._update("specs", struct.pack("<I", nr), specs.get(nr, empty))
        self.selected = set(selected)
        self.skip_enter = set(skip_enter) & layout.EXIT_COMPLETE

    def _map_ring(self) -> None:
        L = _Lib.get().lib
        fd = L.bpf_map__fd(self._maps["events"])
        page = mmap.PAGESIZE
        self._page = page
        self._mask = self.ring_bytes - 1
        self._cons_mm = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        # the kernel offers the data pages twice in a row (so a record that wraps reads as one
        # piece); mapping them once halves what the ring adds to the RSS — a wrapping record is
        # put together in `read_batch` instead
        self._data_mm = mmap.mmap(fd, page + self.ring_bytes, mmap.MAP_SHARED, mmap.PROT_READ,
                                  offset=page)
        # one 8-byte store per batch (never struct '<Q': CPython writes it byte by byte)
        self._cons = ctypes.c_uint64.from_buffer(self._cons_mm)
        self._epoll = select.epoll()
        self._epoll.register(fd, select.EPOLLIN)

    # reading
    def stats(self) -> dict[str, int]:
        """Counters summed over CPUs, by STAT_NAMES."""
        L = _Lib.get().lib
        fd = L.bpf_map__fd(self._maps["stats"])
        vals = (ctypes.c_uint64 * self.ncpu)()
        out: dict[str, int] = {}
        for slot, name in enumerate(STAT_NAMES):
            key = ctypes.c_uint32(slot)
            if L.bpf_map_lookup_elem(fd, ctypes.byref(key), vals) == 0:
                out[name] = sum(vals)
            else:
                out[name] = 0
        return out

    def read_batch(self, handler: Callable[[memoryview], None], max_records: int = 1 << 16) -> int:
        """Hand every record available now (up to ``max_records``) to ``handler``; returns the count.

        The memoryview is only valid during the call (the slot is released after the batch).
        """
        dm = self._data_mm
        cons = self._cons
        if dm is None or cons is None:
            raise ProbeError("probe is closed")
        view = memoryview(dm)
        prod = struct.unpack_from("@Q", dm, 0)[0]
        c = cons.value
        page, mask = self._page, self._mask
        top = page + mask + 1  # end of the (single) mapping of the data pages
        hdr = struct.Struct("@I").unpack_from
        n = 0
        try:
            while c < prod and n < max_records:
                off = page + (c & mask)
                ln = hdr(dm, off)[0]  # 8-byte aligned: a header never wraps
                if ln & _RINGBUF_BUSY:
                    break
                size = ln & ~(_RINGBUF_BUSY | _RINGBUF_DISCARD)
                if not ln & _RINGBUF_DISCARD:
                    start = off + _RINGBUF_HDR
                    end = start + size
                    if end <= top:
                        handler(view[start:end])
                    else:  # the record wraps: its tail is at the start of the data pages
                        if start >= top:
                            start -= mask + 1
                            end -= mask + 1
                            handler(view[start:end])
                        else:
                            handler(memoryview(dm[start:top] + dm[page:page + end - top]))
                    n += 1
                c += (size + _RINGBUF_HDR + 7) & ~7
        finally:
            cons.value = c
            view.release()
        return n

    def wait(self, timeout: float = 0.01) -> None:
        """Block until a forced wakeup or ``timeout`` seconds (the probe rarely wakes us)."""
        if self._epoll is not None:
            self._epoll.poll(timeout)

    def records(self, timeout: float | None = None, idle: float = 0.01) -> Iterator[bytes]:
        """Raw event records (bytes), as they come; stops after ``timeout`` seconds when given."""
        deadline = None if timeout is None else time.monotonic() + timeout
        batch: list[bytes] = []
        append = batch.append

        def grab(rec: memoryview) -> None:
            append(rec.tobytes())

        while True:
            self.read_batch(grab)
            if batch:
                yield from batch
                batch.clear()
            elif deadline is not None and time.monotonic() >= deadline:
                return
            else:
                self.wait(idle)
            if deadline is not None and time.monotonic() >= deadline:
                self.read_batch(grab)
                yield from batch
                batch.clear()
                return

    def events(self, timeout: float | None = None, first_num: int = 1) -> Iterator[Any]:
        """Decoded events (``rae.syscall.events.SyscallEvent``), numbered from ``first_num``."""
        num = first_num
        for rec in self.records(timeout):
            evt = record_to_event(rec, num)
            if evt is not None:
                yield evt
                num += 1


_HDR = struct.Struct("<QQIHI")


_HDR_UNPACK = _HDR.unpack_from
_HDR_LEN = _HDR.size
_NEW = object.__new__


def record_to_event(rec: bytes | memoryview, num: int = 0) -> Any:
    """One probe record (a scap v2 event without the block wrapper) as a SyscallEvent, or None.

    Called once per live event: the slots are set directly (as the capture reader's hot loop
    does), which costs half of the keyword-argument constructor. A memoryview (a record still in
    the ring: the engine's reader) has its parameters copied out once, without the header."""
    ts, tid, _ln, code, nparams = _HDR_UNPACK(rec, 0)
    if code >= EVENT_MAX:
        return None
    e = _NEW(SyscallEvent)
    e.num = num
    e.ts = ts
    e.tid = tid
    e.cpu = 0
    e.code = code
    e.info = EVENTS[code]
    e._params = None
    e.raw = rec[_HDR_LEN:] if rec.__class__ is bytes else rec[_HDR_LEN:].tobytes()  # type: ignore[union-attr]
    e.nparams = nparams
    e.thread = e.fdinfo = e.extra = None
    return e
