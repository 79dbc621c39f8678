/*
 * criu-lite restore: read and validate every image, recreate the process tree with
 * the dumped pids (clone3 + set_tid), give every task its fds, cwd, root, umask,
 * rlimits and signal handlers, then jump into the restorer blob, which rebuilds the
 * address space and the threads and sigreturns into the dumped registers.
 *
 * The parent (this process) waits on a shared page (struct rst_sync) until every
 * task is ready, lets them all go at once, and then either exits (-d) or waits for
 * the root task and exits with its status. Any failure kills every task created.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/user.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#define LOG_PREFIX "restore: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/restore.h"
#include "criu-lite/restore-ctx.h"
#include "criu-lite/kerndat.h"
#include "criu-lite/cgroup.h"
#include "criu-lite/files/net.h"
#include "criu-lite/ns/ns.h"
#include "criu-lite/ns/pid.h"
#include "images/imgset.h"
#include "images/stats.h"
#include "lib/infect.h"
#include "lib/lazy-proto.h"
#include "lib/uffd.h"
#include "restorer-blob.h" /* generated in $(B) by criu-lite/restorer/rules.mk */

#define RST_WAIT_STEP_MS 50

/* ---- images ---- */

static struct rst_task *task_by_pid(struct rst_ctx *ctx, uint32_t pid)
{
	ssize_t i = img_set_task_idx(&ctx->img, pid);
	return i < 0 ? NULL : &ctx->tasks[i];
}

static int check_rlimits(const struct img_task *it);

/* Every image, read and validated (images/imgset.c) before anything is created. */
static int read_images(struct rst_ctx *ctx)
{
	if (img_set_load(ctx->dfd, &ctx->img) < 0)
		return -1;
	ctx->tasks = calloc(ctx->img.nr_tasks, sizeof(*ctx->tasks));
	if (!ctx->tasks) {
		pr_perror("can't allocate tasks");
		return -1;
	}
	ctx->nr_tasks = ctx->img.nr_tasks;
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct rst_task *t = &ctx->tasks[i];
		t->img = &ctx->img.tasks[i];
		t->pages_fd = t->exe_fd = t->uffd = t->cwd_fd = -1;
		if (img_task_zombie(t->img))
			continue;
		ctx->nr_live++;
		if (rst_mm_check(ctx, t) < 0 || check_rlimits(t->img) < 0)
			return -1;
	}
	return 0;
}

static void ctx_fini(struct rst_ctx *ctx)
{
	net_restore_fini(ctx); /* a restore that failed leaves no lock behind */
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		free(ctx->tasks[i].vma_fds);
		free(ctx->tasks[i].premap);
	}
	free(ctx->tasks);
	if (ctx->premap_size)
		munmap((void *)(uintptr_t)ctx->premap_start, ctx->premap_size);
	rst_files_fini(ctx);
	rst_shmem_fini(ctx);
	free(ctx->shmem_fds);
	ns_rst_fini(ctx);
	rst_svc_close_all(ctx);
	img_set_free(&ctx->img);
	if (ctx->dfd >= 0)
		close(ctx->dfd);
}

/*
 * Deleted cwds: a directory made at the path it had, with its mode and owner, opened,
 * and removed again at once (each task enters it by its fd). Tasks that had the same
 * path share it. 0 or -1 (logged; nothing is left at the path).
 */
static int prepare_deleted_cwds(struct rst_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		const TaskEntry *te = ctx->tasks[i].img->task;
		cleanup_close int fd = -1;
		int err;

		if (!te || !te->has_cwd_deleted || !te->cwd_deleted)
			continue;
		if (!te->cwd || te->cwd[0] != '/') {
			pr_err("task-%u.img: a deleted cwd without an absolute path\n", ctx->tasks[i].img->pe->pid);
			errno = EBADMSG;
			return -1;
		}
		for (size_t k = 0; k < i && ctx->tasks[i].cwd_fd < 0; k++)
			if (ctx->tasks[k].cwd_fd >= 0 && ctx->tasks[k].img->task->cwd &&
			    !strcmp(ctx->tasks[k].img->task->cwd, te->cwd))
				ctx->tasks[i].cwd_fd = ctx->tasks[k].cwd_fd;
		if (ctx->tasks[i].cwd_fd >= 0)
			continue;
		if (mkdir(te->cwd, 0700) < 0) {
			pr_perror("pid %u: can't recreate its deleted cwd %s for a moment",
				  ctx->tasks[i].img->pe->pid, te->cwd);
			return -1;
		}
		fd = open(te->cwd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		err = fd < 0 || (te->has_cwd_uid && te->has_cwd_gid && fchown(fd, te->cwd_uid, te->cwd_gid) < 0) ||
		      fchmod(fd, te->has_cwd_mode ? te->cwd_mode & 07777 : 0700) < 0;
		if (err)
			pr_perror("pid %u: can't open or set up the recreated cwd %s", ctx->tasks[i].img->pe->pid,
				  te->cwd);
		if (rmdir(te->cwd) < 0 && !err) {
			pr_perror("can't remove the recreated cwd %s again", te->cwd);
			err = 1;
		}
		if (err)
			return -1;
		ctx->tasks[i].cwd_fd = rst_svc_fd(ctx, steal_fd(&fd));
		if (ctx->tasks[i].cwd_fd < 0)
			return -1;
	}
	return 0;
}

/* /dev/null for the blobs of tasks with an AIO ring (its tail moves by writes there). */
static int prepare_devnull(struct rst_ctx *ctx)
{
	bool aio = false;

	for (size_t i = 0; i < ctx->nr_tasks && !aio; i++)
		for (size_t k = 0; ctx->tasks[i].img->mm && k < ctx->tasks[i].img->mm->n_vmas; k++)
			aio |= ctx->tasks[i].img->mm->vmas[k]->kind == VMA_KIND_AIO;
	if (!aio)
		return 0;
	ctx->devnull_fd = rst_svc_fd(ctx, open("/dev/null", O_WRONLY | O_CLOEXEC));
	if (ctx->devnull_fd < 0) {
		pr_perror("can't open /dev/null");
		return -1;
	}
	return 0;
}

/* ---- the tasks ---- */

static uint32_t *created_of(struct rst_ctx *ctx)
{
	return (uint32_t *)((char *)ctx->sync + sizeof(struct rst_sync));
}

