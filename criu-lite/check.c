/*
 * criu-lite check: what this kernel and these privileges allow (kerndat.c does
 * the probing; this file only prints).
 *
 *   check                 exit 0 and "Looks good." when dump, eager restore and
 *                         lazy restore can all work; else what is missing, exit 1
 *   check --all           every feature: ok/missing, who needs it, detail
 *   check --feature NAME  one feature (or a comma-separated list; criu-lite's names or
 *                         CRIU's): "NAME is supported", exit 0/1; --feature list
 *   --json                the same as JSON; -v more log output
 */
#define LOG_PREFIX "check: "

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/check.h"
#include "criu-lite/kerndat.h"

static const struct {
	unsigned need;
	const char *name;
} abilities[] = {
	{ KD_NEED_DUMP, "dump" },
	{ KD_NEED_RESTORE, "restore" },
	{ KD_NEED_LAZY, "lazy restore" },
};

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static const char *status_str(const struct kerndat *kd, enum kd_feat id)
{
	return kd->status[id] == KD_OK ? "ok" : "missing";
}

static void print_feature_json(FILE *f, const struct kerndat *kd, const struct kd_feature *ft, bool comma)
{
	bool first = true;

	fprintf(f, "    {\"name\": ");
	json_str(f, ft->name);
	fprintf(f, ", \"status\": \"%s\", \"needed_by\": [", status_str(kd, ft->id));
	for (size_t a = 0; a < ARRAY_SIZE(abilities); a++) {
		if (!(ft->needs & abilities[a].need))
			continue;
		fprintf(f, "%s\"%s\"", first ? "" : ", ", abilities[a].name);
		first = false;
	}
	fprintf(f, "], \"description\": ");
	json_str(f, ft->desc);
	fprintf(f, ", \"detail\": ");
	json_str(f, kd->detail[ft->id]);
	fprintf(f, "}%s\n", comma ? "," : "");
}

/* Which abilities (KD_NEED_*) have everything they need. */
static unsigned abilities_ok(const struct kerndat *kd)
{
	unsigned ok = KD_NEED_ALL;

	for (int id = 0; id < KD_NR_FEATURES; id++)
		if (kd->status[id] != KD_OK)
			ok &= ~kerndat_feature(id)->needs;
	return ok;
}

static void print_json(FILE *f, const struct kerndat *kd, const struct kd_feature **sel, size_t nsel,
		       bool summary)
{
	fprintf(f, "{\n  \"features\": [\n");
	for (size_t i = 0; i < nsel; i++)
		print_feature_json(f, kd, sel[i], i + 1 < nsel);
	fprintf(f, "  ]");
	if (summary) {
		const struct kd_vdso *v = &kd->vdso;
		unsigned ok = abilities_ok(kd);

		fprintf(f, ",\n  \"dump\": %s,\n  \"restore\": %s,\n  \"lazy_restore\": %s,\n",
			ok & KD_NEED_DUMP ? "true" : "false", ok & KD_NEED_RESTORE ? "true" : "false",
			ok & KD_NEED_LAZY ? "true" : "false");
		fprintf(f, "  \"uffd_features\": \"0x%" PRIx64 "\",\n", kd->uffd_features);
		fprintf(f, "  \"uffd_anon_ioctls\": \"0x%" PRIx64 "\",\n", kd->uffd_anon_ioctls);
		fprintf(f, "  \"uffd_shmem_ioctls\": \"0x%" PRIx64 "\",\n", kd->uffd_shmem_ioctls);
		fprintf(f, "  \"caps_effective\": \"0x%" PRIx64 "\",\n", kd->caps_eff);
		fprintf(f,
			"  \"vdso\": {\"vdso_size\": %" PRIu64 ", \"vvar_size\": %" PRIu64
			", \"vvar_offset\": %" PRId64 ", \"vvar_vclock_size\": %" PRIu64
			", \"vvar_vclock_offset\": %" PRId64 ", \"vsyscall_size\": %" PRIu64 "}",
			v->vdso_size, v->vvar_size, v->vvar_off, v->vvar_vclock_size, v->vvar_vclock_off,
			v->vsyscall_size);
	}
	fprintf(f, "\n}\n");
}

