/* criu-lite dump: the CLI and the orchestration (seize, per-thread and per-task state, images). */
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <time.h>
#include <elf.h>

#define LOG_PREFIX "dump: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/dump-ctx.h"
#include "criu-lite/dump-files.h"
#include "criu-lite/dump-mm.h"
#include "criu-lite/dump-shmem.h"
#include "criu-lite/dump-timers.h"
#include "criu-lite/dump-check.h"
#include "criu-lite/cgroup.h"
#include "criu-lite/files/net.h"
#include "criu-lite/ns/ns.h"
#include "images/stats.h"
#include "lib/infect.h"

#ifndef PR_GET_MEMORY_MERGE
#define PR_GET_MEMORY_MERGE 68
#endif
#define PR_GET_IO_FLUSHER_ 58
#define PR_GET_MDWE_ 66

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#define XSAVE_BUF_SIZE (64u << 10)
#define XSAVE_SW_XFEATURES_OFF 464 /* ptrace puts XCR0 in the first u64 of the FXSAVE sw_reserved bytes */

#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

#define NSIG_MAX 64

static int read_comm(pid_t pid, pid_t tid, char **ret)
{
	char path[96];
	char *s;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	s = read_file_str(AT_FDCWD, path, 256, NULL);
	if (!s)
		return -1;
	s[strcspn(s, "\n")] = '\0';
	*ret = s;
	return 0;
}

/* One queued signal as an image entry, with its siginfo in the same allocation. */
struct pending_sig {
	SiginfoEntry e;
	siginfo_t si;
};

static void free_siginfos(SiginfoEntry **v, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		free(v[i]); /* the entry is the first member of its struct pending_sig */
	free(v);
}

/* Queued signals (PTRACE_PEEKSIGINFO): thread-private, or the process-wide queue,
 * as image entries (free with free_siginfos). */
static int peek_siginfos(pid_t tid, bool shared, SiginfoEntry ***ret, size_t *ret_nr)
{
	struct __ptrace_peeksiginfo_args a = { .off = 0, .flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0,
					       .nr = 1 };
	SiginfoEntry **v = NULL;
	size_t nr = 0;

	for (;;) {
		siginfo_t si;
		long n = ptrace(PTRACE_PEEKSIGINFO, tid, &a, &si);
		if (n < 0) {
			pr_perror("can't peek the %s signals of thread %d", shared ? "shared" : "pending", tid);
			goto err;
		}
		if (n == 0)
			break;
		SiginfoEntry **nv = realloc(v, (nr + 1) * sizeof(*v));
		if (!nv) {
			pr_perror("can't grow a signal list");
			goto err;
		}
		v = nv;
		struct pending_sig *ps = malloc(sizeof(*ps));
		if (!ps) {
			pr_perror("can't allocate a siginfo");
			goto err;
		}
		siginfo_entry__init(&ps->e);
		ps->si = si;
		ps->e.siginfo.len = sizeof(ps->si);
		ps->e.siginfo.data = (uint8_t *)&ps->si;
		v[nr++] = &ps->e;
		a.off++;
	}
	*ret = v;
	*ret_nr = nr;
	return 0;
err:
	free_siginfos(v, nr);
	return -1;
}

/* Leave out of a queue the pending signals of POSIX timers (restore makes them again
 * from the timers). */
static void claim_timer_signals(struct dump_timers *timers, SiginfoEntry **v, size_t *nr)
{
	size_t k = 0;

	for (size_t i = 0; i < *nr; i++) {
		if (dump_timers_claim(timers, v[i])) {
			free(v[i]); /* the entry is the first member of its struct pending_sig */
			continue;
		}
		v[k++] = v[i];
	}
	*nr = k;
}

static void regs_to_image(const struct user_regs_struct *r, UserRegsX86 *g)
{
	g->r15 = r->r15;
	g->r14 = r->r14;
	g->r13 = r->r13;
	g->r12 = r->r12;
	g->bp = r->rbp;
	g->bx = r->rbx;
	g->r11 = r->r11;
	g->r10 = r->r10;
	g->r9 = r->r9;
	g->r8 = r->r8;
	g->ax = r->rax;
	g->cx = r->rcx;
	g->dx = r->rdx;
	g->si = r->rsi;
	g->di = r->rdi;
	g->orig_ax = r->orig_rax;
	g->ip = r->rip;
	g->cs = r->cs;
	g->flags = r->eflags;
	g->sp = r->rsp;
	g->ss = r->ss;
	g->fs_base = r->fs_base;
	g->gs_base = r->gs_base;
	g->ds = r->ds;
	g->es = r->es;
	g->fs = r->fs;
	g->gs = r->gs;
}

/*
 * Decide the syscall restart now: the registers stored are the ones to resume with.
 * Returns true when the thread was stopped inside an interrupted system call.
 */
static bool fixup_syscall_restart(struct user_regs_struct *r)
{
	if ((long)r->orig_rax < 0)
		return false;
	switch ((long)r->rax) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		r->rax = r->orig_rax;
		r->rip -= 2;
		return true;
	case -ERESTART_RESTARTBLOCK:
		r->rax = (uint64_t)-EINTR;
		return true;
	default:
		return false;
	}
}

