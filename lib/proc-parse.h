/*
 * /proc parsing helpers (dump side; restore may use them too).
 *
 * Every function here is non-logging for parse errors of a single line
 * (proc_parse_maps_line, proc_parse_vmflags) and logging (pr_perror / pr_err,
 * once) for everything that reads files. All return 0 on success, -1 on error.
 * Nothing here keeps global state.
 */
#ifndef CRIU_LITE_PROC_PARSE_H
#define CRIU_LITE_PROC_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_PATH_MAX 4096

/* VmFlags letters of /proc/PID/smaps as bits (the order of show_smap_vma_flags()). */
#define PROC_VMF_RD (1ULL << 0)  /* rd */
#define PROC_VMF_WR (1ULL << 1)  /* wr */
#define PROC_VMF_EX (1ULL << 2)  /* ex */
#define PROC_VMF_SH (1ULL << 3)  /* sh */
#define PROC_VMF_MR (1ULL << 4)  /* mr */
#define PROC_VMF_MW (1ULL << 5)  /* mw */
#define PROC_VMF_ME (1ULL << 6)  /* me */
#define PROC_VMF_MS (1ULL << 7)  /* ms */
#define PROC_VMF_GD (1ULL << 8)  /* gd: grows down */
#define PROC_VMF_PF (1ULL << 9)  /* pf: pure PFN range */
#define PROC_VMF_LF (1ULL << 10) /* lf: locked on fault */
#define PROC_VMF_IO (1ULL << 11) /* io */
#define PROC_VMF_SR (1ULL << 12) /* sr: sequential read hint */
#define PROC_VMF_RR (1ULL << 13) /* rr: random read hint */
#define PROC_VMF_DC (1ULL << 14) /* dc: do not copy on fork (MADV_DONTFORK) */
#define PROC_VMF_DE (1ULL << 15) /* de: do not expand on remap */
#define PROC_VMF_AC (1ULL << 16) /* ac: accountable */
#define PROC_VMF_NR (1ULL << 17) /* nr: no swap reserve */
#define PROC_VMF_HT (1ULL << 18) /* ht: hugetlb */
#define PROC_VMF_SF (1ULL << 19) /* sf: sync fault */
#define PROC_VMF_AR (1ULL << 20) /* ar: arch specific */
#define PROC_VMF_WF (1ULL << 21) /* wf: wipe on fork */
#define PROC_VMF_DD (1ULL << 22) /* dd: do not dump (MADV_DONTDUMP) */
#define PROC_VMF_BI (1ULL << 23) /* bi: arm64 BTI */
#define PROC_VMF_MM (1ULL << 24) /* mm: mixed map */
#define PROC_VMF_HG (1ULL << 25) /* hg: MADV_HUGEPAGE */
#define PROC_VMF_NH (1ULL << 26) /* nh: MADV_NOHUGEPAGE */
#define PROC_VMF_MG (1ULL << 27) /* mg: MADV_MERGEABLE */
#define PROC_VMF_UM (1ULL << 28) /* um: uffd missing */
#define PROC_VMF_UW (1ULL << 29) /* uw: uffd wp */
#define PROC_VMF_UI (1ULL << 30) /* ui: uffd minor */
#define PROC_VMF_SS (1ULL << 31) /* ss: shadow stack */
#define PROC_VMF_SL (1ULL << 32) /* sl: sealed */
#define PROC_VMF_LO (1ULL << 33) /* lo: locked (mlock) */
#define PROC_VMF_GU (1ULL << 34) /* gu: holds guard regions (MADV_GUARD_INSTALL) */
#define PROC_VMF_DP (1ULL << 35) /* dp: droppable (MAP_DROPPABLE) */

