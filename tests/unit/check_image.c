/*
 * images/image.c: every image type round trip, pages, crc32c, hostile files
 * (truncated at every offset, every bit flipped, bad headers, absurd lengths,
 * memory-amplifying records, FIFOs), img_check_dir, and `criu-lite show`.
 */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/crc32c.h"
#include "lib/log.h"
#include "lib/util.h"
#include "images/image.h"
#include "images/imgset.h"
#include "cli/cli.h"
#include "images/pagemap.h"

/* Per test (fork mode: each test runs in its own child). */
static char g_top[64];  /* made once by the parent, removed at the end */
static char g_dir[128]; /* this test's directory */
static int g_dfd = -1;
static void **g_allocs; /* everything tz() allocated, freed in teardown */
static size_t g_nallocs;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void top_setup(void)
{
	strcpy(g_top, "/tmp/check_image.XXXXXX");
	if (!mkdtemp(g_top))
		abort();
}

static void top_teardown(void)
{
	nftw(g_top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	snprintf(g_dir, sizeof(g_dir), "%s/t.XXXXXX", g_top);
	ck_assert_ptr_nonnull(mkdtemp(g_dir));
	g_dfd = open(g_dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(g_dfd, 0);
}

static void teardown(void)
{
	for (size_t i = 0; i < g_nallocs; i++)
		free(g_allocs[i]);
	free(g_allocs);
	g_allocs = NULL;
	g_nallocs = 0;
	close(g_dfd);
}

/* Zeroed test memory, freed at teardown. */
static void *tz(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	void **a = realloc(g_allocs, (g_nallocs + 1) * sizeof(*a));
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(a);
	g_allocs = a;
	g_allocs[g_nallocs++] = p;
	return p;
}

#define TNEW(type, init)                    \
	({                                  \
		type *__p = tz(sizeof(type)); \
		type __i = init;            \
		*__p = __i;                 \
		__p;                        \
	})

static ProtobufCBinaryData tbytes(size_t n, unsigned seed)
{
	uint8_t *p = tz(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
	return (ProtobufCBinaryData){ .len = n, .data = p };
}

static char *tstr(const char *s)
{
	char *p = tz(strlen(s) + 1);
	strcpy(p, s);
	return p;
}

/* ---- realistic messages ---- */

static InventoryEntry *mk_inventory(bool complete)
{
	InventoryEntry *e = TNEW(InventoryEntry, INVENTORY_ENTRY__INIT);
	e->img_version = IMG_FORMAT_VERSION;
	e->kernel = tstr("6.18.0-test");
	e->machine = tstr("x86_64");
	e->has_page_size = 1, e->page_size = PAGE_SIZE;
	e->has_root_pid = 1, e->root_pid = 100;
	e->has_leave_running = 1, e->leave_running = 0;
	e->has_lazy_pages = 1, e->lazy_pages = 1;
	e->has_dump_complete = 1, e->dump_complete = complete;
	e->tool_version = tstr("0.1");
	e->has_dump_time_unix = 1, e->dump_time_unix = 1764087000;
	e->has_pages_dumped = 1, e->pages_dumped = 3;
	e->has_pages_zero = 1, e->pages_zero = 2;
	e->has_vdso_digest = 1, e->vdso_digest = tbytes(32, 9);
	e->has_vdso_size = 1, e->vdso_size = 8192;
	e->has_vvar_size = 1, e->vvar_size = 16384;
	e->has_track_mem = 1, e->track_mem = 0;
	return e;
}

static PstreeEntry *mk_pstree(uint32_t pid, uint32_t ppid, uint32_t nthreads)
{
	PstreeEntry *e = TNEW(PstreeEntry, PSTREE_ENTRY__INIT);
	e->pid = pid;
	e->ppid = ppid;
	e->has_pgid = 1, e->pgid = pid;
	e->has_sid = 1, e->sid = ppid ? ppid : pid;
	e->n_threads = nthreads;
	e->threads = tz(nthreads * sizeof(uint32_t));
	for (uint32_t i = 0; i < nthreads; i++)
		e->threads[i] = pid + i;
	return e;
}

static ThreadCoreEntry *mk_core(uint32_t tid)
{
	ThreadCoreEntry *e = TNEW(ThreadCoreEntry, THREAD_CORE_ENTRY__INIT);
	UserRegsX86 *r = TNEW(UserRegsX86, USER_REGS_X86__INIT);
	uint64_t *regs = &r->r15;
	/* every register, r15 .. gs, is a uint64_t in declaration order */
	for (size_t i = 0; i < 27; i++)
		regs[i] = 0x7ffc00000000ull + i * 0x1111 + tid;
	r->ax = (uint64_t)-4; /* -EINTR */
	e->tid = tid;
	e->gpregs = r;
	e->has_xsave = 1, e->xsave = tbytes(2688, tid);
	e->has_xfeatures = 1, e->xfeatures = 0x2e7;
	e->has_sigmask = 1, e->sigmask = 1ull << 9;
	e->rseq = TNEW(RseqEntry, RSEQ_ENTRY__INIT);
	e->rseq->rseq_abi_pointer = 0x7f0000001000ull;
	e->rseq->rseq_abi_size = 32;
	e->rseq->signature = 0x53053053;
	e->rseq->has_flags = 1;
	e->sigaltstack = TNEW(SigaltstackEntry, SIGALTSTACK_ENTRY__INIT);
	e->sigaltstack->ss_sp = 0x7f0000100000ull;
	e->sigaltstack->ss_size = 65536;
	e->sigaltstack->ss_flags = 2;
	e->comm = tstr("worker \"1\"\n\xff");
	e->n_pending = 2;
	e->pending = tz(2 * sizeof(SiginfoEntry *));
	for (int i = 0; i < 2; i++) {
		e->pending[i] = TNEW(SiginfoEntry, SIGINFO_ENTRY__INIT);
		e->pending[i]->siginfo = tbytes(128, tid + i);
	}
	e->has_clear_tid_addr = 1, e->clear_tid_addr = 0x7f0000002990ull;
	e->has_nice = 1, e->nice = -5;
	e->has_sched_policy = 1;
	e->has_in_syscall = 1, e->in_syscall = 1;
	return e;
}

static TaskEntry *mk_task(uint32_t pid)
{
	TaskEntry *e = TNEW(TaskEntry, TASK_ENTRY__INIT);
	e->pid = pid;
	e->comm = tstr("sleeper");
	e->has_umask = 1, e->umask = 022;
	e->has_personality = 1;
	e->has_exit_signal = 1, e->exit_signal = SIGCHLD;
	e->cwd = tstr("/root/d");
	e->root = tstr("/");
	e->n_rlimits = 16;
	e->rlimits = tz(16 * sizeof(RlimitEntry *));
	for (uint32_t i = 0; i < 16; i++) {
		e->rlimits[i] = TNEW(RlimitEntry, RLIMIT_ENTRY__INIT);
		e->rlimits[i]->resource = i;
		e->rlimits[i]->cur = i == 7 ? 1024 : UINT64_MAX;
		e->rlimits[i]->max = UINT64_MAX;
	}
	e->n_sigactions = 3;
	e->sigactions = tz(3 * sizeof(SigactionEntry *));
	for (uint32_t i = 0; i < 3; i++) {
		e->sigactions[i] = TNEW(SigactionEntry, SIGACTION_ENTRY__INIT);
		e->sigactions[i]->sig = i + 10;
		e->sigactions[i]->handler = 0x401000 + i * 16;
		e->sigactions[i]->flags = 0x04000000;
		e->sigactions[i]->restorer = 0x7f0000003000ull;
		e->sigactions[i]->mask = 1ull << i;
	}
	e->n_shared_pending = 1;
	e->shared_pending = tz(sizeof(SiginfoEntry *));
	e->shared_pending[0] = TNEW(SiginfoEntry, SIGINFO_ENTRY__INIT);
	e->shared_pending[0]->siginfo = tbytes(128, 77);
	e->n_itimers = 1;
	e->itimers = tz(sizeof(ItimerEntry *));
	e->itimers[0] = TNEW(ItimerEntry, ITIMER_ENTRY__INIT);
	e->itimers[0]->interval_us = 100000;
	e->itimers[0]->value_us = 5000;
	e->has_dumpable = 1, e->dumpable = 1;
	e->has_timerslack_ns = 1, e->timerslack_ns = 50000;
	return e;
}

static CredsEntry *mk_creds(void)
{
	CredsEntry *e = TNEW(CredsEntry, CREDS_ENTRY__INIT);
	e->uid = e->euid = e->suid = e->fsuid = 1000;
	e->gid = e->egid = e->sgid = e->fsgid = 1000;
	e->n_groups = 3;
	e->groups = tz(3 * sizeof(uint32_t));
	e->groups[0] = 4, e->groups[1] = 27, e->groups[2] = 1000;
	e->has_cap_prm = 1, e->cap_prm = 0x1ffffffffffull;
	e->has_cap_eff = 1, e->cap_eff = 0x1ffffffffffull;
	e->has_cap_bnd = 1, e->cap_bnd = 0x1ffffffffffull;
	e->has_last_cap = 1, e->last_cap = 40;
	return e;
}

static MmEntry *mk_mm(uint32_t pid, size_t nvmas)
{
	MmEntry *e = TNEW(MmEntry, MM_ENTRY__INIT);
	e->pid = pid;
	e->has_start_code = 1, e->start_code = 0x400000;
	e->has_end_code = 1, e->end_code = 0x401000;
	e->has_start_brk = 1, e->start_brk = 0x1000000;
	e->has_brk = 1, e->brk = 0x1021000;
	e->has_start_stack = 1, e->start_stack = 0x7ffc0000f000ull;
	e->n_auxv = 8;
	e->auxv = tz(8 * sizeof(uint64_t));
	for (int i = 0; i < 8; i++)
		e->auxv[i] = i % 2 ? 0x7ffc00000000ull + i : (uint64_t)(i + 3);
	e->n_vmas = nvmas;
	e->vmas = tz(nvmas * sizeof(VmaEntry *));
	for (size_t i = 0; i < nvmas; i++) {
		VmaEntry *v = TNEW(VmaEntry, VMA_ENTRY__INIT);
		v->start = 0x7f0000000000ull + i * 0x10000;
		v->end = v->start + 0x4000;
		v->prot = 3;
		v->flags = 0x22;
		v->kind = VMA_KIND_ANON_PRIVATE;
		if (i % 4 == 1) {
			v->kind = VMA_KIND_SHMEM;
			v->has_shmem_id = 1, v->shmem_id = 1;
			v->name = tstr("/dev/zero (deleted)");
		}
		v->has_status = 1, v->status = VMA_STATUS_LAZY;
		v->has_vm_flags = 1, v->vm_flags = 0x73;
		e->vmas[i] = v;
	}
	return e;
}

static PagemapHead *mk_pm_head(uint32_t id)
{
	PagemapHead *h = TNEW(PagemapHead, PAGEMAP_HEAD__INIT);
	h->pages_id = id;
	return h;
}

static PagemapEntry *mk_pm_entry(uint64_t vaddr, uint32_t nr, uint32_t flags, uint64_t off,
				 const uint32_t *crcs)
{
	PagemapEntry *e = TNEW(PagemapEntry, PAGEMAP_ENTRY__INIT);
	e->vaddr = vaddr;
	e->nr_pages = nr;
	e->flags = flags;
	if (flags & PE_PRESENT) {
		e->has_pages_off = 1, e->pages_off = off;
		e->n_crc = nr;
		e->crc = tz(nr * sizeof(uint32_t));
		memcpy(e->crc, crcs, nr * sizeof(uint32_t));
	}
	return e;
}

static ShmemEntry *mk_shmem(uint64_t id)
{
	ShmemEntry *e = TNEW(ShmemEntry, SHMEM_ENTRY__INIT);
	e->id = id;
	e->kind = id == 1 ? SHMEM_KIND_ANON : SHMEM_KIND_MEMFD;
	e->size = 1 << 20;
	e->has_dev = 1, e->dev = 5;
	e->has_ino = 1, e->ino = 1000 + id;
	e->name = tstr(id == 1 ? "/dev/zero (deleted)" : "memfd:cache");
	e->has_seals = 1, e->seals = 0;
	e->has_pages_id = 1, e->pages_id = id;
	return e;
}

static FileEntry *mk_file(uint32_t id, uint32_t type)
{
	FileEntry *e = TNEW(FileEntry, FILE_ENTRY__INIT);
	e->id = id;
	e->type = type;
	switch (type) {
	case FILE_TYPE_REG:
		e->reg = TNEW(RegFileEntry, REG_FILE_ENTRY__INIT);
		e->reg->path = tstr("/var/log/app.log");
		e->reg->has_flags = 1, e->reg->flags = O_WRONLY | O_APPEND;
		e->reg->has_pos = 1, e->reg->pos = 12345;
		e->reg->has_mtime_ns = 1, e->reg->mtime_ns = 1764087000123456789ull;
		break;
	case FILE_TYPE_CHR:
		e->chr = TNEW(ChrFileEntry, CHR_FILE_ENTRY__INIT);
		e->chr->path = tstr("/dev/null");
		e->chr->has_rdev = 1, e->chr->rdev = 0x103;
		break;
	case FILE_TYPE_PIPE:
		e->pipe = TNEW(PipeEntry, PIPE_ENTRY__INIT);
		e->pipe->pipe_ino = 4242;
		e->pipe->has_data = 1, e->pipe->data = tbytes(5000, 3);
		e->pipe->has_size = 1, e->pipe->size = 65536;
		break;
	case FILE_TYPE_MEMFD:
		e->memfd = TNEW(MemfdEntry, MEMFD_ENTRY__INIT);
		e->memfd->shmem_id = 2;
		e->memfd->name = tstr("cache");
		break;
	case FILE_TYPE_EVENTFD:
		e->eventfd = TNEW(EventfdEntry, EVENTFD_ENTRY__INIT);
		e->eventfd->counter = 7;
		break;
	case FILE_TYPE_SOCKET:
		e->socket = TNEW(SocketEntry, SOCKET_ENTRY__INIT);
		e->socket->family = 1;
		e->socket->type = 1;
		e->socket->has_src_addr = 1, e->socket->src_addr = tbytes(20, 1);
		e->socket->has_peer_ino = 1, e->socket->peer_ino = 99;
		break;
	}
	return e;
}

static FdinfoEntry *mk_fdinfo(uint32_t fd, uint32_t file_id)
{
	FdinfoEntry *e = TNEW(FdinfoEntry, FDINFO_ENTRY__INIT);
	e->fd = fd;
	e->file_id = file_id;
	e->has_cloexec = 1, e->cloexec = fd > 2;
	return e;
}

/* ---- helpers ---- */

static void write_img(enum img_type t, const char *id, void *const *msgs, size_t n)
{
	struct img *img = img_open_named(g_dfd, t, O_WRONLY, id);
	ck_assert_ptr_nonnull(img);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(img_write(img, msgs[i]), 0);
	ck_assert_int_eq(img_close(img), 0);
}

static void assert_same(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la = protobuf_c_message_get_packed_size(a);
	size_t lb = protobuf_c_message_get_packed_size(b);
	uint8_t *pa = tz(la), *pb = tz(lb);

	ck_assert_ptr_eq(a->descriptor, b->descriptor);
	ck_assert_uint_eq(la, lb);
	ck_assert_uint_eq(protobuf_c_message_pack(a, pa), la);
	ck_assert_uint_eq(protobuf_c_message_pack(b, pb), lb);
	ck_assert_int_eq(memcmp(pa, pb, la), 0);
}

/* Write msgs to a fresh image, read them back and compare field for field (packed). */
static void roundtrip(enum img_type t, const char *id, void *const *msgs, size_t n)
{
	struct img *img;
	void *got;

	write_img(t, id, msgs, n);
	img = img_open_named(g_dfd, t, O_RDONLY, id);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_get_type(img), t);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessage *want = msgs[i];
		ck_assert_int_eq(img_read_desc(img, want->descriptor, &got), 1);
		assert_same(want, got);
		img_free_msg(img, got);
	}
	ck_assert_int_eq(img_read_desc(img, ((const ProtobufCMessage *)msgs[0])->descriptor, &got), 0);
	/* the end stays the end */
	ck_assert_int_eq(img_read_desc(img, ((const ProtobufCMessage *)msgs[0])->descriptor, &got), 0);
	ck_assert_int_eq(img_close(img), 0);
}

static uint8_t *file_bytes(const char *name, size_t *ret_len)
{
	size_t len;
	char *s = read_file_str(g_dfd, name, 1 << 20, &len);
	ck_assert_ptr_nonnull(s);
	uint8_t *p = tz(len);
	memcpy(p, s, len);
	free(s);
	*ret_len = len;
	return p;
}

static void put_file(const char *name, const void *buf, size_t len)
{
	int fd = openat(g_dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_all(fd, buf, len), 0);
	close(fd);
}

/* Open pstree.img and read it to the end: the record count, or -1 on any error. */
static int read_pstree(void)
{
	struct img *img = img_open(g_dfd, IMG_PSTREE, O_RDONLY, 0);
	void *msg;
	int ret, nr = 0;

	if (!img)
		return -1;
	while ((ret = img_read(img, &msg)) > 0) {
		img_free_msg(img, msg);
		nr++;
	}
	img_close(img);
	return ret < 0 ? -1 : nr;
}

/* A small three-record pstree.img; returns its bytes. */
static uint8_t *small_image(size_t *ret_len)
{
	void *m[3] = { mk_pstree(100, 0, 2), mk_pstree(102, 100, 1), mk_pstree(103, 100, 1) };
	write_img(IMG_PSTREE, "0", m, 3);
	ck_assert_int_eq(read_pstree(), 3);
	return file_bytes("pstree.img", ret_len);
}

/* A record image holding raw records (len, crc computed or given) and an end marker. */
struct raw_rec {
	const void *data;
	uint32_t len;
	bool bad_crc;
};

static void put_raw_image(const char *name, uint32_t magic, const struct raw_rec *r, size_t n,
			  bool end)
{
	size_t cap = 8 + 8 + 8;
	for (size_t i = 0; i < n; i++)
		cap += 8 + r[i].len;
	uint8_t *buf = tz(cap), *p = buf;
	uint32_t hdr[2] = { magic, IMG_FORMAT_VERSION };
	memcpy(p, hdr, 8), p += 8;
	for (size_t i = 0; i < n; i++) {
		hdr[0] = r[i].len;
		hdr[1] = crc32c(0, r[i].data, r[i].len) ^ (r[i].bad_crc ? 1 : 0);
		memcpy(p, hdr, 8), p += 8;
		memcpy(p, r[i].data, r[i].len), p += r[i].len;
	}
	if (end) {
		hdr[0] = 0x21444e45, hdr[1] = n;
		memcpy(p, hdr, 8), p += 8;
	}
	put_file(name, buf, p - buf);
}

/* Send the log to a file of the test dir (hostile loops log thousands of errors). */
static void log_to_file(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/test.log", g_dir);
	ck_assert_int_eq(log_init(LOG_WARN, path), 0);
}

/* Whether the test log holds this text. */
static bool log_has(const char *text)
{
	char *s = read_file_str(g_dfd, "test.log", 64 << 20, NULL);
	bool found;
	ck_assert_ptr_nonnull(s);
	found = strstr(s, text) != NULL;
	free(s);
	return found;
}

static void fill_pages(uint8_t *p, size_t nr, unsigned seed)
{
	for (size_t i = 0; i < nr * PAGE_SIZE; i += 8) {
		uint64_t v = (i + seed * 0x9e3779b97f4a7c15ull) * 2654435761u;
		memcpy(p + i, &v, 8);
	}
}

/* ---- round trips ---- */

START_TEST(test_roundtrip_inventory)
{
	void *m[] = { mk_inventory(true) };
	roundtrip(IMG_INVENTORY, "0", m, 1);
	InventoryEntry *inv = img_read_inventory(g_dfd);
	ck_assert_ptr_nonnull(inv);
	assert_same(m[0], &inv->base);
	inventory_entry__free_unpacked(inv, NULL);
}
END_TEST

START_TEST(test_roundtrip_pstree)
{
	void *m[] = { mk_pstree(100, 0, 3), mk_pstree(200, 100, 1), mk_pstree(300, 100, 0) };
	roundtrip(IMG_PSTREE, "0", m, 3);
}
END_TEST

START_TEST(test_roundtrip_core)
{
	void *m[] = { mk_core(100) };
	roundtrip(IMG_CORE, "100", m, 1);
	/* the file name is made from the type and id */
	ck_assert_int_eq(faccessat(g_dfd, "core-100.img", R_OK, 0), 0);
}
END_TEST

START_TEST(test_roundtrip_task)
{
	void *m[] = { mk_task(100) };
	roundtrip(IMG_TASK, "100", m, 1);
}
END_TEST

START_TEST(test_roundtrip_creds)
{
	void *m[] = { mk_creds() };
	roundtrip(IMG_CREDS, "100", m, 1);
}
END_TEST

START_TEST(test_roundtrip_mm)
{
	/* 20000 VMAs: a record much bigger than the write buffer */
	void *m[] = { mk_mm(100, 6), mk_mm(100, 20000) };
	ck_assert_uint_gt(protobuf_c_message_get_packed_size(m[1]), 256u << 10);
	roundtrip(IMG_MM, "100", m, 2);
}
END_TEST

START_TEST(test_roundtrip_pagemap)
{
	uint32_t crcs[4] = { 1, 2, 3, 0xffffffff };
	void *m[] = { mk_pm_head(100), mk_pm_entry(0x400000, 4, PE_PRESENT, 0, crcs),
		      mk_pm_entry(0x500000, 16, PE_ZERO | PE_LAZY, 0, NULL),
		      mk_pm_entry(0x600000, 2, PE_PRESENT | PE_LAZY, 4, crcs) };
	roundtrip(IMG_PAGEMAP, "shmem-1", m, 4);
	ck_assert_int_eq(faccessat(g_dfd, "pagemap-shmem-1.img", R_OK, 0), 0);
}
END_TEST

START_TEST(test_roundtrip_shmem)
{
	void *m[] = { mk_shmem(1), mk_shmem(2) };
	roundtrip(IMG_SHMEM, "0", m, 2);
}
END_TEST

START_TEST(test_roundtrip_files)
{
	void *m[] = { mk_file(1, FILE_TYPE_REG), mk_file(2, FILE_TYPE_CHR), mk_file(3, FILE_TYPE_PIPE),
		      mk_file(4, FILE_TYPE_MEMFD), mk_file(5, FILE_TYPE_EVENTFD),
		      mk_file(6, FILE_TYPE_SOCKET) };
	roundtrip(IMG_FILES, "0", m, 6);
}
END_TEST

START_TEST(test_roundtrip_fdinfo)
{
	void *m[] = { mk_fdinfo(0, 2), mk_fdinfo(1, 2), mk_fdinfo(2, 2), mk_fdinfo(3, 1) };
	roundtrip(IMG_FDINFO, "100", m, 4);
}
END_TEST

START_TEST(test_write_rejects)
{
	struct img *img = img_open(g_dfd, IMG_PSTREE, O_WRONLY, 0);
	PstreeEntry *pe = mk_pstree(1, 0, 0);
	ck_assert_ptr_nonnull(img);
	/* a record of another type */
	ck_assert_int_eq(img_write(img, mk_creds()), -1);
	/* a required string left NULL */
	RegFileEntry *reg = TNEW(RegFileEntry, REG_FILE_ENTRY__INIT);
	struct img *files = img_open(g_dfd, IMG_FILES, O_WRONLY, 0);
	ck_assert_ptr_nonnull(files);
	FileEntry *fe = mk_file(1, FILE_TYPE_REG);
	fe->reg = reg;
	ck_assert_int_eq(img_write(files, fe), -1);
	ck_assert_int_eq(img_close(files), 0);
	/* pages can't be written to a record image, nor records to a pages image */
	uint8_t page[PAGE_SIZE] = { 0 };
	ck_assert_int_eq(img_pages_write(img, page, PAGE_SIZE), -1);
	struct img *pages = img_open(g_dfd, IMG_PAGES, O_WRONLY, 1);
	ck_assert_ptr_nonnull(pages);
	ck_assert_int_eq(img_write(pages, pe), -1);
	ck_assert_int_eq(img_pages_write(pages, page, 100), -1);
	ck_assert_int_eq(img_close(pages), 0);
	/* the image is still fine */
	ck_assert_int_eq(img_write(img, pe), 0);
	ck_assert_int_eq(img_close(img), 0);
	ck_assert_int_eq(read_pstree(), 1);
	/* ids can't escape the directory */
	ck_assert_ptr_null(img_open_named(g_dfd, IMG_CORE, O_WRONLY, "../x"));
	ck_assert_ptr_null(img_open_named(g_dfd, IMG_CORE, O_WRONLY, ""));
	ck_assert_ptr_null(img_open(g_dfd, (enum img_type)99, O_RDONLY, 0));
}
END_TEST

/* A writer left to cleanup_img (an error path) is abandoned, not committed. */
static int write_abandoned(void)
{
	cleanup_img struct img *img = img_open(g_dfd, IMG_PSTREE, O_WRONLY, 0);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_write(img, mk_pstree(1, 0, 1)), 0);
	ck_assert_int_eq(img_write(img, mk_pstree(2, 1, 1)), 0);
	return -1;
}

