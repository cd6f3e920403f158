"""The probe's ring buffer is mapped once: records that wrap around its end must still arrive whole.

A 16 KiB ring and a child opening paths of varied lengths make records straddle the end of the
data pages many times; every record read must decode to exactly the path the child opened.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from live_probe import live

from rae.syscall import ebpf

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]

RING = 16 << 10
N = 4000
CHILD = f"""
import os, time
for i in range({N}):
    p = "/nonexistent-rae-wrap/%06d-" % i + chr(97 + i % 26) * (i % 173)
    try:
        os.open(p, os.O_RDONLY)
    except OSError:
        pass
    if i % 20 == 0:
        time.sleep(0.002)
"""


@live
def test_records_wrapping_the_ring_arrive_whole() -> None:
    probe = ebpf.Probe(selected={"openat"}, ring_bytes=RING, wakeup_bytes=1024)
    probe.open()
    try:
        proc = subprocess.Popen([sys.executable, "-c", CHILD])
        try:
            seen: dict[int, bytes] = {}
            nbytes = 0
            end = time.monotonic() + 40
            quiet = None
            while time.monotonic() < end:
                got = False
                for evt in probe.events(timeout=0.02):
                    got = True
                    nbytes += len(evt.raw) + 26
                    if evt.tid != proc.pid or evt.info.dir != "<":
                        continue
                    name = evt.arg("name")
                    if isinstance(name, bytes) and name.startswith(b"/nonexistent-rae-wrap/"):
                        seen[int(name[22:28])] = name
                if proc.poll() is not None:
                    if quiet is None:
                        quiet = time.monotonic()
                    elif not got and time.monotonic() - quiet > 0.3:
                        break
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    finally:
        probe.close()
    assert nbytes > 20 * RING, f"only {nbytes} bytes read: the ring did not wrap often enough"
    assert len(seen) > N // 2, f"only {len(seen)} of {N} opens read"
    for i, name in seen.items():
        assert name == (f"/nonexistent-rae-wrap/{i:06d}-" + chr(97 + i % 26) * (i % 173)).encode()
