/*
 * tests/uffd: the lazy-pages engine against real userfaultfds.
 *
 * Each case forks a child with real memory (private anonymous, a memfd or a
 * MAP_SHARED|MAP_ANONYMOUS object mapped twice), which creates its own uffd,
 * registers the memory (MISSING; MISSING|MINOR for shmem) and passes the uffd to
 * the parent over a socketpair. The parent serves it with the real lp_loop/lp_task
 * code from page images written with page_xfer. The child touches pages and checks
 * every byte; the parent checks the statistics.
 *
 *   uffd_tests [-l] [-f NAME] [-v] [-b]
 *     -l list the cases, -f run the cases whose name contains NAME, -v verbose log,
 *     -b run the latency/bandwidth benchmark instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "cli/cli.h"
#include "images/pagemap.h"
#include "images/image.h"
#include "lazy-pages/handshake.h"
#include "lazy-pages/loop.h"
#include "lazy-pages/stats.h"
#include "lazy-pages/task.h"
#include "lazy-pages/watchdog.h"
#include "lazy-pages/ws.h"
#include "images/magic.h"
#include "tests/uffd/uffd_tests.h"

#define P PAGE_SIZE
#define NA 64 /* private pages */
#define NS 64 /* shmem object pages */
#define ANON_SET "1000"
#define SHM_ID 1
#define TIMEOUT_MS 15000
#define BIG	   8192u /* prefetch_yields: 32 MiB more to prefetch */

enum { K_DATA, K_ZERO, K_HOLE };

/*
 * VMA boundaries (the vma_* cases): the private memory is three VMAs, [0, CUT1)
 * read-write, [CUT1, CUT2) read-only, [CUT2, NA) read-write with MADV_HUGEPAGE; each
 * shmem mapping is two, the second half read-only. The "dense" image layout has long
 * extents across those boundaries: zero pages [20, 28) across CUT1, data [28, 50)
 * across CUT2, a hole at 50.
 */
#define CUT1 24
#define CUT2 40
#define SCUT (NS / 2)
static bool dense_layout; /* set by a case before tc_setup, inherited by its child */

/* Image layout: some pages recorded as zero, some not in the image at all. */
static int anon_kind(unsigned i)
{
	if (dense_layout)
		return i >= 20 && i < 28 ? K_ZERO : i == 50 ? K_HOLE : K_DATA;
	return i % 16 == 5 ? K_HOLE : i % 8 == 3 ? K_ZERO : K_DATA;
}

static int shm_kind(unsigned j)
{
	return j % 16 == 7 ? K_HOLE : j % 8 == 1 ? K_ZERO : K_DATA;
}

static void pattern(void *page, uint64_t seed, uint64_t pg)
{
	uint64_t *w = page;
	for (unsigned k = 0; k < P / 8; k++)
		w[k] = (seed << 56) ^ (pg << 20) ^ (k * 0x9e3779b97f4a7c15ULL) ^ 0x5a5a;
}

/* 0 if the page at addr holds what page pg of the anon (seed 1) or shmem (seed 2)
 * image says. */
static int check_page(const void *addr, uint64_t seed, uint64_t pg)
{
	static __thread uint64_t want[P / 8];
	int kind = seed == 1 ? anon_kind(pg) : shm_kind(pg);

	if (kind == K_DATA)
		pattern(want, seed, pg);
	else
		memset(want, 0, P);
	if (memcmp(addr, want, P)) {
		fprintf(stderr, "  child %d: page %" PRIu64 " of %s is wrong (kind %d, first word %#" PRIx64 ")\n",
			(int)getpid(), pg, seed == 1 ? "anon" : "shmem", kind, *(const uint64_t *)addr);
		return 1;
	}
	return 0;
}

