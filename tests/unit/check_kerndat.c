/* Unit tests for criu-lite/kerndat.c and the check command: the probes run for
 * real against this kernel (root, Linux 6.18, userfaultfd, ptrace, clone3). */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "lib/util.h"
#include "cli/cli.h"
#include "criu-lite/kerndat.h"

static struct kerndat *kd_new_probed(void)
{
	struct kerndat *kd = calloc(1, sizeof(*kd));
	ck_assert_ptr_nonnull(kd);
	ck_assert_int_eq(kerndat_init(kd), 0);
	return kd;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The command line, as `criu-lite ARGV...`. */
static int cli(int argc, char **argv)
{
	char *v[16] = { "criu-lite" };
	ck_assert_int_lt(argc, 15);
	for (int i = 0; i < argc; i++)
		v[i + 1] = argv[i];
	return cli_run(argc + 1, v);
}

/* Run the check command with its stdout and stderr sent to /dev/null. */
static int run_check(int argc, char **argv)
{
	fflush(stdout);
	fflush(stderr);
	int out = dup(STDOUT_FILENO), err = dup(STDERR_FILENO);
	int null = open("/dev/null", O_WRONLY);
	ck_assert_int_ge(null, 0);
	dup2(null, STDOUT_FILENO);
	dup2(null, STDERR_FILENO);
	close(null);
	int rc = cli(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	close(out);
	close(err);
	return rc;
}

START_TEST(test_table_consistent)
{
	for (int id = 0; id < KD_NR_FEATURES; id++) {
		const struct kd_feature *f = kerndat_feature(id);
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(f->id, id);
		ck_assert_ptr_nonnull(f->name);
		ck_assert_ptr_nonnull(f->desc);
		ck_assert_ptr_nonnull(f->probe);
		ck_assert_uint_eq(f->needs & ~KD_NEED_ALL, 0);
		/* names are unique: looking one up finds this entry */
		ck_assert_ptr_eq(kerndat_find(f->name), f);
	}
	ck_assert_ptr_null(kerndat_feature(KD_NR_FEATURES));
	ck_assert_ptr_null(kerndat_find("no_such_feature"));
	ck_assert_ptr_null(kerndat_find(""));
	ck_assert_ptr_null(kerndat_find(NULL));
	/* kernel spelling and case are accepted for the uffd bits */
	ck_assert_ptr_eq(kerndat_find("UFFD_FEATURE_EVENT_FORK"), kerndat_feature(KD_UFFD_EVENT_FORK));
	ck_assert_ptr_eq(kerndat_find("minor_shmem"), kerndat_feature(KD_UFFD_MINOR_SHMEM));
	/* the uffd bits sit in bit order: MINOR_SHMEM is bit 10, MOVE bit 16 */
	ck_assert_int_eq(KD_UFFD_MINOR_SHMEM - KD_UFFD_FEATURE_FIRST, 10);
	ck_assert_int_eq(KD_UFFD_MOVE - KD_UFFD_FEATURE_FIRST, 16);
	/* lazy restore depends on the four events */
	ck_assert(kerndat_feature(KD_UFFD_EVENT_FORK)->needs & KD_NEED_LAZY);
	ck_assert(kerndat_feature(KD_UFFD_EVENT_REMAP)->needs & KD_NEED_LAZY);
	ck_assert(kerndat_feature(KD_UFFD_EVENT_REMOVE)->needs & KD_NEED_LAZY);
	ck_assert(kerndat_feature(KD_UFFD_EVENT_UNMAP)->needs & KD_NEED_LAZY);
}
END_TEST

START_TEST(test_every_probe_definite)
{
	struct kerndat *kd = kd_new_probed();

	for (int id = 0; id < KD_NR_FEATURES; id++) {
		ck_assert_msg(kd->status[id] == KD_OK || kd->status[id] == KD_MISSING, "%s: status %d",
			      kerndat_feature(id)->name, kd->status[id]);
		ck_assert_msg(kd->detail[id][0] != '\0', "%s has no detail", kerndat_feature(id)->name);
	}
	free(kd);
}
END_TEST

START_TEST(test_known_present)
{
	static const enum kd_feat present[] = {
		KD_PTRACE_SEIZE,      KD_PTRACE_REGS,	     KD_PTRACE_XSTATE,	    KD_PTRACE_RSEQ,
		KD_PTRACE_SIGMASK,    KD_PTRACE_PEEKSIGINFO, KD_PROCESS_VM_READV,   KD_MAP_FILES,
		KD_PAGEMAP,	      KD_CLONE3_SET_TID,     KD_PRCTL_MM_MAP,	    KD_MEMFD,
		KD_SEEK_DATA_HOLE,    KD_UFFD,		     KD_UFFD_MISSING_SHMEM, KD_UFFD_MINOR_SHMEM,
		KD_UFFD_EVENT_FORK,   KD_UFFD_EVENT_REMAP,   KD_UFFD_EVENT_REMOVE,  KD_UFFD_EVENT_UNMAP,
		KD_UFFD_ANON_IOCTLS,  KD_UFFD_SHMEM_IOCTLS,  KD_UFFD_SHMEM_MINOR_CONTRACT,
		KD_VDSO_LAYOUT,	      KD_TIMER_CR_IDS,	     KD_GUARD_REGIONS,
	};
	struct kerndat *kd = kd_new_probed();

	for (size_t i = 0; i < ARRAY_SIZE(present); i++)
		ck_assert_msg(kd->status[present[i]] == KD_OK, "%s: %s", kerndat_feature(present[i])->name,
			      kd->detail[present[i]]);

	/* the raw results agree with the per-feature verdicts */
	const uint64_t lazy_bits = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |
				   UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP |
				   UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM;
	ck_assert_uint_eq(kd->uffd_features & lazy_bits, lazy_bits);
	for (int id = KD_UFFD_FEATURE_FIRST; id <= KD_UFFD_FEATURE_LAST; id++)
		ck_assert_int_eq(kd->status[id] == KD_OK,
				 !!(kd->uffd_features & (1ULL << (id - KD_UFFD_FEATURE_FIRST))));
	ck_assert(kd->uffd_anon_ioctls & (1ULL << _UFFDIO_COPY));
	ck_assert(kd->uffd_anon_ioctls & (1ULL << _UFFDIO_ZEROPAGE));
	ck_assert(kd->uffd_anon_ioctls & (1ULL << _UFFDIO_WAKE));
	ck_assert(!(kd->uffd_anon_ioctls & (1ULL << _UFFDIO_CONTINUE))); /* not registered MINOR */
	ck_assert(kd->uffd_shmem_ioctls & (1ULL << _UFFDIO_CONTINUE));
	ck_assert(kd->uffd_shmem_ioctls & (1ULL << _UFFDIO_COPY));

	ck_assert_uint_gt(kd->vdso.vdso_size, 0);
	ck_assert_uint_eq(kd->vdso.vdso_size % PAGE_SIZE, 0);
	ck_assert_uint_eq(kd->vdso.vdso_start % PAGE_SIZE, 0);
	if (kd->vdso.vvar_size)
		ck_assert_int_eq((int64_t)(kd->vdso.vvar_start - kd->vdso.vdso_start), kd->vdso.vvar_off);
	ck_assert_uint_ge(kd->xstate_size, 576);

	/* everything dump, restore and lazy restore need is here */
	ck_assert_int_eq(kerndat_require(kd, KD_NEED_ALL), 0);
	free(kd);
}
END_TEST

START_TEST(test_probe_one_lazily)
{
	struct kerndat *kd = calloc(1, sizeof(*kd));
	ck_assert_ptr_nonnull(kd);

	ck_assert_int_eq(kerndat_probe(kd, KD_UFFD_SHMEM_MINOR_CONTRACT), KD_OK);
	/* it needed the UFFDIO_API answer, and nothing unrelated was probed */
	ck_assert_int_eq(kd->status[KD_UFFD], KD_OK);
	ck_assert_int_eq(kd->status[KD_UFFD_MINOR_SHMEM], KD_OK);
	ck_assert_int_eq(kd->status[KD_PTRACE_SEIZE], KD_UNKNOWN);
	ck_assert_int_eq(kd->status[KD_VDSO_LAYOUT], KD_UNKNOWN);
	/* an already probed result is kept, not probed again */
	kd->status[KD_MEMFD] = KD_MISSING;
	ck_assert_int_eq(kerndat_probe(kd, KD_MEMFD), KD_MISSING);
	ck_assert_int_eq(kerndat_probe(kd, KD_NR_FEATURES), KD_MISSING);
	free(kd);
}
END_TEST

START_TEST(test_contract_needs_minor)
{
	char detail[KD_DETAIL_LEN];

	/* With MINOR: the pre-populated page is a MINOR fault, the hole a MISSING one. */
	ck_assert_int_eq(kerndat_uffd_shmem_contract(UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM,
						     detail, sizeof(detail)),
			 0);
	ck_assert_ptr_nonnull(strstr(detail, "MINOR fault on page 0"));

	/* Without MINOR the range is registered MISSING only: the cached page is
	 * mapped by an ordinary fault, unseen, and the contract does not hold. */
	ck_assert_int_eq(kerndat_uffd_shmem_contract(UFFD_FEATURE_MISSING_SHMEM, detail, sizeof(detail)), -1);
	ck_assert_msg(strstr(detail, "no MINOR fault") != NULL, "%s", detail);
	ck_assert_msg(strstr(detail, "MISSING fault on page 1") != NULL, "%s", detail);

	/* A feature the kernel does not know: UFFDIO_API refuses, the contract fails. */
	ck_assert_int_eq(kerndat_uffd_shmem_contract(1ULL << 62 | UFFD_FEATURE_MINOR_SHMEM, detail,
						     sizeof(detail)),
			 -1);
	ck_assert_msg(strstr(detail, "uffd with features") != NULL, "%s", detail);
}
END_TEST

START_TEST(test_parse_vdso)
{
	static const char maps[] =
		"55d0c0000000-55d0c0002000 r--p 00000000 fe:01 131 /usr/bin/cat\n"
		"7ffc1a5f0000-7ffc1a611000 rw-p 00000000 00:00 0                          [stack]\n"
		"7ffc1a6fa000-7ffc1a6fe000 r--p 00000000 00:00 0                          [vvar]\n"
		"7ffc1a6fe000-7ffc1a700000 r--p 00000000 00:00 0                          [vvar_vclock]\n"
		"7ffc1a700000-7ffc1a702000 r-xp 00000000 00:00 0                          [vdso]\n"
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]";
	struct kd_vdso v;

	ck_assert_int_eq(kerndat_parse_vdso(maps, &v), 0);
	ck_assert_uint_eq(v.vdso_start, 0x7ffc1a700000ULL);
	ck_assert_uint_eq(v.vdso_size, 0x2000);
	ck_assert_uint_eq(v.vvar_size, 0x4000);
	ck_assert_int_eq(v.vvar_off, -0x6000);
	ck_assert_uint_eq(v.vvar_vclock_size, 0x2000);
	ck_assert_int_eq(v.vvar_vclock_off, -0x2000);
	ck_assert_uint_eq(v.vsyscall_start, 0xffffffffff600000ULL);
	ck_assert_uint_eq(v.vsyscall_size, 0x1000);

	/* No [vdso] (a name that only looks like it does not count). */
	ck_assert_int_eq(kerndat_parse_vdso("7f0000000000-7f0000001000 r-xp 00000000 00:00 0 [vdso]x\n"
					    "garbage line\n",
					    &v),
			 -1);
	ck_assert_uint_eq(v.vdso_size, 0);
	ck_assert_int_eq(kerndat_parse_vdso("", &v), -1);
}
END_TEST

START_TEST(test_require_reports_missing)
{
	struct kerndat *kd = calloc(1, sizeof(*kd));
	ck_assert_ptr_nonnull(kd);

	/* Pretend everything was probed OK but EVENT_REMAP: lazy is refused, dump is not. */
	for (int id = 0; id < KD_NR_FEATURES; id++)
		kd->status[id] = KD_OK;
	kd->status[KD_UFFD_EVENT_REMAP] = KD_MISSING;
	ck_assert_int_eq(kerndat_require(kd, KD_NEED_LAZY), -1);
	ck_assert_int_eq(kerndat_require(kd, KD_NEED_DUMP | KD_NEED_RESTORE), 0);
	/* informational features never block anything */
	kd->status[KD_UFFD_EVENT_REMAP] = KD_OK;
	kd->status[KD_GUEST_MEMFD_UFFD_MINOR] = KD_MISSING;
	kd->status[KD_CAP_SYS_RESOURCE] = KD_MISSING;
	ck_assert_int_eq(kerndat_require(kd, KD_NEED_ALL), 0);

	char buf[32];
	ck_assert_str_eq(kerndat_needs_str(KD_NEED_DUMP | KD_NEED_LAZY, buf, sizeof(buf)), "dump,lazy");
	ck_assert_str_eq(kerndat_needs_str(0, buf, sizeof(buf)), "-");
	free(kd);
}
END_TEST

START_TEST(test_no_leftovers)
{
	int before = count_fds();
	struct kerndat *kd = kd_new_probed();

	/* every probe child was reaped and every fd closed */
	errno = 0;
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	ck_assert_int_eq(count_fds(), before);
	free(kd);
}
END_TEST

START_TEST(test_check_command)
{
	char *present[] = { "check", "--feature", "memfd", NULL };
	char *list[] = { "check", "--feature", "UFFD_FEATURE_EVENT_FORK,uffd_shmem_minor_contract", NULL };
	char *criu_names[] = { "check", "--feature", "uffd,uffd-noncoop", NULL };
	char *timer_ids[] = { "check", "--feature", "timer_cr_ids", NULL };
	char *criu_unprobed[] = { "check", "--feature", "autofs", NULL };
	/* the network's, probed for real (TCP_REPAIR; the lock in a namespace of its own) */
	char *criu_net[] = { "check", "--feature", "tcp_half_closed,network_lock_nftables,nftables,has_ipt_legacy",
			     NULL };
	char *feature_list[] = { "check", "--feature", "list", NULL };
	char *before[] = { "--feature", "memfd", "check", NULL };
	char *unknown[] = { "check", "--feature", "no_such_feature", NULL };
	char *mixed[] = { "check", "--feature", "memfd,no_such_feature", NULL };
	char *all_and_one[] = { "check", "--all", "--feature", "memfd", NULL };
	char *bad_opt[] = { "check", "--no-such-option", NULL };
	char *help[] = { "check", "--help", NULL };
	char *plain[] = { "check", NULL };
	char *json[] = { "check", "--json", NULL };
	char *all[] = { "check", "--all", NULL };

	ck_assert_int_eq(run_check(3, present), 0);
	ck_assert_int_eq(run_check(3, list), 0);
	/* CRIU's names for what criu-lite probes; one it has no probe for is refused */
	ck_assert_int_eq(run_check(3, criu_names), 0);
	ck_assert_int_eq(run_check(3, timer_ids), 0); /* this kernel (6.14 and later) has it */
	ck_assert_int_eq(run_check(3, criu_unprobed), 1);
	ck_assert_int_eq(run_check(3, criu_net), 0);
	ck_assert_int_eq(run_check(3, feature_list), 0);
	/* options before the command, as CRIU takes them */
	ck_assert_int_eq(run_check(3, before), 0);
	ck_assert_int_eq(run_check(3, unknown), 1);
	ck_assert_int_eq(run_check(3, mixed), 1);
	ck_assert_int_eq(run_check(4, all_and_one), 1);
	ck_assert_int_eq(run_check(2, bad_opt), 1);
	ck_assert_int_eq(run_check(2, help), 0);

	/* "Looks good." exactly when kerndat_require is happy with everything */
	struct kerndat *kd = kd_new_probed();
	int want = kerndat_require(kd, KD_NEED_ALL) ? 1 : 0;
	ck_assert_int_eq(run_check(1, plain), want);
	ck_assert_int_eq(run_check(2, json), want);
	ck_assert_int_eq(run_check(2, all), want);

	/* --feature on a feature that may be missing: the status follows the probe */
	char *res[] = { "check", "--feature", "cap_sys_resource", NULL };
	ck_assert_int_eq(run_check(3, res), kd->status[KD_CAP_SYS_RESOURCE] == KD_OK ? 0 : 1);
	free(kd);
}
END_TEST

START_TEST(test_check_output)
{
	char path[] = "/tmp/check_kerndat.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);

	char *one[] = { "check", "--feature", "vdso_layout", NULL };
	fflush(stdout);
	int out = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	int rc = cli(3, one);
	fflush(stdout);
	dup2(out, STDOUT_FILENO);
	close(out);
	ck_assert_int_eq(rc, 0);

	char buf[1024] = "";
	ck_assert_int_gt(pread(fd, buf, sizeof(buf) - 1, 0), 0);
	close(fd);
	ck_assert_msg(strcmp(buf, "vdso_layout is supported\n") == 0, "%s", buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kerndat");
	TCase *tc = tcase_create("kerndat");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_table_consistent);
	tcase_add_test(tc, test_every_probe_definite);
	tcase_add_test(tc, test_known_present);
	tcase_add_test(tc, test_probe_one_lazily);
	tcase_add_test(tc, test_contract_needs_minor);
	tcase_add_test(tc, test_parse_vdso);
	tcase_add_test(tc, test_require_reports_missing);
	tcase_add_test(tc, test_no_leftovers);
	tcase_add_test(tc, test_check_command);
	tcase_add_test(tc, test_check_output);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
