/*
 * restore-mm: everything about the restored address space that is prepared on the
 * C side: the sigframes (registers + XSAVE), the VMA plan and the page runs the blob
 * fills, the vdso check, and where the restorer's own area goes.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <linux/userfaultfd.h>

#define LOG_PREFIX "restore: "
#include "lib/crc32c.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/proc-parse.h"
#include "criu-lite/restore-ctx.h"
#include "criu-lite/ns/ns.h"

#define RST_TASK_SIZE 0x7ffffffff000ULL
#define CAP_IPC_LOCK_BIT 14
#define RST_THREAD_STACK (32u << 10)
#define RST_LEADER_STACK (64u << 10)

#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

static void set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* ---- registers and sigframe ---- */

void rst_fixup_syscall_restart(uint64_t *ax, uint64_t orig_ax, uint64_t *ip)
{
	int64_t r = (int64_t)*ax;

	if ((int64_t)orig_ax < 0)
		return;
	switch (r) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		*ax = orig_ax;
		*ip -= 2;
		break;
	case -ERESTART_RESTARTBLOCK:
		*ax = (uint64_t)-EINTR;
		break;
	}
}

size_t rst_sigframe_size(uint32_t xstate_size)
{
	return ALIGN_UP(sizeof(struct rst_sigframe), 64) + xstate_size + RST_FP_XSTATE_MAGIC2_SIZE;
}

long rst_build_sigframe(void *buf, size_t len, uint64_t buf_addr, const ThreadCoreEntry *core,
			uint32_t xstate_size, uint64_t xfeatures, char *err, size_t errlen)
{
	struct rst_sigframe *f = buf;
	struct rst_sigcontext *sc = &f->uc.uc_mcontext;
	const UserRegsX86 *r = core->gpregs;
	size_t fp_off = ALIGN_UP(sizeof(*f), 64);
	size_t need = rst_sigframe_size(xstate_size);
	uint64_t ax, ip;

	if (buf_addr % 64) {
		set_err(err, errlen, "sigframe address 0x%" PRIx64 " is not 64-byte aligned", buf_addr);
		return -1;
	}
	if (!r) {
		set_err(err, errlen, "thread %u: no registers", core->tid);
		return -1;
	}
	if (xstate_size < RST_XSAVE_MIN_SIZE || len < need) {
		set_err(err, errlen, "no room for the sigframe (%zu bytes, XSAVE %u)", len, xstate_size);
		return -1;
	}
	memset(buf, 0, need);

	ax = r->ax;
	ip = r->ip;
	rst_fixup_syscall_restart(&ax, r->orig_ax, &ip);
	sc->r8 = r->r8;
	sc->r9 = r->r9;
	sc->r10 = r->r10;
	sc->r11 = r->r11;
	sc->r12 = r->r12;
	sc->r13 = r->r13;
	sc->r14 = r->r14;
	sc->r15 = r->r15;
	sc->rdi = r->di;
	sc->rsi = r->si;
	sc->rbp = r->bp;
	sc->rbx = r->bx;
	sc->rdx = r->dx;
	sc->rax = ax;
	sc->rcx = r->cx;
	sc->rsp = r->sp;
	sc->rip = ip;
	sc->eflags = r->flags;
	sc->cs = r->cs ? r->cs : 0x33;
	sc->ss = r->ss ? r->ss : 0x2b;
	f->uc.uc_flags = RST_UC_SIGCONTEXT_SS | RST_UC_STRICT_RESTORE_SS;
	f->uc.uc_sigmask = core->has_sigmask ? core->sigmask : 0;
	f->uc.uc_sigmask &= ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
	if (core->sigaltstack && !(core->sigaltstack->ss_flags & RST_SS_DISABLE) &&
	    core->sigaltstack->ss_size) {
		f->uc.ss_sp = core->sigaltstack->ss_sp;
		f->uc.ss_size = core->sigaltstack->ss_size;
		f->uc.ss_flags = core->sigaltstack->ss_flags & ~1 /* SS_ONSTACK is a state, not a flag */;
	} else {
		f->uc.ss_flags = RST_SS_DISABLE;
	}

	if (core->has_xsave && core->xsave.len >= RST_XSAVE_MIN_SIZE) {
		unsigned char *fp = (unsigned char *)buf + fp_off;
		struct rst_fpx_sw_bytes sw;
		uint64_t xstate_bv;
		uint64_t feats = core->has_xfeatures ? core->xfeatures : xfeatures;
		uint32_t magic2 = RST_FP_XSTATE_MAGIC2;

		feats &= xfeatures;
		memcpy(fp, core->xsave.data, MIN((size_t)core->xsave.len, (size_t)xstate_size));
		/* The XSAVE header: components not in the kernel's set come back in init state. */
		memcpy(&xstate_bv, fp + RST_FXSAVE_SIZE, 8);
		xstate_bv &= feats;
		memcpy(fp + RST_FXSAVE_SIZE, &xstate_bv, 8);
		memset(fp + RST_FXSAVE_SIZE + 8, 0, RST_XSAVE_HDR_SIZE - 8); /* xcomp_bv: standard form */
		memset(&sw, 0, sizeof(sw));
		sw.magic1 = RST_FP_XSTATE_MAGIC1;
		sw.extended_size = xstate_size + RST_FP_XSTATE_MAGIC2_SIZE;
		sw.xfeatures = feats;
		sw.xstate_size = xstate_size;
		memcpy(fp + RST_FPX_SW_OFF, &sw, sizeof(sw));
		memcpy(fp + xstate_size, &magic2, sizeof(magic2));
		sc->fpstate = buf_addr + fp_off;
		f->uc.uc_flags |= RST_UC_FP_XSTATE;
	} else if (core->has_xsave && core->xsave.len) {
		set_err(err, errlen, "thread %u: XSAVE area of %zu bytes is too short", core->tid,
			core->xsave.len);
		return -1;
	}
	return (long)need;
}

static volatile uint32_t probe_size;
static volatile uint64_t probe_feat;

static void probe_handler(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	const unsigned char *fp = (const unsigned char *)uc->uc_mcontext.fpregs;
	struct rst_fpx_sw_bytes sw;

	(void)sig;
	(void)si;
	if (!fp)
		return;
	memcpy(&sw, fp + RST_FPX_SW_OFF, sizeof(sw));
	if (sw.magic1 != RST_FP_XSTATE_MAGIC1)
		return;
	probe_size = sw.xstate_size;
	probe_feat = sw.xfeatures;
}

