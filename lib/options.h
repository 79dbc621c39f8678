/*
 * The options of every command, in one struct with CRIU's names and meanings.
 *
 * The command line (cli/), configuration files and the RPC server fill it; the
 * library's entry points (cr_dump, cr_restore, lp_daemon_run, cr_check, cr_show)
 * take it and never parse argv themselves. Strings are owned by the struct (freed by
 * cr_options_fini). cr_options_init() sets CRIU's defaults.
 *
 * Options that only permit something (--file-locks, --tcp-established, --ext-unix-sk,
 * --link-remap, --skip-in-flight) gate that thing where it is met, as in CRIU; options
 * that ask for something criu-lite cannot do yet are refused by cr_options_refuse()
 * with "--NAME: not supported yet", never ignored.
 */
#ifndef CRIU_LITE_OPTIONS_H
#define CRIU_LITE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The CRIU version whose interface criu-lite follows (`--version`, RPC VERSION). */
#define CR_COMPAT_MAJOR 4
#define CR_COMPAT_MINOR 2
#define CRIU_LITE_VERSION "0.2"

/* Commands, for the options each takes. */
enum cr_cmd {
	CR_CMD_NONE = 0,
	CR_CMD_DUMP,
	CR_CMD_RESTORE,
	CR_CMD_LAZY_PAGES,
	CR_CMD_CHECK,
	CR_CMD_SHOW,
	CR_CMD_PAGE_SERVER,
	CR_CMD_PRE_DUMP,
	CR_CMD_SWRK,
};

/* --network-lock (CRIU's values). */
enum cr_netlock {
	CR_NETLOCK_IPTABLES = 1,
	CR_NETLOCK_NFTABLES = 2,
	CR_NETLOCK_SKIP = 3,
};

/* --manage-cgroups[=MODE] (CRIU's criu_cg_mode numbers). */
enum cr_cg_mode {
	CR_CG_IGNORE = 0,
	CR_CG_NONE = 1,
	CR_CG_PROPS = 2,
	CR_CG_SOFT = 3,
	CR_CG_FULL = 4,
	CR_CG_STRICT = 5,
	CR_CG_DEFAULT = 6,
};

/* lazy-pages --prefetch */
enum cr_prefetch {
	CR_PREFETCH_NONE = 0,
	CR_PREFETCH_ALL = 1,
	CR_PREFETCH_HOT = 2,
};

/* --inherit-fd fd[N]:KEY: the restored file whose identity is KEY (e.g. "pipe:[123]")
 * becomes a copy of our fd N. */
struct cr_inherit_fd {
	char *key;
	int fd;
};

/* --join-ns NS:PATH[,EXTRA]: the restored tree joins the namespace at PATH. */
struct cr_join_ns {
	char *ns;    /* "net", "uts", "ipc", ... as CRIU names them */
	char *path;
	char *extra; /* NULL, or CRIU's extra option (user: "UID,GID") */
};

/* --cgroup-root [CTRL:]PATH: restore's root for the controller CTRL (NULL: every
 * controller; "": the unified hierarchy). */
struct cr_cg_root {
	char *ctrl;
	char *path;
};

/*
 * CRIU's action scripts, its notifications in RPC mode (CRIU's names, cr_action_name),
 * in the order a dump or a restore reaches them. Numbers are criu-lite's own.
 */
enum cr_action {
	CR_ACT_PRE_DUMP,
	CR_ACT_NETWORK_LOCK,      /* dump: the root has its own network namespace */
	CR_ACT_QUERY_EXT_FILES,   /* dump: the caller may name more external objects */
	CR_ACT_POST_DUMP,         /* dump: images complete, tree still stopped; failing rolls back */
	CR_ACT_NETWORK_UNLOCK,    /* dump (failed or -R), restore: own network namespace */
	CR_ACT_PRE_RESTORE,
	CR_ACT_SETUP_NS,          /* restore: the root's namespaces exist (pid) */
	CR_ACT_POST_SETUP_NS,
	CR_ACT_POST_RESTORE,      /* restore: every task restored, not yet running (pid) */
	CR_ACT_PRE_RESUME,
	CR_ACT_POST_RESUME,
	CR_ACT_ORPHAN_PTS_MASTER, /* restore: the master of a pty whose master was outside (fd) */
	CR_ACT_STATUS_READY,
	CR_ACT_NR,
};

