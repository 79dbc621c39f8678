/* The UTS namespace: host and domain name. */
#ifndef CRIU_LITE_NS_UTS_H
#define CRIU_LITE_NS_UTS_H

#include <stddef.h>
#include <sys/types.h>

#include "criu-lite/ns/common.h"

/* Dump the UTS namespace (inode ino) of pid into ns.img. 0 or -1 (logged). */
int ns_uts_dump(pid_t pid, uint64_t ino, struct img *img);
/* Restore, in the new namespace: 0 or -1 (message in err). */
int ns_uts_restore(const NsEntry *e, char *err, size_t errlen);

#endif
