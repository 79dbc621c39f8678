/*
 * A container with its own IPC namespace (nsrun --ns pid,mnt,ipc) holding System V
 * objects of every kind, and namespace values of its own:
 *   - kernel/shmmax, kernel/msgmnb, kernel/sem changed (nsrun --sysctl);
 *   - segment A (key 0x5a0001, 2 MiB, mode 0640, owner 1000:1001) attached twice in
 *     the init (one read-only attach) and once in a child, written by the init: the
 *     child sees the same memory; segment B (IPC_PRIVATE, 64 KiB) never attached,
 *     with data; segment C attached and removed (IPC_RMID) while attached;
 *   - a semaphore set of 3 (values 1, 7, 300); a message queue with 3 messages;
 *   - POSIX shared memory in the container's /dev/shm: P (1 MiB + 1 page, its fd
 *     closed) mapped twice, written but for a hole of 4 pages; Q (64 KiB) mapped and
 *     held open (fd 40).
 * After the restore: the same ids, keys, owners, modes, sizes and attach counts;
 * the memory (through every attach, the child's too, and through a new attach of B),
 * the values, the messages in order; shmdt() works on a restored attach; C is still
 * removed (SHM_DEST, IPC_PRIVATE) and its attach holds its data. Restored lazily
 * (/zt/lazy, written by the runner), the attaches are shared mappings of the
 * segments' memory: the kernel can't register System V attaches with a userfaultfd,
 * so shm_nattch counts none and shmdt() refuses them; everything else holds.
 * P and Q: size, mode, contents through both mappings (the hole still zero), then
 * through the file too, and one memory with it; Q through fd 40.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ztest.h"

#define SZ_A (2 << 20)
#define SZ_B (64 << 10)
#define SZ_C (16 << 10)
#define KEY_A 0x5a0001
#define KEY_S 0x5a0002
#define KEY_Q 0x5a0003
#define SZ_P ((1 << 20) + 4096)
#define HOLE_P (256 << 10) /* 4 pages at 256 KiB never written */
#define SZ_Q (64 << 10)
#define FD_Q 40

struct msg {
	long mtype;
	char text[64];
};

static char *get(const char *name)
{
	char path[128];
	char *s;
	snprintf(path, sizeof(path), "/proc/sys/%s", name);
	s = zt_read_file(path, NULL);
	if (s)
		s[strcspn(s, "\n")] = 0;
	return s ? s : strdup("?");
}

