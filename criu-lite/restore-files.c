/*
 * restore-files: shmem objects, open files, the fds the blob maps from, and the
 * installation of each task's descriptor table.
 *
 * Everything is opened once, in the criu-lite parent, as "service fds" numbered at
 * or above ctx->svc_base (above every dumped fd), so that tasks forked from it share
 * the same open file descriptions (offsets, flags) the dumped tasks shared; each
 * description's kind (criu-lite/files/) opens it. Descriptions that can only be
 * opened once every task exists ("late": /proc/PID/... of the tree) are opened by
 * the parent then and sent to the tasks holding them over a unix socket
 * (SCM_RIGHTS). A task runs the post_open() of the objects it completes (epoll
 * interest lists), dup3()s its own fds into place and closes everything else below
 * svc_base; the blob closes the service fds before the final sigreturn.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#define LOG_PREFIX "restore: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/restore-ctx.h"
#include "criu-lite/files/files.h"
#include "criu-lite/ns/ipc.h"
#include "criu-lite/ns/pid.h"

#define SHMEM_BUF_PAGES 512u

static void svc_track(struct rst_ctx *ctx, int fd)
{
	if (fd < 0)
		return;
	if (ctx->nr_svc_fds == ctx->cap_svc_fds) {
		size_t ncap = ctx->cap_svc_fds ? ctx->cap_svc_fds * 2 : 64;
		int *n = realloc(ctx->svc_fds, ncap * sizeof(*n));
		if (!n)
			return; /* it stays open until exit: harmless */
		ctx->svc_fds = n;
		ctx->cap_svc_fds = ncap;
	}
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
	ctx->nr_svc_fds = ctx->cap_svc_fds = 0;
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

/*
 * Write len bytes at off into a shmem object without growing it: what lies past its
 * size, in the page that holds its end, goes in through a mapping (where a program
 * that mapped the object could have written it). 0 or -1 (logged).
 */
static int shmem_write(int fd, const ShmemEntry *se, const char *buf, uint64_t len, uint64_t off)
{
	uint64_t in = off < se->size ? MIN(len, se->size - off) : 0;
	uint64_t eof_pg = ALIGN_DOWN(se->size, PAGE_SIZE), from = MAX(off, se->size);
	char *m;

	if (in && pwrite_all(fd, buf, in, (off_t)off) < 0) {
		pr_perror("can't write shmem object %" PRIu64 " at offset 0x%" PRIx64, se->id, off);
		return -1;
	}
	if (in == len)
		return 0;
	if (off + len > eof_pg + PAGE_SIZE) {
		pr_err("shmem object %" PRIu64 ": pages at 0x%" PRIx64 " lie past its %" PRIu64 " bytes\n", se->id,
		       off, se->size);
		errno = EINVAL;
		return -1;
	}
	/* the tail of the last page (the image set was checked: nothing lies further) */
	m = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)eof_pg);
	if (m == MAP_FAILED) {
		pr_perror("can't map the last page of shmem object %" PRIu64, se->id);
		return -1;
	}
	memcpy(m + (from - eof_pg), buf + (from - off), off + len - from);
	munmap(m, PAGE_SIZE);
	return 0;
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
			if (shmem_write(fd, sh->se, buf, n * PAGE_SIZE, off) < 0)
				return -1;
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

/* The object of a shared anonymous mapping, as the kernel makes it ("/dev/zero
 * (deleted)"): a mapping of our own, reopened through /proc/self/map_files. */
