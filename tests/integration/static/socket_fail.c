/* A process holding sockets (not supported by dump): the dump must fail and
 * leave it running as it was: not traced, not stopped, its thread still
 * counting, its memory and sockets intact. Used in the runner's "dumpfail"
 * mode (and plain). */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ztest.h"

static volatile uint64_t counter;
static int stop;
static unsigned char *mem;

static void *counter_fn(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
		counter++;
		usleep(1000);
	}
	return NULL;
}

static int status_field(const char *key, char *out, size_t len)
{
	char *s = zt_read_file("/proc/self/status", NULL), *p;

	if (!s)
		return -1;
	p = strstr(s, key);
	if (!p) {
		free(s);
		return -1;
	}
	p += strlen(key);
	while (*p == ' ' || *p == '\t')
		p++;
	snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
	free(s);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int sp[2], udp;
	pthread_t th;
	char buf[64];
	uint64_t c0;

	test_init(argc, argv);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		fail("socketpair: %m");
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	if (udp < 0 || bind(udp, (struct sockaddr *)&sin, sizeof(sin)))
		fail("udp socket: %m");
	if (write(sp[0], "queued", 6) != 6)
		fail("write: %m");
	mem = mmap(NULL, 64 * ZT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fail("mmap: %m");
	zt_fill(mem, 64 * ZT_PAGE, 0x50c);
	if (pthread_create(&th, NULL, counter_fn, NULL))
		fail("pthread_create");

	test_ready();
	test_waitsig();

	if (test_self_fail)
		mem[7] ^= 1;
	if (status_field("TracerPid:", buf, sizeof(buf)) || strcmp(buf, "0"))
		test_err("TracerPid is %s", buf);
	c0 = counter;
	/* it counts all the time; a loaded machine may keep it off a CPU for a while */
	for (int waited = 0; counter == c0 && waited < 10000; waited += 10)
		usleep(10 * 1000);
	if (counter == c0)
		test_err("the counting thread is not running");
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	zt_join(th, 5, "counting thread");
	zt_check("memory", mem, 64 * ZT_PAGE, 0x50c);
	memset(buf, 0, sizeof(buf));
	if (read(sp[1], buf, 6) != 6 || memcmp(buf, "queued", 6))
		test_err("the data queued in the socketpair is gone");
	if (write(sp[1], "back", 4) != 4 || read(sp[0], buf, 4) != 4 || memcmp(buf, "back", 4))
		test_err("the socketpair does not work");
	test_result();
}
