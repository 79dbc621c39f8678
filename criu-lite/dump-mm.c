/* Dump memory: VMAs (mm-PID.img) and private pages. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>

#define LOG_PREFIX "dump-mm: "
#include "lib/crc32c.h"
#include "lib/log.h"
#include "lib/pagemap-scan.h"
#include "lib/util.h"
#include "lib/infect.h"
#include "criu-lite/dump-files.h"
#include "criu-lite/dump-mm.h"
#include "criu-lite/dump-pages.h"
#include "criu-lite/dump-shmem.h"
#include "criu-lite/ns/ns.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE (1ULL << 61)
#define PM_GUARD (1ULL << 58) /* a guard region marker (Linux 6.14), shown as swapped too */

#define SCAN_VEC 256

/*
 * Read runs of remote pages into buf (contiguous), through /proc/PID/mem. Not with
 * process_vm_readv(): it pins the pages it reads, and the kernel gives a task its own
 * copy of an anonymous page it shares copy-on-write (with its parent, its children)
 * before a reader may pin it, which would undo the sharing of a tree that runs on
 * (--leave-running). /proc/PID/mem reads without pinning, unreadable VMAs too.
 */
static int read_runs(pid_t pid, int memfd, const struct iovec *riov, size_t nr_iov, uint8_t *buf)
{
	size_t off = 0;

	for (size_t k = 0; k < nr_iov; k++) {
		if (pread_all(memfd, buf + off, riov[k].iov_len, (off_t)(uintptr_t)riov[k].iov_base) < 0) {
			pr_perror("can't read %zu bytes at %p of pid %d through /proc/%d/mem",
				  riov[k].iov_len, riov[k].iov_base, pid, pid);
			return -1;
		}
		off += riov[k].iov_len;
	}
	return 0;
}

/*
 * The same with PAGEMAP_SCAN: the kernel returns only the interesting ranges, so a huge
 * sparse VMA costs nothing, and zero-PFN pages are recorded without being read.
 * Returns the number of pages recorded, -1 on error, -2 if the kernel lacks the ioctl.
 */
static int64_t scan_vma_pages(struct dump_ctx *ctx, pid_t pid, int pmfd, int memfd,
			      struct page_xfer *x, const struct proc_vma *v, bool file, uint32_t flags)
{
	const size_t max_pages = DUMP_BUF_SIZE / PAGE_SIZE;
	struct pms_page_region regs[SCAN_VEC];
	struct iovec riov[SCAN_VEC];
	int64_t recorded = 0;

	for (uint64_t addr = v->start; addr < v->end;) {
		struct pms_scan_arg a = {
			.size = sizeof(a),
			.start = addr,
			.end = v->end,
			.vec = (uintptr_t)regs,
			.vec_len = SCAN_VEC,
			.max_pages = max_pages,
			.category_inverted = file ? PMS_PAGE_IS_FILE : 0,
			.category_mask = file ? PMS_PAGE_IS_FILE : 0,
			.category_anyof_mask = PMS_PAGE_IS_PRESENT | PMS_PAGE_IS_SWAPPED,
			.return_mask = PMS_PAGE_IS_PFNZERO | PMS_PAGE_IS_GUARD,
		};
		long n = ioctl(pmfd, PMS_IOC_PAGEMAP_SCAN, &a);
		size_t nr_iov = 0, total = 0;

		if (n < 0) {
			if (addr == v->start && (errno == EINVAL || errno == ENOTTY || errno == EOPNOTSUPP))
				return -2;
			pr_perror("PAGEMAP_SCAN of pid %d at 0x%" PRIx64, pid, addr);
			return -1;
		}
		if (a.walk_end <= addr || a.walk_end > v->end) {
			pr_err("PAGEMAP_SCAN of pid %d at 0x%" PRIx64 ": bad walk end 0x%" PRIx64 "\n", pid,
			       addr, (uint64_t)a.walk_end);
			errno = EIO;
			return -1;
		}
		for (long i = 0; i < n; i++) {
			if (regs[i].start < addr || regs[i].end > a.walk_end || regs[i].start >= regs[i].end ||
			    (i && regs[i].start < regs[i - 1].end)) {
				pr_err("PAGEMAP_SCAN of pid %d: bad region 0x%" PRIx64 "-0x%" PRIx64 "\n", pid,
				       (uint64_t)regs[i].start, (uint64_t)regs[i].end);
				errno = EIO;
				return -1;
			}
			if (regs[i].categories & (PMS_PAGE_IS_PFNZERO | PMS_PAGE_IS_GUARD))
				continue;
			riov[nr_iov++] = (struct iovec){ (void *)(uintptr_t)regs[i].start,
							 regs[i].end - regs[i].start };
			total += regs[i].end - regs[i].start;
		}
		if (total > DUMP_BUF_SIZE) {
			pr_err("PAGEMAP_SCAN of pid %d returned %zu bytes, over the %u limit\n", pid, total,
			       DUMP_BUF_SIZE);
			errno = EIO;
			return -1;
		}
		if (nr_iov && read_runs(pid, memfd, riov, nr_iov, ctx->buf) < 0)
			return -1;
		/* in address order: zero-PFN ranges as zero, the rest from the buffer */
		size_t off = 0;
		for (long i = 0; i < n; i++) {
			size_t np = (regs[i].end - regs[i].start) / PAGE_SIZE;
			if (regs[i].categories & PMS_PAGE_IS_GUARD)
				continue; /* no page: a marker (collect_guards) */
			if (regs[i].categories & PMS_PAGE_IS_PFNZERO) {
				if (xfer_write_zero(x, regs[i].start, np, flags) < 0)
					return -1;
				ctx->stats.pages_zero += np;
			} else {
				if (dump_emit_pages(ctx, x, regs[i].start, ctx->buf + off, np, flags) < 0)
					return -1;
				off += np * PAGE_SIZE;
			}
			recorded += np;
		}
		ctx->stats.bytes_read += total;
		dump_progress(ctx);
		addr = a.walk_end;
	}
	return recorded;
}