static int shmem_anon_object(uint64_t size)
{
	size_t len = ALIGN_UP(size ? size : PAGE_SIZE, PAGE_SIZE);
	char path[64];
	void *p = mmap(NULL, len, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int fd;

	if (p == MAP_FAILED) {
		pr_perror("can't create a shared anonymous object of %zu bytes", len);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)p, (unsigned long)p + len);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		pr_perror("can't open %s", path);
	munmap(p, len);
	return fd;
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
	} else if (se->kind == SHMEM_KIND_ANON) {
		fd = shmem_anon_object(se->size);
		if (fd < 0)
			return -1;
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

/* ---- open file descriptions ---- */

#define LOCK_POSIX 1
#define LOCK_FLOCK 2
#define LOCK_OFD 3

static struct rst_file *rfile_of(struct rst_ctx *ctx, uint32_t id)
{
	ssize_t i = file_index(ctx, id);
	return i < 0 ? NULL : &ctx->rfiles[i];
}

/* Move every description of the object rf heads to service fds. */
static int rfile_to_svc(struct rst_ctx *ctx, struct rst_file *rf)
{
	int ret = 0;

	for (struct rst_file *d = rf; d; d = d->obj_next) {
		d->opened = true;
		if (d->fd < 0) {
			pr_err("file %u (%s) was not opened\n", d->fe->id, d->ops->name);
			ret = -1;
			continue;
		}
		d->fd = rst_svc_fd(ctx, d->fd);
		if (d->fd < 0)
			ret = -1;
	}
	return ret;
}

struct inherit_use {
	const struct cr_options *opts;
	bool *used; /* per opts->inherit_fd[] */
};

/* --inherit-fd naming this description: its fd (a copy), else -1. */
static int inherited(struct rst_ctx *ctx, struct rst_file *rf, bool *used)
{
	char key[PROC_PATH_MAX];

	if (!ctx->opts->nr_inherit_fd || !rf->ops->inherit_key || rf->ops->obj_key ||
	    rf->ops->inherit_key(rf->fe, key, sizeof(key)) < 0)
		return -1;
	for (size_t i = 0; i < ctx->opts->nr_inherit_fd; i++)
		if (!strcmp(ctx->opts->inherit_fd[i].key, key)) {
			int fd = fcntl(ctx->opts->inherit_fd[i].fd, F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				pr_perror("--inherit-fd fd[%d]:%s", ctx->opts->inherit_fd[i].fd, key);
			used[i] = true;
			return fd < 0 ? -2 : fd;
		}
	return -1;
}

/* Open the object rf heads (every description with its obj_key). 0 or -1 (logged). */
static int rfile_open(struct rst_ctx *ctx, struct rst_file *rf, bool *used)
{
	int fd = inherited(ctx, rf, used);

	if (fd == -2)
		return -1;
	if (fd >= 0) {
		rf->fd = fd;
		pr_info("file %u (%s): fd %d given with --inherit-fd\n", rf->fe->id, rf->ops->name, fd);
	} else if (rf->ops->open(ctx, rf) < 0) {
		for (struct rst_file *d = rf; d; d = d->obj_next)
			if (d->fd >= 0) {
				close(d->fd);
				d->fd = -1;
			}
		return -1;
	}
	return rfile_to_svc(ctx, rf);
}

static int cmp_obj(const void *a, const void *b)
{
	const struct rst_file *x = *(const struct rst_file *const *)a, *y = *(const struct rst_file *const *)b;
	uint64_t kx = x->ops->obj_key(x->fe), ky = y->ops->obj_key(y->fe);

	if (x->fe->type != y->fe->type)
		return x->fe->type < y->fe->type ? -1 : 1;
	if (kx != ky)
		return kx < ky ? -1 : 1;
	return x->fe->id < y->fe->id ? -1 : x->fe->id > y->fe->id;
}

/* Chain the descriptions of each object (same type and obj_key) through obj_next;
 * only the first of a chain is opened. Returns the number of heads, or -1. */
static int link_objects(struct rst_ctx *ctx, bool *is_member)
{
	cleanup_free struct rst_file **v = NULL;
	size_t nr = 0;

	for (size_t i = 0; i < ctx->img.nr_files; i++)
		if (ctx->rfiles[i].needed && ctx->rfiles[i].ops->obj_key)
			nr++;
	if (!nr)
		return 0;
	v = malloc(nr * sizeof(*v));
	if (!v) {
		pr_perror("can't allocate the object list");
		return -1;
	}
	nr = 0;
	for (size_t i = 0; i < ctx->img.nr_files; i++)
		if (ctx->rfiles[i].needed && ctx->rfiles[i].ops->obj_key)
			v[nr++] = &ctx->rfiles[i];
	qsort(v, nr, sizeof(*v), cmp_obj);
	for (size_t i = 1; i < nr; i++)
		if (v[i]->fe->type == v[i - 1]->fe->type &&
		    v[i]->ops->obj_key(v[i]->fe) == v[i - 1]->ops->obj_key(v[i - 1]->fe)) {
			v[i - 1]->obj_next = v[i];
			is_member[v[i] - ctx->rfiles] = true;
		}
	return 0;
}

/* The file entries: their kinds, which ones the tasks need, and which are late. */
static int rfiles_init(struct rst_ctx *ctx)
{
	ctx->rfiles = calloc(ctx->img.nr_files ? ctx->img.nr_files : 1, sizeof(*ctx->rfiles));
	if (!ctx->rfiles) {
		pr_perror("can't allocate the file table");
		return -1;
	}
	for (size_t i = 0; i < ctx->img.nr_files; i++) {
		struct rst_file *rf = &ctx->rfiles[i];
		rf->fe = ctx->img.files[i];
		rf->fd = -1;
		rf->post_task = -1;
		rf->ops = fd_kind_of_type(rf->fe->type);
		if (!rf->ops) {
			pr_err("file %u: type %u can't be restored by this criu-lite\n", rf->fe->id, rf->fe->type);
			errno = ENOTSUP;
			return -1;
		}
		rf->late = rf->ops->late && rf->ops->late(rf->fe);
		rf->lock_task = -1;
	}
	/* what queued messages carry must exist too */
	for (size_t i = 0; i < ctx->img.nr_file_data; i++)
		for (size_t k = 0; k < ctx->img.file_data[i]->n_fds; k++)
			rfile_of(ctx, ctx->img.file_data[i]->fds[k])->needed = true; /* exists: validated */
	/* fd tables shared with the parent (CLONE_FILES): the parent installs them */
	for (size_t i = 1; i < ctx->nr_tasks; i++) {
		struct rst_task *t = &ctx->tasks[i];
		ssize_t p = img_set_task_idx(&ctx->img, t->img->pe->ppid);
		const PstreeEntry *pe = t->img->pe, *ppe = p >= 0 ? ctx->tasks[p].img->pe : NULL;
		if (ppe && pe->has_files_id && ppe->has_files_id && pe->files_id == ppe->files_id) {
			t->shares_files = true;
			t->svc_close_late = ctx->tasks[p].svc_close_late = true;
		}
	}
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct rst_task *t = &ctx->tasks[i];
		t->late_sock = -1;
		t->nr_late = 0;
		for (size_t k = 0; k < t->img->nr_fds && !t->shares_files; k++) {
			struct rst_file *rf = rfile_of(ctx, t->img->fds[k]->file_id); /* exists: validated */
			rf->needed = true;
			if (rf->late)
				t->nr_late++;
			if (rf->ops->post_open && rf->post_task < 0)
				rf->post_task = i;
			/* flock and OFD locks belong to the description: taken by the task /proc/locks
			 * named, if it holds it, else by the first that does */
			for (size_t l = 0; l < rf->fe->n_locks; l++) {
				const FileLockEntry *lk = rf->fe->locks[l];
				if (lk->kind == LOCK_POSIX)
					continue;
				if (rf->lock_task < 0 || (lk->has_pid && (uint32_t)lk->pid == ns_rst_img_pid(ctx, i)))
					rf->lock_task = i;
			}
		}
	}
	return 0;
}

/* A socket for each task that holds late files. */
static int late_socks_prepare(struct rst_ctx *ctx)
{
	ctx->late_socks = malloc((ctx->nr_tasks ? ctx->nr_tasks : 1) * sizeof(int));
	if (!ctx->late_socks) {
		pr_perror("can't allocate the late sockets");
		return -1;
	}
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct rst_task *t = &ctx->tasks[i];
		int sv[2];

		ctx->late_socks[i] = -1;
		if (!t->nr_late)
			continue;
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
			pr_perror("can't create a socket pair for the late files of task %u", t->img->pe->pid);
			return -1;
		}
		ctx->late_socks[i] = rst_svc_fd(ctx, sv[0]);
		t->late_sock = rst_svc_fd(ctx, sv[1]);
		if (ctx->late_socks[i] < 0 || t->late_sock < 0)
			return -1;
	}
	return 0;
}

