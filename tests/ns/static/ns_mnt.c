/*
 * The init of a container (nsrun --ns pid,mnt,ipc,net,uts --ro --bind ROOT/zt:/zt
 * --bind EXT:/ext) with a mount table of every kind criu-lite rebuilds, on top of
 * nsrun's (proc, /dev tmpfs, devpts, /dev/shm, mqueue, read-only sysfs, read-only
 * /proc paths, masked /proc/keys and /proc/acpi, a read-only root):
 *   /mnt       tmpfs holding the mountpoints below (the root is read-only)
 *   /mnt/t     tmpfs (mode=0711,size=16m,nr_inodes=2000) with directories, owners,
 *              modes (setuid too), times, a file of data, a sparse file, a symlink, a
 *              hard link, a FIFO, a socket inode, character and block device nodes
 *   /mnt/b1    read-only bind of /mnt/t/a/b (a subdirectory of the tmpfs)
 *   /mnt/t/fb  a bind of the file /mnt/t/data onto the file /mnt/t/fb
 *   /mnt/s     shared tmpfs, /mnt/s2 its peer (a bind), /mnt/sl its slave
 *   /mnt/p     private tmpfs, /mnt/u unbindable tmpfs
 *   /mnt/f     tmpfs mounted nosuid,nodev,noexec,noatime
 *   /mnt/o     two tmpfs stacked, each with its own file
 *   /ext       external (a host directory given back at restore)
 * After the restore the mount table must be the same (ids and peer group numbers
 * aside: their relations must hold), the contents the same, propagation must work
 * as it did (a mount in /mnt/s appears in /mnt/s2 and /mnt/sl, one in /mnt/sl not
 * in /mnt/s), flags must still bite (EROFS, noexec), and the overmount must cover
 * the lower tmpfs until it is unmounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <stdint.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

#define DATA_LEN (100 * 1024 + 17)
#define SPARSE_OFF (512 * 1024)

static void must(int r, const char *what)
{
	if (r < 0)
		fail("%s: %s", what, strerror(errno));
}

static void write_file(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		fail("write %s: %s", path, strerror(errno));
	close(fd);
}

static char *read_str(const char *path)
{
	char *s = zt_read_file(path, NULL);
	return s ? s : strdup("<unreadable>");
}

static void setup_tmpfs(void)
{
	static char data[DATA_LEN];
	struct timespec ts[2] = { { 1000000000, 0 }, { 1234567890, 123456789 } };
	struct sockaddr_un sun = { AF_UNIX, "/mnt/t/sock" };
	int fd, sk;

	/* the root is read-only: a tmpfs on /mnt holds the mountpoints */
	must(mount("tmpfs", "/mnt", "tmpfs", 0, "mode=0755,size=1m"), "mount /mnt");
	must(mkdir("/mnt/t", 0755), "mkdir /mnt/t");
	must(mount("tmpfs", "/mnt/t", "tmpfs", 0, "mode=0711,size=16m,nr_inodes=2000"), "mount /mnt/t");
	must(mkdir("/mnt/t/a", 0750), "mkdir a");
	must(mkdir("/mnt/t/a/b", 0755), "mkdir a/b");
	write_file("/mnt/t/a/b/inner", "inner file\n", 0600);
	must(chown("/mnt/t/a", 1000, 1001), "chown a");
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + i / 4096);
	fd = open("/mnt/t/data", O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || write(fd, data, sizeof(data)) != (ssize_t)sizeof(data))
		fail("data");
	close(fd);
	fd = open("/mnt/t/sparse", O_WRONLY | O_CREAT, 0640);
	if (fd < 0 || pwrite(fd, "in the middle", 13, SPARSE_OFF) != 13 || ftruncate(fd, 2 * SPARSE_OFF) < 0)
		fail("sparse");
	close(fd);
	write_file("/mnt/t/suid", "#!/bin/sh\n", 0755);
	must(chmod("/mnt/t/suid", 04755), "chmod suid");
	must(symlink("a/b/inner", "/mnt/t/link"), "symlink");
	must(link("/mnt/t/data", "/mnt/t/hard"), "link");
	must(mkfifo("/mnt/t/fifo", 0620), "mkfifo");
	must(mknod("/mnt/t/null", S_IFCHR | 0666, makedev(1, 3)), "mknod chr");
	must(mknod("/mnt/t/loop9", S_IFBLK | 0600, makedev(7, 9)), "mknod blk");
	sk = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sk < 0 || bind(sk, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		fail("socket inode");
	close(sk);
	must(utimensat(AT_FDCWD, "/mnt/t/data", ts, 0), "utimensat");
	write_file("/mnt/t/fb", "", 0644);
	/* extended attributes: user. on a file, trusted. on a directory and a symlink,
	 * a file capability on the setuid script (lost if its data were written after) */
	must(lsetxattr("/mnt/t/data", "user.origin", "dumped", 6, 0), "user xattr");
	must(lsetxattr("/mnt/t/data", "user.empty", "", 0, 0), "empty xattr");
	must(lsetxattr("/mnt/t/a", "trusted.dir", "\0\1\2", 3, 0), "trusted xattr on a directory");
	must(lsetxattr("/mnt/t/link", "trusted.lnk", "x", 1, 0), "trusted xattr on a symlink");
	{
		/* VFS_CAP_REVISION_2: CAP_NET_BIND_SERVICE permitted */
		uint32_t cap[5] = { 0x02000000, 1u << 10, 0, 0, 0 };
		must(lsetxattr("/mnt/t/suid", "security.capability", cap, sizeof(cap), 0), "file capability");
	}
}

