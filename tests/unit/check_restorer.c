/*
 * Unit tests for restore and the restorer blob: the blob image, the args/sigframe
 * layouts against the kernel's, the sigframe builder (XSAVE header, restart rules),
 * and end-to-end runs of the real binary: /bin/sleep restored with identical maps,
 * and (without sanitizers) a forked child with a memory pattern and AVX state.
 */
#include <check.h>
#include <elf.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/restore-ctx.h"
#include "restorer-blob.h"

/* ---- the blob ---- */

START_TEST(test_blob_image)
{
	ck_assert_uint_gt(sizeof(rst_blob), 256);
	ck_assert_uint_lt(RST_BLOB_ENTRY, sizeof(rst_blob));
	ck_assert_uint_lt(RST_BLOB_GADGET + 2, sizeof(rst_blob));
	/* the gadget is a bare `syscall` */
	ck_assert_uint_eq(rst_blob[RST_BLOB_GADGET], 0x0f);
	ck_assert_uint_eq(rst_blob[RST_BLOB_GADGET + 1], 0x05);
}
END_TEST

/* The linked blob ($(B)/restorer/blob.elf) has no relocation section and no NOBITS
 * section (.bss would not be in the flat image), and the flat image matches it. */
START_TEST(test_blob_elf_no_relocations)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t len;
	char *elf;
	bool found_text = false;

	ck_assert_int_gt(n, 0);
	exe[n] = 0;
	snprintf(path, sizeof(path), "%s/../../restorer/blob.elf", dirname(exe));
	elf = read_file_str(AT_FDCWD, path, 1 << 24, &len);
	ck_assert_msg(elf != NULL, "no %s", path);
	const Elf64_Ehdr *eh = (const void *)elf;
	ck_assert_uint_ge(len, sizeof(*eh));
	ck_assert_int_eq(memcmp(eh->e_ident, ELFMAG, SELFMAG), 0);
	ck_assert_uint_le(eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), len);
	const Elf64_Shdr *sh = (const void *)(elf + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		ck_assert_msg(sh[i].sh_type != SHT_RELA && sh[i].sh_type != SHT_REL,
			      "section %d is a relocation section", i);
		ck_assert_msg(sh[i].sh_type != SHT_NOBITS || !(sh[i].sh_flags & SHF_ALLOC),
			      "section %d is NOBITS", i);
		if (sh[i].sh_type == SHT_PROGBITS && (sh[i].sh_flags & SHF_EXECINSTR) && sh[i].sh_addr == 0) {
			ck_assert_uint_le(sh[i].sh_offset + sh[i].sh_size, len);
			ck_assert_uint_le(sh[i].sh_size, sizeof(rst_blob));
			ck_assert_int_eq(memcmp(elf + sh[i].sh_offset, rst_blob, sh[i].sh_size), 0);
			found_text = true;
		}
	}
	ck_assert(found_text);
	free(elf);
}
END_TEST

/* ---- layouts ---- */