/* Whether key is what --inherit-fd names a file of the tree by (a pipe's end, which
 * its object's open takes from the options itself). */
static bool names_a_file(struct rst_ctx *ctx, const char *key)
{
	char k[PROC_PATH_MAX];

	for (size_t i = 0; i < ctx->img.nr_files; i++) {
		const struct rst_file *rf = &ctx->rfiles[i];
		if (rf->needed && rf->ops && rf->ops->inherit_key && rf->ops->inherit_key(rf->fe, k, sizeof(k)) == 0 &&
		    !strcmp(k, key))
			return true;
	}
	return false;
}

static int open_files(struct rst_ctx *ctx)
{
	cleanup_free bool *member = calloc(ctx->img.nr_files ? ctx->img.nr_files : 1, sizeof(bool));
	cleanup_free bool *used = calloc(ctx->opts->nr_inherit_fd + 1, sizeof(bool));

	if (!member || !used) {
		pr_perror("can't allocate the file table");
		return -1;
	}
	if (link_objects(ctx, member) < 0)
		return -1;
	for (size_t i = 0; i < ctx->img.nr_files; i++) {
		struct rst_file *rf = &ctx->rfiles[i];
		if (!rf->needed || rf->late || member[i])
			continue;
		if (rfile_open(ctx, rf, used) < 0)
			return -1;
	}
	for (size_t i = 0; i < ctx->opts->nr_inherit_fd; i++)
		if (!used[i] && !names_a_file(ctx, ctx->opts->inherit_fd[i].key))
			pr_warn("--inherit-fd fd[%d]:%s names no file of the dumped tree that criu-lite connects to "
				"an inherited fd, ignoring\n", ctx->opts->inherit_fd[i].fd, ctx->opts->inherit_fd[i].key);
	return 0;
}

