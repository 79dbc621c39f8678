/* Threads with live FPU/vector state across the checkpoint. Each thread loads
 * its own values into vector registers (zmm0-31 and k2-k7 with AVX-512, ymm0-14
 * with AVX2, xmm0-14 otherwise), four x87 stack slots, a non-default x87
 * control word and MXCSR, then loops in asm comparing every register with its
 * memory copy. Some threads spin (sched_yield now and then), others sleep in
 * nanosleep between rounds, so the dump catches them both in user mode and in
 * a system call. After SIGTERM each thread must still be looping (its counter
 * moves) and must never have seen a difference. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ztest.h"

enum isa { ISA_SSE, ISA_AVX2, ISA_AVX512 };
static const char *isa_name[] = { "sse", "avx2", "avx512" };

struct th {
	/* first: 64-byte aligned register images */
	uint64_t vec[32][8] __attribute__((aligned(64)));
	long double x87[4] __attribute__((aligned(16)));
	uint16_t kreg[8];
	uint16_t fcw;
	uint32_t mxcsr;
	uint16_t fcw_seen;
	uint32_t mxcsr_seen;
	struct timespec nap;
	uint64_t counter;
	int stop;
	int bad;       /* 1 + index of the register that differed */
	int sleeper;
	enum isa isa;
	int idx;
	pthread_t t;
} __attribute__((aligned(64)));

#define NTH 5
static struct th ths[NTH];
static int started;

/* Register checks. On mismatch: "mov $N, bad; jmp 9f". */
#define STR_(x) #x
#define STR(x) STR_(x)

#define FAIL_IF_NE(n) "jne 8f\n\t"

/* x87: st0..st3 hold x87[0..3]; compare each to memory */
#define X87_LOAD                                                                           \
	"fninit\n\t"                                                                       \
	"fldcw %[fcw]\n\t"                                                                 \
	"ldmxcsr %[mxcsr]\n\t"                                                             \
	"fldt 48(%[x])\n\t"                                                                \
	"fldt 32(%[x])\n\t"                                                                \
	"fldt 16(%[x])\n\t"                                                                \
	"fldt 0(%[x])\n\t"
#define X87_CHECK1(j, stj)                                                                 \
	"fldt " #j "*16(%[x])\n\t"                                                         \
	"fucomip %%st(" #stj "), %%st\n\t"                                                 \
	"movl $" STR(100 + j) ", %%eax\n\t"                                                \
	"jne 8f\n\t"                                                                       \
	"jp 8f\n\t"
#define X87_CHECK                                                                          \
	X87_CHECK1(0, 1) X87_CHECK1(1, 2) X87_CHECK1(2, 3) X87_CHECK1(3, 4)               \
	"fnstcw %[fcw_seen]\n\t"                                                           \
	"movzwl %[fcw_seen], %%eax\n\t"                                                    \
	"cmpw %[fcw], %%ax\n\t"                                                            \
	"movl $110, %%eax\n\t"                                                             \
	"jne 8f\n\t"                                                                       \
	"stmxcsr %[mxcsr_seen]\n\t"                                                        \
	"movl %[mxcsr_seen], %%eax\n\t"                                                    \
	"cmpl %[mxcsr], %%eax\n\t"                                                         \
	"movl $111, %%eax\n\t"                                                             \
	"jne 8f\n\t"
#define X87_UNLOAD                                                                         \
	"fstp %%st(0)\n\tfstp %%st(0)\n\tfstp %%st(0)\n\tfstp %%st(0)\n\t"

/* the loop tail: count, maybe sleep/yield (the kernel keeps the extended
 * state across syscalls), test stop */
#define LOOP_TAIL                                                                          \
	"incq %[counter]\n\t"                                                              \
	"testq $0xff, %[counter]\n\t"                                                      \
	"jnz 2f\n\t"                                                                       \
	"cmpl $0, %[sleeper]\n\t"                                                          \
	"je 3f\n\t"                                                                        \
	"movl $" STR(SYS_nanosleep) ", %%eax\n\t"                                          \
	"leaq %[nap], %%rdi\n\t"                                                           \
	"xorl %%esi, %%esi\n\t"                                                            \
	"syscall\n\t"                                                                      \
	"jmp 2f\n\t"                                                                       \
	"3:\n\t"                                                                           \
	"movl $" STR(SYS_sched_yield) ", %%eax\n\t"                                        \
	"syscall\n\t"                                                                      \
	"2:\n\t"                                                                           \
	"cmpl $0, %[stop]\n\t"                                                             \
	"je 1b\n\t"                                                                        \
	"xorl %%eax, %%eax\n\t"                                                            \
	"8:\n\t"                                                                           \
	"movl %%eax, %[bad]\n\t"

