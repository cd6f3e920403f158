// SPDX-License-Identifier: GPL-2.0
/*
 * rae's CO-RE syscall probe.
 *
 * Every record written to the ring buffer is one event laid out exactly like a scap event
 * (header v2: u64 ts, u64 tid, u32 len, u16 type, u32 nparams; then nparams u16 lengths; then
 * the parameters), so one decoder serves live events and capture files, and a live session is
 * written to a .scap file by wrapping each record in an event block.
 *
 * The kernel side knows no event table: user space fills `specs` (one entry per syscall
 * number) with the enter/exit event codes and a short list of "instructions" saying how to
 * produce each parameter (an argument as i64/u32/..., a user string, a sockaddr, the socket
 * tuple of an fd, converted flags, ...). Syscalls whose entry is not selected return after
 * one array lookup. See docs/ebpf.md.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define MAX_SYSCALLS 512
#define SPEC_PROCEXIT (MAX_SYSCALLS - 1) /* pseudo entry: the procexit event */
#define MAX_INSN 8
#define AUX_SIZE (1 << 16)         /* scratch buffer per CPU */
#define POS_MASK ((1 << 15) - 1)   /* a parameter starts below 32 KiB ... */
#define POS_LIMIT (POS_MASK - 4200) /* ... and the largest single push is < 4200 bytes */
#define HDR_LEN 26
#define MAX_PARAMS 32
#define STR_MAX 4096
#define SOCKADDR_MAX 128
#define CG_DEPTH 12
#define CG_NAME_MAX 256
#define SCRATCH_OFF (AUX_SIZE - 1024) /* pointer scratch, far above any event */

/* parameter kinds (keep in sync with rae/syscall/probe/layout.py) */
enum {
	K_NONE = 0,
	K_S64ARG = 1,   /* (s64)(s32)arg: fds, dirfds, pids */
	K_U64ARG = 2,
	K_U32ARG = 3,
	K_U16ARG = 4,
	K_U8ARG = 5,
	K_RET = 6,      /* the return value as i64 */
	K_USTR = 7,     /* NUL-terminated user string at arg */
	K_SOCKADDR = 8, /* user sockaddr at arg, its length in arg+1 */
	K_TUPLE = 9,    /* socket tuple of fd; aux bit0: fd is the return value, bit1: accept order */
	K_FLAGS = 10,   /* arg converted with flag table aux (u32) */
	K_ENUM16 = 11,  /* arg converted with enum table aux (u16) */
	K_CONST16 = 12, /* aux as u16 */
	K_CONST32 = 13, /* aux as u32 */
	K_EMPTY = 14,   /* zero-length (absent) parameter */
	K_DEV = 15,     /* u32 device of the file behind fd ret */
	K_INO = 16,     /* u64 inode of the file behind fd ret */
	K_UMEM = 17,    /* u32 from user struct at arg: aux low byte = u64 index, high byte = flag table + 1 */
	K_DYN64 = 18,   /* DYN param, index 0, u64 arg */
	K_CONST8 = 19,  /* aux as u8 */
	K_CONST64 = 20, /* aux as u64 */
	K_S32ARG = 21,  /* arg as i32 */
	K_PROC_EXEC = 30,  /* the 22 process parameters of execve_x after res */
	K_PROC_CLONE = 31, /* the 19 process parameters of clone_x after res; aux: flags source */
};

/* spec flags */
#define SPEC_ENTER 1          /* emit the enter event */
#define SPEC_EXIT 2           /* emit the exit event */
#define SPEC_EXIT_FAIL_ONLY 4 /* execve: success is emitted by sched_process_exec */

/* clone flag sources for K_PROC_CLONE */
#define CLF_ARG0 0
#define CLF_CLONE3 1
#define CLF_FORK 2
#define CLF_VFORK 3

#define FT_OPEN 0 /* flag table 0 is the open-flags table (access mode handled apart) */
#define FT_CLONE 1
#define N_FLAG_TABLES 8

struct rae_insn {
	__u8 kind;
	__u8 arg;
	__u16 aux;
};

struct sc_spec {
	__u16 enter_type;
	__u16 exit_type;
	__u8 enter_n;  /* instructions */
	__u8 exit_n;
	__u8 enter_np; /* parameters of the event */
	__u8 exit_np;
	__u32 flags;
	struct rae_insn enter[MAX_INSN];
	struct rae_insn exit[MAX_INSN];
};

struct flag_table {
	__u32 bit[64]; /* native bit i → scap value (0: dropped) */
};

/* the event being built: lives next to the scratch buffer, so the helper functions (BPF global
 * functions, verified once each) can reach it without pointers to the stack */
struct ev {
	__u32 pos;
	__u32 idx;
	__u32 np;
	__u32 trunc;
	__u64 args[8];
	__s64 ret;
	__u64 file;    /* the file behind fd ret, once looked up (K_DEV and K_INO share it) */
	__u32 file_ok;
};