int rst_probe_xstate(uint32_t *ret_size, uint64_t *ret_xfeatures)
{
	struct sigaction sa, old;
	sigset_t set, oldset;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = probe_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	probe_size = 0;
	if (sigaction(SIGUSR2, &sa, &old) < 0) {
		pr_perror("can't install the XSAVE probe handler");
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_UNBLOCK, &set, &oldset);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2);
	sigprocmask(SIG_SETMASK, &oldset, NULL);
	sigaction(SIGUSR2, &old, NULL);
	if (probe_size < RST_XSAVE_MIN_SIZE) {
		pr_err("the kernel's signal frames carry no XSAVE state: not supported\n");
		errno = ENOTSUP;
		return -1;
	}
	*ret_size = probe_size;
	*ret_xfeatures = probe_feat;
	return 0;
}

/* ---- vdso ---- */

int rst_vdso_parse(struct rst_vdso_now *v)
{
	cleanup_free struct proc_vma *vmas = NULL;
	struct proc_special sp;
	size_t nr;

	memset(v, 0, sizeof(*v));
	if (proc_read_maps(0, &vmas, &nr) < 0)
		return -1;
	proc_find_special(vmas, nr, &sp);
	v->vdso = (struct rst_range){ sp.vdso.start, sp.vdso.end };
	v->vvar = (struct rst_range){ sp.vvar.start, sp.vvar.end };
	v->vclock = (struct rst_range){ sp.vvar_vclock.start, sp.vvar_vclock.end };
	return 0;
}

static const VmaEntry *find_kind(const MmEntry *mm, uint32_t kind)
{
	for (size_t i = 0; i < mm->n_vmas; i++)
		if (mm->vmas[i]->kind == kind)
			return mm->vmas[i];
	return NULL;
}

static uint64_t rlen(const struct rst_range *r)
{
	return r->end - r->start;
}

int rst_vdso_check(struct rst_ctx *ctx)
{
	struct rst_vdso_now *now = &ctx->vdso_now;
	InventoryEntry *inv = ctx->img.inv;

	if (rst_vdso_parse(now) < 0)
		return -1;
	if (inv->has_vdso_size && inv->vdso_size && inv->vdso_size != rlen(&now->vdso)) {
		pr_err("the dumped vDSO is %" PRIu64 " bytes, this kernel's is %" PRIu64
		       ": a different kernel's vDSO can't be restored\n",
		       inv->vdso_size, rlen(&now->vdso));
		return -1;
	}
	if (inv->has_vdso_digest && inv->vdso_digest.len == 4 && rlen(&now->vdso)) {
		uint32_t want, have = crc32c(0, (void *)(uintptr_t)now->vdso.start, rlen(&now->vdso));
		memcpy(&want, inv->vdso_digest.data, 4);
		if (want != have) {
			pr_err("the dumped vDSO differs from this kernel's (crc32c %08x, ours %08x): not supported\n",
			       want, have);
			return -1;
		}
	}
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		const MmEntry *mm = ctx->tasks[i].img->mm;
		const VmaEntry *vd, *vv, *vc;
		int64_t delta;

		if (!mm)
			continue; /* a zombie */
		vd = find_kind(mm, VMA_KIND_VDSO);
		vv = find_kind(mm, VMA_KIND_VVAR);
		vc = find_kind(mm, VMA_KIND_VVAR_VCLOCK);
		if (!vd)
			continue;
		if (vd->end - vd->start != rlen(&now->vdso)) {
			pr_err("pid %u: the dumped [vdso] is %" PRIu64 " bytes, this kernel's is %" PRIu64 "\n",
			       mm->pid, vd->end - vd->start, rlen(&now->vdso));
			return -1;
		}
		delta = (int64_t)(vd->start - now->vdso.start);
		if ((vv && (vv->start - delta != now->vvar.start || vv->end - vv->start != rlen(&now->vvar))) ||
		    (vc && (vc->start - delta != now->vclock.start ||
			    vc->end - vc->start != rlen(&now->vclock)))) {
			pr_err("pid %u: the dumped [vvar]/[vvar_vclock] layout around [vdso] differs from this kernel's\n",
			       mm->pid);
			return -1;
		}
	}
	return 0;
}

/* ---- the restorer's area ---- */

struct busy {
	uint64_t s, e;
};

static int busy_cmp(const void *a, const void *b)
{
	const struct busy *x = a, *y = b;
	return x->s < y->s ? -1 : x->s > y->s;
}

int rst_find_area(struct rst_ctx *ctx, uint64_t size, uint64_t *ret_start)
{
	cleanup_free struct proc_vma *self = NULL;
	cleanup_free struct busy *b = NULL;
	size_t n = 0, cap = 64, nself;
	const uint64_t below = 64ULL << 20, above = 1ULL << 20; /* room for stacks growing down */
	uint64_t cur = 1ULL << 32;

	if (proc_read_maps(0, &self, &nself) < 0)
		return -1;
	cap += nself;
	for (size_t i = 0; i < ctx->nr_tasks; i++)
		cap += ctx->tasks[i].img->mm ? ctx->tasks[i].img->mm->n_vmas : 0;
	b = calloc(cap, sizeof(*b));
	if (!b) {
		pr_perror("can't allocate the address-space map");
		return -1;
	}
	for (size_t i = 0; i < nself; i++)
		if (self[i].start < RST_TASK_SIZE)
			b[n++] = (struct busy){ self[i].start, self[i].end };
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		const MmEntry *mm = ctx->tasks[i].img->mm;
		if (!mm)
			continue; /* a zombie */
		for (size_t k = 0; k < mm->n_vmas && n < cap; k++)
			b[n++] = (struct busy){ mm->vmas[k]->start, mm->vmas[k]->end };
		/* the brk area may grow */
		if (mm->has_brk && n < cap)
			b[n++] = (struct busy){ mm->start_brk, mm->brk + (256ULL << 20) };
	}
	qsort(b, n, sizeof(*b), busy_cmp);
	for (size_t i = 0; i <= n; i++) {
		uint64_t next = i < n ? b[i].s : RST_TASK_SIZE;
		if (next > cur && next - cur >= size + below + above) {
			*ret_start = ALIGN_UP(cur + above, 1ULL << 21);
			if (*ret_start + size + below <= next)
				return 0;
		}
		if (i < n && b[i].e > cur)
			cur = b[i].e;
	}
	pr_err("no free place of %" PRIu64 " bytes for the restorer in the restored address space\n", size);
	errno = ENOMEM;
	return -1;
}

