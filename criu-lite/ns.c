/* Namespaces of a dumped tree; what restore joins or creates (see ns.h). */
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "ns: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/ns.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct ns_kind {
	const char *name; /* in /proc/PID/ns/ and CRIU's --join-ns */
	unsigned flag;
} kinds[] = {
	{ "mnt", CLONE_NEWNS },	   { "pid", CLONE_NEWPID },	  { "net", CLONE_NEWNET },
	{ "ipc", CLONE_NEWIPC },   { "uts", CLONE_NEWUTS },	  { "cgroup", CLONE_NEWCGROUP },
	{ "user", CLONE_NEWUSER }, { "time", CLONE_NEWTIME },
};

/* The inode of /proc/PID/ns/NAME (pid 0: ours). 0, 1 when the kernel has no such
 * namespace, -1 (logged) when it can't be read. */
static int ns_ino(pid_t pid, const char *name, ino_t *ret)
{
	char path[64];
	struct stat st;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, name);
	else
		snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	if (stat(path, &st) < 0) {
		if (errno == ENOENT && !pid)
			return 1;
		pr_perror("can't read %s", path);
		return -1;
	}
	*ret = st.st_ino;
	return 0;
}

int ns_dump_check(const struct cr_options *o, const pid_t *pids, size_t nr, unsigned *ret_own)
{
	unsigned own = 0;

	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		ino_t mine, root_ino = 0;
		int r = ns_ino(0, kinds[k].name, &mine);

		if (r < 0)
			return -1;
		if (r > 0)
			continue; /* this kernel has no such namespace */
		for (size_t i = 0; i < nr; i++) {
			ino_t its;
			if (ns_ino(pids[i], kinds[k].name, &its) < 0)
				return -1;
			if (i == 0)
				root_ino = its;
			if (its == mine)
				continue;
			if (kinds[k].flag == CLONE_NEWNET && its == root_ino && (o->empty_ns & CR_CLONE_NEWNET)) {
				own |= CLONE_NEWNET;
				continue;
			}
			if (kinds[k].flag == CLONE_NEWNET && i == 0) {
				pr_err("pid %d is in its own network namespace (net:[%lu]): its links, addresses and "
				       "routes are not dumped yet; --empty-ns net (RPC empty_ns) dumps it empty\n",
				       pids[i], (unsigned long)its);
			} else {
				pr_err("pid %d is in another %s namespace (%s:[%lu], criu-lite's is [%lu]): %s "
				       "namespaces are not dumped yet\n",
				       pids[i], kinds[k].name, kinds[k].name, (unsigned long)its, (unsigned long)mine,
				       kinds[k].name);
			}
			errno = ENOTSUP;
			return -1;
		}
	}
	if (own)
		pr_info("the root has its own network namespace, dumped empty\n");
	*ret_own = own;
	return 0;
}

static const struct ns_kind *kind_by_name(const char *name)
{
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
		if (!strcmp(kinds[k].name, name))
			return &kinds[k];
	return NULL;
}

static bool joins(const struct cr_options *o, const char *name)
{
	for (size_t i = 0; i < o->nr_join_ns; i++)
		if (!strcmp(o->join_ns[i].ns, name))
			return true;
	return false;
}

unsigned ns_restore_flags(const struct cr_options *o, bool own_net)
{
	return own_net && !joins(o, "net") ? CLONE_NEWNET : 0;
}

int ns_restore_join(const struct cr_options *o)
{
	for (size_t i = 0; i < o->nr_join_ns; i++) {
		const struct cr_join_ns *j = &o->join_ns[i];
		const struct ns_kind *k = kind_by_name(j->ns);
		cleanup_close int fd = -1;

		/* cr_options_refuse keeps out all but these */
		if (!k || (k->flag != CLONE_NEWNET && k->flag != CLONE_NEWUTS && k->flag != CLONE_NEWIPC)) {
			pr_err("--join-ns %s: only net, uts and ipc namespaces can be joined\n", j->ns);
			errno = ENOTSUP;
			return -1;
		}
		if (j->extra) {
			pr_err("--join-ns %s:%s,%s: extra options are for the user namespace only\n", j->ns,
			       j->path, j->extra);
			errno = EINVAL;
			return -1;
		}
		fd = open(j->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			pr_perror("--join-ns %s: can't open %s", j->ns, j->path);
			return -1;
		}
		if (setns(fd, (int)k->flag) < 0) {
			pr_perror("--join-ns %s: can't join the namespace at %s", j->ns, j->path);
			return -1;
		}
		pr_info("joined the %s namespace at %s\n", j->ns, j->path);
	}
	return 0;
}