static void setup_mounts(void)
{
	must(mkdir("/mnt/b1", 0755), "mkdir b1");
	must(mount("/mnt/t/a/b", "/mnt/b1", NULL, MS_BIND, NULL), "bind b1");
	must(mount(NULL, "/mnt/b1", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL), "ro b1");
	must(mount("/mnt/t/data", "/mnt/t/fb", NULL, MS_BIND, NULL), "file bind");
	/* propagation */
	for (const char *const *d = (const char *const[]){ "/mnt/s", "/mnt/s2", "/mnt/sl", "/mnt/p", "/mnt/u",
							   "/mnt/f", "/mnt/o", NULL };
	     *d; d++)
		must(mkdir(*d, 0755), *d);
	must(mount("tmpfs", "/mnt/s", "tmpfs", 0, "size=1m"), "mount s");
	must(mount(NULL, "/mnt/s", NULL, MS_SHARED, NULL), "shared s");
	must(mkdir("/mnt/s/sub", 0755), "mkdir s/sub");
	must(mount("/mnt/s", "/mnt/s2", NULL, MS_BIND, NULL), "bind s2");
	must(mount("/mnt/s", "/mnt/sl", NULL, MS_BIND, NULL), "bind sl");
	must(mount(NULL, "/mnt/sl", NULL, MS_SLAVE, NULL), "slave sl");
	must(mount("tmpfs", "/mnt/p", "tmpfs", 0, "size=1m"), "mount p");
	must(mount(NULL, "/mnt/p", NULL, MS_PRIVATE, NULL), "private p");
	must(mount("tmpfs", "/mnt/u", "tmpfs", 0, "size=1m"), "mount u");
	must(mount(NULL, "/mnt/u", NULL, MS_UNBINDABLE, NULL), "unbindable u");
	must(mount("tmpfs", "/mnt/f", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME, "size=1m"), "mount f");
	write_file("/mnt/f/prog", "#!/bin/sh\nexit 0\n", 0755);
	must(mount("tmpfs", "/mnt/o", "tmpfs", 0, "size=1m"), "mount o (lower)");
	write_file("/mnt/o/under", "under\n", 0644);
	must(mount("tmpfs", "/mnt/o", "tmpfs", 0, "size=2m"), "mount o (upper)");
	write_file("/mnt/o/over", "over\n", 0644);
	write_file("/dev/shm/zt-shm", "in /dev/shm\n", 0600);
}

/* mountinfo without ids: "MOUNTPOINT ROOT FSTYPE SOURCE OPTS SUPER PROPAGATION", the
 * peer groups renumbered in order of appearance, sorted by mountpoint (stable). */
static char *mount_table(void)
{
	char *s = zt_read_file("/proc/self/mountinfo", NULL), *save = NULL, *line;
	static char out[65536];
	int groups[256], ng = 0;
	char *lines[256];
	int n = 0;

	if (!s)
		fail("read mountinfo");
	out[0] = 0;
	for (line = strtok_r(s, "\n", &save); line && n < 256; line = strtok_r(NULL, "\n", &save)) {
		char mp[512], root[512], opts[256], rest[1024], fstype[64], src[256], super[512], prop[128] = "";
		char buf[4096];
		int id, parent, ma, mi, off = 0;
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%d %d %d:%d %511s %511s %255s %n", &id, &parent, &ma, &mi, root, mp, opts,
				    &off) < 7)
			fail("bad mountinfo line %s", line);
		snprintf(rest, sizeof(rest), "%.*s", (int)(dash - (line + off)), line + off);
		if (sscanf(dash + 3, "%63s %255s %511s", fstype, src, super) != 3)
			fail("bad mountinfo line %s", line);
		/* optional fields: shared:N master:N unbindable */
		for (char *w = strtok(rest, " "); w; w = strtok(NULL, " ")) {
			char kind[16];
			int g, k;
			if (!strcmp(w, "unbindable")) {
				strcat(prop, " unbindable");
				continue;
			}
			if (sscanf(w, "%15[a-z_]:%d", kind, &g) != 2)
				continue;
			for (k = 0; k < ng && groups[k] != g; k++)
				;
			if (k == ng && ng < 256)
				groups[ng++] = g;
			snprintf(prop + strlen(prop), sizeof(prop) - strlen(prop), " %s:%d", kind, k);
		}
		snprintf(buf, sizeof(buf), "%s %s %s %s %s %s%s", mp, root, fstype, src, opts, super, prop);
		lines[n++] = strdup(buf);
	}
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(lines[j], lines[j - 1]) < 0; j--) {
			char *t = lines[j];
			lines[j] = lines[j - 1];
			lines[j - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		strncat(out, lines[i], sizeof(out) - strlen(out) - 2);
		strcat(out, "\n");
		free(lines[i]);
	}
	free(s);
	return strdup(out);
}

