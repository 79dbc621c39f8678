/*
 * Unit tests for the dump: real children (threads, private and shared memory with
 * patterns, memfds, a file fd) dumped through cr_dump(), images checked through
 * the image API, and the child checked to be running, untraced and intact.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "images/image.h"
#include "images/imgset.h"
#include "criu-lite/dump.h"
#include "images/pagemap.h"
#include "lib/proc-parse.h"
#include "lib/infect.h"
#include "criu-lite/seize.h"

#define ANON_PAGES 16
#define MEMFD_PAGES 4
#define SHANON_PAGES 2
#define FILE_POS 42

struct child_info {
	uint64_t anon, memfd_a, memfd_b, shanon, fpriv, hidden, guard;
	int file_fd, memfd_fd;
	pid_t grandchild;
	uint32_t nr_threads;
};

struct child_cfg {
	bool keep_uffd;   /* keep a userfaultfd open (a kind criu-lite refuses): the dump must fail */
	bool grandchild;  /* fork a grandchild that shares the shared anon mapping */
	bool seccomp;     /* a seccomp filter that kills the process on getitimer() */
	int refuse;       /* REFUSE_*: state criu-lite does not carry (the dump must refuse it) */
};

/* States the dump refuses, each set up by the child (test_dump_refuses). */
enum {
	REFUSE_NONE,
	REFUSE_SESSION,    /* not a session leader: its session is led outside the tree */
	REFUSE_NAMESPACE,  /* a pid namespace made for its children, and none yet */
	REFUSE_MEMPOLICY,  /* set_mempolicy(MPOL_BIND) */
	REFUSE_LDT,        /* modify_ldt() */
	REFUSE_TLS,        /* set_thread_area() */
	REFUSE_SUD,        /* syscall user dispatch */
	REFUSE_CREDS,      /* a thread with a uid of its own */
	REFUSE_CTTY,       /* a controlling terminal */
	REFUSE_AUTOGROUP,  /* an autogroup nice value */
	REFUSE_DEADLINE,   /* SCHED_DEADLINE */
	REFUSE_MBIND,      /* a VMA with a memory policy */
	REFUSE_SHARED_FILES, /* a grandchild sharing our fd table, not its parent's (CLONE_FILES) */
	REFUSE_ASYNC,      /* signal-driven I/O on a pipe (O_ASYNC, F_SETOWN) */
	REFUSE_COUNT,
};

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void *pauser(void *arg)
{
	/* started: glibc has registered this thread's rseq area */
	__atomic_store_n((int *)arg, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
}

static void *spinner(void *arg)
{
	volatile uint64_t *n = arg;
	for (;;)
		(*n)++;
	return NULL;
}

static uint8_t anon_byte(int page)
{
	return (uint8_t)(0xa0 + page);
}

static void *uid_thread(void *arg)
{
	sigset_t term;

	/* SIGTERM is for the main thread */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	/* this thread alone (the raw syscall, not glibc's, which sets every thread's) */
	if (syscall(SYS_setresuid, 65534, 0, 0) < 0)
		__atomic_store_n((int *)arg, -1, __ATOMIC_SEQ_CST);
	else
		__atomic_store_n((int *)arg, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
}

/* Set up one state the dump refuses. 0, or -1 if this machine can't have it. */
static int set_up_refused(int what, uint8_t *anon)
{
	switch (what) {
	case REFUSE_NAMESPACE:
		return unshare(CLONE_NEWPID);
	case REFUSE_MEMPOLICY: {
		unsigned long node0 = 1;
		return syscall(SYS_set_mempolicy, 2 /* MPOL_BIND */, &node0, 2);
	}
	case REFUSE_MBIND: {
		unsigned long node0 = 1;
		return syscall(SYS_mbind, anon, PAGE_SIZE, 2 /* MPOL_BIND */, &node0, 2, 0);
	}
	case REFUSE_LDT: {
		struct { uint32_t entry, base, limit, flags; } d = { 0, 0x1000, 0xff, 0x1 /* seg_32bit */ };
		return syscall(SYS_modify_ldt, 1, &d, sizeof(d)) < 0 ? -1 : 0;
	}
	case REFUSE_TLS: {
		struct { int32_t entry; uint32_t base, limit, flags; } d = { -1, 0x1000, 0xff, 0x1 };
		return syscall(SYS_set_thread_area, &d);
	}
	case REFUSE_SUD: {
		static char selector = 0; /* SYSCALL_DISPATCH_FILTER_ALLOW: every syscall still allowed */
		return prctl(59 /* PR_SET_SYSCALL_USER_DISPATCH */, 1 /* ON */, 0, 0, &selector);
	}
	case REFUSE_CREDS: {
		static int done;
		pthread_t th;
		if (pthread_create(&th, NULL, uid_thread, &done))
			return -1;
		while (!__atomic_load_n(&done, __ATOMIC_SEQ_CST))
			usleep(1000);
		return done > 0 ? 0 : -1;
	}
	case REFUSE_CTTY: {
		int m = posix_openpt(O_RDWR | O_NOCTTY), sl;
		if (m < 0 || grantpt(m) || unlockpt(m))
			return -1;
		sl = open(ptsname(m), O_RDWR); /* the session leader's first tty: its terminal */
		if (sl < 0)
			return -1;
		close(sl);
		/* the master stays open: closing it would hang the terminal up (SIGHUP) */
		return 0;
	}
	case REFUSE_AUTOGROUP: {
		int fd = open("/proc/self/autogroup", O_WRONLY);
		int r = fd < 0 || write(fd, "5", 1) != 1 ? -1 : 0;
		if (fd >= 0)
			close(fd);
		return r;
	}
	case REFUSE_SHARED_FILES: {
		/* a child and grandchild of ours in one fd table (CLONE_FILES, fork-like: no
		 * CLONE_VM, no stack), then the child takes a table of its own: the grandchild
		 * shares ours, not its parent's */
		pid_t parent = getpid();
		int ready[2];
		char c1 = 0;
		long c;
		if (pipe(ready) < 0)
			return -1;
		c = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
		if (c == 0) {
			pid_t mid = getpid();
			long g;
			prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with its parent */
			if (getppid() != parent)
				_exit(0);
			g = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
			if (g == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (getppid() != mid)
					_exit(0);
				for (;;)
					pause();
			}
			if (g < 0 || unshare(CLONE_FILES) < 0 || write(ready[1], "x", 1) != 1)
				_exit(1);
			/* its own table holds copies of ours: none stays open (the test waits
			 * for EOF on its pipe) */
			syscall(SYS_close_range, 0, ~0U, 0);
			for (;;)
				pause();
		}
		if (c < 0 || read(ready[0], &c1, 1) != 1) {
			close(ready[0]);
			close(ready[1]);
			return -1;
		}
		close(ready[0]);
		close(ready[1]);
		return 0;
	}
	case REFUSE_ASYNC: {
		int p[2];
		if (pipe(p) < 0 || fcntl(p[0], F_SETOWN, getpid()) < 0)
			return -1;
		return fcntl(p[0], F_SETFL, O_ASYNC);
	}
	case REFUSE_DEADLINE: {
		struct { uint32_t size, policy; uint64_t flags; int32_t nice; uint32_t prio;
			 uint64_t runtime, deadline, period; } a = { 48, 6, 0, 0, 0, 1000000, 100000000, 100000000 };
		return syscall(SYS_sched_setattr, 0, &a, 0);
	}
	default:
		return 0;
	}
}

/* The child: set up state, report it, wait for SIGTERM, verify it, exit 0 if intact. */
static void child_main(const struct child_cfg *cfg, int wfd, const char *file_path)
{
	struct child_info ci = { 0 };
	static uint64_t spins;
	pthread_t th;
	int devnull = open("/dev/null", O_RDWR);

	/* gone with the test, whatever the test does (a spinning child must not outlive it) */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* its own session: one led outside the tree is not carried (without --shell-job) */
	if (cfg->refuse != REFUSE_SESSION && setsid() < 0)
		_exit(30);
	/* only what the test wants in the fd table */
	dup2(devnull, 0);
	dup2(devnull, 1);
	dup2(devnull, 2);
	close(devnull);
	signal(SIGTERM, on_term);

	uint8_t *anon = mmap(NULL, ANON_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int mfd = memfd_create("check dump", MFD_CLOEXEC);
	uint8_t *sh = mmap(NULL, SHANON_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (anon == MAP_FAILED || mfd < 0 || sh == MAP_FAILED || ftruncate(mfd, MEMFD_PAGES * PAGE_SIZE))
		_exit(10);
	uint8_t *ma = mmap(NULL, MEMFD_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	uint8_t *mb = mmap(NULL, MEMFD_PAGES * PAGE_SIZE, PROT_READ, MAP_SHARED, mfd, 0);
	if (ma == MAP_FAILED || mb == MAP_FAILED)
		_exit(11);
	for (int i = 0; i < 8; i++)
		memset(anon + i * PAGE_SIZE, anon_byte(i), PAGE_SIZE);
	for (int i = 8; i < 12; i++)
		anon[i * PAGE_SIZE] = 0; /* present, all zero */
	for (int i = 12; i < 14; i++)
		if (*(volatile uint8_t *)&anon[i * PAGE_SIZE]) /* read fault: the zero page */
			_exit(16);
	memset(ma, 0x5a, PAGE_SIZE);
	memset(ma + 2 * PAGE_SIZE, 0x5c, PAGE_SIZE);
	memset(sh, 0x33, PAGE_SIZE);

	int ffd = open(file_path, O_RDWR);
	if (ffd < 0 || lseek(ffd, FILE_POS, SEEK_SET) != FILE_POS)
		_exit(12);
	/* a private file mapping: page 0 read (the file's page), page 1 written (a private
	 * copy), page 2 untouched; the file holds 0x11 everywhere */
	char priv_path[160];
	snprintf(priv_path, sizeof(priv_path), "%s.priv", file_path);
	int pfd = open(priv_path, O_RDONLY);
	uint8_t *fp = pfd < 0 ? MAP_FAILED
			      : mmap(NULL, 3 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, pfd, 0);
	if (fp == MAP_FAILED)
		_exit(18);
	close(pfd);
	if (*(volatile uint8_t *)fp != 0x11)
		_exit(19);
	memset(fp + PAGE_SIZE, 0x22, PAGE_SIZE);
	/* nothing but 0-2, the file and the memfd (and the userfaultfd if asked) */
	int ufd = cfg->keep_uffd ? (int)syscall(SYS_userfaultfd, O_CLOEXEC) : -1;
	if (cfg->keep_uffd && ufd < 0)
		_exit(30);
	for (int fd = 3; fd < 1024; fd++)
		if (fd != ffd && fd != mfd && fd != wfd && fd != ufd)
			close(fd);
	if (cfg->grandchild) {
		pid_t g = fork();
		if (g == 0) {
			close(wfd);
			while (!got_term)
				pause();
			_exit(sh[0] == 0x33 ? 0 : 13);
		}
		ci.grandchild = g;
	}
	/* SIGTERM must reach the main thread: the others block it */
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGUSR2);
	sigaddset(&term, SIGURG);
	sigprocmask(SIG_BLOCK, &term, &old);
	static int pauser_up;
	if (pthread_create(&th, NULL, pauser, &pauser_up) || pthread_create(&th, NULL, spinner, &spins))
		_exit(14);
	/* SIGUSR2 and SIGURG stay blocked everywhere: one pending for the main thread only,
	 * one in the process-wide queue */
	sigdelset(&term, SIGTERM);
	sigprocmask(SIG_SETMASK, &old, NULL);
	sigprocmask(SIG_BLOCK, &term, NULL);
	if (syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2) || kill(getpid(), SIGURG))
		_exit(28);
	while (!*(volatile uint64_t *)&spins || !__atomic_load_n(&pauser_up, __ATOMIC_SEQ_CST))
		;
	if (cfg->seccomp) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getitimer, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { ARRAY_SIZE(f), f };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(17);
	}
	if (cfg->refuse && set_up_refused(cfg->refuse, anon) < 0)
		_exit(31);
	/* data behind PROT_NONE (read through /proc/PID/mem), and a pure guard area */
	uint8_t *resv = mmap(NULL, 8 * PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (resv == MAP_FAILED)
		_exit(25);
	uint8_t *hidden = mmap(resv, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	uint8_t *guard = resv + 3 * PAGE_SIZE; /* page 2 is a hole: two separate VMAs */
	if (hidden == MAP_FAILED || munmap(resv + 2 * PAGE_SIZE, PAGE_SIZE))
		_exit(25);
	memset(hidden, 0x77, 2 * PAGE_SIZE);
	if (mprotect(hidden, 2 * PAGE_SIZE, PROT_NONE))
		_exit(26);
	ci.hidden = (uintptr_t)hidden;
	ci.guard = (uintptr_t)guard;
	ci.anon = (uintptr_t)anon;
	ci.fpriv = (uintptr_t)fp;
	ci.memfd_a = (uintptr_t)ma;
	ci.memfd_b = (uintptr_t)mb;
	ci.shanon = (uintptr_t)sh;
	ci.file_fd = ffd;
	ci.memfd_fd = mfd;
	ci.nr_threads = 3;
	if (write(wfd, &ci, sizeof(ci)) != sizeof(ci))
		_exit(15);
	close(wfd);
	while (!got_term)
		pause();
	/* verify everything is as it was */
	for (int i = 0; i < 8; i++)
		for (size_t k = 0; k < PAGE_SIZE; k++)
			if (anon[i * PAGE_SIZE + k] != anon_byte(i))
				_exit(20);
	if (mb[0] != 0x5a || mb[2 * PAGE_SIZE] != 0x5c || sh[0] != 0x33)
		_exit(21);
	if (fp[0] != 0x11 || fp[PAGE_SIZE] != 0x22 || fp[2 * PAGE_SIZE] != 0x11)
		_exit(24);
	if (mprotect(hidden, 2 * PAGE_SIZE, PROT_READ) || hidden[0] != 0x77 || hidden[PAGE_SIZE] != 0x77)
		_exit(27);
	sigset_t pend;
	if (sigpending(&pend) || !sigismember(&pend, SIGUSR2) || !sigismember(&pend, SIGURG))
		_exit(29);
	if (lseek(ffd, 0, SEEK_CUR) != FILE_POS)
		_exit(22);
	if (cfg->grandchild) {
		int st;
		kill(ci.grandchild, SIGTERM);
		if (waitpid(ci.grandchild, &st, 0) != ci.grandchild || !WIFEXITED(st) || WEXITSTATUS(st))
			_exit(23);
	}
	_exit(0);
}

struct fixture {
	char dir[64];
	char file[128];
	pid_t pid;
	struct child_info ci;
};

static void start_child(struct fixture *fx, const struct child_cfg *cfg)
{
	int p[2];
	char buf[100];

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/check_dump.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fx->dir));
	snprintf(fx->file, sizeof(fx->file), "%s/data.txt", fx->dir);
	int fd = open(fx->file, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(write(fd, buf, sizeof(buf)), sizeof(buf));
	close(fd);
	char priv[160];
	snprintf(priv, sizeof(priv), "%s.priv", fx->file);
	fd = open(priv, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	for (int i = 0; i < 3; i++) {
		char page[PAGE_SIZE];
		memset(page, 0x11, sizeof(page));
		ck_assert_int_eq(write(fd, page, sizeof(page)), sizeof(page));
	}
	close(fd);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	fx->pid = fork();
	ck_assert_int_ge(fx->pid, 0);
	if (fx->pid == 0) {
		close(p[0]);
		child_main(cfg, p[1], fx->file);
		_exit(99);
	}
	close(p[1]);
	ck_assert_int_eq(read_all(p[0], &fx->ci, sizeof(fx->ci)), 0);
	{
		/* EOF: every copy of the write end is closed, the fd table is final */
		char c;
		ck_assert_int_eq(read(p[0], &c, 1), 0);
	}
	close(p[0]);
	snprintf(fx->dir + strlen(fx->dir), sizeof(fx->dir) - strlen(fx->dir), "/img");
}

static void rm_rf(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "can't remove %s\n", dir);
}

static void cleanup_fixture(struct fixture *fx)
{
	char top[64];
	snprintf(top, sizeof(top), "%s", fx->dir);
	char *slash = strrchr(top, '/');
	if (slash && !strcmp(slash, "/img"))
		*slash = '\0';
	rm_rf(top);
}

/* Running, not stopped, not traced: the state a dump must leave a task in. */
static void assert_running_untraced(pid_t pid)
{
	struct proc_status ps;
	cleanup_free pid_t *tids = NULL;
	size_t nr;

	ck_assert_int_eq(proc_list_tids(pid, &tids, &nr), 0);
	for (size_t i = 0; i < nr; i++) {
		ck_assert_int_eq(proc_parse_status(pid, tids[i], &ps), 0);
		ck_assert_int_eq(ps.tracer_pid, 0);
		ck_assert_msg(ps.state != 't' && ps.state != 'T', "thread %d is in state %c", tids[i],
			      ps.state);
	}
}

/* SIGTERM the child; it verifies its memory and fds and exits 0 when intact. */
static void finish_child_intact(pid_t pid)
{
	int st;
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
}

static int open_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dfd, 0);
	return dfd;
}

static const VmaEntry *find_vma(const MmEntry *mm, uint64_t addr)
{
	for (size_t i = 0; i < mm->n_vmas; i++)
		if (mm->vmas[i]->start <= addr && addr < mm->vmas[i]->end)
			return mm->vmas[i];
	return NULL;
}

static MmEntry *read_mm(int dfd, pid_t pid)
{
	cleanup_img struct img *img = img_open(dfd, IMG_MM, O_RDONLY, pid);
	MmEntry *mm;
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_read_one(img, (void **)&mm), 0);
	return mm;
}