/*
 * Dump the pages of one private VMA: present or swapped pages, and for a private
 * file mapping only those that are not the file's (bit 61 clear).
 * Returns the number of pages recorded, or -1.
 */
static int64_t read_vma_pages(struct dump_ctx *ctx, pid_t pid, int pmfd, int memfd,
			      struct page_xfer *x, const struct proc_vma *v, bool file, uint32_t flags)
{
	const size_t max_pages = DUMP_BUF_SIZE / PAGE_SIZE;
	struct iovec riov[DUMP_BUF_SIZE / PAGE_SIZE];
	int64_t recorded = 0;

	for (uint64_t addr = v->start; addr < v->end;) {
		size_t n = MIN(max_pages, (v->end - addr) / PAGE_SIZE), nr_iov = 0, total = 0;

		if (pread_all(pmfd, ctx->pm, n * sizeof(uint64_t), (addr / PAGE_SIZE) * sizeof(uint64_t)) < 0) {
			pr_perror("can't read /proc/%d/pagemap at 0x%" PRIx64, pid, addr);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t e = ctx->pm[i];
			bool want = (e & (PM_PRESENT | PM_SWAPPED)) && !(file && (e & PM_FILE)) && !(e & PM_GUARD);
			if (!want)
				continue;
			uint64_t a = addr + i * PAGE_SIZE;
			if (nr_iov && (uintptr_t)riov[nr_iov - 1].iov_base + riov[nr_iov - 1].iov_len == a)
				riov[nr_iov - 1].iov_len += PAGE_SIZE;
			else
				riov[nr_iov++] = (struct iovec){ (void *)(uintptr_t)a, PAGE_SIZE };
			total += PAGE_SIZE;
		}
		if (nr_iov) {
			if (read_runs(pid, memfd, riov, nr_iov, ctx->buf) < 0)
				return -1;
			size_t off = 0;
			for (size_t k = 0; k < nr_iov; k++) {
				size_t np = riov[k].iov_len / PAGE_SIZE;
				if (dump_emit_pages(ctx, x, (uintptr_t)riov[k].iov_base, ctx->buf + off, np, flags) < 0)
					return -1;
				off += riov[k].iov_len;
				recorded += np;
			}
			ctx->stats.bytes_read += total;
			dump_progress(ctx);
		}
		addr += n * PAGE_SIZE;
	}
	return recorded;
}

static int64_t dump_vma_pages(struct dump_ctx *ctx, pid_t pid, int pmfd, int memfd,
			      struct page_xfer *x, const struct proc_vma *v, bool file, uint32_t flags)
{
	ctx->stats.pages_scanned += (v->end - v->start) / PAGE_SIZE;
	if (ctx->no_pagemap_scan < 1) {
		int64_t r = scan_vma_pages(ctx, pid, pmfd, memfd, x, v, file, flags);
		if (r != -2)
			return r;
		pr_info("no PAGEMAP_SCAN ioctl: reading /proc/%d/pagemap\n", pid);
		ctx->no_pagemap_scan = 1;
	}
	return read_vma_pages(ctx, pid, pmfd, memfd, x, v, file, flags);
}

