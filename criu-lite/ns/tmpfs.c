/* The contents of a tmpfs mount (see tmpfs.h). */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define LOG_PREFIX "ns/tmpfs: "
#include "lib/log.h"
#include "lib/util.h"
#include "images/image.h"
#include "criu-lite/ns/common.h"
#include "criu-lite/ns/tmpfs.h"

#define TMPFS_CHUNK (1u << 20)
#define TMPFS_MAX_DEPTH 256
#define TMPFS_PATH_MAX 4096

/* ---- dump ---- */

struct link_seen {
	uint64_t ino;
	char *path;
};

struct tmpfs_walk {
	struct img *img;
	dev_t dev;
	struct link_seen *links;
	size_t nr_links;
	char *buf;
	uint64_t files, bytes;
	tmpfs_shmem_of_fn shmem_of;
	void *arg;
};

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static int dump_data(struct tmpfs_walk *w, int fd, const char *path, uint64_t size)
{
	off_t off = 0;

	while ((uint64_t)off < size) {
		off_t data = lseek(fd, off, SEEK_DATA), hole;
		if (data < 0) {
			if (errno == ENXIO)
				break;
			pr_perror("%s: SEEK_DATA", path);
			return -1;
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			pr_perror("%s: SEEK_HOLE", path);
			return -1;
		}
		for (off = data; off < hole;) {
			TmpfsFileEntry e = TMPFS_FILE_ENTRY__INIT;
			size_t n = (size_t)MIN((off_t)TMPFS_CHUNK, hole - off);
			ssize_t got = pread(fd, w->buf, n, off);
			if (got < 0) {
				pr_perror("%s: can't read at %lld", path, (long long)off);
				return -1;
			}
			if (got == 0)
				break; /* shrunk under us: it is stopped, but never loop */
			e.path = (char *)path;
			e.has_data_off = e.has_data = true;
			e.data_off = (uint64_t)off;
			e.data.data = (uint8_t *)w->buf;
			e.data.len = (size_t)got;
			if (img_write(w->img, &e) < 0)
				return -1;
			w->bytes += (uint64_t)got;
			off += got;
		}
		if (hole <= data)
			break;
	}
	return 0;
}

static int dump_entry(struct tmpfs_walk *w, int dirfd, const char *name, const char *path, int depth);

/* The extended attributes of an entry (user., trusted., security., POSIX ACLs), read
 * through its directory's fd without following a symlink. */
struct xattrs {
	char list[XATTR_LIST_MAX];
	TmpfsXattr *items;
	TmpfsXattr **ptrs;
	size_t n;
};

static void xattrs_free(struct xattrs *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->items[i].value.data);
	free(x->items);
	free(x->ptrs);
	x->items = NULL;
	x->ptrs = NULL;
	x->n = 0;
}

static int dump_xattrs(int dirfd, const char *name, const char *path, struct xattrs *x, TmpfsFileEntry *e)
{
	char p[PATH_MAX];
	ssize_t len;
	size_t count = 0;

	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dirfd, name);
	len = llistxattr(p, x->list, sizeof(x->list));
	if (len < 0) {
		if (errno == ENOTSUP)
			return 0;
		pr_perror("can't list the extended attributes of %s", path);
		return -1;
	}
	for (ssize_t off = 0; off < len; off += (ssize_t)strlen(x->list + off) + 1)
		count++;
	if (!count)
		return 0;
	x->items = calloc(count, sizeof(*x->items));
	x->ptrs = calloc(count, sizeof(*x->ptrs));
	if (!x->items || !x->ptrs) {
		pr_perror("can't hold the extended attributes of %s", path);
		return -1;
	}
	for (ssize_t off = 0; off < len; off += (ssize_t)strlen(x->list + off) + 1) {
		TmpfsXattr *xa = &x->items[x->n];
		ssize_t vlen = lgetxattr(p, x->list + off, NULL, 0);
		if (vlen < 0 && errno == ENODATA)
			continue; /* removed meanwhile (the tree is frozen: not by it) */
		tmpfs_xattr__init(xa);
		xa->name = x->list + off;
		xa->value.data = malloc(vlen > 0 ? (size_t)vlen : 1);
		if (vlen < 0 || !xa->value.data ||
		    (vlen = lgetxattr(p, xa->name, xa->value.data, (size_t)vlen)) < 0) {
			pr_perror("can't read the extended attribute %s of %s", xa->name, path);
			free(xa->value.data);
			return -1;
		}
		xa->value.len = (size_t)vlen;
		x->ptrs[x->n++] = xa;
	}
	e->xattrs = x->ptrs;
	e->n_xattrs = x->n;
	return 0;
}

