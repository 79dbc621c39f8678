/*
 * Working-set benchmark (issue 13): how soon does a restored program answer?
 *
 * The workload (bench_ws_target) holds MB of memory, half private anonymous, half
 * MAP_SHARED|MAP_ANONYMOUS, and answers requests that each read PERCENT% of it in
 * scattered pieces (bench_ws.h). Requests are queued real-time signals; answers are
 * records in a regular file the workload opened before the dump, stamped with
 * CLOCK_MONOTONIC. The driver takes t0 just before it starts `criu-lite restore`, queues
 * REQUESTS requests as soon as the restore command returns (the tree runs), and reads
 * the answers' times. Two workloads, one image:
 *   fixed     every request reads slice 0 (the same 10%);
 *   rotating  request i reads slice (nslices/2 + i) (a different 10% each time, and
 *             not the slice the working set was recorded on: recording can't help).
 * Restore modes: eager; lazy with --prefetch none and --fault-around 1 ("plain": one
 * page a fault, on-demand paging as REAP measured it), --prefetch none (fault-around),
 * hot (the working set recorded by `lazy-pages --record-ws` during an earlier lazy
 * restore of the same images, whose workload answered --record-requests requests on
 * slice 0, put in before the task runs), all (the default).
 *
 * Beside them, the raw userfaultfd floor of the same run (`uffd_tests -b`: a bare
 * UFFDIO_COPY/UFFDIO_CONTINUE handler, on the task's CPU and on another one).
 * Every figure is repeated --reps times, the modes interleaved, and printed as the
 * median [min-max], with where the task's first request went (its own schedstat: on a
 * CPU, waiting for one, blocked in faults) and the daemon's CPU time up to that answer.
 * It is a benchmark, not a test: it fails only if a restore fails or an answer reads
 * other data than was dumped.
 *
 * For analysis: --keep, then --reuse runs again on the same images (no new dump);
 * --daemon-wrap runs lazy-pages under a prefix (taskset, chrt, strace), --daemon-args
 * passes it options (--busy-poll 0). See ISSUE13-ANALYSIS.md and ws_trace.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_ws.h"

#define MAX_REPS 16
#define NR_MODES 5
#define NR_WL 2

enum mode { M_EAGER, M_PLAIN, M_NONE, M_HOT, M_ALL };
static const char *const mode_name[NR_MODES] = { "eager", "plain", "none", "hot", "all" };
enum wl { WL_FIXED, WL_ROTATING };
static const char *const wl_name[NR_WL] = { "fixed", "rotating" };

struct opts {
	const char *criu, *target, *uffd_tests, *dir;
	const char *daemon_args, *daemon_wrap; /* split at spaces; may be NULL */
	unsigned daemon_v;
	unsigned mb, reps, requests, piece_kb, percent, record_requests;
	bool mode_on[NR_MODES], wl_on[NR_WL];
	bool keep, reuse;
};

/* Paths of one bench directory. */
struct paths {
	char imgdir[4096], pidfile[4200], rpidfile[4200], answers[4200], ws[4200], sock[4200],
		stats[4200];
};

/* One restore and its requests. Times in ms from t0 (just before `restore` starts). */
struct result {
	bool valid;
	double t_running;       /* the restore command returned: the tree runs */
	double t_recv1;         /* the first request dequeued by the task */
	double t_first, t_last; /* first and last (REQUESTS-th) answer */
	double svc1, svc_last;  /* service time of the first and the last request */
	uint64_t slow1, slow_ns1; /* first request: page touches >= WS_SLOW_NS, their sum */
	uint64_t slow_all, slow_ns_all;
	uint32_t hist1[WS_HIST];
	/* the task during request 1: on a CPU, runnable but waiting for one, blocked (faults) */
	double run1, runq1, blocked1, nivcsw1;
	/* the daemon's threads from t0 to the first answer: on a CPU, waiting for one */
	double d_run, d_runq;
	/* lazy: the daemon's statistics */
	double f_missing, f_minor, p50_missing, p50_minor, prefetched, copied, continued,
		waited, busy_polls, busy_hits, daemon_all_ms;
	long daemon_rss_kb;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ms_between(uint64_t a, uint64_t b)
{
	return ((double)b - (double)a) / 1e6;
}

static pid_t spawn(char *const argv[], const char *out)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("bench_ws: fork");
		return -1;
	}
	if (pid == 0) {
		/* only stdio: an inherited pipe or socket would make a dump refuse the target */
		closefrom(3);
		if (out) {
			int in = open("/dev/null", O_RDONLY);
			int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (in < 0 || o < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0)
				_exit(127);
			/* the workload leads its own session: a dump refuses a session led
			 * outside the tree (without --shell-job) */
			if (setsid() < 0)
				_exit(127);
		}
		execv(argv[0], argv);
		perror("bench_ws: exec");
		_exit(127);
	}
	return pid;
}

/* Wait for pid with a deadline; 0 and *ret_status, or -1 (still running or error). */
static int wait_pid(pid_t pid, double timeout_s, int *ret_status, struct rusage *ru)
{
	uint64_t end = now_ns() + (uint64_t)(timeout_s * 1e9);
	for (;;) {
		int st;
		struct rusage r;
		pid_t p = wait4(pid, &st, WNOHANG, ru ? ru : &r);
		if (p == pid) {
			if (ret_status)
				*ret_status = st;
			return 0;
		}
		if (p < 0 && errno != EINTR)
			return -1;
		if (now_ns() > end)
			return -1;
		usleep(500);
	}
}

static void kill_wait(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	wait_pid(pid, 10, NULL, NULL);
}

