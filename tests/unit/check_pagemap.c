/* page_xfer / page_read: round trip, spanning reads, zero runs, corruption, hostile entries. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"
#include "lib/crc32c.h"
#include "images/pagemap.h"

static char tmpdir[64];
static int dfd = -1;

static void setup(void)
{
	strcpy(tmpdir, "/tmp/check_pagemap.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	dfd = open(tmpdir, O_DIRECTORY | O_RDONLY);
	ck_assert_int_ge(dfd, 0);
}

static void teardown(void)
{
	char cmd[128];
	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void fill(char *p, uint64_t vaddr, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		for (size_t b = 0; b < PAGE_SIZE; b += 8) {
			uint64_t v = (vaddr + i * PAGE_SIZE + b) * 2654435761u;
			memcpy(p + i * PAGE_SIZE + b, &v, 8);
		}
}

/* 0x10000: 700 data pages (two entries), then 5 zero pages, gap, 0x900000: 3 data pages. */
static void write_set(void)
{
	struct page_xfer x;
	char *buf = malloc(700 * PAGE_SIZE);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(xfer_open(&x, dfd, "42", 42), 0);
	fill(buf, 0x10000, 700);
	ck_assert_int_eq(xfer_write_pages(&x, 0x10000, buf, 300, 0), 0);
	ck_assert_int_eq(xfer_write_pages(&x, 0x10000 + 300 * PAGE_SIZE, buf + 300 * PAGE_SIZE, 400, 0), 0);
	ck_assert_int_eq(xfer_write_zero(&x, 0x10000 + 700 * PAGE_SIZE, 5, 0), 0);
	fill(buf, 0x900000, 3);
	ck_assert_int_eq(xfer_write_pages(&x, 0x900000, buf, 3, PE_LAZY), 0);
	ck_assert_uint_eq(x.nr_present, 703);
	ck_assert_uint_eq(x.nr_zero, 5);
	ck_assert_int_eq(xfer_close(&x), 0);
	free(buf);
}

START_TEST(test_roundtrip)
{
	struct page_read pr;
	char *got = malloc(705 * PAGE_SIZE), *want = malloc(705 * PAGE_SIZE);

	write_set();
	ck_assert_int_eq(page_read_open(&pr, dfd, "42", 0), 0);
	ck_assert_uint_eq(pr.nr_present, 703);
	ck_assert_uint_eq(pr.nr_zero, 5);
	/* 700 pages split at the 512-page entry limit, 1 zero entry, 1 lazy entry */
	ck_assert_uint_eq(pr.nr_entries, 4);
	ck_assert_uint_eq(pr.entries[3]->flags, PE_PRESENT | PE_LAZY);

	/* one read spanning both data entries and the zero run */
	fill(want, 0x10000, 700);
	memset(want + 700 * PAGE_SIZE, 0, 5 * PAGE_SIZE);
	memset(got, 0xaa, 705 * PAGE_SIZE);
	ck_assert_int_eq(page_read_pages(&pr, 0x10000, 705, got), 0);
	ck_assert(memcmp(got, want, 705 * PAGE_SIZE) == 0);

	/* a page in the middle, then backwards (cursor miss) */
	ck_assert_int_eq(page_read_pages(&pr, 0x10000 + 600 * PAGE_SIZE, 1, got), 0);
	ck_assert(memcmp(got, want + 600 * PAGE_SIZE, PAGE_SIZE) == 0);
	ck_assert_int_eq(page_read_pages(&pr, 0x10000 + 3 * PAGE_SIZE, 1, got), 0);
	ck_assert(memcmp(got, want + 3 * PAGE_SIZE, PAGE_SIZE) == 0);
	fill(want, 0x900000, 3);
	ck_assert_int_eq(page_read_pages(&pr, 0x900000, 3, got), 0);
	ck_assert(memcmp(got, want, 3 * PAGE_SIZE) == 0);

	/* holes */
	ck_assert_ptr_null(page_read_find(&pr, 0x8000));
	ck_assert_ptr_null(page_read_find(&pr, 0x10000 + 705 * PAGE_SIZE));
	errno = 0;
	ck_assert_int_eq(page_read_pages(&pr, 0x10000 + 704 * PAGE_SIZE, 2, got), -1);
	ck_assert_int_eq(errno, ENOENT);
	page_read_close(&pr);
	free(got);
	free(want);
}
END_TEST

START_TEST(test_corrupt_page)
{
	struct page_read pr;
	char *got = malloc(PAGE_SIZE);
	write_set();
	int fd = openat(dfd, "pages-42.img", O_RDWR);
	ck_assert_int_ge(fd, 0);
	char c;
	off_t off = IMG_PAGES_HDR + 517 * PAGE_SIZE + 100;
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
	ck_assert_int_eq(page_read_open(&pr, dfd, "42", 0), 0);
	ck_assert_int_eq(page_read_pages(&pr, 0x10000 + 516 * PAGE_SIZE, 1, got), 0);
	errno = 0;
	ck_assert_int_eq(page_read_pages(&pr, 0x10000 + 517 * PAGE_SIZE, 1, got), -1);
	ck_assert_int_eq(errno, EBADMSG);
	page_read_close(&pr);
	free(got);
}
END_TEST

/* page_check_crcs (three pages at a time) agrees with img_crc32c, and names the bad page
 * wherever it is in the run. */
