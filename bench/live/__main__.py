"""``python -m bench.live [--seconds S]`` (root, probe built): a syscall workload with and without rae run.

In one run (details in bench/README.md):

1. the workload (bench/live/workload.py, ``--workers`` processes, default one per CPU) flat out
   for S seconds without the engine;
2. the same with the peer *probe only* (bench/live/drain.py: the probe with the engine's syscall
   selection, its ring emptied and nothing else) — the kernel side's share of the loss;
3. ``rae run`` with the built-in rules (alerts to a file, webserver on a free loopback port) started,
   the first time left idle for a moment (idle CPU, RSS);
4. the workload flat out again: throughput, the engine's CPU share (``/proc/<pid>/stat``),
   its drops (``/metrics``), events per second into the engine and how long it takes to catch up;
   1–4 ``--repeat`` times (the engine stopped in between), each ratio against the baselines either side;
5. the workload paced at rising rates (×1.5 per step, then bisection) until drops appear or the
   engine falls behind, within ``--step-budget`` seconds: the highest rate sustained with zero drops;
6. one paced run at half the flat-out rate with the kernel's BPF run-time statistics on: the probe's
   in-kernel time per round (only there: the statistics slow every program run down);
7. the engine stopped and the workload flat out once more (the last baseline).

Prints one JSON line per measurement and a summary at the end (``--json FILE`` writes it too).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
_TICK = os.sysconf("SC_CLK_TCK")
#: the engine's counters the benchmark reads from /metrics (sample name → short key)
_COUNTERS = {
    "falcosecurity_scap_n_evts_total": "records",
    "falcosecurity_falco_num_evts_total": "processed",
    "falcosecurity_scap_n_drops_total": "kernel_drops",
    "rae_user_drops_total": "user_drops",
    "falcosecurity_falco_outputs_queue_num_drops_total": "queue_drops",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


# --------------------------------------------------------------------------- the workload


def workload(workers: int, seconds: float, tmpdir: str, rate: float | None = None) -> float:
    """Rounds per second done by ``workers`` processes in ``seconds`` (``rate``: total rounds/s, paced)."""
    argv = [sys.executable, "-m", "bench.live.workload", "--seconds", str(seconds), "--dir", tmpdir]
    if rate is not None:
        argv += ["--rate", str(rate / workers)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=str(REPO)) for _ in range(workers)]
    total = 0.0
    for p in procs:
        out, _ = p.communicate(timeout=seconds + 60)
        if p.returncode != 0:
            raise SystemExit(f"workload failed with exit code {p.returncode}")
        r = json.loads(out)
        total += r["rounds"] / r["seconds"]
    return total


# --------------------------------------------------------------------------- the engine


@dataclass
class EngineProc:
    """``rae run`` with the built-in rules as a child process, and what /proc and /metrics say of it."""

    tmp: Path
    extra: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "rae.cli", "run", "-o", "webserver.listen_address=127.0.0.1",
                "-o", f"webserver.listen_port={self.port}", "-o", "load_plugins=[]", *self.extra]
        # PYTHONPATH: this tree's rae, not the installed one (a worktree of another commit measures that commit)
        env = dict(os.environ, FALCO_HOSTNAME="bench-live", PYTHONPATH=str(REPO / "src"))
        with open(self.tmp / "alerts.json", "wb") as out, open(self.tmp / "engine.log", "wb") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=str(REPO))
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SystemExit(f"rae run exited with {self.proc.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"rae run not healthy within 60 s: {self.log()}")

    def log(self) -> str:
        return (self.tmp / "engine.log").read_text(errors="replace")[-3000:]

    def counters(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = dict.fromkeys(_COUNTERS.values(), 0.0)
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                key = _COUNTERS.get(s.name)
                if key is not None:
                    out[key] += s.value
        return out

    def cpu_seconds(self) -> float:
        """utime + stime of the engine (all its threads), from /proc/<pid>/stat."""
        assert self.proc is not None
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK

    def memory_mb(self) -> dict[str, float]:
        """VmRSS (now; split into anonymous, file-backed and shared — the ring buffer's mapping is
        shared memory) and VmHWM (peak) in MiB, from /proc/<pid>/status."""
        assert self.proc is not None
        names = {"VmRSS": "rss_mb", "RssAnon": "rss_anon_mb", "RssFile": "rss_file_mb",
                 "RssShmem": "rss_shmem_mb", "VmHWM": "peak_rss_mb"}
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in names:
                out[names[key]] = round(int(value.split()[0]) / 1024, 1)
        return out

    def alerts(self) -> int:
        return sum(1 for _ in open(self.tmp / "alerts.json", "rb"))

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def probe_ns() -> int:
    """Nanoseconds the probe's programs ran so far (all CPUs, every process's syscalls), from the
    kernel's BPF run-time statistics (on only inside `bpf_stats`): the probe's own cost, which the
    engine's CPU share does not include — it is paid inside the syscalls."""
    try:
        out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, timeout=10)
        progs = json.loads(out.stdout or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0
    return sum(int(q.get("run_time_ns", 0)) for q in progs if str(q.get("name", "")).startswith("rae_"))


@contextlib.contextmanager
def bpf_stats() -> Iterator[bool]:
    """``kernel.bpf_stats_enabled`` on for the block (restored after); yields whether it could be set.

    Only around the probe-cost measurement: the statistics time every program run (two clock reads
    each, ~60 ns on this VM per syscall), which would inflate the throughput loss they explain."""
    knob = Path("/proc/sys/kernel/bpf_stats_enabled")
    before = knob.read_text().strip() if knob.exists() else None
    if before is not None:
        knob.write_text("1\n")
    try:
        yield before is not None
    finally:
        if before is not None:
            knob.write_text(before + "\n")


@dataclass
class DrainProc:
    """The peer: the probe with the engine's selection and a reader that drops every record
    (bench/live/drain.py) — the kernel side of the engine's cost, without its user space."""

    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> DrainProc:
        argv = [sys.executable, "-m", "bench.live.drain", *self.extra]
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=env, cwd=str(REPO))
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise SystemExit(f"bench.live.drain failed to start (exit code {self.proc.wait()})")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