static int exit_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int wait_path(const char *path, mode_t type, double timeout_s, pid_t alive)
{
	uint64_t end = now_ns() + (uint64_t)(timeout_s * 1e9);
	struct stat st;
	while (now_ns() < end) {
		if (stat(path, &st) == 0 && (st.st_mode & S_IFMT) == type && (type != S_IFREG || st.st_size > 0))
			return 0;
		if (alive > 0 && waitpid(alive, NULL, WNOHANG) == alive)
			return -1;
		usleep(200);
	}
	return -1;
}

static pid_t read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	int pid = -1;
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	return pid;
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* The number after "key": inside the object that follows "section" (or anywhere if NULL). */
static double json_num(const char *buf, const char *section, const char *key)
{
	char k[128];
	const char *p = buf;
	if (section) {
		snprintf(k, sizeof(k), "\"%s\"", section);
		p = strstr(buf, k);
		if (!p)
			return -1;
	}
	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(p, k);
	return p ? strtod(p + strlen(k), NULL) : -1;
}

/* Zero the answers file (its size stays what it was at dump). */
static int answers_reset(const char *path)
{
	static const struct ws_rec zero[WS_MAX_REQ];
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || pwrite(fd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero)) {
		perror("bench_ws: answers file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Records 0..n-1; how many carry the magic. */
static unsigned answers_read(const char *path, struct ws_rec *recs, unsigned n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned got = 0;
	if (fd < 0)
		return 0;
	ssize_t r = pread(fd, recs, n * sizeof(*recs), 0);
	close(fd);
	for (unsigned i = 0; r > 0 && i < n && (i + 1) * sizeof(*recs) <= (size_t)r; i++)
		if (recs[i].magic == WS_REC_MAGIC)
			got++;
	return got;
}

/* Sum over the threads of pid of their time on a CPU and on a runqueue (ms). */
static void proc_sched(pid_t pid, double *ret_run, double *ret_runq)
{
	char path[64];
	struct dirent *de;
	*ret_run = *ret_runq = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char sp[300], buf[128];
		unsigned long long run, wait;
		if (de->d_name[0] == '.')
			continue;
		snprintf(sp, sizeof(sp), "/proc/%d/task/%s/schedstat", pid, de->d_name);
		int fd = open(sp, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		if (sscanf(buf, "%llu %llu", &run, &wait) == 2) {
			*ret_run += run / 1e6;
			*ret_runq += wait / 1e6;
		}
	}
	closedir(d);
}

struct daemon {
	pid_t pid;
	double run0, runq0; /* its threads' schedstat sums at t0 (ms) */
	double run1, runq1; /* ... when the first answer was seen */
};

static int daemon_start(const struct opts *o, const struct paths *p, const char *prefetch,
			const char *mode_args, const char *hot, const char *record, const char *tag,
			struct daemon *d)
{
	char log[256], verb[8], wrap[512], extra[512];
	snprintf(log, sizeof(log), "lazy-pages-%s.log", tag);
	snprintf(verb, sizeof(verb), "-v%u", o->daemon_v);
	char *argv[64];
	int n = 0;
	/* --daemon-wrap: a command prefix (perf, strace, taskset), split at spaces; a word
	 * TAG becomes the run's name */
	snprintf(wrap, sizeof(wrap), "%s", o->daemon_wrap ? o->daemon_wrap : "");
	for (char *s = strtok(wrap, " "); s && n < 24; s = strtok(NULL, " "))
		argv[n++] = !strcmp(s, "TAG") ? (char *)tag : s;
	argv[n++] = (char *)o->criu;
	argv[n++] = "lazy-pages";
	argv[n++] = "-D";
	argv[n++] = (char *)p->imgdir;
	argv[n++] = "--prefetch";
	argv[n++] = (char *)prefetch;
	if (hot) {
		argv[n++] = "--hot-ws";
		argv[n++] = (char *)hot;
	}
	if (record) {
		argv[n++] = "--record-ws";
		argv[n++] = (char *)record;
	}
	snprintf(extra, sizeof(extra), "%s %s", mode_args ? mode_args : "",
		 o->daemon_args ? o->daemon_args : "");
	for (char *s = strtok(extra, " "); s && n < 56; s = strtok(NULL, " "))
		argv[n++] = s;
	argv[n++] = "-o";
	argv[n++] = log;
	argv[n++] = verb;
	argv[n] = NULL;
	unlink(p->sock);
	unlink(p->stats);
	d->pid = spawn(argv, NULL);
	if (d->pid < 0)
		return -1;
	/* listening before t0: a restore that finds no socket retries every 10 ms */
	if (wait_path(p->sock, S_IFSOCK, 10, d->pid) < 0) {
		fprintf(stderr, "bench_ws: the lazy-pages daemon did not start; see %s/%s\n", p->imgdir, log);
		kill_wait(d->pid);
		return -1;
	}
	return 0;
}

/*
 * One restore (lazy if d), then nreq requests (slice of request i: slice0 + i*step),
 * the answers, SIGTERM. recs gets the answers. 0, or -1 (everything started is gone).
 */
static int restore_and_ask(const struct opts *o, const struct paths *p, struct daemon *d, const char *tag,
			   uint32_t slice0, uint32_t step, unsigned nreq, struct ws_rec *recs,
			   uint64_t *ret_t0, uint64_t *ret_running, struct rusage *ret_dru)
{
	char log[256];
	snprintf(log, sizeof(log), "restore-%s.log", tag);
	char *argv[] = { (char *)o->criu, "restore", "-D", (char *)p->imgdir, "-d", "--pidfile",
			 (char *)p->rpidfile, "-o", log, "-v4", d ? "--lazy-pages" : NULL, NULL };
	int st;

	unlink(p->rpidfile);
	if (answers_reset(p->answers))
		goto fail_daemon;
	if (d)
		proc_sched(d->pid, &d->run0, &d->runq0);
	uint64_t t0 = now_ns();
	pid_t rp = spawn(argv, NULL);
	if (rp < 0 || wait_pid(rp, 300, &st, NULL) < 0) {
		kill_wait(rp);
		goto fail_daemon;
	}
	uint64_t t_run = now_ns();
	if (exit_code(st)) {
		fprintf(stderr, "bench_ws: restore (%s) failed (exit %d); see %s/%s\n", tag, exit_code(st),
			p->imgdir, log);
		goto fail_daemon;
	}
	pid_t pid = read_pid(p->rpidfile);
	if (pid <= 0) {
		fprintf(stderr, "bench_ws: no restored pid in %s\n", p->rpidfile);
		goto fail_daemon;
	}
	for (unsigned i = 0; i < nreq; i++) {
		union sigval v = { .sival_int = (int)(slice0 + i * step) };
		if (sigqueue(pid, SIGRTMIN, v) < 0) {
			perror("bench_ws: sigqueue");
			goto fail_task;
		}
	}
	/* the restored root is ours to reap (we are its subreaper) */
	uint64_t end = now_ns() + 600ull * 1000000000ull;
	bool first_seen = false;
	for (;;) {
		unsigned got = answers_read(p->answers, recs, nreq);
		if (got && !first_seen && d) {
			/* within 0.5 ms of the first answer */
			proc_sched(d->pid, &d->run1, &d->runq1);
			first_seen = true;
		}
		if (got >= nreq)
			break;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "bench_ws: the restored workload (%s) died (status %d) after %u answers\n",
				tag, exit_code(st), answers_read(p->answers, recs, nreq));
			pid = -1;
			goto fail_task;
		}
		if (now_ns() > end) {
			fprintf(stderr, "bench_ws: no answers from the restored workload (%s)\n", tag);
			goto fail_task;
		}
		usleep(500);
	}
	kill(pid, SIGTERM);
	if (wait_pid(pid, 60, &st, NULL) < 0 || exit_code(st)) {
		fprintf(stderr, "bench_ws: the restored workload (%s) did not exit cleanly\n", tag);
		goto fail_task;
	}
	pid = -1;
	if (d) {
		if (wait_pid(d->pid, 120, &st, ret_dru) < 0 || exit_code(st)) {
			fprintf(stderr, "bench_ws: the lazy-pages daemon (%s) failed; see %s/lazy-pages-%s.log\n",
				tag, p->imgdir, tag);
			kill_wait(d->pid);
			return -1;
		}
	}
	if (answers_read(p->answers, recs, nreq) < nreq)
		return -1;
	for (unsigned i = 0; i < nreq; i++)
		if (!recs[i].ok) {
			fprintf(stderr, "bench_ws: answer %u (%s) read other data than was dumped (slice %u: "
					"%#llx, want %#llx)\n",
				i, tag, recs[i].slice, (unsigned long long)recs[i].sum,
				(unsigned long long)recs[i].want);
			return -1;
		}
	*ret_t0 = t0;
	*ret_running = t_run;
	return 0;
fail_task:
	kill_wait(pid);
fail_daemon:
	if (d)
		kill_wait(d->pid);
	return -1;
}

