/*
 * The contract between criu-lite restore (C side, libc) and the restorer blob
 * (freestanding). Everything here is fixed-width; things inside the args area are
 * addressed by byte offsets from the start of struct rst_args, never by pointers
 * into the C side's heap (which the blob unmaps). Target addresses of the restored
 * process (VMAs, rseq, ...) are plain u64.
 *
 * Included by both sides: no libc and no kernel headers here.
 */
#ifndef CRIU_LITE_RESTORER_ARGS_H
#define CRIU_LITE_RESTORER_ARGS_H

#define RST_ARGS_MAGIC 0x4c43525354415247ULL /* "GRATSRCL" */
#define RST_ARGS_VERSION 2

typedef unsigned long long rst_u64;
typedef unsigned int rst_u32;
typedef int rst_s32;
typedef short rst_s16;
typedef long long rst_s64;

/* x86-64 magic numbers the sigframe needs (values from the kernel's uapi). */
#define RST_FP_XSTATE_MAGIC1 0x46505853u
#define RST_FP_XSTATE_MAGIC2 0x46505845u
#define RST_FP_XSTATE_MAGIC2_SIZE 4u
#define RST_UC_FP_XSTATE 0x1ull
#define RST_UC_SIGCONTEXT_SS 0x2ull
#define RST_UC_STRICT_RESTORE_SS 0x4ull
#define RST_FXSAVE_SIZE 512u
#define RST_XSAVE_HDR_SIZE 64u
#define RST_XSAVE_MIN_SIZE (RST_FXSAVE_SIZE + RST_XSAVE_HDR_SIZE)
#define RST_FPX_SW_OFF 464u /* sw_reserved bytes inside the FXSAVE area */

/* The kernel's struct _fpx_sw_bytes (48 bytes at offset 464 of the FXSAVE area). */
struct rst_fpx_sw_bytes {
	rst_u32 magic1;
	rst_u32 extended_size;
	rst_u64 xfeatures;
	rst_u32 xstate_size;
	rst_u32 padding[7];
};

/* The kernel's 64-bit struct sigcontext. */
struct rst_sigcontext {
	rst_u64 r8, r9, r10, r11, r12, r13, r14, r15;
	rst_u64 rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	unsigned short cs, gs, fs, ss;
	rst_u64 err, trapno, oldmask, cr2;
	rst_u64 fpstate; /* address of the 64-byte aligned XSAVE area */
	rst_u64 reserved1[8];
};

/* The kernel's struct ucontext with its 8-byte sigset. */
struct rst_ucontext {
	rst_u64 uc_flags;
	rst_u64 uc_link;
	rst_u64 ss_sp;     /* stack_t uc_stack: restored by rt_sigreturn (sigaltstack) */
	rst_s32 ss_flags;
	rst_u32 ss_pad;
	rst_u64 ss_size;
	struct rst_sigcontext uc_mcontext;
	rst_u64 uc_sigmask;
};

/* struct rt_sigframe: rt_sigreturn expects rsp == &frame->uc, i.e. frame + 8. */
struct rst_sigframe {
	rst_u64 pretcode;
	struct rst_ucontext uc;
	unsigned char info[128];
};

#define RST_SS_DISABLE 2

/* A range [start, end). */
struct rst_range {
	rst_u64 start;
	rst_u64 end;
};

/* rst_vma.fill: how the blob treats the VMA's contents. */
#define RST_FILL_NONE 0   /* nothing to fill (shared file, shmem, guard) */
#define RST_FILL_PAGES 1  /* private: eager pages are written into it */
#define RST_FILL_LAZY 2   /* private anon, registered with the uffd, not filled */

/* rst_vma.madv bits */
#define RST_MADV_HUGEPAGE 0x1
#define RST_MADV_NOHUGEPAGE 0x2
#define RST_MADV_DONTFORK 0x4
#define RST_MADV_DONTDUMP 0x8
#define RST_MADV_WIPEONFORK 0x10
#define RST_MADV_RANDOM 0x20
#define RST_MADV_SEQUENTIAL 0x40
#define RST_MADV_MERGEABLE 0x80

/* rst_vma.lock */
#define RST_LOCK_NONE 0
#define RST_LOCK_ALL 1      /* mlock(): every page in */
#define RST_LOCK_ONFAULT 2  /* mlock2(MLOCK_ONFAULT) */

