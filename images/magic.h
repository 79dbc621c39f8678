/* Per-image magic numbers: explicit, never derived from an enum. */
#ifndef CRIU_LITE_MAGIC_H
#define CRIU_LITE_MAGIC_H

#define IMG_FORMAT_VERSION 1

#define INVENTORY_MAGIC 0x4c43494e /* "NICL" */
#define PSTREE_MAGIC    0x4c435350
#define CORE_MAGIC      0x4c43524f
#define TASK_MAGIC      0x4c43534b
#define CREDS_MAGIC     0x4c434352
#define MM_MAGIC        0x4c434d4d
#define PAGEMAP_MAGIC   0x4c43504d
#define PAGES_MAGIC     0x4c435047
#define SHMEM_MAGIC     0x4c435348
#define FILES_MAGIC     0x4c434649
#define FDINFO_MAGIC    0x4c434644
#define FILE_DATA_MAGIC 0x4c434654
#define NS_MAGIC        0x4c434e53
#define TMPFS_MAGIC_IMG 0x4c435446
#define SECCOMP_MAGIC   0x4c435343
#define WS_MAGIC        0x4c435753

/* stats-dump and stats-restore are read by container tooling (podman through go-criu),
 * so they carry CRIU's magic numbers, not criu-lite's (images/stats.h). */
#define STATS_SERVICE_MAGIC 0x55105940
#define STATS_MAGIC         0x57093306

#endif
