/* Seize and release a process tree with ptrace. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "seize: "
#include "lib/log.h"
#include "lib/util.h"
#include "lib/proc-parse.h"
#include "criu-lite/seize.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
/* Exit stops: a thread that dies while seized stops before it is gone, so that we
 * never block waiting for a group leader whose other threads wait for us. */
#define SEIZE_OPTIONS (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXIT)

#ifndef PTRACE_O_SUSPEND_SECCOMP
#define PTRACE_O_SUSPEND_SECCOMP (1 << 21)
#endif

struct seize_task *seize_find(struct seize_tree *tree, pid_t pid)
{
	for (size_t i = 0; i < tree->nr_tasks; i++)
		if (tree->tasks[i].pid == pid)
			return &tree->tasks[i];
	return NULL;
}

/*
 * Wait until tid reports the PTRACE_INTERRUPT stop, until deadline_ns at the most (a
 * thread in an uninterruptible sleep stops only when it leaves it). A signal that
 * arrives first (signal-delivery stop) is delivered as it would have been, and we
 * wait on. Returns 0 (stopped), 1 (the thread is gone) or -1 (logged).
 */
static int wait_interrupt_stop(pid_t tid, uint64_t deadline_ns, int *ret_stopsig)
{
	uint64_t nap_ns = 20000;
	int status;

	for (;;) {
		pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
		if (r == 0) {
			struct timespec ts;
			if (now_ns() > deadline_ns) {
				pr_err("thread %d did not stop in time (--timeout); is it in an "
				       "uninterruptible sleep? (see /proc/%d/stack)\n", tid, tid);
				errno = ETIMEDOUT;
				return -1;
			}
			/* it stops within microseconds unless it sleeps in the kernel: back off */
			ts.tv_sec = 0;
			ts.tv_nsec = (long)nap_ns;
			nanosleep(&ts, NULL);
			nap_ns = MIN(nap_ns * 2, 10000000ULL);
			continue;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD)
				return 1;
			pr_perror("can't wait for thread %d", tid);
			return -1;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return 1;
		if (!WIFSTOPPED(status)) {
			pr_err("thread %d: unexpected wait status 0x%x\n", tid, status);
			errno = EIO;
			return -1;
		}
		if ((status >> 16) == PTRACE_EVENT_STOP) {
			/* SIGTRAP for our interrupt; the stop signal if it was in a group stop */
			*ret_stopsig = WSTOPSIG(status) == SIGTRAP ? 0 : WSTOPSIG(status);
			return 0;
		}
		if ((status >> 16) == PTRACE_EVENT_EXIT) {
			/* exiting: let it finish, it is not ours to dump */
			ptrace(PTRACE_DETACH, tid, NULL, NULL);
			return 1;
		}
		/* A signal-delivery stop (or another event): let it go on as it would. */
		int sig = (status >> 16) ? 0 : WSTOPSIG(status);
		pr_debug("thread %d: signal %d arrived before the interrupt; delivering it\n", tid, sig);
		if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig) < 0) {
			if (errno == ESRCH)
				continue; /* dying: wait for the exit */
			pr_perror("can't resume thread %d with signal %d", tid, sig);
			return -1;
		}
	}
}

/*
 * Seize and stop one thread. Returns 0 (seized and stopped), 1 (gone or a zombie
 * thread: not seized), 2 (tid is the leader and a zombie: not seized) or -1 (logged).
 * *ret_stopsig: the signal of a group stop it was in, 0 if it ran.
 */
static int seize_one(pid_t pid, pid_t tid, uint64_t deadline_ns, int *ret_stopsig)
{
	struct proc_stat st;
	int ret;

	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)SEIZE_OPTIONS) < 0) {
		int e = errno;
		if (e == ESRCH)
			return 1;
		if (proc_parse_stat(pid, tid, &st) == 0 && (st.state == 'Z' || st.state == 'X'))
			return tid == pid ? 2 : 1;
		struct proc_status ps;
		if (proc_parse_status(pid, tid, &ps) == 0 && ps.tracer_pid) {
			pr_err("thread %d of pid %d is already traced by pid %d\n", tid, pid, ps.tracer_pid);
			errno = EBUSY;
			return -1;
		}
		errno = e;
		pr_perror("can't seize thread %d of pid %d", tid, pid);
		return -1;
	}
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0) {
		if (errno != ESRCH) {
			pr_perror("can't interrupt thread %d", tid);
			ptrace(PTRACE_DETACH, tid, NULL, NULL);
			return -1;
		}
	}
	ret = wait_interrupt_stop(tid, deadline_ns, ret_stopsig);
	if (ret < 0)
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
	if (ret != 0)
		return ret;
	/* Injected syscalls must not meet the thread's seccomp filter (it could kill it). */
	struct proc_status ps;
	if (proc_parse_status(pid, tid, &ps) < 0) {
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return -1;
	}
	if (ps.seccomp &&
	    ptrace(PTRACE_SETOPTIONS, tid, NULL,
		   (void *)(long)(SEIZE_OPTIONS | PTRACE_O_SUSPEND_SECCOMP)) < 0) {
		pr_perror("thread %d of pid %d runs under seccomp, which can't be suspended", tid, pid);
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return -1;
	}
	return 0;
}

