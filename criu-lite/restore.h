/*
 * criu-lite restore: read and validate every image, recreate the process tree with
 * its pids, and let it run (its memory, under --lazy-pages, served by the daemon).
 */
#ifndef CRIU_LITE_RESTORE_H
#define CRIU_LITE_RESTORE_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/options.h"

struct cr_restore_result {
	pid_t root;        /* the restored root task (our child) */
	bool root_exited;  /* it ended already and was reaped by the restore ... */
	int root_status;   /* ... with this wait status */
};

/*
 * Restore the tree in o->images_dir. 0 once it runs (res filled; the caller waits for
 * the root unless it is done with it); -1 (logged) on failure, with every task that
 * was created killed. A pid file that can't be written is -1 too, but the tree runs.
 */
int cr_restore(const struct cr_options *o, struct cr_restore_result *res);

#endif
