/* Namespaces and mounts of a dumped tree: the dump's collection and the restore's
 * namespace stages (see ns.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/shm.h>
#include <sys/stat.h>

#define LOG_PREFIX "ns: "
#include "lib/log.h"
#include "lib/proc-parse.h"
#include "lib/util.h"
#include "criu-lite/restorer/args.h"
#include "criu-lite/ns/ns.h"
#include "criu-lite/ns/cgroup.h"
#include "criu-lite/ns/ipc.h"
#include "criu-lite/ns/mnt.h"
#include "criu-lite/ns/net.h"
#include "criu-lite/ns/pid.h"
#include "criu-lite/ns/seccomp.h"
#include "criu-lite/ns/time.h"
#include "criu-lite/ns/uts.h"

#ifndef PTRACE_O_SUSPEND_SECCOMP
#define PTRACE_O_SUSPEND_SECCOMP (1 << 21)
#endif

/* ---- dump ---- */

/* --external TYPE[INODE]:KEY for namespace kind k with inode ino: the key, or NULL. */
static const char *external_key(const struct cr_options *o, unsigned k, uint64_t ino)
{
	char want[64];
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), "%s[%" PRIu64 "]:", ns_kind(k)->name, ino);
	for (size_t i = 0; i < o->nr_external; i++)
		if (!strncmp(o->external[i], want, n) && o->external[i][n])
			return o->external[i] + n;
	return NULL;
}

/* Every task in the root's namespaces (and about to stay there: pid_for_children,
 * time_for_children); a user namespace of its own is refused. */
static int check_tasks(const struct seize_tree *tree, const uint64_t *root_ino)
{
	static const struct {
		const char *name;
		unsigned kind;
	} extra[] = { { "pid_for_children", NS_KIND_PID }, { "time_for_children", NS_KIND_TIME } };
	uint64_t mine, its;

	if (ns_ino_of(0, "user", &mine) < 0)
		return -1;
	for (size_t i = 0; i < tree->nr_tasks; i++) {
		/* a zombie shows no namespaces; a task whose leader exited, through a live thread */
		pid_t pid = seize_proc_pid(&tree->tasks[i]);
		if (tree->tasks[i].zombie)
			continue;
		if (ns_ino_of(pid, "user", &its) < 0)
			return -1;
		if (its != mine) {
			pr_err("pid %d is in another user namespace (user:[%" PRIu64 "]): user namespaces are not "
			       "supported\n", pid, its);
			errno = ENOTSUP;
			return -1;
		}
		for (unsigned k = 1; k <= NS_KIND_MAX; k++) {
			if (!root_ino[k])
				continue;
			if (ns_ino_of(pid, ns_kind(k)->name, &its) < 0)
				return -1;
			if (its != root_ino[k]) {
				pr_err("pid %d is in another %s namespace than the root %d (%s:[%" PRIu64 "]): nested "
				       "namespaces are not supported\n", pid, ns_kind(k)->name, tree->tasks[0].pid,
				       ns_kind(k)->name, its);
				errno = ENOTSUP;
				return -1;
			}
		}
		for (size_t e = 0; e < ARRAY_SIZE(extra); e++) {
			char path[64];
			struct stat st;
			if (!root_ino[extra[e].kind])
				continue;
			/* a pid namespace for children that has none yet can't be read (ENOENT) */
			snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, extra[e].name);
			if (stat(path, &st) < 0) {
				if (errno != ENOENT) {
					pr_perror("can't read %s", path);
					return -1;
				}
				st.st_ino = 0;
			}
			its = st.st_ino;
			if (its != root_ino[extra[e].kind]) {
				pr_err("pid %d made a new %s namespace for its children (%s:[%" PRIu64 "]) and has "
				       "none yet: not supported\n", pid, ns_kind(extra[e].kind)->name, extra[e].name,
				       its);
				errno = ENOTSUP;
				return -1;
			}
		}
	}
	return 0;
}

