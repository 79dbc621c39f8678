/* Unit tests for the command line (cli/cli.c) and the options (lib/options.c): CRIU's
 * option names parse into the options struct, configuration files are read as CRIU
 * reads them, what criu-lite cannot do yet is refused by name, and the options that
 * change where things go (-W, -o, --pidfile, --status-fd, --timeout, --display-stats)
 * do so for real, through the real commands. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/options.h"
#include "lib/util.h"
#include "cli/cli.h"

static char g_dir[] = "/tmp/check_cli.XXXXXX";

static void setup(void)
{
	strcpy(g_dir, "/tmp/check_cli.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(g_dir));
	/* no configuration file of this machine's may change what is tested */
	setenv("HOME", g_dir, 1);
	unsetenv("CRIU_CONFIG_FILE");
}

static void teardown(void)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# can't remove %s\n", g_dir);
}

/* Parse `criu-lite ARGS...` (NULL-terminated) into o. cli_parse's result. */
static int parse(struct cr_options *o, ...)
{
	char *argv[64] = { "criu-lite" };
	int argc = 1;
	bool help, version;
	va_list ap;

	cr_options_init(o);
	va_start(ap, o);
	for (char *a; (a = va_arg(ap, char *)) && argc < 63;)
		argv[argc++] = a;
	va_end(ap);
	return cli_parse(argc, argv, o, &help, &version);
}

