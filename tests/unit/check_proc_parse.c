/* Unit tests for criu-lite/proc-parse.c: crafted lines and real /proc/self data. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"
#include "lib/proc-parse.h"

/* An address in our text (Check test names are data, not functions). */
__attribute__((noinline)) static uintptr_t code_addr(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

START_TEST(test_maps_line_basic)
{
	struct proc_vma v;
	ck_assert_int_eq(proc_parse_maps_line("55ff0df06000-55ff0df0a000 r-xp 00002000 fe:01 1835053"
					      "                    /usr/bin/cat\n", &v), 0);
	ck_assert_uint_eq(v.start, 0x55ff0df06000ULL);
	ck_assert_uint_eq(v.end, 0x55ff0df0a000ULL);
	ck_assert_uint_eq(v.prot, PROT_READ | PROT_EXEC);
	ck_assert(!v.shared);
	ck_assert_uint_eq(v.pgoff, 0x2000);
	ck_assert_uint_eq(v.dev_major, 0xfe);
	ck_assert_uint_eq(v.dev_minor, 1);
	ck_assert_uint_eq(v.ino, 1835053);
	ck_assert_str_eq(v.name, "/usr/bin/cat");
	ck_assert(!v.deleted);
}
END_TEST

START_TEST(test_maps_line_anon_and_special)
{
	struct proc_vma v;
	ck_assert_int_eq(proc_parse_maps_line("7f0000000000-7f0000001000 ---p 00000000 00:00 0 \n", &v), 0);
	ck_assert_uint_eq(v.prot, 0);
	ck_assert_str_eq(v.name, "");
	ck_assert_int_eq(proc_parse_maps_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0      [stack]", &v), 0);
	ck_assert_str_eq(v.name, "[stack]");
	ck_assert_uint_eq(v.prot, PROT_READ | PROT_WRITE);
	/* huge addresses: the vsyscall page */
	ck_assert_int_eq(proc_parse_maps_line("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
					      "                  [vsyscall]", &v), 0);
	ck_assert_uint_eq(v.start, 0xffffffffff600000ULL);
	ck_assert_uint_eq(v.end, 0xffffffffff601000ULL);
	ck_assert_uint_eq(v.prot, PROT_EXEC);
	ck_assert_str_eq(v.name, "[vsyscall]");
}
END_TEST

START_TEST(test_maps_line_spaces_deleted)
{
	struct proc_vma v;
	ck_assert_int_eq(proc_parse_maps_line("7f1c2a000000-7f1c2a100000 rw-s 00000000 00:01 472"
					      "                        /dev/zero (deleted)\n", &v), 0);
	ck_assert(v.shared);
	ck_assert(v.deleted);
	ck_assert_str_eq(v.name, "/dev/zero");
	ck_assert_int_eq(proc_parse_maps_line("1000-3000 rw-s 00001000 00:01 9 /memfd:my buf  x (deleted)", &v), 0);
	ck_assert(v.deleted);
	ck_assert_str_eq(v.name, "/memfd:my buf  x");
	ck_assert_uint_eq(v.pgoff, 0x1000);
	/* a name with spaces and no (deleted) */
	ck_assert_int_eq(proc_parse_maps_line("1000-2000 r--p 00000000 08:01 12 /tmp/a b/c d\n", &v), 0);
	ck_assert(!v.deleted);
	ck_assert_str_eq(v.name, "/tmp/a b/c d");
	/* "(deleted)" without the leading space is part of the name */
	ck_assert_int_eq(proc_parse_maps_line("1000-2000 r--p 00000000 08:01 12 /tmp/x(deleted)", &v), 0);
	ck_assert(!v.deleted);
	ck_assert_str_eq(v.name, "/tmp/x(deleted)");
}
END_TEST

START_TEST(test_maps_line_bad)
{
	struct proc_vma v;
	const char *bad[] = {
		"",
		"zzzz-1000 r--p 00000000 00:00 0",
		"2000-1000 r--p 00000000 00:00 0",         /* start > end */
		"1000-1000 r--p 00000000 00:00 0",         /* empty */
		"1000-2000 rwzp 00000000 00:00 0",         /* bad perms */
		"1000-2000 r--q 00000000 00:00 0",         /* neither s nor p */
		"1000-2000 r--p 00000000 0000 0",          /* no dev colon */
		"1000-2000 r--p 00000000 00:00 x",         /* bad inode */
		"1000 r--p 00000000 00:00 0",              /* no end */
		"10000000000000000-10000000000000001 r--p 0 00:00 0", /* > 64 bits */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		errno = 0;
		ck_assert_msg(proc_parse_maps_line(bad[i], &v) == -1, "accepted '%s'", bad[i]);
		ck_assert_int_eq(errno, EINVAL);
	}
}
END_TEST

START_TEST(test_vmflags)
{
	uint64_t f = proc_parse_vmflags(" rd wr mr mw me gd ac dd hg zz\n");
	ck_assert_uint_eq(f, PROC_VMF_RD | PROC_VMF_WR | PROC_VMF_MR | PROC_VMF_MW | PROC_VMF_ME |
				     PROC_VMF_GD | PROC_VMF_AC | PROC_VMF_DD | PROC_VMF_HG);
	ck_assert_uint_eq(proc_parse_vmflags(""), 0);
	ck_assert_uint_eq(proc_parse_vmflags("sh io pf"), PROC_VMF_SH | PROC_VMF_IO | PROC_VMF_PF);
}
END_TEST

START_TEST(test_stat_str)
{
	struct proc_stat st;
	/* comm with spaces and parens; fields 4..52 */
	char buf[1024];
	snprintf(buf, sizeof(buf),
		 "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 -5 3 0 77 1000 200"
		 " 18446744073709551615 4194304 4198400 140736000000000 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
		 " 6000000 6001000 7000000 140736000001000 140736000002000 140736000003000"
		 " 140736000004000 0\n");
	ck_assert_int_eq(proc_parse_stat_str(buf, &st), 0);
	ck_assert_int_eq(st.pid, 1234);
	ck_assert_str_eq(st.comm, "a) b (c)");
	ck_assert_int_eq(st.state, 'S');
	ck_assert_int_eq(st.ppid, 1);
	ck_assert_int_eq(st.pgid, 1234);
	ck_assert_int_eq(st.sid, 1234);
	ck_assert_int_eq(st.nice, -5);
	ck_assert_uint_eq(st.num_threads, 3);
	ck_assert_uint_eq(st.start_code, 4194304);
	ck_assert_uint_eq(st.end_code, 4198400);
	ck_assert_uint_eq(st.start_stack, 140736000000000ULL);
	ck_assert_uint_eq(st.exit_signal, 17);
	ck_assert_uint_eq(st.start_data, 6000000);
	ck_assert_uint_eq(st.end_data, 6001000);
	ck_assert_uint_eq(st.start_brk, 7000000);
	ck_assert_uint_eq(st.arg_start, 140736000001000ULL);
	ck_assert_uint_eq(st.arg_end, 140736000002000ULL);
	ck_assert_uint_eq(st.env_start, 140736000003000ULL);
	ck_assert_uint_eq(st.env_end, 140736000004000ULL);
	/* truncated: not enough fields */
	ck_assert_int_eq(proc_parse_stat_str("1 (x) S 0 1 1 0 -1\n", &st), -1);
	ck_assert_int_eq(proc_parse_stat_str("1 x S 0", &st), -1);
}
END_TEST

START_TEST(test_stat_self)
{
	struct proc_stat st;
	ck_assert_int_eq(proc_parse_stat(getpid(), 0, &st), 0);
	ck_assert_int_eq(st.pid, getpid());
	ck_assert_int_eq(st.ppid, getppid());
	ck_assert_int_eq(st.pgid, getpgrp());
	ck_assert_int_eq(st.sid, getsid(0));
	ck_assert_uint_eq(st.exit_signal, SIGCHLD);
	/* our own code and stack lie inside what stat says */
	ck_assert_uint_le(st.start_code, code_addr());
	ck_assert_uint_gt(st.end_code, code_addr());
	ck_assert_uint_gt(st.start_stack, (uintptr_t)&st);
	ck_assert_uint_lt(st.arg_start, st.arg_end);
	ck_assert_uint_le(st.env_start, st.env_end);
	ck_assert_uint_le(st.start_brk, (uintptr_t)sbrk(0));
}
END_TEST

static void *sleeper(void *arg)
{
	(void)arg;
	pause();
	return NULL;
}

START_TEST(test_status_self_and_tids)
{
	struct proc_status ps;
	pthread_t th;
	pid_t *tids = NULL;
	size_t nr;

	ck_assert_int_eq(proc_parse_status(getpid(), 0, &ps), 0);
	ck_assert_int_eq(ps.tgid, getpid());
	ck_assert_uint_eq(ps.uid[0], getuid());
	ck_assert_uint_eq(ps.uid[1], geteuid());
	ck_assert_uint_eq(ps.gid[0], getgid());
	ck_assert(ps.has_umask);
	mode_t m = umask(0027);
	ck_assert_int_eq(proc_parse_status(getpid(), 0, &ps), 0);
	ck_assert_uint_eq(ps.umask, 0027);
	umask(m);
	ck_assert(ps.state == 'R' || ps.state == 'S');
	ck_assert_int_eq(ps.tracer_pid, 0);

	ck_assert_int_eq(pthread_create(&th, NULL, sleeper, NULL), 0);
	ck_assert_int_eq(proc_list_tids(getpid(), &tids, &nr), 0);
	ck_assert_uint_eq(nr, 2);
	ck_assert_int_eq(tids[0], getpid());
	ck_assert_int_gt(tids[1], getpid());
	free(tids);
}
END_TEST

START_TEST(test_status_str)
{
	struct proc_status ps;
	const char *s = "Name:\tx\nUmask:\t0022\nState:\tt (tracing stop)\nTgid:\t5\nPid:\t6\n"
			"TracerPid:\t77\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t10 20 30 \n"
			"CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n"
			"CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000001\nNoNewPrivs:\t1\nSeccomp:\t2\n";
	ck_assert_int_eq(proc_parse_status_str(s, &ps), 0);
	ck_assert_int_eq(ps.state, 't');
	ck_assert_int_eq(ps.tgid, 5);
	ck_assert_int_eq(ps.tracer_pid, 77);
	ck_assert_uint_eq(ps.uid[0], 1);
	ck_assert_uint_eq(ps.uid[3], 4);
	ck_assert_uint_eq(ps.gid[2], 7);
	ck_assert_uint_eq(ps.nr_groups, 3);
	ck_assert_uint_eq(ps.groups[2], 30);
	ck_assert_uint_eq(ps.cap_prm, 0x1ffffffffffULL);
	ck_assert_uint_eq(ps.cap_amb, 1);
	ck_assert(ps.no_new_privs);
	ck_assert_uint_eq(ps.seccomp, 2);
	ck_assert_uint_eq(ps.umask, 022);
	/* no Uid line */
	ck_assert_int_eq(proc_parse_status_str("State:\tS\nTgid:\t1\nTracerPid:\t0\n", &ps), -1);
}
END_TEST

START_TEST(test_smaps_self)
{
	struct proc_vma *v = NULL;
	size_t nr;
	size_t len = 5 * PAGE_SIZE;
	char *shared = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *guard = mmap(NULL, PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t code = code_addr();
	int found_shared = 0, found_guard = 0, found_stack = 0, found_vdso = 0, found_code = 0;

	ck_assert_ptr_ne(shared, MAP_FAILED);
	ck_assert_ptr_ne(guard, MAP_FAILED);
	ck_assert_int_eq(proc_parse_smaps(getpid(), &v, &nr), 0);
	ck_assert_uint_gt(nr, 5);
	for (size_t i = 0; i < nr; i++) {
		if (i)
			ck_assert_uint_le(v[i - 1].end, v[i].start);
		ck_assert(v[i].vmflags != 0 || !strcmp(v[i].name, "[vsyscall]"));
		if (v[i].start == (uintptr_t)shared) {
			found_shared = 1;
			ck_assert(v[i].shared);
			ck_assert(v[i].deleted);
			ck_assert_str_eq(v[i].name, "/dev/zero");
			ck_assert_uint_eq(v[i].end - v[i].start, len);
			ck_assert(v[i].vmflags & PROC_VMF_SH);
		}
		if (v[i].start <= (uintptr_t)guard && v[i].end > (uintptr_t)guard) {
			found_guard = 1;
			ck_assert_uint_eq(v[i].prot, PROT_NONE);
		}
		if (!strcmp(v[i].name, "[stack]")) {
			found_stack = 1;
			ck_assert(v[i].vmflags & PROC_VMF_GD);
		}
		if (!strcmp(v[i].name, "[vdso]"))
			found_vdso = 1;
		if (v[i].start <= code && v[i].end > code) {
			found_code = 1;
			ck_assert_uint_eq(v[i].prot, PROT_READ | PROT_EXEC);
			ck_assert(v[i].name[0] == '/');
		}
	}
	ck_assert(found_shared && found_guard && found_stack && found_vdso && found_code);
	free(v);
	munmap(shared, len);
	munmap(guard, PAGE_SIZE);
}
END_TEST

START_TEST(test_fdinfo)
{
	struct proc_fdinfo fi;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	char c[10];
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, c, sizeof(c)), sizeof(c));
	ck_assert_int_eq(proc_parse_fdinfo(getpid(), fd, &fi), 0);
	ck_assert_uint_eq(fi.pos, 10);
	ck_assert_uint_eq(fi.flags & O_ACCMODE, O_RDONLY);
	ck_assert(fi.flags & O_CLOEXEC);
	ck_assert_int_gt(fi.mnt_id, 0);
	close(fd);
	ck_assert_int_eq(proc_parse_fdinfo_str("pos:\t5\nflags:\t0100002\nmnt_id:\t3\n", &fi), 0);
	ck_assert_uint_eq(fi.pos, 5);
	ck_assert_uint_eq(fi.flags, 0100002);
	ck_assert_int_eq(proc_parse_fdinfo_str("flags:\t02\n", &fi), -1);
	/* a missing fd is an error */
	ck_assert_int_eq(proc_parse_fdinfo(getpid(), 987654, &fi), -1);
}
END_TEST

START_TEST(test_children)
{
	pid_t kid = fork(), *kids = NULL;
	size_t nr;
	ck_assert_int_ge(kid, 0);
	if (kid == 0) {
		pause();
		_exit(0);
	}
	ck_assert_int_eq(proc_list_children(getpid(), getpid(), &kids, &nr), 0);
	ck_assert_uint_eq(nr, 1);
	ck_assert_int_eq(kids[0], kid);
	free(kids);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
}
END_TEST

START_TEST(test_timers)
{
	static const char text[] = "ID: 0\nsignal: 35/0000000000000065\nnotify: signal/pid.24177\nClockID: 1\n"
				   "ID: 3\nsignal: 0/0000000000000000\nnotify: none/pid.24177\nClockID: 0\n"
				   "ID: 4\nsignal: 34/00007ffc00001000\nnotify: signal/tid.24180\nClockID: -6\n";
	struct proc_timer *t;
	size_t n;

	ck_assert_int_eq(proc_parse_timers_str(text, &t, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(t[0].id, 0);
	ck_assert_uint_eq(t[0].signo, 35);
	ck_assert_uint_eq(t[0].sigval, 0x65);
	ck_assert_uint_eq(t[0].notify, 0);
	ck_assert_int_eq(t[0].notify_pid, 24177);
	ck_assert_int_eq(t[0].clock, 1);
	ck_assert_uint_eq(t[1].notify, 1);
	ck_assert_uint_eq(t[2].notify, 4);
	ck_assert_int_eq(t[2].notify_pid, 24180);
	ck_assert_int_eq(t[2].clock, -6);
	ck_assert_uint_eq(t[2].sigval, 0x7ffc00001000ull);
	free(t);
	ck_assert_int_eq(proc_parse_timers_str("", &t, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(t);
	ck_assert_int_eq(proc_parse_timers_str("ID: 0\nsignal: 35/65\n", &t, &n), -1);
	ck_assert_int_eq(proc_parse_timers_str("ID: 0\nsignal: 35/0\nnotify: bogus/pid.1\nClockID: 1\n", &t, &n),
			 -1);

	/* our own: one created here is listed */
	timer_t tid;
	struct sigevent se = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 3 };
	se.sigev_value.sival_int = 0x1234;
	ck_assert_int_eq(timer_create(CLOCK_BOOTTIME, &se, &tid), 0);
	ck_assert_int_eq(proc_parse_timers(getpid(), &t, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(t[0].id, (uint32_t)(intptr_t)tid);
	ck_assert_uint_eq(t[0].signo, (uint32_t)SIGRTMIN + 3);
	ck_assert_uint_eq(t[0].sigval & 0xffffffff, 0x1234);
	ck_assert_int_eq(t[0].clock, CLOCK_BOOTTIME);
	free(t);
	timer_delete(tid);
}
END_TEST

START_TEST(test_readlink)
{
	char buf[PROC_PATH_MAX], small[4];
	char cwd[PROC_PATH_MAX];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(proc_readlink("/proc/self/cwd", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, cwd);
	ck_assert_int_eq(proc_readlink("/proc/self/exe", small, sizeof(small)), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proc_parse");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_maps_line_basic);
	tcase_add_test(tc, test_maps_line_anon_and_special);
	tcase_add_test(tc, test_maps_line_spaces_deleted);
	tcase_add_test(tc, test_maps_line_bad);
	tcase_add_test(tc, test_vmflags);
	tcase_add_test(tc, test_stat_str);
	tcase_add_test(tc, test_stat_self);
	tcase_add_test(tc, test_status_self_and_tids);
	tcase_add_test(tc, test_status_str);
	tcase_add_test(tc, test_smaps_self);
	tcase_add_test(tc, test_fdinfo);
	tcase_add_test(tc, test_children);
	tcase_add_test(tc, test_readlink);
	tcase_add_test(tc, test_timers);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