def catch_up(engine: EngineProc, rate: float, limit: float = 5.0) -> tuple[float, dict[str, float]]:
    """Seconds until the engine's record counter settles after the workload ended (it was behind by
    that much), and the counters then. Settled: fewer new records in 0.1 s than 10% of ``rate``
    (events/s) would bring — other processes on the machine keep producing a trickle."""
    t0 = time.monotonic()
    last = engine.counters()
    while True:
        time.sleep(0.1)
        now = engine.counters()
        if now["records"] - last["records"] < max(100.0, rate * 0.01) or time.monotonic() - t0 > limit:
            return round(time.monotonic() - t0 - 0.1, 2), now
        last = now


def measure(engine: EngineProc, workers: int, seconds: float, tmpdir: str,
            rate: float | None = None) -> dict[str, Any]:
    """One workload run with the engine: rounds/s, engine CPU share, events/s into it, drops, lag."""
    c0, cpu0, t0 = engine.counters(), engine.cpu_seconds(), time.monotonic()
    rounds = workload(workers, seconds, tmpdir, rate)
    elapsed = time.monotonic() - t0
    c1 = engine.counters()
    ev_rate = (c1["records"] - c0["records"]) / elapsed
    lag, c2 = catch_up(engine, ev_rate)
    cpu = engine.cpu_seconds() - cpu0
    return {
        "rounds_per_s": round(rounds, 1),
        "events_per_s": round((c2["records"] - c0["records"]) / elapsed),
        "engine_cpu_share": round(cpu / (time.monotonic() - t0), 3),
        "kernel_drops": int(c2["kernel_drops"] - c0["kernel_drops"]),
        "user_drops": int(c2["user_drops"] - c0["user_drops"]),
        "queue_drops": int(c2["queue_drops"] - c0["queue_drops"]),
        "catch_up_s": lag,
        **engine.memory_mb(),
    }