/* CRIU's name of an action ("pre-dump", "post-restore", ...). */
const char *cr_action_name(enum cr_action act);

/*
 * Who hears of actions (the RPC server's client; nobody on the command line yet).
 * run() returns 0 to go on, -1 (logged) to fail the dump or restore; pid is the root
 * for setup-namespaces and post-restore (0 otherwise), fd one to hand over or -1.
 */
struct cr_notify {
	int (*run)(void *arg, enum cr_action act, pid_t pid, int fd);
	void *arg;
};

struct cr_options {
	enum cr_cmd cmd;

	/* where things are */
	char *images_dir;        /* -D, --images-dir (default ".") */
	char *work_dir;          /* -W, --work-dir: logs, stats, the lazy-pages socket (default: images dir) */
	char *log_file;          /* -o, --log-file, relative to the work dir; NULL: stderr */
	int log_level;           /* -v[N] (0..4, default 2) */
	char *pidfile;           /* --pidfile */
	char *root;              /* -r, --root */
	char *config_file;       /* --config */
	bool no_default_config;  /* --no-default-config */

	/* dump */
	pid_t tree;              /* -t, --tree */
	bool leave_running;      /* -R, --leave-running */
	bool shell_job;          /* -j, --shell-job (dump and restore) */
	unsigned timeout;        /* --timeout: seconds to seize the tree (default 10) */
	bool tcp_established;    /* --tcp-established */
	bool tcp_close;          /* --tcp-close */
	bool skip_in_flight;     /* --skip-in-flight */
	bool ext_unix_sk;        /* -x, --ext-unix-sk */
	bool file_locks;         /* -l, --file-locks */
	bool link_remap;         /* --link-remap */
	uint64_t ghost_limit;    /* --ghost-limit (bytes, default 1 MiB) */
	char **external;         /* --external (each as given: mnt[..]:.., net[..]:.., ...) */
	size_t nr_external;
	enum cr_netlock network_lock; /* --network-lock (default iptables) */
	enum cr_cg_mode manage_cgroups; /* --manage-cgroups[=MODE]; CR_CG_IGNORE when absent */
	bool manage_cgroups_set;
	char *prev_images_dir;   /* --prev-images-dir */
	bool track_mem;          /* --track-mem */
	bool pagemap_read;       /* (tests) read /proc/PID/pagemap instead of PAGEMAP_SCAN */

	unsigned empty_ns;       /* --empty-ns net: CLONE_NEWNET, a namespace dumped without contents */
	char *freeze_cgroup;     /* --freeze-cgroup: every task in it must be in the tree */

	/* restore */
	bool restore_detached;   /* -d, --restore-detached */
	bool restore_sibling;    /* -S, --restore-sibling (RPC rst_sibling): the root is our parent's child */
	bool timers_in_order;    /* (tests) make POSIX timers in id order, as without PR_TIMER_CREATE_RESTORE_IDS */
	struct cr_inherit_fd *inherit_fd; /* --inherit-fd */
	size_t nr_inherit_fd;
	struct cr_join_ns *join_ns; /* --join-ns */
	size_t nr_join_ns;
	struct cr_cg_root *cg_root; /* --cgroup-root */
	size_t nr_cg_root;
	bool orphan_pts_master;  /* --orphan-pts-master: hand over a new master for an orphan pty */

	/* notifications (the RPC server sets them; see struct cr_notify) */
	struct cr_notify notify;

	/* memory transfer */
	bool lazy_pages;         /* --lazy-pages */
	bool page_server;        /* --page-server */
	char *address;           /* --address */
	int port;                /* --port (0: none given) */
	int status_fd;           /* --status-fd (-1: none) */
	bool display_stats;      /* --display-stats */

