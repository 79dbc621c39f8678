/* Dump open files: files.img (each open file description once) and fdinfo-PID.img. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#define LOG_PREFIX "dump-files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/dump-files.h"
#include "criu-lite/dump-shmem.h"

#define DELETED_SUFFIX " (deleted)"

static bool strip_deleted(char *path)
{
	size_t n = strlen(path), d = strlen(DELETED_SUFFIX);
	if (n > d && !strcmp(path + n - d, DELETED_SUFFIX)) {
		path[n - d] = '\0';
		return true;
	}
	return false;
}

static bool is_tty_rdev(dev_t rdev)
{
	unsigned maj = major(rdev);
	return maj == 4 || maj == 5 || (maj >= 136 && maj <= 143);
}

static FileEntry *new_file_entry(uint32_t type)
{
	FileEntry *fe = malloc(sizeof(*fe));
	if (!fe) {
		pr_perror("can't allocate a file entry");
		return NULL;
	}
	file_entry__init(fe);
	fe->type = type;
	return fe;
}

/* Append a described file to the registry; takes fe. Returns the entry or NULL. */
static struct dump_file *add_file(struct dump_ctx *ctx, FileEntry *fe, uint64_t dev, uint64_t ino,
				  pid_t pid, int fd, uint32_t flags)
{
	if (ctx->nr_files == ctx->cap_files) {
		size_t ncap = ctx->cap_files ? ctx->cap_files * 2 : 32;
		struct dump_file *nf = realloc(ctx->files, ncap * sizeof(*nf));
		if (!nf) {
			pr_perror("can't grow the file list");
			file_entry__free_unpacked(fe, NULL);
			return NULL;
		}
		ctx->files = nf;
		ctx->cap_files = ncap;
	}
	struct dump_file *f = &ctx->files[ctx->nr_files++];
	f->id = (uint32_t)ctx->nr_files;
	f->dev = dev;
	f->ino = ino;
	f->pid = pid;
	f->fd = fd;
	f->flags = flags;
	f->fe = fe;
	fe->id = f->id;
	return f;
}

static RegFileEntry *new_reg(const char *path, const struct stat *st, uint32_t flags, uint64_t pos,
			     bool unlinked)
{
	RegFileEntry *r = malloc(sizeof(*r));
	if (!r) {
		pr_perror("can't allocate a file entry");
		return NULL;
	}
	reg_file_entry__init(r);
	r->path = strdup(path);
	if (!r->path) {
		pr_perror("can't copy a path");
		free(r);
		return NULL;
	}
	r->has_flags = r->has_pos = r->has_mode = r->has_size = true;
	r->has_dev = r->has_ino = r->has_unlinked = r->has_mtime_ns = true;
	r->flags = flags;
	r->pos = pos;
	r->mode = st->st_mode;
	r->size = st->st_size;
	r->dev = st->st_dev;
	r->ino = st->st_ino;
	r->unlinked = unlinked;
	r->mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + st->st_mtim.tv_nsec;
	return r;
}

int dump_file_of_path(struct dump_ctx *ctx, pid_t pid, const char *proc_path, uint32_t flags,
		      uint32_t *ret_id)
{
	char path[PROC_PATH_MAX];
	struct stat st;
	bool unlinked;
	FileEntry *fe;
	struct dump_file *f;

	if (proc_readlink(proc_path, path, sizeof(path)) < 0)
		return -1;
	if (stat(proc_path, &st) < 0) {
		pr_perror("can't stat %s (%s)", proc_path, path);
		return -1;
	}
	for (size_t i = 0; i < ctx->nr_files; i++) {
		f = &ctx->files[i];
		if (f->fd < 0 && f->dev == st.st_dev && f->ino == st.st_ino && f->flags == flags) {
			*ret_id = f->id;
			return 0;
		}
	}
	unlinked = strip_deleted(path) && st.st_nlink == 0;
	if (unlinked)
		pr_warn("pid %d: %s is an unlinked file; restore needs it back at that path\n", pid, path);
	fe = new_file_entry(S_ISDIR(st.st_mode) ? FILE_TYPE_DIR : FILE_TYPE_REG);
	if (!fe)
		return -1;
	fe->reg = new_reg(path, &st, flags, 0, unlinked);
	if (!fe->reg) {
		free(fe);
		return -1;
	}
	f = add_file(ctx, fe, st.st_dev, st.st_ino, pid, -1, flags);
	if (!f)
		return -1;
	*ret_id = f->id;
	return 0;
}

