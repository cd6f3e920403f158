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

from bench.live.__main__ import REPO, free_port

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def one_run(rate: float, seconds: float) -> tuple[int, float]:
    """(rounds done, engine CPU seconds spent on them)."""
    argv = [sys.executable, "-m", "rae.cli", "run", "-o", "webserver.listen_address=127.0.0.1",
            "-o", f"webserver.listen_port={free_port()}", "-o", "stdout_output.enabled=false",
            "-o", "watch_config_files=false"]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))  # this tree's rae, not the installed one
    eng = subprocess.Popen(argv, cwd=str(REPO), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    try:
        assert eng.stderr is not None
        for line in eng.stderr:
            if "Starting the engine" in line:
                break
        else:
            raise SystemExit(f"rae run exited with {eng.wait()}")
        time.sleep(2.0)  # start-up work (rule buckets compile on first events) out of the figure
        with tempfile.TemporaryDirectory(prefix="rae-bench-round-") as tmp:
            c0 = _cpu(eng.pid)
            out = subprocess.run([sys.executable, "-m", "bench.live.workload", "--seconds", str(seconds),
                                  "--rate", str(rate), "--dir", tmp], cwd=str(REPO), capture_output=True,
                                 text=True, check=True).stdout
            time.sleep(1.0)  # the engine's backlog
            used = _cpu(eng.pid) - c0
        return int(json.loads(out)["rounds"]), used
    finally:
        eng.terminate()
        eng.wait(30)


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