struct fstate {
	const char *path;
	struct stat st;
	char sum[64];
	char xattrs[64];
};

/* count and an order-free hash of the names and values */
static void xattrs_of(struct fstate *f)
{
	char list[4096], val[4096];
	unsigned long long all = 0;
	ssize_t len = llistxattr(f->path, list, sizeof(list));
	int n = 0;

	for (ssize_t off = 0; off < len; off += (ssize_t)strlen(list + off) + 1) {
		unsigned long long h = 1469598103934665603ULL;
		ssize_t vl = lgetxattr(f->path, list + off, val, sizeof(val));
		for (const char *c = list + off; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ULL;
		for (ssize_t i = 0; i < vl; i++)
			h = (h ^ (unsigned char)val[i]) * 1099511628211ULL;
		all ^= h + (unsigned long long)vl;
		n++;
	}
	snprintf(f->xattrs, sizeof(f->xattrs), "%d:%016llx", len < 0 ? -1 : n, all);
}

static void state_of(struct fstate *f)
{
	unsigned long long h = 1469598103934665603ULL;
	char buf[4096];
	ssize_t n;
	int fd;

	memset(&f->st, 0, sizeof(f->st));
	xattrs_of(f);
	if (lstat(f->path, &f->st) < 0) {
		snprintf(f->sum, sizeof(f->sum), "missing");
		return;
	}
	if (!S_ISREG(f->st.st_mode)) {
		if (S_ISLNK(f->st.st_mode)) {
			n = readlink(f->path, buf, sizeof(buf) - 1);
			snprintf(f->sum, sizeof(f->sum), "-> %.*s", (int)(n < 0 ? 0 : n), buf);
		} else {
			f->sum[0] = 0;
		}
		return;
	}
	fd = open(f->path, O_RDONLY);
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
	if (fd >= 0)
		close(fd);
	snprintf(f->sum, sizeof(f->sum), "%016llx", h);
}

static struct fstate files[] = {
	{ "/mnt/t" },	    { "/mnt/t/a" },	   { "/mnt/t/a/b" },	{ "/mnt/t/a/b/inner" }, { "/mnt/t/data" },
	{ "/mnt/t/sparse" }, { "/mnt/t/suid" },	   { "/mnt/t/link" },	{ "/mnt/t/hard" },	{ "/mnt/t/fifo" },
	{ "/mnt/t/null" },   { "/mnt/t/loop9" },   { "/mnt/t/sock" },	{ "/mnt/t/fb" },	{ "/mnt/b1/inner" },
	{ "/mnt/f/prog" },   { "/mnt/o/over" },	   { "/dev/null" },	{ "/dev/shm/zt-shm" },	{ "/ext/hello" },
};

static void compare_files(const struct fstate *before, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct fstate f = { before[i].path };
		const struct stat *a = &before[i].st, *b = &f.st;
		state_of(&f);
		if (strcmp(f.sum, before[i].sum))
			test_err("%s: contents %s, were %s", f.path, f.sum, before[i].sum);
		if (strcmp(f.xattrs, before[i].xattrs))
			test_err("%s: extended attributes %s, were %s", f.path, f.xattrs, before[i].xattrs);
		if (a->st_mode != b->st_mode || a->st_uid != b->st_uid || a->st_gid != b->st_gid ||
		    a->st_rdev != b->st_rdev || a->st_size != b->st_size || a->st_nlink != b->st_nlink)
			test_err("%s: mode 0%o owner %u:%u rdev %lx size %lld links %lu, were 0%o %u:%u %lx %lld %lu",
				 f.path, b->st_mode, b->st_uid, b->st_gid, (unsigned long)b->st_rdev, (long long)b->st_size,
				 (unsigned long)b->st_nlink, a->st_mode, a->st_uid, a->st_gid, (unsigned long)a->st_rdev,
				 (long long)a->st_size, (unsigned long)a->st_nlink);
		if (S_ISREG(a->st_mode) && strcmp(f.path, "/ext/hello") &&
		    (a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec))
			test_err("%s: mtime %ld.%09ld, was %ld.%09ld", f.path, (long)b->st_mtim.tv_sec, b->st_mtim.tv_nsec,
				 (long)a->st_mtim.tv_sec, a->st_mtim.tv_nsec);
	}
	{
		struct stat d, h;
		if (stat("/mnt/t/data", &d) == 0 && stat("/mnt/t/hard", &h) == 0 && d.st_ino != h.st_ino)
			test_err("the hard link is another file now");
	}
}

