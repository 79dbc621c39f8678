/*
 * Dump open files: files.img (each open file description once), fdinfo-PID.img (each
 * task's fds) and file-data.img. Every fd is probed through /proc, identified
 * (criu-lite/files/index.c), and described by its kind (criu-lite/files/).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define LOG_PREFIX "dump-files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/dump-files.h"
#include "criu-lite/files/files.h"
#include "criu-lite/files/sockdiag.h"

#define FDINFO_MAX (1u << 20) /* an epoll or inotify instance lists one line per target */

static FileEntry *new_file_entry(uint32_t type)
{
	FileEntry *fe = files_zalloc(sizeof(*fe), "a file entry");

	if (!fe)
		return NULL;
	file_entry__init(fe);
	fe->type = type;
	return fe;
}

/* Append a described file to the registry; takes fe. Returns the entry or NULL. */
static struct dump_file *add_file(struct dump_ctx *ctx, FileEntry *fe, uint64_t dev, uint64_t ino,
				  pid_t pid, int fd, uint32_t flags)
{
	struct dump_file *f;

	if (ctx->nr_files == ctx->cap_files) {
		size_t ncap = ctx->cap_files ? ctx->cap_files * 2 : 32;
		struct dump_file *nf = realloc(ctx->files, ncap * sizeof(*nf));
		if (!nf) {
			pr_perror("can't grow the file list");
			file_entry__free_unpacked(fe, NULL);
			return NULL;
		}
		ctx->files = nf;
		ctx->cap_files = ncap;
	}
	f = &ctx->files[ctx->nr_files++];
	memset(f, 0, sizeof(*f));
	f->id = (uint32_t)ctx->nr_files;
	f->dev = dev;
	f->ino = ino;
	f->pid = pid;
	f->fd = fd;
	f->flags = flags;
	f->fe = fe;
	fe->id = f->id;
	return f;
}

int dump_file_of_path(struct dump_ctx *ctx, pid_t pid, const char *proc_path, uint32_t flags,
		      uint32_t *ret_id)
{
	char path[PROC_PATH_MAX];
	struct stat st;
	bool unlinked;
	FileEntry *fe;
	struct dump_file *f;
	const size_t *idx;
	size_t n;

	if (proc_readlink(proc_path, path, sizeof(path)) < 0)
		return -1;
	if (stat(proc_path, &st) < 0) {
		pr_perror("can't stat %s (%s)", proc_path, path);
		return -1;
	}
	n = dump_file_path_entries(ctx, st.st_dev, st.st_ino, &idx);
	for (size_t i = 0; i < n; i++) {
		f = &ctx->files[idx[i]];
		if (f->flags == flags) {
			*ret_id = f->id;
			return 0;
		}
	}
	unlinked = files_strip_deleted(path);
	fe = new_file_entry(S_ISDIR(st.st_mode) ? FILE_TYPE_DIR : FILE_TYPE_REG);
	if (!fe)
		return -1;
	fe->reg = reg_entry_new(path, &st, flags, 0);
	if (!fe->reg) {
		free(fe);
		return -1;
	}
	f = add_file(ctx, fe, st.st_dev, st.st_ino, pid, -1, flags);
	if (!f)
		return -1;
	f->ops = S_ISDIR(st.st_mode) ? &dir_fd_ops : &reg_fd_ops;
	if (unlinked) {
		char what[PROC_PATH_MAX + 64];
		snprintf(what, sizeof(what), "pid %d: the file mapped from %s", pid, path);
		if (reg_ghost_dump(ctx, f, proc_path, &st, what) < 0)
			return -1;
	}
	if (dump_file_index(ctx, ctx->nr_files - 1) < 0)
		return -1;
	*ret_id = f->id;
	return 0;
}

static void probe_free(struct fd_probe *p)
{
	free(p->fdinfo);
	p->fdinfo = NULL;
	if (p->sk >= 0)
		close(p->sk);
	p->sk = -1;
}

/* A socket's family, through a copy of it. 0 or -1 (logged). */
static int probe_socket(int pidfd, struct fd_probe *p)
{
	socklen_t len = sizeof(p->sk_family);

	if (p->pid == getpid())
		p->sk = fcntl(p->fd, F_DUPFD_CLOEXEC, 0);
	else
		p->sk = (int)syscall(SYS_pidfd_getfd, pidfd, p->fd, 0);
	if (p->sk < 0) {
		pr_perror("can't get a copy of socket fd %d of pid %d", p->fd, p->pid);
		return -1;
	}
	if (getsockopt(p->sk, SOL_SOCKET, SO_DOMAIN, &p->sk_family, &len) < 0) {
		pr_perror("can't get the family of socket fd %d of pid %d", p->fd, p->pid);
		return -1;
	}
	return 0;
}

