/*
 * Character devices, reopened by path. A terminal is refused unless --shell-job,
 * and then becomes the restoring criu-lite's own terminal; a pseudo-terminal
 * master is refused.
 *
 * A pseudo-terminal slave of a tree with its own mount namespace (a container's
 * console, its master held by the runtime outside the tree) is an orphan pty: dumped
 * with its index, termios and window size; restored as a new master at that index
 * on the restored devpts, unlocked, its slave opened, and the master handed to the
 * caller (RPC orphan_pts_master: runc forwards it to its --console-socket).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <asm/termbits.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"
#include "criu-lite/ns/common.h"
#include "criu-lite/ns/mnt.h"

static bool is_tty_rdev(dev_t rdev)
{
	unsigned maj = major(rdev);
	return maj == 4 || maj == 5 || (maj >= 136 && maj <= 143);
}

static bool is_pts_rdev(dev_t rdev)
{
	return major(rdev) >= 136 && major(rdev) <= 143;
}

#define PTMX_TRIES 64

/* The session leader of the tree whose controlling terminal rdev is, or 0 (dump-check.c
 * saw to it that every task with it as its terminal has its session leader holding it). */
static int ctty_leader(const struct dump_ctx *ctx, dev_t rdev, pid_t *ret)
{
	*ret = 0;
	for (size_t i = 0; i < ctx->tree.nr_tasks; i++) {
		const struct seize_task *t = &ctx->tree.tasks[i];
		struct proc_stat st;
		if (t->zombie || t->sid != t->pid)
			continue;
		if (proc_parse_stat(seize_proc_pid(t), 0, &st) < 0)
			return -1;
		if (st.tty_nr == (uint32_t)rdev) {
			*ret = t->pid;
			return 0;
		}
	}
	return 0;
}

/* An orphan pty slave: index, termios, window size, and whether a session leader of
 * the tree has it as its controlling terminal. 0 or -1 (logged). */
static int pty_dump(const struct dump_ctx *ctx, const struct fd_probe *p, ChrFileEntry *c)
{
	char path[64];
	struct termios2 t;
	struct winsize ws;
	pid_t leader;
	cleanup_close int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", p->pid, p->fd);
	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, TCGETS2, &t) < 0 || ioctl(fd, TIOCGWINSZ, &ws) < 0) {
		pr_perror("fd %d of pid %d: can't read the terminal %s", p->fd, p->pid, p->link);
		return -1;
	}
	c->termios.data = files_zalloc(sizeof(t), "termios");
	c->winsize.data = files_zalloc(sizeof(ws), "a window size");
	if (!c->termios.data || !c->winsize.data)
		return -1;
	memcpy(c->termios.data, &t, sizeof(t));
	c->termios.len = sizeof(t);
	memcpy(c->winsize.data, &ws, sizeof(ws));
	c->winsize.len = sizeof(ws);
	c->has_termios = c->has_winsize = c->has_pty_index = c->has_ctty = true;
	c->pty_index = (major(p->st.st_rdev) - 136) * 256 + minor(p->st.st_rdev);
	if (ctty_leader(ctx, p->st.st_rdev, &leader) < 0)
		return -1;
	c->ctty = leader != 0;
	pr_info("fd %d of pid %d: the pty %s (index %u) has its master outside the tree%s\n", p->fd, p->pid,
		p->link, c->pty_index, c->ctty ? "; it is a session's controlling terminal" : "");
	return 0;
}

static bool chr_match(const struct fd_probe *p)
{
	return p->link[0] == '/' && S_ISCHR(p->st.st_mode);
}

static int chr_dump(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f)
{
	ChrFileEntry *c;
	bool tty = is_tty_rdev(p->st.st_rdev);

	if (tty && major(p->st.st_rdev) == 5 && minor(p->st.st_rdev) == 2) {
		pr_err("fd %d of pid %d is a pseudo-terminal master (%s), not supported yet\n", p->fd, p->pid,
		       p->link);
		errno = ENOTSUP;
		return -1;
	}
	/* a container's console: a pty of the tree's own devpts, its master outside */
	bool orphan_pty = is_pts_rdev(p->st.st_rdev) && (ctx->own_ns & CLONE_NEWNS) && !ctx->opts->shell_job;

	if (tty && !ctx->opts->shell_job && !orphan_pty) {
		pr_err("fd %d of pid %d is the terminal %s: dump with --shell-job (-j)\n", p->fd, p->pid, p->link);
		errno = ENOTSUP;
		return -1;
	}
	if (!(tty && ctx->opts->shell_job) && ns_mnt_check_file(ctx, p->pid, p->fd, p->fi.mnt_id, p->link) < 0)
		return -1;
	c = files_zalloc(sizeof(*c), "a chr entry");
	if (!c)
		return -1;
	chr_file_entry__init(c);
	f->fe->chr = c;
	if (orphan_pty && pty_dump(ctx, p, c) < 0)
		return -1;
	c->path = strdup(p->link);
	if (!c->path) {
		pr_perror("can't copy a path");
		return -1;
	}
	c->has_flags = c->has_rdev = c->has_tty = true;
	c->flags = p->flags;
	c->rdev = (uint32_t)p->st.st_rdev;
	c->tty = tty;
	return 0;
}

/* A new master at index want on the devpts of path (its directory's ptmx): the indexes
 * below it are taken and given back. The master, or -1 (logged). */
