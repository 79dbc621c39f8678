/*
 * seccomp filters and capabilities. The main thread sets no_new_privs and installs
 * two filters (syslog() fails with errno 77, sysinfo() with 80; the second with
 * SECCOMP_FILTER_FLAG_LOG); a thread started after them stacks a third of its own
 * (syslog() fails with 81 there). CAP_NET_RAW is dropped from the bounding and the
 * effective sets (kept permitted), CAP_MKNOD from the effective one.
 * After the restore: each thread's filters act as before (and count the same in
 * /proc/self/task/TID/status), no_new_privs is set, the capability sets are the same.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ztest.h"

#ifndef SECCOMP_FILTER_FLAG_LOG
#define SECCOMP_FILTER_FLAG_LOG 2
#endif

struct caps {
	unsigned long long inh, prm, eff, bnd, amb;
};

static int filter_errno(int nr, int err, unsigned flags)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static void caps_of(const char *status, struct caps *c)
{
	char v[64];
	memset(c, 0, sizeof(*c));
	if (zt_proc_value(status, "CapInh:", v, sizeof(v)) == 0)
		sscanf(v, "%llx", &c->inh);
	if (zt_proc_value(status, "CapPrm:", v, sizeof(v)) == 0)
		sscanf(v, "%llx", &c->prm);
	if (zt_proc_value(status, "CapEff:", v, sizeof(v)) == 0)
		sscanf(v, "%llx", &c->eff);
	if (zt_proc_value(status, "CapBnd:", v, sizeof(v)) == 0)
		sscanf(v, "%llx", &c->bnd);
	if (zt_proc_value(status, "CapAmb:", v, sizeof(v)) == 0)
		sscanf(v, "%llx", &c->amb);
}

static int fails_with(long nr, int err)
{
	errno = 0;
	return syscall(nr, 0, 0, 0) == -1 && errno == err;
}

static void check_status(pid_t tid, int want_filters)
{
	char path[64], v[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	if (zt_proc_value(path, "Seccomp:", v, sizeof(v)) < 0 || strcmp(v, "2"))
		test_err("thread %d: Seccomp: %s", (int)tid, v);
	if (zt_proc_value(path, "Seccomp_filters:", v, sizeof(v)) == 0 && atoi(v) != want_filters)
		test_err("thread %d: %s filters, was %d", (int)tid, v, want_filters);
	if (zt_proc_value(path, "NoNewPrivs:", v, sizeof(v)) < 0 || strcmp(v, "1"))
		test_err("thread %d: NoNewPrivs: %s", (int)tid, v);
}

static int stage; /* futex: 1 thread ready, 2 check, 3 checked */
static pid_t thread_tid;
static int thread_ok;

static void *thread_fn(void *arg)
{
	(void)arg;
	thread_tid = zt_gettid();
	if (filter_errno(SYS_syslog, 81, 0) < 0)
		fail("thread filter: %s", strerror(errno));
	zt_post(&stage, 1);
	zt_wait_ge(&stage, 2, 3600);
	thread_ok = fails_with(SYS_syslog, 81) && fails_with(SYS_sysinfo, 80);
	if (!thread_ok) {
		long r = syscall(SYS_syslog, 0, 0, 0);
		test_msg("thread: syslog() %ld, errno %d (the newest filter says 81)", r, errno);
	}
	zt_post(&stage, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	struct caps before, after;
	pthread_t th;

	test_init(argc, argv);
	if (prctl(PR_CAPBSET_DROP, 13 /* CAP_NET_RAW */, 0, 0, 0) < 0)
		fail("PR_CAPBSET_DROP: %s", strerror(errno));
	{
		/* effective without NET_RAW and MKNOD, permitted kept */
		struct {
			unsigned version;
			int pid;
		} hdr = { 0x20080522, 0 };
		struct {
			unsigned eff, prm, inh;
		} d[2];
		if (syscall(SYS_capget, &hdr, d) < 0)
			fail("capget");
		d[0].eff &= ~((1u << 13) | (1u << 27));
		if (syscall(SYS_capset, &hdr, d) < 0)
			fail("capset: %s", strerror(errno));
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || filter_errno(SYS_syslog, 77, 0) < 0 ||
	    filter_errno(SYS_sysinfo, 80, SECCOMP_FILTER_FLAG_LOG) < 0)
		fail("seccomp: %s", strerror(errno));
	if (pthread_create(&th, NULL, thread_fn, NULL))
		fail("pthread_create");
	zt_wait_ge(&stage, 1, 10);
	caps_of("/proc/self/status", &before);
	test_ready();
	test_waitsig();
	if (test_self_fail)
		prctl(PR_CAPBSET_DROP, 0 /* CAP_CHOWN */, 0, 0, 0);

	if (!fails_with(SYS_syslog, 77) || !fails_with(SYS_sysinfo, 80))
		test_err("the main thread's filters do not act: syslog %d, sysinfo %d", fails_with(SYS_syslog, 77),
			 fails_with(SYS_sysinfo, 80));
	check_status(zt_gettid(), 2);
	check_status(thread_tid, 3);
	zt_post(&stage, 1);
	zt_wait_ge(&stage, 3, 10);
	if (!thread_ok)
		test_err("the thread's filters do not act");
	caps_of("/proc/self/status", &after);
	if (memcmp(&before, &after, sizeof(before)))
		test_err("caps inh/prm/eff/bnd/amb %llx/%llx/%llx/%llx/%llx, were %llx/%llx/%llx/%llx/%llx", after.inh,
			 after.prm, after.eff, after.bnd, after.amb, before.inh, before.prm, before.eff, before.bnd,
			 before.amb);
	zt_join((unsigned long)th, 10, "the thread");
	test_result();
}
