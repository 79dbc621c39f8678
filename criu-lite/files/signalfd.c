/* signalfd: its mask and flags. The signals it would read are the task's pending
 * signals, which come back with the task. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

static int signalfd_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	SignalfdEntry *e;
	uint64_t mask;

	(void)ctx;
	if (fdinfo_u64(p->fdinfo, "sigmask", 16, &mask) < 0) {
		pr_err("fd %d of pid %d: no sigmask in its fdinfo\n", p->fd, p->pid);
		errno = EINVAL;
		return -1;
	}
	e = files_zalloc(sizeof(*e), "a signalfd entry");
	if (!e)
		return -1;
	signalfd_entry__init(e);
	f->fe->signalfd = e;
	e->sigmask = mask;
	e->has_flags = true;
	e->flags = p->flags;
	return 0;
}

static int signalfd_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const SignalfdEntry *e = rf->fe->signalfd;
	uint64_t mask = e->sigmask;
	char what[48];
	/* the raw syscall: the kernel's 8-byte mask, not glibc's sigset_t */
	cleanup_close int fd = (int)syscall(SYS_signalfd4, -1, &mask, sizeof(mask), SFD_CLOEXEC);

	(void)ctx;
	snprintf(what, sizeof(what), "signalfd %u", rf->fe->id);
	if (fd < 0) {
		pr_perror("can't create %s (mask %" PRIx64 ")", what, e->sigmask);
		return -1;
	}
	if (files_set_status_flags(fd, e->has_flags ? e->flags : 0, what) < 0)
		return -1;
	rf->fd = steal_fd(&fd);
	return 0;
}

const struct fd_ops signalfd_fd_ops = {
	.name = "signalfd",
	.type = FILE_TYPE_SIGNALFD,
	.link_prefix = "anon_inode:[signalfd]",
	.dump = signalfd_dump,
	.open = signalfd_open,
};
