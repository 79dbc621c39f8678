/* Syscall injection into a stopped thread: see infect.h. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define LOG_PREFIX "infect: "
#include "lib/log.h"
#include "lib/util.h"
#include "lib/infect.h"

#define RED_ZONE 128
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

int infect_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
	if (n < 0) {
		pr_perror("can't read %zu bytes at 0x%llx of pid %d", len, (unsigned long long)addr, pid);
		return -1;
	}
	if ((size_t)n != len) {
		pr_err("short read of %zu bytes at 0x%llx of pid %d: %zd\n", len,
		       (unsigned long long)addr, pid, n);
		errno = EFAULT;
		return -1;
	}
	return 0;
}

int infect_write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec l = { (void *)buf, len }, r = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_writev(pid, &l, 1, &r, 1, 0);
	if (n < 0) {
		pr_perror("can't write %zu bytes at 0x%llx of pid %d", len, (unsigned long long)addr, pid);
		return -1;
	}
	if ((size_t)n != len) {
		pr_err("short write of %zu bytes at 0x%llx of pid %d: %zd\n", len,
		       (unsigned long long)addr, pid, n);
		errno = EFAULT;
		return -1;
	}
	return 0;
}

/* Find "0f 05" in [start, end) of pid; 0 if none or unreadable. */
static uint64_t scan_for_syscall(pid_t pid, uint64_t start, uint64_t end)
{
	uint8_t buf[4096 + 1];
	uint64_t len = MIN(end - start, (uint64_t)(1 << 20)); /* the first MiB is plenty */

	for (uint64_t off = 0; off < len; off += 4096) {
		size_t n = MIN((uint64_t)4096 + 1, len - off);
		struct iovec l = { buf, n }, r = { (void *)(uintptr_t)(start + off), n };
		if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)n)
			return 0;
		for (size_t i = 0; i + 1 < n; i++)
			if (buf[i] == 0x0f && buf[i + 1] == 0x05)
				return start + off + i;
	}
	return 0;
}

uint64_t infect_find_syscall(pid_t pid, const struct proc_vma *vmas, size_t nr)
{
	uint64_t ip;

	for (size_t i = 0; i < nr; i++)
		if (!strcmp(vmas[i].name, "[vdso]") && (ip = scan_for_syscall(pid, vmas[i].start, vmas[i].end)))
			return ip;
	for (size_t i = 0; i < nr; i++) {
		if ((vmas[i].prot & (PROT_EXEC | PROT_READ)) != (PROT_EXEC | PROT_READ) ||
		    !strcmp(vmas[i].name, "[vsyscall]") || vmas[i].name[0] == '[')
			continue;
		ip = scan_for_syscall(pid, vmas[i].start, vmas[i].end);
		if (ip)
			return ip;
	}
	pr_err("no syscall instruction in any executable mapping of pid %d\n", pid);
	errno = ENOENT;
	return 0;
}

int infect_start(struct infect_ctx *ctx, pid_t pid, pid_t tid, uint64_t syscall_ip, unsigned flags)
{
	uint64_t all = ~0ULL;

	memset(ctx, 0, sizeof(*ctx));
	ctx->pid = pid;
	ctx->tid = tid;
	ctx->syscall_ip = syscall_ip;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &ctx->saved_regs) < 0) {
		pr_perror("can't get the registers of thread %d", tid);
		return -1;
	}
	if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(uint64_t), &ctx->saved_sigmask) < 0) {
		pr_perror("can't get the signal mask of thread %d", tid);
		return -1;
	}
	if (!(flags & INFECT_NO_SCRATCH)) {
		ctx->scratch = ALIGN_DOWN(ctx->saved_regs.rsp - RED_ZONE - INFECT_SCRATCH, 64ULL);
		if (infect_read_mem(pid, ctx->scratch, ctx->saved_scratch, INFECT_SCRATCH) < 0) {
			pr_err("thread %d: no room below its stack pointer 0x%llx for injected syscalls\n",
			       tid, (unsigned long long)ctx->saved_regs.rsp);
			return -1;
		}
		ctx->scratch_saved = true;
	}
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(uint64_t), &all) < 0) {
		pr_perror("can't block the signals of thread %d", tid);
		return -1;
	}
	ctx->active = true;
	return 0;
}

