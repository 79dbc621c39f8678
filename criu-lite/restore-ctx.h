/* The restore's internal context, shared by restore.c (orchestration), restore-mm.c
 * (memory) and restore-files.c (files); the entry point is in restore.h. */
#ifndef CRIU_LITE_RESTORE_CTX_H
#define CRIU_LITE_RESTORE_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/options.h"
#include "images/imgset.h"
#include "criu-lite/restorer/args.h"

struct rst_task {
	struct img_task *img;    /* its images (ctx->img.tasks[i]) */
	int pages_fd;            /* service fd of pages-PID.img, -1 if none */
	int *vma_fds;            /* per mm->vmas[i]: service fd to map, -1 for anonymous */
	uint64_t *premap;        /* per mm->vmas[i]: where it is made before the children (0: not) */
	int exe_fd;              /* service fd, -1 if unknown */
	int uffd;                /* --lazy-pages: service fd of the task's userfaultfd, -1 otherwise */
	int cwd_fd;              /* service fd of a recreated deleted cwd, -1 otherwise */
	int late_sock;           /* service fd: where criu-lite sends the task its late files, -1: none */
	size_t nr_late;          /* how many it sends */
	bool shares_files;       /* its fd table is its parent's (CLONE_FILES): created after the
	                          * parent installed its fds, installs none itself */
	bool svc_close_late;     /* in such a group: the service fds are closed at the finish */
	size_t args_size;        /* bytes of the args area this task needs */
};

/* The vdso pieces of this process, from /proc/self/maps. */
struct rst_vdso_now {
	struct rst_range vdso, vvar, vclock; /* start == end when absent */
};

struct ns_rst;

struct rst_ctx {
	const struct cr_options *opts;
	int dfd;
	struct img_set img;      /* every image, validated */
	struct rst_task *tasks;  /* per img.tasks[i] */
	size_t nr_tasks;
	size_t nr_live;          /* tasks but zombies: those that run the blob */
	struct rst_file *rfiles; /* per img.files[i] (criu-lite/files/files.h) */
	int *late_socks;         /* per task: criu-lite's end of its late_sock, -1: none */
	int *shmem_fds;          /* per img.shmems[i]: service fd of the object */
	bool *shmem_filled;      /* per img.shmems[i]: its pages are in */
	int *svc_fds;            /* every service fd opened, closed by the parent at the end */
	size_t nr_svc_fds, cap_svc_fds;
	int svc_base;            /* every service fd is >= this; dumped fds are below */
	int tty_fd;              /* --shell-job: our terminal, -1 otherwise */
	int lazy_sock;           /* --lazy-pages: the daemon's socket (service fd), -1 otherwise */
	int devnull_fd;          /* /dev/null (service fd) when a task has an AIO ring, -1 otherwise */

	uint32_t xstate_size;    /* the kernel's signal-frame XSAVE size */
	uint64_t xfeatures;      /* the kernel's user xfeatures */
	bool crc_hw;

	struct rst_vdso_now vdso_now;

	/* The reserved area: sync page | blob | args, the same address in every task. */
	uint64_t area_start;
	uint64_t area_size;
	/* Copy-on-write sharing: the private memory a parent shares with its children is
	 * made here, in the parent, before the children are (rst_premap_*). */
	uint64_t premap_start;
	uint64_t premap_size;
	uint64_t blob_size;      /* page-rounded */
	struct rst_sync *sync;
	bool root_reaped;        /* the root ended while other tasks were being finished */
	int root_status;
	uint64_t t_forked_ns;    /* when every task had been created (stats-restore) */
	struct ns_rst *ns;       /* namespaces (criu-lite/ns/) */
	bool net_unlocked;       /* the network lock of the images was lifted (criu-lite/files/net.h) */
};

/* restore-mm.c: pure helpers (unit-tested) and the memory plan. */

/*
 * Build the rt_sigframe and its XSAVE area for one thread into buf, which will be at
 * address buf_addr in the restored task (buf_addr must be 64-byte aligned).
 * xstate_size/xfeatures are the kernel's (rst_probe_xstate). Returns the bytes used,
 * or -1 with a message in err. The frame's uc is at buf + 0, the XSAVE area after it.
 */
long rst_build_sigframe(void *buf, size_t len, uint64_t buf_addr, const ThreadCoreEntry *core,
			uint32_t xstate_size, uint64_t xfeatures, char *err, size_t errlen);
/* Bytes rst_build_sigframe needs. */
size_t rst_sigframe_size(uint32_t xstate_size);
/* The registers to resume with: undo an interrupted system call (restart rules). */
void rst_fixup_syscall_restart(uint64_t *ax, uint64_t orig_ax, uint64_t *ip);
/* Ask the kernel (through a signal frame of our own) for its XSAVE size and features. */
int rst_probe_xstate(uint32_t *ret_size, uint64_t *ret_xfeatures);