/* ---- AIO rings ---- */

#define AIO_RING_MAGIC 0xa10a10a1u
#define AIO_RING_HDR 32u /* struct aio_ring; io_events (32 bytes each) follow */

/*
 * An AIO ring the kernel made (io_setup): restore makes one of the same size and puts
 * its header and completed events back. Its requests in flight (submitted, not yet
 * completed) are not seen from outside: as in CRIU, they are not carried.
 */
static int check_aio_ring(pid_t pid, int memfd, const struct proc_vma *v)
{
	struct {
		uint32_t id, nr, head, tail, magic, compat, incompat, header_length;
	} r;
	uint64_t nr = (v->end - v->start - AIO_RING_HDR) / AIO_RING_HDR;

	if (pread_all(memfd, &r, sizeof(r), (off_t)v->start) < 0) {
		pr_perror("can't read the AIO ring at %" PRIx64 " of pid %d", v->start, pid);
		return -1;
	}
	if (r.magic != AIO_RING_MAGIC || r.compat != 1 || r.incompat != 0 || r.header_length != AIO_RING_HDR ||
	    r.nr != nr || r.head >= r.nr || r.tail >= r.nr || (r.nr - 2) / 2 == 0) {
		pr_err("pid %d: the AIO ring at %" PRIx64 " is not one the kernel made (magic 0x%x nr %u head %u "
		       "tail %u): not supported\n", pid, v->start, r.magic, r.nr, r.head, r.tail);
		errno = ENOTSUP;
		return -1;
	}
	pr_info("pid %d: AIO ring at %" PRIx64 ": %u events, %u completed and not taken\n", pid, v->start, r.nr,
		(r.tail - r.head + r.nr) % r.nr);
	return 0;
}

/* ---- copy-on-write sharing with the parent ---- */

/* The parent's side, for a task whose parent is in the tree (dumped before it). */
struct cow_parent {
	int pmfd;            /* the parent's /proc/PID/pagemap */
	MmEntry *mm;         /* its mm image */
	struct page_read pr; /* its page set */
	uint64_t *ppm;       /* its pagemap entries for a chunk */
	bool open;
};

static void cow_close(struct cow_parent *cp)
{
	if (!cp->open)
		return;
	closep(&cp->pmfd);
	img_free_msg(NULL, cp->mm);
	page_read_close(&cp->pr);
	free(cp->ppm);
	cp->open = false;
}

/* What the parent of pid left in the images and in /proc: open when the parent is in
 * the tree and stored pages. 0 (cp->open says whether) or -1 (logged). */
static int cow_open(struct dump_ctx *ctx, pid_t pid, struct cow_parent *cp)
{
	struct seize_task *t = seize_find(&ctx->tree, pid);
	cleanup_img struct img *img = NULL;
	char path[64], id[24];

	memset(cp, 0, sizeof(*cp));
	cp->pmfd = -1;
	if (!t || !t->ppid)
		return 0;
	snprintf(id, sizeof(id), "%d", t->ppid);
	if (page_read_open(&cp->pr, ctx->dfd, id, IMG_OPT_MISSING_OK) < 0)
		return errno == ENOENT ? 0 : -1; /* no pages: nothing to share */
	cp->open = true;
	img = img_open(ctx->dfd, IMG_MM, O_RDONLY, (unsigned long)t->ppid);
	if (!img || img_read_one(img, (void **)&cp->mm) < 0)
		goto err;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", dump_proc_pid(ctx, t->ppid));
	cp->pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (cp->pmfd < 0) {
		pr_perror("can't open %s", path);
		goto err;
	}
	cp->ppm = malloc((DUMP_BUF_SIZE / PAGE_SIZE) * sizeof(uint64_t));
	if (!cp->ppm) {
		pr_perror("can't allocate a pagemap buffer");
		goto err;
	}
	return 0;
err:
	cow_close(cp);
	return -1;
}

static bool anon_kind(uint32_t kind)
{
	return kind == VMA_KIND_ANON_PRIVATE || kind == VMA_KIND_HEAP || kind == VMA_KIND_STACK;
}