static void print_table(FILE *f, const struct kerndat *kd, const struct kd_feature **sel, size_t nsel,
			bool desc)
{
	fprintf(f, "%-26s %-7s %-19s %s\n", "FEATURE", "STATUS", "NEEDED BY", "DETAIL");
	for (size_t i = 0; i < nsel; i++) {
		char n[32];
		fprintf(f, "%-26s %-7s %-19s %s\n", sel[i]->name, status_str(kd, sel[i]->id),
			kerndat_needs_str(sel[i]->needs, n, sizeof(n)), kd->detail[sel[i]->id]);
		if (desc)
			fprintf(f, "%-26s %-7s %-19s (%s)\n", "", "", "", sel[i]->desc);
	}
}

static void print_list(FILE *f)
{
	for (int id = 0; id < KD_NR_FEATURES; id++) {
		const struct kd_feature *ft = kerndat_feature(id);
		char n[32];
		fprintf(f, "%-26s %-19s %s\n", ft->name, kerndat_needs_str(ft->needs, n, sizeof(n)), ft->desc);
	}
}

/*
 * CRIU's `check --feature` names, for what criu-lite probes too: each is the set of
 * criu-lite's features it takes. A CRIU name criu-lite has no probe for is refused
 * (exit 1), never answered with a guess.
 */
static const struct criu_alias {
	const char *name;
	enum kd_feat ids[4];
	size_t nr;
	const char *how;
} criu_aliases[] = {
	{ "uffd", { KD_UFFD }, 1, "userfaultfd" },
	{ "uffd-noncoop", { KD_UFFD_EVENT_FORK, KD_UFFD_EVENT_REMAP, KD_UFFD_EVENT_REMOVE, KD_UFFD_EVENT_UNMAP }, 4,
	  "userfaultfd's fork, remap, remove and unmap events" },
	{ "clone3_set_tid", { KD_CLONE3_SET_TID }, 1, "clone3 with set_tid" },
	{ "get_rseq_conf", { KD_PTRACE_RSEQ }, 1, "PTRACE_GET_RSEQ_CONFIGURATION" },
	{ "pagemap_scan", { KD_PAGEMAP_SCAN }, 1, "the PAGEMAP_SCAN ioctl" },
	{ "mem_dirty_track", { KD_UFFD_WP_ASYNC, KD_PAGEMAP_SCAN }, 2,
	  "write tracking (criu-lite: userfaultfd WP_ASYNC and PAGEMAP_SCAN, not soft-dirty)" },
	{ "pidfd_store", { KD_PIDFD_OPEN, KD_PIDFD_GETFD }, 2, "pidfd_open and pidfd_getfd" },
	{ "tcp_half_closed", { KD_TCP_REPAIR, KD_TCP_HALF_CLOSED }, 2, "TCP_REPAIR on half-closed connections" },
	{ "network_lock_nftables", { KD_NETLOCK_NFTABLES }, 1,
	  "--network-lock nftables: a connection locked and unlocked with nft" },
	{ "nftables", { KD_NFTABLES }, 1, "nftables (criu-lite: the nft tool, not libnftables)" },
	{ "has_ipt_legacy", { KD_IPT_LEGACY }, 1, "iptables-legacy-restore locks and unlocks a connection" },
	{ "timer_cr_ids", { KD_TIMER_CR_IDS }, 1, "prctl PR_TIMER_CREATE_RESTORE_IDS" },
};

/* One asked-for name: criu-lite's features for it. 0, or -1 (logged) if unknown. */
static int resolve_feature(const char *name, enum kd_feat *ids, size_t *nr)
{
	const struct kd_feature *ft = kerndat_find(name);

	if (ft) {
		ids[0] = ft->id;
		*nr = 1;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(criu_aliases); i++)
		if (!strcmp(name, criu_aliases[i].name)) {
			memcpy(ids, criu_aliases[i].ids, criu_aliases[i].nr * sizeof(*ids));
			*nr = criu_aliases[i].nr;
			return 0;
		}
	pr_err("unknown feature '%s' (`criu-lite check --feature list` lists them)\n", name);
	errno = EINVAL;
	return -1;
}

