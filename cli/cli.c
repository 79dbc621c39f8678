/*
 * The command line: the one place that parses argv (and CRIU's configuration files)
 * into struct cr_options, then calls the library's entry points.
 *
 * As in CRIU, options may come before or after the command, with CRIU's names and
 * meanings; boolean options also take a --no- form; configuration files hold one
 * option a line without the leading "--" (CRIU's format). The files read, in order:
 * /etc/criu/default.conf, $HOME/.criu/default.conf (both skipped with
 * --no-default-config), $CRIU_CONFIG_FILE, --config FILE; then the command line, so
 * that the command line wins.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/options.h"
#include "lib/util.h"
#include "cli/cli.h"
#include "criu-lite/check.h"
#include "criu-lite/dump.h"
#include "criu-lite/restore.h"
#include "criu-lite/rpc.h"
#include "criu-lite/show.h"
#include "lazy-pages/daemon.h"

struct cmd {
	const char *name;
	enum cr_cmd id;
	const char *help;
};

static const struct cmd cmds[] = {
	{ "dump", CR_CMD_DUMP, "checkpoint a process tree into a directory of images" },
	{ "restore", CR_CMD_RESTORE, "restore a process tree from images" },
	{ "lazy-pages", CR_CMD_LAZY_PAGES, "serve the memory of a lazy restore through userfaultfd" },
	{ "check", CR_CMD_CHECK, "probe what this kernel and these privileges allow" },
	{ "show", CR_CMD_SHOW, "print images as JSON" },
	{ "swrk", CR_CMD_SWRK, "serve CRIU's RPC protocol on the socket FD (as container runtimes run it)" },
	{ "pre-dump", CR_CMD_PRE_DUMP, "(not supported yet)" },
	{ "page-server", CR_CMD_PAGE_SERVER, "(not supported yet)" },
};

enum {
	OPT_PIDFILE = 1000,
	OPT_TCP_EST, OPT_TCP_CLOSE, OPT_SKIP_IN_FLIGHT, OPT_LINK_REMAP, OPT_DISPLAY_STATS,
	OPT_TRACK_MEM, OPT_PAGE_SERVER, OPT_RESTORE_DETACHED, OPT_RESTORE_SIBLING, OPT_SHELL_JOB,
	OPT_FILE_LOCKS, OPT_EXT_UNIX_SK, OPT_EVASIVE_DEVICES, OPT_ORPHAN_PTS_MASTER,
	OPT_BOOL_LAST,
	OPT_ADDRESS, OPT_PORT, OPT_PREV_IMAGES, OPT_MANAGE_CGROUPS, OPT_INHERIT_FD, OPT_FEATURE,
	OPT_GHOST_LIMIT, OPT_TIMEOUT, OPT_EXTERNAL, OPT_LAZY_PAGES, OPT_ALL, OPT_STATUS_FD,
	OPT_CONFIG, OPT_NO_DEFAULT_CONFIG, OPT_NETWORK_LOCK, OPT_PREFETCH, OPT_HOT_WS,
	OPT_RECORD_WS, OPT_BUSY_POLL, OPT_FAULT_AROUND, OPT_JSON, OPT_PAGES, OPT_FULL, OPT_PAGEMAP_READ,
	OPT_TIMERS_IN_ORDER,
	OPT_EMPTY_NS, OPT_JOIN_NS, OPT_FREEZE_CGROUP, OPT_CGROUP_ROOT,
};
/* the --no- forms of the boolean options */
#define OPT_NO(x) ((x) + 100)

#define BOOL_OPT(name, id) { name, no_argument, NULL, id }, { "no-" name, no_argument, NULL, OPT_NO(id) }

