/* Page data on its way to the images. */
#ifndef CRIU_LITE_DUMP_PAGES_H
#define CRIU_LITE_DUMP_PAGES_H

#include "criu-lite/dump-ctx.h"

/* Is the page all zeroes? */
bool dump_page_is_zero(const void *page);
/* Hand nr pages of buf at vaddr to the xfer, zero pages as zero records. 0 or -1. */
int dump_emit_pages(struct dump_ctx *ctx, struct page_xfer *x, uint64_t vaddr, const uint8_t *buf,
		    size_t nr, uint32_t flags);
/* Log progress if due. */
void dump_progress(struct dump_ctx *ctx);

#endif