static int ptmx_at(const char *slave, uint32_t want)
{
	char ptmx[PROC_PATH_MAX];
	const char *slash = strrchr(slave, '/');
	int held[PTMX_TRIES], n = 0, m = -1;

	if (!slash || (size_t)(slash - slave) + 6 > sizeof(ptmx)) {
		pr_err("pty %s: no devpts directory\n", slave);
		errno = EINVAL;
		return -1;
	}
	snprintf(ptmx, sizeof(ptmx), "%.*s/ptmx", (int)(slash - slave), slave);
	while (n < PTMX_TRIES) {
		unsigned idx;
		int fd = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			pr_perror("can't open %s for the pty %s", ptmx, slave);
			break;
		}
		if (ioctl(fd, TIOCGPTN, &idx) < 0) {
			pr_perror("TIOCGPTN on %s", ptmx);
			close(fd);
			break;
		}
		if (idx == want) {
			m = fd;
			break;
		}
		held[n++] = fd;
		if (idx > want) {
			pr_err("pty %s: index %u is taken on the restored devpts\n", slave, want);
			errno = EEXIST;
			break;
		}
	}
	while (n)
		close(held[--n]);
	return m;
}

/* An orphan pty: a new master at its index, unlocked, its slave with the dumped termios
 * and window size; the master goes to the caller. 0 or -1 (logged). */
static int pty_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const ChrFileEntry *c = rf->fe->chr;
	cleanup_close int m = -1;
	int unlock = 0;

	if (!ctx->opts->orphan_pts_master || !ctx->opts->notify.run) {
		pr_err("%s is a pseudo-terminal whose master was outside the tree: only a caller that takes a "
		       "new master can restore it (RPC orphan_pts_master, as runc and crun do)\n", c->path);
		errno = ENOTSUP;
		return -1;
	}
	/* made already by the mount stage when the container binds it (/dev/console) */
	m = ns_rst_take_pty(ctx, c->pty_index);
	if (m < 0)
		m = ptmx_at(c->path, c->pty_index);
	if (m < 0 || ioctl(m, TIOCSPTLCK, &unlock) < 0) {
		if (m >= 0)
			pr_perror("can't unlock the new master of %s", c->path);
		return -1;
	}
	rf->fd = open(c->path, ((c->has_flags ? (int)c->flags : O_RDWR) & ~(O_CREAT | O_TRUNC | O_EXCL)) |
				       O_NOCTTY | O_CLOEXEC);
	if (rf->fd < 0) {
		pr_perror("can't open the pty %s", c->path);
		return -1;
	}
	if ((c->termios.len == sizeof(struct termios2) && ioctl(rf->fd, TCSETS2, c->termios.data) < 0) ||
	    (c->winsize.len == sizeof(struct winsize) && ioctl(rf->fd, TIOCSWINSZ, c->winsize.data) < 0)) {
		pr_perror("can't set the termios or window size of %s", c->path);
		return -1;
	}
	/* the runtime takes the master (runc: to its --console-socket) */
	if (cr_action_run(ctx->opts, CR_ACT_ORPHAN_PTS_MASTER, 0, m) < 0)
		return -1;
	pr_info("the pty %s (index %u) has a new master, handed to the caller\n", c->path, c->pty_index);
	return 0;
}

/* The controlling terminal of its session again: in the session leader that holds it,
 * before its children are made (they inherit it). */
static int chr_before_children(struct rst_ctx *ctx, struct rst_file *rf, char *err, size_t errlen)
{
	const ChrFileEntry *c = rf->fe->chr;

	(void)ctx;
	if (!c->has_ctty || !c->ctty || getsid(0) != getpid())
		return 0;
	if (ioctl(rf->fd, TIOCSCTTY, 1) < 0) {
		snprintf(err, errlen, "can't make %s the controlling terminal: %s", c->path, strerror(errno));
		return -1;
	}
	return 0;
}

static int chr_open(struct rst_ctx *ctx, struct rst_file *rf)
{
	const ChrFileEntry *c = rf->fe->chr;

	if (c->has_pty_index)
		return pty_open(ctx, rf);

	if (c->has_tty && c->tty && ctx->opts->shell_job) {
		if (ctx->tty_fd < 0) {
			pr_err("--shell-job: criu-lite has no terminal on stdin/stdout/stderr for %s\n", c->path);
			errno = ENOTTY;
			return -1;
		}
		rf->fd = fcntl(ctx->tty_fd, F_DUPFD_CLOEXEC, 0);
		if (rf->fd < 0)
			pr_perror("can't dup the terminal");
		return rf->fd < 0 ? -1 : 0;
	}
	rf->fd = open(c->path, ((c->has_flags ? (int)c->flags : O_RDWR) & ~(O_CREAT | O_TRUNC | O_EXCL)) |
				       O_NOCTTY | O_CLOEXEC);
	if (rf->fd < 0) {
		pr_perror("can't open %s (file %u)", c->path, rf->fe->id);
		return -1;
	}
	return 0;
}

static int chr_inherit_key(const FileEntry *fe, char *buf, size_t len)
{
	const char *p = fe->chr->path;

	while (*p == '/')
		p++;
	return snprintf(buf, len, "%s", p) < (int)len ? 0 : -1;
}

const struct fd_ops chr_fd_ops = {
	.name = "character device",
	.type = FILE_TYPE_CHR,
	.match = chr_match,
	.dump = chr_dump,
	.open = chr_open,
	.before_children = chr_before_children,
	.inherit_key = chr_inherit_key,
};