static bool is_zero(const void *addr, size_t len)
{
	const char *p = addr;
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- test context ---- */

enum shm_type { SHM_NONE, SHM_MEMFD, SHM_SHARED_ANON };

struct tc;
typedef int (*child_fn)(struct tc *c);

struct tc {
	const struct tcase *tcase;
	char dir[64];
	int dfd;
	char *anon;       /* NA pages, private */
	char *s1, *s2;    /* two mappings of one shmem object, NS pages each */
	enum shm_type shm;
	int memfd;
	char *spare;      /* NA + NS pages reserved (PROT_NONE) for mremap */
	char *big;	  /* BIG more private pages (prefetch_yields), or NULL */
	int cpu;	  /* prefetch_yields: the one CPU everything runs on */
	uint64_t mark_pref[2], mark_cpu[2]; /* at the child's 'S' and 'E': pages prefetched,
					     * the prefetch thread's CPU time */
	int marks;
	pid_t pid;
	int ctl;          /* parent: socket to the child; child: to the parent */
	int uffd;         /* parent's copy, before the loop takes it */
	struct lp_loop l;
	bool loop_ready;
	struct lp_fd ctlfd;
	int child_result; /* -1 until the child reports */
	int acks;         /* 'A' messages seen */
	bool split;       /* set before tc_setup: VMAs split at CUT1, CUT2, SCUT, and given
			   * to the task one by one (the vma_* cases) */
	bool child_gone;
	child_fn child;
};

static int verbose;

/* ---- ctl messages: one byte of type and one of argument ---- */

static int ctl_send(int fd, char type, int arg)
{
	char m[2] = { type, (char)arg };
	return send(fd, m, 2, MSG_NOSIGNAL) == 2 ? 0 : -1;
}

/* child side: wait for a message of that type; its argument, or -1 on EOF. */
static int ctl_wait(int fd, char type)
{
	char m[2];
	for (;;) {
		ssize_t n = recv(fd, m, 2, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 2)
			return -1;
		if (m[0] == type)
			return (unsigned char)m[1];
	}
}

static int ctl_read(struct lp_fd *f)
{
	struct tc *c = (struct tc *)((char *)f - offsetof(struct tc, ctlfd));
	char m[2];
	ssize_t n = recv(f->fd, m, 2, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n != 2) {
		c->child_gone = true;
		lp_loop_del_fd(&c->l, f);
		f->fd = -1; /* c->ctl stays open until teardown */
		return 0;
	}
	if (m[0] == 'S' || m[0] == 'E') {
		int k = m[0] == 'E';
		c->mark_pref[k] = c->l.st.pages_prefetched;
		c->mark_cpu[k] = lp_worker_cpu_ns(&c->l.wk);
		c->marks |= 1 << k;
		if (!k)
			lp_loop_finish(&c->l); /* the prefetch starts as the child starts spinning */
	}
	if (m[0] == 'R')
		c->child_result = (unsigned char)m[1];
	else if (m[0] == 'A')
		c->acks++;
	return 0;
}

int t_send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char b = 'U';
	struct iovec iov = { &b, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int t_recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	char b;
	struct iovec iov = { &b, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct pollfd p = { sock, POLLIN, 0 };

	if (poll(&p, 1, TIMEOUT_MS) != 1 || recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

#define FAIL(fmt, ...)                                                              \
	do {                                                                        \
		fprintf(stderr, "  %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__); \
		return -1;                                                          \
	} while (0)
#define CHECK(cond, fmt, ...)                                                   \
	do {                                                                        \
		if (!(cond))                                                        \
			FAIL("%s: " fmt, #cond, ##__VA_ARGS__);                     \
	} while (0)

/* ---- images ---- */

static int write_anon_image(struct tc *c, const char *id)
{
	struct page_xfer x;
	char buf[P];

	if (xfer_open(&x, c->dfd, id, 1))
		return -1;
	for (unsigned i = 0; i < NA; i++) {
		uint64_t va = (uint64_t)(uintptr_t)c->anon + i * P;
		int k = anon_kind(i), ret = 0;
		if (k == K_DATA) {
			pattern(buf, 1, i);
			ret = xfer_write_pages(&x, va, buf, 1, PE_LAZY);
		} else if (k == K_ZERO) {
			ret = xfer_write_zero(&x, va, 1, PE_LAZY);
		}
		if (ret) {
			xfer_close(&x);
			return -1;
		}
	}
	return xfer_close(&x);
}

static int write_shm_image(struct tc *c)
{
	struct page_xfer x;
	char buf[P], id[32];

	snprintf(id, sizeof(id), "shmem-%d", SHM_ID);
	if (xfer_open(&x, c->dfd, id, 1))
		return -1;
	for (unsigned j = 0; j < NS; j++) {
		int k = shm_kind(j), ret = 0;
		if (k == K_DATA) {
			pattern(buf, 2, j);
			ret = xfer_write_pages(&x, j * P, buf, 1, PE_LAZY);
		} else if (k == K_ZERO) {
			ret = xfer_write_zero(&x, j * P, 1, PE_LAZY);
		}
		if (ret) {
			xfer_close(&x);
			return -1;
		}
	}
	return xfer_close(&x);
}

/* ---- setup and teardown ---- */

/* How many VMAs of pid lie in [start, end). -1 on error. */
static int count_vmas(pid_t pid, const void *start, const void *end)
{
	char path[64], line[512];
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < (uintptr_t)end && b > (uintptr_t)start)
			n++;
	}
	fclose(f);
	return n;
}

/* Split the private memory at CUT1 and CUT2 and each shmem mapping at SCUT, by
 * different protections and flags (no uffd event): 0, or a message and -1. */
static int split_vmas(struct tc *c)
{
	char *a = c->anon;

	if (mprotect(a + CUT1 * P, (CUT2 - CUT1) * P, PROT_READ))
		FAIL("mprotect: %m");
	if (madvise(a + CUT2 * P, (NA - CUT2) * P, MADV_HUGEPAGE) &&
	    madvise(a + CUT2 * P, (NA - CUT2) * P, MADV_DONTDUMP))
		FAIL("madvise: %m");
	int n = count_vmas(getpid(), a, a + NA * P);
	CHECK(n == 3, "%d VMAs", n);
	for (int i = 0; c->s1 && i < 2; i++) {
		char *s = i ? c->s2 : c->s1;
		if (mprotect(s + SCUT * P, (NS - SCUT) * P, PROT_READ))
			FAIL("mprotect: %m");
		n = count_vmas(getpid(), s, s + NS * P);
		CHECK(n == 2, "%d VMAs", n);
	}
	return 0;
}

static int tc_setup(struct tc *c, enum shm_type shm)
{
	c->dfd = c->memfd = c->ctl = c->uffd = -1;
	c->pid = -1;
	c->child_result = -1;
	c->shm = shm;
	snprintf(c->dir, sizeof(c->dir), "/tmp/lp-uffd-XXXXXX");
	if (!mkdtemp(c->dir))
		FAIL("mkdtemp: %m");
	c->dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	c->anon = mmap(NULL, NA * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c->spare = mmap(NULL, (NA + NS) * P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->dfd < 0 || c->anon == MAP_FAILED || c->spare == MAP_FAILED) {
		c->anon = c->spare = NULL;
		FAIL("setup: %m");
	}
	if (shm == SHM_MEMFD) {
		c->memfd = memfd_create("lp-test", MFD_CLOEXEC);
		if (c->memfd < 0 || ftruncate(c->memfd, NS * P))
			FAIL("memfd: %m");
		c->s1 = mmap(NULL, NS * P, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
		c->s2 = mmap(NULL, NS * P, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
	} else if (shm == SHM_SHARED_ANON) {
		c->s1 = mmap(NULL, NS * P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		/* a second mapping of the same object */
		c->s2 = c->s1 == MAP_FAILED ? MAP_FAILED : mremap(c->s1, 0, NS * P, MREMAP_MAYMOVE);
	}
	if (c->s1 == MAP_FAILED || c->s2 == MAP_FAILED) {
		c->s1 = c->s2 = NULL;
		FAIL("shmem mappings: %m");
	}
	if (c->split && split_vmas(c))
		return -1;
	if (write_anon_image(c, ANON_SET))
		FAIL("can't write the anon image");
	if (shm != SHM_NONE && write_shm_image(c))
		FAIL("can't write the shmem image");
	return 0;
}

static void tc_teardown(struct tc *c)
{
	if (c->loop_ready) {
		lp_loop_fini(&c->l); /* kills a child that still has pages pending */
		c->loop_ready = false;
	}
	killpidp(&c->pid);
	closep(&c->ctl);
	closep(&c->uffd);
	closep(&c->memfd);
	if (c->anon)
		munmap(c->anon, NA * P);
	if (c->spare)
		munmap(c->spare, (NA + NS) * P);
	if (c->big)
		munmap(c->big, BIG * P);
	if (c->s1)
		munmap(c->s1, NS * P);
	if (c->s2)
		munmap(c->s2, NS * P);
	if (c->dfd >= 0) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
		if (system(cmd)) {
			/* nothing more to do */
		}
		closep(&c->dfd);
	}
}

/* In the child: a uffd on its own mm, memory registered, handed to the parent. */
static int child_register(struct tc *c, int sock)
{
	uint64_t ioctls, feat;
	int uffd = uffd_open(0);

	if (uffd < 0 || uffd_api(uffd, LP_UFFD_FEATURES, &feat, NULL))
		return 91;
	if (uffd_register(uffd, (uintptr_t)c->anon, NA * P, UFFDIO_REGISTER_MODE_MISSING, &ioctls))
		return 92;
	uint64_t need = (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_ZEROPAGE) | (1ULL << _UFFDIO_WAKE);
	if ((ioctls & need) != need)
		return 93;
	if (c->big && uffd_register(uffd, (uintptr_t)c->big, BIG * P, UFFDIO_REGISTER_MODE_MISSING, &ioctls))
		return 92;
	if (c->s1) {
		for (int i = 0; i < 2; i++) {
			char *s = i ? c->s2 : c->s1;
			if (uffd_register(uffd, (uintptr_t)s, NS * P,
					  UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR, &ioctls))
				return 94;
			if (!(ioctls & (1ULL << _UFFDIO_CONTINUE)))
				return 95;
		}
	}
	if (t_send_fd(sock, uffd))
		return 96;
	close(uffd);
	return 0;
}

static void child_main(struct tc *c, int sock)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int r = child_register(c, sock);
	if (r)
		_exit(r);
	if (ctl_wait(sock, 'G') < 0)
		_exit(97);
	c->ctl = sock;
	r = c->child(c);
	ctl_send(sock, 'R', r);
	ctl_wait(sock, 'B');
	_exit(r);
}

/* The memory as the restore would give it: one VMA per call (c->split: as split). */
static int task_add_vmas(struct tc *c, struct lp_task *t, int idx)
{
	uintptr_t a = (uintptr_t)c->anon;

	if (c->big && lp_task_add_anon(t, (uintptr_t)c->big, (uintptr_t)c->big + BIG * P))
		return -1;
	if (!c->split) {
		if (lp_task_add_anon(t, a, a + NA * P))
			return -1;
	} else if (lp_task_add_anon(t, a, a + CUT1 * P) || lp_task_add_anon(t, a + CUT1 * P, a + CUT2 * P) ||
		   lp_task_add_anon(t, a + CUT2 * P, a + NA * P)) {
		return -1;
	}
	if (!c->s1)
		return 0;
	if (idx < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		uintptr_t s = (uintptr_t)(i ? c->s2 : c->s1);
		if (!c->split) {
			if (lp_task_add_shm(t, s, s + NS * P, idx, 0))
				return -1;
		} else if (lp_task_add_shm(t, s, s + SCUT * P, idx, 0) ||
			   lp_task_add_shm(t, s + SCUT * P, s + NS * P, idx, SCUT * P)) {
			return -1;
		}
	}
	return 0;
}

struct start_opts {
	enum lp_prefetch mode;
	bool give_fd;     /* the daemon gets the memfd */
	bool no_pidfd;    /* exits are seen only through ESRCH */
	bool finished;    /* "restore finished" before the child runs */
	bool fault_around; /* off unless asked: most cases count faults page by page */
};

static int tc_start(struct tc *c, child_fn fn, const struct start_opts *o)
{
	int sv[2];

	c->child = fn;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		FAIL("socketpair: %m");
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0)
		FAIL("fork: %m");
	if (c->pid == 0) {
		close(sv[0]);
		child_main(c, sv[1]);
	}
	close(sv[1]);
	c->ctl = sv[0];
	int uffd = t_recv_fd(c->ctl);
	if (uffd < 0)
		FAIL("no uffd from the child");

	if (lp_loop_init(&c->l, c->dfd, o->mode)) {
		close(uffd);
		FAIL("lp_loop_init");
	}
	c->loop_ready = true;
	c->l.fa_max = o->fault_around ? LP_FA_MAX : 1;
	struct lp_pages *ap = lp_pages_open_image(c->dfd, ANON_SET);
	if (!ap) {
		close(uffd);
		FAIL("anon page set");
	}
	int idx = -1;
	if (c->s1) {
		char id[32];
		snprintf(id, sizeof(id), "shmem-%d", SHM_ID);
		struct lp_pages *sp = lp_pages_open_image(c->dfd, id);
		int fd = o->give_fd && c->memfd >= 0 ? fcntl(c->memfd, F_DUPFD_CLOEXEC, 0) : -1;
		idx = sp ? lp_loop_add_shm(&c->l, SHM_ID, NS * P, fd, sp) : -1;
		lp_pages_put(sp);
	}
	int pidfd = o->no_pidfd ? -1 : (int)syscall(SYS_pidfd_open, c->pid, 0);
	struct lp_task *t = lp_task_new(&c->l, c->pid, uffd, pidfd, ap);
	lp_pages_put(ap);
	if (!t)
		FAIL("lp_task_new");
	if (task_add_vmas(c, t, idx) || lp_loop_add_task(&c->l, t)) {
		lp_task_kill(t);
		lp_task_free(t);
		FAIL("task setup");
	}
	c->ctlfd = (struct lp_fd){ c->ctl, ctl_read, ctl_read };
	if (lp_loop_add_fd(&c->l, &c->ctlfd))
		FAIL("ctl");
	if (o->finished)
		lp_loop_finish(&c->l);
	return 0;
}

static uint64_t ms_now(void)
{
	return now_ns() / 1000000;
}

/* One loop round, with the timeout lp_loop_run would use (at most 5 ms). */
static int step(struct tc *c)
{
	int to = lp_loop_timeout(&c->l);
	return lp_loop_step(&c->l, to < 0 || to > 5 ? 5 : to);
}

/* Run the loop until cond holds. */
static int run_until(struct tc *c, bool (*cond)(struct tc *c), const char *what)
{
	uint64_t end = ms_now() + TIMEOUT_MS;

	while (!cond(c)) {
		if (ms_now() > end)
			FAIL("timeout waiting for %s", what);
		if (step(c) < 0)
			FAIL("the loop failed waiting for %s", what);
	}
	return 0;
}

static bool child_replied(struct tc *c)
{
	return c->child_result >= 0 || c->child_gone;
}

static bool loop_done(struct tc *c)
{
	return lp_loop_done(&c->l);
}

static int wait_child(struct tc *c, int *ret_status)
{
	uint64_t end = ms_now() + TIMEOUT_MS;
	int st;

	for (;;) {
		pid_t r = waitpid(c->pid, &st, WNOHANG);
		if (r == c->pid)
			break;
		if (r < 0)
			FAIL("waitpid: %m");
		if (ms_now() > end)
			FAIL("the child does not exit");
		if (c->loop_ready)
			lp_loop_step(&c->l, 5);
		else
			usleep(5000);
	}
	c->pid = -1;
	*ret_status = st;
	return 0;
}

/*
 * The common end: the child ran; wait for its verdict, then (must_finish) check that
 * the loop completes while the child is still alive, let the child go, and check it
 * exited 0.
 */
static int tc_finish(struct tc *c, bool must_finish)
{
	int st;

	if (run_until(c, child_replied, "the child's verdict"))
		return -1;
	CHECK(c->child_result == 0, "child reported %d", c->child_result);
	if (must_finish) {
		lp_loop_finish(&c->l);
		if (run_until(c, loop_done, "every page in"))
			return -1;
	}
	ctl_send(c->ctl, 'B', 0);
	if (wait_child(c, &st))
		return -1;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	lp_loop_finish(&c->l);
	if (run_until(c, loop_done, "the end of the loop"))
		return -1;
	return 0;
}

static void print_stats(struct tc *c)
{
	if (!verbose)
		return;
	struct lp_stats *s = &c->l.st;
	fprintf(stderr,
		"  stats: missing %" PRIu64 " minor %" PRIu64 " copied %" PRIu64 " zeroed %" PRIu64
		" continued %" PRIu64 " prefetched %" PRIu64 " total %" PRIu64 " eexist %" PRIu64
		" waited %" PRIu64 " fork %" PRIu64 " remap %" PRIu64 " remove %" PRIu64
		" unmap %" PRIu64 " exit %" PRIu64 "\n",
		s->faults_missing, s->faults_minor, s->pages_copied, s->pages_zeroed,
		s->pages_continued, s->pages_prefetched, s->pages_total, s->eexist, s->faults_waited,
		s->forks, s->remaps, s->removes, s->unmaps, s->exits);
}

static unsigned count_kind(int (*kind)(unsigned), unsigned n, int k)
{
	unsigned c = 0;
	for (unsigned i = 0; i < n; i++)
		c += kind(i) == k;
	return c;
}

static int wait_pid(pid_t pid, int *st, int ms)
{
	uint64_t end = ms_now() + ms;
	for (;;) {
		pid_t r = waitpid(pid, st, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 || ms_now() > end)
			return -1;
		usleep(2000);
	}
}

/* ---- child bodies ---- */

static int touch_all_anon(struct tc *c)
{
	int bad = 0;
	/* an odd order, so that neighbours are not served in sequence */
	for (unsigned n = 0; n < NA; n++) {
		unsigned i = (n * 37) % NA;
		bad |= check_page(c->anon + i * P, 1, i);
	}
	return bad;
}

static int touch_all_shm(struct tc *c, char *map)
{
	int bad = 0;
	(void)c;
	for (unsigned n = 0; n < NS; n++) {
		unsigned j = (n * 29) % NS;
		bad |= check_page(map + j * P, 2, j);
	}
	return bad;
}

static int child_anon(struct tc *c)
{
	int bad = touch_all_anon(c);
	/* writes land in the task's own pages */
	for (unsigned i = 0; i < NA; i += 4)
		c->anon[i * P + 100] = 'x';
	for (unsigned i = 0; i < NA; i += 4)
		bad |= c->anon[i * P + 100] != 'x';
	return bad;
}

static int child_zero_only(struct tc *c)
{
	int bad = 0;
	for (unsigned i = 0; i < NA; i++)
		if (anon_kind(i) != K_DATA)
			bad |= check_page(c->anon + i * P, 1, i);
	return bad;
}

static int child_shm_two_maps(struct tc *c)
{
	int bad = touch_all_shm(c, c->s1) | touch_all_shm(c, c->s2);
	/* one object: a write through one mapping shows in the other */
	c->s2[3 * P + 8] ^= 0x7f;
	bad |= c->s1[3 * P + 8] != c->s2[3 * P + 8];
	c->s2[3 * P + 8] ^= 0x7f;
	return bad;
}

static int child_anon_and_two_maps(struct tc *c)
{
	return touch_all_anon(c) | child_shm_two_maps(c);
}

/* s1 then s2 page by page: the s2 access comes while other pages are still due */
static int child_interleaved(struct tc *c)
{
	int bad = touch_all_anon(c);
	for (unsigned j = 0; j < NS; j++)
		bad |= check_page(c->s1 + j * P, 2, j) | check_page(c->s2 + j * P, 2, j);
	return bad;
}

static int child_all(struct tc *c)
{
	return touch_all_anon(c) | (c->s1 ? touch_all_shm(c, c->s1) | touch_all_shm(c, c->s2) : 0);
}

/* ---- cases ---- */

static int case_anon_missing(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	if (tc_setup(c, SHM_NONE) || tc_start(c, child_anon, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	unsigned data = count_kind(anon_kind, NA, K_DATA), zero = count_kind(anon_kind, NA, K_ZERO);
	CHECK(s->faults_missing >= data + zero, "%" PRIu64, s->faults_missing);
	CHECK(s->pages_copied == data, "%" PRIu64 " != %u", s->pages_copied, data);
	CHECK(s->pages_zeroed >= zero, "%" PRIu64, s->pages_zeroed);
	CHECK(s->pages_prefetched == 0, "%" PRIu64, s->pages_prefetched);
	CHECK(s->pages_total == data + zero, "%" PRIu64, s->pages_total);
	CHECK(s->faults_minor == 0, "%" PRIu64, s->faults_minor);
	return 0;
}

/* Busy polling: with a window, the waits after a fault poll without sleeping and
 * catch the next fault of a task walking its pages; with none, no wait ever does.
 * Both serve every page. */
static int busy_poll_run(struct tc *c, uint64_t window_ns)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	if (tc_setup(c, SHM_NONE) || tc_start(c, child_anon, &o))
		return -1;
	c->l.busy_poll_ns = window_ns;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	unsigned data = count_kind(anon_kind, NA, K_DATA);
	CHECK(c->l.st.pages_copied == data, "%" PRIu64 " != %u", c->l.st.pages_copied, data);
	CHECK(c->l.st.faults_missing > 0, "no faults");
	return 0;
}

static int case_busy_poll(struct tc *c)
{
	/* wide enough that a loaded machine still shows hits */
	if (busy_poll_run(c, 20ull * 1000 * 1000))
		return -1;
	struct lp_stats *s = &c->l.st;
	CHECK(s->busy_polls > 0, "no wait busy polled after %" PRIu64 " faults", s->faults_missing);
	CHECK(s->busy_poll_hits > 0, "%" PRIu64 " busy-polling waits, none found the next fault",
	      s->busy_polls);
	CHECK(s->busy_poll_hits <= s->busy_polls, "%" PRIu64 " > %" PRIu64, s->busy_poll_hits,
	      s->busy_polls);
	return 0;
}

static int case_busy_poll_off(struct tc *c)
{
	if (busy_poll_run(c, 0))
		return -1;
	CHECK(c->l.st.busy_polls == 0, "%" PRIu64 " busy-polling waits with busy polling off", c->l.st.busy_polls);
	return 0;
}

static int case_anon_zeropage(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	if (tc_setup(c, SHM_NONE) || tc_start(c, child_zero_only, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, false))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	unsigned nz = count_kind(anon_kind, NA, K_ZERO) + count_kind(anon_kind, NA, K_HOLE);
	CHECK(s->pages_copied == 0, "%" PRIu64, s->pages_copied);
	CHECK(s->pages_zeroed == nz, "%" PRIu64 " != %u", s->pages_zeroed, nz);
	CHECK(s->faults_missing == nz, "%" PRIu64, s->faults_missing);
	return 0;
}

static int shm_missing_minor(struct tc *c, enum shm_type type)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	if (tc_setup(c, type) || tc_start(c, child_anon_and_two_maps, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	/* first touch through s1: MISSING (COPY or ZEROPAGE); through s2: MINOR (CONTINUE) */
	CHECK(s->faults_missing == NS + NA, "%" PRIu64, s->faults_missing);
	CHECK(s->faults_minor == NS, "%" PRIu64, s->faults_minor);
	CHECK(s->pages_continued == NS, "%" PRIu64, s->pages_continued);
	CHECK(s->pages_copied == count_kind(shm_kind, NS, K_DATA) + count_kind(anon_kind, NA, K_DATA),
	      "%" PRIu64, s->pages_copied);
	return 0;
}

static int case_shm_memfd(struct tc *c)
{
	return shm_missing_minor(c, SHM_MEMFD);
}

static int case_shm_shared_anon(struct tc *c)
{
	return shm_missing_minor(c, SHM_SHARED_ANON);
}

/* Hot shmem pages are written into the memfd before the child runs: its first
 * accesses to them are MINOR faults. */
static int case_shm_prepopulated(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_HOT, true, false, false };
	struct lp_ws_run hot[NS];
	size_t nh = 0;

	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_shm_two_maps, &o))
		return -1;
	for (unsigned j = 0; j < NS; j++)
		if (shm_kind(j) == K_DATA && j % 3)
			hot[nh++] = (struct lp_ws_run){ LP_WS_SHMEM, 0, SHM_ID, j * P, 1 };
	if (lp_loop_set_hot(&c->l, hot, nh))
		return -1;
	uint64_t end = ms_now() + TIMEOUT_MS;
	while (!lp_loop_hot_ready(&c->l)) {
		CHECK(ms_now() < end, "hot pages never arrived");
		CHECK(step(c) == 0, "loop");
	}
	/* they are in the object already, and only they */
	char buf[P];
	for (unsigned j = 0; j < NS; j++) {
		bool is_hot = shm_kind(j) == K_DATA && j % 3;
		CHECK(pread(c->memfd, buf, P, j * P) == (ssize_t)P, "pread");
		if (is_hot)
			CHECK(!check_page(buf, 2, j), "hot page %u", j);
		else
			CHECK(is_zero(buf, P), "page %u should not be there yet", j);
	}
	ctl_send(c->ctl, 'G', 0);
	/* "restore finished" only after the child's touches: nothing else streams meanwhile */
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	CHECK(s->faults_minor == nh + NS, "%" PRIu64 " != %zu", s->faults_minor, nh + NS);
	CHECK(s->faults_missing == NS - nh, "%" PRIu64 " != %zu", s->faults_missing, NS - nh);
	CHECK(s->pages_prefetched >= nh, "%" PRIu64, s->pages_prefetched);
	return 0;
}

/* Child for the forced races: touch what the parent names, one at a time. */
static int child_touch_cmd(struct tc *c)
{
	int bad = 0, k;
	while ((k = ctl_wait(c->ctl, 'T')) >= 0 && k != 255) {
		if (k == 0)
			bad |= check_page(c->anon + 2 * P, 1, 2);
		else if (k == 1)
			bad |= check_page(c->s1 + 4 * P, 2, 4);
		else if (k == 2)
			bad |= check_page(c->s2 + 6 * P, 2, 6);
		ctl_send(c->ctl, 'A', k);
	}
	return bad;
}

static bool uffd_readable(struct lp_task *t)
{
	struct pollfd p = { t->ufd.fd, POLLIN, 0 };
	return poll(&p, 1, TIMEOUT_MS) == 1;
}

/* A page arrives by another way while its fault waits: COPY and CONTINUE get EEXIST. */
static bool acked_n(struct tc *c, int n)
{
	uint64_t end = ms_now() + TIMEOUT_MS;
	while (c->acks < n && !c->child_gone) {
		if (ms_now() > end || lp_loop_step(&c->l, 5) < 0)
			return false;
	}
	return c->acks >= n;
}

static int case_eexist_forced(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	char buf[P];
	int64_t done;

	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_touch_cmd, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	struct lp_task *t = c->l.tasks;
	int fd = t->ufd.fd;

	/* anon page 2: the fault waits; a racing copy puts the page in first */
	ctl_send(c->ctl, 'T', 0);
	CHECK(uffd_readable(t), "no fault");
	pattern(buf, 1, 2);
	CHECK(uffd_copy(fd, (uintptr_t)c->anon + 2 * P, buf, P, UFFDIO_COPY_MODE_DONTWAKE, &done) == 0,
	      "racer copy");
	CHECK(acked_n(c, 1), "touch 0");
	/* shmem page 4 through s1: MISSING; the page cache gets it meanwhile */
	ctl_send(c->ctl, 'T', 1);
	CHECK(uffd_readable(t), "no fault");
	pattern(buf, 2, 4);
	CHECK(pwrite(c->memfd, buf, P, 4 * P) == (ssize_t)P, "pwrite");
	CHECK(acked_n(c, 2), "touch 1");
	/* shmem page 6 is in the page cache: the s2 access is a MINOR fault; a racing
	 * CONTINUE maps it first */
	pattern(buf, 2, 6);
	CHECK(pwrite(c->memfd, buf, P, 6 * P) == (ssize_t)P, "pwrite");
	ctl_send(c->ctl, 'T', 2);
	CHECK(uffd_readable(t), "no fault");
	CHECK(uffd_continue(fd, (uintptr_t)c->s2 + 6 * P, P, UFFDIO_CONTINUE_MODE_DONTWAKE, &done) == 0,
	      "racer continue");
	CHECK(acked_n(c, 3), "touch 2");
	ctl_send(c->ctl, 'T', 255);
	if (tc_finish(c, false))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	CHECK(s->eexist >= 3, "%" PRIu64, s->eexist);
	CHECK(s->faults_minor == 1, "%" PRIu64, s->faults_minor);
	CHECK(s->faults_missing == 2, "%" PRIu64, s->faults_missing);
	return 0;
}

/* A fault on a page the prefetcher is still writing waits for the write, then is
 * continued: the page is never mapped half-written. (The test plays the writer.) */
static int case_wait_for_write(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, true, false, true };
	char buf[P];

	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_touch_cmd, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	struct lp_shm *sh = c->l.shms[0];

	/* s1 page 4 (not in the page cache yet) and s2 page 6 (in it, half-written) are
	 * "being written" */
	lp_pmap_set(&sh->map, 4, 1, LP_PAGE_WRITING);
	lp_pmap_set(&sh->map, 6, 1, LP_PAGE_WRITING);
	memset(buf, 0xcc, P);
	CHECK(pwrite(c->memfd, buf, P, 6 * P) == (ssize_t)P, "pwrite");

	ctl_send(c->ctl, 'T', 1); /* MISSING on a page being written */
	uint64_t end = ms_now() + 50;
	while (ms_now() < end)
		CHECK(step(c) == 0, "loop");
	CHECK(c->acks == 0, "served before its page was whole");
	CHECK(c->l.st.faults_waited == 1, "%" PRIu64, c->l.st.faults_waited);
	/* the write ends */
	pattern(buf, 2, 4);
	CHECK(pwrite(c->memfd, buf, P, 4 * P) == (ssize_t)P, "pwrite");
	lp_pmap_set(&sh->map, 4, 1, LP_PAGE_PRESENT);
	CHECK(acked_n(c, 1), "touch 1");

	ctl_send(c->ctl, 'T', 2); /* MINOR on a page being written */
	end = ms_now() + 50;
	while (ms_now() < end)
		CHECK(step(c) == 0, "loop");
	CHECK(c->acks == 1, "served before its page was whole");
	CHECK(c->l.st.faults_waited == 2, "%" PRIu64, c->l.st.faults_waited);
	pattern(buf, 2, 6);
	CHECK(pwrite(c->memfd, buf, P, 6 * P) == (ssize_t)P, "pwrite");
	lp_pmap_set(&sh->map, 6, 1, LP_PAGE_PRESENT);
	CHECK(acked_n(c, 2), "touch 2");
	ctl_send(c->ctl, 'T', 255);
	if (tc_finish(c, false))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	CHECK(s->faults_minor == 1 && s->faults_missing == 1, "%" PRIu64 "/%" PRIu64, s->faults_minor,
	      s->faults_missing);
	CHECK(s->pages_continued == 2, "%" PRIu64, s->pages_continued);
	CHECK(s->pages_copied == 0, "%" PRIu64, s->pages_copied);
	return 0;
}

/* Prefetch streams forward while the child touches backward: both race for pages. */
static int child_backward(struct tc *c)
{
	int bad = 0;
	for (int i = NA - 1; i >= 0; i--) {
		bad |= check_page(c->anon + i * P, 1, i);
		if (i % 8 == 0)
			usleep(2000); /* let the prefetcher in: it waits for a pause in the faults */
	}
	for (int j = NS - 1; j >= 0; j--) {
		bad |= check_page(c->s2 + j * P, 2, j) | check_page(c->s1 + j * P, 2, j);
		if (j % 8 == 0)
			usleep(2000);
	}
	return bad;
}

static int prefetch_all(struct tc *c, enum shm_type type, bool fd)
{
	struct start_opts o = { LP_PREFETCH_ALL, fd, false, true };
	if (tc_setup(c, type) || tc_start(c, child_backward, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	CHECK(s->pages_prefetched > 0, "%" PRIu64, s->pages_prefetched);
	CHECK(s->pages_total == count_kind(anon_kind, NA, K_DATA) + count_kind(anon_kind, NA, K_ZERO) +
					 count_kind(shm_kind, NS, K_DATA) + count_kind(shm_kind, NS, K_ZERO),
	      "%" PRIu64, s->pages_total);
	return 0;
}

static int case_prefetch_all_fd(struct tc *c)
{
	return prefetch_all(c, SHM_MEMFD, true);
}

static int case_prefetch_all_mapped(struct tc *c)
{
	return prefetch_all(c, SHM_SHARED_ANON, false);
}

/* Everything arrives without a single fault; then the child finds it all. */
static int child_wait_then_check(struct tc *c)
{
	if (ctl_wait(c->ctl, 'C') < 0)
		return 1;
	return child_all(c);
}

static int case_prefetch_all_nofault(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_ALL, true, false, true };
	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_wait_then_check, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (run_until(c, loop_done, "every page in"))
		return -1;
	ctl_send(c->ctl, 'C', 0);
	if (tc_finish(c, false))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	/* nothing was missing; shmem pages written into the object are mapped by MINOR
	 * faults while the uffd is open (the daemon closes it once everything is in) */
	unsigned holes = count_kind(anon_kind, NA, K_HOLE) + count_kind(shm_kind, NS, K_HOLE);
	/* holes (in no image) are not owed: they fault in as zero pages */
	CHECK(s->faults_missing == holes, "%" PRIu64 " missing faults", s->faults_missing);
	CHECK(s->pages_zeroed >= holes, "%" PRIu64, s->pages_zeroed);
	CHECK(s->pages_prefetched == s->pages_total, "%" PRIu64 " != %" PRIu64, s->pages_prefetched,
	      s->pages_total);
	CHECK(s->t_all_ns > 0, "not complete");
	return 0;
}

static int case_prefetch_none(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, true, false, true };
	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_all, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	CHECK(s->pages_prefetched == 0, "%" PRIu64, s->pages_prefetched);
	CHECK(s->faults_missing > 0 && s->faults_minor > 0, "faults");
	return 0;
}

/* Record the first-touch order, write and read it back, then use it as the hot set. */
static int child_some(struct tc *c)
{
	static const unsigned order[] = { 9, 2, 33, 34, 35, 60 };
	int bad = 0;
	for (size_t n = 0; n < ARRAY_SIZE(order); n++)
		bad |= check_page(c->anon + order[n] * P, 1, order[n]);
	bad |= check_page(c->s1 + 10 * P, 2, 10) | check_page(c->s2 + 10 * P, 2, 10);
	bad |= check_page(c->s2 + 12 * P, 2, 12);
	return bad;
}

static int case_prefetch_hot(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, true, false, true };
	char ws[128];
	struct lp_ws_run *runs = NULL;
	size_t nr = 0;
	bool ignored;

	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_some, &o))
		return -1;
	c->l.recording = true;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, false))
		return -1;
	snprintf(ws, sizeof(ws), "%s/ws.bin", c->dir);
	CHECK(lp_ws_write(ws, c->dfd, c->l.rec, c->l.nr_rec) == 0, "write ws");
	CHECK(lp_ws_load(ws, c->dfd, &runs, &nr, &ignored) == 0 && !ignored, "read ws");
	cleanup_free struct lp_ws_run *r = runs;
	/* anon pages 2, 9, 33-35 (35 is recorded as zero: still a page of the image), 60;
	 * shmem pages 10 and 12 (the second touch of page 10 is not a first touch): runs,
	 * in order, read (not written) first */
	CHECK(nr == 6, "%zu runs", nr);
	uintptr_t a = (uintptr_t)c->anon;
	CHECK(r[0].kind == LP_WS_ANON && r[0].id == 1000 && r[0].addr == a + 2 * P && r[0].nr == 1, "run 0");
	CHECK(r[1].addr == a + 9 * P && r[1].nr == 1, "run 1");
	CHECK(r[2].addr == a + 33 * P && r[2].nr == 3 && r[2].flags == 0, "run 2");
	CHECK(r[3].addr == a + 60 * P, "run 3");
	CHECK(r[4].kind == LP_WS_SHMEM && r[4].id == SHM_ID && r[4].addr == 10 * P && r[4].nr == 1, "run 4");
	CHECK(r[5].kind == LP_WS_SHMEM && r[5].addr == 12 * P, "run 5");
	CHECK(c->l.st.faults_minor == 1, "%" PRIu64, c->l.st.faults_minor);

	/* second run, same images, working set from the file */
	uintptr_t old_base = (uintptr_t)c->anon;
	tc_teardown(c);
	memset(c, 0, sizeof(*c));
	struct start_opts o2 = { LP_PREFETCH_HOT, true, false, false };
	if (tc_setup(c, SHM_MEMFD))
		return -1;
	/* the new run's anon region is elsewhere: rewrite the addresses */
	for (size_t i = 0; i < nr; i++)
		if (r[i].kind == LP_WS_ANON)
			r[i].addr = (uintptr_t)c->anon + (r[i].addr - old_base);
	if (tc_start(c, child_some, &o2) || lp_loop_set_hot(&c->l, r, nr))
		return -1;
	uint64_t end = ms_now() + TIMEOUT_MS;
	while (!lp_loop_hot_ready(&c->l)) {
		CHECK(ms_now() < end, "hot pages never arrived");
		CHECK(step(c) == 0, "loop");
	}
	/* the SYNC: the working set into the task; then "restore finished": the rest */
	lp_loop_sync(&c->l);
	end = ms_now() + TIMEOUT_MS;
	while (!lp_loop_preloaded(&c->l)) {
		CHECK(ms_now() < end, "the working set never got in");
		CHECK(step(c) == 0, "loop");
	}
	CHECK(c->l.st.hot_in_place == 8, "%" PRIu64 " of 8 pages in place", c->l.st.hot_in_place);
	lp_loop_finish(&c->l);
	if (run_until(c, loop_done, "every page in"))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, false))
		return -1;
	print_stats(c);
	CHECK(c->l.st.faults_missing == 0, "%" PRIu64 " missing faults after everything arrived",
	      c->l.st.faults_missing);
	CHECK(c->l.st.pages_prefetched == c->l.st.pages_total, "prefetched");
	return 0;
}

