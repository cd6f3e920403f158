"""Real runc containers for the live tests: a busybox-static rootfs under a temporary directory, placed
in a kubepods-like RELATIVE cgroup (``kubepods/besteffort/pod<uid>/<64-hex id>``), so that the
engine derives the real 12-character ``container.id`` from the processes' cgroups.

See ../shared/reference/platform-notes.md §3. Always use ``with RuncContainer(...) as c:``: the exit
kills and deletes the container and removes its cgroup directories leaf-first, whatever happened.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from cgroup_cleanup import remove_cgroup_tree

APPLETS = ("sh", "ls", "cat", "sleep", "echo", "id", "mount", "find", "insmod", "lsmod", "touch", "cp", "rm",
           "true", "tty")


def why_no_runc() -> str | None:
    """Why runc containers cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "runc containers need root"
    if shutil.which("runc") is None:
        return "runc is not installed (Debian runc, tools/apt-packages.txt)"
    if _busybox() is None:
        return "busybox-static is not installed (tools/apt-packages.txt)"
    return None


def _busybox() -> str | None:
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(p):
            return p
    return None


class RuncContainer:
    """One detached container running ``sleep``; `exec` runs commands in it."""

    def __init__(self, base: Path, name: str = "c", extra_mounts: list[dict[str, Any]] | None = None,
                 files: dict[str, bytes] | None = None) -> None:
        self.id = os.urandom(32).hex()
        self.short_id = self.id[:12]
        self.pod = f"pod{uuid.uuid4()}"
        self.cgroups_path = f"kubepods/besteffort/{self.pod}/{self.id}"
        self.bundle = base / f"bundle-{name}"
        self.root = base / "runc-root"
        self.rootfs = self.bundle / "rootfs"
        self._extra_mounts = extra_mounts or []
        self._files = files or {}
        self.started = False

    def runc(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["runc", "--root", str(self.root), *args], capture_output=True, timeout=30, **kw)

    def _make_bundle(self) -> None:
        for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "mnt", "root", "usr/lib", "usr/sbin",
                  "usr/local/bin"):
            (self.rootfs / d).mkdir(parents=True, exist_ok=True)
        bb = _busybox()
        assert bb is not None
        shutil.copy2(bb, self.rootfs / "bin" / "busybox")
        for a in APPLETS:
            (self.rootfs / "bin" / a).symlink_to("busybox")
        (self.rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (self.rootfs / "etc" / "group").write_text("root:x:0:\n")
        for rel, data in self._files.items():
            p = self.rootfs / rel.lstrip("/")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        res = subprocess.run(["runc", "spec"], cwd=self.bundle, capture_output=True, timeout=30)
        assert res.returncode == 0, res.stderr
        cfg_path = self.bundle / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["process"]["args"] = ["sleep", "600"]
        cfg["process"]["terminal"] = False
        cfg["root"]["readonly"] = False
        cfg["hostname"] = "rae-e2e"
        cfg["linux"]["cgroupsPath"] = self.cgroups_path
        cfg["mounts"] += self._extra_mounts
        cfg_path.write_text(json.dumps(cfg))

    def start(self) -> None:
        self._make_bundle()
        # the container keeps runc's stdio: never pipes we wait on (files, /dev/null)
        err = self.bundle / "run.err"
        with open(err, "wb") as ef:
            res = subprocess.run(["runc", "--root", str(self.root), "run", "-d", "--pid-file",
                                  str(self.bundle / "init.pid"), self.id], cwd=self.bundle, timeout=30,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=ef)
        self.started = True  # whatever happened: stop() deletes it
        assert res.returncode == 0, err.read_text()

    def init_pid(self) -> int:
        return int((self.bundle / "init.pid").read_text())

    def exec(self, *cmd: str, check: bool = False) -> subprocess.CompletedProcess[bytes]:
        """``runc exec ID CMD`` (no terminal; see `exec_with_tty` for one)."""
        res = self.runc("exec", self.id, *cmd, stdin=subprocess.DEVNULL)
        if check:
            assert res.returncode == 0, res.stderr
        return res

    def exec_with_tty(self, *cmd: str, timeout: float = 20.0) -> tuple[int, bytes]:
        """``runc exec -t ID CMD`` with a pty of ours as runc's console (Python's pty module owns it)."""
        import pty
        import select
        import time

        pid, master = pty.fork()
        if pid == 0:  # pragma: no cover - the child
            os.execvp("runc", ["runc", "--root", str(self.root), "exec", "-t", self.id, *cmd])
        out = b""
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        data = os.read(master, 4096)
                    except OSError:  # EIO: the other side closed
                        break
                    if not data:
                        break
                    out += data
                else:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done == pid:  # ended with nothing more to read: its real exit status, not 0
                        return os.waitstatus_to_exitcode(status), out
        finally:
            os.close(master)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out

    def stop(self) -> None:
        if self.started:
            self.runc("kill", self.id, "KILL")
            self.runc("delete", "-f", self.id)
            self.started = False
        remove_cgroup_tree(f"kubepods/besteffort/{self.pod}")

    def __enter__(self) -> RuncContainer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
