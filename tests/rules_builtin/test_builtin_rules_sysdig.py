"""The field comparisons the built-in rules rest on give the same answer in sysdig (the libsinsp
oracle of 2022) and in rae, on the synthetic captures of the behaviour tests.

Only predicates on events and fields that sysdig 0.29 knows are checked (it predates dup2/dup3
event codes, proc.stdin.* and fs.path.*).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_builtin_rules_behaviour import (
    cgroup_mounted_in_container,
    connect_to_public_pool_port,
    container_with_host_root,
    gdb_attaches,
    history_truncated_by_a_program,
    log_moved_away,
    log_truncated_by_redirect,
    shadow_read_by_python,
    web_server_spawns_shell,
)

SYSDIG = shutil.which("sysdig")
RAE = [sys.executable, "-m", "rae.cli"]

CASES: list[tuple[Callable[[], tuple[Any, dict[str, Any]]], str]] = [
    (log_truncated_by_redirect, "evt.type in (open, openat, openat2) and evt.dir = < and evt.is_open_write = true "
     "and fd.typechar = f and fd.num >= 0 and fd.name startswith /var/log/ and evt.arg.flags contains O_TRUNC"),
    (history_truncated_by_a_program, "evt.dir = < and fd.filename in (.bash_history, .zsh_history) "
     "and evt.arg.flags contains O_TRUNC and not proc.name in (bash, sh)"),
    (shadow_read_by_python, "evt.dir = < and evt.is_open_read = true and fd.name in (/etc/shadow, /etc/sudoers) "
     "and not proc.name in (sshd, sudo) and not proc.aname in (dpkg, apt)"),
    (cgroup_mounted_in_container, "evt.type = mount and evt.dir = < and container.id != host "
     "and evt.arg.type in (proc, cgroup) and not proc.name startswith \"runc:\""),
    (log_moved_away, "evt.type in (rename, renameat, renameat2) and evt.dir = < and evt.rawres = 0 "
     "and evt.arg.oldpath startswith /var/log/"),
    (gdb_attaches, "evt.type = ptrace and evt.dir = > and evt.arg.request in (PTRACE_ATTACH, PTRACE_SEIZE)"),
    (container_with_host_root, "evt.type in (execve, execveat) and evt.dir = < and evt.rawres = 0 "
     "and container.id != host and proc.vpid = 1 "
     "and (container.mounts startswith \"/:\" or container.mounts contains \",/:\")"),
    (connect_to_public_pool_port, "evt.type = connect and evt.dir = < and fd.typechar in (4, 6) "
     "and (evt.rawres >= 0 or evt.res = EINPROGRESS) and fd.sport in (3333, 4444) "
     "and not fd.snet in (\"127.0.0.0/8\", \"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.0.0/16\")"),
    (web_server_spawns_shell, "evt.type = execve and evt.dir = < and container.id != host and proc.name in (sh, bash) "
     "and proc.vpid != 1 and not proc.pname in (runc, containerd-shim) and not proc.pname in (sh, bash)"),
]


def _nums(cmd: list[str]) -> list[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


@pytest.mark.skipif(SYSDIG is None, reason="sysdig (tools/apt-packages.txt) not installed")
@pytest.mark.parametrize(("make", "flt"), CASES, ids=[m.__name__ for m, _ in CASES])
def test_predicate_agrees_with_sysdig(make: Callable[[], tuple[Any, dict[str, Any]]], flt: str,
                                      tmp_path: Path) -> None:
    cap = make()[0].write(tmp_path / "case.scap")
    theirs = _nums([str(SYSDIG), "-r", str(cap), "-p", "%evt.num", flt])
    ours = _nums([*RAE, "replay", str(cap), "-p", "%evt.num", flt])
    assert theirs, "the predicate matches nothing in sysdig: the case does not exercise it"
    assert ours == theirs
