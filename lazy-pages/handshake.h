/*
 * The lazy-pages daemon's side of the handshake (the wire protocol is
 * lib/lazy-proto.h): it reads each task's lazy VMAs from DIR/mm-PID.img, its pages
 * from page set "PID" and shmem objects from shmem.img and page sets "shmem-ID".
 */
#ifndef CRIU_LITE_LP_HANDSHAKE_H
#define CRIU_LITE_LP_HANDSHAKE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/lazy-proto.h"
#include "lazy-pages/task.h"


struct lp_loop;

struct lp_server {
	struct lp_loop *loop;
	int dfd;
	struct lp_fd lfd;   /* listening */
	struct lp_fd conn;  /* the restore */
	bool finished;
	bool sync_wanted;
	char path[108];
};

/* Listen at path (removed first if it is a stale socket) and join the loop. */
int lp_server_init(struct lp_server *s, struct lp_loop *l, int dfd, const char *path);
void lp_server_fini(struct lp_server *s);

/* Daemon side, also usable without a socket: a task from DIR/mm-PID.img (takes
 * uffd and pidfd). 0 or -1 (logged). */
int lp_load_task(struct lp_loop *l, int dfd, pid_t pid, int uffd, int pidfd);
/* The same for a task whose pid here (host, for signals) is not its pid in the images. */
int lp_load_task_at(struct lp_loop *l, int dfd, pid_t pid, pid_t host, int uffd, int pidfd);
/* A shmem object from DIR/shmem.img (takes fd, may be -1): its loop index, -1
 * (logged), or LP_SHM_EAGER for an object the restore fills eagerly (not lazy in
 * shmem.img), which the daemon leaves alone. */
#define LP_SHM_EAGER (-2)
int lp_load_shm(struct lp_loop *l, int dfd, uint64_t id, int fd);

#endif
