/*
 * The cgroup namespace. The tree's cgroups are the runtime's: restore keeps the tasks
 * where the restoring process is, and a tree with its own cgroup namespace gets a new
 * one rooted there (CLONE_NEWCGROUP). Dump checks that every task is in the root's
 * cgroups (a task in a sub-cgroup could not be put back).
 */
#ifndef CRIU_LITE_NS_CGROUP_H
#define CRIU_LITE_NS_CGROUP_H

#include <sys/types.h>

#include "criu-lite/ns/common.h"
#include "criu-lite/seize.h"

/* Dump the cgroup namespace (inode ino) of the tree. 0 or -1 (logged). */
int ns_cgroup_dump(const struct seize_tree *tree, uint64_t ino, struct img *img);

#endif
