"""What the probe emits for each syscall: event codes and parameter "instructions" (user-space side).

The probe (probe.bpf.c) knows no event table. For every syscall number, user space writes a
``struct sc_spec`` into its ``specs`` map: the enter and exit event codes of the libs 0.9.0 event
table (the one ``sysdig`` 0.29.3 reads) and, for each parameter, one instruction saying where
the value comes from (an argument, the return value, a user string, a sockaddr, the socket tuple
of an fd, flags converted to their scap values…). The probe then writes each event exactly as
a capture stores it. Syscalls without a dedicated layout are emitted as the generic
``syscall`` events (codes 0/1, parameter ``ID`` = the PPM_SC code) when selected.

The instruction kinds, flag-table slots and spec flags mirror the constants in probe.bpf.c.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CUSTOM_LAYOUTS",
    "EXIT_COMPLETE",
    "MAX_SYSCALLS",
    "NATIVE_SYSCALLS",
    "SPEC_PROCEXIT",
    "STATE_SYSCALLS",
    "Spec",
    "build_specs",
    "enum_table_entries",
    "flag_table_blobs",
    "select_syscalls",
]

MAX_SYSCALLS = 512
SPEC_PROCEXIT = MAX_SYSCALLS - 1
MAX_INSN = 8

# instruction kinds (probe.bpf.c enum K_*)
K_S64ARG, K_U64ARG, K_U32ARG, K_U16ARG, K_U8ARG, K_RET, K_USTR, K_SOCKADDR, K_TUPLE = range(1, 10)
K_FLAGS, K_ENUM16, K_CONST16, K_CONST32, K_EMPTY, K_DEV, K_INO, K_UMEM, K_DYN64, K_CONST8 = range(10, 20)
K_CONST64, K_S32ARG = 20, 21
K_PROC_EXEC, K_PROC_CLONE = 30, 31
#: parameters an instruction produces (1 unless listed)
_NPARAMS = {K_PROC_EXEC: 22, K_PROC_CLONE: 19}

# spec flags
SPEC_ENTER, SPEC_EXIT, SPEC_EXIT_FAIL_ONLY = 1, 2, 4
# flag tables (probe.bpf.c FT_*): native bit → scap value
FT_OPEN, FT_CLONE, FT_EXECVEAT, FT_RESOLVE = 0, 1, 2, 3
ET_PTRACE = 0  # enum table
# clone flag sources for K_PROC_CLONE
CLF_ARG0, CLF_CLONE3, CLF_FORK, CLF_VFORK = 0, 1, 2, 3

Insn = tuple[int, int, int]


def S64(a: int) -> Insn:
    return (K_S64ARG, a, 0)


def U32(a: int) -> Insn:
    return (K_U32ARG, a, 0)


def U64(a: int) -> Insn:
    return (K_U64ARG, a, 0)


def USTR(a: int) -> Insn:
    return (K_USTR, a, 0)


def FLAGS(a: int, table: int) -> Insn:
    return (K_FLAGS, a, table)


RET: Insn = (K_RET, 0, 0)
EMPTY: Insn = (K_EMPTY, 0, 0)
DEV: Insn = (K_DEV, 0, 0)
INO: Insn = (K_INO, 0, 0)
PROC_EXEC: Insn = (K_PROC_EXEC, 0, 0)


def PROC_CLONE(src: int) -> Insn:
    return (K_PROC_CLONE, 0, src)


def C8(v: int) -> Insn:
    return (K_CONST8, 0, v)


def C16(v: int) -> Insn:
    return (K_CONST16, 0, v)


def C32(v: int) -> Insn:
    return (K_CONST32, 0, v)


_EXIT_FAIL = SPEC_EXIT_FAIL_ONLY

#: syscall → (enter code, exit code, enter instructions, exit instructions, extra flags); codes and
#: parameter order are those of libs 0.9.0's event table, exits with the parameters newer libs
#: append to them (their enter's: `fd` of close, `domain`/`type`/`proto` of socket…), checked
#: against the event table by the unit tests
CUSTOM_LAYOUTS: dict[str, tuple[int, int, tuple[Insn, ...], tuple[Insn, ...], int]] = {
    "open": (2, 3, (USTR(0), FLAGS(1, FT_OPEN), U32(2)),
             (RET, USTR(0), FLAGS(1, FT_OPEN), U32(2), DEV, INO), 0),
    "openat": (306, 307, (S64(0), USTR(1), FLAGS(2, FT_OPEN), U32(3)),
               (RET, S64(0), USTR(1), FLAGS(2, FT_OPEN), U32(3), DEV, INO), 0),
    "openat2": (326, 327,
                (S64(0), USTR(1), (K_UMEM, 2, (FT_OPEN + 1) << 8), (K_UMEM, 2, 1),
                 (K_UMEM, 2, ((FT_RESOLVE + 1) << 8) | 2)),
                (RET, S64(0), USTR(1), (K_UMEM, 2, (FT_OPEN + 1) << 8), (K_UMEM, 2, 1),
                 (K_UMEM, 2, ((FT_RESOLVE + 1) << 8) | 2)), 0),
    "creat": (58, 59, (USTR(0), U32(1)), (RET, USTR(0), U32(1), DEV, INO), 0),
    "close": (4, 5, (S64(0),), (RET, S64(0)), 0),
    "read": (6, 7, (S64(0), U32(2)), (RET, EMPTY, S64(0), U32(2)), 0),
    "write": (8, 9, (S64(0), U32(2)), (RET, EMPTY, S64(0), U32(2)), 0),
    "execve": (292, 293, (USTR(0),), (RET, PROC_EXEC), _EXIT_FAIL),
    "execveat": (330, 331, (S64(0), USTR(1), FLAGS(4, FT_EXECVEAT)), (RET, PROC_EXEC), _EXIT_FAIL),
    "clone": (222, 223, (), (RET, PROC_CLONE(CLF_ARG0)), 0),
    "clone3": (334, 335, (), (RET, PROC_CLONE(CLF_CLONE3)), 0),
    "fork": (224, 225, (), (RET, PROC_CLONE(CLF_FORK)), 0),
    "vfork": (226, 227, (), (RET, PROC_CLONE(CLF_VFORK)), 0),
    "socket": (18, 19, (U32(0), U32(1), U32(2)), (RET, U32(0), U32(1), U32(2)), 0),
    "bind": (20, 21, (S64(0),), (RET, (K_SOCKADDR, 1, 0), S64(0)), 0),
    "connect": (22, 23, (S64(0), (K_SOCKADDR, 1, 0)), (RET, (K_TUPLE, 0, 0), S64(0), (K_SOCKADDR, 1, 0)), 0),
    "listen": (24, 25, (S64(0), U32(1)), (RET, S64(0), U32(1)), 0),
    "accept": (246, 247, (), (RET, (K_TUPLE, 0, 3), C8(0), C32(0), C32(0)), 0),
    "accept4": (248, 249, ((K_S32ARG, 3, 0),), (RET, (K_TUPLE, 0, 3), C8(0), C32(0), C32(0)), 0),
    "dup": (366, 367, (S64(0),), (RET, S64(0)), 0),
    "dup2": (362, 363, (S64(0),), (RET, S64(0), S64(1)), 0),
    "dup3": (364, 365, (S64(0),), (RET, S64(0), S64(1), FLAGS(2, FT_OPEN)), 0),
    "chdir": (94, 95, (), (RET, USTR(0)), 0),
    "fchdir": (96, 97, (S64(0),), (RET, S64(0)), 0),
    "setuid": (198, 199, (U32(0),), (RET, U32(0)), 0),
    "setgid": (200, 201, (U32(0),), (RET, U32(0)), 0),
    "setresuid": (192, 193, (U32(0), U32(1), U32(2)), (RET, U32(0), U32(1), U32(2)), 0),
    "setresgid": (194, 195, (U32(0), U32(1), U32(2)), (RET, U32(0), U32(1), U32(2)), 0),
    "unlink": (300, 301, (), (RET, USTR(0)), 0),
    "unlinkat": (302, 303, (), (RET, S64(0), USTR(1), U32(2)), 0),
    "rename": (174, 175, (), (RET, USTR(0), USTR(1)), 0),
    "renameat": (176, 177, (), (RET, S64(0), USTR(1), S64(2), USTR(3)), 0),
    "renameat2": (318, 319, (), (RET, S64(0), USTR(1), S64(2), USTR(3), U32(4)), 0),
    "mkdir": (276, 277, (U32(1),), (RET, USTR(0), U32(1)), 0),
    "mkdirat": (304, 305, (), (RET, S64(0), USTR(1), U32(2)), 0),
    "rmdir": (278, 279, (), (RET, USTR(0)), 0),
    "link": (308, 309, (), (RET, USTR(0), USTR(1)), 0),
    "linkat": (310, 311, (), (RET, S64(0), USTR(1), S64(2), USTR(3), U32(4)), 0),
    "symlink": (178, 179, (), (RET, USTR(0), USTR(1)), 0),
    "symlinkat": (180, 181, (), (RET, USTR(0), S64(1), USTR(2)), 0),
    "chmod": (314, 315, (), (RET, USTR(0), U32(1)), 0),
    "fchmod": (316, 317, (), (RET, S64(0), U32(1)), 0),
    "fchmodat": (312, 313, (), (RET, S64(0), USTR(1), U32(2)), 0),
    "ptrace": (168, 169, ((K_ENUM16, 0, ET_PTRACE), S64(1)),
               (RET, (K_DYN64, 2, 0), (K_DYN64, 3, 0), (K_ENUM16, 0, ET_PTRACE), S64(1)), 0),
    "mount": (256, 257, (U32(3),), (RET, USTR(0), USTR(1), USTR(2), U32(3)), 0),
    "umount2": (258, 259, (U32(1),), (RET, USTR(0)), 0),
    "setns": (240, 241, (S64(0), FLAGS(1, FT_CLONE)), (RET, S64(0), FLAGS(1, FT_CLONE)), 0),
    "unshare": (284, 285, (FLAGS(0, FT_CLONE),), (RET, FLAGS(0, FT_CLONE)), 0),
}

#: syscalls whose enter event carries nothing their exit event lacks (no parameter, or only ones
#: the exit repeats, the fd a call uses included). `rae run` leaves their enter events in the
#: kernel when no loaded rule can match one, as the drivers of libs >= 0.20 no longer send them:
#: fewer events to make, copy and process, and no information lost but `evt.latency`. The unit
#: tests check the property against the layouts and the event table.
EXIT_COMPLETE = frozenset({
    "open", "openat", "openat2", "creat", "clone", "clone3", "fork", "vfork", "accept", "chdir",
    "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link",
    "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat",
    "close", "read", "write", "socket", "bind", "connect", "listen", "fchdir",
    "setuid", "setgid", "setresuid", "setresgid", "ptrace", "mount", "setns", "unshare",
})

#: libscap's kernel buffer-drop categories (``n_drops_buffer_<category>_<dir>``), in the probe's
#: stats-slot order, with the events each one counts (every code of the name in that direction, and
#: the generic exit event of a syscall of that name without a layout of its own): the lists of libs'
#: modern probe, so a drop alert and /metrics break drops down as Falco's do
DROP_CATEGORIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("clone_fork", "enter", ()),
    ("clone_fork", "exit", ("clone", "clone3", "fork", "vfork")),
    ("execve", "enter", ()),
    ("execve", "exit", ("execve", "execveat")),
    ("connect", "enter", ("connect",)),
    ("connect", "exit", ("connect",)),
    ("open", "enter", ("open", "creat", "openat", "openat2")),
    ("open", "exit", ("open", "creat", "openat", "openat2", "open_by_handle_at")),
    ("dir_file", "enter", ()),
    ("dir_file", "exit", ("dup", "chmod", "fchmod", "fchmodat", "chown", "lchown", "fchown", "fchownat",
                          "link", "linkat", "mkdir", "mkdirat", "mount", "umount", "umount2", "rename",
                          "renameat", "renameat2", "rmdir", "symlink", "symlinkat", "unlink", "unlinkat")),
    ("other_interest", "enter", ()),
    ("other_interest", "exit", ("bpf", "setpgid", "ptrace", "seccomp", "setns", "setresgid", "setresuid",
                                "setsid", "unshare", "capset", "keyctl")),
    ("close", "exit", ("close",)),
    ("proc", "exit", ("procexit",)),  # the procexit event is an enter event; libscap counts it here
)
#: size of the probe's ``drop_cats`` map (event codes it can categorize)
MAX_EVENT_CODES = 1024
#: ``drop_cats`` key of a generic exit event: this plus the PPM_SC code of its syscall (probe.bpf.c)
GENERIC_DROP_KEY = 512


def drop_category_slots() -> dict[int, int]:
    """Event code → 1 + index in `DROP_CATEGORIES`, the contents of the probe's ``drop_cats`` map
    (a syscall sent as the generic exit event: ``GENERIC_DROP_KEY`` + its PPM_SC code)."""
    from rae.syscall.event_table import EVENTS_BY_NAME

    out: dict[int, int] = {}
    for i, (_cat, direction, names) in enumerate(DROP_CATEGORIES):
        want = ">" if direction == "enter" or names == ("procexit",) else "<"
        for name in names:
            for info in EVENTS_BY_NAME.get(name, ()):
                if info.dir == want and info.code < GENERIC_DROP_KEY:
                    out[info.code] = i + 1
            sc = ppm_sc_code(name) if name in NATIVE_SYSCALLS and name not in CUSTOM_LAYOUTS else 0
            if want == "<" and 0 < sc < GENERIC_DROP_KEY:
                out[GENERIC_DROP_KEY + sc] = i + 1
    return out


#: the procexit event (sched_process_exit), selected like a syscall named "procexit"
PROCEXIT_CODE = 186

#: what the state engine needs to stay right (Falco's base set restricted to what the probe knows):
#: process lifecycle, credentials, cwd and every syscall that creates or destroys an fd
STATE_SYSCALLS = frozenset({
    "procexit", "clone", "clone3", "fork", "vfork", "execve", "execveat",
    "open", "openat", "openat2", "creat", "close", "socket", "bind", "connect", "accept", "accept4",
    "dup", "dup2", "dup3", "chdir", "fchdir", "setuid", "setgid", "setresuid", "setresgid",
    "pipe", "pipe2", "eventfd", "eventfd2", "socketpair", "signalfd", "signalfd4", "timerfd_create",
    "inotify_init", "inotify_init1", "epoll_create", "epoll_create1", "userfaultfd", "memfd_create",
    "fcntl", "prctl", "capset", "setsid", "setpgid", "unshare", "setns",
})

#: the minimum that keeps process and fd state usable when `base_syscalls.repair` is set
_REPAIR_BASE = frozenset({"procexit", "clone", "clone3", "fork", "vfork", "execve", "execveat"})
_FD_CREATORS = frozenset({"open", "openat", "openat2", "creat", "socket", "accept", "accept4", "dup",
                          "dup2", "dup3", "pipe", "pipe2", "memfd_create", "connect", "bind"})
_CREDS = frozenset({"setuid", "setgid", "setresuid", "setresgid"})

#: x86_64 syscall numbers (from the kernel's asm/unistd_64.h)
NATIVE_SYSCALLS: dict[str, int] = {
    "read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "fstat": 5, "lstat": 6, "poll": 7, "lseek": 8,
    "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12, "rt_sigaction": 13, "rt_sigprocmask": 14,
    "rt_sigreturn": 15, "ioctl": 16, "pread64": 17, "pwrite64": 18, "readv": 19, "writev": 20,
    "access": 21, "pipe": 22, "select": 23, "sched_yield": 24, "mremap": 25, "msync": 26, "mincore": 27,
    "madvise": 28, "shmget": 29, "shmat": 30, "shmctl": 31, "dup": 32, "dup2": 33, "pause": 34,
    "nanosleep": 35, "getitimer": 36, "alarm": 37, "setitimer": 38, "getpid": 39, "sendfile": 40,
    "socket": 41, "connect": 42, "accept": 43, "sendto": 44, "recvfrom": 45, "sendmsg": 46, "recvmsg": 47,
    "shutdown": 48, "bind": 49, "listen": 50, "getsockname": 51, "getpeername": 52, "socketpair": 53,
    "setsockopt": 54, "getsockopt": 55, "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "exit": 60,
    "wait4": 61, "kill": 62, "uname": 63, "semget": 64, "semop": 65, "semctl": 66, "shmdt": 67,
    "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "fcntl": 72, "flock": 73, "fsync": 74,
    "fdatasync": 75, "truncate": 76, "ftruncate": 77, "getdents": 78, "getcwd": 79, "chdir": 80,
    "fchdir": 81, "rename": 82, "mkdir": 83, "rmdir": 84, "creat": 85, "link": 86, "unlink": 87,
    "symlink": 88, "readlink": 89, "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93, "lchown": 94,
    "umask": 95, "gettimeofday": 96, "getrlimit": 97, "getrusage": 98, "sysinfo": 99, "times": 100,
    "ptrace": 101, "getuid": 102, "syslog": 103, "getgid": 104, "setuid": 105, "setgid": 106,
    "geteuid": 107, "getegid": 108, "setpgid": 109, "getppid": 110, "getpgrp": 111, "setsid": 112,
    "setreuid": 113, "setregid": 114, "getgroups": 115, "setgroups": 116, "setresuid": 117,
    "getresuid": 118, "setresgid": 119, "getresgid": 120, "getpgid": 121, "setfsuid": 122, "setfsgid": 123,
    "getsid": 124, "capget": 125, "capset": 126, "rt_sigpending": 127, "rt_sigtimedwait": 128,
    "rt_sigqueueinfo": 129, "rt_sigsuspend": 130, "sigaltstack": 131, "utime": 132, "mknod": 133,
    "uselib": 134, "personality": 135, "ustat": 136, "statfs": 137, "fstatfs": 138, "sysfs": 139,
    "getpriority": 140, "setpriority": 141, "sched_setparam": 142, "sched_getparam": 143,
    "sched_setscheduler": 144, "sched_getscheduler": 145, "sched_get_priority_max": 146,
    "sched_get_priority_min": 147, "sched_rr_get_interval": 148, "mlock": 149, "munlock": 150,
    "mlockall": 151, "munlockall": 152, "vhangup": 153, "modify_ldt": 154, "pivot_root": 155,
    "_sysctl": 156, "prctl": 157, "arch_prctl": 158, "adjtimex": 159, "setrlimit": 160, "chroot": 161,
    "sync": 162, "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167,
    "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173,
    "create_module": 174, "init_module": 175, "delete_module": 176, "get_kernel_syms": 177,
    "query_module": 178, "quotactl": 179, "nfsservctl": 180, "getpmsg": 181, "putpmsg": 182,
    "afs_syscall": 183, "tuxcall": 184, "security": 185, "gettid": 186, "readahead": 187, "setxattr": 188,
    "lsetxattr": 189, "fsetxattr": 190, "getxattr": 191, "lgetxattr": 192, "fgetxattr": 193,
    "listxattr": 194, "llistxattr": 195, "flistxattr": 196, "removexattr": 197, "lremovexattr": 198,
    "fremovexattr": 199, "tkill": 200, "time": 201, "futex": 202, "sched_setaffinity": 203,
    "sched_getaffinity": 204, "set_thread_area": 205, "io_setup": 206, "io_destroy": 207,
    "io_getevents": 208, "io_submit": 209, "io_cancel": 210, "get_thread_area": 211, "lookup_dcookie": 212,
    "epoll_create": 213, "epoll_ctl_old": 214, "epoll_wait_old": 215, "remap_file_pages": 216,
    "getdents64": 217, "set_tid_address": 218, "restart_syscall": 219, "semtimedop": 220, "fadvise64": 221,
    "timer_create": 222, "timer_settime": 223, "timer_gettime": 224, "timer_getoverrun": 225,
    "timer_delete": 226, "clock_settime": 227, "clock_gettime": 228, "clock_getres": 229,
    "clock_nanosleep": 230, "exit_group": 231, "epoll_wait": 232, "epoll_ctl": 233, "tgkill": 234,
    "utimes": 235, "vserver": 236, "mbind": 237, "set_mempolicy": 238, "get_mempolicy": 239,
    "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
    "mq_getsetattr": 245, "kexec_load": 246, "waitid": 247, "add_key": 248, "request_key": 249,
    "keyctl": 250, "ioprio_set": 251, "ioprio_get": 252, "inotify_init": 253, "inotify_add_watch": 254,
    "inotify_rm_watch": 255, "migrate_pages": 256, "openat": 257, "mkdirat": 258, "mknodat": 259,
    "fchownat": 260, "futimesat": 261, "newfstatat": 262, "unlinkat": 263, "renameat": 264, "linkat": 265,
    "symlinkat": 266, "readlinkat": 267, "fchmodat": 268, "faccessat": 269, "pselect6": 270, "ppoll": 271,
    "unshare": 272, "set_robust_list": 273, "get_robust_list": 274, "splice": 275, "tee": 276,
    "sync_file_range": 277, "vmsplice": 278, "move_pages": 279, "utimensat": 280, "epoll_pwait": 281,
    "signalfd": 282, "timerfd_create": 283, "eventfd": 284, "fallocate": 285, "timerfd_settime": 286,
    "timerfd_gettime": 287, "accept4": 288, "signalfd4": 289, "eventfd2": 290, "epoll_create1": 291,
    "dup3": 292, "pipe2": 293, "inotify_init1": 294, "preadv": 295, "pwritev": 296,
    "rt_tgsigqueueinfo": 297, "perf_event_open": 298, "recvmmsg": 299, "fanotify_init": 300,
    "fanotify_mark": 301, "prlimit64": 302, "name_to_handle_at": 303, "open_by_handle_at": 304,
    "clock_adjtime": 305, "syncfs": 306, "sendmmsg": 307, "setns": 308, "getcpu": 309,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "sched_setattr": 314, "sched_getattr": 315, "renameat2": 316, "seccomp": 317, "getrandom": 318,
    "memfd_create": 319, "kexec_file_load": 320, "bpf": 321, "execveat": 322, "userfaultfd": 323,
    "membarrier": 324, "mlock2": 325, "copy_file_range": 326, "preadv2": 327, "pwritev2": 328,
    "pkey_mprotect": 329, "pkey_alloc": 330, "pkey_free": 331, "statx": 332, "io_pgetevents": 333,
    "rseq": 334, "pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435, "close_range": 436, "openat2": 437,
    "pidfd_getfd": 438, "faccessat2": 439, "process_madvise": 440, "epoll_pwait2": 441,
    "mount_setattr": 442, "quotactl_fd": 443, "landlock_create_ruleset": 444, "landlock_add_rule": 445,
    "landlock_restrict_self": 446, "memfd_secret": 447, "process_mrelease": 448, "futex_waitv": 449,
    "set_mempolicy_home_node": 450,
}


@dataclass(frozen=True, slots=True)
class Spec:
    """One ``struct sc_spec`` of the probe."""

    enter_type: int
    exit_type: int
    enter: tuple[Insn, ...]
    exit: tuple[Insn, ...]
    flags: int

    _FMT = struct.Struct("<HHBBBBI" + "BBH" * (2 * MAX_INSN))

    def pack(self) -> bytes:
        def pad(ins: tuple[Insn, ...]) -> list[int]:
            out: list[int] = []
            for k, a, x in ins + ((0, 0, 0),) * (MAX_INSN - len(ins)):
                out += [k, a, x]
            return out

        return self._FMT.pack(self.enter_type, self.exit_type, len(self.enter), len(self.exit),
                              nparams(self.enter), nparams(self.exit), self.flags,
                              *pad(self.enter), *pad(self.exit))


SPEC_SIZE = Spec._FMT.size


def nparams(ins: Iterable[Insn]) -> int:
    return sum(_NPARAMS.get(k, 1) for k, _, _ in ins)


def _event_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from rae.syscall import event_table_data as d

    return tuple(e[0] for e in d.EVENTS), tuple(d.SYSCALL_NAMES)


def event_name_of(syscall: str) -> str:
    """The event type (``evt.type``) a syscall's events carry: ``accept4`` → ``accept``…"""
    if syscall in CUSTOM_LAYOUTS:
        return _event_names()[0][CUSTOM_LAYOUTS[syscall][1]]
    return syscall


