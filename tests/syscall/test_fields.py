"""Syscall field extractors and renderers on hand-built events, and the binding coverage."""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from thread_records import CID, trec

from rae.fields import catalog
from rae.syscall.event_table import EVENTS, code_of
from rae.syscall.events import FdRecord, GroupRecord, InterfaceRecord, SyscallEvent, UserRecord
from rae.syscall.state import AT_FDCWD, FD, State

_num = itertools.count(1)
CAT = catalog("syscall")


def ev(code: int, tid: int, *params: Any, ts: int = 1_470_327_477_881_781_397) -> SyscallEvent:
    return SyscallEvent(next(_num), ts, tid, 1, code, EVENTS[code], params=list(params))


@pytest.fixture
def st() -> State:
    reader = SimpleNamespace(
        threads=[
            trec(1, 1, 0, "systemd"),
            trec(50, 50, 1, "sshd"),
            trec(100, 100, 50, "bash", args=["-i"], cwd="/home/u", uid=1000, gid=1000,
                 env=["HOME=/home/u", "TERM=xterm"], loginuid=1000),
            trec(200, 200, 100, "node", exe="/usr/bin/node", args=["app.js", "--port", "80"],
                 cgroups=[f"cpuset=/docker/{CID}"], cap_permitted=(1 << 21) | 1),
        ],
        fds={200: [FdRecord(tid=200, fd=3, ino=0, type=FD.FILE_V2, name="/etc/passwd", open_flags=1)]},
        users=[UserRecord(0, 0, "root", "/root", "/bin/bash"), UserRecord(1000, 1000, "u", "/home/u", "/bin/sh")],
        groups=[GroupRecord(0, "root"), GroupRecord(1000, "users")],
        interfaces=[InterfaceRecord(1, "eth0", b"\xc0\xa8\0\x02", b"\xff\xff\xff\0", b"\xc0\xa8\0\xff")],
        machine=SimpleNamespace(hostname="box"),
    )
    s = State()
    s.load_header(reader)
    doc = {"container": {"id": CID[:12], "image": "docker.io/library/node:18@sha256:abc", "name": "web",
                         "type": 0, "privileged": False,
                         "labels": {"io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "prod",
                                    "app": "web"},
                         "Mounts": [{"Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock",
                                     "Mode": "", "RW": True, "Propagation": "rprivate"}]}}
    s.process(ev(272, -1, json.dumps(doc).encode()))
    return s


def get(field: str, e: Any) -> Any:
    m = re.match(r"([\w.]+)(?:\[(.*)\])?$", field)
    assert m is not None
    ref = CAT.resolve(m.group(1), m.group(2))
    return CAT.extractor(ref)(e)


def show(field: str, e: Any) -> str:
    m = re.match(r"([\w.]+)(?:\[(.*)\])?$", field)
    assert m is not None
    ref = CAT.resolve(m.group(1), m.group(2))
    v = CAT.extractor(ref)(e)
    if v is None:
        return "<NA>"
    r = CAT.renderer(ref)
    return r(v) if r is not None else str(v)


def run(st: State, *events: SyscallEvent) -> SyscallEvent:
    for e in events:
        st.process(e)
    return events[-1]


def test_process_fields(st: State) -> None:
    e = run(st, ev(6, 200, 3, 10))
    assert get("proc.name", e) == "node"
    assert get("proc.pname", e) == "bash"
    assert get("proc.aname[0]", e) == "node"
    assert get("proc.aname[2]", e) == "sshd"
    assert get("proc.aname[5]", e) is None
    assert get("proc.aname", e) == ("bash", "sshd", "systemd")
    assert get("proc.apid", e) == (100, 50, 1)
    assert get("proc.cmdline", e) == "node app.js --port 80"
    assert get("proc.args", e) == "app.js --port 80"
    assert get("proc.pcmdline", e) == "bash -i"
    assert get("proc.exe", e) == "/usr/bin/node"
    assert get("proc.ppid", e) == 100
    assert get("proc.cwd", e) == "/"
    assert get("thread.tid", e) == 200
    assert get("thread.cap_permitted", e) == "CAP_CHOWN CAP_SYS_ADMIN"
    b = run(st, ev(6, 100, 0, 1))
    assert get("proc.env[HOME]", b) == "/home/u"
    assert get("proc.env[NOPE]", b) is None
    assert get("user.name", b) == "u" and get("user.uid", b) == 1000 and get("user.homedir", b) == "/home/u"
    assert get("user.loginuid", b) == 1000 and get("user.loginname", b) == "u"
    assert get("group.name", b) == "users"


