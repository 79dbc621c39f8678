/*
 * kerndat: one-time probing of kernel features (see kerndat.h).
 *
 * Probes come in groups that share one setup (one traced child for the ptrace
 * requests, one child for the /proc memory interfaces, one UFFDIO_API handshake
 * for all the uffd feature bits...). A group fills every feature it covers.
 * Probe failures are results: they are logged at info level and described in
 * the feature's detail string, never treated as errors.
 */
#define LOG_PREFIX "kerndat: "

#include <cpuid.h>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/capability.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>

#include "lib/log.h"
#include "lib/pagemap-scan.h"
#include "lib/util.h"
#include "lib/proc-parse.h"
#include "lib/uffd.h"
#include "criu-lite/kerndat.h"
#include "criu-lite/netlock.h"
#include "criu-lite/files/tcp.h"

/* ---- constants newer than the build headers (values from the kernel uapi) ---- */

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
#endif
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
#endif
#define KD_UFFD_USER_MODE_ONLY 1 /* UFFD_USER_MODE_ONLY, 5.11 */

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif


/* linux/sched.h struct clone_args, up to set_tid (CLONE_ARGS_SIZE_VER1) */
struct kd_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size;
};

/* linux/kvm.h guest_memfd (6.8 and later) */
#define KD_KVM_CAP_GUEST_MEMFD 234
#define KD_KVM_CAP_GUEST_MEMFD_FLAGS 244 /* was KVM_CAP_GUEST_MEMFD_MMAP */
#define KD_GUEST_MEMFD_FLAG_MMAP (1ULL << 0)
#define KD_GUEST_MEMFD_FLAG_INIT_SHARED (1ULL << 1)
struct kd_gmem_args {
	uint64_t size, flags, reserved[6];
};
#define KD_KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct kd_gmem_args)

#define KD_FAULT_TIMEOUT_MS 3000

/* ---- small helpers ---- */

