"""Every field of the ``syscall`` source: the current Falco list plus the Falco 0.33-era classes.

Names, types and argument forms follow libsinsp's filterchecks (``sinsp_filtercheck_*.cpp``)
and the container plugin; the descriptions are rae's own. Fields that Falco has since dropped
or flagged (``evt.dir``, ``evt.latency*``, the ``syslog``/``mesos``/``span``/``evtin`` classes, the
legacy ``k8s.*`` objects) are kept with ``deprecated=True`` so that old rules still validate.
See docs/fields.md.
"""

from __future__ import annotations

from dataclasses import replace

from rae.fields.base import EVT_TIME_SPECS, ArgMode, FieldSpec
from rae.syscall.event_table import EVENTS, EVENTS_BY_NAME, SYSCALL_NAMES

__all__ = ["EVENT_PARAMS", "EVENT_TYPES", "SPECS"]

_A = ArgMode


def _f(name: str, type_: str, desc: str, arg: ArgMode = ArgMode.NONE, **kw: bool) -> FieldSpec:
    return FieldSpec(name=name, type=type_, desc=desc, arg=arg, **kw)


def _cls(category: str, specs: list[FieldSpec], *, deprecated: bool = False) -> list[FieldSpec]:
    return [replace(s, category=category, deprecated=s.deprecated or deprecated) for s in specs]


_EVT = _cls(
    "evt",
    [
        *EVT_TIME_SPECS,
        _f("evt.reltime", "RELTIME", "nanoseconds since the start of the capture"),
        _f("evt.reltime.s", "RELTIME", "seconds part of evt.reltime"),
        _f("evt.reltime.ns", "RELTIME", "nanoseconds part of evt.reltime"),
        _f("evt.pluginname", "CHARBUF", "name of the plugin that produced the event, if any"),
        _f("evt.plugininfo", "CHARBUF", "plugin-provided summary of the event, if any"),
        _f("evt.source", "CHARBUF", "name of the event source (syscall, k8s_audit, ...)"),
        _f("evt.is_async", "BOOL", "true for asynchronous (meta) events"),
        _f("evt.asynctype", "CHARBUF", "name of an asynchronous event type"),
        _f("evt.hostname", "CHARBUF", "host name of the machine that produced the event"),
    ],
)

