/* /proc parsing: maps/smaps, stat, status, fdinfo, task and children lists. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define LOG_PREFIX "proc: "
#include "lib/log.h"
#include "lib/util.h"
#include "lib/proc-parse.h"

#define DELETED_SUFFIX " (deleted)"

static const char *skip_spaces(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Parse a hex number ending at a delimiter; advance *pp past it. */
static int take_hex(const char **pp, char delim, uint64_t *ret)
{
	const char *p = *pp;
	uint64_t v = 0;
	int n = 0;

	while (isxdigit((unsigned char)*p)) {
		int d = isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10);
		if (v >> 60)
			return -1; /* would overflow 64 bits */
		v = (v << 4) | (uint64_t)d;
		p++;
		n++;
	}
	if (!n || *p != delim)
		return -1;
	*pp = p + 1;
	*ret = v;
	return 0;
}

static int take_dec(const char **pp, char delim, uint64_t *ret)
{
	const char *p = *pp;
	uint64_t v = 0;
	int n = 0;

	while (isdigit((unsigned char)*p)) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
		n++;
	}
	if (!n || (*p != delim && !(delim == ' ' && (*p == '\n' || *p == '\0'))))
		return -1;
	*pp = *p ? p + 1 : p;
	*ret = v;
	return 0;
}