static bool has_tid(const struct seize_task *t, pid_t tid)
{
	for (size_t i = 0; i < t->nr_tids; i++)
		if (t->tids[i] == tid)
			return true;
	return false;
}

/*
 * Seize every thread of t->pid, looping until a pass finds no new thread. Returns 0,
 * 2 if the leader turned out to be a zombie before it was seized (nothing seized), or
 * -1 (logged).
 */
static int seize_threads(struct seize_task *t, uint64_t deadline_ns)
{
	bool leader_done = false;

	for (;;) {
		cleanup_free pid_t *tids = NULL;
		size_t nr, added = 0;

		if (proc_list_tids(t->pid, &tids, &nr) < 0)
			return -1;
		/* The leader first, so that tids[0] is always the leader (a dead one too). */
		if (!leader_done) {
			int sig = 0, r = t->leader_dead ? 0 : seize_one(t->pid, t->pid, deadline_ns, &sig);
			if (r < 0 || r == 2)
				return r;
			if (r > 0) {
				pr_err("pid %d exited while being seized\n", t->pid);
				errno = ESRCH;
				return -1;
			}
			if (sig)
				t->stop_sig = sig;
			t->tids = malloc(sizeof(pid_t));
			if (!t->tids) {
				pr_perror("can't allocate a thread list");
				ptrace(PTRACE_DETACH, t->pid, NULL, NULL);
				return -1;
			}
			t->tids[0] = t->pid;
			t->nr_tids = 1;
			leader_done = true;
			added++;
		}
		for (size_t i = 0; i < nr; i++) {
			int sig = 0, r;
			if (has_tid(t, tids[i]))
				continue;
			r = seize_one(t->pid, tids[i], deadline_ns, &sig);
			if (r < 0)
				return -1;
			if (r > 0)
				continue;
			if (sig)
				t->stop_sig = sig;
			pid_t *nt = realloc(t->tids, (t->nr_tids + 1) * sizeof(pid_t));
			if (!nt) {
				pr_perror("can't grow a thread list");
				ptrace(PTRACE_DETACH, tids[i], NULL, NULL);
				return -1;
			}
			t->tids = nt;
			t->tids[t->nr_tids++] = tids[i];
			added++;
		}
		if (!added)
			return 0;
	}
}

/* Index of the first seized thread (a dead leader and a zombie are not seized). */
static size_t first_seized(const struct seize_task *t)
{
	return t->zombie ? t->nr_tids : t->leader_dead ? 1 : 0;
}

pid_t seize_proc_pid(const struct seize_task *t)
{
	return t->leader_dead && t->nr_tids > 1 ? t->tids[1] : t->pid;
}

static void detach_task(struct seize_task *t)
{
	/* A task that was stopped gets its stop signal queued before the detach, so that
	 * it stops again before it returns to user mode. */
	int sig = t->stop_sig ? t->stop_sig : SIGSTOP;

	if (t->zombie)
		return;
	if (t->was_stopped && kill(t->pid, sig) < 0)
		pr_warn("can't stop pid %d again: %s\n", t->pid, strerror(errno));
	for (size_t i = first_seized(t); i < t->nr_tids; i++)
		if (ptrace(PTRACE_DETACH, t->tids[i], NULL, NULL) < 0 && errno != ESRCH)
			pr_warn("can't detach thread %d: %s\n", t->tids[i], strerror(errno));
}

