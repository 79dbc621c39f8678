/*
 * uffd_tests -b: what a fault costs, and how fast pages stream.
 *
 * Fault latency is measured in the faulting child (the time one first access takes,
 * fault to resume) for:
 *   raw floor   a minimal handler: poll, read, one UFFDIO_COPY / UFFDIO_CONTINUE
 *   lp_loop     the real loop and task code, pages from image files (crc checked)
 * for MISSING faults on private memory and MINOR faults on a pre-populated memfd.
 * Where the handler runs decides most of it: on the faulting task's CPU a fault is
 * two context switches; on another CPU it is two cross-CPU wakeups, and in a VM
 * whose idle vCPUs halt at once each of those is an IPI and a VM exit (tens of us).
 * The scheduler keeps whichever placement the run started with, so an unpinned run
 * measures a coin toss. Both handlers are therefore measured pinned, the same way:
 * on the task's CPU, and (with 2+ CPUs) on another one.
 * Bandwidth: bulk UFFDIO_COPY of 4 MiB chunks from memory (the floor) against the
 * loop's prefetch from images (its worker thread's UFFDIO_COPY jobs; shmem through the
 * mapping, filling the page cache).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "lib/lazy-proto.h"
#include "images/pagemap.h"
#include "lazy-pages/loop.h"
#include "lazy-pages/stats.h"
#include "lazy-pages/task.h"
#include "tests/uffd/uffd_tests.h"

#define P PAGE_SIZE
#define LAT_PAGES 4096u    /* 16 MiB touched page by page */
#define BW_PAGES 32768u    /* 128 MiB streamed */

struct bench {
	char dir[64];
	int dfd;
	char *mem;        /* registered region */
	size_t pages;
	int memfd;        /* shmem runs */
	uint64_t *lat;    /* shared with the child: ns per access */
	pid_t pid;
	int sock;
	int cpu_task, cpu_handler; /* the placement (-1: free) */
	cpu_set_t all;             /* the bench's own CPUs, given back after each run */
};

static int pin_to(int cpu)
{
	cpu_set_t s;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return sched_setaffinity(0, sizeof(s), &s);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1] / 1000.0;
}

/* Fork the child: it registers b->mem (mode), hands over its uffd, waits for a byte,
 * then (touch) reads every page once, timing each access, or just waits for the end. */
static int child_start(struct bench *b, uint64_t mode, int touch)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -1;
	fflush(NULL);
	b->pid = fork();
	if (b->pid < 0)
		return -1;
	if (b->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		if (pin_to(b->cpu_task))
			_exit(89);
		int uffd = uffd_open(0);
		if (uffd < 0 || uffd_api(uffd, LP_UFFD_FEATURES, NULL, NULL) ||
		    uffd_register(uffd, (uintptr_t)b->mem, b->pages * P, mode, NULL) ||
		    t_send_fd(sv[1], uffd))
			_exit(90);
		close(uffd);
		char go;
		if (read(sv[1], &go, 1) != 1)
			_exit(91);
		if (touch == 1) {
			for (size_t i = 0; i < b->pages; i++) {
				uint64_t t0 = now_ns();
				(void)*(volatile char *)(b->mem + i * P);
				b->lat[i] = now_ns() - t0;
			}
		} else if (touch == 2) {
			/* LAT_PAGES distinct pages in a scattered order (a prime stride) */
			for (size_t i = 0; i < LAT_PAGES; i++) {
				size_t pg = (i * 7919) % b->pages;
				uint64_t t0 = now_ns();
				(void)*(volatile char *)(b->mem + pg * P);
				b->lat[i] = now_ns() - t0;
				if (i % 64 == 0)
					usleep(50); /* the task also computes */
			}
		} else if (read(sv[1], &go, 1) < 0) {
			_exit(92);
		}
		_exit(0);
	}
	close(sv[1]);
	b->sock = sv[0];
	return t_recv_fd(b->sock);
}

