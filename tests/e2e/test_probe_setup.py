"""The probe's user-space side without a kernel: layouts against the event table, selection, errors."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from rae.syscall import ebpf, event_table
from rae.syscall.probe import layout
from rae.syscall.procscan import open_flags_to_scap, scan_proc


@pytest.mark.parametrize("name", sorted(layout.CUSTOM_LAYOUTS))
def test_layout_matches_the_event_table(name: str) -> None:
    ecode, xcode, ein, xin, _ = layout.CUSTOM_LAYOUTS[name]
    enter, exit_ = event_table.event_info(ecode), event_table.event_info(xcode)
    assert enter is not None and exit_ is not None
    assert enter.dir == ">" and exit_.dir == "<"
    assert enter.name == exit_.name
    assert layout.nparams(ein) == len(enter.params)
    # an exit may stop before the parameters newer libs append (drivers only ever append)
    assert layout.nparams(xin) <= len(exit_.params)


@pytest.mark.parametrize("name", sorted(layout.EXIT_COMPLETE))
def test_exit_complete_syscalls_lose_nothing_without_their_enter(name: str) -> None:
    ecode, xcode, ein, xin, _ = layout.CUSTOM_LAYOUTS[name]
    assert set(ein) <= set(xin), "the enter event carries a parameter the exit lacks"
    enter, exit_ = event_table.event_info(ecode), event_table.event_info(xcode)
    assert enter is not None and exit_ is not None
    # each enter parameter reaches the exit under its name, where the exit's layout produces it
    produced = {p.name for p in exit_.params[:layout.nparams(xin)]}
    assert {p.name for p in enter.params} <= produced
    if exit_.flags & event_table.EF_USES_FD:  # the state engine finds the fd on the exit
        assert "fd" in produced


def test_skipped_enters_are_not_in_the_specs() -> None:
    specs = layout.build_specs({"openat", "close", "dup2"}, skip_enter={"openat", "close", "dup2"})
    flags = {name: struct.unpack_from("<HHBBBBI", specs[layout.NATIVE_SYSCALLS[name]])[-1]
             for name in ("openat", "close", "dup2")}
    assert flags["openat"] == flags["close"] == layout.SPEC_EXIT
    assert flags["dup2"] == layout.SPEC_ENTER | layout.SPEC_EXIT  # its exit does not name the fd: kept


def test_specs_pack_to_the_probe_struct_size() -> None:
    specs = layout.build_specs({"openat", "memfd_create", "procexit"})
    assert all(len(v) == layout.SPEC_SIZE == 76 for v in specs.values())
    nr = layout.NATIVE_SYSCALLS["memfd_create"]
    etype, xtype = struct.unpack_from("<HH", specs[nr])
    assert (etype, xtype) == (0, 1)  # generic events: no dedicated layout in libs 0.9.0
    assert layout.SPEC_PROCEXIT in specs


def test_drop_categories_follow_libscap_and_the_probe() -> None:
    from rae.metrics import DROP_BUFFER_CATEGORIES

    assert [(c, d) for c, d, _ in layout.DROP_CATEGORIES] == list(DROP_BUFFER_CATEGORIES)
    src = (Path(ebpf.__file__).parent / "probe" / "probe.bpf.c").read_text()
    assert f"N_DROP_CATS = {len(layout.DROP_CATEGORIES)}," in src
    assert len(ebpf.STAT_NAMES) == 8 + len(layout.DROP_CATEGORIES)
    slots = layout.drop_category_slots()
    index = {(c, d): i + 1 for i, (c, d, _) in enumerate(layout.DROP_CATEGORIES)}
    code = event_table.code_of
    assert slots[code("openat", "<")] == slots[code("creat", "<")] == index[("open", "exit")]
    assert slots[code("openat", ">")] == index[("open", "enter")]
    assert slots[code("close", "<")] == index[("close", "exit")]
    assert slots[code("clone3", "<")] == slots[code("vfork", "<")] == index[("clone_fork", "exit")]
    assert slots[code("renameat2", "<")] == slots[code("dup", "<")] == index[("dir_file", "exit")]
    assert slots[code("ptrace", "<")] == index[("other_interest", "exit")]
    assert slots[layout.PROCEXIT_CODE] == index[("proc", "exit")]
    assert code("close", ">") not in slots and code("read", "<") not in slots  # no category: total only
    assert max(slots) < layout.MAX_EVENT_CODES


def test_generic_exits_are_categorized_by_their_syscall() -> None:
    """Syscalls without a layout of their own (generic events) fall in libscap's category all the same."""
    src = (Path(ebpf.__file__).parent / "probe" / "probe.bpf.c").read_text()
    assert f"#define GENERIC_DROP_KEY {layout.GENERIC_DROP_KEY}\n" in src
    assert event_table.EVENT_MAX <= layout.GENERIC_DROP_KEY  # event codes and generic keys never meet
    slots = layout.drop_category_slots()
    index = {(c, d): i + 1 for i, (c, d, _) in enumerate(layout.DROP_CATEGORIES)}
    generic = {name: slots.get(layout.GENERIC_DROP_KEY + layout.ppm_sc_code(name))
               for name in ("capset", "setsid", "setpgid", "bpf", "seccomp", "keyctl", "fchownat",
                            "open_by_handle_at", "read", "ptrace")}
    assert generic == {"capset": index[("other_interest", "exit")], "setsid": index[("other_interest", "exit")],
                       "setpgid": index[("other_interest", "exit")], "bpf": index[("other_interest", "exit")],
                       "seccomp": index[("other_interest", "exit")], "keyctl": index[("other_interest", "exit")],
                       "fchownat": index[("dir_file", "exit")], "open_by_handle_at": index[("open", "exit")],
                       "read": None,  # no category
                       "ptrace": None}  # a layout of its own: its exit code is in the map instead