/* One line of /proc/PID/maps (plus VmFlags from smaps). */
struct proc_vma {
	uint64_t start, end;
	uint32_t prot;      /* PROT_* */
	bool shared;        /* 's' in the perms column */
	uint64_t pgoff;     /* bytes */
	uint32_t dev_major, dev_minor;
	uint64_t ino;
	bool deleted;       /* the name ends in " (deleted)" (stripped from name) */
	uint64_t vmflags;   /* PROC_VMF_* (smaps only, else 0) */
	char name[PROC_PATH_MAX]; /* "" for anonymous memory */
};

/*
 * Parse one maps line (without or with its trailing '\n'). Names may contain
 * spaces; a trailing " (deleted)" is stripped and sets ->deleted.
 * Returns 0, or -1 with errno EINVAL (no logging).
 */
int proc_parse_maps_line(const char *line, struct proc_vma *ret);
/* Parse the value of a "VmFlags:" line ("rd wr mr ..."). Unknown letters are ignored. */
uint64_t proc_parse_vmflags(const char *s);

/* Read /proc/PID/smaps: every VMA with its VmFlags. *ret is a heap array (free()). */
int proc_parse_smaps(pid_t pid, struct proc_vma **ret, size_t *ret_nr);
/* Read /proc/PID/maps (pid 0: our own); no VmFlags. *ret is a heap array (free()). */
int proc_read_maps(pid_t pid, struct proc_vma **ret, size_t *ret_nr);
/* The same from a maps text already read (an empty text: no VMAs). */
int proc_parse_maps_text(const char *text, struct proc_vma **ret, size_t *ret_nr);

/* The kernel's special mappings ([vdso], [vvar], [vvar_vclock], [vsyscall]) among
 * VMAs; start == end when absent. */
struct proc_range {
	uint64_t start, end;
};
struct proc_special {
	struct proc_range vdso, vvar, vvar_vclock, vsyscall;
};
void proc_find_special(const struct proc_vma *vmas, size_t nr, struct proc_special *ret);

/* Fields of /proc/PID/stat (after the comm, which may hold spaces and parens). */
struct proc_stat {
	pid_t pid;
	char comm[64];
	char state;
	pid_t ppid, pgid, sid;
	uint32_t tty_nr;   /* the controlling terminal's device number, 0: none */
	pid_t tpgid;       /* its foreground process group, -1: none */
	uint64_t flags;
	int64_t nice;
	uint64_t num_threads;
	uint64_t start_code, end_code, start_stack;
	uint32_t exit_signal;
	int processor; /* the CPU it last ran on */
	uint64_t start_data, end_data, start_brk;
	uint64_t arg_start, arg_end, env_start, env_end;
	int exit_code;          /* field 52: the wait status of a zombie */
	bool has_exit_code;
};
/* Parse the contents of a stat file (pure function, no logging, errno EINVAL). */
int proc_parse_stat_str(const char *buf, struct proc_stat *ret);
/* Read /proc/PID/task/TID/stat (tid == 0: /proc/PID/stat). */
int proc_parse_stat(pid_t pid, pid_t tid, struct proc_stat *ret);

#define PROC_MAX_GROUPS 256
struct proc_status {
	char state;            /* the letter of State: */
	pid_t tgid, tracer_pid;
	uint32_t uid[4], gid[4]; /* real, effective, saved, fs */
	uint32_t groups[PROC_MAX_GROUPS];
	size_t nr_groups;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	bool no_new_privs;
	uint32_t seccomp;
	uint32_t umask;
	bool has_umask;
	uint64_t sig_pnd, shd_pnd, sig_blk;
	/* NSpid/NSpgid/NSsid: the ids in each pid namespace, the reader's first */
#define PROC_MAX_NS_LEVELS 33
	uint32_t ns_pid[PROC_MAX_NS_LEVELS], ns_pgid[PROC_MAX_NS_LEVELS], ns_sid[PROC_MAX_NS_LEVELS];
	size_t nr_ns_levels;     /* 0 when the kernel shows no NSpid */
	/* as the kernel words them; empty when absent */
	char spec_store_bypass[48], spec_indirect_branch[48];
	char x86_features[64];   /* x86_Thread_features: shadow stack and friends */
	uint64_t untag_mask;     /* x86 LAM: ~0 when the task uses none */
	bool has_untag_mask;
};
/* Parse the contents of a status file (pure, errno EINVAL when a required field is missing). */
int proc_parse_status_str(const char *buf, struct proc_status *ret);
/* Read /proc/PID/task/TID/status (tid == 0: /proc/PID/status). */
int proc_parse_status(pid_t pid, pid_t tid, struct proc_status *ret);

