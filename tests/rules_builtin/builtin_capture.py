"""Small synthetic ``.scap`` captures for the built-in rules tests, written with `ScapWriter`.

A `Capture` holds a process list (the capture header) and a list of events; methods add the
enter/exit pair of one syscall with the newest event layout of the table (the one the live
probe emits). Container processes get a docker-style cgroup path, and the container's
metadata (name, image, mounts) is stored as a container JSON event before the first syscall,
as libsinsp writes it, so `rae replay` sees ``container.*`` the way it would live.

    cap = Capture()
    cap.process(100, "nginx", "/usr/sbin/nginx", container=WEB)
    cap.execve(100, "/bin/sh", ["-c", "id"])
    alerts = cap.alerts(tmp_path, ruleset)     # Falco JSON alerts, as dicts
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterable, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rae.syscall.event_table import EVENTS, code_of
from rae.syscall.events import FdRecord, MachineInfo, SyscallEvent, ThreadRecord, UserRecord
from rae.syscall.scap_writer import ScapWriter

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules" / "falco_rules.yaml"

BASE_TS = 1_750_000_000_000_000_000
AT_FDCWD = -100
AF_INET = 2
# scap open flags (event_table.FLAG_TABLES["file_flags"])
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_CLOEXEC = 1, 2, 3, 4, 256, 8, 4096
PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_TRACEME, PTRACE_PEEKDATA = 11, 20, 1, 3
AT_EMPTY_PATH = 1  # scap execveat flag
SCAP_FD_FILE_V2, SCAP_FD_IPV4_SOCK, SCAP_FD_FIFO = 16, 3, 7
L4_TCP = 2


@dataclass
class Container:
    """A container: 64-hex id (``container.id`` shows the first 12), name, image, mounts."""

    full_id: str
    name: str
    image: str
    mounts: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert len(self.full_id) == 64 and all(ch in "0123456789abcdef" for ch in self.full_id), self.full_id

    @property
    def id(self) -> str:
        return self.full_id[:12]

    @property
    def cgroups(self) -> list[str]:
        return [f"cpuset=/docker/{self.full_id}", f"memory=/docker/{self.full_id}"]


def mount(source: str, dest: str, rw: bool = True) -> dict[str, Any]:
    return {"Source": source, "Destination": dest, "Mode": "", "RW": rw, "Propagation": "rprivate"}


WEB = Container("3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e", "web-1",
                "docker.io/library/nginx:1.25")
TOOLS = Container("9f1e2d3c4b5a69788796a5b4c3d2e1f001122334455667788990aabbccddeeff", "tools",
                  "registry.example.com/ops/toolbox:2.1")


def ipv4(text: str) -> bytes:
    return bytes(int(p) for p in text.split("."))


class Capture:
    """A process list plus events; `write` makes the file, `replay` runs the rules over it."""

    def __init__(self, hostname: str = "node-1") -> None:
        self.hostname = hostname
        self.threads: dict[int, ThreadRecord] = {}
        self.fds: dict[int, list[FdRecord]] = {}
        self.containers: dict[str, Container] = {}
        self.events: list[tuple[int, list[Any], int]] = []  # (code, params, tid)
        self.users = [UserRecord(0, 0, "root", "/root", "/bin/bash"),
                      UserRecord(1000, 1000, "alice", "/home/alice", "/bin/bash"),
                      UserRecord(33, 33, "www-data", "/var/www", "/usr/sbin/nologin")]
        self.process(1, "systemd", "/usr/lib/systemd/systemd", ["--system"], ptid=0)

    # -- state ------------------------------------------------------------------------------------
    def process(self, tid: int, comm: str, exepath: str, args: Sequence[str] = (), *, ptid: int = 1,
                uid: int = 0, container: Container | None = None, cwd: str = "/", vpid: int | None = None,
                fds: Iterable[FdRecord] = ()) -> ThreadRecord:
        """A process that exists when the capture starts (one thread, tid = pid)."""
        if container is not None:
            self.containers[container.id] = container
        rec = ThreadRecord(tid=tid, pid=tid, ptid=ptid, comm=comm, exe=exepath, args=list(args), cwd=cwd,
                           fdlimit=1024, flags=0, uid=uid, gid=uid, exepath=exepath, env=["PATH=/usr/bin"],
                           vtid=vpid if vpid is not None else tid, vpid=vpid if vpid is not None else tid,
                           cgroups=container.cgroups if container else ["cpuset=/", "memory=/user.slice"],
                           root="/", loginuid=uid)
        self.threads[tid] = rec
        given = list(fds)
        taken = {f.fd for f in given}
        std = [FdRecord(tid, n, 0, SCAP_FD_FIFO, name="pipe:[4242]") for n in (0, 1, 2) if n not in taken]
        self.fds[tid] = std + given
        return rec

    # -- events -----------------------------------------------------------------------------------
    def add(self, name: str, tid: int, enter: list[Any] | None, exit_: list[Any] | None) -> None:
        if enter is not None:
            self.events.append((code_of(name, ">"), enter, tid))
        if exit_ is not None:
            self.events.append((code_of(name, "<"), exit_, tid))

    def _container_of(self, tid: int) -> Container | None:
        rec = self.threads[tid]
        for c in self.containers.values():
            if rec.cgroups and rec.cgroups[0].endswith(c.full_id):
                return c
        return None

    def execve(self, tid: int, filename: str, args: Sequence[str], *, comm: str | None = None,
               argv0: str | None = None, tty: int = 0, res: int = 0, at: str | None = None,
               at_fd: int | None = None) -> None:
        """execve (or execveat when ``at``/``at_fd`` is given) of ``filename`` by thread ``tid``.

        ``argv0`` defaults to ``filename``; pass ``""`` for an empty argv. ``comm`` defaults to
        the file name's last component, as the kernel sets it.
        """
        rec = self.threads[tid]
        c = self._container_of(tid)
        cg = b"".join(s.encode() + b"\0" for s in (c.cgroups if c else rec.cgroups or []))
        comm = comm if comm is not None else filename.rsplit("/", 1)[-1]
        exe = filename if argv0 is None else argv0
        argb = b"".join(a.encode() + b"\0" for a in args)
        exit_params = [res, exe.encode(), argb, tid, rec.pid, rec.ptid, rec.cwd.encode(), 1024, 0, 0, 1000,
                       500, 0, comm.encode(), cg, b"PATH=/usr/bin\0", tty, rec.pid, rec.uid, 0, 0, 0, 0]
        if at is not None or at_fd is not None:
            self.add("execveat", tid, [at_fd if at_fd is not None else AT_FDCWD, (at or "").encode(),
                                       AT_EMPTY_PATH if at_fd is not None and not at else 0], exit_params)
        else:
            self.add("execve", tid, [filename.encode()], exit_params)

    def openat(self, tid: int, path: str, flags: int, fd: int = 5, *, dirfd: int = AT_FDCWD) -> None:
        e = [dirfd, path.encode(), flags, 0o644]
        self.add("openat", tid, e, [fd, dirfd, path.encode(), flags, 0o644, 0x801, 4242])

    def close(self, tid: int, fd: int) -> None:
        self.add("close", tid, [fd], [0])

    def unlinkat(self, tid: int, path: str, res: int = 0) -> None:
        self.add("unlinkat", tid, [], [res, AT_FDCWD, path.encode(), 0])

    def unlink(self, tid: int, path: str, res: int = 0) -> None:
        self.add("unlink", tid, [], [res, path.encode()])

    def renameat2(self, tid: int, old: str, new: str, res: int = 0) -> None:
        self.add("renameat2", tid, [], [res, AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), 0])

    def socket_connect(self, tid: int, fd: int, dst: str, dport: int, *, sport: int = 40000,
                       src: str = "172.17.0.2", res: int = 0) -> None:
        """An IPv4 TCP socket ``fd`` connected to ``dst:dport``."""
        self.add("socket", tid, [AF_INET, 1, 0], [fd])
        self.add("connect", tid, [fd, (AF_INET, ipv4(dst), dport)],
                 [res, (AF_INET, ipv4(src), sport, ipv4(dst), dport)])

    def dup2(self, tid: int, oldfd: int, newfd: int, *, name: str = "dup2") -> None:
        """dup2/dup3 of ``oldfd`` onto ``newfd``; ``name="dup"``: dup of ``oldfd`` returning ``newfd``."""
        if name == "dup":
            self.add("dup", tid, [oldfd], [newfd, oldfd])
        elif name == "dup3":
            self.add("dup3", tid, [oldfd], [newfd, oldfd, newfd, 0])
        else:
            self.add(name, tid, [oldfd], [newfd, oldfd, newfd])

    def mount(self, tid: int, dev: str, target: str, fstype: str, flags: int = 0, res: int = 0) -> None:
        self.add("mount", tid, [flags], [res, dev.encode(), target.encode(), fstype.encode()])

    def ptrace(self, tid: int, request: int, pid: int, res: int = 0) -> None:
        self.add("ptrace", tid, [request, pid], [res, (0, 0), (0, 0)])

    def memfd_create(self, tid: int, fd: int, name: str) -> None:
        self.add("memfd_create", tid, [], [fd, name.encode(), 1])

    def finit_module(self, tid: int, fd: int, res: int = 0) -> None:
        self.add("finit_module", tid, [], [res, fd, b"", 0])

    def init_module(self, tid: int, res: int = 0) -> None:
        self.add("init_module", tid, [], [res, b"\x7fELF", 4, b""])

    # -- output -----------------------------------------------------------------------------------
    def write(self, path: Path) -> Path:
        with ScapWriter(str(path)) as w:
            w.write_header(machine=MachineInfo(2, 1 << 30, 4194304, self.hostname),
                           threads=list(self.threads.values()), fds=self.fds, users=self.users)
            ts = BASE_TS
            num = 0
            cjson = code_of("container", ">")
            for c in self.containers.values():
                repo, _, tag = c.image.rpartition(":")
                doc = {"container": {"id": c.id, "full_id": c.full_id, "type": 0, "name": c.name,
                                     "image": c.image, "imagerepo": repo, "imagetag": tag,
                                     "Mounts": c.mounts, "privileged": False}}
                num += 1
                w.write_event(SyscallEvent(num, ts, -1, 0, cjson, EVENTS[cjson],
                                           [json.dumps(doc).encode()]))
            for code, params, tid in self.events:
                ts += 1000
                num += 1
                w.write_event(SyscallEvent(num, ts, tid, 0, code, EVENTS[code], params))
        return path

    def alerts(self, tmp_path: Path, ruleset: Any, name: str = "t.scap") -> list[dict]:
        """Write the capture, replay it through the capture source and ``ruleset``: the alerts."""
        return alerts_of(self.write(tmp_path / name), ruleset)


def alerts_of(path: Path, ruleset: Any) -> list[dict]:
    """Every alert of ``ruleset`` over the capture at ``path``, as Falco JSON objects."""
    from rae.syscall.replay import open_capture_source

    out = []
    for evt in open_capture_source(str(path)):
        for rule in ruleset.match(evt, "syscall"):
            out.append(rule.make_alert(evt, hostname="node-1").to_dict())
    return out


def replay_file(path: Path, *, rules: Sequence[str] = (), matching: str | None = None) -> list[dict]:
    """Run ``rae replay`` in process over ``path`` (no ``rules``: the default ones); its JSON alerts."""
    from rae.cli import main

    argv = ["replay", str(path), "--no-summary", "-o", "json_output=true"]
    if matching:
        argv += ["-o", f"rule_matching={matching}"]
    for r in rules:
        argv += ["-r", r]
    out = io.StringIO()
    with redirect_stdout(out):
        rc = main(argv)
    if rc not in (0, None):
        sys.stderr.write(out.getvalue())
        raise AssertionError(f"rae replay exited {rc}")
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def fired(alerts: list[dict]) -> list[str]:
    return [a["rule"] for a in alerts]


def only(alerts: list[dict], rule: str) -> dict:
    """The single alert of ``rule`` (fails when there are none or several)."""
    got = [a for a in alerts if a["rule"] == rule]
    assert len(got) == 1, f"expected one {rule!r} alert, got {fired(alerts)}"
    return got[0]


def fd_record_socket(tid: int, fd: int, dst: str, dport: int) -> FdRecord:
    return FdRecord(tid, fd, 0, SCAP_FD_IPV4_SOCK, sip=ipv4("172.17.0.2"), dip=ipv4(dst), sport=40000,
                    dport=dport, l4proto=L4_TCP)


