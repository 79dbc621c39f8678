/* Unit tests for lazy-pages/ranges.c: range sets and per-page state maps. */
#include <check.h>
#include <stdlib.h>

#include "lib/util.h"
#include "lazy-pages/ranges.h"

#define P(n) ((uint64_t)(n) * PAGE_SIZE)

static void expect(const struct lp_rset *s, size_t nr, const uint64_t (*want)[3])
{
	ck_assert(lp_rset_valid(s));
	ck_assert_uint_eq(s->nr, nr);
	for (size_t i = 0; i < nr; i++) {
		const struct lp_range *r = lp_rset_at(s, i);
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq(r->start, want[i][0]);
		ck_assert_uint_eq(r->end, want[i][1]);
		ck_assert_uint_eq(r->img, want[i][2]);
	}
	ck_assert_ptr_null(lp_rset_at(s, nr));
}

START_TEST(test_add_merge)
{
	struct lp_rset s;
	lp_rset_init(&s);

	ck_assert_int_eq(lp_rset_add(&s, P(10), P(20), P(10), 0), 0);
	ck_assert_int_eq(lp_rset_add(&s, P(30), P(40), P(30), 0), 0);
	/* contiguous in runtime and image: merges with both neighbours */
	ck_assert_int_eq(lp_rset_add(&s, P(20), P(30), P(20), 0), 0);
	expect(&s, 1, (const uint64_t[][3]){ { P(10), P(40), P(10) } });
	/* contiguous at runtime but not in the image: no merge */
	ck_assert_int_eq(lp_rset_add(&s, P(40), P(41), P(100), 0), 0);
	ck_assert_uint_eq(s.nr, 2);
	/* other tag: no merge */
	ck_assert_int_eq(lp_rset_add(&s, P(5), P(10), P(5), 7), 0);
	ck_assert_uint_eq(s.nr, 3);
	ck_assert_uint_eq(lp_rset_pages(&s), 36);
	lp_rset_fini(&s);
}
END_TEST

START_TEST(test_add_errors)
{
	struct lp_rset s;
	lp_rset_init(&s);

	ck_assert_int_eq(lp_rset_add(&s, P(1), P(1), P(1), 0), -EINVAL);
	ck_assert_int_eq(lp_rset_add(&s, P(2), P(1), P(1), 0), -EINVAL);
	ck_assert_int_eq(lp_rset_add(&s, 100, P(1), 0, 0), -EINVAL);
	ck_assert_int_eq(lp_rset_add(&s, 0, P(1), 12, 0), -EINVAL);
	ck_assert_int_eq(lp_rset_add(&s, P(10), P(20), P(10), 0), 0);
	ck_assert_int_eq(lp_rset_add(&s, P(19), P(21), P(19), 0), -EEXIST);
	ck_assert_int_eq(lp_rset_add(&s, P(5), P(11), P(5), 0), -EEXIST);
	ck_assert_int_eq(lp_rset_add(&s, P(0), P(30), P(0), 0), -EEXIST);
	ck_assert_int_eq(lp_rset_add(&s, P(12), P(13), P(12), 0), -EEXIST);
	expect(&s, 1, (const uint64_t[][3]){ { P(10), P(20), P(10) } });
	lp_rset_fini(&s);
	lp_rset_fini(NULL);
}
END_TEST

START_TEST(test_remove_split)
{
	struct lp_rset s;
	lp_rset_init(&s);

	ck_assert_int_eq(lp_rset_add(&s, P(10), P(20), P(110), 0), 0);
	/* middle: split, image addresses follow */
	ck_assert_int_eq(lp_rset_remove(&s, P(12), P(15)), 3);
	expect(&s, 2, (const uint64_t[][3]){ { P(10), P(12), P(110) }, { P(15), P(20), P(115) } });
	/* unaligned bounds widen to whole pages */
	ck_assert_int_eq(lp_rset_remove(&s, P(15) + 1, P(16) - 1), 1);
	expect(&s, 2, (const uint64_t[][3]){ { P(10), P(12), P(110) }, { P(16), P(20), P(116) } });
	/* across the gap: head of one, tail of the other */
	ck_assert_int_eq(lp_rset_remove(&s, P(11), P(17)), 2);
	expect(&s, 2, (const uint64_t[][3]){ { P(10), P(11), P(110) }, { P(17), P(20), P(117) } });
	/* nothing there */
	ck_assert_int_eq(lp_rset_remove(&s, P(30), P(40)), 0);
	ck_assert_int_eq(lp_rset_remove(&s, P(11), P(17)), 0);
	ck_assert_int_eq(lp_rset_remove(&s, P(5), P(5)), 0);
	/* everything */
	ck_assert_int_eq(lp_rset_remove(&s, 0, P(1000)), 4);
	ck_assert_uint_eq(s.nr, 0);
	ck_assert_ptr_null(lp_rset_find(&s, P(10)));
	lp_rset_fini(&s);
}
END_TEST