START_TEST(test_abandoned_writer)
{
	size_t len;
	small_image(&len);
	ck_assert_int_eq(write_abandoned(), -1);
	ck_assert_int_eq(read_pstree(), -1);
}
END_TEST

START_TEST(test_types_and_names)
{
	ck_assert_int_eq(img_type_from_name("core-12.img"), IMG_CORE);
	ck_assert_int_eq(img_type_from_name("/x/pagemap-shmem-3.img"), IMG_PAGEMAP);
	ck_assert_int_eq(img_type_from_name("pages-shmem-3.img"), IMG_PAGES);
	ck_assert_int_eq(img_type_from_name("inventory.img"), IMG_INVENTORY);
	ck_assert_int_eq(img_type_from_name("pstree-1.img"), -1);
	ck_assert_int_eq(img_type_from_name("core-"), -1);
	ck_assert_int_eq(img_type_from_name("stats-dump.img"), -1);
	for (int t = 1; t < IMG_TYPE_MAX; t++) {
		ck_assert_ptr_nonnull(img_type_name(t));
		ck_assert_int_eq(img_type_from_magic(img_type_magic(t)), t);
	}
	ck_assert_int_eq(img_type_from_magic(0x12345678), -1);
	ck_assert_ptr_null(img_type_name(0));
	ck_assert_ptr_null(img_type_name(IMG_TYPE_MAX));
}
END_TEST