struct aux_buf {
	__u8 d[AUX_SIZE];
	struct ev st;
};

/* stats slots (keep in sync with ebpf.py STAT_NAMES) */
enum {
	ST_EVENTS = 0,       /* events written to the ring */
	ST_DROP_FULL = 1,    /* drops: ring buffer full */
	ST_DROP_TRUNC = 2,   /* events whose parameters were cut (too big) */
	ST_SEEN = 3,         /* syscall enter/exit of a selected syscall */
	ST_DROP_NOAUX = 4,   /* drops: no scratch buffer */
	ST_DROP_FAULT = 5,   /* parameters that could not be read (page fault) */
	ST_WAKEUPS = 6,      /* forced wakeups */
	ST_FORKS = 7,        /* sched_process_fork hits */
	ST_DROP_CAT = 8,     /* first of the drops-by-category slots (ring full), libscap's categories */
	N_DROP_CATS = 14,
	N_STATS = ST_DROP_CAT + N_DROP_CATS,
};

#define MAX_EVENT_CODES 1024
/* drop_cats key of a generic exit event (code 1): this plus its syscall's PPM_SC code (its ID) */
#define GENERIC_DROP_KEY 512

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct sc_spec);
} specs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, N_FLAG_TABLES);
	__type(key, __u32);
	__type(value, struct flag_table);
} flag_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64); /* table << 32 | native value */
	__type(value, __u32);
} enum_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 128); /* user space sets it to the number of possible CPUs */
	__type(key, __u32);
	__type(value, struct aux_buf);
} aux_bufs SEC(".maps");

/* event code (GENERIC_DROP_KEY + PPM_SC code for a generic exit) -> 1 + its drop category (0: none),
 * filled by user space; read on drops only */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_EVENT_CODES);
	__type(key, __u32);
	__type(value, __u32);
} drop_cats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, N_STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* set by user space before load (.rodata) */
const volatile __u32 own_tgid = 0;
const volatile __u64 boot_ts = 0;           /* epoch ns of boot */
const volatile __u64 wakeup_bytes = 1 << 20; /* force a wakeup past this much unread data */
const volatile __u32 max_str = STR_MAX;     /* unused: kept for ABI stability */

/* CO-RE flavours for fields renamed across kernels */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));
struct kernfs_node___new {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));
struct mm_struct___old {
	struct {
		atomic_long_t count[4];
	} rss_stat;
} __attribute__((preserve_access_index));
struct mm_struct___new {
	struct percpu_counter rss_stat[4];
} __attribute__((preserve_access_index));

/* an offset below 32 KiB the verifier can see (an asm mask the compiler cannot drop) */
static __always_inline __u64 bound_off(__u64 v)
{
	asm volatile("%0 &= %1" : "+r"(v) : "i"(POS_MASK));
	return v;
}

static __always_inline __u64 bound_len(__u64 v)
{
	asm volatile("%0 &= %1" : "+r"(v) : "i"(AUX_SIZE - 1));
	return v;
}

static __always_inline void stat_inc(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &slot);
	if (v)
		*v += 1;
}

static __always_inline struct aux_buf *ev_begin(__u16 type, __u32 np)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct aux_buf *b = bpf_map_lookup_elem(&aux_bufs, &cpu);
	if (!b) {
		stat_inc(ST_DROP_NOAUX);
		return NULL;
	}
	np &= (MAX_PARAMS - 1);
	b->st.np = np;
	b->st.idx = 0;
	b->st.trunc = 0;
	b->st.file_ok = 0;
	*(__u64 *)&b->d[0] = boot_ts + bpf_ktime_get_boot_ns();
	*(__u64 *)&b->d[8] = bpf_get_current_pid_tgid() & 0xffffffff;
	*(__u16 *)&b->d[20] = type;
	*(__u32 *)&b->d[22] = np;
	b->st.pos = HDR_LEN + 2 * np;
	return b;
}

static __always_inline void ev_setlen(struct aux_buf *b, __u32 len)
{
	__u32 i = b->st.idx;
	if (i < b->st.np && i < MAX_PARAMS) {
		*(__u16 *)&b->d[(HDR_LEN + 2 * i) & 0xff] = len;
		b->st.idx = i + 1;
	}
	b->st.pos += len;
}

static __always_inline int ev_room(struct aux_buf *b)
{
	if (b->st.pos > POS_LIMIT || b->st.idx >= b->st.np) {
		b->st.trunc = 1;
		return 0;
	}
	return 1;
}

static __always_inline void push_u64(struct aux_buf *b, __u64 v)
{
	if (!ev_room(b)) {
		ev_setlen(b, 0);
		return;
	}
	*(__u64 *)&b->d[bound_off(b->st.pos)] = v;
	ev_setlen(b, 8);
}

static __always_inline void push_u32(struct aux_buf *b, __u32 v)
{
	if (!ev_room(b)) {
		ev_setlen(b, 0);
		return;
	}
	*(__u32 *)&b->d[bound_off(b->st.pos)] = v;
	ev_setlen(b, 4);
}

