/*
 * Syscall injection into a seized, stopped thread.
 *
 * No code is written into the target: the thread's rip is pointed at an existing
 * `syscall` instruction (0f 05), found in its [vdso] or another executable VMA,
 * and run with PTRACE_SYSCALL up to the syscall-exit stop. All signals are
 * blocked (PTRACE_SETSIGMASK) while injecting, orig_rax is -1 so the kernel never
 * applies a syscall restart to the injected call, and the original registers and
 * signal mask are put back by infect_stop(). Because the thread then sits in a
 * syscall-exit stop, the restart of an interrupted system call still happens as
 * usual when it is detached (the detach sets TIF_SIGPENDING).
 *
 * Out-parameters live in a small scratch area below the red zone of the thread's
 * stack (rsp - 128 - INFECT_SCRATCH); its old bytes are saved and put back.
 */
#ifndef CRIU_LITE_INFECT_H
#define CRIU_LITE_INFECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "lib/proc-parse.h"

#define INFECT_SCRATCH 512

struct infect_ctx {
	pid_t pid;          /* thread group */
	pid_t tid;          /* the thread syscalls run in */
	uint64_t syscall_ip;
	uint64_t scratch;   /* remote address of the scratch area */
	struct user_regs_struct saved_regs;
	uint64_t saved_sigmask;
	uint8_t saved_scratch[INFECT_SCRATCH];
	bool active;
	bool scratch_saved;
};

/* Address of a `syscall` instruction in one of the task's executable VMAs
 * ([vdso] first); 0 (logged) if there is none. */
uint64_t infect_find_syscall(pid_t pid, const struct proc_vma *vmas, size_t nr);

/* No scratch area: the syscalls injected take no out-parameters (nothing of the
 * thread's memory is read or written). */
#define INFECT_NO_SCRATCH 0x1
/* Start injecting into a seized, ptrace-stopped tid (a ptrace stop of any kind,
 * syscall-exit stops included). 0 or -1 (logged; nothing changed). */
int infect_start(struct infect_ctx *ctx, pid_t pid, pid_t tid, uint64_t syscall_ip, unsigned flags);
/*
 * Run one system call. *ret gets the raw return value (-errno on failure).
 * Returns 0 if the syscall ran, -1 (logged) if the injection itself failed
 * (the context is then unusable; call infect_stop anyway).
 */
int infect_syscall(struct infect_ctx *ctx, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		   uint64_t a4, uint64_t a5, uint64_t a6, long *ret);
/* Put the registers, signal mask and scratch bytes back. 0 or -1 (logged). Safe to call twice. */
int infect_stop(struct infect_ctx *ctx);

/* Remote memory helpers (process_vm_readv/writev); 0 or -1 (logged). */
int infect_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len);
int infect_write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len);

#endif