/* The parent's VMA of the same range, private anonymous memory too (what fork() gave). */
static bool cow_parent_vma(const struct cow_parent *cp, const struct proc_vma *v)
{
	for (size_t i = 0; cp->open && i < cp->mm->n_vmas; i++) {
		const VmaEntry *p = cp->mm->vmas[i];
		if (p->start == v->start && p->end == v->end)
			return anon_kind(p->kind) && !(p->has_status && (p->status & VMA_STATUS_GUARD));
	}
	return false;
}

/* The same physical page (or the same swap slot): still shared since the fork. */
static bool same_page(uint64_t c, uint64_t p)
{
	const uint64_t frame = (1ULL << 55) - 1; /* PFN, or swap type and offset */

	if ((c & PM_PRESENT) && (p & PM_PRESENT))
		return (c & frame) && (c & frame) == (p & frame);
	if ((c & PM_SWAPPED) && (p & PM_SWAPPED) && !((c | p) & PM_GUARD))
		return (c & frame) == (p & frame);
	return false;
}

/* Did the parent store this page's data (not zero: its set must give the page)? */
static bool parent_stored(struct cow_parent *cp, uint64_t addr)
{
	const PagemapEntry *e = page_read_find(&cp->pr, addr);
	return e && (e->flags & PE_PRESENT);
}

/*
 * The pages of a private anonymous VMA that the parent's VMA of the same range has
 * too: a page that is still the parent's own (same frame) and stored in its set is
 * recorded as the parent's (PE_PARENT, no data: restore makes the child from the
 * parent after this page is in, as fork() did), the others are dumped as usual.
 * Returns the pages recorded, or -1.
 */
static int64_t cow_vma_pages(struct dump_ctx *ctx, pid_t pid, int pmfd, int memfd, struct page_xfer *x,
			     const struct proc_vma *v, uint32_t flags, struct cow_parent *cp, bool *ret_shared)
{
	const size_t max_pages = DUMP_BUF_SIZE / PAGE_SIZE;
	struct run {
		uint64_t start;
		size_t n;
		bool parent;
	} *runs = NULL;
	struct iovec *riov = NULL;
	int64_t recorded = 0;

	runs = malloc(max_pages * sizeof(*runs));
	riov = malloc(max_pages * sizeof(*riov));
	if (!runs || !riov) {
		pr_perror("can't allocate run lists");
		recorded = -1;
		goto out;
	}
	for (uint64_t addr = v->start; addr < v->end;) {
		size_t n = MIN(max_pages, (v->end - addr) / PAGE_SIZE), nr = 0, nr_iov = 0, off = 0;
		off_t pmoff = (addr / PAGE_SIZE) * sizeof(uint64_t);

		if (pread_all(pmfd, ctx->pm, n * sizeof(uint64_t), pmoff) < 0 ||
		    pread_all(cp->pmfd, cp->ppm, n * sizeof(uint64_t), pmoff) < 0) {
			pr_perror("can't read the pagemaps of pid %d and its parent at 0x%" PRIx64, pid, addr);
			recorded = -1;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t e = ctx->pm[i], a = addr + i * PAGE_SIZE;
			bool parent;

			if ((e & PM_GUARD) || !(e & (PM_PRESENT | PM_SWAPPED)))
				continue;
			parent = same_page(e, cp->ppm[i]) && parent_stored(cp, a);
			if (nr && runs[nr - 1].parent == parent && runs[nr - 1].start + runs[nr - 1].n * PAGE_SIZE == a) {
				runs[nr - 1].n++;
			} else {
				runs[nr++] = (struct run){ a, 1, parent };
				if (!parent)
					riov[nr_iov++] = (struct iovec){ (void *)(uintptr_t)a, 0 };
			}
			if (!parent)
				riov[nr_iov - 1].iov_len += PAGE_SIZE;
		}
		if (nr_iov && read_runs(pid, memfd, riov, nr_iov, ctx->buf) < 0) {
			recorded = -1;
			goto out;
		}
		for (size_t k = 0; k < nr; k++) {
			int r;
			if (runs[k].parent) {
				r = xfer_write_parent(x, runs[k].start, runs[k].n);
				ctx->stats.pages_parent += runs[k].n;
				*ret_shared = true;
			} else {
				r = dump_emit_pages(ctx, x, runs[k].start, ctx->buf + off, runs[k].n, flags);
				off += runs[k].n * PAGE_SIZE;
				ctx->stats.bytes_read += runs[k].n * PAGE_SIZE;
			}
			if (r < 0) {
				recorded = -1;
				goto out;
			}
			recorded += runs[k].n;
		}
		dump_progress(ctx);
		addr += n * PAGE_SIZE;
	}
out:
	free(runs);
	free(riov);
	return recorded;
}