int ns_dump_collect(struct dump_ctx *ctx)
{
	const struct cr_options *o = ctx->opts;
	pid_t root = seize_proc_pid(&ctx->tree.tasks[0]);
	struct ns_dump *d = calloc(1, sizeof(*d));
	uint64_t root_ino[NS_KIND_MAX + 1] = { 0 };

	if (!d) {
		pr_perror("can't allocate the namespace dump");
		return -1;
	}
	ctx->ns = d;
	d->opts = o;
	d->root = root;
	for (unsigned k = 1; k <= NS_KIND_MAX; k++) {
		uint64_t mine;
		int r = ns_ino_of(0, ns_kind(k)->name, &mine);
		if (r < 0)
			return -1;
		if (r > 0)
			continue; /* this kernel has no such namespace */
		if (ns_ino_of(root, ns_kind(k)->name, &root_ino[k]) < 0)
			return -1;
		d->ino[k] = root_ino[k];
		if (root_ino[k] == mine)
			continue;
		const char *key = external_key(o, k, root_ino[k]);
		if (key) {
			d->ext |= NS_BIT(k);
			d->ext_key[k] = strdup(key);
			if (!d->ext_key[k]) {
				pr_perror("can't copy a key");
				return -1;
			}
			pr_info("the %s namespace %s:[%" PRIu64 "] is external (key %s)\n", ns_kind(k)->name,
				ns_kind(k)->name, root_ino[k], key);
			continue;
		}
		if (k == NS_KIND_NET && (o->empty_ns & CR_CLONE_NEWNET)) {
			/* CRIU's --empty-ns net: the namespace comes back new and empty */
			d->empty |= NS_BIT(k);
			pr_info("the tree's net namespace (net:[%" PRIu64 "]) is dumped empty (--empty-ns net)\n",
				root_ino[k]);
			continue;
		}
		d->own |= NS_BIT(k);
		pr_info("the tree has its own %s namespace (%s:[%" PRIu64 "])\n", ns_kind(k)->name,
			ns_kind(k)->name, root_ino[k]);
	}
	for (unsigned k = 1; k <= NS_KIND_MAX; k++)
		if ((d->own | d->ext | d->empty) & NS_BIT(k))
			ctx->own_ns |= ns_kind(k)->clone_flag;
	if (check_tasks(&ctx->tree, root_ino) < 0)
		return -1;
	if ((d->ext & NS_BIT(NS_KIND_PID)) || (d->ext & NS_BIT(NS_KIND_MNT)) || (d->ext & NS_BIT(NS_KIND_IPC))) {
		pr_err("only net, uts, cgroup and time namespaces can be external: the tree's pid, mount and "
		       "ipc namespaces are restored with it\n");
		errno = ENOTSUP;
		return -1;
	}
	if ((d->own & NS_BIT(NS_KIND_MNT)) && !(o->root && *o->root)) {
		pr_err("the tree has its own mount namespace: give its root with --root (the container's root "
		       "file system, as criu-lite sees it)\n");
		errno = EINVAL;
		return -1;
	}
	if ((d->own & NS_BIT(NS_KIND_IPC)) && ns_ipc_collect(ctx, root, &d->ipc) < 0)
		return -1;
	if ((d->own & NS_BIT(NS_KIND_MNT)) && ns_mnt_collect(ctx, root, &d->mnt) < 0)
		return -1;
	return 0;
}

int ns_dump_sysv_vma(struct dump_ctx *ctx, pid_t pid, uint64_t start, uint64_t end, uint64_t pgoff,
		     uint64_t ino, int fd, uint64_t *ret_shmem_id)
{
	return ns_ipc_dump_vma(ctx, ctx->ns ? ctx->ns->ipc : NULL, pid, start, end, pgoff, ino, fd, ret_shmem_id);
}

int ns_dump_seccomp_thread(struct dump_ctx *ctx, pid_t pid, pid_t tid, uint32_t mode)
{
	return ns_seccomp_dump_thread(&ctx->ns->seccomp, pid, tid, mode);
}

bool ns_dump_own_net(const struct dump_ctx *ctx)
{
	return ctx->ns && ((ctx->ns->own | ctx->ns->ext | ctx->ns->empty) & NS_BIT(NS_KIND_NET));
}

/* A namespace not dumped: external (its key) or empty. */
static int write_bare(unsigned k, const struct ns_dump *d, struct img *img)
{
	NsEntry ne = NS_ENTRY__INIT;

	ne.kind = k;
	ne.has_ino = true;
	ne.ino = d->ino[k];
	ne.ext_key = d->ext_key[k];
	ne.has_empty = (d->empty & NS_BIT(k)) != 0;
	ne.empty = ne.has_empty;
	return img_write(img, &ne);
}