START_TEST(test_sigframe_layout)
{
	/* glibc's struct sigcontext is the kernel's */
	ck_assert_uint_eq(sizeof(struct rst_sigcontext), sizeof(struct sigcontext));
	ck_assert_uint_eq(offsetof(struct rst_sigcontext, r8), offsetof(struct sigcontext, r8));
	ck_assert_uint_eq(offsetof(struct rst_sigcontext, rdi), offsetof(struct sigcontext, rdi));
	ck_assert_uint_eq(offsetof(struct rst_sigcontext, rax), offsetof(struct sigcontext, rax));
	ck_assert_uint_eq(offsetof(struct rst_sigcontext, rsp), offsetof(struct sigcontext, rsp));
	ck_assert_uint_eq(offsetof(struct rst_sigcontext, rip), offsetof(struct sigcontext, rip));
	ck_assert_uint_eq(offsetof(struct rst_sigcontext, eflags), offsetof(struct sigcontext, eflags));
	ck_assert_uint_eq(offsetof(struct rst_sigcontext, cs), offsetof(struct sigcontext, cs));
	ck_assert_uint_eq(offsetof(struct rst_sigcontext, ss), offsetof(struct sigcontext, __pad0));
	ck_assert_uint_eq(offsetof(struct rst_sigcontext, fpstate), offsetof(struct sigcontext, fpstate));
	/* ucontext prefix up to the signal mask */
	ck_assert_uint_eq(offsetof(struct rst_ucontext, uc_mcontext), offsetof(ucontext_t, uc_mcontext));
	ck_assert_uint_eq(offsetof(struct rst_ucontext, uc_sigmask), offsetof(ucontext_t, uc_sigmask));
	ck_assert_uint_eq(offsetof(struct rst_ucontext, ss_size), offsetof(ucontext_t, uc_stack.ss_size));
	ck_assert_uint_eq(offsetof(struct rst_ucontext, ss_flags), offsetof(ucontext_t, uc_stack.ss_flags));
	ck_assert_uint_eq(offsetof(struct rst_sigframe, uc), 8);
	ck_assert_uint_eq(sizeof(struct rst_fpx_sw_bytes), 48);
	/* args: fixed-width, 8-byte aligned arrays */
	ck_assert_uint_eq(sizeof(struct rst_vma) % 8, 0);
	ck_assert_uint_eq(sizeof(struct rst_run) % 8, 0);
	ck_assert_uint_eq(sizeof(struct rst_thread) % 8, 0);
	ck_assert_uint_eq(sizeof(struct rst_args) % 8, 0);
	ck_assert_uint_le(sizeof(struct rst_sync) + 64 * 4, PAGE_SIZE);
}
END_TEST

/* ---- the sigframe builder ---- */

static UserRegsX86 regs;
static ThreadCoreEntry core;
static uint8_t xsave[4096];

static void core_setup(size_t xlen)
{
	user_regs_x86__init(&regs);
	thread_core_entry__init(&core);
	regs.ip = 0x401000;
	regs.sp = 0x7ffd0000;
	regs.ax = 42;
	regs.orig_ax = (uint64_t)-1;
	regs.cs = 0x33;
	regs.ss = 0x2b;
	regs.flags = 0x246;
	regs.r15 = 15;
	regs.di = 7;
	core.tid = 1234;
	core.gpregs = &regs;
	core.has_sigmask = true;
	core.sigmask = (1ULL << (SIGUSR1 - 1)) | (1ULL << (SIGKILL - 1));
	memset(xsave, 0xab, sizeof(xsave));
	/* XSAVE header: xstate_bv = x87|SSE|AVX|opmask|ZMM (0xe7), xcomp_bv 0 */
	uint64_t bv = 0xe7;
	memcpy(xsave + 512, &bv, 8);
	memset(xsave + 520, 0x55, 56); /* garbage the builder must clear */
	if (xlen) {
		core.has_xsave = true;
		core.xsave.data = xsave;
		core.xsave.len = xlen;
		core.has_xfeatures = true;
		core.xfeatures = 0x2e7;
	}
}

