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
/* The fd table of task i of the tree (tasks sharing one, CLONE_FILES, have the same
 * id): true and the id, or false if it was not dumped (a zombie has none). */
bool dump_files_table_id(const struct dump_ctx *ctx, size_t i, uint32_t *ret_id);
void dump_files_fini(struct dump_ctx *ctx);

#endif
