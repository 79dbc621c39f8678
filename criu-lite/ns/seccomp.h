/*
 * seccomp: every thread's mode and filters (PTRACE_SECCOMP_GET_FILTER), each chain of
 * filters once in seccomp.img. Restore installs them last, in the restorer, after the
 * creds and just before each thread returns to its code (criu-lite/restorer); the
 * parent traces the threads with PTRACE_O_SUSPEND_SECCOMP until they are detached.
 */
#ifndef CRIU_LITE_NS_SECCOMP_H
#define CRIU_LITE_NS_SECCOMP_H

#include <stdint.h>
#include <sys/types.h>

#include "images/image.h"

struct seccomp_dump;

/* The filters of stopped thread tid of pid, in mode (1 strict, 2 filter); *d is
 * allocated on first use. 0 or -1 (logged). */
int ns_seccomp_dump_thread(struct seccomp_dump **d, pid_t pid, pid_t tid, uint32_t mode);
/* seccomp.img, if any thread runs under seccomp. 0 or -1 (logged). */
int ns_seccomp_write(const struct seccomp_dump *d, int dfd);
void ns_seccomp_free(struct seccomp_dump *d);

#endif
