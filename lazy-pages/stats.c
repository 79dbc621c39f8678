/* Lazy-pages statistics: counters, fault latency percentiles, JSON output. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lib/log.h"
#include "lib/util.h"
#include "lazy-pages/stats.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

uint64_t lp_lat_pct(struct lp_lat *lat, double p)
{
	if (!lat->nr)
		return 0;
	/* sorting in place is fine: the order of samples carries no meaning */
	qsort(lat->v, lat->nr, sizeof(lat->v[0]), cmp_u32);
	size_t i = (size_t)(p / 100.0 * (double)(lat->nr - 1) + 0.5);
	if (i >= lat->nr)
		i = lat->nr - 1;
	return lat->v[i];
}

void lp_stats_fini(struct lp_stats *st)
{
	free(st->lat_missing.v);
	free(st->lat_minor.v);
	memset(&st->lat_missing, 0, sizeof(st->lat_missing));
	memset(&st->lat_minor, 0, sizeof(st->lat_minor));
}

static uint64_t ms_since(uint64_t from, uint64_t to)
{
	return from && to >= from ? (to - from) / 1000000 : 0;
}

static int lat_json(char *buf, size_t sz, const char *name, struct lp_lat *lat)
{
	return snprintf(buf, sz,
			"    \"%s\": { \"count\": %zu, \"p50\": %.1f, \"p99\": %.1f, \"max\": %.1f }",
			name, lat->nr, lp_lat_pct(lat, 50) / 1000.0, lp_lat_pct(lat, 99) / 1000.0,
			lp_lat_pct(lat, 100) / 1000.0);
}

