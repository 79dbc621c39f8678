/* Heap (malloc'd blocks of many sizes, incl. mmap'd ones), brk (sbrk area and
 * the break itself) and stack contents (deep recursion, per-frame data, a big
 * alloca that grew the stack VMA). */
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ztest.h"

#define NBLOCKS 2000
#define DEPTH 3000
#define BIG_STACK (1024 * 1024)

static unsigned char *blocks[NBLOCKS];
static size_t sizes[NBLOCKS];
static unsigned char *brk_area;
static void *brk_end;
static unsigned char *big_stack;

static size_t block_size(int i)
{
	if (i % 100 == 99)
		return 256 * 1024 + i; /* above the mmap threshold */
	return 1 + (size_t)(i * 37) % 4096;
}

static void setup_heap(void)
{
	for (int i = 0; i < NBLOCKS; i++) {
		sizes[i] = block_size(i);
		blocks[i] = malloc(sizes[i]);
		if (!blocks[i])
			fail("malloc");
		zt_fill(blocks[i], sizes[i], 0x4000 + i);
	}
	/* free every third block: holes in the heap */
	for (int i = 0; i < NBLOCKS; i += 3) {
		free(blocks[i]);
		blocks[i] = NULL;
	}
	/* glibc's malloc uses brk too, but make sure the break moves on purpose */
	brk_area = sbrk(64 * 1024);
	if (brk_area == (void *)-1)
		fail("sbrk: %m");
	zt_fill(brk_area, 64 * 1024, 0xb0b);
	brk_end = sbrk(0);
}

static void verify_heap(void)
{
	char what[64];

	for (int i = 0; i < NBLOCKS; i++) {
		if (!blocks[i])
			continue;
		snprintf(what, sizeof(what), "heap block %d (%zu bytes)", i, sizes[i]);
		zt_check(what, blocks[i], sizes[i], 0x4000 + i);
	}
	zt_check("sbrk area", brk_area, 64 * 1024, 0xb0b);
	if (sbrk(0) != brk_end)
		test_err("program break moved: %p, was %p", sbrk(0), brk_end);
	/* the heap must still work: allocate, grow the break, free */
	for (int i = 0; i < NBLOCKS; i += 3) {
		blocks[i] = malloc(sizes[i]);
		if (!blocks[i]) {
			test_err("malloc after restore failed");
			return;
		}
		zt_fill(blocks[i], sizes[i], 0x9000 + i);
	}
	for (int i = 0; i < NBLOCKS; i += 3)
		if (zt_verify(blocks[i], sizes[i], 0x9000 + i) >= 0)
			test_err("new heap block %d corrupt", i);
	if (sbrk(4096) == (void *)-1)
		test_err("sbrk after restore: %m");
}

static int __attribute__((noinline)) recurse(int depth)
{
	volatile uint64_t frame[8];
	int bad = 0;

	for (int i = 0; i < 8; i++)
		frame[i] = (uint64_t)depth * 0x100000001ULL + i * 0x0101010101ULL + 0xfeed;
	if (depth == DEPTH) {
		big_stack = alloca(BIG_STACK);
		zt_fill(big_stack, BIG_STACK, 0x57ac);
		test_ready();
		test_waitsig();
		if (test_self_fail)
			frame[3] ^= 1;
		zt_check("alloca'd stack area", big_stack, BIG_STACK, 0x57ac);
		verify_heap();
	} else {
		bad = recurse(depth + 1);
	}
	for (int i = 0; i < 8; i++)
		if (frame[i] != (uint64_t)depth * 0x100000001ULL + i * 0x0101010101ULL + 0xfeed) {
			if (!bad)
				test_err("stack frame at depth %d word %d: %#llx", depth, i,
					 (unsigned long long)frame[i]);
			return 1;
		}
	return bad;
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	setup_heap();
	if (recurse(0) && !test_failed())
		test_err("stack data corrupt");
	test_result();
}