static void check_behaviour(void)
{
	char *s;

	/* flags */
	if (open("/mnt/b1/new", O_WRONLY | O_CREAT, 0644) >= 0 || errno != EROFS)
		test_err("/mnt/b1 is not read-only");
	if (open("/newfile", O_WRONLY | O_CREAT, 0644) >= 0 || errno != EROFS)
		test_err("the root is not read-only");
	if (access("/mnt/f/prog", X_OK) == 0 || errno != EACCES)
		test_err("/mnt/f is not noexec");
	if (write(open("/sys/kernel/mm/transparent_hugepage/enabled", O_WRONLY), "never", 5) >= 0)
		test_err("/sys is writable");
	/* the namespace's own proc: pid 1 is this test */
	s = read_str("/proc/1/comm");
	if (strcmp(s, "test\n"))
		test_err("/proc/1/comm is '%s': not the container's proc", s);
	free(s);
	/* devpts: a new instance, with ptys of our own */
	{
		int m = open("/dev/ptmx", O_RDWR | O_NOCTTY);
		char name[64];
		if (m < 0 || ptsname_r(m, name, sizeof(name)) || strncmp(name, "/dev/pts/", 9))
			test_err("no pty from /dev/ptmx: %s", strerror(errno));
		if (m >= 0)
			close(m);
	}
	/* propagation */
	must(mkdir("/mnt/s/sub/x", 0755), "mkdir s/sub/x");
	if (mount("tmpfs", "/mnt/s/sub", "tmpfs", 0, "size=1m") < 0)
		test_err("mount in /mnt/s: %s", strerror(errno));
	else {
		struct stat a, b, c;
		if (stat("/mnt/s/sub", &a) || stat("/mnt/s2/sub", &b) || stat("/mnt/sl/sub", &c) || a.st_dev != b.st_dev ||
		    a.st_dev != c.st_dev)
			test_err("a mount in /mnt/s does not propagate to its peer and its slave");
	}
	if (mount("tmpfs", "/mnt/sl/sub", "tmpfs", 0, "size=1m") < 0)
		test_err("mount in /mnt/sl: %s", strerror(errno));
	else {
		struct stat a, c;
		if (stat("/mnt/s/sub", &a) || stat("/mnt/sl/sub", &c) || a.st_dev == c.st_dev)
			test_err("a mount in the slave /mnt/sl propagates back to /mnt/s");
	}
	if (mount("/mnt/u", "/mnt/p", NULL, MS_BIND, NULL) == 0 || errno != EINVAL)
		test_err("/mnt/u can be bound: not unbindable");
	/* the overmount */
	s = read_str("/mnt/o/over");
	if (strcmp(s, "over\n") || access("/mnt/o/under", F_OK) == 0)
		test_err("/mnt/o: the upper tmpfs is not on top");
	free(s);
	if (umount("/mnt/o") < 0)
		test_err("umount /mnt/o: %s", strerror(errno));
	s = read_str("/mnt/o/under");
	if (strcmp(s, "under\n"))
		test_err("/mnt/o/under is '%s' once the upper tmpfs is gone", s);
	free(s);
}

int main(int argc, char **argv)
{
	struct fstate before[sizeof(files) / sizeof(files[0])];
	char *table, *after;

	test_init(argc, argv);
	setup_tmpfs();
	setup_mounts();
	table = mount_table();
	memcpy(before, files, sizeof(files));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		state_of(&before[i]);
	test_ready();
	test_waitsig();

	if (test_self_fail) {
		int fd = open("/mnt/t/data", O_WRONLY);
		if (fd < 0 || pwrite(fd, "X", 1, 5000) != 1)
			fail("self-test corruption");
		close(fd);
	}
	after = mount_table();
	if (strcmp(table, after)) {
		char *sa = NULL, *sb = NULL;
		for (char *a = strtok_r(table, "\n", &sa), *b = strtok_r(after, "\n", &sb); a || b;
		     a = strtok_r(NULL, "\n", &sa), b = strtok_r(NULL, "\n", &sb))
			if (!a || !b || strcmp(a, b))
				test_msg("mount was: %s\n      now: %s", a ? a : "-", b ? b : "-");
		test_err("the mount table differs (see the log)");
	}
	compare_files(before, sizeof(files) / sizeof(files[0]));
	check_behaviour();
	test_result();
}