static void print_aliases(FILE *f)
{
	fprintf(f, "\nCRIU's names:\n");
	for (size_t i = 0; i < ARRAY_SIZE(criu_aliases); i++)
		fprintf(f, "%-26s %s\n", criu_aliases[i].name, criu_aliases[i].how);
}

/* check --feature A,B: each as CRIU prints it ("A is supported"); 0 when all are. */
static int check_features(const struct cr_options *o, struct kerndat *kd)
{
	const struct kd_feature *sel[KD_NR_FEATURES];
	size_t nsel = 0;
	int ret = 0;

	for (size_t i = 0; i < o->nr_features; i++) {
		enum kd_feat ids[4];
		size_t nr;
		if (resolve_feature(o->features[i], ids, &nr) < 0)
			return -1;
		for (size_t k = 0; k < nr; k++) {
			bool dup = false;
			for (size_t j = 0; j < nsel; j++)
				dup |= sel[j]->id == ids[k];
			if (!dup)
				sel[nsel++] = kerndat_feature(ids[k]);
		}
	}
	/* only what was asked for (and what it depends on) */
	for (size_t i = 0; i < nsel; i++)
		if (kerndat_probe(kd, sel[i]->id) != KD_OK)
			ret = -1;
	if (o->check_json) {
		print_json(stdout, kd, sel, nsel, false);
		return ret;
	}
	for (size_t i = 0; i < o->nr_features; i++) {
		enum kd_feat ids[4];
		size_t nr;
		bool ok = true;
		resolve_feature(o->features[i], ids, &nr);
		for (size_t k = 0; k < nr; k++)
			ok &= kd->status[ids[k]] == KD_OK;
		if (ok) {
			printf("%s is supported\n", o->features[i]);
			continue;
		}
		printf("%s is not supported:", o->features[i]);
		for (size_t k = 0; k < nr; k++)
			if (kd->status[ids[k]] != KD_OK)
				printf(" %s (%s)", kerndat_feature(ids[k])->name, kd->detail[ids[k]]);
		printf("\n");
	}
	return ret;
}

int cr_check(const struct cr_options *o)
{
	const struct kd_feature *sel[KD_NR_FEATURES];
	size_t nsel = 0;
	int ret;

	if (o->nr_features == 1 && !strcmp(o->features[0], "list")) {
		print_list(stdout);
		print_aliases(stdout);
		return 0;
	}
	if (o->check_all && o->nr_features) {
		pr_err("--all and --feature don't go together\n");
		errno = EINVAL;
		return -1;
	}
	struct kerndat *kd = calloc(1, sizeof(*kd));
	if (!kd) {
		pr_perror("can't allocate kerndat");
		return -1;
	}
	if (o->nr_features) {
		ret = check_features(o, kd);
		free(kd);
		return ret;
	}

	kerndat_init(kd);
	unsigned ok = abilities_ok(kd);
	ret = ok == KD_NEED_ALL ? 0 : -1;
	for (int id = 0; id < KD_NR_FEATURES; id++)
		sel[nsel++] = kerndat_feature(id);

	if (o->check_json) {
		print_json(stdout, kd, sel, nsel, true);
	} else if (o->check_all) {
		print_table(stdout, kd, sel, nsel, o->log_level > CR_DEFAULT_LOG_LEVEL);
		printf("\n");
		for (size_t a = 0; a < ARRAY_SIZE(abilities); a++)
			printf("%s%s: %s", a ? ", " : "", abilities[a].name,
			       ok & abilities[a].need ? "ok" : "MISSING FEATURES");
		printf("\n");
		if (!ret)
			printf("Looks good.\n");
	} else if (!ret) {
		printf("Looks good.\n");
	} else {
		for (int id = 0; id < KD_NR_FEATURES; id++) {
			const struct kd_feature *ft = kerndat_feature(id);
			char n[32];
			if (!ft->needs || kd->status[id] == KD_OK)
				continue;
			printf("missing %s (needed by %s): %s\n", ft->name,
			       kerndat_needs_str(ft->needs, n, sizeof(n)), kd->detail[id]);
		}
		for (size_t a = 0; a < ARRAY_SIZE(abilities); a++)
			if (!(ok & abilities[a].need))
				printf("%s can't work here\n", abilities[a].name);
	}
	free(kd);
	return ret;
}
