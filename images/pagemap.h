/*
 * Page sets in images: a pagemap-ID.img (head + entries) and a pages-ID.img (raw pages).
 * ID is a pid ("1234") for a task's private memory, or "shmem-N" for shmem object N.
 *
 * struct page_xfer writes one (dump); struct page_read reads one (restore, lazy-pages).
 * Callers never touch the files directly.
 */
#ifndef CRIU_LITE_PAGEMAP_H
#define CRIU_LITE_PAGEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "images/image.h"

/* An entry covers at most this many pages, so that records stay small. */
#define PAGEMAP_ENTRY_MAX_PAGES 512u

struct page_read {
	char id[32];
	struct img *pages;        /* pages-ID.img */
	PagemapEntry **entries;   /* sorted by vaddr, validated, non-overlapping */
	size_t nr_entries;
	uint64_t nr_present;      /* pages with data */
	uint64_t nr_zero;         /* pages recorded as zero */
	uint64_t nr_parent;       /* pages shared with the parent's set (PE_PARENT) */
	size_t cursor;            /* last lookup, speeds up sequential access */
};

/* Open and validate (bounds, order, crc counts, data within the pages file) a page set.
 * Returns 0 or -1 (logged). ENOENT without logging if IMG_OPT_MISSING_OK is in opts
 * and there is no pagemap. */
int page_read_open(struct page_read *pr, int dfd, const char *id, int opts);
void page_read_close(struct page_read *pr);

/* The entry covering vaddr, or NULL. */
const PagemapEntry *page_read_find(struct page_read *pr, uint64_t vaddr);

/*
 * Read nr pages starting at vaddr into buf (nr * PAGE_SIZE bytes); the pages may span
 * entries. Present pages are read and their crc32c checked; zero pages are zero-filled.
 * Returns 0; -1 with errno ENOENT (not logged) if a page is in no entry or is the
 * parent's (PE_PARENT); -1 (logged)
 * on a read error or a corrupt page (errno EBADMSG).
 */
int page_read_pages(struct page_read *pr, uint64_t vaddr, size_t nr, void *buf);

/*
 * Check the crc32c of nr consecutive pages in buf against crcs (crc32c_check_pages): the one
 * page check of the tool. 0, or -1 (logged with the image's name and the page's address,
 * errno EBADMSG) on a mismatch. img may be NULL (then "pages" names it).
 */
int page_check_crcs(const struct img *img, const void *buf, size_t nr, const uint32_t *crcs,
		    uint64_t vaddr);

struct page_xfer {
	char id[32];
	struct img *pagemap;
	struct img *pages;
	PagemapEntry cur;           /* the entry being built */
	uint32_t *cur_crc;          /* PAGEMAP_ENTRY_MAX_PAGES crcs */
	uint64_t nr_present;
	uint64_t nr_zero;
	uint64_t nr_parent;
	int err;
};

/* Create pagemap-ID.img and pages-ID.img in dfd. 0 or -1 (logged). */
int xfer_open(struct page_xfer *x, int dfd, const char *id, uint32_t pages_id);
/*
 * Append nr present pages at vaddr (vaddr must not go backwards). flags may add
 * PE_LAZY. Adjacent runs with the same flags are merged into one entry.
 * 0 or -1 (logged).
 */
int xfer_write_pages(struct page_xfer *x, uint64_t vaddr, const void *buf, size_t nr,
		     uint32_t flags);
/* Record nr zero pages at vaddr (no data is stored). */
int xfer_write_zero(struct page_xfer *x, uint64_t vaddr, size_t nr, uint32_t flags);
/* End the current entry: the next pages start a new one (an entry never spans VMAs). */
int xfer_break(struct page_xfer *x);
/* Record nr pages at vaddr as the parent's (PE_PARENT: shared copy-on-write, no data). */
int xfer_write_parent(struct page_xfer *x, uint64_t vaddr, size_t nr);
/* Flush and close both images. Returns -1 if anything failed. Safe on a failed xfer. */
int xfer_close(struct page_xfer *x);

#endif
