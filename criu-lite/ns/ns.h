/*
 * Namespaces and mounts of a dumped tree: what dump.c and restore.c call. The kinds
 * live in their own files (pid.c, mnt.c, net.c, ipc.c, uts.c, cgroup.c, time.c) and
 * seccomp in seccomp.c; this file runs them.
 *
 * A tree has a namespace of its own when its root's differs from criu-lite's. Every
 * task of the tree must share the root's namespaces (no nesting), and a user
 * namespace of its own is refused. An own namespace is dumped, unless --external
 * names it (TYPE[INODE]:KEY, for net: the caller gives it back at restore with
 * --inherit-fd fd[N]:KEY) or --empty-ns net says to make a new empty one at restore.
 * --join-ns NS:PATH at restore puts the tree into an existing net, uts or ipc namespace
 * instead of its own. Restore creates the root task with CLONE_NEW* for every
 * namespace the tree had of its own, and the root builds their contents before any
 * other task exists, in this order (the stage table of ns.c): uts, ipc, net, mounts.
 * Then, inside them, it opens the tree's files (restore.c).
 */
#ifndef CRIU_LITE_NS_NS_H
#define CRIU_LITE_NS_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "criu-lite/dump-ctx.h"
#include "criu-lite/restore-ctx.h"

/* ---- dump ---- */

/* After the tree is seized, before its tasks are dumped: which namespaces it has of
 * its own, and whether criu-lite can carry them (logged when not). 0 or -1. */
int ns_dump_collect(struct dump_ctx *ctx);
/* A VMA of a System V segment (dump-mm.c): see ns_ipc_dump_vma. 0 or -1 (logged). */
int ns_dump_sysv_vma(struct dump_ctx *ctx, pid_t pid, uint64_t start, uint64_t end, uint64_t pgoff,
		     uint64_t ino, int fd, uint64_t *ret_shmem_id);
/* While the tree is still stopped, before the inventory: ns.img, the tmpfs contents,
 * seccomp.img. 0 or -1 (logged). */
int ns_dump_write(struct dump_ctx *ctx);
/* The seccomp filters of one thread (dump.c, per thread). 0 or -1 (logged). */
int ns_dump_seccomp_thread(struct dump_ctx *ctx, pid_t pid, pid_t tid, uint32_t mode);
/* The tree has its own network namespace (CRIU's network-lock scripts). */
bool ns_dump_own_net(const struct dump_ctx *ctx);
void ns_dump_fini(struct dump_ctx *ctx);

/* ---- restore ---- */

/* Parent, after the images are read: check the options against the namespaces (--root
 * for a mount namespace, the keys of external ones), and make pstree's ids the
 * namespace's. 0 or -1 (logged). */
int ns_rst_prepare(struct rst_ctx *ctx);
/* The tree gets a new pid namespace (its pids need not be free here). */
bool ns_rst_pidns(const struct rst_ctx *ctx);
/* The root task opens the tree's files, inside its namespaces (any namespace of its own). */
bool ns_rst_in_root(const struct rst_ctx *ctx);
/* The tree had namespaces of its own (the runtimes' setup-namespaces notification), a
 * network namespace in particular (network-lock/unlock). */
bool ns_rst_has_ns(const struct rst_ctx *ctx);
bool ns_rst_own_net(const struct rst_ctx *ctx);
/* The root's pid for clone3's set_tid (1 in a new pid namespace) and its CLONE_NEW* flags. */
pid_t ns_rst_root_pid(const struct rst_ctx *ctx);
unsigned ns_rst_clone_flags(const struct rst_ctx *ctx);
/* Parent, right before and right after creating the root: a time namespace for it,
 * an external net namespace joined for it; then back to ours. 0 or -1 (logged). */
int ns_rst_before_clone(struct rst_ctx *ctx);
int ns_rst_after_clone(struct rst_ctx *ctx);
/* In the root task, before its children: every namespace stage. 0 or -1 (msg in err). */
int ns_rst_root_stages(struct rst_ctx *ctx, char *err, size_t errlen);
/* The shmem objects the root task opened inside the namespaces and whose pages are
 * written before the tasks run: the root sends them (after rst_files_open), the parent
 * receives them (right after the clone) and fills them while the tasks restore their
 * own memory (rst_shmem_fill). 0 or -1 (root: message in err; parent: logged). */
int ns_rst_send_shmems(struct rst_ctx *ctx, char *err, size_t errlen);
int ns_rst_recv_shmems(struct rst_ctx *ctx);
/* In a task: its pid in criu-lite's pid namespace (-1 if unknown). */
pid_t ns_rst_host_self(const struct rst_ctx *ctx);
/* Parent, once every task is ready (host_pids: per task, its pid here): the thread map,
 * and what is done from outside last (System V segments removed while attached).
 * 0 or -1 (logged). */
int ns_rst_tasks_ready(struct rst_ctx *ctx, const uint32_t *host_pids, pid_t root);
/* After ns_rst_tasks_ready: thread k of task i in our pid namespace. */
pid_t ns_rst_tid(const struct rst_ctx *ctx, size_t task, size_t thread);
/* restore-mm.c, building a task's restorer args: a VMA of a System V segment (its id
 * and shmat() flags into o), then the prots its attach maps with. */
struct rst_vma;
struct rst_thread;
void ns_rst_sysv_vma(const struct rst_ctx *ctx, const VmaEntry *v, struct rst_vma *o);
void ns_rst_sysv_prots(struct rst_vma *v, size_t nr);
/* The args bytes task i's seccomp filters need, and filling them in at base + off for
 * its threads (th). 0 or -1 (message in err). */
size_t ns_rst_seccomp_size(const struct rst_ctx *ctx, size_t task);
int ns_rst_seccomp_fill(const struct rst_ctx *ctx, size_t task, struct rst_thread *th, char *base, size_t off,
			char *err, size_t errlen);
/* ptrace options the parent's final stage needs (PTRACE_O_SUSPEND_SECCOMP). */
unsigned long ns_rst_ptrace_options(const struct rst_ctx *ctx);
void ns_rst_fini(struct rst_ctx *ctx);

#endif
