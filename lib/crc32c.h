/*
 * crc32c (Castagnoli, the iSCSI polynomial), hardware-accelerated where the CPU has
 * SSE4.2: long buffers run as three lanes side by side, joined with zero-shift
 * tables. The one checksum of criu-lite: image records, pages, the vDSO digest.
 * (The restorer blob, which links nothing, has its own copy of the page check.)
 */
#ifndef CRIU_LITE_CRC32C_H
#define CRIU_LITE_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Continue crc over buf (start with 0). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* The crc32c (seed 0) of each of three consecutive pages, computed side by side. */
void crc32c_3pages(const void *pages, uint32_t out[3]);
/* The portable table-driven implementation (tests compare the two). */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* Check nr consecutive pages against their crcs: -1 if all match, else the index of
 * the first page that does not. Non-logging. */
ssize_t crc32c_check_pages(const void *buf, size_t nr, const uint32_t *crcs);

#endif
