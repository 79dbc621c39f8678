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
#include <linux/aio_abi.h>

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

/* Unmap everything but the reserved area, the premap area and the vdso pieces. */
static void unmap_old(struct rst_args *a)
{
	struct rst_range keep[5];
	int n = 0;
	rst_u64 cur = 0;

	keep[n].start = a->keep_start;
	keep[n++].end = a->keep_end;
	if (a->premap_end > a->premap_start) {
		keep[n].start = a->premap_start;
		keep[n++].end = a->premap_end;
	}
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
			if (v->premap) /* made, filled, shared with the children: moved into place */
				r = SYS(mremap, v->premap, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, v->start);
			else
				r = SYS(mmap, v->start, len, prot, flags, v->fd, v->fd < 0 ? 0 : v->pgoff);
			if (r != (long)v->start)
				rst_fail(a, v->premap ? "mremap of the premapped VMA to" : "mmap of the VMA at",
					 v->start, r < 0 ? r : -22);
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
		if (v->madv & RST_MADV_RANDOM)
			SYS(madvise, v->start, len, MADV_RANDOM);
		if (v->madv & RST_MADV_SEQUENTIAL)
			SYS(madvise, v->start, len, MADV_SEQUENTIAL);
		if ((v->madv & RST_MADV_MERGEABLE) && (r = SYS(madvise, v->start, len, MADV_MERGEABLE)) < 0)
			rst_fail(a, "madvise(MADV_MERGEABLE) of the VMA at", v->start, r);
	}
}

#define RST_MADV_GUARD_INSTALL 102
#define RST_MLOCK_ONFAULT 0x01
#define RST_MCL_FUTURE 2
#define RST_MCL_ONFAULT 4
#define RST_PR_SET_VMA 0x53564d41
#define RST_PR_SET_VMA_ANON_NAME 0
#define RST_PR_SET_MEMORY_MERGE 67

/* Once the pages are in: guard regions, names, locks (what populating or filling
 * would trip on, or what needs the pages there). */
static void finish_vmas(struct rst_args *a)
{
	struct rst_vma *v = (struct rst_vma *)((char *)a + a->vmas_off);

	for (rst_u32 i = 0; i < a->nr_vmas; i++, v++) {
		const rst_u64 *g = (const rst_u64 *)((char *)a + v->guards_off);
		long r;

		for (rst_u32 k = 0; k < v->nr_guards; k++) {
			r = SYS(madvise, g[2 * k], g[2 * k + 1] * RST_PAGE, RST_MADV_GUARD_INSTALL);
			if (r < 0)
				rst_fail(a, "MADV_GUARD_INSTALL at", g[2 * k], r);
		}
		if (v->name_off) {
			r = SYS(prctl, RST_PR_SET_VMA, RST_PR_SET_VMA_ANON_NAME, v->start, v->end - v->start,
				(char *)a + v->name_off);
			if (r < 0)
				rst_fail(a, "naming (PR_SET_VMA_ANON_NAME) the VMA at", v->start, r);
		}
		if (v->lock) {
			r = SYS(mlock2, v->start, v->end - v->start, v->lock == RST_LOCK_ONFAULT ? RST_MLOCK_ONFAULT : 0);
			if (r < 0)
				rst_fail(a, "mlock of the VMA at", v->start, r);
		}
	}
	if (a->lock_future) {
		long r = SYS(mlockall, RST_MCL_FUTURE | (a->lock_future == RST_LOCK_ONFAULT ? RST_MCL_ONFAULT : 0));
		if (r < 0)
			rst_fail(a, "mlockall(MCL_FUTURE), flags", a->lock_future, r);
	}
	if (a->memory_merge) {
		long r = SYS(prctl, RST_PR_SET_MEMORY_MERGE, 1, 0, 0, 0);
		if (r < 0)
			rst_fail(a, "PR_SET_MEMORY_MERGE", 1, r);
	}
}

