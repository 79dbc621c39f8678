/*
 * The IPC namespace: its /proc/sys values and its System V objects (shared memory
 * segments, semaphore sets, message queues) with their ids, keys, owners, modes and
 * contents. A segment's memory is a shmem object (shmem.img, kind sysv), restored like
 * any other shmem: lazily through MISSING and MINOR faults under --lazy-pages. The
 * restored tasks attach their segments with shmat() (criu-lite/restorer), so that
 * shm_nattch and shmdt() are as they were.
 *
 * Not carried: semaphore undo lists (SEM_UNDO adjustments on exit are lost), the
 * contents of POSIX message queues (refused at dump).
 */
#ifndef CRIU_LITE_NS_IPC_H
#define CRIU_LITE_NS_IPC_H

#include <stddef.h>
#include <sys/types.h>

#include "criu-lite/dump-ctx.h"
#include "criu-lite/ns/common.h"
#include "criu-lite/restore-ctx.h"

/* Dump, before the tasks' memory: read pid's IPC namespace, register each segment
 * as a shmem object. *ret freed by ns_ipc_free. 0 or -1 (logged). */
int ns_ipc_collect(struct dump_ctx *ctx, pid_t pid, struct ipc_dump **ret);
/* A task's VMA of a System V segment (VMA_KIND_SHMEM with its object); fd: the VMA's
 * file (taken). 0 or -1 (logged: a segment the tree does not own, a partial attach). */
int ns_ipc_dump_vma(struct dump_ctx *ctx, struct ipc_dump *ipc, pid_t pid, uint64_t start, uint64_t end,
		    uint64_t pgoff, uint64_t shmid, int fd, uint64_t *ret_shmem_id);
/* Write the namespace (inode ino) into ns.img. 0 or -1 (logged). */
int ns_ipc_write(const struct ipc_dump *ipc, uint64_t ino, struct img *img);
void ns_ipc_free(struct ipc_dump *ipc);

/* Restore, in the root task inside the new namespace: the values, then every object
 * at its id; each segment's shmem fd goes to ctx->ns->shm_fds. 0 or -1 (msg in err). */
int ns_ipc_restore(struct rst_ctx *ctx, const NsEntry *e, char *err, size_t errlen);
/* The segment id and service fd of a System V shmem object; -1 when it is none. */
int ns_ipc_shmid(const struct rst_ctx *ctx, uint64_t shmem_id);
int ns_ipc_shm_fd(const struct rst_ctx *ctx, uint64_t shmem_id);
/* Parent, once every task has attached its segments: remove those that were removed
 * (IPC_RMID) while attached at dump. root: the root task here. 0 or -1 (logged). */
int ns_ipc_finish(const struct rst_ctx *ctx, const NsEntry *e, pid_t root);

#endif