static void check_page(struct page_read *pr, uint64_t addr, int byte)
{
	cleanup_free uint8_t *buf = malloc(PAGE_SIZE);
	ck_assert_int_eq(page_read_pages(pr, addr, 1, buf), 0);
	for (size_t k = 0; k < PAGE_SIZE; k++)
		ck_assert_msg(buf[k] == byte, "page 0x%llx byte %zu: 0x%x, want 0x%x",
			      (unsigned long long)addr, k, buf[k], byte);
}

START_TEST(test_dump_leave_running)
{
	struct fixture fx;
	struct child_cfg cfg = { 0 };
	struct cr_options o;
	cr_options_init(&o);
	char ids[32];

	start_child(&fx, &cfg);
	o.tree = fx.pid;
	o.images_dir = (char *)fx.dir;
	o.leave_running = true;
	o.pagemap_read = _i == 1; /* both ways of finding pages */
	ck_assert_int_eq(cr_dump(&o), 0);
	assert_running_untraced(fx.pid);

	int dfd = open_dir(fx.dir);
	InventoryEntry *inv = img_read_inventory(dfd);
	ck_assert_ptr_nonnull(inv);
	ck_assert_uint_eq(inv->root_pid, fx.pid);
	ck_assert(inv->dump_complete && inv->leave_running);
	ck_assert(inv->has_vdso_digest && inv->vdso_digest.len == 4 && inv->vdso_size > 0);
	ck_assert_uint_ge(inv->pages_dumped, 8 + 2 + 1); /* anon patterns + memfd + shared anon */
	ck_assert_uint_ge(inv->pages_zero, 6);
	inventory_entry__free_unpacked(inv, NULL);

	/* pstree: one task, three threads, the leader first */
	{
		cleanup_img struct img *img = img_open(dfd, IMG_PSTREE, O_RDONLY, 0);
		PstreeEntry *pe;
		void *more;
		ck_assert_int_eq(img_read_one(img, (void **)&pe), 0);
		ck_assert_uint_eq(pe->pid, fx.pid);
		ck_assert_uint_eq(pe->ppid, 0);
		ck_assert_uint_eq(pe->n_threads, fx.ci.nr_threads);
		ck_assert_uint_eq(pe->threads[0], fx.pid);
		ck_assert_int_eq(img_read(img, &more), 0);
		MmEntry *mm = read_mm(dfd, fx.pid);
		for (size_t i = 0; i < pe->n_threads; i++) {
			cleanup_img struct img *ci = img_open(dfd, IMG_CORE, O_RDONLY, pe->threads[i]);
			ThreadCoreEntry *c;
			ck_assert_ptr_nonnull(ci);
			ck_assert_int_eq(img_read_one(ci, (void **)&c), 0);
			ck_assert_uint_eq(c->tid, pe->threads[i]);
			const VmaEntry *ip = find_vma(mm, c->gpregs->ip);
			const VmaEntry *sp = find_vma(mm, c->gpregs->sp);
			ck_assert_msg(ip && (ip->prot & PROT_EXEC), "thread %u: rip 0x%llx not in code", c->tid,
				      (unsigned long long)c->gpregs->ip);
			ck_assert_msg(sp && (sp->prot & PROT_WRITE), "thread %u: rsp not in a writable VMA", c->tid);
			ck_assert(c->gpregs->fs_base != 0); /* glibc TLS */
			ck_assert(c->has_xsave && c->xsave.len >= 576);
			ck_assert(c->has_xfeatures && (c->xfeatures & 3) == 3); /* x87 + SSE */
			ck_assert_ptr_nonnull(c->rseq);
			ck_assert_uint_eq(c->rseq->signature, 0x53053053);
			ck_assert(c->has_clear_tid_addr || c->in_syscall);
			if (i == 0) {
				/* the leader's private queue: the SIGUSR2 sent with tgkill */
				siginfo_t si;
				ck_assert_uint_eq(c->n_pending, 1);
				ck_assert_uint_eq(c->pending[0]->siginfo.len, sizeof(si));
				memcpy(&si, c->pending[0]->siginfo.data, sizeof(si));
				ck_assert_int_eq(si.si_signo, SIGUSR2);
				ck_assert_int_eq(si.si_code, SI_TKILL);
				ck_assert(c->sigmask & (1ULL << (SIGUSR2 - 1)));
			} else {
				ck_assert_uint_eq(c->n_pending, 0);
			}
			if (i == 1) {
				/* the pauser: stopped in pause(), stored ready to re-execute it */
				uint8_t insn[2];
				struct iovec l = { insn, 2 }, r = { (void *)(uintptr_t)c->gpregs->ip, 2 };
				ck_assert(c->in_syscall);
				ck_assert_uint_eq(c->gpregs->orig_ax, SYS_pause);
				ck_assert_uint_eq(c->gpregs->ax, SYS_pause);
				ck_assert_int_eq(process_vm_readv(fx.pid, &l, 1, &r, 1, 0), 2);
				ck_assert(insn[0] == 0x0f && insn[1] == 0x05);
			}
			img_free_msg(ci, c);
		}
		img_free_msg(img, pe);

		/* the process-wide queue: SIGURG */
		{
			cleanup_img struct img *ti = img_open(dfd, IMG_TASK, O_RDONLY, fx.pid);
			TaskEntry *te;
			siginfo_t si;
			ck_assert_int_eq(img_read_one(ti, (void **)&te), 0);
			ck_assert_uint_eq(te->n_shared_pending, 1);
			memcpy(&si, te->shared_pending[0]->siginfo.data, sizeof(si));
			ck_assert_int_eq(si.si_signo, SIGURG);
			ck_assert_int_eq(si.si_pid, fx.pid);
			ck_assert_str_eq(te->comm, "check_dump");
			bool term = false;
			for (size_t k = 0; k < te->n_sigactions; k++) {
				ck_assert(te->sigactions[k]->sig != SIGKILL && te->sigactions[k]->sig != SIGSTOP);
				if (te->sigactions[k]->sig == SIGTERM) {
					term = true;
					ck_assert_uint_eq(te->sigactions[k]->handler, (uintptr_t)on_term);
				}
			}
			ck_assert(term);
			ck_assert_uint_eq(te->n_sigactions, 62);
			img_free_msg(ti, te);
		}
		/* VMAs and kinds */
		const VmaEntry *v = find_vma(mm, fx.ci.anon);
		ck_assert_ptr_nonnull(v);
		ck_assert_uint_eq(v->kind, VMA_KIND_ANON_PRIVATE);
		ck_assert(v->status & VMA_STATUS_LAZY);
		const VmaEntry *a = find_vma(mm, fx.ci.memfd_a), *b = find_vma(mm, fx.ci.memfd_b);
		const VmaEntry *s = find_vma(mm, fx.ci.shanon);
		ck_assert(a && b && s);
		ck_assert_uint_eq(a->kind, VMA_KIND_SHMEM);
		ck_assert_uint_eq(b->kind, VMA_KIND_SHMEM);
		ck_assert_uint_eq(s->kind, VMA_KIND_SHMEM);
		ck_assert_uint_eq(a->shmem_id, b->shmem_id);
		ck_assert_uint_ne(a->shmem_id, s->shmem_id);
		ck_assert_uint_eq(b->prot, PROT_READ);
		uint64_t memfd_id = a->shmem_id, shanon_id = s->shmem_id;
		bool heap = false, stack = false, vdso = false;
		for (size_t i = 0; i < mm->n_vmas; i++) {
			heap |= mm->vmas[i]->kind == VMA_KIND_HEAP;
			stack |= mm->vmas[i]->kind == VMA_KIND_STACK;
			vdso |= mm->vmas[i]->kind == VMA_KIND_VDSO;
			if (i)
				ck_assert_uint_le(mm->vmas[i - 1]->end, mm->vmas[i]->start);
		}
		ck_assert(stack && vdso);
		const VmaEntry *fv = find_vma(mm, fx.ci.fpriv);
		ck_assert_ptr_nonnull(fv);
		ck_assert_uint_eq(fv->kind, VMA_KIND_FILE_PRIVATE);
		ck_assert(fv->has_file_id && fv->file_id);
		ck_assert(!(fv->status & VMA_STATUS_LAZY));
		uint32_t fpriv_id = fv->file_id;
		const VmaEntry *hv = find_vma(mm, fx.ci.hidden), *gv = find_vma(mm, fx.ci.guard);
		ck_assert(hv && gv && hv != gv);
		ck_assert_uint_eq(hv->prot, PROT_NONE);
		ck_assert_uint_eq(gv->prot, PROT_NONE);
		ck_assert(!(hv->status & VMA_STATUS_GUARD));
		ck_assert(gv->status & VMA_STATUS_GUARD);
		(void)heap; /* a small child may have no brk heap yet */
		ck_assert(mm->has_exe_file_id && mm->n_auxv >= 2 && mm->n_auxv % 2 == 0);
		ck_assert_uint_eq(mm->auxv[mm->n_auxv - 2], 0); /* ends with AT_NULL */
		mm_entry__free_unpacked(mm, NULL);

		/* private pages: patterns, zero pages, untouched pages absent */
		struct page_read pr;
		snprintf(ids, sizeof(ids), "%d", fx.pid);
		ck_assert_int_eq(page_read_open(&pr, dfd, ids, 0), 0);
		for (int i = 0; i < 8; i++)
			check_page(&pr, fx.ci.anon + i * PAGE_SIZE, anon_byte(i));
		for (int i = 8; i < 14; i++) {
			const PagemapEntry *e = page_read_find(&pr, fx.ci.anon + i * PAGE_SIZE);
			ck_assert_ptr_nonnull(e);
			ck_assert(e->flags & PE_ZERO);
			check_page(&pr, fx.ci.anon + i * PAGE_SIZE, 0);
		}
		for (int i = 14; i < ANON_PAGES; i++)
			ck_assert_ptr_null(page_read_find(&pr, fx.ci.anon + i * PAGE_SIZE));
		check_page(&pr, fx.ci.hidden, 0x77);
		check_page(&pr, fx.ci.hidden + PAGE_SIZE, 0x77);
		ck_assert_ptr_null(page_read_find(&pr, fx.ci.guard));
		/* private file mapping: only the private copy */
		ck_assert_ptr_null(page_read_find(&pr, fx.ci.fpriv));
		check_page(&pr, fx.ci.fpriv + PAGE_SIZE, 0x22);
		ck_assert(!(page_read_find(&pr, fx.ci.fpriv + PAGE_SIZE)->flags & PE_LAZY));
		ck_assert_ptr_null(page_read_find(&pr, fx.ci.fpriv + 2 * PAGE_SIZE));
		/* shmem pages are not in the task's pagemap */
		ck_assert_ptr_null(page_read_find(&pr, fx.ci.memfd_a));
		page_read_close(&pr);

		/* shmem.img: the memfd once, though mapped twice and open as an fd */
		cleanup_img struct img *si = img_open(dfd, IMG_SHMEM, O_RDONLY, 0);
		ShmemEntry *se;
		int n = 0, r;
		bool saw_memfd = false, saw_anon = false;
		while ((r = img_read(si, (void **)&se)) == 1) {
			n++;
			if (se->id == memfd_id) {
				saw_memfd = true;
				ck_assert_uint_eq(se->kind, SHMEM_KIND_MEMFD);
				ck_assert_str_eq(se->name, "check dump");
				ck_assert_uint_eq(se->size, MEMFD_PAGES * PAGE_SIZE);
				/* held as a descriptor: read() would bypass userfaultfd */
				ck_assert(se->has_lazy && !se->lazy);
			}
			if (se->id == shanon_id) {
				saw_anon = true;
				ck_assert_uint_eq(se->kind, SHMEM_KIND_ANON);
				ck_assert_uint_eq(se->size, SHANON_PAGES * PAGE_SIZE);
				ck_assert(se->has_lazy && se->lazy); /* reachable only by its mappings */
			}
			img_free_msg(si, se);
		}
		ck_assert_int_eq(r, 0);
		ck_assert_int_eq(n, 2);
		ck_assert(saw_memfd && saw_anon);
		snprintf(ids, sizeof(ids), "shmem-%llu", (unsigned long long)memfd_id);
		ck_assert_int_eq(page_read_open(&pr, dfd, ids, 0), 0);
		check_page(&pr, 0, 0x5a);
		ck_assert(!(page_read_find(&pr, 0)->flags & PE_LAZY));
		check_page(&pr, 2 * PAGE_SIZE, 0x5c);
		ck_assert_ptr_null(page_read_find(&pr, PAGE_SIZE)); /* a hole */
		page_read_close(&pr);
		snprintf(ids, sizeof(ids), "shmem-%llu", (unsigned long long)shanon_id);
		ck_assert_int_eq(page_read_open(&pr, dfd, ids, 0), 0);
		check_page(&pr, 0, 0x33);
		ck_assert(page_read_find(&pr, 0)->flags & PE_LAZY);
		page_read_close(&pr);

		/* fds: the file with its position, the memfd pointing at its shmem object */
		cleanup_img struct img *fi = img_open(dfd, IMG_FDINFO, O_RDONLY, fx.pid);
		FdinfoEntry *fe;
		uint32_t file_id = 0, memfd_file_id = 0;
		int nfd = 0;
		while ((r = img_read(fi, (void **)&fe)) == 1) {
			nfd++;
			if ((int)fe->fd == fx.ci.file_fd)
				file_id = fe->file_id;
			if ((int)fe->fd == fx.ci.memfd_fd) {
				memfd_file_id = fe->file_id;
				ck_assert(fe->cloexec);
			}
			img_free_msg(fi, fe);
		}
		ck_assert_int_eq(r, 0);
		ck_assert_int_eq(nfd, 5);
		ck_assert(file_id && memfd_file_id);
		cleanup_img struct img *files = img_open(dfd, IMG_FILES, O_RDONLY, 0);
		FileEntry *f;
		int found = 0;
		while ((r = img_read(files, (void **)&f)) == 1) {
			if (f->id == file_id) {
				found++;
				ck_assert_uint_eq(f->type, FILE_TYPE_REG);
				ck_assert_str_eq(f->reg->path, fx.file);
				ck_assert_uint_eq(f->reg->pos, FILE_POS);
				ck_assert_uint_eq(f->reg->flags & O_ACCMODE, O_RDWR);
				ck_assert_uint_eq(f->reg->size, 100);
			}
			if (f->id == fpriv_id) {
				found++;
				char want[160];
				snprintf(want, sizeof(want), "%s.priv", fx.file);
				ck_assert_uint_eq(f->type, FILE_TYPE_REG);
				ck_assert_str_eq(f->reg->path, want);
				ck_assert_uint_eq(f->reg->flags & O_ACCMODE, O_RDONLY);
			}
			if (f->id == memfd_file_id) {
				found++;
				ck_assert_uint_eq(f->type, FILE_TYPE_MEMFD);
				ck_assert_uint_eq(f->memfd->shmem_id, memfd_id);
			}
			img_free_msg(files, f);
		}
		ck_assert_int_eq(r, 0);
		ck_assert_int_eq(found, 3);
	}
	close(dfd);
	finish_child_intact(fx.pid);
	cleanup_fixture(&fx);
}
END_TEST

