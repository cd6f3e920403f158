"""Container ids from a process's cgroup paths, the way libsinsp's runc-based engines find them.

A container runtime puts each container's processes in a cgroup whose last path component
carries the 64-hex container id, with a runtime-specific prefix and suffix:

======================  ====================================================================
layout                  example cgroup path (any controller, cgroup v1 or v2)
======================  ====================================================================
docker (cgroupfs)       ``/docker/<id>``
docker (systemd)        ``/system.slice/docker-<id>.scope``
kubepods (cgroupfs)     ``/kubepods/burstable/pod<uid>/<id>``
containerd (systemd)    ``/kubepods.slice/…/cri-containerd-<id>.scope``
containerd (cgroupfs)   ``…:cri-containerd:<id>``
CRI-O                   ``/kubepods.slice/…/crio-<id>.scope`` or ``…/crio-<id>``
======================  ====================================================================

The reported id is the first 12 characters (what Falco's ``container.id`` shows); the full id
is kept for ``container.full_id``. Processes whose cgroups match none of these are on the host.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["HOST", "CgroupMatch", "container_from_cgroups", "match_cgroup_path", "parse_cgroups"]

#: ``container.id`` of host processes
HOST = "host"

_ID_LEN = 64
_SHORT_LEN = 12
_HEX = frozenset("0123456789abcdefABCDEF")

# (prefix, suffix, runtime type) — tried in this order on every cgroup path. A bare ``/<id>``
# (cgroupfs driver, also under kubepods) is reported as docker, as libsinsp's docker engine,
# which runs before the CRI one, claims it.
_LAYOUTS: tuple[tuple[str, str, str], ...] = (
    ("/docker-", ".scope", "docker"),
    ("/cri-containerd-", ".scope", "containerd"),
    (":cri-containerd:", "", "containerd"),
    ("/crio-", ".scope", "cri-o"),
    ("/crio-", "", "cri-o"),
    ("/", "", "docker"),
)


class CgroupMatch(NamedTuple):
    """A container found in a cgroup path: short id, full id, runtime type, and the path."""

    id: str
    full_id: str
    type: str
    cgroup: str


def _match_one(path: str, prefix: str, suffix: str) -> str | None:
    start = path.rfind(prefix)
    if start < 0:
        return None
    start += len(prefix)
    end = path.rfind(suffix) if suffix else len(path)
    if end < 0 or end - start != _ID_LEN:
        return None
    cid = path[start:end]
    if not _HEX.issuperset(cid):
        return None
    return cid


def match_cgroup_path(path: str) -> CgroupMatch | None:
    """The container a single cgroup path belongs to, or None."""
    if len(path) < _ID_LEN + 1:
        return None
    for prefix, suffix, kind in _LAYOUTS:
        cid = _match_one(path, prefix, suffix)
        if cid is not None:
            return CgroupMatch(cid[:_SHORT_LEN], cid, kind, path)
    return None


def parse_cgroups(entries: Iterable[str]) -> list[tuple[str, str]]:
    """``["cpuset=/docker/…", "0::/…"]`` → ``[("cpuset", "/docker/…"), ("", "/…")]``.

    Accepts the ``subsys=path`` form of captures and the ``N:subsys:path`` form of
    ``/proc/PID/cgroup``.
    """
    out: list[tuple[str, str]] = []
    for entry in entries:
        if not entry:
            continue
        eq = entry.find("=")
        if eq >= 0 and ":" not in entry[:eq]:
            out.append((entry[:eq], entry[eq + 1 :]))
            continue
        parts = entry.split(":", 2)
        if len(parts) == 3:
            out.append((parts[1], parts[2]))
        else:
            out.append(("", entry))
    return out


def container_from_cgroups(cgroups: Iterable[tuple[str, str]]) -> CgroupMatch | None:
    """The first container found in a process's ``(subsystem, path)`` cgroups, or None (host)."""
    for _subsys, path in cgroups:
        m = match_cgroup_path(path)
        if m is not None:
            return m
    return None
