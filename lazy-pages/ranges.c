/* Pure range math for the lazy-pages daemon (see ranges.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "lazy-pages/ranges.h"

#define PG PAGE_SIZE

void lp_rset_init(struct lp_rset *s)
{
	s->b = NULL;
	s->nb = s->cap = s->nr = 0;
}

void lp_rset_fini(struct lp_rset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nb; i++)
		free(s->b[i]);
	free(s->b);
	lp_rset_init(s);
}

/* A position: block and index in it; b == nb is the end. */
struct rpos {
	size_t b, i;
};

static inline struct lp_range *at(const struct lp_rset *s, struct rpos p)
{
	return &s->b[p.b]->v[p.i];
}

static inline bool pos_ok(const struct lp_rset *s, struct rpos p)
{
	return p.b < s->nb;
}

static void pos_norm(const struct lp_rset *s, struct rpos *p)
{
	while (p->b < s->nb && p->i >= s->b[p->b]->nr) {
		p->b++;
		p->i = 0;
	}
}

static struct rpos pos_next(const struct lp_rset *s, struct rpos p)
{
	p.i++;
	pos_norm(s, &p);
	return p;
}

/* The position before p (p must not be the first). */
static struct rpos pos_prev(const struct lp_rset *s, struct rpos p)
{
	if (p.i > 0 && p.b < s->nb) {
		p.i--;
		return p;
	}
	p.b--;
	p.i = s->b[p.b]->nr - 1;
	return p;
}

static bool pos_first(struct rpos p)
{
	return p.b == 0 && p.i == 0;
}

/* The first range whose end is above addr (the end position if none). */
static struct rpos rset_lower(const struct lp_rset *s, uint64_t addr)
{
	size_t lo = 0, hi = s->nb;

