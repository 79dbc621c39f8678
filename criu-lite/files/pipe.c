/*
 * Pipes. A pipe is one object: every description of it (its read and write ends,
 * and any reopened through /proc) carries its inode number, and restore creates it
 * once and gives each description its end.
 *
 * At dump, once every task's fds are known: the bytes queued are read without
 * consuming them (tee() into a pipe of our own, then read from that one), with
 * packet boundaries in packet mode (an O_DIRECT writer); the size is F_GETPIPE_SZ.
 * An end nobody in the tree holds is either held by nobody (poll: a reader sees
 * POLLHUP without writers, a writer POLLERR without readers) or held outside the
 * tree: then the pipe is external. Restore connects an external pipe to the fd the
 * caller hands in with --inherit-fd fd[N]:pipe:[INODE]; without one it gets a new
 * pipe whose other end is closed, as CRIU gives it, and a warning says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

#define PIPE_MAX_DATA (16u << 20) /* more than any pipe holds here (pipe-max-size is 1 MiB) */

/* ---- dump ---- */

static bool pipe_match(const struct fd_probe *p)
{
	return !strncmp(p->link, "pipe:[", 6);
}

static int pipe_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	PipeEntry *pe = files_zalloc(sizeof(*pe), "a pipe entry");

	(void)ctx;
	if (!pe)
		return -1;
	pipe_entry__init(pe);
	f->fe->pipe = pe;
	pe->pipe_ino = p->st.st_ino;
	pe->has_flags = true;
	pe->flags = p->flags;
	return 0;
}

static int cmp_pipe(const void *a, const void *b)
{
	const struct dump_file *x = *(const struct dump_file *const *)a, *y = *(const struct dump_file *const *)b;
	uint64_t ix = x->fe->pipe->pipe_ino, iy = y->fe->pipe->pipe_ino;

	if (ix != iy)
		return ix < iy ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static short poll_now(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

/*
 * The bytes queued in the pipe behind rd (our own read end), not consumed: tee()
 * them into a pipe of our own as large, and read that one. In packet mode each
 * read returns one packet: their lengths go to pe->packets.
 */
int pipe_peek_data(int rd, uint32_t size, bool packets, PipeEntry *pe, const char *what)
{
	cleanup_close int t0 = -1, t1 = -1;
	cleanup_free uint8_t *buf = NULL;
	cleanup_free uint32_t *lens = NULL;
	size_t nr_lens = 0;
	int queued = 0, p[2];
	ssize_t n, got = 0;

	if (ioctl(rd, FIONREAD, &queued) < 0) {
		pr_perror("FIONREAD on %s", what);
		return -1;
	}
	if (queued <= 0)
		return 0;
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
		pr_perror("can't create a pipe to read %s", what);
		return -1;
	}
	t0 = p[0];
	t1 = p[1];
	if (fcntl(t1, F_SETPIPE_SZ, size) < 0 && fcntl(t1, F_GETPIPE_SZ) < (int)size) {
		pr_perror("can't make a pipe of %u bytes to read %s", size, what);
		return -1;
	}
	buf = malloc(queued);
	lens = packets ? malloc(sizeof(*lens) * ((size_t)queued)) : NULL;
	if (!buf || (packets && !lens)) {
		pr_perror("can't allocate %d bytes for %s", queued, what);
		return -1;
	}
	n = tee(rd, t1, queued, SPLICE_F_NONBLOCK);
	if (n != queued) {
		if (n < 0)
			pr_perror("tee() of the %d bytes queued in %s", queued, what);
		else
			pr_err("tee() copied %zd of the %d bytes queued in %s\n", n, queued, what);
		return -1;
	}
	while (got < queued) {
		n = read(t0, buf + got, queued - got);
		if (n <= 0) {
			pr_perror("can't read the copy of %s (%zd of %d bytes)", what, got, queued);
			return -1;
		}
		if (packets)
			lens[nr_lens++] = (uint32_t)n;
		got += n;
	}
	pe->has_data = true;
	pe->data.data = steal_pointer(&buf);
	pe->data.len = queued;
	if (packets) {
		pe->packets = steal_pointer(&lens);
		pe->n_packets = nr_lens;
	}
	return 0;
}

/* One pipe: g[0..n) are its descriptions (in id order). */
static int pipe_settle(struct dump_file **g, size_t n)
{
	bool has_r = false, has_w = false, pkt = false, ext = false, no_r = false, no_w = false;
	char path[64], what[64];
	cleanup_close int rd = -1;
	uint64_t ino = g[0]->fe->pipe->pipe_ino;
	int size;

	for (size_t i = 0; i < n; i++) {
		uint32_t acc = g[i]->flags & O_ACCMODE;
		has_r |= acc != O_WRONLY;
		has_w |= acc != O_RDONLY;
		pkt |= acc != O_RDONLY && (g[i]->flags & O_DIRECT);
	}
	snprintf(what, sizeof(what), "pipe:[%" PRIu64 "]", ino);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", g[0]->pid, g[0]->fd);
	if (!has_r) {
		/* a writer of our own sees POLLERR when nobody reads */
		cleanup_close int w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (w < 0) {
			pr_perror("can't open %s", what);
			return -1;
		}
		if (poll_now(w, POLLOUT) & POLLERR)
			no_r = true;
		else
			ext = true;
	}
	rd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rd < 0) {
		pr_perror("can't open %s", what);
		return -1;
	}
	if (!has_w) {
		/* a reader of our own sees POLLHUP when nobody writes */
		if (poll_now(rd, POLLIN) & POLLHUP)
			no_w = true;
		else
			ext = true;
	}
	size = fcntl(rd, F_GETPIPE_SZ);
	if (size <= 0) {
		pr_perror("F_GETPIPE_SZ of %s", what);
		return -1;
	}
	/* the queued bytes matter to readers of the tree only */
	if (has_r && pipe_peek_data(rd, size, pkt, g[0]->fe->pipe, what) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		PipeEntry *pe = g[i]->fe->pipe;
		pe->has_size = pe->has_external = pe->has_no_reader = pe->has_no_writer = true;
		pe->size = size;
		pe->external = ext;
		pe->no_reader = no_r;
		pe->no_writer = no_w;
	}
	if (ext)
		pr_info("%s: an end is held outside the tree (external: --inherit-fd fd[N]:%s at restore)\n", what,
			what);
	pr_debug("%s: %zu description(s), %u bytes in %d, packets %d%s%s%s\n", what, n,
		 g[0]->fe->pipe->has_data ? (unsigned)g[0]->fe->pipe->data.len : 0, size, pkt, ext ? ", external" : "",
		 no_r ? ", no reader" : "", no_w ? ", no writer" : "");
	return 0;
}

