"""The capture reader: the corpus captures (checked against sysdig) and hand-built captures of every
block version (built here with struct, independently of the writer)."""

from __future__ import annotations

import gzip
import io
import logging
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from rae.errors import RaeError
from rae.syscall.event_table import EVENTS, SYSCALL_NAMES, code_of
from rae.syscall.events import SyscallEvent
from rae.syscall.scap_reader import CaptureError, ScapReader, read_capture

TRACES = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "falco-regression" / "trace_files"
CAPTURES = sorted(TRACES.glob("*.scap"))
COUNTS = {"cat_write.scap": 345, "connect_localhost.scap": 374, "empty.scap": 143,
          "open-multiple-files.scap": 1272, "ping_sendto.scap": 1526, "syscall.scap": 368}


# --- hand-built blocks -----------------------------------------------------------------------------

def block(btype: int, body: bytes) -> bytes:
    pad = b"\0" * (-len(body) % 4)
    blen = 12 + len(body) + len(pad)
    return struct.pack("<II", btype, blen) + body + pad + struct.pack("<I", blen)


def shb(minor: int = 2, options: bytes = b"") -> bytes:
    return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, minor, -1) + options)


def mi(btype: int = 0x201) -> bytes:
    return block(btype, struct.pack("<IQQ128sQQQQ", 4, 1 << 33, 32768, b"testhost", 7, 0, 0, 0))


def s16(s: bytes) -> bytes:
    return struct.pack("<H", len(s)) + s


def params_blob(params: list[bytes], large: bool = False) -> bytes:
    fmt = "I" if large else "H"
    return struct.pack(f"<{len(params)}{fmt}", *(len(p) for p in params)) + b"".join(params)


def ev(code: int, params: list[bytes], *, ts: int = 1000, tid: int = 42, cpu: int = 1, v2: bool = True,
       flags: int | None = None, large_block: bool = False, extra_len: int = 0) -> bytes:
    large = bool(EVENTS[code].flags & (1 << 11)) if code < len(EVENTS) else False
    blob = params_blob(params, large)
    hdr_len = 26 if v2 else 22
    elen = hdr_len + len(blob) + extra_len
    hdr = struct.pack("<QqIH", ts, tid, elen, code) + (struct.pack("<I", len(params)) if v2 else b"")
    pre = struct.pack("<H", cpu) + (struct.pack("<I", flags) if flags is not None else b"")
    if flags is None:
        btype = (0x221 if large_block else 0x216) if v2 else 0x204
    else:
        btype = (0x222 if large_block else 0x217) if v2 else 0x208
    return block(btype, pre + hdr + blob + b"\0" * extra_len)


def i64(v: int) -> bytes:
    return struct.pack("<q", v)


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def cstr(s: bytes) -> bytes:
    return s + b"\0"


OPEN_X = code_of("open", "<")
OPEN_E = code_of("open", ">")


def simple_events() -> bytes:
    return (ev(OPEN_E, [cstr(b"/etc/passwd"), u32(1), u32(0)], ts=10)
            + ev(OPEN_X, [i64(3), cstr(b"/etc/passwd"), u32(1), u32(0), u32(0), struct.pack("<Q", 9)], ts=11))


def read_bytes(data: bytes) -> tuple[ScapReader, list[SyscallEvent]]:
    r = ScapReader(io.BytesIO(data), name="test.scap")
    return r, list(r)


def pl_record(ver: int, tid: int, tail: bytes = b"") -> bytes:
    """A process record of version ``ver`` (fields in the order of scap-format.md §3)."""
    body = struct.pack("<QQQ", tid, tid, 1)
    if ver >= 6:
        body += i64(77)  # sid
    if ver >= 8:
        body += i64(78)  # vpgid
    body += s16(b"comm") + s16(b"/bin/exe")
    if ver >= 7:
        body += s16(b"/usr/bin/exe")
    body += s16(b"a1\0a2\0") + s16(b"/cwd") + struct.pack("<QIII", 1024, 5, 1000, 1001)
    if ver >= 2:
        body += struct.pack("<IIIQQ", 10, 11, 12, 13, 14)
    if ver >= 3:
        body += s16(b"A=1\0B=2\0")
    if ver >= 4:
        body += i64(tid + 1) + i64(tid + 2) + s16(b"cpu=/docker/abc\0")
    if ver >= 5:
        body += s16(b"/root")
    body += tail
    if ver == 9:
        body = u32(4 + len(body)) + body
    return body


