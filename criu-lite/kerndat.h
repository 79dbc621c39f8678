/*
 * kerndat: one-time probing of what this kernel and these privileges allow.
 *
 * Every probe really exercises the interface (in a forked child where it has to:
 * ptrace, clone3, PR_SET_MM_MAP) and gives each feature a definite result, OK or
 * MISSING, with a one-line detail. Missing features are not errors here: the
 * caller decides, usually through kerndat_require().
 *
 *	struct kerndat kd;
 *	kerndat_init(&kd);                          probe everything
 *	if (kerndat_require(&kd, KD_NEED_LAZY))     logs what is missing
 *		return -1;
 *
 * or probe only what is needed: kerndat_probe(&kd, KD_UFFD_EVENT_FORK) (a zeroed
 * struct kerndat is a valid "nothing probed yet" state; kerndat_init zeroes it).
 */
#ifndef CRIU_LITE_KERNDAT_H
#define CRIU_LITE_KERNDAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which ability needs a feature (struct kd_feature.needs). 0: informational. */
#define KD_NEED_DUMP 0x1u
#define KD_NEED_RESTORE 0x2u /* eager restore */
#define KD_NEED_LAZY 0x4u    /* lazy restore (restore --lazy-pages + lazy-pages) */
#define KD_NEED_ALL (KD_NEED_DUMP | KD_NEED_RESTORE | KD_NEED_LAZY)

enum kd_status {
	KD_UNKNOWN = 0, /* not probed yet */
	KD_OK = 1,
	KD_MISSING = 2,
};

/* Feature ids: index into the feature table and into struct kerndat.status. */
enum kd_feat {
	KD_PTRACE_SEIZE,	   /* PTRACE_SEIZE + PTRACE_INTERRUPT -> PTRACE_EVENT_STOP */
	KD_PTRACE_REGS,		   /* PTRACE_GETREGSET NT_PRSTATUS */
	KD_PTRACE_XSTATE,	   /* PTRACE_GETREGSET NT_X86_XSTATE */
	KD_PTRACE_RSEQ,		   /* PTRACE_GET_RSEQ_CONFIGURATION */
	KD_PTRACE_SIGMASK,	   /* PTRACE_GETSIGMASK */
	KD_PTRACE_PEEKSIGINFO,	   /* PTRACE_PEEKSIGINFO */
	KD_PROCESS_VM_READV,
	KD_MAP_FILES,		   /* open /proc/PID/map_files/ entries */
	KD_PAGEMAP,		   /* /proc/PID/pagemap present bits */
	KD_PAGEMAP_PFN,		   /* ... with PFNs */
	KD_PAGEMAP_SCAN,	   /* PAGEMAP_SCAN ioctl */
	KD_CLONE3_SET_TID,
	KD_PRCTL_MM_MAP,
	KD_MEMFD,
	KD_SEEK_DATA_HOLE,
	KD_UFFD_SYSCALL,	   /* userfaultfd(2) */
	KD_UFFD_DEV,		   /* /dev/userfaultfd + USERFAULTFD_IOC_NEW */
	KD_UFFD,		   /* a uffd (either way) + UFFDIO_API handshake */
	/* UFFDIO_API feature bits, in bit order; named as the kernel names them */
	KD_UFFD_PAGEFAULT_FLAG_WP,
	KD_UFFD_EVENT_FORK,
	KD_UFFD_EVENT_REMAP,
	KD_UFFD_EVENT_REMOVE,
	KD_UFFD_MISSING_HUGETLBFS,
	KD_UFFD_MISSING_SHMEM,
	KD_UFFD_EVENT_UNMAP,
	KD_UFFD_SIGBUS,
	KD_UFFD_THREAD_ID,
	KD_UFFD_MINOR_HUGETLBFS,
	KD_UFFD_MINOR_SHMEM,
	KD_UFFD_EXACT_ADDRESS,
	KD_UFFD_WP_HUGETLBFS_SHMEM,
	KD_UFFD_WP_UNPOPULATED,
	KD_UFFD_POISON,
	KD_UFFD_WP_ASYNC,
	KD_UFFD_MOVE,
	KD_UFFD_ANON_IOCTLS,	   /* UFFDIO_REGISTER MISSING on anon: COPY ZEROPAGE WAKE */
	KD_UFFD_SHMEM_IOCTLS,	   /* MISSING|MINOR on memfd: + CONTINUE */
	KD_UFFD_SHMEM_MINOR_CONTRACT, /* the project's kernel contract, end to end */
	KD_VDSO_LAYOUT,
	KD_CAPS,		   /* capabilities held (informational list) */
	KD_CAP_SYS_ADMIN,
	KD_CAP_SYS_PTRACE,
	KD_CAP_CHECKPOINT_RESTORE,
	KD_CAP_SYS_RESOURCE,
	KD_KVM_GUEST_MEMFD,	   /* /dev/kvm, KVM_CREATE_VM, KVM_CREATE_GUEST_MEMFD */
	KD_GUEST_MEMFD_UFFD_MINOR, /* uffd MINOR on a guest_memfd mmap (vm_uffd_ops) */
	KD_PIDFD_OPEN,		   /* pidfd_open(2) */
	KD_PIDFD_GETFD,		   /* pidfd_getfd(2): a copy of another task's fd */
	/* TCP connections and the network lock (criu-lite/files/tcp.c, criu-lite/netlock.c) */
	KD_TCP_REPAIR,		   /* TCP_REPAIR on an established connection */
	KD_TCP_HALF_CLOSED,	   /* ... and on a half-closed one (CRIU: tcp_half_closed) */
	KD_NETLOCK_IPTABLES,	   /* --network-lock iptables works (iptables-restore) */
	KD_IPT_LEGACY,		   /* iptables-legacy-restore works (CRIU: has_ipt_legacy) */
	KD_NETLOCK_NFTABLES,	   /* --network-lock nftables works (CRIU: network_lock_nftables) */
	KD_NFTABLES,		   /* the nft tool works here (CRIU: nftables) */
	KD_TIMER_CR_IDS,	   /* prctl(PR_TIMER_CREATE_RESTORE_IDS): timers with chosen ids */
	KD_GUARD_REGIONS,	   /* MADV_GUARD_INSTALL, seen through pagemap / PAGEMAP_SCAN */
	KD_NR_FEATURES,
};

