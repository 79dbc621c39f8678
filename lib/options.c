/* The options struct (see options.h): defaults, setters shared by the CLI and the RPC,
 * and the one list of what criu-lite cannot do yet. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX ""
#include "lib/log.h"
#include "lib/options.h"
#include "lib/util.h"

void cr_options_init(struct cr_options *o)
{
	memset(o, 0, sizeof(*o));
	o->log_level = CR_DEFAULT_LOG_LEVEL;
	o->timeout = CR_DEFAULT_TIMEOUT;
	o->ghost_limit = CR_DEFAULT_GHOST_LIMIT;
	o->network_lock = CR_NETLOCK_IPTABLES;
	o->manage_cgroups = CR_CG_IGNORE;
	o->status_fd = -1;
	o->prefetch = CR_PREFETCH_ALL;
	o->busy_poll_us = CR_DEFAULT_BUSY_POLL_US;
	o->fault_around = CR_DEFAULT_FAULT_AROUND;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void cr_options_fini(struct cr_options *o)
{
	char **strs[] = { &o->images_dir, &o->work_dir, &o->log_file, &o->pidfile, &o->root,
			  &o->config_file, &o->prev_images_dir, &o->address, &o->hot_ws,
			  &o->record_ws, &o->show_path, &o->freeze_cgroup };

	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	free_strv(o->external, o->nr_external);
	free_strv(o->features, o->nr_features);
	for (size_t i = 0; i < o->nr_inherit_fd; i++)
		free(o->inherit_fd[i].key);
	free(o->inherit_fd);
	for (size_t i = 0; i < o->nr_join_ns; i++) {
		free(o->join_ns[i].ns);
		free(o->join_ns[i].path);
		free(o->join_ns[i].extra);
	}
	free(o->join_ns);
	for (size_t i = 0; i < o->nr_cg_root; i++) {
		free(o->cg_root[i].ctrl);
		free(o->cg_root[i].path);
	}
	free(o->cg_root);
	cr_options_init(o);
}

int cr_opt_set_str(char **field, const char *value)
{
	char *s = value ? strdup(value) : NULL;

	if (value && !s) {
		pr_perror("can't copy an option");
		return -1;
	}
	free(*field);
	*field = s;
	return 0;
}

static int strv_add(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv) {
		pr_perror("can't add an option");
		return -1;
	}
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n]) {
		pr_perror("can't add an option");
		return -1;
	}
	(*n)++;
	return 0;
}

int cr_opt_add_inherit_fd_pair(struct cr_options *o, const char *key, int fd)
{
	struct cr_inherit_fd *v;

	if (fd < 0 || !key || !*key) {
		pr_err("--inherit-fd: an fd and a key are needed\n");
		errno = EINVAL;
		return -1;
	}
	v = realloc(o->inherit_fd, (o->nr_inherit_fd + 1) * sizeof(*v));
	if (!v) {
		pr_perror("can't add an inherited fd");
		return -1;
	}
	o->inherit_fd = v;
	v[o->nr_inherit_fd].fd = fd;
	v[o->nr_inherit_fd].key = strdup(key);
	if (!v[o->nr_inherit_fd].key) {
		pr_perror("can't add an inherited fd");
		return -1;
	}
	o->nr_inherit_fd++;
	return 0;
}

int cr_opt_add_inherit_fd(struct cr_options *o, const char *spec)
{
	/* fd[N]:KEY, as CRIU writes it */
	const char *p = spec, *close;
	char num[16];
	uint64_t fd;

	if (strncmp(p, "fd[", 3) || !(close = strchr(p + 3, ']')) || close[1] != ':' || !close[2] ||
	    (size_t)(close - p - 3) >= sizeof(num) || close == p + 3) {
		pr_err("--inherit-fd %s: expected fd[N]:KEY, e.g. fd[3]:pipe:[12345]\n", spec);
		errno = EINVAL;
		return -1;
	}
	memcpy(num, p + 3, close - p - 3);
	num[close - p - 3] = '\0';
	if (parse_u64(num, 10, &fd) < 0 || fd > INT_MAX) {
		pr_err("--inherit-fd %s: '%s' is not an fd number\n", spec, num);
		errno = EINVAL;
		return -1;
	}
	return cr_opt_add_inherit_fd_pair(o, close + 2, (int)fd);
}

