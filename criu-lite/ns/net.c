/* The network namespace through libnl (see net.h). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <string.h>

#define LOG_PREFIX "ns/net: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/ns/net.h"
#include "criu-lite/ns/netfw.h"

#define NET_MAX_OBJS 4096

static const char *const net_vars[] = { "net/ipv4/ip_forward" };

static void sock_freep(struct nl_sock **s)
{
	if (*s)
		nl_socket_free(*s);
}
static void cache_freep(struct nl_cache **c)
{
	if (*c)
		nl_cache_free(*c);
}
#define cleanup_nlsock __attribute__((cleanup(sock_freep)))
#define cleanup_cache __attribute__((cleanup(cache_freep)))

static struct nl_sock *route_sock(void)
{
	struct nl_sock *s = nl_socket_alloc();
	int r;

	if (!s) {
		pr_err("can't allocate a netlink socket\n");
		return NULL;
	}
	r = nl_connect(s, NETLINK_ROUTE);
	if (r < 0) {
		pr_err("can't open a route netlink socket: %s\n", nl_geterror(r));
		nl_socket_free(s);
		return NULL;
	}
	return s;
}

/* ---- dump ---- */

struct net_dump {
	NetLinkEntry links[NET_MAX_OBJS];
	NetAddrEntry addrs[NET_MAX_OBJS];
	NetRouteEntry routes[NET_MAX_OBJS];
	size_t nr_links, nr_addrs, nr_routes;
	uint8_t bytes[NET_MAX_OBJS * 5][16]; /* addresses' bytes */
	size_t nr_bytes;
	char names[NET_MAX_OBJS][IFNAMSIZ];
	int err;
};

static bool keep_addr(struct net_dump *d, struct nl_addr *a, ProtobufCBinaryData *ret)
{
	size_t len;

	if (!a || d->nr_bytes == ARRAY_SIZE(d->bytes))
		return false;
	len = nl_addr_get_len(a);
	if (!len || len > 16)
		return false;
	memcpy(d->bytes[d->nr_bytes], nl_addr_get_binary_addr(a), len);
	ret->data = d->bytes[d->nr_bytes++];
	ret->len = len;
	return true;
}

static void dump_link(struct nl_object *obj, void *arg)
{
	struct net_dump *d = arg;
	struct rtnl_link *l = (struct rtnl_link *)obj;
	NetLinkEntry *e;
	const char *type = rtnl_link_get_type(l);
	unsigned flags = rtnl_link_get_flags(l);

	if (d->err)
		return;
	if (d->nr_links == NET_MAX_OBJS) {
		pr_err("more than %d links\n", NET_MAX_OBJS);
		d->err = -1;
		return;
	}
	e = &d->links[d->nr_links];
	net_link_entry__init(e);
	if (flags & IFF_LOOPBACK)
		type = "loopback";
	if (!type || (strcmp(type, "loopback") && strcmp(type, "dummy") && strcmp(type, "veth"))) {
		pr_err("link %s (index %d) is a %s: only loopback, dummy and veth links are dumped; give the "
		       "namespace with --external net[INODE]:KEY or --empty-ns net\n", rtnl_link_get_name(l),
		       rtnl_link_get_ifindex(l), type ? type : "link of unknown kind");
		d->err = -1;
		return;
	}
	if (!strcmp(type, "veth")) {
		int32_t nsid;
		if (rtnl_link_get_link_netnsid(l, &nsid) == 0 && nsid >= 0) {
			pr_err("veth %s has its peer in another network namespace: dump it with --external "
			       "net[INODE]:KEY or --empty-ns net\n", rtnl_link_get_name(l));
			d->err = -1;
			return;
		}
		e->has_peer_ifindex = true;
		e->peer_ifindex = (uint32_t)rtnl_link_get_link(l);
	}
	e->ifindex = (uint32_t)rtnl_link_get_ifindex(l);
	snprintf(d->names[d->nr_links], IFNAMSIZ, "%s", rtnl_link_get_name(l));
	e->name = d->names[d->nr_links];
	e->kind = (char *)(strcmp(type, "loopback") ? (strcmp(type, "dummy") ? "veth" : "dummy") : "loopback");
	e->has_flags = e->has_mtu = true;
	e->flags = flags;
	e->mtu = rtnl_link_get_mtu(l);
	e->has_addr = keep_addr(d, rtnl_link_get_addr(l), &e->addr);
	if (rtnl_link_get_master(l) > 0) {
		e->has_master = true;
		e->master = (uint32_t)rtnl_link_get_master(l);
	}
	d->nr_links++;
}