/* Per-thread state only the thread knows: sigaltstack and clear_tid, by injection. */
static int thread_injected(pid_t pid, pid_t tid, uint64_t syscall_ip, ThreadCoreEntry *c,
			   SigaltstackEntry *ss)
{
	struct infect_ctx ic;
	long r;
	int ret = -1;
	struct {
		uint64_t sp;
		int32_t flags;
		int32_t pad;
		uint64_t size;
	} kss;
	uint64_t tidaddr;

	if (infect_start(&ic, pid, tid, syscall_ip, 0) < 0)
		return -1;
	if (infect_syscall(&ic, SYS_sigaltstack, 0, ic.scratch, 0, 0, 0, 0, &r) < 0)
		goto out;
	if (r < 0) {
		errno = -r;
		pr_perror("sigaltstack() in thread %d", tid);
		goto out;
	}
	if (infect_read_mem(pid, ic.scratch, &kss, sizeof(kss)) < 0)
		goto out;
	ss->ss_sp = kss.sp;
	ss->ss_size = kss.size;
	ss->ss_flags = (uint32_t)kss.flags;
	c->sigaltstack = ss;
	if (infect_syscall(&ic, SYS_prctl, PR_GET_TSC, ic.scratch, 0, 0, 0, 0, &r) < 0)
		goto out;
	if (r == 0) {
		int32_t tsc;
		if (infect_read_mem(pid, ic.scratch, &tsc, sizeof(tsc)) < 0)
			goto out;
		c->has_tsc = true;
		c->tsc = (uint32_t)tsc;
	}
	if (infect_syscall(&ic, SYS_prctl, PR_GET_TID_ADDRESS, ic.scratch, 0, 0, 0, 0, &r) < 0)
		goto out;
	if (r == 0) {
		if (infect_read_mem(pid, ic.scratch, &tidaddr, sizeof(tidaddr)) < 0)
			goto out;
		c->has_clear_tid_addr = true;
		c->clear_tid_addr = tidaddr;
	} else {
		pr_debug("thread %d: PR_GET_TID_ADDRESS: %s\n", tid, strerror((int)-r));
	}
	ret = 0;
out:
	if (infect_stop(&ic) < 0)
		ret = -1;
	return ret;
}

static int dump_thread(struct dump_ctx *ctx, pid_t pid, pid_t tid, uint64_t syscall_ip,
		       struct dump_timers *timers)
{
	ThreadCoreEntry c = THREAD_CORE_ENTRY__INIT;
	UserRegsX86 g = USER_REGS_X86__INIT;
	RseqEntry rs = RSEQ_ENTRY__INIT;
	SigaltstackEntry ss = SIGALTSTACK_ENTRY__INIT;
	struct user_regs_struct regs;
	struct __ptrace_rseq_configuration rseq;
	struct proc_status pst;
	cleanup_free uint8_t *xsave = NULL;
	cleanup_free char *comm = NULL;
	struct iovec iov;
	cleanup_img struct img *img = NULL;
	uint64_t cpu_mask[16]; /* 1024 CPUs */
	int ret = -1;

	c.tid = tid;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) < 0) {
		pr_perror("can't get the registers of thread %d", tid);
		return -1;
	}
	xsave = malloc(XSAVE_BUF_SIZE);
	if (!xsave) {
		pr_perror("can't allocate an xsave buffer");
		return -1;
	}
	iov.iov_base = xsave;
	iov.iov_len = XSAVE_BUF_SIZE;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0) {
		pr_perror("can't get the xsave state of thread %d", tid);
		return -1;
	}
	c.has_xsave = true;
	c.xsave.data = xsave;
	c.xsave.len = iov.iov_len;
	if (iov.iov_len >= XSAVE_SW_XFEATURES_OFF + 8) {
		c.has_xfeatures = true;
		memcpy(&c.xfeatures, xsave + XSAVE_SW_XFEATURES_OFF, 8);
	}
	c.has_sigmask = true;
	if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(uint64_t), &c.sigmask) < 0) {
		pr_perror("can't get the signal mask of thread %d", tid);
		return -1;
	}
	memset(&rseq, 0, sizeof(rseq));
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(rseq), &rseq) < 0) {
		pr_perror("can't get the rseq configuration of thread %d", tid);
		return -1;
	}
	if (rseq.rseq_abi_pointer) {
		rs.rseq_abi_pointer = rseq.rseq_abi_pointer;
		rs.rseq_abi_size = rseq.rseq_abi_size;
		rs.signature = rseq.signature;
		rs.has_flags = true;
		rs.flags = rseq.flags;
		c.rseq = &rs;
	}
	if (read_comm(pid, tid, &comm) < 0)
		return -1;
	c.comm = comm;
	{
		uint64_t head = 0;
		size_t len = 0;
		if (syscall(SYS_get_robust_list, tid, &head, &len) < 0) {
			pr_perror("can't get the robust futex list of thread %d", tid);
			return -1;
		}
		c.has_robust_list = c.has_robust_list_len = true;
		c.robust_list = head;
		c.robust_list_len = (uint32_t)len;
	}
	if (proc_parse_status(pid, tid, &pst) < 0)
		return -1;
	c.has_seccomp_mode = true;
	c.seccomp_mode = pst.seccomp;
	if (pst.seccomp && ns_dump_seccomp_thread(ctx, pid, tid, pst.seccomp) < 0)
		return -1;
	errno = 0;
	int prio = getpriority(PRIO_PROCESS, tid);
	if (prio == -1 && errno) {
		pr_perror("can't get the nice value of thread %d", tid);
		return -1;
	}
	c.has_nice = true;
	c.nice = prio;
	int pol = sched_getscheduler(tid);
	struct sched_param sp;
	if (pol < 0 || sched_getparam(tid, &sp) < 0) {
		pr_perror("can't get the scheduling policy of thread %d", tid);
		return -1;
	}
	c.has_sched_policy = c.has_sched_prio = true;
	c.sched_policy = (uint32_t)pol;
	c.sched_prio = (uint32_t)sp.sched_priority;
	long nb = syscall(SYS_sched_getaffinity, tid, sizeof(cpu_mask), cpu_mask);
	if (nb < 0) {
		pr_perror("can't get the CPU affinity of thread %d", tid);
		return -1;
	}
	c.cpu_mask = cpu_mask;
	c.n_cpu_mask = (size_t)nb / sizeof(uint64_t);
	long iop = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, tid);
	if (iop < 0) {
		pr_perror("can't get the I/O priority of thread %d", tid);
		return -1;
	}
	c.has_ioprio = true;
	c.ioprio = (uint32_t)iop;

	if (peek_siginfos(tid, false, &c.pending, &c.n_pending) < 0)
		return -1;
	claim_timer_signals(timers, c.pending, &c.n_pending);

	/*
	 * Injection is safe in a thread sleeping with a temporary mask (sigsuspend, ppoll...):
	 * PTRACE_GETSIGMASK returned the mask it will restore, and putting that back with
	 * PTRACE_SETSIGMASK makes the restarted syscall install its temporary mask again.
	 */
	if (thread_injected(pid, tid, syscall_ip, &c, &ss) < 0)
		goto out;

	c.has_in_syscall = true;
	c.in_syscall = fixup_syscall_restart(&regs);
	regs_to_image(&regs, &g);
	c.gpregs = &g;
	pr_debug("thread %d: rip 0x%llx rsp 0x%llx in_syscall %d\n", tid, (unsigned long long)regs.rip,
		 (unsigned long long)regs.rsp, c.in_syscall);

	img = img_open(ctx->dfd, IMG_CORE, O_WRONLY, tid);
	if (!img || img_write(img, &c) < 0)
		goto out;
	ret = img_close(steal_pointer(&img));