struct rst_vma {
	rst_u64 start;
	rst_u64 end;
	rst_u64 pgoff;    /* bytes */
	rst_u32 prot;     /* final PROT_* */
	rst_u32 flags;    /* MAP_* for mmap (without MAP_FIXED) */
	rst_s32 fd;       /* -1: anonymous */
	rst_u32 fill;     /* RST_FILL_* */
	rst_u32 madv;     /* RST_MADV_* */
	rst_u32 uffd_mode; /* lazy: UFFDIO_REGISTER_MODE_* bits, 0 = not registered */
	rst_u32 map_prot; /* PROT_* to map with; mprotect'ed to prot after the fill if different */
	rst_s32 shmid;    /* >= 0: a System V segment, attached with shmat() (pgoff 0: the whole
			   * segment here; pgoff > 0: a piece of the attach just before it) */
	rst_u32 shmflg;   /* shmat() flags (SHM_RDONLY, SHM_EXEC) */
	rst_u32 lock;     /* RST_LOCK_* */
	rst_u32 seal;     /* mseal() it once everything is in place */
	rst_u32 nr_guards; /* guard regions to install: (start, pages) u64 pairs at guards_off */
	rst_u64 guards_off;
	rst_u64 name_off; /* its anonymous name (PR_SET_VMA_ANON_NAME), NUL-terminated; 0: none */
	rst_u64 premap;   /* made (and filled) there before the children: mremap()ed into place */
	rst_u32 aio_nr_req; /* an AIO ring: its dumped contents are mapped and filled here, then
			     * a ring of io_setup(aio_nr_req) takes them and their place */
	rst_u32 pad;
};

/* A run of pages read from the pages image into memory. */
#define RST_RUN_DATA 0x1  /* read nr_pages from the pages file */
#define RST_RUN_ZERO 0x2  /* zero nr_pages (a private copy that was all zeros) */
struct rst_run {
	rst_u64 vaddr;
	rst_u64 file_off; /* byte offset in the pages file */
	rst_u64 nr_pages;
	rst_u64 crc_idx;  /* index of the first page's crc32c in the crc array */
	rst_u32 flags;
	rst_u32 pad;
};

/* One thread. The sigframe (with its XSAVE area) is prebuilt by the C side. */
struct rst_thread {
	rst_u32 tid;
	rst_u32 has_rseq;
	rst_u64 fs_base;
	rst_u64 gs_base;
	rst_u64 rseq_addr;
	rst_u32 rseq_len;
	rst_u32 rseq_sig;
	rst_u64 clear_tid_addr;
	rst_u32 has_clear_tid;
	rst_u32 nr_pending;
	rst_u64 pending_off;   /* nr_pending * 128-byte siginfo */
	rst_u64 frame_off;     /* struct rst_sigframe */
	rst_u64 stack_off;     /* top of this thread's blob stack (16-aligned) */
	char comm[16];
	rst_u32 has_nice;
	rst_s32 nice;
	rst_u32 has_sched;
	rst_u32 sched_policy;
	rst_u32 sched_prio;
	rst_u32 seccomp_mode;  /* 0 none, 1 strict, 2 filters: installed last, before the sigreturn */
	rst_u32 nr_filters;
	rst_u32 robust_len;    /* set_robust_list(robust_list, robust_len) */
	rst_u64 filters_off;   /* struct rst_filter[nr_filters], the oldest first */
	rst_u64 robust_list;
	rst_u64 cpu_mask[16];  /* sched_setaffinity (nr_cpu_mask words; 0: leave it) */
	rst_u32 nr_cpu_mask;
	rst_u32 has_ioprio;
	rst_u32 ioprio;
	rst_u32 tsc;           /* PR_SET_TSC, 0: leave it */
};

/* One seccomp filter of a thread: its BPF program in the args area. */
struct rst_filter {
	rst_u32 len;           /* instructions (struct sock_filter, 8 bytes each) */
	rst_u32 flags;         /* SECCOMP_FILTER_FLAG_* */
	rst_u64 prog_off;
};

struct rst_itimer {
	rst_u32 which;
	rst_u32 set;
	rst_u64 interval_us;
	rst_u64 value_us;
};

/* A POSIX timer: made with its id by the leader, armed by the thread it signals
 * (SIGEV_THREAD_ID) or by the leader. */
struct rst_timer {
	rst_u32 id;
	rst_s32 clock;
	rst_u32 notify;      /* sigev_notify */
	rst_u32 signo;
	rst_u64 sigval;
	rst_u32 tid;         /* SIGEV_THREAD_ID: its thread */
	rst_u32 overrun;     /* timer_getoverrun() to give again */
	rst_u64 value_ns;    /* time left, 0: disarmed */
	rst_u64 interval_ns;
	rst_u32 pending;     /* its signal is to be pending */
	rst_u32 pad;
};

/* Creds, applied by every thread (setresuid & co. are per-thread at syscall level). */
struct rst_creds {
	rst_u32 set;
	rst_u32 uid, gid, euid, egid, suid, sgid, fsuid, fsgid;
	rst_u32 nr_groups;
	rst_u64 groups_off;    /* nr_groups u32 */
	rst_u32 has_caps;
	rst_u32 last_cap;      /* highest capability number to apply */
	rst_u64 cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	rst_u32 has_securebits;
	rst_u32 securebits;
};

/* A POSIX lock to take again (the kernel's struct flock on x86-64) through fd. */
#define RST_MAX_LOCKS 32
struct rst_flock {
	rst_s16 l_type, l_whence;
	rst_u32 pad;
	rst_s64 l_start, l_len;
	rst_s32 l_pid, pad2;
};