def ppm_sc_code(syscall: str) -> int:
    """The PPM_SC code of a syscall for the generic event's ``ID`` (0: unknown to libs 0.9.0)."""
    names = _event_names()[1]
    try:
        return names.index(syscall)
    except ValueError:
        return 0


def build_specs(selected: Iterable[str], skip_enter: Iterable[str] = ()) -> dict[int, bytes]:
    """``specs`` map entries (key → packed value) for the selected syscalls (and ``procexit``);
    the syscalls of ``skip_enter`` that are in `EXIT_COMPLETE` emit their exit event only."""
    skip = set(skip_enter) & EXIT_COMPLETE
    out: dict[int, bytes] = {}
    for name in selected:
        if name == "procexit":
            out[SPEC_PROCEXIT] = Spec(PROCEXIT_CODE, 0, (), (), SPEC_ENTER).pack()
            continue
        nr = NATIVE_SYSCALLS.get(name)
        if nr is None or nr >= SPEC_PROCEXIT:
            continue
        if name in CUSTOM_LAYOUTS:
            ecode, xcode, ein, xin, extra = CUSTOM_LAYOUTS[name]
            enter = 0 if name in skip else SPEC_ENTER
            out[nr] = Spec(ecode, xcode, ein, xin, enter | SPEC_EXIT | extra).pack()
        else:
            sc = ppm_sc_code(name)
            out[nr] = Spec(0, 1, (C16(sc), C16(nr)), (C16(sc),), SPEC_ENTER | SPEC_EXIT).pack()
    return out


