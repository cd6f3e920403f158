"""Rules engine speed: load + compile time, and compiled-condition evaluations per second.

    python -m bench.rules [--repeat N] [--seconds S] [--capture FILE] [--passes P] [--match-only | --shared-only]

* load: ``falco_rules.yaml`` (the 1.0.1 ruleset of the legacy suite and the current one, each)
  together with ``k8s_audit_rules.yaml``, from file text to an indexed `Ruleset`: the first load
  in a fresh process (catalogs built, modules warm) and the median of repeated loads.
* evaluations: one typical rule ("Write below etc" of falco_rules-1.0.1, a 30-check condition
  with lists and macros) called on prepared events — the open/openat events of the corpus
  captures after the state engine ran — and the whole ruleset's ``match`` on every event of the
  captures (most events are rejected by the event-type index).
* match per event, before/after the syscall code index: a capture replayed through the state
  engine (as ``rae replay`` does), each event's ``Ruleset.match`` timed — the name-indexed match
  as it was before the code index (reproduced below) against the current one — for the
  built-in rules and falco_rules-1.0.1, passes alternated. The capture: ``--capture FILE``;
  else, as root, one recorded here with ``rae capture`` while the bench/live workload runs
  (cached in /tmp); else the corpus captures.
* match per event, before/after the shared extractions (per-event extraction cache): the same
  replay, the code-indexed match calling each candidate's plain condition (reproduced below)
  against the current one, per kind of event — open-family exits, events with no candidate,
  with one, with several — for the same two rulesets, passes alternated.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


# -- match per event: the code index against the name index it replaced ------------------------

LIVE_CAPTURE = Path("/tmp/rae-bench-rules-live.scap")


def name_indexed_match(rs: Any) -> Callable[[Any, str], list[Any]]:
    """`Ruleset.match` as it was before the code index (commit 1e1e09c): candidates by event-type
    name, every candidate's whole condition evaluated."""
    index = rs._index
    match_all = rs.match_all

    def match(evt: Any, source: str) -> list[Any]:
        idx = index.get(source)
        if idx is None:
            return []
        rules = idx.by_type.get(evt.evtype)
        if rules is None:
            rules = idx.for_type(evt.evtype)
        if not match_all:
            for r in rules:
                try:
                    if r.match(evt):
                        return [r]
                except Exception as exc:
                    rs._eval_error(r, exc)
            return []
        out = []
        for r in rules:
            try:
                if r.match(evt):
                    out.append(r)
            except Exception as exc:
                rs._eval_error(r, exc)
        return out

    return match


def plain_code_indexed_match(rs: Any) -> Callable[[Any, str], list[Any]]:
    """`Ruleset.match` as it was before the shared extractions (commit c05466b): the code index,
    each candidate's plain condition ``pred(evt)``, every extraction run by each check."""
    index = rs._index
    run = rs._run
    by_code: dict[str, dict[int, Any]] = {s: {} for s in index}
    by_type: dict[str, dict[str, Any]] = {s: {} for s in index}

    def match(evt: Any, source: str) -> list[Any]:
        idx = index.get(source)
        if idx is None:
            return []
        if evt.__class__ is idx.event_class:
            codes = by_code[source]
            entry = codes.get(evt.code)
            if entry is None or entry[0] is not evt.info:
                info = evt.info
                pairs = {} if info.name == "syscall" else idx.key_pairs(info.name, info.dir)
                entry = codes[evt.code] = (info, pairs)
            pairs = entry[1]
            if pairs.__class__ is dict:
                names = pairs
                pairs = names.get(evt.evtype)
                if pairs is None:
                    pairs = names[evt.evtype] = idx.key_pairs(evt.evtype, evt.info.dir)
        else:
            types = by_type[source]
            pairs = types.get(evt.evtype)
            if pairs is None:
                pairs = types[evt.evtype] = tuple((r, r.match) for r in idx.for_type(evt.evtype))
        return run(pairs, evt) if pairs else []  # the loop over the plain conditions, unchanged

    return match


