"""Removes the cgroups that test containers (runc, the private containerd) leave behind.

runc and containerd create relative cgroup paths below this process's own cgroup in every
hierarchy (v1) or in the unified one (v2); a test that fails half-way must not leave them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def own_cgroup(hierarchy: str) -> str:
    """This process's cgroup path in a v1 hierarchy ("" for v2/unified), where runc puts relative paths."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _hid, subs, path = line.split(":", 2)
        names = subs.split(",") if subs else ["unified"]
        if hierarchy in names or (hierarchy == "systemd" and "name=systemd" in names):
            return path
    return "/"


def remove_cgroup_tree(relative: str) -> None:
    """rmdir ``relative`` (below this process's cgroup) leaf-first in every hierarchy, then its
    parents while they are empty (other tests' containers may live in them)."""
    if not CGROUP_ROOT.is_dir():
        return
    for h in sorted(os.listdir(CGROUP_ROOT)):
        base = CGROUP_ROOT / h / own_cgroup(h).lstrip("/")
        top = base / relative
        if top.is_dir():
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
        parent = top.parent
        while parent != base and parent != parent.parent:
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = parent.parent
