/* criu-lite/ns: the namespace images' validator (hostile ns.img and seccomp.img refused,
 * sane ones accepted), tmpfs contents (a round trip of every file kind; hostile paths and
 * symlinks never lead outside the restored directory), mountinfo lines. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/proc-parse.h"
#include "lib/util.h"
#include "images/nsimg.h"
#include "criu-lite/ns/tmpfs.h"

static char tmpdir[64];
static int dfd = -1;

static void setup(void)
{
	strcpy(tmpdir, "/tmp/check_ns.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	dfd = open(tmpdir, O_DIRECTORY | O_RDONLY);
	ck_assert_int_ge(dfd, 0);
	log_init(LOG_MSG, NULL);
}

static void teardown(void)
{
	char cmd[128];
	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_ns(NsEntry **e, size_t n)
{
	struct img *img = img_open(dfd, IMG_NS, O_WRONLY, 0);
	ck_assert_ptr_nonnull(img);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(img_write(img, e[i]), 0);
	ck_assert_int_eq(img_close(img), 0);
}

static const uint32_t threads_a[] = { 100, 101 }, threads_b[] = { 200 };
static const struct img_ns_task tasks[] = { { 100, threads_a, 2 }, { 200, threads_b, 1 } };

static int load(void)
{
	struct img_ns ns;
	int r = img_ns_load(dfd, tasks, 2, NULL, 0, &ns);
	if (r == 0)
		img_ns_free(&ns);
	return r;
}

START_TEST(test_pid_map)
{
	uint32_t ta[] = { 1, 7 }, tb[] = { 5 }, tdup[] = { 1, 5 };
	NsPidTask a = NS_PID_TASK__INIT, b = NS_PID_TASK__INIT, *pt[] = { &a, &b };
	NsPidEntry pe = NS_PID_ENTRY__INIT;
	NsEntry e = NS_ENTRY__INIT, *pe_[] = { &e };

	a.pid = 100, a.ns_pid = 1, a.ns_threads = ta, a.n_ns_threads = 2;
	b.pid = 200, b.ns_pid = 5, b.ns_threads = tb, b.n_ns_threads = 1;
	pe.tasks = pt, pe.n_tasks = 2;
	e.kind = NS_KIND_PID, e.pid = &pe;
	write_ns(pe_, 1);
	ck_assert_int_eq(load(), 0);
	/* a thread id twice in the namespace */
	a.ns_threads = tdup;
	write_ns(pe_, 1);
	ck_assert_int_eq(load(), -1);
	ck_assert_int_eq(errno, EBADMSG);
	a.ns_threads = ta;
	/* the root not pid 1 */
	a.ns_pid = ta[0] = 3;
	write_ns(pe_, 1);
	ck_assert_int_eq(load(), -1);
	a.ns_pid = ta[0] = 1;
	/* a task missing */
	pe.n_tasks = 1;
	write_ns(pe_, 1);
	ck_assert_int_eq(load(), -1);
	pe.n_tasks = 2;
	/* threads miscounted */
	b.n_ns_threads = 0;
	write_ns(pe_, 1);
	ck_assert_int_eq(load(), -1);
	b.n_ns_threads = 1;
	/* a kind twice, an unknown kind */
	{
		NsEntry u = NS_ENTRY__INIT, *two[] = { &e, &e }, *unk[] = { &u };
		write_ns(two, 2);
		ck_assert_int_eq(load(), -1);
		u.kind = 99;
		write_ns(unk, 1);
		ck_assert_int_eq(load(), -1);
	}
}
END_TEST

static MntEntry mnt(uint32_t id, uint32_t parent, const char *mp, uint32_t kind, uint64_t dev)
{
	MntEntry m = MNT_ENTRY__INIT;
	m.id = id, m.parent_id = parent, m.mountpoint = (char *)mp, m.fstype = (char *)"tmpfs", m.kind = kind;
	m.has_dev = true, m.dev = dev;
	return m;
}