/* ---- the VMA plan and page runs ---- */

/* Is this entry in a premapped VMA (its pages go in before the children are made)? */
bool rst_entry_premapped(const struct rst_task *t, const PagemapEntry *pe)
{
	const MmEntry *mm = t->img->mm;

	if (!t->premap)
		return false;
	for (size_t i = 0; i < mm->n_vmas; i++)
		if (pe->vaddr >= mm->vmas[i]->start && pe->vaddr < mm->vmas[i]->end)
			return t->premap[i] != 0;
	return false;
}


static bool vma_is_private_anon(const VmaEntry *v)
{
	return v->kind == VMA_KIND_ANON_PRIVATE || v->kind == VMA_KIND_STACK || v->kind == VMA_KIND_HEAP;
}

static bool vma_restored(const VmaEntry *v)
{
	return v->kind != VMA_KIND_VDSO && v->kind != VMA_KIND_VVAR && v->kind != VMA_KIND_VVAR_VCLOCK &&
	       v->kind != VMA_KIND_VSYSCALL;
}

static bool vma_fillable(const VmaEntry *v)
{
	return (vma_is_private_anon(v) || v->kind == VMA_KIND_FILE_PRIVATE || v->kind == VMA_KIND_AIO) &&
	       !(v->has_status && (v->status & VMA_STATUS_GUARD));
}

/*
 * Locked memory (mlock, MAP_LOCKED, MLOCK_ONFAULT) must fit the RLIMIT_MEMLOCK the task
 * gets here (the dumped one, lowered to our hard limit when we can't raise it), unless
 * its creds let it lock more (CAP_IPC_LOCK). 0 or -1 (logged).
 */
static int check_locked(const struct img_task *t)
{
	const MmEntry *mm = t->mm;
	uint64_t locked = 0, cur = RLIM_INFINITY;
	struct rlimit ours;

	for (size_t i = 0; i < mm->n_vmas; i++)
		if (mm->vmas[i]->has_vm_flags && (mm->vmas[i]->vm_flags & PROC_VMF_LO))
			locked += mm->vmas[i]->end - mm->vmas[i]->start;
	if (!locked || (t->creds && t->creds->has_cap_eff && (t->creds->cap_eff & (1ULL << CAP_IPC_LOCK_BIT))))
		return 0;
	for (size_t i = 0; i < t->task->n_rlimits; i++)
		if (t->task->rlimits[i]->resource == RLIMIT_MEMLOCK)
			cur = t->task->rlimits[i]->cur;
	if (getrlimit(RLIMIT_MEMLOCK, &ours) < 0) {
		pr_perror("getrlimit(RLIMIT_MEMLOCK)");
		return -1;
	}
	cur = MIN(cur, (uint64_t)ours.rlim_max);
	if (locked > cur) {
		pr_err("pid %u: its %" PRIu64 " KiB of locked memory (mlock, MAP_LOCKED) do not fit the "
		       "RLIMIT_MEMLOCK it gets here (%" PRIu64 " KiB; this restore can't raise the hard limit "
		       "%" PRIu64 " KiB): not restored unlocked\n",
		       t->pe->pid, locked >> 10, cur >> 10, (uint64_t)ours.rlim_max >> 10);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int rst_mm_check(struct rst_ctx *ctx, struct rst_task *t)
{
	(void)ctx;
	if (check_locked(t->img) < 0)
		return -1;
	for (size_t k = 0; k < t->img->pe->n_threads; k++) {
		const UserRegsX86 *r = t->img->cores[k]->gpregs;
		if (t->img->cores[k]->has_dead && t->img->cores[k]->dead)
			continue;
		if (r->cs != 0x33 || r->ss != 0x2b) {
			pr_err("core-%u.img: cs/ss 0x%" PRIx64 "/0x%" PRIx64 ": only 64-bit tasks can be restored\n",
			       t->img->cores[k]->tid, r->cs, r->ss);
			errno = ENOTSUP;
			return -1;
		}
	}
	return 0;
}

/* Is [addr, addr+len) in a VMA that is not private anonymous (needs explicit zeroing)? */
static bool range_needs_zeroing(const MmEntry *mm, uint64_t addr)
{
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (addr >= v->start && addr < v->end)
			return !vma_is_private_anon(v) && v->kind != VMA_KIND_AIO; /* both fresh: zero */
	}
	return false;
}

static const VmaEntry *vma_at(const MmEntry *mm, uint64_t addr)
{
	size_t lo = 0, hi = mm->n_vmas;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const VmaEntry *v = mm->vmas[mid];
		if (addr < v->start)
			hi = mid;
		else if (addr >= v->end)
			lo = mid + 1;
		else
			return v;
	}
	return NULL;
}

/* A private anonymous VMA whose pages the lazy-pages daemon serves (MISSING faults). */
static bool vma_lazy_anon(struct rst_ctx *ctx, const VmaEntry *v)
{
	return ctx->opts->lazy_pages && v && vma_is_private_anon(v) && v->has_status &&
	       (v->status & VMA_STATUS_LAZY) && !(v->status & VMA_STATUS_GUARD);
}

bool rst_entry_lazy(struct rst_ctx *ctx, const MmEntry *mm, const PagemapEntry *pe)
{
	return ctx->opts->lazy_pages && (pe->flags & PE_LAZY) && vma_lazy_anon(ctx, vma_at(mm, pe->vaddr));
}

/*
 * --lazy-pages: the pages of lazy memory that the kernel writes before the task runs
 * are filled eagerly, so that the restorer never waits for the lazy-pages daemon (and
 * for the time it takes to read its images). That is each thread's rseq area: the
 * kernel writes cpu_id into it as soon as the blob registers it. The daemon then finds
 * these pages present (EEXIST: done). At most RST_PREFILL_MAX per thread.
 */
#define RST_PREFILL_MAX 2