int proc_parse_maps_line(const char *line, struct proc_vma *ret)
{
	const char *p = line;
	uint64_t start, end, pgoff, maj, min, ino;
	struct proc_vma v = { 0 };
	size_t len;

	if (take_hex(&p, '-', &start) || take_hex(&p, ' ', &end) || start >= end)
		goto bad;
	if (strlen(p) < 5 || p[4] != ' ')
		goto bad;
	if ((p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 's' && p[3] != 'p'))
		goto bad;
	v.prot = (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) |
		 (p[2] == 'x' ? PROT_EXEC : 0);
	v.shared = p[3] == 's';
	p += 5;
	if (take_hex(&p, ' ', &pgoff) || take_hex(&p, ':', &maj) || take_hex(&p, ' ', &min) ||
	    take_dec(&p, ' ', &ino))
		goto bad;
	if (maj > UINT32_MAX || min > UINT32_MAX)
		goto bad;
	p = skip_spaces(p);
	len = strcspn(p, "\n");
	if (len >= sizeof(v.name))
		goto bad;
	memcpy(v.name, p, len);
	v.name[len] = '\0';
	if (len >= strlen(DELETED_SUFFIX) &&
	    !strcmp(v.name + len - strlen(DELETED_SUFFIX), DELETED_SUFFIX)) {
		v.deleted = true;
		v.name[len - strlen(DELETED_SUFFIX)] = '\0';
	}
	v.start = start;
	v.end = end;
	v.pgoff = pgoff;
	v.dev_major = maj;
	v.dev_minor = min;
	v.ino = ino;
	*ret = v;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

static const struct {
	char name[3];
	uint64_t bit;
} vmflag_names[] = {
	{ "rd", PROC_VMF_RD }, { "wr", PROC_VMF_WR }, { "ex", PROC_VMF_EX }, { "sh", PROC_VMF_SH },
	{ "mr", PROC_VMF_MR }, { "mw", PROC_VMF_MW }, { "me", PROC_VMF_ME }, { "ms", PROC_VMF_MS },
	{ "gd", PROC_VMF_GD }, { "pf", PROC_VMF_PF }, { "lf", PROC_VMF_LF }, { "io", PROC_VMF_IO },
	{ "sr", PROC_VMF_SR }, { "rr", PROC_VMF_RR }, { "dc", PROC_VMF_DC }, { "de", PROC_VMF_DE },
	{ "ac", PROC_VMF_AC }, { "nr", PROC_VMF_NR }, { "ht", PROC_VMF_HT }, { "sf", PROC_VMF_SF },
	{ "ar", PROC_VMF_AR }, { "wf", PROC_VMF_WF }, { "dd", PROC_VMF_DD }, { "bi", PROC_VMF_BI },
	{ "mm", PROC_VMF_MM }, { "hg", PROC_VMF_HG }, { "nh", PROC_VMF_NH }, { "mg", PROC_VMF_MG },
	{ "um", PROC_VMF_UM }, { "uw", PROC_VMF_UW }, { "ui", PROC_VMF_UI }, { "ss", PROC_VMF_SS },
	{ "sl", PROC_VMF_SL }, { "lo", PROC_VMF_LO }, { "gu", PROC_VMF_GU }, { "dp", PROC_VMF_DP },
};

uint64_t proc_parse_vmflags(const char *s)
{
	uint64_t flags = 0;

	for (;;) {
		s = skip_spaces(s);
		if (!s[0] || s[0] == '\n')
			break;
		size_t n = strcspn(s, " \t\n");
		if (n == 2) {
			for (size_t i = 0; i < ARRAY_SIZE(vmflag_names); i++)
				if (s[0] == vmflag_names[i].name[0] && s[1] == vmflag_names[i].name[1])
					flags |= vmflag_names[i].bit;
		}
		s += n;
	}
	return flags;
}

/* A smaps line that starts a VMA: "start-end perms ..." (a hex digit then a hex run and '-'). */
static bool is_vma_line(const char *line)
{
	const char *p = line;
	while (isxdigit((unsigned char)*p))
		p++;
	return p != line && *p == '-';
}

/* Every VMA of a maps or smaps stream (what names it: for messages). */
static int read_vmas(FILE *f, const char *what, struct proc_vma **ret, size_t *ret_nr)
{
	cleanup_free char *line = NULL;
	size_t cap = 0, nr = 0, lcap = 0;
	struct proc_vma *vmas = NULL;
	ssize_t n;

	while ((n = getline(&line, &lcap, f)) > 0) {
		if (is_vma_line(line)) {
			if (nr == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct proc_vma *nv = realloc(vmas, ncap * sizeof(*vmas));
				if (!nv) {
					pr_perror("can't allocate %zu VMAs", ncap);
					goto err;
				}
				vmas = nv;
				cap = ncap;
			}
			if (proc_parse_maps_line(line, &vmas[nr]) < 0) {
				pr_err("%s: can't parse the line '%.*s'\n", what, (int)strcspn(line, "\n"),
				       line);
				goto err;
			}
			nr++;
		} else if (!strncmp(line, "VmFlags:", 8) && nr) {
			vmas[nr - 1].vmflags = proc_parse_vmflags(line + 8);
		}
	}
	if (ferror(f)) {
		pr_perror("can't read %s", what);
		goto err;
	}
	*ret = vmas;
	*ret_nr = nr;
	return 0;
err:
	free(vmas);
	return -1;
}

static int read_vmas_file(const char *path, struct proc_vma **ret, size_t *ret_nr)
{
	FILE *f = fopen(path, "re");
	int r;

	if (!f) {
		pr_perror("can't open %s", path);
		return -1;
	}
	r = read_vmas(f, path, ret, ret_nr);
	fclose(f);
	return r;
}

int proc_parse_smaps(pid_t pid, struct proc_vma **ret, size_t *ret_nr)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	return read_vmas_file(path, ret, ret_nr);
}

int proc_read_maps(pid_t pid, struct proc_vma **ret, size_t *ret_nr)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/maps");
	return read_vmas_file(path, ret, ret_nr);
}

int proc_parse_maps_text(const char *text, struct proc_vma **ret, size_t *ret_nr)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int r;

	if (!f) {
		if (!*text) {
			*ret = NULL;
			*ret_nr = 0;
			return 0;
		}
		pr_perror("can't read a maps text");
		return -1;
	}
	r = read_vmas(f, "maps", ret, ret_nr);
	fclose(f);
	return r;
}