static size_t sync_size(size_t nr_tasks)
{
	return ALIGN_UP(sizeof(struct rst_sync) + nr_tasks * sizeof(uint32_t), PAGE_SIZE);
}

static void sync_bump(struct rst_sync *s)
{
	__atomic_add_fetch(&s->seq, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &s->seq, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* In a task: report the failure to the parent (first one wins) and exit. */
static void task_fail(struct rst_ctx *ctx, uint32_t pid, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
static void task_fail(struct rst_ctx *ctx, uint32_t pid, const char *fmt, ...)
{
	struct rst_sync *s = ctx->sync;
	uint32_t zero = 0;
	va_list ap;

	if (__atomic_compare_exchange_n(&s->abort, &zero, 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		va_start(ap, fmt);
		vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
		va_end(ap);
		s->err_pid = pid;
	}
	sync_bump(s);
	_exit(1);
}

static void unregister_glibc_rseq(void)
{
	if (__rseq_size) {
		void *area = (char *)__builtin_thread_pointer() + __rseq_offset;
		if (syscall(SYS_rseq, area, __rseq_size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) < 0)
			syscall(SYS_rseq, area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
	}
}

/* Write a number to /proc/self/what unless it holds it already. 0 or -1 (errno). */
static int write_proc_self_num(const char *what, bool hex, int v)
{
	char path[64], want[24], now[24] = "";
	cleanup_close int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/%s", what);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (hex)
		snprintf(want, sizeof(want), "0x%x", (unsigned)v);
	else
		snprintf(want, sizeof(want), "%d", v);
	n = read(fd, now, sizeof(now) - 1);
	if (n > 0 && strtoll(now, NULL, 0) == strtoll(want, NULL, 0))
		return 0;
	return pwrite(fd, want, strlen(want), 0) == (ssize_t)strlen(want) ? 0 : -1;
}

static void task_set_state(struct rst_ctx *ctx, struct rst_task *t)
{
	const TaskEntry *te = t->img->task;
	uint32_t pid = t->img->pe->pid;

	if (te->has_umask)
		umask(te->umask);
	if (te->root && strcmp(te->root, "/") != 0 && chroot(te->root) < 0)
		task_fail(ctx, pid, "pid %u: can't chroot to %s: %s", pid, te->root, strerror(errno));
	if (t->cwd_fd >= 0) {
		if (fchdir(t->cwd_fd) < 0)
			task_fail(ctx, pid, "pid %u: can't enter its deleted cwd %s: %s", pid, te->cwd,
				  strerror(errno));
	} else if (te->cwd && chdir(te->cwd) < 0) {
		task_fail(ctx, pid, "pid %u: can't chdir to %s: %s", pid, te->cwd, strerror(errno));
	}
	if (te->has_personality && personality(te->personality) < 0)
		task_fail(ctx, pid, "pid %u: can't set personality 0x%x: %s", pid, te->personality,
			  strerror(errno));
	if (te->has_oom_score_adj && write_proc_self_num("oom_score_adj", false, te->oom_score_adj) < 0)
		task_fail(ctx, pid, "pid %u: can't set its oom_score_adj %d (lowering it needs CAP_SYS_RESOURCE): %s",
			  pid, te->oom_score_adj, strerror(errno));
	if (te->has_coredump_filter && write_proc_self_num("coredump_filter", true, (int)te->coredump_filter) < 0)
		task_fail(ctx, pid, "pid %u: can't set its coredump_filter 0x%x: %s", pid, te->coredump_filter,
			  strerror(errno));
	if (te->has_dumpable)
		prctl(PR_SET_DUMPABLE, te->dumpable ? 1 : 0, 0, 0, 0);
	if (te->has_child_subreaper && te->child_subreaper)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	if (te->has_timerslack_ns && te->timerslack_ns)
		prctl(PR_SET_TIMERSLACK, te->timerslack_ns, 0, 0, 0);
	if (te->has_thp_disabled && te->thp_disabled)
		prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	if (te->has_no_new_privs && te->no_new_privs)
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	/* signal handlers: raw, with the dumped restorer (glibc's sigaction would replace it) */
	for (size_t i = 0; i < te->n_sigactions; i++) {
		const SigactionEntry *sa = te->sigactions[i];
		struct {
			uint64_t handler, flags, restorer, mask;
		} ksa = { sa->handler, sa->flags, sa->restorer, sa->mask };
		if (sa->sig < 1 || sa->sig > 64 || sa->sig == SIGKILL || sa->sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sa->sig, &ksa, NULL, 8) < 0)
			task_fail(ctx, pid, "pid %u: can't restore the handler of signal %u: %s", pid, sa->sig,
				  strerror(errno));
	}
}

/*
 * Each dumped hard limit must be one the task can have here: raising a hard limit
 * needs CAP_SYS_RESOURCE, which this restore may lack (root here does). Checked before
 * anything is made, never lowered quietly. 0 or -1 (logged).
 */
static int check_rlimits(const struct img_task *it)
{
	const TaskEntry *te = it->task;

	for (size_t i = 0; i < te->n_rlimits; i++) {
		const RlimitEntry *r = te->rlimits[i];
		struct rlimit ours;
		if (r->resource >= RLIM_NLIMITS || getrlimit(r->resource, &ours) < 0 || r->max <= ours.rlim_max)
			continue;
		{
			/* can we raise it (CAP_SYS_RESOURCE)? Try on ourselves, and put ours back */
			struct rlimit up = { ours.rlim_cur, r->max };
			if (setrlimit(r->resource, &up) == 0) {
				setrlimit(r->resource, &ours);
				continue;
			}
		}
		pr_err("pid %u: its hard limit %" PRIu64 " for resource %u is above this restore's %" PRIu64
		       ", which it can't raise (CAP_SYS_RESOURCE): not restored lower\n",
		       it->pe->pid, r->max, r->resource, (uint64_t)ours.rlim_max);
		errno = EPERM;
		return -1;
	}
	return 0;
}

static void task_set_rlimits(struct rst_ctx *ctx, struct rst_task *t)
{
	const TaskEntry *te = t->img->task;
	uint32_t pid = t->img->pe->pid;

	for (size_t i = 0; i < te->n_rlimits; i++) {
		const RlimitEntry *r = te->rlimits[i];
		struct rlimit rl = { r->cur, r->max }, now;
		if (r->resource >= RLIM_NLIMITS)
			continue;
		if (getrlimit(r->resource, &now) == 0 && now.rlim_cur == rl.rlim_cur && now.rlim_max == rl.rlim_max)
			continue;
		if (setrlimit(r->resource, &rl) < 0) /* check_rlimits saw that it can */
			task_fail(ctx, pid, "pid %u: can't set rlimit %u to %" PRIu64 "/%" PRIu64 ": %s", pid,
				  r->resource, r->cur, r->max, strerror(errno));
	}
}

/* --lazy-pages: the task's userfaultfd, handed to the daemon; the blob registers the
 * lazy VMAs with it and closes it. 0 or -1 (logged). */
static int task_lazy_setup(struct rst_ctx *ctx, struct rst_task *t)
{
	uint64_t feat = 0;
	int fd = uffd_open(0), r;

	if (fd < 0) {
		errno = -fd;
		pr_perror("pid %u: can't create a userfaultfd", t->img->pe->pid);
		return -1;
	}
	t->uffd = rst_svc_fd(ctx, fd);
	if (t->uffd < 0)
		return -1;
	r = uffd_api(t->uffd, LP_UFFD_FEATURES, &feat, NULL);
	if (r < 0 || (feat & LP_UFFD_FEATURES) != LP_UFFD_FEATURES) {
		errno = r < 0 ? -r : ENOTSUP;
		pr_perror("pid %u: UFFDIO_API (features 0x%llx, granted 0x%" PRIx64 ")", t->img->pe->pid,
			  (unsigned long long)LP_UFFD_FEATURES, feat);
		return -1;
	}
	return lp_client_send_task_pid(ctx->lazy_sock, ns_rst_img_pid(ctx, (size_t)(t - ctx->tasks)), t->uffd,
				       ns_rst_host_self(ctx));
}

/* The lazy shmem objects' fds for the daemon (it pre-populates them). */
static int lazy_send_shmems(struct rst_ctx *ctx)
{
	for (size_t i = 0; i < ctx->img.nr_shmems; i++)
		if (rst_shmem_lazy(ctx, ctx->img.shmems[i].se->id) &&
		    lp_client_send_shmem(ctx->lazy_sock, ctx->img.shmems[i].se->id, ctx->shmem_fds[i]) < 0)
			return -1;
	return 0;
}

static int lazy_prepare(struct rst_ctx *ctx)
{
	struct kerndat kd;
	int sock;

	/* Only the cheap probes: the uffd features the daemon relies on (each task's
	 * UFFDIO_API checks them again); `criu-lite check` runs the end-to-end ones. */
	static const enum kd_feat need[] = {
		KD_UFFD, KD_UFFD_EVENT_FORK, KD_UFFD_EVENT_REMAP, KD_UFFD_EVENT_REMOVE,
		KD_UFFD_EVENT_UNMAP, KD_UFFD_MISSING_SHMEM, KD_UFFD_MINOR_SHMEM,
	};
	memset(&kd, 0, sizeof(kd));
	for (size_t i = 0; i < ARRAY_SIZE(need); i++)
		if (kerndat_probe(&kd, need[i]) != KD_OK) {
			pr_err("--lazy-pages: this kernel lacks %s (%s); see criu-lite check --all\n",
			       kerndat_feature(need[i])->name, kd.detail[need[i]]);
			return -1;
		}
	/* a daemon that goes away must be an error, not a SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	sock = lp_client_connect(ctx->opts->work_dir ? ctx->opts->work_dir : ctx->opts->images_dir);
	if (sock < 0)
		return -1;
	ctx->lazy_sock = rst_svc_fd(ctx, sock);
	if (ctx->lazy_sock < 0)
		return -1;
	/* inside the tree's namespaces the root task opens the objects, and sends them */
	return ns_rst_in_root(ctx) ? 0 : lazy_send_shmems(ctx);
}

/* Every signal blocked, glibc's own (32, 33: what its sigprocmask leaves alone) too:
 * nothing may be delivered before the task runs its dumped code (a timer's signal,
 * say, restored with its default action). */
static void block_all_signals(void)
{
	uint64_t all = ~0ULL;

	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof(all));
}

/* --lazy-pages: every task is restored and waits for go; the daemon puts the recorded
 * working set into them first (at once without one). Past the deadline they go anyway:
 * the daemon serves their faults meanwhile. 0 or -1 (the daemon failed). */
static int lazy_sync(struct rst_ctx *ctx, uint64_t t0)
{
	uint64_t ts = now_ns();
	int r = lp_client_sync(ctx->lazy_sock, LP_SYNC_TIMEOUT_MS);

	if (r < 0)
		return -1;
	if (r > 0)
		pr_warn("the lazy-pages daemon did not put the working set in within %d ms; the tasks go on "
			"without waiting\n",
			LP_SYNC_TIMEOUT_MS);
	else
		pr_debug("the lazy-pages daemon synced in %.1f ms (at %.1f ms)\n", (now_ns() - ts) / 1e6,
			 (now_ns() - t0) / 1e6);
	return 0;
}

static void task_main(struct rst_ctx *ctx, size_t idx) __attribute__((noreturn));
static void zombie_main(struct rst_ctx *ctx, size_t idx) __attribute__((noreturn));

/* The signal a task's parent gets when it ends. */
static int exit_signal_of(const struct img_task *it)
{
	if (img_task_zombie(it))
		return it->pe->has_exit_signal ? (int)it->pe->exit_signal : SIGCHLD;
	return it->task->has_exit_signal ? (int)it->task->exit_signal : SIGCHLD;
}

/* The children of t: those sharing its fd table (CLONE_FILES) once t installed its fds
 * (shared), the others before. */
static void create_children(struct rst_ctx *ctx, struct rst_task *t, bool shared)
{
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		pid_t pid;
		if (ctx->tasks[i].img->pe->ppid != t->img->pe->pid || ctx->tasks[i].shares_files != shared)
			continue;
		if (__atomic_load_n(&ctx->sync->abort, __ATOMIC_SEQ_CST))
			_exit(1);
		pid = rst_clone_pid(ctx->tasks[i].img->pe->pid, shared ? CLONE_FILES : 0,
				    exit_signal_of(ctx->tasks[i].img));
		if (pid < 0)
			task_fail(ctx, t->img->pe->pid, "can't create task %u (clone3 with set_tid): %s",
				  ctx->tasks[i].img->pe->pid, strerror(errno));
		if (pid == 0) {
			if (img_task_zombie(ctx->tasks[i].img))
				zombie_main(ctx, i);
			task_main(ctx, i);
		}
		if ((uint32_t)pid != ctx->tasks[i].img->pe->pid) {
			kill(pid, SIGKILL);
			task_fail(ctx, t->img->pe->pid, "task %u came back as pid %d", ctx->tasks[i].img->pe->pid, pid);
		}
	}
}

/*
 * Once the zombies among t's children have ended: their ends signalled t (blocked
 * here), which the dumped t had taken already. Take those signals back; the ones it
 * had pending at dump are queued again by the blob.
 */
static void settle_zombies(struct rst_ctx *ctx, struct rst_task *t)
{
	uint32_t pid = t->img->pe->pid;
	sigset_t set;
	bool any = false;

	sigemptyset(&set);
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		const struct img_task *it = ctx->tasks[i].img;
		siginfo_t si;
		if (it->pe->ppid != pid || !img_task_zombie(it))
			continue;
		while (waitid(P_PID, it->pe->pid, &si, WEXITED | WNOWAIT) < 0)
			if (errno != EINTR)
				task_fail(ctx, pid, "pid %u: zombie %u did not end: %s", pid, it->pe->pid,
					  strerror(errno));
		if (si.si_status != (int)(WIFEXITED(it->pe->exit_status) ? WEXITSTATUS(it->pe->exit_status)
									     : WTERMSIG(it->pe->exit_status)))
			task_fail(ctx, pid, "zombie %u ended with %d, not as dumped (status 0x%x)", it->pe->pid,
				  si.si_status, it->pe->exit_status);
		sigaddset(&set, exit_signal_of(it));
		any = true;
	}
	while (any) {
		struct timespec zero = { 0, 0 };
		if (sigtimedwait(&set, NULL, &zero) < 0)
			break;
	}
}

/* Session, then group: children inherit both. A group led by another task of the tree
 * may not exist yet (joined later, after the children exist: join_group). Groups and
 * sessions led by processes outside the tree are inherited from criu-lite. */
static void lead_session_group(struct rst_ctx *ctx, const PstreeEntry *pe)
{
	uint32_t pid = pe->pid;

	if (pe->has_sid && pe->sid == pid && getsid(0) != (pid_t)pid && setsid() < 0)
		task_fail(ctx, pid, "pid %u: setsid: %s", pid, strerror(errno));
	if (pe->has_pgid && pe->pgid == pid && getpgid(0) != (pid_t)pid && setpgid(0, 0) < 0)
		task_fail(ctx, pid, "pid %u: setpgid: %s", pid, strerror(errno));
}

static void join_group(struct rst_ctx *ctx, const PstreeEntry *pe)
{
	uint32_t pid = pe->pid;
	int tries = 0;

	if (!pe->has_pgid || pe->pgid == pid || getpgid(0) == (pid_t)pe->pgid || !task_by_pid(ctx, pe->pgid))
		return;
	while (setpgid(0, pe->pgid) < 0) {
		if (errno != EPERM || ++tries > 400)
			task_fail(ctx, pid, "pid %u: can't join process group %u: %s", pid, pe->pgid,
				  strerror(errno));
		usleep(5000);
	}
}

/* A zombie: it takes its session and group, and ends as it ended (its parent, blocked
 * in restore, reaps nothing). */
static void zombie_main(struct rst_ctx *ctx, size_t idx)
{
	const PstreeEntry *pe = ctx->tasks[idx].img->pe;
	uint32_t st = pe->exit_status;
	struct rlimit no_core = { 0, 0 };
	sigset_t one;
	int sig;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	__atomic_store_n(&created_of(ctx)[idx], (uint32_t)ns_rst_host_self(ctx), __ATOMIC_SEQ_CST);
	if ((uint32_t)getpid() != pe->pid)
		task_fail(ctx, pe->pid, "zombie %u runs as pid %d", pe->pid, getpid());
	lead_session_group(ctx, pe);
	join_group(ctx, pe);
	if (WIFEXITED(st))
		_exit(WEXITSTATUS(st));
	/* killed by a signal (without a core dump: the validator saw to it) */
	sig = WTERMSIG(st);
	setrlimit(RLIMIT_CORE, &no_core);
	signal(sig, SIG_DFL);
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	syscall(SYS_tgkill, getpid(), getpid(), sig);
	task_fail(ctx, pe->pid, "zombie %u: signal %d did not kill it", pe->pid, sig);
}

static void task_main(struct rst_ctx *ctx, size_t idx)
{
	struct rst_task *t = &ctx->tasks[idx];
	const PstreeEntry *pe = t->img->pe;
	uint32_t pid = pe->pid;
	char err[256];
	uint64_t blob_addr, args_addr;
	void *p;

	block_all_signals();
	signal(SIGPIPE, SIG_DFL); /* the parent may ignore it (lazy socket); the task must not */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* its pid where the parent is (another pid namespace): the parent kills and traces by it */
	__atomic_store_n(&created_of(ctx)[idx], (uint32_t)ns_rst_host_self(ctx), __ATOMIC_SEQ_CST);
	if ((uint32_t)getpid() != pid)
		task_fail(ctx, pid, "task %u runs as pid %d", pid, getpid());
	/* the stages of the tree's namespaces, then its files opened inside them */
	if (idx == 0 && ns_rst_in_root(ctx)) {
		if (ns_rst_root_stages(ctx, err, sizeof(err)) < 0)
			task_fail(ctx, pid, "pid %u: %s", pid, err);
		if (rst_files_open(ctx) < 0 || prepare_deleted_cwds(ctx) < 0 ||
		    (ctx->lazy_sock >= 0 && lazy_send_shmems(ctx) < 0))
			task_fail(ctx, pid, "pid %u: can't open the files in the tree's namespaces (see the log)", pid);
		if (ns_rst_send_shmems(ctx, err, sizeof(err)) < 0)
			task_fail(ctx, pid, "pid %u: %s", pid, err);
	}

	lead_session_group(ctx, pe);
	/* the memory it shares with its children, in before they are made */
	if (rst_premap_fill(ctx, t, err, sizeof(err)) < 0)
		task_fail(ctx, pid, "pid %u: %s", pid, err);
	/* its session's controlling terminal, which the children inherit */
	if (rst_files_before_children(ctx, t, err, sizeof(err)) < 0)
		task_fail(ctx, pid, "pid %u: %s", pid, err);
	create_children(ctx, t, false);
	/* the files it opened that need every task (/proc/PID/...), and the shmem objects it
	 * opened, while the children restore their memory */
	if (idx == 0 && ns_rst_in_root(ctx) && (rst_files_late(ctx) < 0 || rst_shmem_fill(ctx) < 0))
		task_fail(ctx, pid, "pid %u: can't send the late files or fill the shmem objects (see the log)", pid);
	join_group(ctx, pe);
	settle_zombies(ctx, t);

	task_set_state(ctx, t);
	if (ctx->lazy_sock >= 0 && task_lazy_setup(ctx, t) < 0)
		task_fail(ctx, pid, "pid %u: can't hand a userfaultfd to the lazy-pages daemon", pid);
	if (rst_files_install(ctx, t, err, sizeof(err)) < 0)
		task_fail(ctx, pid, "pid %u: %s", pid, err);
	/* from here on, stderr may be the task's: failures go through the sync page only */
	log_init(LOG_MSG, NULL);
	create_children(ctx, t, true);

	blob_addr = ctx->area_start + sync_size(ctx->nr_tasks);
	args_addr = blob_addr + ctx->blob_size;
	p = mmap((void *)(uintptr_t)blob_addr, ctx->blob_size + t->args_size,
		 PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		task_fail(ctx, pid, "pid %u: can't map the restorer at 0x%" PRIx64 ": %s", pid, blob_addr,
			  strerror(errno));
	memcpy(p, rst_blob, sizeof(rst_blob));
	if (rst_args_build(ctx, t, (void *)(uintptr_t)args_addr, err, sizeof(err)) < 0 ||
	    rst_files_posix_locks(ctx, t, (struct rst_args *)(uintptr_t)args_addr, err, sizeof(err)) < 0)
		task_fail(ctx, pid, "pid %u: %s", pid, err);

	task_set_rlimits(ctx, t);
	unregister_glibc_rseq();
	rst_jump(blob_addr + RST_BLOB_ENTRY, args_addr,
		 ((struct rst_args *)(uintptr_t)args_addr)->blob_stack_top);
}

/* ---- the parent ---- */

/* A thread of the task that runs on once restored: its leader, unless that is dead. */
static uint32_t live_tid(const struct img_task *it)
{
	return img_task_leader_dead(it) ? it->pe->threads[1] : it->pe->pid;
}

/* The pid (here) to watch for an early death of task i while it restores: its leader
 * as created, or the live thread of a dead leader (its id here unknown yet in a new
 * pid namespace); 0: none (not created yet, a zombie). */
static pid_t watched_pid(struct rst_ctx *ctx, size_t i)
{
	const struct img_task *it = ctx->tasks[i].img;
	pid_t host = (pid_t)__atomic_load_n(&created_of(ctx)[i], __ATOMIC_SEQ_CST);

	if (!host || img_task_zombie(it))
		return 0;
	if (img_task_leader_dead(it))
		return ns_rst_pidns(ctx) ? 0 : (pid_t)live_tid(it);
	return host;
}

static bool pid_exists(uint32_t pid)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/%u", pid);
	return access(path, F_OK) == 0;
}

static bool task_dead(uint32_t pid)
{
	char path[40], buf[512];
	cleanup_close int fd = -1;
	ssize_t n;
	char *p;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return true;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

static void kill_created(struct rst_ctx *ctx)
{
	for (size_t i = ctx->nr_tasks; i-- > 0;) {
		pid_t pid = (pid_t)__atomic_load_n(&created_of(ctx)[i], __ATOMIC_SEQ_CST);
		if (pid > 0)
			kill(pid, SIGKILL);
	}
}

#define RST_WAIT_TIMEOUT_S 120

static int wait_restored(struct rst_ctx *ctx, pid_t root)
{
	struct rst_sync *s = ctx->sync;
	uint64_t deadline = now_ns() + RST_WAIT_TIMEOUT_S * 1000000000ULL;

	for (;;) {
		uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_SEQ_CST);
		struct timespec ts = { 0, RST_WAIT_STEP_MS * 1000000L };
		int status;

		if (__atomic_load_n(&s->abort, __ATOMIC_SEQ_CST)) {
			/* let the failing task finish writing its message */
			usleep(1000);
			pr_err("restore failed%s%.*s\n", s->errmsg[0] ? ": " : "", (int)sizeof(s->errmsg),
			       s->errmsg);
			return -1;
		}
		if (!ctx->t_forked_ns) {
			size_t nr = 0;
			for (size_t i = 0; i < ctx->nr_tasks; i++)
				nr += __atomic_load_n(&created_of(ctx)[i], __ATOMIC_SEQ_CST) != 0;
			if (nr == ctx->nr_tasks)
				ctx->t_forked_ns = now_ns();
		}
		if (__atomic_load_n(&s->nr_done, __ATOMIC_SEQ_CST) == ctx->nr_live)
			return 0;
		/* a root created as our sibling (--restore-sibling) is not ours to wait for */
		if (!ctx->opts->restore_sibling && waitpid(root, &status, WNOHANG) == root) {
			pr_err("restore failed: task %d %s %d before it was restored\n", root,
			       WIFSIGNALED(status) ? "was killed by signal" : "exited with status",
			       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			return -1;
		}
		for (size_t i = ctx->opts->restore_sibling ? 0 : 1; i < ctx->nr_tasks; i++)
			if (watched_pid(ctx, i) > 0 && task_dead(watched_pid(ctx, i)) &&
			    !__atomic_load_n(&s->abort, __ATOMIC_SEQ_CST)) {
				pr_err("restore failed: task %u died before it was restored\n", ctx->tasks[i].img->pe->pid);
				return -1;
			}
		if (now_ns() > deadline) {
			pr_err("restore failed: %u of %zu task(s) ready after %d s; giving up\n",
			       __atomic_load_n(&s->nr_done, __ATOMIC_SEQ_CST), ctx->nr_live, RST_WAIT_TIMEOUT_S);
			return -1;
		}
		syscall(SYS_futex, &s->seq, FUTEX_WAIT, seq, &ts, NULL, 0);
	}
}

/*
 * The last stage: let every thread go, and remove the restorer's area from every
 * task. Each thread is traced (PTRACE_SEIZE) while it still waits in the blob and
 * runs up to the exit of its rt_sigreturn, where it no longer needs the area; when
 * all threads of a task are there, its leader is pointed at the blob's syscall
 * gadget to munmap() the area, its registers are put back, and the task is detached.
 */
struct tracee {
	pid_t tid;
	size_t task;
	int state; /* 0: before rt_sigreturn, 1: in it, 2: stopped at its exit, 3: detached */
};

/* munmap() the restorer's area in the stopped task t (through its thread tid), with
 * the blob's syscall gadget. */
static int inject_munmap(struct rst_ctx *ctx, const struct rst_task *t, pid_t tid)
{
	uint64_t gadget = ctx->area_start + sync_size(ctx->nr_tasks) + RST_BLOB_GADGET;
	struct infect_ctx ic;
	long r = 0;
	int ret;

	if (infect_start(&ic, tid, tid, gadget, INFECT_NO_SCRATCH) < 0)
		return -1;
	/* a shared fd table: its service fds, which no task of the group needs any more
	 * (before the munmap, which takes the syscall gadget away) */
	if (t->svc_close_late) {
		if (infect_syscall(&ic, __NR_close_range, ctx->svc_base, ~0U, 0, 0, 0, 0, &r) < 0 || r < 0) {
			errno = r < 0 ? (int)-r : errno;
			pr_perror("task %d: can't close the restore's fds", tid);
			infect_stop(&ic);
			return -1;
		}
	}
	ret = infect_syscall(&ic, __NR_munmap, ctx->area_start, ctx->area_size, 0, 0, 0, 0, &r);
	if (ret == 0 && r < 0)
		pr_warn("task %d: munmap of the restorer area failed: %s, ignoring\n", tid,
			strerror((int)-r));

	if (infect_stop(&ic) < 0)
		ret = -1;
	return ret;
}

static int finish_task_if_ready(struct rst_ctx *ctx, struct tracee *tr, size_t n, size_t task)
{
	const struct img_task *it = ctx->tasks[task].img;
	pid_t leader = ns_rst_tid(ctx, task, img_task_leader_dead(it) ? 1 : 0);

	for (size_t i = 0; i < n; i++)
		if (tr[i].task == task && tr[i].state != 2)
			return 0;
	if (inject_munmap(ctx, &ctx->tasks[task], leader) < 0)
		return -1;
	/* a stopped task: its stop signal, queued while it is held, stops it once let go */
	if (it->task->has_stop_signal && it->task->stop_signal &&
	    kill(ns_rst_tid(ctx, task, 0), (int)it->task->stop_signal) < 0) {
		pr_perror("can't stop task %u again", it->pe->pid);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (tr[i].task == task) {
			if (ptrace(PTRACE_DETACH, tr[i].tid, NULL, NULL) < 0) {
				pr_perror("can't detach from %d", tr[i].tid);
				return -1;
			}
			tr[i].state = 3;
		}
	return 0;
}

static int rst_finish(struct rst_ctx *ctx)
{
	cleanup_free struct tracee *tr = NULL;
	size_t n = 0, left;
	uint64_t deadline = now_ns() + 30ULL * 1000000000ULL;

	for (size_t i = 0; i < ctx->nr_tasks; i++)
		n += ctx->tasks[i].img->pe->n_threads;
	tr = calloc(n ? n : 1, sizeof(*tr));
	if (!tr) {
		pr_perror("can't allocate the tracee table");
		return -1;
	}
	n = 0;
	for (size_t i = 0; i < ctx->nr_tasks; i++)
		for (size_t k = 0; k < ctx->tasks[i].img->pe->n_threads; k++) {
			pid_t tid = ns_rst_tid(ctx, i, k);
			int st;
			/* zombies ended already; a dead leader ends in the blob */
			if (img_task_zombie(ctx->tasks[i].img) || (k == 0 && img_task_leader_dead(ctx->tasks[i].img)))
				continue;
			if (ptrace(PTRACE_SEIZE, tid, NULL,
				   (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | ns_rst_ptrace_options(ctx))) < 0 ||
			    ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0) {
				pr_perror("can't seize restored thread %d", tid);
				return -1;
			}
			if (waitpid(tid, &st, __WALL) != tid || !WIFSTOPPED(st)) {
				pr_err("restored thread %d did not stop (status 0x%x)\n", tid, st);
				return -1;
			}
			tr[n++] = (struct tracee){ tid, i, 0 };
			if (ptrace(PTRACE_SYSCALL, tid, NULL, NULL) < 0) {
				pr_perror("can't resume restored thread %d", tid);
				return -1;
			}
		}
	__atomic_store_n(&ctx->sync->go, 1, __ATOMIC_SEQ_CST);
	sync_bump(ctx->sync);

	for (left = n; left;) {
		int st;
		pid_t tid = waitpid(-1, &st, __WALL | WNOHANG);
		struct tracee *t = NULL;

		if (tid < 0) {
			pr_perror("waiting for the restored threads");
			return -1;
		}
		if (tid == 0) {
			if (now_ns() > deadline) {
				pr_err("restored threads did not leave the restorer within 30 s\n");
				return -1;
			}
			usleep(200);
			continue;
		}
		for (size_t i = 0; i < n && !t; i++)
			if (tr[i].tid == tid)
				t = &tr[i];
		if ((!t || t->state == 3) && tid == ns_rst_tid(ctx, 0, 0) && !WIFSTOPPED(st)) {
			/* a root that already ended (detached, or not traced: its leader is dead):
			 * keep its status for the caller */
			ctx->root_reaped = true;
			ctx->root_status = st;
			continue;
		}
		if (!t || t->state == 3)
			continue;
		if (!WIFSTOPPED(st)) {
			pr_err("restored thread %d %s %d while leaving the restorer\n", tid,
			       WIFSIGNALED(st) ? "was killed by signal" : "exited with status",
			       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			if (__atomic_load_n(&ctx->sync->abort, __ATOMIC_SEQ_CST))
				pr_err("restore failed: %.*s\n", (int)sizeof(ctx->sync->errmsg), ctx->sync->errmsg);
			return -1;
		}
		if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			struct __ptrace_syscall_info info;
			memset(&info, 0, sizeof(info));
			if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof(info), &info) < 0) {
				pr_perror("can't get the syscall of %d", tid);
				return -1;
			}
			if (info.op == PTRACE_SYSCALL_INFO_ENTRY && info.entry.nr == __NR_rt_sigreturn) {
				t->state = 1;
			} else if (info.op == PTRACE_SYSCALL_INFO_EXIT && t->state == 1) {
				t->state = 2;
				left--;
				if (finish_task_if_ready(ctx, tr, n, t->task) < 0)
					return -1;
				continue;
			}
			if (ptrace(PTRACE_SYSCALL, tid, NULL, NULL) < 0) {
				pr_perror("can't resume restored thread %d", tid);
				return -1;
			}
			continue;
		}
		/* an event stop resumes as is; a signal is passed on */
		if (ptrace(PTRACE_SYSCALL, tid, NULL,
			   (void *)(long)((st >> 16) == PTRACE_EVENT_STOP ? 0 : WSTOPSIG(st))) < 0) {
			pr_perror("can't resume restored thread %d", tid);
			return -1;
		}
	}
	return 0;
}

static int check_pids_free(struct rst_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		const PstreeEntry *pe = ctx->tasks[i].img->pe;
		for (size_t k = 0; k < pe->n_threads; k++)
			if (pid_exists(pe->threads[k])) {
				pr_err("pid %u is taken: the dumped %s %u can't be restored while it runs\n",
				       pe->threads[k], k ? "thread" : "task", pe->threads[k]);
				errno = EEXIST;
				return -1;
			}
	}
	return 0;
}

