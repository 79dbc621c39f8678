/*
 * restore-files: shmem objects, open files, the fds the blob maps from, and the
 * installation of each task's descriptor table.
 *
 * Everything is opened once, in the criu-lite parent, as "service fds" numbered at
 * or above ctx->svc_base (above every dumped fd), so that tasks forked from it share
 * the same open file descriptions (offsets, flags) the dumped tasks shared. A task
 * dup3()s its own fds into place and closes everything else below svc_base; the
 * blob closes the service fds before the final sigreturn.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define LOG_PREFIX "restore: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/restore-ctx.h"
#include "criu-lite/ns/ipc.h"

#define SHMEM_BUF_PAGES 512u

static void svc_track(struct rst_ctx *ctx, int fd)
{
	int *n;

	if (fd < 0)
		return;
	n = realloc(ctx->svc_fds, (ctx->nr_svc_fds + 1) * sizeof(*n));
	if (!n)
		return; /* it stays open until exit: harmless */
	ctx->svc_fds = n;
	ctx->svc_fds[ctx->nr_svc_fds++] = fd;
}

int rst_svc_dup(struct rst_ctx *ctx, int fd)
{
	int n = fcntl(fd, F_DUPFD_CLOEXEC, ctx->svc_base);

	if (n < 0)
		pr_perror("can't copy fd %d above %d", fd, ctx->svc_base);
	svc_track(ctx, n);
	return n;
}

int rst_svc_fd(struct rst_ctx *ctx, int fd)
{
	int n;

	if (fd < 0)
		return -1;
	if (fd >= ctx->svc_base) {
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			pr_perror("can't set FD_CLOEXEC on fd %d", fd);
			close(fd);
			return -1;
		}
		svc_track(ctx, fd);
		return fd;
	}
	n = rst_svc_dup(ctx, fd);
	close(fd);
	return n;
}

void rst_svc_close_all(struct rst_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nr_svc_fds; i++)
		close(ctx->svc_fds[i]);
	free(ctx->svc_fds);
	ctx->svc_fds = NULL;
	ctx->nr_svc_fds = 0;
}

static ssize_t file_index(struct rst_ctx *ctx, uint32_t id)
{
	return img_set_file_idx(&ctx->img, id);
}

static ssize_t shmem_index(struct rst_ctx *ctx, uint64_t id)
{
	return img_set_shmem_idx(&ctx->img, id);
}

bool rst_shmem_lazy(struct rst_ctx *ctx, uint64_t id)
{
	ssize_t i = shmem_index(ctx, id);
	return i >= 0 && ctx->img.shmems[i].se->has_lazy && ctx->img.shmems[i].se->lazy;
}

/* ---- shmem objects ---- */

/* Does restore write the pages of shmem object i itself (not the lazy-pages daemon)? */
static bool shmem_eager(struct rst_ctx *ctx, size_t i)
{
	const ShmemEntry *se = ctx->img.shmems[i].se;
	return !(ctx->opts->lazy_pages && se->has_lazy && se->lazy);
}

/* Write the pages of shmem object i (validated with the image set) into it, then
 * release its page set. */
static int shmem_fill_one(struct rst_ctx *ctx, size_t i)
{
	struct img_shmem *sh = &ctx->img.shmems[i];
	struct page_read *pr = &sh->pr;
	cleanup_free char *buf = NULL;
	int fd = ctx->shmem_fds[i];

	if (ctx->shmem_filled[i] || !sh->has_pages || !shmem_eager(ctx, i))
		return 0;
	buf = malloc(SHMEM_BUF_PAGES * PAGE_SIZE);
	if (!buf) {
		pr_perror("can't allocate the shmem fill buffer");
		return -1;
	}
	for (size_t k = 0; k < pr->nr_entries; k++) {
		const PagemapEntry *pe = pr->entries[k];
		if (!(pe->flags & PE_PRESENT))
			continue; /* zero pages stay holes */
		for (uint32_t done = 0; done < pe->nr_pages;) {
			uint32_t n = MIN(pe->nr_pages - done, SHMEM_BUF_PAGES);
			uint64_t off = pe->vaddr + (uint64_t)done * PAGE_SIZE;
			if (page_read_pages(pr, off, n, buf) < 0)
				return -1;
			if (pwrite_all(fd, buf, n * PAGE_SIZE, off) < 0) {
				pr_perror("can't write shmem object %" PRIu64 " at offset 0x%" PRIx64, sh->se->id, off);
				return -1;
			}
			done += n;
		}
	}
	page_read_close(pr);
	sh->has_pages = false;
	ctx->shmem_filled[i] = true;
	return 0;
}

