/* seccomp at dump (see seccomp.h). */
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>

#define LOG_PREFIX "ns/seccomp: "
#include "lib/log.h"
#include "lib/util.h"
#include "images/nsimg.h"
#include "criu-lite/ns/seccomp.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef PTRACE_SECCOMP_GET_METADATA
#define PTRACE_SECCOMP_GET_METADATA 0x420d
#endif

struct ptrace_seccomp_md {
	uint64_t filter_off;
	uint64_t flags;
};

struct sc_filter {
	struct sock_filter *prog;
	size_t len; /* instructions */
	uint32_t flags;
};

struct sc_chain {
	uint32_t id;
	struct sc_filter *f; /* the oldest first */
	size_t nr;
};

struct sc_thread {
	uint32_t tid, mode, chain;
};

struct seccomp_dump {
	struct sc_chain *chains;
	size_t nr_chains;
	struct sc_thread *threads;
	size_t nr_threads;
};

static void chain_fini(struct sc_chain *c)
{
	for (size_t i = 0; i < c->nr; i++)
		free(c->f[i].prog);
	free(c->f);
}

static bool chain_eq(const struct sc_chain *a, const struct sc_chain *b)
{
	if (a->nr != b->nr)
		return false;
	for (size_t i = 0; i < a->nr; i++)
		if (a->f[i].len != b->f[i].len || a->f[i].flags != b->f[i].flags ||
		    memcmp(a->f[i].prog, b->f[i].prog, a->f[i].len * sizeof(struct sock_filter)))
			return false;
	return true;
}

/* The filters of tid: index 0 is the oldest (get_nth_filter counts from the first
 * installed), which is the order they are stored and installed in. */
static int read_chain(pid_t tid, struct sc_chain *c)
{
	for (long idx = 0;; idx++) {
		long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, NULL);
		struct ptrace_seccomp_md md = { (uint64_t)idx, 0 };
		struct sc_filter *nf;

		if (n < 0) {
			if (errno == ENOENT && idx > 0)
				break;
			pr_perror("can't read seccomp filter %ld of thread %d", idx, tid);
			return -1;
		}
		if (n == 0 || n > IMG_NS_MAX_BPF_INSNS || idx >= IMG_NS_MAX_FILTERS) {
			pr_err("thread %d: seccomp filter %ld has %ld instructions (or too many filters)\n", tid, idx, n);
			errno = E2BIG;
			return -1;
		}
		nf = realloc(c->f, (c->nr + 1) * sizeof(*nf));
		if (!nf) {
			pr_perror("can't grow a filter list");
			return -1;
		}
		c->f = nf;
		nf = &c->f[c->nr];
		memset(nf, 0, sizeof(*nf));
		nf->prog = calloc((size_t)n, sizeof(struct sock_filter));
		if (!nf->prog) {
			pr_perror("can't allocate a filter");
			return -1;
		}
		c->nr++;
		if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, nf->prog) != n) {
			pr_perror("can't read seccomp filter %ld of thread %d", idx, tid);
			return -1;
		}
		nf->len = (size_t)n;
		if (ptrace(PTRACE_SECCOMP_GET_METADATA, tid, (void *)sizeof(md), &md) >= 0)
			nf->flags = (uint32_t)md.flags;
	}
	return 0;
}

