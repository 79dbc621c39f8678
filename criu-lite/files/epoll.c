/*
 * epoll: every watched (file, fd) pair with its events and data, as fdinfo lists
 * them. The file is found among the descriptions the tree holds by its inode and
 * kcmp(KCMP_EPOLL_TFD); a watched file no task holds any more is refused.
 *
 * The interest list is keyed by (file, fd number): at restore, in a task holding the
 * epoll and before the task installs its own fds, each target is put at the number
 * it was added with and added again (post_open), so that a later EPOLL_CTL_MOD/DEL
 * with that number finds it, whatever file has that number now. A one-shot entry
 * that fired (its events cleared) is added armed and fired again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

#define EP_PRIVATE_BITS (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)

/* One "tfd: ... events: ... data: ... pos:... ino:... sdev:..." line. 0, or -1. */
int epoll_parse_tfd(const char *line, EpollTfdEntry *ret)
{
	unsigned tfd, events, sdev;
	unsigned long long data, pos;
	unsigned long ino;

	if (sscanf(line, "tfd: %u events: %x data: %llx pos:%llu ino:%lx sdev:%x", &tfd, &events, &data, &pos,
		   &ino, &sdev) != 6)
		return -1;
	ret->tfd = tfd;
	ret->events = events;
	ret->data = data;
	ret->has_ino = ret->has_sdev = true;
	ret->ino = ino;
	ret->sdev = sdev;
	return 0;
}

static int epoll_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	EpollEntry *e = files_zalloc(sizeof(*e), "an epoll entry");
	size_t cap = 0;

	(void)ctx;
	if (!e)
		return -1;
	epoll_entry__init(e);
	f->fe->epoll = e;
	e->has_flags = true;
	e->flags = p->flags;
	for (const char *l = p->fdinfo; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		EpollTfdEntry *t;
		if (strncmp(l, "tfd:", 4))
			continue;
		if (e->n_tfds == cap) {
			EpollTfdEntry **n;
			cap = cap ? cap * 2 : 8;
			n = realloc(e->tfds, cap * sizeof(*n));
			if (!n) {
				pr_perror("can't grow an epoll list");
				return -1;
			}
			e->tfds = n;
		}
		t = files_zalloc(sizeof(*t), "an epoll target");
		if (!t)
			return -1;
		epoll_tfd_entry__init(t);
		e->tfds[e->n_tfds++] = t;
		if (epoll_parse_tfd(l, t) < 0) {
			pr_err("fd %d of pid %d: can't parse the epoll line '%.*s'\n", p->fd, p->pid,
			       (int)strcspn(l, "\n"), l);
			errno = EINVAL;
			return -1;
		}
	}
	return 0;
}

/* kcmp of the description (pid, fd) with the target of slot in epoll (epid, efd). */
static int kcmp_target(pid_t pid, int fd, pid_t epid, const struct kcmp_epoll_slot *slot)
{
	long r = syscall(SYS_kcmp, pid, epid, KCMP_EPOLL_TFD, fd, (unsigned long)slot);
	return r < 0 ? -1 : (int)r;
}

/* The description the tree holds that is target t (the toff-th entry for its fd). */
static int find_target(struct dump_ctx *ctx, const struct dump_file *ep, EpollTfdEntry *t, uint32_t toff)
{
	struct kcmp_epoll_slot slot = { .efd = (uint32_t)ep->fd, .tfd = t->tfd, .toff = toff };
	dev_t dev = makedev(t->sdev >> 20, t->sdev & 0xfffff);
	const size_t *idx;
	size_t n = dump_file_candidates(ctx, dev, t->ino, &idx), lo = 0, hi = n;

	/* the candidates are in kcmp order, and KCMP_EPOLL_TFD compares files the same way */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct dump_file *c = &ctx->files[idx[mid]];
		int r = kcmp_target(c->pid, c->fd, ep->pid, &slot);
		if (r < 0)
			break;
		if (r == 0) {
			t->file_id = c->id;
			return 0;
		}
		if (r == 1)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < n; i++) {
		const struct dump_file *c = &ctx->files[idx[i]];
		int r = kcmp_target(c->pid, c->fd, ep->pid, &slot);
		if (r < 0 && errno != ENOENT && errno != EBADF) {
			pr_perror("kcmp(KCMP_EPOLL_TFD) of epoll fd %d of pid %d, tfd %u", ep->fd, ep->pid, t->tfd);
			return -1;
		}
		if (r == 0) {
			t->file_id = c->id;
			return 0;
		}
	}
	pr_err("epoll fd %d of pid %d watches fd %u (inode %" PRIu64 "), a file no task of the tree holds: "
	       "criu-lite can't carry it\n", ep->fd, ep->pid, t->tfd, t->ino);
	errno = ENOTSUP;
	return -1;
}

