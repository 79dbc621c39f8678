/* Helpers shared by the fd kinds. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

#define DELETED_SUFFIX " (deleted)"

bool files_strip_deleted(char *path)
{
	size_t n = strlen(path), d = strlen(DELETED_SUFFIX);

	if (n > d && !strcmp(path + n - d, DELETED_SUFFIX)) {
		path[n - d] = '\0';
		return true;
	}
	return false;
}

int fdinfo_u64(const char *text, const char *name, int base, uint64_t *ret)
{
	size_t n = strlen(name);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		char num[32];
		size_t k = 0;
		const char *p;
		if (strncmp(l, name, n) || l[n] != ':')
			continue;
		p = l + n + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		while (k + 1 < sizeof(num) && p[k] && p[k] != '\n' && p[k] != ' ' && p[k] != '\t') {
			num[k] = p[k];
			k++;
		}
		num[k] = '\0';
		return parse_u64(num, base, ret);
	}
	errno = ENOENT;
	return -1;
}

int fdinfo_pair(const char *text, const char *name, uint64_t *ret_a, uint64_t *ret_b)
{
	size_t n = strlen(name);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		unsigned long long a, b;
		if (strncmp(l, name, n) || l[n] != ':')
			continue;
		if (sscanf(l + n + 1, " (%llu, %llu)", &a, &b) != 2)
			break;
		*ret_a = a;
		*ret_b = b;
		return 0;
	}
	errno = ENOENT;
	return -1;
}

void *files_zalloc(size_t size, const char *what)
{
	void *p = calloc(1, size);

	if (!p)
		pr_perror("can't allocate %s", what);
	return p;
}

int files_reopen(int fd, int flags, const char *what)
{
	char path[64];
	int n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = open(path, flags | O_CLOEXEC);
	if (n < 0)
		pr_perror("can't reopen %s", what);
	return n;
}

#define STATUS_FLAGS (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)

int files_set_status_flags(int fd, uint32_t flags, const char *what)
{
	int now = fcntl(fd, F_GETFL);

	if (now < 0) {
		pr_perror("can't get the flags of %s", what);
		return -1;
	}
	if ((now & STATUS_FLAGS) == (int)(flags & STATUS_FLAGS))
		return 0;
	if (fcntl(fd, F_SETFL, (now & ~STATUS_FLAGS) | (flags & STATUS_FLAGS)) < 0) {
		pr_perror("can't set the flags 0%o of %s", flags & STATUS_FLAGS, what);
		return -1;
	}
	return 0;
}

int dump_file_data_add(struct dump_ctx *ctx, FileDataEntry *rec)
{
	if (ctx->nr_file_data == ctx->cap_file_data) {
		size_t ncap = ctx->cap_file_data ? ctx->cap_file_data * 2 : 32;
		FileDataEntry **n = realloc(ctx->file_data, ncap * sizeof(*n));
		if (!n) {
			pr_perror("can't grow the file data list");
			file_data_entry__free_unpacked(rec, NULL);
			return -1;
		}
		ctx->file_data = n;
		ctx->cap_file_data = ncap;
	}
	ctx->file_data[ctx->nr_file_data++] = rec;
	return 0;
}

int dump_inflight_add(struct dump_ctx *ctx, int fd, uint32_t *slot)
{
	if (ctx->nr_inflight == ctx->cap_inflight) {
		size_t ncap = ctx->cap_inflight ? ctx->cap_inflight * 2 : 16;
		struct dump_inflight *n = realloc(ctx->inflight, ncap * sizeof(*n));
		if (!n) {
			pr_perror("can't grow the list of fds in flight");
			close(fd);
			return -1;
		}
		ctx->inflight = n;
		ctx->cap_inflight = ncap;
	}
	ctx->inflight[ctx->nr_inflight++] = (struct dump_inflight){ fd, slot };
	return 0;
}

int files_kcmp(pid_t p1, int fd1, pid_t p2, int fd2)
{
	long r = syscall(SYS_kcmp, p1, p2, KCMP_FILE, fd1, fd2);

	return r < 0 ? -1 : (int)r;
}

int dump_files_of_kind(struct dump_ctx *ctx, const struct fd_ops *ops, int (*cmp)(const void *, const void *),
		       struct dump_file ***ret_v, size_t *ret_n)
{
	struct dump_file **v;
	size_t n = 0;

	for (size_t i = 0; i < ctx->nr_files; i++)
		n += ctx->files[i].ops == ops;
	*ret_v = NULL;
	*ret_n = 0;
	if (!n)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v) {
		pr_perror("can't allocate the list of each %s", ops->name);
		return -1;
	}
	n = 0;
	for (size_t i = 0; i < ctx->nr_files; i++)
		if (ctx->files[i].ops == ops)
			v[n++] = &ctx->files[i];
	qsort(v, n, sizeof(*v), cmp);
	*ret_v = v;
	*ret_n = n;
	return 0;
}
