/*
 * The contents of a tmpfs mount (tmpfs-ID.img): directories, regular files with their
 * data (holes kept), symlinks, device nodes, FIFOs and socket inodes, hard links, with
 * owners, modes and times. Extended attributes are not carried.
 */
#ifndef CRIU_LITE_NS_TMPFS_H
#define CRIU_LITE_NS_TMPFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shmem object (shmem.img) a file is, 0 if none: its data is dumped there. */
typedef uint64_t (*tmpfs_shmem_of_fn)(void *arg, uint64_t dev, uint64_t ino);
/* Whether shmem object ID is a file restored by path, which fills a file whose data
 * the tmpfs image leaves to it. */
typedef bool (*tmpfs_shmem_ok_fn)(void *arg, uint64_t id);

/* Dump the tree under dirfd (the tmpfs's root, a mount of its own: nothing under it is
 * another filesystem) into tmpfs-ID.img in dfd; the data of files shmem_of names is
 * left to their shmem objects (shmem_of may be NULL). 0 or -1 (logged). */
int ns_tmpfs_dump(int dfd, uint32_t id, int root_fd, tmpfs_shmem_of_fn shmem_of, void *arg);
/* Recreate it under root_fd (an empty tmpfs); a file left to a shmem object is made
 * at its size, empty (refused unless shmem_ok says yes). 0 or -1 (message in err). */
int ns_tmpfs_restore(int dfd, uint32_t id, int root_fd, tmpfs_shmem_ok_fn shmem_ok, void *arg, char *err,
		     size_t errlen);

#endif
