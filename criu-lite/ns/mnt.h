/*
 * The mount namespace. Dump: the root task's /proc/PID/mountinfo, relative to its
 * root (--root names the same directory as criu-lite sees it), each mount made one
 * of (mnt_entry.kind): the root (rebuilt from --root), a new mount of a filesystem
 * criu-lite can make (proc, sysfs, tmpfs with its contents, devpts, mqueue), a bind
 * of one of those or of the root, or external (--external mnt[MOUNTPOINT]:KEY, the
 * RPC's ext_mnt). Any other mount is an error naming it.
 *
 * Restore, in the root task, in its new mount namespace (and its new pid, net and ipc
 * namespaces, so that proc, sysfs and mqueue are theirs): every mount of the host
 * becomes a slave (nothing propagates back), the root is cloned from --root and the
 * table rebuilt on it (open_tree/move_mount, each mount reached through its own fd,
 * never a path that may be covered), externals from --external mnt[KEY]:PATH; then
 * per-mount flags and propagation (mount_setattr), and pivot_root into it. The old
 * mounts are detached. A failure leaves nothing: it all lives in the dying namespace.
 */
#ifndef CRIU_LITE_NS_MNT_H
#define CRIU_LITE_NS_MNT_H

#include <stddef.h>
#include <sys/types.h>

#include "criu-lite/dump-ctx.h"
#include "criu-lite/ns/common.h"
#include "criu-lite/restore-ctx.h"

/* Read and check the mount table of pid (stopped). 0 or -1 (logged). */
int ns_mnt_collect(struct dump_ctx *ctx, pid_t pid, struct mnt_dump **ret);
/* Write it (namespace inode ino) into ns.img, and each tmpfs's contents into
 * tmpfs-ID.img. 0 or -1 (logged). */
int ns_mnt_write(struct dump_ctx *ctx, const struct mnt_dump *m, uint64_t ino, struct img *img);
void ns_mnt_free(struct mnt_dump *m);
/* A file the tree holds (fd of pid, on mount mnt_id, path what): with a mount namespace
 * of its own, it must be on one of its mounts; anything outside is an error (logged):
 * it could not be opened again, or would be another file. 0 or -1. */
int ns_mnt_check_file(const struct dump_ctx *ctx, pid_t pid, int fd, int mnt_id, const char *what);

/* Whether dev is a tmpfs of the tree's own mount namespace, made again from the images
 * at restore (no one outside reaches its files). */
bool ns_mnt_own_tmpfs(const struct dump_ctx *ctx, uint64_t dev);

/* Restore, in the root task: build the table and pivot_root into it. 0 or -1 (msg in err). */
int ns_mnt_restore(struct rst_ctx *ctx, const NsEntry *e, char *err, size_t errlen);

#endif