static int run_one(const struct opts *o, const struct paths *p, enum mode m, enum wl w, unsigned rep,
		   uint32_t nslices, struct result *r)
{
	char tag[64];
	struct ws_rec recs[WS_MAX_REQ];
	struct daemon d = { .pid = -1 }, *dp = NULL;
	struct rusage dru = { 0 };
	uint64_t t0, trun;

	snprintf(tag, sizeof(tag), "%s-%s-%u", wl_name[w], mode_name[m], rep);
	memset(r, 0, sizeof(*r));
	if (m != M_EAGER) {
		/* plain: on-demand paging one page a fault, the baseline REAP measured against */
		if (daemon_start(o, p, m == M_PLAIN ? "none" : mode_name[m],
				 m == M_PLAIN ? "--fault-around 1" : NULL, m == M_HOT ? p->ws : NULL, NULL,
				 tag, &d))
			return -1;
		dp = &d;
	}
	uint32_t slice0 = w == WL_FIXED ? 0 : nslices / 2, step = w == WL_FIXED ? 0 : 1;
	if (restore_and_ask(o, p, dp, tag, slice0, step, o->requests, recs, &t0, &trun, &dru))
		return -1;
	const struct ws_rec *a = &recs[0], *z = &recs[o->requests - 1];
	r->t_running = ms_between(t0, trun);
	r->t_recv1 = ms_between(t0, a->t_recv_ns);
	r->t_first = ms_between(t0, a->t_done_ns);
	r->t_last = ms_between(t0, z->t_done_ns);
	r->svc1 = ms_between(a->t_recv_ns, a->t_done_ns);
	r->svc_last = ms_between(z->t_recv_ns, z->t_done_ns);
	r->slow1 = a->slow_pages;
	r->slow_ns1 = a->slow_ns;
	memcpy(r->hist1, a->hist, sizeof(r->hist1));
	r->run1 = a->run_ns / 1e6;
	r->runq1 = a->runq_ns / 1e6;
	r->blocked1 = r->svc1 - r->run1 - r->runq1;
	r->nivcsw1 = (double)a->nivcsw;
	for (unsigned i = 0; i < o->requests; i++) {
		r->slow_all += recs[i].slow_pages;
		r->slow_ns_all += recs[i].slow_ns;
	}
	if (dp) {
		char *js = slurp(p->stats);
		if (!js) {
			fprintf(stderr, "bench_ws: no %s\n", p->stats);
			return -1;
		}
		r->f_missing = json_num(js, NULL, "faults_missing");
		r->f_minor = json_num(js, NULL, "faults_minor");
		r->p50_missing = json_num(js, "missing", "p50");
		r->p50_minor = json_num(js, "minor", "p50");
		r->prefetched = json_num(js, NULL, "pages_prefetched");
		r->copied = json_num(js, NULL, "pages_copied");
		r->continued = json_num(js, NULL, "pages_continued");
		r->waited = json_num(js, NULL, "faults_waited");
		r->busy_polls = json_num(js, "busy_poll", "waits");
		r->busy_hits = json_num(js, "busy_poll", "hits");
		r->daemon_all_ms = json_num(js, NULL, "time_to_all_pages_ms");
		r->daemon_rss_kb = dru.ru_maxrss;
		r->d_run = d.run1 - d.run0;
		r->d_runq = d.runq1 - d.runq0;
		char keep[4400];
		snprintf(keep, sizeof(keep), "%s/lazy-pages-stats-%s.json", p->imgdir, tag);
		rename(p->stats, keep);
	}
	r->valid = true;
	printf("  [%u] %-8s %-5s running %7.1f  1st req seen %7.1f  1st answer %7.1f  %u-th %7.1f ms"
	       "  (service 1st %6.1f, last %5.1f ms; slow touches %llu",
	       rep, wl_name[w], mode_name[m], r->t_running, r->t_recv1, r->t_first, o->requests, r->t_last,
	       r->svc1, r->svc_last, (unsigned long long)r->slow1);
	if (dp)
		printf("; faults %.0f MISSING + %.0f MINOR", r->f_missing, r->f_minor);
	printf(")\n");
	printf("      1st request: task on CPU %.1f, waiting for a CPU %.1f (%.0f preemptions), blocked %.1f ms",
	       r->run1, r->runq1, r->nivcsw1, r->blocked1);
	if (dp)
		printf("; daemon t0 -> 1st answer: on CPU %.1f, waiting for a CPU %.1f ms", r->d_run, r->d_runq);
	printf("\n");
	return 0;
}

