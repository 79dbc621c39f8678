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
#include "criu-lite/cgroup.h"
#include "criu-lite/files/net.h"
#include "criu-lite/ns/ns.h"
#include "images/stats.h"
#include "lib/infect.h"

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

static int dump_thread(struct dump_ctx *ctx, pid_t pid, pid_t tid, uint64_t syscall_ip)
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

	if (peek_siginfos(tid, false, &c.pending, &c.n_pending) < 0)
		return -1;

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

/* Process-wide state only the task knows, by injection into thread tid. */
struct task_injected {
	uint64_t act[NSIG_MAX + 1][4]; /* handler, flags, restorer, mask */
	bool has_act[NSIG_MAX + 1];
	uint64_t itimer[3][4];         /* interval sec/usec, value sec/usec */
	int pdeath_sig, subreaper;
	long dumpable, timerslack, thp_disabled, securebits, personality;
	uint64_t brk;
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

static int task_injected(pid_t pid, pid_t tid, uint64_t syscall_ip, struct task_injected *ti)
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
	ti->brk = (uint64_t)r;
	ret = 0;
out:
	if (infect_stop(&ic) < 0)
		ret = -1;
	return ret;
}

static int dump_task_entry(struct dump_ctx *ctx, pid_t pid, const struct task_injected *ti,
			   const struct proc_status *ps, const struct proc_stat *st)
{
	TaskEntry t = TASK_ENTRY__INIT;
	RlimitEntry rl[RLIM_NLIMITS], *rlp[RLIM_NLIMITS];
	SigactionEntry sa[NSIG_MAX], *sap[NSIG_MAX];
	ItimerEntry it[3], *itp[3];
	size_t n = 0;
	cleanup_free char *comm = NULL;
	char cwd[PROC_PATH_MAX], root[PROC_PATH_MAX], path[64];
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
	snprintf(path, sizeof(path), "/proc/%d/cwd", pid);
	if (proc_readlink(path, cwd, sizeof(cwd)) < 0)
		return -1;
	t.cwd = cwd;
	snprintf(path, sizeof(path), "/proc/%d/root", pid);
	if (proc_readlink(path, root, sizeof(root)) < 0)
		return -1;
	t.root = root;
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit old;
		if (prlimit(pid, r, NULL, &old) < 0) {
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

	if (peek_siginfos(pid, true, &t.shared_pending, &t.n_shared_pending) < 0)
		return -1;
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

	pr_info("dumping pid %d (%zu threads)\n", t->pid, t->nr_tids);
	if (proc_parse_smaps(t->pid, &vmas, &nr_vmas) < 0)
		return -1;
	syscall_ip = infect_find_syscall(t->pid, vmas, nr_vmas);
	if (!syscall_ip)
		return -1;
	if (proc_parse_status(t->pid, 0, &ps) < 0 || proc_parse_stat(t->pid, 0, &st) < 0)
		return -1;

	if (task_injected(t->pid, t->pid, syscall_ip, &ti) < 0)
		return -1;
	for (size_t i = 0; i < t->nr_tids; i++)
		if (dump_thread(ctx, t->pid, t->tids[i], syscall_ip) < 0)
			return -1;
	if (dump_task_entry(ctx, t->pid, &ti, &ps, &st) < 0)
		return -1;
	if (dump_creds(ctx, t->pid, &ps, ti.securebits) < 0)
		return -1;
	if (dump_files_task(ctx, t->pid) < 0)
		return -1;
	if (dump_mm(ctx, t->pid, vmas, nr_vmas, ti.brk) < 0)
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
	for (size_t i = 0; i < ctx->tree.nr_tasks; i++)
		pids[i] = ctx->tree.tasks[i].pid;
	/* the tree's namespaces (criu-lite/ns/): what it has of its own, and what can be carried */
	if (ns_dump_collect(ctx) < 0)
		return -1;
	return cg_dump_check(ctx->opts, pids, ctx->tree.nr_tasks, &ctx->cgroups, &ctx->nr_cgroups);
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
			" zero pages, %.3f s, %.1f MiB/s (%.1f MiB read)\n",
			opts->tree, ctx.stats.pages_dumped, mib, ctx.stats.pages_zero, secs,
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
