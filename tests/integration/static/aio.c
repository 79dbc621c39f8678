/* An AIO context (io_setup) with two completed reads not yet reaped. After
 * restore the ring is at the same address ("/[aio]" in maps, the same
 * aio_context_t) with its header and both events; io_getevents() returns
 * them, a new io_submit() completes, io_destroy() works. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/aio_abi.h>

#include "ztest.h"

#define AIO_RING_MAGIC 0xa10a10a1

struct aio_ring {
	unsigned id, nr, head, tail, magic, compat_features, incompat_features, header_length;
	struct io_event io_events[];
};

static aio_context_t ctx;
static unsigned char buf[2][ZT_PAGE];

static long io_setup_(unsigned nr, aio_context_t *c)
{
	return syscall(SYS_io_setup, nr, c);
}

static long io_submit_(long n, struct iocb **iocbs)
{
	return syscall(SYS_io_submit, ctx, n, iocbs);
}

static long io_getevents_(long min, long max, struct io_event *ev, int seconds)
{
	struct timespec ts = { seconds, 0 };

	return syscall(SYS_io_getevents, ctx, min, max, ev, &ts);
}

/* the maps line of the ring: "/[aio] (deleted)" at ctx? */
static int ring_mapped(void)
{
	char *s = zt_read_file("/proc/self/maps", NULL), key[32], *l;
	int ok = 0;

	snprintf(key, sizeof(key), "%llx-", (unsigned long long)ctx);
	l = s ? strstr(s, key) : NULL;
	if (l && (l == s || l[-1] == '\n')) {
		int n = strcspn(l, "\n");

		ok = memmem(l, n, "/[aio]", 6) != NULL;
	}
	free(s);
	return ok;
}

int main(int argc, char **argv)
{
	struct iocb cb[3], *cbp[3] = { &cb[0], &cb[1], &cb[2] };
	struct io_event ev[4], ring_ev[2];
	struct aio_ring *ring, saved;
	aio_context_t ctx0;
	char path[600];
	int fd;

	test_init(argc, argv);
	snprintf(path, sizeof(path), "%s/aio.file", test_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	zt_fill(buf, sizeof(buf), 0xa10);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf))
		fail("write: %m");
	memset(buf, 0, sizeof(buf));
	if (io_setup_(16, &ctx))
		fail("io_setup: %m");
	ctx0 = ctx;
	memset(cb, 0, sizeof(cb));
	for (int i = 0; i < 2; i++) {
		cb[i].aio_lio_opcode = IOCB_CMD_PREAD;
		cb[i].aio_fildes = fd;
		cb[i].aio_buf = (unsigned long)buf[i];
		cb[i].aio_nbytes = ZT_PAGE;
		cb[i].aio_offset = i * ZT_PAGE;
		cb[i].aio_data = 0x1001 + i;
	}
	if (io_submit_(2, cbp) != 2)
		fail("io_submit: %m");
	ring = (struct aio_ring *)ctx;
	for (int i = 0; i < 30000 && __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE) - ring->head < 2; i++)
		usleep(1000);
	if (ring->magic != AIO_RING_MAGIC || ring->tail - ring->head != 2)
		fail("the two reads did not complete (ring head %u tail %u)", ring->head, ring->tail);
	saved = *ring;
	for (int i = 0; i < 2; i++)
		ring_ev[i] = ring->io_events[(ring->head + i) % ring->nr];

	test_ready();
	test_waitsig();
	if (test_self_fail && io_getevents_(1, 1, ev, 5) != 1)
		test_err("self-test io_getevents: %m");

	if (ctx != ctx0 || !ring_mapped())
		fail("the AIO ring is not mapped at %#llx any more", (unsigned long long)ctx0);
	if (ring->magic != AIO_RING_MAGIC || ring->nr != saved.nr || ring->header_length != saved.header_length ||
	    ring->tail - ring->head != 2)
		test_err("ring header: magic %#x nr %u head %u tail %u, was %#x %u %u %u", ring->magic, ring->nr,
			 ring->head, ring->tail, saved.magic, saved.nr, saved.head, saved.tail);
	for (int i = 0; i < 2 && !test_failed(); i++) {
		struct io_event *e = &ring->io_events[(ring->head + i) % ring->nr];

		if (e->data != ring_ev[i].data || e->res != ring_ev[i].res)
			test_err("ring event %d: data %#llx res %lld, was %#llx %lld", i,
				 (unsigned long long)e->data, (long long)e->res,
				 (unsigned long long)ring_ev[i].data, (long long)ring_ev[i].res);
	}
	/* the kernel agrees: both events come out of io_getevents */
	memset(ev, 0, sizeof(ev));
	if (test_failed())
		; /* the ring differs: io_getevents would wait for events that are not there */
	else if (io_getevents_(2, 4, ev, 10) != 2)
		test_err("io_getevents did not return the 2 completed reads: %m");
	else
		for (int i = 0; i < 2; i++)
			if (ev[i].data != 0x1001ULL + i || ev[i].res != (long long)ZT_PAGE)
				test_err("event %d: data %#llx res %lld", i, (unsigned long long)ev[i].data,
					 (long long)ev[i].res);
	zt_check("buffers read by AIO", buf, sizeof(buf), 0xa10);

	/* a new request */
	memset(&cb[2], 0, sizeof(cb[2]));
	cb[2].aio_lio_opcode = IOCB_CMD_PWRITE;
	cb[2].aio_fildes = fd;
	cb[2].aio_buf = (unsigned long)"new";
	cb[2].aio_nbytes = 3;
	cb[2].aio_offset = 100;
	cb[2].aio_data = 0x1003;
	if (io_submit_(1, &cbp[2]) != 1 || io_getevents_(1, 1, ev, 10) != 1 || ev[0].data != 0x1003 ||
	    ev[0].res != 3)
		test_err("a new io_submit did not complete: %m");
	{
		char b[3];

		if (pread(fd, b, 3, 100) != 3 || memcmp(b, "new", 3))
			test_err("the AIO write did not reach the file");
	}
	if (syscall(SYS_io_destroy, ctx))
		test_err("io_destroy: %m");
	test_result();
}