/* EVENT_FORK: the child's child gets its own uffd, served with the parent's pages. */
static int child_fork(struct tc *c)
{
	pid_t g = fork();
	if (g < 0)
		return 1;
	if (g == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(child_all(c));
	}
	int st, bad = 0;
	if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st))
		bad = 1;
	/* the parent's own pages are still to come */
	return bad | child_all(c);
}

static int case_fork(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_fork, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	unsigned data = count_kind(anon_kind, NA, K_DATA);
	CHECK(s->forks == 1, "%" PRIu64, s->forks);
	/* both mms got every private data page */
	CHECK(s->pages_copied >= 2 * data, "%" PRIu64, s->pages_copied);
	CHECK(s->faults_minor > 0, "%" PRIu64, s->faults_minor);
	return 0;
}

/* Forks while prefetch streams: copies into a forking mm get EAGAIN (retried), the
 * children (pid unknown to the loop) are served and their exits seen through ESRCH. */
static int child_fork_many(struct tc *c)
{
	pid_t g[4];
	int bad = 0;

	for (int k = 0; k < 4; k++) {
		g[k] = fork();
		if (g[k] < 0)
			return 1;
		if (g[k] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(child_all(c));
		}
		/* touch a little between forks, so the pages differ in who has them */
		bad |= check_page(c->anon + (k * 9) * P, 1, k * 9);
	}
	for (int k = 0; k < 4; k++) {
		int st;
		if (waitpid(g[k], &st, 0) != g[k] || !WIFEXITED(st) || WEXITSTATUS(st))
			bad = 1;
	}
	return bad | child_all(c);
}