_EVT_SYSCALL = _cls(
    "evt (for system calls)",
    [
        _f("evt.latency", "RELTIME", "time between an enter event and its exit event, ns", deprecated=True),
        _f("evt.latency.s", "RELTIME", "seconds part of evt.latency", deprecated=True),
        _f("evt.latency.ns", "RELTIME", "nanoseconds part of evt.latency", deprecated=True),
        _f("evt.latency.human", "CHARBUF", "evt.latency as readable text", deprecated=True),
        _f("evt.deltatime", "RELTIME", "time since the previous event, ns"),
        _f("evt.deltatime.s", "RELTIME", "seconds part of evt.deltatime"),
        _f("evt.deltatime.ns", "RELTIME", "nanoseconds part of evt.deltatime"),
        _f("evt.dir", "CHARBUF", "direction: '>' for enter events, '<' for exit events", deprecated=True),
        _f("evt.type", "CHARBUF", "event type name (open, execve, ...)"),
        _f(
            "evt.type.is",
            "UINT32",
            "1 when the event has the type named after the dot (evt.type.is.open), else 0",
            _A.KEY_REQUIRED,
            dotted_arg=True,
            bracket_arg=False,
        ),
        _f("syscall.type", "CHARBUF", "system call name for syscall events, <NA> for the others"),
        _f("evt.category", "CHARBUF", "event category (file, net, process, ...)"),
        _f("evt.cpu", "INT16", "CPU on which the event happened"),
        _f("evt.args", "CHARBUF", "all event arguments as one string"),
        _f(
            "evt.arg",
            "CHARBUF",
            "one event argument, rendered: by name (evt.arg.fd) or by position (evt.arg[0])",
            _A.INDEX_OR_KEY_REQUIRED,
            dotted_arg=True,
            bracket_index_only=True,
            param_arg=True,
        ),
        _f(
            "evt.rawarg",
            "DYNAMIC",
            "one event argument by name (evt.rawarg.res), unrendered and typed as the argument",
            _A.KEY_REQUIRED,
            dotted_arg=True,
            bracket_arg=False,
            param_arg=True,
        ),
        _f("evt.info", "CHARBUF", "argument string, or a readable summary for some event types"),
        _f("evt.buffer", "BYTEBUF", "binary data buffer of I/O events"),
        _f("evt.buflen", "UINT64", "length of the data buffer of I/O events"),
        _f("evt.res", "CHARBUF", "result: SUCCESS or the error code name"),
        _f("evt.rawres", "INT64", "result as a number"),
        _f("evt.failed", "BOOL", "true when the call returned an error"),
        _f("evt.is_io", "BOOL", "true for events that read or write data"),
        _f("evt.is_io_read", "BOOL", "true for events that read data"),
        _f("evt.is_io_write", "BOOL", "true for events that write data"),
        _f("evt.io_dir", "CHARBUF", "'r' for reads, 'w' for writes"),
        _f("evt.is_wait", "BOOL", "true for events that make the thread wait"),
        _f("evt.wait_latency", "RELTIME", "time spent waiting by waiting events, ns", deprecated=True),
        _f("evt.is_syslog", "BOOL", "true for writes to /dev/log"),
        _f("evt.count", "UINT32", "1 for every event (for counting)"),
        _f("evt.count.error", "UINT32", "1 for events that returned an error"),
        _f("evt.count.error.file", "UINT32", "1 for failed file events"),
        _f("evt.count.error.net", "UINT32", "1 for failed network events"),
        _f("evt.count.error.memory", "UINT32", "1 for failed memory events"),
        _f("evt.count.error.other", "UINT32", "1 for failed events of other categories"),
        _f("evt.count.exit", "UINT32", "1 for exit events"),
        _f(
            "evt.around",
            "UINT64",
            "filter only: events within the given milliseconds around a timestamp (evt.around[ms]=ts)",
            _A.INDEX_REQUIRED,
        ),
        _f(
            "evt.abspath",
            "CHARBUF",
            "absolute path of the *at() calls' path argument; .src / .dst for the rename pair",
            _A.KEY_OPTIONAL,
            dotted_arg=True,
            bracket_arg=False,
        ),
        _f("evt.is_open_read", "BOOL", "true for open calls with read access"),
        _f("evt.is_open_write", "BOOL", "true for open calls with write access"),
        _f("evt.is_open_exec", "BOOL", "true for open calls that create a file with execute permission"),
        _f("evt.is_open_create", "BOOL", "true for open calls that created the file"),
    ],
)

_ANC = {"arg": _A.INDEX_OPTIONAL, "is_list": True}  # ancestor fields: [N] or any ancestor

