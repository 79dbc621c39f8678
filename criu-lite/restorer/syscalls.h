/*
 * Raw x86-64 system calls for the restorer blob. The sys_* wrappers are generated
 * from the table below (name, number, argument count); every one returns the raw
 * kernel result: >= 0 on success, -errno on failure.
 */
#ifndef CRIU_LITE_RESTORER_SYSCALLS_H
#define CRIU_LITE_RESTORER_SYSCALLS_H

#include <asm/unistd_64.h>

#define RST_NR_mseal 462 /* Linux 6.10; older headers lack it */

static inline long rst_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long ret;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define RST_SYSCALL_TABLE(X)                         \
	X(read, __NR_read, 3)                        \
	X(write, __NR_write, 3)                      \
	X(close, __NR_close, 1)                      \
	X(pread64, __NR_pread64, 4)                  \
	X(mmap, __NR_mmap, 6)                        \
	X(mprotect, __NR_mprotect, 3)                \
	X(munmap, __NR_munmap, 2)                    \
	X(mremap, __NR_mremap, 5)                    \
	X(madvise, __NR_madvise, 3)                  \
	X(rt_sigprocmask, __NR_rt_sigprocmask, 4)    \
	X(ioctl, __NR_ioctl, 3)                      \
	X(sched_yield, __NR_sched_yield, 0)          \
	X(getpid, __NR_getpid, 0)                    \
	X(gettid, __NR_gettid, 0)                    \
	X(exit, __NR_exit, 1)                        \
	X(exit_group, __NR_exit_group, 1)            \
	X(kill, __NR_kill, 2)                        \
	X(setitimer, __NR_setitimer, 3)              \
	X(setresuid, __NR_setresuid, 3)              \
	X(setresgid, __NR_setresgid, 3)              \
	X(setfsuid, __NR_setfsuid, 1)                \
	X(setfsgid, __NR_setfsgid, 1)                \
	X(setgroups, __NR_setgroups, 2)              \
	X(prctl, __NR_prctl, 5)                      \
	X(arch_prctl, __NR_arch_prctl, 2)            \
	X(futex, __NR_futex, 6)                      \
	X(set_tid_address, __NR_set_tid_address, 1)  \
	X(rt_sigqueueinfo, __NR_rt_sigqueueinfo, 3)  \
	X(rt_tgsigqueueinfo, __NR_rt_tgsigqueueinfo, 4) \
	X(rseq, __NR_rseq, 4)                        \
	X(close_range, __NR_close_range, 3)          \
	X(fcntl, __NR_fcntl, 3)                      \
	X(clock_gettime, __NR_clock_gettime, 2)      \
	X(setpriority, __NR_setpriority, 3)          \
	X(capset, __NR_capset, 2)                    \
	X(capget, __NR_capget, 2)                    \
	X(shmat, __NR_shmat, 3)                      \
	X(seccomp, __NR_seccomp, 3)                  \
	X(sched_setscheduler, __NR_sched_setscheduler, 3) \
	X(set_robust_list, __NR_set_robust_list, 2)    \
	X(mlock2, __NR_mlock2, 3)                      \
	X(mlockall, __NR_mlockall, 1)                  \
	X(mseal, RST_NR_mseal, 3)                      \
	X(timer_create, __NR_timer_create, 3)          \
	X(timer_settime, __NR_timer_settime, 4)        \
	X(timer_delete, __NR_timer_delete, 1)          \
	X(rt_sigpending, __NR_rt_sigpending, 2)        \
	X(rt_sigtimedwait, __NR_rt_sigtimedwait, 4)    \
	X(nanosleep, __NR_nanosleep, 2)                \
	X(io_setup, __NR_io_setup, 2)                  \
	X(io_submit, __NR_io_submit, 3)                \
	X(sched_setaffinity, __NR_sched_setaffinity, 3) \
	X(ioprio_set, __NR_ioprio_set, 3)

#define RST_SYS_DEFINE(name, nr, n)                                                         \
	static inline long sys_##name(long a1, long a2, long a3, long a4, long a5, long a6) \
	{                                                                                   \
		return rst_syscall6(nr, a1, a2, a3, a4, a5, a6);                            \
	}
RST_SYSCALL_TABLE(RST_SYS_DEFINE)
#undef RST_SYS_DEFINE

/* Call sites pass exactly the table's argument count; missing ones become 0. */
#define RST_SYS_ARGS(a1, a2, a3, a4, a5, a6, ...) (long)(a1), (long)(a2), (long)(a3), (long)(a4), (long)(a5), (long)(a6)
#define RST_CALL(name, ...) sys_##name(RST_SYS_ARGS(__VA_ARGS__, 0, 0, 0, 0, 0, 0))
#define SYS(name, ...) RST_CALL(name, ##__VA_ARGS__)

#endif