START_TEST(test_sigframe_xsave)
{
	static uint8_t buf[8192] __attribute__((aligned(64)));
	const uint32_t xsz = 2696;
	char err[128] = "";
	long n;

	core_setup(2696);
	n = rst_build_sigframe(buf, sizeof(buf), 0x100000000ULL, &core, xsz, 0xe7, err, sizeof(err));
	ck_assert_msg(n > 0, "%s", err);
	ck_assert_uint_eq((size_t)n, rst_sigframe_size(xsz));

	struct rst_sigframe *f = (void *)buf;
	struct rst_sigcontext *sc = &f->uc.uc_mcontext;
	ck_assert_uint_eq(sc->rip, 0x401000);
	ck_assert_uint_eq(sc->rsp, 0x7ffd0000);
	ck_assert_uint_eq(sc->rax, 42);
	ck_assert_uint_eq(sc->r15, 15);
	ck_assert_uint_eq(sc->rdi, 7);
	ck_assert_uint_eq(sc->cs, 0x33);
	ck_assert_uint_eq(sc->ss, 0x2b);
	ck_assert_uint_eq(f->uc.uc_flags, RST_UC_FP_XSTATE | RST_UC_SIGCONTEXT_SS | RST_UC_STRICT_RESTORE_SS);
	/* SIGKILL can't be blocked: dropped from the mask */
	ck_assert_uint_eq(f->uc.uc_sigmask, 1ULL << (SIGUSR1 - 1));
	ck_assert_int_eq(f->uc.ss_flags, RST_SS_DISABLE);

	ck_assert_uint_eq(sc->fpstate % 64, 0);
	ck_assert_uint_ge(sc->fpstate, 0x100000000ULL + sizeof(*f));
	uint8_t *fp = buf + (sc->fpstate - 0x100000000ULL);
	struct rst_fpx_sw_bytes sw;
	memcpy(&sw, fp + RST_FPX_SW_OFF, sizeof(sw));
	ck_assert_uint_eq(sw.magic1, RST_FP_XSTATE_MAGIC1);
	ck_assert_uint_eq(sw.xstate_size, xsz);
	ck_assert_uint_eq(sw.extended_size, xsz + 4);
	/* the dumped features, limited to the kernel's */
	ck_assert_uint_eq(sw.xfeatures, 0xe7);
	uint32_t m2;
	memcpy(&m2, fp + xsz, 4);
	ck_assert_uint_eq(m2, RST_FP_XSTATE_MAGIC2);
	uint64_t bv, comp;
	memcpy(&bv, fp + 512, 8);
	memcpy(&comp, fp + 520, 8);
	ck_assert_uint_eq(bv, 0xe7);
	ck_assert_uint_eq(comp, 0);
	/* register contents copied: FXSAVE legacy area and the AVX-512 state */
	ck_assert_uint_eq(fp[32], 0xab);
	ck_assert_uint_eq(fp[2000], 0xab);
}
END_TEST

START_TEST(test_sigframe_no_xsave)
{
	static uint8_t buf[8192] __attribute__((aligned(64)));
	char err[128];

	core_setup(0);
	ck_assert_int_gt(rst_build_sigframe(buf, sizeof(buf), 0x10000, &core, 2696, 0xe7, err, sizeof(err)), 0);
	struct rst_sigframe *f = (void *)buf;
	ck_assert_uint_eq(f->uc.uc_mcontext.fpstate, 0);
	ck_assert_uint_eq(f->uc.uc_flags & RST_UC_FP_XSTATE, 0);
}
END_TEST

