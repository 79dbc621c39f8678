/*
 * The restorer blob: position-independent, freestanding code copied into an area
 * where no dumped VMA lies. rst_main() runs on a stack inside that area, replaces
 * the address space of the criu-lite child with the dumped one, creates the other
 * threads and ends every thread in rt_sigreturn onto its dumped registers.
 *
 * Everything comes from struct rst_args (restorer/args.h). Any failure writes a
 * message into the shared struct rst_sync, sets the abort flag, wakes the parent
 * and exits the whole thread group with status 1.
 *
 * Order (leader): unmap everything but the area and the vdso pieces; move
 * [vvar]/[vvar_vclock]/[vdso] by one delta (in an order that never lands a piece on
 * one not yet moved); map the VMAs (writable first where pages are filled); pread the
 * eager pages straight from the pages image in 4 MiB chunks, checking each page's
 * crc32c (three pages at a time with the SSE4.2 instruction); final prots; lazy
 * VMAs registered with the uffd; PR_SET_MM_MAP; threads with clone3 + set_tid; shared
 * pending signals and itimers. Every thread then sets its own state (rseq, fs/gs
 * base, clear_tid, name, sched/nice, pending signals, creds), counts itself ready,
 * waits for the parent's go and rt_sigreturns from a sigframe prebuilt by the C side.
 *
 * The area itself cannot be unmapped by code running from it: the criu-lite parent
 * traces each thread to the exit of its rt_sigreturn and then makes the leader run
 * munmap() of the area through rst_syscall_gadget (see rst_finish in restore.c).
 */
#include <stddef.h>
#include <asm/prctl.h>
#include <linux/futex.h>
#include <linux/ioctl.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/time.h>
#include <linux/userfaultfd.h>

#include "criu-lite/restorer/args.h"
#include "criu-lite/restorer/syscalls.h"

#define RST_TASK_SIZE 0x7ffffffff000ULL
#define RST_PAGE 4096ULL
#define RST_CHUNK (4ULL << 20)

void rst_main(struct rst_args *a) __attribute__((noreturn, used, section(".text.entry")));

/*
 * A bare `syscall` instruction: criu-lite's parent, tracing a restored thread stopped
 * at the exit of its rt_sigreturn, points the thread here to run munmap() of this
 * very area, then puts the thread's registers back (see restore.c: rst_finish).
 */
__asm__(".pushsection .text\n"
	".globl rst_syscall_gadget\n"
	".hidden rst_syscall_gadget\n"
	"rst_syscall_gadget:\n"
	"\tsyscall\n"
	"\tud2\n"
	".popsection\n");

/* ---- messages and failure ---- */

struct msgbuf {
	char *p;
	unsigned int len, cap;
};

static void m_str(struct msgbuf *m, const char *s)
{
	while (*s && m->len + 1 < m->cap)
		m->p[m->len++] = *s++;
	m->p[m->len] = 0;
}