static int dump_dir(struct tmpfs_walk *w, int fd, const char *path, int depth)
{
	DIR *d;
	struct dirent *de;
	int ret = 0, dfd = dup(fd);

	if (dfd < 0 || !(d = fdopendir(dfd))) {
		pr_perror("can't read the directory %s", *path ? path : "/");
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	while ((de = readdir(d))) {
		char sub[TMPFS_PATH_MAX];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "/" : "", de->d_name) >= sizeof(sub)) {
			pr_err("%s/%s: path too long\n", path, de->d_name);
			errno = ENAMETOOLONG;
			ret = -1;
			break;
		}
		if (dump_entry(w, fd, de->d_name, sub, depth + 1) < 0) {
			ret = -1;
			break;
		}
	}
	closedir(d);
	return ret;
}

static int dump_entry(struct tmpfs_walk *w, int dirfd, const char *name, const char *path, int depth)
{
	TmpfsFileEntry e = TMPFS_FILE_ENTRY__INIT;
	struct stat st;
	char target[TMPFS_PATH_MAX];
	cleanup_close int fd = -1;

	if (depth > TMPFS_MAX_DEPTH) {
		pr_err("%s: more than %d directories deep\n", path, TMPFS_MAX_DEPTH);
		errno = ELOOP;
		return -1;
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		pr_perror("can't stat %s", path);
		return -1;
	}
	if (st.st_dev != w->dev) {
		pr_err("%s is another filesystem inside the tmpfs\n", path);
		errno = EXDEV;
		return -1;
	}
	e.path = (char *)path;
	e.has_mode = e.has_uid = e.has_gid = e.has_mtime_ns = e.has_atime_ns = true;
	e.mode = st.st_mode;
	e.uid = st.st_uid;
	e.gid = st.st_gid;
	e.mtime_ns = ts_ns(&st.st_mtim);
	e.atime_ns = ts_ns(&st.st_atim);
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		for (size_t i = 0; i < w->nr_links; i++)
			if (w->links[i].ino == st.st_ino) {
				TmpfsFileEntry l = TMPFS_FILE_ENTRY__INIT;
				l.path = (char *)path;
				l.link_to = w->links[i].path;
				return img_write(w->img, &l);
			}
		struct link_seen *nl = realloc(w->links, (w->nr_links + 1) * sizeof(*nl));
		if (!nl) {
			pr_perror("can't remember a hard link");
			return -1;
		}
		w->links = nl;
		nl[w->nr_links].ino = st.st_ino;
		nl[w->nr_links].path = strdup(path);
		if (!nl[w->nr_links].path) {
			pr_perror("can't remember a hard link");
			return -1;
		}
		w->nr_links++;
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFLNK: {
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (n < 0) {
			pr_perror("can't read the link %s", path);
			return -1;
		}
		target[n] = '\0';
		e.target = target;
		break;
	}
	case S_IFCHR:
	case S_IFBLK:
		e.has_rdev = true;
		e.rdev = st.st_rdev;
		break;
	case S_IFREG:
		e.has_size = true;
		e.size = (uint64_t)st.st_size;
		e.shmem_id = w->shmem_of ? w->shmem_of(w->arg, st.st_dev, st.st_ino) : 0;
		e.has_shmem_id = e.shmem_id != 0;
		break;
	case S_IFDIR:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	default:
		pr_err("%s: unknown file type 0%o\n", path, st.st_mode & S_IFMT);
		errno = EINVAL;
		return -1;
	}
	{
		struct xattrs *x = malloc(sizeof(*x));
		int r = -1;
		if (!x) {
			pr_perror("can't read the extended attributes of %s", path);
			return -1;
		}
		x->items = NULL;
		x->ptrs = NULL;
		x->n = 0;
		if (dump_xattrs(dirfd, name, path, x, &e) == 0)
			r = img_write(w->img, &e);
		xattrs_free(x);
		free(x);
		if (r < 0)
			return -1;
	}
	w->files++;
	if (S_ISREG(st.st_mode) && st.st_size && !e.has_shmem_id) {
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
		if (fd < 0)
			fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			pr_perror("can't open %s", path);
			return -1;
		}
		return dump_data(w, fd, path, (uint64_t)st.st_size);
	}
	if (S_ISDIR(st.st_mode)) {
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			pr_perror("can't open the directory %s", path);
			return -1;
		}
		return dump_dir(w, fd, path, depth);
	}
	return 0;
}