void proc_find_special(const struct proc_vma *vmas, size_t nr, struct proc_special *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < nr; i++) {
		struct proc_range r = { vmas[i].start, vmas[i].end };
		if (!strcmp(vmas[i].name, "[vdso]"))
			ret->vdso = r;
		else if (!strcmp(vmas[i].name, "[vvar]"))
			ret->vvar = r;
		else if (!strcmp(vmas[i].name, "[vvar_vclock]"))
			ret->vvar_vclock = r;
		else if (!strcmp(vmas[i].name, "[vsyscall]"))
			ret->vsyscall = r;
	}
}

int proc_parse_stat_str(const char *buf, struct proc_stat *ret)
{
	struct proc_stat st = { 0 };
	const char *open = strchr(buf, '(');
	const char *close = strrchr(buf, ')');
	uint64_t f[52] = { 0 }; /* f[i] = field number i+1 (man 5 proc numbering) */
	const char *p;
	int i;

	if (!open || !close || close < open || close[1] != ' ')
		goto bad;
	size_t clen = MIN((size_t)(close - open - 1), sizeof(st.comm) - 1);
	memcpy(st.comm, open + 1, clen);
	st.comm[clen] = '\0';
	if (sscanf(buf, "%d", &st.pid) != 1)
		goto bad;
	p = close + 2;
	st.state = *p;
	if (!st.state || p[1] != ' ')
		goto bad;
	p += 2;
	/* Fields 4..52; some (nice, priority, ppid...) may be negative. */
	for (i = 3; i < 52 && *p && *p != '\n'; i++) {
		char *end;
		errno = 0;
		if (*p == '-')
			f[i] = (uint64_t)strtoll(p, &end, 10);
		else
			f[i] = strtoull(p, &end, 10);
		if (end == p || errno)
			goto bad;
		p = end;
		if (*p == ' ')
			p++;
	}
	if (i < 51) /* every field up to env_end is required */
		goto bad;
	st.ppid = (pid_t)f[3];
	st.pgid = (pid_t)f[4];
	st.sid = (pid_t)f[5];
	st.tty_nr = (uint32_t)f[6];
	st.tpgid = (pid_t)f[7];
	st.flags = f[8];
	st.nice = (int64_t)f[18];
	st.num_threads = f[19];
	st.start_code = f[25];
	st.end_code = f[26];
	st.start_stack = f[27];
	st.exit_signal = (uint32_t)f[37];
	st.processor = (int)f[38];
	st.start_data = f[44];
	st.end_data = f[45];
	st.start_brk = f[46];
	st.arg_start = f[47];
	st.arg_end = f[48];
	st.env_start = f[49];
	st.env_end = f[50];
	st.has_exit_code = i > 51;
	st.exit_code = (int)f[51];
	*ret = st;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

static int proc_task_path(char *buf, size_t size, pid_t pid, pid_t tid, const char *file)
{
	if (tid)
		snprintf(buf, size, "/proc/%d/task/%d/%s", pid, tid, file);
	else
		snprintf(buf, size, "/proc/%d/%s", pid, file);
	return 0;
}

int proc_parse_stat(pid_t pid, pid_t tid, struct proc_stat *ret)
{
	char path[96];
	cleanup_free char *buf = NULL;

	proc_task_path(path, sizeof(path), pid, tid, "stat");
	buf = read_file_str(AT_FDCWD, path, 1 << 16, NULL);
	if (!buf)
		return -1;
	if (proc_parse_stat_str(buf, ret) < 0) {
		pr_err("%s: can't parse '%s'\n", path, buf);
		return -1;
	}
	return 0;
}

/* "Key:\tvalue" lines: return the value of key, or NULL. */
static const char *status_field(const char *buf, const char *key)
{
	size_t klen = strlen(key);
	const char *p = buf;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ':')
			return skip_spaces(p + klen + 1);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static int status_u32x4(const char *buf, const char *key, uint32_t *v)
{
	const char *s = status_field(buf, key);
	if (!s || sscanf(s, "%u %u %u %u", &v[0], &v[1], &v[2], &v[3]) != 4)
		return -1;
	return 0;
}

static int status_hex(const char *buf, const char *key, uint64_t *v, bool required)
{
	const char *s = status_field(buf, key);
	if (!s) {
		*v = 0;
		return required ? -1 : 0;
	}
	if (sscanf(s, "%" SCNx64, v) != 1)
		return -1;
	return 0;
}

/* "NSpid:\t12\t1": the ids per namespace level; the count, or -1 (too many, junk). */
static int status_u32_list(const char *buf, const char *key, uint32_t *v, size_t max)
{
	const char *s = status_field(buf, key);
	size_t n = 0;

	if (!s)
		return 0;
	while (*s && *s != '\n') {
		char *end;
		unsigned long x = strtoul(s, &end, 10);
		if (end == s || n == max || x > UINT32_MAX)
			return -1;
		v[n++] = (uint32_t)x;
		s = skip_spaces(end);
	}
	return (int)n;
}

/* The value of a "Key:\tvalue" line as text (empty if absent). */
static void status_text(const char *buf, const char *key, char *out, size_t len)
{
	const char *s = status_field(buf, key);

	out[0] = '\0';
	if (s)
		snprintf(out, len, "%.*s", (int)strcspn(s, "\n"), s);
}

int proc_parse_status_str(const char *buf, struct proc_status *ret)
{
	struct proc_status st = { 0 };
	const char *s;
	unsigned v;

	s = status_field(buf, "State");
	if (!s || !*s)
		goto bad;
	st.state = *s;
	s = status_field(buf, "Tgid");
	if (!s || sscanf(s, "%d", &st.tgid) != 1)
		goto bad;
	s = status_field(buf, "TracerPid");
	if (!s || sscanf(s, "%d", &st.tracer_pid) != 1)
		goto bad;
	if (status_u32x4(buf, "Uid", st.uid) || status_u32x4(buf, "Gid", st.gid))
		goto bad;
	s = status_field(buf, "Groups");
	if (s) {
		while (*s && *s != '\n') {
			char *end;
			unsigned long g = strtoul(s, &end, 10);
			if (end == s)
				goto bad;
			if (st.nr_groups == PROC_MAX_GROUPS)
				goto bad;
			st.groups[st.nr_groups++] = (uint32_t)g;
			s = skip_spaces(end);
		}
	}
	if (status_hex(buf, "CapInh", &st.cap_inh, true) || status_hex(buf, "CapPrm", &st.cap_prm, true) ||
	    status_hex(buf, "CapEff", &st.cap_eff, true) || status_hex(buf, "CapBnd", &st.cap_bnd, true) ||
	    status_hex(buf, "CapAmb", &st.cap_amb, false))
		goto bad;
	if (status_hex(buf, "SigPnd", &st.sig_pnd, false) || status_hex(buf, "ShdPnd", &st.shd_pnd, false) ||
	    status_hex(buf, "SigBlk", &st.sig_blk, false))
		goto bad;
	s = status_field(buf, "NoNewPrivs");
	if (s && sscanf(s, "%u", &v) == 1)
		st.no_new_privs = v != 0;
	s = status_field(buf, "Seccomp");
	if (s && sscanf(s, "%u", &v) == 1)
		st.seccomp = v;
	s = status_field(buf, "Umask");
	if (s && sscanf(s, "%o", &v) == 1) {
		st.umask = v;
		st.has_umask = true;
	}
	{
		int np = status_u32_list(buf, "NSpid", st.ns_pid, PROC_MAX_NS_LEVELS);
		int ng = status_u32_list(buf, "NSpgid", st.ns_pgid, PROC_MAX_NS_LEVELS);
		int ns = status_u32_list(buf, "NSsid", st.ns_sid, PROC_MAX_NS_LEVELS);
		if (np < 0 || ng < 0 || ns < 0 || (ng && ng != np) || (ns && ns != np))
			goto bad;
		st.nr_ns_levels = (size_t)np;
	}
	status_text(buf, "Speculation_Store_Bypass", st.spec_store_bypass, sizeof(st.spec_store_bypass));
	status_text(buf, "SpeculationIndirectBranch", st.spec_indirect_branch, sizeof(st.spec_indirect_branch));
	status_text(buf, "x86_Thread_features", st.x86_features, sizeof(st.x86_features));
	st.has_untag_mask = status_field(buf, "untag_mask") != NULL;
	if (status_hex(buf, "untag_mask", &st.untag_mask, false))
		goto bad;
	*ret = st;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int proc_parse_status(pid_t pid, pid_t tid, struct proc_status *ret)
{
	char path[96];
	cleanup_free char *buf = NULL;

	proc_task_path(path, sizeof(path), pid, tid, "status");
	buf = read_file_str(AT_FDCWD, path, 1 << 16, NULL);
	if (!buf)
		return -1;
	if (proc_parse_status_str(buf, ret) < 0) {
		pr_err("%s: can't parse it\n", path);
		return -1;
	}
	return 0;
}

int proc_parse_fdinfo_str(const char *buf, struct proc_fdinfo *ret)
{
	struct proc_fdinfo fi = { 0 };
	const char *s;
	unsigned long long pos;
	unsigned flags;

	s = status_field(buf, "pos");
	if (!s || sscanf(s, "%llu", &pos) != 1)
		goto bad;
	s = status_field(buf, "flags");
	if (!s || sscanf(s, "%o", &flags) != 1)
		goto bad;
	s = status_field(buf, "mnt_id");
	if (!s || sscanf(s, "%d", &fi.mnt_id) != 1)
		fi.mnt_id = -1;
	fi.pos = pos;
	fi.flags = flags;
	*ret = fi;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int proc_parse_fdinfo(pid_t pid, int fd, struct proc_fdinfo *ret)
{
	char path[64];
	cleanup_free char *buf = NULL;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	buf = read_file_str(AT_FDCWD, path, 1 << 20, NULL);
	if (!buf)
		return -1;
	if (proc_parse_fdinfo_str(buf, ret) < 0) {
		pr_err("%s: can't parse it\n", path);
		return -1;
	}
	return 0;
}

/*
 * A timers file is records of four lines:
 *	ID: 0
 *	signal: 35/0000000000000065        (signo/sigev_value, hex)
 *	notify: signal/pid.123             (signal|none|thread, then pid or tid)
 *	ClockID: 1
 */
int proc_parse_timers_str(const char *buf, struct proc_timer **ret, size_t *ret_nr)
{
	static const char *const kinds[] = { "signal", "none", "thread" }; /* SIGEV_SIGNAL, _NONE, _THREAD */
	struct proc_timer *v = NULL;
	size_t n = 0;
	const char *p = buf;

	while (*p) {
		struct proc_timer t = { 0 };
		char kind[16], who[8];
		unsigned long long val;
		int id, sig, pid, clock, used = 0;
		size_t k;

		if (sscanf(p, "ID: %d\nsignal: %d/%llx\nnotify: %15[a-z]/%7[a-z].%d\nClockID: %d\n%n", &id, &sig, &val,
			   kind, who, &pid, &clock, &used) != 7 || !used || id < 0 || sig < 0 || sig > 64)
			goto bad;
		for (k = 0; k < ARRAY_SIZE(kinds) && strcmp(kind, kinds[k]); k++)
			;
		if (k == ARRAY_SIZE(kinds) || (strcmp(who, "pid") && strcmp(who, "tid")))
			goto bad;
		t.id = (uint32_t)id;
		t.clock = clock;
		t.notify = (uint32_t)k | (!strcmp(who, "tid") ? 4u /* SIGEV_THREAD_ID */ : 0u);
		t.signo = (uint32_t)sig;
		t.sigval = val;
		t.notify_pid = pid;
		struct proc_timer *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			goto bad;
		v = nv;
		v[n++] = t;
		p += used;
	}
	if (!v && !(v = malloc(sizeof(*v))))
		goto bad;
	*ret = v;
	*ret_nr = n;
	return 0;
bad:
	free(v);
	errno = EINVAL;
	return -1;
}

int proc_parse_timers(pid_t pid, struct proc_timer **ret, size_t *ret_nr)
{
	char path[64];
	cleanup_free char *buf = NULL;

	snprintf(path, sizeof(path), "/proc/%d/timers", pid);
	buf = read_file_str(AT_FDCWD, path, 16 << 20, NULL);
	if (!buf)
		return -1;
	if (proc_parse_timers_str(buf, ret, ret_nr) < 0) {
		pr_err("%s: can't parse it\n", path);
		return -1;
	}
	return 0;
}

int proc_numa_policy(pid_t pid, uint64_t *ret_addr, char *ret_policy, size_t len)
{
	char path[64];
	cleanup_free char *buf = NULL;

	snprintf(path, sizeof(path), "/proc/%d/numa_maps", pid);
	if (access(path, F_OK) < 0)
		return 0; /* no NUMA: every VMA has the default policy */
	buf = read_file_str(AT_FDCWD, path, 64 << 20, NULL);
	if (!buf)
		return -1;
	for (char *l = buf; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] ? 1 : 0)) {
		unsigned long long addr;
		char pol[64];
		if (sscanf(l, "%llx %63s", &addr, pol) != 2) {
			pr_err("%s: can't parse '%.*s'\n", path, (int)strcspn(l, "\n"), l);
			errno = EINVAL;
			return -1;
		}
		if (strcmp(pol, "default")) {
			*ret_addr = addr;
			snprintf(ret_policy, len, "%s", pol);
			return 1;
		}
	}
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

int proc_list_dir_ints(const char *path, int **ret, size_t *ret_nr)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int *v = NULL;
	size_t nr = 0, cap = 0;

	if (!d) {
		pr_perror("can't open %s", path);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d))) {
		uint64_t n;
		if (parse_u64(de->d_name, 10, &n) < 0 || n > INT32_MAX) {
			errno = 0;
			continue;
		}
		if (nr == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			int *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				pr_perror("can't allocate a list of %zu entries for %s", ncap, path);
				goto err;
			}
			v = nv;
			cap = ncap;
		}
		v[nr++] = (int)n;
		errno = 0;
	}
	if (errno) {
		pr_perror("can't read %s", path);
		goto err;
	}
	closedir(d);
	if (nr)
		qsort(v, nr, sizeof(*v), cmp_int);
	*ret = v;
	*ret_nr = nr;
	return 0;