	/* lazy-pages (criu-lite's own) */
	enum cr_prefetch prefetch; /* --prefetch none|all|hot (default all) */
	char *hot_ws;            /* --hot-ws FILE */
	char *record_ws;         /* --record-ws FILE */
	uint64_t busy_poll_us;   /* --busy-poll USEC (default 100) */
	uint64_t fault_around;	 /* --fault-around PAGES: the largest fault window (1: off) */

	/* check */
	bool check_all;          /* --all */
	bool check_json;         /* --json */
	char **features;         /* --feature NAME (repeatable, or comma separated) */
	size_t nr_features;

	/* show */
	bool show_pages;         /* --pages */
	bool show_full;          /* --full */
	char *show_path;         /* the FILE or DIR */

	/* swrk */
	int swrk_fd;             /* the socket (criu-lite swrk FD) */
};

/* CLONE_NEWNET, as --empty-ns and the RPC's empty_ns give it */
#define CR_CLONE_NEWNET 0x40000000u

#define CR_DEFAULT_LOG_LEVEL 2
#define CR_DEFAULT_TIMEOUT 10
#define CR_DEFAULT_GHOST_LIMIT (1ULL << 20)
#define CR_DEFAULT_BUSY_POLL_US 100
#define CR_DEFAULT_FAULT_AROUND 256
#define CR_MAX_FAULT_AROUND	1024

void cr_options_init(struct cr_options *o);
void cr_options_fini(struct cr_options *o);

/* Replace a string option (a copy is kept). 0 or -1 (logged). */
int cr_opt_set_str(char **field, const char *value);
/* --inherit-fd fd[N]:KEY. 0 or -1 (logged: what is wrong with the value). */
int cr_opt_add_inherit_fd(struct cr_options *o, const char *spec);
/* One inherited fd given as key and number (RPC). 0 or -1 (logged). */
int cr_opt_add_inherit_fd_pair(struct cr_options *o, const char *key, int fd);
/* --external TYPE[ID]:VALUE (kept as given; checked by what uses it). 0 or -1 (logged). */
int cr_opt_add_external(struct cr_options *o, const char *spec);
/* --feature NAME[,NAME...]. 0 or -1 (logged). */
int cr_opt_add_features(struct cr_options *o, const char *list);
/* --network-lock iptables|nftables|skip. 0 or -1 (logged). */
int cr_opt_set_network_lock(struct cr_options *o, const char *value);
/* --manage-cgroups[=none|props|soft|full|strict|ignore] (NULL: soft). 0 or -1 (logged). */
int cr_opt_set_cg_mode(struct cr_options *o, const char *value);

/* The inherited fd for a file identity ("pipe:[123]"), or -1. */
int cr_opt_inherit_fd(const struct cr_options *o, const char *key);
/* --join-ns NS:PATH[,EXTRA] (spec), or its parts (ns, path, extra; RPC). 0 or -1 (logged). */
int cr_opt_add_join_ns(struct cr_options *o, const char *spec);
int cr_opt_add_join_ns_parts(struct cr_options *o, const char *ns, const char *path, const char *extra);
/* --cgroup-root [CTRL:]PATH (spec), or its parts (ctrl may be NULL; RPC). 0 or -1 (logged). */
int cr_opt_add_cg_root(struct cr_options *o, const char *spec);
int cr_opt_add_cg_root_parts(struct cr_options *o, const char *ctrl, const char *path);
/* --empty-ns net. 0 or -1 (logged). */
int cr_opt_set_empty_ns(struct cr_options *o, const char *value);

/* Tell o->notify of an action; 0 when nobody listens. 0 or -1 (logged). */
int cr_action_run(const struct cr_options *o, enum cr_action act, pid_t pid, int fd);

/*
 * Refuse what criu-lite cannot do yet for command cmd: the first such option is
 * logged as "--NAME: not supported yet" (with why, where there is more to say) and
 * -1 returned; 0 if every option given can be honoured.
 */
int cr_options_refuse(const struct cr_options *o, enum cr_cmd cmd);
/* The same question without logging: the name of the first option refused, or NULL.
 * *ret_why (may be NULL) gets why. */
const char *cr_options_refusal(const struct cr_options *o, enum cr_cmd cmd, const char **ret_why);

#endif