static int child_end(struct bench *b)
{
	int st = -1;
	closep(&b->sock);
	if (b->pid > 0)
		waitpid(b->pid, &st, 0);
	b->pid = -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* The floor: a handler that does nothing but resolve. spin: it never sleeps (reads
 * the non-blocking uffd in a loop, yielding its CPU), as the daemon does between the
 * faults of a burst. */
static int raw_handler(int uffd, size_t nr, bool minor, bool spin)
{
	static char page[P] __attribute__((aligned(4096)));
	struct uffd_msg msgs[16];
	size_t served = 0;
	int64_t done;
	uint64_t end = now_ns() + 20000000000ULL;

	memset(page, 0x11, P);
	while (served < nr) {
		struct pollfd p = { uffd, POLLIN, 0 };
		if (!spin && poll(&p, 1, 5000) != 1)
			return -1;
		ssize_t n = read(uffd, msgs, sizeof(msgs));
		if (n < 0 && errno == EAGAIN) {
			if (spin && now_ns() > end)
				return -1;
			if (spin)
				sched_yield();
			continue;
		}
		if (n <= 0)
			return -1;
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			uint64_t a = msgs[i].arg.pagefault.address & ~(P - 1);
			int r = minor ? uffd_continue(uffd, a, P, 0, &done) : uffd_copy(uffd, a, page, P, 0, &done);
			if (r && uffd_triage(r) != UFFD_EXISTS)
				return -1;
			served++;
		}
	}
	return 0;
}

static int write_images(struct bench *b, size_t pages, bool shm)
{
	struct page_xfer x;
	char *buf = malloc(64 * P);
	int ret = 0;

	if (!buf || xfer_open(&x, b->dfd, shm ? "shmem-1" : "1", 1)) {
		free(buf);
		return -1;
	}
	for (size_t i = 0; i < pages && !ret; i += 64) {
		for (size_t k = 0; k < 64 * P; k += 8)
			*(uint64_t *)(buf + k) = i * P + k + 1;
		uint64_t va = shm ? i * P : (uintptr_t)b->mem + i * P;
		ret = xfer_write_pages(&x, va, buf, MIN((size_t)64, pages - i), PE_LAZY);
	}
	free(buf);
	return xfer_close(&x) || ret ? -1 : 0;
}

static void report(const char *what, struct bench *b, size_t n, const char *unit)
{
	printf("  %-34s p50 %7.2f us   p99 %7.2f us   (%zu %s)\n", what, pct(b->lat, n, 50),
	       pct(b->lat, n, 99), n, unit);
}

/* The loop on a task whose only lazy memory is b->mem (private, or shmem object 1). */
static int loop_setup(struct bench *b, struct lp_loop *l, int uffd, bool shm, enum lp_prefetch mode)
{
	if (lp_loop_init(l, b->dfd, mode))
		return -1;
	struct lp_pages *ap = shm ? lp_pages_new_mem("1") : lp_pages_open_image(b->dfd, "1");
	struct lp_task *t = ap ? lp_task_new(l, b->pid, uffd, -1, ap) : NULL;
	if (!t) {
		lp_pages_put(ap);
		return -1;
	}
	if (shm) {
		struct lp_pages *sp = lp_pages_open_image(b->dfd, "shmem-1");
		int fd = fcntl(b->memfd, F_DUPFD_CLOEXEC, 0);
		int idx = sp ? lp_loop_add_shm(l, 1, b->pages * P, fd, sp) : -1;
		lp_pages_put(sp);
		if (idx < 0 || lp_task_add_shm(t, (uintptr_t)b->mem, (uintptr_t)b->mem + b->pages * P, idx, 0)) {
			lp_task_free(t);
			lp_pages_put(ap);
			return -1;
		}
	} else if (lp_task_add_anon(t, (uintptr_t)b->mem, (uintptr_t)b->mem + b->pages * P)) {
		lp_task_free(t);
		lp_pages_put(ap);
		return -1;
	}
	lp_pages_put(ap);
	return lp_loop_add_task(l, t);
}