int cr_opt_inherit_fd(const struct cr_options *o, const char *key)
{
	/* the first one given wins, as in CRIU */
	for (size_t i = 0; i < o->nr_inherit_fd; i++)
		if (!strcmp(o->inherit_fd[i].key, key))
			return o->inherit_fd[i].fd;
	return -1;
}

/* strdup that keeps NULL; -1 (logged) when out of memory. */
static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (s && !(*ret = strdup(s))) {
		pr_perror("can't copy an option");
		return -1;
	}
	return 0;
}

int cr_opt_add_join_ns_parts(struct cr_options *o, const char *ns, const char *path, const char *extra)
{
	struct cr_join_ns *v, j;

	if (!ns || !*ns || !path || !*path) {
		pr_err("--join-ns: a namespace and a path are needed\n");
		errno = EINVAL;
		return -1;
	}
	if (dup_opt(ns, &j.ns) < 0 || dup_opt(path, &j.path) < 0 || dup_opt(extra, &j.extra) < 0)
		goto err;
	v = realloc(o->join_ns, (o->nr_join_ns + 1) * sizeof(*v));
	if (!v) {
		pr_perror("can't add --join-ns");
		goto err;
	}
	o->join_ns = v;
	v[o->nr_join_ns++] = j;
	return 0;
err:
	free(j.ns);
	free(j.path);
	free(j.extra);
	return -1;
}

int cr_opt_add_join_ns(struct cr_options *o, const char *spec)
{
	/* NS:PATH[,EXTRA], as CRIU writes it */
	const char *colon = strchr(spec, ':');
	cleanup_free char *ns = NULL, *path = NULL;
	char *comma;

	if (!colon || colon == spec || !colon[1]) {
		pr_err("--join-ns %s: expected NS:PATH[,EXTRA], e.g. net:/run/netns/a\n", spec);
		errno = EINVAL;
		return -1;
	}
	ns = strndup(spec, colon - spec);
	path = strdup(colon + 1);
	if (!ns || !path) {
		pr_perror("can't copy --join-ns");
		return -1;
	}
	comma = strchr(path, ',');
	if (comma)
		*comma++ = '\0';
	return cr_opt_add_join_ns_parts(o, ns, path, comma);
}

int cr_opt_add_cg_root_parts(struct cr_options *o, const char *ctrl, const char *path)
{
	struct cr_cg_root *v, c;

	if (!path || path[0] != '/') {
		pr_err("--cgroup-root: %s is not an absolute cgroup path\n", path ? path : "(none)");
		errno = EINVAL;
		return -1;
	}
	if (dup_opt(ctrl, &c.ctrl) < 0 || dup_opt(path, &c.path) < 0)
		goto err;
	v = realloc(o->cg_root, (o->nr_cg_root + 1) * sizeof(*v));
	if (!v) {
		pr_perror("can't add --cgroup-root");
		goto err;
	}
	o->cg_root = v;
	v[o->nr_cg_root++] = c;
	return 0;
err:
	free(c.ctrl);
	free(c.path);
	return -1;
}

int cr_opt_add_cg_root(struct cr_options *o, const char *spec)
{
	/* [CTRL:]PATH; a path starts with '/', so a ':' before the first '/' ends CTRL */
	const char *colon = strchr(spec, ':'), *slash = strchr(spec, '/');
	cleanup_free char *ctrl = NULL;

	if (!colon || (slash && slash < colon))
		return cr_opt_add_cg_root_parts(o, NULL, spec);
	ctrl = strndup(spec, colon - spec);
	if (!ctrl) {
		pr_perror("can't copy --cgroup-root");
		return -1;
	}
	return cr_opt_add_cg_root_parts(o, ctrl, colon + 1);
}