static void m_hex(struct msgbuf *m, unsigned long long v)
{
	char b[19];
	int i = 18;
	b[i] = 0;
	do {
		b[--i] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	b[--i] = 'x';
	b[--i] = '0';
	m_str(m, b + i);
}

static void m_dec(struct msgbuf *m, long long v)
{
	char b[24];
	int i = 23;
	int neg = v < 0;
	unsigned long long u = neg ? -(unsigned long long)v : (unsigned long long)v;
	b[i] = 0;
	do {
		b[--i] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (neg)
		b[--i] = '-';
	m_str(m, b + i);
}

static struct rst_sync *sync_of(struct rst_args *a)
{
	return (struct rst_sync *)(unsigned long)a->sync_addr;
}

static void futex_wake_all(rst_u32 *addr)
{
	SYS(futex, addr, FUTEX_WAKE, 0x7fffffff, 0, 0, 0);
}

static void sync_bump(struct rst_sync *s)
{
	__atomic_add_fetch(&s->seq, 1, __ATOMIC_SEQ_CST);
	futex_wake_all(&s->seq);
}

/* Report "what: value (ret)" to the parent and kill the thread group. */
static void __attribute__((noreturn)) rst_fail(struct rst_args *a, const char *what,
					       unsigned long long val, long ret)
{
	struct rst_sync *s = sync_of(a);
	rst_u32 zero = 0;

	if (__atomic_compare_exchange_n(&s->abort, &zero, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		struct msgbuf m = { s->errmsg, 0, RST_SYNC_ERRLEN };
		m_str(&m, "restorer: ");
		m_str(&m, what);
		m_str(&m, " ");
		m_hex(&m, val);
		if (ret) {
			m_str(&m, " failed: errno ");
			m_dec(&m, -ret);
		}
		s->err_pid = a->pid;
	} else {
		__atomic_store_n(&s->abort, 1, __ATOMIC_SEQ_CST);
	}
	sync_bump(s);
	for (;;)
		SYS(exit_group, 1);
}

static void check_abort(struct rst_args *a)
{
	if (__atomic_load_n(&sync_of(a)->abort, __ATOMIC_SEQ_CST))
		for (;;)
			SYS(exit_group, 1);
}

/* ---- address space ---- */

static void unmap_gap(struct rst_args *a, rst_u64 from, rst_u64 to)
{
	long r;
	if (to <= from)
		return;
	r = SYS(munmap, from, to - from);
	if (r < 0)
		rst_fail(a, "munmap of the old mappings at", from, r);
}

/* Unmap everything but the reserved area and the vdso pieces. */
static void unmap_old(struct rst_args *a)
{
	struct rst_range keep[4];
	int n = 0;
	rst_u64 cur = 0;

	keep[n].start = a->keep_start;
	keep[n++].end = a->keep_end;
	for (rst_u32 i = 0; i < a->nr_vdso && i < 3; i++)
		keep[n++] = a->vdso_now[i];
	/* sort by start (at most 4) */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && keep[j].start < keep[j - 1].start; j--) {
			struct rst_range t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		unmap_gap(a, cur, keep[i].start);
		if (keep[i].end > cur)
			cur = keep[i].end;
	}
	unmap_gap(a, cur, RST_TASK_SIZE);
}

static void move_vdso(struct rst_args *a)
{
	long long delta = (long long)a->vdso_delta;
	rst_u32 n = a->nr_vdso;

	if (a->vdso_move == 2) {
		for (rst_u32 i = 0; i < n; i++)
			SYS(munmap, a->vdso_now[i].start, a->vdso_now[i].end - a->vdso_now[i].start);
		return;
	}
	if (a->vdso_move != 1 || delta == 0)
		return;
	/* vdso_now is sorted by address: move so that no piece lands on one not yet moved. */
	for (rst_u32 k = 0; k < n; k++) {
		rst_u32 i = delta > 0 ? n - 1 - k : k;
		rst_u64 s = a->vdso_now[i].start, len = a->vdso_now[i].end - s;
		long r = SYS(mremap, s, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, s + delta);
		if (r != (long)(s + delta))
			rst_fail(a, "mremap of the vdso/vvar piece at", s, r < 0 ? r : -22);
	}
}

static void map_vmas(struct rst_args *a)
{
	struct rst_vma *v = (struct rst_vma *)((char *)a + a->vmas_off);

	for (rst_u32 i = 0; i < a->nr_vmas; i++, v++) {
		rst_u64 len = v->end - v->start;
		long prot = v->map_prot, flags = v->flags | MAP_FIXED, r;

		if (v->shmid >= 0) {
			/* System V: attached whole at its first piece (shm_nattch, shmdt()) */
			if (v->pgoff == 0) {
				r = SYS(shmat, v->shmid, v->start, v->shmflg);
				if (r != (long)v->start)
					rst_fail(a, "shmat of the System V segment at", v->start, r < 0 ? r : -22);
			}
		} else {
			if (v->fd < 0)
				flags |= MAP_ANONYMOUS;
			r = SYS(mmap, v->start, len, prot, flags, v->fd, v->fd < 0 ? 0 : v->pgoff);
			if (r != (long)v->start)
				rst_fail(a, "mmap of the VMA at", v->start, r < 0 ? r : -22);
		}
		if (v->madv & RST_MADV_HUGEPAGE)
			SYS(madvise, v->start, len, MADV_HUGEPAGE);
		if (v->madv & RST_MADV_NOHUGEPAGE)
			SYS(madvise, v->start, len, MADV_NOHUGEPAGE);
		if (v->madv & RST_MADV_DONTFORK)
			SYS(madvise, v->start, len, MADV_DONTFORK);
		if (v->madv & RST_MADV_DONTDUMP)
			SYS(madvise, v->start, len, MADV_DONTDUMP);
		if (v->madv & RST_MADV_WIPEONFORK)
			SYS(madvise, v->start, len, MADV_WIPEONFORK);
	}
}

static void protect_vmas(struct rst_args *a)
{
	struct rst_vma *v = (struct rst_vma *)((char *)a + a->vmas_off);

	for (rst_u32 i = 0; i < a->nr_vmas; i++, v++) {
		long r;
		if (v->map_prot == v->prot)
			continue;
		r = SYS(mprotect, v->start, v->end - v->start, v->prot);
		if (r < 0)
			rst_fail(a, "mprotect of the VMA at", v->start, r);
	}
}

/* ---- pages ---- */

__attribute__((target("sse4.2"))) static rst_u32 crc32c_page(const unsigned char *p)
{
	unsigned long long c = 0xffffffffu;
	for (int i = 0; i < 4096; i += 8) {
		unsigned long long v;
		__builtin_memcpy(&v, p + i, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	return ~(rst_u32)c;
}

/* Three pages at once: three independent dependency chains keep the crc unit busy. */
__attribute__((target("sse4.2"))) static void crc32c_3pages(const unsigned char *p, rst_u32 *out)
{
	unsigned long long c0 = 0xffffffffu, c1 = 0xffffffffu, c2 = 0xffffffffu;
	for (int i = 0; i < 4096; i += 8) {
		unsigned long long v0, v1, v2;
		__builtin_memcpy(&v0, p + i, 8);
		__builtin_memcpy(&v1, p + 4096 + i, 8);
		__builtin_memcpy(&v2, p + 8192 + i, 8);
		c0 = __builtin_ia32_crc32di(c0, v0);
		c1 = __builtin_ia32_crc32di(c1, v1);
		c2 = __builtin_ia32_crc32di(c2, v2);
	}
	out[0] = ~(rst_u32)c0;
	out[1] = ~(rst_u32)c1;
	out[2] = ~(rst_u32)c2;
}

static void check_crcs(struct rst_args *a, const unsigned char *p, rst_u64 nr, const rst_u32 *want,
		       rst_u64 vaddr)
{
	rst_u64 i = 0;
	rst_u32 got[3];

	for (; i + 3 <= nr; i += 3) {
		crc32c_3pages(p + i * RST_PAGE, got);
		for (int k = 0; k < 3; k++)
			if (got[k] != want[i + k])
				rst_fail(a, "corrupt page (crc32c mismatch) at", vaddr + (i + k) * RST_PAGE, 0);
	}
	for (; i < nr; i++)
		if (crc32c_page(p + i * RST_PAGE) != want[i])
			rst_fail(a, "corrupt page (crc32c mismatch) at", vaddr + i * RST_PAGE, 0);
}

static void fill_pages(struct rst_args *a)
{
	struct rst_run *r = (struct rst_run *)((char *)a + a->runs_off);
	const rst_u32 *crcs = (const rst_u32 *)((char *)a + a->crcs_off);

	for (rst_u32 i = 0; i < a->nr_runs; i++, r++) {
		rst_u64 len = r->nr_pages * RST_PAGE;
		if (r->flags & RST_RUN_ZERO) {
			__builtin_memset((void *)(unsigned long)r->vaddr, 0, len);
			continue;
		}
		for (rst_u64 done = 0; done < len;) {
			rst_u64 n = len - done < RST_CHUNK ? len - done : RST_CHUNK;
			unsigned char *dst = (unsigned char *)(unsigned long)(r->vaddr + done);
			rst_u64 got = 0;
			while (got < n) {
				long ret = SYS(pread64, a->pages_fd, dst + got, n - got, r->file_off + done + got);
				if (ret == -4) /* EINTR */
					continue;
				if (ret <= 0)
					rst_fail(a, "reading pages into", r->vaddr + done + got, ret ? ret : -61);
				got += ret;
			}
			if (a->check_crc)
				check_crcs(a, dst, n / RST_PAGE, crcs + r->crc_idx + done / RST_PAGE,
					   r->vaddr + done);
			done += n;
		}
	}
}

/* ---- lazy pages ---- */

static void register_lazy(struct rst_args *a)
{
	struct rst_vma *v = (struct rst_vma *)((char *)a + a->vmas_off);

	if (a->uffd < 0)
		return;
	for (rst_u32 i = 0; i < a->nr_vmas; i++, v++) {
		struct uffdio_register reg;
		unsigned long long need;
		long r;

		if (!v->uffd_mode)
			continue;
		reg.range.start = v->start;
		reg.range.len = v->end - v->start;
		reg.mode = v->uffd_mode;
		reg.ioctls = 0;
		r = sys_ioctl(a->uffd, (long)UFFDIO_REGISTER, (long)&reg, 0, 0, 0);
		if (r < 0)
			rst_fail(a, "UFFDIO_REGISTER of the VMA at", v->start, r);
		need = (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_ZEROPAGE) | (1ULL << _UFFDIO_WAKE);
		if (v->uffd_mode & UFFDIO_REGISTER_MODE_MINOR)
			need = (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_WAKE) | (1ULL << _UFFDIO_CONTINUE);
		if ((reg.ioctls & need) != need)
			rst_fail(a, "userfaultfd lacks the ioctls needed for the VMA at", v->start, -95);
	}
}

/* ---- mm ---- */

static void set_mm(struct rst_args *a)
{
	struct prctl_mm_map map;
	long r;

	map.start_code = a->mm[0];
	map.end_code = a->mm[1];
	map.start_data = a->mm[2];
	map.end_data = a->mm[3];
	map.start_brk = a->mm[4];
	map.brk = a->mm[5];
	map.start_stack = a->mm[6];
	map.arg_start = a->mm[7];
	map.arg_end = a->mm[8];
	map.env_start = a->mm[9];
	map.env_end = a->mm[10];
	map.auxv = a->auxv_size ? (unsigned long long *)((char *)a + a->auxv_off) : 0;
	map.auxv_size = a->auxv_size;
	map.exe_fd = a->exe_fd < 0 ? (rst_u32)-1 : (rst_u32)a->exe_fd;
	r = SYS(prctl, PR_SET_MM, PR_SET_MM_MAP, &map, sizeof(map), 0);
	if (r == -16 /* EBUSY: the old exe is still mapped */ && a->exe_fd >= 0) {
		map.exe_fd = (rst_u32)-1;
		r = SYS(prctl, PR_SET_MM, PR_SET_MM_MAP, &map, sizeof(map), 0);
	}
	if (r < 0)
		rst_fail(a, "PR_SET_MM_MAP, start_code", a->mm[0], r);
}

/* ---- threads ---- */

static struct rst_thread *threads_of(struct rst_args *a)
{
	return (struct rst_thread *)((char *)a + a->threads_off);
}

static void futex_wait_while(struct rst_args *a, rst_u32 *addr, rst_u32 val, int shared)
{
	while (__atomic_load_n(addr, __ATOMIC_SEQ_CST) == val) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		SYS(futex, addr, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, val, &ts, 0, 0);
		check_abort(a);
	}
}

static void set_caps(struct rst_args *a, unsigned long long eff)
{
	struct rst_creds *c = &a->creds;
	struct {
		rst_u32 version;
		rst_s32 pid;
	} hdr = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
	struct {
		rst_u32 eff, prm, inh;
	} data[2] = {
		{ (rst_u32)eff, (rst_u32)c->cap_prm, (rst_u32)c->cap_inh },
		{ (rst_u32)(eff >> 32), (rst_u32)(c->cap_prm >> 32), (rst_u32)(c->cap_inh >> 32) },
	};
	long r = SYS(capset, &hdr, data);
	if (r < 0)
		rst_fail(a, "capset, permitted", c->cap_prm, r);
}

/* Creds are per thread at the syscall level: every thread runs this. Root (or any
 * privileged) restore: bounding set, then ids with the caps kept (apply_caps sets
 * them at the end). */
static void apply_creds(struct rst_args *a)
{
	struct rst_creds *c = &a->creds;
	long r;

	if (!c->set)
		return;
	if (c->has_caps) {
		for (rst_u32 cap = 0; cap <= c->last_cap && cap < 64; cap++)
			if (!(c->cap_bnd & (1ULL << cap))) {
				r = SYS(prctl, PR_CAPBSET_DROP, cap, 0, 0, 0);
				if (r < 0 && r != -22 /* EINVAL: not known here */)
					rst_fail(a, "dropping from the bounding set capability", cap, r);
			}
		SYS(prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0);
	}
	r = SYS(setgroups, c->nr_groups, (char *)a + c->groups_off);
	if (r < 0 && r != -1 /* EPERM: unprivileged, groups unchanged */)
		rst_fail(a, "setgroups, count", c->nr_groups, r);
	r = SYS(setresgid, c->gid, c->egid, c->sgid);
	if (r < 0)
		rst_fail(a, "setresgid, gid", c->gid, r);
	SYS(setfsgid, c->fsgid);
	r = SYS(setresuid, c->uid, c->euid, c->suid);
	if (r < 0)
		rst_fail(a, "setresuid, uid", c->uid, r);
	SYS(setfsuid, c->fsuid);
	if (c->has_caps) {
		/* a new uid cleared the effective set: what was kept is effective again until
		 * apply_caps (installing seccomp filters may need CAP_SYS_ADMIN) */
		struct {
			rst_u32 version;
			rst_s32 pid;
		} hdr = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
		struct {
			rst_u32 eff, prm, inh;
		} data[2];
		r = SYS(capget, &hdr, data);
		if (r == 0) {
			data[0].eff = data[0].prm;
			data[1].eff = data[1].prm;
			r = SYS(capset, &hdr, data);
		}
		if (r < 0)
			rst_fail(a, "capget/capset of the kept capabilities, uid", c->uid, r);
	}
}

/* The capabilities, last (after seccomp, which may need CAP_SYS_ADMIN to be installed).
 * Until here the thread kept every capability it had: KEEPCAPS. */
static void apply_caps(struct rst_args *a)
{
	struct rst_creds *c = &a->creds;
	long r;

	if (!c->set || !c->has_caps)
		return;
	/* permitted as effective for a moment: securebits need CAP_SETPCAP */
	set_caps(a, c->cap_prm);
	if (c->has_securebits) {
		r = SYS(prctl, PR_SET_SECUREBITS, c->securebits, 0, 0, 0);
		if (r < 0 && r != -1)
			rst_fail(a, "PR_SET_SECUREBITS", c->securebits, r);
	}
	set_caps(a, c->cap_eff);
	SYS(prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (rst_u32 cap = 0; cap <= c->last_cap && cap < 64; cap++)
		if (c->cap_amb & (1ULL << cap)) {
			r = SYS(prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
			if (r < 0)
				rst_fail(a, "raising ambient capability", cap, r);
		}
}

/* Per-thread state; then the thread counts itself ready. */
static void thread_prepare(struct rst_args *a, struct rst_thread *t)
{
	const unsigned char *pend = (const unsigned char *)a + t->pending_off;
	long r;

	if (t->has_rseq) {
		r = SYS(rseq, t->rseq_addr, t->rseq_len, 0, t->rseq_sig);
		if (r < 0)
			rst_fail(a, "rseq registration at", t->rseq_addr, r);
	}
	if (t->has_clear_tid)
		SYS(set_tid_address, t->clear_tid_addr);
	if (t->comm[0])
		SYS(prctl, PR_SET_NAME, t->comm, 0, 0, 0);
	for (rst_u32 i = 0; i < t->nr_pending; i++) {
		int sig = *(const int *)(pend + i * 128);
		r = SYS(rt_tgsigqueueinfo, a->pid, t->tid, sig, pend + i * 128);
		if (r < 0)
			rst_fail(a, "queueing a thread's pending signal, signal", sig, r);
	}
	if (t->has_sched && (t->sched_policy || t->sched_prio)) {
		int prio = (int)t->sched_prio;
		r = SYS(sched_setscheduler, 0, t->sched_policy, &prio);
		if (r < 0)
			rst_fail(a, "sched_setscheduler, policy", t->sched_policy, r);
	}
	if (t->has_nice) {
		r = SYS(setpriority, 0 /* PRIO_PROCESS */, 0 /* this thread */, t->nice);
		if (r < 0)
			rst_fail(a, "setpriority, nice", (unsigned long long)(long long)t->nice, r);
	}
	apply_creds(a);
	if (!t->seccomp_mode)
		apply_caps(a); /* (with seccomp: once its filters are in, in thread_go) */
	r = SYS(arch_prctl, ARCH_SET_GS, t->gs_base);
	if (r < 0)
		rst_fail(a, "arch_prctl(ARCH_SET_GS)", t->gs_base, r);
	r = SYS(arch_prctl, ARCH_SET_FS, t->fs_base);
	if (r < 0)
		rst_fail(a, "arch_prctl(ARCH_SET_FS)", t->fs_base, r);

	/* Ready: the leader counts its threads, then tells the parent. The counter is in
	 * the task's private memory, where the leader waits with FUTEX_WAIT_PRIVATE: a
	 * shared wake would not reach it (it would sleep its whole timeout). */
	__atomic_add_fetch(&a->threads_ready, 1, __ATOMIC_SEQ_CST);
	SYS(futex, &a->threads_ready, FUTEX_WAKE_PRIVATE, 0x7fffffff, 0, 0, 0);
}

/* seccomp, the thread's last state: its filters, the oldest first (the parent traces
 * the thread with PTRACE_O_SUSPEND_SECCOMP until it has left the restorer). */
static void install_seccomp(struct rst_args *a, struct rst_thread *t)
{
	const struct rst_filter *f = (const struct rst_filter *)((char *)a + t->filters_off);
	long r;

	if (t->seccomp_mode == 1) {
		r = SYS(seccomp, 0 /* SECCOMP_SET_MODE_STRICT */, 0, 0);
		if (r < 0)
			rst_fail(a, "seccomp strict mode, thread", t->tid, r);
		return;
	}
	for (rst_u32 i = 0; t->seccomp_mode == 2 && i < t->nr_filters; i++) {
		struct {
			unsigned short len;
			unsigned short pad[3];
			const void *filter;
		} prog = { (unsigned short)f[i].len, { 0, 0, 0 }, (const char *)a + f[i].prog_off };
		r = SYS(seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, f[i].flags, &prog);
		if (r < 0)
			rst_fail(a, "installing a seccomp filter of thread", t->tid, r);
	}
}

/* Wait for the parent's go (every task restored), then rt_sigreturn. */
static void __attribute__((noreturn)) thread_go(struct rst_args *a, struct rst_thread *t)
{
	struct rst_sigframe *f = (struct rst_sigframe *)((char *)a + t->frame_off);

	futex_wait_while(a, &sync_of(a)->go, 0, 1);
	if (t == threads_of(a))
		SYS(prctl, PR_SET_PDEATHSIG, a->pdeath_sig, 0, 0, 0);
	/* under seccomp: the filters, then the caps (the parent traces every syscall here) */
	if (t->seccomp_mode) {
		install_seccomp(a, t);
		apply_caps(a);
	}

	__asm__ volatile("movq %0, %%rsp\n\t"
			 "movl %1, %%eax\n\t"
			 "syscall\n\t"
			 "ud2\n\t"
			 :
			 : "r"((unsigned long)&f->uc), "i"(__NR_rt_sigreturn)
			 : "memory");
	__builtin_unreachable();
}

static void __attribute__((noreturn, used)) thread_entry(struct rst_args *a)
{
	struct rst_thread *t = threads_of(a);
	long tid = sys_gettid(0, 0, 0, 0, 0, 0);

	for (rst_u32 i = 1; i < a->nr_threads; i++)
		if (t[i].tid == (rst_u32)tid) {
			thread_prepare(a, &t[i]);
			thread_go(a, &t[i]);
		}
	rst_fail(a, "a thread with an unknown tid", tid, 0);
}

static long clone3_thread(struct clone_args *ca, struct rst_args *a)
{
	long ret;
	register long r12 __asm__("r12") = (long)thread_entry;
	register long r13 __asm__("r13") = (long)a;

	/* The child starts on its own stack with rax == 0: it calls thread_entry(a). */
	__asm__ volatile("syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xorl %%ebp, %%ebp\n\t"
			 "movq %%r13, %%rdi\n\t"
			 "callq *%%r12\n\t"
			 "ud2\n"
			 "1:\n\t"
			 : "=a"(ret)
			 : "a"((long)__NR_clone3), "D"(ca), "S"(sizeof(*ca)), "r"(r12), "r"(r13)
			 : "rcx", "r11", "memory");
	return ret;
}

static void create_threads(struct rst_args *a)
{
	struct rst_thread *t = threads_of(a);

	for (rst_u32 i = 1; i < a->nr_threads; i++) {
		struct clone_args ca;
		unsigned long long tid = t[i].tid;
		unsigned long long top = (unsigned long long)(unsigned long)a + t[i].stack_off;
		long r;

		__builtin_memset(&ca, 0, sizeof(ca));
		ca.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			   CLONE_SYSVSEM;
		ca.stack = top - 32768;
		ca.stack_size = 32768;
		ca.set_tid = (unsigned long long)(unsigned long)&tid;
		ca.set_tid_size = 1;
		r = clone3_thread(&ca, a);
		if (r < 0)
			rst_fail(a, "clone3 of thread", t[i].tid, r);
	}
}

void rst_main(struct rst_args *a)
{
	struct rst_sync *s = sync_of(a);
	const unsigned char *sp = (const unsigned char *)a + a->shared_pending_off;

	if (a->magic != RST_ARGS_MAGIC || a->version != RST_ARGS_VERSION ||
	    a->args_size != sizeof(struct rst_args))
		rst_fail(a, "bad args magic/version/size", a->magic, -22);

	unmap_old(a);
	move_vdso(a);
	map_vmas(a);
	fill_pages(a);
	protect_vmas(a);
	register_lazy(a);
	set_mm(a);
	create_threads(a);

	for (rst_u32 i = 0; i < a->nr_shared_pending; i++) {
		int sig = *(const int *)(sp + i * 128);
		long r = SYS(rt_sigqueueinfo, a->pid, sig, sp + i * 128);
		if (r < 0)
			rst_fail(a, "queueing a pending signal, signal", sig, r);
	}
	for (int i = 0; i < 3; i++) {
		struct rst_itimer *it = &a->itimers[i];
		long v[4];
		long r;
		if (!it->set)
			continue;
		v[0] = it->interval_us / 1000000;
		v[1] = it->interval_us % 1000000;
		v[2] = it->value_us / 1000000;
		v[3] = it->value_us % 1000000;
		r = SYS(setitimer, it->which, v, 0);
		if (r < 0)
			rst_fail(a, "setitimer, which", it->which, r);
	}

	thread_prepare(a, &threads_of(a)[0]);
	for (;;) {
		rst_u32 n = __atomic_load_n(&a->threads_ready, __ATOMIC_SEQ_CST);
		if (n >= a->nr_threads)
			break;
		/* shared, as the threads' futex_wake_all(): a private wait never hears a
		 * shared wake (other keys), and would sleep its whole 200 ms each time */
		futex_wait_while(a, &a->threads_ready, n, 1);
	}
	/* The restorer's own fds (pages image, mapping fds, uffd, exe): not the task's. */
	if (a->svc_fd_base > 0)
		SYS(close_range, a->svc_fd_base, ~0U, 0);
	__atomic_add_fetch(&s->nr_done, 1, __ATOMIC_SEQ_CST);
	sync_bump(s);
	thread_go(a, &threads_of(a)[0]);
}