/* ---- crc32c ---- */

START_TEST(test_crc32c)
{
	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xe3069283);
	ck_assert_uint_eq(crc32c_sw(0, "123456789", 9), 0xe3069283);
	ck_assert_uint_eq(crc32c(0, "", 0), 0);
	/* the accelerated and portable versions agree at every length and alignment,
	 * and a crc can be computed in pieces */
	uint8_t *buf = tz(1100);
	for (int i = 0; i < 1100; i++)
		buf[i] = (uint8_t)(i * 37 + (i >> 3));
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= 1100; len += 13) {
			uint32_t a = crc32c(0, buf + off, len);
			ck_assert_uint_eq(a, crc32c_sw(0, buf + off, len));
			size_t half = len / 3;
			ck_assert_uint_eq(a, crc32c(crc32c(0, buf + off, half), buf + off + half,
							len - half));
		}
	/* long buffers go in three lanes (4080-byte blocks): around and across the block
	 * sizes, from any starting crc */
	const size_t big = 3 * 4096 + 64;
	buf = tz(big);
	for (size_t i = 0; i < big; i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 7) + 5);
	const size_t lens[] = { 4079, 4080, 4081, 4088, 4095, 4096, 4097, 8159, 8160, 8161,
				8192, 3 * 4096, big - 1 };
	for (size_t k = 0; k < ARRAY_SIZE(lens); k++)
		for (size_t off = 0; off < 3; off++)
			for (uint32_t seed = 0; seed < 3; seed++) {
				size_t len = MIN(lens[k], big - off);
				uint32_t c0 = seed * 0x9e3779b9u;
				ck_assert_uint_eq(crc32c(c0, buf + off, len),
						  crc32c_sw(c0, buf + off, len));
			}
	/* three pages side by side: each as computed alone */
	uint32_t three[3];
	crc32c_3pages(buf + 1, three);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(three[i], crc32c_sw(0, buf + 1 + i * 4096, 4096));
	/* a known page: 4096 bytes of 0xff (crc32c as computed bit by bit) */
	memset(buf, 0xff, 4096);
	uint32_t bitwise = 0xffffffffu;
	for (size_t i = 0; i < 4096; i++) {
		bitwise ^= buf[i];
		for (int b = 0; b < 8; b++)
			bitwise = (bitwise >> 1) ^ (0x82f63b78u & (0u - (bitwise & 1)));
	}
	ck_assert_uint_eq(crc32c(0, buf, 4096), ~bitwise);
}
END_TEST

