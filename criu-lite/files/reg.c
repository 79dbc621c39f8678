/*
 * Regular files and directories, reopened by path with their flags and offset.
 * A /proc/PID/... file of a task of the tree is "late": it can only be opened once
 * that task exists again.
 *
 * A file unlinked while it is open or mapped (a "ghost") has its contents saved
 * (up to --ghost-limit, in file-data.img, once per inode: every description and
 * mapping of it names the entry holding them by ghost_id). Restore creates it again
 * at its path (or beside it, if the path is taken), fills it, and unlinks it: every
 * description of it, and every mapping, reopens that one file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"
#include "criu-lite/ns/mnt.h"

RegFileEntry *reg_entry_new(const char *path, const struct stat *st, uint32_t flags, uint64_t pos)
{
	RegFileEntry *r = files_zalloc(sizeof(*r), "a file entry");

	if (!r)
		return NULL;
	reg_file_entry__init(r);
	r->path = strdup(path);
	if (!r->path) {
		pr_perror("can't copy a path");
		free(r);
		return NULL;
	}
	r->has_flags = r->has_pos = r->has_mode = r->has_size = true;
	r->has_dev = r->has_ino = r->has_mtime_ns = r->has_uid = r->has_gid = true;
	r->flags = flags;
	r->pos = pos;
	r->mode = st->st_mode;
	r->size = st->st_size;
	r->dev = st->st_dev;
	r->ino = st->st_ino;
	r->uid = st->st_uid;
	r->gid = st->st_gid;
	r->mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + st->st_mtim.tv_nsec;
	return r;
}

/* /proc/PID/... where PID is a task of the dumped tree? */
static bool proc_of_tree(struct dump_ctx *ctx, const char *path)
{
	uint64_t pid;
	char num[24];
	size_t k = 0;

	if (strncmp(path, "/proc/", 6))
		return false;
	for (path += 6; k + 1 < sizeof(num) && *path >= '0' && *path <= '9'; path++)
		num[k++] = *path;
	num[k] = '\0';
	if (!k || (*path && *path != '/') || parse_u64(num, 10, &pid) < 0)
		return false;
	for (size_t i = 0; i < ctx->tree.nr_tasks; i++)
		if ((uint64_t)ctx->tree.tasks[i].pid == pid)
			return true;
	return false;
}

static bool reg_match(const struct fd_probe *p)
{
	return p->link[0] == '/' && S_ISREG(p->st.st_mode);
}

static bool dir_match(const struct fd_probe *p)
{
	return p->link[0] == '/' && S_ISDIR(p->st.st_mode);
}

#define GHOST_CHUNK (1u << 20)

/* Save the contents of the unlinked file open as fd (ours) under entry f: its data
 * ranges in chunks. 0 or -1 (logged). */
static int ghost_save(struct dump_ctx *ctx, int fd, const struct dump_file *f, uint64_t size, const char *what)
{
	off_t off = 0;

	while ((uint64_t)off < size) {
		off_t data = lseek(fd, off, SEEK_DATA), hole;
		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0) {
			pr_perror("%s: SEEK_DATA", what);
			return -1;
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			pr_perror("%s: SEEK_HOLE", what);
			return -1;
		}
		for (off = data; off < hole;) {
			size_t n = MIN((size_t)(hole - off), (size_t)GHOST_CHUNK);
			FileDataEntry *rec = files_zalloc(sizeof(*rec), "a chunk of a file");
			if (!rec)
				return -1;
			file_data_entry__init(rec);
			rec->file_id = f->id;
			rec->has_offset = rec->has_data = true;
			rec->offset = off;
			if (dump_file_data_add(ctx, rec) < 0)
				return -1;
			rec->data.data = malloc(n);
			if (!rec->data.data || pread_all(fd, rec->data.data, n, off) < 0) {
				pr_perror("%s: can't read %zu bytes at %lld", what, n, (long long)off);
				return -1;
			}
			rec->data.len = n;
			off += n;
		}
	}
	return 0;
}

