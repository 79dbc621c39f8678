/* Shmem objects: each dumped once, whatever maps or opens it (shmem.img + its page sets). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "dump-shmem: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/dump-pages.h"
#include "criu-lite/dump-shmem.h"
#include "criu-lite/ns/mnt.h"

int dump_shmem_add(struct dump_ctx *ctx, int fd, uint32_t kind, const char *name, bool unlinked,
		   uint64_t min_size, uint64_t *ret_id)
{
	cleanup_close int ofd = fd;
	struct stat st;
	struct dump_shmem *s;

	if (fstat(ofd, &st) < 0) {
		pr_perror("can't stat the shmem object %s", name);
		return -1;
	}
	for (size_t i = 0; i < ctx->nr_shmems; i++) {
		s = &ctx->shmems[i];
		if (s->dev == st.st_dev && s->ino == st.st_ino) {
			s->size = MAX(s->size, MAX((uint64_t)st.st_size, min_size));
			*ret_id = s->id;
			return 0;
		}
	}
	if (ctx->nr_shmems == ctx->cap_shmems) {
		size_t ncap = ctx->cap_shmems ? ctx->cap_shmems * 2 : 8;
		struct dump_shmem *ns = realloc(ctx->shmems, ncap * sizeof(*ns));
		if (!ns) {
			pr_perror("can't grow the shmem list");
			return -1;
		}
		ctx->shmems = ns;
		ctx->cap_shmems = ncap;
	}
	s = &ctx->shmems[ctx->nr_shmems];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	if (!s->name) {
		pr_perror("can't copy a name");
		return -1;
	}
	s->id = ctx->nr_shmems + 1;
	s->kind = kind;
	s->size = MAX((uint64_t)st.st_size, min_size);
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->unlinked = unlinked;
	s->mode = st.st_mode;
	if (kind == SHMEM_KIND_MEMFD) {
		int seals = fcntl(ofd, F_GET_SEALS);
		if (seals >= 0) {
			s->seals = seals;
			s->has_seals = true;
		}
	}
	s->fd = steal_fd(&ofd);
	ctx->nr_shmems++;
	*ret_id = s->id;
	pr_debug("shmem %" PRIu64 ": kind %u '%s' dev %" PRIx64 " ino %" PRIu64 " size %" PRIu64 "\n",
		 s->id, kind, name, s->dev, s->ino, s->size);
	return 0;
}

/* Dump the data of one object: SEEK_DATA/SEEK_HOLE, big preads, zero pages as zero. */
/* Only what nothing but mappings can reach may arrive lazily (see shmem.proto). */
static bool shmem_lazy(const struct dump_shmem *s)
{
	/* The page holding the end of an odd-sized object is filled by restore through
	 * a mapping, without growing the object (the daemon writes whole pages). */
	if (s->size % PAGE_SIZE)
		return false;
	switch (s->kind) {
	case SHMEM_KIND_ANON:
		return !s->fd_open;
	case SHMEM_KIND_SYSV:
		/* shmat() by id reaches it too: lazily only what a task has attached (its
		 * mappings are registered), the rest is written in before the tasks run */
		return s->mapped && !s->fd_open;
	case SHMEM_KIND_MEMFD:
		return !s->fd_open;
	default:
		/* a path reaches a file, but not one on a tmpfs only the container sees */
		return (s->unlinked || s->own_tmpfs) && !s->fd_open;
	}
}

/* A file some task holds as a descriptor (a regular file to the files layer). */
static bool held_as_fd(const struct dump_ctx *ctx, const struct dump_shmem *s)
{
	for (size_t i = 0; i < ctx->nr_files; i++)
		if (ctx->files[i].fd >= 0 && ctx->files[i].dev == s->dev && ctx->files[i].ino == s->ino)
			return true;
	return false;
}

/*
 * The page that holds the end of an object whose size is not a multiple of the page
 * size: read() stops at the end, but a mapping shows (and writes to) the whole page,
 * and what was written past the end stays in the page. Read it through a mapping.
 */
static int read_eof_page(const struct dump_shmem *s, uint64_t off, uint8_t *out)
{
	void *m = mmap(NULL, PAGE_SIZE, PROT_READ, MAP_SHARED, s->fd, (off_t)off);

	if (m == MAP_FAILED) {
		pr_perror("shmem %" PRIu64 " (%s): can't map its last page at %" PRIu64, s->id, s->name, off);
		return -1;
	}
	memcpy(out, m, PAGE_SIZE);
	munmap(m, PAGE_SIZE);
	return 0;
}

