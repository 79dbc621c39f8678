/*
 * What the network kinds (inet.c, netlink.c, packet.c) share across a dump or a
 * restore: the sock_diag cache, the TCP connections in repair mode, and the
 * network lock (criu-lite/netlock.c) around them.
 *
 * Dump: once the tree is frozen and before any fd is read, net_dump_lock() finds
 * the tree's TCP connections through sock_diag, refuses them without
 * --tcp-established (or --tcp-close), and locks them (--network-lock). The inet
 * kind then reads each in repair mode (net_dump_repair). When the dump ends,
 * net_dump_release(): if the tree runs on (a failed dump, --leave-running), repair
 * mode is turned off and the lock lifted; if it is killed, the sockets stay in
 * repair mode (their close sends nothing) and the lock stays until the restore.
 *
 * Restore: the inet kind rebuilds each connection in repair mode; just before the
 * tree runs, net_restore_resume() lifts the lock the images name and takes the
 * connections out of repair mode. A restore that fails lifts it too
 * (net_restore_fini), so that no rule is left behind.
 */
#ifndef CRIU_LITE_FILES_NET_H
#define CRIU_LITE_FILES_NET_H

#include <stdbool.h>

#include "criu-lite/dump-ctx.h"
#include "criu-lite/restore-ctx.h"
#include "images/image.h"

struct fd_probe;
struct netdiag;

/* ---- dump ---- */
int net_dump_lock(struct dump_ctx *ctx);
/* 0, or -1 (logged) if something could not be undone. */
int net_dump_release(struct dump_ctx *ctx, bool resumed);
void net_dump_fini(struct dump_ctx *ctx);

/* The sock_diag cache of the dump (NULL, logged, on allocation failure). */
struct netdiag *net_dump_diag(struct dump_ctx *ctx);
/* The socket p (criu-lite's copy p->sk_fd) is in criu-lite's network namespace?
 * -1 (logged, naming what) if not, or if that can't be told. */
int net_dump_check_ns(struct dump_ctx *ctx, const struct fd_probe *p, const char *what);
/* An established TCP connection with --tcp-established: locked (if it was not
 * yet), put in repair mode (undone by net_dump_release), read into ie->tcp.
 * 0 or -1 (logged). */
int net_dump_repair(struct dump_ctx *ctx, const struct fd_probe *p, InetSkEntry *ie, const char *what);

/* ---- restore ---- */
int net_restore_resume(struct rst_ctx *ctx);
void net_restore_fini(struct rst_ctx *ctx);

#endif
