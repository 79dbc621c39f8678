/* sock_diag through libnl (criu-lite/files/sockdiag.c): the unix sockets of our
 * network namespace. */
#ifndef CRIU_LITE_FILES_SOCKDIAG_H
#define CRIU_LITE_FILES_SOCKDIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct unix_diag_info {
	uint32_t ino, peer;       /* peer 0: none */
	uint32_t type, state;     /* SOCK_*, TCP_* as the kernel numbers them */
	uint32_t shutdown;        /* RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2 */
	uint32_t rqueue, wqueue;  /* listening: pending connections and backlog; else bytes */
	bool has_vfs;
	uint32_t vfs_ino, vfs_dev; /* the bound file; vfs_dev as the kernel encodes it */
	uint8_t name[108];        /* sun_path bytes; name_len 0: unbound */
	uint32_t name_len;
	uint32_t *icons;          /* listening: the clients of pending connections, in order */
	uint32_t nr_icons;
};

struct sockdiag;

/* Every unix socket (one sock_diag dump). NULL (logged) on failure. */
struct sockdiag *sockdiag_unix_load(void);
const struct unix_diag_info *sockdiag_unix_find(const struct sockdiag *t, uint32_t ino);
/* The listener whose pending connections include the one of client, or NULL. */
const struct unix_diag_info *sockdiag_unix_listener_of(const struct sockdiag *t, uint32_t client);
void sockdiag_free(struct sockdiag *t);

#endif