START_TEST(test_remove_page_by_page)
{
	struct lp_rset s;
	lp_rset_init(&s);

	ck_assert_int_eq(lp_rset_add(&s, P(0), P(64), P(0), 0), 0);
	/* every other page: 32 ranges */
	for (int i = 1; i < 64; i += 2)
		ck_assert_int_eq(lp_rset_remove(&s, P(i), P(i + 1)), 1);
	ck_assert_uint_eq(s.nr, 32);
	ck_assert_uint_eq(lp_rset_pages(&s), 32);
	ck_assert(lp_rset_valid(&s));
	for (int i = 0; i < 64; i++) {
		const struct lp_range *r = lp_rset_find(&s, P(i) + 5);
		if (i % 2) {
			ck_assert_ptr_null(r);
		} else {
			ck_assert_ptr_nonnull(r);
			ck_assert_uint_eq(r->start, P(i));
			ck_assert_uint_eq(r->img, P(i));
		}
	}
	/* re-adding merges everything back */
	for (int i = 1; i < 64; i += 2)
		ck_assert_int_eq(lp_rset_add(&s, P(i), P(i + 1), P(i), 0), 0);
	expect(&s, 1, (const uint64_t[][3]){ { P(0), P(64), P(0) } });
	lp_rset_fini(&s);
}
END_TEST

START_TEST(test_remap)
{
	struct lp_rset s;
	lp_rset_init(&s);

	ck_assert_int_eq(lp_rset_add(&s, P(10), P(20), P(10), 0), 0);
	ck_assert_int_eq(lp_rset_add(&s, P(100), P(110), P(100), 0), 0);
	/* move pages 12..16 to 200..204: runtime shifts, image stays */
	ck_assert_int_eq(lp_rset_remap(&s, P(12), P(200), P(4)), 4);
	expect(&s, 4,
	       (const uint64_t[][3]){ { P(10), P(12), P(10) },
				      { P(16), P(20), P(16) },
				      { P(100), P(110), P(100) },
				      { P(200), P(204), P(12) } });
	const struct lp_range *r = lp_rset_find(&s, P(203));
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->img + (P(203) - r->start), P(15));
	/* move onto an existing range: the destination's old content is gone */
	ck_assert_int_eq(lp_rset_remap(&s, P(200), P(104), P(4)), 4);
	expect(&s, 5,
	       (const uint64_t[][3]){ { P(10), P(12), P(10) },
				      { P(16), P(20), P(16) },
				      { P(100), P(104), P(100) },
				      { P(104), P(108), P(12) },
				      { P(108), P(110), P(108) } });
	ck_assert_uint_eq(lp_rset_pages(&s), 16);
	/* moving back to where it came from merges again */
	ck_assert_int_eq(lp_rset_remap(&s, P(104), P(12), P(4)), 4);
	expect(&s, 3,
	       (const uint64_t[][3]){ { P(10), P(20), P(10) },
				      { P(100), P(104), P(100) },
				      { P(108), P(110), P(108) } });
	/* a move over a hole moves nothing and clears the destination */
	ck_assert_int_eq(lp_rset_remap(&s, P(50), P(100), P(2)), 0);
	ck_assert_uint_eq(lp_rset_pages(&s), 14);
	/* overlapping move (mremap forbids it, but the math still holds) */
	ck_assert_int_eq(lp_rset_remap(&s, P(10), P(15), P(10)), 10);
	expect(&s, 3,
	       (const uint64_t[][3]){ { P(15), P(25), P(10) },
				      { P(102), P(104), P(102) },
				      { P(108), P(110), P(108) } });
	ck_assert_int_eq(lp_rset_remap(&s, 1, P(2), P(1)), -EINVAL);
	ck_assert_int_eq(lp_rset_remap(&s, P(15), P(15), P(2)), 2);
	lp_rset_fini(&s);
}
END_TEST