/* One killed thread of ours: true once it is gone (reaped, or no longer ours). */
static bool kill_thread_done(pid_t tid)
{
	int status;
	pid_t r = waitpid(tid, &status, __WALL | WNOHANG);

	if (r == 0)
		return false;
	if (r < 0)
		return errno != EINTR; /* ECHILD: reaped or no longer ours */
	/* an exit stop (or a stop that raced the kill): let it go on dying untraced */
	if (WIFSTOPPED(status) && ptrace(PTRACE_DETACH, tid, NULL, NULL) == 0)
		return true;
	return !WIFSTOPPED(status);
}

/*
 * Wait for every killed thread of the tree, in whatever order they can go: a thread
 * may only finish dying once we reaped another (the last thread of a pid
 * namespace's init waits in zap_pid_ns_processes() until its traced, exited
 * siblings are released: waiting for it first would wait for ever).
 */
static void kill_tree_wait(struct seize_tree *tree)
{
	uint64_t start = now_ns();
	unsigned long spins = 0;

	for (;;) {
		size_t left = 0;
		for (size_t i = tree->nr_tasks; i-- > 0;) {
			struct seize_task *t = &tree->tasks[i];
			for (size_t k = t->nr_tids; k-- > first_seized(t);) {
				if (!t->tids[k])
					continue;
				if (kill_thread_done(t->tids[k]))
					t->tids[k] = 0;
				else
					left++;
			}
		}
		if (!left)
			return;
		if (spins++ > 100 && now_ns() - start > 10000000000ULL) {
			pr_warn("%zu killed thread(s) of the tree still not gone after 10 s: left to die alone\n", left);
			return;
		}
		usleep(spins < 100 ? 100 : 1000);
	}
}

void seize_release(struct seize_tree *tree, int how)
{
	if (how == SEIZE_KILL) {
		/* no exit stops while they die */
		for (size_t i = 0; i < tree->nr_tasks; i++)
			for (size_t k = first_seized(&tree->tasks[i]); k < tree->tasks[i].nr_tids; k++)
				ptrace(PTRACE_SETOPTIONS, tree->tasks[i].tids[k], NULL,
				       (void *)(long)PTRACE_O_TRACESYSGOOD);
		/* zombies go with their parents (reaped by whoever inherits them) */
		for (size_t i = 0; i < tree->nr_tasks; i++)
			if (!tree->tasks[i].zombie && kill(tree->tasks[i].pid, SIGKILL) < 0)
				pr_warn("can't kill pid %d: %s\n", tree->tasks[i].pid, strerror(errno));
		kill_tree_wait(tree);
	} else {
		for (size_t i = 0; i < tree->nr_tasks; i++)
			detach_task(&tree->tasks[i]);
	}
	for (size_t i = 0; i < tree->nr_tasks; i++)
		free(tree->tasks[i].tids);
	free(tree->tasks);
	tree->tasks = NULL;
	tree->nr_tasks = 0;
}

/* A zombie process: how it ended. 0 or -1 (logged). */
static int note_zombie(struct seize_task *t, bool root)
{
	struct proc_stat st;

	if (root) {
		pr_err("pid %d is a zombie: there is nothing to dump\n", t->pid);
		errno = ESRCH;
		return -1;
	}
	if (proc_parse_stat(t->pid, 0, &st) < 0)
		return -1;
	if (!st.has_exit_code) {
		pr_err("pid %d is a zombie, and /proc/%d/stat does not show its exit code\n", t->pid, t->pid);
		errno = ENOTSUP;
		return -1;
	}
	if (WIFSIGNALED(st.exit_code) && WCOREDUMP(st.exit_code)) {
		pr_err("pid %d is a zombie killed by signal %d with a core dump: its status 0x%x can't be "
		       "restored (the core-dump flag)\n", t->pid, WTERMSIG(st.exit_code), st.exit_code);
		errno = ENOTSUP;
		return -1;
	}
	t->zombie = true;
	t->exit_status = st.exit_code;
	t->exit_signal = (int)st.exit_signal;
	t->tids = malloc(sizeof(pid_t));
	if (!t->tids) {
		pr_perror("can't allocate a thread list");
		return -1;
	}
	t->tids[0] = t->pid;
	t->nr_tids = 1;
	return 0;
}

/*
 * Seize a process: every thread; or nothing for a zombie (noted as one); or every
 * thread but a leader that exited while they run. Retries while it dies under us.
 * 0 or -1 (logged).
 */