static __always_inline void push_u16(struct aux_buf *b, __u16 v)
{
	if (!ev_room(b)) {
		ev_setlen(b, 0);
		return;
	}
	*(__u16 *)&b->d[bound_off(b->st.pos)] = v;
	ev_setlen(b, 2);
}

static __always_inline void push_u8(struct aux_buf *b, __u8 v)
{
	if (!ev_room(b)) {
		ev_setlen(b, 0);
		return;
	}
	b->d[bound_off(b->st.pos)] = v;
	ev_setlen(b, 1);
}

static __always_inline void push_empty(struct aux_buf *b)
{
	ev_setlen(b, 0);
}

/* a NUL-terminated string (user or kernel memory); absent when unreadable */
static __always_inline void push_str(struct aux_buf *b, const void *p, int user)
{
	long n;
	if (!p || !ev_room(b)) {
		ev_setlen(b, 0);
		return;
	}
	if (user)
		n = bpf_probe_read_user_str(&b->d[bound_off(b->st.pos)], STR_MAX, p);
	else
		n = bpf_probe_read_kernel_str(&b->d[bound_off(b->st.pos)], STR_MAX, p);
	if (n < 0) {
		stat_inc(ST_DROP_FAULT);
		n = 0;
	}
	if (n > STR_MAX)
		n = STR_MAX;
	ev_setlen(b, (__u32)n);
}

/* raw user bytes [start, end), at most STR_MAX */
static __always_inline void push_ubytes(struct aux_buf *b, __u64 start, __u64 end)
{
	__u64 n = end > start ? end - start : 0;
	if (!ev_room(b)) {
		ev_setlen(b, 0);
		return;
	}
	if (n > STR_MAX) {
		n = STR_MAX;
		b->st.trunc = 1;
	}
	n &= (STR_MAX * 2 - 1);
	if (n > STR_MAX)
		n = STR_MAX;
	if (n && bpf_probe_read_user(&b->d[bound_off(b->st.pos)], n, (const void *)start) < 0) {
		stat_inc(ST_DROP_FAULT);
		n = 0;
	}
	ev_setlen(b, (__u32)n);
}

static __always_inline int ev_submit(struct aux_buf *b)
{
	__u32 len = b->st.pos;
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u64 avail;
	if (len > AUX_SIZE - 1)
		return -1;
	*(__u32 *)&b->d[16] = len;
	if (b->st.trunc)
		stat_inc(ST_DROP_TRUNC);
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	/* one forced wakeup as the unread data crosses the threshold, not one per event past it
	 * (each costs the producer ~0.5 µs); the consumer polls every 10 ms anyway */
	if (avail >= wakeup_bytes && avail < wakeup_bytes + 4096) {
		flags = BPF_RB_FORCE_WAKEUP;
		stat_inc(ST_WAKEUPS);
	}
	if (bpf_ringbuf_output(&events, b->d, bound_len(len), flags) < 0) {
		__u32 code = *(__u16 *)&b->d[20];
		__u32 *cat;
		if (code == 1) /* generic exit: its one parameter, ID, names the syscall */
			code = GENERIC_DROP_KEY + (*(__u16 *)&b->d[HDR_LEN + 2] & (GENERIC_DROP_KEY - 1));
		cat = bpf_map_lookup_elem(&drop_cats, &code);
		stat_inc(ST_DROP_FULL);
		if (cat && *cat && *cat <= N_DROP_CATS)
			stat_inc(ST_DROP_CAT + *cat - 1);
		return -1;
	}
	stat_inc(ST_EVENTS);
	return 0;
}

/* flags and enums converted to their scap values */
static __always_inline __u32 conv_flags(__u64 v, __u32 table)
{
	__u32 key = table & (N_FLAG_TABLES - 1);
	struct flag_table *t = bpf_map_lookup_elem(&flag_tables, &key);
	__u32 out = 0;
	int i;
	if (!t)
		return (__u32)v;
	if (key == FT_OPEN) {
		out = (__u32)(v & 3) + 1; /* O_RDONLY/O_WRONLY/O_RDWR → PPM_O_RDONLY/WRONLY/RDWR */
		v &= ~3ULL;
	}
	/* walk up to the highest set bit only: open flags end at bit 22, a full 64-step walk cost
	 * ~0.1 µs on every open */
	for (i = 0; i < 64; i++) {
		if (!v)
			break;
		if (v & 1)
			out |= t->bit[i];
		v >>= 1;
	}
	return out;
}

static __always_inline __u16 conv_enum(__u64 v, __u32 table)
{
	__u64 key = ((__u64)table << 32) | (v & 0xffffffff);
	__u32 *o = bpf_map_lookup_elem(&enum_tables, &key);
	return o ? (__u16)*o : 0;
}

