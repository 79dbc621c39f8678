/* Page sets in images: page_xfer writes one, page_read reads and validates one. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "pagemap: "
#include "lib/crc32c.h"
#include "lib/log.h"
#include "lib/util.h"
#include "images/pagemap.h"

/* ---- page checksums ---- */

int page_check_crcs(const struct img *img, const void *buf, size_t nr, const uint32_t *crcs,
		    uint64_t vaddr)
{
	ssize_t bad;

	if (nr && (!buf || !crcs)) {
		pr_err("%s: no pages or no checksums to check at 0x%llx\n", img ? img_name(img) : "pages",
		       (unsigned long long)vaddr);
		errno = EINVAL;
		return -1;
	}
	bad = crc32c_check_pages(buf, nr, crcs);
	if (bad < 0)
		return 0;
	pr_err("%s: page at 0x%llx is corrupt (crc32c %08x, expected %08x)\n", img ? img_name(img) : "pages",
	       (unsigned long long)(vaddr + bad * PAGE_SIZE),
	       crc32c(0, (const char *)buf + bad * PAGE_SIZE, PAGE_SIZE), crcs[bad]);
	errno = EBADMSG;
	return -1;
}

/* ---- page_read ---- */

static int pr_add_entry(struct page_read *pr, PagemapEntry *e, size_t *cap)
{
	if (pr->nr_entries == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		PagemapEntry **n = realloc(pr->entries, ncap * sizeof(*n));
		if (!n) {
			pr_perror("pagemap-%s.img: can't allocate %zu entries", pr->id, ncap);
			return -1;
		}
		pr->entries = n;
		*cap = ncap;
	}
	pr->entries[pr->nr_entries++] = e;
	return 0;
}

static int pr_validate_entry(struct page_read *pr, const PagemapEntry *e, uint64_t prev_end,
			     int64_t nr_data_pages)
{
	if (e->vaddr % PAGE_SIZE) {
		pr_err("pagemap-%s.img: entry at 0x%llx is not page aligned\n", pr->id,
		       (unsigned long long)e->vaddr);
		return -1;
	}
	if (e->nr_pages == 0 || e->nr_pages > PAGEMAP_ENTRY_MAX_PAGES) {
		pr_err("pagemap-%s.img: entry at 0x%llx has %u pages (1..%u allowed)\n", pr->id,
		       (unsigned long long)e->vaddr, e->nr_pages, PAGEMAP_ENTRY_MAX_PAGES);
		return -1;
	}
	if (e->vaddr > UINT64_MAX - (uint64_t)e->nr_pages * PAGE_SIZE) {
		pr_err("pagemap-%s.img: entry at 0x%llx wraps the address space\n", pr->id,
		       (unsigned long long)e->vaddr);
		return -1;
	}
	if (e->vaddr < prev_end) {
		pr_err("pagemap-%s.img: entry at 0x%llx overlaps or precedes the previous one (ends 0x%llx)\n",
		       pr->id, (unsigned long long)e->vaddr, (unsigned long long)prev_end);
		return -1;
	}
	if (e->flags & ~PE_FLAGS_ALL ||
	    __builtin_popcount(e->flags & (PE_PRESENT | PE_ZERO | PE_PARENT)) != 1 ||
	    (e->flags & PE_PARENT && e->flags & PE_LAZY)) {
		pr_err("pagemap-%s.img: entry at 0x%llx has bad flags 0x%x\n", pr->id,
		       (unsigned long long)e->vaddr, e->flags);
		return -1;
	}
	if (e->flags & PE_PRESENT) {
		if (!e->has_pages_off || e->n_crc != e->nr_pages) {
			pr_err("pagemap-%s.img: entry at 0x%llx: present pages need an offset and %u checksums (has %zu)\n",
			       pr->id, (unsigned long long)e->vaddr, e->nr_pages, e->n_crc);
			return -1;
		}
		if (e->pages_off > (uint64_t)nr_data_pages ||
		    e->nr_pages > (uint64_t)nr_data_pages - e->pages_off) {
			pr_err("pagemap-%s.img: entry at 0x%llx points past the end of pages-%s.img (%llu+%u > %lld pages)\n",
			       pr->id, (unsigned long long)e->vaddr, pr->id,
			       (unsigned long long)e->pages_off, e->nr_pages, (long long)nr_data_pages);
			return -1;
		}
	} else if (e->n_crc || e->has_pages_off) {
		pr_err("pagemap-%s.img: zero entry at 0x%llx carries page data fields\n", pr->id,
		       (unsigned long long)e->vaddr);
		return -1;
	}
	return 0;
}

