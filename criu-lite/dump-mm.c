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

#define SCAN_VEC 256

/* Read runs of remote pages into buf (contiguous); /proc/PID/mem when the VMA is not readable. */
static int read_runs(pid_t pid, int memfd, bool readable, const struct iovec *riov, size_t nr_iov,
		     uint8_t *buf, size_t total)
{
	if (readable) {
		struct iovec l = { buf, total };
		size_t done = 0, k = 0;
		while (k < nr_iov) {
			size_t cnt = MIN(nr_iov - k, (size_t)IOV_MAX);
			size_t want = 0;
			for (size_t m = k; m < k + cnt; m++)
				want += riov[m].iov_len;
			l.iov_base = buf + done;
			l.iov_len = want;
			ssize_t n = process_vm_readv(pid, &l, 1, riov + k, cnt, 0);
			if (n == (ssize_t)want) {
				done += want;
				k += cnt;
				continue;
			}
			if (n < 0 && errno != EFAULT) {
				pr_perror("can't read the memory of pid %d", pid);
				return -1;
			}
			break; /* a partial read: fall back to /proc/PID/mem for everything */
		}
		if (done == total)
			return 0;
	}
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
			.return_mask = PMS_PAGE_IS_PFNZERO,
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
			if (regs[i].categories & PMS_PAGE_IS_PFNZERO)
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
		if (nr_iov && read_runs(pid, memfd, v->prot & PROT_READ, riov, nr_iov, ctx->buf, total) < 0)
			return -1;
		/* in address order: zero-PFN ranges as zero, the rest from the buffer */
		size_t off = 0;
		for (long i = 0; i < n; i++) {
			size_t np = (regs[i].end - regs[i].start) / PAGE_SIZE;
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
			bool want = (e & (PM_PRESENT | PM_SWAPPED)) && !(file && (e & PM_FILE));
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
			if (read_runs(pid, memfd, v->prot & PROT_READ, riov, nr_iov, ctx->buf, total) < 0)
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
	if (v->deleted) {
		pr_err("pid %d: VMA %" PRIx64 "-%" PRIx64 " maps the deleted file %s: not supported\n", pid,
		       v->start, v->end, v->name);
		errno = ENOTSUP;
		return -1;
	}
	e->kind = v->shared ? VMA_KIND_FILE_SHARED : VMA_KIND_FILE_PRIVATE;
	e->has_file_id = true;
	return dump_file_of_path(ctx, pid, path,
				 (v->shared && (v->prot & PROT_WRITE)) ? O_RDWR : O_RDONLY, &e->file_id);
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

int dump_mm(struct dump_ctx *ctx, pid_t pid, const struct proc_vma *vmas, size_t nr_vmas, uint64_t brk)
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

	if (proc_parse_stat(pid, 0, &st) < 0)
		return -1;
	if (pid == ctx->opts->tree)
		vdso_facts(ctx, pid, vmas, nr_vmas);

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0) {
		pr_perror("can't open %s", path);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (memfd < 0) {
		pr_perror("can't open %s", path);
		return -1;
	}
	snprintf(ids, sizeof(ids), "%d", pid);
	if (xfer_open(&x, ctx->dfd, ids, (uint32_t)pid) < 0)
		return -1;
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
		if (classify_vma(ctx, pid, v, e) < 0)
			goto out;
		e->has_status = true;
		switch (e->kind) {
		case VMA_KIND_ANON_PRIVATE:
		case VMA_KIND_HEAP:
		case VMA_KIND_STACK:
			e->status = VMA_STATUS_LAZY;
			np = dump_vma_pages(ctx, pid, pmfd, memfd, &x, v, false, PE_LAZY);
			if (np < 0)
				goto out;
			if (e->prot == PROT_NONE && np == 0)
				e->status |= VMA_STATUS_GUARD;
			break;
		case VMA_KIND_FILE_PRIVATE:
			np = dump_vma_pages(ctx, pid, pmfd, memfd, &x, v, true, 0);
			if (np < 0)
				goto out;
			break;
		case VMA_KIND_SHMEM:
			e->status = VMA_STATUS_LAZY;
			break;
		default:
			break;
		}
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
	mm.brk = brk ? brk : st.start_brk;
	mm.start_stack = st.start_stack;
	mm.arg_start = st.arg_start;
	mm.arg_end = st.arg_end;
	mm.env_start = st.env_start;
	mm.env_end = st.env_end;
	if (read_auxv(pid, &mm) < 0)
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	mm.has_exe_file_id = true;
	if (dump_file_of_path(ctx, pid, path, O_RDONLY, &mm.exe_file_id) < 0)
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
	free(mm.auxv);
	free(ve);
	free(vep);
	return ret;
}
