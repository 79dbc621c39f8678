/* Dump memory: VMAs (mm-PID.img) and private pages (pagemap-PID.img/pages-PID.img). */
#ifndef CRIU_LITE_DUMP_MM_H
#define CRIU_LITE_DUMP_MM_H

#include "criu-lite/dump-ctx.h"

/* brk: brk(0) of the task (0 if unknown). 0 or -1 (logged). */
int dump_mm(struct dump_ctx *ctx, pid_t pid, const struct proc_vma *vmas, size_t nr_vmas,
	    uint64_t brk);

#endif