static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	struct files_struct *files = BPF_CORE_READ(task, files);
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;
	unsigned int max;
	if (!files || fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(files, fdt);
	max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned long)fd >= max)
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline __u32 encode_dev(dev_t dev)
{
	__u32 major = dev >> 20, minor = dev & ((1U << 20) - 1);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}

static __always_inline void push_sockaddr(struct aux_buf *b, const void *uaddr, __u64 ulen)
{
	__u8 *o;
	__u16 fam = 0;
	__u32 off;
	if (!uaddr || !ev_room(b)) {
		ev_setlen(b, 0);
		return;
	}
	off = b->st.pos & POS_MASK;
	o = &b->d[off];
	if (bpf_probe_read_user(&fam, 2, uaddr) < 0) {
		ev_setlen(b, 0);
		return;
	}
	if (fam == 2 /* AF_INET */) {
		__u16 port = 0;
		bpf_probe_read_user(&port, 2, uaddr + 2);
		o[0] = 2;
		bpf_probe_read_user(&b->d[bound_off(off + 1)], 4, uaddr + 4);
		*(__u16 *)&b->d[bound_off(off + 5)] = bpf_ntohs(port);
		ev_setlen(b, 7);
	} else if (fam == 10 /* AF_INET6 */) {
		__u16 port = 0;
		bpf_probe_read_user(&port, 2, uaddr + 2);
		o[0] = 10;
		bpf_probe_read_user(&b->d[bound_off(off + 1)], 16, uaddr + 8);
		*(__u16 *)&b->d[bound_off(off + 17)] = bpf_ntohs(port);
		ev_setlen(b, 19);
	} else if (fam == 1 /* AF_UNIX */) {
		long n;
		o[0] = 1;
		n = bpf_probe_read_user_str(&b->d[bound_off(off + 1)], 108, uaddr + 2);
		if (n <= 0) {
			b->d[bound_off(off + 1)] = 0;
			n = 1;
		}
		if (n > 108)
			n = 108;
		ev_setlen(b, (__u32)n + 1);
	} else {
		o[0] = (__u8)fam;
		ev_setlen(b, 1);
	}
}

/* the connection tuple of a socket fd; accept order puts the peer first */
static __always_inline void push_tuple(struct aux_buf *b, struct task_struct *task, long fd, int accept,
				       const void *uaddr)
{
	struct file *f = fd_file(task, fd);
	struct socket *sock;
	struct sock *sk;
	__u16 fam;
	__u32 off;
	if (!f || !ev_room(b)) {
		ev_setlen(b, 0);
		return;
	}
	sock = BPF_CORE_READ(f, private_data);
	if (!sock) {
		ev_setlen(b, 0);
		return;
	}
	sk = BPF_CORE_READ(sock, sk);
	if (!sk) {
		ev_setlen(b, 0);
		return;
	}
	fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	off = b->st.pos & POS_MASK;
	if (fam == 2) {
		__u32 laddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 raddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		b->d[off] = 2;
		*(__u32 *)&b->d[bound_off(off + 1)] = accept ? raddr : laddr;
		*(__u16 *)&b->d[bound_off(off + 5)] = accept ? rport : lport;
		*(__u32 *)&b->d[bound_off(off + 7)] = accept ? laddr : raddr;
		*(__u16 *)&b->d[bound_off(off + 11)] = accept ? lport : rport;
		ev_setlen(b, 13);
	} else if (fam == 10) {
		__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		b->d[off] = 10;
		bpf_probe_read_kernel(&b->d[bound_off(off + (accept ? 19 : 1))], 16,
				      &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_probe_read_kernel(&b->d[bound_off(off + (accept ? 1 : 19))], 16,
				      &sk->__sk_common.skc_v6_daddr);
		*(__u16 *)&b->d[bound_off(off + 17)] = accept ? rport : lport;
		*(__u16 *)&b->d[bound_off(off + 35)] = accept ? lport : rport;
		ev_setlen(b, 37);
	} else if (fam == 1) {
		struct unix_sock *us = (struct unix_sock *)sk;
		__u64 peer = (__u64)BPF_CORE_READ(us, peer);
		long n = 0;
		b->d[off] = 1;
		*(__u64 *)&b->d[bound_off(off + 1)] = (__u64)sk;
		*(__u64 *)&b->d[bound_off(off + 9)] = peer;
		if (uaddr)
			n = bpf_probe_read_user_str(&b->d[bound_off(off + 17)], 108, uaddr + 2);
		if (n <= 0) {
			b->d[bound_off(off + 17)] = 0;
			n = 1;
		}
		if (n > 108)
			n = 108;
		ev_setlen(b, 17 + (__u32)n);
	} else {
		b->d[off] = (__u8)fam;
		ev_setlen(b, 1);
	}
}

/* "/a/b/c" of a cgroup, written without a NUL between components; the kernfs nodes met on the
 * way up are kept in the scratch area at the end of the buffer (the BPF stack is too small) */
__noinline int write_cgroup_path(struct aux_buf *b, __u32 start, __u64 cgp)
{
	struct cgroup *cg = (struct cgroup *)cgp;
	struct kernfs_node *kn;
	__u8 *d;
	if (!b || !cg)
		return 0;
	d = b->d;
	kn = BPF_CORE_READ(cg, kn);
	__u32 n = 0, w = start;
	int i;
	for (i = 0; i < CG_DEPTH; i++) {
		struct kernfs_node *parent;
		if (!kn)
			break;
		if (bpf_core_field_exists(struct kernfs_node___new, __parent))
			parent = BPF_CORE_READ((struct kernfs_node___new *)kn, __parent);
		else
			parent = BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
		if (!parent)
			break; /* the root's own name is not part of the path */
		*(__u64 *)&d[SCRATCH_OFF + 8 * i] = (__u64)BPF_CORE_READ(kn, name);
		n++;
		kn = parent;
	}
	if (n == 0) {
		d[bound_off(w)] = '/';
		return 1;
	}
	for (i = CG_DEPTH - 1; i >= 0; i--) {
		long r;
		if (i >= n)
			continue;
		if (w - start > 2048)
			break;
		d[bound_off(w)] = '/';
		w++;
		r = bpf_probe_read_kernel_str(&d[bound_off(w)], CG_NAME_MAX,
					      (const void *)*(__u64 *)&d[SCRATCH_OFF + 8 * i]);
		if (r > 0)
			w += r - 1; /* drop the NUL */
	}
	return w - start;
}

static __always_inline __u32 write_prefix(__u8 *d, __u32 w, int i)
{
	/* "cpuset=", "cpu=", "memory=", "pids=" */
	switch (i) {
	case 0:
		*(__u64 *)&d[bound_off(w)] = 0x3d746573757063ULL; /* "cpuset=" */
		return 7;
	case 1:
		*(__u32 *)&d[bound_off(w)] = 0x3d757063; /* "cpu=" */
		return 4;
	case 2:
		*(__u64 *)&d[bound_off(w)] = 0x3d79726f6d656dULL; /* "memory=" */
		return 7;
	default:
		*(__u64 *)&d[bound_off(w)] = 0x3d73646970ULL; /* "pids=" */
		return 5;
	}
}

static __always_inline int subsys_id(int i)
{
	switch (i) {
	case 0:
		return bpf_core_enum_value(enum cgroup_subsys_id, cpuset_cgrp_id);
	case 1:
		return bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);
	case 2:
		return bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	default:
		return bpf_core_enum_value(enum cgroup_subsys_id, pids_cgrp_id);
	}
}