_PROCESS = _cls(
    "process",
    [
        _f("proc.exe", "CHARBUF", "first command-line argument (argv[0])"),
        _f("proc.pexe", "CHARBUF", "proc.exe of the parent"),
        _f("proc.aexe", "CHARBUF", "proc.exe of ancestor [N]; without N, any ancestor", **_ANC),
        _f("proc.exepath", "CHARBUF", "full path of the executable"),
        _f("proc.pexepath", "CHARBUF", "proc.exepath of the parent"),
        _f("proc.aexepath", "CHARBUF", "proc.exepath of ancestor [N]; without N, any ancestor", **_ANC),
        _f("proc.name", "CHARBUF", "process name (comm, up to 16 characters)"),
        _f("proc.pname", "CHARBUF", "proc.name of the parent"),
        _f("proc.aname", "CHARBUF", "proc.name of ancestor [N]; without N, any ancestor", **_ANC),
        _f("proc.args", "CHARBUF", "arguments without argv[0]; [N] picks one", _A.INDEX_OPTIONAL),
        _f("proc.aargs", "CHARBUF", "proc.args of ancestor [N]; without N, any ancestor", **_ANC),
        _f("proc.cmdline", "CHARBUF", "process name followed by its arguments"),
        _f("proc.pcmdline", "CHARBUF", "proc.cmdline of the parent"),
        _f("proc.acmdline", "CHARBUF", "proc.cmdline of ancestor [N]; without N, any ancestor", **_ANC),
        _f("proc.cmdnargs", "UINT64", "number of command-line arguments"),
        _f("proc.cmdlenargs", "UINT64", "total length of the command-line arguments"),
        _f("proc.exeline", "CHARBUF", "argv[0] followed by the arguments"),
        _f("proc.env", "CHARBUF", "environment as one string; [NAME] gives one variable", _A.KEY_OPTIONAL),
        _f(
            "proc.aenv",
            "CHARBUF",
            "environment of ancestor [N], or the first ancestor value of variable [NAME]",
            _A.INDEX_OR_KEY,
            is_list=True,
        ),
        _f("proc.cwd", "CHARBUF", "current working directory"),
        _f("proc.loginshellid", "INT64", "pid of the oldest shell among the ancestors"),
        _f("proc.tty", "UINT32", "controlling terminal number, 0 without one"),
        _f("proc.pid", "INT64", "process id"),
        _f("proc.ppid", "INT64", "parent process id"),
        _f("proc.apid", "INT64", "pid of ancestor [N]; without N, any ancestor", **_ANC),
        _f("proc.vpid", "INT64", "process id as seen in its pid namespace"),
        _f("proc.pvpid", "INT64", "parent process id as seen in its pid namespace"),
        _f("proc.sid", "INT64", "session id"),
        _f("proc.sname", "CHARBUF", "name of the session leader"),
        _f("proc.sid.exe", "CHARBUF", "proc.exe of the session leader"),
        _f("proc.sid.exepath", "CHARBUF", "proc.exepath of the session leader"),
        _f("proc.vpgid", "INT64", "process group id as seen in its pid namespace"),
        _f("proc.vpgid.name", "CHARBUF", "name of the process group leader (namespace view)"),
        _f("proc.vpgid.exe", "CHARBUF", "proc.exe of the process group leader (namespace view)"),
        _f("proc.vpgid.exepath", "CHARBUF", "proc.exepath of the process group leader (namespace view)"),
        _f("proc.pgid", "INT64", "process group id"),
        _f("proc.pgid.name", "CHARBUF", "name of the process group leader"),
        _f("proc.pgid.exe", "CHARBUF", "proc.exe of the process group leader"),
        _f("proc.pgid.exepath", "CHARBUF", "proc.exepath of the process group leader"),
        _f("proc.duration", "RELTIME", "nanoseconds since the process started"),
        _f("proc.ppid.duration", "RELTIME", "nanoseconds since the parent started"),
        _f("proc.pid.ts", "RELTIME", "start time of the process, ns since the epoch"),
        _f("proc.ppid.ts", "RELTIME", "start time of the parent, ns since the epoch"),
        _f("proc.is_exe_writable", "BOOL", "true when the executable is writable by the process user"),
        _f("proc.is_exe_upper_layer", "BOOL", "true when the executable is in an overlayfs upper layer"),
        _f("proc.is_exe_lower_layer", "BOOL", "true when the executable is in an overlayfs lower layer"),
        _f("proc.is_exe_from_memfd", "BOOL", "true when the executable is a memfd (fileless execution)"),
        _f("proc.is_sid_leader", "BOOL", "true when the process leads its session"),
        _f("proc.is_vpgid_leader", "BOOL", "true when the process leads its group (namespace view)"),
        _f("proc.is_pgid_leader", "BOOL", "true when the process leads its process group"),
        _f("proc.exe_ino", "INT64", "inode number of the executable"),
        _f("proc.exe_ino.ctime", "ABSTIME", "last status change time of the executable's inode"),
        _f("proc.exe_ino.mtime", "ABSTIME", "last modification time of the executable's inode"),
        _f(
            "proc.exe_ino.ctime_duration_proc_start",
            "ABSTIME",
            "time from the executable's inode change to the process start, ns",
        ),
        _f(
            "proc.exe_ino.ctime_duration_pidns_start",
            "ABSTIME",
            "time from the pid namespace start to the executable's inode change, ns",
        ),
        _f("proc.pidns_init_start_ts", "UINT64", "start time of the pid namespace's init process"),
        _f("thread.cap_permitted", "CHARBUF", "permitted capabilities of the thread"),
        _f("thread.cap_inheritable", "CHARBUF", "inheritable capabilities of the thread"),
        _f("thread.cap_effective", "CHARBUF", "effective capabilities of the thread"),
        _f("proc.fdopencount", "UINT64", "number of open file descriptors"),
        _f("proc.fdlimit", "INT64", "maximum number of file descriptors"),
        _f("proc.fdusage", "DOUBLE", "open descriptors as a percentage of the limit"),
        _f("proc.vmsize", "UINT64", "total virtual memory, KiB"),
        _f("proc.vmrss", "UINT64", "resident memory, KiB"),
        _f("proc.vmswap", "UINT64", "swapped memory, KiB"),
        _f("thread.pfmajor", "UINT64", "major page faults of the thread"),
        _f("thread.pfminor", "UINT64", "minor page faults of the thread"),
        _f("thread.tid", "INT64", "thread id"),
        _f("thread.ismain", "BOOL", "true for the main thread of a process"),
        _f("thread.vtid", "INT64", "thread id as seen in its pid namespace"),
        _f("thread.exectime", "RELTIME", "CPU time of the last scheduled slice"),
        _f("thread.totexectime", "RELTIME", "total CPU time of the thread so far"),
        _f("thread.cgroups", "CHARBUF", "all cgroups of the thread as one string"),
        _f(
            "thread.cgroup",
            "CHARBUF",
            "cgroup of one subsystem, named after the dot (thread.cgroup.cpuacct)",
            _A.KEY_REQUIRED,
            dotted_arg=True,
            bracket_arg=False,
        ),
        _f("proc.nthreads", "UINT64", "number of threads, the main one included"),
        _f("proc.nchilds", "UINT64", "number of threads, the main one excluded"),
        _f("thread.cpu", "DOUBLE", "CPU use of the thread"),
        _f("thread.cpu.user", "DOUBLE", "user CPU use of the thread"),
        _f("thread.cpu.system", "DOUBLE", "system CPU use of the thread"),
        _f("thread.vmsize", "UINT64", "virtual memory of the main thread, KiB"),
        _f("thread.vmrss", "UINT64", "resident memory of the main thread, KiB"),
        _f("proc.stdin.type", "CHARBUF", "descriptor type of standard input"),
        _f("proc.stdout.type", "CHARBUF", "descriptor type of standard output"),
        _f("proc.stderr.type", "CHARBUF", "descriptor type of standard error"),
        _f("proc.stdin.name", "CHARBUF", "descriptor name of standard input"),
        _f("proc.stdout.name", "CHARBUF", "descriptor name of standard output"),
        _f("proc.stderr.name", "CHARBUF", "descriptor name of standard error"),
    ],
)