static int reserve_area(struct rst_ctx *ctx)
{
	size_t max_args = 0, ssz = sync_size(ctx->nr_tasks);
	void *p;

	ctx->blob_size = ALIGN_UP(sizeof(rst_blob), PAGE_SIZE);
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		if (img_task_zombie(ctx->tasks[i].img))
			continue;
		ctx->tasks[i].args_size = rst_args_size(ctx, &ctx->tasks[i]);
		max_args = MAX(max_args, ctx->tasks[i].args_size);
	}
	ctx->area_size = ALIGN_UP(ssz + ctx->blob_size + max_args, PAGE_SIZE);
	if (rst_find_area(ctx, ctx->area_size, &ctx->area_start) < 0)
		return -1;
	p = mmap((void *)(uintptr_t)ctx->area_start, ctx->area_size, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED) {
		pr_perror("can't reserve 0x%" PRIx64 " bytes at 0x%" PRIx64 " for the restorer", ctx->area_size,
			  ctx->area_start);
		return -1;
	}
	p = mmap(p, ssz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) {
		pr_perror("can't map the restore sync page");
		munmap((void *)(uintptr_t)ctx->area_start, ctx->area_size);
		return -1;
	}
	ctx->sync = p;
	pr_info("restorer area at 0x%" PRIx64 ", %" PRIu64 " bytes\n", ctx->area_start, ctx->area_size);
	return 0;
}