static const struct option long_opts[] = {
	{ "tree", required_argument, NULL, 't' },
	{ "leave-running", no_argument, NULL, 'R' },
	{ "images-dir", required_argument, NULL, 'D' },
	{ "work-dir", required_argument, NULL, 'W' },
	{ "log-file", required_argument, NULL, 'o' },
	{ "verbosity", optional_argument, NULL, 'v' },
	{ "root", required_argument, NULL, 'r' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	BOOL_OPT("tcp-established", OPT_TCP_EST),
	BOOL_OPT("tcp-close", OPT_TCP_CLOSE),
	BOOL_OPT("skip-in-flight", OPT_SKIP_IN_FLIGHT),
	BOOL_OPT("link-remap", OPT_LINK_REMAP),
	BOOL_OPT("display-stats", OPT_DISPLAY_STATS),
	BOOL_OPT("track-mem", OPT_TRACK_MEM),
	BOOL_OPT("page-server", OPT_PAGE_SERVER),
	BOOL_OPT("restore-detached", OPT_RESTORE_DETACHED),
	BOOL_OPT("restore-sibling", OPT_RESTORE_SIBLING),
	BOOL_OPT("shell-job", OPT_SHELL_JOB),
	BOOL_OPT("file-locks", OPT_FILE_LOCKS),
	BOOL_OPT("evasive-devices", OPT_EVASIVE_DEVICES),
	BOOL_OPT("orphan-pts-master", OPT_ORPHAN_PTS_MASTER),
	{ "ext-unix-sk", optional_argument, NULL, OPT_EXT_UNIX_SK },
	{ "no-ext-unix-sk", no_argument, NULL, OPT_NO(OPT_EXT_UNIX_SK) },
	{ "address", required_argument, NULL, OPT_ADDRESS },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "prev-images-dir", required_argument, NULL, OPT_PREV_IMAGES },
	{ "manage-cgroups", optional_argument, NULL, OPT_MANAGE_CGROUPS },
	{ "inherit-fd", required_argument, NULL, OPT_INHERIT_FD },
	{ "feature", required_argument, NULL, OPT_FEATURE },
	{ "ghost-limit", required_argument, NULL, OPT_GHOST_LIMIT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "external", required_argument, NULL, OPT_EXTERNAL },
	{ "lazy-pages", no_argument, NULL, OPT_LAZY_PAGES },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "status-fd", required_argument, NULL, OPT_STATUS_FD },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "no-default-config", no_argument, NULL, OPT_NO_DEFAULT_CONFIG },
	{ "network-lock", required_argument, NULL, OPT_NETWORK_LOCK },
	{ "empty-ns", required_argument, NULL, OPT_EMPTY_NS },
	{ "join-ns", required_argument, NULL, OPT_JOIN_NS },
	{ "freeze-cgroup", required_argument, NULL, OPT_FREEZE_CGROUP },
	{ "cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT },
	/* criu-lite's own */
	{ "prefetch", required_argument, NULL, OPT_PREFETCH },
	{ "hot-ws", required_argument, NULL, OPT_HOT_WS },
	{ "record-ws", required_argument, NULL, OPT_RECORD_WS },
	{ "busy-poll", required_argument, NULL, OPT_BUSY_POLL },
	{ "fault-around", required_argument, NULL, OPT_FAULT_AROUND },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "pages", no_argument, NULL, OPT_PAGES },
	{ "full", no_argument, NULL, OPT_FULL },
	{ "pagemap-read", no_argument, NULL, OPT_PAGEMAP_READ },
	{ "timers-in-order", no_argument, NULL, OPT_TIMERS_IN_ORDER },
	{ NULL, 0, NULL, 0 },
};
/* CRIU's short options (those criu-lite has); "-" first: non-options come back as 1,
 * in order, so the command and its words may stand anywhere */
static const char short_opts[] = "-dSRt:hD:o:v::x::Vr:jlW:";

