/* Shmem objects (shmem.img, pagemap-shmem-ID.img/pages-shmem-ID.img): each once. */
#ifndef CRIU_LITE_DUMP_SHMEM_H
#define CRIU_LITE_DUMP_SHMEM_H

#include "criu-lite/dump-ctx.h"

/* Register a shmem object opened as fd (ownership taken on success and failure).
 * min_size: the object must be at least this large (anonymous shmem: VMA end + pgoff). */
int dump_shmem_add(struct dump_ctx *ctx, int fd, uint32_t kind, const char *name, bool unlinked,
		   uint64_t min_size, uint64_t *ret_id);
/* Dump every registered shmem object's pages and write shmem.img. */
int dump_shmem_write(struct dump_ctx *ctx);
void dump_shmem_fini(struct dump_ctx *ctx);

#endif
