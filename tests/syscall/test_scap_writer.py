"""The capture writer: corpus captures re-written read the same in sysdig and in our reader."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from rae.syscall.event_table import EVENTS, code_of
from rae.syscall.events import (
    FdRecord,
    GroupRecord,
    InterfaceRecord,
    MachineInfo,
    SyscallEvent,
    ThreadRecord,
    UserRecord,
)
from rae.syscall.scap_reader import ScapReader, decode_value, read_capture
from rae.syscall.scap_writer import ScapWriter, encode_params, encode_value

TRACES = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "falco-regression" / "trace_files"
CAPTURES = sorted(TRACES.glob("*.scap"))
SYSDIG = shutil.which("sysdig")
needs_sysdig = pytest.mark.skipif(SYSDIG is None, reason="sysdig (tools/apt-packages.txt) not installed")
FMT = "*%evt.num %evt.type %evt.dir %proc.name %fd.name %evt.args"
WIDE = ("*%evt.num %evt.rawtime %evt.cpu %thread.tid %evt.res %proc.pid %proc.ppid %proc.exe %proc.cmdline "
        "%proc.pname %proc.aname[2] %proc.cwd %user.name %user.uid %user.homedir %group.name %fd.num %fd.type "
        "%fd.typechar %fd.directory %fd.filename %fd.sip %fd.sport %fd.cip %fd.cport %fd.l4proto %container.id "
        "%container.name %container.image %proc.vpid %thread.vtid %proc.sid %proc.vpgid %user.loginuid %proc.env")


def _copy(src: Path, dst: Path, *, gzip: bool = False) -> None:
    with ScapReader(str(src)) as r, ScapWriter(str(dst), gzip=gzip) as w:
        w.write_header_from(r)
        for e in r:
            w.write_event(e)


def _sysdig(path: Path, fmt: str) -> list[str]:
    return subprocess.run(["sysdig", "-D", "-r", str(path), "-p", fmt], check=True, capture_output=True,
                          text=True, timeout=60).stdout.splitlines()


@needs_sysdig
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_round_trip_reads_the_same_in_sysdig(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.scap"
    _copy(path, out)
    for fmt in (FMT, WIDE):
        before, after = _sysdig(path, fmt), _sysdig(out, fmt)
        assert len(before) > 100 and before == after


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_round_trip_reads_the_same_in_our_reader(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.scap.gz"
    _copy(path, out, gzip=True)
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    r1, a = read_capture(str(path))
    r2, b = read_capture(str(out))
    assert [(e.num, e.ts, e.tid, e.cpu, e.code, e.params) for e in a] == [
        (e.num, e.ts, e.tid, e.cpu, e.code, e.params) for e in b]
    assert (r1.users, r1.groups, r1.interfaces, r1.machine, r1.fds) == (
        r2.users, r2.groups, r2.interfaces, r2.machine, r2.fds)
    for t1, t2 in zip(r1.threads, r2.threads, strict=True):
        # fields the original's (older) block version lacks come back with libscap's defaults
        mine = {k: v for k, v in dataclasses.asdict(t1).items() if v is not None}
        assert mine == {k: v for k, v in dataclasses.asdict(t2).items() if k in mine}


def _state() -> dict:
    thread = ThreadRecord(tid=500, pid=500, ptid=1, comm="mytool", exe="/usr/bin/mytool", args=["-x", "y z"],
                          cwd="/work/", fdlimit=1024, flags=0, uid=1000, gid=1000, exepath="/usr/bin/mytool",
                          env=["HOME=/home/al"], vtid=500, vpid=500, cgroups=["cpu=/"], root="/")
    return {
        "machine": MachineInfo(2, 1 << 30, 4096, "host-1"),
        "threads": [thread],
        "fds": {500: [FdRecord(500, 3, 77, 16, name="/etc/hosts", open_flags=1),
                      FdRecord(500, 4, 78, 3, sip=b"\x0a\0\0\1", dip=b"\x0a\0\0\2", sport=5555, dport=443,
                               l4proto=2)]},  # SCAP_L4_TCP
        "users": [UserRecord(1000, 1000, "al", "/home/al", "/bin/sh")],
        "groups": [GroupRecord(1000, "al")],
        "interfaces": [InterfaceRecord(1, "lo", b"\x7f\0\0\1", b"\xff\0\0\0", b"\x7f\0\0\1", 0)],
    }


def _built_events() -> list[SyscallEvent]:
    oe, ox = code_of("open", ">"), code_of("open", "<")
    rd = code_of("read", ">")
    cx = code_of("connect", "<")
    return [
        SyscallEvent(1, 1_700_000_000_000_000_000, 500, 0, oe, EVENTS[oe], [b"/etc/shadow", 1, 0]),
        SyscallEvent(2, 1_700_000_000_000_000_100, 500, 0, ox, EVENTS[ox], [5, b"/etc/shadow", 1, 0, 2049, 99]),
        SyscallEvent(3, 1_700_000_000_000_000_200, 500, 1, rd, EVENTS[rd], [4, 100]),
        SyscallEvent(4, 1_700_000_000_000_000_300, 500, 1, cx, EVENTS[cx],
                     [0, (2, b"\x0a\0\0\1", 5555, b"\x0a\0\0\2", 443)]),
    ]


def test_events_built_in_code(tmp_path: Path) -> None:
    out = tmp_path / "built.scap"
    with ScapWriter(str(out)) as w:
        w.write_header(**_state())
        for e in _built_events():
            w.write_event(e)
    r, evs = read_capture(str(out))
    assert [(e.code, e.params) for e in evs] == [(e.code, e.params) for e in _built_events()]
    assert r.threads[0].args == ["-x", "y z"] and r.fds[500][1].dport == 443 and r.machine.hostname == "host-1"


@needs_sysdig
def test_sysdig_reads_a_capture_built_from_scratch(tmp_path: Path) -> None:
    out = tmp_path / "built.scap"
    with ScapWriter(str(out)) as w:
        w.write_header(**_state())
        for e in _built_events():
            w.write_event(e)
    lines = _sysdig(out, "*%evt.num %evt.type %evt.dir %proc.name %proc.cmdline %user.name %fd.name %evt.args")
    assert lines == [
        "1 open > mytool mytool -x y z al <NA> name=/etc/shadow flags=1(O_RDONLY) mode=0 ",
        "2 open < mytool mytool -x y z al /etc/shadow fd=5(<f>/etc/shadow) name=/etc/shadow flags=1(O_RDONLY) "
        "mode=0 dev=801 ",  # sysdig 0.29.3 predates the ino parameter of open<
        "3 read > mytool mytool -x y z al 10.0.0.1:5555->10.0.0.2:443 fd=4(<4t>10.0.0.1:5555->10.0.0.2:443) "
        "size=100 ",
        "4 connect < mytool mytool -x y z al 10.0.0.1:5555->10.0.0.2:443 res=0 tuple=10.0.0.1:5555->10.0.0.2:443 ",
    ]


@pytest.mark.parametrize("ptype,value", [
    ("INT8", -3), ("UINT16", 65535), ("INT64", -(1 << 63)), ("ERRNO", -2), ("FD", 7), ("PID", -1),
    ("FLAGS32", 0x80001), ("MODE", 0o755), ("UID", 4294967295), ("RELTIME", 10**12), ("SYSCALLID", 139),
    ("CHARBUF", b"hello"), ("FSPATH", b"/a/b"), ("BYTEBUF", b"\0\1\2"), ("BYTEBUF", b""),
    ("SOCKADDR", (2, b"\1\2\3\4", 80)), ("SOCKADDR", (10, b"\0" * 15 + b"\1", 443)), ("SOCKADDR", (1, b"/s")),
    ("SOCKTUPLE", (2, b"\1\2\3\4", 1, b"\5\6\7\x08", 2)), ("SOCKTUPLE", (1, 10, 20, b"/run/x")),
    ("FDLIST", [(1, 4), (2, 1)]), ("DOUBLE", 0.5), ("IPV4ADDR", b"\1\2\3\4"),
])
def test_encode_decode_values(ptype: str, value: object) -> None:
    assert decode_value(ptype, encode_value(ptype, value)) == value
    assert encode_value(ptype, None) == b""


def test_encode_params_uses_the_schema() -> None:
    ox = code_of("open", "<")
    blob = encode_params(ox, [3, b"/x", 1])
    assert blob[:6] == bytes([8, 0, 3, 0, 4, 0])  # fd i64, "/x\0", flags u32
    large = 324  # CONTAINER_JSON_2_E: u32 lengths
    assert encode_params(large, [b"{}"])[:4] == bytes([3, 0, 0, 0])


def test_writer_without_header_still_writes_a_section(tmp_path: Path) -> None:
    out = tmp_path / "empty.scap"
    ScapWriter(str(out)).close()
    r, evs = read_capture(str(out))
    assert evs == [] and r.section == (1, 2)


@pytest.mark.parametrize("size", [65000, 65496, 65497, 65500, 65535])
def test_big_events_switch_to_large_blocks(tmp_path: Path, size: int) -> None:
    wx = code_of("write", "<")
    out = tmp_path / "big.scap"
    with ScapWriter(str(out)) as w:
        w.write_event(SyscallEvent(1, 5, 1, 0, wx, EVENTS[wx], [size, b"x" * size]))
    _, (e,) = read_capture(str(out))
    assert e.params == [size, b"x" * size]
    with pytest.raises(ValueError, match="longer than 65535"):
        encode_params(wx, [1, b"x" * 65536])


def test_benchmark_capture_generator(tmp_path: Path) -> None:
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "bench" / "replay" / "make_capture.py"
    spec = importlib.util.spec_from_file_location("make_capture", script)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "bench.scap"
    n = mod.make_capture(str(out), [str(p) for p in CAPTURES], 9000)
    r, evs = read_capture(str(out))
    assert n == len(evs) >= 9000
    assert len(r.threads) == sum(len(read_capture(str(p))[0].threads) for p in CAPTURES)
    real = [e.ts for e in evs if 0 < e.ts < 1 << 63]
    assert real == sorted(real) and len(set(real)) == len(real)
    if SYSDIG:
        assert int(_sysdig(out, "*%evt.num")[-1]) == len(evs)


@needs_sysdig
def test_header_strings_are_cut_to_what_libscap_accepts(tmp_path: Path) -> None:
    """A host process with a 25 KB command line once made sysdig refuse a whole live capture."""
    state = _state()
    long_arg = "a" * 25000
    state["threads"][0] = dataclasses.replace(
        state["threads"][0], args=["-x", long_arg], env=["K=" + "v" * 9000], cwd="/" + "d" * 3000 + "/",
        cgroups=["cpu=/" + "c" * 5000], exe="/" + "e" * 2000)
    state["fds"][500].append(FdRecord(500, 5, 79, 16, name="/" + "f" * 1500, open_flags=1))
    state["users"][0] = UserRecord(1000, 1000, "al", "/home/" + "h" * 400, "/bin/sh")
    out = tmp_path / "long.scap"
    with ScapWriter(str(out)) as w:
        w.write_header(**state)
        for e in _built_events():
            w.write_event(e)
    (line, *_) = _sysdig(out, "*%evt.num %proc.cmdline")
    num, cmdline = line.split(" ", 1)
    assert num == "1" and cmdline.startswith("mytool -x aaaa") and len(cmdline) < 4200
    r, _ = read_capture(str(out))
    t = r.threads[0]
    assert t.args[0] == "-x" and len(t.args[1]) == 4096 - len("-x\0") - 1
    assert len(t.env[0]) < 4096 and len(t.cwd) == 1023 and len(r.fds[500][2].name) == 1023
    assert len(r.users[0].homedir) == 255