START_TEST(test_sigframe_rejects)
{
	static uint8_t buf[8192] __attribute__((aligned(64)));
	char err[128];

	core_setup(100); /* shorter than FXSAVE + header */
	ck_assert_int_lt(rst_build_sigframe(buf, sizeof(buf), 0x10000, &core, 2696, 0xe7, err, sizeof(err)), 0);
	core_setup(2696);
	/* misaligned frame address, no room */
	ck_assert_int_lt(rst_build_sigframe(buf, sizeof(buf), 0x10008, &core, 2696, 0xe7, err, sizeof(err)), 0);
	ck_assert_int_lt(rst_build_sigframe(buf, 1000, 0x10000, &core, 2696, 0xe7, err, sizeof(err)), 0);
	core.gpregs = NULL;
	ck_assert_int_lt(rst_build_sigframe(buf, sizeof(buf), 0x10000, &core, 2696, 0xe7, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_sigframe_altstack)
{
	static uint8_t buf[8192] __attribute__((aligned(64)));
	SigaltstackEntry ss = SIGALTSTACK_ENTRY__INIT;
	char err[128];

	core_setup(2696);
	ss.ss_sp = 0x7f0000000000;
	ss.ss_size = 65536;
	ss.ss_flags = 1; /* SS_ONSTACK: a state, dropped */
	core.sigaltstack = &ss;
	ck_assert_int_gt(rst_build_sigframe(buf, sizeof(buf), 0x10000, &core, 2696, 0xe7, err, sizeof(err)), 0);
	struct rst_sigframe *f = (void *)buf;
	ck_assert_uint_eq(f->uc.ss_sp, 0x7f0000000000);
	ck_assert_uint_eq(f->uc.ss_size, 65536);
	ck_assert_int_eq(f->uc.ss_flags, 0);
}
END_TEST

START_TEST(test_syscall_restart)
{
	uint64_t ax, ip;
	struct {
		int64_t ax, orig;
		int64_t want_ax;
		uint64_t want_ip;
	} cases[] = {
		{ -512, 202, 202, 0x1000 - 2 }, /* ERESTARTSYS: restart */
		{ -513, 35, 35, 0x1000 - 2 },   /* ERESTARTNOINTR */
		{ -514, 7, 7, 0x1000 - 2 },     /* ERESTARTNOHAND */
		{ -516, 35, -EINTR, 0x1000 },   /* ERESTART_RESTARTBLOCK: can't resume */
		{ -4, 0, -4, 0x1000 },          /* an ordinary error: untouched */
		{ -512, -1, -512, 0x1000 },     /* not in a syscall */
		{ 3, 1, 3, 0x1000 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		ax = cases[i].ax;
		ip = 0x1000;
		rst_fixup_syscall_restart(&ax, cases[i].orig, &ip);
		ck_assert_int_eq((int64_t)ax, cases[i].want_ax);
		ck_assert_uint_eq(ip, cases[i].want_ip);
	}
}
END_TEST

START_TEST(test_probe_xstate)
{
	uint32_t size;
	uint64_t feat;
	ck_assert_int_eq(rst_probe_xstate(&size, &feat), 0);
	ck_assert_uint_ge(size, RST_XSAVE_MIN_SIZE);
	ck_assert_uint_eq(feat & 3, 3); /* x87 and SSE */
}
END_TEST

/* The restorer's area: clear of every dumped VMA (with room for stacks to grow down
 * below them) and of this process's mappings. */
START_TEST(test_find_area)
{
	struct cr_options opts;
	cr_options_init(&opts);
	struct rst_ctx ctx = { .opts = &opts };
	struct rst_task task = { 0 };
	struct img_task itask = { 0 };
	PstreeEntry pe = PSTREE_ENTRY__INIT;
	MmEntry mm = MM_ENTRY__INIT;
	VmaEntry v[3] = { VMA_ENTRY__INIT, VMA_ENTRY__INIT, VMA_ENTRY__INIT };
	VmaEntry *vp[3] = { &v[0], &v[1], &v[2] };
	uint64_t start, size = 3ULL << 20;

	/* the dumped process occupies 4 GiB .. 12 GiB except a 16 MiB hole (too small
	 * with the stack margin) and a big hole at 8 GiB */
	v[0].start = 4ULL << 30;
	v[0].end = (6ULL << 30) - (16ULL << 20);
	v[1].start = 6ULL << 30;
	v[1].end = 8ULL << 30;
	v[2].start = (8ULL << 30) + (512ULL << 20);
	v[2].end = 12ULL << 30;
	mm.vmas = vp;
	mm.n_vmas = 3;
	itask.pe = &pe;
	itask.mm = &mm;
	task.img = &itask;
	ctx.tasks = &task;
	ctx.nr_tasks = 1;
	ck_assert_int_eq(rst_find_area(&ctx, size, &start), 0);
	ck_assert_uint_eq(start % (2ULL << 20), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(start + size + (64ULL << 20) <= v[i].start || start >= v[i].end,
			      "area 0x%llx overlaps VMA %d", (unsigned long long)start, i);
	/* and it is free here */
	void *p = mmap((void *)(uintptr_t)start, size, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ck_assert_ptr_eq(p, (void *)(uintptr_t)start);
	munmap(p, size);
}
END_TEST

/* ---- end to end, through the binary ---- */

static char bin[PATH_MAX];

static bool find_bin(void)
{
	const char *e = getenv("CRIU_LITE_BIN");
	char exe[PATH_MAX];
	ssize_t n;

	if (e && *e) {
		snprintf(bin, sizeof(bin), "%s", e);
		return access(bin, X_OK) == 0;
	}
	/* $(B)/tests/unit/check_restorer -> $(B)/criu-lite */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	snprintf(bin, sizeof(bin), "%s/../../criu-lite", dirname(exe));
	return access(bin, X_OK) == 0;
}

static int run_criu(char *const argv[], pid_t *ret_bg)
{
	pid_t p = fork();
	int st;

	if (p == 0) {
		int fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		syscall(SYS_close_range, 3, ~0U, 0);
		execv(bin, argv);
		_exit(127);
	}
	if (ret_bg) {
		*ret_bg = p;
		return 0;
	}
	if (waitpid(p, &st, 0) != p)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void wait_gone(pid_t pid)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/%d", pid);
	for (int i = 0; i < 1000 && access(path, F_OK) == 0; i++)
		usleep(10000);
}

static char *read_maps(pid_t pid)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	return read_file_str(AT_FDCWD, path, 1 << 20, NULL);
}

static char tmpdir[64];

static void mk_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_restorer.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "can't remove %s\n", tmpdir);
}

/* /bin/sleep: dumped, restored detached onto the same pid, maps identical. */
START_TEST(test_e2e_sleep)
{
	pid_t pid, rst;
	char *before, *after;
	char pidfile[128], pidbuf[32] = "";

	if (!find_bin()) {
		fprintf(stderr, "# skip: no criu-lite binary (set CRIU_LITE_BIN)\n");
		return;
	}
	mk_tmpdir();
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		setsid();
		execl("/bin/sleep", "sleep", "1000", NULL);
		_exit(127);
	}
	usleep(200000);
	before = read_maps(pid);
	ck_assert_ptr_nonnull(before);

	char pids[16];
	snprintf(pids, sizeof(pids), "%d", pid);
	char *dump_argv[] = { "criu-lite", "dump", "-t", pids, "-D", tmpdir, NULL };
	ck_assert_int_eq(run_criu(dump_argv, NULL), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid); /* killed by the dump: reap it */

	snprintf(pidfile, sizeof(pidfile), "%s/rst.pid", tmpdir);
	char *rst_argv[] = { "criu-lite", "restore", "-D", tmpdir, "-d", "--pidfile", pidfile, NULL };
	ck_assert_int_eq(run_criu(rst_argv, NULL), 0);
	char *pf = read_file_str(AT_FDCWD, pidfile, 64, NULL);
	ck_assert_ptr_nonnull(pf);
	snprintf(pidbuf, sizeof(pidbuf), "%s", pf);
	free(pf);
	ck_assert_int_eq(atoi(pidbuf), pid);
	after = read_maps(pid);
	kill(pid, SIGKILL);
	ck_assert_ptr_nonnull(after);
	ck_assert_msg(strcmp(before, after) == 0, "maps differ:\n%s\n----\n%s", before, after);
	free(before);
	free(after);
	wait_gone(pid);
	(void)rst;
	rm_tmpdir();
}
END_TEST

/* A failing restore creates nothing and says why: the pid is taken. */
START_TEST(test_e2e_pid_taken)
{
	pid_t pid;
	char pids[16];

	if (!find_bin()) {
		fprintf(stderr, "# skip: no criu-lite binary (set CRIU_LITE_BIN)\n");
		return;
	}
	mk_tmpdir();
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		setsid();
		execl("/bin/sleep", "sleep", "1000", NULL);
		_exit(127);
	}
	usleep(100000);
	snprintf(pids, sizeof(pids), "%d", pid);
	char *dump_argv[] = { "criu-lite", "dump", "-t", pids, "-D", tmpdir, "--leave-running", NULL };
	ck_assert_int_eq(run_criu(dump_argv, NULL), 0);
	char *rst_argv[] = { "criu-lite", "restore", "-D", tmpdir, "-d", NULL };
	ck_assert_int_ne(run_criu(rst_argv, NULL), 0);
	ck_assert_int_eq(kill(pid, 0), 0); /* the original is untouched */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	rm_tmpdir();
}
END_TEST