def test_selection_follows_falco_base_syscalls() -> None:
    default = layout.select_syscalls({"openat"})
    assert {"openat", "execve", "clone", "close", "procexit"} <= default
    assert "read" not in default
    # accept is the event type of both accept and accept4
    assert {"accept", "accept4"} <= layout.select_syscalls({"accept"}, custom_set=["execve"])
    custom = layout.select_syscalls({"openat"}, custom_set=["execve", "!openat"])
    assert custom == {"execve"}
    repair = layout.select_syscalls({"openat"}, repair=True)
    assert {"openat", "close", "execve", "procexit"} <= repair and "socket" not in repair
    assert layout.select_syscalls(set(), all_syscalls=True) >= set(layout.NATIVE_SYSCALLS)


def test_open_flags_convert_to_scap_values() -> None:
    ppm = dict(event_table.FLAG_TABLES["file_flags"])
    assert open_flags_to_scap(0) == ppm["O_RDONLY"]
    assert open_flags_to_scap(0o1 | 0o100 | 0o1000) == ppm["O_WRONLY"] | ppm["O_CREAT"] | ppm["O_TRUNC"]
    assert open_flags_to_scap(0o2 | 0o2000000) == ppm["O_RDWR"] | ppm["O_CLOEXEC"]


def test_flag_tables_map_clone_thread() -> None:
    blob = layout.flag_table_blobs()[layout.FT_CLONE]
    words = struct.unpack("<64I", blob)
    assert words[16] == dict(event_table.FLAG_TABLES["clone_flags"])["CLONE_THREAD"]  # native 0x10000


def test_environment_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    obj = tmp_path / "probe.bpf.o"
    obj.write_bytes(b"")
    full = (1 << 21) | (1 << 38) | (1 << 39)
    monkeypatch.setattr(ebpf, "_cap_eff", lambda: 0)
    monkeypatch.setattr(ebpf.os, "geteuid", lambda: 1000)
    with pytest.raises(ebpf.ProbeError, match="needs root"):
        ebpf.check_environment(obj)
    monkeypatch.setattr(ebpf.os, "geteuid", lambda: 0)
    monkeypatch.setattr(ebpf, "_cap_eff", lambda: 1 << 38)
    with pytest.raises(ebpf.ProbeError, match="CAP_BPF"):
        ebpf.check_environment(obj)
    monkeypatch.setattr(ebpf, "_cap_eff", lambda: full)
    monkeypatch.setattr(ebpf.platform, "release", lambda: "5.4.0-generic")
    with pytest.raises(ebpf.ProbeError, match=r">= 5\.8"):
        ebpf.check_environment(obj)
    monkeypatch.setattr(ebpf.platform, "release", lambda: "6.1.0")
    monkeypatch.setattr(ebpf, "BTF_PATH", str(tmp_path / "no-btf"))
    with pytest.raises(ebpf.ProbeError, match="BTF"):
        ebpf.check_environment(obj)
    monkeypatch.setattr(ebpf, "BTF_PATH", str(obj))
    with pytest.raises(ebpf.ProbeError, match="make probe"):
        ebpf.check_environment(tmp_path / "missing.o")
    ebpf.check_environment(obj)


def test_proc_scan_sees_this_process_with_its_fds() -> None:
    import os

    snap = scan_proc()
    me = [t for t in snap.threads if t.tid == os.getpid()]
    assert len(me) == 1 and me[0].pid == os.getpid() and me[0].comm
    assert me[0].cwd == os.getcwd()
    assert any(c.startswith(("=", "memory=", "cpu=")) for c in me[0].cgroups or [])
    with open(__file__) as f:
        snap = scan_proc()
        names = {r.fd: r.name for r in snap.fds[os.getpid()]}
        assert names.get(f.fileno()) == os.path.realpath(__file__)
    assert any(u.uid == 0 and u.name == "root" for u in snap.users)
    assert snap.machine is not None and snap.machine.num_cpus >= 1


def test_proc_scan_cuts_long_command_lines_like_libscap(tmp_path: Path) -> None:
    import subprocess
    import sys

    from rae.syscall.procscan import ARGS_MAX_LEN, lookup_thread

    child = subprocess.Popen([sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()",
                              "x" * 30000], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={"BIG": "y" * 20000})
    try:
        assert child.stdout is not None and child.stdout.readline() == b"up\n"  # exec'd: its own cmdline
        found = lookup_thread(child.pid)
        assert found is not None
        rec, _fds = found
        assert rec.args[0] == "-c" and 1000 < sum(len(a) + 1 for a in rec.args) <= ARGS_MAX_LEN
        assert rec.env and 1000 < len(rec.env[0]) <= 4096
    finally:
        child.kill()
        child.wait()