/*
 * The guard regions (MADV_GUARD_INSTALL) of a VMA that has any ("gu"), from the
 * pagemap's guard bit, into e->guards as (start, pages) pairs. Restore installs them
 * again. 0 or -1 (logged).
 */
static int collect_guards(struct dump_ctx *ctx, pid_t pid, int pmfd, const struct proc_vma *v, VmaEntry *e)
{
	const size_t max_pages = DUMP_BUF_SIZE / PAGE_SIZE;
	uint64_t *g = NULL;
	size_t n = 0, cap = 0;

	if (!(v->vmflags & PROC_VMF_GU))
		return 0;
	for (uint64_t addr = v->start; addr < v->end;) {
		size_t np = MIN(max_pages, (v->end - addr) / PAGE_SIZE);
		if (pread_all(pmfd, ctx->pm, np * sizeof(uint64_t), (addr / PAGE_SIZE) * sizeof(uint64_t)) < 0) {
			pr_perror("can't read /proc/%d/pagemap at 0x%" PRIx64, pid, addr);
			free(g);
			return -1;
		}
		for (size_t i = 0; i < np; i++) {
			uint64_t a = addr + i * PAGE_SIZE;
			if (!(ctx->pm[i] & PM_GUARD))
				continue;
			if (n && g[n - 2] + g[n - 1] * PAGE_SIZE == a) {
				g[n - 1]++;
				continue;
			}
			if (n + 2 > cap) {
				uint64_t *ng = realloc(g, (cap ? cap * 2 : 16) * sizeof(*g));
				if (!ng) {
					pr_perror("can't grow the guard list");
					free(g);
					return -1;
				}
				g = ng;
				cap = cap ? cap * 2 : 16;
			}
			g[n++] = a;
			g[n++] = 1;
		}
		addr += np * PAGE_SIZE;
	}
	e->guards = g;
	e->n_guards = n;
	pr_debug("pid %d: VMA %" PRIx64 "-%" PRIx64 ": %zu guard region(s)\n", pid, v->start, v->end, n / 2);
	return 0;
}

static uint64_t madv_bits(uint64_t vmf)
{
	uint64_t m = 0;
	if (vmf & PROC_VMF_DC)
		m |= 1ULL << MADV_DONTFORK;
	if (vmf & PROC_VMF_DD)
		m |= 1ULL << MADV_DONTDUMP;
	if (vmf & PROC_VMF_HG)
		m |= 1ULL << MADV_HUGEPAGE;
	if (vmf & PROC_VMF_NH)
		m |= 1ULL << MADV_NOHUGEPAGE;
	if (vmf & PROC_VMF_MG)
		m |= 1ULL << MADV_MERGEABLE;
	if (vmf & PROC_VMF_WF)
		m |= 1ULL << MADV_WIPEONFORK;
	if (vmf & PROC_VMF_SR)
		m |= 1ULL << MADV_SEQUENTIAL;
	if (vmf & PROC_VMF_RR)
		m |= 1ULL << MADV_RANDOM;
	return m;
}

/* Memory restored eagerly even under --lazy-pages: mlock()ed or MAP_LOCKED (not
 * MLOCK_ONFAULT), every page of which is resident; MAP_DROPPABLE, which userfaultfd
 * does not take. */
static bool never_lazy(const struct proc_vma *v)
{
	return ((v->vmflags & PROC_VMF_LO) && !(v->vmflags & PROC_VMF_LF)) || (v->vmflags & PROC_VMF_DP);
}

