"""The event table against the corpus captures (walked independently of the reader) and sysdig."""

from __future__ import annotations

import gzip
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from rae.syscall import event_table as et
from rae.syscall.scap_reader import ScapReader

TRACES = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "falco-regression" / "trace_files"
CAPTURES = sorted(TRACES.glob("*.scap"))
FLAG_TYPES = {"FLAGS8", "FLAGS16", "FLAGS32", "ENUMFLAGS8", "ENUMFLAGS16", "ENUMFLAGS32", "MODE"}


def _walk(path: Path) -> list[tuple[int, int | None, bytes]]:
    """(code, nparams or None for v1 blocks, lengths+params bytes) of every event block: a minimal
    walker of its own so that the table is checked against the files, not against the reader."""
    data = gzip.decompress(path.read_bytes())
    out = []
    pos = 0
    while pos + 8 <= len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        if btype == 0x204:
            _ts, _tid, elen, code = struct.unpack_from("<QqIH", data, pos + 10)
            out.append((code, None, data[pos + 32:pos + 10 + elen]))
        elif btype == 0x216:
            _ts, _tid, elen, code, npar = struct.unpack_from("<QqIHI", data, pos + 10)
            out.append((code, npar, data[pos + 36:pos + 10 + elen]))
        pos += blen
    return out


def _fits(body: bytes, n: int, lsz: int) -> bool:
    if lsz * n > len(body):
        return False
    lens = struct.unpack_from(f"<{n}{'I' if lsz == 4 else 'H'}", body, 0)
    return lsz * n + sum(lens) == len(body)


def test_corpus_present() -> None:
    assert len(CAPTURES) == 6, f"expected the 6 falco trace files under {TRACES}"


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_every_corpus_event_is_in_the_table_with_its_parameter_count(path: Path) -> None:
    events = _walk(path)
    assert events
    for code, npar, body in events:
        assert code < et.EVENT_MAX, f"event code {code} beyond the table"
        info = et.EVENTS[code]
        assert not info.flags & et.EF_UNUSED, f"{code} {info.name} is marked unused"
        large = info.flags & et.EF_LARGE_PAYLOAD
        lsz = 4 if large else 2
        if npar is not None:
            # newer libs append parameters to older events (exit events carry their enter's):
            # a capture of an older driver has a prefix of the schema
            assert npar <= len(info.params), (code, info.name, npar, len(info.params))
            lens = struct.unpack_from(f"<{npar}{'I' if large else 'H'}", body, 0)
            assert lsz * npar + sum(lens) == len(body)
        else:
            # v1: some prefix of the schema's parameters must add up exactly (drivers only append)
            assert any(_fits(body, n, lsz) for n in range(len(info.params), -1, -1)), (code, info.name)


def test_well_known_codes() -> None:
    expect = {
        0: ("syscall", ">"), 1: ("syscall", "<"), 2: ("open", ">"), 3: ("open", "<"), 4: ("close", ">"),
        22: ("connect", ">"), 23: ("connect", "<"), 58: ("creat", ">"), 186: ("procexit", ">"),
        222: ("clone", ">"), 223: ("clone", "<"), 234: ("procinfo", ">"), 246: ("accept", ">"),
        272: ("container", ">"), 292: ("execve", ">"), 293: ("execve", "<"), 306: ("openat", ">"),
        307: ("openat", "<"), 326: ("openat2", ">"), 330: ("execveat", ">"), 334: ("clone3", ">"),
        362: ("dup2", ">"), 366: ("dup", ">"), 388: ("accept4", ">"), 324: ("container", ">"),
        404: ("memfd_create", ">"),
    }
    for code, (name, d) in expect.items():
        assert (et.EVENTS[code].name, et.EVENTS[code].dir) == (name, d), code
    openx = et.EVENTS[3]
    assert [(p.name, p.type, p.fmt, p.flags_table) for p in openx.params] == [
        ("fd", "FD", "DEC", None), ("name", "FSPATH", "NA", None), ("flags", "FLAGS32", "HEX", "file_flags"),
        ("mode", "UINT32", "OCT", None), ("dev", "UINT32", "HEX", None), ("ino", "UINT64", "DEC", None)]
    assert openx.category == "file" and openx.param_index["name"] == 1
    assert et.EVENTS[23].params[1].type == "SOCKTUPLE"
    assert et.EVENTS[234].category == "processing" or et.EVENTS[234].category_bits & 256
    assert et.SYSCALL_NAMES[139] == "madvise"
    assert et.code_of("execve", "<") == 293 and et.code_of("open", ">") == 2
    openat2 = et.EVENTS[327]
    dirfd_params = [p for p in openat2.params if p.type == "FSRELPATH"]
    assert dirfd_params and openat2.params[dirfd_params[0].dirfd].name == "dirfd"


def test_every_referenced_table_exists() -> None:
    for info in et.EVENTS:
        for p in info.params:
            if p.type == "DYN":
                assert p.flags_table in et.DYN_TABLES, (info.name, p.name)
            elif p.flags_table is not None:
                assert p.flags_table in et.FLAG_TABLES, (info.name, p.name)
    for name in ("file_flags", "clone_flags", "socket_families", "prot_flags", "mmap_flags", "ptrace_requests",
                 "fcntl_commands", "openat2_flags", "execve_flags", "chmod_mode", "unlinkat_flags",
                 "mount_flags", "access_flags"):
        assert et.FLAG_TABLES.get(name), name


def test_render_flags() -> None:
    assert et.render_flags("file_flags", 1) == "O_RDONLY"
    cloexec = dict(et.FLAG_TABLES["file_flags"])["O_CLOEXEC"]
    assert et.render_flags("file_flags", 1 | cloexec) == "O_RDONLY|O_CLOEXEC"
    assert et.render_flags("socket_families", 2, exact=True) == "AF_INET"
    assert et.render_flags("socket_families", 1, exact=True) == "AF_LOCAL"
    assert et.render_flags("no_such_table", 5) == ""


def _flag_args(line: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"(?:^| )([A-Za-z_]+)=([^ ]*)", line)}


@pytest.mark.skipif(shutil.which("sysdig") is None, reason="sysdig (tools/apt-packages.txt) not installed")
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_flag_rendering_matches_sysdig(path: Path) -> None:
    out = subprocess.run(["sysdig", "-D", "-r", str(path), "-p", "*%evt.num|%evt.args"], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    lines = {}
    for line in out.splitlines():
        num, _, args = line.partition("|")
        if num.isdigit():
            lines[int(num)] = args
    checked = 0
    with ScapReader(str(path)) as r:
        for evt in r:
            if evt.num not in lines:
                continue
            args = _flag_args(lines[evt.num])
            for p, v in zip(evt.info.params, evt.params, strict=False):
                if p.type not in FLAG_TYPES or not p.flags_table or v is None or p.name not in args:
                    continue
                shown = args[p.name]
                resolved = shown[shown.index("(") + 1:-1] if "(" in shown else ""
                mine = et.render_flags(p.flags_table, v, exact=p.type.startswith("ENUM"))
                assert mine == resolved, (evt.num, evt.info.name, p.name, v, shown)
                checked += 1
    if path.name not in ("empty.scap", "ping_sendto.scap"):  # these two have no flag parameters
        assert checked > 0