int ns_tmpfs_dump(int dfd, uint32_t id, int root_fd, tmpfs_shmem_of_fn shmem_of, void *arg)
{
	struct tmpfs_walk w = { .shmem_of = shmem_of, .arg = arg };
	struct stat st;
	cleanup_img struct img *img = NULL;
	int ret = -1;

	if (fstat(root_fd, &st) < 0) {
		pr_perror("can't stat a tmpfs root");
		return -1;
	}
	w.dev = st.st_dev;
	w.buf = malloc(TMPFS_CHUNK);
	img = img_open(dfd, IMG_TMPFS, O_WRONLY, id);
	if (!w.buf || !img) {
		if (!w.buf)
			pr_perror("can't allocate the tmpfs buffer");
		goto out;
	}
	w.img = img;
	/* the root itself: "" (its mode, owner and times) */
	if (dump_entry(&w, root_fd, ".", "", 0) < 0)
		goto out;
	ret = img_close(steal_pointer(&img));
	pr_info("tmpfs %u: %" PRIu64 " files, %" PRIu64 " bytes of data\n", id, w.files, w.bytes);
out:
	for (size_t i = 0; i < w.nr_links; i++)
		free(w.links[i].path);
	free(w.links);
	free(w.buf);
	return ret;
}

/* ---- restore ---- */