struct prefill {
	uint64_t vaddr;
	const PagemapEntry *pe; /* present lazy entry holding the page, NULL: zero */
};

static int prefill_cmp(const void *a, const void *b)
{
	const struct prefill *x = a, *y = b;
	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* The pages to prefill, sorted and unique, into out (RST_PREFILL_MAX per thread). */
static size_t prefill_pages(struct rst_ctx *ctx, struct rst_task *t, struct prefill *out)
{
	size_t n = 0;

	if (!ctx->opts->lazy_pages)
		return 0;
	for (size_t i = 0; i < t->img->pe->n_threads; i++) {
		const RseqEntry *r = t->img->cores[i]->rseq;
		uint64_t first, last;
		if (!r || !r->rseq_abi_pointer || r->rseq_abi_pointer >= RST_TASK_SIZE)
			continue;
		first = ALIGN_DOWN(r->rseq_abi_pointer, PAGE_SIZE);
		last = ALIGN_DOWN(r->rseq_abi_pointer + MAX(r->rseq_abi_size, 1u) - 1, PAGE_SIZE);
		for (uint64_t pg = first; pg <= last && pg < first + RST_PREFILL_MAX * PAGE_SIZE;
		     pg += PAGE_SIZE) {
			const PagemapEntry *pe = t->img->has_pages ? page_read_find(&t->img->pr, pg) : NULL;
			bool dup = false;
			if (!vma_lazy_anon(ctx, vma_at(t->img->mm, pg)))
				continue; /* not lazy: restored with everything else */
			if (pe && !rst_entry_lazy(ctx, t->img->mm, pe))
				continue; /* an eager entry: already filled */
			for (size_t k = 0; k < n && !dup; k++)
				dup = out[k].vaddr == pg;
			if (dup)
				continue;
			out[n++] = (struct prefill){ pg, pe && (pe->flags & PE_PRESENT) ? pe : NULL };
		}
	}
	qsort(out, n, sizeof(*out), prefill_cmp);
	return n;
}

static int run_cmp(const void *a, const void *b)
{
	const struct rst_run *x = a, *y = b;
	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* Count the runs (merged data runs + zero runs) and data pages of a task. */
static void count_runs(struct rst_ctx *ctx, struct rst_task *t, size_t *ret_runs, size_t *ret_crcs)
{
	size_t runs = 0, crcs = 0;
	uint64_t next_va = 0, next_off = 0;
	bool open = false;
	cleanup_free struct prefill *pf = calloc(t->img->pe->n_threads * RST_PREFILL_MAX + 1, sizeof(*pf));
	size_t npf = pf ? prefill_pages(ctx, t, pf) : 0;

	for (size_t i = 0; i < npf; i++) {
		runs++;
		crcs += pf[i].pe ? 1 : 0;
	}
	if (!t->img->has_pages) {
		*ret_runs = runs;
		*ret_crcs = crcs;
		return;
	}
	for (size_t i = 0; i < t->img->pr.nr_entries; i++) {
		const PagemapEntry *pe = t->img->pr.entries[i];
		if (rst_entry_lazy(ctx, t->img->mm, pe) || rst_entry_premapped(t, pe) || (pe->flags & PE_PARENT)) {
			open = false;
			continue;
		}
		if (pe->flags & PE_PRESENT) {
			crcs += pe->nr_pages;
			if (!(open && pe->vaddr == next_va && pe->pages_off == next_off))
				runs++;
			open = true;
			next_va = pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE;
			next_off = pe->pages_off + pe->nr_pages;
		} else {
			open = false;
			if (range_needs_zeroing(t->img->mm, pe->vaddr))
				runs++;
		}
	}
	*ret_runs = runs;
	*ret_crcs = crcs;
}

struct layout {
	size_t vmas_off, runs_off, crcs_off, auxv_off, threads_off, pending_off, shared_off, groups_off;
	size_t extras_off;      /* guard regions and VMA names */
	size_t timers_off;
	size_t frames_off, seccomp_off, stacks_off, total;
	size_t nr_runs, nr_crcs, nr_pending, frame_size;
};

static size_t nr_restored_vmas(const MmEntry *mm)
{
	size_t n = 0;
	for (size_t i = 0; i < mm->n_vmas; i++)
		n += vma_restored(mm->vmas[i]);
	return n;
}

#define RST_ANON_NAME_MAX 80 /* the kernel's ANON_VMA_NAME_MAX_LEN, with the NUL */

/* The name a program gave an anonymous VMA (PR_SET_VMA_ANON_NAME), or NULL; *ret_len
 * its length. maps shows it as [anon:NAME] (private) or [anon_shmem:NAME] (shared). */
static const char *anon_name(const VmaEntry *v, size_t *ret_len)
{
	const char *n = v->name, *p;
	size_t len;

	if (!n || !(v->flags & MAP_ANONYMOUS))
		return NULL;
	if (!strncmp(n, "[anon:", 6))
		p = n + 6;
	else if (!strncmp(n, "[anon_shmem:", 12))
		p = n + 12;
	else
		return NULL;
	len = strlen(p);
	if (!len || p[len - 1] != ']')
		return NULL;
	*ret_len = len - 1;
	return p;
}

/* Bytes of guard regions and names a task's VMAs need in the args area. */
static size_t extras_size(const MmEntry *mm)
{
	size_t n = 0, len;
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		if (!vma_restored(v))
			continue;
		n += ALIGN_UP(v->n_guards * sizeof(uint64_t), 8);
		if (anon_name(v, &len))
			n += ALIGN_UP(len + 1, 8);
	}
	return n;
}

static void layout_of(struct rst_ctx *ctx, struct rst_task *t, struct layout *l)
{
	size_t off = ALIGN_UP(sizeof(struct rst_args), 64);
	size_t nthreads = t->img->pe->n_threads;

	memset(l, 0, sizeof(*l));
	count_runs(ctx, t, &l->nr_runs, &l->nr_crcs);
	for (size_t i = 0; i < nthreads; i++)
		l->nr_pending += t->img->cores[i]->n_pending;
	l->vmas_off = off;
	off += ALIGN_UP(nr_restored_vmas(t->img->mm) * sizeof(struct rst_vma), 64);
	l->runs_off = off;
	off += ALIGN_UP(l->nr_runs * sizeof(struct rst_run), 64);
	l->crcs_off = off;
	off += ALIGN_UP(l->nr_crcs * sizeof(uint32_t), 64);
	l->auxv_off = off;
	off += ALIGN_UP(t->img->mm->n_auxv * sizeof(uint64_t), 64);
	l->threads_off = off;
	off += ALIGN_UP(nthreads * sizeof(struct rst_thread), 64);
	l->pending_off = off;
	off += l->nr_pending * 128;
	l->shared_off = off;
	off += t->img->task->n_shared_pending * 128;
	l->groups_off = ALIGN_UP(off, 64);
	off = l->groups_off + ALIGN_UP((t->img->creds ? t->img->creds->n_groups : 0) * sizeof(uint32_t), 64);
	l->extras_off = off;
	off += ALIGN_UP(extras_size(t->img->mm), 64);
	l->timers_off = off;
	off += ALIGN_UP(t->img->task->n_posix_timers * sizeof(struct rst_timer), 64);
	l->frame_size = ALIGN_UP(rst_sigframe_size(ctx->xstate_size), 64);
	l->frames_off = ALIGN_UP(off, 64);
	off = l->frames_off + nthreads * l->frame_size;
	l->seccomp_off = ALIGN_UP(off, 64);
	off = l->seccomp_off + ns_rst_seccomp_size(ctx, (size_t)(t - ctx->tasks));
	l->stacks_off = ALIGN_UP(off, PAGE_SIZE);
	off = l->stacks_off + RST_LEADER_STACK + (nthreads - 1) * RST_THREAD_STACK;
	l->total = ALIGN_UP(off, PAGE_SIZE);
}

size_t rst_args_size(struct rst_ctx *ctx, struct rst_task *t)
{
	struct layout l;
	layout_of(ctx, t, &l);
	return l.total;
}

static uint32_t madv_of(const VmaEntry *v)
{
	uint32_t m = 0;
	if (!v->has_madv)
		return 0;
	if (v->madv & (1ULL << MADV_HUGEPAGE))
		m |= RST_MADV_HUGEPAGE;
	if (v->madv & (1ULL << MADV_NOHUGEPAGE))
		m |= RST_MADV_NOHUGEPAGE;
	if (v->madv & (1ULL << MADV_DONTFORK))
		m |= RST_MADV_DONTFORK;
	if (v->madv & (1ULL << MADV_DONTDUMP))
		m |= RST_MADV_DONTDUMP;
	if (v->madv & (1ULL << MADV_WIPEONFORK))
		m |= RST_MADV_WIPEONFORK;
	if (v->madv & (1ULL << MADV_RANDOM))
		m |= RST_MADV_RANDOM;
	if (v->madv & (1ULL << MADV_SEQUENTIAL))
		m |= RST_MADV_SEQUENTIAL;
	if (v->madv & (1ULL << MADV_MERGEABLE))
		m |= RST_MADV_MERGEABLE;
	return m;
}

static void fill_vdso(struct rst_ctx *ctx, struct rst_task *t, struct rst_args *a)
{
	const struct rst_vdso_now *now = &ctx->vdso_now;
	const struct rst_range *pieces[3] = { &now->vvar, &now->vclock, &now->vdso };
	const VmaEntry *vd = find_kind(t->img->mm, VMA_KIND_VDSO);
	struct rst_range r[3];
	size_t n = 0;

	for (int i = 0; i < 3; i++)
		if (rlen(pieces[i]))
			r[n++] = *pieces[i];
	/* sort by address */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && r[j].start < r[j - 1].start; j--) {
			struct rst_range x = r[j];
			r[j] = r[j - 1];
			r[j - 1] = x;
		}
	a->nr_vdso = n;
	if (n)
		memcpy(a->vdso_now, r, n * sizeof(r[0]));
	if (!vd) {
		a->vdso_move = 2;
		return;
	}
	a->vdso_move = 1;
	a->vdso_delta = vd->start - now->vdso.start;
}