_USER = _cls(
    "user",
    [
        _f("user.uid", "UINT32", "user id"),
        _f("user.name", "CHARBUF", "user name"),
        _f("user.homedir", "CHARBUF", "home directory of the user"),
        _f("user.shell", "CHARBUF", "login shell of the user"),
        _f("user.loginuid", "INT64", "audit login user id; -1 when unset"),
        _f("user.loginname", "CHARBUF", "name of the audit login user"),
    ],
)

_GROUP = _cls(
    "group",
    [
        _f("group.gid", "UINT32", "group id"),
        _f("group.name", "CHARBUF", "group name"),
    ],
)

_FD = _cls(
    "fd",
    [
        _f("fd.num", "INT64", "file descriptor number"),
        _f("fd.type", "CHARBUF", "descriptor type (file, directory, ipv4, ipv6, unix, pipe, ...)"),
        _f("fd.typechar", "CHARBUF", "descriptor type as one character (f, 4, 6, u, p, ...)"),
        _f("fd.name", "CHARBUF", "full name: a path, or a connection tuple for sockets"),
        _f("fd.directory", "CHARBUF", "directory part of fd.name for files"),
        _f("fd.filename", "CHARBUF", "file name part of fd.name, without the directory"),
        _f("fd.ip", "IPADDR", "filter only: client or server address"),
        _f("fd.cip", "IPADDR", "client address"),
        _f("fd.sip", "IPADDR", "server address"),
        _f("fd.lip", "IPADDR", "local address"),
        _f("fd.rip", "IPADDR", "remote address"),
        _f("fd.port", "PORT", "filter only: client or server port"),
        _f("fd.cport", "PORT", "client port"),
        _f("fd.sport", "PORT", "server port"),
        _f("fd.lport", "PORT", "local port"),
        _f("fd.rport", "PORT", "remote port"),
        _f("fd.l4proto", "CHARBUF", "layer-4 protocol (tcp, udp, icmp, raw)"),
        _f("fd.sockfamily", "CHARBUF", "socket family (ip or unix)"),
        _f("fd.is_server", "BOOL", "true when the process is the server side of the connection"),
        _f("fd.uid", "CHARBUF", "unique id of the descriptor (thread id and fd number)"),
        _f("fd.containername", "CHARBUF", "container id followed by fd.name"),
        _f("fd.containerdirectory", "CHARBUF", "container id followed by fd.directory"),
        _f("fd.proto", "PORT", "filter only: client or server protocol"),
        _f("fd.cproto", "CHARBUF", "client protocol name"),
        _f("fd.sproto", "CHARBUF", "server protocol name"),
        _f("fd.lproto", "CHARBUF", "local protocol name"),
        _f("fd.rproto", "CHARBUF", "remote protocol name"),
        _f("fd.net", "IPNET", "filter only: client or server network (CIDR)"),
        _f("fd.cnet", "IPNET", "filter only: client network (CIDR)"),
        _f("fd.snet", "IPNET", "filter only: server network (CIDR)"),
        _f("fd.lnet", "IPNET", "filter only: local network (CIDR)"),
        _f("fd.rnet", "IPNET", "filter only: remote network (CIDR)"),
        _f("fd.connected", "BOOL", "true when the socket is connected"),
        _f("fd.name_changed", "BOOL", "true when the event changed fd.name (connect, accept, ...)"),
        _f("fd.cip.name", "CHARBUF", "domain name of the client address"),
        _f("fd.sip.name", "CHARBUF", "domain name of the server address"),
        _f("fd.lip.name", "CHARBUF", "domain name of the local address"),
        _f("fd.rip.name", "CHARBUF", "domain name of the remote address"),
        _f("fd.dev", "INT32", "device number of the file's file system"),
        _f("fd.dev.major", "INT32", "major device number"),
        _f("fd.dev.minor", "INT32", "minor device number"),
        _f("fd.ino", "INT64", "inode number of the file"),
        _f("fd.nameraw", "CHARBUF", "fd.name as given by the caller, not normalised"),
        _f(
            "fd.types",
            "CHARBUF",
            "types of the event's descriptors; fd.types[N] the type of descriptor N",
            _A.INDEX_OPTIONAL,
            is_list=True,
        ),
        _f("fd.is_upper_layer", "BOOL", "true when the file is in an overlayfs upper layer"),
        _f("fd.is_lower_layer", "BOOL", "true when the file is in an overlayfs lower layer"),
    ],
)

