"""``python -m bench.live.per_round [--rate R] [--seconds S] [--repeat N]`` (root): the engine's CPU per
workload round at a paced rate — the figure to compare two versions of the engine by.

Starts ``rae run`` (built-in rules, no stdout alerts) from the source tree this module belongs to
(run ``python -m bench.live.per_round`` inside a git worktree of another commit, with its probe
built, to measure that commit), runs one workload
process paced at R rounds/s for S seconds, and prints the engine's utime + stime divided by the
rounds done, N times. Paced, not flat out: the figure then depends little on what else the machine
runs (a flat-out ratio moves ±10 % with the load of a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.live.__main__ import REPO, EngineProc

#: stdout alerts off and no config-file watch: the engine's work is the events and the rules
_OPTIONS = ["-o", "stdout_output.enabled=false", "-o", "watch_config_files=false"]


def one_run(rate: float, seconds: float) -> tuple[int, float]:
    """(rounds done, engine CPU seconds spent on them)."""
    with tempfile.TemporaryDirectory(prefix="rae-bench-round-") as tmp:
        eng = EngineProc(Path(tmp), _OPTIONS)
        try:
            eng.start()
            time.sleep(2.0)  # start-up work (rule buckets compile on first events) out of the figure
            c0 = eng.cpu_seconds()
            out = subprocess.run([sys.executable, "-m", "bench.live.workload", "--seconds", str(seconds),
                                  "--rate", str(rate), "--dir", tmp], cwd=str(REPO), capture_output=True,
                                 text=True, check=True).stdout
            time.sleep(1.0)  # the engine's backlog
            used = eng.cpu_seconds() - c0
        finally:
            eng.stop()
    return int(json.loads(out)["rounds"]), used


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.live.per_round", description=__doc__.split("\n", 1)[0])
    p.add_argument("--rate", type=float, default=600.0, help="rounds per second (default 600)")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/live needs root: rae run attaches the eBPF probe")
    for _ in range(a.repeat):
        rounds, used = one_run(a.rate, a.seconds)
        print(json.dumps({"tree": str(REPO), "rounds": rounds, "engine_cpu_s": round(used, 2),
                          "engine_us_per_round": round(used / max(rounds, 1) * 1e6)}))


if __name__ == "__main__":
    main()