/* ---- pages ---- */

START_TEST(test_pages)
{
	const size_t nr = 10;
	uint8_t *data = tz(nr * PAGE_SIZE), *got = tz(nr * PAGE_SIZE);
	uint32_t crcs[10];
	struct img *img;

	fill_pages(data, nr, 1);
	for (size_t i = 0; i < nr; i++)
		crcs[i] = crc32c(0, data + i * PAGE_SIZE, PAGE_SIZE);
	img = img_open(g_dfd, IMG_PAGES, O_WRONLY, 7);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_pages_write(img, data, 3 * PAGE_SIZE), 0);
	ck_assert_int_eq(img_pages_write(img, data + 3 * PAGE_SIZE, 7 * PAGE_SIZE), 0);
	ck_assert_int_eq(img_pages_count(img), 10);
	ck_assert_int_eq(img_close(img), 0);

	img = img_open(g_dfd, IMG_PAGES, O_RDONLY, 7);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_pages_count(img), 10);
	ck_assert_int_eq(img_pages_read(img, got, nr, 0), 0);
	ck_assert_int_eq(memcmp(got, data, nr * PAGE_SIZE), 0);
	ck_assert_int_eq(page_check_crcs(img, got, nr, crcs, 0x1000), 0);
	for (size_t i = 0; i < nr; i++) {
		ck_assert_int_eq(img_pages_read(img, got, 1, i), 0);
		ck_assert_int_eq(memcmp(got, data + i * PAGE_SIZE, PAGE_SIZE), 0);
		ck_assert_int_eq(page_check_crcs(img, got, 1, &crcs[i], 0x1000 + i * PAGE_SIZE), 0);
	}
	ck_assert_int_eq(img_pages_read(img, got, 3, 4), 0);
	ck_assert_int_eq(memcmp(got, data + 4 * PAGE_SIZE, 3 * PAGE_SIZE), 0);
	/* a flipped byte anywhere in a page is caught */
	got[PAGE_SIZE + 1234] ^= 0x10;
	ck_assert_int_eq(page_check_crcs(img, got, 3, &crcs[4], 0x5000), -1);
	ck_assert_int_eq(errno, EBADMSG);
	/* past the end */
	ck_assert_int_eq(img_pages_read(img, got, 1, 10), -1);
	ck_assert_int_eq(img_pages_read(img, got, 2, 9), -1);
	ck_assert_int_eq(img_pages_read(img, got, 1, UINT64_MAX), -1);
	ck_assert_int_eq(img_pages_read(img, got, SIZE_MAX / PAGE_SIZE, 1), -1);
	ck_assert_int_eq(img_pages_read(img, got, 0, 10), 0);
	ck_assert_int_eq(img_close(img), 0);
}
END_TEST

START_TEST(test_pages_hostile)
{
	uint8_t page[PAGE_SIZE];
	size_t len;
	struct img *img = img_open(g_dfd, IMG_PAGES, O_WRONLY, 1);

	fill_pages(page, 1, 2);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_pages_write(img, page, PAGE_SIZE), 0);
	ck_assert_int_eq(img_close(img), 0);
	uint8_t *good = file_bytes("pages-1.img", &len);
	ck_assert_uint_eq(len, IMG_PAGES_HDR + PAGE_SIZE);

	/* not a multiple of the page size, at either end */
	put_file("pages-1.img", good, len - 100);
	ck_assert_ptr_null(img_open(g_dfd, IMG_PAGES, O_RDONLY, 1));
	uint8_t *longer = tz(len + 100);
	memcpy(longer, good, len);
	put_file("pages-1.img", longer, len + 100);
	ck_assert_ptr_null(img_open(g_dfd, IMG_PAGES, O_RDONLY, 1));
	/* header only: fine, no pages */
	put_file("pages-1.img", good, IMG_PAGES_HDR);
	img = img_open(g_dfd, IMG_PAGES, O_RDONLY, 1);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_pages_count(img), 0);
	ck_assert_int_eq(img_pages_read(img, page, 1, 0), -1);
	img_close(img);
	/* truncated header */
	put_file("pages-1.img", good, 12);
	ck_assert_ptr_null(img_open(g_dfd, IMG_PAGES, O_RDONLY, 1));
	/* wrong page size in the header */
	uint32_t psz = 65536;
	memcpy(good + 8, &psz, 4);
	put_file("pages-1.img", good, len);
	ck_assert_ptr_null(img_open(g_dfd, IMG_PAGES, O_RDONLY, 1));
	/* a record image is not a pages image */
	small_image(&len);
	ck_assert_int_eq(renameat(g_dfd, "pstree.img", g_dfd, "pages-1.img"), 0);
	ck_assert_ptr_null(img_open(g_dfd, IMG_PAGES, O_RDONLY, 1));
}
END_TEST

/* ---- hostile record images ---- */

START_TEST(test_truncated_everywhere)
{
	size_t len;
	uint8_t *good = small_image(&len);

	log_to_file();
	for (size_t n = 0; n < len; n++) {
		put_file("pstree.img", good, n);
		if (read_pstree() != -1)
			ck_abort_msg("an image truncated to %zu of %zu bytes was accepted", n, len);
	}
	put_file("pstree.img", good, len);
	ck_assert_int_eq(read_pstree(), 3);
	/* the errors name the file and what is wrong */
	ck_assert(log_has("pstree.img: truncated after 3 records: no end marker"));
	ck_assert(log_has("pstree.img: truncated at offset"));
	ck_assert(log_has("pstree.img: truncated: record at offset 8 claims"));
	ck_assert(log_has("pstree.img: truncated: 0 bytes, too short for the 8-byte image header"));
}
END_TEST

START_TEST(test_bitflip_everywhere)
{
	size_t len;
	uint8_t *good = small_image(&len);

	log_to_file();
	for (size_t bit = 0; bit < len * 8; bit++) {
		good[bit / 8] ^= 1u << (bit % 8);
		put_file("pstree.img", good, len);
		if (read_pstree() != -1)
			ck_abort_msg("bit %zu flipped (byte %zu of %zu) was not detected", bit, bit / 8, len);
		good[bit / 8] ^= 1u << (bit % 8);
	}
	put_file("pstree.img", good, len);
	ck_assert_int_eq(read_pstree(), 3);
	ck_assert(log_has("pstree.img: record at offset 8 is corrupt (checksum mismatch)"));
	ck_assert(log_has("pstree.img: bad magic"));
	ck_assert(log_has("pstree.img: format version"));
	ck_assert(log_has("counts 2 records, 3 were read"));
}
END_TEST

START_TEST(test_extra_bytes)
{
	size_t len;
	uint8_t *good = small_image(&len);
	uint8_t *more = tz(len + 8);

	memcpy(more, good, len);
	for (size_t extra = 1; extra <= 8; extra++) {
		put_file("pstree.img", more, len + extra);
		ck_assert_int_eq(read_pstree(), -1);
	}
	/* a record appended after the end marker */
	put_file("pstree.img", more, len);
	memcpy(more + len, good + 8, 8);
	put_file("pstree.img", more, len + 8);
	ck_assert_int_eq(read_pstree(), -1);
}
END_TEST

