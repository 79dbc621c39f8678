/* Signal state:
 *  - handlers: SIGUSR1 (SA_SIGINFO|SA_RESTART, sa_mask {USR2, HUP}), SIGUSR2
 *    (SA_ONSTACK), SIGRTMIN+1 / +2 (SA_SIGINFO), SIGWINCH ignored: the same
 *    sigaction after restore, and they fire (with their sa_mask applied);
 *  - blocked pending signals: SIGUSR1 raised to the thread, SIGHUP sent to
 *    the process, SIGRTMIN+1 queued 3 times to the process with values,
 *    SIGRTMIN+2 queued to the thread: pending after restore, delivered in
 *    order with their values once unblocked;
 *  - the signal mask, and the sigaltstack (a SIGUSR2 handler runs on it). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ztest.h"

#define ALTSZ (64 * 1024)

static int sigs[] = { SIGUSR1, SIGUSR2, SIGHUP, 0, 0, SIGWINCH, SIGQUIT };
#define NSIGS (int)(sizeof(sigs) / sizeof(sigs[0]))
static struct sigaction before[NSIGS];
static sigset_t mask_before;
static stack_t alt_before;
static void *altstack;

static volatile int usr1_count, usr1_mask_ok, hup_count, usr2_count, usr2_on_alt;
static volatile int rt1_vals[8], rt1_count, rt2_val, rt2_count, order[16], norder;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	sigset_t cur;

	(void)uc;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	usr1_mask_ok = sig == SIGUSR1 && si->si_signo == SIGUSR1 && sigismember(&cur, SIGUSR2) &&
		       sigismember(&cur, SIGHUP) && sigismember(&cur, SIGUSR1);
	usr1_count++;
	if (norder < 16)
		order[norder++] = sig;
}

static void on_hup(int sig)
{
	hup_count++;
	if (norder < 16)
		order[norder++] = sig;
}

static void on_usr2(int sig)
{
	char here;

	(void)sig;
	usr2_on_alt = (char *)&here >= (char *)altstack && (char *)&here < (char *)altstack + ALTSZ;
	usr2_count++;
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGRTMIN + 1) {
		if (rt1_count < 8)
			rt1_vals[rt1_count] = si->si_code == SI_QUEUE && si->si_pid == getpid()
						      ? si->si_value.sival_int
						      : -1;
		rt1_count++;
	} else {
		rt2_val = si->si_value.sival_int;
		rt2_count++;
	}
	if (norder < 16)
		order[norder++] = sig;
}

static void install(int sig, void *fn, int flags, int masked1, int masked2)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (flags & SA_SIGINFO)
		sa.sa_sigaction = fn;
	else
		sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (masked1)
		sigaddset(&sa.sa_mask, masked1);
	if (masked2)
		sigaddset(&sa.sa_mask, masked2);
	if (sigaction(sig, &sa, NULL))
		fail("sigaction(%d): %m", sig);
}

static int same_action(const struct sigaction *a, const struct sigaction *b)
{
	return a->sa_handler == b->sa_handler && a->sa_flags == b->sa_flags &&
	       !memcmp(&a->sa_mask, &b->sa_mask, 8) && a->sa_restorer == b->sa_restorer;
}

static int sigset_eq(const sigset_t *a, const sigset_t *b)
{
	for (int s = 1; s < 65; s++)
		if (sigismember(a, s) != sigismember(b, s))
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	union sigval v;
	siginfo_t si;
	sigset_t block, pend;
	stack_t ss;

	test_init(argc, argv);
	sigs[3] = SIGRTMIN + 1;
	sigs[4] = SIGRTMIN + 2;

	altstack = malloc(ALTSZ);
	ss.ss_sp = altstack;
	ss.ss_size = ALTSZ;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL))
		fail("sigaltstack: %m");

	install(SIGUSR1, on_usr1, SA_SIGINFO | SA_RESTART, SIGUSR2, SIGHUP);
	install(SIGUSR2, on_usr2, SA_ONSTACK, 0, 0);
	install(SIGHUP, on_hup, SA_RESTART | SA_NODEFER, SIGQUIT, 0);
	install(SIGRTMIN + 1, on_rt, SA_SIGINFO, 0, 0);
	install(SIGRTMIN + 2, on_rt, SA_SIGINFO | SA_RESETHAND, SIGWINCH, 0);
	signal(SIGWINCH, SIG_IGN);
	/* SIGQUIT keeps SIG_DFL */

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGRTMIN + 1);
	sigaddset(&block, SIGRTMIN + 2);
	sigaddset(&block, SIGPIPE);  /* blocked, nothing pending */
	sigaddset(&block, SIGRTMAX); /* ditto */
	sigprocmask(SIG_BLOCK, &block, NULL);

	raise(SIGUSR1);          /* thread-directed */
	kill(getpid(), SIGHUP);  /* process-directed */
	for (int i = 0; i < 3; i++) {
		v.sival_int = 101 + i;
		if (sigqueue(getpid(), SIGRTMIN + 1, v))
			fail("sigqueue: %m");
	}
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGRTMIN + 2;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = 777;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), zt_gettid(), SIGRTMIN + 2, &si))
		fail("rt_tgsigqueueinfo: %m");

	for (int i = 0; i < NSIGS; i++)
		sigaction(sigs[i], NULL, &before[i]);
	sigprocmask(SIG_SETMASK, NULL, &mask_before);
	sigaltstack(NULL, &alt_before);

	test_ready();
	test_waitsig();

	if (test_self_fail)
		install(SIGUSR2, on_usr2, SA_ONSTACK | SA_RESTART, 0, 0);

	/* static state first, before anything is delivered */
	for (int i = 0; i < NSIGS; i++) {
		struct sigaction now;

		sigaction(sigs[i], NULL, &now);
		if (!same_action(&before[i], &now))
			test_err("sigaction(%d) changed: handler %p flags %#lx, was %p flags %#lx",
				 sigs[i], (void *)now.sa_handler, (unsigned long)now.sa_flags,
				 (void *)before[i].sa_handler, (unsigned long)before[i].sa_flags);
	}
	{
		sigset_t now;

		sigprocmask(SIG_SETMASK, NULL, &now);
		if (!sigset_eq(&now, &mask_before))
			test_err("signal mask changed");
	}
	sigaltstack(NULL, &ss);
	if (ss.ss_sp != alt_before.ss_sp || ss.ss_size != alt_before.ss_size ||
	    ss.ss_flags != alt_before.ss_flags)
		test_err("sigaltstack changed: %p/%zu/%d, was %p/%zu/%d", ss.ss_sp, ss.ss_size,
			 ss.ss_flags, alt_before.ss_sp, alt_before.ss_size, alt_before.ss_flags);
	sigpending(&pend);
	if (!sigismember(&pend, SIGUSR1) || !sigismember(&pend, SIGHUP) ||
	    !sigismember(&pend, SIGRTMIN + 1) || !sigismember(&pend, SIGRTMIN + 2))
		test_err("pending signals lost: USR1 %d HUP %d RTMIN+1 %d RTMIN+2 %d",
			 sigismember(&pend, SIGUSR1), sigismember(&pend, SIGHUP),
			 sigismember(&pend, SIGRTMIN + 1), sigismember(&pend, SIGRTMIN + 2));
	if (usr1_count || hup_count || rt1_count || rt2_count)
		test_err("a blocked signal was delivered before it was unblocked");

	/* deliver: standard signals first (lowest number first), then RT in order */
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	if (usr1_count != 1 || !usr1_mask_ok)
		test_err("SIGUSR1: delivered %d times, sa_mask applied %d", usr1_count, usr1_mask_ok);
	if (hup_count != 1)
		test_err("SIGHUP delivered %d times", hup_count);
	if (rt1_count != 3)
		test_err("SIGRTMIN+1 delivered %d times, expected 3", rt1_count);
	for (int i = 0; i < 3 && i < rt1_count; i++)
		if (rt1_vals[i] != 101 + i)
			test_err("SIGRTMIN+1 #%d: value %d, expected %d", i, rt1_vals[i], 101 + i);
	if (rt2_count != 1 || rt2_val != 777)
		test_err("SIGRTMIN+2: %d times, value %d (expected once, 777)", rt2_count, rt2_val);
	/* SA_RESETHAND: SIGRTMIN+2 is back to default now */
	{
		struct sigaction now;

		sigaction(SIGRTMIN + 2, NULL, &now);
		if (now.sa_handler != SIG_DFL)
			test_err("SA_RESETHAND did not reset SIGRTMIN+2");
	}
	/* handlers fire on fresh signals */
	raise(SIGUSR2);
	if (usr2_count != 1 || !usr2_on_alt)
		test_err("SIGUSR2: %d times, on the alternate stack: %d", usr2_count, usr2_on_alt);
	raise(SIGUSR1);
	if (usr1_count != 2 || !usr1_mask_ok)
		test_err("SIGUSR1 (fresh): %d, sa_mask applied %d", usr1_count, usr1_mask_ok);
	raise(SIGWINCH); /* ignored: nothing happens */
	test_result();
}