static void usage(FILE *f)
{
	fprintf(f, "Usage: criu-lite COMMAND [OPTIONS]   (options may also come before the command)\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %-12s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f,
		"\nOptions (CRIU's names and meanings):\n"
		"  -D, --images-dir DIR     the images (default: the current directory)\n"
		"  -W, --work-dir DIR       logs, statistics and the lazy-pages socket (default: -D)\n"
		"  -o, --log-file FILE      log to FILE, relative to the work dir (default: stderr)\n"
		"  -v[N], -vv...            verbosity 0..4 (default 2; -v alone: one more)\n"
		"      --config FILE        read options from FILE; --no-default-config skips\n"
		"                           /etc/criu/default.conf and ~/.criu/default.conf\n"
		"  -V, --version            print the version (of the CRIU interface followed)\n"
		"dump:\n"
		"  -t, --tree PID           the root of the tree to checkpoint\n"
		"  -R, --leave-running      resume the tree after the dump instead of killing it\n"
		"  -j, --shell-job          the tree may hold the terminal (also for restore)\n"
		"      --timeout SEC        how long seizing the tree may take (default 10)\n"
		"      --tcp-established, --tcp-close, --skip-in-flight, -x/--ext-unix-sk,\n"
		"  -l, --file-locks, --link-remap, --ghost-limit SIZE, --external RES,\n"
		"      --network-lock iptables|nftables|skip, --manage-cgroups[=MODE]\n"
		"                           as in CRIU; what criu-lite cannot do yet is refused\n"
		"      --empty-ns net       the root's own network namespace, dumped empty\n"
		"      --freeze-cgroup DIR  every process in that cgroup must be in the tree\n"
		"restore:\n"
		"  -d, --restore-detached   exit once the tree runs (default: wait for the root\n"
		"                           and exit with its status)\n"
		"      --pidfile FILE       write the root's pid (relative to the work dir)\n"
		"      --lazy-pages         memory is served by `criu-lite lazy-pages`\n"
		"      --inherit-fd fd[N]:KEY  restore the file KEY (e.g. pipe:[123]) onto our fd N\n"
		"  -S, --restore-sibling    the root becomes our parent's child (with -d)\n"
		"      --join-ns NS:PATH    join the net, uts or ipc namespace at PATH\n"
		"      --cgroup-root [CTRL:]PATH  where --manage-cgroups expects the tasks\n"
		"swrk FD:\n"
		"      serve CRIU's RPC protocol on the SOCK_SEQPACKET socket FD (runc, podman)\n"
		"lazy-pages:\n"
		"      --prefetch none|all|hot  faults only; stream everything (default); the\n"
		"                           --hot-ws pages before the tasks run, then everything\n"
		"      --hot-ws FILE, --record-ws FILE   working-set files\n"
		"      --busy-poll USEC     spin this long after a fault (default %d, 0: never)\n"
		"      --fault-around PAGES a fault brings in up to this many pages (default %d,\n"
		"                           1: the faulting page only)\n"
		"      --status-fd FD       write a zero byte there once the socket listens\n"
		"check:\n"
		"      --all                every feature; --feature NAME[,NAME] (CRIU's names or\n"
		"                           criu-lite's; --feature list lists them); --json\n"
		"show FILE|DIR:\n"
		"      --pages              the crc32c of every page; --full: bytes in full\n"
		"\n"
		"Also --display-stats, --root, --page-server, --address, --port,\n"
		"--prev-images-dir, --track-mem, --orphan-pts-master: CRIU's meanings; refused with\n"
		"\"not supported yet\" where criu-lite cannot do it yet.\n",
		CR_DEFAULT_BUSY_POLL_US, CR_DEFAULT_FAULT_AROUND);
}

static int bad_value(const char *opt, const char *val, const char *what)
{
	fprintf(stderr, "criu-lite: %s %s: %s\n", opt, val ? val : "", what);
	return -1;
}

static int parse_num(const char *opt, const char *val, uint64_t max, uint64_t *ret)
{
	if (parse_u64(val, 0, ret) < 0 || *ret > max)
		return bad_value(opt, val, "not a number in range");
	return 0;
}

