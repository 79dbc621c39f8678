/* criu-lite lazy-pages: serve the memory of a lazily restored process tree. */
#ifndef CRIU_LITE_LP_DAEMON_H
#define CRIU_LITE_LP_DAEMON_H

#include "lib/options.h"

/*
 * Listen at lazy-pages.socket in the work dir (o->work_dir, else o->images_dir) for
 * `restore --lazy-pages`, serve every task's memory from o->images_dir, and return
 * once every page is in (statistics in lazy-pages-stats.json in the work dir) or every
 * task exited: 0. -1 (logged) when the memory could not be served: every lazily
 * restored task has been killed then, so that none runs on with missing memory.
 */
int lp_daemon_run(const struct cr_options *o);

#endif