static int case_fork_prefetch(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_ALL, true, false, true };
	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_fork_many, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	CHECK(c->l.st.forks == 4, "%" PRIu64, c->l.st.forks);
	return 0;
}

/* Forked children that leave with pages pending (prefetch none): A reads pages the parent
 * never touched (the image's), writes, forks A2, which reads more and exits; A exits;
 * B execs. Their mms go without a word on their uffds (and the loop has no pidfd of a
 * child seen through FORK): the loop must see them gone and end. */
static int child_fork_leave(struct tc *c)
{
	int st, bad = 0;
	pid_t a = fork();

	if (a < 0)
		return 1;
	if (a == 0) {
		for (unsigned i = 0; i < 8; i++)
			bad |= check_page(c->anon + i * P, 1, i);
		c->anon[0 * P + 10] = 'w'; /* a private write: its own page */
		bad |= check_page(c->s1 + 3 * P, 2, 3);
		pid_t a2 = fork();
		if (a2 == 0) {
			for (unsigned i = 8; i < 12; i++)
				bad |= check_page(c->anon + i * P, 1, i);
			_exit(bad || c->anon[10] != 'w');
		}
		if (a2 < 0 || waitpid(a2, &st, 0) != a2 || !WIFEXITED(st) || WEXITSTATUS(st))
			bad = 1;
		_exit(bad);
	}
	if (waitpid(a, &st, 0) != a || !WIFEXITED(st) || WEXITSTATUS(st))
		return 1;
	pid_t b = fork();
	if (b < 0)
		return 1;
	if (b == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* kept across exec: it goes with us */
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(1);
	}
	/* the parent's pages are still the image's, not A's write */
	return child_all(c) | (c->anon[10] == 'w');
}

static int case_fork_leave(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_fork_leave, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	/* must_finish: every page is in, or its mm gone, while the child (and B's sleep) run */
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	CHECK(s->forks == 3, "%" PRIu64, s->forks);
	CHECK(s->exits_probed >= 3, "%" PRIu64 " exits seen by probes", s->exits_probed);
	CHECK(s->pages_prefetched == 0, "%" PRIu64, s->pages_prefetched);
	/* B (killed as the child exited) was reparented to us: reap it, so that no later
	 * case takes it for one of its own */
	int st;
	pid_t r;
	for (uint64_t end = ms_now() + TIMEOUT_MS; (r = waitpid(-1, &st, WNOHANG)) == 0;) {
		CHECK(ms_now() < end, "B is not gone");
		usleep(2000);
	}
	CHECK(r > 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "B: %#x", st);
	return 0;
}

/* The parent exits first: its child, left with pages pending, is still served (from the
 * image: the parent never touched them), and its exit ends the loop. */
static int child_orphan(struct tc *c)
{
	pid_t parent = getpid(), o = fork();

	if (o < 0)
		return 1;
	if (o == 0) {
		int bad = 0;
		for (uint64_t end = ms_now() + TIMEOUT_MS; getppid() == parent && ms_now() < end;)
			usleep(1000);
		if (getppid() == parent)
			_exit(2);
		for (unsigned i = 16; i < 32; i++)
			bad |= check_page(c->anon + i * P, 1, i);
		bad |= check_page(c->s2 + 5 * P, 2, 5);
		_exit(bad);
	}
	return 0;
}

static int case_fork_parent_first(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	int st;

	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_orphan, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (run_until(c, child_replied, "the child's verdict"))
		return -1;
	ctl_send(c->ctl, 'B', 0);
	if (wait_child(c, &st))
		return -1;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	/* the orphan, served meanwhile, comes back to us (main() made us a subreaper) */
	pid_t r;
	for (uint64_t end = ms_now() + TIMEOUT_MS; (r = waitpid(-1, &st, WNOHANG)) == 0;) {
		CHECK(ms_now() < end, "the orphan does not exit");
		if (lp_loop_step(&c->l, 5) < 0)
			FAIL("the loop failed");
	}
	CHECK(r > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "orphan status %#x", st);
	lp_loop_finish(&c->l);
	if (run_until(c, loop_done, "the end of the loop"))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	CHECK(s->forks == 1, "%" PRIu64, s->forks);
	CHECK(s->exits >= 2, "%" PRIu64, s->exits);
	CHECK(s->faults_missing > 0, "%" PRIu64, s->faults_missing);
	return 0;
}

/* EVENT_REMAP: pages moved before they arrived come from their image address. */
static int child_mremap(struct tc *c)
{
	char *na = c->spare, *ns = c->spare + NA * P;
	int bad = 0;

	if (mremap(c->anon + 8 * P, 8 * P, 8 * P, MREMAP_MAYMOVE | MREMAP_FIXED, na) != na)
		return 2;
	if (mremap(c->s1, 8 * P, 8 * P, MREMAP_MAYMOVE | MREMAP_FIXED, ns) != ns)
		return 3;
	for (unsigned i = 0; i < NA; i++)
		bad |= check_page((i >= 8 && i < 16 ? na + (i - 8) * P : c->anon + i * P), 1, i);
	for (unsigned j = 0; j < NS; j++)
		bad |= check_page(j < 8 ? ns + j * P : c->s1 + j * P, 2, j);
	return bad;
}

static int case_mremap(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_mremap, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	CHECK(c->l.st.remaps == 2, "%" PRIu64, c->l.st.remaps);
	return 0;
}

/* EVENT_REMOVE: after MADV_DONTNEED private pages read as zero (the range is dropped);
 * shmem pages keep their content (the page cache stays). */
static int child_dontneed(struct tc *c)
{
	int bad = 0;
	for (unsigned i = 0; i < 4; i++)
		bad |= check_page(c->anon + i * P, 1, i);
	memset(c->anon, 0xee, 4 * P);
	if (madvise(c->anon, 8 * P, MADV_DONTNEED))
		return 2;
	bad |= !is_zero(c->anon, 8 * P);
	for (unsigned i = 8; i < NA; i++)
		bad |= check_page(c->anon + i * P, 1, i);
	bad |= check_page(c->s1 + 2 * P, 2, 2);
	if (madvise(c->s1, 4 * P, MADV_DONTNEED))
		return 3;
	bad |= touch_all_shm(c, c->s1) | touch_all_shm(c, c->s2);
	return bad;
}

static int case_dontneed(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_dontneed, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	CHECK(c->l.st.removes == 2, "%" PRIu64, c->l.st.removes);
	return 0;
}

/* EVENT_UNMAP: unmapped pages are no longer owed; the loop completes without them. */
static int child_munmap(struct tc *c)
{
	int bad = 0;
	if (munmap(c->anon + 32 * P, 16 * P) || munmap(c->s2, NS * P))
		return 2;
	for (unsigned i = 0; i < NA; i++)
		if (i < 32 || i >= 48)
			bad |= check_page(c->anon + i * P, 1, i);
	bad |= touch_all_shm(c, c->s1);
	return bad;
}

static int case_munmap(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_munmap, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	CHECK(c->l.st.unmaps == 2, "%" PRIu64, c->l.st.unmaps);
	return 0;
}

/* The task exits with pages pending; no pidfd: the loop learns it from ESRCH. */
static int child_exit_now(struct tc *c)
{
	(void)c;
	_exit(0);
}

