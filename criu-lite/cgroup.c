/* Cgroup membership of a dumped tree (see cgroup.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "cgroup: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/cgroup.h"

void cg_free(char **lines, size_t nr)
{
	for (size_t i = 0; lines && i < nr; i++)
		free(lines[i]);
	free(lines);
}

int cg_read(pid_t pid, char ***ret_lines, size_t *ret_nr)
{
	char path[48], *save = NULL;
	cleanup_free char *text = NULL;
	char **lines = NULL;
	size_t nr = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/cgroup");
	text = read_file_str(AT_FDCWD, path, 1 << 16, NULL);
	if (!text)
		return -1;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char **nl = realloc(lines, (nr + 1) * sizeof(*lines));
		if (!nl || !(nl[nr] = strdup(l))) {
			pr_perror("can't keep %s", path);
			cg_free(nl ? nl : lines, nr);
			return -1;
		}
		lines = nl;
		nr++;
	}
	*ret_lines = lines;
	*ret_nr = nr;
	return 0;
}

/* The controllers field ("cpu,cpuacct", "name=systemd", "" for v2) and the path of a
 * line "ID:CONTROLLERS:PATH", copied into ctrls (size len). NULL if malformed. */
static const char *split_line(const char *line, char *ctrls, size_t len)
{
	const char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;

	if (!b || (size_t)(b - a - 1) >= len)
		return NULL;
	memcpy(ctrls, a + 1, b - a - 1);
	ctrls[b - a - 1] = '\0';
	return b + 1;
}

/* Whether a --cgroup-root controller name names the hierarchy with these controllers:
 * the whole field, one of its controllers, or a named hierarchy without "name=". */
static bool ctrl_matches(const char *want, const char *ctrls)
{
	char buf[256], *save = NULL;

	if (!strcmp(want, ctrls))
		return true;
	if (!*want || !*ctrls || strlen(ctrls) >= sizeof(buf))
		return false;
	strcpy(buf, ctrls);
	for (char *c = strtok_r(buf, ",", &save); c; c = strtok_r(NULL, ",", &save))
		if (!strcmp(c, want) || (!strncmp(c, "name=", 5) && !strcmp(c + 5, want)))
			return true;
	return false;
}

static bool managed(const struct cr_options *o)
{
	return o->manage_cgroups_set && o->manage_cgroups != CR_CG_IGNORE && o->manage_cgroups != CR_CG_NONE;
}

/* --freeze-cgroup: every process in it is one of pids. */
static int check_freeze_cgroup(const char *dir, const pid_t *pids, size_t nr)
{
	char path[4096], *save = NULL;
	cleanup_free char *text = NULL;

	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path)) {
		pr_err("--freeze-cgroup %s: the path is too long\n", dir);
		errno = ENAMETOOLONG;
		return -1;
	}
	text = read_file_str(AT_FDCWD, path, 16 << 20, NULL);
	if (!text)
		return -1;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		uint64_t p;
		bool in = false;
		if (parse_u64(l, 10, &p) < 0) {
			pr_err("--freeze-cgroup: %s holds '%s', not a pid\n", path, l);
			errno = EIO;
			return -1;
		}
		for (size_t i = 0; i < nr && !in; i++)
			in = (uint64_t)pids[i] == p;
		if (!in) {
			pr_err("pid %" PRIu64 " is in the cgroup %s but not in the tree under pid %d: criu-lite "
			       "dumps the root's descendants only\n",
			       p, dir, pids[0]);
			errno = ENOTSUP;
			return -1;
		}
	}
	pr_info("every process in %s is in the tree\n", dir);
	return 0;
}

static bool same_lines(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

int cg_dump_check(const struct cr_options *o, const pid_t *pids, size_t nr, char ***ret_lines,
		  size_t *ret_nr)
{
	char **root = NULL;
	size_t nroot = 0;

	*ret_lines = NULL;
	*ret_nr = 0;
	if (o->freeze_cgroup && check_freeze_cgroup(o->freeze_cgroup, pids, nr) < 0)
		return -1;
	if (!managed(o))
		return 0;
	if (cg_read(pids[0], &root, &nroot) < 0)
		return -1;
	for (size_t i = 1; i < nr; i++) {
		char **l = NULL;
		size_t n = 0;
		bool same;
		if (cg_read(pids[i], &l, &n) < 0) {
			cg_free(root, nroot);
			return -1;
		}
		same = same_lines(root, nroot, l, n);
		cg_free(l, n);
		if (!same) {
			pr_err("pid %d is not in the cgroups of the root %d: criu-lite restores one set of "
			       "cgroups for the whole tree\n",
			       pids[i], pids[0]);
			cg_free(root, nroot);
			errno = ENOTSUP;
			return -1;
		}
	}
	*ret_lines = root;
	*ret_nr = nroot;
	return 0;
}

/* Where the tasks of a dumped hierarchy belong: its --cgroup-root, else the dumped path. */
static const char *target_path(const struct cr_options *o, const char *ctrls, const char *dumped)
{
	const char *all = NULL;

	for (size_t i = 0; i < o->nr_cg_root; i++) {
		if (!o->cg_root[i].ctrl)
			all = o->cg_root[i].path;
		else if (ctrl_matches(o->cg_root[i].ctrl, ctrls))
			return o->cg_root[i].path;
	}
	return all ? all : dumped;
}

int cg_restore_check(const struct cr_options *o, char *const *lines, size_t nr)
{
	char **mine = NULL;
	size_t nmine = 0;
	int ret = -1;

	if (!managed(o))
		return 0;
	if (!nr) {
		pr_info("the dump recorded no cgroups: the tasks stay in ours\n");
		return 0;
	}
	if (cg_read(0, &mine, &nmine) < 0)
		return -1;
	for (size_t i = 0; i < nr; i++) {
		char ctrls[256], c2[256];
		const char *dumped = split_line(lines[i], ctrls, sizeof(ctrls)), *ours = NULL, *want;
		if (!dumped) {
			pr_err("the inventory's cgroup line '%s' is malformed\n", lines[i]);
			errno = EBADMSG;
			goto out;
		}
		for (size_t k = 0; k < nmine && !ours; k++) {
			const char *p = split_line(mine[k], c2, sizeof(c2));
			if (p && !strcmp(c2, ctrls))
				ours = p;
		}
		want = target_path(o, ctrls, dumped);
		if (!ours) {
			pr_err("cgroup %s: this machine has no such hierarchy; the tasks were in %s\n",
			       *ctrls ? ctrls : "v2", dumped);
			errno = ENOTSUP;
			goto out;
		}
		if (strcmp(ours, want)) {
			pr_err("cgroup %s: the tasks would be restored into %s, where criu-lite runs, not %s: "
			       "criu-lite does not move tasks between cgroups yet\n",
			       *ctrls ? ctrls : "v2", ours, want);
			errno = ENOTSUP;
			goto out;
		}
	}
	pr_info("the tasks are restored into the cgroups they belong to (%zu hierarchies)\n", nr);
	ret = 0;
out:
	cg_free(mine, nmine);
	return ret;
}