/* A path of the image: relative, no "." or ".." component, no empty component. */
static bool path_ok(const char *p)
{
	const char *s = p;

	if (!*p)
		return true; /* the root */
	if (*p == '/' || strlen(p) >= TMPFS_PATH_MAX)
		return false;
	while (*s) {
		const char *e = strchrnul(s, '/');
		size_t n = (size_t)(e - s);
		if (!n || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s = *e ? e + 1 : e;
	}
	return true;
}

/* The directory holding path, opened beneath root without following any link, and
 * the last component. */
static int open_parent(int root_fd, const char *path, const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	char dir[TMPFS_PATH_MAX];
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };

	if (!slash) {
		*ret_name = path;
		return (int)syscall(SYS_openat2, root_fd, ".", &how, sizeof(how));
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	*ret_name = slash + 1;
	return (int)syscall(SYS_openat2, root_fd, dir, &how, sizeof(how));
}

struct dir_time {
	char *path;
	struct timespec ts[2];
};

static void set_times(struct timespec *ts, const TmpfsFileEntry *e)
{
	ts[0].tv_sec = e->atime_ns / 1000000000LL;
	ts[0].tv_nsec = e->atime_ns % 1000000000LL;
	ts[1].tv_sec = e->mtime_ns / 1000000000LL;
	ts[1].tv_nsec = e->mtime_ns % 1000000000LL;
	if (ts[0].tv_nsec < 0 || ts[1].tv_nsec < 0)
		ts[0].tv_nsec = ts[1].tv_nsec = UTIME_OMIT;
}

/* A regular file's attributes once its data is in (a write would drop
 * security.capability again); any other entry's once it is made. */
static int set_xattrs(int fd, int pfd, const char *name, const TmpfsFileEntry *e, char *err, size_t errlen)
{
	char p[PATH_MAX];

	if (fd < 0)
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", pfd, name);
	for (size_t i = 0; i < e->n_xattrs; i++) {
		const TmpfsXattr *xa = e->xattrs[i];
		int r = fd >= 0 ? fsetxattr(fd, xa->name, xa->value.data, xa->value.len, 0)
				: lsetxattr(p, xa->name, xa->value.data, xa->value.len, 0);
		if (r < 0) {
			ns_set_err(err, errlen, "tmpfs: can't set the extended attribute %s of %s: %s", xa->name, e->path,
				   strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int create_one(int root_fd, const TmpfsFileEntry *e, int *cur_fd, struct dir_time **dirs, size_t *nr_dirs,
		      char *err, size_t errlen)
{
	const char *name;
	cleanup_close int pfd = open_parent(root_fd, e->path, &name);
	mode_t mode = e->mode, perm = mode & 07777;
	bool is_root = !*e->path;
	int r = 0;

	if (pfd < 0) {
		ns_set_err(err, errlen, "tmpfs: can't open the directory of %s: %s", e->path, strerror(errno));
		return -1;
	}
	if (is_root)
		name = ".";
	if (e->link_to) {
		const char *lname;
		cleanup_close int lfd = path_ok(e->link_to) ? open_parent(root_fd, e->link_to, &lname) : -1;
		if (lfd < 0 || linkat(lfd, lname, pfd, name, 0) < 0) {
			ns_set_err(err, errlen, "tmpfs: can't link %s to %s: %s", e->path, e->link_to, strerror(errno));
			return -1;
		}
		return 0;
	}
	switch (mode & S_IFMT) {
	case S_IFDIR:
		if (!is_root)
			r = mkdirat(pfd, name, 0700);
		break;
	case S_IFREG:
		*cur_fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		r = *cur_fd < 0 ? -1 : 0;
		if (r == 0 && e->has_size && ftruncate(*cur_fd, (off_t)e->size) < 0)
			r = -1;
		break;
	case S_IFLNK:
		r = e->target ? symlinkat(e->target, pfd, name) : (errno = EINVAL, -1);
		break;
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		r = mknodat(pfd, name, (mode & S_IFMT) | 0600, e->has_rdev ? (dev_t)e->rdev : 0);
		break;
	default:
		errno = EINVAL;
		r = -1;
	}
	if (r < 0) {
		ns_set_err(err, errlen, "tmpfs: can't create %s (mode 0%o): %s", e->path, mode, strerror(errno));
		return -1;
	}
	if (fchownat(pfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    (!S_ISLNK(mode) && fchmodat(pfd, name, perm, 0) < 0)) {
		ns_set_err(err, errlen, "tmpfs: can't set the owner or mode of %s: %s", e->path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(mode) && set_xattrs(-1, pfd, name, e, err, errlen) < 0)
		return -1;
	if (S_ISDIR(mode)) {
		/* a directory's times change while it fills: set them at the end */
		struct dir_time *nd = realloc(*dirs, (*nr_dirs + 1) * sizeof(**dirs));
		if (!nd || !(nd[*nr_dirs].path = strdup(e->path))) {
			if (nd)
				*dirs = nd;
			ns_set_err(err, errlen, "out of memory");
			return -1;
		}
		*dirs = nd;
		set_times(nd[*nr_dirs].ts, e);
		(*nr_dirs)++;
	} else if (!S_ISREG(mode)) {
		struct timespec ts[2];
		set_times(ts, e);
		utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
	}
	return 0;
}

static int file_done(int *fd, const TmpfsFileEntry *last, char *err, size_t errlen)
{
	int r = 0;

	if (*fd >= 0 && last) {
		struct timespec ts[2];
		r = set_xattrs(*fd, -1, NULL, last, err, errlen);
		set_times(ts, last);
		futimens(*fd, ts);
	}
	closep(fd);
	return r;
}

int ns_tmpfs_restore(int dfd, uint32_t id, int root_fd, tmpfs_shmem_ok_fn shmem_ok, void *arg, char *err,
		     size_t errlen)
{
	cleanup_img struct img *img = img_open(dfd, IMG_TMPFS, O_RDONLY, id);
	TmpfsFileEntry *e, *last = NULL;
	struct dir_time *dirs = NULL;
	size_t nr_dirs = 0;
	int cur = -1, r, ret = -1;
	bool first = true;

	if (!img) {
		ns_set_err(err, errlen, "can't open tmpfs-%u.img: %s", id, strerror(errno));
		return -1;
	}
	while ((r = img_read(img, (void **)&e)) > 0) {
		if (!path_ok(e->path) || (first && *e->path) || (!first && !*e->path)) {
			ns_set_err(err, errlen, "tmpfs-%u.img: bad path '%s'", id, e->path);
			img_free_msg(img, e);
			goto out;
		}
		first = false;
		if (e->has_data) {
			/* data of the file just created */
			if (cur < 0 || !last || strcmp(last->path, e->path) || !last->has_size || last->has_shmem_id ||
			    e->data_off + e->data.len > last->size) {
				ns_set_err(err, errlen, "tmpfs-%u.img: data of %s out of place", id, e->path);
				img_free_msg(img, e);
				goto out;
			}
			if (pwrite_all(cur, e->data.data, e->data.len, (off_t)e->data_off) < 0) {
				ns_set_err(err, errlen, "tmpfs: can't write %s: %s", e->path, strerror(errno));
				img_free_msg(img, e);
				goto out;
			}
			img_free_msg(img, e);
			continue;
		}
		r = file_done(&cur, last, err, errlen);
		img_free_msg(img, last);
		last = e;
		if (r < 0)
			goto out;
		if (!e->link_to && !e->has_mode) {
			ns_set_err(err, errlen, "tmpfs-%u.img: %s has no mode", id, e->path);
			goto out;
		}
		if (e->has_shmem_id && (!S_ISREG(e->mode) || !shmem_ok || !shmem_ok(arg, e->shmem_id))) {
			ns_set_err(err, errlen, "tmpfs-%u.img: %s is left to shmem object %" PRIu64
				   ", which shmem.img has not as a file", id, e->path, e->shmem_id);
			goto out;
		}
		if (create_one(root_fd, e, &cur, &dirs, &nr_dirs, err, errlen) < 0)
			goto out;
	}
	if (r < 0) {
		ns_set_err(err, errlen, "tmpfs-%u.img is corrupt (see the log)", id);
		goto out;
	}
	if (file_done(&cur, last, err, errlen) < 0)
		goto out;
	/* deepest first does not matter: setting a directory's times changes no parent */
	for (size_t i = 0; i < nr_dirs; i++) {
		const char *name;
		cleanup_close int pfd = open_parent(root_fd, dirs[i].path, &name);
		if (pfd >= 0)
			utimensat(pfd, *dirs[i].path ? name : ".", dirs[i].ts, AT_SYMLINK_NOFOLLOW);
	}
	ret = 0;
out:
	closep(&cur);
	img_free_msg(img, last);
	for (size_t i = 0; i < nr_dirs; i++)
		free(dirs[i].path);
	free(dirs);
	return ret;
}
