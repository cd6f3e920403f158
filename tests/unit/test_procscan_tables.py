"""The streamed socket tables keep every socket the whole-table reading found: IPv4 and IPv6, tcp,
udp and raw, unix sockets with and without a path, and rows whatever their spacing."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from rae.syscall import procscan

_INET = (("tcp", procscan._L4_TCP), ("udp", procscan._L4_UDP), ("raw", procscan._L4_RAW),
         ("tcp6", procscan._L4_TCP), ("udp6", procscan._L4_UDP), ("raw6", procscan._L4_RAW))


def _whole_inet(text: str, l4: int) -> dict[int, tuple[bytes, int, bytes, int, int, bool]]:
    """The reading before the streamed one (the table decoded and split whole), as the oracle."""

    def ip(h: str) -> bytes:
        return b"".join(int(h[i:i + 8], 16).to_bytes(4, "little") for i in range(0, len(h), 8))

    out = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or int(f[9]) == 0:
            continue
        lip, lport = f[1].split(":")
        rip, rport = f[2].split(":")
        listening = (l4 == procscan._L4_TCP and f[3] == "0A") or (l4 != procscan._L4_TCP and int(rport, 16) == 0)
        out[int(f[9])] = (ip(lip), int(lport, 16), ip(rip), int(rport, 16), l4, listening)
    return out


def _whole_unix(text: str) -> dict[int, str]:
    out = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 7 and f[6].isdigit():
            out[int(f[6])] = f[7] if len(f) > 7 else ""
    return out


@pytest.fixture
def sockets():  # type: ignore[no-untyped-def]
    """Sockets of every kind the tables list, held by this process."""
    if not Path("/proc/net/tcp6").exists():
        pytest.skip("no IPv6 in this kernel: no tcp6/udp6 tables to read")
    made: list[socket.socket] = []
    tmp = tempfile.mkdtemp()
    try:
        def add(*args: int) -> socket.socket:
            s = socket.socket(*args)
            made.append(s)
            return s

        srv6 = add(socket.AF_INET6, socket.SOCK_STREAM)
        srv6.bind(("::1", 0))
        srv6.listen(1)
        cli6 = add(socket.AF_INET6, socket.SOCK_STREAM)
        cli6.connect(srv6.getsockname()[:2])
        acc6, _ = srv6.accept()
        made.append(acc6)
        udp4 = add(socket.AF_INET, socket.SOCK_DGRAM)
        udp4.bind(("127.0.0.1", 0))
        udp4c = add(socket.AF_INET, socket.SOCK_DGRAM)
        udp4c.connect(udp4.getsockname())
        udp6 = add(socket.AF_INET6, socket.SOCK_DGRAM)
        udp6.bind(("::1", 0))
        unix_path = add(socket.AF_UNIX, socket.SOCK_STREAM)
        unix_path.bind(os.path.join(tmp, "s.sock"))
        unix_abstract = add(socket.AF_UNIX, socket.SOCK_DGRAM)
        unix_abstract.bind(b"\0rae-procscan-test-%d" % os.getpid())
        pair = socket.socketpair()
        made.extend(pair)
        if os.geteuid() == 0:
            raw4 = add(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            raw4.bind(("127.0.0.1", 0))
            add(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        yield made
    finally:
        for s in made:
            s.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_streamed_tables_match_the_whole_reading(sockets: list[socket.socket], tmp_path: Path) -> None:
    inodes = {os.fstat(s.fileno()).st_ino for s in sockets}
    for name, l4 in _INET:
        src = Path("/proc/net") / name
        if not src.exists():
            continue
        snap = tmp_path / name  # one copy read both ways: the kernel's table changes between two reads
        snap.write_bytes(src.read_bytes())
        whole = _whole_inet(snap.read_text(), l4)
        assert procscan._inet_table(str(snap), l4, set(whole)) == whole, name
        assert procscan._inet_table(str(snap), l4, inodes) == {i: v for i, v in whole.items() if i in inodes}
    snap = tmp_path / "unix"
    snap.write_bytes(Path("/proc/net/unix").read_bytes())
    whole_unix = _whole_unix(snap.read_text())
    assert procscan._unix_table(str(snap), set(whole_unix)) == whole_unix


def test_scan_records_every_kind_of_socket(sockets: list[socket.socket]) -> None:
    by_fd = {r.fd: r for r in procscan.scan_proc().fds[os.getpid()]}
    for s in sockets:
        r = by_fd[s.fileno()]
        if s.family == socket.AF_UNIX:
            assert r.type == procscan._FD_UNIX, s
            name = s.getsockname()
            want = ("@" + name[1:].decode()) if isinstance(name, bytes) else name
            assert r.name == want, s
            continue
        v6 = s.family == socket.AF_INET6
        l4 = {socket.SOCK_STREAM: procscan._L4_TCP, socket.SOCK_DGRAM: procscan._L4_UDP,
              socket.SOCK_RAW: procscan._L4_RAW}[s.type]
        assert r.l4proto == l4, s
        if l4 != procscan._L4_RAW:  # a raw socket's "port" in the table is its protocol
            assert r.sport == s.getsockname()[1], s
        assert r.type in ((procscan._FD_IPV6, procscan._FD_IPV6_SRV) if v6
                          else (procscan._FD_IPV4, procscan._FD_IPV4_SRV)), s
        assert len(r.sip) == (16 if v6 else 4), s


def test_rows_with_odd_spacing(tmp_path: Path) -> None:
    table = tmp_path / "udp6"
    table.write_bytes(
        b"  sl  local_address                         remote_address                        st tx_queue\n"
        b"  0: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000"
        b" 00:00000000 00000000   0  0 7001 2 0000000000000000 0\n"
        b"\t1:\t00000000000000000000000001000000:0036   00000000000000000000000001000000:1F90  01 "
        b"00000000:00000000 00:00000000 00000000  0\t\t0   7002 2 0000000000000000 0\r\n"
        b" 2: short row 7003\n")
    got = procscan._inet_table(str(table), procscan._L4_UDP, {7001, 7002, 7003})
    assert got == _whole_inet(table.read_text(), procscan._L4_UDP)
    assert set(got) == {7001, 7002}
    assert got[7001] == (b"\0" * 15 + b"\1", 53, b"\0" * 16, 0, procscan._L4_UDP, True)
    assert got[7002][1:4:2] == (54, 8080) and got[7002][5] is False
