/*
 * inotify: every watch with its mask, the watched inode found again by its file
 * handle (open_by_handle_at on a mount of its filesystem), or by the path it had at
 * dump. Watches come back with the same numbers: they are added in order, and a gap
 * is skipped by adding and removing a watch on a memfd of our own. Events queued at
 * dump are dropped, as CRIU drops them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"

#define MAX_HANDLE 128

/* One "inotify wd:... ino:... sdev:... mask:... ignored_mask:... fhandle-bytes:...
 * fhandle-type:... f_handle:..." line; the handle's bytes into handle (MAX_HANDLE). */
int inotify_parse_wd(const char *line, InotifyWdEntry *ret, uint8_t *handle, size_t *ret_hlen)
{
	unsigned wd, sdev, mask, imask, hbytes, htype;
	unsigned long ino;
	char hex[2 * MAX_HANDLE + 1];

	if (sscanf(line, "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x fhandle-bytes:%x fhandle-type:%x "
			 "f_handle:%256s",
		   &wd, &ino, &sdev, &mask, &imask, &hbytes, &htype, hex) != 8)
		return -1;
	if (hbytes > MAX_HANDLE || strlen(hex) != 2 * (size_t)hbytes)
		return -1;
	for (unsigned i = 0; i < hbytes; i++) {
		unsigned b;
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -1;
		handle[i] = (uint8_t)b;
	}
	ret->wd = wd;
	ret->mask = mask;
	ret->has_ignored_mask = ret->has_ino = ret->has_s_dev = ret->has_handle_type = true;
	ret->ignored_mask = imask;
	ret->ino = ino;
	ret->s_dev = sdev;
	ret->handle_type = htype;
	*ret_hlen = hbytes;
	return 0;
}

/* A mount of the filesystem whose kernel dev_t is sdev (its root if one shows it). */
static int mount_of(uint32_t sdev)
{
	cleanup_free char *mi = read_file_str(AT_FDCWD, "/proc/self/mountinfo", 1 << 22, NULL);
	char best[PROC_PATH_MAX] = "";
	unsigned maj = sdev >> 20, min = sdev & 0xfffff;

	if (!mi)
		return -1;
	for (char *l = mi; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		unsigned a, b;
		char root[PROC_PATH_MAX], mnt[PROC_PATH_MAX];
		if (sscanf(l, "%*u %*u %u:%u %4095s %4095s", &a, &b, root, mnt) != 4 || a != maj || b != min)
			continue;
		if (!best[0] || !strcmp(root, "/"))
			snprintf(best, sizeof(best), "%s", mnt);
		if (!strcmp(root, "/"))
			break;
	}
	if (!best[0]) {
		errno = ENOENT;
		return -1;
	}
	return open(best, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* not O_PATH: open_by_handle_at refuses it */
}

/* The watched inode of w, by its handle: an O_PATH fd, or -1 (errno). */
static int open_handle(const InotifyWdEntry *w)
{
	cleanup_close int mfd = -1;
	struct {
		struct file_handle fh;
		uint8_t b[MAX_HANDLE];
	} h;

	if (!w->has_handle || w->handle.len > MAX_HANDLE)
		return -1;
	mfd = mount_of(w->s_dev);
	if (mfd < 0)
		return -1;
	h.fh.handle_bytes = (unsigned)w->handle.len;
	h.fh.handle_type = (int)w->handle_type;
	memcpy(h.fh.f_handle, w->handle.data, w->handle.len);
	return open_by_handle_at(mfd, &h.fh, O_PATH | O_CLOEXEC);
}

static int inotify_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	InotifyEntry *e = files_zalloc(sizeof(*e), "an inotify entry");
	size_t cap = 0;

	(void)ctx;
	if (!e)
		return -1;
	inotify_entry__init(e);
	f->fe->inotify = e;
	e->has_flags = true;
	e->flags = p->flags;
	for (const char *l = p->fdinfo; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		uint8_t handle[MAX_HANDLE];
		size_t hlen;
		InotifyWdEntry *w;
		int fd;

		if (strncmp(l, "inotify wd:", 11))
			continue;
		if (e->n_wds == cap) {
			InotifyWdEntry **n;
			cap = cap ? cap * 2 : 8;
			n = realloc(e->wds, cap * sizeof(*n));
			if (!n) {
				pr_perror("can't grow an inotify list");
				return -1;
			}
			e->wds = n;
		}
		w = files_zalloc(sizeof(*w), "an inotify watch");
		if (!w)
			return -1;
		inotify_wd_entry__init(w);
		e->wds[e->n_wds++] = w;
		if (inotify_parse_wd(l, w, handle, &hlen) < 0) {
			pr_err("fd %d of pid %d: can't parse the inotify line '%.*s'\n", p->fd, p->pid,
			       (int)strcspn(l, "\n"), l);
			errno = EINVAL;
			return -1;
		}
		w->has_handle = true;
		w->handle.len = hlen;
		w->handle.data = malloc(hlen ? hlen : 1);
		if (!w->handle.data) {
			pr_perror("can't copy a file handle");
			return -1;
		}
		memcpy(w->handle.data, handle, hlen);
		/* where it is now, for a restore where the handle does not open */
		fd = open_handle(w);
		if (fd >= 0) {
			char path[64], target[PROC_PATH_MAX];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			if (proc_readlink(path, target, sizeof(target)) == 0 && target[0] == '/' &&
			    !files_strip_deleted(target)) {
				w->path = strdup(target);
				if (!w->path) {
					pr_perror("can't copy a path");
					close(fd);
					return -1;
				}
			}
			close(fd);
		} else {
			pr_warn("fd %d of pid %d: inotify watch %u: its file handle does not open (%s); restore "
				"needs it to\n", p->fd, p->pid, w->wd, strerror(errno));
		}
	}
	return 0;
}