START_TEST(test_mount_table)
{
	MntEntry m[4] = { mnt(10, 0, "/", MNT_KIND_ROOT, 1), mnt(11, 10, "/dev", MNT_KIND_NEW, 2),
			  mnt(12, 11, "/dev/x", MNT_KIND_BIND, 2), mnt(13, 10, "/ext", MNT_KIND_EXTERNAL, 3) };
	MntEntry *pm[4] = { &m[0], &m[1], &m[2], &m[3] };
	NsMntEntry me = NS_MNT_ENTRY__INIT;
	NsEntry e = NS_ENTRY__INIT, *pe[] = { &e };

	m[2].has_bind_of = true, m[2].bind_of = 11;
	m[3].ext_key = (char *)"k";
	me.mounts = pm, me.n_mounts = 4;
	e.kind = NS_KIND_MNT, e.mnt = &me;
	write_ns(pe, 1);
	ck_assert_int_eq(load(), 0);

	/* a bind of a mount of another filesystem */
	m[2].dev = 9;
	write_ns(pe, 1);
	ck_assert_int_eq(load(), -1);
	m[2].dev = 2;
	/* a bind of itself, of nothing */
	m[2].bind_of = 12;
	write_ns(pe, 1);
	ck_assert_int_eq(load(), -1);
	m[2].bind_of = 77;
	write_ns(pe, 1);
	ck_assert_int_eq(load(), -1);
	m[2].bind_of = 11;
	/* a child before its parent */
	pm[1] = &m[2], pm[2] = &m[1];
	write_ns(pe, 1);
	ck_assert_int_eq(load(), -1);
	pm[1] = &m[1], pm[2] = &m[2];
	/* a relative or escaping mountpoint */
	m[1].mountpoint = (char *)"dev";
	write_ns(pe, 1);
	ck_assert_int_eq(load(), -1);
	m[1].mountpoint = (char *)"/a/../../etc";
	write_ns(pe, 1);
	ck_assert_int_eq(load(), -1);
	m[1].mountpoint = (char *)"/dev";
	/* the root not first, two roots, an external without a key, an unknown kind */
	m[1].kind = MNT_KIND_ROOT;
	write_ns(pe, 1);
	ck_assert_int_eq(load(), -1);
	m[1].kind = MNT_KIND_NEW;
	m[3].ext_key = NULL;
	write_ns(pe, 1);
	ck_assert_int_eq(load(), -1);
	m[3].ext_key = (char *)"k";
	m[3].kind = 42;
	write_ns(pe, 1);
	ck_assert_int_eq(load(), -1);
	m[3].kind = MNT_KIND_EXTERNAL;
	write_ns(pe, 1);
	ck_assert_int_eq(load(), 0);
}
END_TEST

START_TEST(test_seccomp)
{
	uint8_t prog[16] = { 0 };
	SeccompFilterEntry f = SECCOMP_FILTER_ENTRY__INIT, *pf[] = { &f };
	SeccompChainEntry c = SECCOMP_CHAIN_ENTRY__INIT, *pc[] = { &c };
	SeccompThreadEntry t = SECCOMP_THREAD_ENTRY__INIT, *pt[] = { &t };
	SeccompEntry s = SECCOMP_ENTRY__INIT;
	struct img *img;

	f.prog.data = prog, f.prog.len = sizeof(prog);
	c.id = 1, c.filters = pf, c.n_filters = 1;
	t.tid = 101, t.mode = 2, t.has_chain = true, t.chain = 1;
	s.chains = pc, s.n_chains = 1, s.threads = pt, s.n_threads = 1;
	for (int round = 0; round < 5; round++) {
		if (round == 1)
			f.prog.len = 13; /* not whole instructions */
		if (round == 2)
			f.prog.len = 16, t.chain = 2; /* no such chain */
		if (round == 3)
			t.chain = 1, t.tid = 999; /* no such thread */
		if (round == 4)
			t.tid = 101, t.mode = 7;
		img = img_open(dfd, IMG_SECCOMP, O_WRONLY, 0);
		ck_assert_int_eq(img_write(img, &s), 0);
		ck_assert_int_eq(img_close(img), 0);
		ck_assert_int_eq(load(), round == 0 ? 0 : -1);
	}
}
END_TEST

/* ---- tmpfs contents ---- */

static void mk(const char *dir, const char *name, const char *data)
{
	char path[256];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(data, f);
	fclose(f);
}

