/* Unit tests for the network kinds' engines: the network lock's scripts and the
 * lock itself (iptables and nftables, for real, in a network namespace of the test's
 * own), the segment injected for a peer's FIN (its checksum), a TCP connection
 * read in repair mode and rebuilt into a new socket (tcp.c), socket options read
 * and set back (sockopt.c). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/netlock.h"
#include "criu-lite/files/sockopt.h"
#include "criu-lite/files/tcp.h"

static struct netlock_conn conn4(const char *src, int sport, const char *dst, int dport)
{
	struct netlock_conn c = { .family = AF_INET, .sport = (uint16_t)sport, .dport = (uint16_t)dport };
	inet_pton(AF_INET, src, c.src);
	inet_pton(AF_INET, dst, c.dst);
	return c;
}

START_TEST(test_scripts)
{
	struct netlock_conn c[2] = { conn4("127.0.0.1", 6379, "127.0.0.2", 40000) };
	char *s;

	c[1].family = AF_INET6;
	inet_pton(AF_INET6, "::1", c[1].src);
	inet_pton(AF_INET6, "fd00::5", c[1].dst);
	c[1].sport = 80;
	c[1].dport = 5555;

	s = netlock_script(NETLOCK_IPTABLES, NULL, c, 2, false, true);
	ck_assert_ptr_nonnull(s);
	ck_assert_msg(strstr(s, "*filter\n") == s, "%s", s);
	ck_assert_msg(strstr(s, "-I INPUT -p tcp -s 127.0.0.2 -d 127.0.0.1 --sport 40000 --dport 6379 -m mark ! "
				"--mark 0xc114 -m comment --comment criu-lite -j DROP\n"), "%s", s);
	ck_assert_msg(strstr(s, "-I OUTPUT -p tcp -s 127.0.0.1 -d 127.0.0.2 --sport 6379 --dport 40000 "), "%s", s);
	ck_assert_msg(!strstr(s, "fd00::5") && strstr(s, "COMMIT\n"), "%s", s);
	free(s);
	s = netlock_script(NETLOCK_IPTABLES, NULL, c, 2, true, false);
	ck_assert_msg(strstr(s, "-D INPUT -p tcp -s fd00::5 -d ::1 --sport 5555 --dport 80 ") && !strstr(s, "127.0.0"),
		      "%s", s);
	free(s);
	s = netlock_script(NETLOCK_NFTABLES, "criu-lite-42", c, 2, false, true);
	ck_assert_msg(strstr(s, "add table inet criu-lite-42\n"), "%s", s);
	ck_assert_msg(strstr(s, "type filter hook input") && strstr(s, "type filter hook output"), "%s", s);
	ck_assert_msg(strstr(s, "add element inet criu-lite-42 conn4 { 127.0.0.1 . 6379 . 127.0.0.2 . 40000, "
				"127.0.0.2 . 40000 . 127.0.0.1 . 6379 }"), "%s", s);
	ck_assert_msg(strstr(s, "conn6 { ::1 . 80 . fd00::5 . 5555, fd00::5 . 5555 . ::1 . 80 }"), "%s", s);
	ck_assert_msg(strstr(s, "meta mark != 0xc114"), "%s", s);
	free(s);
	s = netlock_script(NETLOCK_NFTABLES, "criu-lite-42", c, 2, false, false);
	ck_assert_str_eq(s, "delete table inet criu-lite-42\n");
	free(s);
}
END_TEST

/* An independent checksum over the pseudo header and the segment: 0xffff when right. */
static uint16_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

START_TEST(test_segment)
{
	uint8_t pkt[80], src[16], dst[16];
	size_t len;
	uint32_t pseudo;

	inet_pton(AF_INET, "10.1.2.3", src);
	inet_pton(AF_INET, "10.9.8.7", dst);
	len = tcp_build_segment(pkt, AF_INET, src, 1234, dst, 80, 0x11223344, 0x55667788, TH_FIN | TH_ACK, 500);
	ck_assert_uint_eq(len, 40);
	ck_assert_uint_eq(pkt[0], 0x45);
	ck_assert_uint_eq(pkt[9], IPPROTO_TCP);
	ck_assert_uint_eq(pkt[20] << 8 | pkt[21], 1234);
	ck_assert_uint_eq(pkt[33], TH_FIN | TH_ACK);
	pseudo = sum16(src, 4, 0) + sum16(dst, 4, 0) + IPPROTO_TCP + 20;
	ck_assert_uint_eq(sum16(pkt + 20, 20, pseudo), 0xffff);

	inet_pton(AF_INET6, "fd00::1", src);
	inet_pton(AF_INET6, "fd00::abcd:2", dst);
	len = tcp_build_segment(pkt, AF_INET6, src, 40000, dst, 443, 7, 9, TH_ACK, 65535);
	ck_assert_uint_eq(len, 60);
	ck_assert_uint_eq(pkt[0] >> 4, 6);
	ck_assert_uint_eq(pkt[6], IPPROTO_TCP);
	pseudo = sum16(src, 16, 0) + sum16(dst, 16, 0) + IPPROTO_TCP + 20;
	ck_assert_uint_eq(sum16(pkt + 40, 20, pseudo), 0xffff);
}
END_TEST