_FS_PATH = _cls(
    "fs.path",
    [
        _f("fs.path.name", "CHARBUF", "path of a file-system call, resolved to an absolute path"),
        _f("fs.path.nameraw", "CHARBUF", "path of a file-system call as given"),
        _f("fs.path.source", "CHARBUF", "source path of a two-path call, absolute"),
        _f("fs.path.sourceraw", "CHARBUF", "source path of a two-path call as given"),
        _f("fs.path.target", "CHARBUF", "target path of a two-path call, absolute"),
        _f("fs.path.targetraw", "CHARBUF", "target path of a two-path call as given"),
    ],
)

_FDLIST = _cls(
    "fdlist",
    [
        _f("fdlist.nums", "CHARBUF", "comma-separated descriptor numbers of a poll event"),
        _f("fdlist.names", "CHARBUF", "comma-separated descriptor names of a poll event"),
        _f("fdlist.cips", "CHARBUF", "comma-separated client addresses of a poll event"),
        _f("fdlist.sips", "CHARBUF", "comma-separated server addresses of a poll event"),
        _f("fdlist.cports", "CHARBUF", "comma-separated client ports of a poll event"),
        _f("fdlist.sports", "CHARBUF", "comma-separated server ports of a poll event"),
    ],
)

_MOUNT = {"arg": _A.INDEX_OR_KEY_REQUIRED}  # [N] or [source/dest path glob]
_LABEL = {"arg": _A.KEY_REQUIRED, "dotted_arg": True}  # [key] or .key
_OLD = {"deprecated": True}

