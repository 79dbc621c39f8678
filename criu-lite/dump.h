/*
 * criu-lite dump: checkpoint a process tree into a directory of images.
 *
 * dump_tree() is the library entry point (cmd_dump parses argv and calls it).
 * The rest of this header is internal to dump.c, dump-mm.c and dump-files.c.
 *
 * Image contract (what restore can rely on):
 *  - inventory.img is written last, after syncfs() of the directory, and fsync'ed; an
 *    old one is unlinked first, so a failed dump never leaves a directory that looks
 *    complete. vdso_digest = crc32c (img_crc32c, seed 0) of the root task's [vdso]
 *    bytes, 4 bytes little-endian; vdso_size/vvar_size/vvar_vclock_size in bytes.
 *    lazy_pages is always true (anon/shmem pages carry PE_LAZY).
 *  - pstree.img: parents before children, the root first (ppid 0); threads[0] is the
 *    leader. pgid/sid are the raw values (they may lie outside the tree).
 *  - core-TID.img: gpregs are the registers to RESUME with (fix-up done at dump):
 *    -ERESTARTSYS/-ERESTARTNOINTR/-ERESTARTNOHAND: rax = orig_rax, rip -= 2;
 *    -ERESTART_RESTARTBLOCK: rax = -EINTR. in_syscall is true in those cases;
 *    orig_ax is the dumped one (restore should not use it). fs_base/gs_base are in gpregs.
 *    xsave is the NT_X86_XSTATE area exactly as ptrace gave it (standard, non-compacted
 *    format; its length is the buffer length); xfeatures is the XCR0 mask that ptrace
 *    stores in the first u64 of the FXSAVE sw_reserved bytes (offset 464).
 *    sigmask = the blocked signals to resume with (for a thread in sigsuspend/ppoll, the
 *    mask it restores, not its temporary one); rseq only when registered; clear_tid_addr
 *    absent if PR_GET_TID_ADDRESS is unavailable; pending = thread-private queue, raw siginfo.
 *  - task-PID.img: sigactions for 1..64 except SIGKILL/SIGSTOP, as the kernel's struct
 *    sigaction (handler, flags incl. SA_RESTORER, restorer, mask); itimers REAL/VIRTUAL/PROF
 *    in microseconds; rlimits 0..RLIM_NLIMITS-1; cwd/root as readlink gives them.
 *  - mm-PID.img: vmas sorted by start. [vsyscall] is listed (kind 8) but never mapped by
 *    restore. flags: MAP_PRIVATE|MAP_SHARED, MAP_ANONYMOUS for anon kinds and anonymous
 *    shmem, MAP_GROWSDOWN ("gd"), MAP_NORESERVE ("nr"). vm_flags = PROC_VMF_* bits
 *    (proc-parse.h); madv = 1 << MADV_* for dc/dd/hg/nh/mg/wf/sr/rr. status: LAZY on
 *    private anon/heap/stack/shmem; GUARD on a PROT_NONE private anon VMA without pages.
 *    auxv holds key/value pairs up to and including AT_NULL. exe_file_id points to a
 *    files.img regular entry. brk comes from brk(0) in the task.
 *  - Private pages: pagemap-PID.img/pages-PID.img (pages_id = pid). Anon/heap/stack:
 *    present and swapped pages; private file mappings: only pages that are not the file's
 *    (pagemap bit 61 clear). All-zero pages are PE_ZERO records. Anon pages carry PE_LAZY,
 *    private-file COW pages do not. Nothing for shared file, vdso, vvar, vsyscall VMAs.
 *  - shmem.img: one entry per object (dev, ino) whatever maps or opens it; ids 1..N.
 *    size: fstat size, at least pgoff + length of every VMA mapping anonymous shmem.
 *    Pages in pagemap-shmem-ID.img/pages-shmem-ID.img (pages_id = ID), vaddr = byte
 *    offset; only data ranges (SEEK_DATA) are listed, zero pages as PE_ZERO, all PE_LAZY.
 *  - files.img holds every open file description once (kcmp KCMP_FILE), plus entries
 *    (never referenced by an fdinfo) for the files behind file mappings (O_RDONLY, or O_RDWR
 *    for a writable shared mapping) and /proc/PID/exe. reg.flags have O_CLOEXEC removed
 *    (fdinfo.cloexec has it). A memfd fd is FILE_TYPE_MEMFD pointing at its shmem object.
 *    Unsupported fds (pipes, sockets, anon inodes, unlinked files, ptmx, a tty without
 *    --shell-job) fail the dump naming the pid and fd.
 */
