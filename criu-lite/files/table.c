/*
 * The table of fd kinds. At dump an fd belongs to the first kind that matches it;
 * a kind with .refuse set is a clear error naming the fd and what it is. At restore
 * an entry's type picks its kind.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

/* Kinds criu-lite does not carry: the dump names the fd and what it is. */
#define REFUSED(prefix, what) { .name = what, .refuse = what, .link_prefix = prefix }
static const struct fd_ops refused[] = {
	REFUSED("anon_inode:[fanotify]", "a fanotify group"),
	REFUSED("anon_inode:[io_uring]", "an io_uring instance"),
	REFUSED("anon_inode:[perf_event]", "a perf_event"),
	REFUSED("anon_inode:bpf", "a BPF object"),
	REFUSED("anon_inode:[userfaultfd]", "a userfaultfd"),
	REFUSED("anon_inode:[pidfd]", "a pidfd"),
	REFUSED("pidfd:", "a pidfd"),
	REFUSED("socket:", "a socket of a family criu-lite does not carry (it carries unix, inet, netlink and packet ones)"),
	REFUSED("anon_inode:", "an anonymous inode"),
};

static const struct fd_ops *const kinds[] = {
	&memfd_fd_ops, /* before regular files: a memfd is one too */
	&reg_fd_ops,
	&dir_fd_ops,
	&chr_fd_ops,
	&pipe_fd_ops,
	&fifo_fd_ops,
	&eventfd_fd_ops,
	&signalfd_fd_ops,
	&timerfd_fd_ops,
	&unix_fd_ops,
	&inet_fd_ops,
	&netlink_fd_ops,
	&packet_fd_ops,
	&epoll_fd_ops, /* after the kinds it watches: its dump_finish finds them */
	&inotify_fd_ops,
};

static bool kind_matches(const struct fd_ops *k, const struct fd_probe *p)
{
	if (k->match)
		return k->match(p);
	return k->link_prefix && !strncmp(p->link, k->link_prefix, strlen(k->link_prefix));
}

const struct fd_ops *fd_kind_of_probe(const struct fd_probe *p)
{
	static const struct fd_ops blk = { .name = "a block device", .refuse = "a block device" };
	static const struct fd_ops other = { .name = "a special file", .refuse = "a special file" };

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kind_matches(kinds[i], p))
			return kinds[i];
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		if (kind_matches(&refused[i], p))
			return &refused[i];
	if (p->link[0] == '/' && S_ISBLK(p->st.st_mode))
		return &blk;
	return &other;
}

const struct fd_ops *fd_kind_of_type(uint32_t type)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i]->type == type)
			return kinds[i];
	return NULL;
}

int fd_kinds_dump_finish(struct dump_ctx *ctx)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i]->dump_finish && kinds[i]->dump_finish(ctx) < 0)
			return -1;
	return 0;
}