int lp_stats_write_json(struct lp_loop *l, int dfd, const char *name)
{
	struct lp_stats *st = &l->st;
	char buf[6144], lm[512], ln[512];
	uint64_t end = st->t_all_ns ? st->t_all_ns : now_ns();

	lat_json(lm, sizeof(lm), "missing", &st->lat_missing);
	lat_json(ln, sizeof(ln), "minor", &st->lat_minor);
	int n = snprintf(
		buf, sizeof(buf),
		"{\n"
		"  \"faults_missing\": %" PRIu64 ",\n"
		"  \"faults_minor\": %" PRIu64 ",\n"
		"  \"pages_copied\": %" PRIu64 ",\n"
		"  \"pages_zeroed\": %" PRIu64 ",\n"
		"  \"pages_continued\": %" PRIu64 ",\n"
		"  \"pages_prefetched\": %" PRIu64 ",\n"
		"  \"pages_total\": %" PRIu64 ",\n"
		"  \"bytes_total\": %" PRIu64 ",\n"
		"  \"bytes_copied\": %" PRIu64 ",\n"
		"  \"eexist\": %" PRIu64 ",\n"
		"  \"eagain\": %" PRIu64 ",\n"
		"  \"faults_waited\": %" PRIu64 ",\n"
		"  \"enoent_retries\": %" PRIu64 ",\n"
		"  \"pages_dropped\": %" PRIu64 ",\n"
		"  \"faults_unpending\": %" PRIu64 ",\n"
		"  \"pages_faultaround\": %" PRIu64 ",\n"
		"  \"fault_wait_ms\": { \"missing\": %.1f, \"minor\": %.1f },\n"
		"  \"faults_while_prefetching\": %" PRIu64 ",\n"
		"  \"prefetch_thread_cpu_ms\": %.1f,\n"
		"  \"hot_pages\": %" PRIu64 ",\n"
		"  \"hot_pages_in_place\": %" PRIu64 ",\n"
		"  \"hot_faults\": %" PRIu64 ",\n"
		"  \"hot_ws_ignored\": %s,\n"
		"  \"preload_ms\": %.1f,\n"
		"  \"busy_poll\": { \"window_us\": %" PRIu64 ", \"waits\": %" PRIu64 ", \"hits\": %" PRIu64
		" },\n"
		"  \"events\": { \"fork\": %" PRIu64 ", \"remap\": %" PRIu64 ", \"remove\": %" PRIu64
		", \"unmap\": %" PRIu64 ", \"exit\": %" PRIu64 ", \"exit_probed\": %" PRIu64
		" },\n"
		"  \"probes\": %" PRIu64 ",\n"
		"  \"fault_latency_us\": {\n%s,\n%s\n  },\n"
		"  \"time_to_all_pages_ms\": %" PRIu64 ",\n"
		"  \"time_after_restore_finished_ms\": %" PRIu64 ",\n"
		"  \"complete\": %s,\n"
		"  \"ended\": \"%s\"\n"
		"}\n",
		st->faults_missing, st->faults_minor, st->pages_copied, st->pages_zeroed, st->pages_continued,
		st->pages_prefetched, st->pages_total, st->pages_total * PAGE_SIZE, st->bytes_copied,
		st->eexist, st->eagain, st->faults_waited, st->enoent_retries, st->pages_dropped,
		st->faults_unpending, st->pages_faultaround, st->wait_ns_missing / 1e6,
		st->wait_ns_minor / 1e6, st->faults_prefetching, lp_worker_cpu_ns(&l->wk) / 1e6,
		st->hot_pages, st->hot_in_place, st->hot_faults, st->hot_ws_ignored ? "true" : "false",
		st->t_preloaded_ns > st->t_sync_ns ? (st->t_preloaded_ns - st->t_sync_ns) / 1e6 : 0.0,
		l->busy_poll_ns / 1000, st->busy_polls, st->busy_poll_hits, st->forks, st->remaps,
		st->removes, st->unmaps, st->exits, st->exits_probed, st->probes, lm, ln, ms_since(st->t_start_ns, end),
		ms_since(st->t_finished_ns, end), st->t_all_ns ? "true" : "false",
		!st->t_all_ns	    ? "failed"
		: st->ended_by_exit ? "every task exited"
				    : "every page is in");
	if (n < 0 || n >= (int)sizeof(buf)) {
		pr_err("statistics do not fit\n");
		return -1;
	}
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		pr_perror("can't create %s", name);
		return -1;
	}
	if (write_all(fd, buf, n)) {
		pr_perror("can't write %s", name);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

void lp_stats_log(struct lp_loop *l)
{
	struct lp_stats *st = &l->st;
	uint64_t end = st->t_all_ns ? st->t_all_ns : now_ns();
	char hot[160] = "";

	if (st->hot_pages)
		snprintf(hot, sizeof(hot),
			 "; working set: %" PRIu64 " of %" PRIu64 " pages in place before the tasks ran"
			 " (%.1f ms), %" PRIu64 " faults on them",
			 st->hot_in_place, st->hot_pages,
			 st->t_preloaded_ns > st->t_sync_ns ? (st->t_preloaded_ns - st->t_sync_ns) / 1e6
							    : 0.0,
			 st->hot_faults);

	pr_msg("lazy-pages: %s: %" PRIu64 " pages (%" PRIu64 " copied, %" PRIu64 " zero, %" PRIu64
	       " continued, %" PRIu64 " prefetched), %" PRIu64 " missing + %" PRIu64
	       " minor faults (p50 %.1f/%.1f us, p99 %.1f/%.1f us; waited %.1f/%.1f ms), %" PRIu64 " ms%s\n",
	       !st->t_all_ns	   ? "stopped"
	       : st->ended_by_exit ? "every task exited"
				   : "every page is in",
	       st->pages_total, st->pages_copied, st->pages_zeroed, st->pages_continued, st->pages_prefetched,
	       st->faults_missing, st->faults_minor, lp_lat_pct(&st->lat_missing, 50) / 1000.0,
	       lp_lat_pct(&st->lat_minor, 50) / 1000.0, lp_lat_pct(&st->lat_missing, 99) / 1000.0,
	       lp_lat_pct(&st->lat_minor, 99) / 1000.0, st->wait_ns_missing / 1e6, st->wait_ns_minor / 1e6,
	       ms_since(st->t_start_ns, end), hot);
}
