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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define LOG_PREFIX "restore: "
#include "include/log.h"
#include "include/util.h"
#include "criu-lite/restore.h"

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
	for (size_t i = 0; i < ctx->nr_files; i++)
		if (ctx->files[i]->id == id)
			return i;
	return -1;
}

static ssize_t shmem_index(struct rst_ctx *ctx, uint64_t id)
{
	for (size_t i = 0; i < ctx->nr_shmems; i++)
		if (ctx->shmems[i]->id == id)
			return i;
	return -1;
}

bool rst_shmem_lazy(struct rst_ctx *ctx, uint64_t id)
{
	ssize_t i = shmem_index(ctx, id);
	return i >= 0 && ctx->shmems[i]->has_lazy && ctx->shmems[i]->lazy;
}

/* ---- shmem objects ---- */

/*
 * Open and validate the page set of shmem object i, unless nothing of it is restored
 * here: a lazy object under --lazy-pages is served, every page of it, by the daemon,
 * which reads and checks its page set itself. 0 or -1 (logged).
 */
static int shmem_pages_open(struct rst_ctx *ctx, size_t i)
{
	const ShmemEntry *se = ctx->shmems[i];
	struct rst_shmem_fill *f = &ctx->shmem_fill[i];
	char id[40];

	if (ctx->opts->lazy_pages && se->has_lazy && se->lazy)
		return 0;
	snprintf(id, sizeof(id), "shmem-%" PRIu64, se->has_pages_id ? (uint64_t)se->pages_id : se->id);
	if (page_read_open(&f->pr, ctx->dfd, id, IMG_OPT_MISSING_OK) < 0) {
		if (errno == ENOENT)
			return 0; /* no pages: all holes */
		return -1;
	}
	f->open = true;
	for (size_t k = 0; k < f->pr.nr_entries; k++) {
		const PagemapEntry *pe = f->pr.entries[k];
		if (!(pe->flags & PE_PRESENT))
			continue;
		if (pe->vaddr + (uint64_t)pe->nr_pages * PAGE_SIZE > se->size) {
			pr_err("pagemap-%s.img: pages at offset 0x%" PRIx64 " lie beyond the object's %" PRIu64
			       " bytes\n",
			       id, pe->vaddr, se->size);
			errno = EBADMSG;
			return -1;
		}
	}
	return 0;
}

/* Write the pages of shmem object i (validated by shmem_pages_open) into it. */
static int shmem_fill_one(struct rst_ctx *ctx, size_t i)
{
	const ShmemEntry *se = ctx->shmems[i];
	struct rst_shmem_fill *f = &ctx->shmem_fill[i];
	struct page_read *pr = &f->pr;
	cleanup_free char *buf = NULL;
	int fd = ctx->shmem_fds[i];

	if (!f->open)
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
				pr_perror("can't write shmem object %" PRIu64 " at offset 0x%" PRIx64, se->id, off);
				return -1;
			}
			done += n;
		}
	}
	page_read_close(pr);
	f->open = false;
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

	for (size_t i = 0; i < ctx->nr_shmems; i++)
		if (ctx->shmem_fill && shmem_fill_one(ctx, i) < 0)
			return -1;
	pr_debug("shmem objects filled in %.1f ms\n", (now_ns() - t0) / 1e6);
	return 0;
}

void rst_shmem_fini(struct rst_ctx *ctx)
{
	for (size_t i = 0; ctx->shmem_fill && i < ctx->nr_shmems; i++)
		if (ctx->shmem_fill[i].open)
			page_read_close(&ctx->shmem_fill[i].pr);
	free(ctx->shmem_fill);
	ctx->shmem_fill = NULL;
}