#define COMMON_OPS                                                                         \
	[counter] "+m"(t->counter), [bad] "=m"(t->bad), [fcw_seen] "=m"(t->fcw_seen),      \
		[mxcsr_seen] "=m"(t->mxcsr_seen)
#define COMMON_INS                                                                         \
	[v] "r"(t->vec), [x] "r"(t->x87), [k] "r"(t->kreg), [fcw] "m"(t->fcw),             \
		[mxcsr] "m"(t->mxcsr), [nap] "m"(t->nap), [sleeper] "m"(t->sleeper),       \
		[stop] "m"(t->stop)
#define COMMON_CLOBBERS                                                                    \
	"rax", "rcx", "rdx", "rdi", "rsi", "r8", "r9", "r10", "r11", "memory", "cc", "st",  \
		"st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)"

/* ---- SSE: xmm0..xmm14, xmm15 scratch ---- */
#define S_LOAD(n) "movdqa " #n "*64(%[v]), %%xmm" #n "\n\t"
#define S_CHECK(n)                                                                         \
	"movdqa %%xmm" #n ", %%xmm15\n\t"                                                  \
	"pcmpeqd " #n "*64(%[v]), %%xmm15\n\t"                                             \
	"pmovmskb %%xmm15, %%eax\n\t"                                                      \
	"cmpl $0xffff, %%eax\n\t"                                                          \
	"movl $" #n "+1, %%eax\n\t"                                                        \
	"jne 8f\n\t"
#define S_ALL(M)                                                                           \
	M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14)

static void loop_sse(struct th *t)
{
	asm volatile(X87_LOAD S_ALL(S_LOAD) "1:\n\t" S_ALL(S_CHECK) X87_CHECK LOOP_TAIL X87_UNLOAD
		     : COMMON_OPS
		     : COMMON_INS
		     : COMMON_CLOBBERS, "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
		       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
		       "xmm15");
}

/* ---- AVX2: ymm0..ymm14, ymm15 scratch ---- */
#define Y_LOAD(n) "vmovdqa " #n "*64(%[v]), %%ymm" #n "\n\t"
#define Y_CHECK(n)                                                                         \
	"vpcmpeqq " #n "*64(%[v]), %%ymm" #n ", %%ymm15\n\t"                               \
	"vpmovmskb %%ymm15, %%eax\n\t"                                                     \
	"cmpl $-1, %%eax\n\t"                                                              \
	"movl $" #n "+1, %%eax\n\t"                                                        \
	"jne 8f\n\t"

__attribute__((target("avx2"))) static void loop_avx2(struct th *t)
{
	asm volatile(X87_LOAD S_ALL(Y_LOAD) "1:\n\t" S_ALL(Y_CHECK) X87_CHECK LOOP_TAIL X87_UNLOAD
		     "vzeroupper\n\t"
		     : COMMON_OPS
		     : COMMON_INS
		     : COMMON_CLOBBERS, "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
		       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
		       "xmm15");
}

/* ---- AVX-512: zmm0..zmm31, k2..k7; k1 scratch ---- */
#define Z_LOAD(n) "vmovdqa64 " #n "*64(%[v]), %%zmm" #n "\n\t"
#define Z_CHECK(n)                                                                         \
	"vpcmpeqq " #n "*64(%[v]), %%zmm" #n ", %%k1\n\t"                                  \
	"kmovw %%k1, %%eax\n\t"                                                            \
	"cmpl $0xff, %%eax\n\t"                                                            \
	"movl $" #n "+1, %%eax\n\t"                                                        \
	"jne 8f\n\t"
#define Z_ALL(M)                                                                           \
	S_ALL(M) M(15) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26)   \
	M(27) M(28) M(29) M(30) M(31)
#define K_LOAD(n) "kmovw " #n "*2(%[k]), %%k" #n "\n\t"
#define K_CHECK(n)                                                                         \
	"kmovw %%k" #n ", %%eax\n\t"                                                       \
	"cmpw " #n "*2(%[k]), %%ax\n\t"                                                    \
	"movl $" #n "+50, %%eax\n\t"                                                       \
	"jne 8f\n\t"
#define K_ALL(M) M(2) M(3) M(4) M(5) M(6) M(7)