/* the cgroups parameter: "subsys=/path\0" for cpuset, cpu, memory, pids, then "=/path\0" for the
 * cgroup v2 (unified) hierarchy */
__noinline int write_cgroups(struct aux_buf *b, __u32 start)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct css_set *cs = BPF_CORE_READ(task, cgroups);
	__u8 *d;
	struct cgroup *dfl;
	__u32 w = start;
	int i;
	if (!cs || !b)
		return 0;
	d = b->d;
	for (i = 0; i < 4; i++) {
		struct cgroup_subsys_state *css = NULL;
		struct cgroup *cg;
		int id = subsys_id(i);
		if (id < 0 || id >= 16)
			continue;
		bpf_probe_read_kernel(&css, sizeof(css), &cs->subsys[id]);
		if (!css)
			continue;
		cg = BPF_CORE_READ(css, cgroup);
		if (!cg)
			continue;
		w += write_prefix(d, w, i);
		w += write_cgroup_path(b, w, (__u64)cg) & 0xfff;
		d[bound_off(w)] = 0;
		w++;
	}
	dfl = BPF_CORE_READ(cs, dfl_cgrp);
	if (dfl) {
		d[bound_off(w)] = '=';
		w++;
		w += write_cgroup_path(b, w, (__u64)dfl) & 0xfff;
		d[bound_off(w)] = 0;
		w++;
	}
	return w - start;
}

static __always_inline void push_cgroups(struct aux_buf *b, struct task_struct *task)
{
	if (!ev_room(b) || b->st.pos > POS_LIMIT - 12000) {
		b->st.trunc = 1;
		ev_setlen(b, 0);
		return;
	}
	ev_setlen(b, write_cgroups(b, b->st.pos) & 0x3fff);
}

static __always_inline __s64 upid_nr(struct pid *pid)
{
	unsigned int level;
	int nr = 0;
	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	bpf_probe_read_kernel(&nr, sizeof(nr), &pid->numbers[level & 31].nr);
	return nr;
}

static __always_inline __u64 mm_counter(struct mm_struct *mm, int idx)
{
	long v = 0;
	if (bpf_core_field_exists(struct mm_struct___new, rss_stat)) {
		struct mm_struct___new *m = (void *)mm;
		s64 c = 0;
		bpf_probe_read_kernel(&c, sizeof(c), &m->rss_stat[idx & 3].count);
		v = c;
	} else {
		struct mm_struct___old *m = (void *)mm;
		bpf_probe_read_kernel(&v, sizeof(v), &m->rss_stat.count[idx & 3]);
	}
	return v < 0 ? 0 : (__u64)v;
}