def exit_codes(syscalls: Iterable[str]) -> set[int]:
    """The exit event codes of syscalls with a dedicated layout (for `State.set_exit_only`)."""
    return {CUSTOM_LAYOUTS[s][1] for s in syscalls if s in CUSTOM_LAYOUTS}


def select_syscalls(
    rule_evtypes: Iterable[str] | None,
    custom_set: Iterable[str] = (),
    repair: bool = False,
    all_syscalls: bool = False,
) -> set[str]:
    """Syscalls to capture, with Falco's ``base_syscalls`` semantics.

    ``rule_evtypes`` are the event types the loaded rules need (None: every event type).
    The base set is the state set (default), the minimal repair set (``repair``), or the user's
    ``custom_set`` (its ``!name`` entries remove names); ``all_syscalls`` selects everything.
    Names are event types (``accept`` selects accept and accept4) or syscall names.
    """
    if all_syscalls or rule_evtypes is None:
        wanted: set[str] = set(NATIVE_SYSCALLS) | {"procexit"}
        return wanted
    rules = set(rule_evtypes)
    custom = [c.strip() for c in custom_set if c.strip()]
    removed = {c[1:] for c in custom if c.startswith("!")}
    added = {c for c in custom if not c.startswith("!")}
    if repair:
        base = set(_REPAIR_BASE)
        names = rules | added
        if names & _FD_CREATORS or any(event_name_of(s) in names for s in _FD_CREATORS):
            base |= {"close", "dup", "dup2", "dup3"}
        if names & _CREDS:
            base |= _CREDS
        base |= {"chdir", "fchdir"}
    elif added or removed:
        base = set()
    else:
        base = set(STATE_SYSCALLS)
    names = (base | added | rules) - removed
    out = set()
    for sc in set(NATIVE_SYSCALLS) | {"procexit"}:
        if sc in names or event_name_of(sc) in names:
            out.add(sc)
    return out


