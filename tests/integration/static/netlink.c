/* Netlink sockets a program keeps open: NETLINK_ROUTE bound to a portid of its
 * own with groups (RTMGRP_LINK, RTMGRP_IPV4_IFADDR, and groups 32 and 33, which
 * only NETLINK_ADD_MEMBERSHIP reaches), NETLINK_PKTINFO, NETLINK_NO_ENOBUFS,
 * NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK and a locked SO_RCVBUF; a NETLINK_ROUTE
 * socket the kernel bound when it first sent (its portid kept); a NETLINK_GENERIC
 * socket connected to the kernel; an unbound one. After restore: portids, groups
 * (NETLINK_LIST_MEMBERSHIPS), options unchanged, and each answers requests
 * (RTM_GETLINK lists lo, CTRL_CMD_GETFAMILY finds nlctrl). */
#include <errno.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ztest.h"

enum { BOUND, AUTO, GENL, UNB, NSK };
static const char *names[NSK] = { "bound route", "autobound route", "generic", "unbound" };
static int fds[NSK];
static struct sockaddr_nl addr[NSK];
static uint32_t groups[NSK][4];
static socklen_t glen[NSK];

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

/* Send a request and read the answers until NLMSG_DONE (or an ack); returns 1 if
 * one of them holds the string want. */
static int ask(int fd, void *req, size_t len, const char *want, const char *who)
{
	static char buf[65536];
	int found = 0;
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };

	if (sendto(fd, req, len, 0, (struct sockaddr *)&k, sizeof(k)) != (ssize_t)len) {
		test_err("%s: send: %m", who);
		return 0;
	}
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;
		if (poll(&pf, 1, 5000) != 1) {
			test_err("%s: no answer", who);
			return found;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			test_err("%s: recv: %m", who);
			return found;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return found;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				if (e->error)
					test_err("%s: error %d", who, e->error);
				return found;
			}
			if (memmem(h, h->nlmsg_len, want, strlen(want)))
				found = 1;
			if (!(h->nlmsg_flags & NLM_F_MULTI))
				return found;
		}
	}
}

static int getlink(int fd, const char *who)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = { { sizeof(req), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0 }, { .ifi_family = AF_UNSPEC } };

	return ask(fd, &req, sizeof(req), "lo", who);
}

static int getfamily(int fd, const char *who)
{
	struct {
		struct nlmsghdr h;
		struct genlmsghdr g;
		struct nlattr a;
		char name[8];
	} req;

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = GENL_ID_CTRL;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.h.nlmsg_seq = 2;
	req.g.cmd = CTRL_CMD_GETFAMILY;
	req.g.version = 1;
	req.a.nla_type = CTRL_ATTR_FAMILY_NAME;
	req.a.nla_len = sizeof(req.a) + 7;
	memcpy(req.name, "nlctrl", 7);
	return ask(fd, &req, sizeof(req), "nlctrl", who);
}