/* A size with an optional K, M or G suffix (CRIU's --ghost-limit). */
static int parse_size(const char *opt, const char *val, uint64_t *ret)
{
	char num[32];
	size_t n = strlen(val);
	unsigned shift = 0;

	if (!n || n >= sizeof(num))
		return bad_value(opt, val, "not a size");
	memcpy(num, val, n + 1);
	switch (num[n - 1]) {
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	}
	if (shift)
		num[n - 1] = '\0';
	if (parse_u64(num, 10, ret) < 0 || *ret > (UINT64_MAX >> shift))
		return bad_value(opt, val, "not a size");
	*ret <<= shift;
	return 0;
}

/* One option into o. 0, 1 for --help/--version (done), -1 on a bad value. */
static int apply_opt(struct cr_options *o, int c, const char *arg, bool *ret_help, bool *ret_version)
{
	uint64_t v;

	if (c >= OPT_NO(OPT_TCP_EST) && c < OPT_NO(OPT_BOOL_LAST)) {
		/* --no-X: the boolean off */
		c -= 100;
		switch (c) {
		case OPT_TCP_EST: o->tcp_established = false; break;
		case OPT_TCP_CLOSE: o->tcp_close = false; break;
		case OPT_SKIP_IN_FLIGHT: o->skip_in_flight = false; break;
		case OPT_LINK_REMAP: o->link_remap = false; break;
		case OPT_DISPLAY_STATS: o->display_stats = false; break;
		case OPT_TRACK_MEM: o->track_mem = false; break;
		case OPT_PAGE_SERVER: o->page_server = false; break;
		case OPT_RESTORE_DETACHED: o->restore_detached = false; break;
		case OPT_RESTORE_SIBLING: o->restore_sibling = false; break;
		case OPT_SHELL_JOB: o->shell_job = false; break;
		case OPT_FILE_LOCKS: o->file_locks = false; break;
		case OPT_EXT_UNIX_SK: o->ext_unix_sk = false; break;
		case OPT_EVASIVE_DEVICES: break;
		case OPT_ORPHAN_PTS_MASTER: o->orphan_pts_master = false; break;
		}
		return 0;
	}
	switch (c) {
	case 't':
		if (parse_num("--tree", arg, INT32_MAX, &v) < 0 || v == 0)
			return bad_value("--tree", arg, "not a pid");
		o->tree = (pid_t)v;
		return 0;
	case 'R': o->leave_running = true; return 0;
	case 'd': case OPT_RESTORE_DETACHED: o->restore_detached = true; return 0;
	case 'S': case OPT_RESTORE_SIBLING: o->restore_sibling = true; return 0;
	case 'j': case OPT_SHELL_JOB: o->shell_job = true; return 0;
	case 'l': case OPT_FILE_LOCKS: o->file_locks = true; return 0;
	case 'x': case OPT_EXT_UNIX_SK:
		if (arg)
			return bad_value("--ext-unix-sk", arg, "socket inode lists are not supported yet");
		o->ext_unix_sk = true;
		return 0;
	case 'D': return cr_opt_set_str(&o->images_dir, arg);
	case 'W': return cr_opt_set_str(&o->work_dir, arg);
	case 'o': return cr_opt_set_str(&o->log_file, arg);
	case 'r': return cr_opt_set_str(&o->root, arg);
	case 'v':
		/* CRIU: -v one more, -vv/-vvv more still, -vN exactly N */
		if (arg && arg[0] != 'v' && (arg[0] < '0' || arg[0] > '9'))
			return bad_value("-v", arg, "0..4, or more v's");
		if (!arg)
			o->log_level++;
		else if (arg[0] == 'v')
			o->log_level += (int)strlen(arg) + 1;
		else if (parse_num("-v", arg, 100, &v) < 0)
			return -1;
		else
			o->log_level = (int)v;
		if (o->log_level > LOG_DEBUG)
			o->log_level = LOG_DEBUG;
		return 0;
	case 'h': *ret_help = true; return 1;
	case 'V': *ret_version = true; return 1;
	case OPT_PIDFILE: return cr_opt_set_str(&o->pidfile, arg);
	case OPT_TCP_EST: o->tcp_established = true; return 0;
	case OPT_TCP_CLOSE: o->tcp_close = true; return 0;
	case OPT_SKIP_IN_FLIGHT: o->skip_in_flight = true; return 0;
	case OPT_LINK_REMAP: o->link_remap = true; return 0;
	case OPT_DISPLAY_STATS: o->display_stats = true; return 0;
	case OPT_TRACK_MEM: o->track_mem = true; return 0;
	case OPT_PAGE_SERVER: o->page_server = true; return 0;
	case OPT_EVASIVE_DEVICES: return 0; /* a permission for device files; nothing to gate yet */
	case OPT_ORPHAN_PTS_MASTER: o->orphan_pts_master = true; return 0;
	case OPT_EMPTY_NS: return cr_opt_set_empty_ns(o, arg);
	case OPT_JOIN_NS: return cr_opt_add_join_ns(o, arg);
	case OPT_FREEZE_CGROUP: return cr_opt_set_str(&o->freeze_cgroup, arg);
	case OPT_CGROUP_ROOT: return cr_opt_add_cg_root(o, arg);
	case OPT_ADDRESS: return cr_opt_set_str(&o->address, arg);
	case OPT_PORT:
		if (parse_num("--port", arg, 65535, &v) < 0)
			return -1;
		o->port = (int)v;
		return 0;
	case OPT_PREV_IMAGES: return cr_opt_set_str(&o->prev_images_dir, arg);
	case OPT_MANAGE_CGROUPS: return cr_opt_set_cg_mode(o, arg);
	case OPT_INHERIT_FD: return cr_opt_add_inherit_fd(o, arg);
	case OPT_FEATURE: return cr_opt_add_features(o, arg);
	case OPT_GHOST_LIMIT: return parse_size("--ghost-limit", arg, &o->ghost_limit);
	case OPT_TIMEOUT:
		if (parse_num("--timeout", arg, 24 * 3600, &v) < 0)
			return -1;
		o->timeout = (unsigned)v;
		return 0;
	case OPT_EXTERNAL: return cr_opt_add_external(o, arg);
	case OPT_LAZY_PAGES: o->lazy_pages = true; return 0;
	case OPT_ALL: o->check_all = true; return 0;
	case OPT_STATUS_FD:
		if (parse_num("--status-fd", arg, INT32_MAX, &v) < 0)
			return -1;
		o->status_fd = (int)v;
		return 0;
	case OPT_CONFIG: return cr_opt_set_str(&o->config_file, arg);
	case OPT_NO_DEFAULT_CONFIG: o->no_default_config = true; return 0;
	case OPT_NETWORK_LOCK: return cr_opt_set_network_lock(o, arg);
	case OPT_PREFETCH:
		if (!strcmp(arg, "none"))
			o->prefetch = CR_PREFETCH_NONE;
		else if (!strcmp(arg, "all"))
			o->prefetch = CR_PREFETCH_ALL;
		else if (!strcmp(arg, "hot"))
			o->prefetch = CR_PREFETCH_HOT;
		else
			return bad_value("--prefetch", arg, "none, all or hot");
		return 0;
	case OPT_HOT_WS: return cr_opt_set_str(&o->hot_ws, arg);
	case OPT_RECORD_WS: return cr_opt_set_str(&o->record_ws, arg);
	case OPT_BUSY_POLL: return parse_num("--busy-poll", arg, 1000000, &o->busy_poll_us);
	case OPT_FAULT_AROUND:
		if (parse_num("--fault-around", arg, CR_MAX_FAULT_AROUND, &o->fault_around) < 0)
			return -1;
		if (!o->fault_around)
			return bad_value("--fault-around", arg, "1 (the faulting page only) or more pages");
		return 0;
	case OPT_JSON: o->check_json = true; return 0;
	case OPT_PAGES: o->show_pages = true; return 0;
	case OPT_FULL: o->show_full = true; return 0;
	case OPT_PAGEMAP_READ: o->pagemap_read = true; return 0;
	case OPT_TIMERS_IN_ORDER: o->timers_in_order = true; return 0;
	default:
		return -1;
	}
}

