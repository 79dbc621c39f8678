/*
 * The watchdog: a small process forked by the daemon at start. The daemon sends it a
 * duplicate of every uffd and every task's pidfd. If the daemon dies (or fails)
 * without saying "all pages in", the watchdog SIGKILLs every task and its descendants
 * while it still holds the uffds, so that no fault is ever resolved with zeros, then
 * exits. Lazily restored processes never run on with memory that did not arrive.
 */
#ifndef CRIU_LITE_LP_WATCHDOG_H
#define CRIU_LITE_LP_WATCHDOG_H

#include <sys/types.h>

struct lp_watchdog {
	pid_t pid;
	int sock;
};

/* Fork the watchdog. 0 or -1 (logged). */
int lp_watchdog_start(struct lp_watchdog *wd);
/* Hand it a task: pid (0 if unknown), pidfd (-1 if none) and uffd are duplicated. */
int lp_watchdog_add(struct lp_watchdog *wd, pid_t pid, int pidfd, int uffd);
/* Every page is in: the watchdog lets go and exits; reaped here. 0 or -1. */
int lp_watchdog_done(struct lp_watchdog *wd);
/* Close our end without "done" (the watchdog then kills the tasks) and reap it. */
void lp_watchdog_abort(struct lp_watchdog *wd);

#endif
