/*
 * The network namespace the tree's sockets live in, for the files layer: sock_diag,
 * the network lock and its lift run there. A leaf: it uses nothing of the restore or
 * the dump but their contexts.
 */
#ifndef CRIU_LITE_NS_SOCKNS_H
#define CRIU_LITE_NS_SOCKNS_H

#include <stdbool.h>

#include "criu-lite/dump-ctx.h"
#include "criu-lite/restore-ctx.h"

/* This thread enters the tree's net namespace when it is not ours: returns our
 * namespace for ns_net_leave (>= 0), -1 when there is nothing to enter (the tree is in
 * ours), -2 on failure (logged). At dump: the root's; at restore: the external one the
 * tree joins (--external net[..] with --inherit-fd, or --join-ns net). */
int ns_dump_net_enter(const struct dump_ctx *ctx);
int ns_rst_net_enter(const struct rst_ctx *ctx);
void ns_net_leave(int back);
/* A network namespace of the tree's own (dumped with it, or empty): nothing outside
 * the tree reaches its sockets, so criu-lite takes no network lock in it (the caller
 * gets the network-lock notification). */
bool ns_dump_net_private(const struct dump_ctx *ctx);

#endif
