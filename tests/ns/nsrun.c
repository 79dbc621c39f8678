/*
 * nsrun: a small container runtime for criu-lite's namespace tests. It does what
 * runc does for its default spec, and nothing else: the init of new namespaces,
 * on a bind of ROOT, with the usual mounts (proc, a /dev tmpfs with its device
 * nodes, devpts, /dev/shm, mqueue, a read-only sysfs, read-only and masked /proc
 * paths), pivot_root, then exec of the program.
 *
 *   nsrun --root DIR [--ns pid,mnt,uts,ipc,net,cgroup,time] [--hostname H] [--ro]
 *         [--bind HOSTPATH:DEST]... [--sysctl NAME=VALUE]... [--log FILE] [--ready FILE]
 *         [--host-pidfile F] [--setup PROG] [--intruder] [--hostfd PATH]
 *         -- PROG ARGS...
 *
 * --ready FILE is a path inside the container (the program's pid file): once it
 * exists, nsrun writes the init's pid (in nsrun's pid namespace) to --host-pidfile.
 * --log FILE (inside the container) gets the program's stdout and stderr; stdin is
 * /dev/null of the container. --ro makes the root read-only. --setup PROG runs PROG
 * INIT_PID on the host before the init goes on (to configure its namespaces).
 * --intruder starts a process in the pid namespace that is not in the init's tree.
 * --hostfd PATH leaves the host file PATH open as the program's fd 9. nsrun waits for the
 * init and exits with its status. In a time namespace (--ns time) the clocks are a
 * day (monotonic) and two days (boottime) ahead of the host's.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define MAX_BINDS 16

static const char *root, *hostname, *ready, *host_pidfile, *setup, *hostfd, *logfile = "/zt/test.log";
static int setup_pipe[2] = { -1, -1 };
static const char *binds[MAX_BINDS], *sysctls[MAX_BINDS];
static int nr_binds, nr_sysctls, ro_root, intruder;
static unsigned long ns_flags;

static void die(const char *what)
{
	fprintf(stderr, "nsrun: %s: %s\n", what, strerror(errno));
	_exit(127);
}

static void at_root(char *buf, size_t len, const char *p)
{
	snprintf(buf, len, "%s%s", root, p);
}

static void do_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
	char path[4096];

	at_root(path, sizeof(path), dst);
	if (mount(src, path, type, flags, data) < 0) {
		fprintf(stderr, "nsrun: mount %s on %s (%s): %s\n", src ? src : "-", path, type ? type : "bind",
			strerror(errno));
		_exit(127);
	}
}

static void mkdir_at(const char *p, mode_t mode)
{
	char path[4096];

	at_root(path, sizeof(path), p);
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		die(path);
}

static void mknod_at(const char *p, mode_t mode, dev_t dev)
{
	char path[4096];

	at_root(path, sizeof(path), p);
	if (mknod(path, mode, dev) < 0)
		die(path);
}

static void symlink_at(const char *target, const char *p)
{
	char path[4096];

	at_root(path, sizeof(path), p);
	if (symlink(target, path) < 0)
		die(path);
}

static void setup_mounts(void)
{
	char path[4096];
	static const char *const ro_paths[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys" };

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("make / private");
	if (mount(root, root, NULL, MS_BIND, NULL) < 0)
		die("bind the root");
	mkdir_at("/proc", 0555);
	mkdir_at("/dev", 0755);
	mkdir_at("/sys", 0555);
	do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	do_mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
	mknod_at("/dev/null", S_IFCHR | 0666, makedev(1, 3));
	mknod_at("/dev/zero", S_IFCHR | 0666, makedev(1, 5));
	mknod_at("/dev/full", S_IFCHR | 0666, makedev(1, 7));
	mknod_at("/dev/random", S_IFCHR | 0666, makedev(1, 8));
	mknod_at("/dev/urandom", S_IFCHR | 0666, makedev(1, 9));
	mknod_at("/dev/tty", S_IFCHR | 0666, makedev(5, 0));
	symlink_at("/proc/self/fd", "/dev/fd");
	symlink_at("/proc/self/fd/0", "/dev/stdin");
	symlink_at("/proc/self/fd/1", "/dev/stdout");
	symlink_at("/proc/self/fd/2", "/dev/stderr");
	symlink_at("pts/ptmx", "/dev/ptmx");
	mkdir_at("/dev/pts", 0755);
	do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
	mkdir_at("/dev/shm", 01777);
	do_mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=65536k");
	if (ns_flags & CLONE_NEWIPC) {
		mkdir_at("/dev/mqueue", 0755);
		do_mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
	}
	if (ns_flags & CLONE_NEWNET)
		do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, NULL);
	/* readonlyPaths: read-only binds of themselves */
	for (size_t i = 0; i < sizeof(ro_paths) / sizeof(ro_paths[0]); i++) {
		at_root(path, sizeof(path), ro_paths[i]);
		if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
			die(path);
		do_mount(NULL, ro_paths[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
	}
	/* maskedPaths: a file masked with /dev/null, a directory with an empty ro tmpfs */
	{
		char null[4096];
		at_root(null, sizeof(null), "/dev/null");
		at_root(path, sizeof(path), "/proc/keys");
		if (mount(null, path, NULL, MS_BIND, NULL) < 0)
			die("mask /proc/keys");
		do_mount("tmpfs", "/proc/acpi", "tmpfs", MS_RDONLY, NULL);
	}
	for (int i = 0; i < nr_binds; i++) {
		char src[4096];
		const char *colon = strchr(binds[i], ':');
		snprintf(src, sizeof(src), "%.*s", (int)(colon - binds[i]), binds[i]);
		mkdir_at(colon + 1, 0755);
		at_root(path, sizeof(path), colon + 1);
		if (mount(src, path, NULL, MS_BIND, NULL) < 0)
			die(path);
	}
	if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		die("pivot_root");
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		die("detach the old root");
	/* the root goes read-only last, like runc's readonly root */
	if (ro_root && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		die("make the root read-only");
}

/* NAME=VALUE under /proc/sys, in the new namespaces (before /proc/sys goes read-only) */
static void set_sysctl(const char *kv)
{
	const char *eq = strchr(kv, '=');
	char path[256], val[256];
	int fd;

	if (!eq)
		die("--sysctl NAME=VALUE");
	snprintf(path, sizeof(path), "/proc/sys/%.*s", (int)(eq - kv), kv);
	for (char *p = path + 10; *p; p++)
		if (*p == '.')
			*p = '/';
	snprintf(val, sizeof(val), "%s", eq + 1);
	for (char *p = val; *p; p++)
		if (*p == ':')
			*p = ' '; /* the values of a vector ("kernel.sem=1:2:3:4") */
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		die(path);
	close(fd);
}

static int child(char **argv)
{
	int fd;
	char c;

	/* --setup runs on the host first (links of the new net namespace...) */
	if (setup) {
		close(setup_pipe[1]);
		if (read(setup_pipe[0], &c, 1) != 1)
			_exit(126);
		close(setup_pipe[0]);
	}

	for (int i = 0; i < nr_sysctls; i++)
		set_sysctl(sysctls[i]);

	if (hostname && (ns_flags & CLONE_NEWUTS) && sethostname(hostname, strlen(hostname)) < 0)
		die("sethostname");
	if (ns_flags & CLONE_NEWNS)
		setup_mounts();
	if (setsid() < 0)
		die("setsid");
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, 0) < 0)
		die("stdin");
	close(fd);
	fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		die(logfile);
	close(fd);
	execv(argv[0], argv);
	die(argv[0]);
	return 127;
}

