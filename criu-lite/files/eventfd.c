/* eventfd: the counter (fdinfo eventfd-count), semaphore mode and flags. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

static int eventfd_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	EventfdEntry *e;
	uint64_t count, sem = 0;

	(void)ctx;
	if (fdinfo_u64(p->fdinfo, "eventfd-count", 16, &count) < 0) {
		pr_err("fd %d of pid %d: no eventfd-count in its fdinfo\n", p->fd, p->pid);
		errno = EINVAL;
		return -1;
	}
	if (fdinfo_u64(p->fdinfo, "eventfd-semaphore", 10, &sem) < 0)
		sem = 0; /* kernels before 6.6 do not say; they are rare here */
	e = files_zalloc(sizeof(*e), "an eventfd entry");
	if (!e)
		return -1;
	eventfd_entry__init(e);
	f->fe->eventfd = e;
	e->counter = count;
	e->has_flags = e->has_semaphore = true;
	e->flags = p->flags;
	e->semaphore = sem != 0;
	return 0;
}

static int eventfd_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const EventfdEntry *e = rf->fe->eventfd;
	cleanup_close int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | (e->semaphore ? EFD_SEMAPHORE : 0));
	char what[48];

	(void)ctx;
	snprintf(what, sizeof(what), "eventfd %u", rf->fe->id);
	if (fd < 0) {
		pr_perror("can't create %s", what);
		return -1;
	}
	/* eventfd() takes 32 bits: the counter goes in with a write */
	if (e->counter && write(fd, &e->counter, sizeof(e->counter)) != sizeof(e->counter)) {
		pr_perror("can't set the counter of %s to %" PRIu64, what, e->counter);
		return -1;
	}
	if (files_set_status_flags(fd, e->has_flags ? e->flags : 0, what) < 0)
		return -1;
	rf->fd = steal_fd(&fd);
	return 0;
}

const struct fd_ops eventfd_fd_ops = {
	.name = "eventfd",
	.type = FILE_TYPE_EVENTFD,
	.link_prefix = "anon_inode:[eventfd]",
	.dump = eventfd_dump,
	.open = eventfd_open,
};
