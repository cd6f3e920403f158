"""Rules engine speed: load + compile time, and compiled-condition evaluations per second.

    python -m bench.rules [--repeat N]

* load: ``falco_rules.yaml`` (the 1.0.1 ruleset of the legacy suite and the current one, each)
  together with ``k8s_audit_rules.yaml``, from file text to an indexed `Ruleset`: the first load
  in a fresh process (catalogs built, modules warm) and the median of repeated loads.
* evaluations: one typical rule ("Write below etc" of falco_rules-1.0.1, a 30-check condition
  with lists and macros) called on prepared events — the open/openat events of the corpus
  captures after the state engine ran — and the whole ruleset's ``match`` on every event of the
  captures (most events are rejected by the event-type index).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".." / "shared" / "corpus"
UP = CORPUS / "upstream-rules"
TRACES = CORPUS / "falco-regression" / "trace_files"

_FIRST_LOAD = """
import time, sys
t = time.perf_counter()
from rae.rules import load_rules
t1 = time.perf_counter()
load_rules(sys.argv[1:])
print(time.perf_counter() - t1, t1 - t)
"""


def bench_load(files: list[str], repeat: int) -> dict[str, object]:
    # a fresh process, with bytecode caches as an installed package has them (the first run writes them)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", _FIRST_LOAD, *files], capture_output=True, text=True, check=True, env=env
        )
    first, imports = (float(x) for x in out.stdout.split())
    from rae.rules import load_rules

    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        rs = load_rules(files)
        times.append(time.perf_counter() - t)
    return {
        "files": [Path(f).name for f in files],
        "rules": len(rs.rules),
        "first_load_ms": round(first * 1000, 1),
        "import_ms": round(imports * 1000, 1),
        "median_load_ms": round(statistics.median(times) * 1000, 1),
        "goal_ms": 150,
    }


def bench_eval(seconds: float) -> list[dict[str, object]]:
    from rae.rules import load_rules
    from rae.syscall.replay import open_capture_source

    rs = load_rules([str(UP / "falco_rules-1.0.1.yaml")])
    events = []
    for f in sorted(TRACES.glob("*.scap")):
        events.extend(open_capture_source(str(f)))
    rule = next(r for r in rs.rules if r.name == "Write below etc")
    opens = [e for e in events if e.evtype in ("open", "openat")]
    results = []

    n = 0
    t0 = time.perf_counter()
    match = rule.match
    while time.perf_counter() - t0 < seconds:
        for e in opens:
            match(e)
        n += len(opens)
    dt = time.perf_counter() - t0
    one = {"what": "one rule: Write below etc", "events": len(opens), "evals_per_s": round(n / dt), "goal": 1_000_000}
    results.append(one)

    n = 0
    t0 = time.perf_counter()
    m = rs.match
    while time.perf_counter() - t0 < seconds:
        for e in events:
            m(e, "syscall")
        n += len(events)
    dt = time.perf_counter() - t0
    results.append({"what": "whole ruleset match (80 rules)", "events": len(events), "events_per_s": round(n / dt)})
    return results


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--seconds", type=float, default=3.0)
    args = p.parse_args()
    k8s = str(UP / "k8s_audit_rules.yaml")
    for rules in ("falco_rules-1.0.1.yaml", "falco_rules.yaml"):
        print(json.dumps(bench_load([str(UP / rules), k8s], args.repeat)), flush=True)
    for r in bench_eval(args.seconds):
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
