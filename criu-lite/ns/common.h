/*
 * What the namespace modules share: the kinds, namespace identities, entering a
 * namespace and coming back, /proc/sys values, and the dump's and the restore's
 * namespace state (struct ns_dump, struct ns_rst). Each kind lives in its own file
 * (pid.c, mnt.c, net.c, ipc.c, uts.c, cgroup.c, time.c, seccomp.c); ns.c runs them.
 */
#ifndef CRIU_LITE_NS_COMMON_H
#define CRIU_LITE_NS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "images/nsimg.h"
#include "lib/options.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
struct rst_ctx;
/* The files stage, for an orphan pty at index: the master the mount stage already made
 * (a bind of its slave needed it), taken; -1 if none. */
int ns_rst_take_pty(struct rst_ctx *ctx, uint32_t index);

#endif

#define NS_BIT(kind) (1u << (kind))

struct ns_kind_info {
	const char *name;    /* in /proc/PID/ns/ and in --external TYPE[..] */
	unsigned clone_flag; /* CLONE_NEW* */
};
/* The kind's name and flag (kind 1..NS_KIND_MAX), NULL otherwise. */
const struct ns_kind_info *ns_kind(unsigned kind);

/* The inode of /proc/PID/ns/NAME (pid 0: ours). 0; 1 when this kernel has no such
 * namespace; -1 (logged). */
int ns_ino_of(pid_t pid, const char *name, uint64_t *ret);

/* Entering pid's namespace of a kind, and going back (setns both ways). This process
 * must be single-threaded for mnt. */
struct ns_back {
	int fd;        /* our own namespace, -1: nothing to undo */
	unsigned flag;
};
int ns_enter(pid_t pid, unsigned kind, struct ns_back *ret);
/* Back to our namespace; -1 (logged) if that fails, which leaves us in the other one. */
int ns_return(struct ns_back *b);

/* A /proc/sys value of the namespaces we are in ("kernel/hostname"), the trailing
 * newline removed. The string, or NULL (logged). */
char *ns_sysctl_get(const char *name);
/* Write one; 0 or -1 (errno set, not logged). */
int ns_sysctl_set(const char *name, const char *value);

/* An error message for a task's stage (restore: the tasks report through the sync page). */
void ns_set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- the dump ---- */

struct ipc_dump;
struct mnt_dump;
struct seccomp_dump;

struct ns_dump {
	const struct cr_options *opts;
	pid_t root;                   /* the tree's root (our pid namespace) */
	unsigned own;                 /* NS_BIT(kind): the root's own namespaces, dumped */
	unsigned ext;                 /* NS_BIT(kind): its own, but external (--external) */
	unsigned empty;               /* NS_BIT(kind): its own, dumped empty (--empty-ns net) */
	uint64_t ino[NS_KIND_MAX + 1];
	char *ext_key[NS_KIND_MAX + 1];
	struct ipc_dump *ipc;         /* System V objects, registered before the tasks' memory */
	struct mnt_dump *mnt;
	struct seccomp_dump *seccomp; /* every thread's filters, deduplicated */
};

/* ---- the restore ---- */

struct ns_rst {
	const struct img_ns *img;
	unsigned clone_flags;         /* CLONE_NEW* the root task is created with */
	bool pidns;                   /* a new pid namespace: pstree ids are the namespace's */
	bool in_root;                 /* the root task opens the files (inside the new namespaces) */
	uint32_t *img_pid;            /* per task: its pid in the images (pstree.img) */
	uint32_t **img_tids;          /* per task: its thread ids in the images */
	int host_proc;                /* /proc of our pid namespace (service fd) */
	int time_back;                /* our time namespace, while the root's is prepared (service fd) */
	int64_t time_shift;           /* the root's CLOCK_MONOTONIC minus ours (its log's clock) */
	int net_back;                 /* our net namespace, while an external one is joined (service fd) */
	int join_back[NS_KIND_MAX + 1]; /* our namespaces, while --join-ns ones are joined (service fds) */
	unsigned joined;              /* NS_BIT(kind): --join-ns gives it (not created, not restored) */
	pid_t **host_tids;            /* parent, after the tasks exist: per task, its threads' ids here */
	int *shm_fds;                 /* root task: per System V segment, its shmem fd (service fd) */
	int fill_sock[2];             /* shmem objects the root task opened, to the parent that fills
				       * them while the tasks restore (service fds; [1] the root's) */
	int pty_master;               /* root task: a pty made by the mount stage (a bind of its slave,
				       * /dev/console), -1: none; taken by the files stage */
	uint32_t pty_index;
};

struct rst_ctx;
/* The files stage, for an orphan pty at index: the master the mount stage already made
 * (a bind of its slave needed it), taken; -1 if none. */
int ns_rst_take_pty(struct rst_ctx *ctx, uint32_t index);

#endif