int page_read_open(struct page_read *pr, int dfd, const char *id, int opts)
{
	cleanup_img struct img *pm = NULL;
	PagemapHead *head = NULL;
	uint64_t prev_end = 0;
	size_t cap = 0;
	int64_t nr_data;
	int ret;

	memset(pr, 0, sizeof(*pr));
	snprintf(pr->id, sizeof(pr->id), "%s", id);
	pm = img_open_named(dfd, IMG_PAGEMAP, O_RDONLY | (opts & IMG_OPT_MISSING_OK), id);
	if (!pm)
		return -1;
	ret = img_read_desc(pm, &pagemap_head__descriptor, (void **)&head);
	if (ret <= 0) {
		if (ret == 0)
			pr_err("pagemap-%s.img: empty, a pagemap head is expected\n", id);
		errno = EBADMSG;
		return -1;
	}
	pagemap_head__free_unpacked(head, NULL);
	pr->pages = img_open_named(dfd, IMG_PAGES, O_RDONLY, id);
	if (!pr->pages)
		goto err;
	nr_data = img_pages_count(pr->pages);
	for (;;) {
		PagemapEntry *e;
		ret = img_read_desc(pm, &pagemap_entry__descriptor, (void **)&e);
		if (ret < 0)
			goto err;
		if (ret == 0)
			break;
		if (pr_validate_entry(pr, e, prev_end, nr_data) < 0 || pr_add_entry(pr, e, &cap) < 0) {
			pagemap_entry__free_unpacked(e, NULL);
			errno = EBADMSG;
			goto err;
		}
		prev_end = e->vaddr + (uint64_t)e->nr_pages * PAGE_SIZE;
		if (e->flags & PE_PRESENT)
			pr->nr_present += e->nr_pages;
		else if (e->flags & PE_ZERO)
			pr->nr_zero += e->nr_pages;
		else
			pr->nr_parent += e->nr_pages;
	}
	return 0;
err:
	page_read_close(pr);
	return -1;
}

void page_read_close(struct page_read *pr)
{
	for (size_t i = 0; i < pr->nr_entries; i++)
		pagemap_entry__free_unpacked(pr->entries[i], NULL);
	free(pr->entries);
	pr->entries = NULL;
	pr->nr_entries = 0;
	img_close(pr->pages);
	pr->pages = NULL;
}

static inline uint64_t pe_end(const PagemapEntry *e)
{
	return e->vaddr + (uint64_t)e->nr_pages * PAGE_SIZE;
}

static ssize_t pr_find_idx(struct page_read *pr, uint64_t vaddr)
{
	size_t lo = 0, hi = pr->nr_entries;

	/* The cursor is only a hint, shared by the lazy-pages daemon's threads: read and
	 * written atomically, and checked before use. */
	size_t cur = __atomic_load_n(&pr->cursor, __ATOMIC_RELAXED);
	if (cur < pr->nr_entries) {
		const PagemapEntry *c = pr->entries[cur];
		if (vaddr >= c->vaddr && vaddr < pe_end(c))
			return cur;
		if (cur + 1 < pr->nr_entries) {
			c = pr->entries[cur + 1];
			if (vaddr >= c->vaddr && vaddr < pe_end(c)) {
				__atomic_store_n(&pr->cursor, cur + 1, __ATOMIC_RELAXED);
				return cur + 1;
			}
		}
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const PagemapEntry *e = pr->entries[mid];
		if (vaddr < e->vaddr)
			hi = mid;
		else if (vaddr >= pe_end(e))
			lo = mid + 1;
		else {
			__atomic_store_n(&pr->cursor, mid, __ATOMIC_RELAXED);
			return mid;
		}
	}
	return -1;
}

const PagemapEntry *page_read_find(struct page_read *pr, uint64_t vaddr)
{
	ssize_t i = pr_find_idx(pr, vaddr);
	return i < 0 ? NULL : pr->entries[i];
}

int page_read_pages(struct page_read *pr, uint64_t vaddr, size_t nr, void *buf)
{
	char *p = buf;

	while (nr) {
		ssize_t i = pr_find_idx(pr, vaddr);
		if (i < 0) {
			errno = ENOENT;
			return -1;
		}
		const PagemapEntry *e = pr->entries[i];
		uint64_t first = (vaddr - e->vaddr) / PAGE_SIZE;
		size_t n = MIN((uint64_t)nr, e->nr_pages - first);

		if (e->flags & PE_PARENT) {
			errno = ENOENT; /* in the parent's set */
			return -1;
		}
		if (e->flags & PE_ZERO) {
			memset(p, 0, n * PAGE_SIZE);
		} else {
			if (img_pages_read(pr->pages, p, n, e->pages_off + first) < 0)
				return -1;
			if (page_check_crcs(pr->pages, p, n, e->crc + first, vaddr) < 0)
				return -1;
		}
		p += n * PAGE_SIZE;
		vaddr += n * PAGE_SIZE;
		nr -= n;
	}
	return 0;
}

/* ---- page_xfer ---- */