START_TEST(test_bad_header)
{
	size_t len;
	uint8_t *good = small_image(&len);
	uint32_t v;

	/* garbage magic, and the magic of another image type */
	v = 0xdeadbeef;
	memcpy(good, &v, 4);
	put_file("pstree.img", good, len);
	ck_assert_int_eq(read_pstree(), -1);
	ck_assert_ptr_null(img_open_path(g_dfd, "pstree.img"));
	v = CORE_MAGIC;
	memcpy(good, &v, 4);
	put_file("pstree.img", good, len);
	ck_assert_int_eq(read_pstree(), -1);
	v = PSTREE_MAGIC;
	memcpy(good, &v, 4);
	/* wrong version */
	for (uint32_t ver = 0; ver < 4; ver++) {
		if (ver == IMG_FORMAT_VERSION)
			continue;
		memcpy(good + 4, &ver, 4);
		put_file("pstree.img", good, len);
		ck_assert_int_eq(read_pstree(), -1);
		ck_assert_ptr_null(img_open_path(g_dfd, "pstree.img"));
	}
	v = IMG_FORMAT_VERSION;
	memcpy(good + 4, &v, 4);
	put_file("pstree.img", good, len);
	ck_assert_int_eq(read_pstree(), 3);
	struct img *img = img_open_path(g_dfd, "pstree.img");
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_get_type(img), IMG_PSTREE);
	img_close(img);
	/* empty file, and a file without the end marker */
	put_file("pstree.img", good, 0);
	ck_assert_int_eq(read_pstree(), -1);
	ck_assert_ptr_null(img_open_path(g_dfd, "pstree.img"));
	put_file("pstree.img", good, 8);
	ck_assert_int_eq(read_pstree(), -1);
}
END_TEST

START_TEST(test_bad_lengths)
{
	uint8_t payload[64] = { 0 };
	PstreeEntry *pe = mk_pstree(5, 1, 1);
	size_t plen = protobuf_c_message_pack(&pe->base, payload);
	uint8_t buf[8 + 8 + 64 + 8];
	uint32_t hdr[2] = { PSTREE_MAGIC, IMG_FORMAT_VERSION };

	/* sanity: the raw writer makes a readable image */
	struct raw_rec ok = { payload, plen, false };
	put_raw_image("pstree.img", PSTREE_MAGIC, &ok, 1, true);
	ck_assert_int_eq(read_pstree(), 1);

	/* length past the end of the file */
	memcpy(buf, hdr, 8);
	hdr[0] = plen + 20, hdr[1] = crc32c(0, payload, plen);
	memcpy(buf + 8, hdr, 8);
	memcpy(buf + 16, payload, plen);
	put_file("pstree.img", buf, 16 + plen);
	ck_assert_int_eq(read_pstree(), -1);
	/* absurd lengths */
	uint32_t absurd[] = { 0xffffffff, 0x80000000, IMG_MAX_RECORD + 1 };
	for (size_t i = 0; i < ARRAY_SIZE(absurd); i++) {
		hdr[0] = absurd[i];
		memcpy(buf + 8, hdr, 8);
		put_file("pstree.img", buf, 16 + plen);
		ck_assert_int_eq(read_pstree(), -1);
		/* also with the header alone */
		put_file("pstree.img", buf, 16);
		ck_assert_int_eq(read_pstree(), -1);
	}
	/* a bad crc */
	struct raw_rec bad = { payload, plen, true };
	put_raw_image("pstree.img", PSTREE_MAGIC, &bad, 1, true);
	ck_assert_int_eq(read_pstree(), -1);
	/* a wrong record count in the end marker */
	struct raw_rec two[2] = { ok, ok };
	put_raw_image("pstree.img", PSTREE_MAGIC, two, 2, true);
	ck_assert_int_eq(read_pstree(), 2);
	size_t len;
	uint8_t *f = file_bytes("pstree.img", &len);
	f[len - 4] = 3;
	put_file("pstree.img", f, len);
	ck_assert_int_eq(read_pstree(), -1);
}
END_TEST

START_TEST(test_not_protobuf)
{
	/* valid crc, invalid protobuf: bad wire types, overlong varints, lengths past the end */
	static const uint8_t junk[][12] = {
		{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		{ 0x0f, 0x01 },                               /* wire type 7 */
		{ 0x2a, 0x10, 0x01 },                         /* packed field 5, 16 bytes announced */
		{ 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80 },
		{ 0x08, 0x05 },                               /* pid only: ppid (required) missing */
		{ 0 },                                        /* field 0 */
	};
	static const uint32_t lens[] = { 12, 2, 3, 12, 2, 1 };

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		struct raw_rec r = { junk[i], lens[i], false };
		put_raw_image("pstree.img", PSTREE_MAGIC, &r, 1, true);
		if (read_pstree() != -1)
			ck_abort_msg("junk payload %zu was accepted", i);
	}
	/* an empty payload is valid protobuf but lacks pid and ppid */
	struct raw_rec e = { "", 0, false };
	put_raw_image("pstree.img", PSTREE_MAGIC, &e, 1, true);
	ck_assert_int_eq(read_pstree(), -1);
}
END_TEST

/* A record of many tiny sub-messages: decoding it must stay under the memory budget. */
static uint8_t *mm_with_vmas(size_t nvmas, size_t *ret_len)
{
	/* mm_entry { pid = 1; vmas { start end prot flags kind } x nvmas } */
	static const uint8_t vma[] = { 0x7a, 0x0a, 0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x02, 0x28, 0x01 };
	size_t len = 2 + nvmas * sizeof(vma);
	uint8_t *p = tz(len);
	p[0] = 0x08, p[1] = 0x01;
	for (size_t i = 0; i < nvmas; i++)
		memcpy(p + 2 + i * sizeof(vma), vma, sizeof(vma));
	*ret_len = len;
	return p;
}

START_TEST(test_memory_budget)
{
	size_t len;
	uint8_t *p;
	void *msg;
	struct img *img;

	/* 65530 VMAs (the default vm.max_map_count): a real process, accepted */
	p = mm_with_vmas(65530, &len);
	struct raw_rec r = { p, len, false };
	put_raw_image("mm-1.img", MM_MAGIC, &r, 1, true);
	img = img_open(g_dfd, IMG_MM, O_RDONLY, 1);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_read(img, &msg), 1);
	ck_assert_uint_eq(((MmEntry *)msg)->n_vmas, 65530);
	img_free_msg(img, msg);
	ck_assert_int_eq(img_read(img, &msg), 0);
	img_close(img);

	/* 1.3 million tiny VMAs in a 16 MiB record would unpack into hundreds of MiB: refused */
	p = mm_with_vmas((IMG_MAX_RECORD - 2) / 12, &len);
	r = (struct raw_rec){ p, len, false };
	put_raw_image("mm-1.img", MM_MAGIC, &r, 1, true);
	img = img_open(g_dfd, IMG_MM, O_RDONLY, 1);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_read(img, &msg), -1);
	ck_assert_int_eq(errno, EBADMSG);
	img_close(img);
}
END_TEST

START_TEST(test_fifo_no_hang)
{
	ck_assert_int_eq(mkfifoat(g_dfd, "pstree.img", 0600), 0);
	alarm(5); /* a hang is a failure, not a stuck test run */
	ck_assert_ptr_null(img_open(g_dfd, IMG_PSTREE, O_RDONLY, 0));
	ck_assert_ptr_null(img_open(g_dfd, IMG_PSTREE, O_WRONLY, 0));
	ck_assert_ptr_null(img_open_path(g_dfd, "pstree.img"));
	ck_assert_int_eq(mkdirat(g_dfd, "core-1.img", 0700), 0);
	ck_assert_ptr_null(img_open(g_dfd, IMG_CORE, O_RDONLY, 1));
	alarm(0);
}
END_TEST

START_TEST(test_singleton)
{
	struct img *img;
	void *msg;

	/* empty */
	write_img(IMG_INVENTORY, "0", NULL, 0);
	img = img_open(g_dfd, IMG_INVENTORY, O_RDONLY, 0);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_read_one(img, &msg), -1);
	img_close(img);
	ck_assert_ptr_null(img_read_inventory(g_dfd));
	/* two records */
	void *two[] = { mk_inventory(true), mk_inventory(true) };
	write_img(IMG_INVENTORY, "0", two, 2);
	ck_assert_ptr_null(img_read_inventory(g_dfd));
	/* missing */
	ck_assert_int_eq(unlinkat(g_dfd, "inventory.img", 0), 0);
	ck_assert_ptr_null(img_read_inventory(g_dfd));
	errno = 0;
	ck_assert_ptr_null(img_open(g_dfd, IMG_CORE, O_RDONLY | IMG_OPT_MISSING_OK, 1));
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_inventory_rejects)
{
	InventoryEntry *inv;
	void *m[1];

	m[0] = inv = mk_inventory(false);
	write_img(IMG_INVENTORY, "0", m, 1);
	ck_assert_ptr_null(img_read_inventory(g_dfd));
	inv->has_dump_complete = 0;
	write_img(IMG_INVENTORY, "0", m, 1);
	ck_assert_ptr_null(img_read_inventory(g_dfd));
	inv->has_dump_complete = 1, inv->dump_complete = 1;
	inv->img_version = IMG_FORMAT_VERSION + 1;
	write_img(IMG_INVENTORY, "0", m, 1);
	ck_assert_ptr_null(img_read_inventory(g_dfd));
	inv->img_version = IMG_FORMAT_VERSION;
	inv->page_size = 65536;
	write_img(IMG_INVENTORY, "0", m, 1);
	ck_assert_ptr_null(img_read_inventory(g_dfd));
	inv->page_size = PAGE_SIZE;
	write_img(IMG_INVENTORY, "0", m, 1);
	InventoryEntry *got = img_read_inventory(g_dfd);
	ck_assert_ptr_nonnull(got);
	inventory_entry__free_unpacked(got, NULL);
}
END_TEST