/* A corrupt page is caught inside the blob (crc32c): the restore fails, says so, and
 * leaves nothing behind. */
START_TEST(test_e2e_corrupt_page)
{
	pid_t pid;
	char pids[16], path[128];
	int fd;
	struct stat st;

	if (!find_bin()) {
		fprintf(stderr, "# skip: no criu-lite binary (set CRIU_LITE_BIN)\n");
		return;
	}
	mk_tmpdir();
	pid = fork();
	if (pid == 0) {
		int nfd = open("/dev/null", O_RDWR);
		dup2(nfd, 0);
		dup2(nfd, 1);
		dup2(nfd, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		setsid();
		execl("/bin/sleep", "sleep", "1000", NULL);
		_exit(127);
	}
	usleep(200000);
	snprintf(pids, sizeof(pids), "%d", pid);
	char *dump_argv[] = { "criu-lite", "dump", "-t", pids, "-D", tmpdir, NULL };
	ck_assert_int_eq(run_criu(dump_argv, NULL), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	/* flip a byte in the last stored page */
	snprintf(path, sizeof(path), "%s/pages-%d.img", tmpdir, pid);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_gt(st.st_size, 4096 + 4096);
	char b;
	ck_assert_int_eq(pread(fd, &b, 1, st.st_size - 100), 1);
	b ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &b, 1, st.st_size - 100), 1);
	close(fd);
	char *rst_argv[] = { "criu-lite", "restore", "-D", tmpdir, "-d", NULL };
	ck_assert_int_ne(run_criu(rst_argv, NULL), 0);
	usleep(100000);
	ck_assert_int_ne(kill(pid, 0), 0); /* nothing left running with the pid */
	rm_tmpdir();
}
END_TEST

