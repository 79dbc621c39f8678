/*
 * criu-lite check: what this kernel and these privileges allow (kerndat.c does
 * the probing; this file only parses options and prints).
 *
 *   check                 exit 0 and "Looks good." when dump, eager restore and
 *                         lazy restore can all work; else what is missing, exit 1
 *   check --all           every feature: ok/missing, who needs it, detail
 *   check --feature NAME  one feature (or a comma-separated list): exit 0/1
 *   --json                the same as JSON; -v more log output
 */
#define LOG_PREFIX "check: "

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/log.h"
#include "include/util.h"
#include "criu-lite/cmd.h"
#include "criu-lite/kerndat.h"

static const struct {
	unsigned need;
	const char *name;
} abilities[] = {
	{ KD_NEED_DUMP, "dump" },
	{ KD_NEED_RESTORE, "restore" },
	{ KD_NEED_LAZY, "lazy restore" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: criu-lite check [OPTIONS]\n"
		"\n"
		"Probe what this kernel and these privileges allow.\n"
		"Without options: print \"Looks good.\" and exit 0 when dump, restore and\n"
		"lazy restore (--lazy-pages) can all work here; otherwise list what is\n"
		"missing and for which of them, and exit 1.\n"
		"\n"
		"Options:\n"
		"  -a, --all             list every feature with ok/missing and details\n"
		"                        (exit status as without options)\n"
		"  -f, --feature NAME    check these features only (comma-separated, or\n"
		"                        repeat the option); exit 0 when all are ok\n"
		"  -l, --list            list the feature names and what they are\n"
		"  -j, --json            print the results as JSON\n"
		"  -v, --verbose         more log output (repeat for more)\n"
		"  -h, --help            this help\n");
}

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

static void print_known(FILE *f)
{
	fprintf(f, "known features:");
	for (int id = 0; id < KD_NR_FEATURES; id++)
		fprintf(f, "%s%s", id % 6 ? " " : "\n  ", kerndat_feature(id)->name);
	fprintf(f, "\n");
}

/* Add the comma-separated names in `arg` to sel[]. 0 or -1 (unknown name, reported). */
static int add_features(const char *arg, const struct kd_feature **sel, size_t *nsel)
{
	cleanup_free char *copy = strdup(arg);
	char *save = NULL;

	if (!copy) {
		pr_perror("can't copy the feature list");
		return -1;
	}
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const struct kd_feature *ft = kerndat_find(tok);
		bool dup = false;

		if (!ft) {
			pr_err("unknown feature '%s'\n", tok);
			print_known(stderr);
			return -1;
		}
		for (size_t i = 0; i < *nsel; i++)
			dup |= sel[i] == ft;
		if (!dup && *nsel < KD_NR_FEATURES)
			sel[(*nsel)++] = ft;
	}
	return 0;
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },     { "feature", required_argument, NULL, 'f' },
		{ "list", no_argument, NULL, 'l' },    { "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct kd_feature *sel[KD_NR_FEATURES];
	size_t nsel = 0;
	bool all = false, json = false;
	int verbose = 0, c;

	optind = 0; /* full getopt reset: cmd_check may run more than once per process */
	while ((c = getopt_long(argc, argv, "af:ljvh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'f':
			if (add_features(optarg, sel, &nsel))
				return 1;
			break;
		case 'l':
			print_list(stdout);
			return 0;
		case 'j':
			json = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "criu-lite check: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 1;
	}
	if (all && nsel) {
		fprintf(stderr, "criu-lite check: --all and --feature don't go together\n");
		return 1;
	}
	if (verbose && log_init(log_get_level() + verbose, NULL))
		return 1;

	struct kerndat *kd = calloc(1, sizeof(*kd));
	if (!kd) {
		pr_perror("can't allocate kerndat");
		return 1;
	}

	int ret = 0;
	if (nsel) {
		/* Only what was asked for (and what it depends on). */
		for (size_t i = 0; i < nsel; i++)
			if (kerndat_probe(kd, sel[i]->id) != KD_OK)
				ret = 1;
		if (json)
			print_json(stdout, kd, sel, nsel, false);
		else
			for (size_t i = 0; i < nsel; i++)
				printf("%s: %s (%s)\n", sel[i]->name, status_str(kd, sel[i]->id),
				       kd->detail[sel[i]->id]);
		free(kd);
		return ret;
	}

	kerndat_init(kd);
	unsigned ok = abilities_ok(kd);
	ret = ok == KD_NEED_ALL ? 0 : 1;
	for (int id = 0; id < KD_NR_FEATURES; id++)
		sel[nsel++] = kerndat_feature(id);

	if (json) {
		print_json(stdout, kd, sel, nsel, true);
	} else if (all) {
		print_table(stdout, kd, sel, nsel, verbose > 0);
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
