#!/usr/bin/env python3
"""Writes a large ``.scap`` capture for the replay benchmark from the corpus captures.

The corpus captures are merged: each one's threads, fds and events get their tids (and PID-typed
event parameters) shifted by ``index * 1,000,000`` so that they do not collide, and their events are
repeated, round after round, with timestamps shifted forward so that time keeps increasing, until
at least ``--events`` events are written. The header holds the union of the captures' process, fd,
user and interface tables, so ``proc.name`` & co. resolve as in the originals (threads that exit in
one round are recreated by the next round's clone events, or stay unknown, exactly as sysdig sees).

    bench/replay/make_capture.py [-o OUT] [--events N] [--gzip] [CAPTURE...]
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from rae.syscall.events import FdRecord, ThreadRecord  # noqa: E402
from rae.syscall.scap_reader import ScapReader  # noqa: E402
from rae.syscall.scap_writer import ScapWriter, encode_params  # noqa: E402

CORPUS = ROOT / ".." / "shared" / "corpus" / "falco-regression" / "trace_files"
TID_SHIFT = 1_000_000


def _shift(v: int, by: int) -> int:
    return v + by if v > 0 else v


def _load(path: str, by: int) -> tuple[ScapReader, list[tuple[int, int, int, int, int, bytes]]]:
    """The capture's reader (header shifted) and its events as (code, ts, tid, cpu, nparams, raw)."""
    r = ScapReader(path)
    evts: list[tuple[int, int, int, int, int, bytes]] = []
    with r:
        for e in r:
            if e.info.name == "procinfo":
                continue  # per-thread CPU samples: sysdig hides them; a benchmark of them measures nothing
            raw = bytes(e.raw or b"")
            if by and any(p.type == "PID" for p in e.info.params[:e.nparams]):
                params = list(e.params)
                for i, p in enumerate(e.info.params[:len(params)]):
                    if p.type == "PID" and isinstance(params[i], int):
                        params[i] = _shift(params[i], by)
                raw = encode_params(e.code, params)
            evts.append((e.code, e.ts, _shift(e.tid, by), e.cpu, e.nparams, raw))
    r.threads = [dataclasses.replace(t, tid=_shift(t.tid, by), pid=_shift(t.pid, by), ptid=_shift(t.ptid, by))
                 for t in r.threads]
    r.fds = {_shift(tid, by): [dataclasses.replace(f, tid=_shift(f.tid, by)) for f in lst]
             for tid, lst in r.fds.items()}
    return r, evts


def make_capture(out: str, captures: list[str], nevents: int, gzip: bool = False) -> int:
    """Write the merged capture; returns the number of events written."""
    loaded = [_load(p, i * TID_SHIFT) for i, p in enumerate(captures)]
    threads: list[ThreadRecord] = []
    fds: dict[int, list[FdRecord]] = {}
    users: dict[int, object] = {}
    groups: dict[int, object] = {}
    machine = interfaces = None
    for r, _ in loaded:
        threads.extend(r.threads)
        fds.update(r.fds)
        for u in r.users:
            users.setdefault(u.uid, u)
        for g in r.groups:
            groups.setdefault(g.gid, g)
        machine = machine or r.machine
        interfaces = interfaces or r.interfaces
    written = 0
    ts = min(e[1] for _, evts in loaded for e in evts if 0 < e[1] < 1 << 63)
    with ScapWriter(out, gzip=gzip, compresslevel=1) as w:
        w.write_header(machine=machine, threads=threads, fds=fds, users=list(users.values()),  # type: ignore[arg-type]
                       groups=list(groups.values()), interfaces=interfaces or [])  # type: ignore[arg-type]
        write = w.write_raw
        while written < nevents:
            for _, evts in loaded:
                t0 = next((e[1] for e in evts if 0 < e[1] < 1 << 63), 0)
                base = ts
                for code, ets, tid, cpu, n, raw in evts:
                    if 0 < ets < 1 << 63:  # meta events (container JSON) may carry ts 0 / -1: keep them
                        ts = max(ts + 1, base + (ets - t0))
                        ets = ts
                    write(code, ets, tid, cpu, n, raw)
                written += len(evts)
                ts += 1000
                if written >= nevents:
                    break
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="/tmp/rae-replay-1m.scap")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--gzip", action="store_true", help="gzip the output (level 1)")
    ap.add_argument("captures", nargs="*", help="default: the corpus falco trace files")
    a = ap.parse_args(argv)
    caps = a.captures or sorted(glob.glob(str(CORPUS / "*.scap")))
    if not caps:
        print("no input captures", file=sys.stderr)
        return 1
    t = time.perf_counter()
    n = make_capture(a.output, caps, a.events, a.gzip)
    print(f"{a.output}: {n} events from {len(caps)} captures in {time.perf_counter() - t:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