static void remember(void)
{
	for (int i = 0; i < NSK; i++) {
		socklen_t l = sizeof(addr[i]);
		getsockname(fds[i], (struct sockaddr *)&addr[i], &l);
		glen[i] = sizeof(groups[i]);
		memset(groups[i], 0, sizeof(groups[i]));
		if (getsockopt(fds[i], SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, groups[i], &glen[i]) < 0)
			fail("%s: NETLINK_LIST_MEMBERSHIPS: %m", names[i]);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	test_init(argc, argv);
	fds[BOUND] = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fds[BOUND] < 0)
		fail("socket: %m");
	setint(fds[BOUND], SOL_NETLINK, NETLINK_PKTINFO, 1, "NETLINK_PKTINFO");
	setint(fds[BOUND], SOL_NETLINK, NETLINK_NO_ENOBUFS, 1, "NETLINK_NO_ENOBUFS");
	setint(fds[BOUND], SOL_NETLINK, NETLINK_EXT_ACK, 1, "NETLINK_EXT_ACK");
	setint(fds[BOUND], SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1, "NETLINK_GET_STRICT_CHK");
	setint(fds[BOUND], SOL_SOCKET, SO_RCVBUF, 300000, "SO_RCVBUF");
	sa.nl_pid = 0x7a000000u | (uint32_t)getpid();
	sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR;
	if (bind(fds[BOUND], (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("bind: %m");
	setint(fds[BOUND], SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, 32, "NETLINK_ADD_MEMBERSHIP");
	setint(fds[BOUND], SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, 33, "NETLINK_ADD_MEMBERSHIP");

	fds[AUTO] = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (!getlink(fds[AUTO], "autobound route (before)"))
		fail("RTM_GETLINK does not list lo");

	fds[GENL] = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_GENERIC);
	sa.nl_pid = 0;
	sa.nl_groups = 0;
	if (connect(fds[GENL], (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("connect: %m");
	fds[UNB] = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	remember();
	if (!addr[AUTO].nl_pid || addr[UNB].nl_pid)
		fail("portids: autobound %u, unbound %u", addr[AUTO].nl_pid, addr[UNB].nl_pid);

	test_ready();
	test_waitsig();
	if (test_self_fail)
		setint(fds[BOUND], SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, 33, "NETLINK_DROP_MEMBERSHIP");

	for (int i = 0; i < NSK; i++) {
		struct sockaddr_nl now;
		uint32_t g[4];
		socklen_t l = sizeof(now), gl = sizeof(g);
		memset(&now, 0, sizeof(now));
		memset(g, 0, sizeof(g));
		getsockname(fds[i], (struct sockaddr *)&now, &l);
		if (now.nl_pid != addr[i].nl_pid || now.nl_groups != addr[i].nl_groups)
			test_err("%s: portid/groups %u/0x%x, were %u/0x%x", names[i], now.nl_pid, now.nl_groups,
				 addr[i].nl_pid, addr[i].nl_groups);
		if (getsockopt(fds[i], SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, g, &gl) < 0 || gl != glen[i] ||
		    memcmp(g, groups[i], gl))
			test_err("%s: its groups changed (0x%x 0x%x, were 0x%x 0x%x)", names[i], g[0], g[1], groups[i][0],
				 groups[i][1]);
	}
	if (!(groups[BOUND][1] & 3))
		test_err("bound route: groups 32 and 33 were not joined at all");
	if (getint(fds[BOUND], SOL_NETLINK, NETLINK_PKTINFO) != 1 || getint(fds[BOUND], SOL_NETLINK, NETLINK_NO_ENOBUFS) != 1 ||
	    getint(fds[BOUND], SOL_NETLINK, NETLINK_EXT_ACK) != 1 || getint(fds[BOUND], SOL_NETLINK, NETLINK_GET_STRICT_CHK) != 1)
		test_err("bound route: options changed");
	if (getint(fds[BOUND], SOL_SOCKET, SO_RCVBUF) != 600000)
		test_err("bound route: SO_RCVBUF %d, want 600000", getint(fds[BOUND], SOL_SOCKET, SO_RCVBUF));
	if (!(fcntl(fds[BOUND], F_GETFL) & O_NONBLOCK) || (fcntl(fds[AUTO], F_GETFL) & O_NONBLOCK))
		test_err("O_NONBLOCK changed");
	if (!getlink(fds[BOUND], "bound route"))
		test_err("bound route: RTM_GETLINK does not list lo");
	if (!getlink(fds[AUTO], "autobound route"))
		test_err("autobound route: RTM_GETLINK does not list lo");
	if (!getfamily(fds[GENL], "generic"))
		test_err("generic: CTRL_CMD_GETFAMILY does not find nlctrl");
	if (!getlink(fds[UNB], "unbound route"))
		test_err("unbound route: RTM_GETLINK does not list lo");
	test_result();
}