int ns_dump_write(struct dump_ctx *ctx)
{
	struct ns_dump *d = ctx->ns;
	cleanup_img struct img *img = NULL;
	pid_t root = d ? d->root : -1;

	if (!d || ns_seccomp_write(d->seccomp, ctx->dfd) < 0)
		return -1;
	if (!d->own && !d->ext && !d->empty)
		return 0;
	img = img_open(ctx->dfd, IMG_NS, O_WRONLY, 0);
	if (!img)
		return -1;
	for (unsigned k = 1; k <= NS_KIND_MAX; k++)
		if (((d->ext | d->empty) & NS_BIT(k)) && write_bare(k, d, img) < 0)
			return -1;
	if ((d->own & NS_BIT(NS_KIND_PID)) && ns_pid_dump(&ctx->tree, d->ino[NS_KIND_PID], img) < 0)
		return -1;
	if ((d->own & NS_BIT(NS_KIND_UTS)) && ns_uts_dump(root, d->ino[NS_KIND_UTS], img) < 0)
		return -1;
	if ((d->own & NS_BIT(NS_KIND_IPC)) && ns_ipc_write(d->ipc, d->ino[NS_KIND_IPC], img) < 0)
		return -1;
	if ((d->own & NS_BIT(NS_KIND_NET)) && ns_net_dump(root, d->ino[NS_KIND_NET], img) < 0)
		return -1;
	if ((d->own & NS_BIT(NS_KIND_CGROUP)) && ns_cgroup_dump(&ctx->tree, d->ino[NS_KIND_CGROUP], img) < 0)
		return -1;
	/* a container's clocks continue from the dump, as CRIU makes them */
	if ((d->own & (NS_BIT(NS_KIND_TIME) | NS_BIT(NS_KIND_PID))) &&
	    ns_time_dump(root, d->own & NS_BIT(NS_KIND_TIME), d->ino[NS_KIND_TIME], img) < 0)
		return -1;
	if ((d->own & NS_BIT(NS_KIND_MNT)) && ns_mnt_write(ctx, d->mnt, d->ino[NS_KIND_MNT], img) < 0)
		return -1;
	return img_close(steal_pointer(&img));
}

void ns_dump_fini(struct dump_ctx *ctx)
{
	struct ns_dump *d = ctx->ns;

	if (!d)
		return;
	ns_seccomp_free(d->seccomp);
	for (unsigned k = 0; k <= NS_KIND_MAX; k++)
		free(d->ext_key[k]);
	ns_ipc_free(d->ipc);
	ns_mnt_free(d->mnt);
	free(d);
	ctx->ns = NULL;
}

/* ---- restore ---- */

static const NsEntry *img_kind(const struct rst_ctx *ctx, unsigned k)
{
	return ctx->img.ns.kinds[k];
}

/* A namespace whose contents the restore builds: the tree's own, not external. */
static const NsEntry *built(const struct rst_ctx *ctx, unsigned k)
{
	const NsEntry *e = img_kind(ctx, k);
	return e && !e->ext_key ? e : NULL;
}

/* --join-ns NS:PATH (RPC join_ns): the tree joins an existing net, uts or ipc namespace
 * instead of having its own made and restored. */
static unsigned join_kind(const char *name)
{
	for (unsigned k = 1; k <= NS_KIND_MAX; k++)
		if (!strcmp(ns_kind(k)->name, name))
			return k;
	return 0;
}

static int check_joins(struct rst_ctx *ctx)
{
	const struct cr_options *o = ctx->opts;

	for (size_t i = 0; i < o->nr_join_ns; i++) {
		const struct cr_join_ns *j = &o->join_ns[i];
		unsigned k = join_kind(j->ns);
		if (k != NS_KIND_NET && k != NS_KIND_UTS && k != NS_KIND_IPC) {
			pr_err("--join-ns %s: only net, uts and ipc namespaces can be joined\n", j->ns);
			errno = ENOTSUP;
			return -1;
		}
		if (j->extra) {
			pr_err("--join-ns %s:%s,%s: extra options are for the user namespace only\n", j->ns, j->path,
			       j->extra);
			errno = EINVAL;
			return -1;
		}
		if (k == NS_KIND_IPC && ctx->img.ns.kinds[k] && ctx->img.ns.kinds[k]->ipc &&
		    ctx->img.ns.kinds[k]->ipc->n_shms) {
			pr_err("--join-ns ipc: the tree's own IPC namespace holds System V shared memory it needs\n");
			errno = EINVAL;
			return -1;
		}
		ctx->ns->joined |= NS_BIT(k);
	}
	return 0;
}