/*
 * Parse argv (argv[0] is skipped) into o. The non-option words are returned in
 * ret_words (pointers into argv; the caller frees the array). 0, 1 when --help or
 * --version was asked (flags set), -1 on an error (printed).
 */
static int parse_args(int argc, char **argv, struct cr_options *o, char ***ret_words, size_t *ret_nr,
		      bool *ret_help, bool *ret_version)
{
	char **words = calloc(argc + 1, sizeof(*words));
	size_t nr = 0;
	int c, ret = 0;

	if (!words) {
		perror("criu-lite");
		return -1;
	}
	opterr = 1;
	optind = 0; /* a full reset: configuration files are parsed the same way */
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		if (c == 1) {
			words[nr++] = optarg;
			continue;
		}
		if (c == '?' || c == ':') {
			ret = -1;
			break;
		}
		int r = apply_opt(o, c, optarg, ret_help, ret_version);
		if (r < 0) {
			ret = -1;
			break;
		}
		if (r > 0)
			ret = 1;
	}
	if (ret < 0) {
		free(words);
		return -1;
	}
	*ret_words = words;
	*ret_nr = nr;
	return ret;
}

/* A CRIU configuration file: "name [value]" a line, '#' comments. Missing: 0 unless
 * required. 0 or -1 (printed). */