out:
	free_siginfos(c.pending, c.n_pending);
	return ret;
}

/* The leader of a thread group that exited while its other threads run: what is left
 * of it is its tid and name (a zombie thread has no registers to read). */
static int dump_dead_thread(struct dump_ctx *ctx, pid_t pid)
{
	ThreadCoreEntry c = THREAD_CORE_ENTRY__INIT;
	UserRegsX86 g = USER_REGS_X86__INIT;
	cleanup_free char *comm = NULL;
	cleanup_img struct img *img = NULL;

	c.tid = pid;
	g.cs = 0x33;
	g.ss = 0x2b;
	c.gpregs = &g;
	c.has_dead = true;
	c.dead = true;
	if (read_comm(pid, pid, &comm) < 0)
		return -1;
	c.comm = comm;
	img = img_open(ctx->dfd, IMG_CORE, O_WRONLY, pid);
	if (!img || img_write(img, &c) < 0)
		return -1;
	return img_close(steal_pointer(&img));
}

/* Process-wide state only the task knows, by injection into thread tid. */
struct task_injected {
	uint64_t act[NSIG_MAX + 1][4]; /* handler, flags, restorer, mask */
	bool has_act[NSIG_MAX + 1];
	uint64_t itimer[3][4];         /* interval sec/usec, value sec/usec */
	int pdeath_sig, subreaper;
	long dumpable, timerslack, thp_disabled, securebits, personality;
	struct dump_mm_task mm;
	struct dump_timers timers;
	uint32_t mdwe;
};

static int inject_call(struct infect_ctx *ic, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		       uint64_t a4, const char *what, long *ret)
{
	if (infect_syscall(ic, nr, a1, a2, a3, a4, 0, 0, ret) < 0)
		return -1;
	if (*ret < 0 && *ret > -4096) {
		errno = (int)-*ret;
		pr_perror("%s in pid %d", what, ic->pid);
		return -1;
	}
	return 0;
}

/*
 * mlockall(MCL_FUTURE [| MCL_ONFAULT]) leaves its mark only on mappings made later:
 * make one (PROT_NONE, one page) in the task, see whether it came locked, unmap it.
 */
static int lock_future_of(struct infect_ctx *ic, uint32_t *ret)
{
	cleanup_free struct proc_vma *vmas = NULL;
	size_t nr;
	long addr, r;

	if (infect_syscall(ic, SYS_mmap, 0, PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0,
			   &addr) < 0)
		return -1;
	if (addr == -EAGAIN) {
		pr_err("pid %d: a new mapping can't be made: its locked memory is at RLIMIT_MEMLOCK "
		       "(mlockall(MCL_FUTURE)), whose MCL_ONFAULT can't be told then: not supported\n", ic->pid);
		errno = ENOTSUP;
		return -1;
	}
	if (addr < 0 && addr > -4096) {
		errno = (int)-addr;
		pr_perror("mmap() in pid %d", ic->pid);
		return -1;
	}
	*ret = 0;
	if (proc_parse_smaps(ic->pid, &vmas, &nr) < 0)
		goto unmap;
	for (size_t i = 0; i < nr; i++)
		if ((uint64_t)addr >= vmas[i].start && (uint64_t)addr < vmas[i].end && (vmas[i].vmflags & PROC_VMF_LO))
			*ret = vmas[i].vmflags & PROC_VMF_LF ? 2 : 1;
unmap:
	if (infect_syscall(ic, SYS_munmap, (uint64_t)addr, PAGE_SIZE, 0, 0, 0, 0, &r) < 0)
		return -1;
	if (r < 0) {
		errno = (int)-r;
		pr_perror("munmap() in pid %d", ic->pid);
		return -1;
	}
	return vmas ? 0 : -1;
}

/*
 * What only the task can say and criu-lite does not carry: a NUMA memory policy
 * (get_mempolicy), a local descriptor table (modify_ldt), PR_SET_IO_FLUSHER (which only
 * CAP_SYS_RESOURCE sets). And memory-deny-write-execute, carried. 0 or -1 (logged).
 */