static int pipe_dump_finish(struct dump_ctx *ctx)
{
	cleanup_free struct dump_file **v = NULL;
	size_t nr;

	if (dump_files_of_kind(ctx, &pipe_fd_ops, cmp_pipe, &v, &nr) < 0)
		return -1;
	for (size_t i = 0, k; i < nr; i = k) {
		for (k = i + 1; k < nr && v[k]->fe->pipe->pipe_ino == v[i]->fe->pipe->pipe_ino; k++)
			;
		if (pipe_settle(&v[i], k - i) < 0)
			return -1;
	}
	return 0;
}

/* ---- restore ---- */

static uint64_t pipe_obj_key(const FileEntry *fe)
{
	return fe->pipe->pipe_ino;
}

static int pipe_inherit_key(const FileEntry *fe, char *buf, size_t len)
{
	return snprintf(buf, len, "pipe:[%" PRIu64 "]", fe->pipe->pipe_ino) < (int)len ? 0 : -1;
}

/* Write the queued bytes (and packets) into the pipe through w (non-blocking). */
int pipe_write_data(int w, const PipeEntry *pe, const char *what)
{
	size_t off = 0;

	if (!pe->has_data || !pe->data.len)
		return 0;
	if (pe->n_packets) {
		for (size_t i = 0; i < pe->n_packets; i++) {
			if (pe->packets[i] > pe->data.len - off ||
			    write(w, pe->data.data + off, pe->packets[i]) != (ssize_t)pe->packets[i]) {
				pr_perror("can't write packet %zu (%u bytes) into %s", i, pe->packets[i], what);
				return -1;
			}
			off += pe->packets[i];
		}
		return 0;
	}
	while (off < pe->data.len) {
		ssize_t n = write(w, pe->data.data + off, pe->data.len - off);
		if (n <= 0) {
			pr_perror("can't write the %zu bytes queued into %s (%zu written)", pe->data.len, what, off);
			return -1;
		}
		off += n;
	}
	return 0;
}