static int map_region(struct bench *b, size_t pages, bool shm)
{
	b->pages = pages;
	if (shm) {
		b->memfd = memfd_create("lp-bench", MFD_CLOEXEC);
		if (b->memfd < 0 || ftruncate(b->memfd, pages * P))
			return -1;
		b->mem = mmap(NULL, pages * P, PROT_READ | PROT_WRITE, MAP_SHARED, b->memfd, 0);
	} else {
		b->mem = mmap(NULL, pages * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	return b->mem == MAP_FAILED ? -1 : 0;
}

static void unmap_region(struct bench *b)
{
	if (b->mem && b->mem != MAP_FAILED)
		munmap(b->mem, b->pages * P);
	b->mem = NULL;
	closep(&b->memfd);
	if (b->dfd >= 0) {
		/* the image files of the run */
		unlinkat(b->dfd, "pagemap-1.img", 0);
		unlinkat(b->dfd, "pages-1.img", 0);
		unlinkat(b->dfd, "pagemap-shmem-1.img", 0);
		unlinkat(b->dfd, "pages-shmem-1.img", 0);
	}
}

/* Pre-populate the memfd (for MINOR faults). */
static int fill_memfd(struct bench *b)
{
	char *buf = malloc(256 * P);
	if (!buf)
		return -1;
	memset(buf, 0x22, 256 * P);
	for (size_t i = 0; i < b->pages; i += 256)
		if (pwrite_all(b->memfd, buf, MIN((size_t)256, b->pages - i) * P, i * P)) {
			free(buf);
			return -1;
		}
	free(buf);
	return 0;
}

/* The end of a run: kill the child (kill_child), stop the loop (l may be NULL), unmap,
 * give the bench its CPUs back, say if it failed. Returns ret. */
static int run_end(struct bench *b, struct lp_loop *l, int ret, bool kill_child, const char *name)
{
	if (kill_child) {
		if (b->pid > 0)
			kill(b->pid, SIGKILL);
		child_end(b);
	}
	if (l)
		lp_loop_fini(l);
	unmap_region(b);
	sched_setaffinity(0, sizeof(b->all), &b->all);
	if (ret)
		printf("  %-34s FAILED\n", name);
	return ret;
}

/* One latency run; *p50 gets the faulting task's median (us). spin: the raw handler
 * never sleeps. */
static int bench_latency(struct bench *b, bool shm, bool lp, bool spin, double *p50)
{
	const char *name = shm ? (lp ? "MINOR   lp_loop (CONTINUE)"
				     : spin ? "MINOR   raw, spinning" : "MINOR   raw floor (CONTINUE)")
			       : (lp ? "MISSING lp_loop (COPY from image)"
				     : spin ? "MISSING raw, spinning" : "MISSING raw floor (COPY)");
	struct lp_loop l;
	bool loop = false;
	int ret = -1;

	if (map_region(b, LAT_PAGES, shm))
		goto out;
	if (lp && write_images(b, LAT_PAGES, shm))
		goto out;
	if (shm && !lp && fill_memfd(b))
		goto out;
	/* the handler's placement first: the loop's prefetch threads inherit it */
	if (pin_to(b->cpu_handler))
		goto out;
	int uffd = child_start(b, shm ? UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR
				       : UFFDIO_REGISTER_MODE_MISSING, 1);
	if (uffd < 0)
		goto out;
	if (!lp) {
		if (write(b->sock, "g", 1) != 1 || raw_handler(uffd, LAT_PAGES, shm, spin))
			goto out_child;
		close(uffd);
	} else {
		if (loop_setup(b, &l, uffd, shm, shm ? LP_PREFETCH_HOT : LP_PREFETCH_NONE))
			goto out_child;
		loop = true;
		l.fa_max = 1; /* a fault is one page, as the floor's */
		if (shm) {
			/* every page hot: written into the memfd before the child runs */
			struct lp_ws_run *hot = calloc(LAT_PAGES, sizeof(*hot));
			for (size_t i = 0; hot && i < LAT_PAGES; i++)
				hot[i] = (struct lp_ws_run){ LP_WS_SHMEM, 0, 1, i * P, 1 };
			if (!hot || lp_loop_set_hot(&l, hot, LAT_PAGES)) {
				free(hot);
				goto out_child;
			}
			free(hot);
			while (!lp_loop_hot_ready(&l))
				if (lp_loop_step(&l, 0) < 0)
					goto out_child;
		}
		lp_loop_finish(&l);
		if (write(b->sock, "g", 1) != 1)
			goto out_child;
		/* until the child is done: its pidfd is not given, so run on the page count */
		uint64_t want = LAT_PAGES;
		uint64_t end = now_ns() + 20000000000ULL;
		while ((shm ? l.st.faults_minor : l.st.faults_missing) < want && now_ns() < end) {
			int to = lp_loop_timeout(&l);
			if (lp_loop_step(&l, to < 0 ? 10 : to) < 0)
				goto out_child;
		}
	}
	if (child_end(b))
		goto out;
	*p50 = pct(b->lat, LAT_PAGES, 50);
	report(name, b, LAT_PAGES, "faults");
	if (lp) {
		struct lp_lat *lat = shm ? &l.st.lat_minor : &l.st.lat_missing;
		printf("  %-34s p50 %7.2f us   p99 %7.2f us   (daemon side: read to resolved)\n", "",
		       lp_lat_pct(lat, 50) / 1000.0, lp_lat_pct(lat, 99) / 1000.0);
	}
	ret = 0;
	goto out;
out_child:
	return run_end(b, loop ? &l : NULL, -1, true, name);
out:
	return run_end(b, loop ? &l : NULL, ret, false, name);
}

/* Raw floor and lp_loop for both fault kinds, in the placement b->cpu_*. */
static int bench_placement(struct bench *b, const char *where)
{
	int ret = 0;

	printf("handler %s (task on CPU %d, handler on CPU %d):\n", where, b->cpu_task,
	       b->cpu_handler);
	for (int shm = 0; shm < 2; shm++) {
		double floor = 0, ours = 0, spun = 0;
		if (bench_latency(b, shm, false, false, &floor) ||
		    bench_latency(b, shm, true, false, &ours) ||
		    (b->cpu_handler != b->cpu_task && bench_latency(b, shm, false, true, &spun))) {
			ret = -1;
			continue;
		}
		printf("  %-34s %.2fx the raw floor (target 1.5x or less)", shm ? "=> MINOR p50:" : "=> MISSING p50:",
		       ours / floor);
		if (spun > 0)
			printf(", %.2fx a spinning one", ours / spun);
		printf("\n");
	}
	return ret;
}

static int bench_bandwidth(struct bench *b, bool shm, bool lp)
{
	const char *name = lp ? (shm ? "lp_loop prefetch, shmem (COPY)" : "lp_loop prefetch, private (COPY)")
			      : "raw bulk UFFDIO_COPY (4 MiB)";
	struct lp_loop l;
	bool loop = false;
	int ret = -1;
	uint64_t t0, t1;

	if (map_region(b, BW_PAGES, shm))
		goto out;
	if (lp && write_images(b, BW_PAGES, shm))
		goto out;
	int uffd = child_start(b, shm ? UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR
				       : UFFDIO_REGISTER_MODE_MISSING, 0);
	if (uffd < 0)
		goto out;
	if (!lp) {
		char *src = mmap(NULL, LP_CHUNK_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (src == MAP_FAILED)
			goto out_child;
		memset(src, 0x33, LP_CHUNK_MAX);
		int64_t done;
		t0 = now_ns();
		for (size_t off = 0; off < BW_PAGES * P; off += LP_CHUNK_MAX)
			if (uffd_copy(uffd, (uintptr_t)b->mem + off, src, LP_CHUNK_MAX, 0, &done)) {
				munmap(src, LP_CHUNK_MAX);
				goto out_child;
			}
		t1 = now_ns();
		munmap(src, LP_CHUNK_MAX);
		close(uffd);
	} else {
		if (loop_setup(b, &l, uffd, shm, LP_PREFETCH_ALL))
			goto out_child;
		loop = true;
		lp_loop_finish(&l);
		t0 = now_ns();
		if (lp_loop_run(&l))
			goto out_child;
		t1 = now_ns();
	}
	if (write(b->sock, "e", 1) != 1 || child_end(b))
		goto out;
	printf("  %-34s %8.0f MiB/s   (%u MiB in %.1f ms)\n", name,
	       (BW_PAGES * (double)P / (1 << 20)) / ((t1 - t0) / 1e9), (unsigned)(BW_PAGES * P >> 20),
	       (t1 - t0) / 1e6);
	ret = 0;
	goto out;
out_child:
	return run_end(b, loop ? &l : NULL, -1, true, name);
out:
	return run_end(b, loop ? &l : NULL, ret, false, name);
}

/* The task runs while prefetch streams everything: what its accesses cost. */
static int bench_under_prefetch(struct bench *b)
{
	const char *name = "access during prefetch all";
	struct lp_loop l;
	bool loop = false;
	int ret = -1;

	if (map_region(b, BW_PAGES, false) || write_images(b, BW_PAGES, false))
		goto out;
	int uffd = child_start(b, UFFDIO_REGISTER_MODE_MISSING, 2);
	if (uffd < 0)
		goto out;
	if (loop_setup(b, &l, uffd, false, LP_PREFETCH_ALL))
		goto out_child;
	loop = true;
	lp_loop_finish(&l);
	if (write(b->sock, "g", 1) != 1 || lp_loop_run(&l))
		goto out_child;
	if (child_end(b))
		goto out;
	report(name, b, LAT_PAGES, "accesses");
	printf("  %-34s p50 %7.2f us   p99 %7.2f us   max %.0f us (%zu faults, daemon side)\n", "",
	       lp_lat_pct(&l.st.lat_missing, 50) / 1000.0, lp_lat_pct(&l.st.lat_missing, 99) / 1000.0,
	       lp_lat_pct(&l.st.lat_missing, 100) / 1000.0, l.st.lat_missing.nr);
	ret = 0;
	goto out;
out_child:
	return run_end(b, loop ? &l : NULL, -1, true, name);
out:
	return run_end(b, loop ? &l : NULL, ret, false, name);
}

int uffd_bench(int verbose)
{
	struct bench b = { .dfd = -1, .memfd = -1, .pid = -1, .sock = -1, .cpu_task = -1, .cpu_handler = -1 };
	int ret = 0;

	(void)verbose;
	snprintf(b.dir, sizeof(b.dir), "/tmp/lp-bench-XXXXXX");
	if (!mkdtemp(b.dir))
		return 1;
	b.dfd = open(b.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	b.lat = mmap(NULL, LAT_PAGES * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b.dfd < 0 || b.lat == MAP_FAILED)
		return 1;
	if (sched_getaffinity(0, sizeof(b.all), &b.all))
		return 1;
	int cpus[2] = { -1, -1 }, nr = 0;
	for (int c = 0; c < CPU_SETSIZE && nr < 2; c++)
		if (CPU_ISSET(c, &b.all))
			cpus[nr++] = c;
	printf("fault latency, measured in the faulting task (first access of a page)\n");
	b.cpu_task = b.cpu_handler = cpus[0];
	ret |= bench_placement(&b, "on the task's CPU");
	if (nr > 1) {
		b.cpu_handler = cpus[1];
		ret |= bench_placement(&b, "on another CPU");
	}
	b.cpu_task = b.cpu_handler = -1;
	printf("bandwidth:\n");
	ret |= bench_bandwidth(&b, false, false);
	ret |= bench_bandwidth(&b, false, true);
	ret |= bench_bandwidth(&b, true, true);
	printf("a task running while 128 MiB stream in (4096 scattered first accesses):\n");
	ret |= bench_under_prefetch(&b);
	munmap(b.lat, LAT_PAGES * sizeof(uint64_t));
	close(b.dfd);
	rmdir(b.dir);
	return ret ? 1 : 0;
}