START_TEST(test_dump_kills_by_default)
{
	struct fixture fx;
	struct child_cfg cfg = { 0 };
	struct cr_options o;
	cr_options_init(&o);
	int st;

	start_child(&fx, &cfg);
	o.tree = fx.pid;
	o.images_dir = (char *)fx.dir;
	ck_assert_int_eq(cr_dump(&o), 0);
	/* gone: either we (the parent) reap a SIGKILL now or the dump reaped it already */
	pid_t r = waitpid(fx.pid, &st, 0);
	if (r == fx.pid)
		ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	else
		ck_assert_int_eq(errno, ECHILD);
	ck_assert_int_eq(kill(fx.pid, 0), -1);
	int dfd = open_dir(fx.dir);
	InventoryEntry *inv = img_read_inventory(dfd);
	ck_assert_ptr_nonnull(inv);
	ck_assert(!inv->leave_running);
	inventory_entry__free_unpacked(inv, NULL);
	close(dfd);
	cleanup_fixture(&fx);
}
END_TEST

START_TEST(test_dump_fails_on_refused_fd)
{
	struct fixture fx;
	struct child_cfg cfg = { .keep_uffd = true };
	struct cr_options o;
	cr_options_init(&o);

	start_child(&fx, &cfg);
	o.tree = fx.pid;
	o.images_dir = (char *)fx.dir;
	o.leave_running = false; /* even in kill mode, a failed dump leaves it running */
	char log[128];
	snprintf(log, sizeof(log), "%s.log", fx.dir);
	ck_assert_int_eq(log_init(LOG_WARN, log), 0);
	ck_assert_int_eq(cr_dump(&o), -1);
	log_fini();
	/* it failed for the userfaultfd, and said so naming the pid, the fd and what it is */
	cleanup_free char *text = read_file_str(AT_FDCWD, log, 1 << 20, NULL);
	char want[64];
	ck_assert_ptr_nonnull(text);
	snprintf(want, sizeof(want), "of pid %d is a userfaultfd (anon_inode:[userfaultfd])", fx.pid);
	ck_assert_msg(strstr(text, want), "log: %s", text);
	assert_running_untraced(fx.pid);
	int dfd = open_dir(fx.dir);
	ck_assert_int_eq(faccessat(dfd, "inventory.img", F_OK, 0), -1);
	ck_assert_int_eq(errno, ENOENT);
	close(dfd);
	finish_child_intact(fx.pid);
	cleanup_fixture(&fx);
}
END_TEST