START_TEST(test_fuzz)
{
	/* random mutations of a valid image never crash (ASan/UBSan build) and a
	 * mutated image is never read as the original */
	size_t len;
	uint8_t *good = small_image(&len);
	uint8_t *buf = tz(len + 64);
	unsigned seed = 12345;

	log_to_file();

	for (int iter = 0; iter < 3000; iter++) {
		size_t n = len;
		memcpy(buf, good, len);
		int nmut = 1 + rand_r(&seed) % 4;
		for (int k = 0; k < nmut; k++) {
			if (!n)
				break;
			size_t at = rand_r(&seed) % n;
			switch (rand_r(&seed) % 4) {
			case 0:
				buf[at] = rand_r(&seed);
				break;
			case 1: /* an interesting length */
				if (at + 4 <= n) {
					uint32_t v = (uint32_t[]){ 0, 1, 0xffffffff, 0x7fffffff, IMG_MAX_RECORD,
								    (uint32_t)len }[rand_r(&seed) % 6];
					memcpy(buf + at, &v, 4);
				}
				break;
			case 2:
				n = at;
				break;
			default:
				buf[at] ^= 1u << (rand_r(&seed) % 8);
			}
		}
		put_file("pstree.img", buf, n);
		int r = read_pstree();
		if (n == len && !memcmp(buf, good, len))
			ck_assert_int_eq(r, 3);
		else if (r != -1)
			ck_abort_msg("mutation %d (%zu of %zu bytes) was read as %d records", iter, n, len, r);
	}
}
END_TEST

/* ---- img_check_dir ---- */

/* A small complete dump: task 100 (threads 100, 101), its memory (3 data pages,
 * 2 zero pages), a shmem object with 2 pages, files. */
static void write_dump(void)
{
	uint8_t *pages = tz(3 * PAGE_SIZE);
	uint32_t crcs[3];
	struct img *img;

	fill_pages(pages, 3, 5);
	for (int i = 0; i < 3; i++)
		crcs[i] = crc32c(0, pages + i * PAGE_SIZE, PAGE_SIZE);
	void *ps[] = { mk_pstree(100, 0, 2) };
	write_img(IMG_PSTREE, "0", ps, 1);
	void *c0[] = { mk_core(100) }, *c1[] = { mk_core(101) };
	write_img(IMG_CORE, "100", c0, 1);
	write_img(IMG_CORE, "101", c1, 1);
	void *t[] = { mk_task(100) };
	write_img(IMG_TASK, "100", t, 1);
	void *cr[] = { mk_creds() };
	write_img(IMG_CREDS, "100", cr, 1);
	MmEntry *m = mk_mm(100, 5);
	/* one more VMA, first, for the data and zero pages at 0x400000 */
	VmaEntry **vs = tz(6 * sizeof(*vs));
	memcpy(vs + 1, m->vmas, 5 * sizeof(*vs));
	vs[0] = TNEW(VmaEntry, VMA_ENTRY__INIT);
	vs[0]->start = 0x400000, vs[0]->end = 0x404000, vs[0]->prot = 3, vs[0]->flags = 0x22;
	vs[0]->kind = VMA_KIND_ANON_PRIVATE;
	m->vmas = vs, m->n_vmas = 6;
	void *mm[] = { m };
	write_img(IMG_MM, "100", mm, 1);
	void *pm[] = { mk_pm_head(100), mk_pm_entry(0x400000, 2, PE_PRESENT, 0, crcs),
		       mk_pm_entry(0x402000, 2, PE_ZERO, 0, NULL),
		       mk_pm_entry(0x7f0000000000ull, 1, PE_PRESENT | PE_LAZY, 2, crcs + 2) };
	write_img(IMG_PAGEMAP, "100", pm, 4);
	img = img_open_named(g_dfd, IMG_PAGES, O_WRONLY, "100");
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_pages_write(img, pages, 3 * PAGE_SIZE), 0);
	ck_assert_int_eq(img_close(img), 0);
	void *sh[] = { mk_shmem(1) };
	write_img(IMG_SHMEM, "0", sh, 1);
	void *spm[] = { mk_pm_head(1), mk_pm_entry(0, 2, PE_PRESENT | PE_LAZY, 0, crcs) };
	write_img(IMG_PAGEMAP, "shmem-1", spm, 2);
	img = img_open_named(g_dfd, IMG_PAGES, O_WRONLY, "shmem-1");
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_pages_write(img, pages, 2 * PAGE_SIZE), 0);
	ck_assert_int_eq(img_close(img), 0);
	void *f[] = { mk_file(1, FILE_TYPE_REG), mk_file(2, FILE_TYPE_CHR), mk_file(3, FILE_TYPE_PIPE) };
	write_img(IMG_FILES, "0", f, 3);
	void *fd[] = { mk_fdinfo(0, 2), mk_fdinfo(1, 2), mk_fdinfo(2, 3), mk_fdinfo(5, 1) };
	write_img(IMG_FDINFO, "100", fd, 4);
	void *inv[] = { mk_inventory(true) }; /* last, as dump does */
	write_img(IMG_INVENTORY, "0", inv, 1);
}

START_TEST(test_check_dir)
{
	write_dump();
	ck_assert_int_eq(img_check_dir(g_dfd), 0);
	/* files that are not images are ignored */
	put_file("dump.log", "hello", 5);
	put_file("stats-dump.img", "junk", 4);
	ck_assert_int_eq(mkdirat(g_dfd, "subdir", 0700), 0);
	ck_assert_int_eq(img_check_dir(g_dfd), 0);
	char **names;
	size_t nr;
	ck_assert_int_eq(img_list_dir(g_dfd, &names, &nr), 0);
	ck_assert_uint_eq(nr, 14);
	ck_assert_str_eq(names[0], "core-100.img");
	ck_assert_str_eq(names[nr - 1], "task-100.img");
	for (size_t i = 1; i < nr; i++)
		ck_assert_int_lt(strcmp(names[i - 1], names[i]), 0);
	img_free_names(names, nr);
}
END_TEST

/* Each case damages one thing of a good dump; img_check_dir must refuse it. */
START_TEST(test_check_dir_rejects)
{
	size_t len;
	uint8_t *b;
	uint32_t crcs[4] = { 0 };
	void *pm[3];

	write_dump();
	switch (_i) {
	case 0: /* inventory says incomplete */
		pm[0] = mk_inventory(false);
		write_img(IMG_INVENTORY, "0", pm, 1);
		break;
	case 1: /* a thread's core image is missing */
		ck_assert_int_eq(unlinkat(g_dfd, "core-101.img", 0), 0);
		break;
	case 2: /* a corrupt record deep in files.img */
		b = file_bytes("files.img", &len);
		b[len / 2] ^= 4;
		put_file("files.img", b, len);
		break;
	case 3: /* fdinfo truncated at a record boundary (end marker lost) */
		b = file_bytes("fdinfo-100.img", &len);
		put_file("fdinfo-100.img", b, len - 8);
		break;
	case 4: /* pages file shorter than the pagemap needs */
		b = file_bytes("pages-100.img", &len);
		put_file("pages-100.img", b, len - PAGE_SIZE);
		break;
	case 5: /* pages file not whole pages */
		b = file_bytes("pages-shmem-1.img", &len);
		put_file("pages-shmem-1.img", b, len - 1);
		break;
	case 6: /* overlapping entries */
		pm[0] = mk_pm_head(100), pm[1] = mk_pm_entry(0x400000, 2, PE_PRESENT, 0, crcs);
		pm[2] = mk_pm_entry(0x401000, 1, PE_PRESENT, 2, crcs);
		write_img(IMG_PAGEMAP, "100", pm, 3);
		break;
	case 7: /* entry data past the pages file */
		pm[0] = mk_pm_head(100), pm[1] = mk_pm_entry(0x400000, 2, PE_PRESENT, 2, crcs);
		write_img(IMG_PAGEMAP, "100", pm, 2);
		break;
	case 8: /* present and zero at once */
		pm[0] = mk_pm_head(100), pm[1] = mk_pm_entry(0x400000, 1, PE_PRESENT | PE_ZERO, 0, crcs);
		write_img(IMG_PAGEMAP, "100", pm, 2);
		break;
	case 9: /* crc count does not match */
		pm[0] = mk_pm_head(100), pm[1] = mk_pm_entry(0x400000, 2, PE_PRESENT, 0, crcs);
		((PagemapEntry *)pm[1])->n_crc = 1;
		write_img(IMG_PAGEMAP, "100", pm, 2);
		break;
	case 10: /* no pagemap head */
		write_img(IMG_PAGEMAP, "100", NULL, 0);
		break;
	case 11: /* present pages without their pages file */
		ck_assert_int_eq(unlinkat(g_dfd, "pages-shmem-1.img", 0), 0);
		break;
	case 12: /* no pstree */
		ck_assert_int_eq(unlinkat(g_dfd, "pstree.img", 0), 0);
		break;
	case 13: /* an image whose name and magic disagree */
		ck_assert_int_eq(renameat(g_dfd, "creds-100.img", g_dfd, "task-100.img"), 0);
		break;
	case 14: /* unaligned, zero-sized and unknown-flag entries */
		pm[0] = mk_pm_head(100), pm[1] = mk_pm_entry(0x400800, 1, PE_ZERO, 0, NULL);
		write_img(IMG_PAGEMAP, "100", pm, 2);
		break;
	case 15:
		pm[0] = mk_pm_head(100), pm[1] = mk_pm_entry(0x400000, 0, PE_ZERO, 0, NULL);
		write_img(IMG_PAGEMAP, "100", pm, 2);
		break;
	case 16:
		pm[0] = mk_pm_head(100), pm[1] = mk_pm_entry(0x400000, 1, PE_ZERO | 0x80, 0, NULL);
		write_img(IMG_PAGEMAP, "100", pm, 2);
		break;
	case 17: /* an entry that wraps the address space */
		pm[0] = mk_pm_head(100), pm[1] = mk_pm_entry(0xfffffffffffff000ull, 2, PE_ZERO, 0, NULL);
		write_img(IMG_PAGEMAP, "100", pm, 2);
		break;
	case 18: /* more pages in one entry than page_read allows */
		pm[0] = mk_pm_head(100);
		pm[1] = mk_pm_entry(0x400000, PAGEMAP_ENTRY_MAX_PAGES + 1, PE_ZERO, 0, NULL);
		write_img(IMG_PAGEMAP, "100", pm, 2);
		break;
	case 19: /* a pagemap of zero pages only still needs its pages image (page_read opens it) */
		pm[0] = mk_pm_head(100), pm[1] = mk_pm_entry(0x400000, 1, PE_ZERO, 0, NULL);
		write_img(IMG_PAGEMAP, "100", pm, 2);
		ck_assert_int_eq(unlinkat(g_dfd, "pages-100.img", 0), 0);
		break;
	case 20: /* a present entry without its pages offset */
		pm[0] = mk_pm_head(100), pm[1] = mk_pm_entry(0x400000, 1, PE_PRESENT, 0, crcs);
		((PagemapEntry *)pm[1])->has_pages_off = 0;
		write_img(IMG_PAGEMAP, "100", pm, 2);
		break;
	case 21: /* an empty pstree */
		write_img(IMG_PSTREE, "0", NULL, 0);
		break;
	case 22: /* a FIFO among the images */
		ck_assert_int_eq(unlinkat(g_dfd, "creds-100.img", 0), 0);
		ck_assert_int_eq(mkfifoat(g_dfd, "creds-100.img", 0600), 0);
		alarm(5);
		break;
	}
	log_to_file();
	ck_assert_int_eq(img_check_dir(g_dfd), -1);
	ck_assert(log_has(".img"));
}
END_TEST