#define KD_UFFD_FEATURE_FIRST KD_UFFD_PAGEFAULT_FLAG_WP
#define KD_UFFD_FEATURE_LAST KD_UFFD_MOVE

#define KD_DETAIL_LEN 320

/* Where [vdso] and friends are in this process (and so, for this kernel, how
 * they are laid out relative to each other). Sizes of 0: not mapped. */
struct kd_vdso {
	uint64_t vdso_start, vdso_size;
	uint64_t vvar_start, vvar_size;
	uint64_t vvar_vclock_start, vvar_vclock_size;
	uint64_t vsyscall_start, vsyscall_size;
	/* start - vdso_start: where restore must put them around a moved [vdso] */
	int64_t vvar_off, vvar_vclock_off;
};

struct kerndat {
	uint8_t status[KD_NR_FEATURES]; /* enum kd_status */
	char detail[KD_NR_FEATURES][KD_DETAIL_LEN];

	/* Raw results, valid once the matching feature is probed. */
	uint64_t uffd_features;	     /* UFFDIO_API answer to "features = 0": all supported */
	uint64_t uffd_api_ioctls;    /* UFFDIO_API ioctls */
	uint64_t uffd_anon_ioctls;   /* UFFDIO_REGISTER(MISSING) on private anon */
	uint64_t uffd_shmem_ioctls;  /* UFFDIO_REGISTER(MISSING|MINOR) on memfd */
	struct kd_vdso vdso;	     /* KD_VDSO_LAYOUT */
	uint64_t caps_eff;	     /* effective capabilities, bit = cap number */
	uint32_t xstate_size;	     /* NT_X86_XSTATE size the kernel gave */
	uint64_t xstate_features;    /* xfeatures from its software-reserved bytes */
};

struct kd_feature {
	enum kd_feat id;
	const char *name;
	unsigned needs; /* KD_NEED_* */
	const char *desc;
	/* Fills kd->status[] (and detail) for this feature, possibly for others of
	 * the same group too. Never fails: a probe that can't run gives MISSING. */
	void (*probe)(struct kerndat *kd);
};

/* The table, indexed by enum kd_feat. */
const struct kd_feature *kerndat_feature(enum kd_feat id);
/* Case-insensitive; "UFFD_FEATURE_<NAME>" is accepted for the uffd bits. NULL if unknown. */
const struct kd_feature *kerndat_find(const char *name);

/* Probe everything. Always 0: missing features are results, not failures. */
int kerndat_init(struct kerndat *kd);

/* Probe one feature (and whatever it depends on) unless already probed.
 * Returns KD_OK or KD_MISSING. */
enum kd_status kerndat_probe(struct kerndat *kd, enum kd_feat id);

static inline bool kerndat_has(const struct kerndat *kd, enum kd_feat id)
{
	return kd->status[id] == KD_OK;
}

/* Probe what the abilities in `needs` (KD_NEED_*) require. 0 when all are OK;
 * otherwise logs each missing feature once (pr_err) and returns -1. */
int kerndat_require(struct kerndat *kd, unsigned needs);

/* Names of the abilities in a KD_NEED_* mask, e.g. "dump,lazy". */
const char *kerndat_needs_str(unsigned needs, char *buf, size_t len);

/*
 * The shmem MISSING/MINOR contract (see DESIGN.md), end to end on a memfd: page 0
 * pre-populated with pwrite, page 1 a hole; the range is registered MISSING, plus
 * MINOR if `features` holds UFFD_FEATURE_MINOR_SHMEM (the features are also what
 * UFFDIO_API is asked for); a thread touches page 0 then page 1. The contract holds
 * when page 0 gives a MINOR fault resolved by UFFDIO_CONTINUE (the thread sees the
 * pre-populated data) and page 1 a MISSING fault resolved by UFFDIO_COPY (the data
 * lands in the memfd). Returns 0 if it holds, -1 if not; `detail` says what happened.
 */
int kerndat_uffd_shmem_contract(uint64_t features, char *detail, size_t len);

/* Parse a /proc/PID/maps text for [vdso], [vvar], [vvar_vclock], [vsyscall].
 * 0 when [vdso] was found, -1 otherwise (ret_vdso still holds what was found). */
int kerndat_parse_vdso(const char *maps, struct kd_vdso *ret_vdso);

#endif