static int shmem_open(struct rst_ctx *ctx, size_t i)
{
	const ShmemEntry *se = ctx->shmems[i];
	cleanup_close int fd = -1;
	bool by_path = se->kind == SHMEM_KIND_FILE && se->name && !(se->has_unlinked && se->unlinked);

	if (se->kind < SHMEM_KIND_ANON || se->kind > SHMEM_KIND_FILE) {
		pr_err("shmem.img: object %" PRIu64 " has unknown kind %u\n", se->id, se->kind);
		errno = EBADMSG;
		return -1;
	}
	if (shmem_pages_open(ctx, i) < 0)
		return -1;
	if (by_path) {
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
	if ((uint64_t)st.st_size < se->size && ftruncate(fd, se->size) < 0) {
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

/* ---- pipes ---- */

/* The pipe with inode ino, created (with its queued data) on first use. */
static struct rst_pipe *pipe_get(struct rst_ctx *ctx, uint64_t ino)
{
	struct rst_pipe *p;
	int fds[2];

	for (size_t i = 0; i < ctx->nr_pipes; i++)
		if (ctx->pipes[i].ino == ino)
			return &ctx->pipes[i];
	p = realloc(ctx->pipes, (ctx->nr_pipes + 1) * sizeof(*p));
	if (!p) {
		pr_perror("can't allocate a pipe");
		return NULL;
	}
	ctx->pipes = p;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		pr_perror("can't create pipe %" PRIu64, ino);
		return NULL;
	}
	p = &ctx->pipes[ctx->nr_pipes];
	p->ino = ino;
	p->rfd = rst_svc_fd(ctx, fds[0]);
	p->wfd = rst_svc_fd(ctx, fds[1]);
	if (p->rfd < 0 || p->wfd < 0)
		return NULL;
	ctx->nr_pipes++;
	/* size and queued data: from whichever entry of this pipe carries them */
	for (size_t i = 0; i < ctx->nr_files; i++) {
		const PipeEntry *pe = ctx->files[i]->pipe;
		if (ctx->files[i]->type != FILE_TYPE_PIPE || !pe || pe->pipe_ino != ino)
			continue;
		if (pe->has_size && pe->size && fcntl(p->wfd, F_SETPIPE_SZ, pe->size) < 0)
			pr_warn("can't size pipe %" PRIu64 " to %u bytes, ignoring: %s\n", ino, pe->size,
				strerror(errno));
		if (pe->has_data && pe->data.len) {
			int fl = fcntl(p->wfd, F_GETFL);
			fcntl(p->wfd, F_SETFL, fl | O_NONBLOCK);
			if (write_all(p->wfd, pe->data.data, pe->data.len) < 0) {
				pr_perror("can't queue %zu bytes into pipe %" PRIu64, pe->data.len, ino);
				return NULL;
			}
			fcntl(p->wfd, F_SETFL, fl);
		}
	}
	return p;
}

static int open_pipe(struct rst_ctx *ctx, const FileEntry *fe)
{
	const PipeEntry *pe = fe->pipe;
	struct rst_pipe *p;
	int flags, fd;

	if (!pe) {
		pr_err("files.img: pipe %u has no state\n", fe->id);
		errno = EBADMSG;
		return -1;
	}
	p = pipe_get(ctx, pe->pipe_ino);
	if (!p)
		return -1;
	flags = pe->has_flags ? (int)pe->flags : O_RDONLY;
	fd = fcntl((flags & O_ACCMODE) == O_WRONLY ? p->wfd : p->rfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		pr_perror("can't dup pipe %" PRIu64, pe->pipe_ino);
		return -1;
	}
	if ((flags & O_NONBLOCK) && fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		pr_perror("can't make pipe %" PRIu64 " non-blocking", pe->pipe_ino);
		close(fd);
		return -1;
	}
	return fd;
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
	case FILE_TYPE_PIPE:
		return open_pipe(ctx, fe);
	case FILE_TYPE_EVENTFD: {
		const EventfdEntry *e = fe->eventfd;
		int flags = EFD_CLOEXEC;
		if (!e) {
			errno = EBADMSG;
			pr_err("files.img: eventfd %u has no state\n", fe->id);
			return -1;
		}
		if (e->has_flags && (e->flags & O_NONBLOCK))
			flags |= EFD_NONBLOCK;
		if (e->has_semaphore && e->semaphore)
			flags |= EFD_SEMAPHORE;
		fd = eventfd(0, flags);
		if (fd < 0) {
			pr_perror("can't create eventfd %u", fe->id);
			return -1;
		}
		if (e->counter && write_all(fd, &e->counter, sizeof(e->counter)) < 0) {
			pr_perror("can't set eventfd %u's counter", fe->id);
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
	fe = ctx->files[fi];
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
	const MmEntry *mm = t->mm;

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
				pr_err("mm-%u.img: shmem VMA %" PRIx64 " names no shmem object\n", t->pe->pid,
				       v->start);
				errno = EBADMSG;
				return -1;
			}
			fd = ctx->shmem_fds[si];
		} else if (v->kind == VMA_KIND_FILE_PRIVATE || v->kind == VMA_KIND_FILE_SHARED) {
			bool rw = v->kind == VMA_KIND_FILE_SHARED && (v->prot & PROT_WRITE);
			if (!v->has_file_id) {
				pr_err("mm-%u.img: file VMA %" PRIx64 " has no file\n", t->pe->pid, v->start);
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
		if (fi >= 0 && ctx->files[fi]->reg && ctx->files[fi]->reg->path) {
			int fd = open(ctx->files[fi]->reg->path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				pr_warn("can't open %s for /proc/%u/exe, ignoring: %s\n", ctx->files[fi]->reg->path,
					t->pe->pid, strerror(errno));
			else
				t->exe_fd = rst_svc_fd(ctx, fd);
		}
	}
	if (t->has_pages) {
		t->pages_fd = rst_svc_dup(ctx, img_fd(t->pr.pages));
		if (t->pages_fd < 0)
			return -1;
	} else {
		t->pages_fd = -1;
	}
	return 0;
}

int rst_files_prepare(struct rst_ctx *ctx)
{
	int max_fd = 2;
	struct rlimit rl;

	for (size_t i = 0; i < ctx->nr_tasks; i++)
		for (size_t k = 0; k < ctx->tasks[i].nr_fds; k++)
			max_fd = MAX(max_fd, (int)ctx->tasks[i].fds[k]->fd);
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

	ctx->shmem_fds = calloc(ctx->nr_shmems ? ctx->nr_shmems : 1, sizeof(int));
	ctx->file_fds = calloc(ctx->nr_files ? ctx->nr_files : 1, sizeof(int));
	if (!ctx->shmem_fds || !ctx->file_fds) {
		pr_perror("can't allocate fd tables");
		return -1;
	}
	for (size_t i = 0; i < ctx->nr_files; i++)
		ctx->file_fds[i] = -1;
	ctx->shmem_fill = calloc(ctx->nr_shmems ? ctx->nr_shmems : 1, sizeof(*ctx->shmem_fill));
	if (!ctx->shmem_fill) {
		pr_perror("can't allocate fd tables");
		return -1;
	}
	for (size_t i = 0; i < ctx->nr_shmems; i++)
		ctx->shmem_fds[i] = -1;
	for (size_t i = 0; i < ctx->nr_shmems; i++)
		if (shmem_open(ctx, i) < 0)
			return -1;
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct rst_task *t = &ctx->tasks[i];
		for (size_t k = 0; k < t->nr_fds; k++) {
			ssize_t fi = file_index(ctx, t->fds[k]->file_id);
			if (fi < 0) {
				pr_err("fdinfo-%u.img: fd %u names file %u, which is not in files.img\n", t->pe->pid,
				       t->fds[k]->fd, t->fds[k]->file_id);
				errno = EBADMSG;
				return -1;
			}
			if (ctx->file_fds[fi] >= 0)
				continue;
			ctx->file_fds[fi] = rst_svc_fd(ctx, open_file(ctx, ctx->files[fi]));
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
	cleanup_free int *want = calloc(t->nr_fds + 1, sizeof(int));
	int prev = -1;

	if (!want) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < t->nr_fds; k++) {
		const FdinfoEntry *fi = t->fds[k];
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
	qsort(want, t->nr_fds, sizeof(int), fd_cmp);
	/* close everything below svc_base that the task did not have */
	for (size_t k = 0; k <= t->nr_fds; k++) {
		int next = k < t->nr_fds ? want[k] : ctx->svc_base;
		if (next > prev + 1)
			syscall(SYS_close_range, prev + 1, next - 1, 0);
		prev = next;
	}
	return 0;
}
