/*
 * Character devices, reopened by path. A terminal is refused unless --shell-job,
 * and then becomes the restoring criu-lite's own terminal; a pseudo-terminal
 * master is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

static bool is_tty_rdev(dev_t rdev)
{
	unsigned maj = major(rdev);
	return maj == 4 || maj == 5 || (maj >= 136 && maj <= 143);
}

static bool chr_match(const struct fd_probe *p)
{
	return p->link[0] == '/' && S_ISCHR(p->st.st_mode);
}

static int chr_dump(struct dump_ctx *ctx, const struct fd_probe *p, struct dump_file *f)
{
	ChrFileEntry *c;
	bool tty = is_tty_rdev(p->st.st_rdev);

	if (tty && major(p->st.st_rdev) == 5 && minor(p->st.st_rdev) == 2) {
		pr_err("fd %d of pid %d is a pseudo-terminal master (%s), not supported yet\n", p->fd, p->pid,
		       p->link);
		errno = ENOTSUP;
		return -1;
	}
	if (tty && !ctx->opts->shell_job) {
		pr_err("fd %d of pid %d is the terminal %s: dump with --shell-job (-j)\n", p->fd, p->pid, p->link);
		errno = ENOTSUP;
		return -1;
	}
	c = files_zalloc(sizeof(*c), "a chr entry");
	if (!c)
		return -1;
	chr_file_entry__init(c);
	f->fe->chr = c;
	c->path = strdup(p->link);
	if (!c->path) {
		pr_perror("can't copy a path");
		return -1;
	}
	c->has_flags = c->has_rdev = c->has_tty = true;
	c->flags = p->flags;
	c->rdev = (uint32_t)p->st.st_rdev;
	c->tty = tty;
	return 0;
}

static int chr_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const ChrFileEntry *c = rf->fe->chr;

	if (c->has_tty && c->tty && ctx->opts->shell_job) {
		if (ctx->tty_fd < 0) {
			pr_err("--shell-job: criu-lite has no terminal on stdin/stdout/stderr for %s\n", c->path);
			errno = ENOTTY;
			return -1;
		}
		rf->fd = fcntl(ctx->tty_fd, F_DUPFD_CLOEXEC, 0);
		if (rf->fd < 0)
			pr_perror("can't dup the terminal");
		return rf->fd < 0 ? -1 : 0;
	}
	rf->fd = open(c->path, ((c->has_flags ? (int)c->flags : O_RDWR) & ~(O_CREAT | O_TRUNC | O_EXCL)) |
				       O_NOCTTY | O_CLOEXEC);
	if (rf->fd < 0) {
		pr_perror("can't open %s (file %u)", c->path, rf->fe->id);
		return -1;
	}
	return 0;
}

static int chr_inherit_key(const FileEntry *fe, char *buf, size_t len)
{
	const char *p = fe->chr->path;

	while (*p == '/')
		p++;
	return snprintf(buf, len, "%s", p) < (int)len ? 0 : -1;
}

const struct fd_ops chr_fd_ops = {
	.name = "character device",
	.type = FILE_TYPE_CHR,
	.match = chr_match,
	.dump = chr_dump,
	.open = chr_open,
	.inherit_key = chr_inherit_key,
};
