/* Dump open files: files.img (each open file description once) and fdinfo-PID.img. */
#ifndef CRIU_LITE_DUMP_FILES_H
#define CRIU_LITE_DUMP_FILES_H

#include "criu-lite/dump-ctx.h"

/* fdinfo-PID.img and the file entries of pid's descriptors. */
int dump_files_task(struct dump_ctx *ctx, pid_t pid);
/* A files.img entry for the file behind a path in /proc (map_files link, exe): O_RDONLY or O_RDWR. */
int dump_file_of_path(struct dump_ctx *ctx, pid_t pid, const char *proc_path, uint32_t flags,
		      uint32_t *ret_id);
int dump_files_write(struct dump_ctx *ctx);
void dump_files_fini(struct dump_ctx *ctx);

#endif