static int seize_process(struct seize_task *t, bool root, uint64_t deadline_ns)
{
	for (;;) {
		struct proc_status ps;
		cleanup_free pid_t *tids = NULL;
		size_t nr;
		int r;

		if (proc_parse_status(t->pid, 0, &ps) < 0)
			return -1;
		t->leader_dead = false;
		if (ps.state == 'Z' || ps.state == 'X') {
			if (proc_list_tids(t->pid, &tids, &nr) < 0)
				return -1;
			if (nr <= 1 && ps.state == 'Z')
				return note_zombie(t, root);
			t->leader_dead = nr > 1;
		}
		t->was_stopped = ps.state == 'T';
		r = seize_threads(t, deadline_ns);
		if (r < 0)
			return -1;
		if (r == 0 && (!t->leader_dead || t->nr_tids > 1)) {
			if (t->stop_sig)
				t->was_stopped = true;
			else if (t->was_stopped)
				t->stop_sig = SIGSTOP;
			return 0;
		}
		/* its leader became a zombie, or every thread of a dead leader exited: the
		 * process is dying, look again once it is a zombie */
		free(t->tids);
		t->tids = NULL;
		t->nr_tids = 0;
		if (now_ns() > deadline_ns) {
			pr_err("pid %d is still exiting after --timeout\n", t->pid);
			errno = ETIMEDOUT;
			return -1;
		}
		usleep(1000);
	}
}

static int add_task(struct seize_tree *tree, pid_t pid, pid_t ppid, size_t *cap)
{
	if (tree->nr_tasks == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct seize_task *nt = realloc(tree->tasks, ncap * sizeof(*nt));
		if (!nt) {
			pr_perror("can't grow the task list");
			return -1;
		}
		tree->tasks = nt;
		*cap = ncap;
	}
	struct seize_task *t = &tree->tasks[tree->nr_tasks];
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->ppid = ppid;
	tree->nr_tasks++;
	return 0;
}

int seize_tree(pid_t root, unsigned timeout_s, struct seize_tree *ret)
{
	struct seize_tree tree = { 0 };
	size_t cap = 0;
	uint64_t deadline_ns = now_ns() + (uint64_t)(timeout_s ? timeout_s : 10) * 1000000000ULL;

	if (root <= 0) {
		pr_err("bad pid %d\n", root);
		errno = EINVAL;
		return -1;
	}
	if (root == getpid()) {
		pr_err("pid %d is criu-lite itself\n", root);
		errno = EINVAL;
		return -1;
	}
	if (add_task(&tree, root, 0, &cap) < 0)
		return -1;
	for (size_t i = 0; i < tree.nr_tasks; i++) {
		struct seize_task *t = &tree.tasks[i];
		struct proc_status ps;
		struct proc_stat st;

		if (t->pid == getpid()) {
			pr_err("criu-lite (pid %d) is inside the tree to dump\n", t->pid);
			errno = EINVAL;
			goto err;
		}
		if (proc_parse_status(t->pid, 0, &ps) < 0)
			goto err;
		if (ps.tgid != t->pid) {
			pr_err("%d is a thread, not a process; dump its thread group %d\n", t->pid, ps.tgid);
			errno = EINVAL;
			goto err;
		}
		if (seize_process(t, i == 0, deadline_ns) < 0) {
			/* Whatever was seized stays in t->tids: detached below. */
			goto err;
		}
		if (proc_parse_stat(t->pid, 0, &st) < 0)
			goto err;
		t->pgid = st.pgid;
		t->sid = st.sid;
		if (t->zombie) {
			pr_debug("pid %d is a zombie (status 0x%x)\n", t->pid, t->exit_status);
			continue;
		}
		pr_debug("seized pid %d (%zu threads%s%s)\n", t->pid, t->nr_tids,
			 t->leader_dead ? ", its leader dead" : "", t->stop_sig ? ", stopped" : "");
		/* Children: the task is stopped now, so the lists are final. */
		for (size_t k = 0; k < t->nr_tids; k++) {
			cleanup_free pid_t *kids = NULL;
			size_t nk;
			pid_t pid = t->pid, tid = t->tids[k];
			if (proc_list_children(pid, tid, &kids, &nk) < 0)
				goto err;
			for (size_t j = 0; j < nk; j++) {
				if (seize_find(&tree, kids[j]))
					continue;
				if (add_task(&tree, kids[j], pid, &cap) < 0)
					goto err;
				t = &tree.tasks[i]; /* the array may have moved */
			}
		}
	}
	*ret = tree;
	return 0;
err:
	seize_release(&tree, SEIZE_DETACH);
	return -1;
}