static bool starts_with(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

/* Fill e->kind/flags/file_id/shmem_id for a VMA. 0 or -1 (logged). */
static int classify_vma(struct dump_ctx *ctx, pid_t pid, const struct proc_vma *v, VmaEntry *e)
{
	char path[96];
	struct stat st;
	struct statfs sfs;
	cleanup_close int fd = -1;

	e->flags = v->shared ? MAP_SHARED : MAP_PRIVATE;
	if (v->vmflags & PROC_VMF_GD)
		e->flags |= MAP_GROWSDOWN;
	if (v->vmflags & PROC_VMF_NR)
		e->flags |= MAP_NORESERVE;
	if (!strcmp(v->name, "[vdso]")) {
		e->kind = VMA_KIND_VDSO;
		return 0;
	}
	if (!strcmp(v->name, "[vvar]")) {
		e->kind = VMA_KIND_VVAR;
		return 0;
	}
	if (!strcmp(v->name, "[vvar_vclock]")) {
		e->kind = VMA_KIND_VVAR_VCLOCK;
		return 0;
	}
	if (!strcmp(v->name, "[vsyscall]")) {
		e->kind = VMA_KIND_VSYSCALL;
		return 0;
	}
	if (v->vmflags & (PROC_VMF_UM | PROC_VMF_UW | PROC_VMF_UI)) {
		pr_err("pid %d: VMA %" PRIx64 "-%" PRIx64 " (%s) is registered with a userfaultfd of the "
		       "task: not supported\n", pid, v->start, v->end, v->name);
		errno = ENOTSUP;
		return -1;
	}
	if (v->vmflags & PROC_VMF_SS) {
		pr_err("pid %d: VMA %" PRIx64 "-%" PRIx64 " is a shadow stack: not supported\n", pid,
		       v->start, v->end);
		errno = ENOTSUP;
		return -1;
	}
	if (v->vmflags & (PROC_VMF_IO | PROC_VMF_PF | PROC_VMF_HT)) {
		pr_err("pid %d: VMA %" PRIx64 "-%" PRIx64 " (%s) is a device, PFN or hugetlb mapping: not supported\n",
		       pid, v->start, v->end, v->name);
		errno = ENOTSUP;
		return -1;
	}
	if (v->ino == 0 && v->dev_major == 0 && v->dev_minor == 0 && v->name[0] != '/') {
		if (v->shared) {
			pr_err("pid %d: shared VMA %" PRIx64 "-%" PRIx64 " without a backing object: not supported\n",
			       pid, v->start, v->end);
			errno = ENOTSUP;
			return -1;
		}
		e->flags |= MAP_ANONYMOUS;
		if (!strcmp(v->name, "[heap]"))
			e->kind = VMA_KIND_HEAP;
		else if (!strcmp(v->name, "[stack]") || (v->vmflags & PROC_VMF_GD))
			e->kind = VMA_KIND_STACK;
		else
			e->kind = VMA_KIND_ANON_PRIVATE;
		return 0;
	}

	if (v->shared && v->deleted && !strcmp(v->name, "/[aio]") && v->dev_major == 0) {
		e->kind = VMA_KIND_AIO; /* map_files can't open it: its pages are read as they are */
		e->flags = MAP_PRIVATE | MAP_ANONYMOUS;
		return 0;
	}

	/* Backed by a file: look at it through map_files. */
	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, v->start, v->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pr_perror("pid %d: can't open the file behind VMA %" PRIx64 "-%" PRIx64 " (%s)", pid,
			  v->start, v->end, v->name);
		return -1;
	}
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0) {
		pr_perror("can't stat %s", path);
		return -1;
	}
	if (S_ISCHR(st.st_mode)) {
		if (!v->shared && major(st.st_rdev) == 1 && minor(st.st_rdev) == 5) {
			/* a private /dev/zero mapping is anonymous memory */
			e->flags |= MAP_ANONYMOUS;
			e->kind = VMA_KIND_ANON_PRIVATE;
			return 0;
		}
		pr_err("pid %d: VMA %" PRIx64 "-%" PRIx64 " maps the device %s: not supported\n", pid,
		       v->start, v->end, v->name);
		errno = ENOTSUP;
		return -1;
	}
	if ((unsigned long)sfs.f_type == HUGETLBFS_MAGIC) {
		pr_err("pid %d: VMA %" PRIx64 "-%" PRIx64 " is hugetlbfs (%s): not supported\n", pid,
		       v->start, v->end, v->name);
		errno = ENOTSUP;
		return -1;
	}
	if (v->shared && (unsigned long)sfs.f_type == TMPFS_MAGIC) {
		uint32_t kind;
		const char *name = v->name;
		uint64_t min_size = 0;

		if (starts_with(v->name, "/SYSV")) {
			/* a segment of the tree's IPC namespace (criu-lite/ns/ipc.c): ino is its id */
			e->kind = VMA_KIND_SHMEM;
			e->has_shmem_id = true;
			return ns_dump_sysv_vma(ctx, pid, v->start, v->end, v->pgoff, v->ino, steal_fd(&fd),
						&e->shmem_id);
		}
		if ((!strcmp(v->name, "/dev/zero") && v->deleted) || starts_with(v->name, "[anon_shmem:")) {
			kind = SHMEM_KIND_ANON;
			min_size = v->pgoff + (v->end - v->start);
		} else if (starts_with(v->name, "/memfd:") && v->deleted) {
			kind = SHMEM_KIND_MEMFD;
			name = v->name + strlen("/memfd:");
		} else {
			kind = SHMEM_KIND_FILE;
		}
		e->kind = VMA_KIND_SHMEM;
		e->has_shmem_id = true;
		if (kind == SHMEM_KIND_ANON)
			e->flags |= MAP_ANONYMOUS;
		return dump_shmem_add(ctx, steal_fd(&fd), kind, name, v->deleted, min_size, &e->shmem_id);
	}
	/* a deleted file is saved as a ghost (dump-files) */
	e->kind = v->shared ? VMA_KIND_FILE_SHARED : VMA_KIND_FILE_PRIVATE;
	e->has_file_id = true;
	return dump_file_of_path(ctx, pid, path,
				 /* "mw" on a shared mapping: its file was opened for writing, and
				  * may be mprotect()ed writable: reopened so */
				 (v->shared && (v->vmflags & PROC_VMF_MW)) ? O_RDWR : O_RDONLY, &e->file_id);
}