int xfer_open(struct page_xfer *x, int dfd, const char *id, uint32_t pages_id)
{
	PagemapHead head = PAGEMAP_HEAD__INIT;

	memset(x, 0, sizeof(*x));
	pagemap_entry__init(&x->cur);
	snprintf(x->id, sizeof(x->id), "%s", id);
	x->cur_crc = malloc(PAGEMAP_ENTRY_MAX_PAGES * sizeof(uint32_t));
	if (!x->cur_crc) {
		pr_perror("pagemap-%s.img: can't allocate checksums", id);
		goto err;
	}
	x->pagemap = img_open_named(dfd, IMG_PAGEMAP, O_WRONLY, id);
	if (!x->pagemap)
		goto err;
	x->pages = img_open_named(dfd, IMG_PAGES, O_WRONLY, id);
	if (!x->pages)
		goto err;
	head.pages_id = pages_id;
	if (img_write_desc(x->pagemap, &head.base) < 0)
		goto err;
	return 0;
err:
	x->err = 1;
	xfer_close(x);
	return -1;
}

static int xfer_flush(struct page_xfer *x)
{
	if (!x->cur.nr_pages)
		return 0;
	if (x->cur.flags & PE_PRESENT) {
		x->cur.n_crc = x->cur.nr_pages;
		x->cur.crc = x->cur_crc;
	}
	int ret = img_write_desc(x->pagemap, &x->cur.base);
	pagemap_entry__init(&x->cur);
	if (ret < 0)
		x->err = 1;
	return ret;
}

/* Start a new entry unless the run continues the current one. */
static int xfer_extend(struct page_xfer *x, uint64_t vaddr, uint32_t flags)
{
	PagemapEntry *c = &x->cur;
	if (c->nr_pages && c->flags == flags && pe_end(c) == vaddr &&
	    c->nr_pages < PAGEMAP_ENTRY_MAX_PAGES)
		return 0;
	if (c->nr_pages && vaddr < pe_end(c)) {
		pr_err("pagemap-%s.img: pages at 0x%llx written out of order\n", x->id,
		       (unsigned long long)vaddr);
		x->err = 1;
		errno = EINVAL;
		return -1;
	}
	if (xfer_flush(x) < 0)
		return -1;
	c->vaddr = vaddr;
	c->flags = flags;
	if (flags & PE_PRESENT) {
		c->has_pages_off = 1;
		c->pages_off = x->nr_present;
	}
	return 0;
}

int xfer_write_pages(struct page_xfer *x, uint64_t vaddr, const void *buf, size_t nr,
		     uint32_t flags)
{
	const char *p = buf;
	flags = (flags & PE_LAZY) | PE_PRESENT;
	if (x->err)
		return -1;
	if (img_pages_write(x->pages, buf, nr * PAGE_SIZE) < 0) {
		x->err = 1;
		return -1;
	}
	while (nr) {
		if (xfer_extend(x, vaddr, flags) < 0)
			return -1;
		size_t n = MIN(nr, (size_t)(PAGEMAP_ENTRY_MAX_PAGES - x->cur.nr_pages));
		for (size_t i = 0; i < n; i++)
			x->cur_crc[x->cur.nr_pages + i] = crc32c(0, p + i * PAGE_SIZE, PAGE_SIZE);
		x->cur.nr_pages += n;
		x->nr_present += n;
		p += n * PAGE_SIZE;
		vaddr += n * PAGE_SIZE;
		nr -= n;
	}
	return 0;
}

int xfer_write_zero(struct page_xfer *x, uint64_t vaddr, size_t nr, uint32_t flags)
{
	flags = (flags & PE_LAZY) | PE_ZERO;
	if (x->err)
		return -1;
	while (nr) {
		if (xfer_extend(x, vaddr, flags) < 0)
			return -1;
		size_t n = MIN(nr, (size_t)(PAGEMAP_ENTRY_MAX_PAGES - x->cur.nr_pages));
		x->cur.nr_pages += n;
		x->nr_zero += n;
		vaddr += n * PAGE_SIZE;
		nr -= n;
	}
	return 0;
}

int xfer_break(struct page_xfer *x)
{
	if (x->err)
		return -1;
	return xfer_flush(x);
}

int xfer_write_parent(struct page_xfer *x, uint64_t vaddr, size_t nr)
{
	if (x->err)
		return -1;
	while (nr) {
		if (xfer_extend(x, vaddr, PE_PARENT) < 0)
			return -1;
		size_t n = MIN(nr, (size_t)(PAGEMAP_ENTRY_MAX_PAGES - x->cur.nr_pages));
		x->cur.nr_pages += n;
		x->nr_parent += n;
		vaddr += n * PAGE_SIZE;
		nr -= n;
	}
	return 0;
}

int xfer_close(struct page_xfer *x)
{
	int ret = x->err ? -1 : 0;
	if (!x->err && x->pagemap && xfer_flush(x) < 0)
		ret = -1;
	if (ret < 0) {
		/* abandoned: no end marker, so a reader rejects the partial pagemap */
		img_closep(&x->pagemap);
		img_closep(&x->pages);
	} else {
		if (img_close(x->pagemap) < 0)
			ret = -1;
		if (img_close(x->pages) < 0)
			ret = -1;
	}
	x->pagemap = x->pages = NULL;
	free(x->cur_crc);
	x->cur_crc = NULL;
	return ret;
}
