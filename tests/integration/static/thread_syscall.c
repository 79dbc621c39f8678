/* Threads blocked in system calls across the checkpoint:
 *   futex   FUTEX_WAIT without timeout (-ERESTARTSYS: must restart, never
 *           return before the word changes)
 *   ppoll   ppoll(no fds, 1000 s, a mask unblocking SIGUSR1) (-ERESTARTNOHAND
 *           with a temporary sigmask): must keep sleeping until SIGUSR1, and
 *           the thread's own mask must be intact afterwards
 *   sleep   nanosleep(1000 s) (-ERESTART_RESTARTBLOCK: may come back as EINTR,
 *           which the loop tolerates) until SIGUSR1
 *   sigwait sigtimedwait(SIGUSR2, 1000 s): must get the value queued after
 *           restore (EINTR from the freeze is tolerated)
 * All thread ids must be unchanged. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

static int futex_word, stop;
static int done[4];
static pid_t tids[4];
static long futex_early, futex_ret = -1;
static int ppoll_ret, ppoll_errno, ppoll_early, ppoll_mask_bad;
static int sleep_eintr_early;
static int sigwait_sig, sigwait_val, sigwait_eintr;
static pthread_t th[4];

static void usr1(int sig)
{
	(void)sig;
}

static void *futex_thread(void *arg)
{
	(void)arg;
	tids[0] = zt_gettid();
	for (;;) {
		long r = zt_futex_wait(&futex_word, 0, NULL);

		if (__atomic_load_n(&futex_word, __ATOMIC_SEQ_CST)) {
			futex_ret = r;
			break;
		}
		futex_early++; /* woke up while the word is still 0 */
	}
	__atomic_store_n(&done[0], 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *ppoll_thread(void *arg)
{
	struct timespec ts = { 1000, 0 };
	sigset_t unblock, now;

	(void)arg;
	tids[1] = zt_gettid();
	sigfillset(&unblock);
	sigdelset(&unblock, SIGUSR1);
	sigdelset(&unblock, SIGTERM);
	for (;;) {
		int r = ppoll(NULL, 0, &ts, &unblock);

		ppoll_ret = r;
		ppoll_errno = errno;
		if (__atomic_load_n(&stop, __ATOMIC_SEQ_CST))
			break;
		ppoll_early++;
	}
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	if (!sigismember(&now, SIGUSR1) || !sigismember(&now, SIGUSR2) || !sigismember(&now, SIGHUP))
		ppoll_mask_bad = 1;
	__atomic_store_n(&done[1], 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *sleep_thread(void *arg)
{
	sigset_t set;

	(void)arg;
	tids[2] = zt_gettid();
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
		struct timespec ts = { 1000, 0 };

		if (nanosleep(&ts, &ts) && errno == EINTR && !__atomic_load_n(&stop, __ATOMIC_SEQ_CST))
			sleep_eintr_early++;
	}
	__atomic_store_n(&done[2], 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *sigwait_thread(void *arg)
{
	struct timespec ts = { 1000, 0 };
	siginfo_t si;
	sigset_t set;

	(void)arg;
	tids[3] = zt_gettid();
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	for (;;) {
		int r = sigtimedwait(&set, &si, &ts);

		if (r == SIGUSR2) {
			sigwait_sig = r;
			sigwait_val = si.si_value.sival_int;
			break;
		}
		if (r < 0 && errno == EINTR) {
			sigwait_eintr++;
			continue;
		}
		sigwait_sig = r;
		break;
	}
	__atomic_store_n(&done[3], 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void ps_state(const char *when)
{
	char path[64], *s;

	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", tids[i]);
		s = zt_read_file(path, NULL);
		test_msg("%s: thread %d (tid %d) wchan %s", when, i, tids[i], s ? s : "?");
		free(s);
	}
}

int main(int argc, char **argv)
{
	void *(*fns[4])(void *) = { futex_thread, ppoll_thread, sleep_thread, sigwait_thread };
	pid_t tids0[4];
	struct sigaction sa;
	sigset_t set;

	test_init(argc, argv);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = usr1; /* no SA_RESTART */
	sigaction(SIGUSR1, &sa, NULL);
	/* threads start with USR1, USR2, HUP blocked */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < 4; i++)
		if (pthread_create(&th[i], NULL, fns[i], NULL))
			fail("pthread_create");
	for (int i = 0; i < 4; i++)
		while (!__atomic_load_n(&tids[i], __ATOMIC_SEQ_CST))
			usleep(1000);
	usleep(100 * 1000); /* let them block */
	memcpy(tids0, tids, sizeof(tids));
	ps_state("before");

	test_ready();
	test_waitsig();
	ps_state("after");
	if (test_self_fail) /* an early wake-up, as a bad restart would cause */
		pthread_kill(th[1], SIGUSR1);

	usleep(200 * 1000); /* a restarted call that returns at once would show now */
	for (int i = 0; i < 4; i++)
		if (__atomic_load_n(&done[i], __ATOMIC_SEQ_CST))
			test_err("thread %d left its system call before it was woken", i);
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&futex_word, 1, __ATOMIC_SEQ_CST);
	zt_futex_wake(&futex_word, 1);
	{
		union sigval v = { .sival_int = 4242 };

		pthread_sigqueue(th[3], SIGUSR2, v);
	}
	for (int n = 0; n < 500; n++) {
		if (done[0] && done[1] && done[2] && done[3])
			break;
		if (!done[1])
			pthread_kill(th[1], SIGUSR1);
		if (!done[2])
			pthread_kill(th[2], SIGUSR1);
		usleep(10 * 1000);
	}
	for (int i = 0; i < 4; i++) {
		if (!done[i]) {
			test_err("thread %d did not finish after its wake-up", i);
			continue;
		}
		char w[32];

		snprintf(w, sizeof(w), "thread %d", i);
		if (zt_join(th[i], 5, w))
			continue;
		if (tids[i] != tids0[i])
			test_err("thread %d tid changed %d -> %d", i, tids0[i], tids[i]);
	}
	if (futex_early)
		test_err("futex wait returned %ld times before the word changed", futex_early);
	if (futex_ret != 0 && !(futex_ret == -1 && errno == EAGAIN))
		test_msg("futex wait returned %ld", futex_ret);
	if (ppoll_early)
		test_err("ppoll returned %d times before SIGUSR1", ppoll_early);
	if (ppoll_ret != -1 || ppoll_errno != EINTR)
		test_err("ppoll: ret %d errno %d, expected EINTR", ppoll_ret, ppoll_errno);
	if (ppoll_mask_bad)
		test_err("ppoll thread's signal mask changed");
	if (sleep_eintr_early)
		test_msg("nanosleep came back with EINTR %d times before SIGUSR1 (restart block)",
			 sleep_eintr_early);
	if (sigwait_sig != SIGUSR2 || sigwait_val != 4242)
		test_err("sigtimedwait: got %d value %d, expected SIGUSR2 value 4242", sigwait_sig,
			 sigwait_val);
	if (sigwait_eintr)
		test_msg("sigtimedwait EINTR %d times", sigwait_eintr);
	test_result();
}