/* Skip watch numbers up to (not including) want: add and remove a watch on a memfd. */
static int skip_wds(int ifd, int *next, uint32_t want, const char *what)
{
	char path[64];
	cleanup_close int mfd = -1;

	if ((uint32_t)*next >= want)
		return 0;
	mfd = memfd_create("criu-lite-inotify", MFD_CLOEXEC);
	if (mfd < 0) {
		pr_perror("can't create a memfd to number the watches of %s", what);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	while ((uint32_t)*next < want) {
		int wd = inotify_add_watch(ifd, path, IN_ATTRIB);
		if (wd < 0 || inotify_rm_watch(ifd, wd) < 0) {
			pr_perror("can't skip watch %d of %s", *next, what);
			return -1;
		}
		*next = wd + 1;
	}
	return 0;
}

static int add_watch(int ifd, const InotifyWdEntry *w, const char *what)
{
	cleanup_close int fd = open_handle(w);
	char path[64];
	const char *target = w->path;
	int wd;

	if (fd >= 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		target = path;
	} else if (!target) {
		pr_perror("%s: watch %u: the file handle of its inode does not open", what, w->wd);
		return -1;
	}
	wd = inotify_add_watch(ifd, target, w->mask);
	if (wd < 0) {
		pr_perror("%s: can't add watch %u on %s", what, w->wd, w->path ? w->path : target);
		return -1;
	}
	if ((uint32_t)wd != w->wd) {
		pr_err("%s: watch %u came back as %d\n", what, w->wd, wd);
		errno = EINVAL;
		return -1;
	}
	return wd;
}

static int cmp_wd(const void *a, const void *b)
{
	const InotifyWdEntry *x = *(const InotifyWdEntry *const *)a, *y = *(const InotifyWdEntry *const *)b;
	return x->wd < y->wd ? -1 : x->wd > y->wd;
}

static int inotify_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const InotifyEntry *e = rf->fe->inotify;
	cleanup_close int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	cleanup_free InotifyWdEntry **v = NULL;
	char what[48], buf[4096];
	int next = 1;

	(void)ctx;
	snprintf(what, sizeof(what), "inotify %u", rf->fe->id);
	if (fd < 0) {
		pr_perror("can't create %s", what);
		return -1;
	}
	v = malloc((e->n_wds ? e->n_wds : 1) * sizeof(*v));
	if (!v) {
		pr_perror("can't sort the watches of %s", what);
		return -1;
	}
	if (e->n_wds) { /* e->wds may be NULL */
		memcpy(v, e->wds, e->n_wds * sizeof(*v));
		qsort(v, e->n_wds, sizeof(*v), cmp_wd);
	}
	for (size_t i = 0; i < e->n_wds; i++) {
		int wd;
		if (skip_wds(fd, &next, v[i]->wd, what) < 0)
			return -1;
		wd = add_watch(fd, v[i], what);
		if (wd < 0)
			return -1;
		next = wd + 1;
	}
	/* the IN_IGNORED events of the skipped numbers (and anything else) go */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (files_set_status_flags(fd, e->has_flags ? e->flags : 0, what) < 0)
		return -1;
	rf->fd = steal_fd(&fd);
	return 0;
}

const struct fd_ops inotify_fd_ops = {
	.name = "inotify",
	.type = FILE_TYPE_INOTIFY,
	.link_prefix = "anon_inode:inotify",
	.dump = inotify_dump,
	.open = inotify_open,
};
