"""``python -m bench.live.drain [-o KEY=VALUE]...`` (root, probe built): the probe alone, as a peer of ``rae run``.

Loads the config and the built-in rules exactly as ``rae run`` does, attaches the probe with the
same syscall selection (and the same exit-only set and ring size), and then only empties the ring buffer:
records are walked and dropped, with no decoding, no state and no rules. The workload's loss with
this process running is the kernel side's share of the engine's cost (the probe's programs, the
syscall tracepoints they enable, the ring's copies) plus a near-free reader; what ``rae run``
loses beyond it is the engine's user space.

Prints ``ready`` once attached; on SIGTERM/SIGINT prints one JSON line (records read, the probe's
counters) and exits.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from rae.engine import Engine, RunArgs, exit_only_syscalls, syscall_selection
from rae.syscall.ebpf import Probe

#: read at most this many records per batch, as the engine does
BATCH = 8192


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.live.drain", description=__doc__.split("\n", 1)[0])
    p.add_argument("-o", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, as for rae run (repeatable)")
    a = p.parse_args()
    engine = Engine(RunArgs(overrides=("load_plugins=[]", *a.options)))
    engine.prepare()  # the config and the rules; no source is opened
    assert engine.ruleset is not None and engine.cfg is not None and engine.plan is not None
    selection = syscall_selection(engine.ruleset, engine.cfg)
    probe = Probe(selected=selection, skip_enter=exit_only_syscalls(engine.ruleset, selection),
                  ring_bytes=engine.plan.ring_bytes)  # the ring rae run would have (buf_size_preset)
    probe.open()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    records = 0

    def drop(_rec: memoryview) -> None:
        pass

    print("ready", flush=True)
    try:
        while not stop.is_set():
            n = probe.read_batch(drop, BATCH)
            records += n
            if n < BATCH:
                probe.wait(0.05)
        records += probe.read_batch(drop, 1 << 30)
        print(json.dumps({"records": records, **probe.stats()}), flush=True)
    finally:
        probe.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