def test_container_fields(st: State) -> None:
    e = run(st, ev(6, 200, 3, 10))
    assert get("container.id", e) == CID[:12]
    assert get("container.name", e) == "web"
    # the 2022 libraries take the image parts as the metadata gives them, without splitting "image"
    assert get("container.image.repository", e) is None and get("container.image.tag", e) is None
    assert get("container.image", e) == "docker.io/library/node:18@sha256:abc"
    assert get("container.privileged", e) is False
    assert get("container.mount.dest[/var/run/docker.s*]", e) == "/var/run/docker.sock"
    assert get("container.mount.source[/var/run/*]", e) == "/var/run/docker.sock"
    assert get("container.mount.rdwr[0]", e) == "true"
    assert get("container.mount[0]", e) == "/var/run/docker.sock:/var/run/docker.sock::true:rprivate"
    assert get("container.mount.dest[/proc*]", e) is None  # no such mount: no value (2022 libs)
    assert get("k8s.pod.name", e) == "web-0" and get("k8s.ns.name", e) == "prod"
    assert get("container.label[app]", e) == "web"
    h = run(st, ev(6, 100, 0, 1))
    assert get("container.id", h) == "host" and get("container.name", h) == "host"
    assert get("container.image", h) is None and get("k8s.pod.name", h) is None


def test_fd_fields_file(st: State) -> None:
    e = run(st, ev(6, 200, 3, 10))
    assert get("fd.num", e) == 3
    assert get("fd.name", e) == "/etc/passwd"
    assert get("fd.directory", e) == "/etc" and get("fd.filename", e) == "passwd"
    assert get("fd.type", e) == "file" and get("fd.typechar", e) == "f"
    assert get("fd.sip", e) is None and get("fd.l4proto", e) == "<NA>"  # libsinsp's literal text
    # events that do not refer to an fd have no fd fields
    b = run(st, ev(12, 200, 0) if EVENTS[12].name == "brk" else ev(234, 200, 0, 0))
    assert get("fd.num", b) is None and get("fd.name", b) is None


def test_fd_fields_without_fd_entry(st: State) -> None:
    e = run(st, ev(2, 100, b"x", 1, 0))
    assert get("fd.num", e) == -1 and get("fd.name", e) is None and get("fd.typechar", e) == "f"
    x = run(st, ev(3, 100, -2, b"missing.txt", 1, 0, 0, 0))
    assert get("fd.name", x) == "/home/u/missing.txt"  # a failed open keeps the name it tried
    assert get("fd.nameraw", x) == "missing.txt"
    assert get("fd.directory", x) == "/home/u" and get("fd.type", x) is None
    assert get("evt.res", x) == "ENOENT" and get("evt.rawres", x) == -2 and get("evt.failed", x) is True
    o = run(st, ev(306, 100, AT_FDCWD, b"rel", 1, 0), ev(307, 100, -13, AT_FDCWD, b"rel", 1, 0, 0, 0))
    assert get("fd.name", o) == "/home/u/rel"


def test_fd_fields_socket(st: State) -> None:
    s = run(st, ev(18, 100, 2, 1, 0))
    assert get("fd.typechar", s) == "4" and get("fd.name", s) is None
    s = run(st, ev(19, 100, 4))
    assert get("fd.name", s) == "" and get("fd.type", s) == "ipv4" and get("fd.l4proto", s) == "<NA>"
    c = run(st, ev(22, 100, 4, (2, b"\x0a\0\0\x05", 443)),
            ev(23, 100, 0, (2, b"\xc0\xa8\0\x02", 40000, b"\x0a\0\0\x05", 443)))
    assert get("fd.name", c) == "192.168.0.2:40000->10.0.0.5:443"
    assert get("fd.sip", c) == ipaddress.ip_address("10.0.0.5") and get("fd.sport", c) == 443
    assert get("fd.cip", c) == ipaddress.ip_address("192.168.0.2") and get("fd.cport", c) == 40000
    assert get("fd.l4proto", c) == "tcp" and get("fd.connected", c) is True
    assert get("fd.sockfamily", c) == "ip" and get("fd.sproto", c) == "443"
    assert get("fd.net", c) == (ipaddress.ip_address("192.168.0.2"), ipaddress.ip_address("10.0.0.5"))
    assert show("fd.sip", c) == "10.0.0.5"
    assert get("fd.rip", c) == ipaddress.ip_address("10.0.0.5")  # the client end is this machine's
    assert get("fd.lip", c) == ipaddress.ip_address("192.168.0.2") and get("fd.lport", c) == 40000
    assert get("evt.arg.tuple", c) == "192.168.0.2:40000->10.0.0.5:443"