PL_TYPES = {1: (0x202, 0x8000ABCD), 2: (0x207, 0x8013ABCD), 3: (0x209, 0x8014ABCD), 4: (0x210,), 5: (0x211,),
            6: (0x212,), 7: (0x213,), 8: (0x214,), 9: (0x215,)}


# --- corpus captures -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_corpus_event_counts(path: Path) -> None:
    r, events = read_capture(str(path))
    assert len(events) == COUNTS[path.name]
    assert [e.num for e in events] == list(range(1, len(events) + 1))
    assert r.threads and r.fds and r.users and r.groups and r.interfaces
    assert r.machine is not None and r.machine.hostname == "ubuntu"
    assert not r.skipped_blocks and not r.skipped_events
    for e in events:
        assert len(e.params) == e.nparams <= len(e.info.params)


def test_corpus_header_records() -> None:
    r, _ = read_capture(str(TRACES / "cat_write.scap"))  # PL_V6 (sid, no vpgid), FDL v1, IL/UL v1
    init = next(t for t in r.threads if t.tid == 1)
    assert init.comm == "systemd" and init.pid == 1 and init.sid is not None and init.vpgid is None
    assert init.env and init.cgroups and init.root == "/"
    root = next(u for u in r.users if u.uid == 0)
    assert (root.name, root.homedir, root.shell) == ("root", "/root", "/bin/bash")
    assert any(i.name == "lo" and i.addr == b"\x7f\0\0\1" for i in r.interfaces)
    assert any(f.name == "/dev/null" for f in r.fds[1])
    r, _ = read_capture(str(TRACES / "empty.scap"))  # PL_V9, FDL_V2, IL/UL V2
    init = next(t for t in r.threads if t.tid == 1)
    assert init.vpgid is not None and init.exepath is not None and init.loginuid is not None


def test_corpus_parameters() -> None:
    _, events = read_capture(str(TRACES / "connect_localhost.scap"))
    e = events[186]
    assert (e.num, e.evtype, e.dir) == (187, "connect", "<")
    assert e.params == [-115, (2, b"\x7f\0\0\1", 47192, b"\x7f\0\0\1", 80)]
    assert e.arg("tuple")[2] == 47192 and e.arg("nosuch") is None
    sock = events[183]
    assert (sock.evtype, sock.dir, sock.params) == ("socket", ">", [2, 1, 0])
    _, events = read_capture(str(TRACES / "cat_write.scap"))
    opens = [e for e in events if e.evtype == "open"]
    assert len(opens) == 8
    assert all(e.params == [] for e in opens if e.dir == ">")  # this 2016 driver wrote no enter params
    exits = [e for e in opens if e.dir == "<"]
    assert all(len(e.params) == 4 for e in exits) and exits[-1].params == [3, b"/dev/null", 1, 0]
    _, events = read_capture(str(TRACES / "syscall.scap"))
    madvise = [e for e in events if e.code in (0, 1) and e.params[0] == 139]
    assert madvise and SYSCALL_NAMES[139] == "madvise"
    _, events = read_capture(str(TRACES / "open-multiple-files.scap"))
    containers = [e for e in events if e.code == 272]
    assert len(containers) == 3 and all(e.params[0].startswith(b'{"container"') for e in containers)