def record_live_capture(path: Path, seconds: float = 4.0, rate: float = 600.0) -> None:
    """``rae capture`` (all default syscalls, whole host) while the bench/live workload runs paced."""
    argv = [sys.executable, "-m", "rae.cli", "capture", "-w", str(path), "--seconds", str(seconds + 3)]
    cap = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
    assert cap.stderr is not None
    line = cap.stderr.readline()
    if "capturing" not in line:
        cap.kill()
        raise SystemExit(f"rae capture did not start: {line}{cap.stderr.read()}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "bench.live.workload", "--seconds", str(seconds), "--rate",
                        str(rate), "--dir", tmp], check=True, cwd=str(ROOT), stdout=subprocess.DEVNULL)
    _, err = cap.communicate(timeout=60)
    if cap.returncode != 0:
        raise SystemExit(f"rae capture failed: {err}")


def capture_files(arg: str | None) -> tuple[list[str], str]:
    if arg:
        return [arg], arg
    if LIVE_CAPTURE.exists():
        return [str(LIVE_CAPTURE)], f"{LIVE_CAPTURE} (bench/live workload, cached)"
    if os.geteuid() == 0:
        try:
            record_live_capture(LIVE_CAPTURE)
            return [str(LIVE_CAPTURE)], f"{LIVE_CAPTURE} (bench/live workload, recorded now)"
        except (SystemExit, OSError, subprocess.SubprocessError) as exc:
            print(f"# no live capture ({exc}); using the corpus captures", file=sys.stderr)
    return [str(f) for f in sorted(TRACES.glob("*.scap"))], "corpus captures"


def _replayed(files: list[str]) -> Iterator[Any]:
    from rae.syscall.replay import open_capture_source

    for f in files:
        yield from open_capture_source(f)


def _timed_pass(files: list[str], match: Callable[[Any, str], Any]) -> tuple[int, int]:
    """Events and the nanoseconds spent in ``match`` over one replay (state at each event)."""
    clock = time.perf_counter_ns
    total = n = 0
    for evt in _replayed(files):
        t = clock()
        match(evt, "syscall")
        total += clock() - t
        n += 1
    return n, total


def _clock_ns(files: list[str], n: int) -> float:
    """What timing one call costs, per event: a no-op timed over the replay (best of two)."""

    def noop(evt: Any, source: str) -> None:
        return None

    return min(_timed_pass(files, noop)[1] for _ in range(2)) / n


def _alternated(passes: int, old: Any, new: Any, timed: Callable[[Any], Any]) -> dict[str, list[Any]]:
    """``timed(match)`` of the old and the new path, ``passes`` times each, the order swapped every pass
    (so that a drift of the machine hits both)."""
    out: dict[str, list[Any]] = {"old": [], "new": []}
    for i in range(passes):
        for name, fn in (("old", old), ("new", new)) if i % 2 == 0 else (("new", new), ("old", old)):
            out[name].append(timed(fn))
    return out


def bench_match_index(files: list[str], rules: list[str], passes: int) -> dict[str, object]:
    from rae.rules import load_rules

    rs = load_rules(rules)
    old = name_indexed_match(rs)
    new = rs.match
    # one checking pass: same rules for every event, and how many conditions each path calls
    n = same = old_calls = new_calls = 0
    for evt in _replayed(files):
        n += 1
        same += [r.name for r in old(evt, "syscall")] == [r.name for r in new(evt, "syscall")]
        old_calls += len(rs.candidates("syscall", evt.evtype))
        new_calls += len(rs.candidates("syscall", evt.evtype, evt.info.dir))

    timer = _clock_ns(files, n)
    times = _alternated(passes, old, new, lambda fn: _timed_pass(files, fn)[1] / n - timer)
    o, w = statistics.median(times["old"]), statistics.median(times["new"])
    return {
        "what": "Ruleset.match per event, name index (old) vs code index (new)",
        "rules": [Path(r).name for r in rules],
        "events": n,
        "identical_results": same == n,
        "conditions_called_per_event": {"old": round(old_calls / n, 2), "new": round(new_calls / n, 2)},
        "match_ns_per_event": {"old": round(o), "new": round(w)},
        "passes_ns": {k: [round(x) for x in v] for k, v in times.items()},
        "new_over_old": round(w / o, 3),
    }