static int case_exit_esrch(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_ALL, false, true, false };
	int st;

	if (tc_setup(c, SHM_NONE) || tc_start(c, child_exit_now, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	/* the mm is gone before the loop looks at the task again */
	CHECK(wait_pid(c->pid, &st, TIMEOUT_MS) == 0, "child");
	c->pid = -1;
	lp_loop_finish(&c->l);
	if (run_until(c, loop_done, "the end of the loop"))
		return -1;
	print_stats(c);
	CHECK(c->l.st.exits == 1, "%" PRIu64, c->l.st.exits);
	CHECK(c->l.st.pages_copied == 0, "%" PRIu64, c->l.st.pages_copied);
	CHECK(c->l.tasks == NULL, "the task was not reaped");
	return 0;
}

/* The task exits half-way through; the pidfd says so. */
static int child_half(struct tc *c)
{
	for (unsigned i = 0; i < NA / 2; i++)
		if (check_page(c->anon + i * P, 1, i))
			_exit(1);
	_exit(0);
}

static int case_exit_pidfd(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	int st;

	if (tc_setup(c, SHM_NONE) || tc_start(c, child_half, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (wait_child(c, &st))
		return -1;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	if (run_until(c, loop_done, "the end of the loop"))
		return -1;
	print_stats(c);
	CHECK(c->l.st.exits == 1, "%" PRIu64, c->l.st.exits);
	CHECK(c->l.st.faults_missing > 0, "%" PRIu64, c->l.st.faults_missing);
	return 0;
}

/* The pages the working set of child_some names. */
static const unsigned hot_anon[] = { 2, 9, 33, 34, 35, 60 };
static const unsigned hot_shm[] = { 10, 12 };
static int expect_hot = -1; /* child_hot_check: 1 in place before the child runs, 0 not */

/* Is the page at addr in our page tables (/proc/self/pagemap bit 63)? -1 on error. */
static int page_present(const void *addr)
{
	uint64_t e;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = pread(fd, &e, sizeof(e), (off_t)((uintptr_t)addr / P * sizeof(e)));
	close(fd);
	return n == sizeof(e) ? (int)(e >> 63) : -1;
}

/* Before touching a byte: the working set is in our page tables (or not, if it must
 * not be); then the touches of child_some. */
static int child_hot_check(struct tc *c)
{
	int bad = 0;

	for (size_t n = 0; n < ARRAY_SIZE(hot_anon); n++)
		if (page_present(c->anon + hot_anon[n] * P) != expect_hot) {
			fprintf(stderr, "  child: anon page %u is %sin place\n", hot_anon[n],
				expect_hot ? "not " : "");
			bad = 1;
		}
	for (size_t n = 0; n < ARRAY_SIZE(hot_shm); n++)
		for (int m = 0; m < 2; m++)
			if (page_present((m ? c->s2 : c->s1) + hot_shm[n] * P) != expect_hot) {
				fprintf(stderr, "  child: shmem page %u (mapping %d) is %sin place\n",
					hot_shm[n], m + 1, expect_hot ? "not " : "");
				bad = 1;
			}
	/* pages not in the working set are never in before their time */
	if (page_present(c->anon) != 0 || page_present(c->s1) != 0 || page_present(c->s2 + 11 * P) != 0) {
		fprintf(stderr, "  child: a page outside the working set is in place\n");
		bad = 1;
	}
	/* what was there before it ran, seen: now the daemon may stream the rest */
	ctl_send(c->ctl, 'A', bad);
	if (ctl_wait(c->ctl, 'C') < 0)
		return 1;
	return bad | child_some(c);
}

/* Fault-around: a task walking its memory takes a fault per window, not per page; the
 * window grows while the walk goes on; across zero pages and holes. MINOR faults map
 * the whole run of pages in the page cache. */
static int child_walk(struct tc *c)
{
	int bad = 0;
	for (unsigned i = 0; i < NA; i++)
		bad |= check_page(c->anon + i * P, 1, i);
	for (unsigned j = 0; j < NS; j++)
		bad |= check_page(c->s1 + j * P, 2, j);
	for (unsigned j = 0; j < NS; j++)
		bad |= check_page(c->s2 + j * P, 2, j);
	return bad;
}

static int case_fault_around(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true, true };
	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_walk, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	unsigned holes = count_kind(anon_kind, NA, K_HOLE);
	/* private: windows of 16, 32 pages from page 0 on, cut only by the holes (a hole
	 * is a page of its own: zeros); shmem: the same through s1, then s2's first MINOR
	 * fault maps all of it */
	CHECK(s->faults_missing <= 2 * holes + 6, "%" PRIu64 " MISSING faults for %u pages",
	      s->faults_missing, NA + NS);
	CHECK(s->faults_minor == 1, "%" PRIu64 " MINOR faults", s->faults_minor);
	CHECK(s->pages_continued == NS, "%" PRIu64, s->pages_continued);
	CHECK(s->pages_faultaround >= NA + NS - s->faults_missing - holes, "%" PRIu64, s->pages_faultaround);
	CHECK(s->pages_prefetched == 0, "%" PRIu64, s->pages_prefetched);
	return 0;
}

/* The SYNC puts the working set into the task's page tables: private pages, and shmem
 * pages (no fd: through one mapping, then UFFDIO_CONTINUE in the other) before it runs;
 * it takes no fault on them. */
static int case_preload_mapped(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_HOT, false, false, false, true };
	struct lp_ws_run hot[8];
	size_t nh = 0;

	expect_hot = 1; /* the child inherits it */
	if (tc_setup(c, SHM_SHARED_ANON) || tc_start(c, child_hot_check, &o))
		return -1;
	for (size_t n = 0; n < ARRAY_SIZE(hot_anon); n++)
		hot[nh++] = (struct lp_ws_run){ LP_WS_ANON, 0, 1000, (uintptr_t)c->anon + hot_anon[n] * P,
						1 };
	for (size_t n = 0; n < ARRAY_SIZE(hot_shm); n++)
		hot[nh++] = (struct lp_ws_run){ LP_WS_SHMEM, LP_WS_WRITTEN, SHM_ID, hot_shm[n] * P, 1 };
	nh = lp_ws_normalize(hot, nh);
	if (lp_loop_set_hot(&c->l, hot, nh))
		return -1;
	lp_loop_sync(&c->l);
	uint64_t end = ms_now() + TIMEOUT_MS;
	while (!lp_loop_preloaded(&c->l)) {
		CHECK(ms_now() < end, "the working set never got in");
		CHECK(step(c) == 0, "loop");
	}
	struct lp_stats *s = &c->l.st;
	CHECK(s->hot_pages == 8 && s->hot_in_place == 8, "%" PRIu64 " of %" PRIu64 " in place",
	      s->hot_in_place, s->hot_pages);
	ctl_send(c->ctl, 'G', 0);
	CHECK(acked_n(c, 1), "no word from the child");
	CHECK(s->faults_missing + s->faults_minor == 0,
	      "%" PRIu64 " faults before the child touched the rest", s->faults_missing + s->faults_minor);
	lp_loop_finish(&c->l);
	ctl_send(c->ctl, 'C', 0);
	if (tc_finish(c, false))
		return -1;
	print_stats(c);
	CHECK(s->hot_faults == 0, "%" PRIu64 " faults on the working set", s->hot_faults);
	return 0;
}

/* Prefetch yields: with everything on one CPU, a task that spins there still has its
 * faults served at once, and the prefetch (32 MiB to go) waits while it spins, to
 * finish once it stops. Counted, not timed: what the prefetch got while the task spun. */
static int child_spin(struct tc *c)
{
	cpu_set_t set;
	uint64_t worst = 0;
	int bad = 0;

	CPU_ZERO(&set);
	CPU_SET(c->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return 2;
	ctl_send(c->ctl, 'S', 0);
	uint64_t t0 = now_ns();
	volatile uint64_t x = 0;
	/* the pages the prefetch (in address order) comes to last */
	bool big_last = c->big > c->anon;
	for (unsigned k = 0; k < 60; k++) {
		/* 5 ms on the CPU, then a page nobody brought in yet: a fault */
		while (now_ns() < t0 + (k + 1) * 5000000ull)
			x++;
		uint64_t a = now_ns();
		if (big_last) {
			const char *pg = c->big + (BIG - 60 + k) * P;
			for (unsigned b = 0; b < P; b++)
				bad |= pg[b] != 1;
		} else {
			bad |= check_page(c->anon + k * P, 1, k);
		}
		worst = MAX(worst, now_ns() - a);
	}
	ctl_send(c->ctl, 'E', 0);
	if (worst > 2000000000ull) {
		fprintf(stderr, "  child: a fault took %.1f ms\n", worst / 1e6);
		bad = 1;
	}
	return bad | child_all(c);
}

static int case_prefetch_yields(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_ALL, false, false, false, false };
	cpu_set_t all, one;
	struct page_xfer x;
	int ret = -1;

	if (sched_getaffinity(0, sizeof(all), &all))
		FAIL("sched_getaffinity: %m");
	c->cpu = sched_getcpu();
	c->big = mmap(NULL, BIG * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->big == MAP_FAILED) {
		c->big = NULL;
		FAIL("mmap: %m");
	}
	if (tc_setup(c, SHM_NONE))
		return -1;
	/* one page set, both regions in address order: the big one's pages are 1s */
	char *buf = malloc(256 * P);
	CHECK(buf, "malloc");
	memset(buf, 1, 256 * P);
	CHECK(xfer_open(&x, c->dfd, ANON_SET, 1) == 0, "xfer");
	bool big_first = c->big < c->anon;
	for (int pass = 0; pass < 2; pass++) {
		if ((pass == 0) == big_first) {
			for (unsigned i = 0; i < BIG; i += 256)
				ret = ret > 0 ? ret
					      : xfer_write_pages(&x, (uintptr_t)c->big + i * P, buf, 256,
								 PE_LAZY);
		} else {
			char pg[P];
			for (unsigned i = 0; i < NA; i++) {
				int k = anon_kind(i);
				if (k == K_DATA) {
					pattern(pg, 1, i);
					ret = ret > 0 ? ret
						      : xfer_write_pages(&x, (uintptr_t)c->anon + i * P, pg,
									 1, PE_LAZY);
				} else if (k == K_ZERO) {
					ret = ret > 0 ? ret
						      : xfer_write_zero(&x, (uintptr_t)c->anon + i * P, 1,
									PE_LAZY);
				}
			}
		}
	}
	free(buf);
	CHECK(xfer_close(&x) == 0 && ret <= 0, "image");
	/* everything on one CPU: the test's threads (the prefetch thread starts later and
	 * inherits it), and the child (it pins itself) */
	CPU_ZERO(&one);
	CPU_SET(c->cpu, &one);
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0, "pin");
	ret = -1;
	if (tc_start(c, child_spin, &o))
		goto out;
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		goto out;
	print_stats(c);
	if (!(c->marks & 2)) {
		fprintf(stderr, "  the child did not say when it stopped spinning\n");
		goto out;
	}
	uint64_t during = c->mark_pref[1] - c->mark_pref[0];
	if (verbose)
		fprintf(stderr,
			"  while the child spun (300 ms): %" PRIu64 " pages prefetched, the prefetch thread "
			"ran %.1f ms\n",
			during, (c->mark_cpu[1] - c->mark_cpu[0]) / 1e6);
	/* at normal priority it would have had a third of the CPU or more: all of it in
	 * (32 MiB is some 15 ms of copying); at SCHED_IDLE a few ms at most */
	if (during > BIG * 3 / 4) {
		fprintf(stderr,
			"  %" PRIu64 " of %u pages prefetched while the child spun on the same CPU: "
			"the prefetch did not yield\n",
			during, BIG);
		goto out;
	}
	if (c->l.st.pages_prefetched < BIG) {
		fprintf(stderr, "  only %" PRIu64 " pages prefetched in the end\n", c->l.st.pages_prefetched);
		goto out;
	}
	if (c->l.st.faults_missing < 60) {
		fprintf(stderr, "  %" PRIu64 " faults: the child's touches did not fault\n",
			c->l.st.faults_missing);
		goto out;
	}
	ret = 0;
out:
	sched_setaffinity(0, sizeof(all), &all);
	return ret;
}

/* Faults are served from the faulting thread's CPU: the loop thread moves there. */
static int child_on_cpu(struct tc *c)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(c->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return 2;
	return child_all(c);
}

