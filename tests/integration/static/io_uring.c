/* An io_uring instance (8 entries, rings mapped) held at fd 80 with one NOP
 * completed and not reaped: not something criu-lite carries, so the dump
 * must fail naming fd 80 and what it is, and leave the ring working: the
 * completion is still there and a new NOP completes. */
#include <linux/io_uring.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ztest.h"

#define FD_URING 80

static unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;

static int submit_nop(uint64_t data)
{
	unsigned tail = *sq_tail, idx = tail & *sq_mask;

	memset(&sqes[idx], 0, sizeof(sqes[idx]));
	sqes[idx].opcode = IORING_OP_NOP;
	sqes[idx].user_data = data;
	sq_array[idx] = idx;
	__atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);
	return syscall(SYS_io_uring_enter, FD_URING, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) == 1 ? 0 : -1;
}

/* the next completion, or -1 */
static int reap(uint64_t *data, int *res)
{
	unsigned head = *cq_head;

	if (head == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE))
		return -1;
	*data = cqes[head & *cq_mask].user_data;
	*res = cqes[head & *cq_mask].res;
	__atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
	return 0;
}

int main(int argc, char **argv)
{
	struct io_uring_params p;
	unsigned char *sq, *cq;
	uint64_t data;
	int fd, res;

	test_init(argc, argv);
	memset(&p, 0, sizeof(p));
	fd = syscall(SYS_io_uring_setup, 8, &p);
	if (fd < 0 || dup2(fd, FD_URING) != FD_URING)
		fail("io_uring_setup: %m");
	close(fd);
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, FD_URING, IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, FD_URING, IORING_OFF_CQ_RING);
	sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, FD_URING, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		fail("mmap rings: %m");
	sq_tail = (unsigned *)(sq + p.sq_off.tail);
	sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	sq_array = (unsigned *)(sq + p.sq_off.array);
	cq_head = (unsigned *)(cq + p.cq_off.head);
	cq_tail = (unsigned *)(cq + p.cq_off.tail);
	cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	if (submit_nop(0x111))
		fail("io_uring_enter: %m");

	test_ready();
	test_waitsig();
	if (test_self_fail)
		reap(&data, &res);

	if (reap(&data, &res) || data != 0x111 || res != 0)
		test_err("the completion queued before is not there");
	if (submit_nop(0x222) || reap(&data, &res) || data != 0x222 || res != 0)
		test_err("a new NOP does not complete: %m");
	if (!reap(&data, &res))
		test_err("an unexpected completion (%#llx)", (unsigned long long)data);
	test_result();
}