/* A network namespace of our own with lo up (the test runs in a forked child). */
static void own_netns(void)
{
	struct ifreq ifr = { 0 };
	int s;

	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	strcpy(ifr.ifr_name, "lo");
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

static void tcp_pair(int *a, int *b, struct sockaddr_in *sa, struct sockaddr_in *sb)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, l), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &l), 0);
	*b = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*b, (struct sockaddr *)&sin, l), 0);
	*a = accept(lfd, NULL, NULL);
	ck_assert_int_ge(*a, 0);
	close(lfd);
	l = sizeof(*sa);
	getsockname(*a, (struct sockaddr *)sa, &l);
	l = sizeof(*sb);
	getsockname(*b, (struct sockaddr *)sb, &l);
}

static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

/* Locked: what b sends a is neither delivered nor acknowledged; unlocked, it is. */
static void lock_roundtrip(int method)
{
	int a, b, outq = -1, used;
	struct sockaddr_in sa, sb;
	struct netlock_conn c;
	char buf[8];

	own_netns();
	tcp_pair(&a, &b, &sa, &sb);
	c = conn4("127.0.0.1", ntohs(sa.sin_port), "127.0.0.1", ntohs(sb.sin_port));
	ck_assert_int_eq(netlock_lock(method, "criu-lite-unit", &c, 1, &used), 0);
	ck_assert_int_eq(used, method == NETLOCK_IPTABLES ? NETLOCK_IPTABLES_LEGACY : method);
	ck_assert_int_eq(write(b, "locked", 6), 6);
	ck_assert_msg(!readable(a, 400), "a packet passed the lock");
	ck_assert_int_eq(ioctl(b, SIOCOUTQ, &outq), 0);
	ck_assert_int_eq(outq, 6); /* not acknowledged */
	ck_assert_int_eq(netlock_unlock(used, "criu-lite-unit", &c, 1), 0);
	ck_assert_msg(readable(a, 5000), "nothing came through once unlocked");
	ck_assert_int_eq(read(a, buf, sizeof(buf)), 6);
	/* unlocking twice only warns */
	ck_assert_int_eq(netlock_unlock(used, "criu-lite-unit", &c, 1), 0);
}

START_TEST(test_lock_iptables)
{
	lock_roundtrip(NETLOCK_IPTABLES);
}
END_TEST

START_TEST(test_lock_nftables)
{
	lock_roundtrip(NETLOCK_NFTABLES);
}
END_TEST

START_TEST(test_lock_fails_clean)
{
	struct netlock_conn c = conn4("127.0.0.1", 1, "127.0.0.1", 2);
	char detail[256];

	own_netns();
	/* a table name nft refuses: the lock fails, and no table is left */
	int used;
	ck_assert_int_eq(netlock_lock(NETLOCK_NFTABLES, "bad name;", &c, 1, &used), -1);
	ck_assert_int_eq(system("nft list tables | grep -q . && exit 1 || exit 0"), 0);
	ck_assert_int_eq(netlock_probe(NETLOCK_NFTABLES, false, detail, sizeof(detail)), 0);
	ck_assert_int_eq(netlock_probe(NETLOCK_IPTABLES, false, detail, sizeof(detail)), 0);
}
END_TEST

/* One end of a connection read in repair mode, closed silently, and rebuilt into a
 * new socket from the entry: the data queued both ways is there and it talks on. */
