/* criu-lite lazy-pages: serve the memory of a lazily restored process tree. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lib/log.h"
#include "lib/util.h"
#include "lazy-pages/daemon.h"
#include "lazy-pages/handshake.h"
#include "lazy-pages/loop.h"
#include "lazy-pages/stats.h"
#include "lazy-pages/watchdog.h"
#include "lazy-pages/ws.h"

#define STATS_FILE "lazy-pages-stats.json"

/* --record-ws: the first touches seen, and the working set that was put in before the
 * tasks ran (its touches can't be seen: it stays in). 0 or -1 (logged). */
static int write_record(const char *path, int dfd, struct lp_loop *l)
{
	size_t nr = l->nr_rec + (l->preload == LP_PRELOAD_DONE ? l->nr_hot : 0);
	cleanup_free struct lp_ws_run *runs = malloc(nr * sizeof(*runs) + 1);

	if (!runs) {
		pr_err("out of memory\n");
		return -1;
	}
	if (l->nr_rec)
		memcpy(runs, l->rec, l->nr_rec * sizeof(*runs));
	if (nr > l->nr_rec)
		memcpy(runs + l->nr_rec, l->hot, l->nr_hot * sizeof(*runs));
	return lp_ws_write(path, dfd, runs, nr);
}

int lp_daemon_run(const struct cr_options *o)
{
	const char *dir = o->images_dir, *work = o->work_dir ? o->work_dir : o->images_dir;
	const char *hot = o->hot_ws, *rec = o->record_ws;
	enum lp_prefetch mode = o->prefetch == CR_PREFETCH_NONE ? LP_PREFETCH_NONE :
				o->prefetch == CR_PREFETCH_HOT	 ? LP_PREFETCH_HOT :
								   LP_PREFETCH_ALL;
	char path[PATH_MAX];

	if (!dir) {
		pr_err("lazy-pages needs the images directory (-D)\n");
		errno = EINVAL;
		return -1;
	}
	if (mode == LP_PREFETCH_HOT && !hot) {
		pr_err("--prefetch hot needs --hot-ws FILE\n");
		errno = EINVAL;
		return -1;
	}
	uint64_t features = 0;
	int ret = uffd_probe_features(&features);
	if (ret || (features & LP_UFFD_FEATURES) != LP_UFFD_FEATURES) {
		pr_err("this kernel's userfaultfd lacks what lazy restore needs (features %#" PRIx64
		       ", need %#llx)%s%s\n",
		       features, (unsigned long long)LP_UFFD_FEATURES, ret ? ": " : "",
		       ret ? strerror(-ret) : "");
		return -1;
	}
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		pr_perror("can't open %s", dir);
		return -1;
	}
	cleanup_close int wfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (wfd < 0) {
		pr_perror("can't open the work dir %s", work);
		return -1;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", work, LP_SOCK_NAME) >= sizeof(path)) {
		pr_err("the socket path %s/%s is too long\n", work, LP_SOCK_NAME);
		errno = ENAMETOOLONG;
		return -1;
	}
	const char *addr = path;

	struct lp_loop loop;
	struct lp_server srv = { 0 };
	struct lp_watchdog wd = { -1, -1 };
	struct lp_ws_run *hot_runs = NULL;
	size_t nr_hot = 0;
	bool ignored = false;
	int status = -1;

	if (lp_loop_init(&loop, dfd, mode))
		return -1;
	loop.recording = rec != NULL;
	loop.busy_poll_ns = o->busy_poll_us * 1000;
	loop.fa_max = (uint32_t)MIN(o->fault_around, (uint64_t)LP_CHUNK_MAX / PAGE_SIZE);
	if (hot &&
	    (lp_ws_load(hot, dfd, &hot_runs, &nr_hot, &ignored) || lp_loop_set_hot(&loop, hot_runs, nr_hot)))
		goto out;
	loop.st.hot_ws_ignored = ignored;
	if (rec && mode != LP_PREFETCH_NONE)
		pr_info("--record-ws: faults only after the working set, one page each, so that every first "
			"touch is seen\n");
	signal(SIGPIPE, SIG_IGN);
	/* before any uffd arrives: the watchdog must get every one of them */
	if (lp_watchdog_start(&wd))
		goto out;
	loop.wd = &wd;
	if (lp_server_init(&srv, &loop, dfd, addr))
		goto out;
	/* --status-fd: CRIU's "ready" byte, once restores can connect */
	if (o->status_fd >= 0) {
		char zero = 0;
		if (write(o->status_fd, &zero, 1) != 1) {
			pr_perror("can't write to the status fd %d", o->status_fd);
			goto out;
		}
		close(o->status_fd);
	}
	pr_info("waiting for the restore at %s (prefetch %s)\n", addr,
		mode == LP_PREFETCH_NONE ? "none" : mode == LP_PREFETCH_ALL ? "all" : "hot");

	if (lp_loop_run(&loop)) {
		pr_msg("lazy-pages: FAILED: the memory of the restored process tree could not be "
		       "served; every lazily restored task has been killed so that none runs on "
		       "with missing memory\n");
		goto out;
	}
	/* every page is in: the uffds may go, the watchdog may let go */
	if (lp_watchdog_done(&wd))
		goto out;
	if (loop.st.tasks_killed) {
		pr_msg("lazy-pages: FAILED: %" PRIu64 " restored task(s) had to be killed because "
		       "their memory could not be served (see the log)\n", loop.st.tasks_killed);
		goto out;
	}
	status = 0;
out:
	if (status) {
		lp_loop_kill_all(&loop);
		lp_watchdog_abort(&wd);
	}
	lp_server_fini(&srv);
	lp_stats_log(&loop);
	if (lp_stats_write_json(&loop, wfd, STATS_FILE))
		status = -1;
	if (rec && write_record(rec, dfd, &loop))
		status = -1;
	lp_loop_fini(&loop);
	free(hot_runs);
	return status;
}
