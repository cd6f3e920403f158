"""The start-up scan's socket tables: only the sockets some process holds, read without holding the
table whole (a host with many TIME_WAIT sockets has a /proc/net/tcp of several MB)."""

from __future__ import annotations

import os
import socket
import tempfile
import tracemalloc
from pathlib import Path

from rae.syscall import procscan

_HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
           + " " * 53 + "\n")


def _tcp_line(n: int, local: str, remote: str, st: str, inode: int) -> str:
    return (f"{n:4d}: {local} {remote} {st} 00000000:00000000 03:000010C3 00000000     0        0 {inode} 3"
            f" 00000000c1f248da" + " " * 38 + "\n")


def _time_wait_table(path: Path, n: int, real: list[str]) -> None:
    with open(path, "w") as f:
        f.write(_HEADER)
        f.writelines(real)
        for i in range(n):  # TIME_WAIT (06): no inode, no process holds them
            f.write(_tcp_line(i, "0100007F:B0BD", f"0100007F:{i % 60000:04X}", "06", 0))


def test_inet_table_keeps_only_the_wanted_sockets_and_never_holds_the_table(tmp_path: Path) -> None:
    table = tmp_path / "tcp"
    real = [_tcp_line(0, "00000000:07E8", "00000000:0000", "0A", 1603),          # 0.0.0.0:2024, listening
            _tcp_line(1, "0100007F:1F90", "0200007F:C350", "01", 1700),          # 127.0.0.1:8080 → .2:50000
            _tcp_line(2, "0100007F:1F91", "0100007F:C351", "01", 1701)]          # held by nobody scanned
    _time_wait_table(table, 20_000, real)
    size = table.stat().st_size
    assert size > 2_000_000
    tracemalloc.start()
    try:
        got = procscan._inet_table(str(table), procscan._L4_TCP, {1603, 1700, 999})
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == {
        1603: (b"\0\0\0\0", 2024, b"\0\0\0\0", 0, procscan._L4_TCP, True),
        1700: (b"\x7f\0\0\x01", 8080, b"\x7f\0\0\x02", 50000, procscan._L4_TCP, False),
    }
    # read line by line: the peak is the read buffer and a line, not the table (nor its lines as strings)
    assert peak < size // 10, (peak, size)


def test_no_wanted_socket_reads_no_table(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    assert procscan._inet_table(str(missing), procscan._L4_TCP, set()) == {}
    assert procscan._inet_table(str(missing), procscan._L4_TCP, {1}) == {}  # a table the kernel lacks
    assert procscan._unix_table(str(missing), {1}) == {}


def test_unix_table_names_the_wanted_sockets(tmp_path: Path) -> None:
    table = tmp_path / "unix"
    table.write_text("Num       RefCount Protocol Flags    Type St Inode Path\n"
                     "00000000cee3c0b4: 00000003 00000000 00000000 0001 03  1599\n"
                     "00000000ae725fde: 00000002 00000000 00010000 0001 01  1600 /run/a.sock\n"
                     "00000000ae725fdf: 00000002 00000000 00010000 0001 01  1601 /run/b.sock\n")
    assert procscan._unix_table(str(table), {1599, 1600}) == {1599: "", 1600: "/run/a.sock"}


def test_scan_and_lookup_see_this_process_sockets() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.sock")
        unix = socket.socket(socket.AF_UNIX)
        unix.bind(path)
        try:
            for fds in (procscan.scan_proc().fds[os.getpid()], (procscan.lookup_thread(os.getpid()) or (0, []))[1]):
                by_fd = {r.fd: r for r in fds}
                srv = by_fd[listener.fileno()]
                assert (srv.type, srv.sip, srv.sport, srv.l4proto) == (
                    procscan._FD_IPV4_SRV, b"\x7f\0\0\x01", port, procscan._L4_TCP)
                u = by_fd[unix.fileno()]
                assert (u.type, u.name) == (procscan._FD_UNIX, path)
                assert [r.fd for r in fds] == sorted(r.fd for r in fds)
        finally:
            unix.close()
            listener.close()
