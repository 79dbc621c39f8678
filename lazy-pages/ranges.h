/*
 * Pure range math for the lazy-pages daemon: no syscalls, no logging.
 *
 * struct lp_rset: a sorted set of non-overlapping page ranges. Each range has its
 * runtime address [start, end) in the restored task and the image address of its
 * first page (img): after an mremap the two differ. tag is the owner's: 0 for
 * private anonymous memory, the shmem object id + 1 for shmem (where img is the
 * byte offset in the object).
 *
 * struct lp_pmap: the state of every page of one shmem object, two bits per page
 * (absent, being written, present, queued for prefetch), plus one "wanted" bit per page: the page is
 * in the image and has not arrived yet.
 *
 * Functions return 0 (or a count) on success and -errno on failure.
 */
#ifndef CRIU_LITE_LP_RANGES_H
#define CRIU_LITE_LP_RANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lp_range {
	uint64_t start; /* runtime address, page aligned */
	uint64_t end;   /* exclusive, page aligned */
	uint64_t img;   /* image address (or object offset) of start */
	uint64_t tag;
};

/* Ranges live in blocks of LP_RBLOCK, so that a split or a removal moves at most a
 * block's worth of memory however fragmented the set gets (faults in random order). */
#define LP_RBLOCK 128

struct lp_rblock {
	size_t nr;
	struct lp_range v[LP_RBLOCK];
};

struct lp_rset {
	struct lp_rblock **b; /* in address order, none empty */
	size_t nb, cap;
	size_t nr;            /* ranges in all blocks */
};

static inline uint64_t lp_range_pages(const struct lp_range *r)
{
	return (r->end - r->start) >> 12;
}

void lp_rset_init(struct lp_rset *s);
void lp_rset_fini(struct lp_rset *s);
/* dst (initialised, its content replaced) becomes a copy of src. 0 or -ENOMEM. */
int lp_rset_copy(struct lp_rset *dst, const struct lp_rset *src);

/*
 * Add [start, end) with image address img. Neighbours contiguous in both runtime and
 * image address and with the same tag are merged. -EINVAL if unaligned or empty,
 * -EEXIST if it overlaps a range already in the set (nothing is changed), -ENOMEM.
 */
int lp_rset_add(struct lp_rset *s, uint64_t start, uint64_t end, uint64_t img, uint64_t tag);

/*
 * Remove [start, end) from every range (splitting where needed). Returns the number
 * of pages removed, or -ENOMEM (a split needed a slot; nothing is changed).
 * Unaligned bounds are widened to whole pages.
 */
int64_t lp_rset_remove(struct lp_rset *s, uint64_t start, uint64_t end);

/*
 * An mremap moved [from, from + len) to [to, to + len): what was at the destination
 * is removed, then the moved part is shifted (image addresses unchanged). Returns
 * the number of pages moved, or -ENOMEM / -EINVAL (nothing is changed).
 */
int64_t lp_rset_remap(struct lp_rset *s, uint64_t from, uint64_t to, uint64_t len);

/* The i-th range (walks the blocks: for small sets and tests), or NULL. */
const struct lp_range *lp_rset_at(const struct lp_rset *s, size_t i);
/* The first range, or NULL. */
const struct lp_range *lp_rset_first(const struct lp_rset *s);

/* The range containing addr, or NULL. */
const struct lp_range *lp_rset_find(const struct lp_rset *s, uint64_t addr);

/*
 * The first part of the set within [start, end), clipped (img adjusted): 1 and *ret
 * set, or 0 if nothing of the set lies there.
 */
int lp_rset_first_in(const struct lp_rset *s, uint64_t start, uint64_t end,
		     struct lp_range *ret);

/* Add to dst the parts of src within [start, end), with tag replaced by tag
 * (UINT64_MAX keeps src's). 0 or -errno as lp_rset_add. */
int lp_rset_intersect(struct lp_rset *dst, const struct lp_rset *src, uint64_t start,
		      uint64_t end, uint64_t tag);

uint64_t lp_rset_pages(const struct lp_rset *s);
/* Consistency: sorted, aligned, non-empty, non-overlapping. */
bool lp_rset_valid(const struct lp_rset *s);

enum lp_page_state {
	LP_PAGE_ABSENT = 0,
	LP_PAGE_WRITING = 1,
	LP_PAGE_PRESENT = 2,
	LP_PAGE_QUEUED = 3, /* absent, in a prefetch request: a fault does not wait for it */
};

struct lp_pmap {
	uint64_t nr_pages;
	uint64_t *state;  /* 2 bits per page, 32 pages per word */
	uint64_t *want;   /* 1 bit per page */
	uint64_t nr_present;
	uint64_t nr_writing;
	uint64_t nr_want;
};

int lp_pmap_init(struct lp_pmap *m, uint64_t nr_pages);
void lp_pmap_fini(struct lp_pmap *m);
enum lp_page_state lp_pmap_get(const struct lp_pmap *m, uint64_t idx);
/* Set the state of [idx, idx + nr) (clipped to the map); a page becoming present
 * is no longer wanted. Returns how many pages changed state. */
uint64_t lp_pmap_set(struct lp_pmap *m, uint64_t idx, uint64_t nr, enum lp_page_state st);
bool lp_pmap_wanted(const struct lp_pmap *m, uint64_t idx);
/* Mark [idx, idx + nr) wanted (true) or not; pages already present are never wanted.
 * Returns how many pages changed. */
uint64_t lp_pmap_set_want(struct lp_pmap *m, uint64_t idx, uint64_t nr, bool want);
/* The first wanted page at or after idx, or nr_pages. */
uint64_t lp_pmap_next_wanted(const struct lp_pmap *m, uint64_t idx);
/* How many pages from idx (at most max) are in state st (wanted or not). */
uint64_t lp_pmap_run_state(const struct lp_pmap *m, uint64_t idx, uint64_t max, enum lp_page_state st);
/* How many pages from idx (at most max) are wanted and in state st. */
uint64_t lp_pmap_run(const struct lp_pmap *m, uint64_t idx, uint64_t max, enum lp_page_state st);

#endif