/* The recording: a lazy restore with --prefetch none --record-ws, the workload answers
 * record_requests requests on slice 0, then exits. */
static int record_ws(const struct opts *o, const struct paths *p)
{
	struct ws_rec recs[WS_MAX_REQ];
	struct daemon d;
	uint64_t t0, trun;

	unlink(p->ws);
	if (daemon_start(o, p, "none", NULL, NULL, p->ws, "record", &d))
		return -1;
	if (restore_and_ask(o, p, &d, "record", 0, 0, o->record_requests, recs, &t0, &trun, NULL))
		return -1;
	struct stat st;
	if (stat(p->ws, &st) < 0) {
		fprintf(stderr, "bench_ws: the daemon wrote no working set %s\n", p->ws);
		return -1;
	}
	/* lazy-pages/ws.h: a header of 32 bytes (u32 magic, version, header size, sets, runs,
	 * run size, u64 identity), sets of 24 bytes, then runs of 32: u32 kind, u32 flags,
	 * u64 id, u64 address, u64 pages */
	FILE *f = fopen(p->ws, "r");
	uint64_t n_anon = 0, n_shm = 0, n_written = 0, n_runs = 0;
	uint32_t h[8];
	if (f && fread(h, sizeof(h), 1, f) == 1 && h[1] == 2 &&
	    fseek(f, 32 + 24 * (long)h[3], SEEK_SET) == 0) {
		unsigned char rec[32];
		while (fread(rec, sizeof(rec), 1, f) == 1) {
			uint32_t kind, flags;
			uint64_t nr;
			memcpy(&kind, rec, 4);
			memcpy(&flags, rec + 4, 4);
			memcpy(&nr, rec + 24, 8);
			n_anon += kind == 1 ? nr : 0;
			n_shm += kind == 2 ? nr : 0;
			n_written += flags & 1 ? nr : 0;
			n_runs++;
		}
	}
	if (f)
		fclose(f);
	printf("recorded working set: %u request(s) on slice 0 under --prefetch none --record-ws:\n"
	       "  %llu private + %llu shmem pages (%.1f MiB, %llu first written) in %llu runs, file %lld "
	       "bytes;"
	       " first answer %.1f ms after t0\n",
	       o->record_requests, (unsigned long long)n_anon, (unsigned long long)n_shm,
	       (n_anon + n_shm) * 4096.0 / (1 << 20), (unsigned long long)n_written,
	       (unsigned long long)n_runs, (long long)st.st_size, ms_between(t0, recs[0].t_done_ns));
	return 0;
}

/* ---- the raw floor: uffd_tests -b ---- */

struct floor {
	double miss_same, minor_same, miss_other, minor_other, miss_spin, minor_spin;
	double lp_miss_same, lp_minor_same, lp_miss_other, lp_minor_other;
};

