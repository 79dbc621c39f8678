/*
 * The identity of open file descriptions at dump: a hash of inodes, each with its
 * descriptions sorted by the kernel's kcmp(KCMP_FILE) order, so that finding whether
 * (pid, fd) is a description already met costs O(log n) kcmp calls, not one per
 * description of the same inode.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

struct idx_list {
	size_t *v;
	size_t nr, cap;
};

struct inode_bucket {
	uint64_t dev, ino;
	struct idx_list fds;   /* descriptions held as fds (ctx->files indices), in kcmp order */
	struct idx_list paths; /* entries for mappings and exe links (no fd), in order of creation */
	bool used;
};

struct dump_file_index {
	struct inode_bucket *b;
	size_t cap;        /* a power of two */
	size_t used;
	bool no_kcmp;      /* the kernel has no kcmp: descriptions matched by flags and offset */
};

static size_t hash_of(uint64_t dev, uint64_t ino)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ULL ^ (dev + 0x632be59bd9b4e019ULL) * 0xbf58476d1ce4e5b9ULL;
	return (size_t)(h ^ (h >> 31));
}

static struct inode_bucket *bucket_find(struct dump_file_index *x, uint64_t dev, uint64_t ino, bool add)
{
	size_t m = x->cap - 1;

	for (size_t i = hash_of(dev, ino) & m;; i = (i + 1) & m) {
		struct inode_bucket *b = &x->b[i];
		if (!b->used) {
			if (!add)
				return NULL;
			b->used = true;
			b->dev = dev;
			b->ino = ino;
			x->used++;
			return b;
		}
		if (b->dev == dev && b->ino == ino)
			return b;
	}
}

static int index_grow(struct dump_file_index *x)
{
	size_t ncap = x->cap ? x->cap * 2 : 256;
	struct inode_bucket *old = x->b, *nb = calloc(ncap, sizeof(*nb));
	size_t ocap = x->cap;

	if (!nb) {
		pr_perror("can't grow the file index");
		return -1;
	}
	x->b = nb;
	x->cap = ncap;
	x->used = 0;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].used)
			*bucket_find(x, old[i].dev, old[i].ino, true) = old[i];
	free(old);
	return 0;
}

static struct dump_file_index *index_of(struct dump_ctx *ctx)
{
	if (!ctx->file_index) {
		ctx->file_index = calloc(1, sizeof(*ctx->file_index));
		if (!ctx->file_index) {
			pr_perror("can't allocate the file index");
			return NULL;
		}
		if (index_grow(ctx->file_index) < 0) {
			free(ctx->file_index);
			ctx->file_index = NULL;
			return NULL;
		}
	}
	return ctx->file_index;
}

/*
 * Binary search of bucket b for (pid, fd): *ret_pos is where it is or would go.
 * Returns 1 found, 0 not found, -1 error (errno).
 */
static int bucket_search(struct dump_ctx *ctx, const struct inode_bucket *b, pid_t pid, int fd,
			 size_t *ret_pos)
{
	size_t lo = 0, hi = b->fds.nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct dump_file *f = &ctx->files[b->fds.v[mid]];
		int r = files_kcmp(pid, fd, f->pid, f->fd);
		if (r < 0)
			return -1;
		if (r == 0) {
			*ret_pos = mid;
			return 1;
		}
		if (r == 1)
			hi = mid;
		else
			lo = mid + 1;
	}
	*ret_pos = lo;
	return 0;
}

struct dump_file *dump_file_lookup(struct dump_ctx *ctx, pid_t pid, int fd, const struct stat *st,
				   int *ret_err)
{
	struct dump_file_index *x = index_of(ctx);
	struct inode_bucket *b;
	size_t pos;
	int r;

	*ret_err = 0;
	if (!x) {
		*ret_err = -1;
		return NULL;
	}
	b = bucket_find(x, st->st_dev, st->st_ino, false);
	if (!b || !b->fds.nr)
		return NULL;
	if (!x->no_kcmp) {
		r = bucket_search(ctx, b, pid, fd, &pos);
		if (r > 0)
			return &ctx->files[b->fds.v[pos]];
		if (r == 0)
			return NULL;
		if (errno != ENOSYS) {
			pr_perror("kcmp(KCMP_FILE) of fd %d of pid %d", fd, pid);
			*ret_err = -1;
			return NULL;
		}
		pr_warn("no kcmp in this kernel: descriptions are matched by file, flags and offset\n");
		x->no_kcmp = true;
	}
	{
		struct proc_fdinfo fi;
		if (proc_parse_fdinfo(pid, fd, &fi) < 0) {
			*ret_err = -1;
			return NULL;
		}
		for (size_t i = 0; i < b->fds.nr; i++) {
			struct dump_file *f = &ctx->files[b->fds.v[i]];
			struct proc_fdinfo ofi;
			if (f->flags == (fi.flags & ~(uint32_t)O_CLOEXEC) && proc_parse_fdinfo(f->pid, f->fd, &ofi) == 0 &&
			    ofi.pos == fi.pos)
				return f;
		}
	}
	return NULL;
}

static int list_insert(struct idx_list *l, size_t pos, size_t idx)
{
	if (l->nr == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 2;
		size_t *n = realloc(l->v, ncap * sizeof(*n));
		if (!n) {
			pr_perror("can't grow the file index");
			return -1;
		}
		l->v = n;
		l->cap = ncap;
	}
	memmove(&l->v[pos + 1], &l->v[pos], (l->nr - pos) * sizeof(*l->v));
	l->v[pos] = idx;
	l->nr++;
	return 0;
}

int dump_file_index(struct dump_ctx *ctx, size_t idx)
{
	struct dump_file_index *x = index_of(ctx);
	const struct dump_file *f = &ctx->files[idx];
	struct inode_bucket *b;
	size_t pos;

	if (!x)
		return -1;
	if ((x->used + 1) * 2 > x->cap && index_grow(x) < 0)
		return -1;
	b = bucket_find(x, f->dev, f->ino, true);
	if (f->fd < 0)
		return list_insert(&b->paths, b->paths.nr, idx);
	pos = b->fds.nr;
	if (!x->no_kcmp && bucket_search(ctx, b, f->pid, f->fd, &pos) < 0) {
		pr_perror("kcmp(KCMP_FILE) of fd %d of pid %d", f->fd, f->pid);
		return -1;
	}
	return list_insert(&b->fds, pos, idx);
}

size_t dump_file_candidates(struct dump_ctx *ctx, uint64_t dev, uint64_t ino, const size_t **ret)
{
	struct inode_bucket *b = ctx->file_index ? bucket_find(ctx->file_index, dev, ino, false) : NULL;

	*ret = b ? b->fds.v : NULL;
	return b ? b->fds.nr : 0;
}

size_t dump_file_path_entries(struct dump_ctx *ctx, uint64_t dev, uint64_t ino, const size_t **ret)
{
	struct inode_bucket *b = ctx->file_index ? bucket_find(ctx->file_index, dev, ino, false) : NULL;

	*ret = b ? b->paths.v : NULL;
	return b ? b->paths.nr : 0;
}

void dump_file_index_free(struct dump_ctx *ctx)
{
	struct dump_file_index *x = ctx->file_index;

	if (!x)
		return;
	for (size_t i = 0; i < x->cap; i++) {
		free(x->b[i].fds.v);
		free(x->b[i].paths.v);
	}
	free(x->b);
	free(x);
	ctx->file_index = NULL;
}