/* exe, args, tid, pid, ptid, cwd, fdlimit, pgft_maj, pgft_min, vm_size, vm_rss, vm_swap, comm,
 * cgroups: the 14 parameters execve_x and clone_x share after res */
__noinline int push_proc_common(struct aux_buf *b)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (!b)
		return 0;
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	__u64 arg_start = 0, arg_end = 0;
	__u32 exe_len = 0;
	if (mm) {
		arg_start = BPF_CORE_READ(mm, arg_start);
		arg_end = BPF_CORE_READ(mm, arg_end);
	}
	/* exe: argv[0] */
	if (arg_start && ev_room(b)) {
		long n = bpf_probe_read_user_str(&b->d[bound_off(b->st.pos)], STR_MAX, (void *)arg_start);
		if (n < 0)
			n = 0;
		if (n > STR_MAX)
			n = STR_MAX;
		exe_len = n;
		ev_setlen(b, (__u32)n);
	} else {
		push_empty(b);
	}
	/* args: argv[1..] NUL-separated */
	if (arg_start && arg_start + exe_len < arg_end)
		push_ubytes(b, arg_start + exe_len, arg_end);
	else
		push_empty(b);
	push_u64(b, (__s64)BPF_CORE_READ(task, pid));
	push_u64(b, (__s64)BPF_CORE_READ(task, tgid));
	push_u64(b, (__s64)BPF_CORE_READ(task, real_parent, tgid));
	push_empty(b); /* cwd: kept by the state engine (chdir, clone, /proc scan) */
	push_u64(b, BPF_CORE_READ(task, signal, rlim[7].rlim_cur)); /* RLIMIT_NOFILE */
	push_u64(b, BPF_CORE_READ(task, maj_flt));
	push_u64(b, BPF_CORE_READ(task, min_flt));
	if (mm) {
		__u64 total = BPF_CORE_READ(mm, total_vm);
		__u64 rss = mm_counter(mm, 0) + mm_counter(mm, 1) + mm_counter(mm, 3);
		push_u32(b, (__u32)(total << 2)); /* pages → KiB (4 KiB pages) */
		push_u32(b, (__u32)(rss << 2));
		push_u32(b, (__u32)(mm_counter(mm, 2) << 2));
	} else {
		push_u32(b, 0);
		push_u32(b, 0);
		push_u32(b, 0);
	}
	push_str(b, &task->comm, 0);
	push_cgroups(b, task);
	return 0;
}

/* the controlling terminal's device number as /proc/PID/stat's tty_nr gives it (0: none), the
 * value libs' probes put in the execve exit's tty parameter */
static __always_inline __u32 task_tty_nr(struct task_struct *task)
{
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	struct tty_driver *drv;
	__u32 major, minor_start, index;
	if (!tty)
		return 0;
	drv = BPF_CORE_READ(tty, driver);
	if (!drv)
		return 0;
	major = BPF_CORE_READ(drv, major);
	minor_start = BPF_CORE_READ(drv, minor_start);
	index = BPF_CORE_READ(tty, index);
	return encode_dev(((major << 20) | minor_start) + index);
}

/* the running image comes from a memfd: its dentry is a pseudo one (its own parent) named
 * "memfd:..." — the PPM_EXE_FROM_MEMFD bit (1 << 2) of the execve exit's flags, as newer libs */
static __always_inline __u32 exe_from_memfd(struct task_struct *task)
{
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	struct dentry *de;
	char name[8] = {};
	if (!exe)
		return 0;
	de = BPF_CORE_READ(exe, f_path.dentry);
	if (!de || BPF_CORE_READ(de, d_parent) != de)
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(de, d_name.name));
	return name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' &&
	       name[5] == ':' ? 4 : 0;
}

/* env, tty, pgid, loginuid, flags, cap_inheritable, cap_permitted, cap_effective */
__noinline int push_exec_tail(struct aux_buf *b)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	const struct cred *cred = BPF_CORE_READ(task, cred);
	struct pid *pgrp = NULL;
	__u64 cap = 0;
	__u32 loginuid = 0xffffffff;
	if (!b)
		return 0;
	if (mm)
		push_ubytes(b, BPF_CORE_READ(mm, env_start), BPF_CORE_READ(mm, env_end));
	else
		push_empty(b);
	push_u32(b, task_tty_nr(task));
	pgrp = BPF_CORE_READ(task, group_leader, signal, pids[PIDTYPE_PGID]);
	push_u64(b, upid_nr(pgrp));
	if (bpf_core_field_exists(task->loginuid))
		loginuid = BPF_CORE_READ(task, loginuid.val);
	push_u32(b, loginuid);
	push_u32(b, b->st.ret == 0 ? exe_from_memfd(task) : 0); /* flags */
	bpf_probe_read_kernel(&cap, 8, &cred->cap_inheritable);
	push_u64(b, cap);
	bpf_probe_read_kernel(&cap, 8, &cred->cap_permitted);
	push_u64(b, cap);
	bpf_probe_read_kernel(&cap, 8, &cred->cap_effective);
	push_u64(b, cap);
	return 0;
}

