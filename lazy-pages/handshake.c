/* The restore <-> lazy-pages handshake (see handshake.h), and loading a task's lazy
 * memory description from the images. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lib/log.h"
#include "lib/util.h"
#include "images/image.h"
#include "lazy-pages/handshake.h"
#include "lazy-pages/loop.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ---- loading tasks and objects from the images ---- */

int lp_load_shm(struct lp_loop *l, int dfd, uint64_t id, int fd)
{
	cleanup_close int ofd = fd;
	int idx = lp_loop_find_shm(l, id);

	if (idx >= 0)
		return lp_loop_add_shm(l, id, 0, steal_fd(&ofd), NULL);

	cleanup_img struct img *img = img_open(dfd, IMG_SHMEM, O_RDONLY, 0);
	if (!img)
		return -1;
	ShmemEntry *se = NULL;
	int ret;
	while ((ret = img_read(img, (void **)&se)) > 0) {
		if (se->id == id)
			break;
		img_free_msg(img, se);
		se = NULL;
	}
	if (ret < 0)
		return -1;
	if (!se) {
		pr_err("shmem object %" PRIu64 " is not in shmem.img\n", id);
		return -1;
	}
	if (se->has_lazy && !se->lazy) {
		/* reachable through a descriptor or a path: the restore filled it */
		img_free_msg(img, se);
		return LP_SHM_EAGER;
	}
	char pid_s[32];
	snprintf(pid_s, sizeof(pid_s), "shmem-%" PRIu64, se->has_pages_id ? (uint64_t)se->pages_id : id);
	uint64_t size = se->size;
	img_free_msg(img, se);
	if (size > (1ULL << 46)) {
		pr_err("shmem object %" PRIu64 ": size %" PRIu64 " is not believable\n", id, size);
		return -1;
	}
	struct lp_pages *pages = lp_pages_open_image(dfd, pid_s);
	if (!pages)
		return -1;
	/* The restore leaves lazy objects' pagemaps to us: a page past the object's end
	 * would be written there and grow the object. */
	if (pages->nr_ext) {
		const struct lp_extent *last = &pages->ext[pages->nr_ext - 1];
		if (last->addr + last->nr * PAGE_SIZE > size) {
			pr_err("pagemap-%s.img: pages up to %#" PRIx64 " lie past the object's %" PRIu64
			       " bytes\n", pid_s, last->addr + last->nr * PAGE_SIZE, size);
			lp_pages_put(pages);
			return -1;
		}
	}
	idx = lp_loop_add_shm(l, id, size, steal_fd(&ofd), pages);
	lp_pages_put(pages);
	return idx;
}

/* A task we were handed but cannot serve must not run: its memory would read as zeros. */
static void kill_unserved(pid_t pid, int pidfd)
{
	if (pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) == 0)
		return;
	if (kill(pid, SIGKILL) && errno != ESRCH)
		pr_perror("can't kill task %d", (int)pid);
}

int lp_load_task(struct lp_loop *l, int dfd, pid_t pid, int uffd, int pidfd)
{
	return lp_load_task_at(l, dfd, pid, pid, uffd, pidfd);
}

int lp_load_task_at(struct lp_loop *l, int dfd, pid_t key, pid_t pid, int uffd, int pidfd)
{
	cleanup_close int ufd = uffd;
	cleanup_close int pfd = pidfd;
	struct lp_task *t = NULL;
	struct img *img = NULL;
	char id[32];
	MmEntry *mm = NULL;

	if (pfd < 0) {
		pfd = syscall(SYS_pidfd_open, pid, 0);
		if (pfd < 0)
			pr_warn("no pidfd for %d: %s, ignoring\n", (int)pid, strerror(errno));
	}
	img = img_open(dfd, IMG_MM, O_RDONLY, (unsigned long)key);
	if (!img || img_read_one(img, (void **)&mm) < 0)
		goto err;
	snprintf(id, sizeof(id), "%d", (int)key);
	struct lp_pages *pages = lp_pages_open_image(dfd, id);
	if (!pages)
		goto err;
	t = lp_task_new(l, pid, steal_fd(&ufd), steal_fd(&pfd), pages);
	lp_pages_put(pages);
	if (!t) {
		/* its fds are closed: kill by pid */
		kill_unserved(pid, -1);
		goto out;
	}
	for (size_t i = 0; i < mm->n_vmas; i++) {
		VmaEntry *v = mm->vmas[i];
		if (!v->has_status || !(v->status & VMA_STATUS_LAZY))
			continue;
		if (v->start >= v->end || (v->start | v->end) & (PAGE_SIZE - 1)) {
			pr_err("mm-%d.img: bad VMA %#" PRIx64 "-%#" PRIx64 "\n", (int)pid, v->start, v->end);
			goto err;
		}
		if (v->kind == VMA_KIND_SHMEM) {
			if (!v->has_shmem_id) {
				pr_err("mm-%d.img: shmem VMA without an object\n", (int)pid);
				goto err;
			}
			int idx = lp_load_shm(l, dfd, v->shmem_id, -1);
			if (idx == LP_SHM_EAGER)
				continue;
			if (idx < 0 || lp_task_add_shm(t, v->start, v->end, idx, v->has_pgoff ? v->pgoff : 0))
				goto err;
		} else if (v->kind == VMA_KIND_ANON_PRIVATE || v->kind == VMA_KIND_STACK ||
			   v->kind == VMA_KIND_HEAP) {
			if (lp_task_add_anon(t, v->start, v->end))
				goto err;
		} else {
			pr_warn("mm-%d.img: lazy VMA of kind %u, ignoring\n", (int)pid, v->kind);
		}
	}
	if (lp_loop_add_task(l, t))
		goto err;
	img_free_msg(img, mm);
	img_close(img);
	return 0;
err:
	if (t) {
		if (lp_task_kill(t))
			kill_unserved(pid, -1);
		lp_task_free(t);
	} else {
		kill_unserved(pid, pfd);
	}
out:
	if (mm)
		img_free_msg(img, mm);
	img_close(img);
	return -1;
}

