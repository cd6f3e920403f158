"""Extractors and renderers of the syscall fields, bound to the catalog by `bind`.

Values follow the extraction contract of `rae.fields.base` and libsinsp's filterchecks of 2022
(the libraries of Debian's ``sysdig`` 0.29.3, the oracle of tests/syscall/test_sysdig_diff.py):

* ``evt.args`` / ``evt.arg.X`` render parameters as sysdig prints them: an fd as ``3`` plus the
  resolved ``<f>/dev/null``, flags as ``O_RDONLY|O_CLOEXEC``, errnos as ``ENOENT``, pids with the
  thread's name, relative paths resolved against the cwd (``evt.args`` shows
  ``name=value(resolved)``; ``evt.arg.X`` shows the resolved text when there is one);
* fd fields exist only on events that create, use or destroy an fd; with no fd entry they fall
  back to what the creating call's arguments say (``fd.name`` of a failed ``open<``);
* un-indexed ``proc.aname``/``proc.apid``/… give the tuple of all ancestors' values (parent
  first); ``[N]`` gives one (``[0]`` the process itself).

Every extractor is a closure built once per (field, argument) doing attribute loads only.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any

from rae.fields.base import Extractor, FieldCatalog, FieldSpec
from rae.syscall import state as S
from rae.syscall.event_table import (
    EF_CREATES_FD,
    EF_READS_FROM_FD,
    EF_SKIPPARSERESET,
    EF_WAITS,
    EF_WRITES_TO_FD,
)
from rae.syscall.event_table_data import CATEGORY_BITS, DYN_TABLES, FLAG_TABLES, SYSCALL_NAMES
from rae.syscall.state import EF_FD_ANY, _text

__all__ = ["ERRNO_NAMES", "SIGNAL_NAMES", "bind", "render_param"]

# --- names -------------------------------------------------------------------------------------------

ERRNO_NAMES: dict[int, str] = {
    1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 8: "ENOEXEC",
    9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 15: "ENOTBLK",
    16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL",
    23: "ENFILE", 24: "EMFILE", 25: "ENOTTY", 26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE",
    30: "EROFS", 31: "EMLINK", 32: "EPIPE", 33: "EDOM", 34: "ERANGE", 35: "EDEADLK",
    36: "ENAMETOOLONG", 37: "ENOLCK", 38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 42: "ENOMSG",
    43: "EIDRM", 44: "ECHRNG", 45: "EL2NSYNC", 46: "EL3HLT", 47: "EL3RST", 48: "ELNRNG",
    49: "EUNATCH", 50: "ENOCSI", 51: "EL2HLT", 52: "EBADE", 53: "EBADR", 54: "EXFULL", 55: "ENOANO",
    56: "EBADRQC", 57: "EBADSLT", 59: "EBFONT", 60: "ENOSTR", 61: "ENODATA", 62: "ETIME",
    63: "ENOSR", 64: "ENONET", 65: "ENOPKG", 66: "EREMOTE", 67: "ENOLINK", 68: "EADV", 69: "ESRMNT",
    70: "ECOMM", 71: "EPROTO", 72: "EMULTIHOP", 73: "EDOTDOT", 74: "EBADMSG", 75: "EOVERFLOW",
    76: "ENOTUNIQ", 77: "EBADFD", 78: "EREMCHG", 79: "ELIBACC", 80: "ELIBBAD", 81: "ELIBSCN",
    82: "ELIBMAX", 83: "ELIBEXEC", 84: "EILSEQ", 85: "ERESTART", 86: "ESTRPIPE", 87: "EUSERS",
    88: "ENOTSOCK", 89: "EDESTADDRREQ", 90: "EMSGSIZE", 91: "EPROTOTYPE", 92: "ENOPROTOOPT",
    93: "EPROTONOSUPPORT", 94: "ESOCKTNOSUPPORT", 95: "EOPNOTSUPP", 96: "EPFNOSUPPORT",
    97: "EAFNOSUPPORT", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL", 100: "ENETDOWN", 101: "ENETUNREACH",
    102: "ENETRESET", 103: "ECONNABORTED", 104: "ECONNRESET", 105: "ENOBUFS", 106: "EISCONN",
    107: "ENOTCONN", 108: "ESHUTDOWN", 109: "ETOOMANYREFS", 110: "ETIMEDOUT", 111: "ECONNREFUSED",
    112: "EHOSTDOWN", 113: "EHOSTUNREACH", 114: "EALREADY", 115: "EINPROGRESS", 116: "ESTALE",
    117: "EUCLEAN", 118: "ENOTNAM", 119: "ENAVAIL", 120: "EISNAM", 121: "EREMOTEIO", 122: "EDQUOT",
    123: "ENOMEDIUM", 124: "EMEDIUMTYPE", 125: "ECANCELED", 512: "ERESTARTSYS",
    513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND", 515: "ENOIOCTLCMD", 516: "ERESTART_RESTARTBLOCK",
    521: "EBADHANDLE", 522: "ENOTSYNC", 523: "EBADCOOKIE", 524: "ENOTSUPP", 525: "ETOOSMALL",
    526: "ESERVERFAULT", 527: "EBADTYPE", 528: "EJUKEBOX", 529: "EIOCBQUEUED", 530: "EIOCBRETRY",
}

SIGNAL_NAMES: dict[int, str] = {
    1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
    8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
    14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
    20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
    26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}

#: sysdig prints at most this many characters of a byte buffer (then ``...``)
MAX_BUFFER_TEXT = 80

# evt.category of generic ``syscall`` events: the libs syscall table's category of each syscall
# (the I/O categories print "unknown", as libsinsp has no fd to refine them); the rest are "other"
_GENERIC_CATEGORY_TEXT = {
    "IPC": (
        "kill pipe chroot futex mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr "
        "inotify_init inotify_add_watch inotify_rm_watch splice tee vmsplice eventfd eventfd2 pipe2 "
        "inotify_init1 fanotify_init getdents64 semop semget semctl msgsnd msgrcv msgget msgctl shmdt "
        "shmget shmctl ipc shmat "
    ),
    "file": (
        "open close creat link unlink chdir mknod chmod stat lseek mount fstat access rename mkdir rmdir "
        "ustat symlink lstat readlink mmap munmap truncate ftruncate fchmod statfs fstatfs fchdir "
        "getdents flock mremap getcwd sendfile lchown fchown chown setxattr lsetxattr fsetxattr getxattr "
        "lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr "
        "remap_file_pages utimes openat mkdirat mknodat fchownat futimesat unlinkat renameat linkat "
        "symlinkat readlinkat fchmodat faccessat utimensat syncfs statfs64 fstatfs64 fstatat64 sendfile64 "
        "stat64 lstat64 fstat64 fcntl64 mmap2 umount llseek pread64 pwrite64 renameat2 userfaultfd "
        "openat2 umount2 copy_file_range "
    ),
    "memory": (
        "brk mprotect mlock munlock mlockall munlockall mincore madvise "
    ),
    "net": (
        "socket bind connect listen accept getsockname getpeername socketpair sendto recvfrom shutdown "
        "setsockopt getsockopt sendmsg sendmmsg recvmsg recvmmsg accept4 socketcall "
    ),
    "process": (
        "exit getpid acct setpgid umask getppid getpgrp setsid setrlimit getrusage uselib swapon "
        "getpriority setpriority getpgid personality getsid sched_setparam sched_getparam "
        "sched_setscheduler sched_getscheduler sched_get_priority_max sched_get_priority_min "
        "sched_rr_get_interval prctl capget capset getrlimit pivot_root gettid sched_setaffinity "
        "sched_getaffinity set_thread_area get_thread_area set_tid_address ioprio_set ioprio_get unshare "
        "set_robust_list get_robust_list getcpu prlimit64 setns ugetrlimit nice arch_prctl clone clone3 "
    ),
    "signal": (
        "rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend tkill "
        "tgkill signalfd signalfd4 sigprocmask sgetmask ssetmask sigpending signal sigreturn "
    ),
    "sleep": (
        "sched_yield nanosleep clock_nanosleep "
    ),
    "system": (
        "restart_syscall sethostname reboot syslog uname swapoff sysinfo setdomainname adjtimex "
        "init_module delete_module quotactl sysfs kexec_load add_key request_key keyctl olduname "
        "finit_module execve execveat "
    ),
    "time": (
        "time alarm utime times gettimeofday settimeofday setitimer getitimer timer_create timer_settime "
        "timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres "
        "timerfd_create timerfd_settime timerfd_gettime stime "
    ),
    "unknown": (
        "read readv preadv write writev pwritev sync dup ioctl dup2 fsync msync fdatasync io_setup "
        "io_destroy io_getevents io_submit io_cancel exit_group dup3 fallocate newfstatat "
        "process_vm_readv process_vm_writev fork vfork setuid getuid setgid geteuid getgid setresuid "
        "setresgid getresuid getresgid sigaltstack getrandom fadvise64 "
    ),
    "user": (
        "getuid getgid geteuid getegid setreuid setregid getgroups setgroups setresuid getresuid "
        "setresgid getresgid setuid setgid setfsuid setfsgid "
    ),
    "wait": (
        "pause fcntl wait4 select poll epoll_create epoll_ctl epoll_wait waitid pselect6 ppoll "
        "epoll_pwait epoll_create1 newselect waitpid "
    ),
}
_GENERIC_CATEGORY = {n: cat for cat, text in _GENERIC_CATEGORY_TEXT.items() for n in "".join(text).split()}

_CATEGORY_NAMES = {v: k.lower() for k, v in CATEGORY_BITS.items()}
_CATEGORY_NAMES[CATEGORY_BITS["IPC"]] = "IPC"
_EC_IO_BASE = CATEGORY_BITS["IO_BASE"]
_EC_INTERNAL = CATEGORY_BITS["INTERNAL"]

_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


def _s64(v: int) -> int:
    v &= _U64
    return v - (1 << 64) if v >= 1 << 63 else v


def _s32(v: int) -> int:
    v &= _U32
    return v - (1 << 32) if v >= 1 << 31 else v


def _dots(b: bytes) -> str:
    """A byte buffer as sysdig's default rendering: printable ASCII kept, the rest ``.``."""
    out = "".join(chr(c) if 32 <= c < 127 else "." for c in b)
    if len(out) > MAX_BUFFER_TEXT:
        out = out[: MAX_BUFFER_TEXT - 3] + "..."
    return out