__attribute__((target("avx512f"))) static void loop_avx512(struct th *t)
{
	asm volatile(X87_LOAD Z_ALL(Z_LOAD) K_ALL(K_LOAD) "1:\n\t" Z_ALL(Z_CHECK) K_ALL(K_CHECK)
		     X87_CHECK LOOP_TAIL X87_UNLOAD "vzeroupper\n\t"
		     : COMMON_OPS
		     : COMMON_INS
		     : COMMON_CLOBBERS, "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
		       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
		       "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
		       "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30",
		       "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

static void *thread_fn(void *arg)
{
	struct th *t = arg;

	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	switch (t->isa) {
	case ISA_AVX512:
		loop_avx512(t);
		break;
	case ISA_AVX2:
		loop_avx2(t);
		break;
	default:
		loop_sse(t);
		break;
	}
	return NULL;
}

static void init_th(struct th *t, int idx, enum isa isa, int sleeper)
{
	memset(t, 0, sizeof(*t));
	t->idx = idx;
	t->isa = isa;
	t->sleeper = sleeper;
	zt_fill(t->vec, sizeof(t->vec), 0xf9000 + idx * 100);
	for (int j = 0; j < 4; j++)
		t->x87[j] = (long double)(idx + 1) * 1.0e100L / (j + 3) + j;
	for (int j = 0; j < 8; j++)
		t->kreg[j] = (uint16_t)(0x1111 * (idx + 1) + j * 0x0f0f + 1);
	/* rounding: x87 toward zero, precision 64 bits; SSE toward +inf, FTZ */
	t->fcw = 0x0f7f;
	t->mxcsr = 0x5f80 | 0x8000;
	t->nap.tv_nsec = 2 * 1000 * 1000;
}

static const char *what_bad(int bad, char *buf, size_t len)
{
	if (bad >= 100 && bad < 104)
		snprintf(buf, len, "x87 st(%d)", bad - 100);
	else if (bad == 110)
		snprintf(buf, len, "x87 control word");
	else if (bad == 111)
		snprintf(buf, len, "MXCSR");
	else if (bad >= 50)
		snprintf(buf, len, "k%d", bad - 50);
	else
		snprintf(buf, len, "vector register %d", bad - 1);
	return buf;
}

int main(int argc, char **argv)
{
	enum isa best = ISA_SSE;
	uint64_t c0[NTH];

	test_init(argc, argv);
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		best = ISA_AVX512;
	else if (__builtin_cpu_supports("avx2"))
		best = ISA_AVX2;
	test_msg("best vector ISA: %s", isa_name[best]);

	for (int i = 0; i < NTH; i++) {
		enum isa isa = i < 2 ? best : i == 2 ? (best >= ISA_AVX2 ? ISA_AVX2 : ISA_SSE) : ISA_SSE;

		/* threads 0 and 3 spin, the others sleep between rounds */
		init_th(&ths[i], i, isa, !(i == 0 || i == 3));
		if (pthread_create(&ths[i].t, NULL, thread_fn, &ths[i]))
			fail("pthread_create");
	}
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < NTH)
		usleep(1000);
	/* every thread has gone round its loop at least once */
	for (int i = 0; i < NTH; i++)
		while (!__atomic_load_n(&ths[i].counter, __ATOMIC_SEQ_CST) &&
		       !__atomic_load_n(&ths[i].stop, __ATOMIC_SEQ_CST))
			usleep(1000);

	test_ready();
	test_waitsig();

	if (test_self_fail) /* the memory copy no longer matches thread 1's registers */
		ths[1].vec[9][3] ^= 1;
	for (int i = 0; i < NTH; i++)
		c0[i] = __atomic_load_n(&ths[i].counter, __ATOMIC_SEQ_CST);
	for (int i = 0; i < NTH; i++) {
		/* each loops all the time; a loaded machine may keep one off a CPU for a while */
		for (int waited = 0; waited < 10000 && !ths[i].bad &&
				     __atomic_load_n(&ths[i].counter, __ATOMIC_SEQ_CST) == c0[i];
		     waited += 10)
			usleep(10 * 1000);
	}
	for (int i = 0; i < NTH; i++) {
		uint64_t c = __atomic_load_n(&ths[i].counter, __ATOMIC_SEQ_CST);

		if (c == c0[i] && !ths[i].bad)
			test_err("thread %d (%s) is not looping any more (counter %llu)", i,
				 isa_name[ths[i].isa], (unsigned long long)c);
	}
	for (int i = 0; i < NTH; i++)
		__atomic_store_n(&ths[i].stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < NTH; i++) {
		char buf[64];

		if (zt_join(ths[i].t, 10, "vector thread"))
			continue;
		if (ths[i].bad)
			test_err("thread %d (%s, %s): %s differs after %llu rounds", i,
				 isa_name[ths[i].isa], ths[i].sleeper ? "sleeping" : "spinning",
				 what_bad(ths[i].bad, buf, sizeof(buf)),
				 (unsigned long long)ths[i].counter);
		else
			test_msg("thread %d (%s): %llu rounds, all registers intact", i,
				 isa_name[ths[i].isa], (unsigned long long)ths[i].counter);
	}
	/* x87 in the main thread too: a value computed before must still be exact */
	test_result();
}
