/*
 * Page sources for the lazy-pages daemon, behind a small vtable.
 *
 * A struct lp_pages is one page set ("PID" for a task's private memory, "shmem-N"
 * for shmem object N) seen as a sorted list of extents (image address, page count,
 * zero or with data) and a read operation. Backends: the local image directory
 * (page_read), memory (tests, and the shape a remote page server will take).
 * Page sets are reference counted: forked tasks share their parent's.
 */
#ifndef CRIU_LITE_LP_SOURCE_H
#define CRIU_LITE_LP_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lp_extent {
	uint64_t addr; /* image address (byte offset for shmem), page aligned */
	uint64_t nr;   /* pages */
	bool zero;     /* recorded as zero: no data */
};

struct lp_pages;

struct lp_pages_ops {
	/* Read nr pages at image address addr (within one or more extents) into buf.
	 * 0; -ENOENT if a page is in no extent; another -errno (logged) on failure. */
	int (*read)(struct lp_pages *p, uint64_t addr, size_t nr, void *buf);
	/* Optional, zero-copy: point *ret at up to nr checked data pages at addr, in
	 * memory that stays valid until the page set is destroyed. Returns how many pages
	 * (> 0), 0 if not possible here (use read), or -errno (logged: corrupt data). */
	int64_t (*map)(struct lp_pages *p, uint64_t addr, size_t nr, const void **ret);
	/* Optional, zero-copy and unchecked: like map, but the pages are not checked here;
	 * *ret_crcs gets their crc32c for whoever uses them (another thread). */
	int64_t (*locate)(struct lp_pages *p, uint64_t addr, size_t nr, const void **ret,
			  const uint32_t **ret_crcs);
	void (*destroy)(struct lp_pages *p);
};

struct lp_pages {
	const struct lp_pages_ops *ops;
	int refs;
	char id[32];
	struct lp_extent *ext; /* sorted, non-overlapping */
	size_t nr_ext;
	size_t cap_ext;
	uint64_t nr_pages;     /* in all extents */
};

/* The extent containing addr, or NULL. */
const struct lp_extent *lp_pages_find(const struct lp_pages *p, uint64_t addr);
/* The first extent ending above addr, or NULL. */
const struct lp_extent *lp_pages_next(const struct lp_pages *p, uint64_t addr);
static inline int lp_pages_read(struct lp_pages *p, uint64_t addr, size_t nr, void *buf)
{
	return p->ops->read(p, addr, nr, buf);
}
/* Up to nr data pages at addr: a pointer into the source (zero-copy) when it can,
 * else read into buf. Returns pages available at *ret (> 0) or -errno. */
int64_t lp_pages_get_data(struct lp_pages *p, uint64_t addr, size_t nr, void *buf, const void **ret);
/* Up to nr data pages at addr in the source's own memory, unchecked, and their crcs:
 * pages (> 0), or 0 if the source can't (read them instead). */
int64_t lp_pages_locate(struct lp_pages *p, uint64_t addr, size_t nr, const void **ret,
			const uint32_t **ret_crcs);
struct lp_pages *lp_pages_get(struct lp_pages *p);
/* Drop a reference; NULL is fine. */
void lp_pages_put(struct lp_pages *p);

/* Image backend: pagemap-ID.img + pages-ID.img in dfd. A missing pagemap gives an
 * empty page set. NULL (logged) on error. */
struct lp_pages *lp_pages_open_image(int dfd, const char *id);

/* Memory backend: starts empty; add extents in increasing address order. data NULL
 * means zero pages. 0 or -errno. */
struct lp_pages *lp_pages_new_mem(const char *id);
int lp_pages_mem_add(struct lp_pages *p, uint64_t addr, uint64_t nr, const void *data);

#endif