static long kcmp_file(pid_t p1, pid_t p2, int fd1, int fd2)
{
	return syscall(SYS_kcmp, p1, p2, KCMP_FILE, fd1, fd2);
}

/* An already registered description shared with (pid, fd)? */
static struct dump_file *find_shared(struct dump_ctx *ctx, pid_t pid, int fd, const struct stat *st,
				     const struct proc_fdinfo *fi)
{
	for (size_t i = 0; i < ctx->nr_files; i++) {
		struct dump_file *f = &ctx->files[i];
		if (f->fd < 0 || f->dev != st->st_dev || f->ino != st->st_ino)
			continue;
		long r = kcmp_file(f->pid, pid, f->fd, fd);
		if (r == 0)
			return f;
		if (r < 0 && errno == ENOSYS) {
			/* no kcmp: same file, flags and position is the best guess */
			uint64_t pos = 0;
			if (f->fe->reg)
				pos = f->fe->reg->pos;
			else if (f->fe->memfd)
				pos = f->fe->memfd->pos;
			if (f->flags == (fi->flags & ~(uint32_t)O_CLOEXEC) && pos == fi->pos)
				return f;
		}
	}
	return NULL;
}

static int unsupported(pid_t pid, int fd, const char *link, const char *what)
{
	pr_err("fd %d of pid %d is %s (%s), not supported yet\n", fd, pid, what, link);
	errno = ENOTSUP;
	return -1;
}

/* Describe (pid, fd) and register it. */
static int dump_one_fd(struct dump_ctx *ctx, pid_t pid, int fd, uint32_t *ret_id, bool *ret_cloexec)
{
	char proc_path[64], link[PROC_PATH_MAX];
	struct proc_fdinfo fi;
	struct stat st;
	struct dump_file *f;
	FileEntry *fe = NULL;
	uint32_t flags;

	snprintf(proc_path, sizeof(proc_path), "/proc/%d/fd/%d", pid, fd);
	if (proc_readlink(proc_path, link, sizeof(link)) < 0)
		return -1;
	if (proc_parse_fdinfo(pid, fd, &fi) < 0)
		return -1;
	flags = fi.flags & ~(uint32_t)O_CLOEXEC;
	*ret_cloexec = fi.flags & O_CLOEXEC;

	/* Objects without a path first: their links are "type:[ino]" or "anon_inode:..." */
	if (!strncmp(link, "pipe:", 5))
		return unsupported(pid, fd, link, "a pipe");
	if (!strncmp(link, "socket:", 7))
		return unsupported(pid, fd, link, "a socket");
	if (!strncmp(link, "anon_inode:", 11))
		return unsupported(pid, fd, link, "an anonymous inode");
	if (link[0] != '/')
		return unsupported(pid, fd, link, "a special file");
	if (stat(proc_path, &st) < 0) {
		pr_perror("can't stat fd %d of pid %d (%s)", fd, pid, link);
		return -1;
	}
	f = find_shared(ctx, pid, fd, &st, &fi);
	if (f) {
		*ret_id = f->id;
		return 0;
	}

	if (S_ISREG(st.st_mode) && !strncmp(link, "/memfd:", 7) && strip_deleted(link)) {
		MemfdEntry *m;
		cleanup_close int ofd = open(proc_path, O_RDONLY | O_CLOEXEC);
		uint64_t sid;
		if (ofd < 0) {
			pr_perror("can't open the memfd behind fd %d of pid %d", fd, pid);
			return -1;
		}
		if (dump_shmem_add(ctx, steal_fd(&ofd), SHMEM_KIND_MEMFD, link + 7, true, 0, &sid) < 0)
			return -1;
		/* read() through the descriptor bypasses userfaultfd: no lazy pages */
		ctx->shmems[sid - 1].fd_open = true;
		fe = new_file_entry(FILE_TYPE_MEMFD);
		m = fe ? malloc(sizeof(*m)) : NULL;
		if (!m) {
			if (fe)
				pr_perror("can't allocate a memfd entry");
			free(fe);
			return -1;
		}
		memfd_entry__init(m);
		fe->memfd = m;
		m->shmem_id = sid;
		m->has_flags = m->has_pos = true;
		m->flags = flags;
		m->pos = fi.pos;
		m->name = strdup(link + 7);
		if (!m->name) {
			pr_perror("can't copy a name");
			file_entry__free_unpacked(fe, NULL);
			return -1;
		}
	} else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		bool deleted = strip_deleted(link);
		if (deleted && st.st_nlink == 0)
			return unsupported(pid, fd, link, "an unlinked file");
		fe = new_file_entry(S_ISDIR(st.st_mode) ? FILE_TYPE_DIR : FILE_TYPE_REG);
		if (!fe)
			return -1;
		fe->reg = new_reg(link, &st, flags, fi.pos, false);
		if (!fe->reg) {
			free(fe);
			return -1;
		}
	} else if (S_ISCHR(st.st_mode)) {
		ChrFileEntry *c;
		bool tty = is_tty_rdev(st.st_rdev);
		if (tty && major(st.st_rdev) == 5 && minor(st.st_rdev) == 2)
			return unsupported(pid, fd, link, "a pseudo-terminal master");
		if (tty && !ctx->opts->shell_job) {
			pr_err("fd %d of pid %d is the terminal %s: dump with --shell-job (-j)\n", fd, pid, link);
			errno = ENOTSUP;
			return -1;
		}
		fe = new_file_entry(FILE_TYPE_CHR);
		c = fe ? malloc(sizeof(*c)) : NULL;
		if (!c) {
			if (fe)
				pr_perror("can't allocate a chr entry");
			free(fe);
			return -1;
		}
		chr_file_entry__init(c);
		fe->chr = c;
		c->path = strdup(link);
		if (!c->path) {
			pr_perror("can't copy a path");
			file_entry__free_unpacked(fe, NULL);
			return -1;
		}
		c->has_flags = c->has_rdev = c->has_tty = true;
		c->flags = flags;
		c->rdev = (uint32_t)st.st_rdev;
		c->tty = tty;
	} else if (S_ISFIFO(st.st_mode)) {
		return unsupported(pid, fd, link, "a FIFO");
	} else if (S_ISSOCK(st.st_mode)) {
		return unsupported(pid, fd, link, "a socket");
	} else if (S_ISBLK(st.st_mode)) {
		return unsupported(pid, fd, link, "a block device");
	} else {
		return unsupported(pid, fd, link, "a special file");
	}
	f = add_file(ctx, fe, st.st_dev, st.st_ino, pid, fd, flags);
	if (!f)
		return -1;
	*ret_id = f->id;
	return 0;
}