/* rst_args_build, section by section: what every section needs. */
struct args_build {
	struct rst_ctx *ctx;
	struct rst_task *t;
	struct rst_args *a;
	char *base;
	uint64_t area_addr;
	struct layout l;
	struct rst_vma *rv;
	size_t nv;
	struct rst_run *run;
	size_t nrun;
	uint32_t *crcs;
	size_t ncrc;
	char *err;
	size_t errlen;
};

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#define RST_MAP_TYPE 0x0f

/* What is set on a VMA once it is in place: its lock, seal, guard regions, name. */
static void args_vma_extras(struct args_build *b, const VmaEntry *v, struct rst_vma *o, size_t *extra)
{
	uint64_t vmf = v->has_vm_flags ? v->vm_flags : 0;
	const char *name;
	size_t len;

	if (vmf & PROC_VMF_LO)
		o->lock = vmf & PROC_VMF_LF ? RST_LOCK_ONFAULT : RST_LOCK_ALL;
	o->seal = !!(vmf & PROC_VMF_SL);
	if (vmf & PROC_VMF_DP)
		o->flags = (o->flags & ~RST_MAP_TYPE) | MAP_DROPPABLE;
	if (v->n_guards) {
		o->nr_guards = v->n_guards / 2;
		o->guards_off = b->l.extras_off + *extra;
		memcpy(b->base + o->guards_off, v->guards, v->n_guards * sizeof(uint64_t));
		*extra += ALIGN_UP(v->n_guards * sizeof(uint64_t), 8);
	}
	name = anon_name(v, &len);
	if (name) {
		o->name_off = b->l.extras_off + *extra;
		memcpy(b->base + o->name_off, name, len);
		b->base[o->name_off + len] = '\0';
		*extra += ALIGN_UP(len + 1, 8);
	}
}