START_TEST(test_tmpfs_roundtrip)
{
	char src[128], dst[128], path[256], buf[256];
	struct stat st, st2;
	int sfd, tfd, fd;
	char err[256] = "";

	snprintf(src, sizeof(src), "%s/src", tmpdir);
	snprintf(dst, sizeof(dst), "%s/dst", tmpdir);
	ck_assert_int_eq(mkdir(src, 0750), 0);
	ck_assert_int_eq(mkdir(dst, 0755), 0);
	snprintf(path, sizeof(path), "%s/d", src);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	mk(src, "d/file", "hello tmpfs\n");
	snprintf(path, sizeof(path), "%s/sparse", src);
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	ck_assert_int_eq(pwrite(fd, "x", 1, 3 << 20), 1);
	close(fd);
	snprintf(path, sizeof(path), "%s/link", src);
	ck_assert_int_eq(symlink("d/file", path), 0);
	snprintf(path, sizeof(path), "%s/hard", src);
	snprintf(buf, sizeof(buf), "%s/d/file", src);
	ck_assert_int_eq(link(buf, path), 0);
	snprintf(path, sizeof(path), "%s/fifo", src);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/null", src);
	ck_assert_int_eq(mknod(path, S_IFCHR | 0666, makedev(1, 3)), 0);

	sfd = open(src, O_PATH | O_DIRECTORY);
	tfd = open(dst, O_PATH | O_DIRECTORY);
	ck_assert_int_eq(ns_tmpfs_dump(dfd, 5, sfd, NULL, NULL), 0);
	ck_assert_int_eq(ns_tmpfs_restore(dfd, 5, tfd, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(fstatat(tfd, "", &st, AT_EMPTY_PATH), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0750);
	fd = openat(tfd, "d/file", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 12);
	ck_assert(!memcmp(buf, "hello tmpfs\n", 12));
	close(fd);
	ck_assert_int_eq(fstatat(tfd, "hard", &st, 0), 0);
	ck_assert_int_eq(fstatat(tfd, "d/file", &st2, 0), 0);
	ck_assert_uint_eq(st.st_ino, st2.st_ino);
	ck_assert_int_eq(fstatat(tfd, "sparse", &st, 0), 0);
	ck_assert_int_eq(st.st_size, (3 << 20) + 1);
	ck_assert_int_lt(st.st_blocks, 64); /* the hole stays a hole */
	ck_assert_int_eq(readlinkat(tfd, "link", buf, sizeof(buf)), 6);
	ck_assert_int_eq(fstatat(tfd, "fifo", &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	ck_assert_int_eq(fstatat(tfd, "null", &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	close(sfd);
	close(tfd);
}
END_TEST

/* A file that is a shmem object too: its data is left to the object (not in the image),
 * and restore makes it at its size only where the object will fill it. */
static uint64_t shm_dev, shm_ino;
static uint64_t shmem_of_test(void *arg, uint64_t dev, uint64_t ino)
{
	(void)arg;
	return dev == shm_dev && ino == shm_ino ? 7 : 0;
}

static bool shmem_ok_test(void *arg, uint64_t id)
{
	return id == *(uint64_t *)arg;
}

START_TEST(test_tmpfs_shmem_file)
{
	char src[128], dst[128], dst2[128], path[256], buf[16];
	struct stat st;
	uint64_t want = 7, other = 8;
	int sfd, tfd, fd;
	char err[256] = "";

	snprintf(src, sizeof(src), "%s/src", tmpdir);
	snprintf(dst, sizeof(dst), "%s/dst", tmpdir);
	snprintf(dst2, sizeof(dst2), "%s/dst2", tmpdir);
	ck_assert_int_eq(mkdir(src, 0755), 0);
	ck_assert_int_eq(mkdir(dst, 0755), 0);
	ck_assert_int_eq(mkdir(dst2, 0755), 0);
	mk(src, "shm", "shared memory data");
	mk(src, "plain", "plain data");
	snprintf(path, sizeof(path), "%s/shm", src);
	ck_assert_int_eq(stat(path, &st), 0);
	shm_dev = st.st_dev, shm_ino = st.st_ino;
	sfd = open(src, O_PATH | O_DIRECTORY);
	tfd = open(dst, O_PATH | O_DIRECTORY);
	ck_assert_int_eq(ns_tmpfs_dump(dfd, 5, sfd, shmem_of_test, NULL), 0);
	ck_assert_int_eq(ns_tmpfs_restore(dfd, 5, tfd, shmem_ok_test, &want, err, sizeof(err)), 0);
	ck_assert_int_eq(fstatat(tfd, "shm", &st, 0), 0);
	ck_assert_int_eq(st.st_size, 18);
	ck_assert_int_eq(st.st_blocks, 0); /* no data: the shmem object brings it */
	fd = openat(tfd, "plain", O_RDONLY);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 10);
	close(fd);
	close(tfd);
	/* an image naming an object the restore has not as such a file: refused */
	tfd = open(dst2, O_PATH | O_DIRECTORY);
	ck_assert_int_eq(ns_tmpfs_restore(dfd, 5, tfd, shmem_ok_test, &other, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "shmem object 7"));
	close(tfd);
	snprintf(path, sizeof(path), "%s/dst3", tmpdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	tfd = open(path, O_PATH | O_DIRECTORY);
	err[0] = 0;
	ck_assert_int_eq(ns_tmpfs_restore(dfd, 5, tfd, NULL, NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "shmem object 7"));
	close(tfd);
	close(sfd);
}
END_TEST

static void write_tmpfs(TmpfsFileEntry **e, size_t n)
{
	struct img *img = img_open(dfd, IMG_TMPFS, O_WRONLY, 6);
	ck_assert_ptr_nonnull(img);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(img_write(img, e[i]), 0);
	ck_assert_int_eq(img_close(img), 0);
}

static TmpfsFileEntry tf(const char *path, mode_t mode)
{
	TmpfsFileEntry e = TMPFS_FILE_ENTRY__INIT;
	e.path = (char *)path, e.has_mode = true, e.mode = mode;
	return e;
}

/* A hostile image never makes anything outside the directory it restores into. */
START_TEST(test_tmpfs_hostile)
{
	char dst[128], outside[160], err[256];
	TmpfsFileEntry root = tf("", S_IFDIR | 0755), link = tf("l", S_IFLNK | 0777), through = tf("l/evil", S_IFREG | 0644),
		       dots = tf("../evil", S_IFREG | 0644), abs = tf("/evil", S_IFREG | 0644),
		       data = TMPFS_FILE_ENTRY__INIT, file = tf("f", S_IFREG | 0644);
	TmpfsFileEntry *sym[] = { &root, &link, &through }, *dot[] = { &root, &dots }, *ab[] = { &root, &abs },
		       *dat[] = { &root, &file, &data };
	int tfd;

	snprintf(dst, sizeof(dst), "%s/dst", tmpdir);
	snprintf(outside, sizeof(outside), "%s/evil", tmpdir);
	ck_assert_int_eq(mkdir(dst, 0755), 0);
	tfd = open(dst, O_PATH | O_DIRECTORY);
	link.target = tmpdir; /* a symlink out, then a file through it */
	write_tmpfs(sym, 3);
	ck_assert_int_eq(ns_tmpfs_restore(dfd, 6, tfd, NULL, NULL, err, sizeof(err)), -1);
	write_tmpfs(dot, 2);
	ck_assert_int_eq(ns_tmpfs_restore(dfd, 6, tfd, NULL, NULL, err, sizeof(err)), -1);
	write_tmpfs(ab, 2);
	ck_assert_int_eq(ns_tmpfs_restore(dfd, 6, tfd, NULL, NULL, err, sizeof(err)), -1);
	ck_assert_int_eq(access(outside, F_OK), -1);
	/* data beyond the file's size */
	file.has_size = true, file.size = 4;
	data.path = (char *)"f", data.has_data = data.has_data_off = true, data.data_off = 2;
	data.data.data = (uint8_t *)"abcdef", data.data.len = 6;
	write_tmpfs(dat, 3);
	ck_assert_int_eq(ns_tmpfs_restore(dfd, 6, tfd, NULL, NULL, err, sizeof(err)), -1);
	close(tfd);
}
END_TEST

START_TEST(test_mountinfo_line)
{
	struct proc_mount m;

	ck_assert_int_eq(proc_parse_mountinfo_line("70 69 0:42 / /dev/pts rw,nosuid,noexec,relatime shared:5 "
						   "master:3 - devpts devpts rw,gid=5,mode=620",
						   &m),
			 0);
	ck_assert_int_eq(m.id, 70);
	ck_assert_int_eq(m.parent, 69);
	ck_assert_uint_eq(m.minor, 42);
	ck_assert_str_eq(m.mountpoint, "/dev/pts");
	ck_assert_int_eq(m.shared, 5);
	ck_assert_int_eq(m.master, 3);
	ck_assert_str_eq(m.fstype, "devpts");
	ck_assert_str_eq(m.super_opts, "rw,gid=5,mode=620");
	proc_mount_fini(&m);
	ck_assert_int_eq(proc_parse_mountinfo_line("1 2 8:1 /a\\040b /m\\011t ro unbindable - ext4 /dev/x rw", &m), 0);
	ck_assert_str_eq(m.root, "/a b");
	ck_assert_str_eq(m.mountpoint, "/m\tt");
	ck_assert(m.unbindable);
	proc_mount_fini(&m);
	ck_assert_int_eq(proc_parse_mountinfo_line("1 2 8:1 / /m rw shared:1", &m), -1);
	ck_assert_int_eq(proc_parse_mountinfo_line("x 2 8:1 / /m rw - ext4 /dev/x rw", &m), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ns");
	TCase *tc = tcase_create("ns");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pid_map);
	tcase_add_test(tc, test_mount_table);
	tcase_add_test(tc, test_seccomp);
	tcase_add_test(tc, test_tmpfs_roundtrip);
	tcase_add_test(tc, test_tmpfs_hostile);
	tcase_add_test(tc, test_tmpfs_shmem_file);
	tcase_add_test(tc, test_mountinfo_line);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