/* Last: seals forbid changing the VMA from now on. */
static void seal_vmas(struct rst_args *a)
{
	struct rst_vma *v = (struct rst_vma *)((char *)a + a->vmas_off);

	for (rst_u32 i = 0; i < a->nr_vmas; i++, v++) {
		long r;
		if (!v->seal)
			continue;
		r = SYS(mseal, v->start, v->end - v->start, 0);
		if (r < 0)
			rst_fail(a, "mseal of the VMA at", v->start, r);
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

/* ---- AIO rings ---- */

struct rst_aio_ring {
	rst_u32 id, nr, head, tail, magic, compat, incompat, header_length;
};

#define RST_AIO_HDR 32ULL
#define RST_IOCB_CMD_PWRITE 1
#define RST_AIO_BATCH 64

/*
 * An AIO ring: the VMA at its place holds the dumped ring (mapped and filled as memory).
 * A new ring of the same size (io_setup) gets the kernel's tail where the dumped one
 * was, by as many requests completed at once (writes of a byte to /dev/null), the
 * dumped head and events, and then the dumped ring's place (mremap, which moves the
 * ring's context with it: the aio_context_t is its address).
 */
static void restore_aio(struct rst_args *a, struct rst_vma *v)
{
	const struct rst_aio_ring *old = (const struct rst_aio_ring *)(unsigned long)v->start;
	rst_u64 len = v->end - v->start, ctx = 0, count, done = 0;
	struct rst_aio_ring *ring;
	struct iocb cb, *cbs[RST_AIO_BATCH];
	char byte = 0;
	long r;

	r = SYS(io_setup, v->aio_nr_req, &ctx);
	if (r < 0)
		rst_fail(a, "io_setup for the AIO ring at", v->start, r);
	ring = (struct rst_aio_ring *)(unsigned long)ctx;
	if (ring->nr != old->nr || old->head >= old->nr || old->tail >= old->nr ||
	    RST_AIO_HDR + (rst_u64)ring->nr * RST_AIO_HDR > len)
		rst_fail(a, "io_setup made a ring of another size for the AIO ring at", v->start, -22);
	count = old->tail >= old->head ? old->tail : old->nr + old->tail; /* past head: a full turn */
	__builtin_memset(&cb, 0, sizeof(cb));
	cb.aio_lio_opcode = RST_IOCB_CMD_PWRITE;
	cb.aio_fildes = (rst_u32)a->devnull_fd;
	cb.aio_buf = (unsigned long)&byte;
	cb.aio_nbytes = 1;
	for (int i = 0; i < RST_AIO_BATCH; i++)
		cbs[i] = &cb;
	while (done < count) {
		rst_u64 n = count - done < RST_AIO_BATCH ? count - done : RST_AIO_BATCH;
		r = SYS(io_submit, ctx, n, cbs);
		if (r <= 0)
			rst_fail(a, "io_submit to move the tail of the AIO ring at", v->start, r ? r : -11);
		done += (rst_u64)r;
		/* taking them (head) frees their slots for the next ones */
		ring->head = done < old->head ? (rst_u32)done : old->head;
	}
	ring->head = old->head;
	__builtin_memcpy((char *)ring + RST_AIO_HDR, (const char *)old + RST_AIO_HDR, len - RST_AIO_HDR);
	r = SYS(mremap, ctx, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, v->start);
	if (r != (long)v->start)
		rst_fail(a, "mremap of the AIO ring to", v->start, r < 0 ? r : -22);
}

static void restore_aios(struct rst_args *a)
{
	struct rst_vma *v = (struct rst_vma *)((char *)a + a->vmas_off);

	for (rst_u32 i = 0; i < a->nr_vmas; i++, v++)
		if (v->aio_nr_req)
			restore_aio(a, v);
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

/* ---- POSIX timers ---- */

#define RST_PR_TIMER_CREATE_RESTORE_IDS 77
#define RST_SIGEV_SIGNAL 0
#define RST_SIGEV_NONE 1
#define RST_SIGEV_THREAD_ID 4
#define RST_TIMER_ABSTIME 1
#define RST_SI_TIMER (-2)
#define RST_NSEC 1000000000ULL

struct rst_sigevent {
	rst_u64 value;
	rst_s32 signo;
	rst_s32 notify;
	rst_s32 tid;
	rst_s32 pad[11];
};

struct rst_timespec {
	long long sec, nsec;
};

static struct rst_timer *timers_of(struct rst_args *a)
{
	return (struct rst_timer *)((char *)a + a->timers_off);
}

static long make_timer(const struct rst_timer *t, int *ret_id)
{
	struct rst_sigevent ev;

	__builtin_memset(&ev, 0, sizeof(ev));
	ev.value = t->sigval;
	ev.signo = (rst_s32)t->signo;
	ev.notify = (rst_s32)t->notify;
	ev.tid = (rst_s32)t->tid;
	return SYS(timer_create, t->clock, &ev, ret_id);
}

/*
 * Make every timer with its id: with PR_TIMER_CREATE_RESTORE_IDS timer_create takes
 * the id asked for; without it, ids come in order from 0 (a fresh process), and the
 * ones between are made and deleted again.
 */
static void create_timers(struct rst_args *a)
{
	struct rst_timer *t = timers_of(a);
	int by_id = !a->timers_in_order && SYS(prctl, RST_PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0) == 0;
	rst_u32 next = 0;
	long r;

	for (rst_u32 i = 0; i < a->nr_timers; i++) {
		int id = (int)t[i].id;
		if (by_id) {
			r = make_timer(&t[i], &id);
			if (r < 0 || id != (int)t[i].id)
				rst_fail(a, "timer_create (with its id) of timer", t[i].id, r < 0 ? r : -22);
			continue;
		}
		for (;;) {
			struct rst_timer gap = { .clock = 1 /* CLOCK_MONOTONIC */, .notify = RST_SIGEV_NONE };
			int got;
			r = make_timer(next == t[i].id ? &t[i] : &gap, &got);
			if (r < 0 || got != (int)next)
				rst_fail(a, "timer_create in id order, for timer", t[i].id, r < 0 ? r : -22);
			if (next++ == t[i].id)
				break;
			r = SYS(timer_delete, got);
			if (r < 0)
				rst_fail(a, "timer_delete of a placeholder timer", got, r);
		}
	}
	if (by_id)
		SYS(prctl, RST_PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0);
}

static rst_u64 clock_now(struct rst_args *a, const struct rst_timer *t)
{
	struct rst_timespec ts;
	long r = SYS(clock_gettime, t->clock, &ts);

	if (r < 0)
		rst_fail(a, "clock_gettime of the clock of timer", t->id, r);
	return (rst_u64)ts.sec * RST_NSEC + (rst_u64)ts.nsec;
}

static void settime(struct rst_args *a, const struct rst_timer *t, int flags, rst_u64 value, rst_u64 interval)
{
	struct rst_timespec its[2] = { { (long long)(interval / RST_NSEC), (long long)(interval % RST_NSEC) },
				       { (long long)(value / RST_NSEC), (long long)(value % RST_NSEC) } };
	long r = SYS(timer_settime, t->id, flags, its, 0);

	if (r < 0)
		rst_fail(a, "timer_settime of timer", t->id, r);
}

/* Wait (a second at most) until the signal of a timer armed in the past is pending. */
static void wait_fired(struct rst_args *a, const struct rst_timer *t)
{
	for (int i = 0; i < 2000; i++) {
		rst_u64 set = 0;
		struct rst_timespec nap = { 0, 500000 };
		SYS(rt_sigpending, &set, 8);
		if (set & (1ULL << (t->signo - 1)))
			return;
		SYS(nanosleep, &nap, 0);
	}
	rst_fail(a, "the signal of timer did not come", t->id, -62);
}

/*
 * Arm a timer as it was. Its pending signal is made by the timer itself: armed at the
 * last period (in the past), it fires at once, and its next period is where it was.
 * The overruns of its last signal (what timer_getoverrun() gives) by a signal taken
 * here: armed N + 1 periods before the next one, it counts N at delivery. Otherwise,
 * the time left and the interval. CPU-time timers (neither pending nor with overruns:
 * the dump saw to it) only the latter.
 */
static void arm_timer(struct rst_args *a, const struct rst_timer *t)
{
	rst_u64 v = t->value_ns, iv = t->interval_ns, now, at;

	if (t->pending) {
		now = clock_now(a, t);
		at = iv && v <= iv ? now + v - iv : now;
		settime(a, t, RST_TIMER_ABSTIME, at ? at : 1, iv);
		wait_fired(a, t);
		return;
	}
	if (t->overrun && iv && t->notify != RST_SIGEV_NONE && v) {
		now = clock_now(a, t);
		if (now + v > (t->overrun + 1ULL) * iv) {
			rst_u64 set = 1ULL << (t->signo - 1);
			struct rst_timespec zero = { 0, 0 };
			unsigned char info[128];
			long r;

			settime(a, t, RST_TIMER_ABSTIME, now + v - (t->overrun + 1ULL) * iv, iv);
			wait_fired(a, t);
			r = SYS(rt_sigtimedwait, &set, info, &zero, 8);
			if (r != (long)t->signo || *(int *)(info + 8) != RST_SI_TIMER || *(int *)(info + 16) != (int)t->id)
				rst_fail(a, "taking the signal that sets the overruns of timer", t->id, r < 0 ? r : -22);
			return;
		}
		/* too little of its clock has passed to put N periods before it: no overruns */
	}
	if (v)
		settime(a, t, 0, v, iv);
}

/* The timers a thread arms: those that signal it alone, and (the leader, or the first
 * live thread when the leader is dead) every other. */
static void arm_timers(struct rst_args *a, rst_u32 tid, int process_wide)
{
	struct rst_timer *t = timers_of(a);

	for (rst_u32 i = 0; i < a->nr_timers; i++)
		if ((t[i].notify & RST_SIGEV_THREAD_ID) ? t[i].tid == tid : process_wide)
			arm_timer(a, &t[i]);
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
	if (t->robust_len) {
		r = SYS(set_robust_list, t->robust_list, t->robust_len);
		if (r < 0)
			rst_fail(a, "set_robust_list, head", t->robust_list, r);
	}
	if (t->comm[0])
		SYS(prctl, PR_SET_NAME, t->comm, 0, 0, 0);
	if (a->nr_timers && t != threads_of(a)) {
		/* its timers first: taking a timer's signal must not take a queued one (the
		 * leader armed its own with the process-wide ones) */
		futex_wait_while(a, &a->timers_made, 0, 1); /* shared, as futex_wake_all() */
		arm_timers(a, t->tid, 0);
	}
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
	if (t->nr_cpu_mask) {
		r = SYS(sched_setaffinity, 0, t->nr_cpu_mask * 8, t->cpu_mask);
		if (r < 0)
			rst_fail(a, "sched_setaffinity (none of its CPUs here?), first mask word", t->cpu_mask[0], r);
	}
	if (t->has_ioprio) {
		r = SYS(ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, t->ioprio);
		if (r < 0)
			rst_fail(a, "ioprio_set", t->ioprio, r);
	}
	if (t->tsc) {
		r = SYS(prctl, PR_SET_TSC, t->tsc, 0, 0, 0);
		if (r < 0)
			rst_fail(a, "PR_SET_TSC", t->tsc, r);
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

	/* Ready: the leader counts its threads, then tells the parent. The leader waits
	 * with a shared FUTEX_WAIT (thread_go): the wake must be shared too, a private one
	 * has another key and would leave it sleeping its whole timeout (200 ms). */
	__atomic_add_fetch(&a->threads_ready, 1, __ATOMIC_SEQ_CST);
	futex_wake_all(&a->threads_ready);
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
	if (a->premap_end > a->premap_start) /* what is left of it: other tasks' */
		SYS(munmap, a->premap_start, a->premap_end - a->premap_start);
	fill_pages(a);
	restore_aios(a);
	protect_vmas(a);
	register_lazy(a);
	finish_vmas(a);
	set_mm(a);
	seal_vmas(a);
	if (a->mdwe) { /* nothing is mapped or made executable from here on */
		long r = SYS(prctl, 65 /* PR_SET_MDWE */, a->mdwe, 0, 0, 0);
		if (r < 0)
			rst_fail(a, "PR_SET_MDWE", a->mdwe, r);
	}
	create_threads(a);
	if (a->nr_timers) {
		create_timers(a);
		/* process-wide timers (and the leader's own), before the queued signals they
		 * could be mistaken for; then the other threads arm theirs */
		arm_timers(a, a->leader_dead ? 0 : threads_of(a)[0].tid, 1);
		__atomic_store_n(&a->timers_made, 1, __ATOMIC_SEQ_CST);
		futex_wake_all(&a->timers_made);
	}

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

	if (a->leader_dead) {
		/* nothing of the leader's own state is left to restore: it only counts */
		__atomic_add_fetch(&a->threads_ready, 1, __ATOMIC_SEQ_CST);
	} else {
		thread_prepare(a, &threads_of(a)[0]);
	}
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
	for (rst_u32 i = 0; i < a->nr_locks && i < RST_MAX_LOCKS; i++) {
		long r = SYS(fcntl, a->lock_fds[i], 6 /* F_SETLK */, &a->locks[i]);
		if (r < 0)
			rst_fail(a, "F_SETLK (a POSIX lock) on fd", a->lock_fds[i], r);
	}
	__atomic_add_fetch(&s->nr_done, 1, __ATOMIC_SEQ_CST);
	sync_bump(s);
	if (a->leader_dead)
		for (;;)
			SYS(exit, 0); /* this thread only: the others run on */
	thread_go(a, &threads_of(a)[0]);
}
