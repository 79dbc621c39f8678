/*
 * File descriptor kinds: one struct fd_ops per kind, one file each (reg.c, pipe.c,
 * eventfd.c, ...), all listed in one table (table.c). Adding a kind is one new file
 * and one line there.
 *
 * Dump (dump-files.c drives it): every fd of every task is probed (its /proc link,
 * fdinfo and stat), identified (an open file description already met, found by
 * inode and kcmp(KCMP_FILE), gets the id it has), and the first time a description
 * is met the kind that matches it describes it into a files.img entry. Once every
 * task is done, each kind's dump_finish() settles what spans descriptions and tasks:
 * a pipe's ends and queued data, epoll targets, socket peers.
 *
 * Restore (restore-files.c drives it): each description is opened once, in the
 * restoring criu-lite before any task exists, as a service fd that every task
 * inherits (clone without CLONE_FILES). Descriptions with the same object key (the
 * two ends of a pipe) are one object: the kind opens them together. Descriptions
 * that can only be opened once the tasks exist (/proc/PID/... files of the tree)
 * are "late": opened by criu-lite once every task is created and passed to the
 * tasks that hold them over a unix socket (SCM_RIGHTS). Kinds that refer to other
 * fds (epoll interest lists) are completed by post_open() in one task holding them,
 * after every fd exists and before the task installs its own fds.
 */
#ifndef CRIU_LITE_FILES_FILES_H
#define CRIU_LITE_FILES_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lib/proc-parse.h"
#include "images/image.h"
#include "criu-lite/dump-ctx.h"
#include "criu-lite/restore-ctx.h"

/* One fd of a dumped task, as /proc shows it. */
struct fd_probe {
	pid_t pid;                 /* the task holding it (criu-lite's own pid: an fd in flight) */
	int fd;
	char link[PROC_PATH_MAX];  /* readlink of /proc/PID/fd/N */
	struct stat st;
	struct proc_fdinfo fi;
	char *fdinfo;              /* the whole fdinfo text: kinds parse their own lines */
	uint32_t flags;            /* fi.flags without O_CLOEXEC */
	int sk;                    /* a socket: our copy of it (pidfd_getfd), for the kind to take; else -1 */
	int sk_family;             /* a socket: SO_DOMAIN */
};

/* One description in the restore: its entry, its kind, and its fd once open. */
struct rst_file {
	const FileEntry *fe;
	const struct fd_ops *ops;
	int fd;                    /* service fd in criu-lite (-1: not opened yet) */
	bool needed;               /* some task holds it (or an epoll watches it) */
	bool late;                 /* opened once every task exists, then sent to its holders */
	bool opened;
	struct rst_file *obj_next; /* the next description of the same object (same obj_key) */
	ssize_t post_task;         /* the task that runs post_open (index in ctx->tasks), -1: none */
	void *priv;                /* the kind's own restore state (freed by its rst_free) */
	ssize_t lock_task;         /* the task that takes its flock and OFD locks again, -1: none */
	bool locked;               /* (in that task) taken */
};

struct fd_ops {
	const char *name;          /* for messages: "pipe", "eventfd" */
	uint32_t type;             /* FILE_TYPE_*; 0: a kind refused at dump */
	/* refused kinds: what it is, for the error ("a fanotify group") */
	const char *refuse;
	/* without match(): the kind owns the fds whose /proc link starts with this */
	const char *link_prefix;

	/* ---- dump ---- */
	/* Does this kind own the fd? Kinds are tried in table order. */
	bool (*match)(const struct fd_probe *p);
	/* Describe a description met for the first time into f->fe (type and id set).
	 * 0 or -1 (logged, naming the pid and fd). */
	int (*dump)(struct dump_ctx *ctx, struct fd_probe *p, struct dump_file *f);
	/* Once every task's fds are known. 0 or -1 (logged). */
	int (*dump_finish)(struct dump_ctx *ctx);
	/* Free f->priv. */
	void (*dump_free)(struct dump_file *f);

	/* ---- restore ---- */
	/* Descriptions with the same non-zero key are one object, opened together. */
	uint64_t (*obj_key)(const FileEntry *fe);
	/* Opened once every task exists? (NULL: never) */
	bool (*late)(const FileEntry *fe);
	/* Open the object whose descriptions are rf, rf->obj_next, ...: set each one's fd
	 * (any fd number; the caller moves them to service fds). 0 or -1 (logged). */
	int (*open)(struct rst_ctx *ctx, struct rst_file *rf);
	/* In criu-lite once every task exists (they do not run yet): what needs their pids
	 * (socket queues with their senders' credentials). 0 or -1 (logged). */
	int (*fill)(struct rst_ctx *ctx, struct rst_file *rf);
	/* Free rf->priv. */
	void (*rst_free)(struct rst_file *rf);
	/* In the task rf->post_task, after every fd exists and before the task installs
	 * its own: complete what refers to other descriptions. 0 or -1 (message in err). */
	int (*post_open)(struct rst_ctx *ctx, struct rst_file *rf, char *err, size_t errlen);
	/* The highest fd number the entry refers to in some task (epoll targets), or 0. */
	uint32_t (*max_fd)(const FileEntry *fe);
	/* In every task that holds the description, before it makes its children (they
	 * inherit what it sets: a controlling terminal). 0 or -1 (message in err). */
	int (*before_children)(struct rst_ctx *ctx, struct rst_file *rf, char *err, size_t errlen);
	/* The key --inherit-fd names this description by ("pipe:[123]"); 0, or -1: none. */
	int (*inherit_key)(const FileEntry *fe, char *buf, size_t len);
};

