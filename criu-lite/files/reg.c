/*
 * Regular files and directories, reopened by path with their flags and offset.
 * A /proc/PID/... file of a task of the tree is "late": it can only be opened once
 * that task exists again.
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

static int reg_dump(struct dump_ctx *ctx, const struct fd_probe *p, struct dump_file *f)
{
	char path[PROC_PATH_MAX];

	snprintf(path, sizeof(path), "%s", p->link);
	if (files_strip_deleted(path) && p->st.st_nlink == 0) {
		pr_err("fd %d of pid %d is an unlinked file (%s), not supported yet\n", p->fd, p->pid, path);
		errno = ENOTSUP;
		return -1;
	}
	if (ns_mnt_check_file(ctx, p->pid, p->fd, p->fi.mnt_id, path) < 0)
		return -1;
	f->fe->reg = reg_entry_new(path, &p->st, p->flags, p->fi.pos);
	if (!f->fe->reg)
		return -1;
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

static int reg_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	(void)ctx;
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
	.inherit_key = reg_inherit_key,
};

const struct fd_ops dir_fd_ops = {
	.name = "directory",
	.type = FILE_TYPE_DIR,
	.match = dir_match,
	.dump = reg_dump,
	.late = reg_late,
	.open = dir_open,
};