def probe_cost(workers: int, seconds: float, tmpdir: str, rate: float) -> dict[str, Any]:
    """The probe's in-kernel time per workload round, in a paced run of its own under `bpf_stats`
    (the engine running: its probe's programs are the ones timed)."""
    with bpf_stats() as on:
        if not on:
            return {}
        p0, t0 = probe_ns(), time.monotonic()
        rounds = workload(workers, seconds, tmpdir, rate)
        elapsed = time.monotonic() - t0
        probe = probe_ns() - p0
    return {"target_rounds_per_s": round(rate, 1), "rounds_per_s": round(rounds, 1),
            "probe_cpu_share": round(probe / 1e9 / elapsed, 4),
            "probe_us_per_round": round(probe / 1e3 / max(rounds * elapsed, 1.0), 1)}


#: the native peer's filter (bench/replay's): Falco's expanded ``open_read and fd.directory in (…)``
NATIVE_FORMAT = "%evt.num %proc.name %fd.name"
NATIVE_FILTER = ("evt.type in (open, openat, openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0"
                 " and fd.directory in (/etc, /lib/x86_64-linux-gnu)")


def native_peer(workers: int, seconds: float, tmpdir: str, rate: float, capdir: Path) -> dict[str, Any]:
    """libsinsp's cost per event of this workload: the paced workload captured with ``rae capture``,
    then read by sysdig (C++ libsinsp: parsing, thread and fd state, a filter with fd fields)
    with bench/replay's filter; its CPU seconds per event. An estimate of what a native engine
    would spend per event here (it reads a file instead of the ring)."""
    sysdig = shutil.which("sysdig")
    if sysdig is None:
        return {}
    cap = capdir / "workload.scap"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cap_proc = subprocess.Popen([sys.executable, "-m", "rae.cli", "capture", "-w", str(cap)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    assert cap_proc.stderr is not None
    if "capturing to" not in cap_proc.stderr.readline():
        cap_proc.kill()
        raise SystemExit(f"rae capture failed to start (exit code {cap_proc.wait()})")
    try:
        workload(workers, seconds, tmpdir, rate)
    finally:
        cap_proc.send_signal(signal.SIGINT)
        cap_proc.communicate(timeout=60)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sysdig, "-r", str(cap), "-p", NATIVE_FORMAT, NATIVE_FILTER], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    lines = subprocess.run([sysdig, "-r", str(cap), "-p", "%evt.num"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, check=True).stdout.count(b"\n")
    cap.unlink(missing_ok=True)
    return {"events": lines, "sysdig_cpu_s": round(cpu, 3),
            "sysdig_us_per_event": round(cpu / max(lines, 1) * 1e6, 2)}


def loss_model(base: float, probe_only: float, engine: dict[str, Any], workers: int,
               native_us_per_event: float | None) -> dict[str, Any]:
    """With the workload on every CPU, the engine's CPU comes out of the workload's: a round costs the
    machine w / p + c CPU seconds (w the workload's CPU per round without a probe, the CPUs / baseline
    rate — not workers / rate: more workers than CPUs share them; p the probe-only ratio; c the
    engine's CPU per round), so the predicted ratio is
    w / (w / p + c) = p·w / (w + p·c). Checked against the measured ratio of ``rae run``,
    then applied to a native engine's c (sysdig's CPU per event × the engine's events per round)."""
    ncpu = os.cpu_count() or 1
    if workers < ncpu or not engine.get("rounds_per_s"):
        return {}
    w = ncpu / base
    per_round_events = engine["events_per_s"] / engine["rounds_per_s"]
    c_py = engine["engine_cpu_share"] / engine["rounds_per_s"]
    out: dict[str, Any] = {
        "workload_cpu_us_per_round": round(w * 1e6, 1),
        "events_per_round": round(per_round_events, 1),
        "engine_cpu_us_per_round": round(c_py * 1e6, 1),
        "predicted_ratio_rae": round(probe_only * w / (w + probe_only * c_py), 3),
    }
    if native_us_per_event is not None:
        c_nat = native_us_per_event * 1e-6 * per_round_events
        out["native_cpu_us_per_round"] = round(c_nat * 1e6, 1)
        out["predicted_ratio_native"] = round(probe_only * w / (w + probe_only * c_nat), 3)
    return out


def sustained(m: dict[str, Any]) -> bool:
    """No drop of any kind, and the engine kept pace (caught up within 1 s of the workload's end)."""
    return m["kernel_drops"] == 0 and m["user_drops"] == 0 and m["queue_drops"] == 0 and m["catch_up_s"] < 1.0


def step_up(engine: EngineProc, workers: int, step_s: float, budget: float, tmpdir: str,
            full_rate: float) -> dict[str, Any]:
    """Paced rates ×1.5 from ~2 % of the flat-out rate, then bisection, within ``budget`` seconds."""
    deadline = time.monotonic() + budget
    rate = max(10.0, full_rate / 48)
    best: dict[str, Any] | None = None
    bad: float | None = None
    reached_full = False
    while time.monotonic() + step_s + 2 < deadline:
        m = measure(engine, workers, step_s, tmpdir, rate)
        ok = sustained(m)
        emit({"run": "engine, paced", "target_rounds_per_s": round(rate, 1), "sustained": ok, **m})
        if ok:
            best = {"target_rounds_per_s": round(rate, 1), **m}
            if m["rounds_per_s"] < 0.9 * rate:  # the workload cannot go faster: the machine's full rate
                reached_full = True
                break
        else:
            bad = rate
        lo = best["target_rounds_per_s"] if best else 0.0
        if bad is None:
            rate *= 1.5
        elif bad - lo < 0.1 * bad:
            break
        else:
            rate = (lo + bad) / 2 if lo else bad / 2
    return {"best": best, "first_failing_rounds_per_s": bad, "reached_full_rate": reached_full}


# --------------------------------------------------------------------------- main


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"cpus": os.cpu_count(), "cpu": model, "kernel": os.uname().release,
            "python": sys.version.split()[0], "load_avg": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__.split("\n", 1)[0])
    p.add_argument("--seconds", type=float, default=5.0, help="length of each flat-out run (default 5)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="workload processes (default: one per CPU)")
    p.add_argument("--step-seconds", type=float, default=3.0, help="length of each paced step (default 3)")
    p.add_argument("--step-budget", type=float, default=60.0,
                   help="time bound of the paced step-up (default 60 s)")
    p.add_argument("--repeat", type=int, default=3,
                   help="no-engine/engine flat-out pairs, alternating (default 3; the median is reported)")
    p.add_argument("--json", metavar="FILE", help="also write the summary to FILE")
    p.add_argument("-o", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="extra rae run override (repeatable)")
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/live needs root: rae run attaches the eBPF probe")

    tmp = Path(tempfile.mkdtemp(prefix="rae-bench-live-"))
    work = tmp / "work"
    work.mkdir()
    summary: dict[str, Any] = {"machine": machine(), "workers": a.workers, "seconds": a.seconds,
                               "repeat": a.repeat}
    emit({"machine": summary["machine"]})
    engine = EngineProc(tmp, [x for o in a.options for x in ("-o", o)])
    try:
        bases: list[float] = []
        drains: list[dict[str, Any]] = []
        fulls: list[dict[str, Any]] = []
        idle: dict[str, Any] = {}
        for i in range(a.repeat):  # no engine / probe only / engine, alternating: the machine's load drifts
            bases.append(workload(a.workers, a.seconds, str(work)))
            emit({"run": "no engine", "rounds_per_s": round(bases[-1], 1)})
            with DrainProc([x for o in a.options for x in ("-o", o)]):
                drains.append({"rounds_per_s": round(workload(a.workers, a.seconds, str(work)), 1)})
            emit({"run": "probe only", **drains[-1]})
            t0 = time.monotonic()
            engine.start()
            summary.setdefault("engine_start_s", round(time.monotonic() - t0, 2))
            if i == 0:
                time.sleep(2.0)
                cpu0 = engine.cpu_seconds()
                time.sleep(3.0)
                idle_cpu = (engine.cpu_seconds() - cpu0) / 3.0
                idle = {"engine_cpu_share": round(idle_cpu, 3), **engine.memory_mb()}
                emit({"run": "engine idle", **idle})
            fulls.append(measure(engine, a.workers, a.seconds, str(work)))
            emit({"run": "engine, flat out", **fulls[-1]})
            if i < a.repeat - 1:
                engine.stop()

        full_rate = statistics.median(f["rounds_per_s"] for f in fulls)
        steps = step_up(engine, a.workers, a.step_seconds, a.step_budget, str(work), full_rate)
        probe = probe_cost(a.workers, a.step_seconds, str(work), full_rate / 2)
        emit({"run": "engine, paced, BPF run-time statistics on", **probe})
        native = native_peer(a.workers, a.step_seconds, str(work), full_rate / 2, tmp)
        emit({"run": "native peer: sysdig over a capture of the paced workload", **native})
        end_mem = engine.memory_mb()
        alerts = engine.alerts()
        code = engine.stop()
        bases.append(workload(a.workers, a.seconds, str(work)))
        emit({"run": "no engine", "rounds_per_s": round(bases[-1], 1)})

        for i, (d, f) in enumerate(zip(drains, fulls, strict=True)):  # against the baselines either side
            base = (bases[i] + bases[i + 1]) / 2
            d["throughput_ratio"] = round(d["rounds_per_s"] / base, 3)
            f["throughput_ratio"] = round(f["rounds_per_s"] / base, 3)
        drops = sum(f["kernel_drops"] + f["user_drops"] + f["queue_drops"] for f in fulls)
        flat = {
            "throughput_ratio_median": statistics.median(f["throughput_ratio"] for f in fulls),
            "engine_cpu_share_median": statistics.median(f["engine_cpu_share"] for f in fulls),
            "probe_only_throughput_ratio_median": statistics.median(d["throughput_ratio"] for d in drains),
            "events_per_s_median": statistics.median(f["events_per_s"] for f in fulls),
            "drops_total": drops,
            "catch_up_s_max": max(f["catch_up_s"] for f in fulls),
            "runs": fulls,
            "probe_only_runs": drains,
        }
        models = [loss_model((bases[i] + bases[i + 1]) / 2, d["throughput_ratio"], f, a.workers,
                             native.get("sysdig_us_per_event"))
                  for i, (d, f) in enumerate(zip(drains, fulls, strict=True))]
        if all(models):
            flat["loss_model"] = {
                key: statistics.median(m[key] for m in models)
                for key in models[0]
            }
        rss_loaded = max([f["rss_mb"] for f in fulls] + [end_mem.get("rss_mb", 0.0)])
        summary.update({
            "baseline_rounds_per_s": [round(b, 1) for b in bases],
            "idle": idle,
            "flat_out": flat,
            "step_up": steps,
            "probe_cost": probe,
            "native_peer": native,
            "memory_at_end": end_mem,
            "alerts_written": alerts,
            "engine_exit_code": code,
            "goals": {
                "throughput_loss_under_5pct": flat["throughput_ratio_median"] >= 0.95,
                "zero_drops_at_full_rate": drops == 0,
                "kept_pace_at_full_rate": flat["catch_up_s_max"] < 1.0,
                "rss_under_80mb_idle": idle.get("rss_mb", 0.0) < 80.0,
                "rss_under_80mb_loaded": rss_loaded < 80.0,
            },
        })
        print(json.dumps(summary, indent=2))
        if a.json:
            Path(a.json).write_text(json.dumps(summary, indent=2) + "\n")
    finally:
        engine.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