def _bits(pairs: Iterable[tuple[int, str]], table: str) -> bytes:
    from rae.syscall import event_table_data as d

    ppm = dict(d.FLAG_TABLES[table])
    words = [0] * 64
    for native, name in pairs:
        words[native.bit_length() - 1] |= ppm[name]
    return struct.pack("<64I", *words)


_O = {  # x86_64 open(2) flags → file_flags names (the access mode is converted apart)
    0o100: "O_CREAT", 0o200: "O_EXCL", 0o1000: "O_TRUNC", 0o2000: "O_APPEND", 0o4000: "O_NONBLOCK",
    0o10000: "O_DSYNC", 0o40000: "O_DIRECT", 0o100000: "O_LARGEFILE", 0o200000: "O_DIRECTORY",
    0o2000000: "O_CLOEXEC", 0o4000000: "O_SYNC", 0o20000000: "O_TMPFILE",
}
_CL = {
    0x100: "CLONE_VM", 0x200: "CLONE_FS", 0x400: "CLONE_FILES", 0x800: "CLONE_SIGHAND",
    0x2000: "CLONE_PTRACE", 0x4000: "CLONE_VFORK", 0x8000: "CLONE_PARENT", 0x10000: "CLONE_THREAD",
    0x20000: "CLONE_NEWNS", 0x40000: "CLONE_SYSVSEM", 0x80000: "CLONE_SETTLS",
    0x100000: "CLONE_PARENT_SETTID", 0x200000: "CLONE_CHILD_CLEARTID", 0x800000: "CLONE_UNTRACED",
    0x1000000: "CLONE_CHILD_SETTID", 0x2000000: "CLONE_NEWCGROUP", 0x4000000: "CLONE_NEWUTS",
    0x8000000: "CLONE_NEWIPC", 0x10000000: "CLONE_NEWUSER", 0x20000000: "CLONE_NEWPID",
    0x40000000: "CLONE_NEWNET", 0x80000000: "CLONE_IO",
}
_EXECVEAT = {0x1000: "AT_EMPTY_PATH", 0x100: "AT_SYMLINK_NOFOLLOW"}
_RESOLVE = {1: "RESOLVE_NO_XDEV", 2: "RESOLVE_NO_MAGICLINKS", 4: "RESOLVE_NO_SYMLINKS", 8: "RESOLVE_BENEATH",
            0x10: "RESOLVE_IN_ROOT", 0x20: "RESOLVE_CACHED"}
