/* Per-thread state in a non-main thread: its own signal mask, its own
 * sigaltstack, signals pending for that thread only (a standard one and a
 * queued RT one with a value), and the rseq registration of every thread
 * (glibc registers one per thread; the kernel forgets it across restore unless
 * it is registered again: re-registering the same area must give EBUSY). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ztest.h"

#define ALTSZ (64 * 1024)
#ifndef RSEQ_SIG
#define RSEQ_SIG 0x53053053
#endif

static int go, done;
static pid_t ttid;
static void *alt;
static volatile int usr1_in_thread, rt_val, rt_in_thread, on_alt;
static char terr[256];

static void on_usr1(int sig)
{
	char here;

	(void)sig;
	usr1_in_thread = zt_gettid() == ttid;
	on_alt = &here >= (char *)alt && &here < (char *)alt + ALTSZ;
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	rt_in_thread = zt_gettid() == ttid;
	rt_val = si->si_value.sival_int;
}

/* 0: registered as glibc did it; else an error text */
static const char *rseq_state(void)
{
	struct rseq *area = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
	long r;

	if (!__rseq_size)
		return NULL; /* glibc did not register rseq (e.g. GLIBC_TUNABLES): nothing to check */
	r = syscall(SYS_rseq, area, __rseq_size < 32 ? 32 : __rseq_size, 0, RSEQ_SIG);
	if (r == 0) {
		syscall(SYS_rseq, area, __rseq_size < 32 ? 32 : __rseq_size, 1 /* unregister */, RSEQ_SIG);
		return "rseq was not registered (a new registration succeeded)";
	}
	if (errno == EBUSY)
		return NULL;
	return errno == EINVAL ? "rseq registered with another area or length" : "rseq: other error";
}

static void *thread_fn(void *arg)
{
	sigset_t set, now;
	stack_t ss = { .ss_size = ALTSZ }, cur;
	const char *e;

	(void)arg;
	ttid = zt_gettid();
	alt = malloc(ALTSZ);
	ss.ss_sp = alt;
	if (sigaltstack(&ss, NULL)) {
		snprintf(terr, sizeof(terr), "sigaltstack: %m");
		goto out;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN + 3);
	sigaddset(&set, SIGWINCH);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	/* pending for this thread only */
	syscall(SYS_tgkill, getpid(), ttid, SIGUSR1);
	{
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		si.si_signo = SIGRTMIN + 3;
		si.si_code = SI_QUEUE;
		si.si_pid = getpid();
		si.si_uid = getuid();
		si.si_value.sival_int = 555;
		syscall(SYS_rt_tgsigqueueinfo, getpid(), ttid, SIGRTMIN + 3, &si);
	}
	__atomic_store_n(&go, 1, __ATOMIC_SEQ_CST);
	zt_futex_wake(&go, 1);
	while (__atomic_load_n(&go, __ATOMIC_SEQ_CST) != 2)
		zt_futex_wait(&go, 1, NULL);

	/* after restore */
	if (test_self_fail) /* expect a mask that is not there */
		sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	for (int s = 1; s < 65; s++)
		if (sigismember(&now, s) != sigismember(&set, s)) {
			snprintf(terr, sizeof(terr), "thread sigmask changed (signal %d)", s);
			goto out;
		}
	sigaltstack(NULL, &cur);
	if (cur.ss_sp != alt || cur.ss_size != ALTSZ || cur.ss_flags) {
		snprintf(terr, sizeof(terr), "thread sigaltstack changed: %p/%zu/%d", cur.ss_sp,
			 cur.ss_size, cur.ss_flags);
		goto out;
	}
	sigpending(&now);
	if (!sigismember(&now, SIGUSR1) || !sigismember(&now, SIGRTMIN + 3)) {
		snprintf(terr, sizeof(terr), "thread's pending signals lost (USR1 %d, RTMIN+3 %d)",
			 sigismember(&now, SIGUSR1), sigismember(&now, SIGRTMIN + 3));
		goto out;
	}
	if ((e = rseq_state())) {
		snprintf(terr, sizeof(terr), "thread: %s", e);
		goto out;
	}
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (!usr1_in_thread || !on_alt || !rt_in_thread || rt_val != 555)
		snprintf(terr, sizeof(terr),
			 "thread signals: USR1 here %d on altstack %d, RTMIN+3 here %d value %d",
			 usr1_in_thread, on_alt, rt_in_thread, rt_val);
out:
	__atomic_store_n(&done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	pthread_t th;
	sigset_t pend;
	const char *e;

	test_init(argc, argv);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 3, &sa, NULL);
	/* the main thread blocks them too, so only the thread can take them */
	sigemptyset(&pend);
	sigaddset(&pend, SIGUSR1);
	sigaddset(&pend, SIGRTMIN + 3);
	sigprocmask(SIG_BLOCK, &pend, NULL);
	if (pthread_create(&th, NULL, thread_fn, NULL))
		fail("pthread_create");
	while (!__atomic_load_n(&go, __ATOMIC_SEQ_CST))
		zt_futex_wait(&go, 0, NULL);
	if ((e = rseq_state()))
		fail("before the dump: main thread: %s", e);

	test_ready();
	test_waitsig();

	if ((e = rseq_state()))
		test_err("main thread: %s", e);
	sigpending(&pend);
	if (sigismember(&pend, SIGUSR1) || sigismember(&pend, SIGRTMIN + 3))
		test_err("the thread's pending signals became process-wide");
	__atomic_store_n(&go, 2, __ATOMIC_SEQ_CST);
	zt_futex_wake(&go, 1);
	if (!zt_join(th, 10, "thread") && terr[0])
		test_err("%s", terr);
	test_result();
}