OPEN_FAMILY = frozenset(("open", "openat", "openat2", "creat"))


def _timed_pass_by_kind(
    files: list[str], match: Callable[[Any, str], Any], kinds: list[str]
) -> dict[str, list[int]]:
    """Per kind of event (``kinds[i]`` for the i-th event): [events, nanoseconds in ``match``]."""
    clock = time.perf_counter_ns
    out: dict[str, list[int]] = {k: [0, 0] for k in set(kinds)}
    for evt, kind in zip(_replayed(files), kinds, strict=True):
        t = clock()
        match(evt, "syscall")
        d = clock() - t
        acc = out[kind]
        acc[0] += 1
        acc[1] += d
    return out


def bench_shared_extractions(files: list[str], rules: list[str], passes: int) -> dict[str, object]:
    from rae.rules import load_rules

    rs = load_rules(rules)
    old = plain_code_indexed_match(rs)
    new = rs.match
    kinds: list[str] = []
    same = 0
    for evt in _replayed(files):
        same += [r.name for r in old(evt, "syscall")] == [r.name for r in new(evt, "syscall")]
        n_cand = len(rs.candidates("syscall", evt.evtype, evt.info.dir))
        if evt.evtype in OPEN_FAMILY and evt.info.dir == "<":
            kinds.append("open-family exits")
        else:
            kinds.append("no candidate" if n_cand == 0 else "one candidate" if n_cand == 1 else "several candidates")
    n = len(kinds)

    clock_ns = _clock_ns(files, n)
    runs = _alternated(passes, old, new, lambda fn: _timed_pass_by_kind(files, fn, kinds))

    def per_event(name: str, kind: str | None) -> float:
        vals = []
        for run in runs[name]:
            items = run.items() if kind is None else [(kind, run[kind])]
            cnt = sum(c for _, (c, _ns) in items)
            vals.append(sum(ns for _, (_c, ns) in items) / cnt - clock_ns)
        return statistics.median(vals)

    figures: dict[str, object] = {}
    for kind in [None, *sorted(set(kinds))]:
        o, w = per_event("old", kind), per_event("new", kind)
        label = kind or "all events"
        figures[label] = {
            "events": n if kind is None else kinds.count(kind),
            "old_ns": round(o),
            "new_ns": round(w),
            "new_over_old": round(w / o, 3) if o > 0 else None,
        }
    shared_buckets = sum(
        1 for _, b in rs._index["syscall"].by_code.values() if b.__class__ is tuple and b[1]
    )
    return {
        "what": "Ruleset.match per event, plain conditions (old) vs shared extractions (new)",
        "rules": [Path(r).name for r in rules],
        "events": n,
        "identical_results": same == n,
        "code_buckets_with_shared_extractions": shared_buckets,
        "match_ns_per_event": figures,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--capture", help="capture for the match-per-event figure (default: see above)")
    p.add_argument("--passes", type=int, default=4, help="timed replays per path (alternated)")
    p.add_argument("--match-only", action="store_true", help="only the match-per-event figures")
    p.add_argument("--shared-only", action="store_true", help="only the shared-extractions figure")
    args = p.parse_args()
    k8s = str(UP / "k8s_audit_rules.yaml")
    if not (args.match_only or args.shared_only):
        for rules in ("falco_rules-1.0.1.yaml", "falco_rules.yaml"):
            print(json.dumps(bench_load([str(UP / rules), k8s], args.repeat)), flush=True)
        for r in bench_eval(args.seconds):
            print(json.dumps(r), flush=True)
    files, what = capture_files(args.capture)
    print(json.dumps({"capture": what}), flush=True)
    for rules in ([str(ROOT / "rules")], [str(UP / "falco_rules-1.0.1.yaml")]):
        if not args.shared_only:
            print(json.dumps(bench_match_index(files, rules, args.passes)), flush=True)
        print(json.dumps(bench_shared_extractions(files, rules, args.passes)), flush=True)


if __name__ == "__main__":
    main()
