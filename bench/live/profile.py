"""``python -m bench.live.profile [--seconds S] [--rate R]`` (root): where the engine's syscall thread spends
its time under the bench/live workload.

Runs the engine in this process (built-in rules, alerts to /dev/null) with its ``rae-syscall``
thread under cProfile, runs the workload (flat out, or paced at R rounds/s) for S seconds and
prints the top functions by own time and by cumulative time. cProfile roughly doubles the cost
of Python calls, so read shares, not absolute figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time

from bench.live.__main__ import free_port, workload
from rae.engine import Engine, RunArgs


class ProfiledEngine(Engine):
    """The engine with its syscall loop under cProfile (the profile is kept in ``self.profile``)."""

    profile: cProfile.Profile | None = None

    def _syscall_loop(self) -> None:
        prof = cProfile.Profile()
        self.profile = prof
        prof.enable()
        try:
            super()._syscall_loop()
        finally:
            prof.disable()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.live.profile", description=__doc__.split("\n", 1)[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rate", type=float, default=None, help="rounds/s in all (default: flat out)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--out", metavar="FILE", help="also dump the raw profile (pstats) to FILE")
    a = p.parse_args()
    args = RunArgs(overrides=("webserver.listen_address=127.0.0.1", f"webserver.listen_port={free_port()}",
                              "load_plugins=[]", "stdout_output.enabled=false", "file_output.enabled=true",
                              "file_output.filename=/dev/null", "watch_config_files=false"))
    engine = ProfiledEngine(args)
    engine.prepare()
    engine.start()
    with tempfile.TemporaryDirectory(prefix="rae-bench-prof-") as tmp:
        try:
            time.sleep(1.0)
            rounds = workload(a.workers, a.seconds, tmp, a.rate)
            time.sleep(1.0)
        finally:
            engine.shutdown()
    c = engine.counters
    print(f"workload {rounds:.0f} rounds/s; engine read {c.records} records, processed {c.syscall_processed},"
          f" alerts {c.alerts}, kernel drops {c.kernel.n_drops}")
    assert engine.profile is not None
    if a.out:
        engine.profile.dump_stats(a.out)
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(engine.profile, stream=buf).sort_stats(key).print_stats(a.top)
        text = buf.getvalue()
        print(text[text.find("   ncalls"):] if "   ncalls" in text else text)


if __name__ == "__main__":
    main()