def _sysdig_lines(path: Path, fmt: str) -> dict[int, str]:
    out = subprocess.run(["sysdig", "-D", "-r", str(path), "-p", fmt], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    lines = {}
    for line in out.splitlines():
        head, _, rest = line.partition(" ")
        if head.isdigit():
            lines[int(head)] = rest
    return lines


@pytest.mark.skipif(shutil.which("sysdig") is None, reason="sysdig (tools/apt-packages.txt) not installed")
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_corpus_events_match_sysdig(path: Path) -> None:
    lines = _sysdig_lines(path, "*%evt.num %evt.rawtime %evt.cpu %evt.dir %thread.tid %evt.type")
    _, events = read_capture(str(path))
    seen = 0
    for e in events:
        if e.num not in lines:
            assert e.code == 272, e  # sysdig does not print container meta events
            continue
        seen += 1
        name = SYSCALL_NAMES[e.params[0]] if e.code in (0, 1) else e.evtype
        assert lines[e.num] == f"{e.ts} {e.cpu} {e.dir} {e.tid} {name}", e
    assert seen == len(lines)


# --- hand-built captures: every block version ------------------------------------------------------

@pytest.mark.parametrize("ver,btype", [(v, t) for v, ts in PL_TYPES.items() for t in ts])
def test_process_list_versions(ver: int, btype: int) -> None:
    data = shb() + block(btype, pl_record(ver, 100) + pl_record(ver, 101)) + simple_events()
    r, events = read_bytes(data)
    assert len(events) == 2 and [t.tid for t in r.threads] == [100, 101]
    t = r.threads[0]
    assert (t.comm, t.exe, t.args, t.cwd, t.fdlimit, t.flags, t.uid, t.gid) == (
        "comm", "/bin/exe", ["a1", "a2"], "/cwd", 1024, 5, 1000, 1001)
    assert t.sid == (77 if ver >= 6 else None) and t.vpgid == (78 if ver >= 8 else None)
    assert t.exepath == ("/usr/bin/exe" if ver >= 7 else None)
    assert t.vmrss_kb == (11 if ver >= 2 else None) and t.pfminor == (14 if ver >= 2 else None)
    assert t.env == (["A=1", "B=2"] if ver >= 3 else None)
    assert (t.vtid, t.vpid, t.cgroups) == ((101, 102, ["cpu=/docker/abc"]) if ver >= 4 else (None, None, None))
    assert t.root == ("/root" if ver >= 5 else None)


def test_process_list_v9_trailing_fields() -> None:
    old = struct.pack("<iBQQQ", 1000, 1, 1, 2, 3)  # libs 0.9/0.10 layout: 29 bytes
    new = struct.pack("<QIiBQQQBQQQBBq", 555, 34816, 1000, 1, 1, 2, 3, 1, 99, 5, 6, 1, 0, 321) + b"future"
    data = shb() + block(0x215, pl_record(9, 1, old) + pl_record(9, 2, new) + pl_record(9, 3)) + simple_events()
    r, _ = read_bytes(data)
    a, b, c = r.threads
    assert (a.pidns_init_start_ts, a.tty, a.loginuid, a.exe_writable, a.cap_effective) == (None, None, 1000, True, 3)
    assert (b.pidns_init_start_ts, b.tty, b.loginuid, b.cap_permitted, b.exe_ino, b.pgid) == (
        555, 34816, 1000, 2, 99, 321)
    assert (b.exe_upper_layer, b.exe_from_memfd, b.exe_lower_layer) == (True, True, False)
    assert c.loginuid is None and c.root == "/root"


@pytest.mark.parametrize("btype", [0x203, 0x8001ABCD, 0x218])
def test_fd_list_versions(btype: int) -> None:
    v2 = btype == 0x218

    def rec(body: bytes) -> bytes:
        return u32(4 + len(body)) + body if v2 else body

    recs = [
        rec(struct.pack("<qQB", 0, 5, 16) + u32(0o2) + s16(b"/dev/null") + (u32(64769) if v2 else b"")),
        rec(struct.pack("<qQB", 1, 6, 3) + b"\x0a\0\0\1" + b"\x0a\0\0\2" + struct.pack("<HHB", 1234, 80, 6)),
        rec(struct.pack("<qQB", 2, 7, 5) + b"\0\0\0\0" + struct.pack("<HB", 8080, 6)),
        rec(struct.pack("<qQB", 3, 8, 4) + b"\0" * 15 + b"\1" + b"\xfe" * 16 + struct.pack("<HHB", 1, 2, 17)),
        rec(struct.pack("<qQB", 4, 9, 6) + b"\0" * 16 + struct.pack("<HB", 443, 6)),
        rec(struct.pack("<qQB", 5, 10, 8) + struct.pack("<QQ", 0xAA, 0xBB) + s16(b"/run/sock")),
        rec(struct.pack("<qQB", 6, 11, 7) + s16(b"pipe:[1]")),
        rec(struct.pack("<qQB", 7, 12, 0)),
    ]
    data = shb() + block(0x215, pl_record(9, 100)) + block(btype, struct.pack("<Q", 100) + b"".join(recs))
    r, _ = read_bytes(data + simple_events())
    f = r.fds[100]
    assert [x.fd for x in f] == list(range(8))
    assert (f[0].type, f[0].name, f[0].open_flags, f[0].dev) == (16, "/dev/null", 2, 64769 if v2 else None)
    assert (f[1].sip, f[1].dip, f[1].sport, f[1].dport, f[1].l4proto) == (b"\n\0\0\1", b"\n\0\0\2", 1234, 80, 6)
    assert (f[2].sport, f[3].sip[-1], f[3].dport, f[4].sport) == (8080, 1, 2, 443)
    assert (f[5].source, f[5].dest, f[5].name, f[6].name, f[7].type) == (0xAA, 0xBB, "/run/sock", "pipe:[1]", 0)


@pytest.mark.parametrize("v2", [False, True])
def test_interface_and_user_lists(v2: bool) -> None:
    v4 = struct.pack("<HH", 1, 2) + b"\x7f\0\0\1" + b"\xff\0\0\0" + b"\x7f\0\0\1" + struct.pack("<Q", 1000) + b"lo"
    v6 = struct.pack("<HH", 4, 4) + b"\0" * 15 + b"\1" + b"\xff" * 16 + b"\0" * 16 + b"eth0"
    il = b"".join(u32(len(e)) + e if v2 else e for e in (v4, v6))
    user = struct.pack("<BII", 0, 1000, 100) + s16(b"alice") + s16(b"/home/alice") + s16(b"/bin/zsh")
    group = struct.pack("<BI", 1, 100) + s16(b"users")
    ul = b"".join(u32(4 + len(e)) + e if v2 else e for e in (user, group))
    data = shb() + mi() + block(0x219 if v2 else 0x205, il) + block(0x220 if v2 else 0x206, ul)
    r, _ = read_bytes(data + simple_events())
    assert r.machine is not None and (r.machine.hostname, r.machine.num_cpus, r.machine.boot_ts) == ("testhost", 4, 7)
    lo, eth = r.interfaces
    assert (lo.type, lo.name, lo.addr, lo.linkspeed) == (1, "lo", b"\x7f\0\0\1", 1000)
    assert (eth.type, eth.name, eth.addr[-1], eth.netmask, eth.linkspeed) == (4, "eth0", 1, b"\xff" * 16, 0)
    assert [(u.uid, u.gid, u.name, u.homedir, u.shell) for u in r.users] == [
        (1000, 100, "alice", "/home/alice", "/bin/zsh")]
    assert [(g.gid, g.name) for g in r.groups] == [(100, "users")]


def test_legacy_block_numbers() -> None:
    il = struct.pack("<HH", 3, 2) + b"\x7f\0\0\1" * 3 + b"lo"
    ul = struct.pack("<BI", 1, 0) + s16(b"root")
    data = (shb(0) + mi(0x8002ABCD) + block(0x8011ABCD, il) + block(0x8012ABCD, ul)
            + block(0x8000ABCD, pl_record(1, 5)) + ev(OPEN_E, [cstr(b"/x"), u32(0), u32(0)], v2=False)
            .replace(struct.pack("<I", 0x204), struct.pack("<I", 0x8010ABCD), 1))
    r, events = read_bytes(data)
    assert r.machine is not None and r.interfaces[0].name == "lo" and r.groups[0].name == "root"
    assert r.threads[0].tid == 5 and events[0].params == [b"/x", 0, 0]


@pytest.mark.parametrize("v2,flags,large", [(False, None, False), (True, None, False), (False, 7, False),
                                            (True, 7, False), (True, None, True), (True, 7, True)])
def test_event_block_kinds(v2: bool, flags: int | None, large: bool) -> None:
    data = shb() + ev(OPEN_X, [i64(3), cstr(b"/tmp/f"), u32(0x41), u32(0o644), u32(0), struct.pack("<Q", 5)],
                      ts=123, tid=-1, cpu=3, v2=v2, flags=flags, large_block=large)
    _, (e,) = read_bytes(data)
    assert (e.num, e.ts, e.tid, e.cpu, e.evtype, e.dir) == (1, 123, -1, 3, "open", "<")
    assert e.params == [3, b"/tmp/f", 0x41, 0o644, 0, 5]


def test_v1_parameter_count_inference() -> None:
    four = [i64(3), cstr(b"/a"), u32(1), u32(0)]
    notif = code_of("notification", ">")
    data = (shb() + ev(OPEN_X, four, v2=False) + ev(OPEN_E, [], v2=False)
            + ev(notif, [cstr(b"1"), cstr(b"hi")], v2=False, extra_len=3))
    _, (a, b, c) = read_bytes(data)
    assert (a.nparams, a.params) == (4, [3, b"/a", 1, 0])
    assert b.params == []
    assert c.evtype == "notification" and c.params == [b"1", b"hi"]


def test_large_payload_event_lengths_are_u32() -> None:
    code = code_of("container", ">")  # CONTAINER_JSON_2_E: EF_LARGE_PAYLOAD
    assert code == 324
    payload = cstr(b'{"container":{"id":"abc"}}' + b" " * 70000)
    _, (e,) = read_bytes(shb() + ev(code, [payload], tid=-1, large_block=True))
    assert e.params[0].startswith(b'{"container"') and len(e.params[0]) == len(payload) - 1


def test_parameter_types() -> None:
    sockaddr_in = b"\x02" + b"\xc0\xa8\x00\x01" + struct.pack("<H", 8080)
    sockaddr_un = b"\x01/run/x.sock\0"
    tuple6 = b"\x0a" + b"\0" * 15 + b"\1" + struct.pack("<H", 5) + b"\xfe" * 16 + struct.pack("<H", 6)
    tuple_un = b"\x01" + struct.pack("<QQ", 1, 2) + b"/s\0"
    fdlist = struct.pack("<H", 2) + struct.pack("<qH", 3, 1) + struct.pack("<qH", 4, 4)
    connect_x = code_of("connect", "<")
    poll_x = code_of("poll", "<")
    bind_x = code_of("bind", "<")
    data = (shb() + ev(connect_x, [i64(0), tuple6]) + ev(connect_x, [i64(0), tuple_un])
            + ev(bind_x, [i64(0), sockaddr_in]) + ev(bind_x, [i64(0), sockaddr_un])
            + ev(poll_x, [i64(1), fdlist]) + ev(connect_x, [i64(-2), b""]))
    _, evs = read_bytes(data)
    assert evs[0].params[1] == (10, b"\0" * 15 + b"\1", 5, b"\xfe" * 16, 6)
    assert evs[1].params[1] == (1, 1, 2, b"/s")
    assert evs[2].params[1] == (2, b"\xc0\xa8\x00\x01", 8080)
    assert evs[3].params[1] == (1, b"/run/x.sock")
    assert evs[4].params[1] == [(3, 1), (4, 4)]
    assert evs[5].params == [-2, None]  # zero-length: absent
    ptrace_x = code_of("ptrace", "<")
    dyn = [p for p in EVENTS[ptrace_x].params if p.type == "DYN"]
    assert dyn
    vals = [i64(0)] + [b"\x00" + struct.pack("<Q", 0xDEAD)] * len(dyn)
    _, (p,) = read_bytes(shb() + ev(ptrace_x, vals))
    assert p.params[1] == (0, 0xDEAD)


def test_unknown_blocks_and_event_codes_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    unknown = block(0x999, b"whatever")
    data = (shb() + unknown + block(0x215, pl_record(9, 1)) + simple_events() + unknown
            + ev(9999, [], v2=True) + simple_events())
    with caplog.at_level(logging.WARNING, logger="rae.syscall.scap_reader"):
        r, events = read_bytes(data)
    assert [e.num for e in events] == [1, 2, 3, 4] and [e.ts for e in events] == [10, 11, 10, 11]
    assert r.skipped_blocks[0x999] == 2 and r.skipped_events[9999] == 1
    assert sum("0x999" in m for m in caplog.messages) == 1


def test_section_header_options_and_metadata_after_events() -> None:
    options = struct.pack("<HH", 1, 5) + b"hello\0\0\0" + struct.pack("<HH", 0, 0)
    late_user = block(0x206, struct.pack("<BI", 1, 5) + s16(b"late"))
    r, events = read_bytes(shb(0, options) + simple_events() + late_user + simple_events())
    assert r.section == (1, 0) and len(events) == 4 and r.groups[0].name == "late"


def test_gzip_plain_and_concatenated_members(tmp_path: Path) -> None:
    src = TRACES / "syscall.scap"
    plain = tmp_path / "plain.scap"
    plain.write_bytes(gzip.decompress(src.read_bytes()))
    _, a = read_capture(str(src))
    _, b = read_capture(str(plain))
    assert [(e.ts, e.code, e.params) for e in a] == [(e.ts, e.code, e.params) for e in b]
    raw = plain.read_bytes()
    multi = tmp_path / "multi.scap"
    multi.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    _, c = read_capture(str(multi))
    assert len(c) == len(a)


def test_bad_files(tmp_path: Path) -> None:
    swapped = struct.pack(">IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack(">I", 28)
    with pytest.raises(CaptureError, match="magic"):
        read_bytes(swapped)
    with pytest.raises(CaptureError, match="not a scap capture"):
        read_bytes(b'{"kind": "Event"}')
    with pytest.raises(CaptureError, match="empty"):
        read_bytes(b"")
    with pytest.raises(CaptureError, match="version"):
        read_bytes(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 2, 0, -1)))
    with pytest.raises(CaptureError, match="cannot read"):
        ScapReader(str(tmp_path / "missing.scap"))
    assert issubclass(CaptureError, RaeError)
    r, events = read_bytes(shb())  # a header alone is a capture without events
    assert events == [] and r.section == (1, 2)


