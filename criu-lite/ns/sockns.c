/* The network namespace the tree's sockets live in (sockns.h). */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "ns/net: "
#include "lib/log.h"
#include "lib/options.h"
#include "lib/util.h"
#include "criu-lite/ns/common.h"
#include "criu-lite/ns/sockns.h"

bool ns_dump_net_private(const struct dump_ctx *ctx)
{
	return ctx->ns && ((ctx->ns->own | ctx->ns->empty) & NS_BIT(NS_KIND_NET));
}

static int enter_fd(int fd, const char *what)
{
	int back;

	if (fd < 0) {
		pr_perror("can't open %s", what);
		return -2;
	}
	back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (back < 0 || setns(fd, CLONE_NEWNET) < 0) {
		pr_perror("can't enter %s", what);
		if (back >= 0)
			close(back);
		return -2;
	}
	return back;
}

int ns_dump_net_enter(const struct dump_ctx *ctx)
{
	const struct ns_dump *d = ctx->ns;
	cleanup_close int fd = -1;
	char path[64];

	if (!d || !((d->own | d->ext | d->empty) & NS_BIT(NS_KIND_NET)))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", d->root);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return enter_fd(fd, "the tree's net namespace");
}

int ns_rst_net_enter(const struct rst_ctx *ctx)
{
	const NsEntry *net = ctx->img.ns.kinds[NS_KIND_NET];
	const struct cr_options *o = ctx->opts;
	cleanup_close int fd = -1;

	for (size_t i = 0; i < o->nr_join_ns; i++)
		if (!strcmp(o->join_ns[i].ns, "net")) {
			fd = open(o->join_ns[i].path, O_RDONLY | O_CLOEXEC);
			return enter_fd(fd, o->join_ns[i].path);
		}
	if (net && net->ext_key) {
		int inh = cr_opt_inherit_fd(o, net->ext_key);
		fd = inh < 0 ? -1 : fcntl(inh, F_DUPFD_CLOEXEC, 0);
		return enter_fd(fd, "the tree's external net namespace");
	}
	return -1;
}

void ns_net_leave(int back)
{
	if (back < 0)
		return;
	if (setns(back, CLONE_NEWNET) < 0)
		pr_perror("can't return to our net namespace");
	close(back);
}
