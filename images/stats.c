/* stats-dump and stats-restore in CRIU's layout (see stats.h). */
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "stats: "
#include "lib/log.h"
#include "lib/util.h"
#include "images/magic.h"
#include "images/stats.h"

#define STATS_HDR 12u

static uint32_t us32(uint64_t us)
{
	return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int write_record(const char *dir, const char *name, const StatsRecord *r)
{
	uint8_t buf[STATS_MAX_SIZE];
	size_t len = stats_record__get_packed_size(r);
	uint32_t hdr[3];
	char tmp[4096], path[4096];
	cleanup_close int fd = -1;

	if (len > sizeof(buf) - STATS_HDR) {
		pr_err("a %zu-byte statistics record is too large\n", len);
		errno = EOVERFLOW;
		return -1;
	}
	hdr[0] = htole32(STATS_SERVICE_MAGIC);
	hdr[1] = htole32(STATS_MAGIC);
	hdr[2] = htole32((uint32_t)len);
	memcpy(buf, hdr, STATS_HDR);
	stats_record__pack(r, buf + STATS_HDR);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= sizeof(tmp)) {
		pr_err("the path %s/%s is too long\n", dir, name);
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		pr_perror("can't create %s", tmp);
		return -1;
	}
	if (write_all(fd, buf, STATS_HDR + len) < 0 || rename(tmp, path) < 0) {
		pr_perror("can't write %s", path);
		unlink(tmp);
		return -1;
	}
	pr_info("%s written (%zu bytes)\n", path, STATS_HDR + len);
	return 0;
}

int stats_write_dump(const char *dir, const struct stats_dump_vals *v)
{
	StatsRecord r = STATS_RECORD__INIT;
	StatsDump d = STATS_DUMP__INIT;

	d.freezing_time = us32(v->freezing_us);
	d.frozen_time = us32(v->frozen_us);
	d.memdump_time = us32(v->memdump_us);
	d.memwrite_time = us32(v->memwrite_us);
	d.pages_scanned = v->pages_scanned;
	d.pages_skipped_parent = 0; /* no parent dumps */
	d.pages_written = v->pages_written;
	d.pages_lazy = 0; /* every page is in the images: nothing left behind for a page server */
	d.has_shpages_scanned = d.has_shpages_written = true;
	d.shpages_scanned = v->shpages_scanned;
	d.shpages_written = v->shpages_written;
	r.dump = &d;
	return write_record(dir, STATS_DUMP_FILE, &r);
}

int stats_write_restore(const char *dir, const struct stats_restore_vals *v)
{
	StatsRecord r = STATS_RECORD__INIT;
	StatsRestore s = STATS_RESTORE__INIT;

	s.pages_compared = 0;    /* pages are never compared with a parent's ... */
	s.pages_skipped_cow = 0; /* ... so none is shared copy-on-write */
	s.forking_time = us32(v->forking_us);
	s.restore_time = us32(v->restore_us);
	s.has_pages_restored = true;
	s.pages_restored = v->pages_restored;
	r.restore = &s;
	return write_record(dir, STATS_RESTORE_FILE, &r);
}

StatsRecord *stats_read(int dirfd, const char *name)
{
	size_t len;
	cleanup_free char *buf = read_file_str(dirfd, name, STATS_MAX_SIZE, &len);
	uint32_t hdr[3];
	StatsRecord *r;

	if (!buf)
		return NULL;
	if (len < STATS_HDR) {
		pr_err("%s: %zu bytes, shorter than its header\n", name, len);
		errno = EBADMSG;
		return NULL;
	}
	memcpy(hdr, buf, STATS_HDR);
	if (le32toh(hdr[0]) != STATS_SERVICE_MAGIC || le32toh(hdr[1]) != STATS_MAGIC) {
		pr_err("%s: bad magic 0x%08x 0x%08x\n", name, le32toh(hdr[0]), le32toh(hdr[1]));
		errno = EBADMSG;
		return NULL;
	}
	if (le32toh(hdr[2]) != len - STATS_HDR) {
		pr_err("%s: the header says %u bytes follow, the file has %zu\n", name, le32toh(hdr[2]),
		       len - STATS_HDR);
		errno = EBADMSG;
		return NULL;
	}
	r = stats_record__unpack(NULL, len - STATS_HDR, (const uint8_t *)buf + STATS_HDR);
	if (!r) {
		pr_err("%s: the record can't be decoded (a required field missing?)\n", name);
		errno = EBADMSG;
		return NULL;
	}
	return r;
}