static int join_all(struct rst_ctx *ctx)
{
	const struct cr_options *o = ctx->opts;
	struct ns_rst *ns = ctx->ns;

	for (size_t i = 0; i < o->nr_join_ns; i++) {
		const struct cr_join_ns *j = &o->join_ns[i];
		unsigned k = join_kind(j->ns);
		char self[64];
		cleanup_close int fd = open(j->path, O_RDONLY | O_CLOEXEC);

		snprintf(self, sizeof(self), "/proc/self/ns/%s", ns_kind(k)->name);
		if (ns->join_back[k] < 0) {
			int back = open(self, O_RDONLY | O_CLOEXEC);
			if (back < 0 || (ns->join_back[k] = rst_svc_fd(ctx, back)) < 0) {
				pr_perror("can't open %s", self);
				return -1;
			}
		}
		if (fd < 0) {
			pr_perror("--join-ns %s: can't open %s", j->ns, j->path);
			return -1;
		}
		if (setns(fd, (int)ns_kind(k)->clone_flag) < 0) {
			pr_perror("--join-ns %s: can't join the namespace at %s", j->ns, j->path);
			return -1;
		}
		pr_info("the tree joins the %s namespace at %s\n", j->ns, j->path);
	}
	return 0;
}

static int open_fill_sock(struct rst_ctx *ctx)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		pr_perror("can't make the shmem socket pair");
		return -1;
	}
	/* above the tree's fds, not among the tracked service fds: the parent closes the
	 * root's end once the root has it (ns_rst_after_clone), the rest in ns_rst_fini */
	for (int i = 0; i < 2; i++) {
		ctx->ns->fill_sock[i] = fcntl(sv[i], F_DUPFD_CLOEXEC, ctx->svc_base);
		close(sv[i]);
		if (ctx->ns->fill_sock[i] < 0) {
			pr_perror("can't move the shmem socket pair");
			return -1;
		}
	}
	return 0;
}

#define FILL_END UINT32_MAX
#define FILL_FILE 0x80000000u /* | file index: a description the parent finishes (a TCP connection) */