def _sanitize(s: str) -> str:
    if s.isascii() and s.isprintable():
        return s
    return "".join(c for c in s if " " <= c <= "~")


def _numfmt(v: int, fmt: str, bits: int, signed_dec: bool = True) -> str:
    if fmt == "OCT":
        u = v & ((1 << bits) - 1)
        return "0" + format(u, "o") if u else "0"
    if fmt == "HEX":
        return format(v & ((1 << bits) - 1), "X")
    if signed_dec:
        m = 1 << bits
        v &= m - 1
        if v >= m >> 1:
            v -= m
    if fmt == "10_PADDED_DEC":
        return format(v, "09d") if v >= 0 else "-" + format(-v, "08d")
    return str(v)


def _flag_names(val: int, table: str | None) -> str:
    """libsinsp's flag rendering: names of the set bits, in table order."""
    entries = FLAG_TABLES.get(table or "")
    if not entries:
        return ""
    out: list[str] = []
    initial = val
    v = val
    stopped = None
    for name, fv in entries:
        if fv == initial:
            stopped = name
            break
        if (fv == 0 and initial == 0) or (fv != 0 and (v & fv) == fv and v != 0):
            out.append(name)
            v &= ~fv
    if stopped is not None:
        out.append(stopped)
    return "|".join(out)


def _enum_name(val: int, table: str | None) -> str:
    """An ENUMFLAGS value: the entry equal to it when there is one (what current libs print:
    ``F_OFD_GETLK``, not the bit-flag reading ``F_SETPIPE_SZ|F_GETFD|F_OFD_GETLK`` of the 2022
    sysdig), else the bit-flag reading (futex ops are really ``FUTEX_PRIVATE_FLAG|FUTEX_WAKE``)."""
    for name, fv in FLAG_TABLES.get(table or "", ()):
        if fv == val:
            return name
    return _flag_names(val, table)


# --- parameter rendering -------------------------------------------------------------------------------


def _base_dir(evt: Any, idx: int, ptype: str, t: S.Thread) -> str:
    cwd = t.get_cwd()
    if ptype != "FSRELPATH":
        return cwd
    di = evt.info.param_index.get("dirfd")
    params = evt.params
    if di is None or di >= len(params):
        return cwd
    dirfd = params[di]
    if not isinstance(dirfd, int) or dirfd == S.AT_FDCWD:
        return cwd
    fi = t.get_fd(dirfd)
    if fi is None or not fi.name:
        return ""
    return _sanitize(fi.name) + "/"


def render_fd(evt: Any, fd: int) -> tuple[str, str]:
    t = evt.thread
    s = str(fd)
    if t is None:
        return s, ""
    if fd >= 0:
        fi = t.get_fd(fd)
        if fi is None:
            return s, ""
        proto = ""
        if fi.type in (S.FD.IPV4_SOCK, S.FD.IPV6_SOCK, S.FD.IPV4_SERVSOCK, S.FD.IPV6_SERVSOCK):
            proto = _L4_CHARS.get(fi.get_l4proto(), "")
        return s, f"<{fi.typechar}{proto}>{_sanitize(fi.name)}"
    if fd == S.AT_FDCWD:
        return s, "AT_FDCWD"
    return s, ERRNO_NAMES.get(-_s32(fd), "")


_L4_CHARS = {S.L4_TCP: "t", S.L4_UDP: "u", S.L4_ICMP: "i", S.L4_RAW: "r"}


def render_param(evt: Any, idx: int) -> tuple[str, str]:
    """(value text, resolved text) of parameter ``idx``, as libsinsp's ``get_param_as_str``."""
    pinfo = evt.info.params[idx]
    v = evt.params[idx]
    ptype = pinfo.type
    fmt = pinfo.fmt
    if ptype == "DYN":
        if not isinstance(v, tuple) or len(v) != 2:
            return "INVALID DYNAMIC PARAMETER", ""
        sub = DYN_TABLES.get(pinfo.flags_table or "", {}).get(v[0])
        if sub is None:
            return "INVALID DYNAMIC PARAMETER", ""
        ptype = sub[0]
        v = v[1]
    if v is None:
        if ptype in ("SOCKADDR", "SOCKTUPLE"):
            return "NULL", ""
        if ptype in ("CHARBUF", "FSPATH", "FSRELPATH", "BYTEBUF"):
            return "", ""
        return "(n.a.)", ""
    if ptype == "FD":
        return render_fd(evt, _s64(v))
    if ptype in ("INT8", "INT16", "INT32", "INT64"):
        return _numfmt(v, fmt, int(ptype[3:])), ""
    if ptype in ("UINT8", "UINT16"):
        return _numfmt(v, fmt, int(ptype[4:]), signed_dec=False), ""
    if ptype == "UINT32":
        return _numfmt(v, fmt, 32), ""
    if ptype == "UINT64":
        return _numfmt(v, fmt, 64), ""
    if ptype == "ERRNO":
        v = _s64(v)
        return str(v), (ERRNO_NAMES.get(-_s32(v), "") if v < 0 else "")
    if ptype == "PID":
        v = _s64(v)
        st = evt.extra
        t = st.threads.get(v) if isinstance(st, S.State) else None
        return str(v), (t.comm if t is not None else "")
    if ptype == "CHARBUF":
        s = _text(v)
        nul = s.find("\0")
        return (s if nul < 0 else s[:nul]), ""
    if ptype in ("FSPATH", "FSRELPATH"):
        s = _sanitize(_text(v))
        t = evt.thread
        if t is None:
            return s, s
        if s and not s.startswith("<NA>"):
            res, rel = S.concat_paths(_base_dir(evt, idx, ptype, t), s)
            return s, (res if rel else "")
        return s, ""
    if ptype == "BYTEBUF":
        return _dots(bytes(v)), ""
    if ptype == "SOCKADDR":
        return S.sockaddr_text(v), ""
    if ptype == "SOCKTUPLE":
        return S.socktuple_text(v), ""
    if ptype in ("FLAGS8", "FLAGS16", "FLAGS32"):
        return str(v), _flag_names(v, pinfo.flags_table)
    if ptype in ("ENUMFLAGS8", "ENUMFLAGS16", "ENUMFLAGS32"):
        return str(v), _enum_name(v, pinfo.flags_table)
    if ptype == "MODE":
        return _numfmt(v, fmt, 32), _flag_names(v, pinfo.flags_table)
    if ptype in ("UID", "GID"):
        if v < _U32:
            st = evt.extra
            rec = (st.users if ptype == "UID" else st.groups).get(v) if isinstance(st, S.State) else None
            return str(_s32(v)), (_sanitize(rec.name) if rec is not None else "<NA>")
        return "-1", "<NONE>"
    if ptype == "SYSCALLID":
        return str(v), (SYSCALL_NAMES[v] if 0 <= v < len(SYSCALL_NAMES) else "")
    if ptype == "SIGTYPE":
        return str(v), SIGNAL_NAMES.get(v, "")
    if ptype == "RELTIME":
        if v == _U64:
            return "none", ""
        return str(v), f"{v / 1e9:g}s"
    if ptype == "FDLIST":
        t = evt.thread
        if t is None:
            return "", ""
        parts = []
        for fd, fl in v:
            fi = t.get_fd(fd)
            parts.append(f"{fd & _U64}:{fi.typechar if fi is not None else '?'}{fl & 0xFFFF:x}")
        return " ".join(parts), ""
    if ptype == "SIGSET":
        return " ".join(SIGNAL_NAMES[i + 1] for i in range(32) if v & (1 << i) and i + 1 in SIGNAL_NAMES), ""
    if ptype == "ABSTIME":
        return "INVALID DYNAMIC PARAMETER", ""
    return "(n.a.)", ""


def _args_text(evt: Any) -> str:
    if evt.info.name == "syscall":
        return ""
    params = evt.params
    out = []
    names = evt.info.params
    for i in range(min(len(params), len(names))):
        val, res = render_param(evt, i)
        if res:
            out.append(f"{names[i].name}={val}({res}) ")
        else:
            out.append(f"{names[i].name}={val} ")
    return "".join(out)


