"""Replay speed against sysdig on a capture of one million events, in one run.

    python -m bench.replay [--events N] [--capture FILE]

1. Writes (once, cached in /tmp) a capture of ≥ N events from the corpus captures with the
   project's capture writer (`bench/replay/make_capture.py`).
2. ``rae replay FILE -p "%evt.num %proc.name %fd.name" FILTER`` against
   ``sysdig -r FILE -p "%evt.num %proc.name %fd.name" FILTER`` with the same FILTER (Falco's
   expanded ``open_read and fd.directory in (/etc, /lib/x86_64-linux-gnu)``), wall time of each
   and the ratio; the outputs must be identical line for line.
3. ``rae replay FILE -r falco_rules-1.0.1.yaml`` (the whole legacy ruleset), events per second.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / ".." / "shared" / "corpus" / "upstream-rules" / "falco_rules-1.0.1.yaml"
FORMAT = "%evt.num %proc.name %fd.name"
# Falco's expanded `open_read and fd.directory in (...)`: the corpus captures read /etc and
# libraries but never write there, so an open_write filter would select nothing to compare
FILTER = (
    "evt.type in (open, openat, openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0 "
    "and fd.directory in (/etc, /lib/x86_64-linux-gnu)"
)


def _rae() -> str:
    exe = Path(sys.executable).with_name("rae")
    return str(exe) if exe.exists() else "rae"


def _timed(cmd: list[str]) -> tuple[float, bytes]:
    t = time.perf_counter()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    return time.perf_counter() - t, out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--capture", default="/tmp/rae-bench-replay-1m.scap")
    args = p.parse_args()
    cap = Path(args.capture)
    if not cap.exists():
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "replay" / "make_capture.py"), "-o", str(cap),
             "--events", str(args.events)],
            check=True,
        )
    n_events = None
    sysdig = shutil.which("sysdig")
    t_rae, out_rae = _timed([_rae(), "replay", str(cap), "-p", FORMAT, FILTER])
    result: dict[str, object] = {"capture": str(cap), "capture_mb": round(cap.stat().st_size / 2**20, 1)}
    result["rae_p_seconds"] = round(t_rae, 2)
    result["rae_p_lines"] = out_rae.count(b"\n")
    if sysdig:
        t_sd, out_sd = _timed([sysdig, "-r", str(cap), "-p", FORMAT, FILTER])
        result["sysdig_p_seconds"] = round(t_sd, 2)
        result["rae_over_sysdig"] = round(t_rae / t_sd, 2)
        result["identical_output"] = out_rae == out_sd
        _, count = _timed([sysdig, "-r", str(cap), "-p", "%evt.num"])
        n_events = count.count(b"\n")
    print(json.dumps(result), flush=True)

    env = dict(os.environ, FALCO_HOSTNAME="bench")
    t = time.perf_counter()
    proc = subprocess.run(
        [_rae(), "replay", str(cap), "-r", str(RULES), "-c", os.devnull, "-o", "json_output=true",
         "-o", "stdout_output.enabled=true", "-o", "syslog_output.enabled=false"],
        capture_output=True, check=True, env=env,
    )
    dt = time.perf_counter() - t
    alerts = proc.stdout.count(b"\n")
    rules = {"rules": "falco_rules-1.0.1.yaml", "seconds": round(dt, 2), "alerts": alerts}
    if n_events:
        rules["events"] = n_events
        rules["events_per_s"] = round(n_events / dt)
    print(json.dumps(rules), flush=True)


if __name__ == "__main__":
    main()