/* Zombies and dead leaders in pstree.img: what the validator accepts and refuses. */
START_TEST(test_check_dir_task_kinds)
{
	PstreeEntry *root, *z;
	ThreadCoreEntry *c0 = NULL;
	const char *want = NULL;
	bool ok = false;

	write_dump();
	root = mk_pstree(100, 0, 2);
	z = mk_pstree(200, 100, 1);
	z->has_zombie = z->has_exit_status = 1;
	z->zombie = 1;
	z->exit_status = 0x2a00; /* exit(42) */
	switch (_i) {
	case 0: /* a zombie child: nothing but its pstree entry */
		ok = true;
		break;
	case 1: /* killed by SIGTERM */
		z->exit_status = SIGTERM;
		ok = true;
		break;
	case 2: /* a core dump can't be restored */
		z->exit_status = 0x80 | SIGSEGV;
		want = "bad exit status";
		break;
	case 3: /* a stop signal is no way to end */
		z->exit_status = SIGSTOP;
		want = "bad exit status";
		break;
	case 4: /* a zombie with threads */
		z->n_threads = 2;
		z->threads = tz(2 * sizeof(uint32_t));
		z->threads[0] = 200, z->threads[1] = 201;
		want = "with threads";
		break;
	case 5: /* the root a zombie */
		root->has_zombie = 1, root->zombie = 1;
		root->has_exit_status = 1, root->exit_status = 0;
		want = "the root";
		break;
	case 6: /* a dead leader: its core says so */
		root->has_leader_dead = 1, root->leader_dead = 1;
		c0 = mk_core(100);
		c0->has_dead = 1, c0->dead = 1;
		ok = true;
		break;
	case 7: /* ... and only its */
		root->has_leader_dead = 1, root->leader_dead = 1;
		want = "dead thread";
		break;
	case 8: /* a dead core without a dead leader */
		c0 = mk_core(100);
		c0->has_dead = 1, c0->dead = 1;
		want = "dead thread";
		break;
	}
	void *ps[] = { root, z };
	write_img(IMG_PSTREE, "0", ps, 2);
	if (c0) {
		void *c[] = { c0 };
		write_img(IMG_CORE, "100", c, 1);
	}
	log_to_file();
	ck_assert_int_eq(img_check_dir(g_dfd), ok ? 0 : -1);
	if (want)
		ck_assert_msg(log_has(want), "the log does not say '%s'", want);
}
END_TEST

/* Copy-on-write sharing: a child (200) whose VMA at 0x400000 holds the parent's pages. */
START_TEST(test_check_dir_cow)
{
	uint8_t *pages = tz(PAGE_SIZE);
	const char *want = NULL;
	bool ok = false;
	uint32_t crc;
	struct img *img;

	write_dump();
	fill_pages(pages, 1, 7);
	crc = crc32c(0, pages, PAGE_SIZE);
	PstreeEntry *root = mk_pstree(100, 0, 2), *c = mk_pstree(200, 100, 1);
	void *ps[] = { root, c };
	write_img(IMG_PSTREE, "0", ps, 2);
	void *c0[] = { mk_core(200) }, *t[] = { mk_task(200) };
	write_img(IMG_CORE, "200", c0, 1);
	write_img(IMG_TASK, "200", t, 1);
	MmEntry *m = mk_mm(200, 1);
	VmaEntry *v = m->vmas[0];
	v->start = 0x400000, v->end = 0x404000; /* the parent's first VMA */
	v->status = VMA_STATUS_LAZY | VMA_STATUS_INHERITED;
	/* the parent's two stored pages; then its own page; its zero page */
	void *pm[4] = { mk_pm_head(200), mk_pm_entry(0x400000, 2, PE_PARENT, 0, NULL),
			mk_pm_entry(0x402000, 1, PE_PRESENT, 0, &crc), mk_pm_entry(0x403000, 1, PE_ZERO, 0, NULL) };
	switch (_i) {
	case 0:
		ok = true;
		break;
	case 1: /* the parent's page 0x402000 was a zero page: not stored */
		((PagemapEntry *)pm[1])->nr_pages = 3;
		((PagemapEntry *)pm[2])->vaddr = 0x403000;
		pm[3] = NULL;
		want = "which did not store it";
		break;
	case 2: /* the parent's pages, in a VMA not marked inherited */
		v->status = VMA_STATUS_LAZY;
		want = "not in an inherited VMA";
		break;
	case 3: /* the parent has no VMA of that range */
		v->end = 0x405000;
		pm[3] = NULL;
		want = "has no such VMA";
		break;
	case 4: /* lazy parent pages make no sense */
		((PagemapEntry *)pm[1])->flags |= PE_LAZY;
		want = "bad flags";
		break;
	}
	write_img(IMG_MM, "200", (void *[]){ m }, 1);
	write_img(IMG_PAGEMAP, "200", pm, pm[3] ? 4 : 3);
	img = img_open_named(g_dfd, IMG_PAGES, O_WRONLY, "200");
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img_pages_write(img, pages, PAGE_SIZE), 0);
	ck_assert_int_eq(img_close(img), 0);
	log_to_file();
	ck_assert_int_eq(img_check_dir(g_dfd), ok ? 0 : -1);
	if (want)
		ck_assert_msg(log_has(want), "the log does not say '%s'", want);
}
END_TEST

/* What the page_xfer writer makes, img_check_dir accepts. */
START_TEST(test_check_dir_xfer)
{
	struct page_xfer x;
	uint8_t *buf = tz(4 * PAGE_SIZE);

	write_dump();
	fill_pages(buf, 4, 9);
	/* a shmem page set: offsets within the object's 1 MiB */
	ck_assert_int_eq(xfer_open(&x, g_dfd, "shmem-1", 1), 0);
	ck_assert_int_eq(xfer_write_pages(&x, 0x10000, buf, 4, 0), 0);
	ck_assert_int_eq(xfer_write_zero(&x, 0x14000, 3, 0), 0);
	ck_assert_int_eq(xfer_write_pages(&x, 0x20000, buf, 1, PE_LAZY), 0);
	ck_assert_int_eq(xfer_close(&x), 0);
	ck_assert_int_eq(img_check_dir(g_dfd), 0);
}
END_TEST

/* ---- criu-lite show ---- */

/* Run `criu-lite show args` (the command line, in this process) with stdout sent to
 * out_name in the test dir; its exit status. */
