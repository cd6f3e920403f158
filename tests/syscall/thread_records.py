"""Thread records for the state and field tests' hand-built process tables."""

from __future__ import annotations

from typing import Any

from rae.syscall.events import ThreadRecord

#: a docker container id the tests put in cgroup paths
CID = "ad64969c62e5f1fbd6fbd9a1b3d7ae5bc2c12f40d2b3fa66cea3e9fc7a8bf1ab"


def trec(tid: int, pid: int, ptid: int, comm: str, **kw: Any) -> ThreadRecord:
    """A process-list entry with plain defaults (root, cwd ``/``, session and group 1)."""
    base: dict[str, Any] = dict(tid=tid, pid=pid, ptid=ptid, comm=comm, exe=comm, args=[], cwd="/",
                                fdlimit=1024, flags=0, uid=0, gid=0, sid=1, vpgid=1)
    base.update(kw)
    return ThreadRecord(**base)