START_TEST(test_dump_fails_on_bad_dir)
{
	struct fixture fx;
	struct child_cfg cfg = { 0 };
	struct cr_options o;
	cr_options_init(&o);

	start_child(&fx, &cfg);
	o.tree = fx.pid;
	o.images_dir = (char *)"/proc/self/no/such/dir";
	ck_assert_int_eq(cr_dump(&o), -1);
	assert_running_untraced(fx.pid);
	finish_child_intact(fx.pid);
	cleanup_fixture(&fx);
}
END_TEST

START_TEST(test_dump_old_inventory_removed)
{
	struct fixture fx;
	struct child_cfg cfg = { .keep_uffd = true };
	struct cr_options o;
	cr_options_init(&o);

	start_child(&fx, &cfg);
	ck_assert_int_eq(mkdir(fx.dir, 0700), 0);
	char path[128];
	snprintf(path, sizeof(path), "%s/inventory.img", fx.dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	o.tree = fx.pid;
	o.images_dir = (char *)fx.dir;
	ck_assert_int_eq(cr_dump(&o), -1);
	ck_assert_int_eq(access(path, F_OK), -1);
	assert_running_untraced(fx.pid);
	finish_child_intact(fx.pid);
	cleanup_fixture(&fx);
}
END_TEST

START_TEST(test_dump_tree_with_child)
{
	struct fixture fx;
	struct child_cfg cfg = { .grandchild = true };
	struct cr_options o;
	cr_options_init(&o);
	PstreeEntry *pe[2];

	start_child(&fx, &cfg);
	o.tree = fx.pid;
	o.images_dir = (char *)fx.dir;
	o.leave_running = true;
	ck_assert_int_eq(cr_dump(&o), 0);
	assert_running_untraced(fx.pid);
	assert_running_untraced(fx.ci.grandchild);

	int dfd = open_dir(fx.dir);
	cleanup_img struct img *img = img_open(dfd, IMG_PSTREE, O_RDONLY, 0);
	ck_assert_int_eq(img_read(img, (void **)&pe[0]), 1);
	ck_assert_int_eq(img_read(img, (void **)&pe[1]), 1);
	ck_assert_uint_eq(pe[0]->pid, fx.pid);
	ck_assert_uint_eq(pe[1]->pid, fx.ci.grandchild);
	ck_assert_uint_eq(pe[1]->ppid, fx.pid);
	ck_assert_uint_eq(pe[1]->n_threads, 1);
	img_free_msg(img, pe[0]);
	img_free_msg(img, pe[1]);

	/* the shared anonymous mapping is one object for both tasks */
	MmEntry *m1 = read_mm(dfd, fx.pid), *m2 = read_mm(dfd, fx.ci.grandchild);
	const VmaEntry *s1 = find_vma(m1, fx.ci.shanon), *s2 = find_vma(m2, fx.ci.shanon);
	ck_assert(s1 && s2);
	ck_assert_uint_eq(s1->kind, VMA_KIND_SHMEM);
	ck_assert_uint_eq(s1->shmem_id, s2->shmem_id);
	mm_entry__free_unpacked(m1, NULL);
	mm_entry__free_unpacked(m2, NULL);
	/* both tasks' fd 3-style file descriptions: the grandchild inherited the same ones */
	cleanup_img struct img *fi = img_open(dfd, IMG_FDINFO, O_RDONLY, fx.ci.grandchild);
	FdinfoEntry *fe;
	int r;
	uint32_t gfile = 0;
	while ((r = img_read(fi, (void **)&fe)) == 1) {
		if ((int)fe->fd == fx.ci.file_fd)
			gfile = fe->file_id;
		img_free_msg(fi, fe);
	}
	cleanup_img struct img *fi2 = img_open(dfd, IMG_FDINFO, O_RDONLY, fx.pid);
	uint32_t pfile = 0;
	while ((r = img_read(fi2, (void **)&fe)) == 1) {
		if ((int)fe->fd == fx.ci.file_fd)
			pfile = fe->file_id;
		img_free_msg(fi2, fe);
	}
	ck_assert(pfile && pfile == gfile);
	close(dfd);
	finish_child_intact(fx.pid);
	cleanup_fixture(&fx);
}
END_TEST

START_TEST(test_dump_stopped_child)
{
	struct fixture fx;
	struct child_cfg cfg = { 0 };
	struct cr_options o;
	cr_options_init(&o);
	struct proc_status ps;
	int st;

	start_child(&fx, &cfg);
	ck_assert_int_eq(kill(fx.pid, SIGSTOP), 0);
	ck_assert_int_eq(waitpid(fx.pid, &st, WUNTRACED), fx.pid);
	ck_assert(WIFSTOPPED(st));
	o.tree = fx.pid;
	o.images_dir = (char *)fx.dir;
	o.leave_running = true;
	ck_assert_int_eq(cr_dump(&o), 0);
	/* as it was: stopped (the group stop settles asynchronously), not traced */
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(proc_parse_status(fx.pid, 0, &ps), 0);
		if (ps.state == 'T')
			break;
		usleep(10000);
	}
	ck_assert_int_eq(ps.tracer_pid, 0);
	ck_assert_int_eq(ps.state, 'T');
	int dfd = open_dir(fx.dir);
	InventoryEntry *inv = img_read_inventory(dfd);
	ck_assert_ptr_nonnull(inv);
	inventory_entry__free_unpacked(inv, NULL);
	close(dfd);
	ck_assert_int_eq(kill(fx.pid, SIGCONT), 0);
	finish_child_intact(fx.pid);
	cleanup_fixture(&fx);
}
END_TEST