static int write_pidfile(const char *path, pid_t pid)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%d", pid);
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write_all(fd, buf, n) < 0) {
		pr_perror("can't write the pid file %s", path);
		return -1;
	}
	return 0;
}

/* Pages written into the tasks before they run: everything present but what the
 * lazy-pages daemon serves. (Before the shmem objects are filled: that releases their
 * page sets.) */
static uint64_t pages_restored(struct rst_ctx *ctx)
{
	uint64_t n = 0;

	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct img_task *t = ctx->tasks[i].img;
		for (size_t k = 0; t->has_pages && k < t->pr.nr_entries; k++) {
			const PagemapEntry *pe = t->pr.entries[k];
			if ((pe->flags & PE_PRESENT) && !rst_entry_lazy(ctx, t->mm, pe))
				n += pe->nr_pages;
		}
	}
	for (size_t i = 0; i < ctx->img.nr_shmems; i++)
		if (ctx->img.shmems[i].has_pages &&
		    !(ctx->opts->lazy_pages && rst_shmem_lazy(ctx, ctx->img.shmems[i].se->id)))
			n += ctx->img.shmems[i].pr.nr_present;
	return n;
}

/* stats-restore in the work dir; a failure is only a warning (the tree runs). */
static void restore_write_stats(struct rst_ctx *ctx, uint64_t t0, uint64_t t_clone, uint64_t eager_pages)
{
	const struct cr_options *o = ctx->opts;
	struct stats_restore_vals v = { 0 };
	uint64_t t_forked = ctx->t_forked_ns ? ctx->t_forked_ns : now_ns();

	v.forking_us = (t_forked - t_clone) / 1000;
	v.restore_us = (now_ns() - t0) / 1000;
	v.pages_restored = eager_pages;
	if (stats_write_restore(o->work_dir ? o->work_dir : o->images_dir, &v) < 0)
		pr_warn("no stats-restore, ignoring: the tree runs\n");
}