static int parse_config(const char *path, bool required, struct cr_options *o)
{
	cleanup_free char *text = NULL;
	char **args = NULL, **words = NULL;
	size_t nargs = 1, nwords = 0;
	bool help = false, version = false;
	int ret = -1;
	char *save = NULL;

	if (access(path, F_OK) < 0 && !required)
		return 0;
	text = read_file_str(AT_FDCWD, path, 1 << 20, NULL);
	if (!text) {
		fprintf(stderr, "criu-lite: can't read the configuration file %s\n", path);
		return -1;
	}
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *h = strchr(line, '#'), *name, *val, *sp;
		if (h)
			*h = '\0';
		name = line + strspn(line, " \t");
		if (!*name)
			continue;
		sp = name + strcspn(name, " \t");
		val = NULL;
		if (*sp) {
			*sp = '\0';
			val = sp + 1 + strspn(sp + 1, " \t");
			val[strcspn(val, "\r")] = '\0';
			for (size_t n = strlen(val); n && (val[n - 1] == ' ' || val[n - 1] == '\t'); n--)
				val[n - 1] = '\0';
			if (*val == '"' && strlen(val) >= 2 && val[strlen(val) - 1] == '"') {
				val[strlen(val) - 1] = '\0';
				val++;
			}
			if (!*val)
				val = NULL;
		}
		char **na = realloc(args, (nargs + 3) * sizeof(*args));
		if (!na)
			goto out;
		args = na;
		if (asprintf(&args[nargs], "--%s", name) < 0)
			goto out;
		nargs++;
		if (val)
			args[nargs++] = strdup(val);
	}
	if (nargs == 1) {
		ret = 0;
		goto out;
	}
	args[0] = (char *)"criu-lite";
	args[nargs] = NULL;
	ret = parse_args((int)nargs, args, o, &words, &nwords, &help, &version);
	if (ret == 0 && (nwords || help || version)) {
		fprintf(stderr, "criu-lite: %s: only options belong in a configuration file\n", path);
		ret = -1;
	}
	if (ret < 0)
		fprintf(stderr, "criu-lite: in the configuration file %s\n", path);
	else
		ret = 0;
out:
	for (size_t i = 1; args && i < nargs; i++)
		free(args[i]);
	free(args);
	free(words);
	return ret;
}

/* --no-default-config and --config FILE are needed before anything else is read. */
static void prescan(int argc, char **argv, bool *ret_no_default, const char **ret_config)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-default-config"))
			*ret_no_default = true;
		else if (!strcmp(argv[i], "--config") && i + 1 < argc)
			*ret_config = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			*ret_config = argv[i] + 9;
	}
}

