/* criu-lite swrk: CRIU's RPC protocol on a SOCK_SEQPACKET socket (see rpc.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "rpc: "
#include "lib/log.h"
#include "lib/util.h"
#include "images/rpc.pb-c.h"
#include "criu-lite/dump.h"
#include "criu-lite/kerndat.h"
#include "criu-lite/restore.h"
#include "criu-lite/rpc.h"

#ifndef EBADRQC
#define EBADRQC 56
#endif

struct rpc_srv {
	int sk;
	pid_t peer; /* the client (SO_PEERCRED): whose fds images_dir_fd etc. are */
	const struct rpc_hooks *hooks;
};

/* ---- the wire ---- */

/*
 * One request. 0 with *ret; -1 (logged) with errno ECONNRESET when the client went
 * away, EMSGSIZE when the request is too large (it is discarded), EBADMSG when it is
 * not a request.
 */
static int rpc_recv(int sk, RpcRequest **ret)
{
	cleanup_free uint8_t *buf = NULL;
	ssize_t len, n;

	do
		len = recv(sk, NULL, 0, MSG_PEEK | MSG_TRUNC);
	while (len < 0 && errno == EINTR);
	if (len < 0) {
		pr_perror("can't read a request");
		return -1;
	}
	if (len == 0) {
		/* end of the stream (or an empty packet, which is no request either) */
		pr_err("the client went away without a request\n");
		errno = ECONNRESET;
		return -1;
	}
	if ((size_t)len > RPC_MAX_REQ) {
		uint8_t drop;
		if (recv(sk, &drop, sizeof(drop), MSG_TRUNC) < 0)
			pr_warn("can't discard the oversized request: %s, ignoring\n", strerror(errno));
		pr_err("a request of %zd bytes is larger than the %u bytes accepted\n", len, RPC_MAX_REQ);
		errno = EMSGSIZE;
		return -1;
	}
	buf = malloc(len);
	if (!buf) {
		pr_perror("can't allocate %zd bytes for a request", len);
		return -1;
	}
	do
		n = recv(sk, buf, len, MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n != len) {
		if (n < 0)
			pr_perror("can't read a request");
		else
			pr_err("a request of %zd bytes shrank to %zd\n", len, n);
		errno = n < 0 ? errno : EIO;
		return -1;
	}
	*ret = rpc_request__unpack(NULL, len, buf);
	if (!*ret) {
		pr_err("a request of %zd bytes can't be decoded: not CRIU's RPC (a required field missing?)\n", len);
		errno = EBADMSG;
		return -1;
	}
	pr_debug("request type %d, %zd bytes\n", (int)(*ret)->type, len);
	return 0;
}

/* Send a response, with fd (>= 0) attached. 0 or -1 (logged). */
static int rpc_send(int sk, const RpcResponse *r, int fd)
{
	uint8_t buf[RPC_MAX_RESP];
	size_t len = rpc_response__get_packed_size(r);
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (len >= sizeof(buf)) {
		pr_err("a %zu-byte response is too large for the clients' buffers\n", len);
		errno = EMSGSIZE;
		return -1;
	}
	rpc_response__pack(r, buf);
	if (fd >= 0) {
		struct cmsghdr *c;
		memset(cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf;
		m.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sk, &m, MSG_NOSIGNAL);
		if (n == (ssize_t)len)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			pr_perror("can't send a response of type %d", (int)r->type);
		else
			pr_err("a response of type %d went out short\n", (int)r->type);
		return -1;
	}
}

/* Answer: success, or failure with cr_errno (err, if not 0) and cr_errmsg (the first
 * error logged). 0 when the answer went out and was a success. */
static int answer(struct rpc_srv *s, RpcResponse *r, RpcType type, bool ok, int err)
{
	r->type = type;
	r->success = ok;
	if (!ok) {
		const char *msg = log_first_error();
		r->has_cr_errno = err != 0;
		r->cr_errno = err;
		r->cr_errmsg = (char *)(msg ? msg : "failed (no error was logged)");
	}
	if (rpc_send(s->sk, r, -1) < 0)
		return -1;
	return ok ? 0 : -1;
}

static int answer_err(struct rpc_srv *s, RpcType type, int err)
{
	RpcResponse r = RPC_RESPONSE__INIT;
	return answer(s, &r, type, false, err);
}

/* ---- notifications ---- */