int main(int argc, char **argv)
{
	static const char *const vars[] = { "kernel/shmmax", "kernel/msgmnb", "kernel/sem" };
	char *before[3];
	int a, b, c, s, q, st;
	char *pa, *pa_ro, *pc;
	int *shared;
	pid_t child;
	struct shmid_ds ds_a, ds_b;
	struct msqid_ds qd;
	int lazy;
	char *pp, *pp2, *pq;

	test_init(argc, argv);
	/* set by nsrun --sysctl, as a runtime sets them: /proc/sys is read-only in here */
	for (int i = 0; i < 3; i++)
		before[i] = get(vars[i]);
	if (strcmp(before[0], "123456789") || strcmp(before[1], "32768"))
		fail("nsrun did not set the namespace's values (%s, %s)", before[0], before[1]);

	a = shmget(KEY_A, SZ_A, IPC_CREAT | IPC_EXCL | 0640);
	b = shmget(IPC_PRIVATE, SZ_B, IPC_CREAT | 0600);
	c = shmget(IPC_PRIVATE, SZ_C, IPC_CREAT | 0600);
	if (a < 0 || b < 0 || c < 0)
		fail("shmget: %s", strerror(errno));
	memset(&ds_a, 0, sizeof(ds_a));
	if (shmctl(a, IPC_STAT, &ds_a) < 0)
		fail("IPC_STAT");
	ds_a.shm_perm.uid = 1000;
	ds_a.shm_perm.gid = 1001;
	if (shmctl(a, IPC_SET, &ds_a) < 0)
		fail("IPC_SET");
	pa = shmat(a, NULL, 0);
	pa_ro = shmat(a, NULL, SHM_RDONLY);
	pc = shmat(c, NULL, 0);
	if (pa == (void *)-1 || pa_ro == (void *)-1 || pc == (void *)-1)
		fail("shmat");
	zt_fill(pa, SZ_A, 0xa);
	zt_fill(pc, SZ_C, 0xc);
	{
		char *pb = shmat(b, NULL, 0);
		if (pb == (void *)-1)
			fail("shmat b");
		zt_fill(pb, SZ_B, 0xb);
		shmdt(pb);
	}
	if (shmctl(c, IPC_RMID, NULL) < 0)
		fail("IPC_RMID c");
	shared = zt_shared(2 * sizeof(int));
	child = fork();
	if (child == 0) {
		int ok;
		zt_post(&shared[0], 1);
		zt_wait_ge(&shared[1], 1, 3600);
		/* the child's attach, inherited: the same segment, and what the init writes */
		ok = zt_verify(pa, SZ_A, 0xa) == -1;
		zt_post(&shared[0], 1);
		zt_wait_ge(&shared[1], 2, 10);
		_exit(ok && pa[100] == 'Z' ? 0 : 1);
	}
	zt_wait_ge(&shared[0], 1, 10);

	s = semget(KEY_S, 3, IPC_CREAT | IPC_EXCL | 0600);
	if (s < 0 || semctl(s, 0, SETVAL, 1) < 0 || semctl(s, 1, SETVAL, 7) < 0 || semctl(s, 2, SETVAL, 300) < 0)
		fail("semaphores: %s", strerror(errno));
	q = msgget(KEY_Q, IPC_CREAT | IPC_EXCL | 0604);
	for (int i = 0; i < 3; i++) {
		struct msg m = { 10 + i };
		snprintf(m.text, sizeof(m.text), "message %d", i);
		if (q < 0 || msgsnd(q, &m, strlen(m.text) + 1, 0) < 0)
			fail("msgsnd: %s", strerror(errno));
	}
	if (shmctl(a, IPC_STAT, &ds_a) < 0 || shmctl(b, IPC_STAT, &ds_b) < 0)
		fail("IPC_STAT");

	/* POSIX shared memory, as shm_open() makes it */
	{
		int fd = open("/dev/shm/zt-posix-p", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (fd < 0 || ftruncate(fd, SZ_P) < 0)
			fail("/dev/shm/zt-posix-p: %s", strerror(errno));
		pp = mmap(NULL, SZ_P, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		pp2 = mmap(NULL, SZ_P, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		fd = open("/dev/shm/zt-posix-q", O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || ftruncate(fd, SZ_Q) < 0 || dup2(fd, FD_Q) != FD_Q)
			fail("/dev/shm/zt-posix-q: %s", strerror(errno));
		close(fd);
		pq = mmap(NULL, SZ_Q, PROT_READ | PROT_WRITE, MAP_SHARED, FD_Q, 0);
		if (pp == MAP_FAILED || pp2 == MAP_FAILED || pq == MAP_FAILED)
			fail("mmap /dev/shm: %s", strerror(errno));
		zt_fill(pp, HOLE_P, 0x9);
		zt_fill(pp + HOLE_P + 4 * 4096, SZ_P - HOLE_P - 4 * 4096, 0x19);
		zt_fill(pq, SZ_Q, 0x29);
	}

	test_ready();
	test_waitsig();
	lazy = access("/zt/lazy", F_OK) == 0;
	if (test_self_fail)
		pa[SZ_A - 1] ^= 1;

	for (int i = 0; i < 3; i++) {
		char *now = get(vars[i]);
		if (strcmp(now, before[i]))
			test_err("%s is '%s', was '%s'", vars[i], now, before[i]);
	}
	{
		struct shmid_ds na, nb;
		if (shmctl(a, IPC_STAT, &na) < 0 || shmctl(b, IPC_STAT, &nb) < 0)
			test_err("segments a/b (%d/%d) gone: %s", a, b, strerror(errno));
		else {
			if (na.shm_perm.__key != KEY_A || na.shm_perm.uid != 1000 || na.shm_perm.gid != 1001 ||
			    (na.shm_perm.mode & 0777) != 0640 || na.shm_segsz != SZ_A)
				test_err("segment a: key %x owner %u:%u mode %o size %zu", na.shm_perm.__key,
					 na.shm_perm.uid, na.shm_perm.gid, na.shm_perm.mode, (size_t)na.shm_segsz);
			if (na.shm_nattch != (lazy ? 0 : ds_a.shm_nattch))
				test_err("segment a is attached %lu times, was %lu%s", (unsigned long)na.shm_nattch,
					 (unsigned long)ds_a.shm_nattch, lazy ? " (lazily: none counted)" : "");
			if (nb.shm_segsz != SZ_B || nb.shm_nattch != 0 || (nb.shm_perm.mode & 0777) != 0600)
				test_err("segment b: size %zu attached %lu mode %o", (size_t)nb.shm_segsz,
					 (unsigned long)nb.shm_nattch, nb.shm_perm.mode);
		}
		/* removed while attached: still there while attached (not lazily: no attach counted) */
		if (shmctl(c, IPC_STAT, &na) == 0 ? (lazy || !(na.shm_perm.mode & SHM_DEST) || na.shm_perm.__key)
						   : !lazy)
			test_err("segment c, removed while attached: %s", lazy ? "still listed" : "not SHM_DEST");
	}
	zt_check("segment a", pa, SZ_A, 0xa);
	zt_check("segment a, read-only attach", pa_ro, SZ_A, 0xa);
	zt_check("segment c (removed)", pc, SZ_C, 0xc);
	{
		char *pb = shmat(b, NULL, SHM_RDONLY);
		if (pb == (void *)-1)
			test_err("shmat b after restore: %s", strerror(errno));
		else {
			zt_check("segment b, attached after restore", pb, SZ_B, 0xb);
			shmdt(pb);
		}
	}
	if (pa_ro[0] != pa[0])
		test_err("the two attaches of a are not the same memory");
	zt_post(&shared[1], 1);
	zt_wait_ge(&shared[0], 2, 10);
	pa[100] = 'Z';
	zt_post(&shared[1], 1);
	if (zt_waitpid(child, &st, 10, "the child") == 0 && (!WIFEXITED(st) || WEXITSTATUS(st)))
		test_err("the child does not see segment a as the init writes it");
	if (lazy ? munmap(pa_ro, SZ_A) < 0 : shmdt(pa_ro) < 0)
		test_err("detaching a restored attach: %s", strerror(errno));
	for (int i = 0; i < 3; i++) {
		int v = semctl(s, i, GETVAL);
		static const int want[3] = { 1, 7, 300 };
		if (v != want[i])
			test_err("semaphore %d is %d, was %d", i, v, want[i]);
	}
	if (msgctl(q, IPC_STAT, &qd) < 0 || qd.msg_qnum != 3 || (qd.msg_perm.mode & 0777) != 0604)
		test_err("the message queue: %s, %lu messages", strerror(errno), (unsigned long)qd.msg_qnum);
	for (int i = 0; i < 3; i++) {
		struct msg m;
		char want[64];
		ssize_t n = msgrcv(q, &m, sizeof(m.text), 0, IPC_NOWAIT);
		snprintf(want, sizeof(want), "message %d", i);
		if (n != (ssize_t)strlen(want) + 1 || m.mtype != 10 + i || strcmp(m.text, want))
			test_err("message %d: type %ld '%.*s'", i, m.mtype, n > 0 ? (int)n : 0, m.text);
	}
	/* POSIX shared memory: through the mappings (faults), then through the files */
	{
		struct stat sp, sq;
		char *buf = malloc(SZ_P);
		int fd = open("/dev/shm/zt-posix-p", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sp) < 0 || fstat(FD_Q, &sq) < 0)
			test_err("/dev/shm after restore: %s", strerror(errno));
		else {
			if (sp.st_size != SZ_P || (sp.st_mode & 07777) != 0640 || sq.st_size != SZ_Q)
				test_err("/dev/shm files: sizes %lld %lld, mode %o", (long long)sp.st_size,
					 (long long)sq.st_size, sp.st_mode & 07777);
			/* Q first through its fd (read() bypasses userfaultfd: it must be in) */
			if (!buf || pread(FD_Q, buf, SZ_Q, 0) != SZ_Q)
				test_err("POSIX shm Q: can't read fd %d", FD_Q);
			else
				zt_check("POSIX shm Q through its fd", buf, SZ_Q, 0x29);
			zt_check("POSIX shm P", pp, HOLE_P, 0x9);
			if (zt_verify_zero(pp + HOLE_P, 4 * 4096) != -1)
				test_err("POSIX shm P: the hole is not zero");
			zt_check("POSIX shm P after the hole", pp + HOLE_P + 4 * 4096, SZ_P - HOLE_P - 4 * 4096, 0x19);
			zt_check("POSIX shm P, second mapping", pp2, HOLE_P, 0x9);
			zt_check("POSIX shm Q", pq, SZ_Q, 0x29);
			if (!buf || pread(fd, buf, SZ_P, 0) != SZ_P || memcmp(buf, pp, SZ_P))
				test_err("POSIX shm P: the file is not what its mapping holds");
			if (!buf || pread(FD_Q, buf, SZ_Q, 0) != SZ_Q || memcmp(buf, pq, SZ_Q))
				test_err("POSIX shm Q: fd %d is not what its mapping holds", FD_Q);
			pp[5] ^= 0x55;
			if (pp2[5] != pp[5] || pread(fd, buf, 8, 0) != 8 || buf[5] != pp[5])
				test_err("POSIX shm P: the mappings and the file are not one");
		}
		free(buf);
		if (fd >= 0)
			close(fd);
	}
	if (!lazy) {
		shmdt(pa);
		shmdt(pc);
	}
	test_result();
}
