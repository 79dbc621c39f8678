/*
 * The time namespace: the tree's monotonic and boot-time clocks at dump; restore
 * creates a time namespace whose offsets make them continue from there (for a tree
 * with its own time namespace, and for any tree with its own pid namespace, as CRIU
 * does for containers).
 */
#ifndef CRIU_LITE_NS_TIME_H
#define CRIU_LITE_NS_TIME_H

#include <stdbool.h>
#include <sys/types.h>

#include "criu-lite/ns/common.h"

/* Dump the clocks as pid sees them (own: pid has its own time namespace, inode ino).
 * 0 or -1 (logged). */
int ns_time_dump(pid_t pid, bool own, uint64_t ino, struct img *img);
/*
 * Restore, in the parent before the root is created: a new time namespace for our
 * children with the offsets (unshare), our own kept in *ret_back (an fd). 0 or -1
 * (logged).
 */
int ns_time_prepare(const NsEntry *e, int *ret_back, int64_t *ret_mono);
/* After the root was created: our children in our time namespace again. 0 or -1 (logged). */
int ns_time_return(int back);

#endif
