/* Page data on its way to the images: zero pages found, runs handed to a page_xfer. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "dump: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/dump-pages.h"

#define PROGRESS_STEP (256ULL << 20)

bool dump_page_is_zero(const void *page)
{
	const uint64_t *p = page;
	for (size_t i = 0; i < PAGE_SIZE / sizeof(uint64_t); i += 8) {
		if (p[i] | p[i + 1] | p[i + 2] | p[i + 3] | p[i + 4] | p[i + 5] | p[i + 6] | p[i + 7])
			return false;
	}
	return true;
}

void dump_progress(struct dump_ctx *ctx)
{
	struct dump_stats *s = &ctx->stats;
	if (s->bytes_read < s->next_progress)
		return;
	double secs = (double)(now_ns() - s->t_start_ns) / 1e9;
	pr_info("progress: %.0f MiB read, %" PRIu64 " pages stored, %" PRIu64 " zero, %.1f s\n",
		(double)s->bytes_read / (1 << 20), s->pages_dumped, s->pages_zero, secs);
	s->next_progress = s->bytes_read + PROGRESS_STEP;
}

/* Hand nr pages of buf at vaddr to the xfer, zero pages as zero records. */
int dump_emit_pages(struct dump_ctx *ctx, struct page_xfer *x, uint64_t vaddr, const uint8_t *buf,
		      size_t nr, uint32_t flags)
{
	uint64_t t0 = now_ns();
	size_t i = 0;

	while (i < nr) {
		bool zero = dump_page_is_zero(buf + i * PAGE_SIZE);
		size_t j = i + 1;
		while (j < nr && dump_page_is_zero(buf + j * PAGE_SIZE) == zero)
			j++;
		if (zero) {
			if (xfer_write_zero(x, vaddr + i * PAGE_SIZE, j - i, flags) < 0)
				return -1;
			ctx->stats.pages_zero += j - i;
		} else {
			if (xfer_write_pages(x, vaddr + i * PAGE_SIZE, buf + i * PAGE_SIZE, j - i, flags) < 0)
				return -1;
			ctx->stats.pages_dumped += j - i;
		}
		i = j;
	}
	ctx->stats.write_ns += now_ns() - t0;
	return 0;
}