static void shmem_seal(const ShmemEntry *se, int fd)
{
	if (se->kind == SHMEM_KIND_MEMFD && se->has_seals && se->seals &&
	    fcntl(fd, F_ADD_SEALS, se->seals) < 0)
		pr_warn("can't restore the seals 0x%x of memfd %" PRIu64 ", ignoring\n", se->seals, se->id);
}

/* An object sealed against writes is filled at once, before its seals; the others
 * later (F_SEAL_SEAL, GROW and SHRINK do not stop a pwrite within the size). */
static bool shmem_fill_now(const ShmemEntry *se)
{
	return se->kind == SHMEM_KIND_MEMFD && se->has_seals &&
	       (se->seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
}

int rst_shmem_fill(struct rst_ctx *ctx)
{
	uint64_t t0 = now_ns();

	for (size_t i = 0; ctx->shmem_filled && i < ctx->img.nr_shmems; i++)
		if (shmem_fill_one(ctx, i) < 0)
			return -1;
	pr_debug("shmem objects filled in %.1f ms\n", (now_ns() - t0) / 1e6);
	return 0;
}

void rst_shmem_fini(struct rst_ctx *ctx)
{
	free(ctx->shmem_filled);
	ctx->shmem_filled = NULL;
}

static int shmem_open(struct rst_ctx *ctx, size_t i)
{
	const ShmemEntry *se = ctx->img.shmems[i].se;
	cleanup_close int fd = -1;
	bool by_path = se->kind == SHMEM_KIND_FILE && se->name && !(se->has_unlinked && se->unlinked);

	if (se->kind == SHMEM_KIND_SYSV) {
		/* the segment, made by the root task in its IPC namespace (criu-lite/ns/ipc.c) */
		int sfd = ns_ipc_shm_fd(ctx, se->id);
		fd = sfd < 0 ? -1 : fcntl(sfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0) {
			pr_err("System V shmem object %" PRIu64 " has no segment\n", se->id);
			errno = ENOENT;
			return -1;
		}
	} else if (by_path) {
		fd = open(se->name, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			pr_perror("can't open shmem file %s", se->name);
			return -1;
		}
	} else {
		const char *name = se->kind == SHMEM_KIND_MEMFD && se->name ? se->name : "criu-lite-shmem";
		unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
		if (!strncmp(name, "memfd:", 6))
			name += 6;
		fd = memfd_create(name, flags);
		if (fd < 0) {
			pr_perror("can't create a memfd for shmem object %" PRIu64, se->id);
			return -1;
		}
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		pr_perror("can't stat shmem object %" PRIu64, se->id);
		return -1;
	}
	if ((uint64_t)st.st_size < se->size && se->kind != SHMEM_KIND_SYSV && ftruncate(fd, se->size) < 0) {
		pr_perror("can't size shmem object %" PRIu64 " to %" PRIu64 " bytes", se->id, se->size);
		return -1;
	}
	ctx->shmem_fds[i] = rst_svc_fd(ctx, steal_fd(&fd));
	if (ctx->shmem_fds[i] < 0)
		return -1;
	if (shmem_fill_now(se) && shmem_fill_one(ctx, i) < 0)
		return -1;
	shmem_seal(se, ctx->shmem_fds[i]);
	return ctx->shmem_fds[i];
}

/* ---- files ---- */

static int open_reg(const FileEntry *fe, bool dir)
{
	const RegFileEntry *r = fe->reg;
	int flags, fd;
	struct stat st;

	if (!r || !r->path) {
		pr_err("files.img: file %u has no path\n", fe->id);
		errno = EBADMSG;
		return -1;
	}
	if (r->has_unlinked && r->unlinked) {
		pr_err("file %u (%s) was unlinked at dump: not supported yet\n", fe->id, r->path);
		errno = ENOTSUP;
		return -1;
	}
	flags = r->has_flags ? (int)r->flags : O_RDONLY;
	flags &= ~(O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC);
	flags |= O_NOCTTY | O_CLOEXEC;
	if (dir)
		flags |= O_DIRECTORY;
	/* never block on a FIFO that took the file's place: non-blocking, then the real flags */
	fd = open(r->path, flags | O_NONBLOCK);
	if (fd < 0) {
		pr_perror("can't open %s (file %u)", r->path, fe->id);
		return -1;
	}
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		pr_perror("can't set the flags of %s", r->path);
		close(fd);
		return -1;
	}
	if (!dir && r->has_size && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size != r->size)
		pr_warn("%s is %" PRIu64 " bytes, it was %" PRIu64 " at dump, ignoring\n", r->path,
			(uint64_t)st.st_size, r->size);
	if (r->has_pos && r->pos && lseek(fd, r->pos, SEEK_SET) < 0) {
		pr_perror("can't seek %s to %" PRIu64, r->path, r->pos);
		close(fd);
		return -1;
	}
	return fd;
}