def test_evt_fields_and_args_rendering(st: State) -> None:
    e = run(st, ev(2, 200, b"/etc/shadow", 4097, 0))
    assert get("evt.type", e) == "open" and get("evt.dir", e) == ">"
    assert get("evt.arg.flags", e) == "O_RDONLY|O_CLOEXEC"
    assert get("evt.rawarg.flags", e) == 4097
    assert get("evt.arg[0]", e) == "/etc/shadow"
    assert get("evt.arg[7]", e) is None and get("evt.res", e) is None
    x = run(st, ev(3, 200, 4, b"/etc/shadow", 4097, 0))
    assert get("evt.args", x) == "fd=4(<f>/etc/shadow) name=/etc/shadow flags=4097(O_RDONLY|O_CLOEXEC) mode=0 "
    assert get("evt.arg.fd", x) == "<f>/etc/shadow" and get("evt.rawarg.fd", x) == 4
    assert get("evt.res", x) == "SUCCESS" and get("evt.is_open_read", x) is True
    assert get("evt.is_open_write", x) is False
    assert get("evt.type.is.open", x) == 1 and get("evt.type.is.read", x) == 0
    assert get("evt.num", x) == x.num and get("evt.cpu", x) == 1 and get("evt.category", x) == "file"
    assert get("evt.time.iso8601", x) == "2016-08-04T16:17:57.881781397+0000"
    okx = run(st, ev(2, 100, b"dir//f.txt", 1, 0), ev(3, 100, 9, b"dir//f.txt", 1, 0))
    assert get("fd.name", okx) == "/home/u/dir/f.txt" and get("fd.nameraw", okx) == "dir/f.txt"
    rel = run(st, ev(2, 100, b"a/../b.txt", 1, 0))
    assert get("evt.args", rel) == "name=a/../b.txt(/home/u/b.txt) flags=1(O_RDONLY) mode=0 "
    assert get("evt.arg.name", rel) == "/home/u/b.txt"
    r = run(st, ev(6, 200, 3, 10), ev(7, 200, 6, b"root:\x00x"))
    assert get("evt.arg.data", r) == "root:.x" and get("evt.buffer", r) == b"root:\x00x"
    assert get("evt.buflen", r) == 6 and get("evt.is_io_read", r) is True
    big = run(st, ev(6, 200, 3, 10), ev(7, 200, 200, b"A" * 200))
    assert get("evt.arg.data", big) == "A" * 77 + "..."
    u = run(st, ev(198, 100, 0))
    assert get("evt.args", u) == "uid=0(root) "
    cl = run(st, ev(222, 100))
    cx = run(st, ev(223, 100, 300, b"bash", b"", 100, 100, 50, b"/", 1024, 0, 0, 0, 0, 0, b"bash", b"",
                    0, 1000, 1000, 100, 100))
    assert cl.thread is cx.thread
    assert get("evt.arg.ptid", cx) == "sshd" and get("evt.arg.res", cx) == "bash"  # a PID shows its thread
    f = run(st, ev(150, 200, 3, 30))  # fcntl F_OFD_GETLK: an enumeration, not bit flags
    assert get("evt.arg.cmd", f) == "F_OFD_GETLK"
    fu = run(st, ev(code_of("futex", ">"), 100, 0x1000, 129, 1))
    assert get("evt.arg.op", fu) == "FUTEX_PRIVATE_FLAG|FUTEX_WAKE"
    g = run(st, ev(0, 100, 139, 28))
    assert get("evt.type", g) == "madvise" and get("evt.args", g) == ""


def test_threads_and_durations(st: State) -> None:
    run(st, ev(222, 100, ts=10))
    c = run(st, ev(223, 100, 300, b"bash", b"", 100, 100, 50, b"/", 1024, 0, 0, 0, 0, 0, b"bash", b"",
                   0, 1000, 1000, 100, 100, ts=20))
    e = run(st, ev(6, 300, 0, 1, ts=1_000_000_020))
    assert c.thread is not None
    assert get("proc.duration", e) == 1_000_000_000
    assert get("proc.pname", e) == "bash" and get("proc.aname[2]", e) == "sshd"
    assert get("user.uid", e) == 1000


