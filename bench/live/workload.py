"""The syscall workload of bench/live, run as its own process so the engine's probe sees it.

One *round* is: ``ETC_READS`` reads of files under /etc (open, read, close), ``TMP_WRITES`` writes of
a file in a temporary directory (open with create+truncate, write, close), ``CONNECTS`` TCP connects
to a listener of this process on 127.0.0.1 (socket, connect, accept, two closes) and one exec of
/bin/true (posix_spawn + wait). Nothing it does should raise a built-in rule: it is the background
activity the engine must digest, not an attack.

``python -m bench.live.workload --seconds S [--rate R] --dir D`` runs flat out (no ``--rate``) or
paced at R rounds per second (rounds scheduled on a fixed grid; a late round is not made up by a
burst beyond the grid), then prints one JSON line: rounds done and the seconds they took.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import time

ETC_FILES = ("/etc/hostname", "/etc/os-release", "/etc/passwd", "/etc/hosts")
ETC_READS = 4
TMP_WRITES = 4
CONNECTS = 2
TRUE = "/bin/true"


class Round:
    """The resources of one worker and one round of its actions."""

    def __init__(self, tmpdir: str) -> None:
        self.etc = [f for f in ETC_FILES if os.path.exists(f)] or ["/etc/hostname"]
        self.tmp = [os.path.join(tmpdir, f"w{os.getpid()}-{i}.txt") for i in range(TMP_WRITES)]
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.addr = self.listener.getsockname()
        self.payload = b"rae bench/live workload\n" * 4

    def run(self) -> None:
        etc = self.etc
        for i in range(ETC_READS):
            fd = os.open(etc[i % len(etc)], os.O_RDONLY)
            os.read(fd, 4096)
            os.close(fd)
        for path in self.tmp:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, self.payload)
            os.close(fd)
        for _ in range(CONNECTS):
            c = socket.socket()
            c.connect(self.addr)
            s, _peer = self.listener.accept()
            s.close()
            c.close()
        pid = os.posix_spawn(TRUE, [TRUE], {})
        os.waitpid(pid, 0)

    def close(self) -> None:
        self.listener.close()
        for path in self.tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def run(seconds: float, rate: float | None, tmpdir: str) -> dict[str, float]:
    """Rounds for ``seconds`` (flat out, or paced at ``rate`` rounds/s); rounds and elapsed seconds."""
    r = Round(tmpdir)
    try:
        start = time.monotonic()
        end = start + seconds
        n = 0
        if rate is None:
            while time.monotonic() < end:
                for _ in range(10):
                    r.run()
                n += 10
        else:
            period = 1.0 / rate
            while True:
                due = start + n * period
                now = time.monotonic()
                if due >= end or now >= end:
                    break
                if due > now:
                    time.sleep(due - now)
                r.run()
                n += 1
        return {"rounds": n, "seconds": time.monotonic() - start}
    finally:
        r.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--rate", type=float, default=None, help="rounds per second (default: flat out)")
    p.add_argument("--dir", required=True, help="temporary directory for the written files")
    a = p.parse_args()
    print(json.dumps(run(a.seconds, a.rate, a.dir)), flush=True)


if __name__ == "__main__":
    main()