int reg_ghost_dump(struct dump_ctx *ctx, struct dump_file *f, const char *proc_path, const struct stat *st,
		   const char *what)
{
	RegFileEntry *r = f->fe->reg;
	const size_t *idx;
	size_t n;

	r->has_unlinked = r->has_ghost_id = true;
	r->unlinked = true;
	/* an entry of the same inode holds its contents already? */
	for (int pass = 0; pass < 2; pass++) {
		n = pass ? dump_file_path_entries(ctx, st->st_dev, st->st_ino, &idx)
			 : dump_file_candidates(ctx, st->st_dev, st->st_ino, &idx);
		for (size_t i = 0; i < n; i++) {
			const RegFileEntry *o = ctx->files[idx[i]].fe->reg;
			if (o && o->has_ghost_id) {
				r->ghost_id = o->ghost_id;
				return 0;
			}
		}
	}
	if (!S_ISREG(st->st_mode)) {
		pr_err("%s is an unlinked %s: criu-lite can't carry it\n", what,
		       S_ISDIR(st->st_mode) ? "directory" : "special file");
		errno = ENOTSUP;
		return -1;
	}
	if ((uint64_t)st->st_size > ctx->opts->ghost_limit) {
		pr_err("%s is an unlinked file of %lld bytes, more than --ghost-limit (%" PRIu64 "): criu-lite "
		       "can't carry it (raise --ghost-limit)\n", what, (long long)st->st_size, ctx->opts->ghost_limit);
		errno = EFBIG;
		return -1;
	}
	r->ghost_id = f->id;
	{
		cleanup_close int fd = open(proc_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			pr_perror("%s: can't open it to save its contents", what);
			return -1;
		}
		return ghost_save(ctx, fd, f, st->st_size, what);
	}
}

static int reg_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	char path[PROC_PATH_MAX], what[PROC_PATH_MAX + 64];
	bool deleted;

	snprintf(path, sizeof(path), "%s", p->link);
	deleted = files_strip_deleted(path);
	if (ns_mnt_check_file(ctx, p->pid, p->fd, p->fi.mnt_id, path) < 0)
		return -1;
	f->fe->reg = reg_entry_new(path, &p->st, p->flags, p->fi.pos);
	if (!f->fe->reg)
		return -1;
	if (deleted) {
		char proc_path[64];
		snprintf(what, sizeof(what), "fd %d of pid %d (%s)", p->fd, p->pid, path);
		snprintf(proc_path, sizeof(proc_path), "/proc/%d/fd/%d", p->pid, p->fd);
		return reg_ghost_dump(ctx, f, proc_path, &p->st, what);
	}
	if (proc_of_tree(ctx, path)) {
		f->fe->reg->has_proc = true;
		f->fe->reg->proc = true;
	}
	return 0;
}

static bool reg_late(const FileEntry *fe)
{
	return fe->reg && fe->reg->has_proc && fe->reg->proc;
}

int reg_open_path(const FileEntry *fe, bool dir)
{
	const RegFileEntry *r = fe->reg;
	int flags, fd;
	struct stat st;

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
	if (!(flags & O_NONBLOCK) && !(flags & O_PATH) && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		pr_perror("can't set the flags of %s", r->path);
		close(fd);
		return -1;
	}
	if (!dir && !(flags & O_PATH) && r->has_size && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size != r->size && !(r->has_proc && r->proc))
		pr_warn("%s is %" PRIu64 " bytes, it was %" PRIu64 " at dump, ignoring\n", r->path,
			(uint64_t)st.st_size, r->size);
	if (!(flags & O_PATH) && r->has_pos && r->pos && lseek(fd, r->pos, SEEK_SET) < 0) {
		pr_perror("can't seek %s to %" PRIu64, r->path, r->pos);
		close(fd);
		return -1;
	}
	return fd;
}

struct ghost {
	int fd; /* the file, created again and unlinked */
};

static void reg_rst_free(struct rst_file *rf)
{
	struct ghost *g = rf->priv;

	if (g->fd >= 0)
		close(g->fd);
	free(g);
	rf->priv = NULL;
}

/* Create the ghost file again at its path (or beside it), with its contents, mode,
 * owner and size, and unlink it. Returns its fd (ours) or -1 (logged). */
