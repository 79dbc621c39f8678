/*
 * Namespaces of a dumped tree, and the ones a restore joins or creates.
 *
 * criu-lite carries no namespace contents yet. A tree must live in criu-lite's own
 * namespaces, except for its network namespace, which may be the root's own when it is
 * dumped empty (--empty-ns net, the RPC's empty_ns; CRIU's meaning: its links,
 * addresses and routes are not dumped, and restore gives the tree a new namespace with
 * nothing in it). Anything else is a clear error at dump, naming the task and the
 * namespace. Restore can join existing net, uts and ipc namespaces (--join-ns).
 */
#ifndef CRIU_LITE_NS_H
#define CRIU_LITE_NS_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/options.h"

/*
 * Dump: check the namespaces of every task (pids[0] is the root) against ours.
 * *ret_own = the CLONE_NEW* flags of the namespaces the root has of its own (today
 * at most CR_CLONE_NEWNET). 0 or -1 (logged).
 */
int ns_dump_check(const struct cr_options *o, const pid_t *pids, size_t nr, unsigned *ret_own);

/*
 * Restore: the CLONE_NEW* flags to create the root with, for the namespaces the dump
 * says it had of its own (own_net: the inventory's empty network namespace), unless
 * --join-ns joins one instead.
 */
unsigned ns_restore_flags(const struct cr_options *o, bool own_net);

/* Restore: join the --join-ns namespaces (this process, before the root is created, so
 * that the tree inherits them). 0 or -1 (logged). */
int ns_restore_join(const struct cr_options *o);

#endif
