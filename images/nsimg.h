/*
 * The namespace images of a dump directory (ns.img, seccomp.img), read and validated
 * for images/imgset.c, which calls img_ns_load() with what it already validated (the
 * tasks and the shmem objects). tmpfs-ID.img files are read where they are used,
 * record by record, and checked there.
 *
 * What img_ns_load() guarantees on success:
 *  - ns.img: every kind known and at most once; a pid namespace maps every task of
 *    pstree.img once, with as many thread ids as it has threads, ns pids unique and
 *    above 0, the root's 1; a mount table with one root mount ("/", kind root, no
 *    parent) first, unique ids, parents before children, mountpoints absolute,
 *    known kinds, a bind naming an earlier mount of the same superblock, an external
 *    mount with a key; System V segments naming shmem objects of kind sysv, once each;
 *    time, uts and cgroup entries present when their kind says so;
 *  - seccomp.img: chains with 1 to 64 filters of 1 to 4096 instructions, unique ids;
 *    threads of pstree.img, each at most once, in mode 1 or 2 (2 naming a chain).
 */
#ifndef CRIU_LITE_NSIMG_H
#define CRIU_LITE_NSIMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "images/image.h"

/* ns_entry.kind */
#define NS_KIND_PID 1
#define NS_KIND_MNT 2
#define NS_KIND_NET 3
#define NS_KIND_IPC 4
#define NS_KIND_UTS 5
#define NS_KIND_CGROUP 6
#define NS_KIND_TIME 7
#define NS_KIND_MAX 7

/* mnt_entry.kind */
#define MNT_KIND_ROOT 1
#define MNT_KIND_NEW 2
#define MNT_KIND_BIND 3
#define MNT_KIND_EXTERNAL 4

#define IMG_NS_MAX_FILTERS 64
#define IMG_NS_MAX_BPF_INSNS 4096
#define IMG_NS_BPF_INSN_SIZE 8

struct img_ns {
	NsEntry *kinds[NS_KIND_MAX + 1]; /* by kind; NULL: the tree shares criu-lite's */
	SeccompEntry *seccomp;           /* NULL: no task runs under seccomp */
};

/* What imgset.c validated already, for the cross checks. */
struct img_ns_task {
	uint32_t pid;
	const uint32_t *threads;
	size_t nr_threads;
};

/* Read and validate ns.img and seccomp.img (both optional). 0, or -1 (logged, errno
 * EBADMSG for a bad image) with nothing left allocated. */
int img_ns_load(int dfd, const struct img_ns_task *tasks, size_t nr_tasks, ShmemEntry *const *shmems,
		size_t nr_shmems, struct img_ns *ret);
void img_ns_free(struct img_ns *ns);

/* The ns_pid_task of image pid in a pid namespace entry, or NULL. */
const NsPidTask *img_ns_pid_task(const NsEntry *pidns, uint32_t pid);
/* The seccomp thread entry of tid, or NULL (the thread runs without seccomp). */
const SeccompThreadEntry *img_ns_seccomp_thread(const SeccompEntry *s, uint32_t tid);
const SeccompChainEntry *img_ns_seccomp_chain(const SeccompEntry *s, uint32_t id);

#endif
