/*
 * restore-premap: copy-on-write sharing. Memory a parent still shared with its children
 * at dump is made in the parent before its children are, in a premap area at the same
 * place in every task, so that the children inherit it as fork() gave it; the blob then
 * moves each VMA into place (see restore-ctx.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define LOG_PREFIX "restore: "
#include "lib/crc32c.h"
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/restore-ctx.h"

static void set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}


static ssize_t vma_index(const MmEntry *mm, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < mm->n_vmas; i++)
		if (mm->vmas[i]->start == start && mm->vmas[i]->end == end)
			return (ssize_t)i;
	return -1;
}

static bool vma_inherited(const VmaEntry *v)
{
	return v->has_status && (v->status & VMA_STATUS_INHERITED);
}

static struct rst_task *parent_of(struct rst_ctx *ctx, const struct rst_task *t)
{
	ssize_t i = img_set_task_idx(&ctx->img, t->img->pe->ppid);
	return i < 0 ? NULL : &ctx->tasks[i];
}

int rst_premap_plan(struct rst_ctx *ctx)
{
	uint64_t off = 0;

	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct rst_task *t = &ctx->tasks[i];
		if (img_task_zombie(t->img))
			continue;
		t->premap = calloc(t->img->mm->n_vmas ? t->img->mm->n_vmas : 1, sizeof(*t->premap));
		if (!t->premap) {
			pr_perror("can't allocate the premap plan");
			return -1;
		}
	}
	/* a parent's VMA that a child inherits is premapped (marked 1 for now) */
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct rst_task *c = &ctx->tasks[i], *p;
		if (img_task_zombie(c->img))
			continue;
		for (size_t k = 0; k < c->img->mm->n_vmas; k++) {
			const VmaEntry *v = c->img->mm->vmas[k];
			ssize_t j;
			if (!vma_inherited(v))
				continue;
			p = parent_of(ctx, c);
			j = p ? vma_index(p->img->mm, v->start, v->end) : -1;
			if (j < 0) { /* the image set was validated */
				pr_err("pid %u: its VMA %" PRIx64 " is inherited from no VMA of its parent\n",
				       c->img->pe->pid, v->start);
				errno = EBADMSG;
				return -1;
			}
			p->premap[j] = 1;
		}
	}
	/* in tree order (parents first): a slot of its own, or the parent's slot of the
	 * same range (as offset + 1 until the area is placed) */
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct rst_task *t = &ctx->tasks[i];
		if (img_task_zombie(t->img))
			continue;
		for (size_t k = 0; k < t->img->mm->n_vmas; k++) {
			const VmaEntry *v = t->img->mm->vmas[k];
			if (vma_inherited(v)) {
				struct rst_task *p = parent_of(ctx, t);
				t->premap[k] = p->premap[vma_index(p->img->mm, v->start, v->end)];
			} else if (t->premap[k]) {
				t->premap[k] = off + 1;
				off += v->end - v->start;
			}
		}
	}
	ctx->premap_size = off;
	if (off)
		pr_info("premap: %" PRIu64 " KiB of private memory shared with children\n", off >> 10);
	return 0;
}

int rst_premap_reserve(struct rst_ctx *ctx)
{
	void *p;

	if (!ctx->premap_size)
		return 0;
	if (rst_find_area(ctx, ctx->premap_size, &ctx->premap_start) < 0)
		return -1;
	p = mmap((void *)(uintptr_t)ctx->premap_start, ctx->premap_size, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED) {
		pr_perror("can't reserve 0x%" PRIx64 " bytes at 0x%" PRIx64 " for the premap", ctx->premap_size,
			  ctx->premap_start);
		ctx->premap_size = 0;
		return -1;
	}
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct rst_task *t = &ctx->tasks[i];
		for (size_t k = 0; t->premap && k < t->img->mm->n_vmas; k++)
			if (t->premap[k])
				t->premap[k] += ctx->premap_start - 1;
	}
	pr_info("premap area at 0x%" PRIx64 ", %" PRIu64 " bytes\n", ctx->premap_start, ctx->premap_size);
	return 0;
}

/* Read nr pages of t's set at file page index off into dst and check them. */
static int premap_read(struct rst_task *t, const PagemapEntry *pe, uint64_t first, uint64_t nr, void *dst,
		       char *err, size_t errlen)
{
	uint64_t done = 0;

	while (done < nr) {
		uint64_t n = MIN(nr - done, 1024u);
		char *d = (char *)dst + done * PAGE_SIZE;
		if (pread_all(t->pages_fd, d, n * PAGE_SIZE,
			      (off_t)(IMG_PAGES_HDR + (pe->pages_off + first + done) * PAGE_SIZE)) < 0) {
			set_err(err, errlen, "can't read the pages at 0x%" PRIx64 ": %s",
				pe->vaddr + (first + done) * PAGE_SIZE, strerror(errno));
			return -1;
		}
		if (pe->n_crc == pe->nr_pages && crc32c_check_pages(d, n, pe->crc + first + done) >= 0) {
			set_err(err, errlen, "corrupt page (crc32c mismatch) near 0x%" PRIx64,
				pe->vaddr + (first + done) * PAGE_SIZE);
			return -1;
		}
		done += n;
	}
	return 0;
}

