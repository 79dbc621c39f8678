/* criu-lite lazy-pages: serve the memory of a lazily restored process tree. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "include/log.h"
#include "include/util.h"
#include "criu-lite/cmd.h"
#include "lazy-pages/handshake.h"
#include "lazy-pages/loop.h"
#include "lazy-pages/watchdog.h"

#define STATS_FILE "lazy-pages-stats.json"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: criu-lite lazy-pages -D DIR [OPTIONS]\n"
		"Serve the memory of a restore started with --lazy-pages through userfaultfd.\n\n"
		"  -D, --images-dir DIR     the dump directory (the socket is DIR/" LP_SOCK_NAME ")\n"
		"      --address PATH       listen at PATH instead\n"
		"      --prefetch MODE      none (faults only), all (default: stream every page\n"
		"                           once the restore finished), hot (the --hot-ws pages\n"
		"                           before the tasks run, then everything)\n"
		"      --hot-ws FILE        working set for --prefetch hot\n"
		"      --record-ws FILE     write the pages in the order they were first faulted\n"
		"      --busy-poll USEC     after a fault, look for the next one without sleeping\n"
		"                           for USEC microseconds (default %d; 0: never spin)\n"
		"  -v[0-4], -vv            verbosity (as CRIU: -v4 logs everything)\n"
		"  -o, --log-file FILE      log there\n"
		"Exits 0 once every page is in (statistics in DIR/" STATS_FILE ").\n",
		LP_BUSY_POLL_US_DEFAULT);
}

int cmd_lazy_pages(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "images-dir", required_argument, NULL, 'D' },
		{ "address", required_argument, NULL, 'a' },
		{ "prefetch", required_argument, NULL, 'p' },
		{ "hot-ws", required_argument, NULL, 'H' },
		{ "record-ws", required_argument, NULL, 'R' },
		{ "busy-poll", required_argument, NULL, 'B' },
		{ "log-file", required_argument, NULL, 'o' },
		{ "verbosity", optional_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *addr = NULL, *hot = NULL, *rec = NULL, *log = NULL;
	enum lp_prefetch mode = LP_PREFETCH_ALL;
	int verbose = LOG_WARN, c;
	uint64_t busy_poll_us = LP_BUSY_POLL_US_DEFAULT;
	char path[PATH_MAX];

	optind = 1;
	while ((c = getopt_long(argc, argv, "D:v::o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'D': dir = optarg; break;
		case 'a': addr = optarg; break;
		case 'H': hot = optarg; break;
		case 'R': rec = optarg; break;
		case 'o': log = optarg; break;
		case 'B':
			if (parse_u64(optarg, 10, &busy_poll_us) || busy_poll_us > 1000000) {
				fprintf(stderr, "lazy-pages: --busy-poll takes microseconds, 0 to 1000000\n");
				return 1;
			}
			break;
		case 'v':
			if (log_parse_verbosity(optarg, &verbose) < 0) {
				fprintf(stderr, "criu-lite lazy-pages: bad verbosity '%s'\n", optarg);
				return 1;
			}
			break;
		case 'p':
			if (!strcmp(optarg, "none"))
				mode = LP_PREFETCH_NONE;
			else if (!strcmp(optarg, "all"))
				mode = LP_PREFETCH_ALL;
			else if (!strcmp(optarg, "hot"))
				mode = LP_PREFETCH_HOT;
			else {
				fprintf(stderr, "lazy-pages: --prefetch is none, all or hot\n");
				return 1;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!dir || optind != argc) {
		usage(stderr);
		return 1;
	}
	if (mode == LP_PREFETCH_HOT && !hot) {
		fprintf(stderr, "lazy-pages: --prefetch hot needs --hot-ws FILE\n");
		return 1;
	}
	if (log_init_in_dir(verbose, dir, log))
		return 1;

	uint64_t features = 0;
	int ret = uffd_probe_features(&features);
	if (ret || (features & LP_UFFD_FEATURES) != LP_UFFD_FEATURES) {
		pr_err("this kernel's userfaultfd lacks what lazy restore needs (features %#" PRIx64
		       ", need %#llx)%s%s\n",
		       features, (unsigned long long)LP_UFFD_FEATURES, ret ? ": " : "",
		       ret ? strerror(-ret) : "");
		return 1;
	}
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		pr_perror("can't open %s", dir);
		return 1;
	}
	if (!addr) {
		snprintf(path, sizeof(path), "%s/%s", dir, LP_SOCK_NAME);
		addr = path;
	}

	struct lp_loop loop;
	struct lp_server srv = { 0 };
	struct lp_watchdog wd = { -1, -1 };
	struct lp_ws_rec *hot_recs = NULL;
	size_t nr_hot = 0;
	int status = 1;

	if (lp_loop_init(&loop, dfd, mode))
		return 1;
	loop.recording = rec != NULL;
	loop.busy_poll_ns = busy_poll_us * 1000;
	if (hot && (lp_ws_read(hot, &hot_recs, &nr_hot) || lp_loop_set_hot(&loop, hot_recs, nr_hot)))
		goto out;
	signal(SIGPIPE, SIG_IGN);
	/* before any uffd arrives: the watchdog must get every one of them */
	if (lp_watchdog_start(&wd))
		goto out;
	loop.wd = &wd;
	if (lp_server_init(&srv, &loop, dfd, addr))
		goto out;
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
	if (lp_stats_write_json(&loop, dfd, STATS_FILE))
		status = 1;
	if (rec && lp_ws_write(rec, loop.rec, loop.nr_rec))
		status = 1;
	lp_loop_fini(&loop);
	free(hot_recs);
	log_fini();
	return status;
}