static int ghost_create(struct rst_ctx *ctx, const FileEntry *fe)
{
	const RegFileEntry *r = fe->reg;
	char path[PROC_PATH_MAX + 32];
	cleanup_close int fd = -1;

	snprintf(path, sizeof(path), "%s", r->path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	for (int i = 1; fd < 0 && errno == EEXIST && i < 100; i++) {
		snprintf(path, sizeof(path), "%s.criu-lite-ghost.%d", r->path, i);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		pr_perror("can't create the unlinked file %s again", r->path);
		return -1;
	}
	if (unlink(path) < 0) {
		pr_perror("can't unlink %s", path);
		return -1;
	}
	for (size_t i = 0; i < ctx->img.nr_file_data; i++) {
		const FileDataEntry *d = ctx->img.file_data[i];
		if (d->file_id != fe->id || !d->has_data)
			continue;
		if (pwrite_all(fd, d->data.data, d->data.len, d->has_offset ? d->offset : 0) < 0) {
			pr_perror("can't write the contents of the unlinked file %s", r->path);
			return -1;
		}
	}
	if ((r->has_size && ftruncate(fd, r->size) < 0) || (r->has_mode && fchmod(fd, r->mode & 07777) < 0)) {
		pr_perror("can't size the unlinked file %s", r->path);
		return -1;
	}
	if (r->has_uid && fchown(fd, r->uid, r->gid) < 0)
		pr_warn("can't give the unlinked file %s its owner, ignoring: %s\n", r->path, strerror(errno));
	return steal_fd(&fd);
}

int reg_ghost_fd(struct rst_ctx *ctx, const FileEntry *fe)
{
	ssize_t gi = img_set_file_idx(&ctx->img, fe->reg->ghost_id); /* exists: validated */
	struct rst_file *g = &ctx->rfiles[gi];
	struct ghost *gh = g->priv;

	if (gh)
		return gh->fd;
	gh = files_zalloc(sizeof(*gh), "a ghost file");
	if (!gh)
		return -1;
	gh->fd = ghost_create(ctx, g->fe);
	if (gh->fd < 0) {
		free(gh);
		return -1;
	}
	g->priv = gh;
	return gh->fd;
}

static int reg_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const RegFileEntry *r = rf->fe->reg;

	if (r->has_ghost_id) {
		int g = reg_ghost_fd(ctx, rf->fe);
		uint32_t flags = r->has_flags ? r->flags : O_RDONLY;
		cleanup_close int fd = -1;
		if (g < 0)
			return -1;
		fd = files_reopen(g, (int)(flags & (O_ACCMODE | O_APPEND)), r->path);
		if (fd < 0 || files_set_status_flags(fd, flags, r->path) < 0)
			return -1;
		if (r->has_pos && r->pos && lseek(fd, r->pos, SEEK_SET) < 0) {
			pr_perror("can't seek the unlinked file %s", r->path);
			return -1;
		}
		rf->fd = steal_fd(&fd);
		return 0;
	}
	rf->fd = reg_open_path(rf->fe, false);
	return rf->fd < 0 ? -1 : 0;
}

static int dir_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	(void)ctx;
	rf->fd = reg_open_path(rf->fe, true);
	return rf->fd < 0 ? -1 : 0;
}

/* CRIU's key for a file: its path without the leading '/'. */
static int reg_inherit_key(const FileEntry *fe, char *buf, size_t len)
{
	const char *p = fe->reg->path;

	while (*p == '/')
		p++;
	return snprintf(buf, len, "%s", p) < (int)len ? 0 : -1;
}

const struct fd_ops reg_fd_ops = {
	.name = "regular file",
	.type = FILE_TYPE_REG,
	.match = reg_match,
	.dump = reg_dump,
	.late = reg_late,
	.open = reg_open,
	.rst_free = reg_rst_free,
	.inherit_key = reg_inherit_key,
};

const struct fd_ops dir_fd_ops = {
	.name = "directory",
	.type = FILE_TYPE_DIR,
	.match = dir_match,
	.dump = reg_dump,
	.late = reg_late,
	.open = dir_open,
	.rst_free = reg_rst_free,
};
