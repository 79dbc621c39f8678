/* The dump's refusals about tasks (see dump-check.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define LOG_PREFIX "dump: "
#include "lib/log.h"
#include "lib/util.h"
#include "lib/proc-parse.h"
#include "criu-lite/dump-check.h"

#define PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG_ 0x4211
#define GDT_ENTRY_TLS_MIN_ 12
#define GDT_ENTRY_TLS_ENTRIES_ 3
#define SCHED_DEADLINE_ 6

static int refuse(void)
{
	errno = ENOTSUP;
	return -1;
}

static bool in_tree(struct dump_ctx *ctx, pid_t pid)
{
	return seize_find(&ctx->tree, pid) != NULL;
}

/* Two processes of the tree that share what clone() shares between threads: restore
 * makes each process its own (CLONE_FS cwd and umask, CLONE_VM memory, CLONE_SIGHAND
 * handlers are not carried; CLONE_FILES fd tables are: dump-files.c). 0 or -1 (logged). */
static int check_shared_between_processes(struct dump_ctx *ctx)
{
	static const struct {
		int type;
		const char *what;
	} res[] = {
		{ 3 /* KCMP_FS */, "one cwd, root and umask (CLONE_FS)" },
		{ 1 /* KCMP_VM */, "one address space (CLONE_VM)" },
		{ 4 /* KCMP_SIGHAND */, "one set of signal handlers (CLONE_SIGHAND)" },
	};

	for (size_t i = 0; i < ctx->tree.nr_tasks; i++)
		for (size_t k = i + 1; k < ctx->tree.nr_tasks; k++) {
			const struct seize_task *a = &ctx->tree.tasks[i], *b = &ctx->tree.tasks[k];
			if (a->zombie || b->zombie)
				continue;
			for (size_t r = 0; r < ARRAY_SIZE(res); r++) {
				long c = syscall(SYS_kcmp, seize_proc_pid(a), seize_proc_pid(b), res[r].type, 0, 0);
				if (c < 0) {
					pr_perror("kcmp of pids %d and %d", a->pid, b->pid);
					return -1;
				}
				if (c == 0) {
					pr_err("pids %d and %d share %s: not carried, restore would give each its own\n",
					       a->pid, b->pid, res[r].what);
					return refuse();
				}
			}
		}
	return 0;
}

/* Does pid hold the character device rdev as an fd? */
static bool holds_chr(pid_t pid, dev_t rdev)
{
	char path[64];
	cleanup_free int *fds = NULL;
	size_t nr;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	if (proc_list_dir_ints(path, &fds, &nr) < 0)
		return false;
	for (size_t i = 0; i < nr; i++) {
		struct stat st;
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fds[i]);
		if (stat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == rdev)
			return true;
	}
	return false;
}

/*
 * A container's console as t's controlling terminal (no --shell-job): a pty slave
 * (files/chr.c carries it when the tree has a mount namespace of its own) that is the
 * terminal of t's session leader, a task of the tree that holds it open: restore makes
 * it the leader's controlling terminal again before the leader makes its children.
 * 1: carried; 0: not a container's pty; -1: refused (logged).
 */
static int console_carried(struct dump_ctx *ctx, const struct seize_task *t, uint32_t tty)
{
	const struct seize_task *l = seize_find(&ctx->tree, t->sid);
	pid_t root = seize_proc_pid(&ctx->tree.tasks[0]);
	struct stat ours, its;
	struct proc_stat st;
	char path[64];

	if (major(tty) < 136 || major(tty) > 143)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", root);
	if (stat("/proc/self/ns/mnt", &ours) < 0 || stat(path, &its) < 0 || ours.st_ino == its.st_ino)
		return 0; /* criu-lite's own mount namespace (or none to see): not a container */
	if (!l || l->zombie || proc_parse_stat(seize_proc_pid(l), 0, &st) < 0 || st.tty_nr != tty ||
	    !holds_chr(seize_proc_pid(l), (dev_t)tty)) {
		pr_err("pid %d has the container's terminal %u:%u as its controlling terminal, but its session "
		       "leader %d is not a task of the tree that holds it open: not carried\n", t->pid, major(tty),
		       minor(tty), t->sid);
		return refuse();
	}
	return 1;
}