_PTRACE = {
    0: "TRACEME", 1: "PEEKTEXT", 2: "PEEKDATA", 3: "PEEKUSR", 4: "POKETEXT", 5: "POKEDATA", 6: "POKEUSR",
    7: "CONT", 8: "KILL", 9: "SINGLESTEP", 12: "GETREGS", 13: "SETREGS", 14: "GETFPREGS", 15: "SETFPREGS",
    16: "ATTACH", 17: "DETACH", 18: "GETFPXREGS", 19: "SETFPXREGS", 24: "SYSCALL", 25: "GET_THREAD_AREA",
    26: "SET_THREAD_AREA", 30: "ARCH_PRCTL", 31: "SYSEMU", 32: "SYSEMU_SINGLESTEP", 33: "SINGLEBLOCK",
    0x4200: "SETOPTIONS", 0x4201: "GETEVENTMSG", 0x4202: "GETSIGINFO", 0x4203: "SETSIGINFO",
    0x4204: "GETREGSET", 0x4205: "SETREGSET", 0x4206: "SEIZE", 0x4207: "INTERRUPT", 0x4208: "LISTEN",
    0x4209: "PEEKSIGINFO", 0x420A: "GETSIGMASK", 0x420B: "SETSIGMASK",
}


def flag_table_blobs() -> dict[int, bytes]:
    """``flag_tables`` map entries: native bit → scap flag value, per table slot."""
    return {
        FT_OPEN: _bits(_O.items(), "file_flags"),
        FT_CLONE: _bits(_CL.items(), "clone_flags"),
        FT_EXECVEAT: _bits(_EXECVEAT.items(), "execveat_flags"),
        FT_RESOLVE: _bits(_RESOLVE.items(), "openat2_flags"),
    }


def enum_table_entries() -> dict[int, int]:
    """``enum_tables`` map entries: (table << 32 | native value) → scap value."""
    from rae.syscall import event_table_data as d

    ppm = dict(d.FLAG_TABLES["ptrace_requests"])
    return {(ET_PTRACE << 32) | native: ppm["PTRACE_" + name] for native, name in _PTRACE.items()}
