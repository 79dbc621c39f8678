/* Working-set files (see ws.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lib/log.h"
#include "lib/util.h"
#include "images/image.h"
#include "images/magic.h"
#include "lazy-pages/source.h"
#include "lazy-pages/ws.h"

struct ws_head {
	uint32_t magic, version, head_size, nr_sets;
	uint32_t nr_runs, run_size;
	uint64_t identity;
};

struct ws_set {
	uint32_t kind, pad;
	uint64_t id;
	uint64_t pages;
};

_Static_assert(sizeof(struct ws_head) == 32, "ws header");
_Static_assert(sizeof(struct ws_set) == 24, "ws set");
_Static_assert(sizeof(struct lp_ws_run) == 32, "ws run");

#define WS_MAX_RUNS (1u << 26)
#define WS_MAX_SETS (1u << 20)

static int run_cmp(const void *a, const void *b)
{
	const struct lp_ws_run *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->nr < y->nr ? 1 : x->nr > y->nr ? -1 : 0; /* the longer first */
}

size_t lp_ws_normalize(struct lp_ws_run *runs, size_t nr)
{
	size_t out = 0;

	qsort(runs, nr, sizeof(*runs), run_cmp);
	for (size_t i = 0; i < nr; i++) {
		struct lp_ws_run r = runs[i];
		if (!r.nr)
			continue;
		if (out) {
			struct lp_ws_run *c = &runs[out - 1];
			uint64_t cend = c->addr + c->nr * PAGE_SIZE, rend = r.addr + r.nr * PAGE_SIZE;
			if (c->kind == r.kind && c->id == r.id && r.addr <= cend) {
				if (rend <= cend)
					continue; /* inside the current run */
				if (c->flags == r.flags) {
					c->nr = (rend - c->addr) / PAGE_SIZE;
					continue;
				}
				/* the part past the current run keeps its own flags */
				r.nr = (rend - cend) / PAGE_SIZE;
				r.addr = cend;
			}
		}
		runs[out++] = r;
	}
	return out;
}

uint64_t lp_ws_identity(int dfd)
{
	char buf[4096];
	uint64_t h = 0xcbf29ce484222325ull;
	cleanup_close int fd = openat(dfd, "inventory.img", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ull;
	return n < 0 ? 0 : h;
}

/* The page set a run refers to, from the images (an empty one if they have none):
 * NULL only on an error (logged). */
static struct lp_pages *open_set(int dfd, uint32_t kind, uint64_t id)
{
	char name[48];

	if (kind == LP_WS_ANON) {
		snprintf(name, sizeof(name), "%" PRIu64, id);
		return lp_pages_open_image(dfd, name);
	}
	/* a shmem object's pages may be stored under another id (shmem.img says) */
	uint64_t pages_id = id;
	struct img *img = img_open(dfd, IMG_SHMEM, O_RDONLY | IMG_OPT_MISSING_OK, 0);
	if (img) {
		ShmemEntry *se = NULL;
		while (img_read(img, (void **)&se) > 0) {
			bool match = se->id == id;
			if (match && se->has_pages_id)
				pages_id = se->pages_id;
			img_free_msg(img, se);
			se = NULL;
			if (match)
				break;
		}
		img_close(img);
	}
	snprintf(name, sizeof(name), "shmem-%" PRIu64, pages_id);
	return lp_pages_open_image(dfd, name);
}

/* The sets runs (normalized) refer to, with their sizes in the images: *ret. 0 or -1. */
static int make_sets(int dfd, const struct lp_ws_run *runs, size_t nr, struct ws_set **ret, size_t *ret_nr)
{
	struct ws_set *v = NULL;
	size_t n = 0;

	for (size_t i = 0; i < nr; i++) {
		if (n && v[n - 1].kind == runs[i].kind && v[n - 1].id == runs[i].id)
			continue;
		struct ws_set *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			pr_err("out of memory\n");
			free(v);
			return -1;
		}
		v = nv;
		struct lp_pages *p = open_set(dfd, runs[i].kind, runs[i].id);
		if (!p) {
			free(v);
			return -1;
		}
		v[n++] = (struct ws_set){ runs[i].kind, 0, runs[i].id, p->nr_pages };
		lp_pages_put(p);
	}
	*ret = v;
	*ret_nr = n;
	return 0;
}

int lp_ws_write(const char *path, int dfd, struct lp_ws_run *runs, size_t nr)
{
	cleanup_free struct ws_set *sets = NULL;
	size_t nr_sets = 0;

	nr = lp_ws_normalize(runs, nr);
	if (make_sets(dfd, runs, nr, &sets, &nr_sets))
		return -1;
	struct ws_head h = { WS_MAGIC,		 LP_WS_VERSION, sizeof(h),
			     (uint32_t)nr_sets,	 (uint32_t)nr,	sizeof(struct lp_ws_run),
			     lp_ws_identity(dfd) };
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		pr_perror("can't create %s", path);
		return -1;
	}
	if (write_all(fd, &h, sizeof(h)) || write_all(fd, sets, nr_sets * sizeof(*sets)) ||
	    write_all(fd, runs, nr * sizeof(*runs)) || close(steal_fd(&fd))) {
		pr_perror("can't write %s", path);
		return -1;
	}
	return 0;
}

