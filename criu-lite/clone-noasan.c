/*
 * Code that switches stacks or forks with raw clone3: built without sanitizers
 * (files ending in -noasan.c), so that ASan never sees a stack it didn't set up.
 */
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "criu-lite/restore-ctx.h"

pid_t rst_clone_pid(pid_t pid, unsigned flags, int exit_signal)
{
	struct clone_args ca;
	pid_t tid = pid;

	memset(&ca, 0, sizeof(ca));
	ca.flags = flags;
	ca.exit_signal = exit_signal > 0 && exit_signal < 65 ? exit_signal : SIGCHLD;
	/* the kernel takes the parent's exit signal for a sibling (and refuses another) */
	if (flags & CLONE_PARENT)
		ca.exit_signal = 0;
	ca.set_tid = (uint64_t)(uintptr_t)&tid;
	ca.set_tid_size = 1;
	return syscall(SYS_clone3, &ca, sizeof(ca));
}

void rst_jump(uint64_t entry, uint64_t args, uint64_t stack)
{
	/* fixed registers: none of the inputs may be overwritten before it is used */
	__asm__ volatile("movq %0, %%rsp\n\t"
			 "xorl %%ebp, %%ebp\n\t"
			 "callq *%2\n\t"
			 "ud2\n\t"
			 :
			 : "c"(stack), "D"(args), "a"(entry)
			 : "memory");
	__builtin_unreachable();
}
