/*
 * timerfd: clock, flags, the time left and the interval, the expirations not read
 * yet (put back with TFD_IOC_SET_TICKS). A relative timer counts the time left from
 * the restore on; an absolute one (TFD_TIMER_ABSTIME) keeps its deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

#define NSEC 1000000000ULL

static int timerfd_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	uint64_t clockid, ticks, sflags, vs, vn, is, in;
	struct timespec now;
	TimerfdEntry *e;

	(void)ctx;
	if (fdinfo_u64(p->fdinfo, "clockid", 10, &clockid) < 0 || fdinfo_u64(p->fdinfo, "ticks", 10, &ticks) < 0 ||
	    fdinfo_u64(p->fdinfo, "settime flags", 8, &sflags) < 0 ||
	    fdinfo_pair(p->fdinfo, "it_value", &vs, &vn) < 0 || fdinfo_pair(p->fdinfo, "it_interval", &is, &in) < 0) {
		pr_err("fd %d of pid %d: can't parse the timerfd fields of its fdinfo\n", p->fd, p->pid);
		errno = EINVAL;
		return -1;
	}
	if (clock_gettime((clockid_t)clockid, &now) < 0) {
		pr_perror("fd %d of pid %d: clock %" PRIu64 " of its timerfd", p->fd, p->pid, clockid);
		return -1;
	}
	e = files_zalloc(sizeof(*e), "a timerfd entry");
	if (!e)
		return -1;
	timerfd_entry__init(e);
	f->fe->timerfd = e;
	e->clockid = (uint32_t)clockid;
	e->has_flags = e->has_settime_flags = e->has_value_ns = e->has_interval_ns = true;
	e->has_ticks = e->has_now_ns = true;
	e->flags = p->flags;
	e->settime_flags = (uint32_t)sflags;
	e->value_ns = vs * NSEC + vn;
	e->interval_ns = is * NSEC + in;
	e->ticks = ticks;
	e->now_ns = (uint64_t)now.tv_sec * NSEC + now.tv_nsec;
	return 0;
}

static struct timespec ts_of(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / NSEC), .tv_nsec = (long)(ns % NSEC) };
}

static int timerfd_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const TimerfdEntry *e = rf->fe->timerfd;
	cleanup_close int fd = timerfd_create((int)e->clockid, TFD_CLOEXEC | TFD_NONBLOCK);
	char what[48];

	(void)ctx;
	snprintf(what, sizeof(what), "timerfd %u (clock %u)", rf->fe->id, e->clockid);
	if (fd < 0) {
		pr_perror("can't create %s", what);
		return -1;
	}
	/* a disarmed timer keeps the flags of its last timerfd_settime() too */
	if (e->value_ns || e->interval_ns || e->settime_flags) {
		struct itimerspec it = { .it_interval = ts_of(e->interval_ns), .it_value = ts_of(e->value_ns) };
		bool expired = !e->value_ns && e->interval_ns;
		if (e->value_ns && (e->settime_flags & TFD_TIMER_ABSTIME))
			it.it_value = ts_of(e->now_ns + e->value_ns); /* the deadline it had */
		/* a periodic timer that expired and was not read since shows no time left: it
		 * waits for a read to go on. Expire it again at once (1 ns, relative or absolute). */
		if (expired)
			it.it_value = ts_of(1);
		if (timerfd_settime(fd, (int)e->settime_flags, &it, NULL) < 0) {
			pr_perror("can't arm %s", what);
			return -1;
		}
		if (expired) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, 1000) != 1) {
				pr_err("%s did not expire again\n", what);
				errno = ETIME;
				return -1;
			}
		}
	}
	if (e->ticks && ioctl(fd, TFD_IOC_SET_TICKS, &e->ticks) < 0) {
		pr_perror("can't put back the %" PRIu64 " expirations of %s", e->ticks, what);
		return -1;
	}
	if (files_set_status_flags(fd, e->has_flags ? e->flags : 0, what) < 0)
		return -1;
	rf->fd = steal_fd(&fd);
	return 0;
}

const struct fd_ops timerfd_fd_ops = {
	.name = "timerfd",
	.type = FILE_TYPE_TIMERFD,
	.link_prefix = "anon_inode:[timerfd]",
	.dump = timerfd_dump,
	.open = timerfd_open,
};