#ifndef CRIU_LITE_DUMP_H
#define CRIU_LITE_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dump_opts {
	pid_t pid;             /* root of the tree */
	const char *dir;       /* image directory (created if missing) */
	bool leave_running;    /* resume the tree instead of killing it */
	bool shell_job;        /* the tree may hold the terminal (tty fds are recorded as such) */
	bool pagemap_read;     /* read /proc/PID/pagemap instead of the PAGEMAP_SCAN ioctl (tests) */
};

/* Dump the tree. 0 on success; -1 (logged) on failure, with the tree left running untraced. */
int dump_tree(const struct dump_opts *opts);

/* ---- internal ---- */

#include "criu-lite/pagemap.h"
#include "criu-lite/proc-parse.h"
#include "criu-lite/seize.h"

struct dump_file {
	uint32_t id;
	uint64_t dev, ino;
	pid_t pid;    /* a task holding it (for kcmp) */
	int fd;       /* its fd there; -1 for a mapping-only or exe entry */
	uint32_t flags;
	FileEntry *fe;
};

struct dump_shmem {
	uint64_t id;
	uint32_t kind;        /* SHMEM_KIND_* */
	uint64_t size;
	uint64_t dev, ino;
	char *name;
	bool unlinked;
	uint32_t seals;
	bool has_seals;
	uint32_t mode;
	bool fd_open;         /* some task holds it as a descriptor */
	int fd;               /* the object, open O_RDONLY, to read its pages */
};

struct dump_stats {
	uint64_t pages_dumped;  /* stored */
	uint64_t pages_zero;    /* recorded as zero */
	uint64_t bytes_read;
	uint64_t t_start_ns;
	uint64_t next_progress; /* bytes at which to log progress next */
};

#define DUMP_BUF_SIZE (4u << 20) /* one batch of page data */

struct dump_ctx {
	const struct dump_opts *opts;
	int dfd;
	struct seize_tree tree;
	struct dump_file *files;
	size_t nr_files, cap_files;
	struct dump_shmem *shmems;
	size_t nr_shmems, cap_shmems;
	struct dump_stats stats;
	uint8_t *buf;          /* DUMP_BUF_SIZE */
	uint64_t *pm;          /* DUMP_BUF_SIZE / PAGE_SIZE pagemap entries */
	/* root task's vdso facts for the inventory */
	uint64_t vdso_size, vvar_size, vvar_vclock_size;
	uint32_t vdso_crc;
	bool has_vdso;
	int no_pagemap_scan;   /* 1: the kernel lacks PAGEMAP_SCAN (or a test forces the pread path) */
};

/* dump-mm.c */
/* mm-PID.img + pagemap-PID.img/pages-PID.img. brk: brk(0) of the task (0 if unknown). */
int dump_mm(struct dump_ctx *ctx, pid_t pid, const struct proc_vma *vmas, size_t nr_vmas,
	    uint64_t brk);
/* Register a shmem object opened as fd (ownership taken on success and failure).
 * min_size: the object must be at least this large (anonymous shmem: VMA end + pgoff). */
int dump_shmem_add(struct dump_ctx *ctx, int fd, uint32_t kind, const char *name, bool unlinked,
		   uint64_t min_size, uint64_t *ret_id);
/* Dump every registered shmem object's pages and write shmem.img. */
int dump_shmem_write(struct dump_ctx *ctx);
void dump_shmem_fini(struct dump_ctx *ctx);
/* A page-data batch: is the page all zeroes? */
bool dump_page_is_zero(const void *page);
/* Log progress if due. */
void dump_progress(struct dump_ctx *ctx);

/* dump-files.c */
/* fdinfo-PID.img and the file entries of pid's descriptors. */
int dump_files_task(struct dump_ctx *ctx, pid_t pid);
/* A files.img entry for the file behind a path in /proc (map_files link, exe): O_RDONLY or O_RDWR. */
int dump_file_of_path(struct dump_ctx *ctx, pid_t pid, const char *proc_path, uint32_t flags,
		      uint32_t *ret_id);
int dump_files_write(struct dump_ctx *ctx);
void dump_files_fini(struct dump_ctx *ctx);

#endif