def _rules_fields(corpus_dir: Path) -> set[str]:
    files = [*sorted((corpus_dir / "upstream-rules").glob("falco_rules*.yaml")),
             corpus_dir / "deckhouse" / "fstec.far.yaml",
             *sorted((corpus_dir / "falco-regression" / "rules").rglob("*.yaml"))]
    text = []
    for f in files:
        try:
            docs = list(yaml.safe_load_all(f.read_text(errors="replace")))
        except yaml.YAMLError:
            continue
        stack: list[Any] = docs
        while stack:
            d = stack.pop()
            if isinstance(d, dict):
                if d.get("source", "syscall") not in ("syscall", None):
                    continue
                for k in ("condition", "output"):
                    if isinstance(d.get(k), str):
                        text.append(d[k])
                stack.extend(d.values())
            elif isinstance(d, list):
                stack.extend(d)
    names = set()
    pat = re.compile(r"\b((?:evt|proc|thread|user|group|fd|fs\.path|container|k8s|syscall|fdlist)\.[\w.]+)")
    for t in text:
        names.update(m.rstrip(".") for m in pat.findall(t))
    return names


def test_every_rules_field_is_bound(corpus_dir: Path) -> None:
    missing = []
    for name in sorted(_rules_fields(corpus_dir)):
        try:
            ref = CAT.resolve(name)
        except Exception:
            continue  # not a field (a dotted word inside a string) or unknown to the catalog
        if ref.spec.name not in CAT.bindings:
            missing.append(name)
    assert missing == []


def _all_extractors() -> list[tuple[str, Any, Any]]:
    out = []
    for name, spec in CAT.specs.items():
        if name not in CAT.bindings:
            continue
        args: list[str | None] = [None]
        if spec.takes_arg:
            args = ["0", "2"] if spec.index_arg else ["fd", "name", "res", "HOME", "0", "/proc*", "cpuset"]
            if not spec.arg_required:
                args.append(None)
        for a in args:
            try:
                ref = CAT.resolve(name, a)
            except Exception:
                continue
            out.append((ref.text, CAT.extractor(ref), CAT.renderer(ref)))
    return out


def test_extractors_survive_corrupt_captures(tmp_path: Path, corpus_dir: Path) -> None:
    """Bit-flipped captures: every bound extractor and renderer either works or the replay stops
    with a RaeError; never another exception."""
    import gzip
    import random

    from rae.errors import RaeError
    from rae.syscall.replay import open_capture_source

    exts = _all_extractors()
    assert len(exts) > 250
    rng = random.Random(20261126)
    evaluated = 0
    for name in ("cat_write.scap", "connect_localhost.scap"):
        raw = gzip.decompress((corpus_dir / "falco-regression" / "trace_files" / name).read_bytes())
        for trial in range(5):
            b = bytearray(raw)
            for _ in range(rng.randint(1, 20)):
                i = rng.randrange(len(b) // 4, len(b))
                b[i] ^= 1 << rng.randrange(8)
            p = tmp_path / f"{name}.{trial}"
            p.write_bytes(bytes(b))
            try:
                for e in open_capture_source(str(p)):
                    for _text, ext, ren in exts:
                        v = ext(e)
                        if v is not None and ren is not None:
                            ren(v)
                    evaluated += 1
            except RaeError:
                pass
    assert evaluated > 500


def test_fs_path_fields(st: State) -> None:
    r = run(st, ev(174, 100), ev(175, 100, 0, b"a.txt", b"/tmp/b.txt"))
    assert get("fs.path.source", r) == "/home/u/a.txt" and get("fs.path.sourceraw", r) == "a.txt"
    assert get("fs.path.target", r) == "/tmp/b.txt" and get("fs.path.name", r) is None
    sl = run(st, ev(180, 100), ev(181, 100, 0, b"/etc/passwd", AT_FDCWD, b"link"))
    assert get("fs.path.source", sl) == "/home/u/link" and get("fs.path.target", sl) == "/etc/passwd"
    u = run(st, ev(302, 100), ev(303, 100, 0, AT_FDCWD, b"gone", 0))
    assert get("fs.path.name", u) == "/home/u/gone"
    failed = run(st, ev(302, 100), ev(303, 100, -2, AT_FDCWD, b"gone", 0))
    assert get("fs.path.name", failed) is None
    assert get("fs.path.name", run(st, ev(6, 100, 0, 1))) is None
