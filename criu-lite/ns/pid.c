/* The pid namespace (see pid.h). */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define LOG_PREFIX "ns/pid: "
#include "lib/log.h"
#include "lib/proc-parse.h"
#include "lib/util.h"
#include "criu-lite/ns/pid.h"

/* ---- dump ---- */

static const struct seize_task *tree_task(const struct seize_tree *tree, pid_t pid)
{
	for (size_t i = 0; i < tree->nr_tasks; i++)
		if (tree->tasks[i].pid == pid)
			return &tree->tasks[i];
	return NULL;
}

/* Every process whose pid namespace is ino must be in the tree: the namespace dies
 * with its init, so one left out would be killed, not left running. */
static int check_whole_ns(const struct seize_tree *tree, uint64_t ino)
{
	cleanup_free int *pids = NULL;
	size_t nr;

	if (proc_list_dir_ints("/proc", &pids, &nr) < 0)
		return -1;
	for (size_t i = 0; i < nr; i++) {
		char path[64];
		struct stat st;

		snprintf(path, sizeof(path), "/proc/%d/ns/pid", pids[i]);
		if (stat(path, &st) < 0 || st.st_ino != ino || tree_task(tree, pids[i]))
			continue;
		pr_err("pid %d is in the tree's pid namespace (pid:[%" PRIu64 "]) but not in the tree (a "
		       "process that joined it from outside, like runc exec's): dump its tree too, or stop it\n",
		       pids[i], ino);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int dump_one(const struct seize_task *t, NsPidTask *e, uint32_t *threads)
{
	struct proc_status ps;

	for (size_t k = 0; k < t->nr_tids; k++) {
		if (proc_parse_status(t->pid, t->tids[k], &ps) < 0)
			return -1;
		if (ps.nr_ns_levels != 2) {
			pr_err("thread %d of pid %d is %zu pid namespace levels deep; criu-lite restores one\n",
			       t->tids[k], t->pid, ps.nr_ns_levels);
			errno = ENOTSUP;
			return -1;
		}
		threads[k] = ps.ns_pid[1];
		if (k == 0) {
			e->ns_pid = ps.ns_pid[1];
			e->has_ns_pgid = e->has_ns_sid = true;
			e->ns_pgid = ps.ns_pgid[1];
			e->ns_sid = ps.ns_sid[1];
		}
	}
	e->pid = t->pid;
	e->ns_threads = threads;
	e->n_ns_threads = t->nr_tids;
	return 0;
}

int ns_pid_dump(const struct seize_tree *tree, uint64_t ino, struct img *img)
{
	NsEntry ne = NS_ENTRY__INIT;
	NsPidEntry pe = NS_PID_ENTRY__INIT;
	cleanup_free NsPidTask *tasks = calloc(tree->nr_tasks, sizeof(*tasks));
	cleanup_free NsPidTask **ptrs = calloc(tree->nr_tasks, sizeof(*ptrs));
	uint32_t **threads = calloc(tree->nr_tasks, sizeof(*threads));
	int ret = -1;

	if (!tasks || !ptrs || !threads) {
		pr_perror("can't allocate the pid map");
		goto out;
	}
	if (check_whole_ns(tree, ino) < 0)
		goto out;
	for (size_t i = 0; i < tree->nr_tasks; i++) {
		ns_pid_task__init(&tasks[i]);
		threads[i] = calloc(tree->tasks[i].nr_tids, sizeof(uint32_t));
		if (!threads[i]) {
			pr_perror("can't allocate the pid map");
			goto out;
		}
		if (dump_one(&tree->tasks[i], &tasks[i], threads[i]) < 0)
			goto out;
		ptrs[i] = &tasks[i];
		pr_debug("pid %d is %u in its namespace\n", tree->tasks[i].pid, tasks[i].ns_pid);
	}
	if (tasks[0].ns_pid != 1) {
		pr_err("pid %d is pid %u in its pid namespace (pid:[%" PRIu64 "]), not its init: dump the "
		       "namespace's init, the whole namespace is restored\n",
		       tree->tasks[0].pid, tasks[0].ns_pid, ino);
		errno = EINVAL;
		goto out;
	}
	pe.tasks = ptrs;
	pe.n_tasks = tree->nr_tasks;
	ne.kind = NS_KIND_PID;
	ne.has_ino = true;
	ne.ino = ino;
	ne.pid = &pe;
	ret = img_write(img, &ne);
out:
	for (size_t i = 0; threads && i < tree->nr_tasks; i++)
		free(threads[i]);
	free(threads);
	return ret;
}

/* ---- restore ---- */

static const NsPidTask *map_of(const NsEntry *e, uint32_t pid)
{
	return img_ns_pid_task(e, pid);
}

int ns_pid_remap(struct rst_ctx *ctx, const NsEntry *e)
{
	struct ns_rst *ns = ctx->ns;

	/* ns->img_pid: the image pids, kept by the caller; ppids are image pids until remapped */
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct img_task *t = ctx->tasks[i].img;
		PstreeEntry *pe = t->pe;
		const NsPidTask *m = map_of(e, ns->img_pid[i]); /* there: validated */

		if (pe->ppid) {
			const NsPidTask *pm = map_of(e, pe->ppid);
			pe->ppid = pm->ns_pid;
		}
		for (size_t k = 0; k < pe->n_threads; k++) {
			pe->threads[k] = m->ns_threads[k];
			if (t->cores) /* a zombie has none */
				t->cores[k]->tid = m->ns_threads[k];
		}
		pe->pid = m->ns_pid;
		pe->has_pgid = m->has_ns_pgid && m->ns_pgid;
		pe->pgid = m->ns_pgid;
		pe->has_sid = m->has_ns_sid && m->ns_sid;
		pe->sid = m->ns_sid;
	}
	return 0;
}

pid_t ns_pid_host_self(const struct rst_ctx *ctx)
{
	char buf[32];
	ssize_t n;
	uint64_t v;

	if (!ctx->ns || !ctx->ns->pidns)
		return getpid();
	n = readlinkat(ctx->ns->host_proc, "self", buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (parse_u64(buf, 10, &v) < 0)
		return -1;
	return (pid_t)v;
}

static int host_threads(pid_t host, const PstreeEntry *pe, pid_t *ret)
{
	char path[64];
	cleanup_free int *tids = NULL;
	size_t nr;

	snprintf(path, sizeof(path), "/proc/%d/task", host);
	if (proc_list_dir_ints(path, &tids, &nr) < 0)
		return -1;
	for (size_t k = 0; k < pe->n_threads; k++)
		ret[k] = -1;
	for (size_t j = 0; j < nr; j++) {
		struct proc_status ps;
		if (proc_parse_status(host, tids[j], &ps) < 0)
			return -1;
		if (!ps.nr_ns_levels)
			continue;
		for (size_t k = 0; k < pe->n_threads; k++)
			if (pe->threads[k] == ps.ns_pid[ps.nr_ns_levels - 1])
				ret[k] = tids[j];
	}
	for (size_t k = 0; k < pe->n_threads; k++)
		if (ret[k] < 0) {
			pr_err("thread %u of task %u (pid %d here) was not created\n", pe->threads[k], pe->pid, host);
			errno = ESRCH;
			return -1;
		}
	return 0;
}

int ns_pid_host_tids(struct rst_ctx *ctx, const uint32_t *host_pids)
{
	struct ns_rst *ns = ctx->ns;

	ns->host_tids = calloc(ctx->nr_tasks, sizeof(*ns->host_tids));
	if (!ns->host_tids) {
		pr_perror("can't allocate the thread map");
		return -1;
	}
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		const PstreeEntry *pe = ctx->tasks[i].img->pe;
		ns->host_tids[i] = calloc(pe->n_threads, sizeof(pid_t));
		if (!ns->host_tids[i]) {
			pr_perror("can't allocate the thread map");
			return -1;
		}
		if (img_task_zombie(ctx->tasks[i].img)) {
			ns->host_tids[i][0] = (pid_t)host_pids[i]; /* ended already */
			continue;
		}
		if (host_threads((pid_t)host_pids[i], pe, ns->host_tids[i]) < 0)
			return -1;
	}
	return 0;
}

uint32_t ns_rst_img_pid(const struct rst_ctx *ctx, size_t task)
{
	if (ctx->ns && ctx->ns->img_pid)
		return ctx->ns->img_pid[task];
	return ctx->tasks[task].img->pe->pid;
}

pid_t ns_rst_pid_of_img(const struct rst_ctx *ctx, uint32_t img_pid)
{
	for (size_t i = 0; i < ctx->nr_tasks; i++)
		if (ns_rst_img_pid(ctx, i) == img_pid)
			return (pid_t)ctx->tasks[i].img->pe->pid;
	return 0;
}
