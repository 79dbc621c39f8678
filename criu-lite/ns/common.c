/* What the namespace modules share (see common.h). */
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define LOG_PREFIX "ns: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/ns/common.h"
#include "criu-lite/restore-ctx.h"

static const struct ns_kind_info kinds[NS_KIND_MAX + 1] = {
	[NS_KIND_PID] = { "pid", CLONE_NEWPID },  [NS_KIND_MNT] = { "mnt", CLONE_NEWNS },
	[NS_KIND_NET] = { "net", CLONE_NEWNET },  [NS_KIND_IPC] = { "ipc", CLONE_NEWIPC },
	[NS_KIND_UTS] = { "uts", CLONE_NEWUTS },  [NS_KIND_CGROUP] = { "cgroup", CLONE_NEWCGROUP },
	[NS_KIND_TIME] = { "time", CLONE_NEWTIME },
};

const struct ns_kind_info *ns_kind(unsigned kind)
{
	return kind >= 1 && kind <= NS_KIND_MAX ? &kinds[kind] : NULL;
}

int ns_ino_of(pid_t pid, const char *name, uint64_t *ret)
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

int ns_enter(pid_t pid, unsigned kind, struct ns_back *ret)
{
	const struct ns_kind_info *k = ns_kind(kind);
	char path[64];
	cleanup_close int back = -1, fd = -1;

	ret->fd = -1;
	snprintf(path, sizeof(path), "/proc/self/ns/%s", k->name);
	back = open(path, O_RDONLY | O_CLOEXEC);
	if (back < 0) {
		pr_perror("can't open %s", path);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, k->name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pr_perror("can't open %s", path);
		return -1;
	}
	if (setns(fd, (int)k->clone_flag) < 0) {
		pr_perror("can't enter the %s namespace of pid %d", k->name, pid);
		return -1;
	}
	ret->fd = steal_fd(&back);
	ret->flag = k->clone_flag;
	return 0;
}

int ns_return(struct ns_back *b)
{
	int ret = 0;

	if (b->fd < 0)
		return 0;
	if (setns(b->fd, (int)b->flag) < 0) {
		pr_perror("can't return to our own namespace (flag 0x%x)", b->flag);
		ret = -1;
	}
	closep(&b->fd);
	return ret;
}

char *ns_sysctl_get(const char *name)
{
	char path[256];
	char *s;

	snprintf(path, sizeof(path), "/proc/sys/%s", name);
	s = read_file_str(AT_FDCWD, path, 4096, NULL);
	if (s)
		s[strcspn(s, "\n")] = '\0';
	return s;
}

int ns_sysctl_set(const char *name, const char *value)
{
	char path[256];
	cleanup_close int fd = -1;

	snprintf(path, sizeof(path), "/proc/sys/%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write_all(fd, value, strlen(value)) < 0)
		return -1;
	return 0;
}

void ns_set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

int ns_rst_take_pty(struct rst_ctx *ctx, uint32_t index)
{
	int fd;

	if (!ctx->ns || ctx->ns->pty_master < 0 || ctx->ns->pty_index != index)
		return -1;
	fd = ctx->ns->pty_master;
	ctx->ns->pty_master = -1;
	return fd;
}