/* What /proc says of (pid, fd): its link, fdinfo and stat. 0 or -1 (logged). */
static int probe_fd(int pidfd, pid_t pid, int fd, struct fd_probe *p)
{
	char path[64];

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->fd = fd;
	p->sk = -1;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	if (proc_readlink(path, p->link, sizeof(p->link)) < 0)
		return -1;
	if (stat(path, &p->st) < 0) {
		pr_perror("can't stat fd %d of pid %d (%s)", fd, pid, p->link);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	p->fdinfo = read_file_str(AT_FDCWD, path, FDINFO_MAX, NULL);
	if (!p->fdinfo)
		return -1;
	if (proc_parse_fdinfo_str(p->fdinfo, &p->fi) < 0) {
		pr_err("can't parse %s\n", path);
		probe_free(p);
		return -1;
	}
	p->flags = p->fi.flags & ~(uint32_t)O_CLOEXEC;
	if (p->flags & O_ASYNC) {
		/* the owner and signal (F_SETOWN, F_SETSIG) fdinfo does not show: not carried */
		pr_err("fd %d of pid %d (%s) has O_ASYNC (signal-driven I/O): its owner and signal are not "
		       "carried\n", fd, pid, p->link);
		probe_free(p);
		errno = ENOTSUP;
		return -1;
	}
	if (!strncmp(p->link, "socket:[", 8) && probe_socket(pidfd, p) < 0) {
		probe_free(p);
		return -1;
	}
	return 0;
}

#define LOCK_POSIX 1
#define LOCK_FLOCK 2
#define LOCK_OFD 3

/* The locks fdinfo lists for (pid, fd), added to its description f: refused without
 * --file-locks, naming the lock. 0 or -1 (logged). */
static int dump_locks(struct dump_ctx *ctx, const struct fd_probe *p, struct dump_file *f)
{
	for (const char *l = p->fdinfo; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		char cls[16], mode[16], type[16], end[32];
		long long start;
		int lpid;
		FileLockEntry *e, **v;
		uint32_t kind;

		if (strncmp(l, "lock:", 5))
			continue;
		if (sscanf(l, "lock:\t%*d: %15s %15s %15s %d %*x:%*x:%*u %lld %31s", cls, mode, type, &lpid, &start,
			   end) != 6) {
			pr_err("fd %d of pid %d: can't parse the lock line '%.*s'\n", p->fd, p->pid, (int)strcspn(l, "\n"), l);
			errno = EINVAL;
			return -1;
		}
		kind = !strcmp(cls, "POSIX") ? LOCK_POSIX : !strcmp(cls, "FLOCK") ? LOCK_FLOCK
						: !strcmp(cls, "OFDLCK") ? LOCK_OFD : 0;
		if (!kind || strcmp(mode, "ADVISORY") || (strcmp(type, "READ") && strcmp(type, "WRITE"))) {
			pr_err("fd %d of pid %d (%s) holds a %s %s %s lock: criu-lite can't carry it\n", p->fd, p->pid,
			       p->link, cls, mode, type);
			errno = ENOTSUP;
			return -1;
		}
		if (!ctx->opts->file_locks) {
			pr_err("fd %d of pid %d (%s) holds a %s %s lock on [%lld, %s]: dump with --file-locks (-l) "
			       "to carry it\n", p->fd, p->pid, p->link, cls, type, start, end);
			errno = ENOTSUP;
			return -1;
		}
		/* the same lock through another fd of the description */
		for (size_t i = 0; i < f->fe->n_locks; i++) {
			const FileLockEntry *o = f->fe->locks[i];
			if (o->kind == kind && o->start == (uint64_t)start && o->pid == lpid &&
			    o->type == (uint32_t)(strcmp(type, "WRITE") ? F_RDLCK : F_WRLCK) &&
			    o->has_end == !!strcmp(end, "EOF") && (!o->has_end || o->end == strtoull(end, NULL, 10)))
				goto next;
		}
		v = realloc(f->fe->locks, (f->fe->n_locks + 1) * sizeof(*v));
		e = files_zalloc(sizeof(*e), "a lock");
		if (!v || !e) {
			if (v)
				f->fe->locks = v;
			free(e);
			pr_perror("can't note a lock");
			return -1;
		}
		f->fe->locks = v;
		file_lock_entry__init(e);
		e->kind = kind;
		e->type = strcmp(type, "WRITE") ? F_RDLCK : F_WRLCK;
		e->start = (uint64_t)start;
		e->has_pid = true;
		e->pid = lpid;
		if (strcmp(end, "EOF")) {
			e->has_end = true;
			e->end = strtoull(end, NULL, 10);
		}
		f->fe->locks[f->fe->n_locks++] = e;
		pr_info("fd %d of pid %d: %s %s lock [%lld, %s] of pid %d\n", p->fd, p->pid, cls, type, start, end, lpid);
	next:;
	}
	return 0;
}

/* Describe (pid, fd) and register it: its file id. */
static int dump_one_fd(struct dump_ctx *ctx, int pidfd, pid_t pid, int fd, uint32_t *ret_id, bool *ret_cloexec)
{
	struct fd_probe p;
	const struct fd_ops *ops;
	struct dump_file *f;
	FileEntry *fe;
	int err, ret = -1;

	if (probe_fd(pidfd, pid, fd, &p) < 0)
		return -1;
	*ret_cloexec = p.fi.flags & O_CLOEXEC;
	ops = fd_kind_of_probe(&p);
	if (ops->refuse) {
		pr_err("fd %d of pid %d is %s (%s): criu-lite can't carry it\n", fd, pid, ops->refuse, p.link);
		errno = ENOTSUP;
		goto out;
	}
	f = dump_file_lookup(ctx, pid, fd, &p.st, &err);
	if (err)
		goto out;
	if (f) {
		*ret_id = f->id;
		ret = dump_locks(ctx, &p, f);
		goto out;
	}
	fe = new_file_entry(ops->type);
	if (!fe)
		goto out;
	f = add_file(ctx, fe, p.st.st_dev, p.st.st_ino, pid, fd, p.flags);
	if (!f)
		goto out;
	f->ops = ops;
	if (ops->dump(ctx, &p, f) < 0 || dump_file_index(ctx, ctx->nr_files - 1) < 0 || dump_locks(ctx, &p, f) < 0)
		goto out;
	*ret_id = f->id;
	ret = 0;
out:
	probe_free(&p);
	return ret;
}

/* Describe the fds in flight received so far (they may bring more: loop). */
static int dump_inflight(struct dump_ctx *ctx)
{
	while (ctx->nr_inflight) {
		struct dump_inflight in = ctx->inflight[--ctx->nr_inflight];
		bool cloexec;
		int r = dump_one_fd(ctx, -1, getpid(), in.fd, in.slot, &cloexec);

		/* its description is registered with our fd: it stays open until the end */
		if (r < 0) {
			close(in.fd);
			return -1;
		}
		if (ctx->nr_inflight_fds == ctx->cap_inflight_fds) {
			size_t ncap = ctx->cap_inflight_fds ? ctx->cap_inflight_fds * 2 : 16;
			int *n = realloc(ctx->inflight_fds, ncap * sizeof(*n));
			if (!n) {
				pr_perror("can't keep an fd in flight");
				close(in.fd);
				return -1;
			}
			ctx->inflight_fds = n;
			ctx->cap_inflight_fds = ncap;
		}
		ctx->inflight_fds[ctx->nr_inflight_fds++] = in.fd;
	}
	return 0;
}

bool dump_files_table_id(const struct dump_ctx *ctx, size_t i, uint32_t *ret_id)
{
	if (!ctx->files_ids || !ctx->files_ids[i])
		return false;
	*ret_id = ctx->files_ids[i];
	return true;
}

/* The fd table of task i: its parent's (kcmp KCMP_FILES; the parent is dumped first),
 * another one already met, or a new one. A table shared with tasks of the tree but not
 * with the parent can't be rebuilt (restore shares a table from parent to child only):
 * refused. 0 or -1 (logged). */
static int table_id(struct dump_ctx *ctx, size_t i)
{
	const struct seize_task *t = &ctx->tree.tasks[i];
	pid_t other = 0;
	uint32_t next = 1;

	if (!ctx->files_ids) {
		ctx->files_ids = calloc(ctx->tree.nr_tasks, sizeof(*ctx->files_ids));
		if (!ctx->files_ids) {
			pr_perror("can't allocate the fd table ids");
			return -1;
		}
	}
	for (size_t k = 0; k < ctx->tree.nr_tasks; k++) {
		const struct seize_task *o = &ctx->tree.tasks[k];
		long r;
		if (k == i || !ctx->files_ids[k])
			continue;
		next = MAX(next, ctx->files_ids[k] + 1);
		/* a dead leader's table is its live threads' */
		r = syscall(SYS_kcmp, seize_proc_pid(o), seize_proc_pid(t), KCMP_FILES, 0, 0);
		if (r < 0) {
			pr_perror("kcmp(KCMP_FILES) of pids %d and %d", o->pid, t->pid);
			return -1;
		}
		if (r)
			continue;
		if (o->pid != t->ppid) {
			other = o->pid;
			continue;
		}
		ctx->files_ids[i] = ctx->files_ids[k];
		pr_info("pid %d shares the fd table of its parent %d\n", t->pid, o->pid);
		return 0;
	}
	if (other) {
		pr_err("pid %d shares its fd table (CLONE_FILES) with pid %d, but not with its parent %d: "
		       "criu-lite can't carry it\n", t->pid, other, t->ppid);
		errno = ENOTSUP;
		return -1;
	}
	ctx->files_ids[i] = next;
	return 0;
}

#define PIDFD_THREAD_ 0x80 /* O_EXCL: a pidfd of one thread (Linux 6.9) */

int dump_files_task(struct dump_ctx *ctx, pid_t pid)
{
	char path[64];
	cleanup_free int *fds = NULL;
	/* a live thread's /proc and pidfd when the leader is dead (its files are gone) */
	pid_t pp = dump_proc_pid(ctx, pid);
	cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, pp, pp == pid ? 0 : PIDFD_THREAD_);
	size_t nr;
	cleanup_img struct img *img = NULL;

	if (pidfd < 0) {
		pr_perror("pidfd_open of pid %d", pid);
		return -1;
	}
	for (size_t i = 0; i < ctx->tree.nr_tasks; i++)
		if (ctx->tree.tasks[i].pid == pid && table_id(ctx, i) < 0)
			return -1;
	snprintf(path, sizeof(path), "/proc/%d/fd", pp);
	if (proc_list_dir_ints(path, &fds, &nr) < 0)
		return -1;
	img = img_open(ctx->dfd, IMG_FDINFO, O_WRONLY, pid);
	if (!img)
		return -1;
	for (size_t i = 0; i < nr; i++) {
		FdinfoEntry e = FDINFO_ENTRY__INIT;
		bool cloexec = false;
		uint32_t id;

		if (dump_one_fd(ctx, pidfd, pp, fds[i], &id, &cloexec) < 0)
			return -1;
		e.fd = fds[i];
		e.file_id = id;
		e.has_cloexec = true;
		e.cloexec = cloexec;
		if (img_write(img, &e) < 0)
			return -1;
		pr_debug("pid %d: fd %d -> file %u\n", pid, fds[i], id);
	}
	if (dump_inflight(ctx) < 0)
		return -1;
	return img_close(steal_pointer(&img));
}