/* Whether the client is stopped under our ptrace (inside the tree being dumped): then it
 * can never answer a notification. */
static bool peer_seized(const struct rpc_srv *s)
{
	char path[48];
	cleanup_free char *text = NULL;
	const char *t;

	snprintf(path, sizeof(path), "/proc/%d/status", s->peer);
	text = read_file_str(AT_FDCWD, path, 1 << 16, NULL);
	t = text ? strstr(text, "\nTracerPid:") : NULL;
	return t && atoi(t + 11) == getpid();
}

static int rpc_notify(void *arg, enum cr_action act, pid_t pid, int fd)
{
	struct rpc_srv *s = arg;
	RpcResponse r = RPC_RESPONSE__INIT;
	RpcNotify n = RPC_NOTIFY__INIT;
	RpcRequest *q = NULL;
	const char *name = cr_action_name(act);
	int ret = -1;

	r.type = RPC_TYPE__RPC_NOTIFY;
	r.success = true;
	r.notify = &n;
	n.script = (char *)name;
	if (act == CR_ACT_SETUP_NS || act == CR_ACT_POST_RESTORE) {
		/* the runtime takes the root's pid from these (runc: post-restore) */
		n.has_pid = true;
		n.pid = pid;
	}
	if (peer_seized(s)) {
		pr_err("the client %d is in the tree being dumped: it can't answer the %s notification\n", s->peer,
		       name);
		errno = EDEADLK;
		return -1;
	}
	if (rpc_send(s->sk, &r, fd) < 0)
		return -1;
	if (rpc_recv(s->sk, &q) < 0) {
		pr_err("no answer from the client to the %s notification\n", name);
		return -1;
	}
	if (q->type != RPC_TYPE__RPC_NOTIFY || !q->has_notify_success || !q->notify_success) {
		pr_err("the client answered the %s notification with %s\n", name,
		       q->type != RPC_TYPE__RPC_NOTIFY ? "another request" : "a failure");
		errno = ECANCELED;
		goto out;
	}
	if (act == CR_ACT_QUERY_EXT_FILES && q->opts && q->opts->n_external) {
		pr_err("query-ext-files: the client named %zu external object(s) (%s...): --external: not "
		       "supported yet (no external resources)\n",
		       q->opts->n_external, q->opts->external[0]);
		errno = ENOTSUP;
		goto out;
	}
	if (act == CR_ACT_QUERY_EXT_FILES && !q->opts)
		pr_info("query-ext-files: no external objects from the client\n");
	ret = 0;
out:
	rpc_request__free_unpacked(q, NULL);
	return ret;
}

/* ---- options ---- */

/*
 * Options of the RPC alone that criu-lite cannot honour yet: the first one given, or
 * NULL. (Those the command line has too are refused by cr_options_refuse.)
 */
static const char *rpc_only_refused(const RpcOpts *r, const char **why)
{
#define REFUSE(cond, name, reason)   \
	do {                         \
		if (cond) {          \
			*why = reason; \
			return name; \
		}                    \
	} while (0)
	REFUSE(r->n_exec_cmd, "exec_cmd", "nothing is run after a restore");
	REFUSE(r->n_veths, "veths", "no network devices are restored");
	REFUSE(r->n_unix_sk_ino, "unix_sk_ino", "no unix sockets are dumped");
	REFUSE(r->has_force_irmap && r->force_irmap, "force_irmap", "no inotify watches are dumped");
	REFUSE(r->n_irmap_scan_paths, "irmap_scan_paths", "no inotify watches are dumped");
	REFUSE(r->has_auto_ext_mnt && r->auto_ext_mnt, "auto_ext_mnt", "no mount namespaces");
	REFUSE(r->has_ext_sharing && r->ext_sharing, "ext_sharing", "no mount namespaces");
	REFUSE(r->has_ext_masters && r->ext_masters, "ext_masters", "no mount namespaces");
	REFUSE(r->n_skip_mnt, "skip_mnt", "no mount namespaces");
	REFUSE(r->n_enable_fs, "enable_fs", "no mount namespaces");
	REFUSE(r->has_mntns_compat_mode && r->mntns_compat_mode, "mntns_compat_mode", "no mount namespaces");
	REFUSE(r->cgroup_props || r->cgroup_props_file || r->n_cgroup_dump_controller, "cgroup_props",
	       "cgroup properties are not dumped");
	REFUSE(r->cgroup_yard, "cgroup_yard", "cgroup properties are not restored");
	REFUSE(r->lsm_profile, "lsm_profile", "LSM profiles are not applied");
	REFUSE(r->lsm_mount_context, "lsm_mount_context", "no mounts are restored");
	REFUSE((r->has_tls && r->tls) || r->tls_cacert || r->tls_cacrl || r->tls_cert || r->tls_key, "tls",
	       "no page server");
	REFUSE(r->has_pidfd_store_sk, "pidfd_store_sk", "no pre-dumps");
	REFUSE(r->has_unprivileged && r->unprivileged, "unprivileged", "criu-lite runs as root");
	REFUSE(r->has_leave_stopped && r->leave_stopped, "leave_stopped",
	       "a dumped tree is killed or resumed (leave_running)");
	REFUSE(r->has_cpu_cap && r->cpu_cap != 0xffffffffu, "cpu_cap",
	       "restore always checks the CPU features it restores");
	REFUSE(r->ps && r->ps->has_fd, "ps.fd", "no page server");
#undef REFUSE
	return NULL;
}