/* Resume with PTRACE_SYSCALL and wait for the next syscall stop. */
static int step_to_syscall_stop(struct infect_ctx *ctx, const char *what)
{
	int status;

	if (ptrace(PTRACE_SYSCALL, ctx->tid, NULL, NULL) < 0) {
		pr_perror("can't resume thread %d to the syscall %s", ctx->tid, what);
		return -1;
	}
	for (int restops = 0;;) {
		pid_t r = waitpid(ctx->tid, &status, __WALL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			pr_perror("can't wait for thread %d", ctx->tid);
			return -1;
		}
		/* A group-stopped task traps again (PTRACE_EVENT_STOP): resume it once more. */
		if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP && restops++ < 16) {
			pr_debug("thread %d: group stop %d at the syscall %s, resuming\n", ctx->tid, restops, what);
			if (ptrace(PTRACE_SYSCALL, ctx->tid, NULL, NULL) < 0) {
				pr_perror("can't resume thread %d to the syscall %s", ctx->tid, what);
				return -1;
			}
			continue;
		}
		break;
	}
	if (WIFEXITED(status) || WIFSIGNALED(status) ||
	    (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_EXIT)) {
		pr_err("thread %d died during an injected syscall (status 0x%x)\n", ctx->tid, status);
		ctx->active = false;
		errno = ESRCH;
		return -1;
	}
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80)) {
		pr_err("thread %d: unexpected stop 0x%x (signal %d) at the syscall %s\n", ctx->tid, status,
		       WSTOPSIG(status), what);
		errno = EIO;
		return -1;
	}
	return 0;
}

int infect_syscall(struct infect_ctx *ctx, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		   uint64_t a4, uint64_t a5, uint64_t a6, long *ret)
{
	struct user_regs_struct regs = ctx->saved_regs;

	if (!ctx->active) {
		pr_err("thread %d: injection is not active\n", ctx->tid);
		errno = EINVAL;
		return -1;
	}
	regs.rip = ctx->syscall_ip;
	regs.rax = nr;
	regs.orig_rax = (uint64_t)-1; /* no syscall restart on the way out of the stop */
	regs.rdi = a1;
	regs.rsi = a2;
	regs.rdx = a3;
	regs.r10 = a4;
	regs.r8 = a5;
	regs.r9 = a6;
	if (ptrace(PTRACE_SETREGS, ctx->tid, NULL, &regs) < 0) {
		pr_perror("can't set the registers of thread %d", ctx->tid);
		return -1;
	}
	if (step_to_syscall_stop(ctx, "entry") < 0 || step_to_syscall_stop(ctx, "exit") < 0)
		return -1;
	if (ptrace(PTRACE_GETREGS, ctx->tid, NULL, &regs) < 0) {
		pr_perror("can't get the registers of thread %d", ctx->tid);
		return -1;
	}
	if (regs.orig_rax != (uint64_t)nr) {
		pr_err("thread %d ran syscall %lld instead of the injected %ld\n", ctx->tid,
		       (long long)regs.orig_rax, nr);
		errno = EIO;
		return -1;
	}
	*ret = (long)regs.rax;
	return 0;
}

int infect_stop(struct infect_ctx *ctx)
{
	int ret = 0;

	if (!ctx->active)
		return 0;
	ctx->active = false;
	if (ctx->scratch_saved &&
	    infect_write_mem(ctx->pid, ctx->scratch, ctx->saved_scratch, INFECT_SCRATCH) < 0)
		ret = -1;
	if (ptrace(PTRACE_SETREGS, ctx->tid, NULL, &ctx->saved_regs) < 0) {
		pr_perror("can't restore the registers of thread %d", ctx->tid);
		ret = -1;
	}
	if (ptrace(PTRACE_SETSIGMASK, ctx->tid, sizeof(uint64_t), &ctx->saved_sigmask) < 0) {
		pr_perror("can't restore the signal mask of thread %d", ctx->tid);
		ret = -1;
	}
	return ret;
}