START_TEST(test_intersect_copy)
{
	struct lp_rset ext, vma, c;
	struct lp_range r;

	lp_rset_init(&ext);
	lp_rset_init(&vma);
	lp_rset_init(&c);
	ck_assert_int_eq(lp_rset_add(&ext, P(0), P(4), P(0), 1), 0);
	ck_assert_int_eq(lp_rset_add(&ext, P(8), P(16), P(8), 2), 0);
	ck_assert_int_eq(lp_rset_add(&ext, P(20), P(30), P(20), 1), 0);

	ck_assert_int_eq(lp_rset_intersect(&vma, &ext, P(2), P(22) + 100, UINT64_MAX), 0);
	expect(&vma, 3,
	       (const uint64_t[][3]){ { P(2), P(4), P(2) }, { P(8), P(16), P(8) }, { P(20), P(23), P(20) } });
	ck_assert_uint_eq(lp_rset_at(&vma, 1)->tag, 2);
	ck_assert_int_eq(lp_rset_first_in(&vma, P(5), P(9), &r), 1);
	ck_assert_uint_eq(r.start, P(8));
	ck_assert_uint_eq(r.end, P(9));
	ck_assert_int_eq(lp_rset_first_in(&vma, P(4), P(8), &r), 0);
	ck_assert_int_eq(lp_rset_first_in(&vma, P(9), P(9), &r), 0);
	ck_assert_int_eq(lp_rset_first_in(&vma, P(10), P(30), &r), 1);
	ck_assert_uint_eq(r.img, P(10));

	ck_assert_int_eq(lp_rset_copy(&c, &vma), 0);
	ck_assert_int_eq(lp_rset_remove(&c, 0, P(100)), 13);
	ck_assert_uint_eq(lp_rset_pages(&vma), 13); /* the copy is independent */
	ck_assert_int_eq(lp_rset_copy(&c, &c), 0);
	ck_assert_uint_eq(c.nr, 0);
	/* intersect into an overlapping destination fails */
	ck_assert_int_eq(lp_rset_intersect(&vma, &ext, P(0), P(4), 0), -EEXIST);
	lp_rset_fini(&ext);
	lp_rset_fini(&vma);
	lp_rset_fini(&c);
}
END_TEST

START_TEST(test_many_random)
{
	/* compare against a page array model */
	enum { N = 2048 };
	static int64_t model[N]; /* image page or -1 */
	struct lp_rset s;
	unsigned seed = 12345;
	size_t max_nb = 0;

	lp_rset_init(&s);
	for (int i = 0; i < N; i++)
		model[i] = -1;
	for (int it = 0; it < 10000; it++) {
		int a = rand_r(&seed) % N, n = 1 + rand_r(&seed) % 16, op = rand_r(&seed) % 3;
		/* mostly single pages: many fragments, many blocks */
		if (rand_r(&seed) % 4)
			n = 1;
		if (a + n > N)
			n = N - a;
		if (op == 0) {
			bool free_ = true;
			for (int i = a; i < a + n; i++)
				free_ &= model[i] < 0;
			int ret = lp_rset_add(&s, P(a), P(a + n), P(a + 1000), 0);
			ck_assert_int_eq(ret, free_ ? 0 : -EEXIST);
			if (free_)
				for (int i = a; i < a + n; i++)
					model[i] = i + 1000;
		} else if (op == 1) {
			int64_t cnt = 0;
			for (int i = a; i < a + n; i++)
				if (model[i] >= 0) {
					cnt++;
					model[i] = -1;
				}
			ck_assert_int_eq(lp_rset_remove(&s, P(a), P(a + n)), cnt);
		} else {
			int to = rand_r(&seed) % N;
			if (to + n > N)
				continue;
			int64_t tmp[16], cnt = 0;
			for (int i = 0; i < n; i++) {
				tmp[i] = model[a + i];
				model[a + i] = -1;
				cnt += tmp[i] >= 0;
			}
			for (int i = 0; i < n; i++)
				model[to + i] = tmp[i];
			ck_assert_int_eq(lp_rset_remap(&s, P(a), P(to), P(n)), cnt);
		}
		ck_assert(lp_rset_valid(&s));
		max_nb = MAX(max_nb, s.nb);
		if (it % 16)
			continue;
		for (int i = 0; i < N; i++) {
			const struct lp_range *r = lp_rset_find(&s, P(i));
			if (model[i] < 0)
				ck_assert_ptr_null(r);
			else {
				ck_assert_ptr_nonnull(r);
				ck_assert_uint_eq(r->img + (P(i) - r->start), P(model[i]));
			}
		}
	}
	ck_assert_msg(max_nb > 2, "the set never spanned several blocks (%zu)", max_nb);
	lp_rset_fini(&s);
}
END_TEST