def test_header_is_read_before_the_first_event() -> None:
    data = shb() + block(0x215, pl_record(9, 1)) + simple_events()
    r = ScapReader(io.BytesIO(data))
    it = iter(r)
    assert r.threads and r.threads[0].tid == 1
    assert next(it).num == 1
    with pytest.raises(RuntimeError):
        iter(r)


def _reference_params(e: SyscallEvent) -> list[object]:
    """Each parameter decoded on its own with `decode_value`, the lengths read by hand."""
    from rae.syscall.event_table import EF_LARGE_PAYLOAD
    from rae.syscall.scap_reader import decode_value

    raw = bytes(e.raw or b"")
    width = 4 if e.info.flags & EF_LARGE_PAYLOAD else 2
    lens = [int.from_bytes(raw[i * width:(i + 1) * width], "little") for i in range(e.nparams)]
    off, out = width * e.nparams, []
    for i, ln in enumerate(lens):
        p = e.info.params[i] if i < len(e.info.params) else None
        data = raw[off:off + ln]
        out.append(data if p is None else decode_value(p.type, data, p.flags_table))
        off += ln
    return out


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_generated_decoders_match_one_parameter_at_a_time(path: Path) -> None:
    with ScapReader(str(path)) as r:
        events = [e for e in r if e.raw is not None]
    assert events
    for e in events:
        assert e.params == _reference_params(e), e


