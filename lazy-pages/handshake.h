/*
 * The handshake between restore and the lazy-pages daemon: a SOCK_SEQPACKET unix
 * socket at DIR/lazy-pages.sock (or any path). Each message is a struct lp_hs_msg,
 * with at most one fd attached (SCM_RIGHTS).
 *
 * The restore (client, plain libc, no logging of its own beyond pr_perror):
 *   sock = lp_client_connect(dir);                  waits up to 10 s for the daemon
 *   for each shmem object with lazy pages:
 *       lp_client_send_shmem(sock, shmem_id, fd);   the object's fd (optional but
 *                                                   lets the daemon pre-populate it)
 *   for each restored task, before jumping into the restorer blob:
 *       lp_client_send_task(sock, pid, uffd);       uffd after UFFDIO_API with
 *                                                   LP_UFFD_FEATURES; then the restore
 *                                                   may close its copy
 *   lp_client_sync(sock);                           optional: returns once the hot
 *                                                   shmem pages are in (--prefetch hot)
 *   ... the blob registers the lazy VMAs and closes its uffd copy ...
 *   lp_client_restore_finished(sock);  close(sock);
 * All return 0 (connect: the socket) or -1 (logged). If the daemon dies, the
 * restored tasks are killed by its watchdog.
 *
 * The daemon (lp_server): reads each task's lazy VMAs from DIR/mm-PID.img, its pages
 * from page set "PID" and shmem objects from shmem.img and page sets "shmem-ID".
 */
#ifndef CRIU_LITE_LP_HANDSHAKE_H
#define CRIU_LITE_LP_HANDSHAKE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lazy-pages/uffd.h"

#define LP_SOCK_NAME "lazy-pages.sock"

/* Wire constants: explicit numbers. */
#define LP_HS_TASK 1     /* id = pid, fd = uffd */
#define LP_HS_SHMEM 2    /* id = shmem id, fd = the object */
#define LP_HS_FINISHED 3 /* restore finished */
#define LP_HS_SYNC 4     /* reply LP_HS_ACK once the hot shmem pages are in */
#define LP_HS_ACK 5
#define LP_HS_MAGIC 0x4c50484b /* "LPHK" */

struct lp_hs_msg {
	uint32_t magic;
	uint32_t type;
	uint64_t id;
};

int lp_client_connect(const char *dir);
int lp_client_connect_path(const char *path);
int lp_client_send_task(int sock, pid_t pid, int uffd);
int lp_client_send_shmem(int sock, uint64_t shmem_id, int fd);
int lp_client_sync(int sock);
int lp_client_restore_finished(int sock);

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
/* A shmem object from DIR/shmem.img (takes fd, may be -1): its loop index, -1
 * (logged), or LP_SHM_EAGER for an object the restore fills eagerly (not lazy in
 * shmem.img), which the daemon leaves alone. */
#define LP_SHM_EAGER (-2)
int lp_load_shm(struct lp_loop *l, int dfd, uint64_t id, int fd);

#endif