static int open_file(struct rst_ctx *ctx, const FileEntry *fe)
{
	int fd;

	switch (fe->type) {
	case FILE_TYPE_REG:
		return open_reg(fe, false);
	case FILE_TYPE_DIR:
		return open_reg(fe, true);
	case FILE_TYPE_CHR: {
		const ChrFileEntry *c = fe->chr;
		if (!c || !c->path) {
			pr_err("files.img: character device %u has no path\n", fe->id);
			errno = EBADMSG;
			return -1;
		}
		if (c->has_tty && c->tty && ctx->opts->shell_job) {
			if (ctx->tty_fd < 0) {
				pr_err("--shell-job: criu-lite has no terminal on stdin/stdout/stderr for %s\n",
				       c->path);
				errno = ENOTTY;
				return -1;
			}
			fd = fcntl(ctx->tty_fd, F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				pr_perror("can't dup the terminal");
			return fd;
		}
		fd = open(c->path, ((c->has_flags ? (int)c->flags : O_RDWR) & ~(O_CREAT | O_TRUNC | O_EXCL)) |
					   O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			pr_perror("can't open %s (file %u)", c->path, fe->id);
		return fd;
	}
	case FILE_TYPE_MEMFD: {
		const MemfdEntry *m = fe->memfd;
		char path[64];
		ssize_t si = m ? shmem_index(ctx, m->shmem_id) : -1;
		int flags;
		if (si < 0) {
			pr_err("files.img: memfd %u names no shmem object\n", fe->id);
			errno = EBADMSG;
			return -1;
		}
		flags = m->has_flags ? (int)(m->flags & O_ACCMODE) : O_RDWR;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", ctx->shmem_fds[si]);
		fd = open(path, flags | O_CLOEXEC | (m->has_flags ? (int)(m->flags & O_APPEND) : 0));
		if (fd < 0) {
			pr_perror("can't reopen memfd %u", fe->id);
			return -1;
		}
		if (m->has_pos && m->pos && lseek(fd, m->pos, SEEK_SET) < 0) {
			pr_perror("can't seek memfd %u", fe->id);
			close(fd);
			return -1;
		}
		return fd;
	}
	default:
		pr_err("file %u: type %u can't be restored: not supported yet\n", fe->id, fe->type);
		errno = ENOTSUP;
		return -1;
	}
}

/* An fd for mapping file_id (private or shared). */
static int open_for_map(struct rst_ctx *ctx, uint32_t file_id, bool rw)
{
	ssize_t fi = file_index(ctx, file_id);
	const FileEntry *fe;
	int fd;

	if (fi < 0) {
		pr_err("a VMA maps file %u, which is not in files.img\n", file_id);
		errno = EBADMSG;
		return -1;
	}
	fe = ctx->img.files[fi];
	if (fe->type == FILE_TYPE_MEMFD && fe->memfd) {
		ssize_t si = shmem_index(ctx, fe->memfd->shmem_id);
		if (si >= 0)
			return rst_svc_dup(ctx, ctx->shmem_fds[si]);
	}
	if (!fe->reg || !fe->reg->path) {
		pr_err("a VMA maps file %u, which has no path\n", file_id);
		errno = EBADMSG;
		return -1;
	}
	fd = open(fe->reg->path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		pr_perror("can't open %s to map it", fe->reg->path);
		return -1;
	}
	return rst_svc_fd(ctx, fd);
}

static int task_map_fds(struct rst_ctx *ctx, struct rst_task *t)
{
	const MmEntry *mm = t->img->mm;

	t->vma_fds = malloc((mm->n_vmas ? mm->n_vmas : 1) * sizeof(int));
	if (!t->vma_fds) {
		pr_perror("can't allocate the VMA fd table");
		return -1;
	}
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		int fd = -1;

		t->vma_fds[i] = -1;
		if (v->kind == VMA_KIND_SHMEM) {
			ssize_t si = v->has_shmem_id ? shmem_index(ctx, v->shmem_id) : -1;
			if (si < 0) {
				pr_err("mm-%u.img: shmem VMA %" PRIx64 " names no shmem object\n", t->img->pe->pid,
				       v->start);
				errno = EBADMSG;
				return -1;
			}
			fd = ctx->shmem_fds[si];
		} else if (v->kind == VMA_KIND_FILE_PRIVATE || v->kind == VMA_KIND_FILE_SHARED) {
			bool rw = v->kind == VMA_KIND_FILE_SHARED && (v->prot & PROT_WRITE);
			if (!v->has_file_id) {
				pr_err("mm-%u.img: file VMA %" PRIx64 " has no file\n", t->img->pe->pid, v->start);
				errno = EBADMSG;
				return -1;
			}
			/* reuse the fd of an earlier VMA of the same file and mode */
			for (size_t k = 0; k < i && fd < 0; k++) {
				const VmaEntry *p = mm->vmas[k];
				if (p->kind == v->kind && p->has_file_id && p->file_id == v->file_id &&
				    (v->kind == VMA_KIND_FILE_PRIVATE || (p->prot & PROT_WRITE) == (v->prot & PROT_WRITE)))
					fd = t->vma_fds[k];
			}
			if (fd < 0)
				fd = open_for_map(ctx, v->file_id, rw);
			if (fd < 0)
				return -1;
		}
		t->vma_fds[i] = fd;
	}
	t->exe_fd = -1;
	if (mm->has_exe_file_id) {
		ssize_t fi = file_index(ctx, mm->exe_file_id);
		if (fi >= 0 && ctx->img.files[fi]->reg && ctx->img.files[fi]->reg->path) {
			int fd = open(ctx->img.files[fi]->reg->path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				pr_warn("can't open %s for /proc/%u/exe, ignoring: %s\n", ctx->img.files[fi]->reg->path,
					t->img->pe->pid, strerror(errno));
			else
				t->exe_fd = rst_svc_fd(ctx, fd);
		}
	}
	if (t->img->has_pages) {
		t->pages_fd = rst_svc_dup(ctx, img_fd(t->img->pr.pages));
		if (t->pages_fd < 0)
			return -1;
	} else {
		t->pages_fd = -1;
	}
	return 0;
}

int rst_files_prepare(struct rst_ctx *ctx)
{
	return rst_files_base(ctx) < 0 ? -1 : rst_files_open(ctx);
}

int rst_files_base(struct rst_ctx *ctx)
{
	int max_fd = 2;
	struct rlimit rl;

	for (size_t i = 0; i < ctx->nr_tasks; i++)
		for (size_t k = 0; k < ctx->tasks[i].img->nr_fds; k++)
			max_fd = MAX(max_fd, (int)ctx->tasks[i].img->fds[k]->fd);
	ctx->svc_base = max_fd + 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max &&
	    rl.rlim_cur < (rlim_t)ctx->svc_base + 4096) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ctx->tty_fd = -1;
	if (ctx->opts->shell_job)
		for (int fd = 0; fd <= 2; fd++)
			if (isatty(fd)) {
				ctx->tty_fd = rst_svc_dup(ctx, fd);
				break;
			}

	ctx->shmem_fds = calloc(ctx->img.nr_shmems ? ctx->img.nr_shmems : 1, sizeof(int));
	ctx->file_fds = calloc(ctx->img.nr_files ? ctx->img.nr_files : 1, sizeof(int));
	if (!ctx->shmem_fds || !ctx->file_fds) {
		pr_perror("can't allocate fd tables");
		return -1;
	}
	for (size_t i = 0; i < ctx->img.nr_files; i++)
		ctx->file_fds[i] = -1;
	for (size_t i = 0; i < ctx->img.nr_shmems; i++)
		ctx->shmem_fds[i] = -1;
	return 0;
}

int rst_files_open(struct rst_ctx *ctx)
{
	ctx->shmem_filled = calloc(ctx->img.nr_shmems ? ctx->img.nr_shmems : 1, sizeof(*ctx->shmem_filled));
	if (!ctx->shmem_filled) {
		pr_perror("can't allocate fd tables");
		return -1;
	}
	for (size_t i = 0; i < ctx->img.nr_shmems; i++)
		if (shmem_open(ctx, i) < 0)
			return -1;
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct rst_task *t = &ctx->tasks[i];
		for (size_t k = 0; k < t->img->nr_fds; k++) {
			ssize_t fi = file_index(ctx, t->img->fds[k]->file_id); /* exists: validated */
			if (ctx->file_fds[fi] >= 0)
				continue;
			ctx->file_fds[fi] = rst_svc_fd(ctx, open_file(ctx, ctx->img.files[fi]));
			if (ctx->file_fds[fi] < 0)
				return -1;
		}
		if (task_map_fds(ctx, t) < 0)
			return -1;
	}
	return 0;
}