/* flags, uid, gid, vtid, vpid */
__noinline int push_clone_tail(struct aux_buf *b, __u32 src)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 raw = 0;
	__u32 fl = 0;
	if (!b)
		return 0;
	if (src == CLF_ARG0)
		raw = b->st.args[0];
	else if (src == CLF_CLONE3)
		bpf_probe_read_user(&raw, 8, (void *)b->st.args[0]);
	else if (src == CLF_VFORK)
		raw = 0x00004000 | 0x00000100; /* CLONE_VFORK | CLONE_VM */
	fl = raw ? conv_flags(raw, FT_CLONE) : 0;
	push_u32(b, fl);
	push_u32(b, BPF_CORE_READ(task, cred, euid.val));
	push_u32(b, BPF_CORE_READ(task, cred, egid.val));
	push_u64(b, upid_nr(BPF_CORE_READ(task, thread_pid)));
	push_u64(b, upid_nr(BPF_CORE_READ(task, group_leader, thread_pid)));
	return 0;
}

static __always_inline __u64 argn(struct aux_buf *b, __u32 i)
{
	return b->st.args[i & 7];
}

/* one parameter instruction (a global function: verified once, whatever the call site) */
__noinline int run_insn(struct aux_buf *b, __u32 kind, __u32 a, __u32 aux)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long ret;
	if (!b)
		return 0;
	ret = b->st.ret;
	switch (kind) {
	case K_S64ARG:
		push_u64(b, (__s64)(__s32)argn(b, a));
		break;
	case K_U64ARG:
		push_u64(b, argn(b, a));
		break;
	case K_U32ARG:
	case K_S32ARG:
		push_u32(b, (__u32)argn(b, a));
		break;
	case K_U16ARG:
		push_u16(b, (__u16)argn(b, a));
		break;
	case K_U8ARG:
		push_u8(b, (__u8)argn(b, a));
		break;
	case K_RET:
		push_u64(b, (__s64)ret);
		break;
	case K_USTR:
		push_str(b, (const void *)argn(b, a), 1);
		break;
	case K_SOCKADDR:
		push_sockaddr(b, (const void *)argn(b, a), argn(b, a + 1));
		break;
	case K_TUPLE:
		push_tuple(b, task, (aux & 1) ? ret : (long)(__s32)argn(b, a), aux & 2,
			   (aux & 1) ? NULL : (const void *)argn(b, a + 1));
		break;
	case K_FLAGS:
		push_u32(b, conv_flags(argn(b, a), aux));
		break;
	case K_ENUM16:
		push_u16(b, conv_enum(argn(b, a), aux));
		break;
	case K_CONST8:
		push_u8(b, (__u8)aux);
		break;
	case K_CONST16:
		push_u16(b, (__u16)aux);
		break;
	case K_CONST32:
		push_u32(b, aux);
		break;
	case K_CONST64:
		push_u64(b, aux);
		break;
	case K_DEV:
	case K_INO: {
		struct file *f;
		struct inode *ino;
		if (!b->st.file_ok) {
			b->st.file = (__u64)(ret >= 0 ? fd_file(task, ret) : NULL);
			b->st.file_ok = 1;
		}
		f = (struct file *)b->st.file;
		ino = f ? BPF_CORE_READ(f, f_inode) : NULL;
		if (kind == K_DEV)
			push_u32(b, ino ? encode_dev(BPF_CORE_READ(ino, i_sb, s_dev)) : 0);
		else
			push_u64(b, ino ? BPF_CORE_READ(ino, i_ino) : 0);
		break;
	}
	case K_UMEM: {
		__u64 v = 0;
		void *p = (void *)argn(b, a);
		if (p)
			bpf_probe_read_user(&v, 8, p + 8 * (aux & 0xff));
		if (aux >> 8)
			v = conv_flags(v, (aux >> 8) - 1);
		push_u32(b, (__u32)v);
		break;
	}
	case K_DYN64:
		if (ev_room(b)) {
			b->d[bound_off(b->st.pos)] = 0;
			*(__u64 *)&b->d[bound_off(b->st.pos + 1)] = argn(b, a);
			ev_setlen(b, 9);
		} else {
			push_empty(b);
		}
		break;
	case K_PROC_EXEC:
		push_proc_common(b);
		push_exec_tail(b);
		break;
	case K_PROC_CLONE:
		push_proc_common(b);
		push_clone_tail(b, aux);
		break;
	case K_EMPTY:
	default:
		push_empty(b);
		break;
	}
	return 0;
}

