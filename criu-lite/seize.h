/*
 * Seizing a process tree: PTRACE_SEIZE + PTRACE_INTERRUPT every thread of every
 * task under a root pid, until no new thread or child appears; and letting it go
 * again (detach, leaving it exactly as it was, or kill).
 */
#ifndef CRIU_LITE_SEIZE_H
#define CRIU_LITE_SEIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct seize_task {
	pid_t pid;
	pid_t ppid;        /* parent inside the tree; 0 for the root */
	pid_t pgid, sid;
	pid_t *tids;       /* seized threads, the leader first */
	size_t nr_tids;
	bool was_stopped;  /* group-stopped (State T) before we came */
};

struct seize_tree {
	struct seize_task *tasks; /* parents before children, the root first */
	size_t nr_tasks;
};

/* Seize the tree rooted at root, every thread stopped within timeout_s seconds (CRIU's
 * --timeout; 0: the default 10). On failure everything seized is detached. 0 or -1
 * (logged). */
int seize_tree(pid_t root, unsigned timeout_s, struct seize_tree *ret);

#define SEIZE_DETACH 0 /* resume, as it was before the seize */
#define SEIZE_KILL 1   /* SIGKILL every task, wait until each thread is gone */
/* Release every thread; frees the tree. Never fails (problems are logged as warnings). */
void seize_release(struct seize_tree *tree, int how);

/* The task with this pid, or NULL. */
struct seize_task *seize_find(struct seize_tree *tree, pid_t pid);

#endif