static int case_follow_cpu(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true, true };
	cpu_set_t all, now;

	/* the child runs on the last of our CPUs; we start on another one if we can */
	if (sched_getaffinity(0, sizeof(all), &all))
		FAIL("sched_getaffinity: %m");
	c->cpu = -1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all))
			c->cpu = i;
	if (tc_setup(c, SHM_MEMFD) || tc_start(c, child_on_cpu, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (run_until(c, child_replied, "the child's verdict"))
		return -1;
	CHECK(c->child_result == 0, "child reported %d", c->child_result);
	CHECK(c->l.follow_cpu == c->cpu, "the loop thread is on CPU %d, the faulting task on %d",
	      c->l.follow_cpu, c->cpu);
	CHECK(sched_getaffinity(0, sizeof(now), &now) == 0 && CPU_COUNT(&now) == 1 && CPU_ISSET(c->cpu, &now),
	      "the loop thread's affinity");
	if (tc_finish(c, true))
		return -1;
	/* the loop gives its thread the CPUs back */
	lp_loop_fini(&c->l);
	c->loop_ready = false;
	CHECK(sched_getaffinity(0, sizeof(now), &now) == 0 && CPU_EQUAL(&now, &all), "CPUs not given back");
	return 0;
}

/* ---- the daemon, end to end: handshake, images, watchdog ---- */

static int write_inventory(struct tc *c, pid_t pid, uint64_t when)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;

	inv.img_version = IMG_FORMAT_VERSION;
	inv.has_root_pid = true;
	inv.root_pid = pid;
	inv.has_dump_time_unix = true;
	inv.dump_time_unix = when;
	inv.has_dump_complete = true;
	inv.dump_complete = true;
	struct img *img = img_open(c->dfd, IMG_INVENTORY, O_WRONLY, 0);
	return !img || img_write(img, &inv) || img_close(img) ? -1 : 0;
}

static int write_mm_image(struct tc *c, pid_t pid)
{
	VmaEntry va = VMA_ENTRY__INIT, v1 = VMA_ENTRY__INIT, v2 = VMA_ENTRY__INIT;
	VmaEntry *vmas[3] = { &va, &v1, &v2 };
	MmEntry mm = MM_ENTRY__INIT;
	ShmemEntry se = SHMEM_ENTRY__INIT;

	va.start = (uintptr_t)c->anon;
	va.end = va.start + NA * P;
	va.prot = PROT_READ | PROT_WRITE;
	va.flags = MAP_PRIVATE | MAP_ANONYMOUS;
	va.kind = VMA_KIND_ANON_PRIVATE;
	va.has_status = true;
	va.status = VMA_STATUS_LAZY;
	v1 = va;
	v1.start = (uintptr_t)c->s1;
	v1.end = v1.start + NS * P;
	v1.flags = MAP_SHARED;
	v1.kind = VMA_KIND_SHMEM;
	v1.has_shmem_id = true;
	v1.shmem_id = SHM_ID;
	v1.has_pgoff = true;
	v1.pgoff = 0;
	v2 = v1;
	v2.start = (uintptr_t)c->s2;
	v2.end = v2.start + NS * P;
	mm.pid = pid;
	mm.n_vmas = 3;
	mm.vmas = vmas;
	se.id = SHM_ID;
	se.kind = SHMEM_KIND_MEMFD;
	se.size = NS * P;

	struct img *img = img_open(c->dfd, IMG_MM, O_WRONLY, pid);
	if (!img || img_write(img, &mm) || img_close(img))
		return -1;
	/* each "dump" has an inventory of its own: the working set's identity */
	if (write_inventory(c, pid, 0))
		return -1;
	img = img_open(c->dfd, IMG_SHMEM, O_WRONLY, 0);
	if (!img || img_write(img, &se) || img_close(img))
		return -1;
	char id[32];
	snprintf(id, sizeof(id), "%d", (int)pid);
	return write_anon_image(c, id);
}

static pid_t start_daemon(struct tc *c, const char *prefetch)
{
	fflush(NULL);
	pid_t d = fork();
	if (d == 0) {
		char log[128];
		snprintf(log, sizeof(log), "%s/lazy-pages.log", c->dir);
		char *argv[] = { "criu-lite", "lazy-pages", "-D", c->dir, "--prefetch", (char *)prefetch,
				 "-vv", "-o", log, NULL };
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(cli_run(ARRAY_SIZE(argv) - 1, argv));
	}
	return d;
}

/* Act as the restore: send the object, the task, "restore finished". */
static int act_as_restore(struct tc *c)
{
	int sock = lp_client_connect(c->dir);
	if (sock < 0)
		FAIL("connect");
	int ret = lp_client_send_shmem(sock, SHM_ID, c->memfd) ||
		  lp_client_send_task(sock, c->pid, c->uffd) || lp_client_sync(sock, TIMEOUT_MS) ||
		  lp_client_restore_finished(sock);
	close(sock);
	/* the daemon holds the uffd now: ours must not keep it alive */
	closep(&c->uffd);
	CHECK(ret == 0, "handshake");
	return 0;
}

static int start_child_only(struct tc *c, child_fn fn)
{
	int sv[2];

	c->child = fn;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		FAIL("socketpair: %m");
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0)
		FAIL("fork: %m");
	if (c->pid == 0) {
		close(sv[0]);
		child_main(c, sv[1]);
	}
	close(sv[1]);
	c->ctl = sv[0];
	c->uffd = t_recv_fd(c->ctl);
	if (c->uffd < 0)
		FAIL("no uffd from the child");
	return 0;
}

static int case_daemon(struct tc *c)
{
	int st;
	char buf[4096];

	if (tc_setup(c, SHM_MEMFD) || start_child_only(c, child_interleaved))
		return -1;
	if (write_mm_image(c, c->pid))
		FAIL("mm image");
	cleanup_pid pid_t d = start_daemon(c, "none");
	if (act_as_restore(c))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (wait_pid(d, &st, TIMEOUT_MS))
		FAIL("the daemon did not finish");
	d = -1;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "daemon status %#x", st);
	ctl_send(c->ctl, 'B', 0);
	if (wait_pid(c->pid, &st, TIMEOUT_MS))
		FAIL("child");
	c->pid = -1;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	int fd = openat(c->dfd, "lazy-pages-stats.json", O_RDONLY);
	CHECK(fd >= 0, "no stats file");
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(n > 0, "empty stats");
	buf[n] = 0;
	if (verbose)
		fprintf(stderr, "%s", buf);
	unsigned long long fm = 0, fmi = 0;
	char *p = strstr(buf, "\"faults_missing\": "), *q = strstr(buf, "\"faults_minor\": ");
	CHECK(p && q && sscanf(p, "\"faults_missing\": %llu", &fm) == 1 &&
		      sscanf(q, "\"faults_minor\": %llu", &fmi) == 1,
	      "stats format");
	CHECK(fm > 0 && fmi > 0, "faults_missing %llu faults_minor %llu", fm, fmi);
	CHECK(strstr(buf, "\"complete\": true"), "not complete");
	CHECK(strstr(buf, "\"ended\": \"every page is in\""), "ended otherwise");
	return 0;
}

static int json_u64(struct tc *c, const char *key, unsigned long long *ret)
{
	char buf[4096], pat[64];
	int fd = openat(c->dfd, "lazy-pages-stats.json", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	char *p = strstr(buf, pat);
	return p && sscanf(p + strlen(pat), "%llu", ret) == 1 ? 0 : -1;
}

/* The runs of a working-set file, read as the format says (whatever images it is for). */
static int read_runs(const char *path, struct lp_ws_run **ret, size_t *ret_nr)
{
	uint32_t h[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, h, sizeof(h), 0) != sizeof(h) || h[0] != WS_MAGIC || h[1] != LP_WS_VERSION) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t nr = h[4];
	struct lp_ws_run *v = calloc(nr + 1, sizeof(*v));
	ssize_t want = (ssize_t)(nr * sizeof(*v));
	if (!v || pread(fd, v, want, 32 + h[3] * 24) != want) {
		free(v);
		close(fd);
		return -1;
	}
	close(fd);
	*ret = v;
	*ret_nr = nr;
	return 0;
}

static pid_t start_daemon_args(struct tc *c, const char *log_name, char *const extra[], size_t nextra)
{
	fflush(NULL);
	pid_t d = fork();
	if (d == 0) {
		char log[128];
		char *argv[24] = { "criu-lite", "lazy-pages", "-D", c->dir, "-vvvv", "-o", log };
		size_t n = 7;
		snprintf(log, sizeof(log), "%s/%s", c->dir, log_name);
		for (size_t i = 0; i < nextra && n < ARRAY_SIZE(argv) - 1; i++)
			argv[n++] = extra[i];
		argv[n] = NULL;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(cli_run((int)n, argv));
	}
	return d;
}

/* Run 1 of a working set: `--prefetch none --record-ws ws` with child_some. 0 or -1. */
static int record_run(struct tc *c, const char *ws)
{
	char *extra[] = { "--prefetch", "none", "--record-ws", (char *)ws };
	char m[2];
	int st;

	if (tc_setup(c, SHM_MEMFD) || start_child_only(c, child_some))
		return -1;
	if (write_mm_image(c, c->pid))
		FAIL("mm image");
	cleanup_pid pid_t d = start_daemon_args(c, "lazy-pages-1.log", extra, ARRAY_SIZE(extra));
	if (act_as_restore(c))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	struct pollfd pf = { c->ctl, POLLIN, 0 };
	CHECK(poll(&pf, 1, TIMEOUT_MS) == 1 && recv(c->ctl, m, 2, 0) == 2 && m[0] == 'R' && m[1] == 0,
	      "run 1: child");
	ctl_send(c->ctl, 'B', 0);
	CHECK(wait_pid(c->pid, &st, TIMEOUT_MS) == 0 && WIFEXITED(st) && !WEXITSTATUS(st), "run 1 child");
	c->pid = -1;
	CHECK(wait_pid(d, &st, TIMEOUT_MS) == 0 && WIFEXITED(st) && !WEXITSTATUS(st), "run 1 daemon %#x", st);
	d = -1;
	closep(&c->ctl);
	return 0;
}

/* Run 2: a fresh object and task (its pid stands for the restored one), the daemon with
 * --prefetch hot --hot-ws ws, the handshake with the SYNC; the child checks what is in
 * place before it touches anything. *ret_d: the daemon's status. 0 or -1. */
static int hot_run(struct tc *c, const char *ws, bool rewrite, int *ret_d)
{
	char *extra[] = { "--prefetch", "hot", "--hot-ws", (char *)ws };
	int st;

	CHECK(ftruncate(c->memfd, 0) == 0 && ftruncate(c->memfd, NS * P) == 0, "truncate");
	if (start_child_only(c, child_hot_check) || write_mm_image(c, c->pid))
		FAIL("run 2 setup");
	if (rewrite) {
		/* the same working set, for the new task's page set (and these images) */
		struct lp_ws_run *runs;
		size_t nr;
		CHECK(read_runs(ws, &runs, &nr) == 0, "ws file");
		for (size_t i = 0; i < nr; i++)
			if (runs[i].kind == LP_WS_ANON)
				runs[i].id = c->pid;
		int wret = lp_ws_write(ws, c->dfd, runs, nr);
		free(runs);
		CHECK(wret == 0, "ws rewrite");
	}
	cleanup_pid pid_t d = start_daemon_args(c, "lazy-pages-2.log", extra, ARRAY_SIZE(extra));
	int sock = lp_client_connect(c->dir);
	CHECK(sock >= 0, "connect");
	CHECK(lp_client_send_shmem(sock, SHM_ID, c->memfd) == 0 && lp_client_send_task(sock, c->pid, c->uffd) == 0,
	      "send");
	closep(&c->uffd);
	CHECK(lp_client_sync(sock, TIMEOUT_MS) == 0, "sync");
	/* before the task runs: exactly the recorded shmem pages (10, 12) are in the object,
	 * or none if the working set was not applied */
	char buf[P];
	for (unsigned j = 0; j < NS; j++) {
		CHECK(pread(c->memfd, buf, P, j * P) == (ssize_t)P, "pread");
		if ((j == 10 || j == 12) && expect_hot)
			CHECK(!check_page(buf, 2, j), "hot page %u missing after sync", j);
		else
			CHECK(is_zero(buf, P), "page %u in before its time", j);
	}
	/* the task runs; it looks at its page tables before "restore finished" (after it
	 * the daemon streams everything) */
	ctl_send(c->ctl, 'G', 0);
	char m[2];
	struct pollfd pf = { c->ctl, POLLIN, 0 };
	CHECK(poll(&pf, 1, TIMEOUT_MS) == 1 && recv(c->ctl, m, 2, 0) == 2 && m[0] == 'A',
	      "no word from the child");
	CHECK(m[1] == 0, "the working set was %s in place before the task ran", expect_hot ? "not" : "");
	CHECK(lp_client_restore_finished(sock) == 0, "finished");
	close(sock);
	ctl_send(c->ctl, 'C', 0);
	CHECK(wait_pid(d, &st, TIMEOUT_MS) == 0, "run 2 daemon");
	d = -1;
	*ret_d = st;
	ctl_send(c->ctl, 'B', 0);
	CHECK(wait_pid(c->pid, &st, TIMEOUT_MS) == 0 && WIFEXITED(st) && !WEXITSTATUS(st), "run 2 child %#x", st);
	c->pid = -1;
	return 0;
}

/* --record-ws, then --prefetch hot --hot-ws: the working set is in every mapping of the
 * task when lp_client_sync returns, before the task runs, and it takes no fault on it. */