START_TEST(test_infect_syscalls)
{
	struct fixture fx;
	struct child_cfg cfg = { 0 };
	struct seize_tree tree;
	struct proc_vma *vmas = NULL;
	size_t nr;
	struct infect_ctx ic;
	struct user_regs_struct before, after;
	uint64_t mask_before, mask_after;
	long r;

	start_child(&fx, &cfg);
	ck_assert_int_eq(seize_tree(fx.pid, 0, &tree), 0);
	ck_assert_uint_eq(tree.nr_tasks, 1);
	ck_assert_uint_eq(tree.tasks[0].nr_tids, 3);
	ck_assert_int_eq(proc_parse_smaps(fx.pid, &vmas, &nr), 0);
	uint64_t ip = infect_find_syscall(fx.pid, vmas, nr);
	ck_assert_uint_ne(ip, 0);
	free(vmas);
	pid_t tid = tree.tasks[0].tids[1];
	ck_assert_int_eq(ptrace(PTRACE_GETREGS, tid, NULL, &before), 0);
	ck_assert_int_eq(ptrace(PTRACE_GETSIGMASK, tid, sizeof(uint64_t), &mask_before), 0);
	ck_assert_int_eq(infect_start(&ic, fx.pid, tid, ip, 0), 0);
	ck_assert_int_eq(infect_syscall(&ic, SYS_getpid, 0, 0, 0, 0, 0, 0, &r), 0);
	ck_assert_int_eq(r, fx.pid);
	ck_assert_int_eq(infect_syscall(&ic, SYS_gettid, 0, 0, 0, 0, 0, 0, &r), 0);
	ck_assert_int_eq(r, tid);
	/* an out-parameter through the scratch area */
	ck_assert_int_eq(infect_syscall(&ic, SYS_rt_sigaction, SIGTERM, 0, ic.scratch, 8, 0, 0, &r), 0);
	ck_assert_int_eq(r, 0);
	uint64_t act[4];
	ck_assert_int_eq(infect_read_mem(fx.pid, ic.scratch, act, sizeof(act)), 0);
	ck_assert_uint_eq(act[0], (uintptr_t)on_term); /* same binary, same address */
	/* an error comes back as -errno */
	ck_assert_int_eq(infect_syscall(&ic, SYS_close, 12345, 0, 0, 0, 0, 0, &r), 0);
	ck_assert_int_eq(r, -EBADF);
	ck_assert_int_eq(infect_stop(&ic), 0);
	ck_assert_int_eq(infect_stop(&ic), 0); /* twice is fine */
	ck_assert_int_eq(ptrace(PTRACE_GETREGS, tid, NULL, &after), 0);
	ck_assert_int_eq(ptrace(PTRACE_GETSIGMASK, tid, sizeof(uint64_t), &mask_after), 0);
	ck_assert_mem_eq(&before, &after, sizeof(before));
	ck_assert_uint_eq(mask_before, mask_after);
	seize_release(&tree, SEIZE_DETACH);
	assert_running_untraced(fx.pid);
	finish_child_intact(fx.pid);
	cleanup_fixture(&fx);
}
END_TEST