static void dump_addr(struct nl_object *obj, void *arg)
{
	struct net_dump *d = arg;
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	NetAddrEntry *e;

	if (d->err)
		return;
	if (d->nr_addrs == NET_MAX_OBJS) {
		pr_err("more than %d addresses\n", NET_MAX_OBJS);
		d->err = -1;
		return;
	}
	e = &d->addrs[d->nr_addrs];
	net_addr_entry__init(e);
	e->ifindex = (uint32_t)rtnl_addr_get_ifindex(a);
	e->family = (uint32_t)rtnl_addr_get_family(a);
	if (!keep_addr(d, rtnl_addr_get_local(a), &e->local))
		return; /* no local address: nothing to restore */
	e->prefixlen = (uint32_t)rtnl_addr_get_prefixlen(a);
	e->has_peer = keep_addr(d, rtnl_addr_get_peer(a), &e->peer);
	e->has_broadcast = keep_addr(d, rtnl_addr_get_broadcast(a), &e->broadcast);
	e->has_scope = e->has_flags = true;
	e->scope = (uint32_t)rtnl_addr_get_scope(a);
	e->flags = rtnl_addr_get_flags(a);
	e->label = rtnl_addr_get_label(a);
	d->nr_addrs++;
}

static void dump_route(struct nl_object *obj, void *arg)
{
	struct net_dump *d = arg;
	struct rtnl_route *r = (struct rtnl_route *)obj;
	struct rtnl_nexthop *nh;
	NetRouteEntry *e;

	if (d->err)
		return;
	/* what the kernel makes by itself when links and addresses come back */
	if (rtnl_route_get_protocol(r) == RTPROT_KERNEL || rtnl_route_get_table(r) == RT_TABLE_LOCAL)
		return;
	if (rtnl_route_get_family(r) == AF_INET6 && rtnl_route_get_type(r) == RTN_MULTICAST)
		return;
	if (d->nr_routes == NET_MAX_OBJS || rtnl_route_get_nnexthops(r) > 1) {
		pr_err("a multipath route, or more than %d routes: not supported\n", NET_MAX_OBJS);
		d->err = -1;
		return;
	}
	e = &d->routes[d->nr_routes];
	net_route_entry__init(e);
	e->family = rtnl_route_get_family(r);
	e->table = rtnl_route_get_table(r);
	e->protocol = rtnl_route_get_protocol(r);
	e->scope = rtnl_route_get_scope(r);
	e->type = rtnl_route_get_type(r);
	e->dst_len = rtnl_route_get_dst(r) ? nl_addr_get_prefixlen(rtnl_route_get_dst(r)) : 0;
	e->has_dst = e->dst_len && keep_addr(d, rtnl_route_get_dst(r), &e->dst);
	e->has_priority = true;
	e->priority = rtnl_route_get_priority(r);
	e->has_prefsrc = keep_addr(d, rtnl_route_get_pref_src(r), &e->prefsrc);
	e->has_flags = true;
	e->flags = rtnl_route_get_flags(r);
	nh = rtnl_route_get_nnexthops(r) ? rtnl_route_nexthop_n(r, 0) : NULL;
	if (nh) {
		e->has_oif = true;
		e->oif = (uint32_t)rtnl_route_nh_get_ifindex(nh);
		e->has_gateway = keep_addr(d, rtnl_route_nh_get_gateway(nh), &e->gateway);
	}
	d->nr_routes++;
}

