/* The dump's internal context, shared by dump.c and the dump-*.c modules. */
#ifndef CRIU_LITE_DUMP_CTX_H
#define CRIU_LITE_DUMP_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/options.h"
#include "images/pagemap.h"
#include "lib/proc-parse.h"
#include "criu-lite/seize.h"

struct fd_ops;
struct dump_file_index;
struct sockdiag;
struct net_dump;

/* One open file description (criu-lite/files/files.h). */
struct dump_file {
	uint32_t id;
	uint64_t dev, ino;
	pid_t pid;    /* a task holding it (for kcmp); criu-lite's own pid for an fd in flight */
	int fd;       /* its fd there; -1 for a mapping-only or exe entry */
	uint32_t flags;
	FileEntry *fe;
	const struct fd_ops *ops;
	void *priv;   /* the kind's own dump state (freed by its dump_free) */
};

/* An fd in flight (SCM_RIGHTS in a socket's queue), received into criu-lite at dump:
 * described like the tasks' fds, its file id then goes to *slot. */
struct dump_inflight {
	int fd;
	uint32_t *slot;
};

struct dump_shmem {
	uint64_t id;
	uint32_t kind;        /* SHMEM_KIND_* */
	uint64_t size;
	uint64_t dev, ino;
	char *name;
	bool unlinked;
	uint32_t seals;
	bool has_seals;
	uint32_t mode;
	bool fd_open;         /* some task holds it as a descriptor */
	bool mapped;          /* System V: some task has it attached (ns/ipc.c) */
	bool own_tmpfs;       /* a file of a tmpfs of the tree's own mount namespace */
	int fd;               /* the object, open O_RDONLY, to read its pages */
};

struct dump_stats {
	uint64_t pages_dumped;  /* stored */
	uint64_t pages_zero;    /* recorded as zero */
	uint64_t pages_parent;  /* the parent's, still shared copy-on-write: recorded, not stored */
	uint64_t bytes_read;
	uint64_t pages_scanned; /* pages of the private VMAs walked (stats-dump) */
	uint64_t write_ns;      /* time spent handing pages to the images (stats-dump) */
	uint64_t t_start_ns;
	uint64_t next_progress; /* bytes at which to log progress next */
};

#define DUMP_BUF_SIZE (4u << 20) /* one batch of page data */

struct ns_dump;

struct dump_ctx {
	const struct cr_options *opts;
	int dfd;
	struct seize_tree tree;
	struct dump_file *files;
	size_t nr_files, cap_files;
	struct dump_file_index *file_index; /* descriptions by inode (criu-lite/files/index.c) */
	FileDataEntry **file_data; /* file-data.img records (ghost contents, socket queues) */
	size_t nr_file_data, cap_file_data;
	struct dump_inflight *inflight; /* fds in flight not described yet */
	size_t nr_inflight, cap_inflight;
	int *inflight_fds;     /* fds in flight already described: held until the end */
	size_t nr_inflight_fds, cap_inflight_fds;
	struct sockdiag *sockdiag; /* the unix sockets (sock_diag), loaded when the first is met */
	uint32_t *files_ids;   /* per tree.tasks[i]: its fd table (0: not dumped) */
	struct dump_shmem *shmems;
	size_t nr_shmems, cap_shmems;
	struct dump_stats stats;
	uint8_t *buf;          /* DUMP_BUF_SIZE */
	uint64_t *pm;          /* DUMP_BUF_SIZE / PAGE_SIZE pagemap entries */
	/* root task's vdso facts for the inventory */
	uint64_t vdso_size, vvar_size, vvar_vclock_size;
	uint32_t vdso_crc;
	bool has_vdso;
	int no_pagemap_scan;   /* 1: the kernel lacks PAGEMAP_SCAN (or a test forces the pread path) */
	struct ns_dump *ns;    /* namespaces and seccomp (criu-lite/ns/) */
	unsigned own_ns;       /* CLONE_NEW* of the namespaces the root has of its own, external
				* ones included (ns/ns.c) */
	char **cgroups;        /* --manage-cgroups: the tree's cgroups (cgroup.h), for the inventory */
	size_t nr_cgroups;
	struct net_dump *net;  /* sockets of the network families (criu-lite/files/net.h) */
};

/* The pid whose /proc directory shows the process-wide state of the dumped task pid
 * (a live thread's when its leader is dead). */
static inline pid_t dump_proc_pid(struct dump_ctx *ctx, pid_t pid)
{
	struct seize_task *t = seize_find(&ctx->tree, pid);
	return t ? seize_proc_pid(t) : pid;
}

#endif