int dump_check_tree(struct dump_ctx *ctx)
{
	const struct seize_task *root = &ctx->tree.tasks[0];
	bool shell_job = ctx->opts->shell_job;

	if (check_shared_between_processes(ctx) < 0)
		return -1;

	for (size_t i = 0; i < ctx->tree.nr_tasks; i++) {
		const struct seize_task *t = &ctx->tree.tasks[i];
		struct proc_stat st;

		if (!in_tree(ctx, t->sid) && !(shell_job && t->sid == root->sid)) {
			pr_err("pid %d is in session %d, led by a process outside the tree: dump with --shell-job "
			       "(-j) for it to join the restore's session\n", t->pid, t->sid);
			return refuse();
		}
		if (!in_tree(ctx, t->pgid) && !(shell_job && t->pgid == root->pgid)) {
			pr_err("pid %d is in process group %d, led by a process outside the tree: dump with "
			       "--shell-job (-j) for it to join the restore's group\n", t->pid, t->pgid);
			return refuse();
		}
		if (t->zombie || shell_job)
			continue;
		if (proc_parse_stat(t->pid, 0, &st) < 0)
			return -1;
		if (st.tty_nr) {
			int r = console_carried(ctx, t, st.tty_nr);
			if (r < 0)
				return -1;
			if (r > 0)
				continue;
			pr_err("pid %d has a controlling terminal (device %u:%u): dump with --shell-job (-j)\n", t->pid,
			       (st.tty_nr >> 8) & 0xfff, (st.tty_nr & 0xff) | ((st.tty_nr >> 12) & 0xfff00));
			return refuse();
		}
	}
	return 0;
}

/* A small /proc file as text, or NULL if it can't be read (no logging: some files are
 * unreadable on some kernels, /proc/PID/attr/current without an LSM). */
