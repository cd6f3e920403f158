"""Probe throughput into Python and overhead on a syscall workload (run as root: python bench/ebpf/overhead.py).

The workload is a separate process doing openat+close of /dev/null for a fixed time (the
loader's own process is excluded by the probe). Three runs: without the probe, with the probe
and a consumer that only walks the ring (raw records), and with a consumer that decodes every
record into a SyscallEvent and reads its parameters. Prints one JSON line per run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from rae.syscall.ebpf import Probe, record_to_event

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
WORKLOAD = ("import os, time\nend = time.monotonic() + %f\nn = 0\n"
            "while time.monotonic() < end:\n"
            "    for _ in range(1000):\n        os.close(os.open('/dev/null', os.O_RDONLY))\n    n += 1000\n"
            "print(n)\n")


def workload() -> float:
    out = subprocess.run([sys.executable, "-c", WORKLOAD % SECONDS], capture_output=True, text=True, check=True)
    return int(out.stdout) / SECONDS


def with_probe(decode: bool, selected: set[str] | None = None) -> dict[str, float]:
    sel = {"openat", "close"} if selected is None else selected
    with Probe(selected=sel, ring_bytes=16 << 20) as probe:
        stop = threading.Event()
        count = [0]

        def consume() -> None:
            n = 0
            while not stop.is_set():
                for rec in probe.records(timeout=0.05):
                    if decode:
                        evt = record_to_event(rec, n)
                        if evt is not None:
                            _ = evt.params
                    n += 1
            count[0] = n

        cpu0 = time.process_time()
        t = threading.Thread(target=consume)
        t.start()
        ops = workload()
        stop.set()
        t.join()
        cpu = time.process_time() - cpu0
        st = probe.stats()
    return {"ops_per_s": ops, "events_per_s": count[0] / SECONDS, "consumer_cpu_share": cpu / SECONDS,
            "drops": st["drops_full"]}


def main() -> None:
    base = workload()
    print(json.dumps({"run": "no probe", "ops_per_s": round(base)}))
    idle = with_probe(False, {"execve"})
    print(json.dumps({"run": "probe attached, workload syscalls not selected", "ops_per_s": round(idle["ops_per_s"]),
                      "throughput_ratio": round(idle["ops_per_s"] / base, 3)}))
    for decode in (False, True):
        r = with_probe(decode)
        r = {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}
        r["throughput_ratio"] = round(r["ops_per_s"] / base, 3)
        print(json.dumps({"run": "probe, " + ("decode to SyscallEvent" if decode else "raw records"), **r}))


if __name__ == "__main__":
    main()