/* A dump from a kernel with another vDSO is refused before anything is created. */
START_TEST(test_e2e_vdso_mismatch)
{
	pid_t pid;
	char pids[16];
	int dfd;
	struct img *img;
	InventoryEntry *inv;
	uint32_t bogus;

	if (!find_bin()) {
		fprintf(stderr, "# skip: no criu-lite binary (set CRIU_LITE_BIN)\n");
		return;
	}
	mk_tmpdir();
	pid = fork();
	if (pid == 0) {
		int nfd = open("/dev/null", O_RDWR);
		dup2(nfd, 0);
		dup2(nfd, 1);
		dup2(nfd, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		setsid();
		execl("/bin/sleep", "sleep", "1000", NULL);
		_exit(127);
	}
	usleep(200000);
	snprintf(pids, sizeof(pids), "%d", pid);
	char *dump_argv[] = { "criu-lite", "dump", "-t", pids, "-D", tmpdir, NULL };
	ck_assert_int_eq(run_criu(dump_argv, NULL), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);

	dfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dfd, 0);
	inv = img_read_inventory(dfd);
	ck_assert_ptr_nonnull(inv);
	ck_assert_msg(inv->has_vdso_digest && inv->vdso_digest.len == 4, "the dump records no vDSO digest");
	uint8_t *orig = inv->vdso_digest.data;
	memcpy(&bogus, orig, 4);
	bogus ^= 0xdeadbeef;
	inv->vdso_digest.data = (uint8_t *)&bogus;
	img = img_open(dfd, IMG_INVENTORY, O_WRONLY, 0);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_write(img, inv), 0);
	ck_assert_int_eq(img_close(img), 0);
	inv->vdso_digest.data = orig;
	img_free_msg(NULL, inv);
	close(dfd);

	char *rst_argv[] = { "criu-lite", "restore", "-D", tmpdir, "-d", NULL };
	ck_assert_int_ne(run_criu(rst_argv, NULL), 0);
	ck_assert_int_ne(kill(pid, 0), 0); /* nothing was created */
	rm_tmpdir();
}
END_TEST