def _raw_value(v: Any, ptype: str) -> Any:
    if v is None:
        return None
    if ptype in ("CHARBUF", "FSPATH", "FSRELPATH"):
        return _text(v)
    if ptype in ("ERRNO", "FD", "PID", "INT64"):
        return _s64(v)
    if ptype == "SOCKADDR":
        return S.sockaddr_text(v)
    if ptype == "SOCKTUPLE":
        return S.socktuple_text(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    return v


# --- helpers for the binder ----------------------------------------------------------------------------

Factory = Callable[[FieldSpec, "str | None"], Extractor]


def _const(fn: Extractor) -> Factory:
    def factory(_spec: FieldSpec, _arg: str | None) -> Extractor:
        return fn

    return factory


def _thread_attr(attr: str) -> Extractor:
    def ext(evt: Any) -> Any:
        t = evt.thread
        return None if t is None else getattr(t, attr)

    return ext


def _ip(b: bytes | None) -> Any:
    if b is None:
        return None
    if len(b) == 4:
        return ipaddress.IPv4Address(b)
    if len(b) == 16:
        return ipaddress.IPv6Address(b)
    return None


def _ip_text(v: Any) -> str:
    if isinstance(v, ipaddress.IPv6Address) and v.ipv4_mapped is not None:
        return "::ffff:" + str(v.ipv4_mapped)
    return str(v)


def _padded(v: Any) -> str:
    """PF_10_PADDED_DEC: at least nine digits, zero-padded."""
    return format(v, "09d")


def _render_bool(v: Any) -> str:
    return "true" if v else "false"


def _render_list(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ",".join(str(x) for x in v) + ")"
    return str(v)


# --- evt.* ----------------------------------------------------------------------------------------------


def _evt_type(evt: Any) -> str:
    return evt.evtype  # SyscallEvent.evtype names generic events, the same name the ruleset indexes


def _syscall_type(evt: Any) -> str | None:
    info = evt.info
    cat = info.category
    if isinstance(cat, int) and cat & _EC_INTERNAL:
        return None
    if info.flags & EF_SKIPPARSERESET or info.name == "switch":
        return None
    return _evt_type(evt)


def _category_bits(evt: Any) -> int:
    bits = getattr(evt.info, "category_bits", None)
    if isinstance(bits, int):
        return bits
    cat = evt.info.category
    if isinstance(cat, int):
        return cat
    bits = 0
    for part in str(cat).replace("EC_", "").split("|"):
        bits |= CATEGORY_BITS.get(part.strip().upper(), 0)
    return bits


def _evt_category(evt: Any) -> str:
    if evt.info.name == "syscall":  # by the PPM code, as libsinsp (not by a name from nativeID)
        p = evt.params
        ppm = p[0] if p else None
        name = SYSCALL_NAMES[ppm] if isinstance(ppm, int) and 0 <= ppm < len(SYSCALL_NAMES) else ""
        return _GENERIC_CATEGORY.get(name, "other")
    bits = _category_bits(evt)
    if bits & _EC_IO_BASE:
        fi = _parser_fd(evt)
        if fi is None:
            return "unknown"
        t = fi.type
        if t in (S.FD.FILE, S.FD.FILE_V2, S.FD.DIRECTORY):
            return "file"
        if t in (S.FD.IPV4_SOCK, S.FD.IPV6_SOCK, S.FD.IPV4_SERVSOCK, S.FD.IPV6_SERVSOCK):
            return "net"
        if t in (S.FD.FIFO, S.FD.UNIX_SOCK, S.FD.EVENT, S.FD.SIGNALFD, S.FD.INOTIFY):
            return "ipc"
        return "unknown"
    base = bits & 0xF
    if bits & 64:
        return "wait"
    if bits & 128:
        return "scheduler"
    return _CATEGORY_NAMES.get(base, "unknown")


def _evt_res(evt: Any) -> str | None:
    v = _evt_rawres(evt)
    if v is None:
        return None
    if v >= 0:
        return "SUCCESS"
    return ERRNO_NAMES.get(-_s32(v), str(v))


def _evt_rawres(evt: Any) -> int | None:
    info = evt.info
    i = info.param_index.get("res")
    if i is None:
        if info.flags & EF_CREATES_FD and info.dir == "<":
            i = info.param_index.get("fd")
        if i is None:
            return None
    p = evt.params
    if i >= len(p) or not isinstance(p[i], int):
        return None
    return _s64(p[i])


def _evt_failed(evt: Any) -> bool:
    r = _evt_rawres(evt)
    return r is not None and r < 0


def _arg_factory(_spec: FieldSpec, arg: str | None) -> Extractor:
    if arg is None:
        return lambda evt: None
    if arg.isdigit():
        idx = int(arg)

        def by_index(evt: Any) -> str | None:
            if idx >= len(evt.params) or idx >= len(evt.info.params):
                return None
            val, res = render_param(evt, idx)
            return res or val

        return by_index

    def by_name(evt: Any) -> str | None:
        i = evt.info.param_index.get(arg)
        if i is None or i >= len(evt.params):
            return None
        val, res = render_param(evt, i)
        return res or val

    return by_name


def _rawarg_factory(_spec: FieldSpec, arg: str | None) -> Extractor:
    if arg is None:
        return lambda evt: None

    def ext(evt: Any) -> Any:
        info = evt.info
        i = info.param_index.get(arg) if not arg.isdigit() else int(arg)
        p = evt.params
        if i is None or i >= len(p) or i >= len(info.params):
            return None
        return _raw_value(p[i], info.params[i].type)

    return ext


def _type_is_factory(_spec: FieldSpec, arg: str | None) -> Extractor:
    def ext(evt: Any) -> int:
        return 1 if evt.info.name == arg else 0

    return ext


def _abspath_factory(_spec: FieldSpec, arg: str | None) -> Extractor:
    """``evt.abspath[.src|.dst]``: a path argument resolved against its dirfd (unlinkat, …)."""
    variants = {
        None: (("dirfd", "name"), ("dirfd", "path")),
        "src": (("olddirfd", "oldpath"), ("olddir", "oldpath")),
        "dst": (("newdirfd", "newpath"), ("newdir", "newpath"), ("linkdirfd", "linkpath")),
    }
    pairs = variants.get(arg, ())

    def ext(evt: Any) -> str | None:
        t = evt.thread
        if t is None:
            return None
        for dname, pname in pairs:
            pidx = evt.info.param_index
            if dname in pidx and pname in pidx:
                dirfd = evt.arg(dname)
                path = _text(evt.arg(pname))
                base = evt.thread.state.dirfd_base(evt, t, path, dirfd if isinstance(dirfd, int)
                                                   else S.AT_FDCWD) if hasattr(t.state, "dirfd_base") else ""
                return S.concat_paths(base, path)[0]
        return None

    return ext


_PPM_O_RDONLY = 1
_PPM_O_WRONLY = 2
_PPM_O_CREAT = 4
_PPM_O_TMPFILE = 8192
_EXEC_BITS = 0o111


#: event code → (flags index, mode index) of the opens libsinsp's evt.is_open_* look at
_OPEN_FLAG_PARAMS = {3: (2, 3), 102: (2, 3), 307: (3, 4), 327: (3, 4)}


#: the last open event `_open_flags` saw, its decoded parameter list and its answer: several rules
#: ask evt.is_open_read/write/… of the same event in a row (holding the event keeps its id unique)
_open_memo: list[Any] = [None, None, None]


def _open_flags(evt: Any) -> tuple[int, int] | None:
    memo = _open_memo
    if evt is memo[0] and evt._params is memo[1]:
        return memo[2]
    idx = _OPEN_FLAG_PARAMS.get(evt.code)
    if idx is None:
        return None
    p = evt._params
    if p is None:
        p = evt.params
    i_flags, i_mode = idx
    n = len(p)
    flags = p[i_flags] if i_flags < n else 0
    mode = p[i_mode] if i_mode < n else 0
    fm = (flags if isinstance(flags, int) else 0, mode if isinstance(mode, int) else 0)
    memo[0], memo[1], memo[2] = evt, p, fm
    return fm


def _is_open_read(evt: Any) -> bool:
    fm = _open_flags(evt)
    return bool(fm and fm[0] & _PPM_O_RDONLY)


def _is_open_write(evt: Any) -> bool:
    fm = _open_flags(evt)
    return bool(fm and fm[0] & _PPM_O_WRONLY)


def _is_open_exec(evt: Any) -> bool:
    info = evt.info
    if info.name == "creat" and info.dir == "<":
        mode = evt.arg("mode")
        return bool(isinstance(mode, int) and mode & _EXEC_BITS)
    fm = _open_flags(evt)
    return bool(fm and fm[0] & (_PPM_O_TMPFILE | _PPM_O_CREAT) and fm[1] & _EXEC_BITS)


def _is_open_create(evt: Any) -> bool:
    fm = _open_flags(evt)
    return bool(fm and fm[0] & _PPM_O_CREAT)


def _ts_text(ts: int, date: bool, ns: bool) -> str:
    secs, frac = divmod(ts, 1_000_000_000)
    tm = time.localtime(secs)
    s = time.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S", tm)
    return f"{s}.{frac:09d}" if ns else s


def _iso8601(ts: int) -> str:
    secs, frac = divmod(ts, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}+0000"


def _buffer(evt: Any) -> bytes | None:
    v = evt.arg("data")
    return bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else None


def _parser_fd(evt: Any) -> S.FdInfo | None:
    """The fd the parser attached (libsinsp ``evt->m_fdinfo``), not the fd fields' fallback."""
    fi = evt.fdinfo
    if fi is None:
        return None
    st = evt.extra
    if isinstance(st, S.State) and st.fd_fallback_evt == evt.num:
        return None
    return fi


def _buflen(evt: Any) -> int | None:
    if _parser_fd(evt) is None or evt.info.dir != "<" or not _category_bits(evt) & _EC_IO_BASE:
        return None
    r = _evt_rawres(evt)
    return r if r is not None and r >= 0 else None


def _latency(evt: Any) -> int | None:
    t = evt.thread
    if t is None:
        return 0
    if _category_bits(evt) & _EC_INTERNAL:
        return None
    return t.latency


# --- proc.* / thread.* ------------------------------------------------------------------------------


def _main(evt: Any) -> S.Thread | None:
    t = evt.thread
    return None if t is None else t.main()


def _ppid(evt: Any) -> int | None:
    m = _main(evt)
    return None if m is None else m.ptid


def _parent(evt: Any) -> S.Thread | None:
    t = evt.thread
    return None if t is None else t.state.threads.get(t.ptid)


def _pattr(fn: Callable[[S.Thread], Any]) -> Extractor:
    def ext(evt: Any) -> Any:
        t = evt.thread
        if t is None:
            return None
        p = t.state.threads.get(t.ptid)
        return None if p is None else fn(p)

    return ext


def _ancestor_factory(fn: Callable[[S.Thread], Any]) -> Factory:
    def factory(_spec: FieldSpec, arg: str | None) -> Extractor:
        if arg is not None:
            n = int(arg)

            def one(evt: Any) -> Any:
                t = evt.thread
                if t is None:
                    return None
                a = t.ancestor(n)
                return None if a is None else fn(a)

            return one

        def every(evt: Any) -> Any:
            t = evt.thread
            if t is None:
                return None
            vals = Ancestry(fn(a) for a in t.ancestors())
            if not vals:
                return None
            m = t.main()
            vals.own = None if m is None else fn(m)
            return vals

        return every

    return factory


class Ancestry(tuple):  # type: ignore[type-arg]
    """The values of all ancestors (what conditions compare); ``own`` is the process's own value,
    which is what libsinsp prints for an un-indexed ``%proc.aname``/``%proc.apid``."""

    own: Any = None


def _render_ancestry(v: Any) -> str:
    if isinstance(v, Ancestry) and v.own is not None:
        return str(v.own)
    return _render_list(v)


def _args_factory(_spec: FieldSpec, arg: str | None) -> Extractor:
    if arg is not None:
        n = int(arg)

        def one(evt: Any) -> str | None:
            t = evt.thread
            if t is None or n >= len(t.args):
                return None
            return t.args[n]

        return one

    def joined(evt: Any) -> str | None:
        t = evt.thread
        return None if t is None else " ".join(t.args)

    return joined


def _env_get(env: list[str], key: str) -> str | None:
    prefix = key + "="
    for e in env:
        if e.startswith(prefix):
            return e[len(prefix):]
    return None


def _proc_env(t: S.Thread) -> list[str]:
    m = t.main()
    return (m or t).env


def _env_factory(_spec: FieldSpec, arg: str | None) -> Extractor:
    if arg is not None:
        def one(evt: Any) -> str | None:
            t = evt.thread
            return None if t is None else _env_get(_proc_env(t), arg)

        return one

    def joined(evt: Any) -> str | None:
        t = evt.thread
        return None if t is None else " ".join(_proc_env(t))

    return joined


def _aenv_factory(_spec: FieldSpec, arg: str | None) -> Extractor:
    def ext(evt: Any) -> Any:
        t = evt.thread
        if t is None:
            return None
        if arg is None:
            vals = tuple(" ".join(a.env) for a in t.ancestors())
            return vals or None
        if arg.isdigit():
            a = t.ancestor(int(arg))
            return None if a is None else " ".join(a.env)
        for a in (t, *t.ancestors()):
            v = _env_get(a.env, arg)
            if v is not None:
                return v
        return None

    return ext


def _cgroup_factory(_spec: FieldSpec, arg: str | None) -> Extractor:
    def ext(evt: Any) -> str | None:
        t = evt.thread
        if t is None:
            return None
        for sub, path in t.cgroups:
            if sub == arg:
                return path
        return None

    return ext


def _cgroups(evt: Any) -> str | None:
    t = evt.thread
    if t is None or not t.cgroups:
        return None
    return " ".join(f"{a}={b}" for a, b in t.cgroups)


def _duration(evt: Any) -> int | None:
    t = evt.thread
    if t is None or not t.clone_ts:
        return None
    return evt.ts - t.clone_ts


def _ppid_duration(evt: Any) -> int | None:
    p = _parent(evt)
    if p is None or not p.clone_ts:
        return None
    return evt.ts - p.clone_ts


def _ctime_since_start(evt: Any) -> int | None:
    t = evt.thread
    if t is None or not t.exe_ino_ctime or not t.clone_ts:
        return None
    return t.clone_ts - t.exe_ino_ctime if t.clone_ts > t.exe_ino_ctime else 0


def _ctime_since_pidns(evt: Any) -> int | None:
    t = evt.thread
    if t is None or not t.exe_ino_ctime or not t.pidns_init_start_ts:
        return None
    d = t.exe_ino_ctime - t.pidns_init_start_ts
    return d if d > 0 else 0


def _loginshellid(evt: Any) -> int | None:
    m = _main(evt)
    if m is None:
        return None
    res = None
    for a in (m, *m.ancestors()):
        if len(a.comm) >= 2 and a.comm.endswith("sh"):
            res = a.pid
    return res


def _farthest_sharing(t: S.Thread, attr: str) -> S.Thread | None:
    """The farthest ancestor of ``t``'s process with the same ``attr`` (sid, vpgid) as it, else
    the process itself."""
    m = t.main()
    if m is None:
        return None
    v = getattr(m, attr)
    found = m
    for a in m.ancestors():
        if getattr(a, attr) != v:
            break
        found = a
    return found


def _sid_thread(evt: Any) -> S.Thread | None:
    """The session leader: the thread whose tid is the session id, else the farthest ancestor
    still in the session (libsinsp ``proc.sname``)."""
    t = evt.thread
    if t is None:
        return None
    s = t.state.threads.get(t.sid)
    return s if s is not None else _farthest_sharing(t, "sid")


def _sname(evt: Any) -> str | None:
    s = _sid_thread(evt)
    return None if s is None else s.comm


def _error_kind(evt: Any) -> str | None:
    """Which ``evt.count.error.*`` counts a failed event (libsinsp's classification)."""
    if not _evt_failed(evt):
        return None
    fi = _parser_fd(evt)
    name = evt.info.name
    if fi is not None:
        if fi.type in (S.FD.FILE, S.FD.FILE_V2, S.FD.DIRECTORY):
            return "file"
        if fi.type in (*_SOCKS, *_SERVS, S.FD.UNIX_SOCK):
            return "net"
    elif evt.info.dir == "<":
        if name in _OPEN_NAMES:
            return "file"
        if name in ("accept", "accept4", "connect"):
            return "net"
    if _evt_category(evt) == "memory":
        return "memory"
    return "other"


def _reltime(evt: Any) -> int | None:
    st = evt.extra
    return evt.ts - st.first_ts if isinstance(st, S.State) and st.first_ts else None


def _deltatime(evt: Any) -> int | None:
    st = evt.extra
    if not isinstance(st, S.State) or st.cur_ts != evt.ts:
        return None
    return st.cur_ts - st.prev_ts


def _vpgid_thread(evt: Any) -> S.Thread | None:
    t = evt.thread
    return None if t is None else _farthest_sharing(t, "vpgid")


def _nthreads(evt: Any) -> int | None:
    m = _main(evt)
    return None if m is None else m.nchilds + 1


def _fdopencount(evt: Any) -> int | None:
    t = evt.thread
    if t is None:
        return None
    tab = t.fd_table()
    return 0 if tab is None else len(tab)


def _fdusage(evt: Any) -> float | None:
    t = evt.thread
    if t is None:
        return None
    tab = t.fd_table()
    lim = (t.main() or t).fdlimit
    if not lim:
        return None
    return (len(tab or ()) * 100.0) / lim


def _vtid(evt: Any) -> int | None:
    t = evt.thread
    return None if t is None or t.vtid == -1 else t.vtid


def _vpid(evt: Any) -> int | None:
    t = evt.thread
    return None if t is None or t.vpid == -1 else t.vpid


def _std_fd(n: int, what: str) -> Extractor:
    def ext(evt: Any) -> str | None:
        t = evt.thread
        if t is None:
            return None
        tab = t.fd_table()
        fi = tab.get(n) if tab is not None else None
        if fi is None:
            return None
        return fi.typestring if what == "type" else fi.name

    return ext


# --- user.* / group.* ---------------------------------------------------------------------------------


def _user_attr(attr: str) -> Extractor:
    def ext(evt: Any) -> str | None:
        t = evt.thread
        if t is None:
            return None
        u = t.state.users.get(t.uid)
        return None if u is None else getattr(u, attr)

    return ext


def _loginname(evt: Any) -> str | None:
    t = evt.thread
    if t is None:
        return None
    u = t.state.users.get(t.loginuid)
    return None if u is None else u.name


def _loginuid(evt: Any) -> int | None:
    t = evt.thread
    if t is None:
        return None
    return _s32(t.loginuid)


def _group_name(evt: Any) -> str | None:
    t = evt.thread
    if t is None:
        return None
    g = t.state.groups.get(t.gid)
    return None if g is None else g.name


# --- fd.* -------------------------------------------------------------------------------------------------

_OPEN_NAMES = frozenset(("open", "openat", "openat2", "creat"))
_NULL_TYPECHAR = {"open": "f", "openat": "f", "openat2": "f", "creat": "f", "socket": "4",
                  "accept": "4", "accept4": "4", "pipe": "p", "eventfd": "e", "signalfd": "s",
                  "timerfd_create": "t", "inotify_init": "i"}


def _fd_event(evt: Any) -> bool:
    return bool(evt.info.flags & EF_FD_ANY) and evt.thread is not None


def _name_from_creator(evt: Any) -> str | None:
    """fd.name of an fd event with no fd entry (libsinsp ``extract_fdname_from_creator``)."""
    info = evt.info
    if info.dir == ">":
        return None
    name = info.name
    if name in ("open", "creat", "accept", "accept4", "connect"):
        if len(evt.params) < 2:
            return ""
        val, res = render_param(evt, 1)
        return res or val
    if name in ("openat", "openat2"):
        t = evt.thread
        src = evt
        if "name" not in info.param_index:
            src = t.state.enter_event(evt, t)
            if src is None:
                return None
        path = _text(src.arg("name"))
        dirfd = src.arg("dirfd")
        base = t.state.dirfd_base(evt, t, path, _s64(dirfd) if isinstance(dirfd, int) else S.AT_FDCWD)
        return S.concat_paths(base, path)[0]
    return ""


def _fd_num(evt: Any) -> int | None:
    t = evt.thread
    if t is None or not evt.info.flags & EF_FD_ANY:
        return None
    return t.lastevent_fd


def _fd_name(evt: Any) -> str | None:
    fi = evt.fdinfo
    if fi is None:
        return _name_from_creator(evt) if _fd_event(evt) else None
    if evt.info.name == "connect" and evt.info.dir == "<":
        r = evt.arg("res")
        if isinstance(r, int) and _s64(r) < 0:
            return _name_from_creator(evt)
    return fi.name


def _collapse_slashes(s: str) -> str:
    while "//" in s:
        s = s.replace("//", "/")
    return s


def _fd_nameraw(evt: Any) -> str | None:
    """``fd.nameraw`` (Falco 0.33): the path as given to the opening call, ``//`` collapsed."""
    fi = evt.fdinfo
    if fi is not None:
        return _collapse_slashes(fi.nameraw)
    if not _fd_event(evt) or evt.info.dir == ">":
        return None
    name = evt.info.name
    if name in _OPEN_NAMES:
        src = evt
        if "name" not in evt.info.param_index:
            t = evt.thread
            src = t.state.enter_event(evt, t)
            if src is None:
                return None
        return _collapse_slashes(_text(src.arg("name")))
    return _name_from_creator(evt)


def _dirname(name: str) -> str:
    pos = name.rfind("/")
    if pos > 0:
        return name[:pos] if pos < len(name) - 1 else name
    return "/"


#: the fd types of regular files (fd.directory, fd.filename): fixed, not spelled per call
_FILE_FD_TYPES = frozenset((S.FD.FILE, S.FD.FILE_V2))
_DIRECTORY_FD = S.FD.DIRECTORY
_TYPECHARS = S.TYPECHARS


def _fd_directory(evt: Any) -> str | None:
    fi = evt.fdinfo
    if fi is None:
        if not _fd_event(evt):
            return None
        n = _name_from_creator(evt)
        return None if n is None else _dirname(n)
    typ = fi.type
    if typ in _FILE_FD_TYPES:
        return _dirname(fi.name)
    if typ == _DIRECTORY_FD:
        return fi.name
    return None


def _fd_filename(evt: Any) -> str | None:
    fi = evt.fdinfo
    if fi is None or fi.type not in _FILE_FD_TYPES:
        return None
    name = fi.name
    pos = name.rfind("/")
    if pos < 0:
        return "/"
    return name[pos + 1 :] if pos < len(name) - 1 else name


def _fd_type(evt: Any) -> str | None:
    fi = evt.fdinfo
    return None if fi is None else fi.typestring


def _fd_typechar(evt: Any) -> str | None:
    fi = evt.fdinfo
    if fi is None:
        if not _fd_event(evt):
            return None
        return _NULL_TYPECHAR.get(evt.info.name, "o")
    return _TYPECHARS.get(fi.type, "?")  # FdInfo.typechar without its property call


_SOCKS = (S.FD.IPV4_SOCK, S.FD.IPV6_SOCK)
_SERVS = (S.FD.IPV4_SERVSOCK, S.FD.IPV6_SERVSOCK)


def _cip(evt: Any) -> Any:
    fi = evt.fdinfo
    if fi is None or fi.role == S.ROLE_NONE or fi.type not in _SOCKS:
        return None
    return _ip(fi.sip)


def _sip(evt: Any) -> Any:
    fi = evt.fdinfo
    if fi is None or fi.role == S.ROLE_NONE:
        return None
    t = fi.type
    if t in _SOCKS:
        return _ip(fi.dip)
    if t in _SERVS:
        return _ip(fi.sip)
    return None


def _cport(evt: Any) -> int | None:
    fi = evt.fdinfo
    if fi is None or fi.role == S.ROLE_NONE:
        return None
    if fi.type in _SOCKS:
        return fi.sport
    # libsinsp of 2022 falls through to the protocol case here and yields 0 for any other socket
    return 0


def _cproto(evt: Any) -> str | None:
    fi = evt.fdinfo
    if fi is None or fi.role == S.ROLE_NONE:
        return None
    return str(fi.sport) if fi.type in _SOCKS else ""


def _sport(evt: Any) -> int | None:
    fi = evt.fdinfo
    if fi is None:
        return None
    t = fi.type
    if t in _SOCKS:
        return None if fi.role == S.ROLE_NONE else fi.dport
    if t in _SERVS:
        return fi.sport
    return None


def _sproto(evt: Any) -> str | None:
    fi = evt.fdinfo
    if fi is None:
        return None
    t = fi.type
    if t in _SOCKS:
        return None if fi.role == S.ROLE_NONE else str(fi.dport)
    if t in _SERVS:
        return ""
    return None


def _is_local(evt: Any, ip: bytes | None) -> bool:
    """Whether ``ip`` belongs to this machine (libsinsp ``is_ipv4/6addr_in_local_machine``):
    the container's own address for containerized threads, else the capture's interfaces."""
    if ip is None:
        return False
    st = evt.extra
    if not isinstance(st, S.State):
        return False
    t = evt.thread
    v6 = len(ip) == 16
    if t is not None and t.container_id:
        if v6:
            return False
        c = st.containers.get(t.container_id)
        if c is not None:
            if c.ip:
                return _ip_bytes(c.ip) == ip
            if any(_ip_bytes(o.ip) == ip for o in st.containers.values() if o.ip):
                return True
    for itf in st.interfaces:
        addr = bytes(getattr(itf, "addr", b"") or b"")
        if v6:
            if getattr(itf, "type", 0) in (2, 4) and addr[:8] == ip[:8]:
                return True
        elif getattr(itf, "type", 0) in (1, 3) and addr == ip:
            return True
    return False


def _ip_bytes(text: str) -> bytes | None:
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        return None


def _local_remote(local: bool, want: str) -> Extractor:
    def ext(evt: Any) -> Any:
        fi = evt.fdinfo
        if fi is None or fi.type not in _SOCKS or fi.role == S.ROLE_NONE:
            return None
        is_local = _is_local(evt, fi.sip or bytes(16 if fi.type == S.FD.IPV6_SOCK else 4))
        pick_s = is_local == local
        if want == "ip":
            return _ip(fi.sip if pick_s else fi.dip)
        return fi.sport if pick_s else fi.dport

    return ext


def _any_ip(evt: Any) -> Any:
    vals = tuple(v for v in (_cip(evt), _sip(evt)) if v is not None)
    return vals or None


def _any_port(evt: Any) -> Any:
    vals = tuple(v for v in (_cport(evt), _sport(evt)) if v is not None)
    return vals or None


def _proto_of(port_ext: Extractor) -> Extractor:
    def ext(evt: Any) -> str | None:
        p = port_ext(evt)
        return None if p is None else str(p)

    return ext


_L4_NAMES = {S.L4_TCP: "tcp", S.L4_UDP: "udp", S.L4_ICMP: "icmp", S.L4_RAW: "raw"}


def _l4proto(evt: Any) -> str | None:
    fi = evt.fdinfo
    if fi is None:
        return None
    return _L4_NAMES.get(fi.get_l4proto(), "<NA>")


def _sockfamily(evt: Any) -> str | None:
    fi = evt.fdinfo
    if fi is None:
        return None
    if fi.type in (S.FD.IPV4_SOCK, S.FD.IPV6_SOCK, S.FD.IPV4_SERVSOCK, S.FD.IPV6_SERVSOCK):
        return "ip"
    if fi.type == S.FD.UNIX_SOCK:
        return "unix"
    return None


def _is_server(evt: Any) -> bool | None:
    fi = evt.fdinfo
    if fi is None:
        return None
    if fi.type in (S.FD.IPV4_SERVSOCK, S.FD.IPV6_SERVSOCK):
        return True
    if fi.type == S.FD.IPV4_SOCK:
        return _is_local(evt, fi.dip or bytes(4))
    if fi.type == S.FD.IPV6_SOCK:
        return _is_local(evt, fi.dip or bytes(16))
    return False


def _fd_uid(evt: Any) -> str | None:
    t = evt.thread
    if t is None or not evt.info.flags & EF_FD_ANY:
        return None
    return f"{t.tid}{t.lastevent_fd}"


def _containername(evt: Any) -> str | None:
    n = _fd_name(evt)
    return None if n is None else f"{evt.thread.container_id}:{n}"


def _containerdirectory(evt: Any) -> str | None:
    n = _fd_directory(evt)
    return None if n is None else f"{evt.thread.container_id}:{n}"


def _connected(evt: Any) -> bool | None:
    fi = evt.fdinfo
    return None if fi is None else fi.connected


def _name_changed(evt: Any) -> bool | None:
    fi = evt.fdinfo
    if fi is None:
        return None
    t = evt.thread
    return t is not None and t.state.name_changed_evt == evt.num


def _fd_dev(part: str) -> Extractor:
    def ext(evt: Any) -> int | None:
        fi = evt.fdinfo
        if fi is None:
            return None
        d = fi.dev
        if part == "major":
            return (d >> 20) & 0xFFF
        if part == "minor":
            return d & 0xFFFFF
        return d

    return ext


def _fd_ino(evt: Any) -> int | None:
    fi = evt.fdinfo
    return None if fi is None else fi.ino


def _fd_types_factory(_spec: FieldSpec, arg: str | None) -> Extractor:
    def ext(evt: Any) -> Any:
        t = evt.thread
        if t is None:
            return None
        tab = t.fd_table() or {}
        if arg is not None:
            fi = tab.get(int(arg))
            return None if fi is None else (fi.typestring or "<NA>",)
        types = sorted({fi.typestring or "<NA>" for fi in tab.values()})
        return tuple(types) or None

    return ext


# --- fs.path.* ---------------------------------------------------------------------------------------

#: exit event → (path parameter, source parameter, target parameter), as Falco's fs.path checks
#: ("@fd" is the name of the event's fd); they apply only to calls that succeeded
_FS_PATHS: dict[str, tuple[str | None, str | None, str | None]] = {
    "mkdir": ("path", None, None), "mkdirat": ("path", None, None), "rmdir": ("path", None, None),
    "unlink": ("path", None, None), "unlinkat": ("name", None, None), "open": ("name", None, None),
    "openat": ("name", None, None), "openat2": ("name", None, None), "fchmodat": ("filename", None, None),
    "chmod": ("filename", None, None), "fchmod": ("@fd", None, None), "chown": ("path", None, None),
    "lchown": ("path", None, None), "fchown": ("@fd", None, None), "fchownat": ("pathname", None, None),
    "quotactl": ("special", None, None), "umount": ("name", None, None), "umount2": ("name", None, None),
    "rename": (None, "oldpath", "newpath"), "renameat": (None, "oldpath", "newpath"),
    "renameat2": (None, "oldpath", "newpath"), "link": (None, "newpath", "oldpath"),
    "linkat": (None, "newpath", "oldpath"), "symlink": (None, "linkpath", "target"),
    "symlinkat": (None, "linkpath", "target"), "mount": (None, "dev", "dir"),
}
_FS_DIRFD = {"oldpath": ("olddirfd", "olddir"), "newpath": ("newdirfd", "newdir"), "linkpath": ("linkdirfd",)}


def _fs_path(which: str, raw: bool) -> Extractor:
    slot = {"name": 0, "source": 1, "target": 2}[which]

    def ext(evt: Any) -> str | None:
        info = evt.info
        if info.dir != "<":
            return None
        spec = _FS_PATHS.get(info.name)
        if spec is None or spec[slot] is None:
            return None
        pidx = info.param_index
        if "res" in pidx:
            if evt.arg("res") != 0:
                return None
        else:
            fd = evt.arg("fd")
            if not isinstance(fd, int) or _s64(fd) == -1:
                return None
        pname = spec[slot]
        if pname == "@fd":
            fi = evt.fdinfo
            return None if fi is None else fi.name
        if pname not in pidx:
            return None
        v = evt.arg(pname)
        if v is None:
            return None
        path = _text(v)
        nul = path.find("\0")
        if nul >= 0:
            path = path[:nul]
        if raw or path.startswith("/"):
            return path
        t = evt.thread
        st = evt.extra
        if t is None or not isinstance(st, S.State):
            return None
        dirfd = None
        for dname in _FS_DIRFD.get(pname, ("dirfd",)):
            if dname in pidx:
                dirfd = evt.arg(dname)
                break
        base = st.dirfd_base(evt, t, path, _s64(dirfd) if isinstance(dirfd, int) else S.AT_FDCWD)
        return S.concat_paths(base, path)[0]

    return ext


# --- fdlist.* -------------------------------------------------------------------------------------------


def _fdlist(kind: str) -> Extractor:
    def ext(evt: Any) -> str | None:
        fds = evt.arg("fds")
        t = evt.thread
        if not isinstance(fds, list) or t is None:
            return None
        out = []
        for fd, _fl in fds:
            if kind == "nums":
                out.append(str(fd))
                continue
            fi = t.get_fd(fd)
            if fi is None:
                continue
            if kind == "names":
                out.append(fi.name)
            elif fi.type in (S.FD.IPV4_SOCK, S.FD.IPV6_SOCK):
                if kind == "cips":
                    out.append(_ip_text(_ip(fi.sip)))
                elif kind == "sips":
                    out.append(_ip_text(_ip(fi.dip)))
                elif kind == "cports":
                    out.append(str(fi.sport))
                elif kind == "sports":
                    out.append(str(fi.dport))
        return ",".join(out) if out else None

    return ext


# --- container.* / k8s.* -----------------------------------------------------------------------------


def _container(evt: Any) -> S.Container | None:
    t = evt.thread
    if t is None or not t.container_id:
        return None
    return t.state.containers.get(t.container_id)


def _container_id(evt: Any) -> str | None:
    t = evt.thread
    if t is None:
        return None
    return t.container_id or "host"


def _container_str(attr: str, host: str | None) -> Extractor:
    def ext(evt: Any) -> str | None:
        t = evt.thread
        if t is None:
            return None
        if not t.container_id:
            return host
        c = t.state.containers.get(t.container_id)
        if c is None:
            return None
        v = getattr(c, attr)
        return v or None

    return ext


def _container_privileged(evt: Any) -> bool | None:
    c = _container(evt)
    return None if c is None else c.privileged


def _label_factory(prefix: str, pod: bool = False) -> Factory:
    """``pod``: the pod sandbox's labels when known (live CRI metadata), else the container's."""

    def factory(_spec: FieldSpec, arg: str | None) -> Extractor:
        def ext(evt: Any) -> str | None:
            c = _container(evt)
            if c is None or arg is None:
                return None
            return ((pod and c.pod_labels) or c.labels).get(prefix + arg)

        return ext

    return factory


def _labels(prefix: str, pod: bool = False) -> Extractor:
    def ext(evt: Any) -> str | None:
        c = _container(evt)
        if c is None:
            return None
        labels = (pod and c.pod_labels) or c.labels
        items = [f"{k[len(prefix):]}:{v}" for k, v in labels.items() if k.startswith(prefix)]
        return ", ".join(items) if items else None

    return ext


def _k8s_label(key: str) -> Extractor:
    def ext(evt: Any) -> str | None:
        c = _container(evt)
        return None if c is None else c.labels.get(key)

    return ext


def _mount_factory(what: str) -> Factory:
    """``container.mount*[X]``: X is an index or a glob. As in libsinsp, ``.source[X]`` looks the
    mount up by destination, the others by source; no match → no value."""
    import fnmatch

    by_key = "Destination" if what == "source" else "Source"
    out_key = {"source": "Source", "dest": "Destination", "mode": "Mode", "rdwr": "RW",
               "propagation": "Propagation"}.get(what)

    def factory(_spec: FieldSpec, arg: str | None) -> Extractor:
        def find(c: S.Container) -> dict[str, Any] | None:
            if arg is None:
                return None
            if arg.isdigit():
                i = int(arg)
                return c.mounts[i] if i < len(c.mounts) else None
            for m in c.mounts:
                if fnmatch.fnmatchcase(str(m.get(by_key) or ""), arg):
                    return m
            return None

        def ext(evt: Any) -> Any:
            c = _container(evt)
            if c is None:
                return None
            m = find(c)
            if m is None:
                return None
            if out_key is None:
                return _mount_text(m)
            v = m.get(out_key)
            if out_key == "RW":
                return "true" if v else "false"
            return "" if v is None else str(v)

        return ext

    return factory


def _mount_text(m: dict[str, Any]) -> str:
    return (f"{m.get('Source', '')}:{m.get('Destination', '')}:{m.get('Mode', '')}:"
            f"{'true' if m.get('RW') else 'false'}:{m.get('Propagation', '')}")


def _mounts(evt: Any) -> str | None:
    c = _container(evt)
    if c is None or not c.mounts:
        return None
    return ",".join(_mount_text(m) for m in c.mounts)


# --- binding ----------------------------------------------------------------------------------------------


def bind(cat: FieldCatalog) -> None:
    """Attach extractors (and renderers where the default one would differ) to ``cat``."""
    specs = cat.specs

    def b(name: str, factory: Factory, render: Callable[[Any], str] | None = None) -> None:
        if name in specs:
            cat.bind(name, factory, render)

    def c(name: str, fn: Extractor, render: Callable[[Any], str] | None = None) -> None:
        b(name, _const(fn), render)

    # evt
    c("evt.num", lambda e: e.num)
    c("evt.time", lambda e: _ts_text(e.ts, False, True))
    c("evt.time.s", lambda e: _ts_text(e.ts, False, False))
    c("evt.time.iso8601", lambda e: _iso8601(e.ts))
    c("evt.datetime", lambda e: _ts_text(e.ts, True, True))
    c("evt.datetime.s", lambda e: _ts_text(e.ts, True, False))
    c("evt.rawtime", lambda e: e.ts)
    c("evt.rawtime.s", lambda e: e.ts // 1_000_000_000)
    c("evt.rawtime.ns", lambda e: e.ts % 1_000_000_000, _padded)
    c("evt.source", lambda e: "syscall")
    c("evt.reltime", _reltime, _padded)
    c("evt.reltime.s", lambda e: None if (v := _reltime(e)) is None else v // 1_000_000_000)
    c("evt.reltime.ns", lambda e: None if (v := _reltime(e)) is None else v % 1_000_000_000, _padded)
    c("evt.deltatime", _deltatime)
    c("evt.deltatime.s", lambda e: None if (v := _deltatime(e)) is None else v // 1_000_000_000)
    c("evt.deltatime.ns", lambda e: None if (v := _deltatime(e)) is None else v % 1_000_000_000, _padded)
    c("evt.count", lambda e: 1)
    c("evt.count.error", lambda e: 1 if _evt_failed(e) else None)
    c("evt.count.error.file", lambda e: 1 if _error_kind(e) == "file" else None)
    c("evt.count.error.net", lambda e: 1 if _error_kind(e) == "net" else None)
    c("evt.count.error.memory", lambda e: 1 if _error_kind(e) == "memory" else None)
    c("evt.count.error.other", lambda e: 1 if _error_kind(e) == "other" else None)
    c("evt.count.exit", lambda e: 1 if e.info.dir == "<" else None)
    c("evt.is_async", lambda e: e.info.name == "container")
    c("evt.hostname", lambda e: _hostname(e))
    c("evt.latency", _latency)
    c("evt.latency.s", lambda e: None if (v := _latency(e)) is None else v // 1_000_000_000)
    c("evt.latency.ns", lambda e: None if (v := _latency(e)) is None else v % 1_000_000_000, _padded)
    c("evt.latency.human", lambda e: None if (v := _latency(e)) is None else _human_time(v))
    c("evt.dir", lambda e: e.info.dir)
    c("evt.type", _evt_type)
    b("evt.type.is", _type_is_factory)
    c("syscall.type", _syscall_type)
    c("evt.category", _evt_category)
    c("evt.cpu", lambda e: e.cpu)
    c("evt.args", _args_text)
    b("evt.arg", _arg_factory)
    b("evt.rawarg", _rawarg_factory)
    c("evt.info", _args_text)
    c("evt.buffer", _buffer)
    c("evt.buflen", _buflen)
    c("evt.res", _evt_res)
    c("evt.rawres", _evt_rawres)
    c("evt.failed", _evt_failed, _render_bool)
    c("evt.is_io", lambda e: bool(e.info.flags & (EF_READS_FROM_FD | EF_WRITES_TO_FD)), _render_bool)
    c("evt.is_io_read", lambda e: bool(e.info.flags & EF_READS_FROM_FD), _render_bool)
    c("evt.is_io_write", lambda e: bool(e.info.flags & EF_WRITES_TO_FD), _render_bool)
    c("evt.io_dir", lambda e: "write" if e.info.flags & EF_WRITES_TO_FD else
      ("read" if e.info.flags & EF_READS_FROM_FD else None))
    c("evt.is_wait", lambda e: bool(e.info.flags & EF_WAITS), _render_bool)
    b("evt.abspath", _abspath_factory)
    c("evt.is_open_read", _is_open_read, _render_bool)
    c("evt.is_open_write", _is_open_write, _render_bool)
    c("evt.is_open_exec", _is_open_exec, _render_bool)
    c("evt.is_open_create", _is_open_create, _render_bool)

    # proc / thread
    c("proc.pid", _thread_attr("pid"))
    c("thread.tid", lambda e: e.tid)
    c("proc.ppid", _ppid)
    c("proc.name", _thread_attr("comm"))
    c("proc.exe", _thread_attr("exe"))
    c("proc.exepath", _thread_attr("exepath"))
    c("proc.cmdline", lambda e: None if e.thread is None else e.thread.cmdline())
    c("proc.exeline", lambda e: None if e.thread is None else
      e.thread.exe + " " + " ".join(e.thread.args))
    b("proc.args", _args_factory)
    c("proc.cmdnargs", lambda e: None if e.thread is None else len(e.thread.args))
    c("proc.cmdlenargs", lambda e: None if e.thread is None else
      sum(len(a) for a in e.thread.args) + max(len(e.thread.args) - 1, 0))
    b("proc.env", _env_factory)
    b("proc.aenv", _aenv_factory)
    c("proc.cwd", lambda e: None if e.thread is None else e.thread.get_cwd())
    c("proc.tty", _thread_attr("tty"))
    c("proc.sid", _thread_attr("sid"))
    c("proc.sname", _sname)
    c("proc.vpgid", _thread_attr("vpgid"))
    c("proc.pgid", _thread_attr("vpgid"))
    c("proc.sid.exe", lambda e: None if (v := _sid_thread(e)) is None else v.exe)
    c("proc.sid.exepath", lambda e: None if (v := _sid_thread(e)) is None else v.exepath)
    c("proc.pgid.name", lambda e: None if (v := _vpgid_thread(e)) is None else v.comm)
    c("proc.pgid.exe", lambda e: None if (v := _vpgid_thread(e)) is None else v.exe)
    c("proc.pgid.exepath", lambda e: None if (v := _vpgid_thread(e)) is None else v.exepath)
    c("proc.is_pgid_leader", lambda e: None if e.thread is None else
      (e.thread.main() or e.thread).pid == e.thread.vpgid, _render_bool)
    c("thread.totexectime", lambda e: 0)
    c("proc.vpgid.name", lambda e: None if (v := _vpgid_thread(e)) is None else v.comm)
    c("proc.vpgid.exe", lambda e: None if (v := _vpgid_thread(e)) is None else v.exe)
    c("proc.vpgid.exepath", lambda e: None if (v := _vpgid_thread(e)) is None else v.exepath)
    c("proc.is_vpgid_leader", lambda e: None if e.thread is None else
      (e.thread.main() or e.thread).pid == e.thread.vpgid, _render_bool)
    c("proc.is_sid_leader", lambda e: None if e.thread is None else
      (e.thread.main() or e.thread).pid == e.thread.sid, _render_bool)
    c("proc.vpid", _vpid)
    c("thread.vtid", _vtid)
    c("proc.pvpid", _pattr(lambda p: None if p.vpid == -1 else p.vpid))
    c("proc.pname", _pattr(lambda p: p.comm))
    c("proc.pexe", _pattr(lambda p: p.exe))
    c("proc.pexepath", _pattr(lambda p: p.exepath))
    c("proc.pcmdline", _pattr(lambda p: p.cmdline()))
    b("proc.aname", _ancestor_factory(lambda a: a.comm), _render_ancestry)
    b("proc.apid", _ancestor_factory(lambda a: a.pid), _render_ancestry)
    b("proc.aexe", _ancestor_factory(lambda a: a.exe), _render_ancestry)
    b("proc.aexepath", _ancestor_factory(lambda a: a.exepath), _render_ancestry)
    b("proc.acmdline", _ancestor_factory(lambda a: a.cmdline()), _render_ancestry)
    b("proc.aargs", _ancestor_factory(lambda a: " ".join(a.args)), _render_ancestry)
    c("proc.loginshellid", _loginshellid)
    c("proc.duration", _duration)
    c("proc.ppid.duration", _ppid_duration)
    c("proc.pid.ts", lambda e: None if e.thread is None or not e.thread.clone_ts else e.thread.clone_ts)
    c("proc.ppid.ts", _pattr(lambda p: p.clone_ts or None))
    c("proc.is_exe_writable", lambda e: None if e.thread is None else e.thread.exe_writable, _render_bool)
    c("proc.exe_ino", lambda e: None if e.thread is None or not e.thread.exe_ino else e.thread.exe_ino)
    c("proc.exe_ino.ctime", lambda e: None if e.thread is None or not e.thread.exe_ino_ctime
      else e.thread.exe_ino_ctime)
    c("proc.exe_ino.mtime", lambda e: None if e.thread is None or not e.thread.exe_ino_mtime
      else e.thread.exe_ino_mtime)
    c("proc.exe_ino.ctime_duration_proc_start", _ctime_since_start)
    c("proc.exe_ino.ctime_duration_pidns_start", _ctime_since_pidns)
    c("proc.pidns_init_start_ts", lambda e: None if e.thread is None or not e.thread.pidns_init_start_ts
      else e.thread.pidns_init_start_ts)
    c("proc.is_exe_from_memfd", lambda e: None if e.thread is None else e.thread.exe_from_memfd, _render_bool)
    c("proc.is_exe_upper_layer", lambda e: None if e.thread is None else e.thread.exe_upper_layer, _render_bool)
    c("proc.is_exe_lower_layer", lambda e: None if e.thread is None else e.thread.exe_lower_layer, _render_bool)
    c("proc.fdopencount", _fdopencount)
    c("proc.fdlimit", lambda e: None if e.thread is None else (e.thread.main() or e.thread).fdlimit)
    c("proc.fdusage", _fdusage)
    c("proc.vmsize", _thread_attr("vmsize_kb"))
    c("proc.vmrss", _thread_attr("vmrss_kb"))
    c("proc.vmswap", _thread_attr("vmswap_kb"))
    c("thread.vmsize", lambda e: None if e.thread is None else
      (e.thread.vmsize_kb if e.thread.is_main() else 0))
    c("thread.vmrss", lambda e: None if e.thread is None else
      (e.thread.vmrss_kb if e.thread.is_main() else 0))
    c("thread.pfmajor", _thread_attr("pfmajor"))
    c("thread.pfminor", _thread_attr("pfminor"))
    c("thread.ismain", lambda e: None if e.thread is None else e.thread.is_main(), _render_bool)
    c("thread.cap_permitted", lambda e: _caps(e, "cap_permitted"))
    c("thread.cap_inheritable", lambda e: _caps(e, "cap_inheritable"))
    c("thread.cap_effective", lambda e: _caps(e, "cap_effective"))
    c("thread.cgroups", _cgroups)
    b("thread.cgroup", _cgroup_factory)
    c("proc.nthreads", _nthreads)
    c("proc.nchilds", _thread_attr("nchilds"))
    c("thread.exectime", lambda e: 0)
    for n, nm in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        c(f"proc.{nm}.type", _std_fd(n, "type"))
        c(f"proc.{nm}.name", _std_fd(n, "name"))

    # user / group
    c("user.uid", _thread_attr("uid"))
    c("user.name", _user_attr("name"))
    c("user.homedir", _user_attr("homedir"))
    c("user.shell", _user_attr("shell"))
    c("user.loginuid", _loginuid)
    c("user.loginname", _loginname)
    c("group.gid", _thread_attr("gid"))
    c("group.name", _group_name)

    # fd
    c("fd.num", _fd_num)
    c("fd.type", _fd_type)
    c("fd.typechar", _fd_typechar)
    c("fd.name", _fd_name)
    c("fd.nameraw", _fd_nameraw)
    c("fd.directory", _fd_directory)
    c("fd.filename", _fd_filename)
    c("fd.ip", _any_ip, _render_list)
    c("fd.cip", _cip, _ip_text)
    c("fd.sip", _sip, _ip_text)
    c("fd.lip", _local_remote(True, "ip"), _ip_text)
    c("fd.rip", _local_remote(False, "ip"), _ip_text)
    c("fd.port", _any_port, _render_list)
    c("fd.cport", _cport)
    c("fd.sport", _sport)
    c("fd.lport", _local_remote(True, "port"))
    c("fd.rport", _local_remote(False, "port"))
    c("fd.l4proto", _l4proto)
    c("fd.sockfamily", _sockfamily)
    c("fd.is_server", _is_server, _render_bool)
    c("fd.uid", _fd_uid)
    c("fd.containername", _containername)
    c("fd.containerdirectory", _containerdirectory)
    c("fd.proto", _any_port, _render_list)
    c("fd.cproto", _cproto)
    c("fd.sproto", _sproto)
    c("fd.lproto", _proto_of(_local_remote(True, "port")))
    c("fd.rproto", _proto_of(_local_remote(False, "port")))
    c("fd.net", _any_ip, _render_list)
    c("fd.cnet", _cip, _ip_text)
    c("fd.snet", _sip, _ip_text)
    c("fd.lnet", _local_remote(True, "ip"), _ip_text)
    c("fd.rnet", _local_remote(False, "ip"), _ip_text)
    c("fd.connected", _connected, _render_bool)
    c("fd.name_changed", _name_changed, _render_bool)
    c("fd.cip.name", lambda e: None)
    c("fd.sip.name", lambda e: None)
    c("fd.lip.name", lambda e: None)
    c("fd.rip.name", lambda e: None)
    c("fd.dev", _fd_dev("dev"), lambda v: format(v & 0xFFFFFFFF, "X"))
    c("fd.dev.major", _fd_dev("major"))
    c("fd.dev.minor", _fd_dev("minor"))
    c("fd.ino", _fd_ino)
    b("fd.types", _fd_types_factory, _render_list)

    # fs.path
    for which in ("name", "source", "target"):
        c(f"fs.path.{which}", _fs_path(which, False))
        c(f"fs.path.{which}raw", _fs_path(which, True))

    # fdlist
    for kind in ("nums", "names", "cips", "sips", "cports", "sports"):
        c(f"fdlist.{kind}", _fdlist(kind))

    # container / k8s
    c("container.id", _container_id)
    c("container.full_id", _container_str("full_id", "host"))
    c("container.name", _container_str("name", "host"))
    c("container.image", _container_str("image", None))
    c("container.image.id", _container_str("imageid", None))
    c("container.image.repository", _container_str("imagerepo", None))
    c("container.image.tag", _container_str("imagetag", None))
    c("container.image.digest", _container_str("imagedigest", None))
    c("container.type", _container_str("type", "host"))
    c("container.ip", _container_str("ip", None))
    c("container.privileged", _container_privileged, _render_bool)
    c("container.mounts", _mounts)
    c("container.start_ts", lambda e: None if (x := _container(e)) is None or not x.created_time
      else x.created_time)
    c("container.duration", lambda e: None if (x := _container(e)) is None or not x.created_time
      else e.ts - x.created_time)
    b("container.mount", _mount_factory("mount"))
    b("container.mount.source", _mount_factory("source"))
    b("container.mount.dest", _mount_factory("dest"))
    b("container.mount.mode", _mount_factory("mode"))
    b("container.mount.rdwr", _mount_factory("rdwr"))
    b("container.mount.propagation", _mount_factory("propagation"))
    b("container.label", _label_factory(""))
    c("container.labels", _labels(""))
    c("k8s.pod.name", _k8s_label("io.kubernetes.pod.name"))
    c("k8s.ns.name", _k8s_label("io.kubernetes.pod.namespace"))
    c("k8s.pod.uid", _k8s_label("io.kubernetes.pod.uid"))
    c("k8s.pod.id", _k8s_label("io.kubernetes.pod.uid"))
    c("k8s.pod.sandbox_id", lambda e: None if (x := _k8s_label("io.kubernetes.sandbox.id")(e)) is None
      else x[:12])
    c("k8s.pod.full_sandbox_id", _k8s_label("io.kubernetes.sandbox.id"))
    b("k8s.pod.label", _label_factory("", pod=True))
    c("k8s.pod.labels", _labels("", pod=True))
    c("k8s.pod.ip", _container_str("ip", None))


def _caps(evt: Any, attr: str) -> str | None:
    t = evt.thread
    if t is None:
        return None
    return caps_text(getattr(t, attr))


_CAP_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)


def caps_text(mask: int) -> str:
    """A capability mask as Falco prints it: ``CAP_CHOWN CAP_KILL …`` (space-separated)."""
    return " ".join(name for i, name in enumerate(_CAP_NAMES) if mask & (1 << i))


def _human_time(ns: int) -> str:
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.2f}s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.2f}ms"
    if ns >= 1_000:
        return f"{ns / 1e3:.2f}us"
    return f"{ns}ns"


def _hostname(evt: Any) -> str | None:
    t = evt.thread
    m = t.state.machine if t is not None else None
    return getattr(m, "hostname", None) if m is not None else None