/* Does the file (sets, runs) fit the images in dfd? true, or false with why in msg. */
static bool ws_matches(int dfd, uint64_t identity, const struct ws_set *sets, size_t nr_sets,
		       const struct lp_ws_run *runs, size_t nr, char *msg, size_t sz)
{
	uint64_t mine = lp_ws_identity(dfd);
	size_t r = 0;

	for (size_t s = 0; s < nr_sets; s++) {
		const char *what = sets[s].kind == LP_WS_ANON ? "the private pages of pid" : "shmem object";
		struct lp_pages *p = open_set(dfd, sets[s].kind, sets[s].id);
		if (!p) {
			snprintf(msg, sz, "can't read the page set of %s %" PRIu64, what, sets[s].id);
			return false;
		}
		bool ok = p->nr_pages == sets[s].pages;
		if (!ok)
			snprintf(msg, sz,
				 "%s %" PRIu64 " has %" PRIu64 " pages in the images, %" PRIu64
				 " in the working set",
				 what, sets[s].id, p->nr_pages, sets[s].pages);
		/* the runs of this set, each within the set's pages */
		for (; ok && r < nr && runs[r].kind == sets[s].kind && runs[r].id == sets[s].id; r++) {
			uint64_t a = runs[r].addr, end = a + runs[r].nr * PAGE_SIZE;
			while (a < end) {
				const struct lp_extent *e = lp_pages_find(p, a);
				if (!e) {
					snprintf(msg, sz,
						 "page %#" PRIx64 " of %s %" PRIu64 " is not in the images",
						 a, what, sets[s].id);
					ok = false;
					break;
				}
				a = e->addr + e->nr * PAGE_SIZE;
			}
		}
		lp_pages_put(p);
		if (!ok)
			return false;
		if (r < nr && (runs[r].kind < sets[s].kind ||
			       (runs[r].kind == sets[s].kind && runs[r].id < sets[s].id))) {
			snprintf(msg, sz, "a run of %u/%" PRIu64 " has no page set", runs[r].kind,
				 runs[r].id);
			return false;
		}
	}
	if (r < nr) {
		snprintf(msg, sz, "a run of %u/%" PRIu64 " has no page set", runs[r].kind, runs[r].id);
		return false;
	}
	if (identity != mine) {
		snprintf(msg, sz,
			 "it was recorded on other images (identity %016" PRIx64 ", these are %016" PRIx64
			 ")",
			 identity, mine);
		return false;
	}
	return true;
}

int lp_ws_load(const char *path, int dfd, struct lp_ws_run **ret, size_t *ret_nr, bool *ret_ignored)
{
	struct ws_head h;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	cleanup_free struct ws_set *sets = NULL;
	cleanup_free struct lp_ws_run *runs = NULL;
	char why[256];

	*ret = NULL;
	*ret_nr = 0;
	*ret_ignored = false;
	if (fd < 0) {
		pr_perror("can't open %s", path);
		return -1;
	}
	off_t size = lseek(fd, 0, SEEK_END);
	if (size < (off_t)sizeof(h) || pread_all(fd, &h, sizeof(h), 0)) {
		pr_err("%s: not a working-set file (too short)\n", path);
		return -1;
	}
	if (h.magic != WS_MAGIC) {
		pr_err("%s: not a working-set file (magic %#x)\n", path, h.magic);
		return -1;
	}
	if (h.version != LP_WS_VERSION || h.head_size != sizeof(h) ||
	    h.run_size != sizeof(struct lp_ws_run) || h.nr_sets > WS_MAX_SETS || h.nr_runs > WS_MAX_RUNS ||
	    (uint64_t)size != sizeof(h) + (uint64_t)h.nr_sets * sizeof(struct ws_set) +
				      (uint64_t)h.nr_runs * sizeof(struct lp_ws_run)) {
		pr_err("%s: a working-set file of version %u (this is version %u), or truncated\n", path,
		       h.version, LP_WS_VERSION);
		return -1;
	}
	sets = malloc(h.nr_sets * sizeof(*sets) + 1);
	runs = malloc(h.nr_runs * sizeof(*runs) + 1);
	if (!sets || !runs) {
		pr_err("out of memory\n");
		return -1;
	}
	if (pread_all(fd, sets, h.nr_sets * sizeof(*sets), sizeof(h)) ||
	    pread_all(fd, runs, h.nr_runs * sizeof(*runs), sizeof(h) + h.nr_sets * sizeof(*sets))) {
		pr_perror("can't read %s", path);
		return -1;
	}
	for (size_t i = 0; i < h.nr_runs; i++) {
		const struct lp_ws_run *r = &runs[i];
		const struct lp_ws_run *p = i ? &runs[i - 1] : NULL;
		if ((r->kind != LP_WS_ANON && r->kind != LP_WS_SHMEM) || r->flags & ~LP_WS_WRITTEN ||
		    r->addr & (PAGE_SIZE - 1) || !r->nr || r->nr > (1ull << 36) ||
		    (p && run_cmp(p, r) >= 0) ||
		    (p && p->kind == r->kind && p->id == r->id && p->addr + p->nr * PAGE_SIZE > r->addr)) {
			pr_err("%s: bad run %zu\n", path, i);
			return -1;
		}
	}
	for (size_t i = 1; i < h.nr_sets; i++)
		if (sets[i - 1].kind > sets[i].kind ||
		    (sets[i - 1].kind == sets[i].kind && sets[i - 1].id >= sets[i].id)) {
			pr_err("%s: bad page set %zu\n", path, i);
			return -1;
		}
	if (!ws_matches(dfd, h.identity, sets, h.nr_sets, runs, h.nr_runs, why, sizeof(why))) {
		pr_warn("%s does not belong to the images in this directory: %s; ignoring it\n", path, why);
		*ret_ignored = true;
		return 0;
	}
	*ret = runs;
	runs = NULL;
	*ret_nr = h.nr_runs;
	return 0;
}