int ns_rst_send_shmems(struct rst_ctx *ctx, char *err, size_t errlen)
{
	int sk = ctx->ns ? ctx->ns->fill_sock[1] : -1;

	if (sk < 0)
		return 0;
	for (size_t i = 0; i < ctx->img.nr_shmems; i++) {
		/* what the root would write itself: eager, with pages, not written yet (sealed) */
		if (ctx->shmem_filled[i] || !ctx->img.shmems[i].has_pages || ctx->shmem_fds[i] < 0 ||
		    (ctx->opts->lazy_pages && rst_shmem_lazy(ctx, ctx->img.shmems[i].se->id)))
			continue;
		if (send_fd(sk, (uint32_t)i, ctx->shmem_fds[i]) < 0) {
			ns_set_err(err, errlen, "can't pass shmem object %zu to the parent: %s", i, strerror(errno));
			return -1;
		}
		ctx->shmem_filled[i] = true; /* the parent writes it */
	}
	/* TCP connections leave repair mode when the tasks resume, which the parent runs */
	for (size_t i = 0; i < ctx->img.nr_files; i++) {
		int fd = rst_files_parent_fd(ctx, i);
		if (fd >= 0 && send_fd(sk, FILL_FILE | (uint32_t)i, fd) < 0) {
			ns_set_err(err, errlen, "can't pass file %u to the parent: %s", ctx->img.files[i]->id,
				   strerror(errno));
			return -1;
		}
	}
	if (send_fd(sk, FILL_END, -1) < 0) {
		ns_set_err(err, errlen, "can't pass the shmem objects to the parent: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int ns_rst_recv_shmems(struct rst_ctx *ctx)
{
	struct ns_rst *ns = ctx->ns;
	uint64_t deadline = now_ns() + 120ULL * 1000000000ULL;
	size_t got = 0;

	if (!ns || ns->fill_sock[0] < 0)
		return 0;
	ctx->shmem_filled = calloc(ctx->img.nr_shmems ? ctx->img.nr_shmems : 1, sizeof(*ctx->shmem_filled));
	if (!ctx->shmem_filled) {
		pr_perror("can't allocate the shmem table");
		return -1;
	}
	for (;;) {
		uint32_t idx;
		struct pollfd p = { ns->fill_sock[0], POLLIN, 0 };
		int fd = -1;

		/* the root task may fail first: it says so through the sync page */
		if (poll(&p, 1, 50) <= 0) {
			if (__atomic_load_n(&ctx->sync->abort, __ATOMIC_SEQ_CST))
				return -1; /* wait_restored tells why */
			if (now_ns() > deadline) {
				pr_err("the root task did not pass its shmem objects\n");
				return -1;
			}
			continue;
		}
		if (recv_fd(ns->fill_sock[0], &idx, &fd) < 0) {
			pr_perror("can't receive the shmem objects from the root task");
			return -1;
		}
		if (idx == FILL_END)
			break;
		if (idx & FILL_FILE) {
			if (rst_files_adopt(ctx, idx & ~FILL_FILE, fd) < 0)
				return -1;
			continue;
		}
		if (idx >= ctx->img.nr_shmems || fd < 0 || ctx->shmem_fds[idx] >= 0) {
			pr_err("the root task passed shmem object %u, fd %d\n", idx, fd);
			if (fd >= 0)
				close(fd);
			return -1;
		}
		ctx->shmem_fds[idx] = rst_svc_fd(ctx, fd);
		if (ctx->shmem_fds[idx] < 0)
			return -1;
		got++;
	}
	pr_debug("%zu shmem object(s) to fill while the tasks restore\n", got);
	return 0;
}

/* The ids the images are named by, before pstree's become the namespace's. */
static int keep_image_ids(struct rst_ctx *ctx)
{
	struct ns_rst *ns = ctx->ns;

	ns->img_pid = calloc(ctx->nr_tasks, sizeof(*ns->img_pid));
	ns->img_tids = calloc(ctx->nr_tasks, sizeof(*ns->img_tids));
	if (!ns->img_pid || !ns->img_tids) {
		pr_perror("can't allocate the image ids");
		return -1;
	}
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		const PstreeEntry *pe = ctx->tasks[i].img->pe;
		ns->img_pid[i] = pe->pid;
		ns->img_tids[i] = malloc(pe->n_threads * sizeof(uint32_t));
		if (!ns->img_tids[i]) {
			pr_perror("can't allocate the image ids");
			return -1;
		}
		memcpy(ns->img_tids[i], pe->threads, pe->n_threads * sizeof(uint32_t));
	}
	return 0;
}

/* Every thread that ran under seccomp has its filters in seccomp.img, in that mode. */
static int check_seccomp(const struct rst_ctx *ctx)
{
	const SeccompEntry *sc = ctx->img.ns.seccomp;

	for (size_t i = 0; i < ctx->nr_tasks; i++)
		for (size_t k = 0; !img_task_zombie(ctx->tasks[i].img) && k < ctx->tasks[i].img->pe->n_threads; k++) {
			const ThreadCoreEntry *c = ctx->tasks[i].img->cores[k]; /* (a zombie has none) */
			const SeccompThreadEntry *st = img_ns_seccomp_thread(sc, ctx->ns->img_tids[i][k]);
			uint32_t mode = c->has_seccomp_mode ? c->seccomp_mode : 0;
			if ((st ? st->mode : 0) != mode) {
				pr_err("thread %u ran in seccomp mode %u, seccomp.img has mode %u for it\n",
				       ctx->ns->img_tids[i][k], mode, st ? st->mode : 0);
				errno = EBADMSG;
				return -1;
			}
		}
	return 0;
}

int ns_rst_prepare(struct rst_ctx *ctx)
{
	const struct cr_options *o = ctx->opts;
	struct ns_rst *ns = calloc(1, sizeof(*ns));

	if (!ns) {
		pr_perror("can't allocate the namespace restore");
		return -1;
	}
	ctx->ns = ns;
	ns->img = &ctx->img.ns;
	ns->host_proc = ns->time_back = ns->net_back = ns->pty_master = -1;
	ns->fill_sock[0] = ns->fill_sock[1] = -1;
	for (unsigned k = 0; k <= NS_KIND_MAX; k++)
		ns->join_back[k] = -1;
	if (check_joins(ctx) < 0)
		return -1;
	for (unsigned k = 1; k <= NS_KIND_MAX; k++) {
		const NsEntry *e = img_kind(ctx, k);
		if (!e || (ns->joined & NS_BIT(k)))
			continue;
		if (e->ext_key) {
			if (k != NS_KIND_NET) {
				pr_err("ns.img: the %s namespace is external: only a net namespace can be given back\n",
				       ns_kind(k)->name);
				errno = ENOTSUP;
				return -1;
			}
			if (cr_opt_inherit_fd(o, e->ext_key) < 0) {
				pr_err("the tree's %s namespace is external: give it back with --inherit-fd "
				       "fd[N]:%s\n", ns_kind(k)->name, e->ext_key);
				errno = EINVAL;
				return -1;
			}
			continue;
		}
		/* the time entry says how the clocks continue; the namespace is made before the clone */
		if (k != NS_KIND_TIME)
			ns->clone_flags |= ns_kind(k)->clone_flag;
	}
	if (built(ctx, NS_KIND_MNT) && !(o->root && *o->root)) {
		pr_err("the tree has its own mount namespace: give the root file system to rebuild it on "
		       "with --root\n");
		errno = EINVAL;
		return -1;
	}
	ns->in_root = ns->clone_flags != 0;
	ns->pidns = built(ctx, NS_KIND_PID) != NULL;
	if (ns->in_root && open_fill_sock(ctx) < 0)
		return -1;
	if (keep_image_ids(ctx) < 0 || check_seccomp(ctx) < 0)
		return -1;
	ns->host_proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ns->host_proc < 0 || (ns->host_proc = rst_svc_fd(ctx, ns->host_proc)) < 0) {
		pr_perror("can't open /proc");
		return -1;
	}
	if (ns->pidns && ns_pid_remap(ctx, img_kind(ctx, NS_KIND_PID)) < 0)
		return -1;
	if (ns->clone_flags)
		pr_info("the root is created with CLONE_NEW* flags 0x%x\n", ns->clone_flags);
	return 0;
}

bool ns_rst_pidns(const struct rst_ctx *ctx)
{
	return ctx->ns && ctx->ns->pidns;
}

bool ns_rst_in_root(const struct rst_ctx *ctx)
{
	return ctx->ns && ctx->ns->in_root;
}

pid_t ns_rst_root_pid(const struct rst_ctx *ctx)
{
	return (pid_t)ctx->tasks[0].img->pe->pid; /* 1 after ns_pid_remap */
}

unsigned ns_rst_clone_flags(const struct rst_ctx *ctx)
{
	return ctx->ns ? ctx->ns->clone_flags : 0;
}

int ns_rst_before_clone(struct rst_ctx *ctx)
{
	struct ns_rst *ns = ctx->ns;
	const NsEntry *net = img_kind(ctx, NS_KIND_NET), *time = img_kind(ctx, NS_KIND_TIME);

	if (time && !time->ext_key) {
		int back;
		if (ns_time_prepare(time, &back, &ns->time_shift) < 0)
			return -1;
		ns->time_back = rst_svc_fd(ctx, back);
		if (ns->time_back < 0)
			return -1;
	}
	if (join_all(ctx) < 0)
		return -1;
	if (net && net->ext_key && !(ns->joined & NS_BIT(NS_KIND_NET))) {
		int fd = cr_opt_inherit_fd(ctx->opts, net->ext_key), back;
		back = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (back < 0 || (ns->net_back = rst_svc_fd(ctx, back)) < 0) {
			pr_perror("can't open our net namespace");
			return -1;
		}
		if (setns(fd, CLONE_NEWNET) < 0) {
			pr_perror("can't join the external net namespace %s (--inherit-fd fd[%d])", net->ext_key, fd);
			return -1;
		}
		pr_info("the tree joins the external net namespace %s\n", net->ext_key);
	}
	return 0;
}

int ns_rst_after_clone(struct rst_ctx *ctx)
{
	struct ns_rst *ns = ctx->ns;
	int ret = 0;

	if (!ns)
		return 0;
	if (ns->time_back >= 0 && ns_time_return(ns->time_back) < 0)
		ret = -1;
	if (ns->net_back >= 0 && setns(ns->net_back, CLONE_NEWNET) < 0) {
		pr_perror("can't return to our net namespace");
		ret = -1;
	}
	/* the root's end: it alone holds it now (its death is an EOF) */
	closep(&ns->fill_sock[1]);
	for (unsigned k = 1; k <= NS_KIND_MAX; k++)
		if (ns->join_back[k] >= 0) {
			if (setns(ns->join_back[k], (int)ns_kind(k)->clone_flag) < 0) {
				pr_perror("can't return to our %s namespace", ns_kind(k)->name);
				ret = -1;
			}
			ns->join_back[k] = -1;
		}
	ns->time_back = ns->net_back = -1; /* service fds: closed with the others */
	return ret;
}

/* The root's namespace stages, in order; each runs if the tree has that namespace. */
static int stage_uts(struct rst_ctx *ctx, const NsEntry *e, char *err, size_t len)
{
	(void)ctx;
	return ns_uts_restore(e, err, len);
}

static int stage_ipc(struct rst_ctx *ctx, const NsEntry *e, char *err, size_t len)
{
	return ns_ipc_restore(ctx, e, err, len);
}

static int stage_net(struct rst_ctx *ctx, const NsEntry *e, char *err, size_t len)
{
	(void)ctx;
	return ns_net_restore(e, err, len);
}

static int stage_mnt(struct rst_ctx *ctx, const NsEntry *e, char *err, size_t len)
{
	return ns_mnt_restore(ctx, e, err, len);
}

static const struct ns_stage {
	const char *name;
	unsigned kind;
	int (*run)(struct rst_ctx *ctx, const NsEntry *e, char *err, size_t len);
} root_stages[] = {
	{ "uts", NS_KIND_UTS, stage_uts },
	{ "ipc", NS_KIND_IPC, stage_ipc },
	{ "net", NS_KIND_NET, stage_net },
	{ "mounts", NS_KIND_MNT, stage_mnt },
};

int ns_rst_root_stages(struct rst_ctx *ctx, char *err, size_t errlen)
{
	/* the tree's clocks are ours shifted: its log lines keep the log's time line */
	log_shift_clock(ctx->ns->time_shift);
	for (size_t i = 0; i < ARRAY_SIZE(root_stages); i++) {
		const struct ns_stage *s = &root_stages[i];
		const NsEntry *e = built(ctx, s->kind);
		uint64_t t0 = now_ns();
		if (!e || (e->has_empty && e->empty) || (ctx->ns->joined & NS_BIT(s->kind)))
			continue;
		if (s->run(ctx, e, err, errlen) < 0)
			return -1;
		pr_debug("namespace stage %s done in %.2f ms\n", s->name, (now_ns() - t0) / 1e6);
	}
	return 0;
}

bool ns_rst_has_ns(const struct rst_ctx *ctx)
{
	for (unsigned k = 1; k <= NS_KIND_MAX; k++)
		if (img_kind(ctx, k) && k != NS_KIND_TIME)
			return true;
	return false;
}

bool ns_rst_own_net(const struct rst_ctx *ctx)
{
	return img_kind(ctx, NS_KIND_NET) != NULL;
}

pid_t ns_rst_host_self(const struct rst_ctx *ctx)
{
	return ns_pid_host_self(ctx);
}

int ns_rst_tasks_ready(struct rst_ctx *ctx, const uint32_t *host_pids, pid_t root)
{
	const NsEntry *ipc = built(ctx, NS_KIND_IPC);

	if (ns_rst_pidns(ctx) && ns_pid_host_tids(ctx, host_pids) < 0)
		return -1;
	if (ipc && ns_ipc_finish(ctx, ipc, root) < 0)
		return -1;
	return 0;
}

pid_t ns_rst_tid(const struct rst_ctx *ctx, size_t task, size_t thread)
{
	if (ctx->ns && ctx->ns->host_tids)
		return ctx->ns->host_tids[task][thread];
	return (pid_t)ctx->tasks[task].img->pe->threads[thread];
}

void ns_rst_sysv_vma(const struct rst_ctx *ctx, const VmaEntry *v, struct rst_vma *o)
{
	int id = ns_ipc_shmid(ctx, v->shmem_id);

	if (id < 0)
		return;
	/* A System V attach can't be registered with a userfaultfd (the kernel's shm VMAs
	 * have no uffd operations): restored lazily, it is a shared mapping of the
	 * segment's memory instead (the same pages at the same address, but not counted in
	 * shm_nattch, and only munmap() undoes it). Eagerly, it is attached again. */
	if (ctx->opts->lazy_pages && rst_shmem_lazy((struct rst_ctx *)ctx, v->shmem_id)) {
		pr_info("System V segment %d at 0x%" PRIx64 ": restored lazily, as a shared mapping of its memory "
			"(not counted in shm_nattch)\n", id, v->start);
		return;
	}
	o->shmid = id;
	o->shmflg = 0;
	if (v->has_vm_flags && !(v->vm_flags & PROC_VMF_MW))
		o->shmflg |= SHM_RDONLY;
	if (v->has_vm_flags && (v->vm_flags & PROC_VMF_ME))
		o->shmflg |= SHM_EXEC;
}

void ns_rst_sysv_prots(struct rst_vma *v, size_t nr)
{
	/* shmat() maps with these; the blob mprotects to the dumped prot afterwards */
	for (size_t i = 0; i < nr; i++)
		if (v[i].shmid >= 0)
			v[i].map_prot = PROT_READ | (v[i].shmflg & SHM_RDONLY ? 0 : PROT_WRITE) |
					(v[i].shmflg & SHM_EXEC ? PROT_EXEC : 0);
}

static const SeccompChainEntry *chain_of(const struct rst_ctx *ctx, size_t task, size_t k)
{
	const SeccompEntry *sc = ctx->img.ns.seccomp;
	const SeccompThreadEntry *st = img_ns_seccomp_thread(sc, ctx->ns->img_tids[task][k]);

	return st && st->mode == 2 ? img_ns_seccomp_chain(sc, st->chain) : NULL;
}

size_t ns_rst_seccomp_size(const struct rst_ctx *ctx, size_t task)
{
	size_t n = 0;

	if (!ctx->img.ns.seccomp || !ctx->ns)
		return 0;
	for (size_t k = 0; k < ctx->tasks[task].img->pe->n_threads; k++) {
		const SeccompChainEntry *c = chain_of(ctx, task, k);
		for (size_t f = 0; c && f < c->n_filters; f++)
			n += sizeof(struct rst_filter) + ALIGN_UP(c->filters[f]->prog.len, 8);
	}
	return n;
}

int ns_rst_seccomp_fill(const struct rst_ctx *ctx, size_t task, struct rst_thread *th, char *base, size_t off,
			char *err, size_t errlen)
{
	const SeccompEntry *sc = ctx->img.ns.seccomp;

	for (size_t k = 0; k < ctx->tasks[task].img->pe->n_threads; k++) {
		const SeccompThreadEntry *st = ctx->ns ? img_ns_seccomp_thread(sc, ctx->ns->img_tids[task][k]) : NULL;
		const SeccompChainEntry *c = st ? chain_of(ctx, task, k) : NULL;
		struct rst_filter *f;

		th[k].seccomp_mode = st ? st->mode : 0;
		th[k].nr_filters = 0;
		if (!c)
			continue;
		if (c->n_filters > IMG_NS_MAX_FILTERS) {
			ns_set_err(err, errlen, "thread %u: %zu seccomp filters", th[k].tid, c->n_filters);
			return -1;
		}
		th[k].filters_off = off;
		th[k].nr_filters = (uint32_t)c->n_filters;
		f = (struct rst_filter *)(base + off);
		off += c->n_filters * sizeof(*f);
		for (size_t i = 0; i < c->n_filters; i++) {
			const SeccompFilterEntry *fe = c->filters[i];
			f[i].len = (uint32_t)(fe->prog.len / IMG_NS_BPF_INSN_SIZE);
			f[i].flags = fe->has_flags ? fe->flags : 0;
			f[i].prog_off = off;
			memcpy(base + off, fe->prog.data, fe->prog.len);
			off += ALIGN_UP(fe->prog.len, 8);
		}
	}
	return 0;
}

unsigned long ns_rst_ptrace_options(const struct rst_ctx *ctx)
{
	return ctx->img.ns.seccomp ? PTRACE_O_SUSPEND_SECCOMP : 0;
}

void ns_rst_fini(struct rst_ctx *ctx)
{
	struct ns_rst *ns = ctx->ns;

	if (!ns)
		return;
	ns_rst_after_clone(ctx);
	for (size_t i = 0; ns->host_tids && i < ctx->nr_tasks; i++)
		free(ns->host_tids[i]);
	free(ns->host_tids);
	free(ns->img_pid);
	for (size_t i = 0; ns->img_tids && i < ctx->nr_tasks; i++)
		free(ns->img_tids[i]);
	free(ns->img_tids);
	free(ns->shm_fds);
	closep(&ns->pty_master);
	closep(&ns->fill_sock[0]);
	closep(&ns->fill_sock[1]);
	free(ns);
	ctx->ns = NULL;
}