_CONTAINER = _cls(
    "container (plugin)",
    [
        _f("container.id", "CHARBUF", "short (12-character) container id, 'host' for host processes"),
        _f("container.full_id", "CHARBUF", "full container id"),
        _f("container.name", "CHARBUF", "container name, 'host' for host processes"),
        _f("container.image", "CHARBUF", "container image name"),
        _f("container.image.id", "CHARBUF", "container image id"),
        _f("container.type", "CHARBUF", "container runtime type (docker, containerd, cri-o, ...)"),
        _f("container.privileged", "BOOL", "true for privileged containers"),
        _f("container.mounts", "CHARBUF", "all mounts, each as source:dest:mode:rdwr:propagation"),
        _f("container.mount", "CHARBUF", "one mount, by index or source path glob", **_MOUNT),
        _f("container.mount.source", "CHARBUF", "mount source, by index or destination glob", **_MOUNT),
        _f("container.mount.dest", "CHARBUF", "mount destination, by index or source glob", **_MOUNT),
        _f("container.mount.mode", "CHARBUF", "mount mode, by index or source glob", **_MOUNT),
        _f("container.mount.rdwr", "CHARBUF", "mount read/write flag, by index or source glob", **_MOUNT),
        _f("container.mount.propagation", "CHARBUF", "mount propagation, by index or source glob", **_MOUNT),
        _f("container.image.repository", "CHARBUF", "image repository"),
        _f("container.image.tag", "CHARBUF", "image tag"),
        _f("container.image.digest", "CHARBUF", "image registry digest"),
        _f("container.healthcheck", "CHARBUF", "health check command of the container", **_OLD),
        _f("container.liveness_probe", "CHARBUF", "liveness probe command of the container", **_OLD),
        _f("container.readiness_probe", "CHARBUF", "readiness probe command of the container", **_OLD),
        _f("container.start_ts", "ABSTIME", "container start time, ns since the epoch"),
        _f("container.duration", "RELTIME", "nanoseconds since the container started"),
        _f("container.ip", "CHARBUF", "primary IPv4 address of the container"),
        _f("container.cni.json", "CHARBUF", "CNI result of the container's pod, as JSON"),
        _f("container.host_pid", "BOOL", "true when the container shares the host pid namespace"),
        _f("container.host_network", "BOOL", "true when the container shares the host network"),
        _f("container.host_ipc", "BOOL", "true when the container shares the host IPC namespace"),
        _f("container.label", "CHARBUF", "one container label ([key] or .key)", **_LABEL),
        _f("container.labels", "CHARBUF", "all container labels as key:value pairs"),
        _f("proc.is_container_healthcheck", "BOOL", "true for the container's health check", **_OLD),
        _f("proc.is_container_liveness_probe", "BOOL", "true for the container's liveness probe", **_OLD),
        _f("proc.is_container_readiness_probe", "BOOL", "true for the container's readiness probe", **_OLD),
        _f("k8s.pod.name", "CHARBUF", "Kubernetes pod name"),
        _f("k8s.ns.name", "CHARBUF", "Kubernetes namespace name"),
        _f("k8s.pod.id", "CHARBUF", "legacy name of k8s.pod.uid"),
        _f("k8s.pod.uid", "CHARBUF", "Kubernetes pod UID"),
        _f("k8s.pod.sandbox_id", "CHARBUF", "short (12-character) pod sandbox id"),
        _f("k8s.pod.full_sandbox_id", "CHARBUF", "full pod sandbox id"),
        _f("k8s.pod.label", "CHARBUF", "one pod label ([key] or .key)", **_LABEL),
        _f("k8s.pod.labels", "CHARBUF", "all pod labels as key:value pairs"),
        _f("k8s.pod.ip", "CHARBUF", "pod IPv4 address"),
        _f("k8s.pod.cni.json", "CHARBUF", "CNI result of the pod, as JSON"),
        _f("k8s.rc.name", "CHARBUF", "replication controller name", **_OLD),
        _f("k8s.rc.id", "CHARBUF", "replication controller id", **_OLD),
        _f("k8s.rc.label", "CHARBUF", "one replication controller label", **_LABEL, **_OLD),
        _f("k8s.rc.labels", "CHARBUF", "all replication controller labels", **_OLD),
        _f("k8s.svc.name", "CHARBUF", "service name", **_OLD),
        _f("k8s.svc.id", "CHARBUF", "service id", **_OLD),
        _f("k8s.svc.label", "CHARBUF", "one service label", **_LABEL, **_OLD),
        _f("k8s.svc.labels", "CHARBUF", "all service labels", **_OLD),
        _f("k8s.ns.id", "CHARBUF", "namespace id", **_OLD),
        _f("k8s.ns.label", "CHARBUF", "one namespace label", **_LABEL, **_OLD),
        _f("k8s.ns.labels", "CHARBUF", "all namespace labels", **_OLD),
        _f("k8s.rs.name", "CHARBUF", "replica set name", **_OLD),
        _f("k8s.rs.id", "CHARBUF", "replica set id", **_OLD),
        _f("k8s.rs.label", "CHARBUF", "one replica set label", **_LABEL, **_OLD),
        _f("k8s.rs.labels", "CHARBUF", "all replica set labels", **_OLD),
        _f("k8s.deployment.name", "CHARBUF", "deployment name", **_OLD),
        _f("k8s.deployment.id", "CHARBUF", "deployment id", **_OLD),
        _f("k8s.deployment.label", "CHARBUF", "one deployment label", **_LABEL, **_OLD),
        _f("k8s.deployment.labels", "CHARBUF", "all deployment labels", **_OLD),
    ],
)

