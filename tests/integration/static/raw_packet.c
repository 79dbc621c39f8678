/* Raw and packet sockets: a raw ICMP socket with an ICMP_FILTER (echo replies only)
 * connected to 127.0.0.1, a raw IPPROTO_RAW socket (IP_HDRINCL), a raw ICMPv6
 * socket with an ICMP6_FILTER, a packet socket (SOCK_DGRAM, ETH_P_IP) bound to lo
 * with PACKET_AUXDATA and a classic BPF filter, an unbound packet socket
 * (SOCK_RAW, ETH_P_ALL) with PACKET_VERSION. After restore: protocols, options,
 * filters and the interface unchanged; an echo request sent through the raw
 * socket gets its reply there, and the packet socket on lo sees the packets.
 * With --ring (the packet_ring case) one packet socket also maps a receive ring,
 * which the dump must refuse by name. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ztest.h"

/* linux/icmp.h clashes with glibc's headers */
#ifndef ICMP_FILTER
#define ICMP_FILTER 1
#endif
struct icmp_filter {
	uint32_t data;
};

static int getint(int fd, int level, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, level, opt, &v, &l) < 0)
		return -1;
	return v;
}

static void setint(int fd, int level, int opt, int v, const char *name)
{
	if (setsockopt(fd, level, opt, &v, sizeof(v)) < 0)
		fail("setsockopt %s: %m", name);
}

static uint16_t csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* An echo request through the raw ICMP socket, its reply read there. */
static void ping(int fd)
{
	struct icmphdr h = { .type = ICMP_ECHO, .un.echo = { htons(0x4242), htons(7) } };
	char buf[256];
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	ssize_t n;

	h.checksum = csum(&h, sizeof(h));
	if (send(fd, &h, sizeof(h), 0) != sizeof(h)) {
		test_err("raw ICMP: send: %m");
		return;
	}
	for (;;) {
		struct iphdr *ip = (struct iphdr *)buf;
		struct icmphdr *r;
		if (poll(&pf, 1, 5000) != 1) {
			test_err("raw ICMP: no echo reply");
			return;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < (ssize_t)(sizeof(*ip) + sizeof(*r)))
			continue;
		r = (struct icmphdr *)(buf + ip->ihl * 4);
		if (r->type == ICMP_ECHO)
			test_err("raw ICMP: its filter let an echo request through");
		if (r->type == ICMP_ECHOREPLY && r->un.echo.id == htons(0x4242))
			return;
	}
}

int main(int argc, char **argv)
{
	int icmp, hdr, icmp6, pkt, pall, ring = 0;
	struct icmp_filter f4 = { ~(1u << ICMP_ECHOREPLY) };
	struct icmp6_filter f6;
	struct sock_filter accept_ip[] = { { 0x06, 0, 0, 0x40000 } }; /* ret 256 KiB: everything */
	struct sock_fprog prog = { 1, accept_ip };
	struct sockaddr_in lo4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP) };
	char dev[IF_NAMESIZE];

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--ring")) {
			ring = 1;
			memmove(&argv[i], &argv[i + 1], (argc - i) * sizeof(*argv));
			argc--;
		}
	test_init(argc, argv);
	icmp = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (icmp < 0)
		fail("raw ICMP: %m");
	if (setsockopt(icmp, SOL_RAW, ICMP_FILTER, &f4, sizeof(f4)) < 0)
		fail("ICMP_FILTER: %m");
	if (connect(icmp, (struct sockaddr *)&lo4, sizeof(lo4)) < 0)
		fail("connect: %m");
	hdr = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	icmp6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	ICMP6_FILTER_SETBLOCKALL(&f6);
	ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f6);
	if (hdr < 0 || icmp6 < 0 || setsockopt(icmp6, IPPROTO_ICMPV6, ICMP6_FILTER, &f6, sizeof(f6)) < 0)
		fail("raw: %m");
	pkt = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK, htons(ETH_P_IP));
	if (pkt < 0)
		fail("packet: %m");
	setint(pkt, SOL_PACKET, PACKET_AUXDATA, 1, "PACKET_AUXDATA");
	if (setsockopt(pkt, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		fail("SO_ATTACH_FILTER: %m");
	sll.sll_ifindex = (int)if_nametoindex("lo");
	if (bind(pkt, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		fail("packet: bind: %m");
	pall = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	setint(pall, SOL_PACKET, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION");
	if (ring) {
		struct tpacket_req req = { .tp_block_size = 4096, .tp_block_nr = 4, .tp_frame_size = 2048,
					   .tp_frame_nr = 8 };
		if (setsockopt(pall, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
			fail("PACKET_RX_RING: %m");
		if (mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, pall, 0) == MAP_FAILED)
			fail("mmap of the ring: %m");
	}
	if (dup2(pall, 81) < 0)
		fail("dup2: %m");
	close(pall);
	pall = 81;

	test_ready();
	test_waitsig();
	if (test_self_fail)
		setint(pkt, SOL_PACKET, PACKET_AUXDATA, 0, "PACKET_AUXDATA");

	if (getint(icmp, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_ICMP || getint(hdr, SOL_IP, IP_HDRINCL) != 1 ||
	    getint(icmp6, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_ICMPV6)
		test_err("raw sockets: protocols or IP_HDRINCL changed");
	{
		struct icmp_filter g = { 0 };
		struct icmp6_filter g6;
		socklen_t l = sizeof(g), l6 = sizeof(g6);
		if (getsockopt(icmp, SOL_RAW, ICMP_FILTER, &g, &l) < 0 || g.data != f4.data)
			test_err("raw ICMP: ICMP_FILTER is 0x%x, want 0x%x", g.data, f4.data);
		if (getsockopt(icmp6, IPPROTO_ICMPV6, ICMP6_FILTER, &g6, &l6) < 0 || memcmp(&g6, &f6, sizeof(f6)))
			test_err("raw ICMPv6: ICMP6_FILTER changed");
	}
	if (getint(pkt, SOL_PACKET, PACKET_AUXDATA) != 1 || getint(pall, SOL_PACKET, PACKET_VERSION) != TPACKET_V2)
		test_err("packet sockets: options changed");
	{
		struct sockaddr_ll a = { 0 }, b = { 0 };
		socklen_t la = sizeof(a), lb = sizeof(b);
		getsockname(pkt, (struct sockaddr *)&a, &la);
		getsockname(pall, (struct sockaddr *)&b, &lb);
		if (a.sll_protocol != htons(ETH_P_IP) || b.sll_protocol != htons(ETH_P_ALL))
			test_err("packet sockets: protocols changed (0x%x 0x%x)", a.sll_protocol, b.sll_protocol);
	}
	{
		socklen_t l = 0;
		if (getsockopt(pkt, SOL_SOCKET, SO_GET_FILTER, NULL, &l) < 0 || l != 1)
			test_err("packet: its filter is gone (%u instructions)", l);
		struct sockaddr_ll now;
		socklen_t nl = sizeof(now);
		if (getsockname(pkt, (struct sockaddr *)&now, &nl) < 0 || !if_indextoname((unsigned)now.sll_ifindex, dev) ||
		    strcmp(dev, "lo"))
			test_err("packet: not bound to lo any more");
	}
	if (!(fcntl(pkt, F_GETFL) & O_NONBLOCK))
		test_err("packet: O_NONBLOCK lost");
	while (recv(pkt, dev, sizeof(dev), 0) > 0)
		; /* what came before */
	ping(icmp);
	{
		struct pollfd pf = { .fd = pkt, .events = POLLIN };
		if (poll(&pf, 1, 5000) != 1)
			test_err("packet: saw nothing on lo");
	}
	test_result();
}