int ns_net_dump(pid_t pid, uint64_t ino, struct img *img)
{
	NsEntry ne = NS_ENTRY__INIT;
	NsNetEntry nn = NS_NET_ENTRY__INIT;
	cleanup_free struct net_dump *d = calloc(1, sizeof(*d));
	cleanup_free NetLinkEntry **pl = NULL;
	cleanup_free NetAddrEntry **pa = NULL;
	cleanup_free NetRouteEntry **pr = NULL;
	NsSysctlEntry vars[ARRAY_SIZE(net_vars)], *pvars[ARRAY_SIZE(net_vars)];
	char *vals[ARRAY_SIZE(net_vars)] = { 0 };
	cleanup_nlsock struct nl_sock *s = NULL;
	cleanup_cache struct nl_cache *links = NULL, *addrs = NULL, *routes = NULL;
	struct ns_back back;
	int r, ret = -1;

	if (!d) {
		pr_perror("can't allocate the net dump");
		return -1;
	}
	if (ns_enter(pid, NS_KIND_NET, &back) < 0)
		return -1;
	/* the socket belongs to the namespace it was made in */
	r = ns_netfw_check(pid);
	s = r < 0 ? NULL : route_sock();
	for (size_t i = 0; s && i < ARRAY_SIZE(net_vars); i++)
		vals[i] = ns_sysctl_get(net_vars[i]);
	if (ns_return(&back) < 0 || !s)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(net_vars); i++)
		if (!vals[i])
			goto out;
	if ((r = rtnl_link_alloc_cache(s, AF_UNSPEC, &links)) < 0 || (r = rtnl_addr_alloc_cache(s, &addrs)) < 0 ||
	    (r = rtnl_route_alloc_cache(s, AF_UNSPEC, 0, &routes)) < 0) {
		pr_err("can't read the links, addresses and routes of pid %d's net namespace: %s\n", pid,
		       nl_geterror(r));
		goto out;
	}
	nl_cache_foreach(links, dump_link, d);
	nl_cache_foreach(addrs, dump_addr, d);
	nl_cache_foreach(routes, dump_route, d);
	if (d->err)
		goto out;
	pl = calloc(d->nr_links + 1, sizeof(*pl));
	pa = calloc(d->nr_addrs + 1, sizeof(*pa));
	pr = calloc(d->nr_routes + 1, sizeof(*pr));
	if (!pl || !pa || !pr) {
		pr_perror("can't allocate the net image");
		goto out;
	}
	for (size_t i = 0; i < d->nr_links; i++)
		pl[i] = &d->links[i];
	for (size_t i = 0; i < d->nr_addrs; i++)
		pa[i] = &d->addrs[i];
	for (size_t i = 0; i < d->nr_routes; i++)
		pr[i] = &d->routes[i];
	for (size_t i = 0; i < ARRAY_SIZE(net_vars); i++) {
		ns_sysctl_entry__init(&vars[i]);
		vars[i].name = (char *)net_vars[i];
		vars[i].value = vals[i];
		pvars[i] = &vars[i];
	}
	nn.links = pl;
	nn.n_links = d->nr_links;
	nn.addrs = pa;
	nn.n_addrs = d->nr_addrs;
	nn.routes = pr;
	nn.n_routes = d->nr_routes;
	nn.vars = pvars;
	nn.n_vars = ARRAY_SIZE(net_vars);
	ne.kind = NS_KIND_NET;
	ne.has_ino = true;
	ne.ino = ino;
	ne.net = &nn;
	pr_info("net namespace: %zu links, %zu addresses, %zu routes\n", d->nr_links, d->nr_addrs, d->nr_routes);
	ret = img_write(img, &ne);
out:
	for (size_t i = 0; i < ARRAY_SIZE(net_vars); i++)
		free(vals[i]);
	return ret;
}

/* ---- restore ---- */

static struct nl_addr *addr_of(const ProtobufCBinaryData *b, uint32_t family, uint32_t prefixlen)
{
	struct nl_addr *a;

	if (b->len != 4 && b->len != 6 && b->len != 16)
		return NULL;
	a = nl_addr_build((int)family, b->data, b->len);
	if (a && prefixlen)
		nl_addr_set_prefixlen(a, (int)prefixlen);
	return a;
}

static const NetLinkEntry *link_by_index(const NsNetEntry *n, uint32_t ifindex)
{
	for (size_t i = 0; i < n->n_links; i++)
		if (n->links[i]->ifindex == ifindex)
			return n->links[i];
	return NULL;
}