# --- classes of the Falco 0.33 era that later versions dropped -------------------------------

_SYSLOG = _cls(
    "syslog",
    [
        _f("syslog.facility.str", "CHARBUF", "facility of a syslog message, as a name"),
        _f("syslog.facility", "UINT32", "facility of a syslog message, as a number"),
        _f("syslog.severity.str", "CHARBUF", "severity of a syslog message, as a name"),
        _f("syslog.severity", "UINT32", "severity of a syslog message, as a number"),
        _f("syslog.message", "CHARBUF", "text of a syslog message"),
    ],
    deprecated=True,
)

_MESOS = _cls(
    "mesos",
    [
        _f("mesos.task.name", "CHARBUF", "Mesos task name"),
        _f("mesos.task.id", "CHARBUF", "Mesos task id"),
        _f("mesos.task.label", "CHARBUF", "one Mesos task label", **_LABEL),
        _f("mesos.task.labels", "CHARBUF", "all Mesos task labels"),
        _f("mesos.framework.name", "CHARBUF", "Mesos framework name"),
        _f("mesos.framework.id", "CHARBUF", "Mesos framework id"),
        _f("marathon.app.name", "CHARBUF", "Marathon application name"),
        _f("marathon.app.id", "CHARBUF", "Marathon application id"),
        _f("marathon.app.label", "CHARBUF", "one Marathon application label", **_LABEL),
        _f("marathon.app.labels", "CHARBUF", "all Marathon application labels"),
        _f("marathon.group.name", "CHARBUF", "Marathon group name"),
        _f("marathon.group.id", "CHARBUF", "Marathon group id"),
    ],
    deprecated=True,
)