static int read_auxv(pid_t pid, MmEntry *mm)
{
	char path[64];
	size_t len;
	cleanup_free char *buf = NULL;

	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	buf = read_file_str(AT_FDCWD, path, 1 << 16, &len);
	if (!buf)
		return -1;
	size_t nr = len / sizeof(uint64_t);
	uint64_t *v = malloc(MAX(nr, (size_t)2) * sizeof(uint64_t));
	if (!v) {
		pr_perror("can't allocate the auxv");
		return -1;
	}
	size_t n = 0;
	for (size_t i = 0; i + 1 < nr; i += 2) {
		memcpy(&v[n], buf + i * 8, 16);
		n += 2;
		if (v[n - 2] == 0) /* AT_NULL, kept */
			break;
	}
	mm->auxv = v;
	mm->n_auxv = n;
	return 0;
}

static void vdso_facts(struct dump_ctx *ctx, pid_t pid, const struct proc_vma *vmas, size_t nr)
{
	for (size_t i = 0; i < nr; i++) {
		const struct proc_vma *v = &vmas[i];
		uint64_t len = v->end - v->start;
		if (!strcmp(v->name, "[vvar]"))
			ctx->vvar_size = len;
		else if (!strcmp(v->name, "[vvar_vclock]"))
			ctx->vvar_vclock_size = len;
		else if (!strcmp(v->name, "[vdso]") && len <= DUMP_BUF_SIZE) {
			if (infect_read_mem(pid, v->start, ctx->buf, len) < 0) {
				pr_warn("can't read the vDSO of pid %d; no digest recorded\n", pid);
				continue;
			}
			ctx->vdso_size = len;
			ctx->vdso_crc = crc32c(0, ctx->buf, len);
			ctx->has_vdso = true;
		}
	}
}