/* ---- the table (table.c) ---- */
const struct fd_ops *fd_kind_of_probe(const struct fd_probe *p);
const struct fd_ops *fd_kind_of_type(uint32_t type);
/* Every kind's dump_finish(), in table order. 0 or -1. */
int fd_kinds_dump_finish(struct dump_ctx *ctx);

/* ---- the kinds ---- */
extern const struct fd_ops reg_fd_ops, dir_fd_ops, chr_fd_ops, memfd_fd_ops, pipe_fd_ops, fifo_fd_ops;
extern const struct fd_ops eventfd_fd_ops, signalfd_fd_ops, timerfd_fd_ops, epoll_fd_ops, inotify_fd_ops;
extern const struct fd_ops unix_fd_ops;
extern const struct fd_ops inet_fd_ops, netlink_fd_ops, packet_fd_ops; /* network sockets (net.h) */

/* fdinfo lines of epoll and inotify (pure: unit-tested). 0, or -1 if the line is bad. */
int epoll_parse_tfd(const char *line, EpollTfdEntry *ret);
int inotify_parse_wd(const char *line, InotifyWdEntry *ret, uint8_t *handle, size_t *ret_hlen);

/* ---- regular files (reg.c), also for the files behind mappings and exe links ---- */
/* A reg entry for path (already without " (deleted)"). NULL (logged). */
RegFileEntry *reg_entry_new(const char *path, const struct stat *st, uint32_t flags, uint64_t pos);
/* Open the file of a reg entry with its flags and offset. Returns the fd or -1 (logged). */
int reg_open_path(const FileEntry *fe, bool dir);
/* The entry f describes an unlinked file (open as proc_path, stat st): its contents
 * saved once per inode, under --ghost-limit. 0 or -1 (logged, naming what). */
int reg_ghost_dump(struct dump_ctx *ctx, struct dump_file *f, const char *proc_path, const struct stat *st,
		   const char *what);
/* The unlinked file of a reg entry (ghost_id), created again once: an fd of criu-lite's
 * own (do not close), or -1 (logged). */
int reg_ghost_fd(struct rst_ctx *ctx, const FileEntry *fe);

/* ---- pipes and FIFOs (pipe.c) ---- */
/* The bytes queued in the pipe behind rd (an fd of our own that reads it), without
 * consuming them, into pe->data (and pe->packets in packet mode). 0 or -1 (logged). */
int pipe_peek_data(int rd, uint32_t size, bool packets, PipeEntry *pe, const char *what);
/* Write pe's queued bytes (and packets) into a pipe through w. 0 or -1 (logged). */
int pipe_write_data(int w, const PipeEntry *pe, const char *what);

/* ---- helpers shared by the kinds (common.c) ---- */
/* Strip a trailing " (deleted)"; true if there was one. */
bool files_strip_deleted(char *path);
/* The value of "NAME:" in an fdinfo text as a number in base; -1 if absent or bad. */
int fdinfo_u64(const char *text, const char *name, int base, uint64_t *ret);
/* "NAME: (A, B)" of an fdinfo text (timerfd's it_value). 0, or -1 if absent or bad. */
int fdinfo_pair(const char *text, const char *name, uint64_t *ret_a, uint64_t *ret_b);
/* A new sub-message of the entry's kind, or NULL (logged). */
void *files_zalloc(size_t size, const char *what);
/* Reopen our own fd through /proc/self/fd with flags (a new description of the same
 * file). Returns the fd or -1 (logged). */
int files_reopen(int fd, int flags, const char *what);
/* F_SETFL the status flags (O_NONBLOCK, O_APPEND, O_ASYNC, O_DIRECT, O_NOATIME) of fd
 * to those of flags. 0 or -1 (logged). */
int files_set_status_flags(int fd, uint32_t flags, const char *what);
/* Append a file-data.img record (taken). 0 or -1 (logged; rec freed). */
int dump_file_data_add(struct dump_ctx *ctx, FileDataEntry *rec);
/* An fd in flight received into criu-lite: described later, its file id to *slot.
 * Takes fd. 0 or -1 (logged). */
int dump_inflight_add(struct dump_ctx *ctx, int fd, uint32_t *slot);
/* kcmp(KCMP_FILE): 0 same description, 1/2 ordering, -1 error (errno). */
int files_kcmp(pid_t p1, int fd1, pid_t p2, int fd2);
/* The descriptions of kind ops, sorted by cmp (on struct dump_file *): *ret_v (free
 * it; NULL if there are none) and *ret_n. 0 or -1 (logged). */
int dump_files_of_kind(struct dump_ctx *ctx, const struct fd_ops *ops, int (*cmp)(const void *, const void *),
		       struct dump_file ***ret_v, size_t *ret_n);

/* ---- the identity of descriptions at dump (index.c) ---- */
/* The description (pid, fd) with stat st, if already registered; NULL if new. A kcmp
 * failure other than ENOSYS is an error: *ret_err set. */
struct dump_file *dump_file_lookup(struct dump_ctx *ctx, pid_t pid, int fd, const struct stat *st,
				   int *ret_err);
/* Register f (already in ctx->files at index idx) under its inode. 0 or -1 (logged). */
int dump_file_index(struct dump_ctx *ctx, size_t idx);
/* The registered descriptions of inode (dev, ino) held as fds: indices into ctx->files. */
size_t dump_file_candidates(struct dump_ctx *ctx, uint64_t dev, uint64_t ino, const size_t **ret);
/* The entries of inode (dev, ino) for mappings and exe links (fd -1). */
size_t dump_file_path_entries(struct dump_ctx *ctx, uint64_t dev, uint64_t ino, const size_t **ret);
void dump_file_index_free(struct dump_ctx *ctx);

#endif