static char *proc_text(pid_t pid, const char *what)
{
	char path[64], buf[4096];
	cleanup_close int fd = -1;
	ssize_t n;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	else
		snprintf(path, sizeof(path), "/proc/self/%s", what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

/* The same text in /proc/PID/what and /proc/self/what (both unreadable: the same too). */
static void same_as_ours(pid_t pp, const char *what, bool *ret_same, char **ret_theirs)
{
	cleanup_free char *ours = proc_text(0, what);
	char *theirs = proc_text(pp, what);

	*ret_same = (!ours && !theirs) || (ours && theirs && !strcmp(ours, theirs));
	*ret_theirs = theirs;
}

static int check_environment(struct dump_ctx *ctx, pid_t pid, pid_t pp)
{
	static const struct {
		const char *file, *what;
	} env[] = {
		{ "cgroup", "cgroups (it is in another cgroup than criu-lite: --manage-cgroups records them)" },
		{ "attr/current", "LSM labels (it runs under another security label than criu-lite)" },
		{ "loginuid", "audit login ids (its loginuid is not criu-lite's)" },
		{ "sessionid", "audit session ids (its audit session is not criu-lite's)" },
	};
	uint64_t addr;
	char pol[64];
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(env); i++) {
		cleanup_free char *theirs = NULL;
		bool same;
		/* cgroups: cgroup.c when --manage-cgroups says what to do with them (an explicit
		 * ignore or none is the user's choice, as in CRIU); unsaid, they must be ours */
		if (i == 0 && ctx->opts->manage_cgroups_set)
			continue;
		same_as_ours(pp, env[i].file, &same, &theirs);
		if (!same) {
			pr_err("pid %d: /proc/%d/%s is '%.*s': %s are not carried\n", pid, pid, env[i].file,
			       theirs ? (int)strcspn(theirs, "\n") : 0, theirs ? theirs : "", env[i].what);
			return refuse();
		}
	}
	{
		cleanup_free char *ag = proc_text(pp, "autogroup");
		const char *nice = ag ? strstr(ag, " nice ") : NULL;
		if (nice && atoi(nice + 6) != 0) {
			pr_err("pid %d: its autogroup has nice %d: autogroup nice values are not carried\n", pid,
			       atoi(nice + 6));
			return refuse();
		}
	}
	r = proc_numa_policy(pp, &addr, pol, sizeof(pol));
	if (r < 0)
		return -1;
	if (r > 0) {
		pr_err("pid %d: its VMA at %" PRIx64 " has the NUMA memory policy '%s' (mbind, set_mempolicy): not "
		       "carried\n", pid,
		       addr, pol);
		return refuse();
	}
	return 0;
}

struct sched_attr_ {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

struct user_desc_ {
	uint32_t entry_number, base_addr, limit, flags; /* flags: seg_32bit:1 contents:2 read_exec_only:1
							   limit_in_pages:1 seg_not_present:1 useable:1 */
};

struct sud_config_ {
	uint64_t mode, selector, offset, len;
};

static int check_thread(pid_t pid, pid_t tid, const struct proc_status *proc)
{
	struct proc_status ps;
	struct sched_attr_ sa = { 0 };
	struct sud_config_ sud = { 0 };

	if (proc_parse_status(pid, tid, &ps) < 0)
		return -1;
	if (memcmp(ps.uid, proc->uid, sizeof(ps.uid)) || memcmp(ps.gid, proc->gid, sizeof(ps.gid)) ||
	    ps.nr_groups != proc->nr_groups || memcmp(ps.groups, proc->groups, ps.nr_groups * sizeof(ps.groups[0])) ||
	    ps.cap_inh != proc->cap_inh || ps.cap_prm != proc->cap_prm || ps.cap_eff != proc->cap_eff ||
	    ps.cap_bnd != proc->cap_bnd || ps.cap_amb != proc->cap_amb) {
		pr_err("thread %d of pid %d has creds (ids, groups or capabilities) of its own: per-thread creds "
		       "are not carried\n", tid, pid);
		return refuse();
	}
	if (strstr(ps.x86_features, "shstk") || strstr(ps.x86_features, "wrss")) {
		pr_err("thread %d of pid %d uses the shadow stack (%s): not supported\n", tid, pid, ps.x86_features);
		return refuse();
	}
	if (ps.has_untag_mask && ps.untag_mask != ~0ULL) {
		pr_err("thread %d of pid %d uses linear address masking (untag_mask 0x%" PRIx64 "): not supported\n",
		       tid, pid, ps.untag_mask);
		return refuse();
	}
	if (!strncmp(ps.spec_store_bypass, "thread", 6) || !strncmp(ps.spec_indirect_branch, "conditional force", 17)) {
		pr_err("thread %d of pid %d set its speculation control (%s; %s): not carried\n", tid, pid,
		       ps.spec_store_bypass, ps.spec_indirect_branch);
		return refuse();
	}
	if (syscall(SYS_sched_getattr, tid, &sa, sizeof(sa), 0) < 0) {
		pr_perror("sched_getattr of thread %d", tid);
		return -1;
	}
	if (sa.policy == SCHED_DEADLINE_) {
		pr_err("thread %d of pid %d runs under SCHED_DEADLINE: not carried\n", tid, pid);
		return refuse();
	}
	if (sa.util_min || (sa.util_max && sa.util_max != 1024)) {
		pr_err("thread %d of pid %d has utilization clamps (%u..%u): not carried\n", tid, pid, sa.util_min,
		       sa.util_max);
		return refuse();
	}
	if (ptrace(PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG_, tid, (void *)sizeof(sud), &sud) == 0 && sud.mode) {
		pr_err("thread %d of pid %d uses syscall user dispatch: not supported\n", tid, pid);
		return refuse();
	}
	for (int e = GDT_ENTRY_TLS_MIN_; e < GDT_ENTRY_TLS_MIN_ + GDT_ENTRY_TLS_ENTRIES_; e++) {
		struct user_desc_ d = { 0 };
		if (ptrace(PTRACE_GET_THREAD_AREA, tid, (void *)(long)e, &d) < 0) {
			pr_perror("PTRACE_GET_THREAD_AREA %d of thread %d", e, tid);
			return -1;
		}
		/* empty: no base, no limit, read_exec_only and seg_not_present */
		if (d.base_addr || d.limit || (d.flags & 0x28) != 0x28) {
			pr_err("thread %d of pid %d has a TLS descriptor (set_thread_area, GDT entry %d): not "
			       "supported\n", tid, pid, e);
			return refuse();
		}
	}
	return 0;
}

int dump_check_task(struct dump_ctx *ctx, const struct seize_task *t, pid_t pp)
{
	struct proc_status ps;

	/* its namespaces, and those its next children get: criu-lite/ns/ (ns_dump_collect) */
	if (check_environment(ctx, t->pid, pp) < 0)
		return -1;
	if (proc_parse_status(pp, 0, &ps) < 0)
		return -1;
	for (size_t i = t->leader_dead ? 1 : 0; i < t->nr_tids; i++)
		if (check_thread(pp, t->tids[i], &ps) < 0)
			return -1;
	return 0;
}
