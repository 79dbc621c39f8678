/*
 * criu-lite dump: checkpoint a process tree into a directory of images.
 *
 * cr_dump() is the library entry point; dump-ctx.h is internal to dump*.c.
 *
 * Image contract (what restore can rely on):
 *  - inventory.img is written last, after syncfs() of the directory, and fsync'ed; an
 *    old one is unlinked first, so a failed dump never leaves a directory that looks
 *    complete. vdso_digest = crc32c (crc32c, seed 0) of the root task's [vdso]
 *    bytes, 4 bytes little-endian; vdso_size/vvar_size/vvar_vclock_size in bytes.
 *    lazy_pages is always true (anon/shmem pages carry PE_LAZY).
 *  - pstree.img: parents before children, the root first (ppid 0); threads[0] is the
 *    leader. pgid/sid are the raw values (outside the tree only with --shell-job: the
 *    root's). A zombie has zombie/exit_status/exit_signal and no other image; a task
 *    whose leader exited has leader_dead and a core-PID.img that says dead (no regs).
 *  - core-TID.img: gpregs are the registers to RESUME with (fix-up done at dump):
 *    -ERESTARTSYS/-ERESTARTNOINTR/-ERESTARTNOHAND: rax = orig_rax, rip -= 2;
 *    -ERESTART_RESTARTBLOCK: rax = -EINTR. in_syscall is true in those cases;
 *    orig_ax is the dumped one (restore should not use it). fs_base/gs_base are in gpregs.
 *    xsave is the NT_X86_XSTATE area exactly as ptrace gave it (standard, non-compacted
 *    format; its length is the buffer length); xfeatures is the XCR0 mask that ptrace
 *    stores in the first u64 of the FXSAVE sw_reserved bytes (offset 464).
 *    sigmask = the blocked signals to resume with (for a thread in sigsuspend/ppoll, the
 *    mask it restores, not its temporary one); rseq only when registered; clear_tid_addr
 *    absent if PR_GET_TID_ADDRESS is unavailable; pending = thread-private queue, raw siginfo,
 *    without the signals of POSIX timers (those are task-PID.img's signal_pending).
 *    robust_list, cpu_mask (sched_getaffinity), ioprio, tsc (PR_GET_TSC) per thread.
 *  - task-PID.img: sigactions for 1..64 except SIGKILL/SIGSTOP, as the kernel's struct
 *    sigaction (handler, flags incl. SA_RESTORER, restorer, mask); itimers REAL/VIRTUAL/PROF
 *    in microseconds; rlimits 0..RLIM_NLIMITS-1; cwd/root as readlink gives them (a
 *    deleted cwd without " (deleted)", with cwd_deleted and its mode and owner);
 *    posix_timers by id; stop_signal of a group-stopped task; oom_score_adj,
 *    coredump_filter, mdwe.
 *  - mm-PID.img: vmas sorted by start. [vsyscall] is listed (kind 8) but never mapped by
 *    restore. flags: MAP_PRIVATE|MAP_SHARED, MAP_ANONYMOUS for anon kinds and anonymous
 *    shmem, MAP_GROWSDOWN ("gd"), MAP_NORESERVE ("nr"). vm_flags = PROC_VMF_* bits
 *    (proc-parse.h); madv = 1 << MADV_* for dc/dd/hg/nh/mg/wf/sr/rr. status: LAZY on
 *    private anon/heap/stack/shmem (not locked or droppable memory); GUARD on a PROT_NONE
 *    private anon VMA without pages; INHERITED on one holding pages of the parent's VMA
 *    of the same range. guards: MADV_GUARD_INSTALL regions. An AIO ring is kind 11 with
 *    its pages in the task's set. lock_future: mlockall(MCL_FUTURE[|MCL_ONFAULT]).
 *    auxv holds key/value pairs up to and including AT_NULL. exe_file_id points to a
 *    files.img regular entry. brk comes from brk(0) in the task.
 *  - Private pages: pagemap-PID.img/pages-PID.img (pages_id = pid). Anon/heap/stack:
 *    present and swapped pages; private file mappings: only pages that are not the file's
 *    (pagemap bit 61 clear). All-zero pages are PE_ZERO records. Anon pages carry PE_LAZY,
 *    private-file COW pages do not. Nothing for shared file, vdso, vvar, vsyscall VMAs.
 *    A child's page that is still its parent's (same frame or swap slot, stored in the
 *    parent's set) is PE_PARENT, without data. Entries never span two VMAs. Memory is
 *    read through /proc/PID/mem (process_vm_readv would unshare copy-on-write pages).
 *  - shmem.img: one entry per object (dev, ino) whatever maps or opens it; ids 1..N.
 *    size: fstat size, at least pgoff + length of every VMA mapping anonymous shmem.
 *    Pages in pagemap-shmem-ID.img/pages-shmem-ID.img (pages_id = ID), vaddr = byte
 *    offset; only data ranges (SEEK_DATA) are listed, zero pages as PE_ZERO, all PE_LAZY.
 *  - files.img holds every open file description once (kcmp KCMP_FILE), plus entries
 *    (never referenced by an fdinfo) for the files behind file mappings (O_RDONLY, or
 *    O_RDWR for a shared mapping of a file opened for writing: VmFlags mw) and
 *    /proc/PID/exe. reg.flags have O_CLOEXEC removed (fdinfo.cloexec has it). An fd of a shmem object (memfd, /dev/zero, unlinked tmpfs
 *    file) is FILE_TYPE_MEMFD pointing at its shmem object. Each kind is described by its
 *    file in criu-lite/files/ (see files.h and files.proto). Kinds criu-lite does not
 *    carry fail the dump naming the pid, the fd and what it is.
 *    Any other state it does not carry fails the dump too, named (dump-check.h, README:
 *    "What is carried, and what is refused at dump").
 */
#ifndef CRIU_LITE_DUMP_H
#define CRIU_LITE_DUMP_H

#include "lib/options.h"

/*
 * Dump the tree rooted at o->tree into o->images_dir (created if missing). 0 on
 * success, the tree killed (or resumed with o->leave_running); -1 (logged) on failure,
 * with the tree left running untraced.
 */
int cr_dump(const struct cr_options *o);

#endif