/* ---- server ---- */

static int conn_read(struct lp_fd *f)
{
	struct lp_server *s = container_of(f, struct lp_server, conn);
	struct lp_hs_msg m;
	int fd, fd2;

	for (;;) {
		int ret = lp_proto_recv2(f->fd, &m, &fd, &fd2);
		if (ret < 0 && errno == EAGAIN)
			return 0;
		if (ret <= 0) {
			lp_loop_del_fd(s->loop, f);
			closep(&f->fd);
			if (s->finished)
				return 0;
			if (ret == 0)
				pr_err("the restore went away before saying \"restore finished\"\n");
			else
				pr_perror("bad message from the restore");
			return -1;
		}
		switch (m.type) {
		case LP_HS_TASK_PID: {
			/* a task in another pid namespace: its image pid, its pid here, and a pidfd */
			uint32_t key = (uint32_t)m.id, host = (uint32_t)(m.id >> 32);
			if (fd < 0 || fd2 < 0 || !key || key > INT32_MAX || !host || host > INT32_MAX) {
				pr_err("bad task message (pid %u here %u, fds %d %d)\n", key, host, fd, fd2);
				closep(&fd);
				closep(&fd2);
				return -1;
			}
			if (lp_load_task_at(s->loop, s->dfd, (pid_t)key, (pid_t)host, fd, fd2))
				return -1;
			break;
		}
		case LP_HS_TASK:
			closep(&fd2);
			if (fd < 0 || m.id == 0 || m.id > INT32_MAX) {
				pr_err("bad task message (pid %" PRIu64 ", fd %d)\n", m.id, fd);
				closep(&fd);
				return -1;
			}
			if (lp_load_task(s->loop, s->dfd, (pid_t)m.id, fd, -1))
				return -1;
			break;
		case LP_HS_SHMEM:
			closep(&fd2);
			if (lp_load_shm(s->loop, s->dfd, m.id, fd) == -1)
				return -1;
			break;
		case LP_HS_FINISHED:
			closep(&fd);
			closep(&fd2);
			s->finished = true;
			/* a restore that stopped waiting for the ACK wants none any more */
			s->sync_wanted = false;
			lp_loop_sync(s->loop);
			lp_loop_finish(s->loop);
			break;
		case LP_HS_SYNC:
			closep(&fd);
			closep(&fd2);
			s->sync_wanted = true;
			lp_loop_sync(s->loop);
			/* nothing to put in first (no working set): the tasks may go at once */
			if (lp_loop_preloaded(s->loop)) {
				s->sync_wanted = false;
				if (lp_proto_send(s->conn.fd, LP_HS_ACK, 0, -1))
					pr_warn("the restore did not wait for the working set, ignoring\n");
			}
			break;
		default:
			closep(&fd);
			closep(&fd2);
			pr_err("unknown message %u from the restore\n", m.type);
			return -1;
		}
	}
}

static int server_idle(struct lp_loop *l, void *arg)
{
	struct lp_server *s = arg;

	if (s->sync_wanted && s->conn.fd >= 0 && lp_loop_preloaded(l)) {
		s->sync_wanted = false;
		/* a restore that gave up waiting may be gone: conn_read tells */
		if (lp_proto_send(s->conn.fd, LP_HS_ACK, 0, -1))
			pr_warn("the restore did not wait for the working set, ignoring\n");
	}
	return 0;
}

static int listen_read(struct lp_fd *f)
{
	struct lp_server *s = container_of(f, struct lp_server, lfd);
	int fd = accept4(f->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return 0;
		pr_perror("accept");
		return -1;
	}
	if (s->conn.fd >= 0 || s->finished) {
		pr_warn("a second restore connected, ignoring it\n");
		close(fd);
		return 0;
	}
	s->conn = (struct lp_fd){ fd, conn_read, conn_read };
	if (lp_loop_add_fd(s->loop, &s->conn))
		return -1;
	pr_info("the restore connected\n");
	return 0;
}

int lp_server_init(struct lp_server *s, struct lp_loop *l, int dfd, const char *path)
{
	struct sockaddr_un sun;
	struct stat sb;

	memset(s, 0, sizeof(*s));
	s->loop = l;
	s->dfd = dfd;
	s->lfd.fd = s->conn.fd = -1;
	if (lp_proto_sun(&sun, path))
		return -1;
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		pr_perror("socket");
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || listen(fd, 4)) {
		pr_perror("can't listen at %s", path);
		close(fd);
		return -1;
	}
	s->lfd = (struct lp_fd){ fd, listen_read, listen_read };
	if (lp_loop_add_fd(l, &s->lfd)) {
		closep(&s->lfd.fd);
		unlink(path);
		return -1;
	}
	l->on_idle = server_idle;
	l->on_idle_arg = s;
	return 0;
}

void lp_server_fini(struct lp_server *s)
{
	if (!s || !s->loop)
		return;
	lp_loop_del_fd(s->loop, &s->lfd);
	lp_loop_del_fd(s->loop, &s->conn);
	closep(&s->lfd.fd);
	closep(&s->conn.fd);
	if (s->path[0])
		unlink(s->path);
	s->loop->on_idle = NULL;
	s->loop = NULL;
}
