/*
 * Descriptions of shmem objects: a memfd, the /dev/zero object of a shared anonymous
 * mapping (reopened through /proc/PID/map_files), an unlinked tmpfs file. The object
 * and its pages are dumped once as a shmem object (dump-shmem.c); each description
 * reopens it with its own flags and offset. Its pages come back eagerly: read()
 * through the descriptor would bypass userfaultfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/dump-shmem.h"
#include "criu-lite/files/files.h"

static bool on_shmem(const struct fd_probe *p)
{
	char path[64];
	struct statfs sfs;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", p->pid, p->fd);
	return statfs(path, &sfs) == 0 && (unsigned long)sfs.f_type == TMPFS_MAGIC;
}

static bool memfd_match(const struct fd_probe *p)
{
	size_t n = strlen(p->link);

	if (p->link[0] != '/' || !S_ISREG(p->st.st_mode) || n < 10 || strcmp(p->link + n - 10, " (deleted)"))
		return false;
	/* a memfd, or a tmpfs/shmem inode nothing links any more */
	return !strncmp(p->link, "/memfd:", 7) || (p->st.st_nlink == 0 && on_shmem(p));
}

static int memfd_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	char proc_path[64], name[PROC_PATH_MAX];
	uint32_t kind;
	const char *oname = name;
	uint64_t sid;
	MemfdEntry *m;
	int ofd;

	snprintf(name, sizeof(name), "%s", p->link);
	files_strip_deleted(name);
	if (!strncmp(name, "/memfd:", 7)) {
		kind = SHMEM_KIND_MEMFD;
		oname = name + 7;
	} else if (!strcmp(name, "/dev/zero")) {
		kind = SHMEM_KIND_ANON;
	} else {
		kind = SHMEM_KIND_FILE;
	}
	snprintf(proc_path, sizeof(proc_path), "/proc/%d/fd/%d", p->pid, p->fd);
	ofd = open(proc_path, O_RDONLY | O_CLOEXEC);
	if (ofd < 0) {
		pr_perror("can't open the shmem object behind fd %d of pid %d", p->fd, p->pid);
		return -1;
	}
	if (dump_shmem_add(ctx, ofd, kind, oname, true, 0, &sid) < 0)
		return -1;
	/* read() through the descriptor bypasses userfaultfd: no lazy pages */
	ctx->shmems[sid - 1].fd_open = true;
	m = files_zalloc(sizeof(*m), "a memfd entry");
	if (!m)
		return -1;
	memfd_entry__init(m);
	f->fe->memfd = m;
	m->shmem_id = sid;
	m->has_flags = m->has_pos = true;
	m->flags = p->flags;
	m->pos = p->fi.pos;
	m->name = strdup(oname);
	if (!m->name) {
		pr_perror("can't copy a name");
		return -1;
	}
	return 0;
}

static int memfd_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const MemfdEntry *m = rf->fe->memfd;
	ssize_t si = img_set_shmem_idx(&ctx->img, m->shmem_id); /* exists: validated */
	uint32_t flags = m->has_flags ? m->flags : O_RDWR;
	char what[64];
	cleanup_close int fd = -1;

	snprintf(what, sizeof(what), "shmem object %" PRIu64 " (file %u)", m->shmem_id, rf->fe->id);
	fd = files_reopen(ctx->shmem_fds[si], (int)(flags & (O_ACCMODE | O_APPEND)), what);
	if (fd < 0 || files_set_status_flags(fd, flags, what) < 0)
		return -1;
	if (m->has_pos && m->pos && lseek(fd, m->pos, SEEK_SET) < 0) {
		pr_perror("can't seek %s", what);
		return -1;
	}
	rf->fd = steal_fd(&fd);
	return 0;
}

const struct fd_ops memfd_fd_ops = {
	.name = "shmem object",
	.type = FILE_TYPE_MEMFD,
	.match = memfd_match,
	.dump = memfd_dump,
	.open = memfd_open,
};