int dump_files_write(struct dump_ctx *ctx)
{
	cleanup_img struct img *img = NULL;

	if (dump_inflight(ctx) < 0 || fd_kinds_dump_finish(ctx) < 0 || dump_inflight(ctx) < 0)
		return -1;
	img = img_open(ctx->dfd, IMG_FILES, O_WRONLY, 0);
	if (!img)
		return -1;
	for (size_t i = 0; i < ctx->nr_files; i++)
		if (img_write(img, ctx->files[i].fe) < 0)
			return -1;
	if (img_close(steal_pointer(&img)) < 0)
		return -1;
	if (!ctx->nr_file_data)
		return 0;
	img = img_open(ctx->dfd, IMG_FILE_DATA, O_WRONLY, 0);
	if (!img)
		return -1;
	for (size_t i = 0; i < ctx->nr_file_data; i++)
		if (img_write(img, ctx->file_data[i]) < 0)
			return -1;
	return img_close(steal_pointer(&img));
}

void dump_files_fini(struct dump_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nr_files; i++) {
		if (ctx->files[i].priv && ctx->files[i].ops->dump_free)
			ctx->files[i].ops->dump_free(&ctx->files[i]);
		file_entry__free_unpacked(ctx->files[i].fe, NULL);
	}
	free(ctx->files);
	ctx->files = NULL;
	ctx->nr_files = ctx->cap_files = 0;
	for (size_t i = 0; i < ctx->nr_file_data; i++)
		file_data_entry__free_unpacked(ctx->file_data[i], NULL);
	free(ctx->file_data);
	ctx->file_data = NULL;
	ctx->nr_file_data = ctx->cap_file_data = 0;
	for (size_t i = 0; i < ctx->nr_inflight; i++)
		close(ctx->inflight[i].fd);
	free(ctx->inflight);
	ctx->inflight = NULL;
	ctx->nr_inflight = ctx->cap_inflight = 0;
	for (size_t i = 0; i < ctx->nr_inflight_fds; i++)
		close(ctx->inflight_fds[i]);
	free(ctx->inflight_fds);
	ctx->inflight_fds = NULL;
	ctx->nr_inflight_fds = ctx->cap_inflight_fds = 0;
	sockdiag_free(ctx->sockdiag);
	ctx->sockdiag = NULL;
	free(ctx->files_ids);
	ctx->files_ids = NULL;
	dump_file_index_free(ctx);
}