static int case_daemon_hot(struct tc *c)
{
	char ws[128];
	int st;

	snprintf(ws, sizeof(ws), "%s/ws.bin", c->dir);
	if (record_run(c, ws))
		return -1;
	expect_hot = 1;
	if (hot_run(c, ws, true, &st))
		return -1;
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "run 2 daemon %#x", st);
	unsigned long long pre = 0, tot = 0, hp = 0, inplace = 0, hf = 0, fm = 0, fmi = 0;
	CHECK(json_u64(c, "pages_prefetched", &pre) == 0 && json_u64(c, "pages_total", &tot) == 0 &&
		      json_u64(c, "hot_pages", &hp) == 0 &&
		      json_u64(c, "hot_pages_in_place", &inplace) == 0 &&
		      json_u64(c, "hot_faults", &hf) == 0 && json_u64(c, "faults_missing", &fm) == 0 &&
		      json_u64(c, "faults_minor", &fmi) == 0,
	      "json");
	CHECK(pre > 0 && pre <= tot, "prefetched %llu of %llu", pre, tot);
	CHECK(hp == 8 && inplace == 8, "working set: %llu pages, %llu in place", hp, inplace);
	/* the child touched only working-set pages: not one fault */
	CHECK(hf == 0 && fm == 0 && fmi == 0, "faults on the working set %llu, missing %llu, minor %llu", hf,
	      fm, fmi);
	return 0;
}

/* A working set that does not belong to the images is ignored, with a warning: other
 * images (another dump: another inventory), other sizes, other pages. */
static int case_daemon_ws_mismatch(struct tc *c)
{
	char ws[128], log[160], buf[65536];
	struct lp_ws_run *runs = NULL, *r2;
	size_t nr, n2;
	bool ignored;
	int st;

	snprintf(ws, sizeof(ws), "%s/ws.bin", c->dir);
	if (record_run(c, ws))
		return -1;
	CHECK(read_runs(ws, &runs, &nr) == 0 && nr == 6, "ws file");
	cleanup_free struct lp_ws_run *keep = runs;
	/* it fits the images it was recorded on */
	CHECK(lp_ws_load(ws, c->dfd, &r2, &n2, &ignored) == 0 && !ignored && n2 == nr, "run 1's own file");
	free(r2);
	/* other sizes: the task's page set in the file has a page more than in the images */
	int fd = open(ws, O_RDWR | O_CLOEXEC);
	uint64_t pages;
	CHECK(fd >= 0 && pread(fd, &pages, 8, 32 + 16) == 8, "set");
	pages++;
	CHECK(pwrite(fd, &pages, 8, 32 + 16) == 8, "patch");
	close(fd);
	CHECK(lp_ws_load(ws, c->dfd, &r2, &n2, &ignored) == 0 && ignored && n2 == 0 && !r2,
	      "other sizes applied");
	/* other pages: a run over a page the images do not have (page 5 is a hole) */
	struct lp_ws_run bad[7];
	memcpy(bad, runs, nr * sizeof(*runs));
	bad[nr] = runs[0];
	bad[nr].addr = (uintptr_t)c->anon + 5 * P;
	CHECK(lp_ws_write(ws, c->dfd, bad, nr + 1) == 0, "write");
	CHECK(lp_ws_load(ws, c->dfd, &r2, &n2, &ignored) == 0 && ignored && n2 == 0, "other pages applied");
	/* other images: the same runs, a later dump of the same task */
	CHECK(lp_ws_write(ws, c->dfd, runs, nr) == 0, "write");
	CHECK(write_inventory(c, c->pid, 1) == 0, "inventory");
	CHECK(lp_ws_load(ws, c->dfd, &r2, &n2, &ignored) == 0 && ignored && n2 == 0, "other images applied");

	/* the daemon with it: warns, puts nothing in before the task runs, serves it all */
	expect_hot = 0;
	if (hot_run(c, ws, false, &st))
		return -1;
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "daemon %#x", st);
	unsigned long long hp = 1, inplace = 1;
	CHECK(json_u64(c, "hot_pages", &hp) == 0 && json_u64(c, "hot_pages_in_place", &inplace) == 0 &&
		      hp == 0 && inplace == 0,
	      "working set applied: %llu pages, %llu in place", hp, inplace);
	snprintf(log, sizeof(log), "%s/lazy-pages-2.log", c->dir);
	fd = open(log, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	CHECK(n > 0, "no log");
	buf[n] = 0;
	CHECK(strstr(buf, "does not belong to the images") && strstr(buf, "recorded on other images"),
	      "no warning in the log");
	return 0;
}

/* The daemon is SIGKILLed mid-restore: the watchdog kills the faulting task, which
 * never sees a zero page where data was due. */
static int child_half_then_rest(struct tc *c)
{
	int bad = 0;
	for (unsigned i = 0; i < NA / 2; i++)
		bad |= check_page(c->anon + i * P, 1, i);
	ctl_send(c->ctl, 'A', bad);
	if (ctl_wait(c->ctl, 'C') < 0)
		return 1;
	for (unsigned i = NA / 2; i < NA; i++)
		bad |= check_page(c->anon + i * P, 1, i);
	return bad ? 1 : 0; /* exit 0 would mean it ran on */
}

static int case_watchdog(struct tc *c)
{
	int st;
	char m[2];

	if (tc_setup(c, SHM_MEMFD) || start_child_only(c, child_half_then_rest))
		return -1;
	if (write_mm_image(c, c->pid))
		FAIL("mm image");
	cleanup_pid pid_t d = start_daemon(c, "none");
	if (act_as_restore(c))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	struct pollfd pf = { c->ctl, POLLIN, 0 };
	CHECK(poll(&pf, 1, TIMEOUT_MS) == 1 && recv(c->ctl, m, 2, 0) == 2 && m[0] == 'A' && m[1] == 0,
	      "first half");
	/* the daemon dies without a word */
	kill(d, SIGKILL);
	CHECK(wait_pid(d, &st, TIMEOUT_MS) == 0, "daemon");
	d = -1;
	ctl_send(c->ctl, 'C', 0);
	/* the child either dies, or (wrongly) runs on and reports */
	uint64_t until = ms_now() + TIMEOUT_MS;
	for (;;) {
		pid_t r = waitpid(c->pid, &st, WNOHANG);
		if (r == c->pid)
			break;
		CHECK(r == 0 && ms_now() < until, "the child was not killed");
		if (recv(c->ctl, m, 2, MSG_DONTWAIT) == 2 && m[0] == 'R')
			FAIL("the child ran on after the daemon died (its check said %d)", m[1]);
		usleep(2000);
	}
	c->pid = -1;
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %#x: it ran on", st);
	/* the watchdog, reparented to us, exits */
	pid_t w;
	uint64_t end = ms_now() + TIMEOUT_MS;
	while ((w = waitpid(-1, &st, WNOHANG)) == 0 && ms_now() < end)
		usleep(2000);
	CHECK(w > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "watchdog status %#x", st);
	return 0;
}

/* The daemon fails (a corrupt page in the image): it kills the task itself. */
static int case_daemon_fatal(struct tc *c)
{
	int st;

	if (tc_setup(c, SHM_MEMFD) || start_child_only(c, child_all))
		return -1;
	if (write_mm_image(c, c->pid))
		FAIL("mm image");
	/* flip a byte of the first data page of the task's pages file */
	char name[64];
	snprintf(name, sizeof(name), "pages-%d.img", (int)c->pid);
	int fd = openat(c->dfd, name, O_RDWR);
	CHECK(fd >= 0, "pages file");
	char b = 0x42;
	CHECK(pwrite(fd, &b, 1, IMG_PAGES_HDR + 10) == 1, "corrupt");
	close(fd);
	cleanup_pid pid_t d = start_daemon(c, "none");
	if (act_as_restore(c))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	CHECK(wait_pid(c->pid, &st, TIMEOUT_MS) == 0, "the child was not killed");
	c->pid = -1;
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %#x", st);
	CHECK(wait_pid(d, &st, TIMEOUT_MS) == 0, "daemon");
	d = -1;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0, "daemon status %#x", st);
	return 0;
}

/* The daemon is handed a task it has no images for: the task is killed, the daemon
 * fails, and the restore sees the connection drop. */
static int case_daemon_no_image(struct tc *c)
{
	int st;

	if (tc_setup(c, SHM_MEMFD) || start_child_only(c, child_all))
		return -1;
	cleanup_pid pid_t d = start_daemon(c, "all");
	int sock = lp_client_connect(c->dir);
	CHECK(sock >= 0, "connect");
	int r = lp_client_send_task(sock, c->pid, c->uffd);
	closep(&c->uffd);
	CHECK(r == 0, "send");
	/* the daemon hangs up on the restore */
	struct pollfd pf = { sock, POLLIN, 0 };
	char b;
	CHECK(poll(&pf, 1, TIMEOUT_MS) == 1 && recv(sock, &b, 1, 0) <= 0, "connection not dropped");
	close(sock);
	CHECK(wait_pid(c->pid, &st, TIMEOUT_MS) == 0, "the task was not killed");
	c->pid = -1;
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "task status %#x", st);
	CHECK(wait_pid(d, &st, TIMEOUT_MS) == 0, "daemon");
	d = -1;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "daemon status %#x", st);
	return 0;
}

/* A hostile image: the shmem object's pagemap holds pages past the object's size.
 * The daemon must refuse it (it would otherwise pwrite past the end and grow the
 * object), fail, and leave the object as it was. */
static int case_daemon_shm_past_end(struct tc *c)
{
	int st;
	struct stat before, after;
	ShmemEntry se = SHMEM_ENTRY__INIT;

	if (tc_setup(c, SHM_MEMFD) || start_child_only(c, child_all))
		return -1;
	if (write_mm_image(c, c->pid))
		FAIL("mm image");
	se.id = SHM_ID;
	se.kind = SHMEM_KIND_MEMFD;
	se.size = 8 * P; /* the page set reaches NS pages */
	struct img *img = img_open(c->dfd, IMG_SHMEM, O_WRONLY, 0);
	if (!img || img_write(img, &se) || img_close(img))
		FAIL("shmem image");
	CHECK(fstat(c->memfd, &before) == 0, "fstat");
	cleanup_pid pid_t d = start_daemon(c, "all");
	int sock = lp_client_connect(c->dir);
	CHECK(sock >= 0, "connect");
	lp_client_send_shmem(sock, SHM_ID, c->memfd); /* the daemon hangs up on it */
	CHECK(wait_pid(d, &st, TIMEOUT_MS) == 0, "the daemon did not give up");
	d = -1;
	close(sock);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0, "daemon status %#x", st);
	CHECK(fstat(c->memfd, &after) == 0 && after.st_size == before.st_size,
	      "the object grew from %lld to %lld bytes", (long long)before.st_size,
	      (long long)after.st_size);
	return 0;
}

/* ---- negative handshake checks on the API (no child) ---- */
static int case_api(struct tc *c)
{
	uint64_t f = 0;
	(void)c;
	int fd = uffd_open(0);
	CHECK(fd >= 0, "uffd_open: %s", strerror(-fd));
	/* a wrong API version is refused */
	struct uffdio_api bad = { .api = 0x1234 };
	CHECK(ioctl(fd, UFFDIO_API, &bad) < 0 && errno == EINVAL, "bad api accepted");
	close(fd);
	fd = uffd_open(0);
	CHECK(uffd_api(fd, LP_UFFD_FEATURES, &f, NULL) == 0, "api");
	CHECK((f & LP_UFFD_FEATURES) == LP_UFFD_FEATURES, "features %#" PRIx64, f);
	/* a second UFFDIO_API on the same fd fails */
	CHECK(uffd_api(fd, 0, NULL, NULL) == -EINVAL, "second api");
	/* copy into nothing registered: ENOENT, the triage's "drop the range" */
	char *m = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char buf[P] = { 1 };
	int64_t done;
	CHECK(uffd_copy(fd, (uintptr_t)m, buf, P, 0, &done) == -ENOENT, "copy unregistered");
	CHECK(uffd_register(fd, (uintptr_t)m, P, UFFDIO_REGISTER_MODE_MISSING, NULL) == 0, "register");
	CHECK(uffd_copy(fd, (uintptr_t)m, buf, P, 0, &done) == 0 && done == (int64_t)P, "copy");
	CHECK(uffd_copy(fd, (uintptr_t)m, buf, P, 0, &done) == -EEXIST && done == 0, "copy twice");
	CHECK(uffd_zeropage(fd, (uintptr_t)m, P, 0, &done) == -EEXIST, "zeropage over a page");
	CHECK(m[0] == 1, "content");
	CHECK(uffd_unregister(fd, (uintptr_t)m, P) == 0, "unregister");
	munmap(m, P);
	close(fd);
	return 0;
}

/* ---- VMA boundaries: no request may cross one, and no page may be lost ---- */

static unsigned holes_all(void)
{
	return count_kind(anon_kind, NA, K_HOLE) + count_kind(shm_kind, NS, K_HOLE);
}

