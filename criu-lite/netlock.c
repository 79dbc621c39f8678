/* The network lock: iptables and nftables, through their tools (see netlock.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "netlock: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/netlock.h"

#define TOOL_OUT_MAX 2048
#define TOOL_TIMEOUT_MS 30000

void netlock_table_name(pid_t root, char *buf, size_t len)
{
	snprintf(buf, len, "criu-lite-%d", (int)root);
}

/* ---- the scripts ---- */

struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += n;
			return;
		}
		size_t ncap = MAX(b->cap * 2, b->len + n + 256);
		char *ns = realloc(b->s, ncap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
}

static void addr_str(int family, const uint8_t *a, char *buf, size_t len)
{
	if (!inet_ntop(family, a, buf, len))
		snprintf(buf, len, "?");
}

static void ipt_rules(struct sbuf *b, const struct netlock_conn *c, bool lock)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	const char *op = lock ? "-I" : "-D";

	addr_str(c->family, c->src, src, sizeof(src));
	addr_str(c->family, c->dst, dst, sizeof(dst));
	/* what the peer sends us, and what we send it */
	sb_printf(b,
		  "%s INPUT -p tcp -s %s -d %s --sport %u --dport %u -m mark ! --mark 0x%x -m comment --comment "
		  "criu-lite -j DROP\n",
		  op, dst, src, c->dport, c->sport, NETLOCK_MARK);
	sb_printf(b,
		  "%s OUTPUT -p tcp -s %s -d %s --sport %u --dport %u -m mark ! --mark 0x%x -m comment --comment "
		  "criu-lite -j DROP\n",
		  op, src, dst, c->sport, c->dport, NETLOCK_MARK);
}

static void nft_elem(struct sbuf *b, const struct netlock_conn *c, bool *first)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];

	addr_str(c->family, c->src, src, sizeof(src));
	addr_str(c->family, c->dst, dst, sizeof(dst));
	sb_printf(b, "%s%s . %u . %s . %u, %s . %u . %s . %u", *first ? "" : ", ", src, c->sport, dst, c->dport, dst,
		  c->dport, src, c->sport);
	*first = false;
}

char *netlock_script(int method, const char *table, const struct netlock_conn *c, size_t n, bool v6, bool lock)
{
	struct sbuf b = { 0 };

	if (method == NETLOCK_IPTABLES) {
		sb_printf(&b, "*filter\n");
		for (size_t i = 0; i < n; i++)
			if ((c[i].family == AF_INET6) == v6)
				ipt_rules(&b, &c[i], lock);
		sb_printf(&b, "COMMIT\n");
	} else if (!lock) {
		sb_printf(&b, "delete table inet %s\n", table);
	} else {
		static const char *const hooks[] = { "input", "output" };
		bool first4 = true, first6 = true;

		sb_printf(&b, "add table inet %s\n", table);
		for (size_t h = 0; h < 2; h++)
			sb_printf(&b, "add chain inet %s %s { type filter hook %s priority -150; policy accept; }\n",
				  table, hooks[h], hooks[h]);
		sb_printf(&b, "add set inet %s conn4 { type ipv4_addr . inet_service . ipv4_addr . inet_service; }\n",
			  table);
		sb_printf(&b, "add set inet %s conn6 { type ipv6_addr . inet_service . ipv6_addr . inet_service; }\n",
			  table);
		for (size_t h = 0; h < 2; h++) {
			sb_printf(&b,
				  "add rule inet %s %s meta mark != 0x%x ip saddr . tcp sport . ip daddr . tcp dport "
				  "@conn4 drop\n",
				  table, hooks[h], NETLOCK_MARK);
			sb_printf(&b,
				  "add rule inet %s %s meta mark != 0x%x ip6 saddr . tcp sport . ip6 daddr . tcp dport "
				  "@conn6 drop\n",
				  table, hooks[h], NETLOCK_MARK);
		}
		for (int fam = 0; fam < 2; fam++) {
			bool *first = fam ? &first6 : &first4;
			for (size_t i = 0; i < n; i++) {
				if ((c[i].family == AF_INET6) != (fam == 1))
					continue;
				if (*first)
					sb_printf(&b, "add element inet %s %s { ", table, fam ? "conn6" : "conn4");
				nft_elem(&b, &c[i], first);
			}
			if (!*first)
				sb_printf(&b, " }\n");
		}
	}
	if (b.oom) {
		pr_err("can't allocate the network lock script\n");
		free(b.s);
		errno = ENOMEM;
		return NULL;
	}
	return b.s;
}

/* ---- running the tools ---- */

static int find_tool(const char *name, char *path, size_t len)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, len, "%s/%s", dirs[i], name);
		if (access(path, X_OK) == 0)
			return 0;
	}
	errno = ENOENT;
	return -1;
}

/*
 * Run tool (argv[0] a name) with input on its stdin; what it prints goes to out.
 * Returns its exit status (0-255, 256 + signal), or -1 (logged) if it could not
 * run at all.
 */