/* The VMAs to map, as the blob maps them. */
static void args_vmas(struct args_build *b)
{
	const MmEntry *mm = b->t->img->mm;
	size_t extra = 0;

	b->rv = (struct rst_vma *)(b->base + b->l.vmas_off);
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		struct rst_vma *o;
		if (!vma_restored(v))
			continue;
		o = &b->rv[b->nv++];
		o->start = v->start;
		o->end = v->end;
		o->pgoff = v->has_pgoff ? v->pgoff : 0;
		o->prot = v->prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
		o->flags = v->flags & (MAP_SHARED | MAP_PRIVATE | MAP_GROWSDOWN | MAP_NORESERVE);
		if (v->kind == VMA_KIND_STACK)
			o->flags |= MAP_GROWSDOWN;
		o->fd = b->t->vma_fds[i];
		o->madv = madv_of(v);
		o->shmid = -1;
		if (v->kind == VMA_KIND_SHMEM && v->has_shmem_id)
			ns_rst_sysv_vma(b->ctx, v, o); /* a System V segment: shmat() */
		o->fill = vma_fillable(v) ? RST_FILL_PAGES : RST_FILL_NONE;
		if (v->kind == VMA_KIND_SHMEM || v->kind == VMA_KIND_FILE_SHARED)
			o->flags = (o->flags & ~MAP_PRIVATE) | MAP_SHARED;
		else
			o->flags = (o->flags & ~MAP_SHARED) | MAP_PRIVATE;
		if (v->has_status && (v->status & VMA_STATUS_GUARD))
			o->prot = PROT_NONE;
		o->premap = b->t->premap ? b->t->premap[i] : 0;
		if (v->kind == VMA_KIND_AIO) /* the io_setup() size that makes a ring this big */
			o->aio_nr_req = (uint32_t)((((v->end - v->start) - 32) / 32 - 2) / 2);
		args_vma_extras(b, v, o, &extra);
	}
	b->a->nr_vmas = b->nv;
	b->a->vmas_off = b->l.vmas_off;
}

/* The eager page runs: data from the pages image (with their crcs), zero runs where
 * the VMA is not fresh anonymous memory. */
static void args_page_runs(struct args_build *b)
{
	struct rst_task *t = b->t;
	uint64_t next_va = 0, next_off = 0;
	bool open = false;

	b->run = (struct rst_run *)(b->base + b->l.runs_off);
	b->crcs = (uint32_t *)(b->base + b->l.crcs_off);
	for (size_t i = 0; t->img->has_pages && i < t->img->pr.nr_entries; i++) {
		const PagemapEntry *pe = t->img->pr.entries[i];
		/* premapped VMAs were filled before the children were made (rst_premap_fill) */
		if (rst_entry_lazy(b->ctx, t->img->mm, pe) || rst_entry_premapped(t, pe) || (pe->flags & PE_PARENT)) {
			open = false;
			continue;
		}
		if (pe->flags & PE_PRESENT) {
			if (open && pe->vaddr == next_va && pe->pages_off == next_off) {
				b->run[b->nrun - 1].nr_pages += pe->nr_pages;
			} else {
				struct rst_run *r = &b->run[b->nrun++];
				r->vaddr = pe->vaddr;
				r->file_off = IMG_PAGES_HDR + pe->pages_off * PAGE_SIZE;
				r->nr_pages = pe->nr_pages;
				r->crc_idx = b->ncrc;
				r->flags = RST_RUN_DATA;
			}
			if (pe->n_crc == pe->nr_pages && pe->nr_pages)
				memcpy(b->crcs + b->ncrc, pe->crc, pe->nr_pages * sizeof(uint32_t));
			b->ncrc += pe->nr_pages;
			open = true;
			next_va = pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE;
			next_off = pe->pages_off + pe->nr_pages;
		} else {
			open = false;
			if (range_needs_zeroing(t->img->mm, pe->vaddr)) {
				struct rst_run *r = &b->run[b->nrun++];
				r->vaddr = pe->vaddr;
				r->nr_pages = pe->nr_pages;
				r->flags = RST_RUN_ZERO;
			}
		}
	}
}

/* Single pages filled up front even under --lazy-pages (prefill_pages), sorted in. */
static void args_prefill(struct args_build *b)
{
	struct rst_task *t = b->t;
	cleanup_free struct prefill *pf = calloc(t->img->pe->n_threads * RST_PREFILL_MAX + 1, sizeof(*pf));
	size_t npf = pf ? prefill_pages(b->ctx, t, pf) : 0;

	for (size_t i = 0; i < npf && b->nrun < b->l.nr_runs; i++) {
		struct rst_run *r = &b->run[b->nrun++];
		const PagemapEntry *pe = pf[i].pe;
		r->vaddr = pf[i].vaddr;
		r->nr_pages = 1;
		if (pe && b->ncrc < b->l.nr_crcs) {
			uint64_t idx = (pf[i].vaddr - pe->vaddr) / PAGE_SIZE;
			r->file_off = IMG_PAGES_HDR + (pe->pages_off + idx) * PAGE_SIZE;
			r->crc_idx = b->ncrc;
			r->flags = RST_RUN_DATA;
			b->crcs[b->ncrc++] = pe->crc[idx];
		} else {
			r->flags = RST_RUN_ZERO; /* touching it is what matters: fresh pages are zero */
		}
	}
	if (npf)
		qsort(b->run, b->nrun, sizeof(*b->run), run_cmp);
}

/* Per VMA: how it is filled, registered with the uffd, and mapped. */
static void args_vma_modes(struct args_build *b)
{
	const MmEntry *mm = b->t->img->mm;

	/* Map writable first what gets filled, and what was accountable (written to before, or
	 * writable once): a VMA's VM_ACCOUNT decides whether it merges with its neighbours. */
	for (size_t i = 0, k = 0; i < b->nv; i++) {
		struct rst_vma *o = &b->rv[i];
		const VmaEntry *v = NULL;
		bool has_pages = false;
		for (size_t j = 0; j < mm->n_vmas && !v; j++)
			if (mm->vmas[j]->start == o->start)
				v = mm->vmas[j];
		while (k < b->nrun && b->run[k].vaddr + b->run[k].nr_pages * PAGE_SIZE <= o->start)
			k++;
		for (size_t j = k; j < b->nrun && b->run[j].vaddr < o->end; j++)
			has_pages = true;
		if (!has_pages)
			o->fill = RST_FILL_NONE;
		if (vma_lazy_anon(b->ctx, v)) {
			o->uffd_mode = UFFDIO_REGISTER_MODE_MISSING;
			if (!has_pages)
				o->fill = RST_FILL_LAZY;
		} else if (b->ctx->opts->lazy_pages && v && v->kind == VMA_KIND_SHMEM &&
			   rst_shmem_lazy(b->ctx, v->shmem_id)) {
			o->uffd_mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR;
		}
		if (o->uffd_mode)
			b->a->nr_lazy++;
		o->map_prot = o->prot;
		if (o->premap)
			o->map_prot = PROT_READ | PROT_WRITE; /* as premapped: mprotect()ed to prot */
		else if (o->fill == RST_FILL_PAGES ||
		    (v && v->has_vm_flags && (v->vm_flags & (1ULL << 16) /* ac */) && o->prot != PROT_NONE &&
		     !(o->flags & MAP_SHARED)))
			o->map_prot |= PROT_READ | PROT_WRITE;
	}
	b->a->nr_runs = b->nrun;
	b->a->runs_off = b->l.runs_off;
	b->a->crcs_off = b->l.crcs_off;
	b->a->nr_crcs = b->ncrc;
	b->a->pages_fd = b->t->pages_fd;
	b->a->check_crc = b->ctx->crc_hw;
}