static void put(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *path_of(const char *name)
{
	static char buf[4][256];
	static int n;
	char *p = buf[n++ % 4];
	snprintf(p, 256, "%s/%s", g_dir, name);
	return p;
}

/* Every option CRIU names, with CRIU's meaning, lands in the struct. */
START_TEST(test_criu_names)
{
	struct cr_options o;

	ck_assert_int_eq(parse(&o, "dump", "-t", "1234", "-D", "/img", "-W", "/work", "-o", "d.log", "-v4",
			       "--pidfile", "p", "-R", "-j", "--timeout", "7", "--root", "/r", "--display-stats",
			       "--status-fd", "9", "--tcp-established", "--tcp-close", "--ext-unix-sk",
			       "--file-locks", "--link-remap", "--ghost-limit", "2M", "--skip-in-flight",
			       "--network-lock", "nftables", "--manage-cgroups=full", "--external",
			       "mnt[/data]:d", "--prev-images-dir", "../p", "--track-mem", "--page-server",
			       "--address", "10.0.0.1", "--port", "27", "--lazy-pages", "--no-default-config",
			       NULL),
			 0);
	ck_assert_int_eq(o.cmd, CR_CMD_DUMP);
	ck_assert_int_eq(o.tree, 1234);
	ck_assert_str_eq(o.images_dir, "/img");
	ck_assert_str_eq(o.work_dir, "/work");
	ck_assert_str_eq(o.log_file, "d.log");
	ck_assert_int_eq(o.log_level, 4);
	ck_assert_str_eq(o.pidfile, "p");
	ck_assert(o.leave_running && o.shell_job && o.display_stats && o.tcp_established && o.tcp_close);
	ck_assert(o.ext_unix_sk && o.file_locks && o.link_remap && o.skip_in_flight && o.track_mem);
	ck_assert(o.page_server && o.lazy_pages && o.no_default_config);
	ck_assert_uint_eq(o.timeout, 7);
	ck_assert_str_eq(o.root, "/r");
	ck_assert_int_eq(o.status_fd, 9);
	ck_assert_uint_eq(o.ghost_limit, 2 << 20);
	ck_assert_int_eq(o.network_lock, CR_NETLOCK_NFTABLES);
	ck_assert_int_eq(o.manage_cgroups, CR_CG_FULL);
	ck_assert_uint_eq(o.nr_external, 1);
	ck_assert_str_eq(o.external[0], "mnt[/data]:d");
	ck_assert_str_eq(o.prev_images_dir, "../p");
	ck_assert_str_eq(o.address, "10.0.0.1");
	ck_assert_int_eq(o.port, 27);
	cr_options_fini(&o);

	/* restore's own, and the long forms of the short ones */
	ck_assert_int_eq(parse(&o, "restore", "--images-dir", "/img", "--work-dir", "/w", "--log-file", "r.log",
			       "--restore-detached", "--restore-sibling", "--shell-job", "--leave-running",
			       "--inherit-fd", "fd[3]:pipe:[1234]", "--inherit-fd", "fd[4]:extRootNetNS",
			       "--tree", "5", "--verbosity=3", NULL),
			 0);
	ck_assert_int_eq(o.cmd, CR_CMD_RESTORE);
	ck_assert(o.restore_detached && o.restore_sibling && o.shell_job && o.leave_running);
	ck_assert_uint_eq(o.nr_inherit_fd, 2);
	ck_assert_int_eq(cr_opt_inherit_fd(&o, "pipe:[1234]"), 3);
	ck_assert_int_eq(cr_opt_inherit_fd(&o, "extRootNetNS"), 4);
	ck_assert_int_eq(cr_opt_inherit_fd(&o, "pipe:[1]"), -1);
	ck_assert_int_eq(o.log_level, 3);
	cr_options_fini(&o);

	/* namespaces, cgroups, ptys (CRIU's names) */
	ck_assert_int_eq(parse(&o, "restore", "--empty-ns", "net", "--join-ns", "uts:/proc/1/ns/uts",
			       "--join-ns", "user:/u,0,0", "--cgroup-root", "/all", "--cgroup-root", "cpu,cpuacct:/c",
			       "--cgroup-root", ":/v2", "--freeze-cgroup", "/sys/fs/cgroup/freezer/x",
			       "--orphan-pts-master", NULL),
			 0);
	ck_assert_uint_eq(o.empty_ns, CR_CLONE_NEWNET);
	ck_assert_uint_eq(o.nr_join_ns, 2);
	ck_assert_str_eq(o.join_ns[0].ns, "uts");
	ck_assert_str_eq(o.join_ns[0].path, "/proc/1/ns/uts");
	ck_assert_ptr_null(o.join_ns[0].extra);
	ck_assert_str_eq(o.join_ns[1].ns, "user");
	ck_assert_str_eq(o.join_ns[1].path, "/u");
	ck_assert_str_eq(o.join_ns[1].extra, "0,0");
	ck_assert_uint_eq(o.nr_cg_root, 3);
	ck_assert_ptr_null(o.cg_root[0].ctrl);
	ck_assert_str_eq(o.cg_root[0].path, "/all");
	ck_assert_str_eq(o.cg_root[1].ctrl, "cpu,cpuacct");
	ck_assert_str_eq(o.cg_root[1].path, "/c");
	ck_assert_str_eq(o.cg_root[2].ctrl, "");
	ck_assert_str_eq(o.cg_root[2].path, "/v2");
	ck_assert_str_eq(o.freeze_cgroup, "/sys/fs/cgroup/freezer/x");
	ck_assert(o.orphan_pts_master);
	cr_options_fini(&o);

	/* CRIU's short forms: -d -S -l -x -r */
	ck_assert_int_eq(parse(&o, "-d", "-S", "-l", "-x", "-r", "/root", "restore", NULL), 0);
	ck_assert(o.restore_detached && o.restore_sibling && o.file_locks && o.ext_unix_sk);
	ck_assert_str_eq(o.root, "/root");
	cr_options_fini(&o);

	/* -v: CRIU's forms */
	ck_assert_int_eq(parse(&o, "check", "-v", NULL), 0);
	ck_assert_int_eq(o.log_level, 3);
	cr_options_fini(&o);
	ck_assert_int_eq(parse(&o, "check", "-vv", NULL), 0);
	ck_assert_int_eq(o.log_level, 4);
	cr_options_fini(&o);
	ck_assert_int_eq(parse(&o, "check", "-v0", NULL), 0);
	ck_assert_int_eq(o.log_level, 0);
	cr_options_fini(&o);

	/* lazy-pages' own */
	ck_assert_int_eq(parse(&o, "lazy-pages", "--prefetch", "hot", "--hot-ws", "h", "--record-ws", "r",
			       "--busy-poll", "0", "--fault-around", "16", NULL),
			 0);
	ck_assert_int_eq(o.prefetch, CR_PREFETCH_HOT);
	ck_assert_str_eq(o.hot_ws, "h");
	ck_assert_str_eq(o.record_ws, "r");
	ck_assert_uint_eq(o.busy_poll_us, 0);
	ck_assert_uint_eq(o.fault_around, 16);
	cr_options_fini(&o);

	/* --manage-cgroups alone is soft, as in CRIU; the defaults */
	ck_assert_int_eq(parse(&o, "dump", "--manage-cgroups", NULL), 0);
	ck_assert_int_eq(o.manage_cgroups, CR_CG_SOFT);
	cr_options_fini(&o);
	ck_assert_int_eq(parse(&o, "dump", NULL), 0);
	ck_assert_int_eq(o.log_level, 2);
	ck_assert_uint_eq(o.timeout, 10);
	ck_assert_uint_eq(o.ghost_limit, 1 << 20);
	ck_assert_int_eq(o.network_lock, CR_NETLOCK_IPTABLES);
	ck_assert_int_eq(o.status_fd, -1);
	ck_assert_uint_eq(o.fault_around, CR_DEFAULT_FAULT_AROUND);
	cr_options_fini(&o);
}
END_TEST

/* The command may stand anywhere; booleans have CRIU's --no- forms; the last wins. */
START_TEST(test_order_and_negation)
{
	struct cr_options o;

	ck_assert_int_eq(parse(&o, "-D", "/img", "--tcp-established", "dump", "-t", "9", NULL), 0);
	ck_assert_int_eq(o.cmd, CR_CMD_DUMP);
	ck_assert_str_eq(o.images_dir, "/img");
	ck_assert(o.tcp_established);
	cr_options_fini(&o);
	ck_assert_int_eq(parse(&o, "dump", "--tcp-established", "--no-tcp-established", "--shell-job",
			       "--no-shell-job", "--file-locks", "--no-file-locks", "-D", "/a", "-D", "/b", NULL),
			 0);
	ck_assert(!o.tcp_established && !o.shell_job && !o.file_locks);
	ck_assert_str_eq(o.images_dir, "/b");
	cr_options_fini(&o);
	ck_assert_int_eq(parse(&o, "show", "--pages", "/x/core-1.img", "--full", NULL), 0);
	ck_assert_int_eq(o.cmd, CR_CMD_SHOW);
	ck_assert(o.show_pages && o.show_full);
	ck_assert_str_eq(o.show_path, "/x/core-1.img");
	cr_options_fini(&o);
}
END_TEST

/* What is wrong is an error, never ignored. */
START_TEST(test_bad_input)
{
	struct cr_options o;
	const char *bad[][4] = {
		{ "dump", "--no-such-option" },	      { "dump", "-t", "0" },
		{ "dump", "-t", "x" },		      { "restore", "--inherit-fd", "3:pipe:[1]" },
		{ "restore", "--inherit-fd", "fd[x]:k" }, { "restore", "--inherit-fd", "fd[3]:" },
		{ "dump", "--network-lock", "ebtables" }, { "dump", "--manage-cgroups=some" },
		{ "dump", "--external", "nobrackets" },   { "dump", "--ghost-limit", "lots" },
		{ "frobnicate" },			      { "dump", "extra" },
		{ "show" },				      { "show", "a", "b" },
		{ "lazy-pages", "--prefetch", "some" },   { "dump", "--port", "70000" },
		{ "dump", "--empty-ns", "pid" },	      { "restore", "--join-ns", "net" },
		{ "restore", "--join-ns", ":/x" },	      { "restore", "--cgroup-root", "cpu:rel" },
		{ "swrk" },				      { "swrk", "x" },
		{ "swrk", "3", "4" },
		{ "lazy-pages", "--fault-around", "0" },  { "lazy-pages", "--fault-around", "1025" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_msg(parse(&o, bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL) == -1, "case %zu (%s %s)",
			      i, bad[i][0], bad[i][1] ? bad[i][1] : "");
		cr_options_fini(&o);
	}
	/* no command at all */
	ck_assert_int_eq(parse(&o, "-D", "/x", NULL), -1);
	cr_options_fini(&o);
}
END_TEST

/* CRIU's configuration files: ~/.criu/default.conf, $CRIU_CONFIG_FILE, --config; the
 * command line wins; --no-default-config skips the default files. */
START_TEST(test_config_files)
{
	struct cr_options o;
	char cdir[256];

	snprintf(cdir, sizeof(cdir), "%s/.criu", g_dir);
	ck_assert_int_eq(mkdir(cdir, 0700), 0);
	put(".criu/default.conf", "# the user's defaults\n  tcp-established\nghost-limit 2M\nlog-file \"u.log\"\n\n");
	ck_assert_int_eq(parse(&o, "dump", NULL), 0);
	ck_assert(o.tcp_established);
	ck_assert_uint_eq(o.ghost_limit, 2 << 20);
	ck_assert_str_eq(o.log_file, "u.log");
	cr_options_fini(&o);
	/* the command line wins */
	ck_assert_int_eq(parse(&o, "dump", "-o", "cmd.log", "--no-tcp-established", NULL), 0);
	ck_assert_str_eq(o.log_file, "cmd.log");
	ck_assert(!o.tcp_established);
	cr_options_fini(&o);
	/* --no-default-config */
	ck_assert_int_eq(parse(&o, "dump", "--no-default-config", NULL), 0);
	ck_assert(!o.tcp_established && !o.log_file);
	cr_options_fini(&o);
	/* --config FILE and $CRIU_CONFIG_FILE, after the defaults */
	put("extra.conf", "file-locks\nghost-limit 3M\n");
	ck_assert_int_eq(parse(&o, "dump", "--config", path_of("extra.conf"), NULL), 0);
	ck_assert(o.file_locks && o.tcp_established);
	ck_assert_uint_eq(o.ghost_limit, 3 << 20);
	cr_options_fini(&o);
	setenv("CRIU_CONFIG_FILE", path_of("extra.conf"), 1);
	ck_assert_int_eq(parse(&o, "dump", "--no-default-config", NULL), 0);
	ck_assert(o.file_locks && !o.tcp_established);
	cr_options_fini(&o);
	unsetenv("CRIU_CONFIG_FILE");
	/* a missing --config file, a bad option in a file, a command in a file: errors */
	ck_assert_int_eq(parse(&o, "dump", "--config", path_of("none.conf"), NULL), -1);
	cr_options_fini(&o);
	put("bad.conf", "no-such-thing\n");
	ck_assert_int_eq(parse(&o, "dump", "--config", path_of("bad.conf"), NULL), -1);
	cr_options_fini(&o);
	put("cmd.conf", "tree 1 dump\n");
	ck_assert_int_eq(parse(&o, "dump", "--config", path_of("cmd.conf"), NULL), -1);
	cr_options_fini(&o);
}
END_TEST

static bool log_has(const char *text)
{
	char *s = read_file_str(AT_FDCWD, path_of("test.log"), 1 << 20, NULL);
	bool found = s && strstr(s, text);
	free(s);
	return found;
}

/* What criu-lite cannot do yet is refused by name; what only permits is accepted. */
START_TEST(test_refused_and_accepted)
{
	static const struct {
		const char *cmd, *opt, *val, *name;
	} refused[] = {
		{ "dump", "--page-server", NULL, "--page-server" },
		{ "lazy-pages", "--page-server", NULL, "--page-server" },
		{ "dump", "--address", "1.2.3.4", "--address/--port" },
		{ "dump", "--prev-images-dir", "../p", "--prev-images-dir" },
		{ "dump", "--track-mem", NULL, "--track-mem" },
		{ "dump", "--lazy-pages", NULL, "--lazy-pages" },
		{ "dump", "--external", "dev[1:3]:b", "--external" },
		{ "dump", "--manage-cgroups=full", NULL, "--manage-cgroups" },
		{ "restore", "--manage-cgroups=props", NULL, "--manage-cgroups" },
		{ "restore", "--join-ns", "pid:/proc/1/ns/pid", "--join-ns" },
		{ "restore", "--status-fd", "3", "--status-fd" },
	};
	static const struct {
		const char *cmd, *opt, *val;
	} accepted[] = {
		{ "dump", "--tcp-established", NULL }, { "dump", "--ext-unix-sk", NULL },
		{ "restore", "--tcp-close", NULL }, { "dump", "--tcp-close", NULL },
		{ "dump", "--network-lock", "nftables" },
		{ "dump", "--link-remap", NULL },      { "dump", "--skip-in-flight", NULL },
		{ "dump", "--ghost-limit", "10M" },    { "dump", "--network-lock", "skip" },
		{ "dump", "--timeout", "3" },	       { "dump", "--display-stats", NULL },
		{ "restore", "--lazy-pages", NULL },   { "restore", "--display-stats", NULL },
		{ "lazy-pages", "--status-fd", "3" },  { "dump", "--manage-cgroups=ignore", NULL },
		{ "dump", "--root", "/" },	       { "restore", "--pidfile", "p" },
		{ "dump", "--manage-cgroups", NULL },  { "restore", "--manage-cgroups=soft", NULL },
		{ "restore", "--restore-sibling", NULL }, { "dump", "--empty-ns", "net" },
		{ "dump", "--freeze-cgroup", "/x" },   { "restore", "--join-ns", "net:/x" },
		{ "restore", "--cgroup-root", "/x" },  { "restore", "--orphan-pts-master", NULL },
		{ "restore", "--inherit-fd", "fd[3]:pipe:[1]" }, { "dump", "--file-locks", NULL },
		{ "restore", "--file-locks", NULL },
		{ "restore", "--root", "/r" },	       { "dump", "--external", "mnt[/a]:b" },
		{ "restore", "--external", "net[4026531840]:k" },
		{ "lazy-pages", "--fault-around", "1" }, { "lazy-pages", "--busy-poll", "0" },
	};
	struct cr_options o;

	ck_assert_int_eq(log_init(LOG_WARN, path_of("test.log")), 0);
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		char want[128];
		ck_assert_int_eq(parse(&o, refused[i].cmd, refused[i].opt, refused[i].val, NULL), 0);
		ck_assert_msg(cr_options_refuse(&o, o.cmd) == -1, "%s %s accepted", refused[i].cmd, refused[i].opt);
		snprintf(want, sizeof(want), "%s: not supported yet", refused[i].name);
		ck_assert_msg(log_has(want), "no '%s' in the log", want);
		cr_options_fini(&o);
	}
	for (size_t i = 0; i < ARRAY_SIZE(accepted); i++) {
		ck_assert_int_eq(parse(&o, accepted[i].cmd, accepted[i].opt, accepted[i].val, NULL), 0);
		ck_assert_msg(cr_options_refuse(&o, o.cmd) == 0, "%s %s refused", accepted[i].cmd, accepted[i].opt);
		cr_options_fini(&o);
	}
	log_fini();
}
END_TEST

/* Run `criu-lite ARGS...` in a child with stdout to out_name; its exit status. */
static int run(const char *out_name, ...)
{
	char *argv[64] = { "criu-lite" };
	int argc = 1, st;
	va_list ap;

	va_start(ap, out_name);
	for (char *a; (a = va_arg(ap, char *)) && argc < 63;)
		argv[argc++] = a;
	va_end(ap);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(path_of(out_name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(99);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		_exit(cli_run(argc, argv));
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static bool file_has(const char *name, const char *text)
{
	char *s = read_file_str(AT_FDCWD, path_of(name), 1 << 20, NULL);
	bool found = s && strstr(s, text);
	free(s);
	return found;
}

START_TEST(test_version)
{
	ck_assert_int_eq(run("v.out", "--version", NULL), 0);
	ck_assert(file_has("v.out", "Version: 4.2\n"));
	ck_assert_int_eq(run("h.out", "dump", "--help", NULL), 0);
	ck_assert(file_has("h.out", "--images-dir"));
	ck_assert_int_eq(run("n.out", NULL), 1);
}
END_TEST

static pid_t start_sleeper(void)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		setsid();
		execl("/bin/sleep", "sleep", "1000", NULL);
		_exit(127);
	}
	usleep(100000);
	return pid;
}

/* -W: the log goes to the work dir (-o relative to it), the images to -D; relative
 * paths in the work dir as CRIU (which runs there) takes them; --display-stats. */
START_TEST(test_work_dir)
{
	char pid_s[16];
	pid_t pid = start_sleeper();

	snprintf(pid_s, sizeof(pid_s), "%d", pid);
	ck_assert_int_eq(mkdir(path_of("work"), 0700), 0);
	ck_assert_int_eq(run("dump.out", "dump", "-t", pid_s, "-D", path_of("img"), "-W", path_of("work"), "-o",
			     "dump.log", "-v4", "-R", "--display-stats", NULL),
			 0);
	ck_assert(file_has("work/dump.log", "dump of pid"));
	ck_assert(access(path_of("img/dump.log"), F_OK) < 0);
	ck_assert(access(path_of("img/inventory.img"), F_OK) == 0);
	ck_assert(file_has("dump.out", "Dump: 1 task(s)"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
END_TEST

/* --timeout: a task that can't stop (a vfork parent waits uninterruptibly for its
 * child) fails the dump in time, and is left running untraced. */
START_TEST(test_timeout)
{
	char pid_s[16];

	/* a vfork child that sleeps before it execs or exits */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setsid();
		if (vfork() == 0) {
			struct timespec ts = { 1000, 0 };
			syscall(SYS_nanosleep, &ts, NULL); /* raw: nothing of the parent's is touched */
			_exit(0);
		}
		_exit(0);
	}
	usleep(200000);
	snprintf(pid_s, sizeof(pid_s), "%d", pid);
	time_t t0 = time(NULL);
	ck_assert_int_eq(run("to.out", "dump", "-t", pid_s, "-D", path_of("img"), "--timeout", "1", NULL), 1);
	ck_assert_int_le(time(NULL) - t0, 6);
	ck_assert(file_has("to.out", "did not stop in time"));
	/* alive and untraced */
	char st[64];
	snprintf(st, sizeof(st), "/proc/%d/status", pid);
	char *s = read_file_str(AT_FDCWD, st, 1 << 16, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(strstr(s, "TracerPid:\t0\n"));
	free(s);
	ck_assert(access(path_of("img/inventory.img"), F_OK) < 0);
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
END_TEST

/* lazy-pages: the socket is lazy-pages.socket in the work dir, as CRIU names it, and
 * --status-fd gets CRIU's zero byte once it listens. */
START_TEST(test_lazy_socket)
{
	int p[2];
	char fd_s[16], zero = 1;

	ck_assert_int_eq(mkdir(path_of("img"), 0700), 0);
	ck_assert_int_eq(mkdir(path_of("work"), 0700), 0);
	ck_assert_int_eq(pipe(p), 0);
	snprintf(fd_s, sizeof(fd_s), "%d", p[1]);
	fflush(NULL);
	pid_t d = fork();
	ck_assert_int_ge(d, 0);
	if (d == 0) {
		char *argv[] = { "criu-lite", "lazy-pages", "-D", path_of("img"), "-W", path_of("work"),
				 "--status-fd", fd_s, "-o", "lp.log", NULL };
		close(p[0]);
		_exit(cli_run(ARRAY_SIZE(argv) - 1, argv));
	}
	close(p[1]);
	alarm(20);
	ck_assert_int_eq(read(p[0], &zero, 1), 1);
	ck_assert_int_eq(zero, 0);
	struct stat st;
	ck_assert_int_eq(stat(path_of("work/lazy-pages.socket"), &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert(access(path_of("work/lp.log"), F_OK) == 0);
	kill(d, SIGKILL);
	waitpid(d, NULL, 0);
	alarm(0);
	close(p[0]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("cli");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_criu_names);
	tcase_add_test(tc, test_order_and_negation);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_config_files);
	tcase_add_test(tc, test_refused_and_accepted);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_work_dir);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_lazy_socket);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
