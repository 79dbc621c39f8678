/*
 * What criu-lite does not carry is a dump error naming it, never a silent loss (the
 * README's "What is carried, and what is refused at dump"). These are the refusals
 * about tasks that /proc and ptrace show; fds, VMAs and timers refuse what they can't
 * carry where they are dumped.
 */
#ifndef CRIU_LITE_DUMP_CHECK_H
#define CRIU_LITE_DUMP_CHECK_H

#include "criu-lite/dump-ctx.h"

/* Sessions and process groups: led inside the tree (or, with --shell-job, the root's,
 * which the restored tree takes from the restore); no controlling terminal without
 * --shell-job; no fd table, fs, memory or signal handlers shared between processes.
 * 0 or -1 (logged). */
int dump_check_tree(struct dump_ctx *ctx);

/* One seized task (pp: where /proc shows its process-wide state), beside what ns.c and
 * cgroup.c check: its children's pid and time namespaces are criu-lite's, so is its
 * cgroup unless --manage-cgroups says what to do, no LSM label of its own, no NUMA memory policy on a VMA, no
 * autogroup nice; each thread: the process's creds, no SCHED_DEADLINE or utilization
 * clamps, no syscall user dispatch, no TLS descriptors (set_thread_area), no shadow stack
 * or LAM, no per-thread speculation control. 0 or -1 (logged). */
int dump_check_task(struct dump_ctx *ctx, const struct seize_task *t, pid_t pp);

#endif
