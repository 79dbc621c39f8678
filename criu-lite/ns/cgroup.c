/* The cgroup namespace (see cgroup.h). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#define LOG_PREFIX "ns/cgroup: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/ns/cgroup.h"

#define MAX_CGROUP_LINES 64

static char *read_cgroups(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	return read_file_str(AT_FDCWD, path, 1 << 16, NULL);
}

int ns_cgroup_dump(const struct seize_tree *tree, uint64_t ino, struct img *img)
{
	NsEntry ne = NS_ENTRY__INIT;
	NsCgroupEntry ce = NS_CGROUP_ENTRY__INIT;
	cleanup_free char *root = read_cgroups(seize_proc_pid(&tree->tasks[0]));
	char *lines[MAX_CGROUP_LINES], *save = NULL;
	size_t n = 0;

	if (!root)
		return -1;
	for (size_t i = 1; i < tree->nr_tasks; i++) {
		cleanup_free char *its = tree->tasks[i].zombie ? NULL : read_cgroups(seize_proc_pid(&tree->tasks[i]));
		if (tree->tasks[i].zombie)
			continue; /* a zombie is in no cgroup any more */
		if (!its)
			return -1;
		if (strcmp(its, root)) {
			pr_err("pid %d is not in the cgroups of the root %d (its /proc/PID/cgroup differs): the "
			       "restored tree lives in the cgroups of the restoring process only\n",
			       tree->tasks[i].pid, tree->tasks[0].pid);
			errno = ENOTSUP;
			return -1;
		}
	}
	for (char *l = strtok_r(root, "\n", &save); l && n < MAX_CGROUP_LINES; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	ce.roots = lines;
	ce.n_roots = n;
	ne.kind = NS_KIND_CGROUP;
	ne.has_ino = true;
	ne.ino = ino;
	ne.cgroup = &ce;
	return img_write(img, &ne);
}