/* The mm fields for PR_SET_MM_MAP, the auxv, the executable. */
static void args_mm(struct args_build *b)
{
	const MmEntry *mm = b->t->img->mm;
	struct rst_args *a = b->a;

	a->mm[0] = mm->start_code;
	a->mm[1] = mm->end_code;
	a->mm[2] = mm->start_data;
	a->mm[3] = mm->end_data;
	a->mm[4] = mm->start_brk;
	a->mm[5] = mm->brk;
	a->mm[6] = mm->start_stack;
	a->mm[7] = mm->arg_start;
	a->mm[8] = mm->arg_end;
	a->mm[9] = mm->env_start;
	a->mm[10] = mm->env_end;
	if (mm->n_auxv)
		memcpy(b->base + b->l.auxv_off, mm->auxv, mm->n_auxv * sizeof(uint64_t));
	a->auxv_off = b->l.auxv_off;
	a->auxv_size = mm->n_auxv * sizeof(uint64_t);
	a->exe_fd = b->t->exe_fd;
}

/* Each thread: its sigframe (registers, XSAVE), rseq, clear_tid, scheduling, name,
 * private pending signals, and its stack in the blob. 0 or -1 (message in err). */
static int args_threads(struct args_build *b)
{
	struct rst_task *t = b->t;
	struct rst_thread *th = (struct rst_thread *)(b->base + b->l.threads_off);
	size_t npend = 0;

	b->a->nr_threads = t->img->pe->n_threads;
	b->a->threads_off = b->l.threads_off;
	for (size_t i = 0; i < t->img->pe->n_threads; i++) {
		const ThreadCoreEntry *c = t->img->cores[i];
		struct rst_thread *o = &th[i];
		size_t foff = b->l.frames_off + i * b->l.frame_size;

		o->tid = c->tid;
		o->fs_base = c->gpregs->fs_base;
		o->gs_base = c->gpregs->gs_base;
		if (c->rseq && c->rseq->rseq_abi_pointer) {
			o->has_rseq = 1;
			o->rseq_addr = c->rseq->rseq_abi_pointer;
			o->rseq_len = c->rseq->rseq_abi_size;
			o->rseq_sig = c->rseq->signature;
		}
		if (c->has_clear_tid_addr) {
			o->has_clear_tid = 1;
			o->clear_tid_addr = c->clear_tid_addr;
		}
		if (c->has_nice) {
			o->has_nice = 1;
			o->nice = c->nice;
		}
		if (c->has_sched_policy) {
			o->has_sched = 1;
			o->sched_policy = c->sched_policy;
			o->sched_prio = c->has_sched_prio ? c->sched_prio : 0;
		}
		if (c->n_cpu_mask && c->n_cpu_mask <= ARRAY_SIZE(o->cpu_mask)) {
			memcpy(o->cpu_mask, c->cpu_mask, c->n_cpu_mask * sizeof(uint64_t));
			o->nr_cpu_mask = c->n_cpu_mask;
		}
		if (c->has_ioprio) {
			o->has_ioprio = 1;
			o->ioprio = c->ioprio;
		}
		o->tsc = c->has_tsc ? c->tsc : 0;
		if (c->has_robust_list && c->has_robust_list_len) {
			o->robust_list = c->robust_list;
			o->robust_len = c->robust_list_len;
		}
		if (c->comm)
			snprintf(o->comm, sizeof(o->comm), "%s", c->comm);
		else if (i == 0 && t->img->task->comm)
			snprintf(o->comm, sizeof(o->comm), "%s", t->img->task->comm);
		o->pending_off = b->l.pending_off + npend * 128;
		for (size_t k = 0; k < c->n_pending; k++) {
			if (c->pending[k]->siginfo.len != 128) {
				set_err(b->err, b->errlen, "thread %u: a pending siginfo is not 128 bytes",
					c->tid);
				return -1;
			}
			memcpy(b->base + b->l.pending_off + (npend + k) * 128, c->pending[k]->siginfo.data,
			       128);
		}
		o->nr_pending = c->n_pending;
		npend += c->n_pending;
		o->frame_off = foff;
		if (rst_build_sigframe(b->base + foff, b->l.frame_size, b->area_addr + foff, c,
				       b->ctx->xstate_size, b->ctx->xfeatures, b->err, b->errlen) < 0)
			return -1;
		if (i == 0)
			o->stack_off = b->l.stacks_off + RST_LEADER_STACK;
		else
			o->stack_off = b->l.stacks_off + RST_LEADER_STACK + i * RST_THREAD_STACK;
	}
	b->a->blob_stack_top = b->area_addr + b->l.stacks_off + RST_LEADER_STACK - 64;
	return 0;
}

/* POSIX timers, by id (the image set checked them). */
static void args_timers(struct args_build *b)
{
	const TaskEntry *te = b->t->img->task;
	struct rst_timer *rt = (struct rst_timer *)(b->base + b->l.timers_off);

	b->a->nr_timers = te->n_posix_timers;
	b->a->timers_in_order = b->ctx->opts->timers_in_order;
	b->a->timers_off = b->l.timers_off;
	for (size_t i = 0; i < te->n_posix_timers; i++) {
		const PosixTimerEntry *e = te->posix_timers[i];
		rt[i] = (struct rst_timer){ .id = e->id,
					    .clock = e->clock,
					    .notify = e->notify,
					    .signo = e->has_signo ? e->signo : 0,
					    .sigval = e->has_sigval ? e->sigval : 0,
					    .tid = e->has_notify_tid ? e->notify_tid : 0,
					    .overrun = e->has_overrun ? e->overrun : 0,
					    .value_ns = e->has_value_ns ? e->value_ns : 0,
					    .interval_ns = e->has_interval_ns ? e->interval_ns : 0,
					    .pending = e->has_signal_pending && e->signal_pending };
	}
}