static int read_configs(int argc, char **argv, struct cr_options *o)
{
	bool no_default = false;
	const char *cfg = NULL, *env = getenv("CRIU_CONFIG_FILE"), *home = getenv("HOME");
	char user[PATH_MAX];

	prescan(argc, argv, &no_default, &cfg);
	if (!no_default) {
		if (parse_config("/etc/criu/default.conf", false, o) < 0)
			return -1;
		if (home && (size_t)snprintf(user, sizeof(user), "%s/.criu/default.conf", home) < sizeof(user) &&
		    parse_config(user, false, o) < 0)
			return -1;
	}
	if (env && *env && parse_config(env, true, o) < 0)
		return -1;
	if (cfg && parse_config(cfg, true, o) < 0)
		return -1;
	return 0;
}

/* An absolute copy of a path (relative to the current directory), in place. */
static int make_absolute(char **p)
{
	char cwd[PATH_MAX], *abs;

	if (!*p || (*p)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd))) {
		perror("criu-lite: getcwd");
		return -1;
	}
	if (asprintf(&abs, "%s/%s", cwd, *p) < 0) {
		perror("criu-lite");
		return -1;
	}
	free(*p);
	*p = abs;
	return 0;
}

/* A relative path taken in the work dir, as CRIU (which runs in it) takes it. */
static int in_work_dir(const struct cr_options *o, char **p)
{
	char *abs;

	if (!*p || (*p)[0] == '/' || !strcmp(*p, "-"))
		return 0;
	if (asprintf(&abs, "%s/%s", o->work_dir, *p) < 0) {
		perror("criu-lite");
		return -1;
	}
	free(*p);
	*p = abs;
	return 0;
}

/* Directories and paths as the commands need them; logging set up. 0 or -1. */
static int setup(struct cr_options *o)
{
	if (!o->images_dir && cr_opt_set_str(&o->images_dir, ".") < 0)
		return -1;
	if (make_absolute(&o->images_dir) < 0)
		return -1;
	if (!o->work_dir && cr_opt_set_str(&o->work_dir, o->images_dir) < 0)
		return -1;
	if (make_absolute(&o->work_dir) < 0 || in_work_dir(o, &o->pidfile) < 0)
		return -1;
	/* dump creates its images directory (and so the default work dir) */
	if (o->cmd == CR_CMD_DUMP && mkdir(o->images_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "criu-lite: can't create %s: %s\n", o->images_dir, strerror(errno));
		return -1;
	}
	return log_init_in_dir(o->log_level, o->work_dir, o->log_file);
}

static void print_version(void)
{
	printf("Version: %d.%d\n", CR_COMPAT_MAJOR, CR_COMPAT_MINOR);
	printf("criu-lite %s (follows the interface of CRIU %d.%d)\n", CRIU_LITE_VERSION, CR_COMPAT_MAJOR,
	       CR_COMPAT_MINOR);
}

