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
	pid_t *tids;       /* threads, the leader first; all seized but a dead leader */
	size_t nr_tids;
	bool was_stopped;  /* group-stopped (State T) before we came */
	int stop_sig;      /* ... by this signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) */
	bool leader_dead;  /* the leader exited (a zombie thread) while its threads run */
	bool zombie;       /* a zombie process: nothing seized, tids holds only its pid */
	int exit_status;   /* a zombie's wait status */
	int exit_signal;   /* the signal its parent gets when it ends */
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

/* The pid whose /proc directory shows the task's process-wide state (mm, files, fs):
 * its own, or a live thread's when its leader is dead. */
pid_t seize_proc_pid(const struct seize_task *t);

/* The task with this pid, or NULL. */
struct seize_task *seize_find(struct seize_tree *tree, pid_t pid);

#endif