static int run_floor(const char *bin, struct floor *fl)
{
	char cmd[4200], line[512];
	int placement = 0;

	for (double *v = &fl->miss_same; v <= &fl->lp_minor_other; v++)
		*v = -1;
	snprintf(cmd, sizeof(cmd), "'%s' -b", bin);
	fflush(NULL);
	FILE *f = popen(cmd, "r");
	if (!f) {
		perror("bench_ws: uffd_tests -b");
		return -1;
	}
	printf("raw userfaultfd floor, this run (%s -b):\n", bin);
	while (fgets(line, sizeof(line), f)) {
		printf("  | %s", line);
		const char *q = strstr(line, "p50");
		double v = q ? strtod(q + 3, NULL) : -1;
		if (strstr(line, "handler on the task's CPU"))
			placement = 1;
		else if (strstr(line, "handler on another CPU"))
			placement = 2;
		else if (strstr(line, "bandwidth"))
			placement = 0;
		if (!q || !placement)
			continue;
		bool same = placement == 1;
		if (strstr(line, "MISSING raw floor"))
			*(same ? &fl->miss_same : &fl->miss_other) = v;
		else if (strstr(line, "MINOR   raw floor"))
			*(same ? &fl->minor_same : &fl->minor_other) = v;
		else if (strstr(line, "MISSING raw, spinning"))
			fl->miss_spin = v;
		else if (strstr(line, "MINOR   raw, spinning"))
			fl->minor_spin = v;
		else if (strstr(line, "MISSING lp_loop"))
			*(same ? &fl->lp_miss_same : &fl->lp_miss_other) = v;
		else if (strstr(line, "MINOR   lp_loop"))
			*(same ? &fl->lp_minor_same : &fl->lp_minor_other) = v;
	}
	int st = pclose(f);
	if (st != 0) {
		fprintf(stderr, "bench_ws: uffd_tests -b failed (%d)\n", st);
		return -1;
	}
	return 0;
}

/* ---- machine load ---- */

struct cpu_sample {
	double busy_s, steal_s, self_s, wall_s;
};

static void cpu_sample(struct cpu_sample *c)
{
	unsigned long long v[10] = { 0 };
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "r");
	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
			   &v[5], &v[6], &v[7]) != 8)
			memset(v, 0, sizeof(v));
		fclose(f);
	}
	/* user nice system idle iowait irq softirq steal */
	c->busy_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
	c->steal_s = (double)v[7] / hz;
	struct rusage a, b;
	getrusage(RUSAGE_SELF, &a);
	getrusage(RUSAGE_CHILDREN, &b);
	c->self_s = a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec +
		    (a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec) / 1e6;
	c->wall_s = now_ns() / 1e9;
}

static void print_load(const char *when, const struct cpu_sample *from, const struct cpu_sample *to)
{
	char *la = slurp("/proc/loadavg");
	char l[128] = "";
	if (la)
		snprintf(l, sizeof(l), "%.*s", (int)strcspn(la, "\n"), la);
	printf("machine load %s: loadavg %s", when, l);
	if (from && to) {
		double wall = to->wall_s - from->wall_s, busy = to->busy_s - from->busy_s;
		double ours = to->self_s - from->self_s;
		printf("; over %.0f s on %ld CPUs: %.1f CPU-s busy (%.0f%%), %.1f of them ours (this bench and "
		       "the processes it reaped), %.1f not (other users, kernel threads), steal %.1f s",
		       wall, sysconf(_SC_NPROCESSORS_ONLN), busy,
		       wall > 0 ? 100 * busy / (wall * sysconf(_SC_NPROCESSORS_ONLN)) : 0, ours,
		       busy - ours > 0 ? busy - ours : 0, to->steal_s - from->steal_s);
	}
	printf("\n");
}

/* ---- summary ---- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* "median [min-max]" of field at byte offset off of the valid results. */
static void stat3(char *out, size_t sz, const struct result *rs, unsigned n, size_t off, const char *fmt)
{
	double v[MAX_REPS];
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		if (rs[i].valid)
			v[k++] = *(const double *)((const char *)&rs[i] + off);
	if (!k) {
		snprintf(out, sz, "-");
		return;
	}
	qsort(v, k, sizeof(v[0]), cmp_d);
	char a[20], b[20], c[20];
	snprintf(a, sizeof(a), fmt, v[k / 2]);
	snprintf(b, sizeof(b), fmt, v[0]);
	snprintf(c, sizeof(c), fmt, v[k - 1]);
	if (k == 1)
		snprintf(out, sz, "%s", a);
	else
		snprintf(out, sz, "%s [%s-%s]", a, b, c);
}

/* The median first access of the pages that faulted (>= WS_SLOW_NS) in request 1, us. */
static double slow_p50(const struct result *r)
{
	uint64_t n = 0, seen = 0;
	unsigned lo = ws_bucket(WS_SLOW_NS);
	for (unsigned b = lo; b < WS_HIST; b++)
		n += r->hist1[b];
	for (unsigned b = lo; b < WS_HIST && n; b++) {
		seen += r->hist1[b];
		if (seen * 2 >= n)
			return (ws_bucket_ns(b) + ws_bucket_ns(b + 1)) / 2 / 1000;
	}
	return -1;
}