static void set_common(struct rtnl_link *l, const NetLinkEntry *e)
{
	rtnl_link_set_ifindex(l, (int)e->ifindex);
	rtnl_link_set_name(l, e->name);
	if (e->has_mtu)
		rtnl_link_set_mtu(l, e->mtu);
	if (e->has_addr && e->addr.len == 6) {
		struct nl_addr *a = nl_addr_build(AF_LLC, e->addr.data, e->addr.len);
		if (a) {
			rtnl_link_set_addr(l, a);
			nl_addr_put(a);
		}
	}
}

static int create_link(struct nl_sock *s, const NsNetEntry *n, const NetLinkEntry *e, char *err, size_t errlen)
{
	struct rtnl_link *l = NULL;
	int r;

	if (!strcmp(e->kind, "dummy")) {
		l = rtnl_link_alloc();
		if (l)
			rtnl_link_set_type(l, "dummy");
	} else if (!strcmp(e->kind, "veth")) {
		const NetLinkEntry *pe = e->has_peer_ifindex ? link_by_index(n, e->peer_ifindex) : NULL;
		if (!pe || strcmp(pe->kind, "veth")) {
			ns_set_err(err, errlen, "veth %s: its peer %u is not in the image", e->name, e->peer_ifindex);
			return -1;
		}
		if (pe->ifindex < e->ifindex)
			return 0; /* made with its peer */
		l = rtnl_link_veth_alloc();
		if (l)
			set_common(rtnl_link_veth_get_peer(l), pe);
	} else {
		ns_set_err(err, errlen, "link %s: kind %s", e->name, e->kind);
		return -1;
	}
	if (!l) {
		ns_set_err(err, errlen, "out of memory");
		return -1;
	}
	set_common(l, e);
	r = rtnl_link_add(s, l, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(l);
	if (r < 0) {
		ns_set_err(err, errlen, "can't create the %s link %s (index %u): %s", e->kind, e->name, e->ifindex,
			   nl_geterror(r));
		return -1;
	}
	return 0;
}

static int link_flags(struct nl_sock *s, const NetLinkEntry *e, char *err, size_t errlen)
{
	struct rtnl_link *l = rtnl_link_alloc(), *c = rtnl_link_alloc();
	int r;

	if (!l || !c) {
		ns_set_err(err, errlen, "out of memory");
		r = -1;
		goto out;
	}
	rtnl_link_set_ifindex(l, (int)e->ifindex);
	if (e->has_mtu)
		rtnl_link_set_mtu(c, e->mtu);
	if (e->flags & IFF_UP)
		rtnl_link_set_flags(c, IFF_UP);
	else
		rtnl_link_unset_flags(c, IFF_UP);
	r = rtnl_link_change(s, l, c, 0);
	if (r < 0)
		ns_set_err(err, errlen, "can't set the flags of link %s: %s", e->name, nl_geterror(r));
out:
	if (l)
		rtnl_link_put(l);
	if (c)
		rtnl_link_put(c);
	return r < 0 ? -1 : 0;
}

static int add_addr(struct nl_sock *s, const NetAddrEntry *e, char *err, size_t errlen)
{
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = addr_of(&e->local, e->family, e->prefixlen), *x;
	int r = -NLE_NOMEM;

	if (!a || !local)
		goto out;
	rtnl_addr_set_ifindex(a, (int)e->ifindex);
	rtnl_addr_set_family(a, (int)e->family);
	rtnl_addr_set_local(a, local);
	rtnl_addr_set_prefixlen(a, (int)e->prefixlen);
	if (e->has_peer && (x = addr_of(&e->peer, e->family, e->prefixlen))) {
		rtnl_addr_set_peer(a, x);
		nl_addr_put(x);
	}
	if (e->has_broadcast && (x = addr_of(&e->broadcast, e->family, 0))) {
		rtnl_addr_set_broadcast(a, x);
		nl_addr_put(x);
	}
	if (e->has_scope)
		rtnl_addr_set_scope(a, (int)e->scope);
	if (e->has_flags)
		rtnl_addr_set_flags(a, e->flags);
	if (e->label)
		rtnl_addr_set_label(a, e->label);
	r = rtnl_addr_add(s, a, 0);
	if (r == -NLE_EXIST)
		r = 0; /* made by the kernel (an IPv6 link-local address) */
out:
	if (r < 0) {
		char buf[64];
		ns_set_err(err, errlen, "can't add address %s/%u to link %u: %s",
			   inet_ntop((int)e->family, e->local.data, buf, sizeof(buf)) ? buf : "?", e->prefixlen,
			   e->ifindex, nl_geterror(r));
	}
	if (local)
		nl_addr_put(local);
	if (a)
		rtnl_addr_put(a);
	return r < 0 ? -1 : 0;
}

static int add_route(struct nl_sock *s, const NetRouteEntry *e, char *err, size_t errlen)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct nl_addr *dst = NULL, *x;
	int r = -NLE_NOMEM;

	if (!rt)
		goto out;
	rtnl_route_set_family(rt, (uint8_t)e->family);
	rtnl_route_set_table(rt, e->table);
	rtnl_route_set_protocol(rt, (uint8_t)e->protocol);
	rtnl_route_set_scope(rt, (uint8_t)e->scope);
	rtnl_route_set_type(rt, (uint8_t)e->type);
	if (e->has_dst)
		dst = addr_of(&e->dst, e->family, e->dst_len);
	else
		dst = nl_addr_build((int)e->family, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", e->family == AF_INET6 ? 16 : 4);
	if (!dst)
		goto out;
	nl_addr_set_prefixlen(dst, (int)e->dst_len);
	rtnl_route_set_dst(rt, dst);
	if (e->has_priority)
		rtnl_route_set_priority(rt, e->priority);
	if (e->has_prefsrc && (x = addr_of(&e->prefsrc, e->family, 0))) {
		rtnl_route_set_pref_src(rt, x);
		nl_addr_put(x);
	}
	if (e->has_oif || e->has_gateway) {
		struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
		if (!nh)
			goto out;
		if (e->has_oif)
			rtnl_route_nh_set_ifindex(nh, (int)e->oif);
		if (e->has_gateway && (x = addr_of(&e->gateway, e->family, 0))) {
			rtnl_route_nh_set_gateway(nh, x);
			nl_addr_put(x);
		}
		rtnl_route_add_nexthop(rt, nh);
	}
	r = rtnl_route_add(s, rt, NLM_F_CREATE);
	if (r == -NLE_EXIST)
		r = 0;
out:
	if (r < 0)
		ns_set_err(err, errlen, "can't add a route (family %u, table %u, to /%u via link %u): %s", e->family,
			   e->table, e->dst_len, e->oif, nl_geterror(r));
	if (dst)
		nl_addr_put(dst);
	if (rt)
		rtnl_route_put(rt);
	return r < 0 ? -1 : 0;
}

int ns_net_restore(const NsEntry *ne, char *err, size_t errlen)
{
	const NsNetEntry *n = ne->net;
	cleanup_nlsock struct nl_sock *s = route_sock();

	if (!s) {
		ns_set_err(err, errlen, "can't open a route netlink socket");
		return -1;
	}
	for (size_t i = 0; i < n->n_vars; i++) {
		bool known = false;
		for (size_t k = 0; k < ARRAY_SIZE(net_vars) && !known; k++)
			known = !strcmp(n->vars[i]->name, net_vars[k]);
		if (!known || ns_sysctl_set(n->vars[i]->name, n->vars[i]->value) < 0) {
			ns_set_err(err, errlen, "can't set %s to '%s': %s", n->vars[i]->name, n->vars[i]->value,
				   known ? strerror(errno) : "not a value of the namespace");
			return -1;
		}
	}
	for (size_t i = 0; i < n->n_links; i++)
		if (strcmp(n->links[i]->kind, "loopback") && create_link(s, n, n->links[i], err, errlen) < 0)
			return -1;
	for (size_t i = 0; i < n->n_links; i++)
		if (link_flags(s, n->links[i], err, errlen) < 0)
			return -1;
	for (size_t i = 0; i < n->n_addrs; i++)
		if (add_addr(s, n->addrs[i], err, errlen) < 0)
			return -1;
	for (size_t i = 0; i < n->n_routes; i++)
		if (add_route(s, n->routes[i], err, errlen) < 0)
			return -1;
	return 0;
}
