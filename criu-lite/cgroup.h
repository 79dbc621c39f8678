/*
 * Cgroups of a dumped tree, as far as criu-lite carries them: membership, never
 * properties, and no task is moved between cgroups.
 *
 * With --manage-cgroups (soft, or CRIU's default, which is soft; what runc always asks
 * for) a dump records the root's cgroups (/proc/PID/cgroup lines, in the inventory) and
 * requires every task to share them; a restore requires that the cgroups it runs in
 * (which the tasks inherit) are those, each re-rooted by --cgroup-root where given. So
 * the tasks end up where CRIU would put them, or the restore fails saying which
 * controller differs. A container runtime puts the restoring process into the
 * container's cgroups first (runc does), which is what makes this hold.
 *
 * --freeze-cgroup DIR at dump: every process in that cgroup must be in the tree (CRIU
 * dumps what the cgroup holds; criu-lite dumps the root's descendants, so anything else
 * in the cgroup would be lost).
 */
#ifndef CRIU_LITE_CGROUP_H
#define CRIU_LITE_CGROUP_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/options.h"

/* The lines of /proc/PID/cgroup (pid 0: ours), without newlines. 0 or -1 (logged). */
int cg_read(pid_t pid, char ***ret_lines, size_t *ret_nr);
void cg_free(char **lines, size_t nr);

/* Dump: what the options ask about the cgroups of the tree (pids[0] the root). With
 * --manage-cgroups, *ret_lines gets the root's cgroups for the inventory (else NULL).
 * 0 or -1 (logged). */
int cg_dump_check(const struct cr_options *o, const pid_t *pids, size_t nr, char ***ret_lines,
		  size_t *ret_nr);

/* Restore: with --manage-cgroups, the dumped cgroups (lines) re-rooted by --cgroup-root
 * must be ours. 0 or -1 (logged, naming the hierarchy). */
int cg_restore_check(const struct cr_options *o, char *const *lines, size_t nr);

#endif