static void summary(const struct opts *o, struct result rs[NR_WL][NR_MODES][MAX_REPS], const struct floor *fl)
{
	char c1[64], c2[64], c3[64], c4[64], c5[64], c6[64], c7[64], faults[136];

	for (int w = 0; w < NR_WL; w++) {
		if (!o->wl_on[w])
			continue;
		printf("\n%s workload (%s), %u MiB, %u reps, median [min-max], ms from t0 = `restore` started:\n",
		       wl_name[w],
		       w == WL_FIXED ? "every request reads slice 0, the recorded one"
				     : "request i reads slice nslices/2 + i: never the recorded one, a new one each time",
		       o->mb, o->reps);
		printf("  %-6s | %-21s | %-21s | %-21s | %-21s | %-19s | %-17s\n", "mode", "tree running",
		       "first answer", "answers done", "1st request service", "faults MISS/MINOR", "in-task fault us");
		for (int m = 0; m < NR_MODES; m++) {
			if (!o->mode_on[m])
				continue;
			struct result *r = rs[w][m];
			stat3(c1, sizeof(c1), r, o->reps, offsetof(struct result, t_running), "%.0f");
			stat3(c2, sizeof(c2), r, o->reps, offsetof(struct result, t_first), "%.0f");
			stat3(c3, sizeof(c3), r, o->reps, offsetof(struct result, t_last), "%.0f");
			stat3(c4, sizeof(c4), r, o->reps, offsetof(struct result, svc1), "%.0f");
			stat3(c5, sizeof(c5), r, o->reps, offsetof(struct result, f_missing), "%.0f");
			stat3(c6, sizeof(c6), r, o->reps, offsetof(struct result, f_minor), "%.0f");
			double mean[MAX_REPS], p50[MAX_REPS];
			unsigned k = 0;
			for (unsigned i = 0; i < o->reps; i++)
				if (r[i].valid && r[i].slow1) {
					mean[k] = r[i].slow_ns1 / 1e3 / r[i].slow1;
					p50[k++] = slow_p50(&r[i]);
				}
			qsort(mean, k, sizeof(double), cmp_d);
			qsort(p50, k, sizeof(double), cmp_d);
			if (k)
				snprintf(c7, sizeof(c7), "%.1f mean, %.1f p50", mean[k / 2], p50[k / 2]);
			else
				snprintf(c7, sizeof(c7), "no slow touches");
			if (m == M_EAGER)
				snprintf(faults, sizeof(faults), "-");
			else
				snprintf(faults, sizeof(faults), "%s / %s", c5, c6);
			printf("  %-6s | %-21s | %-21s | %-21s | %-21s | %-19s | %-17s\n", mode_name[m], c1, c2, c3, c4,
			       faults, c7);
		}
		printf("  first request, where the task's time went (ms) and the daemon's CPU from t0 to the first answer:\n");
		printf("  %-6s | %-19s | %-19s | %-19s | %-19s | %-19s\n", "mode", "task on a CPU", "task waits for CPU",
		       "task blocked", "daemon on a CPU", "daemon waits for CPU");
		for (int m = 0; m < NR_MODES; m++) {
			if (!o->mode_on[m])
				continue;
			struct result *r = rs[w][m];
			stat3(c1, sizeof(c1), r, o->reps, offsetof(struct result, run1), "%.0f");
			stat3(c2, sizeof(c2), r, o->reps, offsetof(struct result, runq1), "%.0f");
			stat3(c3, sizeof(c3), r, o->reps, offsetof(struct result, blocked1), "%.0f");
			stat3(c4, sizeof(c4), r, o->reps, offsetof(struct result, d_run), "%.0f");
			stat3(c5, sizeof(c5), r, o->reps, offsetof(struct result, d_runq), "%.0f");
			printf("  %-6s | %-19s | %-19s | %-19s | %-19s | %-19s\n", mode_name[m], c1, c2, c3,
			       m == M_EAGER ? "-" : c4, m == M_EAGER ? "-" : c5);
		}
		printf("  (answers done: all %u requests answered; they are queued at once when the tree runs.\n"
		       "   in-task fault: first touches of a page that took >= %.0f us in request 1, timed by the task.)\n",
		       o->requests, WS_SLOW_NS / 1e3);
	}
	if (fl && fl->miss_same > 0)
		printf("\nraw userfaultfd floor (same run, p50 first access in the faulting task):\n"
		       "  handler on the task's CPU: MISSING %.1f us, MINOR %.1f us (lazy-pages' loop: %.1f / %.1f)\n"
		       "  handler on another CPU:    MISSING %.1f us, MINOR %.1f us sleeping; %.1f / %.1f spinning"
		       " (lazy-pages' loop: %.1f / %.1f)\n",
		       fl->miss_same, fl->minor_same, fl->lp_miss_same, fl->lp_minor_same, fl->miss_other,
		       fl->minor_other, fl->miss_spin, fl->minor_spin, fl->lp_miss_other, fl->lp_minor_other);
	/* ratios the issue sets targets for, from the medians */
	for (int w = 0; w < NR_WL; w++) {
		if (!o->wl_on[w])
			continue;
		double med[NR_MODES] = { 0 };
		for (int m = 0; m < NR_MODES; m++) {
			double v[MAX_REPS];
			unsigned k = 0;
			for (unsigned i = 0; i < o->reps; i++)
				if (rs[w][m][i].valid)
					v[k++] = rs[w][m][i].t_first;
			if (k) {
				qsort(v, k, sizeof(double), cmp_d);
				med[m] = v[k / 2];
			}
		}
		printf("%s, first answer (medians):", wl_name[w]);
		if (med[M_HOT] > 0 && med[M_PLAIN] > 0)
			printf(" plain/hot %.2fx (REAP: 3.7x over one page a fault);",
			       med[M_PLAIN] / med[M_HOT]);
		if (med[M_HOT] > 0 && med[M_NONE] > 0)
			printf(" none/hot %.2fx (target >= 3.7);", med[M_NONE] / med[M_HOT]);
		if (med[M_HOT] > 0 && med[M_EAGER] > 0)
			printf(" eager/hot %.2fx (target >= 5);", med[M_EAGER] / med[M_HOT]);
		if (med[M_ALL] > 0 && med[M_NONE] > 0)
			printf(" all/none %.2fx (target <= 1.0);", med[M_ALL] / med[M_NONE]);
		if (med[M_NONE] > 0 && med[M_PLAIN] > 0)
			printf(" plain/none %.2fx (fault-around)", med[M_PLAIN] / med[M_NONE]);
		printf("\n");
	}
	/* a fault of one page, as the task sees it, against the floor of this run */
	if (fl && fl->miss_same > 0 && o->mode_on[M_PLAIN]) {
		double p50[MAX_REPS * NR_WL];
		unsigned k = 0;
		for (int w = 0; w < NR_WL; w++)
			for (unsigned i = 0; o->wl_on[w] && i < o->reps; i++)
				if (rs[w][M_PLAIN][i].valid && rs[w][M_PLAIN][i].slow1)
					p50[k++] = slow_p50(&rs[w][M_PLAIN][i]);
		if (k) {
			qsort(p50, k, sizeof(double), cmp_d);
			double f = p50[k / 2];
			printf("in-task fault of one page (plain), p50 %.1f us: %.2fx the floor on the "
			       "task's CPU (%.1f us), "
			       "%.2fx across CPUs, spinning (%.1f us) (target <= 1.5)\n",
			       f, f / fl->miss_same, fl->miss_same, f / fl->miss_spin, fl->miss_spin);
		}
	}
}