START_TEST(test_repair_roundtrip)
{
	int a, b, na, q = -1;
	struct sockaddr_in sa, sb;
	TcpStreamEntry *t = NULL;
	InetSkEntry ie = INET_SK_ENTRY__INIT;
	static char big[300000], got[300000];
	char buf[16];

	own_netns();
	tcp_pair(&a, &b, &sa, &sb);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 3);
	ck_assert_int_eq(write(b, "to a", 4), 4); /* a's receive queue */
	/* more than b's window: some stays in a's send queue (b reads nothing yet) */
	ck_assert_int_eq(send(a, big, sizeof(big), 0), (ssize_t)sizeof(big));
	usleep(100000);
	ck_assert_int_eq(tcp_repair(a, 1, "a"), 0);
	ck_assert_int_eq(tcp_stream_dump(a, &t, "a"), 0);
	ck_assert_uint_eq(t->rcv_queue.len, 4);
	ck_assert_uint_gt(t->snd_queue.len, 0);
	ck_assert_uint_le(t->snd_queue.len, sizeof(big));
	close(a); /* in repair mode: b hears nothing */

	ie.family = AF_INET;
	ie.type = SOCK_STREAM;
	ie.protocol = IPPROTO_TCP;
	ie.state = TCP_ESTABLISHED;
	ie.has_src_addr = ie.has_dst_addr = true;
	ie.src_addr.data = (uint8_t *)&sa.sin_addr;
	ie.src_addr.len = 4;
	ie.src_port = ntohs(sa.sin_port);
	ie.dst_addr.data = (uint8_t *)&sb.sin_addr;
	ie.dst_addr.len = 4;
	ie.dst_port = ntohs(sb.sin_port);
	ie.tcp = t;
	na = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(tcp_stream_restore(na, &ie, "a'"), 0);
	ck_assert_int_eq(tcp_stream_resume(na, &ie, "a'"), 0);
	ck_assert_int_eq(ioctl(na, SIOCINQ, &q), 0);
	ck_assert_int_eq(q, 4);
	ck_assert_int_eq(read(na, buf, sizeof(buf)), 4);
	ck_assert_int_eq(memcmp(buf, "to a", 4), 0);
	/* everything a had sent, b had not read: b reads it from the new socket */
	{
		size_t n = 0;
		ssize_t r;
		while (n < sizeof(got) && readable(b, 5000) && (r = recv(b, got + n, sizeof(got) - n, 0)) > 0)
			n += r;
		ck_assert_uint_eq(n, sizeof(big));
		ck_assert_int_eq(memcmp(got, big, n), 0);
	}
	ck_assert_int_eq(write(b, "more", 4), 4);
	ck_assert(readable(na, 5000));
	ck_assert_int_eq(read(na, buf, sizeof(buf)), 4);
	ck_assert_int_eq(memcmp(buf, "more", 4), 0);
	tcp_stream_entry__free_unpacked(t, NULL);
}
END_TEST

START_TEST(test_sockopts_roundtrip)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), nfd = socket(AF_INET, SOCK_DGRAM, 0), v;
	struct sko_sock s = { .fd = fd, .family = AF_INET, .type = SOCK_DGRAM, .protocol = IPPROTO_UDP,
			      .mask = sko_inet_mask(AF_INET, SOCK_DGRAM, IPPROTO_UDP), .what = "udp" };
	SkOptsEntry *o = NULL;
	socklen_t l = sizeof(v);
	struct sock_filter { uint16_t code; uint8_t jt, jf; uint32_t k; } ret_all = { 0x06, 0, 0, 0xffff };
	struct { unsigned short len; void *f; } prog = { 1, &ret_all };

	v = 0x28; /* sets the priority too: the priority set after it must win */
	ck_assert_int_eq(setsockopt(fd, SOL_IP, IP_TOS, &v, sizeof(v)), 0);
	v = 6;
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &v, sizeof(v)), 0);
	v = 123456;
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)), 0);
	ck_assert_int_eq(sko_dump(&s, &o), 0);
	ck_assert(o->has_priority && o->priority == 6);
	ck_assert(o->has_ip_tos && o->ip_tos == 0x28);
	ck_assert(o->has_rcvbuf && o->rcvbuf == 246912 && o->has_buf_lock && (o->buf_lock & 2));
	ck_assert(o->has_filter && o->filter.len == 8);
	ck_assert(!o->has_keepalive && !o->has_ip_ttl); /* defaults are not recorded */
	s.fd = nfd;
	ck_assert_int_eq(sko_restore(&s, o), 0);
	ck_assert_int_eq(sko_restore_bufs(&s, o), 0);
	ck_assert_int_eq(getsockopt(nfd, SOL_SOCKET, SO_PRIORITY, &v, &l), 0);
	ck_assert_int_eq(v, 6);
	ck_assert_int_eq(getsockopt(nfd, SOL_IP, IP_TOS, &v, &l), 0);
	ck_assert_int_eq(v, 0x28);
	ck_assert_int_eq(getsockopt(nfd, SOL_SOCKET, SO_RCVBUF, &v, &l), 0);
	ck_assert_int_eq(v, 246912);
	l = 0;
	ck_assert_int_eq(getsockopt(nfd, SOL_SOCKET, SO_GET_FILTER, NULL, &l), 0);
	ck_assert_int_eq(l, 1);
	sk_opts_entry__free_unpacked(o, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("net");

	log_init(LOG_ERROR, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_scripts);
	tcase_add_test(tc, test_segment);
	tcase_add_test(tc, test_lock_iptables);
	tcase_add_test(tc, test_lock_nftables);
	tcase_add_test(tc, test_lock_fails_clean);
	tcase_add_test(tc, test_repair_roundtrip);
	tcase_add_test(tc, test_sockopts_roundtrip);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
