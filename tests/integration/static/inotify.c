/* inotify: watches on a directory (create/delete/moved-to), a file (modify,
 * close-write), another file (attrib, IN_ONESHOT) and a second directory
 * (attrib, delete-self, IN_ONLYDIR|IN_EXCL_UNLINK). After restore the watches
 * are the same (fdinfo: wd, inode, mask) and report new events with their wds.
 * An event queued before the checkpoint may be there or dropped (as CRIU drops
 * them); any other event is an error. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztest.h"

enum { W_DIR, W_FILE, W_ONCE, W_DIR2, NW };

static const uint32_t wmask[NW] = {
	IN_CREATE | IN_DELETE | IN_MOVED_TO,
	IN_MODIFY | IN_CLOSE_WRITE,
	IN_ATTRIB | IN_ONESHOT,
	IN_ATTRIB | IN_DELETE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK,
};

static int ifd, wd[NW];
static char dir[600], dir2[600], file[700], file2[700];

/* the "inotify wd:..." lines of our fdinfo, in order */
static void watches(char *out, size_t len)
{
	char p[64], *s, *l;

	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", ifd);
	out[0] = 0;
	s = zt_read_file(p, NULL);
	if (!s)
		return;
	for (l = strtok(s, "\n"); l; l = strtok(NULL, "\n"))
		if (!strncmp(l, "inotify ", 8))
			snprintf(out + strlen(out), len - strlen(out), "%s\n", l);
	free(s);
}

struct ev {
	int wd;
	uint32_t mask;
	const char *name;
};

/* read what is queued; each event must be the next of want[] (or, if
 * may_skip, the one event from before the checkpoint) */
static void expect(const char *when, const struct ev *want, int n)
{
	static char buf[8192] __attribute__((aligned(8)));
	ssize_t len = read(ifd, buf, sizeof(buf));
	int i = 0;

	if (len < 0 && errno != EAGAIN)
		test_err("%s: read: %m", when);
	for (char *p = buf; len > 0 && p < buf + len;) {
		struct inotify_event *e = (struct inotify_event *)p;
		const char *name = e->len ? e->name : "";

		p += sizeof(*e) + e->len;
		if (!strcmp(when, "queued") && e->wd == wd[W_DIR] && e->mask == IN_CREATE &&
		    !strcmp(name, "before"))
			continue; /* from before the checkpoint: may be dropped */
		if (i >= n || e->wd != want[i].wd || e->mask != want[i].mask || strcmp(name, want[i].name)) {
			test_err("%s: event %d is wd %d mask %#x '%s', want wd %d mask %#x '%s'", when, i,
				 e->wd, e->mask, name, i < n ? want[i].wd : -1, i < n ? want[i].mask : 0,
				 i < n ? want[i].name : "(none)");
			return;
		}
		i++;
	}
	if (i != n)
		test_err("%s: %d events, want %d", when, i, n);
}

int main(int argc, char **argv)
{
	char before[2048], after[2048], p[800];
	int fd;

	test_init(argc, argv);
	snprintf(dir, sizeof(dir), "%s/ino.d", test_tmpdir());
	snprintf(dir2, sizeof(dir2), "%s/ino.d2", test_tmpdir());
	snprintf(file, sizeof(file), "%s/file", dir);
	snprintf(file2, sizeof(file2), "%s/file2", dir);
	if (mkdir(dir, 0755) || mkdir(dir2, 0755))
		fail("mkdir: %m");
	fd = open(file, O_WRONLY | O_CREAT, 0644);
	if (fd < 0)
		fail("open: %m");
	close(fd);
	fd = open(file2, O_WRONLY | O_CREAT, 0644);
	if (fd < 0)
		fail("open: %m");
	close(fd);

	ifd = inotify_init1(IN_NONBLOCK);
	if (ifd < 0)
		fail("inotify_init1: %m");
	wd[W_DIR] = inotify_add_watch(ifd, dir, wmask[W_DIR]);
	wd[W_FILE] = inotify_add_watch(ifd, file, wmask[W_FILE]);
	wd[W_ONCE] = inotify_add_watch(ifd, file2, wmask[W_ONCE]);
	wd[W_DIR2] = inotify_add_watch(ifd, dir2, wmask[W_DIR2]);
	for (int i = 0; i < NW; i++)
		if (wd[i] < 0)
			fail("inotify_add_watch: %m");
	/* an event queued across the checkpoint */
	snprintf(p, sizeof(p), "%s/before", dir);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	if (fd < 0)
		fail("open: %m");
	close(fd);
	watches(before, sizeof(before));

	test_ready();
	test_waitsig();
	if (test_self_fail)
		inotify_rm_watch(ifd, wd[W_FILE]);

	watches(after, sizeof(after));
	if (strcmp(before, after))
		test_err("watches differ:\n%safter:\n%s", before, after);
	expect("queued", NULL, 0);

	/* new events */
	snprintf(p, sizeof(p), "%s/after", dir);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
	fd = open(file, O_WRONLY);
	if (fd < 0 || write(fd, "x", 1) != 1)
		test_err("write %s: %m", file);
	if (fd >= 0)
		close(fd);
	chmod(file2, 0600);
	chmod(dir2, 0700);
	{
		const struct ev want[] = {
			{ wd[W_DIR], IN_CREATE, "after" },
			{ wd[W_FILE], IN_MODIFY, "" },
			{ wd[W_FILE], IN_CLOSE_WRITE, "" },
			{ wd[W_ONCE], IN_ATTRIB, "" },
			{ wd[W_ONCE], IN_IGNORED, "" }, /* one-shot: removed */
			{ wd[W_DIR2], IN_ATTRIB | IN_ISDIR, "" },
		};

		expect("new events", want, 6);
	}
	chmod(file2, 0644); /* the one-shot watch is gone: no event */
	expect("after the one-shot", NULL, 0);
	test_result();
}
