/*
 * The contents of a tmpfs mount (tmpfs-ID.img): directories, regular files with their
 * data (holes kept), symlinks, device nodes, FIFOs and socket inodes, hard links, with
 * owners, modes and times. Extended attributes are not carried.
 */
#ifndef CRIU_LITE_NS_TMPFS_H
#define CRIU_LITE_NS_TMPFS_H

#include <stddef.h>
#include <stdint.h>

/* Dump the tree under dirfd (the tmpfs's root, a mount of its own: nothing under it is
 * another filesystem) into tmpfs-ID.img in dfd. 0 or -1 (logged). */
int ns_tmpfs_dump(int dfd, uint32_t id, int root_fd);
/* Recreate it under root_fd (an empty tmpfs). 0 or -1 (message in err). */
int ns_tmpfs_restore(int dfd, uint32_t id, int root_fd, char *err, size_t errlen);

#endif
