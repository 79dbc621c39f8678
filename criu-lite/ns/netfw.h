/*
 * Firewall rules of a network namespace criu-lite owns are not carried: the dump
 * refuses a namespace that holds any nftables table, or a legacy iptables/ip6tables
 * table with a rule or a policy other than ACCEPT, naming it. Runs inside the
 * namespace (the sockets and /proc/thread-self/net are its).
 */
#ifndef CRIU_LITE_NS_NETFW_H
#define CRIU_LITE_NS_NETFW_H

#include <sys/types.h>

/* 0 when the namespace the caller is in has no firewall state, else -1 (logged). */
int ns_netfw_check(pid_t pid);

#endif
