/*
 * FIFOs, reopened by path: every description of the same FIFO carries its inode
 * number, and the first one (lowest id) the bytes queued in it, read without
 * consuming them. At restore criu-lite holds the FIFO open read-write while it opens
 * each description (so that no open blocks or fails for want of a partner) and
 * writes the data back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

static bool fifo_match(const struct fd_probe *p)
{
	return p->link[0] == '/' && S_ISFIFO(p->st.st_mode);
}

static int fifo_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	char path[PROC_PATH_MAX];
	PipeEntry *pe;

	(void)ctx;
	snprintf(path, sizeof(path), "%s", p->link);
	if (files_strip_deleted(path) && p->st.st_nlink == 0) {
		pr_err("fd %d of pid %d is a FIFO whose path was removed (%s): criu-lite can't carry it\n", p->fd,
		       p->pid, path);
		errno = ENOTSUP;
		return -1;
	}
	pe = files_zalloc(sizeof(*pe), "a FIFO entry");
	if (!pe)
		return -1;
	pipe_entry__init(pe);
	f->fe->pipe = pe;
	pe->pipe_ino = p->st.st_ino;
	pe->has_flags = true;
	pe->flags = p->flags;
	pe->path = strdup(path);
	if (!pe->path) {
		pr_perror("can't copy a path");
		return -1;
	}
	return 0;
}

static int cmp_fifo(const void *a, const void *b)
{
	const struct dump_file *x = *(const struct dump_file *const *)a, *y = *(const struct dump_file *const *)b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* One FIFO: its data (if the tree reads it) and size, on its first description. */
static int fifo_settle(struct dump_file **g, size_t n)
{
	bool has_r = false;
	char path[64], what[PROC_PATH_MAX + 16];
	cleanup_close int rd = -1;
	int size;

	for (size_t i = 0; i < n; i++)
		has_r |= (g[i]->flags & O_ACCMODE) != O_WRONLY;
	snprintf(what, sizeof(what), "the FIFO %s", g[0]->fe->pipe->path);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", g[0]->pid, g[0]->fd);
	rd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rd < 0) {
		pr_perror("can't open %s", what);
		return -1;
	}
	size = fcntl(rd, F_GETPIPE_SZ);
	if (size <= 0) {
		pr_perror("F_GETPIPE_SZ of %s", what);
		return -1;
	}
	if (has_r && pipe_peek_data(rd, size, false, g[0]->fe->pipe, what) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		g[i]->fe->pipe->has_size = true;
		g[i]->fe->pipe->size = size;
	}
	return 0;
}

static int fifo_dump_finish(struct dump_ctx *ctx)
{
	cleanup_free struct dump_file **v = NULL;
	size_t nr;

	if (dump_files_of_kind(ctx, &fifo_fd_ops, cmp_fifo, &v, &nr) < 0)
		return -1;
	for (size_t i = 0, k; i < nr; i = k) {
		for (k = i + 1; k < nr && v[k]->dev == v[i]->dev && v[k]->ino == v[i]->ino; k++)
			;
		if (fifo_settle(&v[i], k - i) < 0)
			return -1;
	}
	return 0;
}

static uint64_t fifo_obj_key(const FileEntry *fe)
{
	return fe->pipe->pipe_ino;
}

static int fifo_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const PipeEntry *first = rf->fe->pipe;
	char what[PROC_PATH_MAX + 16];
	cleanup_close int keep = -1;

	(void)ctx;
	snprintf(what, sizeof(what), "the FIFO %s", first->path);
	/* read-write: never blocks, and every open below finds a partner */
	keep = open(first->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (keep < 0) {
		pr_perror("can't open %s", what);
		return -1;
	}
	{
		struct stat st;
		if (fstat(keep, &st) < 0 || !S_ISFIFO(st.st_mode)) {
			pr_err("%s is not a FIFO any more\n", first->path);
			errno = ENOTSUP;
			return -1;
		}
	}
	if (first->has_size && first->size > (uint32_t)fcntl(keep, F_GETPIPE_SZ) &&
	    fcntl(keep, F_SETPIPE_SZ, first->size) < 0) {
		pr_perror("can't make %s %u bytes large", what, first->size);
		return -1;
	}
	for (struct rst_file *d = rf; d; d = d->obj_next)
		if (pipe_write_data(keep, d->fe->pipe, what) < 0)
			return -1;
	for (struct rst_file *d = rf; d; d = d->obj_next) {
		const PipeEntry *pe = d->fe->pipe;
		uint32_t flags = pe->has_flags ? pe->flags : O_RDONLY;

		d->fd = open(pe->path, (flags & O_ACCMODE) | O_NONBLOCK | O_CLOEXEC);
		if (d->fd < 0) {
			pr_perror("can't open the FIFO %s", pe->path);
			return -1;
		}
		if (files_set_status_flags(d->fd, flags, what) < 0)
			return -1;
	}
	return 0;
}

const struct fd_ops fifo_fd_ops = {
	.name = "FIFO",
	.type = FILE_TYPE_FIFO,
	.match = fifo_match,
	.dump = fifo_dump,
	.dump_finish = fifo_dump_finish,
	.obj_key = fifo_obj_key,
	.open = fifo_open,
};
