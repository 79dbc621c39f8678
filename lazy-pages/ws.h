/*
 * Working-set files: `lazy-pages --record-ws FILE` writes one, `--prefetch hot
 * --hot-ws FILE` puts its pages into the tasks before they run. Binary, little endian:
 *
 *   header, 32 bytes: u32 WS_MAGIC, u32 version (2), u32 header size (32), u32 sets,
 *                     u32 runs, u32 run size (32), u64 identity of the images
 *   sets, 24 bytes each: u32 kind, u32 0, u64 id, u64 pages of that page set in the
 *                     images (data and zero pages)
 *   runs, 32 bytes each, sorted by kind, id and address, none overlapping:
 *                     u32 kind, u32 flags, u64 id, u64 address, u64 pages
 *
 * kind and id name a page set (struct lp_ws_run in state.h): a task's private pages
 * (id = its pid, address = image address) or a shmem object (id = the object, address
 * = byte offset). flags say how the run was first touched: LP_WS_WRITTEN (a write) or
 * not (only read at first). Runs, not pages: a working set of 100 MiB scattered in
 * 64 KiB pieces takes about 50 KB. The same set always gives the same bytes.
 *
 * A file belongs to the images it was recorded on: the identity is a digest (64-bit
 * FNV-1a) of their inventory.img, which every dump writes anew, and the sets give the
 * size of each page set it names. A file whose identity or sizes differ from the images,
 * or with a run outside its page set, is ignored with a warning (a hot restore then
 * streams everything, as --prefetch all).
 */
#ifndef CRIU_LITE_LP_WS_H
#define CRIU_LITE_LP_WS_H

#include <stddef.h>
#include <stdint.h>

#include "lazy-pages/state.h"

#define LP_WS_VERSION 2

/* Sort runs by kind, id and address and merge those that touch or overlap (an overlap
 * keeps the flags of the run that starts first). Returns the new count. */
size_t lp_ws_normalize(struct lp_ws_run *runs, size_t nr);
/* The identity of the images in dfd (0 if they have no inventory.img). */
uint64_t lp_ws_identity(int dfd);

/* Write runs (normalized first, in place) for the images in dfd. 0 or -1 (logged). */
int lp_ws_write(const char *path, int dfd, struct lp_ws_run *runs, size_t nr);
/*
 * Read a file for the images in dfd: 0 with *ret (malloc'd, NULL if none) and *ret_nr;
 * when the file belongs to other images *ret_nr is 0 and *ret_ignored true (warned).
 * -1 (logged) if it can't be read or is not a working-set file of this version.
 */
int lp_ws_load(const char *path, int dfd, struct lp_ws_run **ret, size_t *ret_nr, bool *ret_ignored);

#endif
