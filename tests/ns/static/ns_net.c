/*
 * A container with its own network namespace (nsrun --ns pid,mnt,net --setup
 * net-setup.sh): lo up, a veth pair with MACs, an MTU, IPv4 addresses (one with a
 * label and a broadcast), an IPv6 address, another veth pair (one end up with an address,
 * the other down), routes through gateways (IPv4 and IPv6, a default route with a
 * metric), and ip_forward on. After the restore everything the namespace shows is the
 * same: /sys/class/net (index, MTU, flags, address, kind), getifaddrs(), the IPv4 and
 * IPv6 routing tables, ip_forward; and the loopback works.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ztest.h"

static char state[32768];

static void add(const char *fmt, const char *a, const char *b)
{
	size_t n = strlen(state);
	snprintf(state + n, sizeof(state) - n, fmt, a, b);
}

static char *attr(const char *link, const char *name)
{
	char path[256];
	char *s;
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", link, name);
	s = zt_read_file(path, NULL);
	if (s)
		s[strcspn(s, "\n")] = 0;
	return s ? s : strdup("?");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A routing table's lines without its reference and use counters (columns skip1, skip2,
 * from 0), which move on their own. */
static void routes(const char *path, const char *what, int skip1, int skip2)
{
	char *s = zt_read_file(path, NULL), *save = NULL;

	for (char *l = s ? strtok_r(s, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
		char *ws = NULL, line[512] = "";
		int col = 0;
		for (char *w = strtok_r(l, " \t", &ws); w; w = strtok_r(NULL, " \t", &ws), col++)
			if (col != skip1 && col != skip2)
				snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s ", w);
		add("%s %s\n", what, line);
	}
	free(s);
}

static void snapshot(void)
{
	char *names[32];
	int n = 0;
	DIR *d = opendir("/sys/class/net");
	struct dirent *de;
	struct ifaddrs *ifa, *i;
	char *s;

	state[0] = 0;
	while (d && (de = readdir(d)) && n < 32)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	if (d)
		closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	for (int k = 0; k < n; k++) {
		static const char *const attrs[] = { "ifindex", "mtu", "flags", "address", "type" };
		add("link %s%s", names[k], "");
		for (size_t j = 0; j < sizeof(attrs) / sizeof(attrs[0]); j++) {
			char *v = attr(names[k], attrs[j]);
			add(" %s=%s", attrs[j], v);
			free(v);
		}
		add("\n%s%s", "", "");
	}
	if (getifaddrs(&ifa) < 0)
		fail("getifaddrs");
	for (i = ifa; i; i = i->ifa_next) {
		char addr[64] = "", mask[64] = "";
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, addr, sizeof(addr));
			if (i->ifa_netmask)
				inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_netmask)->sin_addr, mask, sizeof(mask));
		} else {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, addr, sizeof(addr));
			if (i->ifa_netmask)
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr, mask, sizeof(mask));
		}
		add("addr %s %s", i->ifa_name, addr);
		add("/%s%s\n", mask, "");
	}
	freeifaddrs(ifa);
	routes("/proc/net/route", "route4", 3, 4);
	routes("/proc/net/ipv6_route", "route6", 6, 7);
	s = zt_read_file("/proc/sys/net/ipv4/ip_forward", NULL);
	add("ip_forward %s%s", s ? s : "?", "");
	free(s);
}

/* The routing tables list routes in an order of their own; compare them as sets of lines. */
static int same_lines(const char *a, const char *b)
{
	char *x = strdup(a), *y = strdup(b), *sx = NULL, *sy = NULL;
	char *lx[512], *ly[512];
	int nx = 0, ny = 0, same;

	for (char *l = strtok_r(x, "\n", &sx); l && nx < 512; l = strtok_r(NULL, "\n", &sx))
		lx[nx++] = l;
	for (char *l = strtok_r(y, "\n", &sy); l && ny < 512; l = strtok_r(NULL, "\n", &sy))
		ly[ny++] = l;
	qsort(lx, nx, sizeof(char *), by_name);
	qsort(ly, ny, sizeof(char *), by_name);
	same = nx == ny;
	for (int i = 0; same && i < nx; i++)
		if (strcmp(lx[i], ly[i])) {
			test_msg("was: %s\nnow: %s", lx[i], ly[i]);
			same = 0;
		}
	free(x);
	free(y);
	return same;
}

int main(int argc, char **argv)
{
	char *before;
	int sk;
	struct sockaddr_in sa = { AF_INET, htons(0), { htonl(INADDR_LOOPBACK) } };
	socklen_t len = sizeof(sa);

	test_init(argc, argv);
	snapshot();
	if (!strstr(state, "link v0") || !strstr(state, "10.77.2.1"))
		fail("the setup did not run:\n%s", state);
	before = strdup(state);
	test_ready();
	test_waitsig();
	snapshot();
	if (test_self_fail)
		state[0] ^= 1;
	if (!same_lines(before, state)) {
		test_msg("before:\n%s", before);
		test_msg("after:\n%s", state);
		test_err("the network namespace differs (see the log)");
	}
	sk = socket(AF_INET, SOCK_DGRAM, 0);
	if (sk < 0 || bind(sk, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(sk, (struct sockaddr *)&sa, &len) < 0 ||
	    sendto(sk, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa)) != 1)
		test_err("the loopback does not work");
	test_result();
}