static int run_tool(const char *const argv[], const char *input, char *out, size_t outlen)
{
	char path[64];
	int in[2] = { -1, -1 }, op[2] = { -1, -1 }, st;
	size_t inlen = input ? strlen(input) : 0, done = 0, got = 0;
	uint64_t deadline = now_ns() + TOOL_TIMEOUT_MS * 1000000ULL;
	pid_t pid;

	out[0] = '\0';
	if (find_tool(argv[0], path, sizeof(path)) < 0) {
		snprintf(out, outlen, "%s is not installed", argv[0]);
		return -1;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0) {
		pr_perror("can't create pipes for %s", argv[0]);
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		pr_perror("can't fork to run %s", argv[0]);
		goto fail;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(op[1], 1);
		dup2(op[1], 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		signal(SIGPIPE, SIG_DFL);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(op[1]);
	in[0] = op[1] = -1;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (!inlen) {
		close(in[1]);
		in[1] = -1;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = op[0], .events = POLLIN }, { .fd = in[1], .events = POLLOUT } };
		char buf[512];
		int r = poll(p, in[1] >= 0 ? 2 : 1, 100);

		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			snprintf(out, outlen, "%s did not finish within %d s", argv[0], TOOL_TIMEOUT_MS / 1000);
			break;
		}
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (in[1] >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(in[1], input + done, inlen - done);
			if (w > 0)
				done += w;
			if (w < 0 || done == inlen) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(op[0], buf, sizeof(buf));
			if (n <= 0)
				break;
			if (got + 1 < outlen) {
				size_t k = MIN((size_t)n, outlen - 1 - got);
				memcpy(out + got, buf, k);
				got += k;
				out[got] = '\0';
			}
		}
	}
	closep(&in[1]);
	closep(&op[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	/* one line for messages */
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = *(p + 1) ? ' ' : '\0';
	return WIFEXITED(st) ? WEXITSTATUS(st) : 256 + WTERMSIG(st);
fail:
	closep(&in[0]);
	closep(&in[1]);
	closep(&op[0]);
	closep(&op[1]);
	return -1;
}

/* Run the script through the tool of the method. 0, or -1 with the tool's words in out. */
static int apply(int method, bool legacy, bool v6, const char *script, char *out, size_t outlen)
{
	const char *ipt = v6 ? (legacy ? "ip6tables-legacy-restore" : "ip6tables-restore")
			     : (legacy ? "iptables-legacy-restore" : "iptables-restore");
	const char *const ipt_argv[] = { ipt, "--noflush", legacy ? "-w" : NULL, NULL };
	const char *const nft_argv[] = { "nft", "-f", "-", NULL };
	int r = run_tool(method == NETLOCK_NFTABLES ? nft_argv : ipt_argv, script, out, outlen);

	if (r > 0 && !out[0])
		snprintf(out, outlen, "exit status %d", r);
	return r == 0 ? 0 : -1;
}

static bool has_family(const struct netlock_conn *c, size_t n, bool v6)
{
	for (size_t i = 0; i < n; i++)
		if ((c[i].family == AF_INET6) == v6)
			return true;
	return false;
}

static const char *method_name(int method)
{
	return method == NETLOCK_NFTABLES ? "nftables" : method == NETLOCK_IPTABLES_LEGACY ? "iptables (legacy)" : "iptables";
}

static int do_lock(int method, bool legacy, const char *table, const struct netlock_conn *c, size_t n, char *out,
		   size_t outlen)
{
	cleanup_free char *s4 = NULL, *s6 = NULL;

	if (method == NETLOCK_NFTABLES) {
		s4 = netlock_script(method, table, c, n, false, true);
		return s4 ? apply(method, legacy, false, s4, out, outlen) : -1;
	}
	s4 = netlock_script(method, table, c, n, false, true);
	s6 = netlock_script(method, table, c, n, true, true);
	if (!s4 || !s6)
		return -1;
	if (has_family(c, n, false) && apply(method, legacy, false, s4, out, outlen) < 0)
		return -1;
	if (has_family(c, n, true) && apply(method, legacy, true, s6, out, outlen) < 0) {
		char o2[TOOL_OUT_MAX];
		cleanup_free char *u4 = netlock_script(method, table, c, n, false, false);
		if (has_family(c, n, false) && (!u4 || apply(method, legacy, false, u4, o2, sizeof(o2)) < 0))
			pr_err("can't remove the IPv4 rules of the failed lock: %s\n", o2);
		return -1;
	}
	return 0;
}

int netlock_lock(int method, const char *table, const struct netlock_conn *c, size_t n, int *ret_used)
{
	char out[TOOL_OUT_MAX];
	uint64_t t0 = now_ns();

	*ret_used = method;
	if (method == NETLOCK_SKIP || !n)
		return 0;
	if (method == NETLOCK_IPTABLES && do_lock(method, true, table, c, n, out, sizeof(out)) == 0) {
		*ret_used = NETLOCK_IPTABLES_LEGACY;
		method = *ret_used;
	} else if (do_lock(method, false, table, c, n, out, sizeof(out)) < 0) {
		pr_err("can't lock %zu TCP connection(s) with %s: %.300s\n", n, method_name(method), out);
		errno = EPERM;
		return -1;
	}
	pr_info("%zu TCP connection(s) locked with %s%s%s in %.1f ms\n", n, method_name(method),
		method == NETLOCK_NFTABLES ? " in table inet " : "", method == NETLOCK_NFTABLES ? table : "",
		(now_ns() - t0) / 1e6);
	return 0;
}

static int do_unlock(int method, bool legacy, const char *table, const struct netlock_conn *c, size_t n,
		     char *out, size_t outlen)
{
	int ret = 0;

	if (method == NETLOCK_NFTABLES) {
		cleanup_free char *s = netlock_script(method, table, c, n, false, false);
		return s ? apply(method, legacy, false, s, out, outlen) : -1;
	}
	for (int v6 = 0; v6 < 2; v6++) {
		cleanup_free char *s = NULL;
		if (!has_family(c, n, v6))
			continue;
		s = netlock_script(method, table, c, n, v6, false);
		if (!s)
			return -1;
		if (apply(method, legacy, v6, s, out, outlen) == 0)
			continue;
		/* some rule is gone already: the others one by one */
		for (size_t i = 0; i < n; i++) {
			cleanup_free char *one = NULL;
			char o1[TOOL_OUT_MAX];
			if ((c[i].family == AF_INET6) != (bool)v6)
				continue;
			one = netlock_script(method, table, &c[i], 1, v6, false);
			if (!one || apply(method, legacy, v6, one, o1, sizeof(o1)) < 0) {
				char a[INET6_ADDRSTRLEN];
				addr_str(c[i].family, c[i].src, a, sizeof(a));
				pr_warn("the lock of the connection from %s:%u was not there (%s), ignoring\n", a,
					c[i].sport, o1);
				ret = 1;
			}
		}
	}
	return ret;
}

int netlock_unlock(int method, const char *table, const struct netlock_conn *c, size_t n)
{
	char out[TOOL_OUT_MAX];
	int r;

	if (method == NETLOCK_SKIP || !n)
		return 0;
	r = method == NETLOCK_IPTABLES_LEGACY ? do_unlock(NETLOCK_IPTABLES, true, table, c, n, out, sizeof(out))
					      : do_unlock(method, false, table, c, n, out, sizeof(out));
	if (r < 0) {
		if (method == NETLOCK_NFTABLES && strstr(out, "No such file")) {
			pr_warn("the lock table inet %s was not there, ignoring\n", table);
			return 0;
		}
		pr_err("can't unlock %zu TCP connection(s) locked with %s: %.300s\n", n, method_name(method), out);
		errno = EPERM;
		return -1;
	}
	pr_info("%zu TCP connection(s) unlocked (%s)\n", n, method_name(method));
	return 0;
}

/* ---- probes ---- */

struct probe_res {
	int ok;
	char detail[256];
};

int netlock_probe(int method, bool legacy, char *detail, size_t len)
{
	struct probe_res *res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct netlock_conn c[2] = { { .family = AF_INET, .sport = 1, .dport = 2 },
				     { .family = AF_INET6, .sport = 3, .dport = 4 } };
	pid_t pid;
	int st, ok;

	if (res == MAP_FAILED) {
		snprintf(detail, len, "mmap: %s", strerror(errno));
		return -1;
	}
	memset(res, 0, sizeof(*res));
	inet_pton(AF_INET, "127.0.0.1", c[0].src);
	inet_pton(AF_INET, "127.0.0.2", c[0].dst);
	inet_pton(AF_INET6, "::1", c[1].src);
	inet_pton(AF_INET6, "fd00::2", c[1].dst);
	pid = fork();
	if (pid < 0) {
		snprintf(detail, len, "fork: %s", strerror(errno));
		munmap(res, sizeof(*res));
		return -1;
	}
	if (pid == 0) {
		char out[TOOL_OUT_MAX];
		/* the probe's rules live and die with a namespace of its own */
		if (unshare(CLONE_NEWNET) < 0) {
			snprintf(res->detail, sizeof(res->detail), "unshare(CLONE_NEWNET): %s", strerror(errno));
			_exit(1);
		}
		log_init(LOG_MSG, NULL); /* the probe's own failures are its result */
		if (do_lock(method, legacy, "criu-lite-probe", c, 2, out, sizeof(out)) < 0) {
			snprintf(res->detail, sizeof(res->detail), "lock: %.200s", out);
			_exit(1);
		}
		if (do_unlock(method, legacy, "criu-lite-probe", c, 2, out, sizeof(out)) != 0) {
			snprintf(res->detail, sizeof(res->detail), "unlock: %.200s", out);
			_exit(1);
		}
		res->ok = 1;
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	ok = res->ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (ok)
		snprintf(detail, len, "%s: IPv4 and IPv6 connections locked and unlocked",
			 method == NETLOCK_NFTABLES ? "nft" : legacy ? "iptables-legacy-restore" : "iptables-restore");
	else
		snprintf(detail, len, "%s", res->detail[0] ? res->detail : "the probe died");
	munmap(res, sizeof(*res));
	return ok ? 0 : -1;
}