int dump_mm(struct dump_ctx *ctx, pid_t pid, const struct proc_vma *vmas, size_t nr_vmas,
	    const struct dump_mm_task *mt)
{
	MmEntry mm = MM_ENTRY__INIT;
	struct proc_stat st;
	struct page_xfer x;
	char path[64], ids[24];
	cleanup_close int pmfd = -1;
	cleanup_close int memfd = -1;
	cleanup_img struct img *img = NULL;
	VmaEntry *ve = NULL;
	VmaEntry **vep = NULL;
	int ret = -1;
	bool xfer_ok = false;
	pid_t pp = dump_proc_pid(ctx, pid); /* /proc of a live thread */
	struct cow_parent cp = { .pmfd = -1 };

	if (proc_parse_stat(pp, 0, &st) < 0)
		return -1;
	if (pid == ctx->opts->tree)
		vdso_facts(ctx, pp, vmas, nr_vmas);

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pp);
	pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0) {
		pr_perror("can't open %s", path);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", pp);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (memfd < 0) {
		pr_perror("can't open %s", path);
		return -1;
	}
	if (cow_open(ctx, pid, &cp) < 0)
		return -1;
	snprintf(ids, sizeof(ids), "%d", pid);
	if (xfer_open(&x, ctx->dfd, ids, (uint32_t)pid) < 0) {
		cow_close(&cp);
		return -1;
	}
	xfer_ok = true;

	ve = calloc(nr_vmas ? nr_vmas : 1, sizeof(*ve));
	vep = calloc(nr_vmas ? nr_vmas : 1, sizeof(*vep));
	if (!ve || !vep) {
		pr_perror("can't allocate %zu VMA entries", nr_vmas);
		goto out;
	}
	for (size_t i = 0; i < nr_vmas; i++) {
		const struct proc_vma *v = &vmas[i];
		VmaEntry *e = &ve[i];
		int64_t np = 0;

		vma_entry__init(e);
		vep[i] = e;
		if (xfer_break(&x) < 0) /* entries stay within a VMA (restore premaps some alone) */
			goto out;
		e->start = v->start;
		e->end = v->end;
		e->prot = v->prot;
		e->has_pgoff = true;
		e->pgoff = v->pgoff;
		e->name = (char *)v->name;
		e->has_vm_flags = true;
		e->vm_flags = v->vmflags;
		e->has_madv = true;
		e->madv = madv_bits(v->vmflags);
		if (classify_vma(ctx, pp, v, e) < 0)
			goto out;
		e->has_status = true;
		switch (e->kind) {
		case VMA_KIND_ANON_PRIVATE:
		case VMA_KIND_HEAP:
		case VMA_KIND_STACK: {
			bool shared = false;
			uint32_t flags = never_lazy(v) ? 0 : PE_LAZY;
			e->status = never_lazy(v) ? 0 : VMA_STATUS_LAZY;
			if (cow_parent_vma(&cp, v))
				np = cow_vma_pages(ctx, pp, pmfd, memfd, &x, v, flags, &cp, &shared);
			else
				np = dump_vma_pages(ctx, pp, pmfd, memfd, &x, v, false, flags);
			if (np < 0)
				goto out;
			if (shared)
				e->status |= VMA_STATUS_INHERITED;
			if (e->prot == PROT_NONE && np == 0)
				e->status |= VMA_STATUS_GUARD;
			break;
		}
		case VMA_KIND_AIO:
			if (check_aio_ring(pp, memfd, v) < 0)
				goto out;
			np = dump_vma_pages(ctx, pp, pmfd, memfd, &x, v, false, 0);
			if (np < 0)
				goto out;
			break;
		case VMA_KIND_FILE_PRIVATE:
			np = dump_vma_pages(ctx, pp, pmfd, memfd, &x, v, true, 0);
			if (np < 0)
				goto out;
			break;
		case VMA_KIND_SHMEM:
			e->status = VMA_STATUS_LAZY;
			break;
		default:
			break;
		}
		if (collect_guards(ctx, pp, pmfd, v, e) < 0)
			goto out;
		pr_debug("pid %d: vma %" PRIx64 "-%" PRIx64 " kind %u %s: %" PRId64 " pages\n", pid,
			 v->start, v->end, e->kind, v->name, np);
	}
	ret = xfer_close(&x);
	xfer_ok = false;
	if (ret < 0)
		goto out;
	ret = -1;

	mm.pid = pid;
	mm.has_start_code = mm.has_end_code = mm.has_start_data = mm.has_end_data = true;
	mm.has_start_brk = mm.has_brk = mm.has_start_stack = true;
	mm.has_arg_start = mm.has_arg_end = mm.has_env_start = mm.has_env_end = true;
	mm.start_code = st.start_code;
	mm.end_code = st.end_code;
	mm.start_data = st.start_data;
	mm.end_data = st.end_data;
	mm.start_brk = st.start_brk;
	mm.brk = mt->brk ? mt->brk : st.start_brk;
	if (mt->lock_future) {
		mm.has_lock_future = true;
		mm.lock_future = mt->lock_future;
	}
	if (mt->memory_merge) {
		mm.has_memory_merge = true;
		mm.memory_merge = true;
	}
	mm.start_stack = st.start_stack;
	mm.arg_start = st.arg_start;
	mm.arg_end = st.arg_end;
	mm.env_start = st.env_start;
	mm.env_end = st.env_end;
	if (read_auxv(pp, &mm) < 0)
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/exe", pp);
	mm.has_exe_file_id = true;
	if (dump_file_of_path(ctx, pp, path, O_RDONLY, &mm.exe_file_id) < 0)
		goto out;
	mm.n_vmas = nr_vmas;
	mm.vmas = vep;

	img = img_open(ctx->dfd, IMG_MM, O_WRONLY, pid);
	if (!img || img_write(img, &mm) < 0)
		goto out;
	ret = img_close(steal_pointer(&img));
out:
	if (xfer_ok)
		xfer_close(&x);
	cow_close(&cp);
	free(mm.auxv);
	for (size_t i = 0; ve && i < nr_vmas; i++)
		free(ve[i].guards);
	free(ve);
	free(vep);
	return ret;
}