err:
	closedir(d);
	free(v);
	return -1;
}

int proc_list_tids(pid_t pid, pid_t **ret, size_t *ret_nr)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	return proc_list_dir_ints(path, (int **)ret, ret_nr);
}

int proc_list_children(pid_t pid, pid_t tid, pid_t **ret, size_t *ret_nr)
{
	char path[96];
	cleanup_free char *buf = NULL;
	pid_t *v = NULL;
	size_t nr = 0, cap = 0;
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, tid);
	buf = read_file_str(AT_FDCWD, path, 1 << 22, NULL);
	if (!buf)
		return -1;
	p = buf;
	for (;;) {
		char *end;
		p = skip_spaces(p);
		if (!*p || *p == '\n')
			break;
		errno = 0;
		long n = strtol(p, &end, 10);
		if (end == p || errno || n <= 0 || n > INT32_MAX) {
			pr_err("%s: can't parse '%s'\n", path, buf);
			free(v);
			errno = EINVAL;
			return -1;
		}
		if (nr == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			pid_t *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				pr_perror("can't allocate %zu children", ncap);
				free(v);
				return -1;
			}
			v = nv;
			cap = ncap;
		}
		v[nr++] = (pid_t)n;
		p = end;
	}
	*ret = v;
	*ret_nr = nr;
	return 0;
}