#define PATTERN_MB 32

static void raw_sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(SYS_nanosleep), "D"(&ts), "S"(0) : "rcx", "r11", "memory");
}

/* The child: a memory pattern, xmm15 set, spins until told to verify. */
static void __attribute__((noreturn)) pattern_child(const char *ready, const char *go)
{
	size_t len = (size_t)PATTERN_MB << 20;
	uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t x[2] = { 0x1122334455667788ULL, 0x99aabbccddeeff00ULL }, y[2];
	int bad = 0, fd;

	for (size_t i = 0; i < len / 8; i += 3)
		p[i] = i * 0x9e3779b97f4a7c15ULL;
	__asm__ volatile("movdqu %0, %%xmm15" ::"m"(x));
	fd = open(ready, O_WRONLY | O_CREAT, 0600);
	close(fd);
	while (access(go, F_OK) != 0)
		raw_sleep_ms(20);
	__asm__ volatile("movdqu %%xmm15, %0" : "=m"(y));
	if (memcmp(x, y, sizeof(x)))
		bad |= 1;
	for (size_t i = 0; i < len / 8; i++)
		if (p[i] != (i % 3 ? 0 : i * 0x9e3779b97f4a7c15ULL)) {
			bad |= 2;
			break;
		}
	_exit(bad ? 10 + bad : 0);
}

START_TEST(test_e2e_pattern)
{
	char ready[128], go[128], pids[16];
	pid_t pid, rst;
	int st;

#if defined(__SANITIZE_ADDRESS__)
	fprintf(stderr, "# skip: a forked ASan child has terabytes of shadow mappings\n");
	return;
#endif
	if (!find_bin()) {
		fprintf(stderr, "# skip: no criu-lite binary (set CRIU_LITE_BIN)\n");
		return;
	}
	mk_tmpdir();
	snprintf(ready, sizeof(ready), "%s/ready", tmpdir);
	snprintf(go, sizeof(go), "%s/go", tmpdir);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		setsid();
		pattern_child(ready, go);
	}
	for (int i = 0; i < 500 && access(ready, F_OK) != 0; i++)
		usleep(10000);
	ck_assert_int_eq(access(ready, F_OK), 0);
	snprintf(pids, sizeof(pids), "%d", pid);
	char *dump_argv[] = { "criu-lite", "dump", "-t", pids, "-D", tmpdir, NULL };
	ck_assert_int_eq(run_criu(dump_argv, NULL), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);

	/* foreground restore: its exit status is the child's */
	char *rst_argv[] = { "criu-lite", "restore", "-D", tmpdir, NULL };
	run_criu(rst_argv, &rst);
	for (int i = 0; i < 500 && kill(pid, 0) != 0; i++)
		usleep(10000);
	usleep(100000);
	close(open(go, O_WRONLY | O_CREAT, 0600));
	ck_assert_int_eq(waitpid(rst, &st, 0), rst);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "restored child: status 0x%x", st);
	rm_tmpdir();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("restorer");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	log_init(LOG_ERROR, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_blob_image);
	tcase_add_test(tc, test_blob_elf_no_relocations);
	tcase_add_test(tc, test_sigframe_layout);
	tcase_add_test(tc, test_sigframe_xsave);
	tcase_add_test(tc, test_sigframe_no_xsave);
	tcase_add_test(tc, test_sigframe_rejects);
	tcase_add_test(tc, test_sigframe_altstack);
	tcase_add_test(tc, test_syscall_restart);
	tcase_add_test(tc, test_probe_xstate);
	tcase_add_test(tc, test_find_area);
	tcase_add_test(tc, test_e2e_sleep);
	tcase_add_test(tc, test_e2e_pid_taken);
	tcase_add_test(tc, test_e2e_corrupt_page);
	tcase_add_test(tc, test_e2e_vdso_mismatch);
	tcase_add_test(tc, test_e2e_pattern);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
