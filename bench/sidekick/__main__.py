"""Alerts per second through `rae sidekick`, and latency from POST to delivery.

    python -m bench.sidekick [--alerts N] [--concurrency C]

`rae sidekick` runs as its own process with three outputs enabled: webhook (to a receiver
in this process), Redis (a real redis-server) and file. This process posts N alerts over
C keep-alive connections and, in the same event loop, receives the webhook calls, pops the
Redis list (BLPOP) and tails the file. Figures:

* accepted/s: N over the time from the first POST to the last 200 answer;
* delivered/s per output: N over the time from the first POST to the last delivery there;
* p50/p99 latency per output: delivery time minus the POST time stamped into the alert
  (``output_fields["bench.sent_ns"]``); the file is polled every millisecond.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alert(n: int) -> dict:
    return {
        "hostname": "bench-node",
        "output": f"12:00:00.000000000: Warning shell spawned (n={n})",
        "priority": "Warning",
        "rule": "Terminal shell in container",
        "source": "syscall",
        "tags": ["container", "shell"],
        "time": "2024-01-02T03:04:05.123456789Z",
        "output_fields": {"proc.name": "bash", "container.id": f"c{n % 50}", "bench.n": n,
                          "bench.sent_ns": time.time_ns()},
    }


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


class Sink:
    def __init__(self, name: str, total: int) -> None:
        self.name, self.total = name, total
        self.latencies: list[float] = []
        self.last = 0.0
        self.done = asyncio.Event()

    def got(self, body: dict) -> None:
        now = time.time_ns()
        self.latencies.append((now - body["output_fields"]["bench.sent_ns"]) / 1e6)
        self.last = time.perf_counter()
        if len(self.latencies) >= self.total:
            self.done.set()


async def run(total: int, concurrency: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="rae-bench-sk-"))
    redis_port, sk_port, hook_port = _port(), _port(), _port()
    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        raise SystemExit("redis-server is not installed (make deps)")
    redis_proc = subprocess.Popen([redis_bin, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no"], stdout=subprocess.DEVNULL)
    file_path = tmp / "alerts.jsonl"
    cfg = tmp / "sidekick.yaml"
    cfg.write_text(json.dumps({
        "listenport": sk_port,
        "webhook": {"address": f"http://127.0.0.1:{hook_port}/", "maxconcurrentrequests": 4},
        "redis": {"address": f"127.0.0.1:{redis_port}"},
        "file": {"path": str(file_path)},
        "buffer": {"size": total + 10},
    }))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    prof = ["-m", "cProfile", "-o", os.environ["SK_PROFILE"]] if os.environ.get("SK_PROFILE") else []
    sk = subprocess.Popen([sys.executable, *prof, "-m", "rae.cli", "sidekick", "-c", str(cfg)], env=env,
                          stderr=open(tmp / "sidekick.log", "wb"))  # noqa: SIM115
    sinks = {name: Sink(name, total) for name in ("webhook", "redis", "file")}
    runner = None
    try:
        async def hook(request: web.Request) -> web.Response:
            sinks["webhook"].got(await request.json())
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", hook_port).start()

        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"http://127.0.0.1:{sk_port}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            rclient = aioredis.Redis(host="127.0.0.1", port=redis_port)

            async def pop_redis() -> None:
                while not sinks["redis"].done.is_set():
                    item = await rclient.blpop(["falco"], timeout=1)
                    if item:
                        sinks["redis"].got(json.loads(item[1]))
                        for more in await rclient.lpop("falco", 1000) or []:  # the rest in one round trip
                            sinks["redis"].got(json.loads(more))

            async def tail_file() -> None:
                offset = 0
                partial = b""
                while not sinks["file"].done.is_set():
                    if file_path.exists():
                        with open(file_path, "rb") as f:
                            f.seek(offset)
                            chunk = f.read()
                        offset += len(chunk)
                        data = partial + chunk
                        *lines, partial = data.split(b"\n")
                        for line in lines:
                            sinks["file"].got(json.loads(line))
                    await asyncio.sleep(0.001)

            consumers = [asyncio.create_task(pop_redis()), asyncio.create_task(tail_file())]
            counter = iter(range(total))
            accepted_at = 0.0

            async def client() -> None:
                nonlocal accepted_at
                for n in counter:
                    async with session.post(f"http://127.0.0.1:{sk_port}/", json=_alert(n)) as r:
                        assert r.status == 200, await r.text()
                        accepted_at = time.perf_counter()

            start = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(concurrency)))
            await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in sinks.values())), 300)
            for c in consumers:
                c.cancel()
            await rclient.aclose()
        result = {"alerts": total, "concurrency": concurrency,
                  "accepted_per_s": round(total / (accepted_at - start))}
        for name, s in sinks.items():
            result[name] = {
                "delivered_per_s": round(total / (s.last - start)),
                "p50_ms": round(statistics.median(s.latencies), 2),
                "p99_ms": round(_pct(s.latencies, 0.99), 2),
            }
        return result
    finally:
        if runner is not None:
            await runner.cleanup()
        sk.terminate()
        sk.wait(30)
        redis_proc.terminate()
        redis_proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sidekick", description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.alerts, args.concurrency)), indent=2))


if __name__ == "__main__":
    main()
