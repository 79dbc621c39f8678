/*
 * The handshake between restore and the lazy-pages daemon: a SOCK_SEQPACKET unix
 * socket, LP_SOCK_NAME in the work dir (as CRIU names it), or any path. Each message is a struct lp_hs_msg,
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
 *   or, for a task whose pid in the images is not its pid here (a new pid namespace):
 *       lp_client_send_task_pid(sock, pid, uffd, host);  with its pid here and a pidfd
 *                                                   (LP_HS_TASK_PID), so that the daemon
 *                                                   kills the right process
 *   ... the blob registers the lazy VMAs and closes its uffd copy ...
 *   lp_client_sync(sock, LP_SYNC_TIMEOUT_MS);       every task is restored and waits:
 *                                                   returns once the daemon has put the
 *                                                   working set in (--prefetch hot; at
 *                                                   once otherwise), or 1 at the deadline
 *   ... the tasks go ...
 *   lp_client_restore_finished(sock);  close(sock);
 * All return 0 (connect: the socket) or -1 (logged). If the daemon dies, the
 * restored tasks are killed by its watchdog.
 *
 * The daemon (lp_server): reads each task's lazy VMAs from DIR/mm-PID.img, its pages
 * from page set "PID" and shmem objects from shmem.img and page sets "shmem-ID".
 */
#ifndef CRIU_LITE_LAZY_PROTO_H
#define CRIU_LITE_LAZY_PROTO_H

#include <stdint.h>
#include <sys/types.h>

#include "lib/uffd.h"

/* What the daemon needs from the kernel: each task's uffd is made with these (the
 * faulting thread's id, to serve its faults from its own CPU). */
#define LP_UFFD_FEATURES                                                                    \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE |   \
	 UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM | \
	 UFFD_FEATURE_THREAD_ID)

#define LP_SOCK_NAME "lazy-pages.socket"

/* Wire constants: explicit numbers. */
#define LP_HS_TASK 1     /* id = pid, fd = uffd */
#define LP_HS_SHMEM 2    /* id = shmem id, fd = the object */
#define LP_HS_FINISHED 3 /* restore finished */
#define LP_HS_SYNC     4 /* the tasks wait: reply LP_HS_ACK once the working set is in */
#define LP_HS_ACK 5
#define LP_HS_TASK_PID 6 /* id = pid here << 32 | pid in the images, fds = uffd, pidfd */
#define LP_HS_MAGIC 0x4c50484b /* "LPHK" */

struct lp_hs_msg {
	uint32_t magic;
	uint32_t type;
	uint64_t id;
};

int lp_client_connect(const char *dir);
int lp_client_connect_path(const char *path);
int lp_client_send_task(int sock, pid_t pid, int uffd);
/* The calling task: pid in the images, uffd, and its pid where the daemon runs (host:
 * <= 0 or == pid sends what lp_client_send_task does). */
int lp_client_send_task_pid(int sock, pid_t pid, int uffd, pid_t host);
int lp_client_send_shmem(int sock, uint64_t shmem_id, int fd);
/* How long a restore waits for the working set before it lets the tasks go anyway. */
#define LP_SYNC_TIMEOUT_MS 10000
/* 0 acknowledged, 1 not within timeout_ms (the tasks may go: the daemon serves their
 * faults meanwhile), -1 (logged) the daemon failed or went away. */
int lp_client_sync(int sock, int timeout_ms);
int lp_client_restore_finished(int sock);

/* One message with at most one fd (-1: none), or two. 0 or -1 (logged). */
int lp_proto_send(int sock, uint32_t type, uint64_t id, int fd);
int lp_proto_send2(int sock, uint32_t type, uint64_t id, int fd, int fd2);
/* One message and its fd (-1 if none), non-blocking: 1, 0 at EOF, -1 on error
 * (errno set, EAGAIN when there is nothing yet; not logged). */
int lp_proto_recv(int sock, struct lp_hs_msg *m, int *ret_fd);
/* The same, with a second fd (-1 if none). */
int lp_proto_recv2(int sock, struct lp_hs_msg *m, int *ret_fd, int *ret_fd2);
struct sockaddr_un;
/* Fill a unix socket address. 0 or -1 (logged: too long). */
int lp_proto_sun(struct sockaddr_un *sun, const char *path);

#endif
