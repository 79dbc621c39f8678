/*
 * The network namespace, when criu-lite owns it (neither --external nor --empty-ns):
 * its links (loopback, dummy, veth pairs with both ends inside), their flags, MTUs
 * and addresses, IPv4/IPv6 addresses, routes (those the kernel does not make by
 * itself), and net/ipv4/ip_forward, through libnl. Any other kind of link is an error
 * at dump, naming it; so are firewall rules (netfw.h). Sockets' state is not part of it.
 */
#ifndef CRIU_LITE_NS_NET_H
#define CRIU_LITE_NS_NET_H

#include <stddef.h>
#include <sys/types.h>

#include "criu-lite/ns/common.h"

/* Dump pid's net namespace (inode ino) into ns.img. 0 or -1 (logged). */
int ns_net_dump(pid_t pid, uint64_t ino, struct img *img);
/* Restore, inside the new namespace. 0 or -1 (message in err). */
int ns_net_restore(const NsEntry *e, char *err, size_t errlen);

#endif