/* The tree's descriptions of an external pipe become copies of the caller's fd. */
static int pipe_open_inherited(struct rst_file *rf, int inh, const char *what)
{
	int acc = fcntl(inh, F_GETFL);

	if (acc < 0) {
		pr_perror("--inherit-fd for %s: fd %d", what, inh);
		return -1;
	}
	acc &= O_ACCMODE;
	for (struct rst_file *d = rf; d; d = d->obj_next) {
		const PipeEntry *pe = d->fe->pipe;
		int want = pe->has_flags ? (int)(pe->flags & O_ACCMODE) : O_RDONLY;
		if (want == acc)
			d->fd = fcntl(inh, F_DUPFD_CLOEXEC, 0);
		else
			d->fd = files_reopen(inh, want, what);
		if (d->fd < 0) {
			pr_perror("can't copy fd %d for %s", inh, what);
			return -1;
		}
		if (pe->has_data && pe->data.len) {
			cleanup_close int w = files_reopen(inh, O_WRONLY | O_NONBLOCK, what);
			if (w < 0 || pipe_write_data(w, pe, what) < 0)
				return -1;
		}
	}
	pr_info("%s: the tree's end is fd %d given with --inherit-fd\n", what, inh);
	return 0;
}

static int pipe_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const PipeEntry *first = rf->fe->pipe;
	char what[64];
	cleanup_close int p0 = -1, p1 = -1;
	bool pkt = false;
	int p[2], inh;

	snprintf(what, sizeof(what), "pipe:[%" PRIu64 "]", first->pipe_ino);
	for (struct rst_file *d = rf; d; d = d->obj_next) {
		const PipeEntry *pe = d->fe->pipe;
		pkt |= pe->has_flags && (pe->flags & O_ACCMODE) != O_RDONLY && (pe->flags & O_DIRECT);
	}
	if (first->has_external && first->external) {
		inh = cr_opt_inherit_fd(ctx->opts, what);
		if (inh >= 0)
			return pipe_open_inherited(rf, inh, what);
		pr_warn("%s had an end outside the dumped tree: restored as a new pipe whose other end is "
			"closed (its reader sees EOF, its writer EPIPE); --inherit-fd fd[N]:%s connects it to "
			"an fd of yours\n", what, what);
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK | (pkt ? O_DIRECT : 0)) < 0) {
		pr_perror("can't create %s", what);
		return -1;
	}
	p0 = p[0];
	p1 = p[1];
	if (first->has_size && first->size > (uint32_t)fcntl(p1, F_GETPIPE_SZ) &&
	    fcntl(p1, F_SETPIPE_SZ, first->size) < 0) {
		pr_perror("can't make %s %u bytes large", what, first->size);
		return -1;
	}
	for (struct rst_file *d = rf; d; d = d->obj_next)
		if (pipe_write_data(p1, d->fe->pipe, what) < 0)
			return -1;
	for (struct rst_file *d = rf; d; d = d->obj_next) {
		const PipeEntry *pe = d->fe->pipe;
		uint32_t flags = pe->has_flags ? pe->flags : O_RDONLY;
		int acc = flags & O_ACCMODE;
		int *end = acc == O_RDONLY ? &p0 : acc == O_WRONLY ? &p1 : NULL;

		if (end && *end >= 0) {
			d->fd = steal_fd(end);
		} else {
			d->fd = files_reopen(acc == O_WRONLY ? p[1] : p[0], acc, what);
			if (d->fd < 0)
				return -1;
		}
		/* O_DIRECT (packets) comes with pipe2() on the write end: F_SETFL can clear it, not set it */
		int cur = fcntl(d->fd, F_GETFL);
		if (cur < 0) {
			pr_perror("can't get the flags of %s", what);
			return -1;
		}
		if ((flags & O_DIRECT) && !(cur & O_DIRECT))
			pr_warn("%s: a second writer in packet mode comes back without it\n", what);
		if (files_set_status_flags(d->fd, (flags & ~(uint32_t)O_DIRECT) | (flags & cur & O_DIRECT), what) < 0)
			return -1;
	}
	return 0;
}

const struct fd_ops pipe_fd_ops = {
	.name = "pipe",
	.type = FILE_TYPE_PIPE,
	.match = pipe_match,
	.dump = pipe_dump,
	.dump_finish = pipe_dump_finish,
	.obj_key = pipe_obj_key,
	.open = pipe_open,
	.inherit_key = pipe_inherit_key,
};