_TAG = {"arg": _A.INDEX_REQUIRED}  # span.tag[N]
_SPAN_ARG = {"arg": _A.INDEX_OR_KEY_REQUIRED, "dotted_arg": True, "bracket_index_only": True}

_SPAN = _cls(
    "span",
    [
        _f("span.id", "INT64", "id of a tracer span"),
        _f("span.time", "CHARBUF", "time of the span's enter event"),
        _f("span.ntags", "UINT32", "number of tags of the span"),
        _f("span.nargs", "UINT32", "number of arguments of the span"),
        _f("span.tags", "CHARBUF", "tags of the span, dot-separated"),
        _f("span.tag", "CHARBUF", "one tag of the span by position", **_TAG),
        _f("span.args", "CHARBUF", "arguments of the span"),
        _f("span.arg", "CHARBUF", "one argument of the span, by name (.name) or position ([N])", **_SPAN_ARG),
        _f("span.enterargs", "CHARBUF", "arguments of the span's enter event"),
        _f("span.enterarg", "CHARBUF", "one argument of the span's enter event", **_SPAN_ARG),
        _f("span.duration", "RELTIME", "duration of the span, ns"),
        _f("span.duration.human", "CHARBUF", "duration of the span as readable text"),
    ],
    deprecated=True,
)


def _evtin() -> list[FieldSpec]:
    out: list[FieldSpec] = []
    scopes = (
        ("", "of the thread"),
        (".p", "of any thread of the process"),
        (".s", "of the script that produced the span"),
        (".m", "on the whole machine"),
    )
    for infix, scope in scopes:
        pre = f"evtin.span{infix}"
        what = f"events {scope} inside spans with this"
        out += [
            _f(f"{pre}.id", "INT64", f"{what} id"),
            _f(f"{pre}.ntags", "UINT32", f"{what} number of tags"),
            _f(f"{pre}.nargs", "UINT32", f"{what} number of arguments"),
            _f(f"{pre}.tags", "CHARBUF", f"{what} tag list"),
            _f(f"{pre}.tag", "CHARBUF", f"{what} tag at position [N]", **_TAG),
            _f(f"{pre}.args", "CHARBUF", f"{what} argument list"),
            _f(f"{pre}.arg", "CHARBUF", f"{what} argument (by .name or [N])", **_SPAN_ARG),
        ]
    return out


_EVTIN = _cls("evtin", _evtin(), deprecated=True)

SPECS: list[FieldSpec] = [
    *_EVT,
    *_EVT_SYSCALL,
    *_PROCESS,
    *_USER,
    *_GROUP,
    *_FD,
    *_FS_PATH,
    *_FDLIST,
    *_CONTAINER,
    *_SYSLOG,
    *_MESOS,
    *_SPAN,
    *_EVTIN,
]

#: the values ``evt.type`` may be compared with: event names and syscall names (libsinsp checks
#: both tables and fails the rule with "unknown event type X" otherwise)
EVENT_TYPES: frozenset[str] = frozenset(EVENTS_BY_NAME) | frozenset(SYSCALL_NAMES)


def _event_params() -> dict[str, str]:
    """Parameter name → type, the first definition in event-code order winning, as libsinsp's
    lookup of ``evt.arg.NAME`` / ``evt.rawarg.NAME`` does."""
    params: dict[str, str] = {}
    for info in EVENTS:
        for param in info.params:
            params.setdefault(param.name, param.type)
    return params


#: the parameter names ``evt.arg.NAME`` / ``evt.rawarg.NAME`` accept, with their types
EVENT_PARAMS: dict[str, str] = _event_params()
