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
			  &o->record_ws, &o->show_path };

	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	free_strv(o->external, o->nr_external);
	free_strv(o->features, o->nr_features);
	for (size_t i = 0; i < o->nr_inherit_fd; i++)
		free(o->inherit_fd[i].key);
	free(o->inherit_fd);
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
static bool g_address(const struct cr_options *o) { return !o->page_server && (o->address || o->port); }
static bool g_prev(const struct cr_options *o) { return o->prev_images_dir != NULL; }
static bool g_track(const struct cr_options *o) { return o->track_mem; }
static bool g_lazy(const struct cr_options *o) { return o->lazy_pages; }
static bool g_external(const struct cr_options *o)
{
	/* mounts and namespaces are carried (criu-lite/ns/); nothing else yet */
	for (size_t i = 0; i < o->nr_external; i++)
		if (strncmp(o->external[i], "mnt[", 4) && strncmp(o->external[i], "net[", 4))
			return true;
	return false;
}
static bool g_inherit(const struct cr_options *o) { return o->nr_inherit_fd > 0; }
static bool g_tcp_close(const struct cr_options *o) { return o->tcp_close; }
static bool g_cgroups(const struct cr_options *o)
{
	return o->manage_cgroups_set && o->manage_cgroups != CR_CG_IGNORE && o->manage_cgroups != CR_CG_NONE;
}
static bool g_file_locks(const struct cr_options *o) { return o->file_locks; }
static bool g_status_fd(const struct cr_options *o) { return o->status_fd >= 0; }
static bool g_sibling(const struct cr_options *o) { return o->restore_sibling; }

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
	{ "--inherit-fd", C(CR_CMD_RESTORE), g_inherit, "no pipes or sockets to inherit" },
	{ "--tcp-close", C(CR_CMD_RESTORE), g_tcp_close, "no TCP connections" },
	{ "--manage-cgroups", C(CR_CMD_DUMP) | C(CR_CMD_RESTORE), g_cgroups,
	  "the tasks stay in the cgroups criu-lite runs in" },
	{ "--file-locks", C(CR_CMD_DUMP) | C(CR_CMD_RESTORE), g_file_locks, "file locks are not dumped" },
	{ "--status-fd", C(CR_CMD_DUMP) | C(CR_CMD_RESTORE), g_status_fd,
	  "only lazy-pages reports its readiness" },
	{ "--restore-sibling", C(CR_CMD_RESTORE), g_sibling, "the root is always criu-lite's child" },
};

int cr_options_refuse(const struct cr_options *o, enum cr_cmd cmd)
{
	for (size_t i = 0; i < ARRAY_SIZE(refusals); i++)
		if ((refusals[i].cmds & C(cmd)) && refusals[i].given(o)) {
			pr_err("%s: not supported yet (%s)\n", refusals[i].name, refusals[i].why);
			errno = ENOTSUP;
			return -1;
		}
	return 0;
}