struct proc_fdinfo {
	uint64_t pos;
	uint32_t flags;  /* O_* as fdinfo shows them (O_CLOEXEC included) */
	int mnt_id;
};
int proc_parse_fdinfo_str(const char *buf, struct proc_fdinfo *ret);
int proc_parse_fdinfo(pid_t pid, int fd, struct proc_fdinfo *ret);

/* One POSIX timer of /proc/PID/timers. */
struct proc_timer {
	uint32_t id;
	int32_t clock;        /* ClockID: (negative: a CPU-time clock of a given pid/tid) */
	uint32_t notify;      /* sigev_notify: SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, | SIGEV_THREAD_ID */
	uint32_t signo;
	uint64_t sigval;      /* sigev_value */
	pid_t notify_pid;     /* the pid, or the tid with SIGEV_THREAD_ID */
};
/* Parse the contents of a timers file (pure; errno EINVAL on anything unexpected). *ret
 * is a heap array (free()); none is an empty array. */
int proc_parse_timers_str(const char *buf, struct proc_timer **ret, size_t *ret_nr);
/* Read /proc/PID/timers. */
int proc_parse_timers(pid_t pid, struct proc_timer **ret, size_t *ret_nr);

/* /proc/PID/numa_maps: 1 with the first VMA whose memory policy (mbind) is not the
 * default, its address and policy; 0 if none (or no NUMA here); -1 (logged). */
int proc_numa_policy(pid_t pid, uint64_t *ret_addr, char *ret_policy, size_t len);

/*
 * Numeric entries of a /proc directory, sorted ascending:
 * /proc/PID/task (tids), /proc/PID/fd (fds). *ret is a heap array.
 * A directory that vanished (ESRCH/ENOENT) is an error, logged.
 */
int proc_list_dir_ints(const char *path, int **ret, size_t *ret_nr);
int proc_list_tids(pid_t pid, pid_t **ret, size_t *ret_nr);
/* The children of one thread (/proc/PID/task/TID/children), unsorted. */
int proc_list_children(pid_t pid, pid_t tid, pid_t **ret, size_t *ret_nr);

/* One line of /proc/PID/mountinfo; strings unescaped (\040 and co). */
struct proc_mount {
	int id, parent;
	uint32_t major, minor;
	char *root;        /* the mount's root inside its filesystem */
	char *mountpoint;  /* relative to the task's root */
	char *opts;        /* per-mount options: "rw,nosuid,relatime" */
	char *fstype;      /* "tmpfs"; with its subtype: "fuse.sshfs" */
	char *source;
	char *super_opts;  /* superblock options: "rw,size=65536k,mode=755" */
	int shared, master, propagate_from; /* peer groups, 0: none */
	bool unbindable;
	char *buf_;        /* the strings above live here */
};
/* Parse one mountinfo line (pure, no logging): 0, or -1 with errno EINVAL. The strings
 * point into a copy owned by ret (proc_mount_fini). */
int proc_parse_mountinfo_line(const char *line, struct proc_mount *ret);
void proc_mount_fini(struct proc_mount *m);
/* Read /proc/PID/mountinfo. *ret: a heap array (proc_mounts_free). 0 or -1 (logged). */
int proc_parse_mountinfo(pid_t pid, struct proc_mount **ret, size_t *ret_nr);
void proc_mounts_free(struct proc_mount *v, size_t nr);

/* readlink() into buf (NUL-terminated); -1 (logged) on error or truncation. */
int proc_readlink(const char *path, char *buf, size_t size);

#endif