	while (lo < hi) { /* first block whose last range ends above addr */
		size_t mid = lo + (hi - lo) / 2;
		const struct lp_rblock *b = s->b[mid];
		if (b->v[b->nr - 1].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	struct rpos p = { lo, 0 };
	if (lo == s->nb)
		return p;
	const struct lp_rblock *b = s->b[lo];
	size_t l = 0, h = b->nr;
	while (l < h) {
		size_t mid = l + (h - l) / 2;
		if (b->v[mid].end <= addr)
			l = mid + 1;
		else
			h = mid;
	}
	p.i = l;
	return p;
}

static int blocks_reserve(struct lp_rset *s, size_t want)
{
	if (want <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap * 2 : 4;
	while (cap < want)
		cap *= 2;
	struct lp_rblock **b = realloc(s->b, cap * sizeof(*b));
	if (!b)
		return -ENOMEM;
	s->b = b;
	s->cap = cap;
	return 0;
}

/* Insert r at p (before what is there). Nothing changes on -ENOMEM. */
static int rset_insert(struct lp_rset *s, struct rpos p, const struct lp_range *r)
{
	if (s->nb == 0) {
		struct lp_rblock *nb = malloc(sizeof(*nb));
		if (!nb || blocks_reserve(s, 1)) {
			free(nb);
			return -ENOMEM;
		}
		nb->nr = 1;
		nb->v[0] = *r;
		s->b[0] = nb;
		s->nb = 1;
		s->nr = 1;
		return 0;
	}
	if (p.b == s->nb) { /* append to the last block */
		p.b = s->nb - 1;
		p.i = s->b[p.b]->nr;
	}
	struct lp_rblock *b = s->b[p.b];
	if (b->nr == LP_RBLOCK) {
		/* split the block in halves */
		struct lp_rblock *nb = malloc(sizeof(*nb));
		if (!nb || blocks_reserve(s, s->nb + 1)) {
			free(nb);
			return -ENOMEM;
		}
		size_t half = LP_RBLOCK / 2;
		nb->nr = LP_RBLOCK - half;
		memcpy(nb->v, &b->v[half], nb->nr * sizeof(b->v[0]));
		b->nr = half;
		memmove(&s->b[p.b + 2], &s->b[p.b + 1], (s->nb - p.b - 1) * sizeof(s->b[0]));
		s->b[p.b + 1] = nb;
		s->nb++;
		if (p.i > half) {
			p.b++;
			p.i -= half;
			b = nb;
		}
	}
	memmove(&b->v[p.i + 1], &b->v[p.i], (b->nr - p.i) * sizeof(b->v[0]));
	b->v[p.i] = *r;
	b->nr++;
	s->nr++;
	return 0;
}

/* Delete the range at p; p then points at what followed it. */
static void rset_delete(struct lp_rset *s, struct rpos *p)
{
	struct lp_rblock *b = s->b[p->b];

	memmove(&b->v[p->i], &b->v[p->i + 1], (b->nr - p->i - 1) * sizeof(b->v[0]));
	b->nr--;
	s->nr--;
	if (b->nr == 0) {
		free(b);
		memmove(&s->b[p->b], &s->b[p->b + 1], (s->nb - p->b - 1) * sizeof(s->b[0]));
		s->nb--;
		p->i = 0;
	}
	pos_norm(s, p);
}

int lp_rset_copy(struct lp_rset *dst, const struct lp_rset *src)
{
	struct lp_rset n;

	lp_rset_init(&n);
	if (blocks_reserve(&n, src->nb))
		return -ENOMEM;
	for (size_t i = 0; i < src->nb; i++) {
		n.b[i] = malloc(sizeof(*n.b[i]));
		if (!n.b[i]) {
			lp_rset_fini(&n);
			return -ENOMEM;
		}
		n.nb++;
		n.b[i]->nr = src->b[i]->nr;
		memcpy(n.b[i]->v, src->b[i]->v, src->b[i]->nr * sizeof(src->b[i]->v[0]));
	}
	n.nr = src->nr;
	lp_rset_fini(dst);
	*dst = n;
	return 0;
}

static bool contiguous(const struct lp_range *a, const struct lp_range *b)
{
	return a->end == b->start && a->tag == b->tag && a->img + (a->end - a->start) == b->img;
}

int lp_rset_add(struct lp_rset *s, uint64_t start, uint64_t end, uint64_t img, uint64_t tag)
{
	if (start >= end || (start | end | img) & (PG - 1))
		return -EINVAL;

	struct rpos p = rset_lower(s, start);
	if (pos_ok(s, p) && at(s, p)->start < end)
		return -EEXIST;

	struct lp_range r = { start, end, img, tag };
	struct lp_range *prev = pos_first(p) || s->nr == 0 ? NULL : at(s, pos_prev(s, p));
	struct lp_range *next = pos_ok(s, p) ? at(s, p) : NULL;
	bool with_prev = prev && contiguous(prev, &r);
	bool with_next = next && contiguous(&r, next);

	if (with_prev && with_next) {
		prev->end = next->end;
		rset_delete(s, &p);
		return 0;
	}
	if (with_prev) {
		prev->end = end;
		return 0;
	}
	if (with_next) {
		next->start = start;
		next->img = img;
		return 0;
	}
	return rset_insert(s, p, &r);
}

int64_t lp_rset_remove(struct lp_rset *s, uint64_t start, uint64_t end)
{
	int64_t removed = 0;

	start = ALIGN_DOWN(start, PG);
	end = ALIGN_UP(end, PG);
	if (start >= end)
		return 0;

	struct rpos p = rset_lower(s, start);
	if (pos_ok(s, p) && at(s, p)->start < start && at(s, p)->end > end) {
		/* strictly inside one range: split it (the insert may move the range) */
		struct lp_range *r = at(s, p);
		struct lp_range right = { end, r->end, r->img + (end - r->start), r->tag };
		int ret = rset_insert(s, pos_next(s, p), &right);
		if (ret)
			return ret;
		p = rset_lower(s, start);
		at(s, p)->end = start;
		return (end - start) / PG;
	}
	while (pos_ok(s, p) && at(s, p)->start < end) {
		struct lp_range *r = at(s, p);
		if (r->start < start) {
			removed += (r->end - start) / PG;
			r->end = start;
			p = pos_next(s, p);
		} else if (r->end > end) {
			removed += (end - r->start) / PG;
			r->img += end - r->start;
			r->start = end;
			break;
		} else {
			removed += (r->end - r->start) / PG;
			rset_delete(s, &p);
		}
	}
	return removed;
}

int64_t lp_rset_remap(struct lp_rset *s, uint64_t from, uint64_t to, uint64_t len)
{
	struct lp_rset moved, tmp;
	int64_t ret;

	if ((from | to | len) & (PG - 1) || from + len < from || to + len < to)
		return -EINVAL;
	if (!len)
		return 0;

	lp_rset_init(&moved);
	lp_rset_init(&tmp);
	ret = lp_rset_intersect(&moved, s, from, from + len, UINT64_MAX);
	if (ret)
		goto out;
	if (from == to) {
		ret = (int64_t)lp_rset_pages(&moved);
		goto out;
	}
	ret = lp_rset_copy(&tmp, s);
	if (ret)
		goto out;
	ret = lp_rset_remove(&tmp, from, from + len);
	if (ret >= 0)
		ret = lp_rset_remove(&tmp, to, to + len);
	if (ret < 0)
		goto out;
	for (size_t b = 0; b < moved.nb; b++) {
		for (size_t i = 0; i < moved.b[b]->nr; i++) {
			struct lp_range *r = &moved.b[b]->v[i];
			ret = lp_rset_add(&tmp, r->start - from + to, r->end - from + to, r->img, r->tag);
			if (ret)
				goto out;
		}
	}
	ret = (int64_t)lp_rset_pages(&moved);
	/* swap in the result */
	lp_rset_fini(s);
	*s = tmp;
	lp_rset_init(&tmp);
out:
	lp_rset_fini(&moved);
	lp_rset_fini(&tmp);
	return ret;
}

const struct lp_range *lp_rset_find(const struct lp_rset *s, uint64_t addr)
{
	struct rpos p = rset_lower(s, addr);

	if (pos_ok(s, p) && at(s, p)->start <= addr)
		return at(s, p);
	return NULL;
}

const struct lp_range *lp_rset_at(const struct lp_rset *s, size_t i)
{
	for (size_t b = 0; b < s->nb; b++) {
		if (i < s->b[b]->nr)
			return &s->b[b]->v[i];
		i -= s->b[b]->nr;
	}
	return NULL;
}

const struct lp_range *lp_rset_first(const struct lp_rset *s)
{
	return s->nb ? &s->b[0]->v[0] : NULL;
}

int lp_rset_first_in(const struct lp_rset *s, uint64_t start, uint64_t end, struct lp_range *ret)
{
	struct rpos p = rset_lower(s, start);

	if (start >= end || !pos_ok(s, p) || at(s, p)->start >= end)
		return 0;
	const struct lp_range *r = at(s, p);
	uint64_t b = MAX(r->start, start), e = MIN(r->end, end);
	ret->start = b;
	ret->end = e;
	ret->img = r->img + (b - r->start);
	ret->tag = r->tag;
	return 1;
}

int lp_rset_intersect(struct lp_rset *dst, const struct lp_rset *src, uint64_t start,
		      uint64_t end, uint64_t tag)
{
	struct lp_range r;

	start = ALIGN_DOWN(start, PG);
	end = ALIGN_UP(end, PG);
	while (start < end && lp_rset_first_in(src, start, end, &r)) {
		int ret = lp_rset_add(dst, r.start, r.end, r.img, tag == UINT64_MAX ? r.tag : tag);
		if (ret)
			return ret;
		start = r.end;
	}
	return 0;
}

uint64_t lp_rset_pages(const struct lp_rset *s)
{
	uint64_t n = 0;

	for (size_t b = 0; b < s->nb; b++)
		for (size_t i = 0; i < s->b[b]->nr; i++)
			n += lp_range_pages(&s->b[b]->v[i]);
	return n;
}

bool lp_rset_valid(const struct lp_rset *s)
{
	const struct lp_range *prev = NULL;
	size_t n = 0;

	for (size_t b = 0; b < s->nb; b++) {
		if (s->b[b]->nr == 0 || s->b[b]->nr > LP_RBLOCK)
			return false;
		for (size_t i = 0; i < s->b[b]->nr; i++, n++) {
			const struct lp_range *r = &s->b[b]->v[i];
			if (r->start >= r->end || (r->start | r->end | r->img) & (PG - 1))
				return false;
			if (prev && prev->end > r->start)
				return false;
			prev = r;
		}
	}
	return n == s->nr;
}

/* ---- per-page state of a shmem object ---- */

int lp_pmap_init(struct lp_pmap *m, uint64_t nr_pages)
{
	memset(m, 0, sizeof(*m));
	if (nr_pages > (1ULL << 40))
		return -EINVAL;
	m->state = calloc(nr_pages / 32 + 1, sizeof(uint64_t));
	m->want = calloc(nr_pages / 64 + 1, sizeof(uint64_t));
	if (!m->state || !m->want) {
		free(m->state);
		free(m->want);
		m->state = m->want = NULL;
		return -ENOMEM;
	}
	m->nr_pages = nr_pages;
	return 0;
}

void lp_pmap_fini(struct lp_pmap *m)
{
	if (!m)
		return;
	free(m->state);
	free(m->want);
	memset(m, 0, sizeof(*m));
}

enum lp_page_state lp_pmap_get(const struct lp_pmap *m, uint64_t idx)
{
	if (idx >= m->nr_pages)
		return LP_PAGE_ABSENT;
	return (m->state[idx / 32] >> (2 * (idx % 32))) & 3;
}

bool lp_pmap_wanted(const struct lp_pmap *m, uint64_t idx)
{
	return idx < m->nr_pages && (m->want[idx / 64] >> (idx % 64)) & 1;
}

static void want_bit(struct lp_pmap *m, uint64_t idx, bool want)
{
	uint64_t bit = 1ULL << (idx % 64);

	if (want && !(m->want[idx / 64] & bit)) {
		m->want[idx / 64] |= bit;
		m->nr_want++;
	} else if (!want && (m->want[idx / 64] & bit)) {
		m->want[idx / 64] &= ~bit;
		m->nr_want--;
	}
}

uint64_t lp_pmap_set(struct lp_pmap *m, uint64_t idx, uint64_t nr, enum lp_page_state st)
{
	uint64_t changed = 0;

	for (uint64_t i = idx; i < idx + nr && i < m->nr_pages; i++) {
		enum lp_page_state old = lp_pmap_get(m, i);
		if (old == st)
			continue;
		unsigned sh = 2 * (i % 32);
		m->state[i / 32] = (m->state[i / 32] & ~(3ULL << sh)) | ((uint64_t)st << sh);
		m->nr_present += (st == LP_PAGE_PRESENT) - (old == LP_PAGE_PRESENT);
		m->nr_writing += (st == LP_PAGE_WRITING) - (old == LP_PAGE_WRITING);
		if (st == LP_PAGE_PRESENT)
			want_bit(m, i, false);
		changed++;
	}
	return changed;
}

uint64_t lp_pmap_set_want(struct lp_pmap *m, uint64_t idx, uint64_t nr, bool want)
{
	uint64_t changed = 0;

	for (uint64_t i = idx; i < idx + nr && i < m->nr_pages; i++) {
		if (want && lp_pmap_get(m, i) == LP_PAGE_PRESENT)
			continue;
		if (lp_pmap_wanted(m, i) != want) {
			want_bit(m, i, want);
			changed++;
		}
	}
	return changed;
}

uint64_t lp_pmap_next_wanted(const struct lp_pmap *m, uint64_t idx)
{
	while (idx < m->nr_pages) {
		uint64_t w = m->want[idx / 64] >> (idx % 64);
		if (w)
			return MIN(idx + (uint64_t)__builtin_ctzll(w), m->nr_pages);
		idx = ALIGN_DOWN(idx, 64) + 64;
	}
	return m->nr_pages;
}

uint64_t lp_pmap_run(const struct lp_pmap *m, uint64_t idx, uint64_t max, enum lp_page_state st)
{
	uint64_t n = 0;

	while (n < max && idx + n < m->nr_pages && lp_pmap_wanted(m, idx + n) &&
	       lp_pmap_get(m, idx + n) == st)
		n++;
	return n;
}

uint64_t lp_pmap_run_state(const struct lp_pmap *m, uint64_t idx, uint64_t max, enum lp_page_state st)
{
	uint64_t n = 0;

	while (n < max && idx + n < m->nr_pages && lp_pmap_get(m, idx + n) == st)
		n++;
	return n;
}
