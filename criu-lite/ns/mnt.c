/* The mount namespace (see mnt.h). */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#define LOG_PREFIX "ns/mnt: "
#include "lib/log.h"
#include "lib/proc-parse.h"
#include "lib/util.h"
#include "criu-lite/ns/mnt.h"
#include "criu-lite/ns/tmpfs.h"

#define MNT_MAX 4096

/* Filesystems criu-lite mounts anew (each its own superblock, in the new namespaces). */
static const char *const new_fstypes[] = { "proc", "sysfs", "tmpfs", "devpts", "mqueue" };

static bool can_make(const char *fstype)
{
	for (size_t i = 0; i < ARRAY_SIZE(new_fstypes); i++)
		if (!strcmp(fstype, new_fstypes[i]))
			return true;
	return false;
}

/* Per-mount flags of mountinfo's 6th field, as MS_* bits. */
static uint32_t mnt_flags_of(const char *opts)
{
	cleanup_free char *s = strdup(opts);
	char *save = NULL;
	uint32_t f = 0;
	bool atime_set = false;

	if (!s)
		return 0;
	for (char *o = strtok_r(s, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (!strcmp(o, "ro"))
			f |= MS_RDONLY;
		else if (!strcmp(o, "nosuid"))
			f |= MS_NOSUID;
		else if (!strcmp(o, "nodev"))
			f |= MS_NODEV;
		else if (!strcmp(o, "noexec"))
			f |= MS_NOEXEC;
		else if (!strcmp(o, "noatime"))
			f |= MS_NOATIME, atime_set = true;
		else if (!strcmp(o, "relatime"))
			f |= MS_RELATIME, atime_set = true;
		else if (!strcmp(o, "nodiratime"))
			f |= MS_NODIRATIME;
		else if (!strcmp(o, "nosymfollow"))
			f |= MS_NOSYMFOLLOW;
	}
	if (!atime_set)
		f |= MS_STRICTATIME;
	return f;
}

/* The superblock options to mount with (without rw/ro), and the superblock's ro. */
static char *super_opts_of(const char *fstype, const char *super_opts, uint32_t *ret_sb_flags)
{
	cleanup_free char *s = strdup(super_opts);
	char *out = calloc(1, strlen(super_opts) + 32), *save = NULL;

	*ret_sb_flags = 0;
	if (!s || !out) {
		free(out);
		return NULL;
	}
	for (char *o = strtok_r(s, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (!strcmp(o, "ro")) {
			*ret_sb_flags |= MS_RDONLY;
			continue;
		}
		if (!strcmp(o, "rw") || !strcmp(o, "seclabel"))
			continue;
		if (*out)
			strcat(out, ",");
		strcat(out, o);
	}
	/* every devpts mount is a new instance; say so for old kernels' sake */
	if (!strcmp(fstype, "devpts"))
		strcat(out, *out ? ",newinstance" : "newinstance");
	return out;
}

/* ---- dump ---- */

struct mnt_dump {
	pid_t pid;
	MntEntry *e;    /* parents before children, the root first */
	MntEntry **pe;
	size_t nr;
	char **strs;    /* what the entries' strings point to */
	size_t nr_strs;
};

static char *keep(struct mnt_dump *m, const char *s)
{
	char **v = realloc(m->strs, (m->nr_strs + 1) * sizeof(*v));
	char *c = s ? strdup(s) : NULL;

	if (!v || (s && !c)) {
		pr_perror("can't copy a string");
		if (v)
			m->strs = v;
		free(c);
		return NULL;
	}
	m->strs = v;
	v[m->nr_strs++] = c;
	return c;
}

void ns_mnt_free(struct mnt_dump *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nr_strs; i++)
		free(m->strs[i]);
	free(m->strs);
	free(m->e);
	free(m->pe);
	free(m);
}

int ns_mnt_check_file(const struct dump_ctx *ctx, pid_t pid, int fd, int mnt_id, const char *what)
{
	const struct mnt_dump *m = ctx->ns ? ctx->ns->mnt : NULL;

	if (!m || mnt_id < 0)
		return 0;
	for (size_t k = 0; k < m->nr; k++)
		if (m->e[k].id == (uint32_t)mnt_id)
			return 0;
	pr_err("fd %d of pid %d is %s, on mount %d, which is outside the tree's mount namespace: it can't "
	       "be opened again there (pass it as an external file, e.g. a pipe given back with --inherit-fd)\n",
	       fd, pid, what, mnt_id);
	errno = ENOTSUP;
	return -1;
}

/* --external mnt[MOUNTPOINT]:KEY (dump) or mnt[KEY]:PATH (restore): the value for name. */
static const char *external_mnt(const struct cr_options *o, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < o->nr_external; i++) {
		const char *s = o->external[i];
		if (!strncmp(s, "mnt[", 4) && !strncmp(s + 4, name, n) && s[4 + n] == ']' && s[5 + n] == ':')
			return s + 6 + n;
	}
	return NULL;
}