/* restore without -d: wait for the root and exit with its status, as a shell would. */
static int wait_root(const struct cr_restore_result *res)
{
	int status = res->root_status;

	while (!res->root_exited && waitpid(res->root, &status, 0) < 0) {
		if (errno != EINTR) {
			pr_perror("can't wait for the restored task %d", res->root);
			return 1;
		}
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* swrk: CRIU's configuration files, as the RPC server reads them. */
static int swrk_config(const char *path, struct cr_options *o)
{
	return parse_config(path, true, o);
}

static int swrk_defaults(struct cr_options *o)
{
	char *argv[] = { "criu-lite", NULL };
	return read_configs(1, argv, o);
}

static int run(struct cr_options *o)
{
	static const struct rpc_hooks hooks = { .parse_config = swrk_config, .defaults = swrk_defaults };

	struct cr_restore_result res;

	switch (o->cmd) {
	case CR_CMD_DUMP:
		if (!o->tree) {
			fprintf(stderr, "criu-lite dump: -t PID is required\n");
			return 1;
		}
		return cr_dump(o) < 0 ? 1 : 0;
	case CR_CMD_RESTORE:
		if (o->restore_sibling && !o->restore_detached) {
			pr_err("--restore-sibling: the root becomes our parent's child, not ours to wait for: use -d\n");
			return 1;
		}
		if (cr_restore(o, &res) < 0)
			return 1;
		return o->restore_detached ? 0 : wait_root(&res);
	case CR_CMD_LAZY_PAGES:
		return lp_daemon_run(o) < 0 ? 1 : 0;
	case CR_CMD_CHECK:
		return cr_check(o) < 0 ? 1 : 0;
	case CR_CMD_SHOW:
		return cr_show(o) < 0 ? 1 : 0;
	case CR_CMD_SWRK:
		return rpc_serve(o->swrk_fd, &hooks);
	default:
		pr_err("%s: not supported yet\n", o->cmd == CR_CMD_PRE_DUMP ? "pre-dump" : "page-server");
		return 1;
	}
}

int cli_parse(int argc, char **argv, struct cr_options *o, bool *ret_help, bool *ret_version)
{
	char **words = NULL;
	size_t nr = 0;
	int ret = -1;

	*ret_help = *ret_version = false;
	if (read_configs(argc, argv, o) < 0)
		return -1;
	if (parse_args(argc, argv, o, &words, &nr, ret_help, ret_version) < 0) {
		fprintf(stderr, "Try 'criu-lite --help'.\n");
		return -1;
	}
	if (*ret_version || (!nr && *ret_help)) {
		ret = 0;
		goto out;
	}
	if (!nr || !strcmp(words[0], "help")) {
		if (nr)
			*ret_help = true;
		else
			fprintf(stderr, "criu-lite: a command is expected (criu-lite --help lists them)\n");
		ret = nr ? 0 : -1;
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(words[0], cmds[i].name))
			o->cmd = cmds[i].id;
	if (o->cmd == CR_CMD_NONE) {
		fprintf(stderr, "criu-lite: unknown command '%s' (criu-lite --help lists them)\n", words[0]);
		goto out;
	}
	if (o->cmd == CR_CMD_SHOW && nr == 2 && !*ret_help) {
		if (cr_opt_set_str(&o->show_path, words[1]) < 0)
			goto out;
	} else if (o->cmd == CR_CMD_SHOW && !*ret_help) {
		fprintf(stderr, "criu-lite show: exactly one FILE or DIR is expected\n");
		goto out;
	} else if (o->cmd == CR_CMD_SWRK && !*ret_help) {
		uint64_t fd;
		/* as CRIU: exactly `swrk FD` */
		if (nr != 2 || parse_u64(words[1], 10, &fd) < 0 || fd > INT_MAX) {
			fprintf(stderr, "Usage: criu-lite swrk FD (a SOCK_SEQPACKET socket)\n");
			goto out;
		}
		o->swrk_fd = (int)fd;
	} else if (nr > 1) {
		fprintf(stderr, "criu-lite %s: unexpected argument '%s'\n", words[0], words[1]);
		goto out;
	}
	ret = 0;
out:
	free(words);
	return ret;
}

int cli_run(int argc, char **argv)
{
	struct cr_options o;
	bool help, version;
	int ret = 1;

	cr_options_init(&o);
	if (cli_parse(argc, argv, &o, &help, &version) < 0)
		goto out;
	if (version) {
		print_version();
		ret = 0;
		goto out;
	}
	if (help) {
		usage(stdout);
		ret = 0;
		goto out;
	}
	if (o.cmd == CR_CMD_SWRK) {
		/* each request names its own directories and log; until then, stderr */
		if (log_init(o.log_level, NULL) < 0)
			goto out;
	} else if (o.cmd != CR_CMD_SHOW && o.cmd != CR_CMD_CHECK) {
		if (setup(&o) < 0)
			goto out;
	} else if (log_init(o.log_level, NULL) < 0) {
		goto out;
	}
	if (cr_options_refuse(&o, o.cmd) < 0)
		goto out;
	ret = run(&o);
out:
	fflush(stdout);
	log_fini();
	cr_options_fini(&o);
	return ret;
}