/* An action the restore can't go on without; -1 fails the restore. */
static int restore_action(struct rst_ctx *ctx, enum cr_action act, pid_t pid)
{
	return cr_action_run(ctx->opts, act, pid, -1);
}

int cr_restore(const struct cr_options *opts, struct cr_restore_result *res)
{
	struct rst_ctx ctx = { .opts = opts, .dfd = -1, .tty_fd = -1, .lazy_sock = -1, .devnull_fd = -1 };
	pid_t root = -1;
	int ret = -1;
	uint64_t t0 = now_ns(), t_clone, eager_pages;
	unsigned ns_flags;

	memset(res, 0, sizeof(*res));
	if (cr_action_run(opts, CR_ACT_PRE_RESTORE, 0, -1) < 0)
		return -1;

	ctx.dfd = open(opts->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx.dfd < 0) {
		pr_perror("can't open the images directory %s", opts->images_dir);
		return -1;
	}
	if (read_images(&ctx) < 0)
		goto out;
	pr_debug("images read in %.1f ms\n", (now_ns() - t0) / 1e6);
	__builtin_cpu_init();
	ctx.crc_hw = __builtin_cpu_supports("sse4.2");
	if (!ctx.crc_hw)
		pr_warn("no SSE4.2: page checksums are not verified during restore\n");
	if (rst_probe_xstate(&ctx.xstate_size, &ctx.xfeatures) < 0)
		goto out;
	if (rst_vdso_check(&ctx) < 0)
		goto out;
	if (rst_files_base(&ctx) < 0 || ns_rst_prepare(&ctx) < 0)
		goto out;
	if (!ns_rst_pidns(&ctx) && check_pids_free(&ctx) < 0)
		goto out;
	/* inside the tree's namespaces, the root task opens them (and makes deleted cwds) */
	if ((!ns_rst_in_root(&ctx) && (rst_files_open(&ctx) < 0 || prepare_deleted_cwds(&ctx) < 0)) ||
	    prepare_devnull(&ctx) < 0)
		goto out;
	pr_debug("shmem objects and files ready at %.1f ms\n", (now_ns() - t0) / 1e6);
	if (opts->lazy_pages && lazy_prepare(&ctx) < 0)
		goto out;
	if (rst_premap_plan(&ctx) < 0 || reserve_area(&ctx) < 0 || rst_premap_reserve(&ctx) < 0)
		goto out;
	/* the tasks inherit our cgroups and the namespaces we join (ns_rst_before_clone) */
	if (cg_restore_check(opts, ctx.img.inv->cgroups, ctx.img.inv->n_cgroups) < 0)
		goto out;
	ns_flags = ns_rst_clone_flags(&ctx);
	eager_pages = pages_restored(&ctx);
	pr_info("images read and validated in %.1f ms\n", (now_ns() - t0) / 1e6);

	/* the root signals its parent with SIGCHLD: us, or with --restore-sibling (CLONE_PARENT)
	 * our parent, the runtime that waits for it; in the namespaces it is made with or
	 * that we join for it */
	if (ns_rst_before_clone(&ctx) < 0)
		goto out;
	t_clone = now_ns();
	root = rst_clone_pid(ns_rst_root_pid(&ctx), ns_flags | (opts->restore_sibling ? CLONE_PARENT : 0),
			     SIGCHLD);
	if (root < 0) {
		pr_perror("can't create the root task %u (clone3 with set_tid, flags 0x%x)", ctx.tasks[0].img->pe->pid,
			  ns_flags | (opts->restore_sibling ? CLONE_PARENT : 0));
		goto out;
	}
	if (root == 0)
		task_main(&ctx, 0);
	if (ns_rst_after_clone(&ctx) < 0)
		goto fail;
	if (!ns_rst_pidns(&ctx) && (uint32_t)root != ctx.tasks[0].img->pe->pid) {
		pr_err("the root task came back as pid %d, not %u\n", root, ctx.tasks[0].img->pe->pid);
		goto fail;
	}
	if (ns_rst_has_ns(&ctx) && (restore_action(&ctx, CR_ACT_SETUP_NS, root) < 0 ||
			 restore_action(&ctx, CR_ACT_POST_SETUP_NS, 0) < 0))
		goto fail;
	/* the memory of shmem objects, while the tasks restore theirs */
	if (ns_rst_recv_shmems(&ctx) < 0 || rst_files_late(&ctx) < 0 || rst_shmem_fill(&ctx) < 0 ||
	    wait_restored(&ctx, root) < 0)
		goto fail;
	if (ns_rst_tasks_ready(&ctx, created_of(&ctx), root) < 0)
		goto fail;
	pr_debug("every task ready to go at %.1f ms\n", (now_ns() - t0) / 1e6);
	/* restored, not running yet: the caller learns the root's pid (runc needs it) */
	if (restore_action(&ctx, CR_ACT_POST_RESTORE, root) < 0 ||
	    (ns_rst_own_net(&ctx) && restore_action(&ctx, CR_ACT_NETWORK_UNLOCK, 0) < 0))
		goto fail;
	/* the lock lifted, then the connections out of repair mode (criu-lite/files/net.h) */
	if (net_restore_resume(&ctx) < 0 || restore_action(&ctx, CR_ACT_PRE_RESUME, 0) < 0)
		goto fail;
	/* --lazy-pages: the working set goes in before the tasks do */
	if (ctx.lazy_sock >= 0 && lazy_sync(&ctx, t0) < 0)
		goto fail;
	if (rst_finish(&ctx) < 0)
		goto fail;
	{
		uint64_t pages = 0, dt = now_ns() - t0;
		for (size_t i = 0; i < ctx.nr_tasks; i++)
			if (ctx.tasks[i].img->has_pages)
				pages += ctx.tasks[i].img->pr.nr_present;
		pr_info("restored %zu task(s) in %.1f ms: %.1f MiB of private pages (%.0f MiB/s overall)\n",
			ctx.nr_tasks, dt / 1e6, pages * PAGE_SIZE / 1048576.0,
			dt ? pages * PAGE_SIZE / 1048576.0 / (dt / 1e9) : 0.0);
	}
	if (ctx.lazy_sock >= 0) {
		if (lp_client_restore_finished(ctx.lazy_sock) < 0)
			pr_warn("can't tell the lazy-pages daemon the restore finished, ignoring\n");
		ctx.lazy_sock = -1; /* a service fd: closed with the others */
	}
	if (opts->display_stats) {
		uint64_t pages = 0;
		for (size_t i = 0; i < ctx.nr_tasks; i++)
			if (ctx.tasks[i].img->has_pages)
				pages += ctx.tasks[i].img->pr.nr_present;
		pr_msg("Restore: %zu task(s), %" PRIu64 " pages restored%s, %.1f ms\n", ctx.nr_tasks, pages,
		       opts->lazy_pages ? " or served lazily" : "", (now_ns() - t0) / 1e6);
	}
	res->root = root;
	res->root_exited = ctx.root_reaped;
	res->root_status = ctx.root_status;
	restore_write_stats(&ctx, t0, t_clone, eager_pages);
	/* the tree runs: a caller that fails here can't undo it, only report */
	if (cr_action_run(opts, CR_ACT_POST_RESUME, 0, -1) < 0)
		pr_warn("post-resume failed: the tree runs all the same\n");
	ret = 0;
	/* the tree runs: a pid file that can't be written fails the command, not the tree */
	if (opts->pidfile && write_pidfile(opts->pidfile, root) < 0)
		ret = -1;
	goto out;

fail:
	kill_created(&ctx);
	if (root > 0 && !opts->restore_sibling)
		waitpid(root, NULL, 0);
	root = -1;
out:
	ctx_fini(&ctx);
	return ret;
}