int proc_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n = readlink(path, buf, size);
	if (n < 0) {
		pr_perror("can't read the link %s", path);
		return -1;
	}
	if ((size_t)n >= size) {
		pr_err("the link %s is longer than %zu bytes\n", path, size - 1);
		errno = ENAMETOOLONG;
		return -1;
	}
	buf[n] = '\0';
	return 0;
}

/* ---- mountinfo ---- */

/* Unescape \NNN (octal) in place. */
static void unescape_octal(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*d++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

/* The next space-separated word of *p (NUL-terminated in place), or NULL. */
static char *next_word(char **p)
{
	char *s = *p, *w;

	while (*s == ' ')
		s++;
	if (!*s || *s == '\n')
		return NULL;
	w = s;
	while (*s && *s != ' ' && *s != '\n')
		s++;
	if (*s)
		*s++ = '\0';
	*p = s;
	return w;
}

int proc_parse_mountinfo_line(const char *line, struct proc_mount *ret)
{
	struct proc_mount m = { 0 };
	char *p, *w, *dev;
	uint64_t v;

	m.buf_ = strdup(line);
	if (!m.buf_)
		return -1;
	p = m.buf_;
	if (!(w = next_word(&p)) || parse_u64(w, 10, &v) < 0 || v > INT32_MAX)
		goto bad;
	m.id = (int)v;
	if (!(w = next_word(&p)) || parse_u64(w, 10, &v) < 0 || v > INT32_MAX)
		goto bad;
	m.parent = (int)v;
	if (!(dev = next_word(&p)) || sscanf(dev, "%u:%u", &m.major, &m.minor) != 2)
		goto bad;
	if (!(m.root = next_word(&p)) || !(m.mountpoint = next_word(&p)) || !(m.opts = next_word(&p)))
		goto bad;
	/* optional fields, up to "-" */
	for (;;) {
		if (!(w = next_word(&p)))
			goto bad;
		if (!strcmp(w, "-"))
			break;
		if (!strncmp(w, "shared:", 7) && parse_u64(w + 7, 10, &v) == 0)
			m.shared = (int)v;
		else if (!strncmp(w, "master:", 7) && parse_u64(w + 7, 10, &v) == 0)
			m.master = (int)v;
		else if (!strncmp(w, "propagate_from:", 15) && parse_u64(w + 15, 10, &v) == 0)
			m.propagate_from = (int)v;
		else if (!strcmp(w, "unbindable"))
			m.unbindable = true;
	}
	if (!(m.fstype = next_word(&p)) || !(m.source = next_word(&p)) || !(m.super_opts = next_word(&p)))
		goto bad;
	unescape_octal(m.root);
	unescape_octal(m.mountpoint);
	unescape_octal(m.source);
	*ret = m;
	return 0;
bad:
	free(m.buf_);
	errno = EINVAL;
	return -1;
}

void proc_mount_fini(struct proc_mount *m)
{
	free(m->buf_);
	memset(m, 0, sizeof(*m));
}

void proc_mounts_free(struct proc_mount *v, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		proc_mount_fini(&v[i]);
	free(v);
}

int proc_parse_mountinfo(pid_t pid, struct proc_mount **ret, size_t *ret_nr)
{
	char path[64];
	cleanup_free char *buf = NULL;
	struct proc_mount *v = NULL;
	size_t nr = 0;
	char *line, *save = NULL;

	snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	buf = read_file_str(AT_FDCWD, path, 16 << 20, NULL);
	if (!buf)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct proc_mount *nv = realloc(v, (nr + 1) * sizeof(*v));
		if (!nv) {
			pr_perror("can't grow the mount list");
			goto err;
		}
		v = nv;
		if (proc_parse_mountinfo_line(line, &v[nr]) < 0) {
			pr_err("%s: can't parse '%s'\n", path, line);
			goto err;
		}
		nr++;
	}
	*ret = v;
	*ret_nr = nr;
	return 0;
err:
	proc_mounts_free(v, nr);
	return -1;
}