int cr_opt_set_empty_ns(struct cr_options *o, const char *value)
{
	/* CRIU takes only the network namespace here */
	if (strcmp(value, "net")) {
		pr_err("--empty-ns %s: only net can be restored empty\n", value);
		errno = EINVAL;
		return -1;
	}
	o->empty_ns |= CR_CLONE_NEWNET;
	return 0;
}

/* ---- actions (notifications) ---- */

static const char *const action_names[CR_ACT_NR] = {
	[CR_ACT_PRE_DUMP] = "pre-dump",
	[CR_ACT_NETWORK_LOCK] = "network-lock",
	[CR_ACT_QUERY_EXT_FILES] = "query-ext-files",
	[CR_ACT_POST_DUMP] = "post-dump",
	[CR_ACT_NETWORK_UNLOCK] = "network-unlock",
	[CR_ACT_PRE_RESTORE] = "pre-restore",
	[CR_ACT_SETUP_NS] = "setup-namespaces",
	[CR_ACT_POST_SETUP_NS] = "post-setup-namespaces",
	[CR_ACT_POST_RESTORE] = "post-restore",
	[CR_ACT_PRE_RESUME] = "pre-resume",
	[CR_ACT_POST_RESUME] = "post-resume",
	[CR_ACT_ORPHAN_PTS_MASTER] = "orphan-pts-master",
	[CR_ACT_STATUS_READY] = "status-ready",
};

const char *cr_action_name(enum cr_action act)
{
	return (unsigned)act < CR_ACT_NR ? action_names[act] : "?";
}

int cr_action_run(const struct cr_options *o, enum cr_action act, pid_t pid, int fd)
{
	if (!o->notify.run)
		return 0;
	pr_info("action %s%s\n", cr_action_name(act), pid > 0 ? " (with the root's pid)" : "");
	return o->notify.run(o->notify.arg, act, pid, fd);
}

int cr_opt_add_external(struct cr_options *o, const char *spec)
{
	const char *br = strchr(spec, '[');

	if (!br || br == spec || !strchr(br, ']')) {
		pr_err("--external %s: expected TYPE[ID]:VALUE (e.g. mnt[/data]:data or net[4026531993]:key)\n",
		       spec);
		errno = EINVAL;
		return -1;
	}
	return strv_add(&o->external, &o->nr_external, spec);
}

int cr_opt_add_features(struct cr_options *o, const char *list)
{
	cleanup_free char *copy = strdup(list);
	char *save = NULL;

	if (!copy) {
		pr_perror("can't copy --feature");
		return -1;
	}
	for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save))
		if (strv_add(&o->features, &o->nr_features, f) < 0)
			return -1;
	return 0;
}