/* An fd for mapping file_id (private or shared), opened with the mode of its entry. */
static int open_for_map(struct rst_ctx *ctx, uint32_t file_id)
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
	if (fe->reg->has_ghost_id) {
		/* an unlinked file: the one created again */
		int g = reg_ghost_fd(ctx, fe);
		if (g < 0)
			return -1;
		return rst_svc_fd(ctx, files_reopen(g, (int)((fe->reg->has_flags ? fe->reg->flags : O_RDONLY) & O_ACCMODE),
							 fe->reg->path));
	}
	fd = open(fe->reg->path, ((fe->reg->has_flags ? fe->reg->flags : O_RDONLY) & O_ACCMODE) | O_CLOEXEC);
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
			if (!v->has_file_id) {
				pr_err("mm-%u.img: file VMA %" PRIx64 " has no file\n", t->img->pe->pid, v->start);
				errno = EBADMSG;
				return -1;
			}
			/* reuse the fd of an earlier VMA of the same file entry (same file, same mode) */
			for (size_t k = 0; k < i && fd < 0; k++) {
				const VmaEntry *p = mm->vmas[k];
				if ((p->kind == VMA_KIND_FILE_PRIVATE || p->kind == VMA_KIND_FILE_SHARED) &&
				    p->has_file_id && p->file_id == v->file_id)
					fd = t->vma_fds[k];
			}
			if (fd < 0)
				fd = open_for_map(ctx, v->file_id);
			if (fd < 0)
				return -1;
		}
		t->vma_fds[i] = fd;
	}
	t->exe_fd = -1;
	if (mm->has_exe_file_id) {
		ssize_t fi = file_index(ctx, mm->exe_file_id);
		if (fi >= 0 && ctx->img.files[fi]->reg && ctx->img.files[fi]->reg->path) {
			const FileEntry *xe = ctx->img.files[fi];
			int g = xe->reg->has_ghost_id ? reg_ghost_fd(ctx, xe) : -1;
			int fd = xe->reg->has_ghost_id ? (g < 0 ? -1 : files_reopen(g, O_RDONLY, xe->reg->path))
						       : open(xe->reg->path, O_RDONLY | O_CLOEXEC);
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
	/* fd numbers the entries refer to (epoll targets) are put in place too */
	for (size_t i = 0; i < ctx->img.nr_files; i++) {
		const struct fd_ops *ops = fd_kind_of_type(ctx->img.files[i]->type);
		if (ops && ops->max_fd)
			max_fd = MAX(max_fd, (int)ops->max_fd(ctx->img.files[i]));
	}
	ctx->svc_base = max_fd + 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max &&
	    rl.rlim_cur < (rlim_t)ctx->svc_base + ctx->img.nr_files + 4096) {
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
	if (!ctx->shmem_fds) {
		pr_perror("can't allocate fd tables");
		return -1;
	}
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
	if (rfiles_init(ctx) < 0 || open_files(ctx) < 0 || late_socks_prepare(ctx) < 0)
		return -1;
	for (size_t i = 0; i < ctx->nr_tasks; i++)
		if (!img_task_zombie(ctx->tasks[i].img) && task_map_fds(ctx, &ctx->tasks[i]) < 0)
			return -1;
	return 0;
}

/* ---- late files ---- */

#define LATE_WAIT_S 30

/* Every task of the tree exists (it may not run yet)? */
static int wait_all_created(struct rst_ctx *ctx)
{
	uint64_t deadline = now_ns() + LATE_WAIT_S * 1000000000ULL;

	for (size_t i = 0; i < ctx->nr_tasks;) {
		char path[32];
		snprintf(path, sizeof(path), "/proc/%u", ctx->tasks[i].img->pe->pid);
		if (access(path, F_OK) == 0) {
			i++;
			continue;
		}
		if (__atomic_load_n(&ctx->sync->abort, __ATOMIC_SEQ_CST))
			return -1; /* the failing task says why */
		if (now_ns() > deadline) {
			pr_err("task %u was not created within %d s\n", ctx->tasks[i].img->pe->pid, LATE_WAIT_S);
			return -1;
		}
		usleep(500);
	}
	return 0;
}

int rst_files_late(struct rst_ctx *ctx)
{
	bool any = false;
	cleanup_free bool *used = calloc(ctx->opts->nr_inherit_fd + 1, sizeof(bool));

	if (!used) {
		pr_perror("can't allocate the inherit table");
		return -1;
	}
	for (size_t i = 0; i < ctx->nr_tasks; i++)
		any |= ctx->tasks[i].nr_late > 0;
	/* (no files here when the root task opens them: a tree in namespaces of its own) */
	for (size_t i = 0; ctx->rfiles && i < ctx->img.nr_files; i++)
		any |= ctx->rfiles[i].opened && ctx->rfiles[i].ops->fill;
	if (!any)
		return 0;
	if (wait_all_created(ctx) < 0)
		return -1;
	for (size_t i = 0; i < ctx->img.nr_files; i++) {
		struct rst_file *rf = &ctx->rfiles[i];
		if (rf->needed && rf->late && !rf->opened && rfile_open(ctx, rf, used) < 0)
			return -1;
	}
	for (size_t i = 0; i < ctx->nr_tasks; i++) {
		struct rst_task *t = &ctx->tasks[i];
		for (size_t k = 0; k < t->img->nr_fds && t->nr_late; k++) {
			ssize_t fi = file_index(ctx, t->img->fds[k]->file_id);
			if (ctx->rfiles[fi].late && send_fd(ctx->late_socks[i], (uint32_t)fi, ctx->rfiles[fi].fd) < 0) {
				pr_perror("can't send a late file to a task");
				return -1;
			}
		}
	}
	pr_debug("late files sent to their tasks\n");
	/* every object head whose kind fills it now (socket queues) */
	for (size_t i = 0; i < ctx->img.nr_files; i++) {
		struct rst_file *rf = &ctx->rfiles[i];
		if (rf->opened && rf->priv && rf->ops->fill && rf->ops->fill(ctx, rf) < 0)
			return -1;
	}
	return 0;
}

int rst_files_parent_fd(const struct rst_ctx *ctx, size_t i)
{
	const struct rst_file *rf = ctx->rfiles && i < ctx->img.nr_files ? &ctx->rfiles[i] : NULL;

	/* a TCP connection leaves repair mode at resume (net_restore_resume) */
	if (!rf || rf->fd < 0 || rf->fe->type != FILE_TYPE_INET || !rf->fe->inet || !rf->fe->inet->tcp)
		return -1;
	return rf->fd;
}

int rst_files_adopt(struct rst_ctx *ctx, size_t i, int fd)
{
	if (i >= ctx->img.nr_files || fd < 0) {
		pr_err("file %zu, fd %d: no such file to take\n", i, fd);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!ctx->rfiles) {
		ctx->rfiles = calloc(ctx->img.nr_files, sizeof(*ctx->rfiles));
		if (!ctx->rfiles) {
			pr_perror("can't allocate the file table");
			close(fd);
			return -1;
		}
		for (size_t k = 0; k < ctx->img.nr_files; k++) {
			ctx->rfiles[k].fe = ctx->img.files[k];
			ctx->rfiles[k].ops = fd_kind_of_type(ctx->img.files[k]->type);
			ctx->rfiles[k].fd = -1;
			ctx->rfiles[k].post_task = -1;
		}
	}
	if (ctx->rfiles[i].fd >= 0) {
		pr_err("file %u was taken twice\n", ctx->rfiles[i].fe->id);
		close(fd);
		return -1;
	}
	ctx->rfiles[i].fd = rst_svc_fd(ctx, fd);
	return ctx->rfiles[i].fd < 0 ? -1 : 0;
}

void rst_files_fini(struct rst_ctx *ctx)
{
	for (size_t i = 0; ctx->rfiles && i < ctx->img.nr_files; i++)
		if (ctx->rfiles[i].priv && ctx->rfiles[i].ops->rst_free)
			ctx->rfiles[i].ops->rst_free(&ctx->rfiles[i]);
	free(ctx->rfiles);
	ctx->rfiles = NULL;
	free(ctx->late_socks);
	ctx->late_socks = NULL;
}

/* ---- in a task ---- */

static void set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* Receive the task's late files from criu-lite: each one's fd, above svc_base. */
static int recv_late(struct rst_ctx *ctx, struct rst_task *t, char *err, size_t errlen)
{
	for (size_t n = 0; n < t->nr_late; n++) {
		uint32_t idx;
		int fd, sfd, r;

		do
			r = recv_fd(t->late_sock, &idx, &fd);
		while (r < 0 && errno == EINTR);
		if (r < 0 || fd < 0 || idx >= ctx->img.nr_files) {
			set_err(err, errlen, "can't receive late file %zu of %zu: %s", n + 1, t->nr_late,
				r < 0 ? strerror(errno) : "bad message");
			if (fd >= 0)
				close(fd);
			return -1;
		}
		/* out of the way of the fds the task is about to install */
		sfd = fcntl(fd, F_DUPFD_CLOEXEC, ctx->svc_base);
		close(fd);
		if (sfd < 0) {
			set_err(err, errlen, "can't move late file %u above fd %d: %s", ctx->rfiles[idx].fe->id,
				ctx->svc_base, strerror(errno));
			return -1;
		}
		ctx->rfiles[idx].fd = sfd; /* this task's copy of the table */
	}
	close(t->late_sock);
	return 0;
}

static int take_locks(struct rst_ctx *ctx, struct rst_task *t, size_t idx, char *err, size_t errlen);

static int fd_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return x < y ? -1 : x > y;
}