/* What this kernel can restore of a task's registers (64-bit code only). 0 or -1 (logged). */
int rst_mm_check(struct rst_ctx *ctx, struct rst_task *t);
/* The size of the args area for a task. */
size_t rst_args_size(struct rst_ctx *ctx, struct rst_task *t);
/* Fill the args area (at address area, size t->args_size) for task t. 0 or -1 (msg in err). */
int rst_args_build(struct rst_ctx *ctx, struct rst_task *t, void *area, char *err, size_t errlen);
/* Find a free place of size bytes in both this process and every dumped VMA. */
int rst_find_area(struct rst_ctx *ctx, uint64_t size, uint64_t *ret_start);
/* Parse /proc/self/maps for [vdso], [vvar], [vvar_vclock]. */
int rst_vdso_parse(struct rst_vdso_now *v);
/* Check the dumped vdso against ours and fill the args' vdso fields. 0 or -1 (logged). */
int rst_vdso_check(struct rst_ctx *ctx);

/* Is the page set entry served by the lazy-pages daemon (and so not filled)? */
bool rst_entry_lazy(struct rst_ctx *ctx, const MmEntry *mm, const PagemapEntry *pe);
/* Whether shmem object id is served lazily under --lazy-pages (shmem_entry.lazy). */
bool rst_shmem_lazy(struct rst_ctx *ctx, uint64_t id);

/*
 * Copy-on-write sharing. rst_premap_plan  (before the args are sized): which VMAs are
 * made before the children are (a parent's VMA a child inherits, and the child's that
 * inherits it, in the same place of a premap area), where in it; rst_premap_reserve
 * then places the area. In each task, rst_premap_fill (before it makes its children)
 * maps its own, fills what must be there before the fork, and for an inherited one keeps
 * only the parent's pages the child shares; the blob moves them to their addresses.
 * 0 or -1 (logged; in a task: message in err).
 */
int rst_premap_plan(struct rst_ctx *ctx);
int rst_premap_reserve(struct rst_ctx *ctx);
int rst_premap_fill(struct rst_ctx *ctx, struct rst_task *t, char *err, size_t errlen);
/* Is this page set entry in a premapped VMA (filled by rst_premap_fill, not the blob)? */
bool rst_entry_premapped(const struct rst_task *t, const PagemapEntry *pe);

/* restore-files.c */
struct rst_file;
/* In the parent: create shmem objects (and validate their pages; only those sealed against
 * writes are filled here), open files and mapping fds as service fds. */
int rst_files_prepare(struct rst_ctx *ctx);
/* The same in two steps: where service fds go (the parent, always), then the objects
 * and files (the parent, or the root task inside the tree's namespaces). */
int rst_files_base(struct rst_ctx *ctx);
int rst_files_open(struct rst_ctx *ctx);
/* In the parent, once the root task was created: when some task holds files that can
 * only be opened once every task exists (/proc/PID/...), wait for them all, open those
 * files and send them to their holders. 0 or -1 (logged). (Inside the tree's
 * namespaces, the root task does it, once it made its children.) */
int rst_files_late(struct rst_ctx *ctx);
void rst_files_fini(struct rst_ctx *ctx);
/* Description i's fd if the parent finishes it when the tasks resume (a TCP
 * connection), else -1. */
int rst_files_parent_fd(const struct rst_ctx *ctx, size_t i);
/* The parent, when the root task opened the files (inside the tree's namespaces): take
 * back the fd of description i (img.files[i]) that it finishes itself, as a service fd.
 * 0 or -1 (logged; fd closed). */
int rst_files_adopt(struct rst_ctx *ctx, size_t i, int fd);
/* In the parent, while the tasks restore their memory: fill the shmem objects that
 * rst_files_prepare created (and validated the pages of). 0 or -1 (logged). */
int rst_shmem_fill(struct rst_ctx *ctx);
void rst_shmem_fini(struct rst_ctx *ctx);
/* In a task, before it makes its children: what they inherit of its files (a session
 * leader's controlling terminal). 0 or -1 (message in err). */
int rst_files_before_children(struct rst_ctx *ctx, struct rst_task *t, char *err, size_t errlen);
/* In a task: install its fds (none for a task sharing its parent's table). 0 or -1
 * (message in err). */
int rst_files_install(struct rst_ctx *ctx, struct rst_task *t, char *err, size_t errlen);
/* In a task, once its args are built: the POSIX locks the blob takes once it closed
 * the service fds. 0 or -1 (message in err). */
int rst_files_posix_locks(struct rst_ctx *ctx, struct rst_task *t, struct rst_args *a, char *err, size_t errlen);
/* Move fd to a service fd (closing fd). Returns the new fd or -1 (logged). */
int rst_svc_fd(struct rst_ctx *ctx, int fd);
/* A service fd copy of fd (fd stays open). Returns the new fd or -1 (logged). */
int rst_svc_dup(struct rst_ctx *ctx, int fd);
/* Close every service fd (the parent, once the tasks have their own copies). */
void rst_svc_close_all(struct rst_ctx *ctx);

/* clone-noasan.c */
/* clone3 a process with the given pid, clone flags (CLONE_NEW*, CLONE_PARENT) and exit
 * signal (SIGCHLD if 0), fork-like (same stack). Returns like fork(). */
pid_t rst_clone_pid(pid_t pid, unsigned flags, int exit_signal);
/* Switch to stack and call entry(args); never returns. */
void rst_jump(uint64_t entry, uint64_t args, uint64_t stack) __attribute__((noreturn));

#endif