int ns_seccomp_dump_thread(struct seccomp_dump **pd, pid_t pid, pid_t tid, uint32_t mode)
{
	struct seccomp_dump *d = *pd;
	struct sc_chain c = { 0 };
	struct sc_thread *nt;

	if (mode != SECCOMP_MODE_STRICT && mode != SECCOMP_MODE_FILTER) {
		pr_err("thread %d of pid %d: unknown seccomp mode %u\n", tid, pid, mode);
		errno = ENOTSUP;
		return -1;
	}
	if (!d) {
		d = *pd = calloc(1, sizeof(*d));
		if (!d) {
			pr_perror("can't allocate the seccomp dump");
			return -1;
		}
	}
	nt = realloc(d->threads, (d->nr_threads + 1) * sizeof(*nt));
	if (!nt) {
		pr_perror("can't grow the seccomp thread list");
		return -1;
	}
	d->threads = nt;
	nt = &d->threads[d->nr_threads];
	nt->tid = (uint32_t)tid;
	nt->mode = mode;
	nt->chain = 0;
	if (mode == SECCOMP_MODE_FILTER) {
		size_t i;
		if (read_chain(tid, &c) < 0) {
			chain_fini(&c);
			return -1;
		}
		for (i = 0; i < d->nr_chains && !chain_eq(&d->chains[i], &c); i++)
			;
		if (i == d->nr_chains) {
			struct sc_chain *nc = realloc(d->chains, (d->nr_chains + 1) * sizeof(*nc));
			if (!nc) {
				pr_perror("can't grow the seccomp chains");
				chain_fini(&c);
				return -1;
			}
			d->chains = nc;
			c.id = (uint32_t)d->nr_chains + 1;
			d->chains[d->nr_chains++] = c;
			pr_info("thread %d of pid %d: seccomp chain %u, %zu filter(s)\n", tid, pid, c.id, c.nr);
		} else {
			chain_fini(&c);
		}
		nt->chain = d->chains[i].id;
	}
	d->nr_threads++;
	return 0;
}

int ns_seccomp_write(const struct seccomp_dump *d, int dfd)
{
	SeccompEntry se = SECCOMP_ENTRY__INIT;
	cleanup_free SeccompChainEntry *chains = NULL, **pchains = NULL;
	cleanup_free SeccompThreadEntry *threads = NULL, **pthreads = NULL;
	SeccompFilterEntry **pf = NULL;
	SeccompFilterEntry *fe = NULL;
	size_t nf = 0, k = 0;
	cleanup_img struct img *img = NULL;
	int ret = -1;

	if (!d || !d->nr_threads)
		return 0;
	for (size_t i = 0; i < d->nr_chains; i++)
		nf += d->chains[i].nr;
	chains = calloc(d->nr_chains + 1, sizeof(*chains));
	pchains = calloc(d->nr_chains + 1, sizeof(*pchains));
	threads = calloc(d->nr_threads, sizeof(*threads));
	pthreads = calloc(d->nr_threads, sizeof(*pthreads));
	fe = calloc(nf + 1, sizeof(*fe));
	pf = calloc(nf + 1, sizeof(*pf));
	if (!chains || !pchains || !threads || !pthreads || !fe || !pf) {
		pr_perror("can't allocate seccomp.img");
		goto out;
	}
	for (size_t i = 0; i < d->nr_chains; i++) {
		seccomp_chain_entry__init(&chains[i]);
		chains[i].id = d->chains[i].id;
		chains[i].filters = &pf[k];
		chains[i].n_filters = d->chains[i].nr;
		for (size_t j = 0; j < d->chains[i].nr; j++, k++) {
			seccomp_filter_entry__init(&fe[k]);
			fe[k].prog.data = (uint8_t *)d->chains[i].f[j].prog;
			fe[k].prog.len = d->chains[i].f[j].len * sizeof(struct sock_filter);
			fe[k].has_flags = true;
			fe[k].flags = d->chains[i].f[j].flags;
			pf[k] = &fe[k];
		}
		pchains[i] = &chains[i];
	}
	for (size_t i = 0; i < d->nr_threads; i++) {
		seccomp_thread_entry__init(&threads[i]);
		threads[i].tid = d->threads[i].tid;
		threads[i].mode = d->threads[i].mode;
		threads[i].has_chain = d->threads[i].mode == SECCOMP_MODE_FILTER;
		threads[i].chain = d->threads[i].chain;
		pthreads[i] = &threads[i];
	}
	se.chains = pchains;
	se.n_chains = d->nr_chains;
	se.threads = pthreads;
	se.n_threads = d->nr_threads;
	img = img_open(dfd, IMG_SECCOMP, O_WRONLY, 0);
	if (!img || img_write(img, &se) < 0)
		goto out;
	ret = img_close(steal_pointer(&img));
out:
	free(fe);
	free(pf);
	return ret;
}

void ns_seccomp_free(struct seccomp_dump *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nr_chains; i++)
		chain_fini(&d->chains[i]);
	free(d->chains);
	free(d->threads);
	free(d);
}