/* zero lengths for the parameters not produced */
__noinline int pad_params(struct aux_buf *b)
{
	__u32 i, idx, np;
	if (!b)
		return 0;
	idx = b->st.idx;
	np = b->st.np;
	for (i = 0; i < MAX_PARAMS; i++) {
		if (idx >= np || idx >= MAX_PARAMS)
			break;
		*(__u16 *)&b->d[(HDR_LEN + 2 * idx) & 0xff] = 0;
		idx++;
	}
	b->st.idx = idx;
	return 0;
}

/* run one event's instruction list, then fill what the instructions did not produce as absent */
static __always_inline void run_insns(struct aux_buf *b, const struct rae_insn *ins, __u32 n)
{
	int i;
	for (i = 0; i < MAX_INSN; i++) {
		if (i >= n)
			break;
		run_insn(b, ins[i].kind, ins[i].arg, ins[i].aux);
	}
	pad_params(b);
}

static __always_inline int is_own(void)
{
	return own_tgid && (bpf_get_current_pid_tgid() >> 32) == own_tgid;
}

static __always_inline int compat_task(struct task_struct *task)
{
	if (bpf_core_field_exists(task->thread_info.status))
		return BPF_CORE_READ(task, thread_info.status) & 0x0002; /* TS_COMPAT */
	return 0;
}

static __always_inline void regs_args(struct aux_buf *b, struct pt_regs *regs, long ret)
{
	b->st.args[0] = regs->di;
	b->st.args[1] = regs->si;
	b->st.args[2] = regs->dx;
	b->st.args[3] = regs->r10;
	b->st.args[4] = regs->r8;
	b->st.args[5] = regs->r9;
	b->st.args[6] = 0;
	b->st.args[7] = 0;
	b->st.ret = ret;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(rae_sys_enter, struct pt_regs *regs, long id)
{
	__u32 nr = (__u32)id;
	struct sc_spec *s;
	struct aux_buf *b;
	if (nr >= MAX_SYSCALLS - 1)
		return 0;
	s = bpf_map_lookup_elem(&specs, &nr);
	if (!s || !(s->flags & SPEC_ENTER) || is_own())
		return 0;
	if (compat_task(bpf_get_current_task_btf()))
		return 0;
	stat_inc(ST_SEEN);
	b = ev_begin(s->enter_type, s->enter_np);
	if (!b)
		return 0;
	regs_args(b, regs, 0);
	run_insns(b, s->enter, s->enter_n);
	ev_submit(b);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(rae_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 nr = (__u32)regs->orig_ax;
	struct sc_spec *s;
	struct aux_buf *b;
	if (nr >= MAX_SYSCALLS - 1)
		return 0;
	s = bpf_map_lookup_elem(&specs, &nr);
	if (!s || !(s->flags & SPEC_EXIT) || is_own())
		return 0;
	if ((s->flags & SPEC_EXIT_FAIL_ONLY) && ret >= 0)
		return 0;
	if (compat_task(bpf_get_current_task_btf()))
		return 0;
	stat_inc(ST_SEEN);
	b = ev_begin(s->exit_type, s->exit_np);
	if (!b)
		return 0;
	regs_args(b, regs, ret);
	run_insns(b, s->exit, s->exit_n);
	ev_submit(b);
	return 0;
}

/* a successful execve/execveat: the exit event, built once the new image is in place (this also
 * covers execs started by the kernel, which never return from an execve syscall) */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(rae_sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u32 nr = 59;
	struct sc_spec *s;
	struct aux_buf *b;
	if (regs && BPF_CORE_READ(regs, orig_ax) == 322)
		nr = 322; /* execveat */
	s = bpf_map_lookup_elem(&specs, &nr);
	if (!s || !(s->flags & SPEC_EXIT) || is_own())
		return 0;
	stat_inc(ST_SEEN);
	b = ev_begin(s->exit_type, s->exit_np);
	if (!b)
		return 0;
	__builtin_memset(b->st.args, 0, sizeof(b->st.args));
	b->st.ret = 0;
	run_insns(b, s->exit, s->exit_n);
	ev_submit(b);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(rae_sched_exit, struct task_struct *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 nr = SPEC_PROCEXIT;
	struct sc_spec *s = bpf_map_lookup_elem(&specs, &nr);
	struct aux_buf *b;
	__s64 code;
	if (!s || !(s->flags & SPEC_ENTER) || is_own())
		return 0;
	stat_inc(ST_SEEN);
	code = BPF_CORE_READ(task, exit_code);
	b = ev_begin(s->enter_type, 4);
	if (!b)
		return 0;
	push_u64(b, code);
	push_u64(b, (code >> 8) & 0xff);
	push_u8(b, code & 0x7f);
	push_u8(b, (code & 0x80) ? 1 : 0);
	ev_submit(b);
	return 0;
}

/* process creation is reported by the clone/fork exit events (parent and child); this program
 * only counts forks, so user space can tell how many it did not see as events. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(rae_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	stat_inc(ST_FORKS);
	return 0;
}