static int dump_shmem_pages(struct dump_ctx *ctx, struct dump_shmem *s, struct page_xfer *x)
{
	uint64_t end = ALIGN_UP(s->size, PAGE_SIZE);
	off_t off = 0;

	while ((uint64_t)off < end) {
		off_t data = lseek(s->fd, off, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break;
			pr_perror("shmem %" PRIu64 " (%s): SEEK_DATA at %lld", s->id, s->name, (long long)off);
			return -1;
		}
		off_t hole = lseek(s->fd, data, SEEK_HOLE);
		if (hole < 0) {
			pr_perror("shmem %" PRIu64 " (%s): SEEK_HOLE at %lld", s->id, s->name, (long long)data);
			return -1;
		}
		uint64_t a = ALIGN_DOWN((uint64_t)data, PAGE_SIZE);
		uint64_t b = MIN(ALIGN_UP((uint64_t)hole, PAGE_SIZE), end);
		if (b <= a) {
			off = (off_t)MAX(b, a + PAGE_SIZE);
			continue;
		}
		while (a < b) {
			size_t len = MIN((uint64_t)DUMP_BUF_SIZE, b - a), got = 0;
			while (got < len) {
				ssize_t n = pread(s->fd, ctx->buf + got, len - got, (off_t)(a + got));
				if (n < 0) {
					if (errno == EINTR)
						continue;
					pr_perror("shmem %" PRIu64 " (%s): can't read at %" PRIu64, s->id, s->name,
						  a + got);
					return -1;
				}
				if (n == 0)
					break; /* EOF inside the last page: the rest is zero */
				got += n;
			}
			memset(ctx->buf + got, 0, len - got);
			if (got < len && (a + got) % PAGE_SIZE && read_eof_page(s, ALIGN_DOWN(a + got, PAGE_SIZE),
							   ctx->buf + ALIGN_DOWN(got, PAGE_SIZE)) < 0)
				return -1;
			if (dump_emit_pages(ctx, x, a, ctx->buf, len / PAGE_SIZE, shmem_lazy(s) ? PE_LAZY : 0) < 0)
				return -1;
			ctx->stats.bytes_read += len;
			dump_progress(ctx);
			a += len;
		}
		off = (off_t)b;
	}
	return 0;
}

int dump_shmem_write(struct dump_ctx *ctx)
{
	cleanup_img struct img *img = img_open(ctx->dfd, IMG_SHMEM, O_WRONLY, 0);

	if (!img)
		return -1;
	for (size_t i = 0; i < ctx->nr_shmems; i++) {
		struct dump_shmem *s = &ctx->shmems[i];
		ShmemEntry e = SHMEM_ENTRY__INIT;
		struct page_xfer x;
		char ids[32];
		int r;

		s->own_tmpfs = s->kind == SHMEM_KIND_FILE && ns_mnt_own_tmpfs(ctx, s->dev);
		if (s->own_tmpfs && held_as_fd(ctx, s))
			s->fd_open = true;
		snprintf(ids, sizeof(ids), "shmem-%" PRIu64, s->id);
		if (xfer_open(&x, ctx->dfd, ids, (uint32_t)s->id) < 0)
			return -1;
		r = dump_shmem_pages(ctx, s, &x);
		if (xfer_close(&x) < 0 || r < 0)
			return -1;
		e.id = s->id;
		e.kind = s->kind;
		e.size = s->size;
		e.has_dev = e.has_ino = e.has_unlinked = e.has_mode = e.has_pages_id = true;
		e.dev = s->dev;
		e.ino = s->ino;
		e.name = s->name;
		e.unlinked = s->unlinked;
		e.mode = s->mode;
		e.pages_id = (uint32_t)s->id;
		e.has_seals = s->has_seals;
		e.seals = s->seals;
		e.has_lazy = true;
		e.lazy = shmem_lazy(s);
		if (img_write(img, &e) < 0)
			return -1;
	}
	return img_close(steal_pointer(&img));
}

void dump_shmem_fini(struct dump_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nr_shmems; i++) {
		closep(&ctx->shmems[i].fd);
		free(ctx->shmems[i].name);
	}
	free(ctx->shmems);
	ctx->shmems = NULL;
	ctx->nr_shmems = ctx->cap_shmems = 0;
}