/* Enough fragments for many blocks: splits, emptied blocks, merges across blocks. */
START_TEST(test_blocks)
{
	enum { N = 3000 };
	struct lp_rset s, c;
	unsigned seed = 777;
	static unsigned order[N];

	lp_rset_init(&s);
	lp_rset_init(&c);
	/* every other page, added in a scattered order */
	for (unsigned i = 0; i < N; i++)
		order[i] = i;
	for (unsigned i = N - 1; i > 0; i--) {
		unsigned j = rand_r(&seed) % (i + 1), x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
	for (unsigned k = 0; k < N; k++)
		ck_assert_int_eq(lp_rset_add(&s, P(2 * order[k]), P(2 * order[k] + 1), P(2 * order[k] + 7), 0), 0);
	ck_assert_uint_eq(s.nr, N);
	ck_assert(s.nb > N / LP_RBLOCK);
	ck_assert(lp_rset_valid(&s));
	for (unsigned i = 0; i < N; i++) {
		const struct lp_range *r = lp_rset_find(&s, P(2 * i));
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq(r->img, P(2 * i + 7));
		ck_assert_ptr_null(lp_rset_find(&s, P(2 * i + 1)));
	}
	ck_assert_ptr_eq(lp_rset_at(&s, N - 1), lp_rset_find(&s, P(2 * (N - 1))));
	ck_assert_int_eq(lp_rset_copy(&c, &s), 0);
	ck_assert(lp_rset_valid(&c));
	/* filling the gaps merges everything into one range, across blocks */
	for (unsigned k = 0; k < N; k++)
		ck_assert_int_eq(lp_rset_add(&s, P(2 * order[k] + 1), P(2 * order[k] + 2), P(2 * order[k] + 8), 0), 0);
	ck_assert(lp_rset_valid(&s));
	ck_assert_uint_eq(s.nr, 1);
	ck_assert_uint_eq(s.nb, 1);
	ck_assert_uint_eq(lp_rset_pages(&s), 2 * N);
	/* punching pages out of one big range, in scattered order */
	for (unsigned k = 0; k < N; k++)
		ck_assert_int_eq(lp_rset_remove(&s, P(2 * order[k] + 1), P(2 * order[k] + 2)), 1);
	ck_assert(lp_rset_valid(&s));
	ck_assert_uint_eq(s.nr, N);
	for (unsigned i = 0; i < N; i++)
		ck_assert_uint_eq(lp_rset_find(&s, P(2 * i))->img, P(2 * i + 7));
	/* a wide removal across many blocks */
	ck_assert_int_eq(lp_rset_remove(&s, P(100), P(2 * N - 100)), (2 * N - 200) / 2);
	ck_assert(lp_rset_valid(&s));
	ck_assert_uint_eq(s.nr, 100);
	/* the copy is untouched */
	ck_assert_uint_eq(c.nr, N);
	ck_assert(lp_rset_valid(&c));
	ck_assert_int_eq(lp_rset_remove(&c, 0, P(4 * N)), N);
	ck_assert_uint_eq(c.nb, 0);
	ck_assert_ptr_null(lp_rset_first(&c));
	lp_rset_fini(&s);
	lp_rset_fini(&c);
}
END_TEST

START_TEST(test_pmap)
{
	struct lp_pmap m;

	ck_assert_int_eq(lp_pmap_init(&m, 100), 0);
	ck_assert_int_eq(lp_pmap_get(&m, 0), LP_PAGE_ABSENT);
	ck_assert_uint_eq(lp_pmap_set_want(&m, 10, 50, true), 50);
	ck_assert_uint_eq(m.nr_want, 50);
	ck_assert_uint_eq(lp_pmap_next_wanted(&m, 0), 10);
	ck_assert_uint_eq(lp_pmap_next_wanted(&m, 59), 59);
	ck_assert_uint_eq(lp_pmap_next_wanted(&m, 60), 100);
	/* writing -> present clears want */
	ck_assert_uint_eq(lp_pmap_set(&m, 30, 4, LP_PAGE_WRITING), 4);
	ck_assert_uint_eq(m.nr_writing, 4);
	ck_assert_uint_eq(lp_pmap_run(&m, 28, 10, LP_PAGE_ABSENT), 2);
	ck_assert_uint_eq(lp_pmap_run(&m, 30, 10, LP_PAGE_WRITING), 4);
	ck_assert_int_eq(lp_pmap_get(&m, 31), LP_PAGE_WRITING);
	ck_assert_uint_eq(lp_pmap_set(&m, 30, 4, LP_PAGE_PRESENT), 4);
	ck_assert_uint_eq(m.nr_writing, 0);
	ck_assert_uint_eq(m.nr_present, 4);
	ck_assert_uint_eq(m.nr_want, 46);
	ck_assert(!lp_pmap_wanted(&m, 31));
	/* present pages are never wanted again */
	ck_assert_uint_eq(lp_pmap_set_want(&m, 30, 4, true), 0);
	/* state boundaries across words (32 pages per state word, 64 per want word) */
	ck_assert_uint_eq(lp_pmap_set(&m, 62, 4, LP_PAGE_PRESENT), 4);
	ck_assert_int_eq(lp_pmap_get(&m, 63), LP_PAGE_PRESENT);
	ck_assert_int_eq(lp_pmap_get(&m, 64), LP_PAGE_PRESENT);
	ck_assert_int_eq(lp_pmap_get(&m, 66), LP_PAGE_ABSENT);
	ck_assert_int_eq(lp_pmap_get(&m, 61), LP_PAGE_ABSENT);
	/* clipping to the map */
	ck_assert_uint_eq(lp_pmap_set(&m, 98, 10, LP_PAGE_PRESENT), 2);
	ck_assert_int_eq(lp_pmap_get(&m, 100), LP_PAGE_ABSENT);
	ck_assert(!lp_pmap_wanted(&m, 1000));
	ck_assert_uint_eq(lp_pmap_set(&m, 98, 1, LP_PAGE_PRESENT), 0);
	ck_assert_uint_eq(lp_pmap_set_want(&m, 0, 100, false), 46);
	ck_assert_uint_eq(m.nr_want, 0);
	ck_assert_uint_eq(lp_pmap_next_wanted(&m, 0), 100);
	lp_pmap_fini(&m);
	lp_pmap_fini(NULL);
	ck_assert_int_eq(lp_pmap_init(&m, 0), 0);
	ck_assert_uint_eq(lp_pmap_next_wanted(&m, 0), 0);
	lp_pmap_fini(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ranges");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60); /* the model tests are slow under sanitizers */
	tcase_add_test(tc, test_add_merge);
	tcase_add_test(tc, test_add_errors);
	tcase_add_test(tc, test_remove_split);
	tcase_add_test(tc, test_remove_page_by_page);
	tcase_add_test(tc, test_remap);
	tcase_add_test(tc, test_intersect_copy);
	tcase_add_test(tc, test_many_random);
	tcase_add_test(tc, test_blocks);
	tcase_add_test(tc, test_pmap);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