int cr_opt_set_network_lock(struct cr_options *o, const char *value)
{
	if (!strcmp(value, "iptables"))
		o->network_lock = CR_NETLOCK_IPTABLES;
	else if (!strcmp(value, "nftables"))
		o->network_lock = CR_NETLOCK_NFTABLES;
	else if (!strcmp(value, "skip"))
		o->network_lock = CR_NETLOCK_SKIP;
	else {
		pr_err("--network-lock %s: iptables, nftables or skip\n", value);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int cr_opt_set_cg_mode(struct cr_options *o, const char *value)
{
	static const struct {
		const char *name;
		enum cr_cg_mode mode;
	} modes[] = {
		{ "none", CR_CG_NONE }, { "props", CR_CG_PROPS },   { "soft", CR_CG_SOFT },
		{ "full", CR_CG_FULL }, { "strict", CR_CG_STRICT }, { "ignore", CR_CG_IGNORE },
	};

	o->manage_cgroups_set = true;
	if (!value) {
		o->manage_cgroups = CR_CG_SOFT;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		if (!strcmp(value, modes[i].name)) {
			o->manage_cgroups = modes[i].mode;
			return 0;
		}
	pr_err("--manage-cgroups=%s: none, props, soft, full, strict or ignore\n", value);
	errno = EINVAL;
	return -1;
}

/* ---- what criu-lite cannot do yet ---- */

#define C(x) (1u << (x))

struct refusal {
	const char *name;
	unsigned cmds;          /* the commands for which it is refused */
	bool (*given)(const struct cr_options *o);
	const char *why;
};

static bool g_page_server(const struct cr_options *o) { return o->page_server; }
/* (dump --lazy-pages --port: where the dump would serve the pages; refused as --lazy-pages) */
static bool g_address(const struct cr_options *o)
{
	return !o->page_server && !(o->lazy_pages && o->cmd == CR_CMD_DUMP) && (o->address || o->port);
}
static bool g_prev(const struct cr_options *o) { return o->prev_images_dir != NULL; }
static bool g_track(const struct cr_options *o) { return o->track_mem; }
static bool g_lazy(const struct cr_options *o) { return o->lazy_pages; }
static bool g_external(const struct cr_options *o)
{
	/* mounts and network namespaces are carried (criu-lite/ns/); nothing else yet */
	for (size_t i = 0; i < o->nr_external; i++)
		if (strncmp(o->external[i], "mnt[", 4) && strncmp(o->external[i], "net[", 4))
			return true;
	return false;
}
static bool g_cgroups(const struct cr_options *o)
{
	/* soft (and CRIU's default, which is soft) only puts tasks back into existing cgroups:
	 * dump and restore check that they are where they belong (criu-lite/cgroup.c) */
	return o->manage_cgroups_set && (o->manage_cgroups == CR_CG_PROPS || o->manage_cgroups == CR_CG_FULL ||
					 o->manage_cgroups == CR_CG_STRICT);
}
static bool g_join_ns(const struct cr_options *o)
{
	for (size_t i = 0; i < o->nr_join_ns; i++)
		if (strcmp(o->join_ns[i].ns, "net") && strcmp(o->join_ns[i].ns, "uts") &&
		    strcmp(o->join_ns[i].ns, "ipc"))
			return true;
	return false;
}
static bool g_status_fd(const struct cr_options *o) { return o->status_fd >= 0; }

static const struct refusal refusals[] = {
	{ "--page-server", C(CR_CMD_DUMP) | C(CR_CMD_LAZY_PAGES) | C(CR_CMD_RESTORE), g_page_server,
	  "pages go to and come from the images directory only" },
	{ "--address/--port", C(CR_CMD_DUMP) | C(CR_CMD_LAZY_PAGES) | C(CR_CMD_RESTORE), g_address,
	  "they only go with --page-server" },
	{ "--prev-images-dir", C(CR_CMD_DUMP), g_prev, "no incremental dumps" },
	{ "--track-mem", C(CR_CMD_DUMP), g_track, "no memory change tracking" },
	{ "--lazy-pages", C(CR_CMD_DUMP), g_lazy,
	  "dump writes every page into the images; restore --lazy-pages with criu-lite lazy-pages serves them" },
	{ "--external", C(CR_CMD_DUMP) | C(CR_CMD_RESTORE), g_external,
	  "only mounts (mnt[..]) and network namespaces (net[..]) can be external" },
	{ "--manage-cgroups", C(CR_CMD_DUMP) | C(CR_CMD_RESTORE), g_cgroups,
	  "cgroup properties are not dumped; soft puts the tasks back into existing cgroups" },
	{ "--join-ns", C(CR_CMD_RESTORE), g_join_ns, "only net, uts and ipc namespaces can be joined" },
	{ "--status-fd", C(CR_CMD_DUMP) | C(CR_CMD_RESTORE), g_status_fd,
	  "only lazy-pages reports its readiness" },
};

const char *cr_options_refusal(const struct cr_options *o, enum cr_cmd cmd, const char **ret_why)
{
	for (size_t i = 0; i < ARRAY_SIZE(refusals); i++)
		if ((refusals[i].cmds & C(cmd)) && refusals[i].given(o)) {
			if (ret_why)
				*ret_why = refusals[i].why;
			return refusals[i].name;
		}
	return NULL;
}

int cr_options_refuse(const struct cr_options *o, enum cr_cmd cmd)
{
	const char *why, *name = cr_options_refusal(o, cmd, &why);

	if (!name)
		return 0;
	pr_err("%s: not supported yet (%s)\n", name, why);
	errno = ENOTSUP;
	return -1;
}