static void on_usr1(int sig)
{
	(void)sig;
}

/* A single thread sleeping in sigsuspend() with a temporary mask. */
START_TEST(test_dump_sigsuspend)
{
	char dir[64] = "/tmp/check_dump.XXXXXX";
	int p[2], st;
	char c;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		sigset_t usr1, empty, cur;
		int devnull = open("/dev/null", O_RDWR);
		setsid();
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		for (int fd = 3; fd < 1024; fd++)
			if (fd != p[1])
				close(fd);
		signal(SIGUSR1, on_usr1);
		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		sigemptyset(&empty);
		sigprocmask(SIG_BLOCK, &usr1, NULL);
		if (write(p[1], "r", 1) != 1)
			_exit(31);
		close(p[1]);
		sigsuspend(&empty); /* returns once SIGUSR1 was handled */
		sigprocmask(SIG_BLOCK, NULL, &cur);
		_exit(sigismember(&cur, SIGUSR1) ? 0 : 30);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(read(p[0], &c, 1), 0);
	close(p[0]);
	/* wait until it sleeps in the syscall */
	for (int i = 0; i < 100; i++) {
		struct proc_stat ps;
		ck_assert_int_eq(proc_parse_stat(pid, 0, &ps), 0);
		if (ps.state == 'S')
			break;
		usleep(10000);
	}
	usleep(20000);
	struct cr_options o;
	cr_options_init(&o);
	o.tree = pid;
	o.images_dir = (char *)dir;
	o.leave_running = true;
	ck_assert_int_eq(cr_dump(&o), 0);
	assert_running_untraced(pid);
	int dfd = open_dir(dir);
	cleanup_img struct img *ci = img_open(dfd, IMG_CORE, O_RDONLY, pid);
	ThreadCoreEntry *core;
	ck_assert_int_eq(img_read_one(ci, (void **)&core), 0);
	/* the mask to resume with is the real one, not sigsuspend's temporary one */
	ck_assert_uint_eq(core->sigmask, 1ULL << (SIGUSR1 - 1));
	ck_assert(core->in_syscall);
	ck_assert_uint_eq(core->gpregs->orig_ax, SYS_rt_sigsuspend);
	ck_assert_uint_eq(core->gpregs->ax, SYS_rt_sigsuspend);
	ck_assert_ptr_nonnull(core->sigaltstack);
	img_free_msg(ci, core);
	close(dfd);
	/* still in sigsuspend with its temporary mask: SIGUSR1 wakes it, the mask comes back */
	usleep(20000);
	ck_assert_int_eq(kill(pid, SIGUSR1), 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
	rm_rf(dir);
}
END_TEST

/* Seccomp filters are carried: the dump reads them (seccomp.img) and injects getitimer()
 * into the thread, which the filter would kill it for if it saw it (suspended while
 * seized). */
START_TEST(test_dump_seccomp)
{
	struct fixture fx;
	struct child_cfg cfg = { .seccomp = true };
	struct cr_options o;
	cr_options_init(&o);
	struct proc_status ps;
	char log[128];

	start_child(&fx, &cfg);
	ck_assert_int_eq(proc_parse_status(fx.pid, 0, &ps), 0);
	ck_assert_uint_eq(ps.seccomp, 2);
	o.tree = fx.pid;
	o.images_dir = (char *)fx.dir;
	o.leave_running = true;
	snprintf(log, sizeof(log), "%s.log", fx.dir);
	ck_assert_int_eq(log_init(LOG_WARN, log), 0);
	ck_assert_int_eq(cr_dump(&o), 0);
	log_fini();
	assert_running_untraced(fx.pid);
	{
		int dfd = open_dir(fx.dir);
		cleanup_img struct img *si = img_open(dfd, IMG_SECCOMP, O_RDONLY, 0);
		SeccompEntry *se;
		ck_assert_ptr_nonnull(si);
		ck_assert_int_eq(img_read_one(si, (void **)&se), 0);
		ck_assert_uint_eq(se->n_chains, 1);
		ck_assert_uint_ge(se->chains[0]->n_filters, 1);
		img_free_msg(si, se);
		close(dfd);
	}
	finish_child_intact(fx.pid);
	cleanup_fixture(&fx);
}
END_TEST

/*
 * The rule: what criu-lite does not carry is a dump error naming it, and the task goes
 * on as it was. Each case sets one such state up in the child.
 */
START_TEST(test_dump_refuses)
{
	static const char *const want[REFUSE_COUNT] = {
		[REFUSE_SESSION] = "led by a process outside the tree",
		[REFUSE_NAMESPACE] = "made a new pid namespace for its children",
		[REFUSE_MEMPOLICY] = "NUMA memory policy",
		[REFUSE_LDT] = "local descriptor table",
		[REFUSE_TLS] = "TLS descriptor",
		[REFUSE_SUD] = "syscall user dispatch",
		[REFUSE_CREDS] = "creds (ids, groups or capabilities) of its own",
		[REFUSE_CTTY] = "controlling terminal",
		[REFUSE_AUTOGROUP] = "autogroup has nice 5",
		[REFUSE_DEADLINE] = "SCHED_DEADLINE",
		[REFUSE_MBIND] = "NUMA memory policy 'bind",
		[REFUSE_SHARED_FILES] = "but not with its parent",
		[REFUSE_ASYNC] = "has O_ASYNC (signal-driven I/O)",
	};
	struct fixture fx;
	struct child_cfg cfg = { .refuse = _i };
	struct cr_options o;
	char log[128], pid_s[32];
	pid_t probe;
	int st;

	/* can this machine have it at all (no 32-bit TLS descriptors without IA32
	 * emulation, no NUMA policies without NUMA...)? */
	probe = fork();
	ck_assert_int_ge(probe, 0);
	if (probe == 0) {
		if (setsid() < 0)
			_exit(2);
		_exit(set_up_refused(_i, mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
					      -1, 0)) < 0);
	}
	ck_assert_int_eq(waitpid(probe, &st, 0), probe);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "# case %d: this machine can't have that state (0x%x), skipped\n", _i, st);
		return;
	}
	cr_options_init(&o);
	start_child(&fx, &cfg);
	o.tree = fx.pid;
	o.images_dir = (char *)fx.dir;
	snprintf(log, sizeof(log), "%s.log", fx.dir);
	ck_assert_int_eq(log_init(LOG_WARN, log), 0);
	ck_assert_int_eq(cr_dump(&o), -1);
	log_fini();
	cleanup_free char *text = read_file_str(AT_FDCWD, log, 1 << 20, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, want[_i]), "case %d: the log does not say '%s': %s", _i, want[_i], text);
	snprintf(pid_s, sizeof(pid_s), "%d", fx.pid);
	ck_assert_msg(strstr(text, pid_s), "the error does not name pid %d: %s", fx.pid, text);
	assert_running_untraced(fx.pid);
	int dfd = open_dir(fx.dir);
	ck_assert_int_eq(faccessat(dfd, "inventory.img", F_OK, 0), -1);
	close(dfd);
	finish_child_intact(fx.pid);
	cleanup_fixture(&fx);
}
END_TEST

int main(void)
{
	const char *lvl = getenv("CRIU_LITE_TEST_LOG");
	log_init(lvl ? atoi(lvl) : LOG_WARN, NULL);
	if (geteuid() != 0) {
		printf("1..0 # SKIP the dump tests need root (ptrace, map_files)\n");
		return 77;
	}
	Suite *s = suite_create("dump");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_dump_leave_running, 0, 2);
	tcase_add_test(tc, test_dump_kills_by_default);
	tcase_add_test(tc, test_dump_fails_on_refused_fd);
	tcase_add_test(tc, test_dump_fails_on_bad_dir);
	tcase_add_test(tc, test_dump_old_inventory_removed);
	tcase_add_test(tc, test_dump_tree_with_child);
	tcase_add_test(tc, test_dump_stopped_child);
	tcase_add_test(tc, test_infect_syscalls);
	tcase_add_test(tc, test_dump_sigsuspend);
	tcase_add_test(tc, test_dump_seccomp);
	tcase_add_loop_test(tc, test_dump_refuses, REFUSE_SESSION, REFUSE_COUNT);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