/* Is path (a mount's root in its filesystem) at or under dir? */
static const char *under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!strcmp(dir, "/"))
		return path + 1;
	if (strncmp(path, dir, n) || (path[n] && path[n] != '/'))
		return NULL;
	return path[n] ? path + n + 1 : path + n;
}

/* Order: the root first, then every mount after its parent (mountinfo's order kept). */
static int order_mounts(struct proc_mount *v, size_t nr, size_t root, size_t *order)
{
	bool *done = calloc(nr, sizeof(*done));
	size_t n = 0;

	if (!done) {
		pr_perror("can't order the mounts");
		return -1;
	}
	order[n++] = root;
	done[root] = true;
	for (bool progress = true; progress && n < nr;) {
		progress = false;
		for (size_t i = 0; i < nr; i++) {
			if (done[i])
				continue;
			for (size_t k = 0; k < n; k++)
				if (v[order[k]].id == v[i].parent) {
					order[n++] = i;
					done[i] = progress = true;
					break;
				}
		}
	}
	free(done);
	/* mounts not under the root (another parent) are not the tree's: mountinfo shows
	 * the root's descendants only, so this is a table we don't understand */
	if (n != nr) {
		pr_err("mountinfo: %zu mount(s) are not below the root mount\n", nr - n);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static bool mountpoint_is_file(pid_t pid, const char *mp)
{
	char path[PROC_PATH_MAX + 64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/root%s", pid, mp);
	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

static int classify(struct mnt_dump *m, const struct cr_options *o, struct proc_mount *v, size_t nr,
		    const size_t *order)
{
	for (size_t k = 0; k < nr; k++) {
		struct proc_mount *pm = &v[order[k]];
		MntEntry *e = &m->e[k];
		const char *key;
		uint32_t sb;

		mnt_entry__init(e);
		m->pe[k] = e;
		e->id = (uint32_t)pm->id;
		e->parent_id = k ? (uint32_t)pm->parent : 0;
		if (!(e->mountpoint = keep(m, pm->mountpoint)) || !(e->fstype = keep(m, pm->fstype)) ||
		    !(e->source = keep(m, pm->source)) || !(e->root = keep(m, pm->root)))
			return -1;
		e->has_mnt_flags = e->has_sb_flags = e->has_dev = e->has_shared_id = e->has_master_id = true;
		e->mnt_flags = mnt_flags_of(pm->opts) | (pm->unbindable ? MS_UNBINDABLE : 0);
		{
			cleanup_free char *so = super_opts_of(pm->fstype, pm->super_opts, &sb);
			if (!so || !(e->options = keep(m, so)))
				return -1;
		}
		e->sb_flags = sb;
		e->dev = makedev(pm->major, pm->minor);
		e->shared_id = (uint32_t)pm->shared;
		e->master_id = (uint32_t)pm->master;
		e->has_is_file = true;
		e->is_file = mountpoint_is_file(m->pid, pm->mountpoint);
		if (k == 0) {
			e->kind = MNT_KIND_ROOT;
			continue;
		}
		key = external_mnt(o, pm->mountpoint);
		if (key) {
			e->kind = MNT_KIND_EXTERNAL;
			if (!(e->ext_key = keep(m, key)))
				return -1;
			continue;
		}
		/* another mount of an earlier one's filesystem: a bind of it */
		for (size_t j = 0; j < k; j++) {
			const MntEntry *src = &m->e[j];
			if (src->dev != e->dev || (src->kind != MNT_KIND_ROOT && src->kind != MNT_KIND_NEW))
				continue;
			if (!under(e->root, src->root))
				continue;
			e->kind = MNT_KIND_BIND;
			e->has_bind_of = true;
			e->bind_of = src->id;
			break;
		}
		if (e->kind)
			continue;
		if (can_make(pm->fstype) && !strcmp(pm->root, "/")) {
			e->kind = MNT_KIND_NEW;
			continue;
		}
		pr_err("mount %s (%s %s, root %s) can't be made again: it is neither a new %s nor a bind of a "
		       "mount of the container; if it comes from outside, name it with --external mnt[%s]:KEY "
		       "(RPC ext_mnt) and give it back at restore\n", pm->mountpoint, pm->fstype, pm->source,
		       pm->root, can_make(pm->fstype) ? "mount of its whole filesystem" : "filesystem criu-lite makes",
		       pm->mountpoint);
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}

/* Propagation criu-lite can make again: peer groups among the tree's mounts; a slave
 * of an outside group only for external mounts (bound from the caller's path). */
static int check_propagation(const struct mnt_dump *m)
{
	for (size_t k = 0; k < m->nr; k++) {
		const MntEntry *e = &m->e[k];
		bool inside = false;
		if (!e->master_id)
			continue;
		for (size_t j = 0; j < m->nr && !inside; j++)
			inside = m->e[j].shared_id == e->master_id;
		if (!inside && e->kind != MNT_KIND_EXTERNAL) {
			pr_err("mount %s is a slave of peer group %u, which is outside the container: only "
			       "external mounts may be (--external mnt[%s]:KEY)\n", e->mountpoint, e->master_id,
			       e->mountpoint);
			errno = ENOTSUP;
			return -1;
		}
	}
	return 0;
}

/* --root must be the root task's root. */
static int check_root(const struct cr_options *o, pid_t pid)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/%d/root", pid);
	if (stat(o->root, &a) < 0 || stat(path, &b) < 0) {
		pr_perror("can't stat --root %s or the root of pid %d", o->root, pid);
		return -1;
	}
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		pr_err("--root %s is not the root of pid %d (device %u:%u inode %" PRIu64 " against %u:%u inode %"
		       PRIu64 ")\n", o->root, pid, major(a.st_dev), minor(a.st_dev), (uint64_t)a.st_ino,
		       major(b.st_dev), minor(b.st_dev), (uint64_t)b.st_ino);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int ns_mnt_collect(struct dump_ctx *ctx, pid_t pid, struct mnt_dump **ret)
{
	struct proc_mount *v = NULL;
	size_t nr = 0, root = SIZE_MAX;
	cleanup_free size_t *order = NULL;
	struct mnt_dump *m = NULL;
	int r = -1;

	if (check_root(ctx->opts, pid) < 0 || proc_parse_mountinfo(pid, &v, &nr) < 0)
		return -1;
	if (!nr || nr > MNT_MAX) {
		pr_err("pid %d has %zu mounts\n", pid, nr);
		errno = EINVAL;
		goto out;
	}
	for (size_t i = 0; i < nr; i++)
		if (!strcmp(v[i].mountpoint, "/")) {
			if (root != SIZE_MAX) {
				pr_err("pid %d: two mounts at / (stacked root mounts are not supported)\n", pid);
				errno = ENOTSUP;
				goto out;
			}
			root = i;
		}
	if (root == SIZE_MAX) {
		pr_err("pid %d: its root is not a mount (chroot into a directory of its mount namespace)\n", pid);
		errno = ENOTSUP;
		goto out;
	}
	m = calloc(1, sizeof(*m));
	order = calloc(nr, sizeof(*order));
	if (!m || !order || !(m->e = calloc(nr, sizeof(*m->e))) || !(m->pe = calloc(nr, sizeof(*m->pe)))) {
		pr_perror("can't allocate the mount table");
		goto out;
	}
	m->pid = pid;
	m->nr = nr;
	if (order_mounts(v, nr, root, order) < 0 || classify(m, ctx->opts, v, nr, order) < 0 ||
	    check_propagation(m) < 0)
		goto out;
	for (size_t k = 0; k < nr; k++)
		pr_info("mount %u %s: %s %s root %s, kind %u%s%s\n", m->e[k].id, m->e[k].mountpoint, m->e[k].fstype,
			m->e[k].source, m->e[k].root, m->e[k].kind, m->e[k].ext_key ? ", external key " : "",
			m->e[k].ext_key ? m->e[k].ext_key : "");
	*ret = steal_pointer(&m);
	r = 0;
out:
	ns_mnt_free(m);
	proc_mounts_free(v, nr);
	return r;
}

#define MNT_MSG_END 0xffffffffu

static int open_proc_ns(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static bool wanted_tmpfs(const MntEntry *e)
{
	return e->kind == MNT_KIND_NEW && !strcmp(e->fstype, "tmpfs");
}

/* A file of the container's tmpfs that is a shmem object too (a POSIX shared memory
 * object, anything mapped shared): its data goes with the object's pages. */
static uint64_t shmem_of(void *arg, uint64_t dev, uint64_t ino)
{
	const struct dump_ctx *ctx = arg;

	for (size_t i = 0; i < ctx->nr_shmems; i++)
		if (ctx->shmems[i].kind == SHMEM_KIND_FILE && ctx->shmems[i].dev == dev && ctx->shmems[i].ino == ino)
			return ctx->shmems[i].id;
	return 0;
}

/* Restore: the file is shmem object id, opened by its path once the mounts are made. */
static bool shmem_by_path(void *arg, uint64_t id)
{
	const struct rst_ctx *ctx = arg;

	for (size_t i = 0; i < ctx->img.nr_shmems; i++) {
		const ShmemEntry *se = ctx->img.shmems[i].se;
		if (se->id == id)
			return se->kind == SHMEM_KIND_FILE && se->name && !(se->has_unlinked && se->unlinked);
	}
	return false;
}

bool ns_mnt_own_tmpfs(const struct dump_ctx *ctx, uint64_t dev)
{
	const struct mnt_dump *m = ctx->ns ? ctx->ns->mnt : NULL;

	for (size_t k = 0; m && k < m->nr; k++)
		if (wanted_tmpfs(&m->e[k]) && m->e[k].dev == dev)
			return true;
	return false;
}

/*
 * A helper in a private copy of the tree's mount namespace: from the last mount to
 * the first, take a detached copy of each tmpfs (open_tree: only it, nothing mounted
 * on it) and then detach it, so that every mount is on top at its mountpoint when its
 * turn comes (stacked mounts, covered ones). Never returns.
 */
static void __attribute__((noreturn)) clone_helper(const struct mnt_dump *m, int sk)
{
	int fd;

	if (setns(fd = open_proc_ns(m->pid), CLONE_NEWNS) < 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		pr_perror("can't make a private copy of pid %d's mount namespace", m->pid);
		_exit(1);
	}
	close(fd);
	for (size_t k = m->nr - 1; k > 0; k--) {
		const MntEntry *e = &m->e[k];
		if (wanted_tmpfs(e)) {
			struct stat st;
			fd = (int)syscall(SYS_open_tree, AT_FDCWD, e->mountpoint, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
			if (fd < 0 || fstat(fd, &st) < 0) {
				pr_perror("can't clone the mount at %s", e->mountpoint);
				_exit(1);
			}
			if (st.st_dev != e->dev) {
				pr_err("the mount at %s is not the tmpfs of mountinfo (device %u:%u, not %u:%u)\n",
				       e->mountpoint, major(st.st_dev), minor(st.st_dev), major(e->dev), minor(e->dev));
				_exit(1);
			}
			if (send_fd(sk, (uint32_t)k, fd) < 0) {
				pr_perror("can't pass the mount at %s", e->mountpoint);
				_exit(1);
			}
			close(fd);
		}
		if (umount2(e->mountpoint, MNT_DETACH) < 0) {
			pr_perror("can't detach %s in the copy of the mount namespace", e->mountpoint);
			_exit(1);
		}
	}
	_exit(send_fd(sk, MNT_MSG_END, -1) < 0 ? 1 : 0);
}

/* Read each tmpfs from a copy of its mount: nothing mounted over it hides anything. */
static int dump_tmpfs_all(struct dump_ctx *ctx, const struct mnt_dump *m)
{
	cleanup_free int *fds = calloc(m->nr, sizeof(int));
	int sk[2], st, ret = -1;
	pid_t pid;

	if (!fds || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sk) < 0) {
		pr_perror("can't prepare the tmpfs copies");
		return -1;
	}
	for (size_t k = 0; k < m->nr; k++)
		fds[k] = -1;
	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		close(sk[0]);
		close(sk[1]);
		return -1;
	}
	if (pid == 0) {
		close(sk[0]);
		clone_helper(m, sk[1]);
	}
	close(sk[1]);
	for (;;) {
		uint32_t k;
		int fd;
		if (recv_fd(sk[0], &k, &fd) < 0) {
			pr_err("the mount namespace helper failed (see above)\n");
			break;
		}
		if (k == MNT_MSG_END) {
			ret = 0;
			break;
		}
		if (k >= m->nr || fd < 0 || fds[k] >= 0) {
			pr_err("the mount namespace helper sent mount %u, fd %d\n", k, fd);
			if (fd >= 0)
				close(fd);
			break;
		}
		fds[k] = fd;
	}
	close(sk[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		ret = -1;
	for (size_t k = 0; k < m->nr; k++) {
		if (ret == 0 && wanted_tmpfs(&m->e[k]) &&
		    (fds[k] < 0 || ns_tmpfs_dump(ctx->dfd, m->e[k].id, fds[k], shmem_of, ctx) < 0))
			ret = -1;
		closep(&fds[k]);
	}
	return ret;
}

/* POSIX message queues are not carried: an mqueue mount must be empty. */
static int check_mqueue(const struct mnt_dump *m)
{
	for (size_t k = 0; k < m->nr; k++) {
		char path[PROC_PATH_MAX + 64];
		DIR *d;
		struct dirent *de;
		if (strcmp(m->e[k].fstype, "mqueue"))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/root%s", m->pid, m->e[k].mountpoint);
		d = opendir(path);
		if (!d)
			continue;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				pr_err("POSIX message queue %s/%s: message queues are not dumped\n", m->e[k].mountpoint,
				       de->d_name);
				closedir(d);
				errno = ENOTSUP;
				return -1;
			}
		closedir(d);
	}
	return 0;
}

int ns_mnt_write(struct dump_ctx *ctx, const struct mnt_dump *m, uint64_t ino, struct img *img)
{
	NsEntry ne = NS_ENTRY__INIT;
	NsMntEntry me = NS_MNT_ENTRY__INIT;

	if (check_mqueue(m) < 0)
		return -1;
	for (size_t k = 0; k < m->nr; k++)
		if (wanted_tmpfs(&m->e[k])) {
			m->e[k].has_tmpfs_id = true;
			m->e[k].tmpfs_id = m->e[k].id;
		}
	if (dump_tmpfs_all(ctx, m) < 0)
		return -1;
	me.mounts = m->pe;
	me.n_mounts = m->nr;
	ne.kind = NS_KIND_MNT;
	ne.has_ino = true;
	ne.ino = ino;
	ne.mnt = &me;
	return img_write(img, &ne);
}

/* ---- restore ---- */

struct mnt_rst {
	struct rst_ctx *ctx;
	const NsMntEntry *t;
	int *fd;         /* per mount: O_PATH fd of its root once it exists, -1 before */
	char *err;
	size_t errlen;
};

static ssize_t idx_of(const NsMntEntry *t, uint32_t id)
{
	for (size_t i = 0; i < t->n_mounts; i++)
		if (t->mounts[i]->id == id)
			return (ssize_t)i;
	return -1;
}

/* Attach the detached mount tree_fd at mountpoint under the parent mount's fd. */
static int attach(struct mnt_rst *r, size_t k, int tree_fd)
{
	const MntEntry *e = r->t->mounts[k];
	ssize_t p = idx_of(r->t, e->parent_id);
	const char *rel = e->mountpoint + 1;
	const MntEntry *pe;

	/* the mountpoint relative to its parent mount */
	pe = r->t->mounts[p];
	if (strcmp(pe->mountpoint, "/")) {
		size_t n = strlen(pe->mountpoint);
		if (strncmp(e->mountpoint, pe->mountpoint, n) || (e->mountpoint[n] && e->mountpoint[n] != '/')) {
			ns_set_err(r->err, r->errlen, "mount %s is not under its parent %s", e->mountpoint,
				   pe->mountpoint);
			return -1;
		}
		rel = e->mountpoint[n] ? e->mountpoint + n + 1 : ".";
	}
	if (!*rel)
		rel = ".";
	if (syscall(SYS_move_mount, tree_fd, "", r->fd[p], rel, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		ns_set_err(r->err, r->errlen, "can't mount %s (%s): move_mount: %s", e->mountpoint, e->fstype,
			   strerror(errno));
		return -1;
	}
	return 0;
}

/* A new filesystem: fsopen/fsconfig/fsmount, with the dumped superblock options. */
static int make_new(struct mnt_rst *r, const MntEntry *e)
{
	cleanup_close int fs = (int)syscall(SYS_fsopen, e->fstype, FSOPEN_CLOEXEC);
	cleanup_free char *opts = e->options ? strdup(e->options) : NULL;
	char *save = NULL;
	int mfd;

	if (fs < 0) {
		ns_set_err(r->err, r->errlen, "can't make a %s filesystem for %s: %s", e->fstype, e->mountpoint,
			   strerror(errno));
		return -1;
	}
	if (e->source && syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", e->source, 0) < 0)
		goto fail;
	for (char *o = opts ? strtok_r(opts, ",", &save) : NULL; o; o = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(o, '=');
		long rr;
		if (eq) {
			*eq = '\0';
			rr = syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, o, eq + 1, 0);
		} else {
			rr = syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, o, NULL, 0);
		}
		if (rr < 0) {
			ns_set_err(r->err, r->errlen, "%s (%s): option %s%s%s: %s", e->mountpoint, e->fstype, o,
				   eq ? "=" : "", eq ? eq + 1 : "", strerror(errno));
			return -1;
		}
	}
	/* a read-only tmpfs is filled first, and made read-only after (sb_readonly) */
	if (e->has_sb_flags && (e->sb_flags & MS_RDONLY) && !e->has_tmpfs_id &&
	    syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0)
		goto fail;
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto fail;
	mfd = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	if (mfd < 0)
		goto fail;
	return mfd;
fail:
	ns_set_err(r->err, r->errlen, "can't make the %s filesystem for %s: %s", e->fstype, e->mountpoint,
		   strerror(errno));
	return -1;
}

/* The superblock of mount k read-only, now that it is filled. */
static int sb_readonly(struct mnt_rst *r, size_t k)
{
	cleanup_close int fs = (int)syscall(SYS_fspick, r->fd[k], "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC);

	if (fs < 0 || syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0) {
		ns_set_err(r->err, r->errlen, "can't make the filesystem of %s read-only: %s",
			   r->t->mounts[k]->mountpoint, strerror(errno));
		return -1;
	}
	return 0;
}

/* A detached copy of src's mount rooted at rel ("" for its root), or of an outside path. */
static int clone_from(struct mnt_rst *r, int dirfd, const char *rel, const char *what)
{
	int fd = (int)syscall(SYS_open_tree, dirfd, *rel ? rel : "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
								      (*rel ? 0 : AT_EMPTY_PATH));
	if (fd < 0)
		ns_set_err(r->err, r->errlen, "can't bind %s: open_tree: %s", what, strerror(errno));
	return fd;
}

/*
 * A bind of a pty's slave (runc's /dev/console): the restored devpts has no ptys yet,
 * so the pty is made here, at the slave's index, and its master kept for the files
 * stage (which hands it to the caller: criu-lite/files/chr.c). 0 or -1 (msg in err).
 */
static int pty_for_bind(struct mnt_rst *r, size_t s, const char *rel)
{
	struct ns_rst *ns = r->ctx->ns;
	uint64_t want;
	int held[64], n = 0, unlock = 0;

	if (parse_u64(rel, 10, &want) < 0 || faccessat(r->fd[s], rel, F_OK, 0) == 0)
		return 0; /* not a pty, or there already */
	if (ns->pty_master >= 0) {
		ns_set_err(r->err, r->errlen, "two binds of ptys of the restored devpts: not supported");
		return -1;
	}
	while (n < 64) {
		unsigned idx;
		int fd = openat(r->fd[s], "ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0 || ioctl(fd, TIOCGPTN, &idx) < 0) {
			ns_set_err(r->err, r->errlen, "can't make pty %s on the restored devpts: %s", rel, strerror(errno));
			if (fd >= 0)
				close(fd);
			break;
		}
		if (idx == want) {
			if (ioctl(fd, TIOCSPTLCK, &unlock) < 0) {
				ns_set_err(r->err, r->errlen, "can't unlock pty %s: %s", rel, strerror(errno));
				close(fd);
				break;
			}
			ns->pty_master = fd;
			ns->pty_index = (uint32_t)want;
			break;
		}
		held[n++] = fd;
		if (idx > want) {
			ns_set_err(r->err, r->errlen, "pty %s is taken on the restored devpts", rel);
			break;
		}
	}
	while (n)
		close(held[--n]);
	return ns->pty_master >= 0 ? 0 : -1;
}

/* Make mount k and attach it; r->fd[k] then refers to it. */
static int make_one(struct mnt_rst *r, size_t k)
{
	const MntEntry *e = r->t->mounts[k];
	cleanup_close int tree = -1;
	char what[PROC_PATH_MAX + 64];

	switch (e->kind) {
	case MNT_KIND_NEW:
		tree = make_new(r, e);
		break;
	case MNT_KIND_BIND: {
		ssize_t s = idx_of(r->t, e->bind_of);
		const char *rel = under(e->root, r->t->mounts[s]->root);
		if (!rel) {
			ns_set_err(r->err, r->errlen, "mount %s: its root %s is not in %s", e->mountpoint, e->root,
				   r->t->mounts[s]->mountpoint);
			return -1;
		}
		snprintf(what, sizeof(what), "%s/%s on %s", r->t->mounts[s]->mountpoint, rel, e->mountpoint);
		if (!strcmp(r->t->mounts[s]->fstype, "devpts") && pty_for_bind(r, s, rel) < 0)
			return -1;
		tree = clone_from(r, r->fd[s], rel, what);
		break;
	}
	case MNT_KIND_EXTERNAL: {
		const char *path = external_mnt(r->ctx->opts, e->ext_key);
		if (!path) {
			ns_set_err(r->err, r->errlen, "no mapping for the external mount %s (key %s): give it with "
				   "--external mnt[%s]:PATH (RPC ext_mnt)", e->mountpoint, e->ext_key, e->ext_key);
			return -1;
		}
		snprintf(what, sizeof(what), "%s on %s", path, e->mountpoint);
		tree = clone_from(r, AT_FDCWD, path, what);
		break;
	}
	default:
		ns_set_err(r->err, r->errlen, "mount %s: kind %u", e->mountpoint, e->kind);
		return -1;
	}
	if (tree < 0 || attach(r, k, tree) < 0)
		return -1;
	r->fd[k] = steal_fd(&tree);
	if (e->has_tmpfs_id &&
	    ns_tmpfs_restore(r->ctx->dfd, e->tmpfs_id, r->fd[k], shmem_by_path, r->ctx, r->err, r->errlen) < 0)
		return -1;
	if (e->has_tmpfs_id && e->has_sb_flags && (e->sb_flags & MS_RDONLY) && sb_readonly(r, k) < 0)
		return -1;
	return 0;
}

static int set_attr(struct mnt_rst *r, size_t k, uint64_t set, uint64_t clr, uint64_t prop)
{
	struct mount_attr a = { .attr_set = set, .attr_clr = clr, .propagation = prop };

	if (syscall(SYS_mount_setattr, r->fd[k], "", AT_EMPTY_PATH, &a, sizeof(a)) < 0) {
		ns_set_err(r->err, r->errlen, "mount %s: can't set its flags 0x%llx / propagation 0x%llx: %s",
			   r->t->mounts[k]->mountpoint, (unsigned long long)set, (unsigned long long)prop,
			   strerror(errno));
		return -1;
	}
	return 0;
}

static int apply_flags(struct mnt_rst *r, size_t k)
{
	const MntEntry *e = r->t->mounts[k];
	uint32_t f = e->mnt_flags;
	uint64_t set = 0, clr = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
				MOUNT_ATTR_NODIRATIME | MOUNT_ATTR__ATIME | MOUNT_ATTR_NOSYMFOLLOW;

	set |= f & MS_RDONLY ? MOUNT_ATTR_RDONLY : 0;
	set |= f & MS_NOSUID ? MOUNT_ATTR_NOSUID : 0;
	set |= f & MS_NODEV ? MOUNT_ATTR_NODEV : 0;
	set |= f & MS_NOEXEC ? MOUNT_ATTR_NOEXEC : 0;
	set |= f & MS_NODIRATIME ? MOUNT_ATTR_NODIRATIME : 0;
	set |= f & MS_NOSYMFOLLOW ? MOUNT_ATTR_NOSYMFOLLOW : 0;
	set |= f & MS_NOATIME ? MOUNT_ATTR_NOATIME : f & MS_STRICTATIME ? MOUNT_ATTR_STRICTATIME : MOUNT_ATTR_RELATIME;
	return set_attr(r, k, set, clr, 0);
}

/* Peer groups: the first member of a group is made shared, the others are bound from
 * it (they join it); a slave of a group is bound from a member, then made a slave. */
static int apply_propagation(struct mnt_rst *r, size_t k)
{
	const MntEntry *e = r->t->mounts[k];

	if (e->master_id) {
		bool inside = false;
		for (size_t j = 0; j < r->t->n_mounts && !inside; j++)
			inside = r->t->mounts[j]->shared_id == e->master_id;
		/* bound from a member of its master's group: a slave of it now (an external
		 * one stays the slave of what it was bound from) */
		if ((inside || e->kind == MNT_KIND_EXTERNAL) && set_attr(r, k, 0, 0, MS_SLAVE) < 0)
			return -1;
		if (e->shared_id && set_attr(r, k, 0, 0, MS_SHARED) < 0)
			return -1;
	} else if (!e->shared_id && set_attr(r, k, 0, 0, MS_PRIVATE) < 0) {
		return -1; /* (a shared one is in its group since it was made) */
	}
	if ((e->mnt_flags & MS_UNBINDABLE) && set_attr(r, k, 0, 0, MS_UNBINDABLE) < 0)
		return -1;
	return 0;
}

/* The mount to bind k from, for its propagation: a member of its peer group (joins
 * it) or of its master's group; else what the image says. */
static void pick_source(const NsMntEntry *t, size_t k, const bool *made, uint32_t *ret_bind_of)
{
	const MntEntry *e = t->mounts[k];
	uint32_t want = e->shared_id ? e->shared_id : e->master_id;

	if (!want)
		return;
	for (size_t j = 0; j < t->n_mounts; j++)
		if (j != k && made[j] && t->mounts[j]->shared_id == want && t->mounts[j]->dev == e->dev &&
		    under(e->root, t->mounts[j]->root)) {
			*ret_bind_of = t->mounts[j]->id;
			return;
		}
}

static int build(struct mnt_rst *r)
{
	const NsMntEntry *t = r->t;
	cleanup_free bool *made = calloc(t->n_mounts, sizeof(*made));
	size_t left = t->n_mounts - 1;

	if (!made) {
		ns_set_err(r->err, r->errlen, "out of memory");
		return -1;
	}
	made[0] = true;
	/* a mount is made once its parent and the mount it binds exist */
	while (left) {
		bool progress = false;
		for (size_t k = 1; k < t->n_mounts; k++) {
			MntEntry *e = t->mounts[k];
			ssize_t p = idx_of(t, e->parent_id), s = -1;
			if (made[k] || p < 0 || !made[p])
				continue;
			if (e->kind == MNT_KIND_BIND) {
				uint32_t src = e->bind_of;
				pick_source(t, k, made, &src);
				s = idx_of(t, src);
				if (s < 0 || !made[s])
					continue;
				e->bind_of = src;
			}
			if (make_one(r, k) < 0)
				return -1;
			/* shared now, so that the binds made from it join its group */
			if (e->shared_id && set_attr(r, k, 0, 0, MS_SHARED) < 0)
				return -1;
			made[k] = progress = true;
			left--;
		}
		if (!progress) {
			ns_set_err(r->err, r->errlen, "the mount table can't be built: %zu mount(s) wait for "
				   "mounts that are never made", left);
			return -1;
		}
	}
	return 0;
}

static int pivot(struct mnt_rst *r)
{
	if (fchdir(r->fd[0]) < 0 || syscall(SYS_pivot_root, ".", ".") < 0) {
		ns_set_err(r->err, r->errlen, "can't pivot_root into %s: %s", r->ctx->opts->root, strerror(errno));
		return -1;
	}
	/* the old root is stacked on "/" now: detach it and everything under it */
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
		ns_set_err(r->err, r->errlen, "can't detach the old root: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int ns_mnt_restore(struct rst_ctx *ctx, const NsEntry *ne, char *err, size_t errlen)
{
	const NsMntEntry *t = ne->mnt;
	struct mnt_rst r = { ctx, t, NULL, err, errlen };
	cleanup_close int root = -1;
	int ret = -1;

	r.fd = malloc(t->n_mounts * sizeof(int));
	if (!r.fd) {
		ns_set_err(err, errlen, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < t->n_mounts; k++)
		r.fd[k] = -1;
	/* nothing of what follows may propagate to criu-lite's mounts */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		ns_set_err(err, errlen, "can't make our mounts slaves: %s", strerror(errno));
		goto out;
	}
	/* the root: a copy of --root's mount, rooted at --root, attached over it */
	root = clone_from(&r, AT_FDCWD, ctx->opts->root, ctx->opts->root);
	if (root < 0)
		goto out;
	if (syscall(SYS_move_mount, root, "", AT_FDCWD, ctx->opts->root, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		ns_set_err(err, errlen, "can't mount the root %s: %s", ctx->opts->root, strerror(errno));
		goto out;
	}
	r.fd[0] = steal_fd(&root);
	if (build(&r) < 0)
		goto out;
	for (size_t k = 0; k < t->n_mounts; k++)
		if (apply_flags(&r, k) < 0 || (k && apply_propagation(&r, k) < 0))
			goto out;
	if (pivot(&r) < 0 || apply_propagation(&r, 0) < 0)
		goto out;
	ret = 0;
out:
	for (size_t k = 0; k < t->n_mounts; k++)
		closep(&r.fd[k]);
	free(r.fd);
	return ret;
}