/* Process-wide pending signals and interval timers. 0 or -1 (message in err). */
static int args_signals(struct args_build *b)
{
	const TaskEntry *te = b->t->img->task;
	struct rst_args *a = b->a;

	a->nr_shared_pending = te->n_shared_pending;
	a->shared_pending_off = b->l.shared_off;
	for (size_t k = 0; k < te->n_shared_pending; k++) {
		if (te->shared_pending[k]->siginfo.len != 128) {
			set_err(b->err, b->errlen, "a shared pending siginfo is not 128 bytes");
			return -1;
		}
		memcpy(b->base + b->l.shared_off + k * 128, te->shared_pending[k]->siginfo.data, 128);
	}
	for (size_t k = 0; k < te->n_itimers; k++) {
		const ItimerEntry *it = te->itimers[k];
		if (it->which > 2)
			continue;
		a->itimers[it->which].which = it->which;
		a->itimers[it->which].set = it->value_us || it->interval_us;
		a->itimers[it->which].interval_us = it->interval_us;
		a->itimers[it->which].value_us = it->value_us;
	}
	a->pdeath_sig = te->has_pdeath_sig ? te->pdeath_sig : 0;
	a->mdwe = te->has_mdwe ? te->mdwe : 0;
	args_timers(b);
	if (b->t->img->mm->has_lock_future)
		a->lock_future = b->t->img->mm->lock_future == 2 ? RST_LOCK_ONFAULT : RST_LOCK_ALL;
	a->memory_merge = b->t->img->mm->has_memory_merge && b->t->img->mm->memory_merge;
	a->leader_dead = img_task_leader_dead(b->t->img);
	return 0;
}

/* Ids, groups, capabilities and securebits, set last by the blob. */
static void args_creds(struct args_build *b)
{
	const CredsEntry *c = b->t->img->creds;
	struct rst_args *a = b->a;

	if (!c)
		return;
	a->creds.set = 1;
	a->creds.uid = c->uid;
	a->creds.gid = c->gid;
	a->creds.euid = c->euid;
	a->creds.egid = c->egid;
	a->creds.suid = c->suid;
	a->creds.sgid = c->sgid;
	a->creds.fsuid = c->fsuid;
	a->creds.fsgid = c->fsgid;
	a->creds.nr_groups = c->n_groups;
	if (c->has_cap_prm && c->has_cap_eff && c->has_cap_inh && c->has_cap_bnd) {
		int kernel_last = 40;
		FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
		if (f) {
			if (fscanf(f, "%d", &kernel_last) != 1)
				kernel_last = 40;
			fclose(f);
		}
		a->creds.has_caps = 1;
		a->creds.last_cap = MIN((uint32_t)kernel_last, c->has_last_cap ? c->last_cap : 63u);
		a->creds.cap_inh = c->cap_inh;
		a->creds.cap_prm = c->cap_prm;
		a->creds.cap_eff = c->cap_eff;
		a->creds.cap_bnd = c->cap_bnd;
		a->creds.cap_amb = c->has_cap_amb ? c->cap_amb : 0;
	}
	if (c->has_securebits) {
		a->creds.has_securebits = 1;
		a->creds.securebits = c->securebits;
	}
	a->creds.groups_off = b->l.groups_off;
	if (c->n_groups)
		memcpy(b->base + b->l.groups_off, c->groups, c->n_groups * sizeof(uint32_t));
}

int rst_args_build(struct rst_ctx *ctx, struct rst_task *t, void *area, char *err, size_t errlen)
{
	struct args_build b = { .ctx = ctx,
				.t = t,
				.a = area,
				.base = area,
				.area_addr = (uint64_t)(uintptr_t)area,
				.err = err,
				.errlen = errlen };
	struct rst_args *a = area;

	layout_of(ctx, t, &b.l);
	if (b.l.total > t->args_size) {
		set_err(err, errlen, "args area too small (%zu > %zu)", b.l.total, t->args_size);
		return -1;
	}
	memset(a, 0, sizeof(*a));
	a->magic = RST_ARGS_MAGIC;
	a->version = RST_ARGS_VERSION;
	a->args_size = sizeof(*a);
	a->total_size = b.l.total;
	a->pid = t->img->pe->pid;
	a->log_level = log_get_level();
	a->sync_addr = (uint64_t)(uintptr_t)ctx->sync;
	a->keep_start = ctx->area_start;
	a->keep_end = ctx->area_start + ctx->area_size;
	a->devnull_fd = ctx->devnull_fd;
	a->premap_start = ctx->premap_start;
	a->premap_end = ctx->premap_start + ctx->premap_size;
	fill_vdso(ctx, t, a);

	args_vmas(&b);
	args_page_runs(&b);
	args_prefill(&b);
	if (b.nrun != b.l.nr_runs || b.ncrc != b.l.nr_crcs) {
		set_err(err, errlen, "page runs miscounted (%zu/%zu, %zu/%zu)", b.nrun, b.l.nr_runs, b.ncrc,
			b.l.nr_crcs);
		return -1;
	}
	args_vma_modes(&b);
	ns_rst_sysv_prots(b.rv, b.nv);
	args_mm(&b);
	if (args_threads(&b) < 0 || args_signals(&b) < 0)
		return -1;
	if (ns_rst_seccomp_fill(ctx, (size_t)(t - ctx->tasks), (struct rst_thread *)(b.base + b.l.threads_off),
				b.base, b.l.seccomp_off, err, errlen) < 0)
		return -1;
	args_creds(&b);
	a->uffd = t->uffd;
	if (t->uffd < 0) {
		for (size_t i = 0; i < b.nv; i++)
			b.rv[i].uffd_mode = 0;
		a->nr_lazy = 0;
	}
	/* a shared fd table: closed at the finish, once no task of the group needs them */
	a->svc_fd_base = t->svc_close_late ? 0 : ctx->svc_base;
	return 0;
}
