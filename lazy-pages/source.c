/* Page sources for the lazy-pages daemon: image directory and memory backends. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define LOG_PREFIX "lazy-pages: "
#include "lib/log.h"
#include "lib/util.h"
#include "images/pagemap.h"
#include "lazy-pages/source.h"

static size_t ext_lower(const struct lp_pages *p, uint64_t addr)
{
	size_t lo = 0, hi = p->nr_ext;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct lp_extent *e = &p->ext[mid];
		if (e->addr + e->nr * PAGE_SIZE <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct lp_extent *lp_pages_next(const struct lp_pages *p, uint64_t addr)
{
	size_t i = ext_lower(p, addr);
	return i < p->nr_ext ? &p->ext[i] : NULL;
}

const struct lp_extent *lp_pages_find(const struct lp_pages *p, uint64_t addr)
{
	const struct lp_extent *e = lp_pages_next(p, addr);
	return e && e->addr <= addr ? e : NULL;
}

int64_t lp_pages_get_data(struct lp_pages *p, uint64_t addr, size_t nr, void *buf, const void **ret)
{
	if (p->ops->map) {
		int64_t n = p->ops->map(p, addr, nr, ret);
		if (n)
			return n;
	}
	int r = p->ops->read(p, addr, nr, buf);
	if (r)
		return r;
	*ret = buf;
	return (int64_t)nr;
}

int64_t lp_pages_locate(struct lp_pages *p, uint64_t addr, size_t nr, const void **ret,
			const uint32_t **ret_crcs)
{
	return p->ops->locate ? p->ops->locate(p, addr, nr, ret, ret_crcs) : 0;
}

struct lp_pages *lp_pages_get(struct lp_pages *p)
{
	p->refs++;
	return p;
}

void lp_pages_put(struct lp_pages *p)
{
	if (!p || --p->refs > 0)
		return;
	free(p->ext);
	p->ops->destroy(p);
}

/* Append an extent (addresses must increase); merges with the last one. */
static int pages_add_extent(struct lp_pages *p, uint64_t addr, uint64_t nr, bool zero)
{
	if (!nr || addr & (PAGE_SIZE - 1))
		return -EINVAL;
	if (p->nr_ext) {
		struct lp_extent *l = &p->ext[p->nr_ext - 1];
		uint64_t lend = l->addr + l->nr * PAGE_SIZE;
		if (addr < lend)
			return -EINVAL;
		if (addr == lend && l->zero == zero) {
			l->nr += nr;
			p->nr_pages += nr;
			return 0;
		}
	}
	if (p->nr_ext == p->cap_ext) {
		size_t cap = p->cap_ext ? p->cap_ext * 2 : 16;
		struct lp_extent *v = realloc(p->ext, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->ext = v;
		p->cap_ext = cap;
	}
	p->ext[p->nr_ext++] = (struct lp_extent){ addr, nr, zero };
	p->nr_pages += nr;
	return 0;
}

/* ---- image backend ---- */

struct img_pages {
	struct lp_pages p;
	struct page_read pr;
	bool opened;
	const char *map;   /* the pages file, mapped read-only (NULL: use pread) */
	size_t map_len;
	uint64_t mapped;   /* bytes handed out since the mapping was last released */
};

/*
 * Pages handed out from the mapping stay resident in the daemon until released:
 * every this many bytes, drop the mapping's page tables (MADV_DONTNEED on a shared
 * file mapping only zaps PTEs: the data stays in the page cache, and a pointer
 * still in use, by another thread too, simply faults it back in). This keeps the
 * daemon's RSS bounded however large the image.
 */
#define IMG_MAP_RELEASE (16ull << 20)

static int img_read_pages(struct lp_pages *p, uint64_t addr, size_t nr, void *buf)
{
	struct img_pages *ip = (struct img_pages *)p;

	if (!ip->opened)
		return -ENOENT;
	if (page_read_pages(&ip->pr, addr, nr, buf) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

/* Data pages of one entry straight from the mapped pages file, and their crcs. */
static int64_t img_locate_pages(struct lp_pages *p, uint64_t addr, size_t nr, const void **ret,
				const uint32_t **ret_crcs)
{
	struct img_pages *ip = (struct img_pages *)p;

	if (!ip->map)
		return 0;
	const PagemapEntry *e = page_read_find(&ip->pr, addr);
	if (!e || !(e->flags & PE_PRESENT) || !e->has_pages_off)
		return 0;
	uint64_t first = (addr - e->vaddr) / PAGE_SIZE;
	uint64_t n = MIN((uint64_t)nr, e->nr_pages - first);
	uint64_t off = IMG_PAGES_HDR + (e->pages_off + first) * PAGE_SIZE;
	if (off + n * PAGE_SIZE > ip->map_len)
		return 0; /* validated at open; the file changed since: take the slow path */
	if (__atomic_add_fetch(&ip->mapped, n * PAGE_SIZE, __ATOMIC_RELAXED) > IMG_MAP_RELEASE) {
		__atomic_store_n(&ip->mapped, 0, __ATOMIC_RELAXED);
		madvise((void *)ip->map, ip->map_len, MADV_DONTNEED);
	}
	*ret = ip->map + off;
	*ret_crcs = e->crc + first;
	return (int64_t)n;
}

/* Data pages of one entry straight from the mapped pages file, crc checked. */
static int64_t img_map_pages(struct lp_pages *p, uint64_t addr, size_t nr, const void **ret)
{
	struct img_pages *ip = (struct img_pages *)p;
	const uint32_t *crcs;
	int64_t n = img_locate_pages(p, addr, nr, ret, &crcs);

	if (n > 0 && page_check_crcs(ip->pr.pages, *ret, n, crcs, addr))
		return -EBADMSG;
	return n;
}

static void img_destroy(struct lp_pages *p)
{
	struct img_pages *ip = (struct img_pages *)p;

	if (ip->map)
		munmap((void *)ip->map, ip->map_len);
	if (ip->opened)
		page_read_close(&ip->pr);
	free(ip);
}

static const struct lp_pages_ops img_ops = {
	.read = img_read_pages,
	.map = img_map_pages,
	.locate = img_locate_pages,
	.destroy = img_destroy,
};

struct lp_pages *lp_pages_open_image(int dfd, const char *id)
{
	struct img_pages *ip = calloc(1, sizeof(*ip));

	if (!ip) {
		pr_err("out of memory\n");
		return NULL;
	}
	ip->p.ops = &img_ops;
	ip->p.refs = 1;
	snprintf(ip->p.id, sizeof(ip->p.id), "%s", id);
	if (page_read_open(&ip->pr, dfd, id, IMG_OPT_MISSING_OK) < 0) {
		if (errno == ENOENT) {
			pr_info("no pages for %s\n", id);
			return &ip->p;
		}
		free(ip);
		return NULL;
	}
	ip->opened = true;
	struct stat sb;
	int fd = img_fd(ip->pr.pages);
	if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > (off_t)IMG_PAGES_HDR) {
		void *m = mmap(NULL, sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			ip->map = m;
			ip->map_len = sb.st_size;
		}
	}
	for (size_t i = 0; i < ip->pr.nr_entries; i++) {
		const PagemapEntry *e = ip->pr.entries[i];
		if (!(e->flags & (PE_PRESENT | PE_ZERO)))
			continue;
		if (pages_add_extent(&ip->p, e->vaddr, e->nr_pages, !(e->flags & PE_PRESENT))) {
			pr_err("bad pagemap entry %#llx+%u in %s\n", (unsigned long long)e->vaddr,
			       e->nr_pages, id);
			lp_pages_put(&ip->p);
			return NULL;
		}
	}
	return &ip->p;
}

/* ---- memory backend ---- */

struct mem_pages {
	struct lp_pages p;
	struct mem_chunk {
		uint64_t addr, nr;
		char *buf;
	} *chunks;
	size_t nr_chunks;
};

static int mem_read_pages(struct lp_pages *p, uint64_t addr, size_t nr, void *buf)
{
	struct mem_pages *mp = (struct mem_pages *)p;
	char *out = buf;

	for (size_t i = 0; i < nr; i++) {
		uint64_t a = addr + i * PAGE_SIZE;
		const struct lp_extent *e = lp_pages_find(p, a);
		if (!e)
			return -ENOENT;
		if (e->zero) {
			memset(out + i * PAGE_SIZE, 0, PAGE_SIZE);
			continue;
		}
		size_t lo = 0, hi = mp->nr_chunks;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (mp->chunks[mid].addr + mp->chunks[mid].nr * PAGE_SIZE <= a)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo >= mp->nr_chunks || mp->chunks[lo].addr > a)
			return -ENOENT;
		memcpy(out + i * PAGE_SIZE, mp->chunks[lo].buf + (a - mp->chunks[lo].addr), PAGE_SIZE);
	}
	return 0;
}

static void mem_destroy(struct lp_pages *p)
{
	struct mem_pages *mp = (struct mem_pages *)p;

	for (size_t i = 0; i < mp->nr_chunks; i++)
		free(mp->chunks[i].buf);
	free(mp->chunks);
	free(mp);
}

static const struct lp_pages_ops mem_ops = {
	.read = mem_read_pages,
	.destroy = mem_destroy,
};

struct lp_pages *lp_pages_new_mem(const char *id)
{
	struct mem_pages *mp = calloc(1, sizeof(*mp));

	if (!mp)
		return NULL;
	mp->p.ops = &mem_ops;
	mp->p.refs = 1;
	snprintf(mp->p.id, sizeof(mp->p.id), "%s", id);
	return &mp->p;
}

int lp_pages_mem_add(struct lp_pages *p, uint64_t addr, uint64_t nr, const void *data)
{
	struct mem_pages *mp = (struct mem_pages *)p;

	if (p->ops != &mem_ops)
		return -EINVAL;
	if (data) {
		struct mem_chunk *c = realloc(mp->chunks, (mp->nr_chunks + 1) * sizeof(*c));
		if (!c)
			return -ENOMEM;
		mp->chunks = c;
		char *buf = malloc(nr * PAGE_SIZE);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, data, nr * PAGE_SIZE);
		int ret = pages_add_extent(p, addr, nr, false);
		if (ret) {
			free(buf);
			return ret;
		}
		c[mp->nr_chunks++] = (struct mem_chunk){ addr, nr, buf };
		return 0;
	}
	return pages_add_extent(p, addr, nr, true);
}