int rst_files_before_children(struct rst_ctx *ctx, struct rst_task *t, char *err, size_t errlen)
{
	for (size_t k = 0; k < t->img->nr_fds; k++) {
		struct rst_file *rf = rfile_of(ctx, t->img->fds[k]->file_id);
		if (rf && rf->ops->before_children && rf->ops->before_children(ctx, rf, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int rst_files_install(struct rst_ctx *ctx, struct rst_task *t, char *err, size_t errlen)
{
	cleanup_free int *want = calloc(t->img->nr_fds + 1, sizeof(int));
	size_t idx = t - ctx->tasks;
	int prev = -1;

	if (!want) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	if (t->shares_files)
		return 0; /* the parent's table: installed by the parent */
	if (t->late_sock >= 0 && recv_late(ctx, t, err, errlen) < 0)
		return -1;
	for (size_t k = 0; k < t->img->nr_fds; k++) {
		struct rst_file *rf = rfile_of(ctx, t->img->fds[k]->file_id);
		if (rf && rf->post_task == (ssize_t)idx && rf->ops->post_open(ctx, rf, err, errlen) < 0)
			return -1;
	}
	for (size_t k = 0; k < t->img->nr_fds; k++) {
		const FdinfoEntry *fi = t->img->fds[k];
		struct rst_file *rf = rfile_of(ctx, fi->file_id);
		int src = rf ? rf->fd : -1;
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
	return take_locks(ctx, t, idx, err, errlen);
}

/* The flock and OFD locks this task takes again, through its own fds. */
static int take_locks(struct rst_ctx *ctx, struct rst_task *t, size_t idx, char *err, size_t errlen)
{
	for (size_t k = 0; k < t->img->nr_fds; k++) {
		const FdinfoEntry *fi = t->img->fds[k];
		struct rst_file *rf = rfile_of(ctx, fi->file_id);
		if (!rf || rf->lock_task != (ssize_t)idx || rf->locked)
			continue;
		rf->locked = true;
		for (size_t l = 0; l < rf->fe->n_locks; l++) {
			const FileLockEntry *lk = rf->fe->locks[l];
			int r = 0;
			if (lk->kind == LOCK_FLOCK) {
				r = flock((int)fi->fd, (lk->type == F_WRLCK ? LOCK_EX : LOCK_SH) | LOCK_NB);
			} else if (lk->kind == LOCK_OFD) {
				struct flock fl = { .l_type = (short)lk->type, .l_whence = SEEK_SET, .l_start = (off_t)lk->start,
						    .l_len = lk->has_end ? (off_t)(lk->end - lk->start + 1) : 0 };
				r = fcntl((int)fi->fd, F_OFD_SETLK, &fl);
			}
			if (r < 0) {
				set_err(err, errlen, "can't take the %s %s lock of fd %u again: %s",
					lk->kind == LOCK_FLOCK ? "flock" : "OFD", lk->type == F_WRLCK ? "write" : "read", fi->fd,
					strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

int rst_files_posix_locks(struct rst_ctx *ctx, struct rst_task *t, struct rst_args *a, char *err, size_t errlen)
{
	a->nr_locks = 0;
	for (size_t k = 0; k < t->img->nr_fds; k++) {
		const FdinfoEntry *fi = t->img->fds[k];
		struct rst_file *rf = rfile_of(ctx, fi->file_id);
		bool first = true;
		if (!rf || !rf->fe->n_locks)
			continue;
		for (size_t j = 0; j < k && first; j++)
			first = t->img->fds[j]->file_id != fi->file_id;
		if (!first)
			continue;
		for (size_t l = 0; l < rf->fe->n_locks; l++) {
			const FileLockEntry *lk = rf->fe->locks[l];
			struct rst_flock *fl;
			if (lk->kind != LOCK_POSIX || !lk->has_pid || (uint32_t)lk->pid != ns_rst_img_pid(ctx, (size_t)(t - ctx->tasks)))
				continue;
			if (t->svc_close_late) {
				set_err(err, errlen, "POSIX locks of a task sharing its fd table: not supported");
				return -1;
			}
			if (a->nr_locks == RST_MAX_LOCKS) {
				set_err(err, errlen, "more than %d POSIX locks: not supported", RST_MAX_LOCKS);
				return -1;
			}
			a->lock_fds[a->nr_locks] = (int)fi->fd;
			fl = &a->locks[a->nr_locks++];
			memset(fl, 0, sizeof(*fl));
			fl->l_type = (rst_s16)lk->type;
			fl->l_whence = SEEK_SET;
			fl->l_start = (rst_s64)lk->start;
			fl->l_len = lk->has_end ? (rst_s64)(lk->end - lk->start + 1) : 0;
		}
	}
	return 0;
}
