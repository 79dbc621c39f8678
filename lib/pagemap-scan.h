/*
 * The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7 UAPI, linux/fs.h).
 * Debian 12's kernel headers predate it: the ABI is defined here once, under
 * names of our own so that newer headers don't clash.
 */
#ifndef CRIU_LITE_PAGEMAP_SCAN_H
#define CRIU_LITE_PAGEMAP_SCAN_H

#include <stdint.h>
#include <sys/ioctl.h>

#define PMS_PAGE_IS_WPALLOWED (1 << 0)
#define PMS_PAGE_IS_WRITTEN (1 << 1)
#define PMS_PAGE_IS_FILE (1 << 2)
#define PMS_PAGE_IS_PRESENT (1 << 3)
#define PMS_PAGE_IS_SWAPPED (1 << 4)
#define PMS_PAGE_IS_PFNZERO (1 << 5)
#define PMS_PAGE_IS_GUARD (1 << 8) /* Linux 6.14: a guard region (MADV_GUARD_INSTALL) */

struct pms_page_region {
	uint64_t start, end, categories;
};

struct pms_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define PMS_IOC_PAGEMAP_SCAN _IOWR('f', 16, struct pms_scan_arg)

#endif
