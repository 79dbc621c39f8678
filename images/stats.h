/*
 * stats-dump and stats-restore: the statistics of a dump and of a restore, in the
 * work dir, in CRIU's layout because container tooling reads them (podman
 * `--print-stats` through go-criu):
 *
 *   u32 STATS_SERVICE_MAGIC | u32 STATS_MAGIC | u32 length | stats_record (protobuf)
 *
 * all little-endian, one record, every field the readers require present (see
 * stats.proto). Written whole into a temporary name and renamed, so a reader never
 * sees half a file.
 */
#ifndef CRIU_LITE_STATS_H
#define CRIU_LITE_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "images/stats.pb-c.h"

#define STATS_DUMP_FILE "stats-dump"
#define STATS_RESTORE_FILE "stats-restore"
#define STATS_MAX_SIZE 4096u /* far more than a record takes */

struct stats_dump_vals {
	uint64_t freezing_us, frozen_us, memdump_us, memwrite_us;
	uint64_t pages_scanned, pages_written;
	uint64_t shpages_scanned, shpages_written;
};

struct stats_restore_vals {
	uint64_t forking_us, restore_us;
	uint64_t pages_restored;
};

/* Write stats-dump / stats-restore into the directory dir. 0 or -1 (logged). */
int stats_write_dump(const char *dir, const struct stats_dump_vals *v);
int stats_write_restore(const char *dir, const struct stats_restore_vals *v);

/* Read one such file (for `show` and the tests): the record, or NULL (logged: what is
 * wrong). Free with stats_record__free_unpacked(r, NULL). */
StatsRecord *stats_read(int dirfd, const char *name);

#endif
