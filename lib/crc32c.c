/* crc32c (Castagnoli): the checksum of every image record and page. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "lib/crc32c.h"
#include "lib/util.h"

static uint32_t crc_table[8][256];
static bool crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/*
 * The crc32 instruction has a latency of 3 cycles and a throughput of 1, so one
 * stream runs at a third of what the unit can do. Long buffers go as three lanes of
 * CRC_LANE bytes computed side by side, then joined: with f(c, s) the register after
 * s from c, f(c, A B C) = f(0, C) ^ Z_L(f(0, B)) ^ Z_2L(f(c, A)), where Z_n(x) =
 * f(x, n zero bytes) is linear in x, so it is applied as a table per byte of x.
 * 3 * CRC_LANE is a page less 16 bytes: a page is one triple and two words.
 */
#define CRC_LANE 1360
static uint32_t crc_zshift[2][4][256]; /* Z_L, Z_2L */

static uint32_t crc_sw(uint32_t crc, const unsigned char *p, size_t len);

static uint32_t crc_zeros_sw(uint32_t crc, size_t len)
{
	static const unsigned char zeros[256];

	for (; len; len -= MIN(len, sizeof(zeros)))
		crc = crc_sw(crc, zeros, MIN(len, sizeof(zeros)));
	return crc;
}

static void crc_zshift_init(void)
{
	for (int s = 0; s < 2; s++) {
		uint32_t basis[32];
		for (int bit = 0; bit < 32; bit++)
			basis[bit] = crc_zeros_sw(1u << bit, (size_t)(s + 1) * CRC_LANE);
		for (int k = 0; k < 4; k++)
			for (uint32_t b = 0; b < 256; b++) {
				uint32_t v = 0;
				for (int bit = 0; bit < 8; bit++)
					if (b & (1u << bit))
						v ^= basis[8 * k + bit];
				crc_zshift[s][k][b] = v;
			}
	}
}

static inline uint32_t crc_zshift_apply(const uint32_t t[4][256], uint32_t x)
{
	return t[0][x & 0xff] ^ t[1][(x >> 8) & 0xff] ^ t[2][(x >> 16) & 0xff] ^ t[3][x >> 24];
}

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2");
	crc_zshift_init();
}

static uint32_t crc_sw(uint32_t crc, const unsigned char *p, size_t len)
{
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8); /* little-endian: the low byte is the first one */
		v ^= crc;
		crc = crc_table[7][v & 0xff] ^ crc_table[6][(v >> 8) & 0xff] ^
		      crc_table[5][(v >> 16) & 0xff] ^ crc_table[4][(v >> 24) & 0xff] ^
		      crc_table[3][(v >> 32) & 0xff] ^ crc_table[2][(v >> 40) & 0xff] ^
		      crc_table[1][(v >> 48) & 0xff] ^ crc_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return crc;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw_run(uint32_t crc, const unsigned char *p,
							      size_t len)
{
	uint64_t c = crc;
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}

/* Three register runs side by side, over a, b and c (len a multiple of 8). */
__attribute__((target("sse4.2"))) static void crc_hw_x3(uint64_t r[3], const unsigned char *a,
							  const unsigned char *b, const unsigned char *c,
							  size_t len)
{
	uint64_t ra = r[0], rb = r[1], rc = r[2];

	for (size_t i = 0; i < len; i += 8) {
		uint64_t x, y, z;
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		memcpy(&z, c + i, 8);
		ra = __builtin_ia32_crc32di(ra, x);
		rb = __builtin_ia32_crc32di(rb, y);
		rc = __builtin_ia32_crc32di(rc, z);
	}
	r[0] = ra;
	r[1] = rb;
	r[2] = rc;
}

static uint32_t crc_hw_3lanes(uint32_t crc, const unsigned char *p, size_t len)
{
	for (; len >= 3 * CRC_LANE; p += 3 * CRC_LANE, len -= 3 * CRC_LANE) {
		uint64_t r[3] = { crc, 0, 0 };
		crc_hw_x3(r, p, p + CRC_LANE, p + 2 * CRC_LANE, CRC_LANE);
		crc = (uint32_t)r[2] ^ crc_zshift_apply(crc_zshift[0], (uint32_t)r[1]) ^
		      crc_zshift_apply(crc_zshift[1], (uint32_t)r[0]);
	}
	return crc_hw_run(crc, p, len);
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	crc = crc_hw ? crc_hw_3lanes(crc, buf, len) : crc_sw(crc, buf, len);
	return ~crc;
}

void crc32c_3pages(const void *pages, uint32_t out[3])
{
	const unsigned char *p = pages;

	pthread_once(&crc_once, crc_init);
	if (!crc_hw) {
		for (int i = 0; i < 3; i++)
			out[i] = ~crc_sw(~0u, p + i * PAGE_SIZE, PAGE_SIZE);
		return;
	}
	uint64_t r[3] = { 0xffffffffu, 0xffffffffu, 0xffffffffu };
	crc_hw_x3(r, p, p + PAGE_SIZE, p + 2 * PAGE_SIZE, PAGE_SIZE);
	for (int i = 0; i < 3; i++)
		out[i] = ~(uint32_t)r[i];
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_sw(~crc, buf, len);
}


ssize_t crc32c_check_pages(const void *buf, size_t nr, const uint32_t *crcs)
{
	const unsigned char *p = buf;
	size_t i = 0;

	/* three pages at a time: three independent chains keep the crc unit busy */
	for (; i + 3 <= nr; i += 3) {
		uint32_t got[3];
		crc32c_3pages(p + i * PAGE_SIZE, got);
		if (got[0] != crcs[i] || got[1] != crcs[i + 1] || got[2] != crcs[i + 2])
			break; /* the loop below finds which */
	}
	for (; i < nr; i++)
		if (crc32c(0, p + i * PAGE_SIZE, PAGE_SIZE) != crcs[i])
			return (ssize_t)i;
	return -1;
}
