/*
 * Unit tests for the fd kinds (criu-lite/files/): the pure parts (fdinfo fields,
 * " (deleted)"), the identity of descriptions (kcmp order), the kind table, and
 * end-to-end runs of the real binary for what the integration programs can't set
 * up: pipes whose other ends are outside the dumped tree (a program's stdin and
 * stdout), restored onto fds given with --inherit-fd, or onto new pipes with a
 * warning without it.
 */
#include <check.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

/* ---- pure parts ---- */

START_TEST(test_fdinfo_u64)
{
	const char *t = "pos:\t0\nflags:\t02004002\nmnt_id:\t15\nino:\t1057\neventfd-count:  2a\n"
			"eventfd-semaphore: 1\nclockid: 1\n";
	uint64_t v;

	ck_assert_int_eq(fdinfo_u64(t, "pos", 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(fdinfo_u64(t, "flags", 8, &v), 0);
	ck_assert_uint_eq(v, 02004002);
	ck_assert_int_eq(fdinfo_u64(t, "eventfd-count", 16, &v), 0);
	ck_assert_uint_eq(v, 0x2a);
	ck_assert_int_eq(fdinfo_u64(t, "eventfd-semaphore", 10, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(fdinfo_u64(t, "clockid", 10, &v), 0);
	ck_assert_uint_eq(v, 1);
	/* a prefix of another name is not that name */
	ck_assert_int_eq(fdinfo_u64(t, "eventfd", 16, &v), -1);
	ck_assert_int_eq(fdinfo_u64(t, "ticks", 10, &v), -1);
	ck_assert_int_eq(fdinfo_u64("ticks: x1\n", "ticks", 10, &v), -1);
}
END_TEST

START_TEST(test_fdinfo_pair)
{
	const char *t = "clockid: 1\nticks: 3\nsettime flags: 01\nit_value: (4, 972492745)\nit_interval: (0, 20000000)\n";
	uint64_t a, b;

	ck_assert_int_eq(fdinfo_pair(t, "it_value", &a, &b), 0);
	ck_assert_uint_eq(a, 4);
	ck_assert_uint_eq(b, 972492745);
	ck_assert_int_eq(fdinfo_pair(t, "it_interval", &a, &b), 0);
	ck_assert_uint_eq(a, 0);
	ck_assert_uint_eq(b, 20000000);
	ck_assert_int_eq(fdinfo_u64(t, "settime flags", 8, &a), 0);
	ck_assert_uint_eq(a, 1);
	ck_assert_int_eq(fdinfo_pair(t, "ticks", &a, &b), -1);
	ck_assert_int_eq(fdinfo_pair(t, "it_val", &a, &b), -1);
}
END_TEST

START_TEST(test_epoll_line)
{
	EpollTfdEntry t = EPOLL_TFD_ENTRY__INIT;

	ck_assert_int_eq(epoll_parse_tfd("tfd:        3 events:       19 data:             1234  pos:0 ino:40e sdev:10",
					 &t), 0);
	ck_assert_uint_eq(t.tfd, 3);
	ck_assert_uint_eq(t.events, 0x19);
	ck_assert_uint_eq(t.data, 0x1234);
	ck_assert_uint_eq(t.ino, 0x40e);
	ck_assert_uint_eq(t.sdev, 0x10);
	ck_assert_int_eq(epoll_parse_tfd("tfd: 5 events: 40000000 data: ffffffffffffffff  pos:0 ino:1 sdev:fe00000",
					 &t), 0);
	ck_assert_uint_eq(t.events, 0x40000000);
	ck_assert_uint_eq(t.data, UINT64_MAX);
	ck_assert_uint_eq(t.sdev, 0xfe00000);
	ck_assert_int_eq(epoll_parse_tfd("tfd: 5 events: 1", &t), -1);
	ck_assert_int_eq(epoll_parse_tfd("pos:\t0", &t), -1);
}
END_TEST

START_TEST(test_inotify_line)
{
	InotifyWdEntry w = INOTIFY_WD_ENTRY__INIT;
	uint8_t h[128];
	size_t n;

	ck_assert_int_eq(inotify_parse_wd("inotify wd:1 ino:3c51a sdev:fe00000 mask:80000100 ignored_mask:0 "
					  "fhandle-bytes:8 fhandle-type:1 f_handle:1ac5030000000000",
					  &w, h, &n), 0);
	ck_assert_uint_eq(w.wd, 1);
	ck_assert_uint_eq(w.ino, 0x3c51a);
	ck_assert_uint_eq(w.s_dev, 0xfe00000);
	ck_assert_uint_eq(w.mask, 0x80000100);
	ck_assert_uint_eq(w.handle_type, 1);
	ck_assert_uint_eq(n, 8);
	ck_assert_uint_eq(h[0], 0x1a);
	ck_assert_uint_eq(h[1], 0xc5);
	ck_assert_uint_eq(h[7], 0);
	/* the handle must be as long as it says */
	ck_assert_int_eq(inotify_parse_wd("inotify wd:1 ino:1 sdev:1 mask:1 ignored_mask:0 fhandle-bytes:8 "
					  "fhandle-type:1 f_handle:1ac5",
					  &w, h, &n), -1);
	ck_assert_int_eq(inotify_parse_wd("inotify wd:1 ino:1 sdev:1 mask:1 ignored_mask:0 fhandle-bytes:2 "
					  "fhandle-type:1 f_handle:zz00",
					  &w, h, &n), -1);
}
END_TEST

START_TEST(test_strip_deleted)
{
	char a[] = "/tmp/x (deleted)", b[] = "/tmp/x", c[] = " (deleted)", d[] = "/a (deleted) b";

	ck_assert(files_strip_deleted(a));
	ck_assert_str_eq(a, "/tmp/x");
	ck_assert(!files_strip_deleted(b));
	ck_assert(!files_strip_deleted(c)); /* nothing before it: not a path */
	ck_assert(!files_strip_deleted(d));
}
END_TEST

/* The table: each fd of this process goes to the kind it is. */
START_TEST(test_kind_table)
{
	struct {
		int fd;
		const char *want; /* kind name, or what a refused kind says */
	} c[10];
	int p[2], n = 0;
	char path[64];

	ck_assert_int_eq(pipe(p), 0);
	c[n].fd = p[0], c[n++].want = "pipe";
	c[n].fd = open("/dev/null", O_RDONLY), c[n++].want = "character device";
	c[n].fd = open("/", O_RDONLY | O_DIRECTORY), c[n++].want = "directory";
	c[n].fd = open("/proc/self/status", O_RDONLY), c[n++].want = "regular file";
	c[n].fd = memfd_create("kind", 0), c[n++].want = "shmem object";
	c[n].fd = eventfd(0, 0), c[n++].want = "eventfd";
	c[n].fd = syscall(SYS_userfaultfd, O_CLOEXEC), c[n++].want = "a userfaultfd";
	for (int i = 0; i < n; i++) {
		struct fd_probe pr;
		const struct fd_ops *ops;

		ck_assert_int_ge(c[i].fd, 0);
		memset(&pr, 0, sizeof(pr));
		pr.pid = getpid();
		pr.fd = c[i].fd;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", c[i].fd);
		ck_assert_int_eq(proc_readlink(path, pr.link, sizeof(pr.link)), 0);
		ck_assert_int_eq(stat(path, &pr.st), 0);
		ops = fd_kind_of_probe(&pr);
		ck_assert_ptr_nonnull(ops);
		ck_assert_msg(!strcmp(ops->name, c[i].want), "fd %d (%s): kind %s, want %s", c[i].fd, pr.link,
			      ops->name, c[i].want);
		if (ops->type)
			ck_assert_ptr_eq(fd_kind_of_type(ops->type), ops);
	}
	ck_assert_ptr_null(fd_kind_of_type(0));
	ck_assert_ptr_null(fd_kind_of_type(999));
}
END_TEST

/* The identity index: dup'ed and inherited fds are one description, a second open
 * of the same file is another; found with kcmp whatever the order of registration. */
START_TEST(test_identity)
{
	struct dump_ctx ctx;
	int fds[6];
	pid_t me = getpid();
	struct stat st;

	memset(&ctx, 0, sizeof(ctx));
	for (int i = 0; i < 6; i++) {
		fds[i] = i % 2 ? dup(fds[i - 1]) : open("/proc/self/exe", O_RDONLY);
		ck_assert_int_ge(fds[i], 0);
	}
	ck_assert_int_eq(fstat(fds[0], &st), 0);
	ctx.files = calloc(8, sizeof(*ctx.files));
	ctx.cap_files = 8;
	for (int i = 0; i < 6; i += 2) {
		int err;
		struct dump_file *f = &ctx.files[ctx.nr_files];
		ck_assert_ptr_null(dump_file_lookup(&ctx, me, fds[i], &st, &err));
		ck_assert_int_eq(err, 0);
		f->id = ctx.nr_files + 1;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->pid = me;
		f->fd = fds[i];
		ctx.nr_files++;
		ck_assert_int_eq(dump_file_index(&ctx, ctx.nr_files - 1), 0);
	}
	for (int i = 5; i >= 0; i--) {
		int err;
		struct dump_file *f = dump_file_lookup(&ctx, me, fds[i], &st, &err);
		ck_assert_int_eq(err, 0);
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(f->fd, fds[i - i % 2]);
	}
	{
		const size_t *idx;
		ck_assert_uint_eq(dump_file_candidates(&ctx, st.st_dev, st.st_ino, &idx), 3);
		ck_assert_uint_eq(dump_file_candidates(&ctx, st.st_dev, st.st_ino + 1, &idx), 0);
	}
	dump_file_index_free(&ctx);
	free(ctx.files);
	for (int i = 0; i < 6; i++)
		close(fds[i]);
}
END_TEST

/* ---- end to end, through the binary ---- */

static char bin[PATH_MAX];
static char tmpdir[64];

static bool find_bin(void)
{
	const char *e = getenv("CRIU_LITE_BIN");
	char exe[PATH_MAX];
	ssize_t n;

	if (e && *e) {
		snprintf(bin, sizeof(bin), "%s", e);
		return access(bin, X_OK) == 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	snprintf(bin, sizeof(bin), "%s/../../criu-lite", dirname(exe));
	return access(bin, X_OK) == 0;
}

/* Run criu-lite with argv, keeping fds keep[] open (everything else above 2 closed). */
static int run_criu(char *const argv[], const int *keep, int nkeep)
{
	pid_t p = fork();
	int st;

	if (p == 0) {
		int fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		for (int i = 3; i < 1024; i++) {
			bool k = false;
			for (int j = 0; j < nkeep; j++)
				k |= keep[j] == i;
			if (!k)
				close(i);
		}
		execv(bin, argv);
		_exit(127);
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

static void mk_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_files.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "can't remove %s\n", tmpdir);
}

static unsigned long ino_of(int fd)
{
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	return st.st_ino;
}

/* Read up to len bytes within 5 s. */
static ssize_t read_within(int fd, char *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		return -1;
	return read(fd, buf, len);
}

/* /bin/cat in a session of its own, stdin in, stdout out (or the file out_path,
 * created, when out < 0), stderr /dev/null, nothing else open. Its pid. */
static pid_t spawn_cat(int in, int out, const char *out_path)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (out < 0)
			out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(in, 0);
		dup2(out, 1);
		dup2(null, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		setsid();
		execl("/bin/cat", "cat", NULL);
		_exit(127);
	}
	return pid;
}

/* /bin/cat with its stdin and stdout pipes to us; dumped. Its pid. */
static pid_t dump_cat(unsigned long *ret_in_ino, unsigned long *ret_out_ino)
{
	int in[2], out[2];
	char pids[16], buf[16];
	pid_t pid;

	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	pid = spawn_cat(in[0], out[1], NULL);
	close(in[0]);
	close(out[1]);
	/* it runs: what we write comes back */
	ck_assert_int_eq(write(in[1], "one\n", 4), 4);
	ck_assert_int_eq(read_within(out[0], buf, sizeof(buf)), 4);
	*ret_in_ino = ino_of(in[1]);
	*ret_out_ino = ino_of(out[0]);
	snprintf(pids, sizeof(pids), "%d", pid);
	char *dump_argv[] = { "criu-lite", "dump", "-t", pids, "-D", tmpdir, "-o", "dump.log", NULL };
	ck_assert_int_eq(run_criu(dump_argv, NULL, 0), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	close(in[1]);
	close(out[0]);
	wait_gone(pid);
	return pid;
}

/* The other ends of a program's stdin and stdout were ours: with --inherit-fd the
 * restored program reads from and writes to new pipes we hand in. */
START_TEST(test_e2e_inherit_pipes)
{
	unsigned long in_ino, out_ino;
	int in[2], out[2], st;
	char spec_in[64], spec_out[64], buf[64];
	pid_t pid, rst;

	if (!find_bin()) {
		fprintf(stderr, "# skip: no criu-lite binary (set CRIU_LITE_BIN)\n");
		return;
	}
	mk_tmpdir();
	pid = dump_cat(&in_ino, &out_ino);
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	snprintf(spec_in, sizeof(spec_in), "fd[%d]:pipe:[%lu]", in[0], in_ino);
	snprintf(spec_out, sizeof(spec_out), "fd[%d]:pipe:[%lu]", out[1], out_ino);
	rst = fork();
	ck_assert_int_ge(rst, 0);
	if (rst == 0) {
		int keep[] = { in[0], out[1] };
		char *argv[] = { "criu-lite", "restore", "-D", tmpdir, "-o", "restore.log", "--inherit-fd", spec_in,
				 "--inherit-fd", spec_out, NULL };
		close(in[1]);
		close(out[0]);
		_exit(run_criu(argv, keep, 2));
	}
	close(in[0]);
	close(out[1]);
	ck_assert_int_eq(write(in[1], "two\n", 4), 4);
	ck_assert_int_eq(read_within(out[0], buf, sizeof(buf)), 4);
	ck_assert(!memcmp(buf, "two\n", 4));
	/* EOF on its stdin: cat ends, and so does the restore, with its status */
	close(in[1]);
	ck_assert_int_eq(waitpid(rst, &st, 0), rst);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "restore status 0x%x", st);
	ck_assert_int_eq(read_within(out[0], buf, sizeof(buf)), 0);
	close(out[0]);
	wait_gone(pid);
	rm_tmpdir();
}
END_TEST

/* Without --inherit-fd: new pipes whose other ends are closed, and a warning that
 * names the pipe and the option. cat sees EOF at once and ends with status 0. */
START_TEST(test_e2e_external_pipes_warned)
{
	unsigned long in_ino, out_ino;
	char *log, want[64], path[128];
	pid_t pid;

	if (!find_bin()) {
		fprintf(stderr, "# skip: no criu-lite binary (set CRIU_LITE_BIN)\n");
		return;
	}
	mk_tmpdir();
	pid = dump_cat(&in_ino, &out_ino);
	char *argv[] = { "criu-lite", "restore", "-D", tmpdir, "-o", "restore.log", NULL };
	ck_assert_int_eq(run_criu(argv, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/restore.log", tmpdir);
	log = read_file_str(AT_FDCWD, path, 1 << 20, NULL);
	ck_assert_ptr_nonnull(log);
	snprintf(want, sizeof(want), "--inherit-fd fd[N]:pipe:[%lu]", in_ino);
	ck_assert_msg(strstr(log, want), "no '%s' in the restore log:\n%s", want, log);
	snprintf(want, sizeof(want), "--inherit-fd fd[N]:pipe:[%lu]", out_ino);
	ck_assert_msg(strstr(log, want), "no '%s' in the restore log:\n%s", want, log);
	free(log);
	wait_gone(pid);
	rm_tmpdir();
}
END_TEST

/* CRIU's first --inherit-fd example: a program's log file replaced at restore. cat
 * reads a pipe of ours and writes old.log; restored with fd[N]:PATH-without-'/', it
 * writes new.log (and the pipe comes from --inherit-fd too). */
START_TEST(test_e2e_inherit_file)
{
	int in[2], nin[2], newfd, st;
	char pids[16], oldp[128], newp[128], key[160], spec_in[64], buf[64];
	unsigned long in_ino;
	pid_t pid, rst;

	if (!find_bin()) {
		fprintf(stderr, "# skip: no criu-lite binary (set CRIU_LITE_BIN)\n");
		return;
	}
	mk_tmpdir();
	snprintf(oldp, sizeof(oldp), "%s/old.log", tmpdir);
	snprintf(newp, sizeof(newp), "%s/new.log", tmpdir);
	ck_assert_int_eq(pipe(in), 0);
	pid = spawn_cat(in[0], -1, oldp);
	close(in[0]);
	ck_assert_int_eq(write(in[1], "old\n", 4), 4);
	for (int i = 0; i < 500; i++) {
		struct stat sb;
		if (stat(oldp, &sb) == 0 && sb.st_size == 4)
			break;
		usleep(10000);
	}
	in_ino = ino_of(in[1]);
	snprintf(pids, sizeof(pids), "%d", pid);
	{
		char *argv[] = { "criu-lite", "dump", "-t", pids, "-D", tmpdir, "-o", "dump.log", NULL };
		ck_assert_int_eq(run_criu(argv, NULL, 0), 0);
	}
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	close(in[1]);
	wait_gone(pid);
	ck_assert_int_eq(pipe(nin), 0);
	newfd = open(newp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(newfd, 0);
	snprintf(key, sizeof(key), "fd[%d]:%s", newfd, oldp + 1);
	snprintf(spec_in, sizeof(spec_in), "fd[%d]:pipe:[%lu]", nin[0], in_ino);
	rst = fork();
	ck_assert_int_ge(rst, 0);
	if (rst == 0) {
		int keep[] = { nin[0], newfd };
		char *argv[] = { "criu-lite", "restore", "-D", tmpdir, "-o", "restore.log", "--inherit-fd", spec_in,
				 "--inherit-fd", key, NULL };
		close(nin[1]);
		_exit(run_criu(argv, keep, 2));
	}
	close(nin[0]);
	close(newfd);
	ck_assert_int_eq(write(nin[1], "new\n", 4), 4);
	close(nin[1]); /* EOF: cat ends */
	ck_assert_int_eq(waitpid(rst, &st, 0), rst);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "restore status 0x%x", st);
	{
		int fd = open(newp, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		ck_assert_msg(n == 4 && !memcmp(buf, "new\n", 4), "new.log holds %zd bytes", n);
		close(fd);
		fd = open(oldp, O_RDONLY);
		n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		ck_assert_msg(n == 4 && !memcmp(buf, "old\n", 4), "old.log holds %zd bytes", n);
		close(fd);
	}
	wait_gone(pid);
	rm_tmpdir();
}
END_TEST

/* /bin/cat reading and writing a unix socket whose peer is ours: refused without
 * --ext-unix-sk (naming the socket and the option); with it, restored onto the socket
 * we hand in with --inherit-fd socket:[INODE]. */
START_TEST(test_e2e_external_unix)
{
	int sp[2], nsp[2], st;
	char pids[16], spec[64], buf[64], *log, path[128];
	unsigned long ino;
	pid_t pid, rst;

	if (!find_bin()) {
		fprintf(stderr, "# skip: no criu-lite binary (set CRIU_LITE_BIN)\n");
		return;
	}
	mk_tmpdir();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	pid = spawn_cat(sp[0], sp[0], NULL);
	close(sp[0]);
	ck_assert_int_eq(write(sp[1], "one", 3), 3);
	ck_assert_int_eq(read_within(sp[1], buf, sizeof(buf)), 3);
	/* the key is the inode of the child's socket */
	{
		char l[64], t[64];
		ssize_t n;
		snprintf(l, sizeof(l), "/proc/%d/fd/0", pid);
		n = readlink(l, t, sizeof(t) - 1);
		ck_assert_int_gt(n, 0);
		t[n] = 0;
		ck_assert_int_eq(sscanf(t, "socket:[%lu]", &ino), 1);
	}
	snprintf(pids, sizeof(pids), "%d", pid);
	{
		char *argv[] = { "criu-lite", "dump", "-t", pids, "-D", tmpdir, "-o", "dump.log", NULL };
		ck_assert_int_eq(run_criu(argv, NULL, 0), 1);
	}
	snprintf(path, sizeof(path), "%s/dump.log", tmpdir);
	log = read_file_str(AT_FDCWD, path, 1 << 20, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, "--ext-unix-sk"), "the refusal does not name --ext-unix-sk:\n%s", log);
	free(log);
	/* still running, not stopped: it echoes */
	ck_assert_int_eq(write(sp[1], "two", 3), 3);
	ck_assert_int_eq(read_within(sp[1], buf, sizeof(buf)), 3);
	{
		char *argv[] = { "criu-lite", "dump", "-t", pids, "-D", tmpdir, "-o", "dump.log", "--ext-unix-sk", NULL };
		ck_assert_int_eq(run_criu(argv, NULL, 0), 0);
	}
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	close(sp[1]);
	wait_gone(pid);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, nsp), 0);
	snprintf(spec, sizeof(spec), "fd[%d]:socket:[%lu]", nsp[0], ino);
	rst = fork();
	ck_assert_int_ge(rst, 0);
	if (rst == 0) {
		int keep[] = { nsp[0] };
		char *argv[] = { "criu-lite", "restore", "-D", tmpdir, "-o", "restore.log", "--inherit-fd", spec, NULL };
		close(nsp[1]);
		_exit(run_criu(argv, keep, 1));
	}
	close(nsp[0]);
	ck_assert_int_eq(write(nsp[1], "three", 5), 5);
	ck_assert_int_eq(read_within(nsp[1], buf, sizeof(buf)), 5);
	ck_assert(!memcmp(buf, "three", 5));
	shutdown(nsp[1], SHUT_WR);
	ck_assert_int_eq(waitpid(rst, &st, 0), rst);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "restore status 0x%x", st);
	close(nsp[1]);
	wait_gone(pid);
	rm_tmpdir();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("files");
	TCase *tc = tcase_create("files");
	SRunner *sr;
	int failed;

	log_init(LOG_WARN, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fdinfo_u64);
	tcase_add_test(tc, test_fdinfo_pair);
	tcase_add_test(tc, test_epoll_line);
	tcase_add_test(tc, test_inotify_line);
	tcase_add_test(tc, test_strip_deleted);
	tcase_add_test(tc, test_kind_table);
	tcase_add_test(tc, test_identity);
	tcase_add_test(tc, test_e2e_inherit_pipes);
	tcase_add_test(tc, test_e2e_external_pipes_warned);
	tcase_add_test(tc, test_e2e_external_unix);
	tcase_add_test(tc, test_e2e_inherit_file);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
