/*
 * The pid namespace. Dump: the tree's ids as its namespace sees them (NSpid), and
 * that the tree is the whole namespace, its init first. Restore: the root is created
 * as pid 1 of a new namespace and every task and thread at its id there; images keep
 * the ids the dumper saw (their file names), the restore works with the namespace's.
 */
#ifndef CRIU_LITE_NS_PID_H
#define CRIU_LITE_NS_PID_H

#include <stdint.h>
#include <sys/types.h>

#include "criu-lite/ns/common.h"
#include "criu-lite/restore-ctx.h"
#include "criu-lite/seize.h"

/* Write the pid namespace of the tree (inode ino) into ns.img. 0 or -1 (logged). */
int ns_pid_dump(const struct seize_tree *tree, uint64_t ino, struct img *img);

/* Restore: make every pstree/core id of ctx's images the namespace's (e: the pid
 * namespace); ctx->ns->img_pid holds the image pids. 0 or -1 (logged). */
int ns_pid_remap(struct rst_ctx *ctx, const NsEntry *e);

/* In a restored task: its pid in our (the parent's) pid namespace; -1 if unknown. */
pid_t ns_pid_host_self(const struct rst_ctx *ctx);

/* Parent, once every task exists: the thread ids of every task in our namespace,
 * found from host_pids (per task, its pid here). 0 or -1 (logged). */
int ns_pid_host_tids(struct rst_ctx *ctx, const uint32_t *host_pids);

/* The pid of task i in the images (the lazy-pages daemon reads them by it). */
uint32_t ns_rst_img_pid(const struct rst_ctx *ctx, size_t task);
/* The pid, as the restored tree sees it, of the task whose pid in the images is
 * img_pid (what the dump read from /proc: a lock's owner, a message's sender);
 * 0 if no task of the tree had it. */
pid_t ns_rst_pid_of_img(const struct rst_ctx *ctx, uint32_t img_pid);

#endif