/* Adjacent VMAs (different protections and flags), each given to the task on its own,
 * extents across their boundaries, prefetch of everything (through the mappings for
 * shmem) before the child reads a byte. */
static int case_vma_adjacent(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_ALL, false, false, true };

	dense_layout = true;
	c->split = true;
	if (tc_setup(c, SHM_SHARED_ANON) || tc_start(c, child_wait_then_check, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	if (run_until(c, loop_done, "every page in"))
		return -1;
	struct lp_stats *s = &c->l.st;
	CHECK(s->pages_dropped == 0, "%" PRIu64 " pages dropped", s->pages_dropped);
	CHECK(s->enoent_retries == 0, "%" PRIu64 " requests crossed a known boundary", s->enoent_retries);
	ctl_send(c->ctl, 'C', 0);
	if (tc_finish(c, false))
		return -1;
	print_stats(c);
	CHECK(s->pages_prefetched == s->pages_total, "%" PRIu64 " != %" PRIu64, s->pages_prefetched,
	      s->pages_total);
	/* only the holes fault (and get zeros) */
	CHECK(s->faults_missing == holes_all(), "%" PRIu64 " missing faults", s->faults_missing);
	CHECK(s->faults_unpending == 0, "%" PRIu64, s->faults_unpending);
	return 0;
}

/* The child splits its VMAs itself after the registration (mprotect, madvise: no
 * event) while every page is still pending; then everything is prefetched. */
static int child_split_then_check(struct tc *c)
{
	if (split_vmas(c))
		return 2;
	ctl_send(c->ctl, 'A', 0);
	return child_wait_then_check(c);
}

static int case_vma_split_unseen(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_ALL, false, false, false };

	dense_layout = true;
	if (tc_setup(c, SHM_SHARED_ANON) || tc_start(c, child_split_then_check, &o))
		return -1;
	ctl_send(c->ctl, 'G', 0);
	CHECK(acked_n(c, 1), "the child did not split its VMAs (result %d)", c->child_result);
	lp_loop_finish(&c->l);
	if (run_until(c, loop_done, "every page in"))
		return -1;
	ctl_send(c->ctl, 'C', 0);
	if (tc_finish(c, false))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	/* the requests did cross the new boundaries, and got through in halves */
	CHECK(s->enoent_retries > 0, "no request crossed a boundary: the case tests nothing");
	CHECK(s->pages_dropped == 0, "%" PRIu64 " pages dropped", s->pages_dropped);
	CHECK(s->pages_prefetched == s->pages_total, "%" PRIu64 " != %" PRIu64, s->pages_prefetched,
	      s->pages_total);
	CHECK(s->faults_missing == holes_all(), "%" PRIu64 " missing faults", s->faults_missing);
	return 0;
}

/* Faults right at the boundaries, on pages that are no longer pending though they
 * never arrived (as a dropped page would be): they get the image's data, not zeros. */
static int child_boundaries_first(struct tc *c)
{
	static const unsigned pa[] = { CUT1 - 1, CUT1, CUT2 - 1, CUT2, 20, 27, 28 };
	int bad = 0;

	for (size_t n = 0; n < ARRAY_SIZE(pa); n++)
		bad |= check_page(c->anon + pa[n] * P, 1, pa[n]);
	bad |= check_page(c->s1 + (SCUT - 1) * P, 2, SCUT - 1) | check_page(c->s1 + SCUT * P, 2, SCUT);
	bad |= check_page(c->s2 + SCUT * P, 2, SCUT) | check_page(c->s2 + (SCUT - 1) * P, 2, SCUT - 1);
	return bad | child_all(c);
}

static int case_vma_boundary_fault(struct tc *c)
{
	struct start_opts o = { LP_PREFETCH_NONE, false, false, true };
	/* data pages at CUT2, zero pages at CUT1 */
	static const unsigned lost[] = { CUT2 - 1, CUT2, CUT1 - 1, CUT1, 20 };

	dense_layout = true;
	c->split = true;
	if (tc_setup(c, SHM_SHARED_ANON) || tc_start(c, child_boundaries_first, &o))
		return -1;
	struct lp_task *t = c->l.tasks;
	for (size_t n = 0; n < ARRAY_SIZE(lost); n++) {
		uint64_t a = (uintptr_t)c->anon + lost[n] * P;
		CHECK(lp_rset_remove(&t->pending, a, a + P) == 1, "page %u was not pending", lost[n]);
	}
	ctl_send(c->ctl, 'G', 0);
	if (tc_finish(c, true))
		return -1;
	print_stats(c);
	struct lp_stats *s = &c->l.st;
	/* the two data pages came from the image; the zero pages are zero either way */
	CHECK(s->faults_unpending == 2, "%" PRIu64, s->faults_unpending);
	CHECK(s->pages_copied == count_kind(anon_kind, NA, K_DATA) + count_kind(shm_kind, NS, K_DATA),
	      "%" PRIu64, s->pages_copied);
	CHECK(s->pages_dropped == 0, "%" PRIu64, s->pages_dropped);
	return 0;
}

static const struct tcase cases[] = {
	{ "api", case_api, "anon", 0, "ioctl wrappers: versions, EEXIST, ENOENT" },
	{ "anon_missing", case_anon_missing, "anon", 0, "MISSING on private memory: COPY" },
	{ "busy_poll", case_busy_poll, "anon", 0, "busy polling: spins after a fault catch the next" },
	{ "busy_poll_off", case_busy_poll_off, "anon", 0, "busy polling off: never spins" },
	{ "anon_zeropage", case_anon_zeropage, "anon", 0, "zero pages and holes: ZEROPAGE" },
	{ "shm_memfd", case_shm_memfd, "shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "memfd mapped twice: MISSING (COPY) then MINOR (CONTINUE)" },
	{ "shm_shared_anon", case_shm_shared_anon, "shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "MAP_SHARED|MAP_ANONYMOUS mapped twice: MISSING then MINOR" },
	{ "shm_prepopulated", case_shm_prepopulated, "shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "hot pages written into the memfd first: MINOR faults" },
	{ "eexist_forced", case_eexist_forced, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "a page arrives while its fault waits: COPY/CONTINUE EEXIST" },
	{ "wait_for_write", case_wait_for_write, "shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "faults on pages being written wait, then CONTINUE" },
	{ "prefetch_all_fd", case_prefetch_all_fd, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "prefetch (the worker threads) racing faults" },
	{ "prefetch_all_mapped", case_prefetch_all_mapped, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "prefetch through a mapping racing faults" },
	{ "prefetch_all_nofault", case_prefetch_all_nofault, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "everything arrives before the first access" },
	{ "prefetch_none", case_prefetch_none, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM, "faults only" },
	{ "prefetch_hot", case_prefetch_hot, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "record the working set, then replay it as the hot set" },
	{ "fault_around", case_fault_around, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "a walk takes a fault per window, growing; a MINOR fault maps the whole run" },
	{ "preload_mapped", case_preload_mapped, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "the SYNC puts the working set in every mapping before the task runs: no fault on it" },
	{ "prefetch_yields", case_prefetch_yields, "anon", 0,
	  "a task spinning on the prefetch's CPU: its faults served, the prefetch waits" },
	{ "follow_cpu", case_follow_cpu, "anon+shmem", UFFD_FEATURE_THREAD_ID,
	  "faults are served from the faulting thread's CPU; the loop thread gives it back" },
	{ "fork", case_fork, "anon+shmem", UFFD_FEATURE_EVENT_FORK, "EVENT_FORK" },
	{ "fork_prefetch", case_fork_prefetch, "anon+shmem", UFFD_FEATURE_EVENT_FORK,
	  "EVENT_FORK four times while prefetch streams" },
	{ "fork_leave", case_fork_leave, "anon+shmem", UFFD_FEATURE_EVENT_FORK,
	  "forked children exit or exec with pages pending (prefetch none): seen gone, the loop ends" },
	{ "fork_parent_first", case_fork_parent_first, "anon+shmem", UFFD_FEATURE_EVENT_FORK,
	  "the parent exits first: its child is served from the images, its exit ends the loop" },
	{ "mremap", case_mremap, "anon+shmem", UFFD_FEATURE_EVENT_REMAP, "EVENT_REMAP" },
	{ "dontneed", case_dontneed, "anon+shmem", UFFD_FEATURE_EVENT_REMOVE, "EVENT_REMOVE" },
	{ "munmap", case_munmap, "anon+shmem", UFFD_FEATURE_EVENT_UNMAP, "EVENT_UNMAP" },
	{ "vma_adjacent", case_vma_adjacent, "anon+shmem", UFFD_FEATURE_MISSING_SHMEM,
	  "adjacent VMAs registered one by one, prefetch all: no request crosses them" },
	{ "vma_split_unseen", case_vma_split_unseen, "anon+shmem", UFFD_FEATURE_MISSING_SHMEM,
	  "VMAs split after registration (no event): ENOENT requests retried in halves" },
	{ "vma_boundary_fault", case_vma_boundary_fault, "anon+shmem", UFFD_FEATURE_MISSING_SHMEM,
	  "faults at VMA boundaries on pages lost from the pending set: image data, not zeros" },
	{ "exit_esrch", case_exit_esrch, "anon", 0, "task gone, seen through ESRCH" },
	{ "exit_pidfd", case_exit_pidfd, "anon", 0, "task exits half-way, seen through its pidfd" },
	{ "daemon", case_daemon, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "criu-lite lazy-pages end to end: handshake, images, stats file" },
	{ "daemon_hot", case_daemon_hot, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "--record-ws then --prefetch hot: the working set in place before the task runs, no fault on it" },
	{ "daemon_ws_mismatch", case_daemon_ws_mismatch, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "a working set of other images, sizes or pages: ignored with a warning" },
	{ "daemon_fatal", case_daemon_fatal, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "a corrupt page: the daemon kills the task" },
	{ "daemon_no_image", case_daemon_no_image, "anon+shmem", 0,
	  "a task without images: killed, the daemon fails" },
	{ "daemon_shm_past_end", case_daemon_shm_past_end, "anon+shmem", 0,
	  "a shmem pagemap past the object's size: refused, the object unchanged" },
	{ "watchdog", case_watchdog, "anon+shmem", UFFD_FEATURE_MINOR_SHMEM,
	  "the daemon SIGKILLed mid-restore: the watchdog kills the task" },
};

/* Descendants orphaned by a case (a daemon's watchdog) are reparented to us: reap
 * them; what is still around after a grace period is killed, then reaped. */
static void reap_strays(void)
{
	uint64_t end = ms_now() + 3000;
	for (;;) {
		pid_t p = waitpid(-1, NULL, WNOHANG);
		if (p > 0)
			continue;
		if (p < 0)
			return; /* no children left */
		if (ms_now() > end)
			break;
		usleep(2000);
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	FILE *f = fopen(path, "re");
	int pid;
	while (f && fscanf(f, "%d", &pid) == 1) {
		fprintf(stderr, "  killing stray child %d\n", pid);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	const char *filter = NULL;
	bool list = false, bench = false;
	int opt;

	while ((opt = getopt(argc, argv, "lf:vb")) != -1) {
		switch (opt) {
		case 'l': list = true; break;
		case 'f': filter = optarg; break;
		case 'v': verbose++; break;
		case 'b': bench = true; break;
		default:
			fprintf(stderr, "usage: %s [-l] [-f NAME] [-v] [-b]\n", argv[0]);
			return 2;
		}
	}
	if (list) {
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
			printf("%-22s %-11s %s\n", cases[i].name, cases[i].mem, cases[i].desc);
		return 0;
	}
	log_init(verbose > 1 ? LOG_DEBUG : verbose ? LOG_INFO : LOG_ERROR, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* orphaned descendants (watchdogs) come back to us to be reaped */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	uint64_t features = 0;
	int pr = uffd_probe_features(&features);
	if (bench)
		return pr ? 77 : uffd_bench(verbose);

	int passed = 0, failed = 0, skipped = 0, n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct tcase *t = &cases[i];
		if (filter && !strstr(t->name, filter))
			continue;
		n++;
		if (pr || (features & t->features) != t->features ||
		    (features & LP_UFFD_FEATURES) != LP_UFFD_FEATURES) {
			printf("ok %d - %s # SKIP userfaultfd lacks features %#llx\n", n, t->name,
			       (unsigned long long)t->features);
			skipped++;
			continue;
		}
		struct tc c;
		memset(&c, 0, sizeof(c));
		c.tcase = t;
		dense_layout = false;
		uint64_t t0 = now_ns();
		int ret = t->fn(&c);
		tc_teardown(&c);
		reap_strays();
		printf("%s %d - %s (%.0f ms)\n", ret ? "not ok" : "ok", n, t->name, (now_ns() - t0) / 1e6);
		fflush(stdout);
		if (ret)
			failed++;
		else
			passed++;
	}
	printf("1..%d\n", n);
	printf("uffd: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