static int run_show(const char *out_name, const char *a1, const char *a2, const char *a3)
{
	char *argv[] = { "criu-lite", "show", (char *)a1, (char *)a2, (char *)a3, NULL };
	int argc = 2 + !!a1 + !!a2 + !!a3;
	int out = openat(g_dfd, out_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int saved = dup(STDOUT_FILENO);
	int ret;

	ck_assert_int_ge(out, 0);
	ck_assert_int_ge(saved, 0);
	fflush(stdout);
	ck_assert_int_ge(dup2(out, STDOUT_FILENO), 0);
	ret = cli_run(argc, argv);
	fflush(stdout);
	ck_assert_int_ge(dup2(saved, STDOUT_FILENO), 0);
	close(saved);
	close(out);
	return ret;
}

/* Run a shell command in the test dir; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	int n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", g_dir);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - n, fmt, ap);
	va_end(ap);
	int st = system(cmd);
	ck_assert_int_ne(st, -1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

START_TEST(test_show_dir)
{
	char path[256];

	ck_assert_int_eq(mkdirat(g_dfd, "d", 0700), 0);
	int saved = g_dfd;
	g_dfd = openat(saved, "d", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	write_dump();
	put_file("dump.log", "not an image", 12);
	close(g_dfd);
	g_dfd = saved;

	snprintf(path, sizeof(path), "%s/d", g_dir);
	ck_assert_int_eq(run_show("out.json", path, NULL, NULL), 0);
	ck_assert_int_eq(sh("python3 -m json.tool out.json >/dev/null"), 0);
	ck_assert_int_eq(
		sh("python3 -c '\n"
		   "import json\n"
		   "d = json.load(open(\"out.json\"))\n"
		   "names = list(d)\n"
		   "assert names == sorted(names) and len(names) == 14 and \"dump.log\" not in d, names\n"
		   "assert d[\"pstree.img\"] == [{\"pid\": 100, \"ppid\": 0, \"pgid\": 100, \"sid\": 100, \"threads\": [100, 101]}], d[\"pstree.img\"]\n"
		   "c = d[\"core-101.img\"][0]\n"
		   "assert c[\"tid\"] == 101 and c[\"gpregs\"][\"ax\"] == 2**64 - 4 and c[\"nice\"] == -5, c\n"
		   "assert c[\"comm\"] == \"worker \\\"1\\\"\\n\\u00ff\", repr(c[\"comm\"])\n"
		   "assert c[\"xsave\"].endswith(\"... (2688 bytes, --full shows all)\"), c[\"xsave\"]\n"
		   "assert len(c[\"pending\"]) == 2 and c[\"in_syscall\"] is True\n"
		   "assert \"seccomp_mode\" not in c\n"
		   "pm = d[\"pagemap-100.img\"]\n"
		   "assert pm[0] == {\"pages_id\": 100} and len(pm) == 4, pm\n"
		   "assert pm[1][\"flags\"] == 1 and pm[1][\"vaddr\"] == 0x400000 and len(pm[1][\"crc\"]) == 2\n"
		   "assert d[\"pages-100.img\"] == {\"page_size\": 4096, \"pages\": 3, \"bytes\": 12288}\n"
		   "assert d[\"inventory.img\"][0][\"dump_complete\"] is True\n"
		   "assert d[\"files.img\"][2][\"pipe\"][\"pipe_ino\"] == 4242\n"
		   "assert d[\"mm-100.img\"][0][\"vmas\"][2][\"name\"] == \"/dev/zero (deleted)\"\n"
		   "'"),
		0);

	/* --pages --full: per-page crcs that match the pagemap's, bytes in full */
	ck_assert_int_eq(run_show("full.json", "--pages", path, "--full"), 0);
	ck_assert_int_eq(
		sh("python3 -c '\n"
		   "import json\n"
		   "d = json.load(open(\"full.json\"))\n"
		   "pm = d[\"pagemap-100.img\"]\n"
		   "want = [\"%%08x\" %% c for e in pm[1:] for c in e.get(\"crc\", [])]\n"
		   "assert d[\"pages-100.img\"][\"crc32c\"] == want, (d[\"pages-100.img\"], want)\n"
		   "assert len(d[\"core-100.img\"][0][\"xsave\"]) == 2 * 2688\n"
		   "assert len(d[\"files.img\"][2][\"pipe\"][\"data\"]) == 2 * 5000\n"
		   "'"),
		0);

	/* one file */
	snprintf(path, sizeof(path), "%s/d/pagemap-shmem-1.img", g_dir);
	ck_assert_int_eq(run_show("one.json", path, NULL, NULL), 0);
	ck_assert_int_eq(sh("python3 -c 'import json; d = json.load(open(\"one.json\")); "
			    "assert d[0] == {\"pages_id\": 1} and d[1][\"nr_pages\"] == 2, d'"),
			 0);
	snprintf(path, sizeof(path), "%s/d/pages-shmem-1.img", g_dir);
	ck_assert_int_eq(run_show("one.json", path, "--pages", NULL), 0);
	ck_assert_int_eq(sh("python3 -c 'import json; d = json.load(open(\"one.json\")); "
			    "assert d[\"pages\"] == 2 and len(d[\"crc32c\"]) == 2, d'"),
			 0);
}
END_TEST

/* A record from a newer writer: its unknown fields are shown, not hidden. */
START_TEST(test_show_unknown_fields)
{
	static const uint8_t rec[] = { 0x08, 0x05, 0x10, 0x01, 0x98, 0x06, 0x07 }; /* pid ppid #99 */
	struct raw_rec r = { rec, sizeof(rec), false };
	char path[256];

	put_raw_image("pstree.img", PSTREE_MAGIC, &r, 1, true);
	snprintf(path, sizeof(path), "%s/pstree.img", g_dir);
	ck_assert_int_eq(run_show("u.json", path, NULL, NULL), 0);
	ck_assert_int_eq(sh("python3 -c 'import json; d = json.load(open(\"u.json\")); "
			    "assert d == [{\"pid\": 5, \"ppid\": 1, \"_unknown_fields\": [99]}], d'"),
			 0);
}
END_TEST

START_TEST(test_show_errors)
{
	char path[256];
	size_t len;

	write_dump();
	/* a corrupt image: exit 1 and nothing on stdout (no half JSON) */
	uint8_t *b = file_bytes("task-100.img", &len);
	b[len - 20] ^= 1;
	put_file("task-100.img", b, len);
	ck_assert_int_eq(run_show("bad.json", g_dir, NULL, NULL), 1);
	ck_assert_int_eq(sh("test ! -s bad.json"), 0);
	snprintf(path, sizeof(path), "%s/task-100.img", g_dir);
	ck_assert_int_eq(run_show("bad.json", path, NULL, NULL), 1);
	ck_assert_int_eq(sh("test ! -s bad.json"), 0);
	/* not an image, missing, no argument, bad option */
	snprintf(path, sizeof(path), "%s/bad.json", g_dir);
	put_file("bad.json", "{}", 2);
	ck_assert_int_eq(run_show("out2.json", path, NULL, NULL), 1);
	snprintf(path, sizeof(path), "%s/nonexistent", g_dir);
	ck_assert_int_eq(run_show("out2.json", path, NULL, NULL), 1);
	ck_assert_int_eq(run_show("out2.json", NULL, NULL, NULL), 1);
	ck_assert_int_eq(run_show("out2.json", "--bogus", g_dir, NULL), 1);
	ck_assert_int_eq(run_show("out2.json", "--help", NULL, NULL), 0);
	/* an empty directory is not a dump: the validator says so, nothing is printed */
	ck_assert_int_eq(mkdirat(g_dfd, "empty", 0700), 0);
	snprintf(path, sizeof(path), "%s/empty", g_dir);
	log_to_file();
	ck_assert_int_eq(run_show("e.json", path, NULL, NULL), 1);
	ck_assert_int_eq(sh("test ! -s e.json"), 0);
	ck_assert(log_has("no inventory.img"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image");
	TCase *tc = tcase_create("image");
	SRunner *sr;
	int failed;

	top_setup();
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_roundtrip_inventory);
	tcase_add_test(tc, test_roundtrip_pstree);
	tcase_add_test(tc, test_roundtrip_core);
	tcase_add_test(tc, test_roundtrip_task);
	tcase_add_test(tc, test_roundtrip_creds);
	tcase_add_test(tc, test_roundtrip_mm);
	tcase_add_test(tc, test_roundtrip_pagemap);
	tcase_add_test(tc, test_roundtrip_shmem);
	tcase_add_test(tc, test_roundtrip_files);
	tcase_add_test(tc, test_roundtrip_fdinfo);
	tcase_add_test(tc, test_write_rejects);
	tcase_add_test(tc, test_abandoned_writer);
	tcase_add_test(tc, test_types_and_names);
	tcase_add_test(tc, test_crc32c);
	tcase_add_test(tc, test_pages);
	tcase_add_test(tc, test_pages_hostile);
	tcase_add_test(tc, test_truncated_everywhere);
	tcase_add_test(tc, test_bitflip_everywhere);
	tcase_add_test(tc, test_extra_bytes);
	tcase_add_test(tc, test_bad_header);
	tcase_add_test(tc, test_bad_lengths);
	tcase_add_test(tc, test_not_protobuf);
	tcase_add_test(tc, test_memory_budget);
	tcase_add_test(tc, test_fifo_no_hang);
	tcase_add_test(tc, test_singleton);
	tcase_add_test(tc, test_inventory_rejects);
	tcase_add_test(tc, test_fuzz);
	tcase_add_loop_test(tc, test_check_dir_task_kinds, 0, 9);
	tcase_add_loop_test(tc, test_check_dir_cow, 0, 5);
	tcase_add_test(tc, test_check_dir);
	tcase_add_loop_test(tc, test_check_dir_rejects, 0, 23);
	tcase_add_test(tc, test_check_dir_xfer);
	tcase_add_test(tc, test_show_dir);
	tcase_add_test(tc, test_show_unknown_fields);
	tcase_add_test(tc, test_show_errors);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	top_teardown();
	return failed ? 1 : 0;
}