/* Of a lazy entry of t in VMA v: the pages some child of t shares (PE_PARENT in its VMA
 * of the same range), which must be in before the child is made. */
static int premap_shared(struct rst_ctx *ctx, struct rst_task *t, const VmaEntry *v, const PagemapEntry *pe,
			 uint64_t slot, char *err, size_t errlen)
{
	uint64_t pe_end = pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE;

	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct rst_task *c = &ctx->tasks[i];
		ssize_t k;
		if (c->img->pe->ppid != t->img->pe->pid || img_task_zombie(c->img) || !c->img->has_pages)
			continue;
		k = vma_index(c->img->mm, v->start, v->end);
		if (k < 0 || !vma_inherited(c->img->mm->vmas[k]))
			continue;
		for (size_t e = 0; e < c->img->pr.nr_entries; e++) {
			const PagemapEntry *ce = c->img->pr.entries[e];
			uint64_t a = MAX(ce->vaddr, pe->vaddr);
			uint64_t b = MIN(ce->vaddr + (uint64_t)ce->nr_pages * PAGE_SIZE, pe_end);
			if (!(ce->flags & PE_PARENT) || a >= b)
				continue;
			if (premap_read(t, pe, (a - pe->vaddr) / PAGE_SIZE, (b - a) / PAGE_SIZE,
					(void *)(uintptr_t)(slot + a - v->start), err, errlen) < 0)
				return -1;
		}
	}
	return 0;
}

/* An inherited VMA keeps the parent's pages the child still shared at dump (PE_PARENT);
 * the rest of what came with the fork goes (zero, or the child's own pages, later). */
static int premap_zap(struct rst_task *t, const VmaEntry *v, uint64_t slot, char *err, size_t errlen)
{
	uint64_t keep_end = v->start; /* [v->start, keep_end) is settled */

	for (size_t e = 0; t->img->has_pages && e < t->img->pr.nr_entries; e++) {
		const PagemapEntry *pe = t->img->pr.entries[e];
		uint64_t end = pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE;
		if (!(pe->flags & PE_PARENT) || end <= v->start || pe->vaddr >= v->end)
			continue;
		if (pe->vaddr > keep_end &&
		    madvise((void *)(uintptr_t)(slot + keep_end - v->start), pe->vaddr - keep_end, MADV_DONTNEED) < 0)
			goto fail;
		keep_end = end;
	}
	if (v->end > keep_end &&
	    madvise((void *)(uintptr_t)(slot + keep_end - v->start), v->end - keep_end, MADV_DONTNEED) < 0)
		goto fail;
	return 0;
fail:
	set_err(err, errlen, "MADV_DONTNEED in the premap of the VMA at 0x%" PRIx64 ": %s", v->start, strerror(errno));
	return -1;
}

int rst_premap_fill(struct rst_ctx *ctx, struct rst_task *t, char *err, size_t errlen)
{
	const MmEntry *mm = t->img->mm;

	for (size_t k = 0; t->premap && k < mm->n_vmas; k++) {
		const VmaEntry *v = mm->vmas[k];
		uint64_t slot = t->premap[k], len = v->end - v->start;

		if (!slot)
			continue;
		if (vma_inherited(v)) {
			if (premap_zap(t, v, slot, err, errlen) < 0)
				return -1;
		} else if (mmap((void *)(uintptr_t)slot, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | (v->flags & (MAP_GROWSDOWN | MAP_NORESERVE)),
				-1, 0) == MAP_FAILED) {
			set_err(err, errlen, "can't premap the VMA at 0x%" PRIx64 ": %s", v->start, strerror(errno));
			return -1;
		}
		/* its own pages: all of them, but under --lazy-pages only those its children share */
		for (size_t e = 0; t->img->has_pages && e < t->img->pr.nr_entries; e++) {
			const PagemapEntry *pe = t->img->pr.entries[e];
			if (!(pe->flags & PE_PRESENT) || pe->vaddr < v->start || pe->vaddr >= v->end)
				continue;
			if (!rst_entry_lazy(ctx, mm, pe)) {
				if (premap_read(t, pe, 0, pe->nr_pages, (void *)(uintptr_t)(slot + pe->vaddr - v->start), err,
						errlen) < 0)
					return -1;
			} else if (premap_shared(ctx, t, v, pe, slot, err, errlen) < 0) {
				return -1;
			}
		}
	}
	return 0;
}
