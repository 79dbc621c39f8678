/* Dump memory: VMAs (mm-PID.img) and private pages (pagemap-PID.img/pages-PID.img). */
#ifndef CRIU_LITE_DUMP_MM_H
#define CRIU_LITE_DUMP_MM_H

#include "criu-lite/dump-ctx.h"

/* What only the task could say of its memory (by injection). */
struct dump_mm_task {
	uint64_t brk;          /* brk(0) (0 if unknown) */
	uint32_t lock_future;  /* mlockall(MCL_FUTURE): 0, 1 locked, 2 locked on fault */
	bool memory_merge;     /* prctl(PR_SET_MEMORY_MERGE) */
};

/* mm-PID.img and the private pages of pid. 0 or -1 (logged). */
int dump_mm(struct dump_ctx *ctx, pid_t pid, const struct proc_vma *vmas, size_t nr_vmas,
	    const struct dump_mm_task *mt);

#endif
