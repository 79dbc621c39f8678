/*
 * Dump, eager and lazy restore benchmark. Prints figures, and ratios against this
 * machine's own ceilings measured in the same run:
 *   dump:    the cost of writing the same bytes to the image directory alone,
 *            and process_vm_readv bandwidth;
 *   restore: the rate of filling fresh pages by pwrite into a memfd (and the
 *            fresh anonymous page fill rate);
 *   lazy:    time to running and to every page, against the eager restore; fault
 *            service as the restored task sees it (the raw userfaultfd floor is
 *            measured by tests/uffd in the same `make bench`).
 * It is a benchmark, not a test: it reports, it does not fail on a slow machine.
 * It exits non-zero only if dump or restore fail or the restored memory differs.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MB (1UL << 20)
#define CHUNK (4 * MB)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double gbps(size_t bytes, double secs)
{
	return secs > 0 ? bytes / secs / 1e9 : 0;
}

/* Run argv, wait, return its exit status (or -1); *ret_secs and *ret_maxrss_kb filled. */
static int run(char *const argv[], double *ret_secs, long *ret_maxrss_kb)
{
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execv(argv[0], argv);
		perror("exec");
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0)
		return -1;
	*ret_secs = now() - t0;
	if (ret_maxrss_kb)
		*ret_maxrss_kb = ru.ru_maxrss;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int wait_file(const char *path, double timeout)
{
	double end = now() + timeout;
	struct stat st;
	while (now() < end) {
		if (stat(path, &st) == 0 && st.st_size > 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

static int wait_gone(pid_t pid, double timeout)
{
	char p[64];
	double end = now() + timeout;
	snprintf(p, sizeof(p), "/proc/%d", pid);
	while (now() < end) {
		if (access(p, F_OK) < 0)
			return 0;
		usleep(10000);
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

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[65536];
	size_t n;
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* SIGTERM the restored target and read its verdict; 0 if it says PASS. lat (may be
 * NULL) gets its first-access percentiles, p50 p99 max (us) of: private, shmem,
 * shmem through its second mapping. */
static int verdict(pid_t rpid, const char *result, const char *what, double lat[9])
{
	char line[256] = "", line2[256] = "";
	kill(rpid, SIGTERM);
	/* a lazy restore serving every page by fault takes a while at 4 GiB */
	if (wait_file(result, 600) < 0) {
		fprintf(stderr, "bench: the %s target gave no verdict\n", what);
		kill(rpid, SIGKILL);
		return -1;
	}
	wait_gone(rpid, 10);
	FILE *f = fopen(result, "r");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		if (!fgets(line2, sizeof(line2), f))
			line2[0] = 0;
		fclose(f);
	}
	unlink(result);
	if (lat && sscanf(line2, "lat %lf %lf %lf %lf %lf %lf %lf %lf %lf", &lat[0], &lat[1], &lat[2],
			  &lat[3], &lat[4], &lat[5], &lat[6], &lat[7], &lat[8]) != 9)
		for (int i = 0; i < 9; i++)
			lat[i] = -1;
	printf("verify (%s): %s", what, line[0] ? line : "no verdict\n");
	return strncmp(line, "PASS", 4) == 0 ? 0 : -1;
}

/* One lazy restore from imgdir with the daemon given extra arguments, then the
 * verify (every page touched once). */
struct lazy_run {
	const char *label;
	const char *daemon_args[8]; /* NULL-terminated */
	double t_run, t_all;        /* restore start -> running, -> every page in */
	long rss_kb;                /* the daemon's peak RSS */
	double faults_missing, faults_minor, dmiss[2], dminor[2]; /* daemon side p50, p99 */
	double copied, continued, zeroed, prefetched, total, daemon_ms;
	double lat[9];              /* task side: p50 p99 max of private, shmem, shmem again */
};

static int lazy_run(const char *criu, const char *imgdir, const char *rpidfile,
		    const char *result, struct lazy_run *r)
{
	char statsf[4200];
	snprintf(statsf, sizeof(statsf), "%s/lazy-pages-stats.json", imgdir);
	unlink(statsf);
	unlink(rpidfile);
	double tl0 = now();
	pid_t lp = fork();
	if (lp == 0) {
		char *argv[16];
		int n = 0;
		argv[n++] = (char *)criu;
		argv[n++] = "lazy-pages";
		argv[n++] = "-D";
		argv[n++] = (char *)imgdir;
		for (int i = 0; r->daemon_args[i]; i++)
			argv[n++] = (char *)r->daemon_args[i];
		argv[n++] = "-o";
		argv[n++] = "lazy-pages.log";
		argv[n++] = "-v3";
		argv[n] = NULL;
		execv(criu, argv);
		perror("exec lazy-pages");
		_exit(127);
	}
	char *lrst_argv[] = { (char *)criu, "restore", "-D", (char *)imgdir, "--lazy-pages", "-d",
			      "--pidfile", (char *)rpidfile, "-o", "restore-lazy.log", "-v4", NULL };
	int rc = run(lrst_argv, &r->t_run, NULL);
	r->t_run = now() - tl0;
	if (rc != 0) {
		fprintf(stderr, "bench: lazy restore failed (exit %d); see %s/restore-lazy.log\n", rc, imgdir);
		kill(lp, SIGKILL);
		waitpid(lp, NULL, 0);
		return -1;
	}
	pid_t rpid = read_pid(rpidfile);
	if (rpid <= 0) {
		fprintf(stderr, "bench: no restored pid in %s\n", rpidfile);
		kill(lp, SIGKILL);
		waitpid(lp, NULL, 0);
		return -1;
	}
	/* prefetch all: let the daemon finish first, as before; otherwise verify now,
	 * while pages are still lazy: the accesses are the faults measured */
	bool all = !strcmp(r->daemon_args[1], "all");
	struct rusage ru;
	int lst;
	if (all && (wait4(lp, &lst, 0, &ru) < 0 || !WIFEXITED(lst) || WEXITSTATUS(lst) != 0)) {
		fprintf(stderr, "bench: the lazy-pages daemon failed; see %s/lazy-pages.log\n", imgdir);
		kill(rpid, SIGKILL);
		return -1;
	}
	r->t_all = now() - tl0;
	int v = verdict(rpid, result, r->label, r->lat);
	if (!all && (wait4(lp, &lst, 0, &ru) < 0 || !WIFEXITED(lst) || WEXITSTATUS(lst) != 0)) {
		fprintf(stderr, "bench: the lazy-pages daemon failed; see %s/lazy-pages.log\n", imgdir);
		return -1;
	}
	if (!all)
		r->t_all = -1; /* the verify itself pulled the pages in */
	r->rss_kb = ru.ru_maxrss;
	char *js = slurp(statsf);
	if (!js) {
		fprintf(stderr, "bench: no %s\n", statsf);
		return -1;
	}
	r->faults_missing = json_num(js, NULL, "faults_missing");
	r->faults_minor = json_num(js, NULL, "faults_minor");
	r->dmiss[0] = json_num(js, "missing", "p50");
	r->dmiss[1] = json_num(js, "missing", "p99");
	r->dminor[0] = json_num(js, "minor", "p50");
	r->dminor[1] = json_num(js, "minor", "p99");
	r->copied = json_num(js, NULL, "bytes_copied");
	r->continued = json_num(js, NULL, "pages_continued");
	r->zeroed = json_num(js, NULL, "pages_zeroed");
	r->prefetched = json_num(js, NULL, "pages_prefetched");
	r->total = json_num(js, NULL, "pages_total");
	r->daemon_ms = json_num(js, NULL, "time_to_all_pages_ms");
	return v;
}

/* Ceiling: write total bytes to a file in dir and make them durable, as a dump
 * writes its pages and syncs the directory before its inventory. Starts with no
 * dirty data of anyone else's queued. */
static double ceil_write(const char *dir, size_t total, char *buf)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/ceiling-write.tmp", dir);
	sync();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	double t0 = now();
	for (size_t done = 0; done < total; done += CHUNK)
		if (write(fd, buf, CHUNK) != (ssize_t)CHUNK) {
			close(fd);
			unlink(path);
			return -1;
		}
	if (fsync(fd) < 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	double t = now() - t0;
	unlink(path);
	sync();
	return t;
}

/* Ceiling: process_vm_readv of the target's private region. */
static double ceil_readv(pid_t pid, size_t priv, char *buf)
{
	char path[64], line[512];
	unsigned long s, e, start = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && e - s == priv && strstr(line, "rw-p")) {
			start = s;
			break;
		}
	fclose(f);
	if (!start)
		return -1;
	double t0 = now();
	for (size_t done = 0; done < priv; done += CHUNK) {
		struct iovec l = { buf, CHUNK }, r = { (void *)(start + done), CHUNK };
		if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)CHUNK)
			return -1;
	}
	return now() - t0;
}

/* Ceiling: fill a fresh memfd by pwrite. */
static double ceil_memfd(size_t total, char *buf)
{
	int fd = memfd_create("bench-ceiling", 0);
	if (fd < 0)
		return -1;
	double t0 = now();
	for (size_t done = 0; done < total; done += CHUNK)
		if (pwrite(fd, buf, CHUNK, done) != (ssize_t)CHUNK) {
			close(fd);
			return -1;
		}
	double t = now() - t0;
	close(fd);
	return t;
}

/* Ceiling: fill fresh anonymous pages by memcpy. */
static double ceil_anon(size_t total, char *buf)
{
	char *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	double t0 = now();
	for (size_t done = 0; done < total; done += CHUNK)
		memcpy(m + done, buf, CHUNK);
	double t = now() - t0;
	munmap(m, total);
	return t;
}

static long dir_kb(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "du -sk '%s'", dir);
	FILE *p = popen(cmd, "r");
	long kb = -1;
	if (p) {
		if (fscanf(p, "%ld", &kb) != 1)
			kb = -1;
		pclose(p);
	}
	return kb;
}