START_TEST(test_check_crcs)
{
	const size_t nr = 8;
	unsigned char *buf = malloc(nr * PAGE_SIZE);
	uint32_t crcs[8];

	for (size_t i = 0; i < nr * PAGE_SIZE; i++)
		buf[i] = (unsigned char)(i * 31 + i / 4096);
	for (size_t i = 0; i < nr; i++)
		crcs[i] = crc32c(0, buf + i * PAGE_SIZE, PAGE_SIZE);
	for (size_t n = 0; n <= nr; n++)
		ck_assert_int_eq(page_check_crcs(NULL, buf, n, crcs, 0x1000), 0);
	for (size_t bad = 0; bad < nr; bad++) {
		buf[bad * PAGE_SIZE + 4095] ^= 1;
		errno = 0;
		ck_assert_int_eq(page_check_crcs(NULL, buf, nr, crcs, 0x1000), -1);
		ck_assert_int_eq(errno, EBADMSG);
		/* the pages before it are fine */
		ck_assert_int_eq(page_check_crcs(NULL, buf, bad, crcs, 0x1000), 0);
		buf[bad * PAGE_SIZE + 4095] ^= 1;
	}
	free(buf);
}
END_TEST

START_TEST(test_truncated_pages)
{
	struct page_read pr;
	write_set();
	int fd = openat(dfd, "pages-42.img", O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, IMG_PAGES_HDR + 100 * PAGE_SIZE), 0);
	close(fd);
	ck_assert_int_eq(page_read_open(&pr, dfd, "42", 0), -1);
}
END_TEST

/* Write a pagemap by hand, entry by entry, to feed page_read hostile tables. */
static void write_entries(const PagemapEntry *es, size_t n, size_t data_pages)
{
	struct img *pm = img_open_named(dfd, IMG_PAGEMAP, O_WRONLY, "7");
	struct img *pg = img_open_named(dfd, IMG_PAGES, O_WRONLY, "7");
	PagemapHead h = PAGEMAP_HEAD__INIT;
	char *zero = calloc(1, PAGE_SIZE);
	ck_assert_ptr_nonnull(pm);
	ck_assert_ptr_nonnull(pg);
	h.pages_id = 7;
	ck_assert_int_eq(img_write_desc(pm, &h.base), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(img_write_desc(pm, &es[i].base), 0);
	for (size_t i = 0; i < data_pages; i++)
		ck_assert_int_eq(img_pages_write(pg, zero, PAGE_SIZE), 0);
	ck_assert_int_eq(img_close(pm), 0);
	ck_assert_int_eq(img_close(pg), 0);
	free(zero);
}

static PagemapEntry mk(uint64_t vaddr, uint32_t nr, uint32_t flags, int64_t off, uint32_t *crc,
		       size_t ncrc)
{
	PagemapEntry e = PAGEMAP_ENTRY__INIT;
	e.vaddr = vaddr;
	e.nr_pages = nr;
	e.flags = flags;
	if (off >= 0) {
		e.has_pages_off = 1;
		e.pages_off = off;
	}
	e.crc = crc;
	e.n_crc = ncrc;
	return e;
}

START_TEST(test_hostile_entries)
{
	static uint32_t crc[4];
	struct page_read pr;
	struct {
		const char *what;
		PagemapEntry e[2];
		size_t n;
	} cases[] = {
		{ "unaligned", { mk(0x1001, 1, PE_ZERO, -1, NULL, 0) }, 1 },
		{ "zero pages", { mk(0x1000, 0, PE_ZERO, -1, NULL, 0) }, 1 },
		{ "too many pages", { mk(0x1000, 100000, PE_ZERO, -1, NULL, 0) }, 1 },
		{ "wraps", { mk(0xfffffffffffff000ull, 2, PE_ZERO, -1, NULL, 0) }, 1 },
		{ "overlap", { mk(0x1000, 2, PE_ZERO, -1, NULL, 0), mk(0x2000, 1, PE_ZERO, -1, NULL, 0) }, 2 },
		{ "unsorted", { mk(0x5000, 1, PE_ZERO, -1, NULL, 0), mk(0x2000, 1, PE_ZERO, -1, NULL, 0) }, 2 },
		{ "bad flags", { mk(0x1000, 1, 0x80 | PE_ZERO, -1, NULL, 0) }, 1 },
		{ "no kind", { mk(0x1000, 1, PE_LAZY, -1, NULL, 0) }, 1 },
		{ "both kinds", { mk(0x1000, 1, PE_ZERO | PE_PRESENT, 0, crc, 1) }, 1 },
		{ "missing crcs", { mk(0x1000, 2, PE_PRESENT, 0, crc, 1) }, 1 },
		{ "missing offset", { mk(0x1000, 1, PE_PRESENT, -1, crc, 1) }, 1 },
		{ "past the data", { mk(0x1000, 4, PE_PRESENT, 1, crc, 4) }, 1 },
		{ "huge offset", { mk(0x1000, 1, PE_PRESENT, 0x7fffffffffffff00ll, crc, 1) }, 1 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		write_entries(cases[i].e, cases[i].n, 4);
		ck_assert_msg(page_read_open(&pr, dfd, "7", 0) == -1, "case '%s' accepted", cases[i].what);
	}
	/* and the same machinery accepts a sane table */
	PagemapEntry ok[2] = { mk(0x1000, 3, PE_PRESENT, 1, crc, 3), mk(0x4000, 1, PE_ZERO, -1, NULL, 0) };
	write_entries(ok, 2, 4);
	ck_assert_int_eq(page_read_open(&pr, dfd, "7", 0), 0);
	page_read_close(&pr);
}
END_TEST

START_TEST(test_missing_ok)
{
	struct page_read pr;
	errno = 0;
	ck_assert_int_eq(page_read_open(&pr, dfd, "404", IMG_OPT_MISSING_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pagemap");
	TCase *tc = tcase_create("pagemap");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_corrupt_page);
	tcase_add_test(tc, test_check_crcs);
	tcase_add_test(tc, test_truncated_pages);
	tcase_add_test(tc, test_hostile_entries);
	tcase_add_test(tc, test_missing_ok);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