/* Options accepted with nothing to do, each for a reason that holds here (logged). */
static void rpc_accepted(const RpcOpts *r)
{
	if (r->has_auto_dedup && r->auto_dedup)
		pr_info("auto_dedup: no parent images to deduplicate\n");
	if (r->has_evasive_devices && r->evasive_devices)
		pr_info("evasive_devices: a permission; no device files are matched by number\n");
	if (r->has_weak_sysctls && r->weak_sysctls)
		pr_info("weak_sysctls: no namespace sysctls are restored\n");
	if (r->has_skip_file_rwx_check)
		pr_info("skip_file_rwx_check: restore does not compare file mode bits\n");
	if (r->has_pre_dump_mode)
		pr_info("pre_dump_mode: only for pre-dumps\n");
	if (r->orphan_pts_master)
		pr_info("orphan_pts_master: a pty whose master is outside the tree gets a new master at restore, "
			"handed over with the orphan-pts-master notification\n");
}

/* A file the client passes as its fd N, opened here. fd or -1 (logged). */
static int client_fd(struct rpc_srv *s, const char *what, int n, int flags)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", s->peer, n);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		pr_perror("%s: can't open the client's fd %d (%s)", what, n, path);
	return fd;
}

/*
 * A directory the client passes as its fd N, as a path: where its /proc link points
 * when that is the same directory, else /proc/OURPID/fd/M of our own copy (kept open
 * for the life of the process). 0 or -1 (logged).
 */
static int client_dir(struct rpc_srv *s, const char *what, int n, char **ret)
{
	cleanup_close int dfd = client_fd(s, what, n, O_RDONLY | O_DIRECTORY);
	char proc[64], link[PATH_MAX];
	struct stat a, b;
	ssize_t len;

	if (dfd < 0)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/%d/fd/%d", s->peer, n);
	len = readlink(proc, link, sizeof(link) - 1);
	if (len > 0 && link[0] == '/') {
		link[len] = '\0';
		if (fstat(dfd, &a) == 0 && stat(link, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return cr_opt_set_str(ret, link);
	}
	snprintf(proc, sizeof(proc), "/proc/%d/fd/%d", (int)getpid(), dfd);
	if (cr_opt_set_str(ret, proc) < 0)
		return -1;
	steal_fd(&dfd);
	return 0;
}

static int make_absolute(char **p)
{
	char cwd[PATH_MAX], *abs;

	if (!*p || (*p)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd))) {
		pr_perror("getcwd");
		return -1;
	}
	if (asprintf(&abs, "%s/%s", cwd, *p) < 0) {
		pr_perror("can't build a path");
		return -1;
	}
	free(*p);
	*p = abs;
	return 0;
}