static void set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static int fd_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return x < y ? -1 : x > y;
}

int rst_files_install(struct rst_ctx *ctx, struct rst_task *t, char *err, size_t errlen)
{
	cleanup_free int *want = calloc(t->img->nr_fds + 1, sizeof(int));
	int prev = -1;

	if (!want) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < t->img->nr_fds; k++) {
		const FdinfoEntry *fi = t->img->fds[k];
		ssize_t idx = file_index(ctx, fi->file_id);
		int src = idx >= 0 ? ctx->file_fds[idx] : -1;
		if (src < 0 || (int)fi->fd >= ctx->svc_base) {
			set_err(err, errlen, "fd %u: file %u was not opened", fi->fd, fi->file_id);
			return -1;
		}
		if (dup3(src, fi->fd, fi->has_cloexec && fi->cloexec ? O_CLOEXEC : 0) < 0) {
			set_err(err, errlen, "can't install fd %u: %s", fi->fd, strerror(errno));
			return -1;
		}
		want[k] = fi->fd;
	}
	qsort(want, t->img->nr_fds, sizeof(int), fd_cmp);
	/* close everything below svc_base that the task did not have */
	for (size_t k = 0; k <= t->img->nr_fds; k++) {
		int next = k < t->img->nr_fds ? want[k] : ctx->svc_base;
		if (next > prev + 1)
			syscall(SYS_close_range, prev + 1, next - 1, 0);
		prev = next;
	}
	return 0;
}