static int task_refused(struct infect_ctx *ic, struct task_injected *ti)
{
	int32_t mode;
	long r;

	if (infect_syscall(ic, SYS_get_mempolicy, ic->scratch, 0, 0, 0, 0, 0, &r) < 0)
		return -1;
	if (r == 0 && (infect_read_mem(ic->pid, ic->scratch, &mode, sizeof(mode)) < 0))
		return -1;
	if (r == 0 && mode != 0 /* MPOL_DEFAULT */) {
		pr_err("pid %d has the NUMA memory policy %d (set_mempolicy): not carried\n", ic->pid, mode);
		goto refuse;
	}
	if (infect_syscall(ic, SYS_modify_ldt, 0, ic->scratch, 16, 0, 0, 0, &r) < 0)
		return -1;
	if (r > 0) {
		pr_err("pid %d has a local descriptor table (modify_ldt): not supported\n", ic->pid);
		goto refuse;
	}
	if (infect_syscall(ic, SYS_prctl, PR_GET_IO_FLUSHER_, 0, 0, 0, 0, 0, &r) < 0)
		return -1;
	if (r > 0) {
		pr_err("pid %d is an I/O flusher (PR_SET_IO_FLUSHER, which needs CAP_SYS_RESOURCE): not carried\n",
		       ic->pid);
		goto refuse;
	}
	if (infect_syscall(ic, SYS_prctl, PR_GET_MDWE_, 0, 0, 0, 0, 0, &r) < 0)
		return -1;
	ti->mdwe = r > 0 ? (uint32_t)r : 0;
	return 0;
refuse:
	errno = ENOTSUP;
	return -1;
}

static int task_injected(const struct seize_task *t, pid_t pid, pid_t tid, uint64_t syscall_ip,
			 struct task_injected *ti)
{
	struct infect_ctx ic;
	long r;
	int ret = -1;

	memset(ti, 0, sizeof(*ti));
	if (infect_start(&ic, pid, tid, syscall_ip, 0) < 0)
		return -1;
	for (int sig = 1; sig <= NSIG_MAX; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (inject_call(&ic, SYS_rt_sigaction, sig, 0, ic.scratch, 8, "rt_sigaction()", &r) < 0 ||
		    infect_read_mem(pid, ic.scratch, ti->act[sig], sizeof(ti->act[sig])) < 0)
			goto out;
		ti->has_act[sig] = true;
	}
	for (int w = 0; w < 3; w++) {
		if (inject_call(&ic, SYS_getitimer, w, ic.scratch, 0, 0, "getitimer()", &r) < 0 ||
		    infect_read_mem(pid, ic.scratch, ti->itimer[w], sizeof(ti->itimer[w])) < 0)
			goto out;
	}
	int32_t v;
	if (inject_call(&ic, SYS_prctl, PR_GET_PDEATHSIG, ic.scratch, 0, 0, "PR_GET_PDEATHSIG", &r) < 0 ||
	    infect_read_mem(pid, ic.scratch, &v, sizeof(v)) < 0)
		goto out;
	ti->pdeath_sig = v;
	if (inject_call(&ic, SYS_prctl, PR_GET_CHILD_SUBREAPER, ic.scratch, 0, 0,
			"PR_GET_CHILD_SUBREAPER", &r) < 0 ||
	    infect_read_mem(pid, ic.scratch, &v, sizeof(v)) < 0)
		goto out;
	ti->subreaper = v;
	if (inject_call(&ic, SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, "PR_GET_DUMPABLE", &ti->dumpable) < 0 ||
	    inject_call(&ic, SYS_prctl, PR_GET_TIMERSLACK, 0, 0, 0, "PR_GET_TIMERSLACK", &ti->timerslack) < 0 ||
	    inject_call(&ic, SYS_prctl, PR_GET_THP_DISABLE, 0, 0, 0, "PR_GET_THP_DISABLE", &ti->thp_disabled) < 0 ||
	    inject_call(&ic, SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, "PR_GET_SECUREBITS", &ti->securebits) < 0 ||
	    inject_call(&ic, SYS_personality, 0xffffffff, 0, 0, 0, "personality()", &ti->personality) < 0 ||
	    inject_call(&ic, SYS_brk, 0, 0, 0, 0, "brk()", &r) < 0)
		goto out;
	ti->mm.brk = (uint64_t)r;
	if (task_refused(&ic, ti) < 0)
		goto out;
	if (infect_syscall(&ic, SYS_prctl, PR_GET_MEMORY_MERGE, 0, 0, 0, 0, 0, &r) < 0)
		goto out;
	ti->mm.memory_merge = r > 0; /* EINVAL: no KSM here, so none there */
	if (lock_future_of(&ic, &ti->mm.lock_future) < 0 ||
	    dump_timers_collect(&ic, pid, t->tids + (t->leader_dead ? 1 : 0), t->nr_tids - (t->leader_dead ? 1 : 0),
				&ti->timers) < 0)
		goto out;
	ret = 0;
out:
	if (infect_stop(&ic) < 0)
		ret = -1;
	return ret;
}

