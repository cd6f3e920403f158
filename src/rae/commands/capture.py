"""``rae capture -w FILE [--seconds S | -n COUNT] [FILTER]``: live events into a .scap file sysdig reads.

The file starts with a /proc snapshot (machine, threads, fds, users, interfaces) as capture
headers, then one event block per probe record (the probe already lays events out as scap
events). With a FILTER, the state engine runs on every event so the filter sees process and fd
fields, and only matching events are written (as ``sysdig -w FILE FILTER`` does).
"""

from __future__ import annotations

import argparse
import signal
import struct
import sys
import time
from types import FrameType
from typing import Any

from rae.errors import RaeError, UsageError

_HDR = struct.Struct("<QQIHI")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-w", "--write", dest="write", metavar="FILE", required=True,
                   help="capture file to write (.scap; gzip'd when the name ends with .gz)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds")
    stop.add_argument("-n", "--count", type=int, metavar="COUNT", help="stop after COUNT events written")
    p.add_argument("--all-syscalls", action="store_true",
                   help="capture every syscall (generic events for those without a dedicated layout)")
    p.add_argument("--ring-mb", type=int, default=16, metavar="MB",
                   help="ring buffer size in MiB, a power of two (default 16)")
    p.add_argument("filter", nargs="*", metavar="FILTER", help="sysdig-like filter (write matching events only)")


def main(args: argparse.Namespace) -> int:
    from rae.syscall.ebpf import Probe, record_to_event
    from rae.syscall.probe import layout
    from rae.syscall.procscan import scan_proc
    from rae.syscall.scap_writer import ScapWriter

    if args.count is not None and args.count <= 0:
        raise UsageError("-n COUNT must be positive")
    if args.seconds is not None and args.seconds <= 0:
        raise UsageError("--seconds S must be positive")
    ring = args.ring_mb << 20
    if args.ring_mb <= 0 or ring & (ring - 1):
        raise UsageError("--ring-mb must be a power of two")
    text = " ".join(args.filter).strip()
    match = None
    if text:
        from rae.rules import compile_filter

        match = compile_filter(text, "syscall")
    selected = (layout.select_syscalls(None) if args.all_syscalls
                else set(layout.CUSTOM_LAYOUTS) | layout.STATE_SYSCALLS)

    stopping = False

    def on_signal(_sig: int, _frm: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    written = 0
    try:
        with Probe(selected=selected, ring_bytes=ring) as probe:
            snap = scan_proc()
            state: Any = None
            if match is not None:
                from rae.syscall.state import State

                state = State()
                state.load_header(snap)
            try:
                writer = ScapWriter(args.write, gzip=args.write.endswith(".gz"))
            except OSError as exc:
                raise RaeError(f"{args.write}: cannot write: {exc.strerror}") from None
            with writer:
                writer.write_header(machine=snap.machine, threads=snap.threads, fds=snap.fds,
                                    users=snap.users, groups=snap.groups, interfaces=snap.interfaces)
                deadline = None if args.seconds is None else time.monotonic() + args.seconds
                # scripts (and the tests) start their workload on this line, not after a guessed delay
                sys.stderr.write(f"rae capture: capturing to {args.write} (SIGINT or SIGTERM stops)\n")
                sys.stderr.flush()
                num = 0
                pending: list[bytes] = []

                def grab(rec: memoryview) -> None:
                    pending.append(rec.tobytes())

                drain_until = 0.0
                while True:
                    if not drain_until and (stopping or (deadline is not None and time.monotonic() >= deadline)):
                        # what happened before the stop is still in the ring: read it out (bounded,
                        # other processes keep writing), as the engine's syscall loop does
                        drain_until = time.monotonic() + 1.0
                    n = probe.read_batch(grab)
                    for rec in pending:
                        num += 1
                        if match is not None:
                            evt = record_to_event(rec, num)
                            if evt is None:
                                continue
                            state.process(evt)
                            if not match(evt):
                                continue
                        ts, tid, _ln, code, nparams = _HDR.unpack_from(rec, 0)
                        writer.write_raw(code, ts, tid, 0, nparams, memoryview(rec)[_HDR.size:])
                        written += 1
                        if written == args.count:
                            break
                    pending.clear()
                    if written == args.count or (drain_until and (not n or time.monotonic() >= drain_until)):
                        break
                    if not n:
                        probe.wait(0.01)
            stats = probe.stats()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    sys.stderr.write(f"rae capture: {written} events written to {args.write}; kernel drops: "
                     f"{stats['drops_full']} (ring full), {stats['truncated']} truncated\n")
    return 0