static int epoll_dump_finish(struct dump_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nr_files; i++) {
		const struct dump_file *ep = &ctx->files[i];
		EpollEntry *e;
		if (ep->ops != &epoll_fd_ops)
			continue;
		e = ep->fe->epoll;
		for (size_t k = 0; k < e->n_tfds; k++) {
			uint32_t toff = 0;
			for (size_t j = 0; j < k; j++)
				toff += e->tfds[j]->tfd == e->tfds[k]->tfd;
			if (find_target(ctx, ep, e->tfds[k], toff) < 0)
				return -1;
		}
	}
	return 0;
}

static int epoll_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const EpollEntry *e = rf->fe->epoll;
	cleanup_close int fd = epoll_create1(EPOLL_CLOEXEC);
	char what[48];

	(void)ctx;
	snprintf(what, sizeof(what), "epoll %u", rf->fe->id);
	if (fd < 0) {
		pr_perror("can't create %s", what);
		return -1;
	}
	if (files_set_status_flags(fd, e->has_flags ? e->flags : 0, what) < 0)
		return -1;
	rf->fd = steal_fd(&fd);
	return 0;
}

static uint32_t epoll_max_fd(const FileEntry *fe)
{
	uint32_t m = 0;

	for (size_t i = 0; i < fe->epoll->n_tfds; i++)
		m = MAX(m, fe->epoll->tfds[i]->tfd);
	return m;
}

static bool disarmed(const EpollTfdEntry *t)
{
	return (t->events & EPOLLONESHOT) && !(t->events & ~(uint32_t)EP_PRIVATE_BITS);
}

/* Put t's file at its fd number and add it. */
static int add_one(struct rst_ctx *ctx, struct rst_file *rf, const EpollTfdEntry *t, char *err, size_t errlen)
{
	ssize_t ti = img_set_file_idx(&ctx->img, t->file_id); /* exists: validated */
	int src = ctx->rfiles[ti].fd;
	struct epoll_event ev = { .events = t->events, .data.u64 = t->data };

	if (src < 0) {
		snprintf(err, errlen, "epoll %u watches file %u, which this task does not hold", rf->fe->id,
			 t->file_id);
		return -1;
	}
	if (dup3(src, (int)t->tfd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "epoll %u: can't put file %u at fd %u: %s", rf->fe->id, t->file_id, t->tfd,
			 strerror(errno));
		return -1;
	}
	if (!disarmed(t)) {
		if (epoll_ctl(rf->fd, EPOLL_CTL_ADD, (int)t->tfd, &ev) == 0)
			return 0;
		snprintf(err, errlen, "epoll %u: can't add fd %u (file %u, events %#x): %s", rf->fe->id, t->tfd,
			 t->file_id, t->events, strerror(errno));
		return -1;
	}
	/* a one-shot that fired: armed for anything, fired at once, its events are gone */
	ev.events |= EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | EPOLLRDNORM | EPOLLWRNORM | EPOLLRDBAND |
		     EPOLLWRBAND;
	if (epoll_ctl(rf->fd, EPOLL_CTL_ADD, (int)t->tfd, &ev) < 0) {
		snprintf(err, errlen, "epoll %u: can't add fd %u (file %u): %s", rf->fe->id, t->tfd, t->file_id,
			 strerror(errno));
		return -1;
	}
	if (epoll_wait(rf->fd, &ev, 1, 0) == 1)
		return 0;
	/* nothing to fire it with: armed for errors and hangups only */
	ev.events = t->events;
	if (epoll_ctl(rf->fd, EPOLL_CTL_DEL, (int)t->tfd, NULL) < 0 ||
	    epoll_ctl(rf->fd, EPOLL_CTL_ADD, (int)t->tfd, &ev) < 0) {
		snprintf(err, errlen, "epoll %u: can't add fd %u (file %u): %s", rf->fe->id, t->tfd, t->file_id,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int epoll_post_open(struct rst_ctx *ctx, struct rst_file *rf, char *err, size_t errlen)
{
	const EpollEntry *e = rf->fe->epoll;

	/* the fired one-shots first: nothing else may be reported while they fire */
	for (size_t i = 0; i < e->n_tfds; i++)
		if (disarmed(e->tfds[i]) && add_one(ctx, rf, e->tfds[i], err, errlen) < 0)
			return -1;
	for (size_t i = 0; i < e->n_tfds; i++)
		if (!disarmed(e->tfds[i]) && add_one(ctx, rf, e->tfds[i], err, errlen) < 0)
			return -1;
	return 0;
}

const struct fd_ops epoll_fd_ops = {
	.name = "epoll",
	.type = FILE_TYPE_EPOLL,
	.link_prefix = "anon_inode:[eventpoll]",
	.dump = epoll_dump,
	.dump_finish = epoll_dump_finish,
	.open = epoll_open,
	.post_open = epoll_post_open,
	.max_fd = epoll_max_fd,
};