static void kd_set(struct kerndat *kd, enum kd_feat id, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void kd_set(struct kerndat *kd, enum kd_feat id, bool ok, const char *fmt, ...)
{
	va_list ap;

	kd->status[id] = ok ? KD_OK : KD_MISSING;
	va_start(ap, fmt);
	vsnprintf(kd->detail[id], sizeof(kd->detail[id]), fmt, ap);
	va_end(ap);
	pr_info("%s: %s (%s)\n", kerndat_feature(id)->name, ok ? "ok" : "missing", kd->detail[id]);
}

/* Append to a detail/list buffer, never overflowing. */
static void kd_append(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void kd_append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(buf, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

struct kd_map {
	void *addr;
	size_t len;
};

static void unmapp(struct kd_map *m)
{
	if (m->addr) {
		int e = errno;
		munmap(m->addr, m->len);
		errno = e;
		m->addr = NULL;
	}
}
#define cleanup_unmap __attribute__((cleanup(unmapp)))

static int kd_mmap(struct kd_map *m, size_t len, int prot, int flags, int fd)
{
	m->len = len;
	m->addr = mmap(NULL, len, prot, flags, fd, 0);
	if (m->addr == MAP_FAILED) {
		m->addr = NULL;
		return -1;
	}
	return 0;
}

/* A userfaultfd (either way) after the UFFDIO_API handshake asking for `features`.
 * Returns the fd or -errno; no logging. */
static int kd_uffd_open(uint64_t features)
{
	cleanup_close int fd = uffd_open(0);
	int r;

	if (fd < 0)
		return fd;
	if ((r = uffd_api(fd, features, NULL, NULL)) < 0)
		return r;
	return steal_fd(&fd);
}

static const char *const uffd_feature_names[] = {
	"PAGEFAULT_FLAG_WP", "EVENT_FORK",    "EVENT_REMAP",	    "EVENT_REMOVE",
	"MISSING_HUGETLBFS", "MISSING_SHMEM", "EVENT_UNMAP",	    "SIGBUS",
	"THREAD_ID",	     "MINOR_HUGETLBFS", "MINOR_SHMEM",	    "EXACT_ADDRESS",
	"WP_HUGETLBFS_SHMEM", "WP_UNPOPULATED", "POISON",	    "WP_ASYNC",
	"MOVE",
};

static const char *const uffd_ioctl_names[64] = {
	[_UFFDIO_REGISTER] = "REGISTER", [_UFFDIO_UNREGISTER] = "UNREGISTER",
	[_UFFDIO_WAKE] = "WAKE",	 [_UFFDIO_COPY] = "COPY",
	[_UFFDIO_ZEROPAGE] = "ZEROPAGE", [_UFFDIO_MOVE] = "MOVE",
	[_UFFDIO_WRITEPROTECT] = "WRITEPROTECT", [_UFFDIO_CONTINUE] = "CONTINUE",
	[_UFFDIO_POISON] = "POISON",	 [_UFFDIO_API] = "API",
};

static void kd_ioctl_names(uint64_t ioctls, char *buf, size_t len)
{
	buf[0] = '\0';
	for (unsigned i = 0; i < 64; i++) {
		if (!(ioctls & (1ULL << i)))
			continue;
		if (uffd_ioctl_names[i])
			kd_append(buf, len, "%s%s", buf[0] ? " " : "", uffd_ioctl_names[i]);
		else
			kd_append(buf, len, "%s0x%02x", buf[0] ? " " : "", i);
	}
}

/* ---- the probe child: a process with known memory and a pending blocked signal ---- */

#define KD_CHILD_PAGES 4
#define KD_CHILD_FILL 0x5a

struct kd_child {
	pid_t pid;
	struct kd_map anon;  /* private: pages 0 and 2 written by the child only */
	struct kd_map shm;   /* MAP_SHARED memfd page, written with pwrite before fork */
	int memfd;
};

static void kd_child_fini(struct kd_child *c)
{
	killpidp(&c->pid);
	unmapp(&c->anon);
	unmapp(&c->shm);
	closep(&c->memfd);
}

/* Start the child; it signals readiness through a pipe, then sits in pause().
 * 0 or -1 (the cause in detail). */
static int kd_child_start(struct kd_child *c, char *detail, size_t len)
{
	int pfd[2];
	char b = KD_CHILD_FILL;

	memset(c, 0, sizeof(*c));
	c->pid = -1;
	c->memfd = memfd_create("criu-lite-kerndat", MFD_CLOEXEC);
	if (c->memfd < 0 || ftruncate(c->memfd, PAGE_SIZE) || pwrite(c->memfd, &b, 1, 0) != 1) {
		snprintf(detail, len, "memfd setup: %s", strerror(errno));
		return -1;
	}
	if (kd_mmap(&c->anon, KD_CHILD_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1) ||
	    kd_mmap(&c->shm, PAGE_SIZE, PROT_READ, MAP_SHARED, c->memfd)) {
		snprintf(detail, len, "mmap: %s", strerror(errno));
		return -1;
	}
	if (pipe2(pfd, O_CLOEXEC)) {
		snprintf(detail, len, "pipe: %s", strerror(errno));
		return -1;
	}
	c->pid = fork();
	if (c->pid < 0) {
		snprintf(detail, len, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (c->pid == 0) {
		/* Only async-signal-safe calls from here on. */
		sigset_t set;
		char *p = c->anon.addr;

		close(pfd[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		memset(p, KD_CHILD_FILL, PAGE_SIZE);
		memset(p + 2 * PAGE_SIZE, KD_CHILD_FILL, PAGE_SIZE);
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		raise(SIGUSR1); /* stays pending, in the thread's own queue */
		if (write(pfd[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	ssize_t n = read(pfd[0], &b, 1);
	int e = errno;
	close(pfd[0]);
	if (n != 1) {
		snprintf(detail, len, "probe child did not start: %s", n < 0 ? strerror(e) : "exited");
		return -1;
	}
	return 0;
}

/* ---- ptrace ---- */

/* The requests dump makes of a seized, stopped task. */
static void ptrace_requests(struct kerndat *kd, pid_t pid)
{
	struct user_regs_struct regs;
	struct iovec iov = { &regs, sizeof(regs) };
	if (ptrace(PTRACE_GETREGSET, pid, NT_PRSTATUS, &iov))
		kd_set(kd, KD_PTRACE_REGS, false, "NT_PRSTATUS: %s", strerror(errno));
	else if (iov.iov_len != sizeof(regs))
		kd_set(kd, KD_PTRACE_REGS, false, "NT_PRSTATUS gave %zu bytes, expected %zu",
		       iov.iov_len, sizeof(regs));
	else
		kd_set(kd, KD_PTRACE_REGS, true, "%zu bytes; stopped in syscall %lld at rip 0x%llx",
		       iov.iov_len, (long long)regs.orig_rax, (unsigned long long)regs.rip);

	/* The XSAVE size for the features this CPU and kernel enable: CPUID.(0xd,0).EBX. */
	unsigned int a, b, cx, d;
	size_t xlen = 4096;
	if (__get_cpuid_count(0xd, 0, &a, &b, &cx, &d) && b > xlen)
		xlen = b;
	cleanup_free uint8_t *xbuf = calloc(1, xlen);
	iov = (struct iovec){ xbuf, xlen };
	if (!xbuf)
		kd_set(kd, KD_PTRACE_XSTATE, false, "out of memory");
	else if (ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov))
		kd_set(kd, KD_PTRACE_XSTATE, false, "NT_X86_XSTATE: %s", strerror(errno));
	else if (iov.iov_len < 576)
		kd_set(kd, KD_PTRACE_XSTATE, false, "NT_X86_XSTATE gave only %zu bytes", iov.iov_len);
	else {
		/* For ptrace the kernel puts the enabled feature mask (XCR0) in the first
		 * 8 software-usable bytes of the legacy area, at offset 464. */
		uint64_t xfeat;
		memcpy(&xfeat, xbuf + 464, sizeof(xfeat));
		kd->xstate_size = iov.iov_len;
		kd->xstate_features = xfeat;
		kd_set(kd, KD_PTRACE_XSTATE, true, "%zu bytes, xfeatures (XCR0) 0x%" PRIx64, iov.iov_len, xfeat);
	}

	struct __ptrace_rseq_configuration rc;
	memset(&rc, 0, sizeof(rc));
	long r = ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, sizeof(rc), &rc);
	if (r < 0)
		kd_set(kd, KD_PTRACE_RSEQ, false, "PTRACE_GET_RSEQ_CONFIGURATION: %s", strerror(errno));
	else if (rc.rseq_abi_pointer)
		kd_set(kd, KD_PTRACE_RSEQ, true, "rseq area 0x%llx, %u bytes, signature 0x%x",
		       (unsigned long long)rc.rseq_abi_pointer, rc.rseq_abi_size, rc.signature);
	else
		kd_set(kd, KD_PTRACE_RSEQ, true, "works; the child has no rseq area registered");

	uint64_t mask = 0;
	if (ptrace(PTRACE_GETSIGMASK, pid, sizeof(mask), &mask))
		kd_set(kd, KD_PTRACE_SIGMASK, false, "PTRACE_GETSIGMASK: %s", strerror(errno));
	else if (!(mask & (1ULL << (SIGUSR1 - 1))))
		kd_set(kd, KD_PTRACE_SIGMASK, false, "mask 0x%" PRIx64 " lacks the blocked SIGUSR1", mask);
	else
		kd_set(kd, KD_PTRACE_SIGMASK, true, "mask 0x%" PRIx64, mask);

	struct __ptrace_peeksiginfo_args pa = { .off = 0, .flags = 0, .nr = 4 };
	siginfo_t si[4];
	memset(si, 0, sizeof(si));
	r = ptrace(PTRACE_PEEKSIGINFO, pid, &pa, si);
	if (r < 0)
		kd_set(kd, KD_PTRACE_PEEKSIGINFO, false, "PTRACE_PEEKSIGINFO: %s", strerror(errno));
	else if (r != 1 || si[0].si_signo != SIGUSR1)
		kd_set(kd, KD_PTRACE_PEEKSIGINFO, false,
		       "read %ld siginfo (first signo %d), expected the pending SIGUSR1", r,
		       r > 0 ? si[0].si_signo : 0);
	else
		kd_set(kd, KD_PTRACE_PEEKSIGINFO, true, "read the pending SIGUSR1 (si_code %d)",
		       si[0].si_code);
}

static void probe_ptrace(struct kerndat *kd)
{
	static const enum kd_feat ids[] = { KD_PTRACE_SEIZE,   KD_PTRACE_REGS,	  KD_PTRACE_XSTATE,
					    KD_PTRACE_RSEQ,    KD_PTRACE_SIGMASK, KD_PTRACE_PEEKSIGINFO };
	__attribute__((cleanup(kd_child_fini))) struct kd_child c = { .pid = -1, .memfd = -1 };
	char why[KD_DETAIL_LEN] = "";
	int st;

	if (kd_child_start(&c, why, sizeof(why)))
		goto fail_all;
	if (ptrace(PTRACE_SEIZE, c.pid, 0, 0)) {
		snprintf(why, sizeof(why), "PTRACE_SEIZE: %s", strerror(errno));
		goto fail_all;
	}
	if (ptrace(PTRACE_INTERRUPT, c.pid, 0, 0)) {
		snprintf(why, sizeof(why), "PTRACE_INTERRUPT: %s", strerror(errno));
		goto fail_all;
	}
	if (waitpid(c.pid, &st, __WALL) != c.pid) {
		snprintf(why, sizeof(why), "waitpid: %s", strerror(errno));
		goto fail_all;
	}
	if (!WIFSTOPPED(st) || (st >> 16) != PTRACE_EVENT_STOP) {
		if (!WIFSTOPPED(st))
			c.pid = -1; /* already reaped: never signal that pid again */
		snprintf(why, sizeof(why), "waitpid status 0x%x is not PTRACE_EVENT_STOP", st);
		goto fail_all;
	}
	kd_set(kd, KD_PTRACE_SEIZE, true, "seized, interrupted: event stop, sig %d", WSTOPSIG(st));
	ptrace_requests(kd, c.pid);
	return; /* the child is killed and reaped, traced or not, by kd_child_fini */

fail_all:
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
		kd_set(kd, ids[i], false, "%s", why);
}

/* ---- process_vm_readv, map_files, pagemap, PAGEMAP_SCAN ---- */

static void probe_pagemap(struct kerndat *kd, struct kd_child *c)
{
	char path[64];
	uint64_t pme[KD_CHILD_PAGES];
	uintptr_t base = (uintptr_t)c->anon.addr;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kd_set(kd, KD_PAGEMAP, false, "open %s: %s", path, strerror(errno));
		kd_set(kd, KD_PAGEMAP_PFN, false, "no pagemap");
		kd_set(kd, KD_PAGEMAP_SCAN, false, "no pagemap");
		return;
	}
	if (pread_all(fd, pme, sizeof(pme), (base / PAGE_SIZE) * sizeof(uint64_t))) {
		kd_set(kd, KD_PAGEMAP, false, "read %s: %s", path, strerror(errno));
		kd_set(kd, KD_PAGEMAP_PFN, false, "no pagemap");
	} else {
		/* The child wrote pages 0 and 2 only. */
		bool pattern = true;
		for (int i = 0; i < KD_CHILD_PAGES; i++)
			if (!!(pme[i] >> 63) != !(i & 1))
				pattern = false;
		uint64_t pfn = pme[0] & ((1ULL << 55) - 1);
		if (pattern)
			kd_set(kd, KD_PAGEMAP, true, "present bits match the pages the child wrote");
		else
			kd_set(kd, KD_PAGEMAP, false,
			       "present bits %d%d%d%d, expected 1010 (pages the child wrote)",
			       (int)(pme[0] >> 63), (int)(pme[1] >> 63), (int)(pme[2] >> 63),
			       (int)(pme[3] >> 63));
		if (pattern && pfn)
			kd_set(kd, KD_PAGEMAP_PFN, true, "PFN 0x%" PRIx64 " visible", pfn);
		else
			kd_set(kd, KD_PAGEMAP_PFN, false, "PFNs read as 0 (they need CAP_SYS_ADMIN)");
	}

	struct pms_page_region reg[KD_CHILD_PAGES];
	struct pms_scan_arg arg = {
		.size = sizeof(arg),
		.start = base,
		.end = base + KD_CHILD_PAGES * PAGE_SIZE,
		.vec = (uintptr_t)reg,
		.vec_len = ARRAY_SIZE(reg),
		.category_mask = PMS_PAGE_IS_PRESENT,
		.return_mask = PMS_PAGE_IS_PRESENT,
	};
	memset(reg, 0, sizeof(reg));
	int n = ioctl(fd, PMS_IOC_PAGEMAP_SCAN, &arg);
	if (n < 0)
		kd_set(kd, KD_PAGEMAP_SCAN, false, "ioctl PAGEMAP_SCAN: %s", strerror(errno));
	else if (n == 2 && reg[0].start == base && reg[0].end == base + PAGE_SIZE &&
		 reg[1].start == base + 2 * PAGE_SIZE && reg[1].end == base + 3 * PAGE_SIZE)
		kd_set(kd, KD_PAGEMAP_SCAN, true, "found the 2 present pages of 4 in one call");
	else
		kd_set(kd, KD_PAGEMAP_SCAN, false, "returned %d regions, expected pages 0 and 2", n);
}

static void probe_memory(struct kerndat *kd)
{
	__attribute__((cleanup(kd_child_fini))) struct kd_child c = { .pid = -1, .memfd = -1 };
	char why[KD_DETAIL_LEN] = "";

	if (kd_child_start(&c, why, sizeof(why))) {
		static const enum kd_feat ids[] = { KD_PROCESS_VM_READV, KD_MAP_FILES, KD_PAGEMAP,
						    KD_PAGEMAP_PFN, KD_PAGEMAP_SCAN };
		for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
			kd_set(kd, ids[i], false, "%s", why);
		return;
	}

	/* Our copy of the page is zeroes; the child's holds its pattern. */
	cleanup_free uint8_t *buf = malloc(PAGE_SIZE);
	struct iovec local = { buf, PAGE_SIZE }, remote = { c.anon.addr, PAGE_SIZE };
	ssize_t n = buf ? process_vm_readv(c.pid, &local, 1, &remote, 1, 0) : -1;
	if (n < 0)
		kd_set(kd, KD_PROCESS_VM_READV, false, "%s", strerror(buf ? errno : ENOMEM));
	else if (n != PAGE_SIZE || buf[0] != KD_CHILD_FILL || buf[PAGE_SIZE - 1] != KD_CHILD_FILL)
		kd_set(kd, KD_PROCESS_VM_READV, false, "read %zd bytes, not the child's data", n);
	else
		kd_set(kd, KD_PROCESS_VM_READV, true, "read a page of the child");

	/* The shared memfd page through /proc/PID/map_files/: how dump reads shmem. */
	char path[96];
	struct stat st_mf, st_fd;
	uint8_t b = 0;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", c.pid, (unsigned long)c.shm.addr,
		 (unsigned long)c.shm.addr + PAGE_SIZE);
	cleanup_close int mf = open(path, O_RDONLY | O_CLOEXEC);
	if (mf < 0)
		kd_set(kd, KD_MAP_FILES, false, "open %s: %s", path, strerror(errno));
	else if (fstat(mf, &st_mf) || fstat(c.memfd, &st_fd) || pread(mf, &b, 1, 0) != 1)
		kd_set(kd, KD_MAP_FILES, false, "fstat/pread: %s", strerror(errno));
	else if (st_mf.st_ino != st_fd.st_ino || st_mf.st_dev != st_fd.st_dev || b != KD_CHILD_FILL)
		kd_set(kd, KD_MAP_FILES, false, "%s is not the child's memfd", path);
	else
		kd_set(kd, KD_MAP_FILES, true, "opened and read the child's memfd mapping");

	probe_pagemap(kd, &c);
}

/* ---- clone3 with set_tid ---- */

static int kd_read_int(const char *path, long *ret)
{
	char buf[32];
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	uint64_t v;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (parse_u64(buf, 10, &v))
		return -1;
	*ret = (long)v;
	return 0;
}

static void probe_clone3(struct kerndat *kd)
{
	long last = 0, pid_max = 32768;
	int last_err = 0;

	kd_read_int("/proc/sys/kernel/pid_max", &pid_max);
	if (kd_read_int("/proc/sys/kernel/ns_last_pid", &last))
		last = getpid();

	/* A pid well past the last one handed out, not in use: ask for it. */
	for (int attempt = 0; attempt < 16; attempt++) {
		pid_t want = (pid_t)(last + 1000 + attempt * 37);
		char path[32];

		if (want >= pid_max)
			want = (pid_t)(300 + (want % (pid_max - 300)));
		snprintf(path, sizeof(path), "/proc/%d", want);
		if (access(path, F_OK) == 0)
			continue;

		struct kd_clone_args args = { .exit_signal = SIGCHLD,
					      .set_tid = (uintptr_t)&want,
					      .set_tid_size = 1 };
		long r = syscall(SYS_clone3, &args, sizeof(args));
		if (r == 0)
			_exit(0); /* the child: nothing to do */
		if (r > 0) {
			pid_t got = (pid_t)r;
			killpidp(&got);
			if (r == want)
				kd_set(kd, KD_CLONE3_SET_TID, true, "child created with chosen pid %d", want);
			else
				kd_set(kd, KD_CLONE3_SET_TID, false, "asked for pid %d, got %ld", want, r);
			return;
		}
		last_err = errno;
		if (last_err != EEXIST)
			break;
	}
	kd_set(kd, KD_CLONE3_SET_TID, false, "clone3: %s%s", strerror(last_err),
	       last_err == EPERM ? " (set_tid needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN)" :
	       last_err == ENOSYS ? " (no clone3)" : "");
}

/* ---- PR_SET_MM_MAP ---- */

/* Async-signal-safe parse of /proc/self/stat into the mm fields. 0 or -errno. */
static int kd_child_fill_mm_map(struct prctl_mm_map *map, uint64_t *auxv, size_t auxv_max)
{
	char buf[2048];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';

	char *p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	uint64_t f[53] = { 0 };
	int field = 2; /* ")" ends field 2 */
	for (p++; *p && field < 52;) {
		while (*p == ' ')
			p++;
		field++;
		f[field] = strtoull(p, &p, 10);
		while (*p && *p != ' ')
			p++;
	}
	if (field < 51)
		return -EINVAL;
	map->start_code = f[26];
	map->end_code = f[27];
	map->start_stack = f[28];
	map->start_data = f[45];
	map->end_data = f[46];
	map->start_brk = f[47];
	map->arg_start = f[48];
	map->arg_end = f[49];
	map->env_start = f[50];
	map->env_end = f[51];
	map->brk = syscall(SYS_brk, 0);

	fd = open("/proc/self/auxv", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, auxv, auxv_max * sizeof(*auxv));
	close(fd);
	if (n <= 0)
		return -EIO;
	map->auxv = (__u64 *)auxv;
	map->auxv_size = (uint32_t)n;
	map->exe_fd = (uint32_t)-1; /* keep: replacing a still-mapped exe gives EBUSY */
	return 0;
}

static void probe_prctl_mm_map(struct kerndat *kd)
{
	struct {
		int step; /* 0 done, 1 reading /proc, 2 MAP_SIZE, 3 size mismatch, 4 MAP */
		int err;
		unsigned size;
	} res = { 1, 0, 0 };
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC)) {
		kd_set(kd, KD_PRCTL_MM_MAP, false, "pipe: %s", strerror(errno));
		return;
	}
	cleanup_pid pid_t pid = fork();
	if (pid < 0) {
		kd_set(kd, KD_PRCTL_MM_MAP, false, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return;
	}
	if (pid == 0) {
		/* Set the child's own mm fields to what they are: harmless, and real. */
		struct prctl_mm_map map;
		uint64_t auxv[128];
		unsigned int size = 0;

		close(pfd[0]);
		memset(&map, 0, sizeof(map));
		res.err = -kd_child_fill_mm_map(&map, auxv, ARRAY_SIZE(auxv));
		if (!res.err) {
			res.step = 2;
			if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, (unsigned long)&size, 0, 0))
				res.err = errno;
		}
		if (!res.err) {
			res.size = size;
			res.step = 3;
			if (size != sizeof(map))
				res.err = EINVAL;
		}
		if (!res.err) {
			res.step = 4;
			if (prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&map, sizeof(map), 0))
				res.err = errno;
			else
				res.step = 0;
		}
		if (write(pfd[1], &res, sizeof(res)) != sizeof(res))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	ssize_t n = read(pfd[0], &res, sizeof(res));
	close(pfd[0]);

	static const char *const steps[] = { "", "reading /proc/self", "PR_SET_MM_MAP_SIZE",
					     "PR_SET_MM_MAP_SIZE", "PR_SET_MM_MAP" };
	if (n != sizeof(res))
		kd_set(kd, KD_PRCTL_MM_MAP, false, "probe child died");
	else if (res.step == 3)
		kd_set(kd, KD_PRCTL_MM_MAP, false, "kernel's struct prctl_mm_map is %u bytes, ours %zu",
		       res.size, sizeof(struct prctl_mm_map));
	else if (res.step)
		kd_set(kd, KD_PRCTL_MM_MAP, false, "%s: %s", steps[res.step], strerror(res.err));
	else
		kd_set(kd, KD_PRCTL_MM_MAP, true, "child set its own mm fields (%u-byte map)", res.size);
}

/* ---- memfd, SEEK_DATA/SEEK_HOLE ---- */

static void probe_memfd(struct kerndat *kd)
{
	cleanup_close int fd = memfd_create("criu-lite-kerndat", MFD_CLOEXEC);
	struct kd_map m = { 0 };
	char page[64];

	if (fd < 0) {
		kd_set(kd, KD_MEMFD, false, "memfd_create: %s", strerror(errno));
		kd_set(kd, KD_SEEK_DATA_HOLE, false, "no memfd");
		return;
	}
	memset(page, 0x33, sizeof(page));
	if (ftruncate(fd, 4 * PAGE_SIZE) || pwrite_all(fd, page, sizeof(page), 2 * PAGE_SIZE) ||
	    kd_mmap(&m, 4 * PAGE_SIZE, PROT_READ, MAP_SHARED, fd)) {
		kd_set(kd, KD_MEMFD, false, "ftruncate/pwrite/mmap: %s", strerror(errno));
		kd_set(kd, KD_SEEK_DATA_HOLE, false, "no memfd");
		return;
	}
	bool seen = ((volatile uint8_t *)m.addr)[2 * PAGE_SIZE] == 0x33;
	unmapp(&m);
	kd_set(kd, KD_MEMFD, seen, seen ? "created, written, mapped" : "mapping does not show the data");

	off_t data = lseek(fd, 0, SEEK_DATA);
	off_t hole = data >= 0 ? lseek(fd, data, SEEK_HOLE) : -1;
	if (data < 0 || hole < 0)
		kd_set(kd, KD_SEEK_DATA_HOLE, false, "lseek: %s", strerror(errno));
	else if (data != (off_t)(2 * PAGE_SIZE) || hole != (off_t)(3 * PAGE_SIZE))
		kd_set(kd, KD_SEEK_DATA_HOLE, false, "data at %lld, hole at %lld: expected page 2 only",
		       (long long)data, (long long)hole);
	else
		kd_set(kd, KD_SEEK_DATA_HOLE, true, "found the one written page of 4");
}

/* ---- userfaultfd ---- */

static void probe_uffd(struct kerndat *kd)
{
	char feat[KD_DETAIL_LEN] = "", io[160];
	uint64_t features = 0, ioctls = 0;
	int e_sys = 0, e_dev = 0;

	cleanup_close int sfd = uffd_open_syscall(0);
	if (sfd < 0) {
		e_sys = -sfd;
		/* vm.unprivileged_userfaultfd = 0 still allows user-mode-only faults, which
		 * lazy restore can't live with: a syscall touching lazy memory would fail. */
		cleanup_close int um = uffd_open_syscall(KD_UFFD_USER_MODE_ONLY);
		kd_set(kd, KD_UFFD_SYSCALL, false, "%s%s", strerror(e_sys),
		       um >= 0 ? " (only UFFD_USER_MODE_ONLY: kernel-mode faults would not be seen)" : "");
	} else {
		kd_set(kd, KD_UFFD_SYSCALL, true, "userfaultfd(2) works");
	}

	cleanup_close int dfd = uffd_open_dev(0);
	if (dfd < 0)
		e_dev = -dfd;
	kd_set(kd, KD_UFFD_DEV, dfd >= 0, "%s%s", dfd >= 0 ? "USERFAULTFD_IOC_NEW works" : "/dev/userfaultfd: ",
	       dfd >= 0 ? "" : strerror(e_dev));

	/* Features = 0 asks the kernel for everything it supports. */
	int fd = sfd >= 0 ? sfd : dfd;
	int e_api = 0, r;
	if (fd < 0)
		e_api = e_sys ? e_sys : e_dev;
	else if ((r = uffd_api(fd, 0, &features, &ioctls)) < 0)
		e_api = -r;
	if (e_api) {
		kd_set(kd, KD_UFFD, false, "no userfaultfd: %s", strerror(e_api));
		for (int id = KD_UFFD_FEATURE_FIRST; id <= KD_UFFD_FEATURE_LAST; id++)
			kd_set(kd, id, false, "no userfaultfd");
		return;
	}
	struct { uint64_t features, ioctls; } api = { features, ioctls };
	kd->uffd_features = api.features;
	kd->uffd_api_ioctls = api.ioctls;

	uint64_t known = (1ULL << ARRAY_SIZE(uffd_feature_names)) - 1;
	snprintf(feat, sizeof(feat), "via %s; features 0x%llx", sfd >= 0 ? "userfaultfd(2)" : "/dev/userfaultfd",
		 (unsigned long long)api.features);
	if (api.features & ~known)
		kd_append(feat, sizeof(feat), " (unnamed bits 0x%llx)",
			  (unsigned long long)(api.features & ~known));
	kd_ioctl_names(api.ioctls, io, sizeof(io));
	kd_append(feat, sizeof(feat), "; ioctls %s", io);
	kd_set(kd, KD_UFFD, true, "%s", feat);

	for (int id = KD_UFFD_FEATURE_FIRST; id <= KD_UFFD_FEATURE_LAST; id++) {
		unsigned bit = id - KD_UFFD_FEATURE_FIRST;
		bool has = api.features & (1ULL << bit);
		kd_set(kd, id, has, "UFFD_FEATURE_%s (bit %u) %s", uffd_feature_names[bit], bit,
		       has ? "offered" : "not offered by UFFDIO_API");
	}
}

/* Register [addr, len) and return the ioctls the kernel says work there, or -errno. */
static int kd_uffd_register(int fd, void *addr, size_t len, uint64_t mode, uint64_t *ret_ioctls)
{
	return uffd_register(fd, (uintptr_t)addr, len, mode, ret_ioctls);
}

static void probe_uffd_ioctls(struct kerndat *kd)
{
	const uint64_t want_anon = 1ULL << _UFFDIO_COPY | 1ULL << _UFFDIO_ZEROPAGE | 1ULL << _UFFDIO_WAKE;
	const uint64_t want_shmem = want_anon | 1ULL << _UFFDIO_CONTINUE;
	cleanup_unmap struct kd_map anon = { 0 }, shm = { 0 };
	char io[160];
	int r;

	if (kerndat_probe(kd, KD_UFFD) != KD_OK) {
		kd_set(kd, KD_UFFD_ANON_IOCTLS, false, "no userfaultfd");
		kd_set(kd, KD_UFFD_SHMEM_IOCTLS, false, "no userfaultfd");
		return;
	}
	cleanup_close int fd = kd_uffd_open(0);
	if (fd < 0) {
		kd_set(kd, KD_UFFD_ANON_IOCTLS, false, "uffd: %s", strerror(-fd));
		kd_set(kd, KD_UFFD_SHMEM_IOCTLS, false, "uffd: %s", strerror(-fd));
		return;
	}

	if (kd_mmap(&anon, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1))
		kd_set(kd, KD_UFFD_ANON_IOCTLS, false, "mmap: %s", strerror(errno));
	else if ((r = kd_uffd_register(fd, anon.addr, anon.len, UFFDIO_REGISTER_MODE_MISSING,
				       &kd->uffd_anon_ioctls)))
		kd_set(kd, KD_UFFD_ANON_IOCTLS, false, "UFFDIO_REGISTER(MISSING): %s", strerror(-r));
	else {
		kd_ioctl_names(kd->uffd_anon_ioctls, io, sizeof(io));
		kd_set(kd, KD_UFFD_ANON_IOCTLS, (kd->uffd_anon_ioctls & want_anon) == want_anon,
		       "MISSING on private anon: %s", io);
	}

	cleanup_close int mfd = memfd_create("criu-lite-kerndat", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, 2 * PAGE_SIZE) ||
	    kd_mmap(&shm, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd))
		kd_set(kd, KD_UFFD_SHMEM_IOCTLS, false, "memfd: %s", strerror(errno));
	else if ((r = kd_uffd_register(fd, shm.addr, shm.len,
				       UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR,
				       &kd->uffd_shmem_ioctls)))
		kd_set(kd, KD_UFFD_SHMEM_IOCTLS, false, "UFFDIO_REGISTER(MISSING|MINOR) on memfd: %s",
		       strerror(-r));
	else {
		kd_ioctl_names(kd->uffd_shmem_ioctls, io, sizeof(io));
		kd_set(kd, KD_UFFD_SHMEM_IOCTLS, (kd->uffd_shmem_ioctls & want_shmem) == want_shmem,
		       "MISSING|MINOR on memfd: %s", io);
	}
}

/* The faulting side of the contract test: touch page 0, then page 1. */
struct kd_toucher {
	volatile uint8_t *addr;
	uint8_t seen[2];
	atomic_int done;
};

static void *kd_toucher_fn(void *arg)
{
	struct kd_toucher *t = arg;

	t->seen[0] = t->addr[0];
	t->seen[1] = t->addr[PAGE_SIZE];
	atomic_store(&t->done, 1);
	return NULL;
}

#define KD_FILL_OLD 0xa5 /* pre-populated with pwrite: must arrive by CONTINUE */
#define KD_FILL_NEW 0x3c /* copied in by UFFDIO_COPY */

int kerndat_uffd_shmem_contract(uint64_t features, char *detail, size_t len)
{
	const bool minor = features & UFFD_FEATURE_MINOR_SHMEM;
	const uint64_t mode = UFFDIO_REGISTER_MODE_MISSING | (minor ? UFFDIO_REGISTER_MODE_MINOR : 0);
	cleanup_unmap struct kd_map m = { 0 };
	struct kd_toucher t = { 0 };
	pthread_t thr;
	bool started = false;
	int ret = -1, nfaults = 0;
	char log[200] = "";
	uint64_t ioctls = 0;
	uint8_t buf[PAGE_SIZE];
	int r;

	detail[0] = '\0';
	cleanup_close int mfd = memfd_create("criu-lite-contract", MFD_CLOEXEC);
	memset(buf, KD_FILL_OLD, sizeof(buf));
	if (mfd < 0 || ftruncate(mfd, 2 * PAGE_SIZE) || pwrite_all(mfd, buf, PAGE_SIZE, 0) ||
	    kd_mmap(&m, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd)) {
		snprintf(detail, len, "memfd setup: %s", strerror(errno));
		return -1;
	}
	cleanup_close int fd = kd_uffd_open(features);
	if (fd < 0) {
		snprintf(detail, len, "uffd with features 0x%llx: %s", (unsigned long long)features,
			 strerror(-fd));
		return -1;
	}
	if ((r = kd_uffd_register(fd, m.addr, m.len, mode, &ioctls))) {
		snprintf(detail, len, "UFFDIO_REGISTER(%s): %s", minor ? "MISSING|MINOR" : "MISSING",
			 strerror(-r));
		return -1;
	}
	if (!(ioctls & (1ULL << _UFFDIO_COPY)) || (minor && !(ioctls & (1ULL << _UFFDIO_CONTINUE)))) {
		snprintf(detail, len, "registered range lacks COPY/CONTINUE (ioctls 0x%llx)",
			 (unsigned long long)ioctls);
		return -1;
	}

	t.addr = m.addr;
	if ((r = pthread_create(&thr, NULL, kd_toucher_fn, &t))) {
		snprintf(detail, len, "pthread_create: %s", strerror(r));
		return -1;
	}
	started = true;

	/* Serve whatever faults come (so the thread always finishes), recording them. */
	bool minor0 = false, missing1 = false, unexpected = false;
	uint64_t deadline = now_ns() + KD_FAULT_TIMEOUT_MS * 1000000ULL;
	while (!atomic_load(&t.done)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct uffd_msg msg;

		if (now_ns() > deadline) {
			snprintf(detail, len, "timed out waiting for the faulting thread");
			goto out;
		}
		r = poll(&pfd, 1, 50);
		if (r < 0 && errno != EINTR) {
			snprintf(detail, len, "poll: %s", strerror(errno));
			goto out;
		}
		if (r <= 0)
			continue;
		ssize_t n = read(fd, &msg, sizeof(msg));
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n != sizeof(msg)) {
			snprintf(detail, len, "read uffd: %s", n < 0 ? strerror(errno) : "short read");
			goto out;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			snprintf(detail, len, "unexpected uffd event %u", msg.event);
			goto out;
		}
		uint64_t page = ALIGN_DOWN(msg.arg.pagefault.address, PAGE_SIZE);
		unsigned idx = (unsigned)((page - (uintptr_t)m.addr) / PAGE_SIZE);
		bool is_minor = msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR;
		nfaults++;
		kd_append(log, sizeof(log), "%s%s fault on page %u", log[0] ? ", " : "",
			  is_minor ? "MINOR" : "MISSING", idx);
		if (idx == 0 && is_minor)
			minor0 = true;
		else if (idx == 1 && !is_minor)
			missing1 = true;
		else
			unexpected = true;

		int64_t done;
		if (is_minor) {
			r = uffd_continue(fd, page, PAGE_SIZE, 0, &done);
		} else {
			memset(buf, KD_FILL_NEW, sizeof(buf));
			r = uffd_copy(fd, page, buf, PAGE_SIZE, 0, &done);
		}
		/* EEXIST: mapped meanwhile, but the thread still needs a wake */
		if (uffd_triage(r) == UFFD_EXISTS)
			r = uffd_wake(fd, page, PAGE_SIZE);
		if (r) {
			snprintf(detail, len, "UFFDIO_%s: %s", is_minor ? "CONTINUE" : "COPY", strerror(-r));
			goto out;
		}
	}
	pthread_join(thr, NULL);
	started = false;

	uint8_t in_file = 0;
	if (pread(mfd, &in_file, 1, PAGE_SIZE) != 1) {
		snprintf(detail, len, "pread memfd: %s", strerror(errno));
		goto out;
	}
	if (!minor0)
		snprintf(detail, len, "no MINOR fault for the pre-populated page (saw: %s)",
			 log[0] ? log : "no fault");
	else if (!missing1)
		snprintf(detail, len, "no MISSING fault for the hole (saw: %s)", log);
	else if (unexpected || nfaults != 2)
		snprintf(detail, len, "unexpected faults: %s", log);
	else if (t.seen[0] != KD_FILL_OLD)
		snprintf(detail, len, "after CONTINUE the thread read 0x%02x, not the pre-populated 0x%02x",
			 t.seen[0], KD_FILL_OLD);
	else if (t.seen[1] != KD_FILL_NEW || in_file != KD_FILL_NEW)
		snprintf(detail, len, "after COPY the thread read 0x%02x and the memfd holds 0x%02x, not 0x%02x",
			 t.seen[1], in_file, KD_FILL_NEW);
	else {
		snprintf(detail, len, "%s; CONTINUE mapped the cached page, COPY filled the hole", log);
		ret = 0;
	}
out:
	if (started) {
		/* Closing the uffd wakes a thread still blocked in a fault. */
		closep(&fd);
		pthread_join(thr, NULL);
	}
	return ret;
}

static void probe_uffd_contract(struct kerndat *kd)
{
	char detail[KD_DETAIL_LEN];
	const uint64_t need = UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM;

	if (kerndat_probe(kd, KD_UFFD) != KD_OK) {
		kd_set(kd, KD_UFFD_SHMEM_MINOR_CONTRACT, false, "no userfaultfd");
		return;
	}
	/* Ask for what the kernel offers of the two; without MINOR_SHMEM the test
	 * registers MISSING only and so, truthfully, fails. */
	int r = kerndat_uffd_shmem_contract(kd->uffd_features & need, detail, sizeof(detail));
	kd_set(kd, KD_UFFD_SHMEM_MINOR_CONTRACT, r == 0, "%s", detail);
}

/* ---- vDSO layout ---- */

/* The layout of the special mappings among VMAs. 0 when [vdso] is there, else -1. */
static int vdso_from_vmas(const struct proc_vma *vmas, size_t nr, struct kd_vdso *ret_vdso)
{
	struct kd_vdso v = { 0 };
	struct proc_special sp;

	proc_find_special(vmas, nr, &sp);
	v.vdso_start = sp.vdso.start;
	v.vdso_size = sp.vdso.end - sp.vdso.start;
	v.vvar_start = sp.vvar.start;
	v.vvar_size = sp.vvar.end - sp.vvar.start;
	v.vvar_vclock_start = sp.vvar_vclock.start;
	v.vvar_vclock_size = sp.vvar_vclock.end - sp.vvar_vclock.start;
	v.vsyscall_start = sp.vsyscall.start;
	v.vsyscall_size = sp.vsyscall.end - sp.vsyscall.start;
	if (v.vdso_size && v.vvar_size)
		v.vvar_off = (int64_t)(v.vvar_start - v.vdso_start);
	if (v.vdso_size && v.vvar_vclock_size)
		v.vvar_vclock_off = (int64_t)(v.vvar_vclock_start - v.vdso_start);
	*ret_vdso = v;
	return v.vdso_size ? 0 : -1;
}

int kerndat_parse_vdso(const char *maps, struct kd_vdso *ret_vdso)
{
	cleanup_free struct proc_vma *vmas = NULL;
	size_t nr = 0;

	if (proc_parse_maps_text(maps, &vmas, &nr) < 0) {
		memset(ret_vdso, 0, sizeof(*ret_vdso));
		return -1;
	}
	return vdso_from_vmas(vmas, nr, ret_vdso);
}

static void probe_vdso(struct kerndat *kd)
{
	cleanup_free struct proc_vma *vmas = NULL;
	struct kd_vdso *v = &kd->vdso;
	char d[KD_DETAIL_LEN] = "";
	size_t nr;

	if (proc_read_maps(0, &vmas, &nr) < 0) {
		kd_set(kd, KD_VDSO_LAYOUT, false, "can't read /proc/self/maps");
		return;
	}
	if (vdso_from_vmas(vmas, nr, v)) {
		kd_set(kd, KD_VDSO_LAYOUT, false, "no [vdso] in /proc/self/maps");
		return;
	}
	snprintf(d, sizeof(d), "[vdso] 0x%" PRIx64 " bytes", v->vdso_size);
	if (v->vvar_size)
		kd_append(d, sizeof(d), ", [vvar] 0x%" PRIx64 " at %s0x%" PRIx64, v->vvar_size,
			  v->vvar_off < 0 ? "-" : "+", v->vvar_off < 0 ? -(uint64_t)v->vvar_off : (uint64_t)v->vvar_off);
	if (v->vvar_vclock_size)
		kd_append(d, sizeof(d), ", [vvar_vclock] 0x%" PRIx64 " at %s0x%" PRIx64, v->vvar_vclock_size,
			  v->vvar_vclock_off < 0 ? "-" : "+",
			  v->vvar_vclock_off < 0 ? -(uint64_t)v->vvar_vclock_off : (uint64_t)v->vvar_vclock_off);
	if (v->vsyscall_size)
		kd_append(d, sizeof(d), ", [vsyscall] 0x%" PRIx64 " at 0x%" PRIx64, v->vsyscall_size,
			  v->vsyscall_start);
	kd_append(d, sizeof(d), " (offsets from [vdso])");
	kd_set(kd, KD_VDSO_LAYOUT, true, "%s", d);
}

/* ---- capabilities ---- */

static void probe_caps(struct kerndat *kd)
{
	static const struct {
		enum kd_feat id;
		int cap;
		const char *without;
	} notes[] = {
		{ KD_CAP_SYS_ADMIN, CAP_SYS_ADMIN, "no PFNs in pagemap; fewer namespace operations" },
		{ KD_CAP_SYS_PTRACE, CAP_SYS_PTRACE, "only our own uid's processes can be dumped" },
		{ KD_CAP_CHECKPOINT_RESTORE, CAP_CHECKPOINT_RESTORE,
		  "clone3 set_tid, map_files and exe changes need CAP_SYS_ADMIN instead" },
		{ KD_CAP_SYS_RESOURCE, CAP_SYS_RESOURCE,
		  "rlimits above our hard limit can't be restored (they are refused), and single "
		  "PR_SET_MM_* calls fail (restore uses PR_SET_MM_MAP)" },
	};
	cap_t caps = cap_get_proc();
	char list[KD_DETAIL_LEN] = "", miss[KD_DETAIL_LEN] = "";
	int nr = 0, max = cap_max_bits();

	if (!caps) {
		for (size_t i = 0; i < ARRAY_SIZE(notes); i++)
			kd_set(kd, notes[i].id, false, "cap_get_proc: %s", strerror(errno));
		kd_set(kd, KD_CAPS, false, "cap_get_proc: %s", strerror(errno));
		return;
	}
	kd->caps_eff = 0;
	for (int c = 0; c < max && c < 64; c++) {
		cap_flag_value_t v = CAP_CLEAR;
		if (cap_get_flag(caps, c, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET)
			kd->caps_eff |= 1ULL << c;
	}
	cap_free(caps);

	for (int c = 0; c < max && c < 64; c++) {
		char *name = cap_to_name(c);
		bool has = kd->caps_eff & (1ULL << c);
		char *buf = has ? list : miss;
		kd_append(buf, KD_DETAIL_LEN, "%s%s", buf[0] ? "," : "", name ? name : "?");
		cap_free(name);
		nr += has;
	}
	/* All of them, the usual root case, is said shortly. */
	if (nr == max)
		kd_set(kd, KD_CAPS, true, "all %d capabilities effective", max);
	else if (nr > max / 2)
		kd_set(kd, KD_CAPS, true, "%d of %d effective; all but %s", nr, max, miss);
	else
		kd_set(kd, KD_CAPS, true, "%d of %d effective: %s", nr, max, nr ? list : "none");

	for (size_t i = 0; i < ARRAY_SIZE(notes); i++) {
		bool has = kd->caps_eff & (1ULL << notes[i].cap);
		kd_set(kd, notes[i].id, has, "%s", has ? "effective" : notes[i].without);
	}
}

/* ---- KVM guest_memfd ---- */

static void probe_kvm(struct kerndat *kd)
{
	cleanup_unmap struct kd_map m = { 0 };
	cleanup_close int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	cleanup_close int vm = -1;
	cleanup_close int gmem = -1;
	long flags_cap;

	if (kvm < 0) {
		kd_set(kd, KD_KVM_GUEST_MEMFD, false, "%s%s", errno == ENOENT ? "no /dev/kvm" : "open /dev/kvm: ",
		       errno == ENOENT ? "" : strerror(errno));
		kd_set(kd, KD_GUEST_MEMFD_UFFD_MINOR, false, "no: no guest_memfd to try");
		return;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		kd_set(kd, KD_KVM_GUEST_MEMFD, false, "KVM_CREATE_VM: %s", strerror(errno));
		kd_set(kd, KD_GUEST_MEMFD_UFFD_MINOR, false, "no: no guest_memfd to try");
		return;
	}
	long has_gmem = ioctl(vm, KVM_CHECK_EXTENSION, KD_KVM_CAP_GUEST_MEMFD);
	flags_cap = ioctl(vm, KVM_CHECK_EXTENSION, KD_KVM_CAP_GUEST_MEMFD_FLAGS);
	if (flags_cap < 0)
		flags_cap = 0;
	/* Either the supported flags, or (kernels that named it GUEST_MEMFD_MMAP) 1. */
	uint64_t gflags = 0;
	if (flags_cap & KD_GUEST_MEMFD_FLAG_MMAP)
		gflags = KD_GUEST_MEMFD_FLAG_MMAP | (flags_cap & KD_GUEST_MEMFD_FLAG_INIT_SHARED);

	struct kd_gmem_args ga = { .size = 2 * PAGE_SIZE, .flags = gflags };
	gmem = ioctl(vm, KD_KVM_CREATE_GUEST_MEMFD, &ga);
	if (gmem < 0) {
		kd_set(kd, KD_KVM_GUEST_MEMFD, false, "KVM_CREATE_GUEST_MEMFD: %s (KVM_CAP_GUEST_MEMFD %ld)",
		       strerror(errno), has_gmem);
		kd_set(kd, KD_GUEST_MEMFD_UFFD_MINOR, false, "no: no guest_memfd to try");
		return;
	}
	kd_set(kd, KD_KVM_GUEST_MEMFD, true, "created a guest_memfd (flags 0x%llx; mmap %s)",
	       (unsigned long long)gflags, gflags ? "supported" : "not supported");

	/* vm_uffd_ops: can userfaultfd register a guest_memfd mapping, MINOR included? */
	if (!gflags) {
		kd_set(kd, KD_GUEST_MEMFD_UFFD_MINOR, false, "no: guest_memfd can't be mmapped here");
		return;
	}
	if (kd_mmap(&m, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, gmem)) {
		kd_set(kd, KD_GUEST_MEMFD_UFFD_MINOR, false, "no: mmap guest_memfd: %s", strerror(errno));
		return;
	}
	cleanup_close int ufd = kd_uffd_open(0);
	uint64_t ioctls = 0;
	char io[160];
	int r;
	if (ufd < 0) {
		kd_set(kd, KD_GUEST_MEMFD_UFFD_MINOR, false, "no userfaultfd: %s", strerror(-ufd));
		return;
	}
	r = kd_uffd_register(ufd, m.addr, m.len, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR,
			     &ioctls);
	if (r) {
		/* Is it MINOR only, or any registration? */
		int r2 = kd_uffd_register(ufd, m.addr, m.len, UFFDIO_REGISTER_MODE_MISSING, &ioctls);
		kd_set(kd, KD_GUEST_MEMFD_UFFD_MINOR, false,
		       "no: UFFDIO_REGISTER(MISSING|MINOR) on a guest_memfd mapping: %s; MISSING alone: %s "
		       "(no vm_uffd_ops)",
		       strerror(-r), r2 ? strerror(-r2) : "accepted");
		return;
	}
	kd_ioctl_names(ioctls, io, sizeof(io));
	kd_set(kd, KD_GUEST_MEMFD_UFFD_MINOR, true, "yes (vm_uffd_ops): ioctls %s", io);
}

/* ---- POSIX timers and guard regions ---- */

#define KD_PR_TIMER_CREATE_RESTORE_IDS 77
#define KD_PR_TIMER_CREATE_RESTORE_IDS_GET 2

static void probe_timer_ids(struct kerndat *kd)
{
	long r = prctl(KD_PR_TIMER_CREATE_RESTORE_IDS, KD_PR_TIMER_CREATE_RESTORE_IDS_GET, 0, 0, 0);

	if (r < 0)
		kd_set(kd, KD_TIMER_CR_IDS, false, "PR_TIMER_CREATE_RESTORE_IDS: %s (timers are created in id "
		       "order instead)", strerror(errno));
	else
		kd_set(kd, KD_TIMER_CR_IDS, true, "PR_TIMER_CREATE_RESTORE_IDS: timer_create takes the id");
}

#define KD_MADV_GUARD_INSTALL 102
#define KD_PM_GUARD (1ULL << 58)

/* A guard region installed in a page of ours must show in the pagemap and in
 * PAGEMAP_SCAN (the dump skips and records guard regions through them). */
static void probe_guard_regions(struct kerndat *kd)
{
	cleanup_unmap struct kd_map m = { 0 };
	cleanup_close int pm = -1;
	struct pms_page_region reg;
	uint64_t e;

	if (kd_mmap(&m, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1) < 0) {
		kd_set(kd, KD_GUARD_REGIONS, false, "mmap: %s", strerror(errno));
		return;
	}
	if (madvise((char *)m.addr + PAGE_SIZE, PAGE_SIZE, KD_MADV_GUARD_INSTALL) < 0) {
		kd_set(kd, KD_GUARD_REGIONS, false, "MADV_GUARD_INSTALL: %s", strerror(errno));
		return;
	}
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0 || pread(pm, &e, sizeof(e), ((uintptr_t)m.addr / PAGE_SIZE + 1) * sizeof(e)) != sizeof(e)) {
		kd_set(kd, KD_GUARD_REGIONS, false, "/proc/self/pagemap: %s", strerror(errno));
		return;
	}
	if (!(e & KD_PM_GUARD)) {
		kd_set(kd, KD_GUARD_REGIONS, false, "the pagemap does not show a guard region (entry 0x%llx)",
		       (unsigned long long)e);
		return;
	}
	struct pms_scan_arg a = { .size = sizeof(a), .start = (uintptr_t)m.addr, .end = (uintptr_t)m.addr + m.len,
				  .vec = (uintptr_t)&reg, .vec_len = 1, .category_mask = PMS_PAGE_IS_GUARD,
				  .return_mask = PMS_PAGE_IS_GUARD };
	long n = ioctl(pm, PMS_IOC_PAGEMAP_SCAN, &a);
	if (n != 1 || reg.start != (uintptr_t)m.addr + PAGE_SIZE) {
		kd_set(kd, KD_GUARD_REGIONS, false, "PAGEMAP_SCAN does not find the guard region (%ld: %s)", n,
		       n < 0 ? strerror(errno) : "elsewhere");
		return;
	}
	kd_set(kd, KD_GUARD_REGIONS, true, "shown by the pagemap (bit 58) and PAGEMAP_SCAN (PAGE_IS_GUARD)");
}

/* ---- pidfds ---- */

static void probe_pidfd(struct kerndat *kd)
{
	cleanup_close int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	cleanup_close int mfd = -1, copy = -1;
	struct stat a, b;

	if (pfd < 0) {
		kd_set(kd, KD_PIDFD_OPEN, false, "pidfd_open: %s", strerror(errno));
		kd_set(kd, KD_PIDFD_GETFD, false, "no pidfd");
		return;
	}
	kd_set(kd, KD_PIDFD_OPEN, true, "a pidfd of our own process");
	/* a descriptor of ours, copied through the pidfd: the same open file */
	mfd = memfd_create("criu-lite-kerndat-pidfd", MFD_CLOEXEC);
	if (mfd < 0) {
		kd_set(kd, KD_PIDFD_GETFD, false, "memfd_create: %s", strerror(errno));
		return;
	}
	copy = (int)syscall(SYS_pidfd_getfd, pfd, mfd, 0);
	if (copy < 0) {
		kd_set(kd, KD_PIDFD_GETFD, false, "pidfd_getfd: %s", strerror(errno));
		return;
	}
	if (fstat(mfd, &a) || fstat(copy, &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		kd_set(kd, KD_PIDFD_GETFD, false, "the copy is another file");
	else
		kd_set(kd, KD_PIDFD_GETFD, true, "copied an fd of ours: the same file");
}

/* ---- TCP repair and the network lock ---- */

static void probe_tcp(struct kerndat *kd)
{
	char d[KD_DETAIL_LEN];

	kd_set(kd, KD_TCP_REPAIR, tcp_probe_repair(false, d, sizeof(d)) == 0, "%s", d);
	kd_set(kd, KD_TCP_HALF_CLOSED, tcp_probe_repair(true, d, sizeof(d)) == 0, "%s", d);
}

/* Each method locks and unlocks a connection in a network namespace of its own. */
static void probe_netlock(struct kerndat *kd)
{
	char d[KD_DETAIL_LEN];
	bool ok;

	kd_set(kd, KD_NETLOCK_IPTABLES, netlock_probe(NETLOCK_IPTABLES, false, d, sizeof(d)) == 0, "%s", d);
	kd_set(kd, KD_IPT_LEGACY, netlock_probe(NETLOCK_IPTABLES, true, d, sizeof(d)) == 0, "%s", d);
	ok = netlock_probe(NETLOCK_NFTABLES, false, d, sizeof(d)) == 0;
	kd_set(kd, KD_NETLOCK_NFTABLES, ok, "%s", d);
	kd_set(kd, KD_NFTABLES, ok, "%s", ok ? "nft: tables, sets with concatenations, rules" : d);
}

/* ---- the table ---- */

#define D KD_NEED_DUMP
#define R KD_NEED_RESTORE
#define L KD_NEED_LAZY
#define UFFD_BIT(ID, NAME, NEEDS, DESC) { ID, NAME, NEEDS, DESC, probe_uffd }

static const struct kd_feature features[KD_NR_FEATURES] = {
	{ KD_PTRACE_SEIZE, "ptrace_seize", D, "PTRACE_SEIZE + PTRACE_INTERRUPT stop a task", probe_ptrace },
	{ KD_PTRACE_REGS, "ptrace_regs", D, "PTRACE_GETREGSET NT_PRSTATUS (registers)", probe_ptrace },
	{ KD_PTRACE_XSTATE, "ptrace_xstate", D, "PTRACE_GETREGSET NT_X86_XSTATE (FPU/XSAVE)", probe_ptrace },
	{ KD_PTRACE_RSEQ, "ptrace_rseq", D, "PTRACE_GET_RSEQ_CONFIGURATION (glibc's rseq area)", probe_ptrace },
	{ KD_PTRACE_SIGMASK, "ptrace_sigmask", D, "PTRACE_GETSIGMASK (blocked signals)", probe_ptrace },
	{ KD_PTRACE_PEEKSIGINFO, "ptrace_peeksiginfo", D, "PTRACE_PEEKSIGINFO (pending signals)", probe_ptrace },
	{ KD_PROCESS_VM_READV, "process_vm_readv", D, "read another task's memory in batches", probe_memory },
	{ KD_MAP_FILES, "map_files", D, "open /proc/PID/map_files/ (shmem objects)", probe_memory },
	{ KD_PAGEMAP, "pagemap", D, "/proc/PID/pagemap present bits", probe_memory },
	{ KD_PAGEMAP_PFN, "pagemap_pfn", 0, "/proc/PID/pagemap shows PFNs", probe_memory },
	{ KD_PAGEMAP_SCAN, "pagemap_scan", 0, "PAGEMAP_SCAN ioctl (a range in one call)", probe_memory },
	{ KD_CLONE3_SET_TID, "clone3_set_tid", R | L, "clone3 with set_tid (restore pids)", probe_clone3 },
	{ KD_PRCTL_MM_MAP, "prctl_mm_map", R | L, "prctl PR_SET_MM_MAP (mm fields)", probe_prctl_mm_map },
	{ KD_MEMFD, "memfd", R | L, "memfd_create (shmem objects)", probe_memfd },
	{ KD_SEEK_DATA_HOLE, "seek_data_hole", D, "SEEK_DATA/SEEK_HOLE on shmem", probe_memfd },
	{ KD_UFFD_SYSCALL, "uffd_syscall", 0, "userfaultfd(2)", probe_uffd },
	{ KD_UFFD_DEV, "uffd_dev", 0, "/dev/userfaultfd USERFAULTFD_IOC_NEW", probe_uffd },
	{ KD_UFFD, "uffd", L, "userfaultfd + UFFDIO_API handshake", probe_uffd },
	UFFD_BIT(KD_UFFD_PAGEFAULT_FLAG_WP, "PAGEFAULT_FLAG_WP", 0, "write-protect faults"),
	UFFD_BIT(KD_UFFD_EVENT_FORK, "EVENT_FORK", L, "fork event: the child's uffd"),
	UFFD_BIT(KD_UFFD_EVENT_REMAP, "EVENT_REMAP", L, "mremap event"),
	UFFD_BIT(KD_UFFD_EVENT_REMOVE, "EVENT_REMOVE", L, "madvise(DONTNEED/REMOVE) event"),
	UFFD_BIT(KD_UFFD_MISSING_HUGETLBFS, "MISSING_HUGETLBFS", 0, "MISSING on hugetlbfs"),
	UFFD_BIT(KD_UFFD_MISSING_SHMEM, "MISSING_SHMEM", L, "MISSING on shmem"),
	UFFD_BIT(KD_UFFD_EVENT_UNMAP, "EVENT_UNMAP", L, "munmap event"),
	UFFD_BIT(KD_UFFD_SIGBUS, "SIGBUS", 0, "SIGBUS instead of fault events"),
	UFFD_BIT(KD_UFFD_THREAD_ID, "THREAD_ID", 0, "faulting thread id in the message"),
	UFFD_BIT(KD_UFFD_MINOR_HUGETLBFS, "MINOR_HUGETLBFS", 0, "MINOR on hugetlbfs"),
	UFFD_BIT(KD_UFFD_MINOR_SHMEM, "MINOR_SHMEM", L, "MINOR on shmem (pre-populated pages)"),
	UFFD_BIT(KD_UFFD_EXACT_ADDRESS, "EXACT_ADDRESS", 0, "unmasked fault address"),
	UFFD_BIT(KD_UFFD_WP_HUGETLBFS_SHMEM, "WP_HUGETLBFS_SHMEM", 0, "write-protect on hugetlbfs/shmem"),
	UFFD_BIT(KD_UFFD_WP_UNPOPULATED, "WP_UNPOPULATED", 0, "write-protect unpopulated ptes"),
	UFFD_BIT(KD_UFFD_POISON, "POISON", 0, "UFFDIO_POISON"),
	UFFD_BIT(KD_UFFD_WP_ASYNC, "WP_ASYNC", 0, "asynchronous write-protect"),
	UFFD_BIT(KD_UFFD_MOVE, "MOVE", 0, "UFFDIO_MOVE"),
	{ KD_UFFD_ANON_IOCTLS, "uffd_anon_ioctls", L, "COPY, ZEROPAGE, WAKE on private anon", probe_uffd_ioctls },
	{ KD_UFFD_SHMEM_IOCTLS, "uffd_shmem_ioctls", L, "COPY, ZEROPAGE, WAKE, CONTINUE on memfd",
	  probe_uffd_ioctls },
	{ KD_UFFD_SHMEM_MINOR_CONTRACT, "uffd_shmem_minor_contract", L,
	  "cached page -> MINOR + CONTINUE, hole -> MISSING + COPY", probe_uffd_contract },
	{ KD_VDSO_LAYOUT, "vdso_layout", R | L, "[vdso]/[vvar]/[vvar_vclock] sizes and offsets", probe_vdso },
	{ KD_CAPS, "capabilities", 0, "effective capabilities", probe_caps },
	{ KD_CAP_SYS_ADMIN, "cap_sys_admin", 0, "CAP_SYS_ADMIN", probe_caps },
	{ KD_CAP_SYS_PTRACE, "cap_sys_ptrace", 0, "CAP_SYS_PTRACE", probe_caps },
	{ KD_CAP_CHECKPOINT_RESTORE, "cap_checkpoint_restore", 0, "CAP_CHECKPOINT_RESTORE", probe_caps },
	{ KD_CAP_SYS_RESOURCE, "cap_sys_resource", 0, "CAP_SYS_RESOURCE", probe_caps },
	{ KD_KVM_GUEST_MEMFD, "kvm_guest_memfd", 0, "KVM_CREATE_GUEST_MEMFD", probe_kvm },
	{ KD_GUEST_MEMFD_UFFD_MINOR, "guest_memfd_uffd_minor", 0,
	  "uffd MINOR on a guest_memfd mapping (vm_uffd_ops series)", probe_kvm },
	{ KD_PIDFD_OPEN, "pidfd_open", 0, "pidfd_open(2)", probe_pidfd },
	{ KD_PIDFD_GETFD, "pidfd_getfd", 0, "pidfd_getfd(2) (another task's fd)", probe_pidfd },
	{ KD_TCP_REPAIR, "tcp_repair", 0, "TCP_REPAIR (--tcp-established)", probe_tcp },
	{ KD_TCP_HALF_CLOSED, "tcp_repair_half_closed", 0, "TCP_REPAIR on half-closed connections", probe_tcp },
	{ KD_NETLOCK_IPTABLES, "netlock_iptables", 0, "--network-lock iptables (iptables-restore)",
	  probe_netlock },
	{ KD_IPT_LEGACY, "ipt_legacy", 0, "iptables-legacy-restore", probe_netlock },
	{ KD_NETLOCK_NFTABLES, "netlock_nftables", 0, "--network-lock nftables (the nft tool)", probe_netlock },
	{ KD_NFTABLES, "nft_tool", 0, "nftables through the nft tool", probe_netlock },
	{ KD_TIMER_CR_IDS, "timer_create_restore_ids", 0,
	  "prctl PR_TIMER_CREATE_RESTORE_IDS (POSIX timers restored with their ids)", probe_timer_ids },
	{ KD_GUARD_REGIONS, "guard_regions", 0, "MADV_GUARD_INSTALL guard regions seen by pagemap and PAGEMAP_SCAN",
	  probe_guard_regions },
};

#undef D
#undef R
#undef L

const struct kd_feature *kerndat_feature(enum kd_feat id)
{
	if ((unsigned)id >= KD_NR_FEATURES)
		return NULL;
	return &features[id];
}

const struct kd_feature *kerndat_find(const char *name)
{
	if (!name)
		return NULL;
	if (!strncasecmp(name, "UFFD_FEATURE_", 13))
		name += 13;
	for (size_t i = 0; i < ARRAY_SIZE(features); i++)
		if (!strcasecmp(features[i].name, name))
			return &features[i];
	return NULL;
}

enum kd_status kerndat_probe(struct kerndat *kd, enum kd_feat id)
{
	if ((unsigned)id >= KD_NR_FEATURES)
		return KD_MISSING;
	if (kd->status[id] == KD_UNKNOWN) {
		features[id].probe(kd);
		if (kd->status[id] == KD_UNKNOWN)
			kd_set(kd, id, false, "probe gave no result");
	}
	return kd->status[id];
}

int kerndat_init(struct kerndat *kd)
{
	memset(kd, 0, sizeof(*kd));
	for (size_t i = 0; i < ARRAY_SIZE(features); i++)
		kerndat_probe(kd, features[i].id);
	return 0;
}

const char *kerndat_needs_str(unsigned needs, char *buf, size_t len)
{
	buf[0] = '\0';
	if (needs & KD_NEED_DUMP)
		kd_append(buf, len, "dump");
	if (needs & KD_NEED_RESTORE)
		kd_append(buf, len, "%srestore", buf[0] ? "," : "");
	if (needs & KD_NEED_LAZY)
		kd_append(buf, len, "%slazy", buf[0] ? "," : "");
	if (!buf[0])
		kd_append(buf, len, "-");
	return buf;
}

int kerndat_require(struct kerndat *kd, unsigned needs)
{
	int ret = 0;

	for (size_t i = 0; i < ARRAY_SIZE(features); i++) {
		const struct kd_feature *f = &features[i];
		char n[32];

		if (!(f->needs & needs) || kerndat_probe(kd, f->id) == KD_OK)
			continue;
		pr_err("%s is missing, needed for %s: %s\n", f->name,
		       kerndat_needs_str(f->needs & needs, n, sizeof(n)), kd->detail[f->id]);
		ret = -1;
	}
	return ret;
}