/* The bench directory, the workload and its dump. 0 or -1. */
static int prepare(const struct opts *o, const struct paths *p)
{
	unsigned half = o->mb / 2;
	char cmd[4300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", o->dir, p->imgdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "bench_ws: can't prepare %s\n", o->dir);
		return -1;
	}
	if (answers_reset(p->answers))
		return -1;

	char a1[16], a2[16], a3[16], a4[16], out[4300];
	snprintf(a1, sizeof(a1), "%u", half);
	snprintf(a2, sizeof(a2), "%u", half);
	snprintf(a3, sizeof(a3), "%u", o->piece_kb);
	snprintf(a4, sizeof(a4), "%u", o->percent);
	snprintf(out, sizeof(out), "%s/target.out", o->dir);
	char *targv[] = { (char *)o->target, a1, a2, a3, a4, (char *)p->pidfile, (char *)p->answers, NULL };
	uint64_t ts = now_ns();
	pid_t tpid = spawn(targv, out);
	if (tpid < 0 || wait_path(p->pidfile, S_IFREG, 300, tpid) < 0) {
		fprintf(stderr, "bench_ws: the workload did not start; see %s\n", out);
		kill_wait(tpid);
		return -1;
	}
	double t_setup = ms_between(ts, now_ns());
	char pidarg[16];
	snprintf(pidarg, sizeof(pidarg), "%d", tpid);
	char *dargv[] = { (char *)o->criu, "dump", "-t", pidarg, "-D", (char *)p->imgdir, "-o", "dump.log", "-v4", NULL };
	int st;
	ts = now_ns();
	pid_t dp = spawn(dargv, NULL);
	if (dp < 0 || wait_pid(dp, 600, &st, NULL) < 0 || exit_code(st)) {
		fprintf(stderr, "bench_ws: dump failed; see %s/dump.log\n", p->imgdir);
		kill_wait(dp);
		kill_wait(tpid);
		return -1;
	}
	/* the dump killed it; it was our child */
	wait_pid(tpid, 10, NULL, NULL);
	printf("workload set up in %.0f ms, dumped in %.0f ms\n", t_setup, ms_between(ts, now_ns()));
	snprintf(cmd, sizeof(cmd), "%s/bench.conf", o->dir);
	FILE *f = fopen(cmd, "w");
	if (!f || fprintf(f, "%u %u %u\n", o->mb, o->piece_kb, o->percent) < 0 || fclose(f)) {
		fprintf(stderr, "bench_ws: can't write %s\n", cmd);
		return -1;
	}
	return 0;
}

/* --reuse: the images left by a --keep run with the same sizes. 0 or -1. */
static int check_reuse(const struct opts *o, const struct paths *p)
{
	char path[4300];
	unsigned mb = 0, piece = 0, pct = 0;
	snprintf(path, sizeof(path), "%s/bench.conf", o->dir);
	FILE *f = fopen(path, "r");
	if (!f || fscanf(f, "%u %u %u", &mb, &piece, &pct) != 3 || mb != o->mb || piece != o->piece_kb ||
	    pct != o->percent) {
		fprintf(stderr, "bench_ws: --reuse: no images of %u MiB, %u KiB pieces, %u%% in %s\n", o->mb,
			o->piece_kb, o->percent, o->dir);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/inventory.img", p->imgdir);
	if (access(path, F_OK)) {
		fprintf(stderr, "bench_ws: --reuse: %s is not a complete dump\n", p->imgdir);
		return -1;
	}
	printf("reusing the images in %s\n", p->imgdir);
	return 0;
}

static int parse_list(const char *arg, const char *const *names, int n, bool *on)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", arg);
	memset(on, 0, n * sizeof(*on));
	for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
		int i;
		for (i = 0; i < n && strcmp(s, names[i]); i++)
			;
		if (i == n) {
			fprintf(stderr, "bench_ws: unknown '%s'\n", s);
			return -1;
		}
		on[i] = true;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_ws [--mb N] [--reps N] [--requests N] [--piece-kb N] [--percent N]\n"
		   "                [--modes eager,plain,none,hot,all] [--workloads fixed,rotating]\n"
		   "                [--record-requests N] [--criu BIN] [--target BIN] [--uffd-tests BIN]\n"
		   "                [--dir DIR] [--keep] [--reuse]\n"
		   "                [--daemon-args 'ARGS'] [--daemon-wrap 'CMD ARGS'] [--daemon-v N]\n"
		   "  --reuse        the images (and working set) a --keep run left in DIR: no new dump\n"
		   "  --daemon-wrap  run lazy-pages under CMD (e.g. 'strace -T -ttt -o /tmp/lp.TAG');\n"
		   "                 a word TAG becomes the run's name\n");
}