/*
 * Shared between every task of the restore and the criu-lite parent (a MAP_SHARED
 * page at the start of the reserved area): stages and the abort channel.
 */
#define RST_SYNC_ERRLEN 480
struct rst_sync {
	rst_u32 seq;        /* bumped (and woken) on every change below */
	rst_u32 nr_done;    /* tasks whose every thread is ready to sigreturn */
	rst_u32 go;         /* set by the parent: every thread may sigreturn */
	rst_u32 abort;      /* set by the first failure */
	rst_u32 err_pid;    /* the task that failed */
	rst_u32 nr_created; /* tasks created so far */
	char errmsg[RST_SYNC_ERRLEN];
};

struct rst_args {
	rst_u64 magic;
	rst_u32 version;
	rst_u32 args_size;      /* sizeof(struct rst_args) */
	rst_u64 total_size;     /* bytes of the args area */

	rst_u32 pid;            /* this task's pid (leader tid) */
	rst_s32 log_level;
	rst_u64 sync_addr;      /* struct rst_sync, MAP_SHARED */

	/* Kept while unmapping: the whole reserved area (blob + args + sync). */
	rst_u64 keep_start;
	rst_u64 keep_end;

	/* vdso/vvar/vvar_vclock now -> where they were: each piece moves by vdso_delta. */
	rst_u32 nr_vdso;        /* pieces present now (0..3) */
	rst_u32 vdso_move;      /* 1: move them, 0: leave, 2: unmap them (the dump had none) */
	struct rst_range vdso_now[3];
	rst_u64 vdso_delta;     /* signed, two's complement */

	rst_u32 nr_vmas;
	rst_u32 nr_runs;
	rst_u64 vmas_off;       /* struct rst_vma[] sorted by start */
	rst_u64 runs_off;       /* struct rst_run[] */
	rst_u64 crcs_off;       /* u32 crc32c per data page, 0 if not checked */
	rst_u64 nr_crcs;
	rst_s32 pages_fd;       /* pages-PID.img, -1 if none */
	rst_u32 check_crc;      /* 1: verify every page (needs SSE4.2) */

	/* PR_SET_MM_MAP */
	rst_u64 mm[11];         /* start_code .. env_end in prctl_mm_map order */
	rst_u64 auxv_off;       /* rst_u64 pairs */
	rst_u32 auxv_size;      /* bytes */
	rst_s32 exe_fd;         /* -1: keep */

	rst_u32 nr_threads;     /* the leader is threads[0] */
	rst_u32 nr_shared_pending;
	rst_u64 threads_off;    /* struct rst_thread[] */
	rst_u64 shared_pending_off; /* 128-byte siginfos, queued once by the leader */

	struct rst_itimer itimers[3];
	struct rst_creds creds;

	/* Lazy pages: the uffd created by the C side, -1 without --lazy-pages. */
	rst_s32 uffd;
	rst_u32 nr_lazy;        /* vmas with uffd_mode != 0 */

	/* fds >= svc_fd_base are the restorer's own; closed before sigreturn. */
	rst_s32 svc_fd_base;
	rst_u32 threads_ready;  /* counter, CLONE_VM-shared by the task's threads */

	rst_u64 blob_stack_top; /* absolute: the leader's blob stack */
	/* PR_SET_PDEATHSIG: SIGKILL while restoring (the parent's death kills the task),
	 * the dumped value once the parent says go */
	rst_u32 pdeath_sig;
	rst_u32 leader_dead;    /* the leader exited while its threads ran: it ends here */
	rst_u32 lock_future;    /* mlockall(MCL_FUTURE): 0, RST_LOCK_ALL, RST_LOCK_ONFAULT */
	rst_u32 memory_merge;   /* prctl(PR_SET_MEMORY_MERGE, 1) */

	rst_u32 nr_timers;      /* struct rst_timer[] at timers_off, by id */
	rst_u32 timers_made;    /* set (and woken) once the leader made them all */
	rst_u64 timers_off;
	rst_u32 timers_in_order; /* (tests) never PR_TIMER_CREATE_RESTORE_IDS */
	rst_u32 pad3;
	/* The premap area (kept while unmapping, unmapped once its VMAs moved out). */
	rst_u64 premap_start;
	rst_u64 premap_end;
	rst_s32 devnull_fd;     /* /dev/null, written to move an AIO ring's tail; -1 if none */
	rst_u32 mdwe;           /* PR_SET_MDWE, once nothing more is mapped */

	/* POSIX locks, taken once the service fds are closed (closing any fd of a file
	 * drops the process's POSIX locks on it) */
	rst_u32 nr_locks;
	rst_u32 pad4;
	rst_s32 lock_fds[RST_MAX_LOCKS];
	struct rst_flock locks[RST_MAX_LOCKS];
};

/* Blob entry: never returns. */
typedef void (*rst_entry_fn)(struct rst_args *args);

#endif
