/*
 * The image set of a dump directory: every image restore needs, read and validated
 * before anything is created. This is the one validator: restore loads its images
 * through img_set_load(), and `show` and the tests check a directory with
 * img_check_dir(), which loads the set the same way and then reads every other
 * image file of a known type to its end marker.
 *
 * What img_set_load() guarantees on success:
 *  - inventory.img: the format version is ours, the dump completed, same page size;
 *  - pstree.img: at least one task; the root first and the only one without a parent;
 *    parents before children; pids >= 2; the leader is threads[0]; no tid twice;
 *    at most IMG_MAX_THREADS threads a task; the inventory's root_pid matches;
 *    a zombie is not the root, has one thread, no children and an exit status a
 *    process can end with (no core dump); a dead leader's task has other threads;
 *  - per task but a zombie: a core image per thread naming that thread (only the
 *    dead leader's says dead), with registers and an
 *    XSAVE area of at most 64 KiB; task-PID.img; creds-PID.img if present;
 *    mm-PID.img with its auxv in pairs (at most 64), the code/data/brk/arg/env
 *    bounds in order and in the user address space, VMAs sorted, page aligned,
 *    non-overlapping, of known kinds, their guard regions inside them, each shmem or
 *    file VMA naming an object of
 *    shmem.img or files.img; registers of 64-bit code (fs/gs base and ip in the user
 *    address space); fdinfo-PID.img with fds below 2^20 naming files of files.img;
 *    the private page set (pagemap-PID.img + pages-PID.img, see pagemap.h) with every
 *    run of pages inside VMAs that hold private pages;
 *  - copy-on-write sharing: a VMA marked inherited has its parent's VMA of the same range,
 *    private anonymous both, no entry of either page set crossing its bounds; the
 *    parent's pages (PE_PARENT) lie in inherited VMAs, and the parent stored each;
 *  - shmem.img: known kinds, unique ids, each object's page set within its size
 *    (the last page may hold the end of an object of another size);
 *  - files.img: unique ids; each entry has the sub-message of its type, and what it
 *    names exists (a memfd's shmem object, an epoll's targets, a ghost's contents);
 *    a pipe's packets add up to its data; fdinfo records are in increasing fd order;
 *  - file-data.img: each record names a file of files.img (a ghost or a socket), and
 *    the files its SCM_RIGHTS carry;
 *  - ns.img and seccomp.img: see nsimg.h.
 * What the kernel may refuse (a 32-bit task, a seccomp filter) is not the validator's
 * business: restore says so.
 */
#ifndef CRIU_LITE_IMGSET_H
#define CRIU_LITE_IMGSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "images/image.h"
#include "images/pagemap.h"
#include "images/nsimg.h"

/* The top of x86-64 user space (TASK_SIZE_MAX with 4-level page tables). */
#define IMG_TASK_SIZE 0x7ffffffff000ULL
#define IMG_MAX_THREADS 4096
#define IMG_MAX_FD (1u << 20)
#define IMG_MAX_XSAVE (64u << 10)

struct img_task {
	PstreeEntry *pe;
	TaskEntry *task;
	CredsEntry *creds;       /* NULL: not dumped */
	MmEntry *mm;
	ThreadCoreEntry **cores; /* pe->n_threads, in pe->threads order */
	FdinfoEntry **fds;
	size_t nr_fds;
	struct page_read pr;     /* the private pages, when has_pages */
	bool has_pages;
};

/* A zombie has a pstree entry only: task, mm, creds, cores, fds and pages are NULL/empty. */
static inline bool img_task_zombie(const struct img_task *t)
{
	return t->pe->has_zombie && t->pe->zombie;
}

/* The leader exited while its other threads run (its core says dead, no registers). */
static inline bool img_task_leader_dead(const struct img_task *t)
{
	return t->pe->has_leader_dead && t->pe->leader_dead;
}

struct img_shmem {
	ShmemEntry *se;
	struct page_read pr;     /* its pages, when has_pages */
	bool has_pages;
};

struct img_set {
	InventoryEntry *inv;
	struct img_task *tasks;  /* as pstree.img lists them: the root first */
	size_t nr_tasks;
	FileEntry **files;
	size_t nr_files;
	FileDataEntry **file_data; /* file-data.img: ghost contents, socket queues (in order) */
	size_t nr_file_data;
	struct img_shmem *shmems;
	size_t nr_shmems;
	struct img_ns ns;        /* namespaces and seccomp (nsimg.h) */
};

/* Read and validate every image restore needs. 0, or -1 (logged, naming the file and
 * what is wrong; errno EBADMSG for a bad image) with nothing left allocated. */
int img_set_load(int dfd, struct img_set *ret);
void img_set_free(struct img_set *s);

/* Lookups; -1 / NULL when absent. */
ssize_t img_set_task_idx(const struct img_set *s, uint32_t pid);
ssize_t img_set_file_idx(const struct img_set *s, uint32_t id);
ssize_t img_set_shmem_idx(const struct img_set *s, uint64_t id);

/* The inventory alone: our version, a completed dump, our page size. NULL (logged). */
InventoryEntry *img_read_inventory(int dfd);

/*
 * Validate a dump directory: img_set_load(), then every *.img file of a known type
 * is read to its end (record images: every record and the end marker; pages images:
 * the header), whether restore uses it or not, and must hold the type its name says.
 * Returns 0 or -1 (logged, naming the file).
 */
int img_check_dir(int dfd);

#endif