int main(int argc, char **argv)
{
	struct opts o = { .criu = "build/criu-lite",
			  .target = "build/tests/bench/bench_ws_target",
			  .dir = "/tmp/criu-lite-bench-ws",
			  .mb = 1024,
			  .reps = 3,
			  .requests = 10,
			  .piece_kb = 64,
			  .percent = 10,
			  .record_requests = 1,
			  .daemon_v = 3,
			  .mode_on = { true, true, true, true, true },
			  .wl_on = { true, true } };
	static const struct option longopts[] = {
		{ "mb", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' },
		{ "requests", required_argument, NULL, 'n' },
		{ "piece-kb", required_argument, NULL, 'p' },
		{ "percent", required_argument, NULL, 'P' },
		{ "record-requests", required_argument, NULL, 'R' },
		{ "modes", required_argument, NULL, 'M' },
		{ "workloads", required_argument, NULL, 'W' },
		{ "criu", required_argument, NULL, 'c' },
		{ "target", required_argument, NULL, 't' },
		{ "uffd-tests", required_argument, NULL, 'u' },
		{ "dir", required_argument, NULL, 'D' },
		{ "keep", no_argument, NULL, 'k' },
		{ "reuse", no_argument, NULL, 'U' },
		{ "daemon-args", required_argument, NULL, 'a' },
		{ "daemon-wrap", required_argument, NULL, 'w' },
		{ "daemon-v", required_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'm': o.mb = strtoul(optarg, NULL, 0); break;
		case 'r': o.reps = strtoul(optarg, NULL, 0); break;
		case 'n': o.requests = strtoul(optarg, NULL, 0); break;
		case 'p': o.piece_kb = strtoul(optarg, NULL, 0); break;
		case 'P': o.percent = strtoul(optarg, NULL, 0); break;
		case 'R': o.record_requests = strtoul(optarg, NULL, 0); break;
		case 'M':
			if (parse_list(optarg, mode_name, NR_MODES, o.mode_on))
				return 2;
			break;
		case 'W':
			if (parse_list(optarg, wl_name, NR_WL, o.wl_on))
				return 2;
			break;
		case 'c': o.criu = optarg; break;
		case 't': o.target = optarg; break;
		case 'u': o.uffd_tests = optarg; break;
		case 'D': o.dir = optarg; break;
		case 'k': o.keep = true; break;
		case 'U': o.reuse = o.keep = true; break;
		case 'a': o.daemon_args = optarg; break;
		case 'w': o.daemon_wrap = optarg; break;
		case 'V': o.daemon_v = strtoul(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	unsigned half = o.mb / 2;
	if (optind != argc || !o.reps || o.reps > MAX_REPS || !o.requests || o.requests > WS_MAX_REQ ||
	    !o.record_requests || o.record_requests > WS_MAX_REQ || o.mb < 2 || !o.piece_kb || o.piece_kb % 4 ||
	    ((uint64_t)half << 10) % o.piece_kb || !o.percent || o.percent > 50) {
		fprintf(stderr, "bench_ws: bad arguments (reps 1..%d, requests 1..%d, MB/2 a multiple of the "
				"piece, percent 1..50)\n", MAX_REPS, WS_MAX_REQ);
		usage(stderr);
		return 2;
	}
	uint32_t npieces = (uint32_t)(((uint64_t)half * 2 << 10) / o.piece_kb);
	uint32_t per_slice = (uint32_t)((uint64_t)npieces * o.percent / 100);
	uint32_t nslices = per_slice ? npieces / per_slice : npieces;

	struct paths p;
	snprintf(p.imgdir, sizeof(p.imgdir), "%s/images", o.dir);
	snprintf(p.pidfile, sizeof(p.pidfile), "%s/target.pid", o.dir);
	snprintf(p.rpidfile, sizeof(p.rpidfile), "%s/restored.pid", o.dir);
	snprintf(p.answers, sizeof(p.answers), "%s/answers", o.dir);
	snprintf(p.ws, sizeof(p.ws), "%s/ws.bin", o.dir);
	snprintf(p.sock, sizeof(p.sock), "%s/lazy-pages.socket", p.imgdir);
	snprintf(p.stats, sizeof(p.stats), "%s/lazy-pages-stats.json", p.imgdir);

	/* the restored trees are re-parented to us when `restore -d` exits: we reap them */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		perror("bench_ws: PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	struct cpu_sample c0, c1;
	cpu_sample(&c0);
	printf("criu-lite working-set benchmark: %u MiB (%u MiB private + %u MiB MAP_SHARED|MAP_ANONYMOUS),\n"
	       "requests of %u%% (%u pieces of %u KiB, %u slices), %u requests per restore, %u reps\n",
	       half * 2, half, half, o.percent, per_slice, o.piece_kb, nslices, o.requests, o.reps);
	print_load("at start", NULL, NULL);

	struct floor fl = { 0 }, *flp = NULL;
	if (o.uffd_tests) {
		if (run_floor(o.uffd_tests, &fl))
			return 1;
		flp = &fl;
	}

	char cmd[4300];
	if (o.reuse ? check_reuse(&o, &p) : prepare(&o, &p))
		return 1;
	int ret = 0;
	struct stat wsst;
	if (o.mode_on[M_HOT] && (!o.reuse || stat(p.ws, &wsst) < 0) && record_ws(&o, &p))
		return 1;

	static struct result rs[NR_WL][NR_MODES][MAX_REPS];
	for (unsigned rep = 0; rep < o.reps; rep++)
		for (int w = 0; w < NR_WL; w++)
			for (int m = 0; m < NR_MODES; m++) {
				if (!o.wl_on[w] || !o.mode_on[m])
					continue;
				if (run_one(&o, &p, m, w, rep + 1, nslices, &rs[w][m][rep]))
					ret = 1;
			}
	cpu_sample(&c1);
	summary(&o, rs, flp);
	print_load("at the end", &c0, &c1);
	if (!o.keep && !ret) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", o.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_ws: can't remove %s\n", o.dir);
	}
	return ret;
}