static int bad_request(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_request(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s\n", msg);
	errno = EBADRQC;
	return -1;
}

/* The flags and values of the request (what does not need the directories). */
static int opts_flags(struct rpc_srv *s, const RpcOpts *r, struct cr_options *o)
{
	o->leave_running = r->has_leave_running && r->leave_running;
	o->ext_unix_sk = r->has_ext_unix_sk && r->ext_unix_sk;
	o->tcp_established = r->has_tcp_established && r->tcp_established;
	o->skip_in_flight = r->has_tcp_skip_in_flight && r->tcp_skip_in_flight;
	o->tcp_close = r->has_tcp_close && r->tcp_close;
	o->shell_job = r->has_shell_job && r->shell_job;
	o->file_locks = r->has_file_locks && r->file_locks;
	o->track_mem = r->has_track_mem && r->track_mem;
	o->link_remap = r->has_link_remap && r->link_remap;
	o->lazy_pages = r->has_lazy_pages && r->lazy_pages;
	o->restore_sibling = r->has_rst_sibling && r->rst_sibling;
	o->orphan_pts_master = r->has_orphan_pts_master && r->orphan_pts_master;
	o->display_stats = r->has_display_stats && r->display_stats;
	o->ghost_limit = r->ghost_limit;
	if (r->has_timeout)
		o->timeout = r->timeout;
	if (r->has_network_lock)
		o->network_lock = (enum cr_netlock)r->network_lock;
	if (o->network_lock < CR_NETLOCK_IPTABLES || o->network_lock > CR_NETLOCK_SKIP)
		return bad_request("network_lock %d: unknown method", (int)r->network_lock);
	if (r->has_empty_ns) {
		if (r->empty_ns & ~CR_CLONE_NEWNET)
			return bad_request("empty_ns 0x%x: only the network namespace (0x%x) can be restored empty",
					   r->empty_ns, CR_CLONE_NEWNET);
		o->empty_ns = r->empty_ns;
	}
	if (r->has_manage_cgroups) {
		o->manage_cgroups_set = true;
		o->manage_cgroups = r->manage_cgroups ? CR_CG_SOFT : CR_CG_IGNORE;
	}
	if (r->has_manage_cgroups_mode) {
		if ((unsigned)r->manage_cgroups_mode > CR_CG_DEFAULT)
			return bad_request("manage_cgroups_mode %d: unknown", (int)r->manage_cgroups_mode);
		o->manage_cgroups_set = true;
		o->manage_cgroups = (enum cr_cg_mode)r->manage_cgroups_mode;
	}
	if (r->ps) {
		o->port = r->ps->has_port ? r->ps->port : 0;
		if (!o->lazy_pages) {
			/* pages to a page server (CRIU: address ignored with lazy_pages) */
			o->page_server = true;
			if (r->ps->address && cr_opt_set_str(&o->address, r->ps->address) < 0)
				return -1;
		}
	}
	if (r->notify_scripts) {
		o->notify.run = rpc_notify;
		o->notify.arg = s;
	}
	for (size_t i = 0; i < r->n_ext_mnt; i++) {
		char *spec;
		int ret;
		if (asprintf(&spec, "mnt[%s]:%s", r->ext_mnt[i]->key, r->ext_mnt[i]->val) < 0) {
			pr_perror("can't build an external mount");
			return -1;
		}
		ret = cr_opt_add_external(o, spec);
		free(spec);
		if (ret < 0)
			return -1;
	}
	for (size_t i = 0; i < r->n_external; i++)
		if (cr_opt_add_external(o, r->external[i]) < 0)
			return -1;
	for (size_t i = 0; i < r->n_join_ns; i++)
		if (cr_opt_add_join_ns_parts(o, r->join_ns[i]->ns, r->join_ns[i]->ns_file, r->join_ns[i]->extra) < 0)
			return -1;
	for (size_t i = 0; i < r->n_inherit_fd; i++) {
		/* a descriptor of ours, which the client set up before exec */
		if (fcntl(r->inherit_fd[i]->fd, F_GETFD) < 0)
			return bad_request("inherit_fd %s: fd %d is not open in criu-lite", r->inherit_fd[i]->key,
					   r->inherit_fd[i]->fd);
		if (cr_opt_add_inherit_fd_pair(o, r->inherit_fd[i]->key, r->inherit_fd[i]->fd) < 0)
			return -1;
	}
	for (size_t i = 0; i < r->n_cg_root; i++)
		if (cr_opt_add_cg_root_parts(o, r->cg_root[i]->ctrl, r->cg_root[i]->path) < 0)
			return -1;
	if (r->freeze_cgroup && cr_opt_set_str(&o->freeze_cgroup, r->freeze_cgroup) < 0)
		return -1;
	if (r->root && cr_opt_set_str(&o->root, r->root) < 0)
		return -1;
	if (r->has_status_fd) {
		pr_warn("status_fd is obsolete (CRIU: use the status-ready notification)\n");
		o->status_fd = client_fd(s, "status_fd", r->status_fd, O_WRONLY);
		if (o->status_fd < 0)
			return -1;
	}
	return 0;
}

/*
 * The request's options into o, for command cmd: flags, then the configuration file
 * (which overrides them, as in CRIU), the directories, the log. 0 or -1 (logged).
 */
static int opts_from_req(struct rpc_srv *s, const RpcOpts *r, enum cr_cmd cmd, struct cr_options *o)
{
	const char *why, *refused;
	bool cfg_images = false, cfg_work = false, cfg_log = false;
	int level;

	o->cmd = cmd;
	if (!r)
		return bad_request("the request has no options");
	if (opts_flags(s, r, o) < 0)
		return -1;
	if (r->config_file) {
		if (access(r->config_file, F_OK) < 0) {
			pr_info("the configuration file %s is absent: ignored, as CRIU does\n", r->config_file);
		} else {
			/* images and work dir and log file only count if the file sets them */
			char *im = steal_pointer(&o->images_dir), *wd = steal_pointer(&o->work_dir);
			char *lf = steal_pointer(&o->log_file);
			if (!s->hooks || !s->hooks->parse_config || s->hooks->parse_config(r->config_file, o) < 0) {
				free(im);
				free(wd);
				free(lf);
				return bad_request("can't apply the configuration file %s", r->config_file);
			}
			cfg_images = o->images_dir != NULL;
			cfg_work = o->work_dir != NULL;
			cfg_log = o->log_file != NULL;
			if (!cfg_images)
				o->images_dir = im;
			else
				free(im);
			if (!cfg_work)
				o->work_dir = wd;
			else
				free(wd);
			if (!cfg_log)
				o->log_file = lf;
			else
				free(lf);
			pr_info("options from %s applied\n", r->config_file);
		}
	}
	if (!cfg_images) {
		if (r->images_dir_fd >= 0) {
			if (client_dir(s, "images_dir_fd", r->images_dir_fd, &o->images_dir) < 0)
				return -1;
		} else if (r->images_dir) {
			if (cr_opt_set_str(&o->images_dir, r->images_dir) < 0)
				return -1;
		} else if (cmd == CR_CMD_DUMP || cmd == CR_CMD_RESTORE) {
			return bad_request("no images directory (images_dir_fd or images_dir)");
		}
	}
	if (o->images_dir && make_absolute(&o->images_dir) < 0)
		return -1;
	if (r->parent_img && cr_opt_set_str(&o->prev_images_dir, r->parent_img) < 0)
		return -1;
	if (!cfg_work && r->has_work_dir_fd && client_dir(s, "work_dir_fd", r->work_dir_fd, &o->work_dir) < 0)
		return -1;
	if (!o->work_dir && o->images_dir && cr_opt_set_str(&o->work_dir, o->images_dir) < 0)
		return -1;
	if (o->work_dir && (make_absolute(&o->work_dir) < 0 || chdir(o->work_dir) < 0)) {
		pr_perror("can't enter the work dir %s", o->work_dir);
		return -1;
	}
	/* the log: in the work dir, opened in place (a runtime may have created it) */
	if (!cfg_log) {
		if (r->log_file && strchr(r->log_file, '/'))
			return bad_request("log_file %s: a name in the work dir, without '/'", r->log_file);
		if (cr_opt_set_str(&o->log_file, r->has_log_to_stderr && r->log_to_stderr ? NULL :
						 r->log_file ? r->log_file : RPC_LOG_FILE) < 0)
			return -1;
	}
	level = o->log_level != CR_DEFAULT_LOG_LEVEL ? o->log_level : r->log_level;
	o->log_level = level < 0 ? 0 : level > LOG_DEBUG ? LOG_DEBUG : level;
	if (o->work_dir && log_init_in_dir(o->log_level, o->work_dir, o->log_file) < 0) {
		pr_err("can't open the log %s in %s\n", o->log_file ? o->log_file : "(stderr)", o->work_dir);
		return -1;
	}
	pr_info("criu-lite %s (CRIU %d.%d interface) serving pid %d: %s\n", CRIU_LITE_VERSION, CR_COMPAT_MAJOR,
		CR_COMPAT_MINOR, s->peer, cmd == CR_CMD_DUMP ? "dump" : cmd == CR_CMD_RESTORE ? "restore" : "check");
	/* what criu-lite cannot honour fails the request, into the log */
	refused = rpc_only_refused(r, &why);
	if (refused) {
		pr_err("%s: not supported yet (%s)\n", refused, why);
		errno = ENOTSUP;
		return -1;
	}
	rpc_accepted(r);
	return cr_options_refuse(o, cmd);
}

/* ---- the requests ---- */

/* The options a request starts from: CRIU's defaults and the default configuration
 * files. 0 or -1 (logged; o is initialised either way). */
static int start_options(struct rpc_srv *s, struct cr_options *o)
{
	cr_options_init(o);
	if (s->hooks && s->hooks->defaults && s->hooks->defaults(o) < 0) {
		pr_err("can't read the default configuration files\n");
		cr_options_fini(o);
		return -1;
	}
	return 0;
}

static int do_version(struct rpc_srv *s)
{
	RpcResponse r = RPC_RESPONSE__INIT;
	RpcVersion v = RPC_VERSION__INIT;

	/* the CRIU interface followed; no gitid (clients would round it up to the next minor) */
	v.major = CR_COMPAT_MAJOR;
	v.minor = CR_COMPAT_MINOR;
	r.version = &v;
	return answer(s, &r, RPC_TYPE__RPC_VERSION, true, 0);
}

/* Whether criu-lite honours an option for cmd (it is not refused), asked quietly. */
static bool honoured(void (*set)(struct cr_options *o), enum cr_cmd cmd)
{
	struct cr_options o;
	bool ok;

	cr_options_init(&o);
	set(&o);
	ok = cr_options_refusal(&o, cmd, NULL) == NULL;
	cr_options_fini(&o);
	return ok;
}

static void set_track_mem(struct cr_options *o)
{
	o->track_mem = true;
}

static void set_lazy(struct cr_options *o)
{
	o->lazy_pages = true;
}

static bool probed(struct kerndat *kd, const enum kd_feat *ids, size_t nr)
{
	bool ok = true;

	for (size_t i = 0; i < nr; i++)
		ok &= kerndat_probe(kd, ids[i]) == KD_OK;
	return ok;
}

/*
 * FEATURE_CHECK: each feature asked for, from this kernel's probes and what criu-lite
 * does with them. mem_track: write tracking (criu-lite would use uffd WP_ASYNC and
 * PAGEMAP_SCAN) and --track-mem honoured; lazy_pages: what a lazy restore needs and
 * restore --lazy-pages honoured; pidfd_store: pidfd_open and pidfd_getfd, and the
 * pidfd_store_sk option honoured (it is not: no pre-dumps). All three fields are
 * present, false when not asked for, as CRIU answers.
 */
static int do_feature_check(struct rpc_srv *s, const RpcRequest *q)
{
	static const enum kd_feat track[] = { KD_PAGEMAP_SCAN, KD_UFFD_WP_ASYNC };
	static const enum kd_feat lazy[] = { KD_UFFD, KD_UFFD_EVENT_FORK, KD_UFFD_EVENT_REMAP,
					     KD_UFFD_EVENT_REMOVE, KD_UFFD_EVENT_UNMAP, KD_UFFD_MISSING_SHMEM,
					     KD_UFFD_MINOR_SHMEM };
	static const enum kd_feat pidfd[] = { KD_PIDFD_OPEN, KD_PIDFD_GETFD };
	RpcResponse r = RPC_RESPONSE__INIT;
	RpcFeatures f = RPC_FEATURES__INIT;
	const RpcFeatures *ask = q->features;
	RpcOpts none = RPC_OPTS__INIT;
	const char *why;
	struct kerndat *kd = calloc(1, sizeof(*kd));

	if (!kd) {
		pr_perror("can't allocate kerndat");
		return answer_err(s, RPC_TYPE__RPC_FEATURE_CHECK, errno);
	}
	none.has_pidfd_store_sk = true;
	f.has_mem_track = f.has_lazy_pages = f.has_pidfd_store = true;
	if (ask && ask->has_mem_track && ask->mem_track)
		f.mem_track = probed(kd, track, ARRAY_SIZE(track)) && honoured(set_track_mem, CR_CMD_DUMP);
	if (ask && ask->has_lazy_pages && ask->lazy_pages)
		f.lazy_pages = probed(kd, lazy, ARRAY_SIZE(lazy)) && honoured(set_lazy, CR_CMD_RESTORE);
	if (ask && ask->has_pidfd_store && ask->pidfd_store)
		f.pidfd_store = probed(kd, pidfd, ARRAY_SIZE(pidfd)) && !rpc_only_refused(&none, &why);
	pr_info("features: mem_track %d, lazy_pages %d, pidfd_store %d\n", f.mem_track, f.lazy_pages,
		f.pidfd_store);
	free(kd);
	r.features = &f;
	return answer(s, &r, RPC_TYPE__RPC_FEATURE_CHECK, true, 0);
}

static int do_dump(struct rpc_srv *s, const RpcRequest *q)
{
	RpcResponse r = RPC_RESPONSE__INIT;
	RpcDumpResp d = RPC_DUMP_RESP__INIT;
	struct cr_options o;
	int ok, err = 0;

	if (start_options(s, &o) < 0)
		return answer(s, &r, RPC_TYPE__RPC_DUMP, false, EBADRQC);
	d.has_restored = true; /* a self-dump restored would answer true; criu-lite never does */
	r.dump = &d;
	ok = opts_from_req(s, q->opts, CR_CMD_DUMP, &o) == 0;
	if (ok) {
		/* default: the client itself, as CRIU; criu-lite can't: it holds this socket */
		o.tree = q->opts->has_pid ? q->opts->pid : s->peer;
		if (o.tree <= 0) {
			ok = bad_request("pid %d: not a process", o.tree) == 0;
		} else if (o.tree == s->peer) {
			pr_err("pid %d is the client itself: a self-dump needs its RPC socket dumped, which "
			       "criu-lite can't do yet\n", o.tree);
			errno = ENOTSUP;
			ok = false;
		} else {
			ok = cr_dump(&o) == 0;
		}
	}
	if (!ok)
		err = errno ? errno : EBADRQC;
	cr_options_fini(&o);
	return answer(s, &r, RPC_TYPE__RPC_DUMP, ok, err);
}

static int do_restore(struct rpc_srv *s, const RpcRequest *q)
{
	RpcResponse r = RPC_RESPONSE__INIT;
	RpcRestoreResp rr = RPC_RESTORE_RESP__INIT;
	struct cr_restore_result res = { 0 };
	struct cr_options o;
	int ok, err = 0;

	rr.pid = -1;
	r.restore = &rr;
	if (start_options(s, &o) < 0)
		return answer(s, &r, RPC_TYPE__RPC_RESTORE, false, EBADRQC);
	ok = opts_from_req(s, q->opts, CR_CMD_RESTORE, &o) == 0;
	if (ok) {
		o.restore_detached = true;
		ok = cr_restore(&o, &res) == 0;
	}
	if (ok)
		rr.pid = res.root;
	else
		err = errno ? errno : EBADRQC;
	cr_options_fini(&o);
	return answer(s, &r, RPC_TYPE__RPC_RESTORE, ok, err);
}

/* CHECK: can dump, restore and lazy restore work here (`criu-lite check`, into the log). */
static int do_check(struct rpc_srv *s, const RpcRequest *q)
{
	RpcResponse r = RPC_RESPONSE__INIT;
	struct cr_options o;
	struct kerndat *kd;
	int ok;

	cr_options_init(&o);
	if (q->opts && q->opts->log_file) {
		/* a log was asked for: it needs the directories */
		if (opts_from_req(s, q->opts, CR_CMD_CHECK, &o) < 0) {
			cr_options_fini(&o);
			return answer_err(s, RPC_TYPE__RPC_CHECK, errno ? errno : EBADRQC);
		}
	}
	cr_options_fini(&o);
	kd = calloc(1, sizeof(*kd));
	if (!kd) {
		pr_perror("can't allocate kerndat");
		return answer_err(s, RPC_TYPE__RPC_CHECK, errno);
	}
	kerndat_init(kd);
	ok = kerndat_require(kd, KD_NEED_ALL) == 0;
	free(kd);
	return answer(s, &r, RPC_TYPE__RPC_CHECK, ok, ok ? 0 : ENOTSUP);
}

/* WAIT_PID: a child of this process (CRIU: a restored root, before swrk exits). */
static int do_wait_pid(struct rpc_srv *s, const RpcRequest *q)
{
	RpcResponse r = RPC_RESPONSE__INIT;
	int status;
	pid_t p;

	if (!q->has_pid || q->pid == 0 || q->pid > INT_MAX) {
		bad_request("WAIT_PID needs a pid");
		return answer_err(s, RPC_TYPE__RPC_WAIT_PID, EBADRQC);
	}
	do
		p = waitpid((pid_t)q->pid, &status, 0);
	while (p < 0 && errno == EINTR);
	if (p < 0) {
		pr_perror("can't wait for pid %u", q->pid);
		return answer_err(s, RPC_TYPE__RPC_WAIT_PID, errno);
	}
	r.has_status = true;
	r.status = status;
	return answer(s, &r, RPC_TYPE__RPC_WAIT_PID, true, 0);
}

static int not_yet(struct rpc_srv *s, RpcType type, const char *what)
{
	pr_err("%s: not supported yet\n", what);
	return answer_err(s, type, ENOTSUP);
}

static int serve_one(struct rpc_srv *s, const RpcRequest *q)
{
	switch (q->type) {
	case RPC_TYPE__RPC_VERSION:
		return do_version(s);
	case RPC_TYPE__RPC_FEATURE_CHECK:
		return do_feature_check(s, q);
	case RPC_TYPE__RPC_DUMP:
		return do_dump(s, q);
	case RPC_TYPE__RPC_RESTORE:
		return do_restore(s, q);
	case RPC_TYPE__RPC_CHECK:
		return do_check(s, q);
	case RPC_TYPE__RPC_WAIT_PID:
		return do_wait_pid(s, q);
	case RPC_TYPE__RPC_PRE_DUMP:
	case RPC_TYPE__RPC_SINGLE_PRE_DUMP:
		return not_yet(s, q->type, "pre-dump");
	case RPC_TYPE__RPC_PAGE_SERVER:
	case RPC_TYPE__RPC_PAGE_SERVER_CHLD:
		return not_yet(s, q->type, "page-server");
	case RPC_TYPE__RPC_CPUINFO_DUMP:
	case RPC_TYPE__RPC_CPUINFO_CHECK:
		return not_yet(s, q->type, "cpuinfo");
	default:
		/* NOTIFY unasked, EMPTY, or a type this protocol does not have */
		pr_err("invalid request type %d\n", (int)q->type);
		return answer_err(s, RPC_TYPE__RPC_EMPTY, EBADRQC);
	}
}

/* keep_open is for the requests that leave nothing behind (CRIU's list). */
static bool may_keep_open(RpcType t)
{
	return t == RPC_TYPE__RPC_VERSION || t == RPC_TYPE__RPC_FEATURE_CHECK || t == RPC_TYPE__RPC_PAGE_SERVER ||
	       t == RPC_TYPE__RPC_CPUINFO_DUMP || t == RPC_TYPE__RPC_CPUINFO_CHECK;
}

int rpc_serve(int sk, const struct rpc_hooks *hooks)
{
	struct rpc_srv s = { .sk = sk, .hooks = hooks };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int type, ret = 1;
	socklen_t tlen = sizeof(type);

	/* our stdout may be a restored container's: user-facing messages go to the log */
	log_set_msg_stdout(false);
	signal(SIGPIPE, SIG_IGN);
	if (getsockopt(sk, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0) {
		pr_perror("swrk: fd %d is not a socket", sk);
		return 1;
	}
	if (type != SOCK_SEQPACKET) {
		pr_err("swrk: fd %d is a socket of type %d, not SOCK_SEQPACKET\n", sk, type);
		return 1;
	}
	if (getsockopt(sk, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0) {
		pr_perror("swrk: can't tell who the client is (SO_PEERCRED)");
		return 1;
	}
	s.peer = cred.pid;
	/* the socket must not leak into anything we start */
	fcntl(sk, F_SETFD, FD_CLOEXEC);
	for (;;) {
		RpcRequest *q = NULL;
		bool keep;

		if (rpc_recv(sk, &q) < 0) {
			/* nothing to answer if the client is gone; else say what was wrong */
			if (errno != ECONNRESET)
				answer_err(&s, RPC_TYPE__RPC_EMPTY, errno);
			return 1;
		}
		keep = q->has_keep_open && q->keep_open;
		if (keep && !may_keep_open(q->type)) {
			pr_err("keep_open is not allowed for requests of type %d\n", (int)q->type);
			answer_err(&s, q->type, EBADRQC);
			rpc_request__free_unpacked(q, NULL);
			return 1;
		}
		ret = serve_one(&s, q) == 0 ? 0 : 1;
		rpc_request__free_unpacked(q, NULL);
		if (!keep || ret)
			return ret;
	}
}