int main(int argc, char **argv)
{
	const char *criu = "build/criu-lite", *target = "build/tests/bench/bench_target";
	const char *dir = "/tmp/criu-lite-bench";
	size_t mb = 1024;
	int opt, no_lazy = 0;
	static const struct option longopts[] = {
		{ "mb", required_argument, NULL, 'm' },
		{ "criu", required_argument, NULL, 'c' },
		{ "target", required_argument, NULL, 't' },
		{ "dir", required_argument, NULL, 'D' },
		{ "no-lazy", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	while ((opt = getopt_long(argc, argv, "m:c:t:D:n", longopts, NULL)) != -1) {
		switch (opt) {
		case 'm': mb = strtoul(optarg, NULL, 0); break;
		case 'c': criu = optarg; break;
		case 't': target = optarg; break;
		case 'D': dir = optarg; break;
		case 'n': no_lazy = 1; break;
		default:
			fprintf(stderr, "usage: bench_cr [--mb N] [--criu BIN] [--target BIN] [--dir DIR] [--no-lazy]\n");
			return 2;
		}
	}
	size_t total = mb * MB, priv = total / 2, shm = total - priv;
	char imgdir[4096], pidfile[4200], rpidfile[4200], result[4300], pmb[32], smb[32];
	snprintf(imgdir, sizeof(imgdir), "%s/images", dir);
	snprintf(pidfile, sizeof(pidfile), "%s/target.pid", dir);
	snprintf(rpidfile, sizeof(rpidfile), "%s/restored.pid", dir);
	snprintf(result, sizeof(result), "%s.result", pidfile);
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, imgdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "bench: can't prepare %s\n", dir);
		return 1;
	}

	char *buf = aligned_alloc(4096, CHUNK);
	for (size_t i = 0; i < CHUNK; i++)
		buf[i] = (char)(i * 7 + 1);

	printf("criu-lite dump/restore benchmark: %zu MiB touched (%zu MiB private + %zu MiB shmem)\n",
	       mb, priv / MB, shm / MB);

	snprintf(pmb, sizeof(pmb), "%zu", priv / MB);
	snprintf(smb, sizeof(smb), "%zu", shm / MB);
	pid_t tpid = fork();
	if (tpid == 0) {
		/* only stdio: inherited pipes or sockets would make the dump refuse it */
		closefrom(3);
		char tlog[4300];
		snprintf(tlog, sizeof(tlog), "%s/target.out", dir);
		int in = open("/dev/null", O_RDONLY), out = open(tlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(127);
		close(in);
		close(out);
		setsid();
		execl(target, target, pmb, smb, pidfile, (char *)NULL);
		perror("exec target");
		_exit(127);
	}
	if (wait_file(pidfile, 120) < 0) {
		fprintf(stderr, "bench: target did not start\n");
		kill(tpid, SIGKILL);
		return 1;
	}

	double t_write = ceil_write(dir, total, buf);
	double t_readv = ceil_readv(tpid, priv, buf);
	double t_memfd = ceil_memfd(total, buf);
	double t_anon = ceil_anon(total, buf);
	printf("machine ceilings (same run):\n");
	printf("  write+fsync %zu MiB in the image dir %5.3f s  %6.2f GB/s\n", mb, t_write, gbps(total, t_write));
	printf("  process_vm_readv %zu MiB            %6.3f s  %6.2f GB/s\n", priv / MB, t_readv, gbps(priv, t_readv));
	printf("  pwrite into a fresh memfd %zu MiB   %6.3f s  %6.2f GB/s\n", mb, t_memfd, gbps(total, t_memfd));
	printf("  memcpy into fresh anon pages %zu MiB %5.3f s  %6.2f GB/s\n", mb, t_anon, gbps(total, t_anon));

	char pidarg[16];
	snprintf(pidarg, sizeof(pidarg), "%d", tpid);
	sync(); /* the dump starts, like the ceiling, with nothing else dirty */
	char *dump_argv[] = { (char *)criu, "dump", "-t", pidarg, "-D", imgdir, "-o", "dump.log", "-v4", NULL };
	double t_dump;
	long dump_rss;
	int rc = run(dump_argv, &t_dump, &dump_rss);
	int st;
	if (rc != 0) {
		fprintf(stderr, "bench: dump failed (exit %d); see %s/dump.log\n", rc, imgdir);
		kill(tpid, SIGKILL);
		waitpid(tpid, &st, 0);
		return 1;
	}
	/* the target was our child: reap it (the dump killed it) */
	waitpid(tpid, &st, 0);
	long img_kb = dir_kb(imgdir);
	printf("dump:     %6.3f s  %6.2f GB/s  image %ld MiB  peak RSS %ld MiB\n", t_dump,
	       gbps(total, t_dump), img_kb / 1024, dump_rss / 1024);
	printf("          ratio (write-alone time / dump time) %.2f   (target >= 0.70)\n", t_write / t_dump);
	wait_gone(tpid, 10);

	char *rst_argv[] = { (char *)criu, "restore", "-D", imgdir, "-d", "--pidfile", rpidfile, "-o", "restore.log", "-v4", NULL };
	double t_rst;
	long rst_rss;
	rc = run(rst_argv, &t_rst, &rst_rss);
	if (rc != 0) {
		fprintf(stderr, "bench: restore failed (exit %d); see %s/restore.log\n", rc, imgdir);
		return 1;
	}
	printf("restore:  %6.3f s  %6.2f GB/s  peak RSS %ld MiB\n", t_rst, gbps(total, t_rst), rst_rss / 1024);
	printf("          ratio (memfd-fill time / restore time) %.2f   (target >= 0.70)\n", t_memfd / t_rst);
	printf("          (CRIU on this class of machine: ~1.5 s dump, ~1.2 s restore for 1 GiB)\n");

	pid_t rpid = read_pid(rpidfile);
	if (rpid <= 0) {
		fprintf(stderr, "bench: no restored pid in %s\n", rpidfile);
		return 1;
	}
	if (verdict(rpid, result, "eager", NULL) < 0)
		return 1;
	if (no_lazy) {
		free(buf);
		return 0;
	}

	/*
	 * Lazy restores from the same images:
	 *   all   the daemon streams everything, then the task verifies: time to
	 *         running, time until every page is in, delivery rate, daemon RSS;
	 *   none  faults only, one page each (--fault-around 1): the verify's accesses
	 *         are the faults, MISSING on the private memory and the shmem's first
	 *         mapping, MINOR on its second; then again without busy polling, to
	 *         show what it is worth here.
	 */
	struct lazy_run runs[] = {
		{ .label = "lazy, prefetch all", .daemon_args = { "--prefetch", "all", NULL } },
		{ .label = "lazy, prefetch none",
		  .daemon_args = { "--prefetch", "none", "--fault-around", "1", NULL } },
		{ .label = "lazy, prefetch none, busy poll 0",
		  .daemon_args = { "--prefetch", "none", "--fault-around", "1", "--busy-poll", "0", NULL } },
	};
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		if (lazy_run(criu, imgdir, rpidfile, result, &runs[i]) < 0)
			return 1;
	struct lazy_run *a = &runs[0], *r = &runs[1], *q = &runs[2];
	printf("lazy restore vs eager (same images):\n");
	printf("                               eager        lazy\n");
	printf("  restore start -> running  %8.1f ms  %8.1f ms\n", t_rst * 1e3, a->t_run * 1e3);
	printf("  restore start -> all in   %8.1f ms  %8.1f ms  (daemon: %.0f ms)\n", t_rst * 1e3,
	       a->t_all * 1e3, a->daemon_ms);
	printf("  pages: copied %.0f, continued %.0f, zeroed %.0f, prefetched %.0f of %.0f\n",
	       a->copied / 4096, a->continued, a->zeroed, a->prefetched, a->total);
	printf("  lazy delivery rate %.2f GB/s (%.0f MiB in %.0f ms after running)\n",
	       a->t_all > a->t_run ? a->copied / (a->t_all - a->t_run) / 1e9 : 0, a->copied / MB,
	       (a->t_all - a->t_run) * 1e3);
	printf("  daemon peak RSS %ld MiB  (target: under 64 MiB + a few bits per page)\n", a->rss_kb / 1024);
	printf("fault service, prefetch none: the restored task reads every page once (running\n"
	       "after %.1f ms; %.0f MISSING + %.0f MINOR faults; daemon peak RSS %ld MiB).\n"
	       "First access as the task sees it; the raw floor is the tests/uffd table above:\n",
	       r->t_run * 1e3, r->faults_missing, r->faults_minor, r->rss_kb / 1024);
	printf("  private              (MISSING)  p50 %6.2f us  p99 %7.2f us\n", r->lat[0], r->lat[1]);
	printf("  shmem                (MISSING)  p50 %6.2f us  p99 %7.2f us\n", r->lat[3], r->lat[4]);
	printf("  shmem, 2nd mapping   (MINOR)    p50 %6.2f us  p99 %7.2f us\n", r->lat[6], r->lat[7]);
	printf("  daemon side, read to resolved:  MISSING p50 %.2f us p99 %.2f us, MINOR p50 %.2f us p99 %.2f us\n",
	       r->dmiss[0], r->dmiss[1], r->dminor[0], r->dminor[1]);
	printf("  the same with --busy-poll 0:    private p50 %.2f us, shmem p50 %.2f us, MINOR p50 %.2f us\n"
	       "                                  (busy polling: %.1fx, %.1fx, %.1fx faster)\n",
	       q->lat[0], q->lat[3], q->lat[6], r->lat[0] > 0 ? q->lat[0] / r->lat[0] : 0,
	       r->lat[3] > 0 ? q->lat[3] / r->lat[3] : 0, r->lat[6] > 0 ? q->lat[6] / r->lat[6] : 0);
	free(buf);
	return 0;
}
