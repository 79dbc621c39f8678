/*
 * Dump open files: files.img (each open file description once), fdinfo-PID.img (each
 * task's fds) and file-data.img. Every fd is probed through /proc, identified
 * (criu-lite/files/index.c), and described by its kind (criu-lite/files/).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define LOG_PREFIX "dump-files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/dump-files.h"
#include "criu-lite/files/files.h"

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
	unlinked = files_strip_deleted(path) && st.st_nlink == 0;
	if (unlinked)
		pr_warn("pid %d: %s is an unlinked file; restore needs it back at that path\n", pid, path);
	fe = new_file_entry(S_ISDIR(st.st_mode) ? FILE_TYPE_DIR : FILE_TYPE_REG);
	if (!fe)
		return -1;
	fe->reg = reg_entry_new(path, &st, flags, 0);
	if (!fe->reg) {
		free(fe);
		return -1;
	}
	fe->reg->has_unlinked = true;
	fe->reg->unlinked = unlinked;
	f = add_file(ctx, fe, st.st_dev, st.st_ino, pid, -1, flags);
	if (!f || dump_file_index(ctx, ctx->nr_files - 1) < 0)
		return -1;
	f->ops = S_ISDIR(st.st_mode) ? &dir_fd_ops : &reg_fd_ops;
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
	if (!strncmp(p->link, "socket:[", 8) && probe_socket(pidfd, p) < 0) {
		probe_free(p);
		return -1;
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
		ret = 0;
		goto out;
	}
	fe = new_file_entry(ops->type);
	if (!fe)
		goto out;
	f = add_file(ctx, fe, p.st.st_dev, p.st.st_ino, pid, fd, p.flags);
	if (!f)
		goto out;
	f->ops = ops;
	if (ops->dump(ctx, &p, f) < 0 || dump_file_index(ctx, ctx->nr_files - 1) < 0)
		goto out;
	*ret_id = f->id;
	ret = 0;
out:
	probe_free(&p);
	return ret;
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
	return img_close(steal_pointer(&img));
}

int dump_files_write(struct dump_ctx *ctx)
{
	cleanup_img struct img *img = NULL;

	if (fd_kinds_dump_finish(ctx) < 0)
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
	for (size_t i = 0; i < ctx->nr_files; i++)
		file_entry__free_unpacked(ctx->files[i].fe, NULL);
	free(ctx->files);
	ctx->files = NULL;
	ctx->nr_files = ctx->cap_files = 0;
	for (size_t i = 0; i < ctx->nr_file_data; i++)
		file_data_entry__free_unpacked(ctx->file_data[i], NULL);
	free(ctx->file_data);
	ctx->file_data = NULL;
	ctx->nr_file_data = 0;
	dump_file_index_free(ctx);
}