def _odd_widths(e: SyscallEvent, rng: random.Random) -> bytes:
    """``e.raw`` with some 8-byte integers written in 4 bytes and some 4-byte ones in 2, as an old
    or foreign writer could: the generated decoders' struct fast path must not take those."""
    raw = bytes(e.raw or b"")
    n = e.nparams
    lens = list(struct.unpack_from(f"<{n}H", raw, 0))
    off, parts = 2 * n, []
    for i, ln in enumerate(lens):
        data = raw[off:off + ln]
        off += ln
        if i < len(e.info.params) and ln in (4, 8) and e.info.params[i].type in _SHRINKABLE and rng.random() < 0.5:
            data, lens[i] = data[:ln // 2], ln // 2
        parts.append(data)
    return struct.pack(f"<{n}H", *lens) + b"".join(parts)


_SHRINKABLE = frozenset(("INT64", "UINT64", "ERRNO", "FD", "PID", "INT32", "UINT32", "UID", "GID", "MODE",
                         "FLAGS32", "RELTIME", "ABSTIME"))


def _declared_length_params(e: SyscallEvent) -> list[object]:
    """Each parameter decoded on its own, None only when its declared length is 0 (a parameter cut
    short by the end of the block decodes from the bytes left, as the generated decoders do)."""
    from rae.syscall.scap_reader import _decoder

    raw = bytes(e.raw or b"")
    n = e.nparams
    lens = struct.unpack_from(f"<{n}H", raw, 0)
    off, out = 2 * n, []
    for i, ln in enumerate(lens):
        data = raw[off:off + ln]
        off += ln
        p = e.info.params[i] if i < len(e.info.params) else None
        dec = None if p is None else _decoder(p.type, p.flags_table)
        out.append(data if dec is None else (dec(data) if ln else None))
    return out


def test_generated_decoders_on_odd_widths_and_truncated_parameters() -> None:
    """Integers narrower than their type and parameter blocks cut short (past the end of a run of
    integers included) decode as one parameter at a time does, or fail as a `CaptureError`."""
    from rae.syscall.event_table import EF_LARGE_PAYLOAD

    rng = random.Random(5)
    checked = shrunk = cut = 0
    for path in CAPTURES:
        with ScapReader(str(path)) as r:
            events = [e for e in r if e.raw is not None and e.nparams and not e.info.flags & EF_LARGE_PAYLOAD]
        for e in events:
            for raw in (_odd_widths(e, rng), bytes(e.raw)[:rng.randrange(2 * e.nparams, len(e.raw) + 1)]):
                x = SyscallEvent(e.num, e.ts, e.tid, e.cpu, e.code, e.info, raw=raw, nparams=e.nparams)
                y = SyscallEvent(e.num, e.ts, e.tid, e.cpu, e.code, e.info, raw=raw, nparams=e.nparams)
                try:
                    want: object = _declared_length_params(y)
                except (struct.error, ValueError, IndexError):
                    with pytest.raises(CaptureError):
                        _ = x.params
                    continue
                assert x.params == want, (e, raw)
                checked += 1
                shrunk += raw != bytes(e.raw) and len(raw) != len(bytes(e.raw)) and raw[:2 * e.nparams] != \
                    bytes(e.raw)[:2 * e.nparams]
                cut += len(raw) < len(bytes(e.raw)) and raw[:2 * e.nparams] == bytes(e.raw)[:2 * e.nparams]
    assert checked > 1000 and shrunk > 100 and cut > 100, (checked, shrunk, cut)