/* A number in /proc/PID/what (oom_score_adj, coredump_filter). 0 or -1 (logged). */
static int read_proc_num(pid_t pid, const char *what, int base, int64_t *ret)
{
	char path[64], *end;
	cleanup_free char *s = NULL;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	s = read_file_str(AT_FDCWD, path, 64, NULL);
	if (!s)
		return -1;
	errno = 0;
	*ret = strtoll(s, &end, base);
	if (errno || end == s) {
		pr_err("%s: can't parse '%s'\n", path, s);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* A link of /proc/PID/{cwd,root} to a directory that was removed? Then path loses its
 * " (deleted)" and *ret_st says what the directory was. */
static int dir_link(pid_t pid, const char *what, char *path, struct stat *ret_st, bool *ret_deleted)
{
	static const char suffix[] = " (deleted)";
	char link[64];
	size_t n;

	snprintf(link, sizeof(link), "/proc/%d/%s", pid, what);
	if (proc_readlink(link, path, PROC_PATH_MAX) < 0)
		return -1;
	if (stat(link, ret_st) < 0) {
		pr_perror("can't stat %s", link);
		return -1;
	}
	n = strlen(path);
	*ret_deleted = ret_st->st_nlink == 0 && n > sizeof(suffix) - 1 &&
		       !strcmp(path + n - (sizeof(suffix) - 1), suffix);
	if (*ret_deleted)
		path[n - (sizeof(suffix) - 1)] = '\0';
	return 0;
}

/* cwd and root; a deleted cwd is carried (restore recreates it for a moment), a deleted
 * root is refused. */
static int dump_cwd_root(pid_t pid, TaskEntry *t, char *cwd, char *root)
{
	struct stat st;
	bool deleted;

	if (dir_link(pid, "root", root, &st, &deleted) < 0)
		return -1;
	if (deleted) {
		pr_err("pid %d: its root directory %s was removed: not supported\n", pid, root);
		errno = ENOTSUP;
		return -1;
	}
	t->root = root;
	if (dir_link(pid, "cwd", cwd, &st, &deleted) < 0)
		return -1;
	t->cwd = cwd;
	if (deleted) {
		if (strcmp(root, "/")) {
			pr_err("pid %d: its cwd %s was removed, under the root %s: not supported\n", pid, cwd,
			       root);
			errno = ENOTSUP;
			return -1;
		}
		t->has_cwd_deleted = t->has_cwd_mode = t->has_cwd_uid = t->has_cwd_gid = true;
		t->cwd_deleted = true;
		t->cwd_mode = st.st_mode & 07777;
		t->cwd_uid = st.st_uid;
		t->cwd_gid = st.st_gid;
		pr_info("pid %d: its cwd %s was removed (mode %o)\n", pid, cwd, t->cwd_mode);
	}
	return 0;
}

/* task-PID.img of t; pp is where /proc shows its process-wide state (seize_proc_pid). */
static int dump_task_entry(struct dump_ctx *ctx, const struct seize_task *t_, pid_t pp,
			   struct task_injected *ti, const struct proc_status *ps,
			   const struct proc_stat *st)
{
	pid_t pid = t_->pid;
	TaskEntry t = TASK_ENTRY__INIT;
	RlimitEntry rl[RLIM_NLIMITS], *rlp[RLIM_NLIMITS];
	SigactionEntry sa[NSIG_MAX], *sap[NSIG_MAX];
	ItimerEntry it[3], *itp[3];
	size_t n = 0;
	cleanup_free char *comm = NULL;
	char cwd[PROC_PATH_MAX], root[PROC_PATH_MAX];
	int64_t num;
	cleanup_img struct img *img = NULL;
	int ret = -1;

	t.pid = pid;
	if (read_comm(pid, 0, &comm) < 0)
		return -1;
	t.comm = comm;
	if (ps->has_umask) {
		t.has_umask = true;
		t.umask = ps->umask;
	}
	t.has_personality = true;
	t.personality = (uint32_t)ti->personality;
	t.has_exit_signal = true;
	t.exit_signal = st->exit_signal;
	if (dump_cwd_root(pp, &t, cwd, root) < 0)
		return -1;
	if (t_->stop_sig) {
		t.has_stop_signal = true;
		t.stop_signal = (uint32_t)t_->stop_sig;
	}
	if (read_proc_num(pp, "oom_score_adj", 10, &num) < 0)
		return -1;
	t.has_oom_score_adj = true;
	t.oom_score_adj = (int32_t)num;
	if (read_proc_num(pp, "coredump_filter", 16, &num) < 0)
		return -1;
	t.has_coredump_filter = true;
	t.coredump_filter = (uint32_t)num;
	if (ti->mdwe) {
		t.has_mdwe = true;
		t.mdwe = ti->mdwe;
	}
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit old;
		if (prlimit(pp, r, NULL, &old) < 0) {
			pr_perror("can't get rlimit %d of pid %d", r, pid);
			return -1;
		}
		rlimit_entry__init(&rl[r]);
		rl[r].resource = r;
		rl[r].cur = old.rlim_cur;
		rl[r].max = old.rlim_max;
		rlp[r] = &rl[r];
	}
	t.rlimits = rlp;
	t.n_rlimits = RLIM_NLIMITS;
	for (int sig = 1; sig <= NSIG_MAX; sig++) {
		if (!ti->has_act[sig])
			continue;
		sigaction_entry__init(&sa[n]);
		sa[n].sig = sig;
		sa[n].handler = ti->act[sig][0];
		sa[n].flags = ti->act[sig][1];
		sa[n].restorer = ti->act[sig][2];
		sa[n].mask = ti->act[sig][3];
		sap[n] = &sa[n];
		n++;
	}
	t.sigactions = sap;
	t.n_sigactions = n;
	for (int w = 0; w < 3; w++) {
		itimer_entry__init(&it[w]);
		it[w].which = w;
		it[w].interval_us = ti->itimer[w][0] * 1000000ULL + ti->itimer[w][1];
		it[w].value_us = ti->itimer[w][2] * 1000000ULL + ti->itimer[w][3];
		itp[w] = &it[w];
	}
	t.itimers = itp;
	t.n_itimers = 3;
	t.has_pdeath_sig = t.has_dumpable = t.has_child_subreaper = t.has_timerslack_ns = true;
	t.has_no_new_privs = t.has_thp_disabled = true;
	t.pdeath_sig = ti->pdeath_sig;
	t.dumpable = ti->dumpable != 0;
	t.child_subreaper = ti->subreaper != 0;
	t.timerslack_ns = ti->timerslack;
	t.no_new_privs = ps->no_new_privs;
	t.thp_disabled = ti->thp_disabled;

	if (peek_siginfos(pp, true, &t.shared_pending, &t.n_shared_pending) < 0)
		return -1;
	claim_timer_signals(&ti->timers, t.shared_pending, &t.n_shared_pending);
	if (dump_timers_check(&ti->timers, pid) < 0)
		goto out;
	t.posix_timers = ti->timers.ep;
	t.n_posix_timers = ti->timers.nr;
	img = img_open(ctx->dfd, IMG_TASK, O_WRONLY, pid);
	if (!img || img_write(img, &t) < 0)
		goto out;
	ret = img_close(steal_pointer(&img));
out:
	free_siginfos(t.shared_pending, t.n_shared_pending);
	return ret;
}

static int dump_creds(struct dump_ctx *ctx, pid_t pid, const struct proc_status *ps, long securebits)
{
	CredsEntry c = CREDS_ENTRY__INIT;
	cleanup_free char *lc = NULL;
	cleanup_img struct img *img = NULL;
	uint64_t last_cap;

	c.uid = ps->uid[0];
	c.euid = ps->uid[1];
	c.suid = ps->uid[2];
	c.fsuid = ps->uid[3];
	c.gid = ps->gid[0];
	c.egid = ps->gid[1];
	c.sgid = ps->gid[2];
	c.fsgid = ps->gid[3];
	c.groups = (uint32_t *)ps->groups;
	c.n_groups = ps->nr_groups;
	c.has_cap_inh = c.has_cap_prm = c.has_cap_eff = c.has_cap_bnd = c.has_cap_amb = true;
	c.cap_inh = ps->cap_inh;
	c.cap_prm = ps->cap_prm;
	c.cap_eff = ps->cap_eff;
	c.cap_bnd = ps->cap_bnd;
	c.cap_amb = ps->cap_amb;
	c.has_securebits = true;
	c.securebits = (uint32_t)securebits;
	lc = read_file_str(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", 64, NULL);
	if (!lc)
		return -1;
	lc[strcspn(lc, "\n")] = '\0';
	if (parse_u64(lc, 10, &last_cap) < 0) {
		pr_err("can't parse /proc/sys/kernel/cap_last_cap '%s'\n", lc);
		return -1;
	}
	c.has_last_cap = true;
	c.last_cap = (uint32_t)last_cap;
	img = img_open(ctx->dfd, IMG_CREDS, O_WRONLY, pid);
	if (!img || img_write(img, &c) < 0)
		return -1;
	return img_close(steal_pointer(&img));
}

static int dump_one_task(struct dump_ctx *ctx, struct seize_task *t)
{
	cleanup_free struct proc_vma *vmas = NULL;
	size_t nr_vmas;
	struct task_injected ti;
	struct proc_status ps;
	struct proc_stat st;
	uint64_t syscall_ip;
	int r;
	pid_t pp = seize_proc_pid(t); /* /proc and injections: a live thread */

	if (t->zombie) {
		pr_info("pid %d is a zombie (status 0x%x)\n", t->pid, t->exit_status);
		return 0;
	}
	pr_info("dumping pid %d (%zu threads%s)\n", t->pid, t->nr_tids, t->leader_dead ? ", its leader dead" : "");
	if (dump_check_task(ctx, t, pp) < 0)
		return -1;
	if (proc_parse_smaps(pp, &vmas, &nr_vmas) < 0)
		return -1;
	syscall_ip = infect_find_syscall(pp, vmas, nr_vmas);
	if (!syscall_ip)
		return -1;
	if (proc_parse_status(pp, 0, &ps) < 0 || proc_parse_stat(pp, 0, &st) < 0)
		return -1;

	if (task_injected(t, pp, pp, syscall_ip, &ti) < 0) {
		dump_timers_fini(&ti.timers);
		return -1;
	}
	for (size_t i = 0; i < t->nr_tids; i++) {
		r = i == 0 && t->leader_dead ? dump_dead_thread(ctx, t->pid)
					     : dump_thread(ctx, pp, t->tids[i], syscall_ip, &ti.timers);
		if (r < 0) {
			dump_timers_fini(&ti.timers);
			return -1;
		}
	}
	r = dump_task_entry(ctx, t, pp, &ti, &ps, &st);
	dump_timers_fini(&ti.timers);
	if (r < 0)
		return -1;
	if (dump_creds(ctx, t->pid, &ps, ti.securebits) < 0)
		return -1;
	if (dump_files_task(ctx, t->pid) < 0)
		return -1;
	if (dump_mm(ctx, t->pid, vmas, nr_vmas, &ti.mm) < 0)
		return -1;
	return 0;
}

static int dump_pstree(struct dump_ctx *ctx)
{
	cleanup_img struct img *img = img_open(ctx->dfd, IMG_PSTREE, O_WRONLY, 0);

	if (!img)
		return -1;
	for (size_t i = 0; i < ctx->tree.nr_tasks; i++) {
		struct seize_task *t = &ctx->tree.tasks[i];
		PstreeEntry e = PSTREE_ENTRY__INIT;
		e.pid = t->pid;
		e.ppid = t->ppid;
		e.has_pgid = e.has_sid = true;
		e.pgid = t->pgid;
		e.sid = t->sid;
		e.threads = (uint32_t *)t->tids;
		e.n_threads = t->nr_tids;
		e.has_files_id = dump_files_table_id(ctx, i, &e.files_id);
		if (t->zombie) {
			e.has_zombie = e.has_exit_status = e.has_exit_signal = true;
			e.zombie = true;
			e.exit_status = (uint32_t)t->exit_status;
			e.exit_signal = (uint32_t)t->exit_signal;
		}
		if (t->leader_dead) {
			e.has_leader_dead = true;
			e.leader_dead = true;
		}
		if (img_write(img, &e) < 0)
			return -1;
	}
	return img_close(steal_pointer(&img));
}

static int dump_inventory(struct dump_ctx *ctx)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	struct utsname u;
	cleanup_img struct img *img = NULL;

	if (uname(&u) < 0) {
		pr_perror("uname");
		return -1;
	}
	inv.img_version = IMG_FORMAT_VERSION;
	inv.kernel = u.release;
	inv.machine = u.machine;
	inv.has_page_size = inv.has_root_pid = inv.has_leave_running = inv.has_shell_job = true;
	inv.has_lazy_pages = inv.has_dump_complete = inv.has_dump_time_unix = true;
	inv.has_pages_dumped = inv.has_pages_zero = true;
	inv.page_size = PAGE_SIZE;
	inv.root_pid = ctx->opts->tree;
	inv.leave_running = ctx->opts->leave_running;
	inv.shell_job = ctx->opts->shell_job;
	inv.lazy_pages = true; /* private anonymous and shmem pages are marked lazy */
	inv.dump_complete = true;
	inv.tool_version = (char *)CRIU_LITE_VERSION;
	inv.dump_time_unix = (uint64_t)time(NULL);
	inv.pages_dumped = ctx->stats.pages_dumped;
	inv.pages_zero = ctx->stats.pages_zero;
	if (ctx->has_vdso) {
		inv.has_vdso_digest = inv.has_vdso_size = true;
		inv.vdso_digest.data = (uint8_t *)&ctx->vdso_crc;
		inv.vdso_digest.len = sizeof(ctx->vdso_crc);
		inv.vdso_size = ctx->vdso_size;
	}
	if (ctx->vvar_size) {
		inv.has_vvar_size = true;
		inv.vvar_size = ctx->vvar_size;
	}
	if (ctx->vvar_vclock_size) {
		inv.has_vvar_vclock_size = true;
		inv.vvar_vclock_size = ctx->vvar_vclock_size;
	}
	if (ctx->own_ns & CLONE_NEWNET)
		inv.has_own_net_ns = inv.own_net_ns = true;
	inv.cgroups = ctx->cgroups;
	inv.n_cgroups = ctx->nr_cgroups;
	img = img_open(ctx->dfd, IMG_INVENTORY, O_WRONLY, 0);
	if (!img || img_write(img, &inv) < 0)
		goto err;
	/* flush the buffered record, then make it durable before the tree is killed */
	int fd = dup(img_fd(img));
	if (fd < 0) {
		pr_perror("dup");
		goto err;
	}
	if (img_close(steal_pointer(&img)) < 0) {
		close(fd);
		goto err;
	}
	if (fsync(fd) < 0 || fsync(ctx->dfd) < 0) {
		pr_perror("can't sync the images");
		close(fd);
		goto err;
	}
	close(fd);
	return 0;
err:
	img_close(steal_pointer(&img));
	unlinkat(ctx->dfd, "inventory.img", 0);
	return -1;
}

/* Namespaces and cgroups: what criu-lite can't carry fails the dump here (ns.h, cgroup.h). */
static int dump_check_env(struct dump_ctx *ctx)
{
	cleanup_free pid_t *pids = calloc(ctx->tree.nr_tasks, sizeof(*pids));

	if (!pids) {
		pr_perror("can't allocate the pid list");
		return -1;
	}
	size_t n = 0;

	/* what /proc shows of live tasks (a zombie has no namespaces left to show; a task
	 * whose leader exited, through a live thread) */
	for (size_t i = 0; i < ctx->tree.nr_tasks; i++)
		if (!ctx->tree.tasks[i].zombie)
			pids[n++] = seize_proc_pid(&ctx->tree.tasks[i]);
	/* the tree's namespaces (criu-lite/ns/): what it has of its own, and what can be carried */
	if (ns_dump_collect(ctx) < 0)
		return -1;
	return cg_dump_check(ctx->opts, pids, n, &ctx->cgroups, &ctx->nr_cgroups);
}

/* stats-dump in the work dir, once the tree is gone (or resumed). A failure is only
 * a warning: the dump is complete. */
static void dump_write_stats(struct dump_ctx *ctx, uint64_t t_seize, uint64_t t_frozen, uint64_t t_mem,
			     uint64_t t_mem_end, uint64_t t_released, uint64_t sh_written)
{
	const struct cr_options *o = ctx->opts;
	struct stats_dump_vals v = { 0 };
	uint64_t mem_ns = t_mem_end - t_mem;

	v.freezing_us = (t_frozen - t_seize) / 1000;
	v.frozen_us = (t_released - t_frozen) / 1000;
	v.memwrite_us = ctx->stats.write_ns / 1000;
	v.memdump_us = (mem_ns > ctx->stats.write_ns ? mem_ns - ctx->stats.write_ns : 0) / 1000;
	v.pages_scanned = ctx->stats.pages_scanned;
	v.pages_written = ctx->stats.pages_dumped - sh_written;
	v.shpages_written = sh_written;
	for (size_t i = 0; i < ctx->nr_shmems; i++)
		v.shpages_scanned += (ctx->shmems[i].size + PAGE_SIZE - 1) / PAGE_SIZE;
	if (stats_write_dump(o->work_dir ? o->work_dir : o->images_dir, &v) < 0)
		pr_warn("no stats-dump, ignoring: the dump itself is complete\n");
}

static int sync_images(int dfd)
{
	/* Everything but the inventory: syncfs covers all files in the directory. */
	if (syncfs(dfd) < 0) {
		pr_perror("can't sync the image directory");
		return -1;
	}
	return 0;
}

int cr_dump(const struct cr_options *opts)
{
	struct dump_ctx ctx = { 0 };
	cleanup_close int dfd = -1;
	int ret = -1;
	bool seized = false, net_locked = false, post_dump_failed = false;
	size_t ntasks = 0;
	uint64_t t_seize = 0, t_frozen = 0, t_mem = 0, t_mem_end = 0, sh_written = 0;

	ctx.opts = opts;
	if (!opts->images_dir || opts->tree <= 0) {
		pr_err("dump needs a pid (-t) and an image directory (-D)\n");
		errno = EINVAL;
		return -1;
	}
	if (mkdir(opts->images_dir, 0700) < 0 && errno != EEXIST) {
		pr_perror("can't create the image directory %s", opts->images_dir);
		return -1;
	}
	dfd = open(opts->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		pr_perror("can't open the image directory %s", opts->images_dir);
		return -1;
	}
	if (unlinkat(dfd, "inventory.img", 0) < 0 && errno != ENOENT) {
		pr_perror("can't remove an old %s/inventory.img", opts->images_dir);
		return -1;
	}
	if (faccessat(dfd, ".", W_OK, AT_EACCESS) < 0) {
		pr_perror("the image directory %s is not writable", opts->images_dir);
		return -1;
	}
	ctx.dfd = dfd;
	ctx.no_pagemap_scan = opts->pagemap_read ? 1 : 0;
	ctx.stats.t_start_ns = now_ns();
	ctx.stats.next_progress = 256ULL << 20;
	ctx.buf = mmap(NULL, DUMP_BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ctx.buf == MAP_FAILED) {
		ctx.buf = NULL;
		pr_perror("can't allocate the page buffer");
		return -1;
	}
	ctx.pm = malloc((DUMP_BUF_SIZE / PAGE_SIZE) * sizeof(uint64_t));
	if (!ctx.pm) {
		pr_perror("can't allocate the pagemap buffer");
		goto out;
	}

	if (cr_action_run(opts, CR_ACT_PRE_DUMP, 0, -1) < 0)
		goto out;
	t_seize = now_ns();
	if (seize_tree(opts->tree, opts->timeout, &ctx.tree) < 0)
		goto out;
	seized = true;
	t_frozen = now_ns();
	ntasks = ctx.tree.nr_tasks;
	if (dump_check_tree(&ctx) < 0)
		goto out;
	pr_info("seized %zu task(s) under pid %d\n", ntasks, opts->tree);
	if (dump_check_env(&ctx) < 0)
		goto out;
	/* the tree's TCP connections, before any of its sockets is read (--network-lock) */
	if (net_dump_lock(&ctx) < 0)
		goto out;
	/* as CRIU: the script locks a namespace of the tree's own */
	if (ctx.own_ns & CLONE_NEWNET) {
		if (cr_action_run(opts, CR_ACT_NETWORK_LOCK, 0, -1) < 0)
			goto out;
		net_locked = true;
	}
	if (cr_action_run(opts, CR_ACT_QUERY_EXT_FILES, 0, -1) < 0)
		goto out;
	t_mem = now_ns();
	for (size_t i = 0; i < ctx.tree.nr_tasks; i++)
		if (dump_one_task(&ctx, &ctx.tree.tasks[i]) < 0)
			goto out;
	sh_written = ctx.stats.pages_dumped;
	if (dump_shmem_write(&ctx) < 0)
		goto out;
	sh_written = ctx.stats.pages_dumped - sh_written;
	t_mem_end = now_ns();
	if (dump_files_write(&ctx) < 0 || dump_pstree(&ctx) < 0 || ns_dump_write(&ctx) < 0)
		goto out;
	if (sync_images(dfd) < 0)
		goto out;
	if (dump_inventory(&ctx) < 0)
		goto out;
	/* the images are complete; the caller may still ask to keep the tree running */
	if (cr_action_run(opts, CR_ACT_POST_DUMP, 0, -1) < 0) {
		post_dump_failed = true;
		goto out;
	}
	ret = 0;
out:
	/* a tree that runs on gets its connections back; a killed one leaves them locked */
	if (net_dump_release(&ctx, ret < 0 || opts->leave_running) < 0)
		ret = -1;
	if (net_locked && (ret < 0 || opts->leave_running) &&
	    cr_action_run(opts, CR_ACT_NETWORK_UNLOCK, 0, -1) < 0)
		ret = -1;
	if (seized)
		seize_release(&ctx.tree, ret == 0 && !opts->leave_running ? SEIZE_KILL : SEIZE_DETACH);
	if (ret == 0)
		dump_write_stats(&ctx, t_seize, t_frozen, t_mem, t_mem_end, now_ns(), sh_written);
	if (ret == 0) {
		double secs = (double)(now_ns() - ctx.stats.t_start_ns) / 1e9;
		double mib = (double)ctx.stats.pages_dumped * PAGE_SIZE / (1 << 20);
		pr_info("dump of pid %d complete: %" PRIu64 " pages stored (%.1f MiB), %" PRIu64
			" zero pages, %" PRIu64 " shared with a parent, %.3f s, %.1f MiB/s (%.1f MiB read)\n",
			opts->tree, ctx.stats.pages_dumped, mib, ctx.stats.pages_zero, ctx.stats.pages_parent, secs,
			secs > 0 ? (double)ctx.stats.bytes_read / (1 << 20) / secs : 0.0,
			(double)ctx.stats.bytes_read / (1 << 20));
		if (opts->display_stats)
			pr_msg("Dump: %zu task(s), %" PRIu64 " pages written, %" PRIu64 " zero pages, %.1f MiB read, "
			       "%.3f s\n", ntasks, ctx.stats.pages_dumped, ctx.stats.pages_zero,
			       (double)ctx.stats.bytes_read / (1 << 20), secs);
	} else if (post_dump_failed) {
		pr_err("dump of pid %d: post-dump failed; the images are complete, the process tree was left "
		       "running\n", opts->tree);
	} else {
		pr_err("dump of pid %d failed; the process tree was left running\n", opts->tree);
	}
	cg_free(ctx.cgroups, ctx.nr_cgroups);
	net_dump_fini(&ctx);
	dump_shmem_fini(&ctx);
	dump_files_fini(&ctx);
	ns_dump_fini(&ctx);
	free(ctx.pm);
	if (ctx.buf)
		munmap(ctx.buf, DUMP_BUF_SIZE);
	return ret;
}
