/* A process holding sockets with a thread counting all the time: a unix
 * socketpair with data queued and a bound UDP socket, carried by dump and restore
 * (every mode). With --refused it also holds, as fd 82, a socket of a family
 * criu-lite does not carry (vsock, else AF_XDP, else MPTCP): the dump must fail
 * and leave it running as it was: not traced, not stopped, its thread still
 * counting, its memory and sockets intact (the runner's "dumpfail" mode). */
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

/* the family of fd 82 */
static int domain_of(int fd)
{
	int d = -1;
	socklen_t len = sizeof(d);

	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &d, &len) < 0 ? -1 : d;
}

/* fd 82: a socket of a family criu-lite refuses at dump. 0 or -1. */
static int refused_socket(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0)
		fd = socket(AF_XDP, SOCK_RAW, 0);
	if (fd < 0)
		fd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
	if (fd < 0 || dup2(fd, 82) != 82)
		return -1;
	close(fd);
	return 0;
}

/* fd 83: a TCP listener with an MD5 signature key for 127.0.0.1 (not carried). 0 or -1. */
static int md5_socket(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct tcp_md5sig md5;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&md5, 0, sizeof(md5));
	memcpy(&md5.tcpm_addr, &sin, sizeof(sin));
	md5.tcpm_keylen = 6;
	memcpy(md5.tcpm_key, "secret", 6);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 4) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof(md5)) || dup2(fd, 83) != 83)
		return -1;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int sp[2], udp, refused = 0, refused_domain, md5 = 0;
	pthread_t th;
	char buf[64];
	uint64_t c0;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--refused")) {
			refused = 1;
			memmove(&argv[i], &argv[i + 1], (argc - i) * sizeof(*argv));
			argc--;
			i--;
		} else if (!strcmp(argv[i], "--md5")) {
			md5 = 1;
			memmove(&argv[i], &argv[i + 1], (argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	test_init(argc, argv);
	if (refused && refused_socket() < 0)
		fail("no socket of a family criu-lite refuses (vsock, AF_XDP, MPTCP): %m");
	if (md5 && md5_socket() < 0)
		fail("a TCP socket with an MD5 key: %m");
	refused_domain = refused ? domain_of(82) : -1;
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
	if (refused && domain_of(82) != refused_domain)
		test_err("fd 82 is not the socket of family %d it was", refused_domain);
	if (md5 && domain_of(83) != AF_INET)
		test_err("fd 83, the TCP listener with an MD5 key, is gone");
	if (write(sp[1], "back", 4) != 4 || read(sp[0], buf, 4) != 4 || memcmp(buf, "back", 4))
		test_err("the socketpair does not work");
	test_result();
}