int dump_files_task(struct dump_ctx *ctx, pid_t pid)
{
	char path[64];
	cleanup_free int *fds = NULL;
	size_t nr;
	cleanup_img struct img *img = NULL;

	pid_t pp = dump_proc_pid(ctx, pid); /* a live thread's /proc when the leader is dead */

	snprintf(path, sizeof(path), "/proc/%d/fd", pp);
	if (proc_list_dir_ints(path, &fds, &nr) < 0)
		return -1;
	img = img_open(ctx->dfd, IMG_FDINFO, O_WRONLY, pid);
	if (!img)
		return -1;
	for (size_t i = 0; i < nr; i++) {
		FdinfoEntry e = FDINFO_ENTRY__INIT;
		bool cloexec = false;
		uint32_t id;

		if (dump_one_fd(ctx, pp, fds[i], &id, &cloexec) < 0)
			return -1;
		e.fd = fds[i];
		e.file_id = id;
		e.has_cloexec = true;
		e.cloexec = cloexec;
		if (img_write(img, &e) < 0)
			return -1;
		pr_debug("pid %d: fd %d -> file %u\n", pid, fds[i], id);
	}
	return img_close(steal_pointer(&img));
}

int dump_files_write(struct dump_ctx *ctx)
{
	cleanup_img struct img *img = img_open(ctx->dfd, IMG_FILES, O_WRONLY, 0);

	if (!img)
		return -1;
	for (size_t i = 0; i < ctx->nr_files; i++)
		if (img_write(img, ctx->files[i].fe) < 0)
			return -1;
	return img_close(steal_pointer(&img));
}

void dump_files_fini(struct dump_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nr_files; i++)
		file_entry__free_unpacked(ctx->files[i].fe, NULL);
	free(ctx->files);
	ctx->files = NULL;
	ctx->nr_files = ctx->cap_files = 0;
}