/*
 * --intruder: a process that joins the container's pid namespace from outside (as
 * runc exec's do), its parent staying outside: it is in the namespace, not in the
 * init's tree. It dies with the namespace.
 */
static void start_intruder(pid_t init)
{
	char path[64];
	int fd, ready[2];
	pid_t p;
	char c;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", init);
	if (pipe(ready) < 0)
		die("pipe");
	p = fork();
	if (p < 0)
		die("fork");
	if (p == 0) {
		pid_t in;
		fd = open(path, O_RDONLY);
		if (fd < 0 || setns(fd, CLONE_NEWPID) < 0)
			die("setns into the pid namespace");
		in = fork();
		if (in == 0) {
			for (;;)
				pause();
		}
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		waitpid(in, NULL, 0);
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		die("the intruder did not start");
	close(ready[0]);
}

static unsigned long parse_ns(const char *list)
{
	static const struct {
		const char *name;
		unsigned long flag;
	} k[] = { { "pid", CLONE_NEWPID }, { "mnt", CLONE_NEWNS },	   { "uts", CLONE_NEWUTS },
		  { "ipc", CLONE_NEWIPC }, { "net", CLONE_NEWNET },	   { "cgroup", CLONE_NEWCGROUP },
		  { "time", CLONE_NEWTIME } };
	char *s = strdup(list), *save = NULL;
	unsigned long f = 0;

	for (char *w = strtok_r(s, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < sizeof(k) / sizeof(k[0]) && strcmp(k[i].name, w); i++)
			;
		if (i == sizeof(k) / sizeof(k[0])) {
			fprintf(stderr, "nsrun: unknown namespace %s\n", w);
			exit(2);
		}
		f |= k[i].flag;
	}
	free(s);
	return f;
}

int main(int argc, char **argv)
{
	char rpath[4096];
	struct clone_args ca;
	pid_t pid;
	int i, status;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--ro")) {
			ro_root = 1;
			continue;
		}
		if (!strcmp(argv[i], "--intruder")) {
			intruder = 1;
			continue;
		}
		if (!v)
			break;
		if (!strcmp(argv[i], "--root"))
			root = v;
		else if (!strcmp(argv[i], "--ns"))
			ns_flags = parse_ns(v);
		else if (!strcmp(argv[i], "--hostname"))
			hostname = v;
		else if (!strcmp(argv[i], "--ready"))
			ready = v;
		else if (!strcmp(argv[i], "--host-pidfile"))
			host_pidfile = v;
		else if (!strcmp(argv[i], "--log"))
			logfile = v;
		else if (!strcmp(argv[i], "--bind") && nr_binds < MAX_BINDS)
			binds[nr_binds++] = v;
		else if (!strcmp(argv[i], "--sysctl") && nr_sysctls < MAX_BINDS)
			sysctls[nr_sysctls++] = v;
		else if (!strcmp(argv[i], "--setup"))
			setup = v;
		else if (!strcmp(argv[i], "--hostfd"))
			hostfd = v;
		else
			break;
		i++;
	}
	if (i >= argc - 1 || strcmp(argv[i], "--") || !root) {
		fprintf(stderr, "usage: nsrun --root DIR [--ns LIST] [--hostname H] [--bind SRC:DST]... "
				"[--log F] [--ready F] [--host-pidfile F] -- PROG ARGS...\n");
		return 2;
	}
	if (ns_flags & CLONE_NEWTIME) {
		/* clocks that are not the host's: a restore must keep them going from there */
		static const char offs[] = "monotonic 86400 0\nboottime 172800 0\n";
		if (unshare(CLONE_NEWTIME) < 0)
			die("unshare(CLONE_NEWTIME)");
		int fd = open("/proc/self/timens_offsets", O_WRONLY);
		if (fd < 0 || write(fd, offs, sizeof(offs) - 1) != (ssize_t)sizeof(offs) - 1)
			die("timens_offsets");
		close(fd);
	}
	if (setup && pipe(setup_pipe) < 0)
		die("pipe");
	/* --hostfd: a file of the host, left open as fd 9 for the program (outside its mounts) */
	if (hostfd) {
		int fd = open(hostfd, O_RDONLY);
		if (fd < 0 || dup2(fd, 9) < 0)
			die(hostfd);
		close(fd);
	}
	memset(&ca, 0, sizeof(ca));
	ca.flags = ns_flags & ~(unsigned long)CLONE_NEWTIME;
	ca.exit_signal = SIGCHLD;
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0)
		die("clone3");
	if (pid == 0)
		_exit(child(argv + i + 1));
	if (setup) {
		char spid[16];
		pid_t sp;
		close(setup_pipe[0]);
		snprintf(spid, sizeof(spid), "%d", pid);
		sp = fork();
		if (sp == 0) {
			execl(setup, setup, spid, (char *)NULL);
			die(setup);
		}
		if (sp < 0 || waitpid(sp, &status, 0) != sp || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "nsrun: %s %s failed\n", setup, spid);
			kill(pid, SIGKILL);
			return 125;
		}
		if (write(setup_pipe[1], "", 1) != 1)
			die("setup pipe");
		close(setup_pipe[1]);
	}
	/* ready: the program's pid file inside the container (then the intruder) */
	snprintf(rpath, sizeof(rpath), "%s%s", root, ready ? ready : "");
	for (int tries = 0; ready && host_pidfile; tries++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		if (access(rpath, F_OK) == 0) {
			char tmp[4200];
			FILE *f;
			snprintf(tmp, sizeof(tmp), "%s.tmp", host_pidfile);
			f = fopen(tmp, "w");
			if (intruder)
				start_intruder(pid);
			if (!f || fprintf(f, "%d\n", pid) < 0 || fclose(f) != 0 || rename(tmp, host_pidfile) < 0)
				die(host_pidfile);
			break;
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (tries > 3000) {
			fprintf(stderr, "nsrun: %s did not appear\n", rpath);
			kill(pid, SIGKILL);
			return 126;
		}
		nanosleep(&ts, NULL);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
