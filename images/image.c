/*
 * The image reader/writer: the only module that calls protobuf-c pack/unpack.
 *
 * Everything read from a file is untrusted: every length and count is bounded
 * before it is used, unpacking runs under a memory budget, and every error
 * names the file, the offset and what is wrong.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "image: "
#include "lib/crc32c.h"
#include "lib/log.h"
#include "lib/util.h"
#include "images/image.h"

#define WBUF_SIZE (256u << 10)

/* The end-of-image marker: "END!" where a record length would be (always over
 * IMG_MAX_RECORD, and no single bit flip brings it under), then the record count. */
#define IMG_END_MARK 0x21444e45u

/* Unpacking a record may allocate at most this much (protobuf-c structures are
 * bigger than their encoding: a hostile record of tiny sub-messages multiplies). */
#define UNPACK_BUDGET_BASE (1u << 20)
#define UNPACK_BUDGET_FACTOR 24u
#define UNPACK_BUDGET_MAX (64u << 20)

/* A directory listing larger than this is not a dump directory. */
#define IMG_DIR_MAX_FILES (1u << 20)

struct img {
	enum img_type type;
	int fd;
	int mode;
	char *name;
	uint64_t off;  /* reader: offset of the next record; writer: bytes written (pages) */
	uint64_t size; /* reader: file size at open */
	uint64_t nrec; /* records read or written */
	bool eof;      /* reader: the end marker was read and checked */
	char *wbuf;    /* writer: buffered records */
	size_t wlen;
	int werr; /* writer: a write failed, the image is lost */
};

struct img_desc {
	const char *name; /* file name prefix */
	bool per_id;
	uint32_t magic;
	const ProtobufCMessageDescriptor *desc;
};

static const struct img_desc img_descs[IMG_TYPE_MAX] = {
	[IMG_INVENTORY] = { "inventory", false, INVENTORY_MAGIC, &inventory_entry__descriptor },
	[IMG_PSTREE] = { "pstree", false, PSTREE_MAGIC, &pstree_entry__descriptor },
	[IMG_CORE] = { "core", true, CORE_MAGIC, &thread_core_entry__descriptor },
	[IMG_TASK] = { "task", true, TASK_MAGIC, &task_entry__descriptor },
	[IMG_CREDS] = { "creds", true, CREDS_MAGIC, &creds_entry__descriptor },
	[IMG_MM] = { "mm", true, MM_MAGIC, &mm_entry__descriptor },
	[IMG_PAGEMAP] = { "pagemap", true, PAGEMAP_MAGIC, &pagemap_entry__descriptor },
	[IMG_PAGES] = { "pages", true, PAGES_MAGIC, NULL },
	[IMG_SHMEM] = { "shmem", false, SHMEM_MAGIC, &shmem_entry__descriptor },
	[IMG_FILES] = { "files", false, FILES_MAGIC, &file_entry__descriptor },
	[IMG_FDINFO] = { "fdinfo", true, FDINFO_MAGIC, &fdinfo_entry__descriptor },
	[IMG_FILE_DATA] = { "file-data", false, FILE_DATA_MAGIC, &file_data_entry__descriptor },
	[IMG_NS] = { "ns", false, NS_MAGIC, &ns_entry__descriptor },
	[IMG_TMPFS] = { "tmpfs", true, TMPFS_MAGIC_IMG, &tmpfs_file_entry__descriptor },
	[IMG_SECCOMP] = { "seccomp", false, SECCOMP_MAGIC, &seccomp_entry__descriptor },
};

static const struct img_desc *desc_of(enum img_type type)
{
	if ((int)type <= 0 || type >= IMG_TYPE_MAX || !img_descs[type].name)
		return NULL;
	return &img_descs[type];
}

const char *img_type_name(enum img_type type)
{
	const struct img_desc *d = desc_of(type);
	return d ? d->name : NULL;
}

uint32_t img_type_magic(enum img_type type)
{
	const struct img_desc *d = desc_of(type);
	return d ? d->magic : 0;
}

const ProtobufCMessageDescriptor *img_type_desc(enum img_type type)
{
	const struct img_desc *d = desc_of(type);
	return d ? d->desc : NULL;
}

int img_type_from_name(const char *name)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	for (int t = 1; t < IMG_TYPE_MAX; t++) {
		const struct img_desc *d = desc_of(t);
		size_t n;
		if (!d)
			continue;
		n = strlen(d->name);
		if (strncmp(base, d->name, n) != 0)
			continue;
		if (base[n] == '.' || (d->per_id && base[n] == '-' && base[n + 1] != '\0'))
			return t;
	}
	return -1;
}

int img_type_from_magic(uint32_t magic)
{
	for (int t = 1; t < IMG_TYPE_MAX; t++) {
		const struct img_desc *d = desc_of(t);
		if (d && d->magic == magic)
			return t;
	}
	return -1;
}

/* ---- open/close ---- */

static struct img *img_alloc(enum img_type type, int mode, const char *name)
{
	struct img *img = calloc(1, sizeof(*img));
	if (!img) {
		pr_perror("can't allocate an image for %s", name);
		return NULL;
	}
	img->name = strdup(name);
	if (!img->name) {
		pr_perror("can't allocate an image for %s", name);
		free(img);
		return NULL;
	}
	img->type = type;
	img->mode = mode;
	img->fd = -1;
	return img;
}

static void img_free(struct img *img)
{
	if (!img)
		return;
	if (img->fd >= 0)
		close(img->fd);
	free(img->wbuf);
	free(img->name);
	free(img);
}

/*
 * Open name in dfd without ever blocking (a FIFO planted in a dump directory
 * must not hang us), check that it is a regular file, then make it blocking.
 */
static int img_open_fd(int dfd, const char *name, int flags, uint64_t *ret_size)
{
	struct stat st;
	cleanup_close int fd = openat(dfd, name, flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600);

	if (fd < 0)
		return -1; /* the caller logs: it knows whether ENOENT is fine */
	if (fstat(fd, &st) < 0) {
		pr_perror("%s: can't stat", name);
		return -2;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("%s: not a regular file (mode 0%o)\n", name, st.st_mode & S_IFMT);
		errno = EINVAL;
		return -2;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		pr_perror("%s: can't clear O_NONBLOCK", name);
		return -2;
	}
	*ret_size = st.st_size;
	return steal_fd(&fd);
}

/* Read and check the header of img (type already known): magic, version, pages geometry. */
static int img_read_header(struct img *img)
{
	const struct img_desc *d = &img_descs[img->type];
	uint32_t hdr[3];

	if (img->size < 2 * sizeof(uint32_t)) {
		pr_err("%s: truncated: %llu bytes, too short for the 8-byte image header\n", img->name,
		       (unsigned long long)img->size);
		errno = EBADMSG;
		return -1;
	}
	if (pread_all(img->fd, hdr, 2 * sizeof(uint32_t), 0) < 0) {
		pr_perror("%s: can't read the image header", img->name);
		return -1;
	}
	if (hdr[0] != d->magic) {
		int t = img_type_from_magic(hdr[0]);
		if (t > 0)
			pr_err("%s: bad magic 0x%08x: this is a %s image, a %s image was expected\n",
			       img->name, hdr[0], img_descs[t].name, d->name);
		else
			pr_err("%s: bad magic 0x%08x, expected 0x%08x (%s image)\n", img->name, hdr[0],
			       d->magic, d->name);
		errno = EBADMSG;
		return -1;
	}
	if (hdr[1] != IMG_FORMAT_VERSION) {
		pr_err("%s: format version %u, this criu-lite reads version %u\n", img->name, hdr[1],
		       IMG_FORMAT_VERSION);
		errno = EBADMSG;
		return -1;
	}
	img->off = 2 * sizeof(uint32_t);
	if (img->type != IMG_PAGES)
		return 0;

	if (img->size < IMG_PAGES_HDR || (img->size - IMG_PAGES_HDR) % PAGE_SIZE) {
		pr_err("%s: truncated or corrupt: %llu bytes is not a %u-byte header and whole %lu-byte pages\n",
		       img->name, (unsigned long long)img->size, IMG_PAGES_HDR, PAGE_SIZE);
		errno = EBADMSG;
		return -1;
	}
	if (pread_all(img->fd, hdr, sizeof(hdr), 0) < 0) {
		pr_perror("%s: can't read the pages header", img->name);
		return -1;
	}
	if (hdr[2] != PAGE_SIZE) {
		pr_err("%s: page size %u, this machine's is %lu\n", img->name, hdr[2], PAGE_SIZE);
		errno = EBADMSG;
		return -1;
	}
	img->off = IMG_PAGES_HDR;
	return 0;
}

static int img_write_header(struct img *img)
{
	if (img->type == IMG_PAGES) {
		char hdr[IMG_PAGES_HDR] = { 0 };
		uint32_t v[3] = { PAGES_MAGIC, IMG_FORMAT_VERSION, (uint32_t)PAGE_SIZE };
		memcpy(hdr, v, sizeof(v));
		if (write_all(img->fd, hdr, sizeof(hdr)) < 0) {
			pr_perror("%s: can't write the header", img->name);
			return -1;
		}
		img->off = IMG_PAGES_HDR;
		return 0;
	}
	uint32_t hdr[2] = { img_descs[img->type].magic, IMG_FORMAT_VERSION };
	img->wbuf = malloc(WBUF_SIZE);
	if (!img->wbuf) {
		pr_perror("%s: can't allocate the write buffer", img->name);
		return -1;
	}
	memcpy(img->wbuf, hdr, sizeof(hdr));
	img->wlen = sizeof(hdr);
	return 0;
}

static struct img *img_open_file(int dfd, enum img_type type, int mode, const char *name)
{
	int acc = mode & O_ACCMODE;
	bool missing_ok = mode & IMG_OPT_MISSING_OK;
	struct img *img;
	int fd;

	if (!desc_of(type)) {
		pr_err("%s: unknown image type %d\n", name, type);
		errno = EINVAL;
		return NULL;
	}
	if (acc != O_RDONLY && acc != O_WRONLY) {
		pr_err("%s: images open read-only or write-only\n", name);
		errno = EINVAL;
		return NULL;
	}
	img = img_alloc(type, acc, name);
	if (!img)
		return NULL;
	if (acc == O_RDONLY)
		fd = img_open_fd(dfd, name, O_RDONLY, &img->size);
	else
		fd = img_open_fd(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, &img->size);
	if (fd == -1 && !(missing_ok && errno == ENOENT))
		pr_perror("can't open image %s", name);
	if (fd < 0)
		goto err;
	img->fd = fd;
	if (acc == O_WRONLY) {
		if (img_write_header(img) < 0)
			goto err;
		return img;
	}
	if (img_read_header(img) < 0)
		goto err;
	return img;
err:
	img_free(img);
	return NULL;
}

static int img_file_name(char *buf, size_t size, const struct img_desc *d, const char *id)
{
	int n;

	if (d->per_id && (!id || !*id || strchr(id, '/'))) {
		pr_err("invalid id '%s' for a %s image\n", id ? id : "(null)", d->name);
		errno = EINVAL;
		return -1;
	}
	if (d->per_id)
		n = snprintf(buf, size, "%s-%s.img", d->name, id);
	else
		n = snprintf(buf, size, "%s.img", d->name);
	if (n < 0 || (size_t)n >= size) {
		pr_err("%s image name for id '%s' is too long\n", d->name, id);
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

struct img *img_open_named(int dfd, enum img_type type, int mode, const char *id)
{
	const struct img_desc *d = desc_of(type);
	char name[256];

	if (!d) {
		pr_err("unknown image type %d\n", type);
		errno = EINVAL;
		return NULL;
	}
	if (img_file_name(name, sizeof(name), d, id) < 0)
		return NULL;
	return img_open_file(dfd, type, mode, name);
}

struct img *img_open(int dfd, enum img_type type, int mode, unsigned long id)
{
	char ids[24];
	snprintf(ids, sizeof(ids), "%lu", id);
	return img_open_named(dfd, type, mode, ids);
}

struct img *img_open_path(int dfd, const char *path)
{
	uint32_t magic;
	uint64_t size;
	int type;
	struct img *img;
	int fd = img_open_fd(dfd, path, O_RDONLY, &size);

	if (fd == -1)
		pr_perror("can't open %s", path);
	if (fd < 0)
		return NULL;
	if (size < sizeof(magic)) {
		pr_err("%s: truncated: %llu bytes, too short for an image header\n", path,
		       (unsigned long long)size);
		close(fd);
		errno = EBADMSG;
		return NULL;
	}
	if (pread_all(fd, &magic, sizeof(magic), 0) < 0) {
		pr_perror("%s: can't read the image magic", path);
		close(fd);
		return NULL;
	}
	type = img_type_from_magic(magic);
	if (type < 0) {
		pr_err("%s: not a criu-lite image (unknown magic 0x%08x)\n", path, magic);
		close(fd);
		errno = EBADMSG;
		return NULL;
	}
	img = img_alloc(type, O_RDONLY, path);
	if (!img) {
		close(fd);
		return NULL;
	}
	img->fd = fd;
	img->size = size;
	if (img_read_header(img) < 0) {
		img_free(img);
		return NULL;
	}
	return img;
}

static int img_flush(struct img *img)
{
	if (img->werr)
		return -1;
	if (img->mode != O_WRONLY || !img->wlen)
		return 0;
	if (write_all(img->fd, img->wbuf, img->wlen) < 0) {
		pr_perror("%s: can't write %zu bytes", img->name, img->wlen);
		img->werr = 1;
		return -1;
	}
	img->wlen = 0;
	return 0;
}

/* Append the end marker to a record image's buffer. */
static int img_write_end(struct img *img)
{
	uint32_t end[2] = { IMG_END_MARK, (uint32_t)img->nrec };

	if (img->wlen + sizeof(end) > WBUF_SIZE && img_flush(img) < 0)
		return -1;
	memcpy(img->wbuf + img->wlen, end, sizeof(end));
	img->wlen += sizeof(end);
	return 0;
}

int img_close(struct img *img)
{
	int ret = 0;
	if (!img)
		return 0;
	if (img->mode == O_WRONLY) {
		if (img->werr)
			ret = -1; /* logged when it happened */
		else if (img->type != IMG_PAGES && img_write_end(img) < 0)
			ret = -1;
		else if (img_flush(img) < 0)
			ret = -1;
		/* close even after a failure: the fd is released whatever close() says */
		if (img->fd >= 0 && close(steal_fd(&img->fd)) < 0 && ret == 0) {
			pr_perror("%s: can't close", img->name);
			ret = -1;
		}
	}
	img_free(img);
	return ret;
}

/*
 * The cleanup path: a writer still open here was abandoned on an error path, so
 * it gets no end marker (readers then reject the partial image as truncated);
 * a complete image is committed with an explicit img_close().
 */
void img_closep(struct img **img)
{
	int e = errno;
	if (*img && (*img)->mode == O_WRONLY) {
		(*img)->werr = 1;
		(*img)->wlen = 0;
	}
	img_close(*img);
	*img = NULL;
	errno = e;
}

enum img_type img_get_type(const struct img *img)
{
	return img->type;
}

const char *img_name(const struct img *img)
{
	return img->name;
}

int img_fd(const struct img *img)
{
	return img->fd;
}

/* ---- records ---- */

static bool desc_fits(const struct img *img, const ProtobufCMessageDescriptor *desc)
{
	if (img->type == IMG_PAGEMAP)
		return desc == &pagemap_head__descriptor || desc == &pagemap_entry__descriptor;
	return desc == img_descs[img->type].desc;
}

int img_write_desc(struct img *img, const ProtobufCMessage *msg)
{
	size_t len;
	uint32_t hdr[2];

	if (img->mode != O_WRONLY || img->type == IMG_PAGES) {
		pr_err("%s: not a record image open for writing\n", img->name);
		errno = EINVAL;
		return -1;
	}
	if (img->werr) {
		errno = EIO;
		return -1; /* logged when it happened */
	}
	if (!desc_fits(img, msg->descriptor)) {
		pr_err("%s: a %s record does not belong in a %s image\n", img->name,
		       msg->descriptor->name, img_descs[img->type].name);
		errno = EINVAL;
		return -1;
	}
	if (!protobuf_c_message_check(msg)) {
		pr_err("%s: %s record #%llu lacks a required field (or has a NULL string or array)\n",
		       img->name, msg->descriptor->name, (unsigned long long)img->nrec);
		errno = EINVAL;
		return -1;
	}
	if (img->nrec >= UINT32_MAX) {
		pr_err("%s: too many records\n", img->name);
		errno = EFBIG;
		return -1;
	}
	len = protobuf_c_message_get_packed_size(msg);
	if (len > IMG_MAX_RECORD) {
		pr_err("%s: %s record of %zu bytes exceeds the %u-byte limit\n", img->name,
		       msg->descriptor->name, len, IMG_MAX_RECORD);
		errno = EFBIG;
		return -1;
	}
	if (img->wlen + sizeof(hdr) + len > WBUF_SIZE && img_flush(img) < 0)
		return -1;
	if (sizeof(hdr) + len > WBUF_SIZE) {
		cleanup_free uint8_t *buf = malloc(len);
		if (!buf) {
			pr_perror("%s: can't allocate %zu bytes for a record", img->name, len);
			return -1;
		}
		if (protobuf_c_message_pack(msg, buf) != len) {
			pr_err("%s: %s record packed to an unexpected size\n", img->name,
			       msg->descriptor->name);
			errno = EINVAL;
			return -1;
		}
		hdr[0] = len;
		hdr[1] = crc32c(0, buf, len);
		if (write_all(img->fd, hdr, sizeof(hdr)) < 0 || write_all(img->fd, buf, len) < 0) {
			pr_perror("%s: can't write a record", img->name);
			img->werr = 1;
			return -1;
		}
		img->nrec++;
		return 0;
	}
	uint8_t *p = (uint8_t *)img->wbuf + img->wlen + sizeof(hdr);
	if (protobuf_c_message_pack(msg, p) != len) {
		pr_err("%s: %s record packed to an unexpected size\n", img->name, msg->descriptor->name);
		errno = EINVAL;
		return -1;
	}
	hdr[0] = len;
	hdr[1] = crc32c(0, p, len);
	memcpy(img->wbuf + img->wlen, hdr, sizeof(hdr));
	img->wlen += sizeof(hdr) + len;
	img->nrec++;
	return 0;
}

int img_write(struct img *img, const void *msg)
{
	return img_write_desc(img, msg);
}

/* A protobuf-c allocator that refuses to go over a budget (counted cumulatively). */
struct unpack_budget {
	size_t left;
	bool exceeded;
};

static void *budget_alloc(void *data, size_t size)
{
	struct unpack_budget *b = data;
	if (size > b->left) {
		b->exceeded = true;
		return NULL;
	}
	b->left -= size;
	return malloc(size);
}

static void budget_free(void *data, void *ptr)
{
	(void)data;
	free(ptr);
}

static int img_read_end(struct img *img, const uint32_t *hdr)
{
	uint64_t after = img->off + 2 * sizeof(uint32_t);

	if (hdr[1] != img->nrec) {
		pr_err("%s: the end marker at offset %llu counts %u records, %llu were read\n", img->name,
		       (unsigned long long)img->off, hdr[1], (unsigned long long)img->nrec);
		errno = EBADMSG;
		return -1;
	}
	if (after != img->size) {
		pr_err("%s: %llu bytes of garbage after the end marker at offset %llu\n", img->name,
		       (unsigned long long)(img->size - after), (unsigned long long)img->off);
		errno = EBADMSG;
		return -1;
	}
	img->eof = true;
	return 0;
}

int img_read_desc(struct img *img, const ProtobufCMessageDescriptor *desc, void **ret_msg)
{
	uint32_t hdr[2];
	uint64_t left;
	cleanup_free uint8_t *buf = NULL;
	ProtobufCMessage *msg;
	struct unpack_budget budget;
	ProtobufCAllocator alloc = { budget_alloc, budget_free, &budget };

	if (img->mode != O_RDONLY || img->type == IMG_PAGES || !desc) {
		pr_err("%s: not a record image open for reading\n", img->name);
		errno = EINVAL;
		return -1;
	}
	if (!desc_fits(img, desc)) {
		pr_err("%s: can't read a %s record from a %s image\n", img->name, desc->name,
		       img_descs[img->type].name);
		errno = EINVAL;
		return -1;
	}
	if (img->eof)
		return 0;
	if (img->off > img->size) {
		pr_err("%s: offset %llu is past the end of the file\n", img->name,
		       (unsigned long long)img->off);
		errno = EBADMSG;
		return -1;
	}
	left = img->size - img->off;
	if (left < sizeof(hdr)) {
		if (left == 0)
			pr_err("%s: truncated after %llu records: no end marker at offset %llu\n",
			       img->name, (unsigned long long)img->nrec, (unsigned long long)img->off);
		else
			pr_err("%s: truncated at offset %llu: %llu bytes, too short for a record header\n",
			       img->name, (unsigned long long)img->off, (unsigned long long)left);
		errno = EBADMSG;
		return -1;
	}
	if (pread_all(img->fd, hdr, sizeof(hdr), img->off) < 0) {
		if (errno == ENODATA)
			pr_err("%s: the file shrank while being read (offset %llu)\n", img->name,
			       (unsigned long long)img->off);
		else
			pr_perror("%s: can't read the record header at offset %llu", img->name,
				  (unsigned long long)img->off);
		return -1;
	}
	if (hdr[0] == IMG_END_MARK)
		return img_read_end(img, hdr) < 0 ? -1 : 0;
	if (hdr[0] > IMG_MAX_RECORD) {
		pr_err("%s: record at offset %llu claims %u bytes, over the %u-byte limit\n", img->name,
		       (unsigned long long)img->off, hdr[0], IMG_MAX_RECORD);
		errno = EBADMSG;
		return -1;
	}
	if (hdr[0] > left - sizeof(hdr)) {
		pr_err("%s: truncated: record at offset %llu claims %u bytes, %llu remain\n", img->name,
		       (unsigned long long)img->off, hdr[0],
		       (unsigned long long)(left - sizeof(hdr)));
		errno = EBADMSG;
		return -1;
	}
	buf = malloc(hdr[0] ? hdr[0] : 1);
	if (!buf) {
		pr_perror("%s: can't allocate %u bytes for a record", img->name, hdr[0]);
		return -1;
	}
	if (pread_all(img->fd, buf, hdr[0], img->off + sizeof(hdr)) < 0) {
		if (errno == ENODATA)
			pr_err("%s: the file shrank while being read (record at offset %llu)\n",
			       img->name, (unsigned long long)img->off);
		else
			pr_perror("%s: can't read the record at offset %llu", img->name,
				  (unsigned long long)img->off);
		return -1;
	}
	if (crc32c(0, buf, hdr[0]) != hdr[1]) {
		pr_err("%s: record at offset %llu is corrupt (checksum mismatch)\n", img->name,
		       (unsigned long long)img->off);
		errno = EBADMSG;
		return -1;
	}
	budget.left = MIN((size_t)UNPACK_BUDGET_BASE + (size_t)hdr[0] * UNPACK_BUDGET_FACTOR,
			  (size_t)UNPACK_BUDGET_MAX);
	budget.exceeded = false;
	msg = protobuf_c_message_unpack(desc, &alloc, hdr[0], buf);
	if (!msg) {
		if (budget.exceeded)
			pr_err("%s: record at offset %llu (%u bytes) would need more than %zu bytes to decode\n",
			       img->name, (unsigned long long)img->off, hdr[0],
			       MIN((size_t)UNPACK_BUDGET_BASE + (size_t)hdr[0] * UNPACK_BUDGET_FACTOR,
				   (size_t)UNPACK_BUDGET_MAX));
		else
			pr_err("%s: record at offset %llu is not a valid %s\n", img->name,
			       (unsigned long long)img->off, desc->name);
		errno = EBADMSG;
		return -1;
	}
	img->off += sizeof(hdr) + hdr[0];
	img->nrec++;
	*ret_msg = msg;
	return 1;
}

int img_read(struct img *img, void **ret_msg)
{
	return img_read_desc(img, img_descs[img->type].desc, ret_msg);
}

int img_read_one(struct img *img, void **ret_msg)
{
	void *msg, *extra;
	int ret = img_read(img, &msg);

	if (ret == 0) {
		pr_err("%s: empty image, one record expected\n", img->name);
		errno = EBADMSG;
		return -1;
	}
	if (ret < 0)
		return -1;
	ret = img_read(img, &extra);
	if (ret != 0) {
		if (ret > 0) {
			pr_err("%s: more than the one record expected\n", img->name);
			img_free_msg(img, extra);
			errno = EBADMSG;
		}
		img_free_msg(img, msg);
		return -1;
	}
	*ret_msg = msg;
	return 0;
}

void img_free_msg(struct img *img, void *msg)
{
	(void)img;
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

/* ---- pages ---- */

int img_pages_write(struct img *img, const void *buf, size_t len)
{
	if (img->type != IMG_PAGES || img->mode != O_WRONLY || len % PAGE_SIZE) {
		pr_err("%s: pages are written whole to a pages image open for writing\n", img->name);
		errno = EINVAL;
		return -1;
	}
	if (img->werr) {
		errno = EIO;
		return -1;
	}
	if (write_all(img->fd, buf, len) < 0) {
		pr_perror("%s: can't write %zu bytes of pages", img->name, len);
		img->werr = 1;
		return -1;
	}
	img->off += len;
	return 0;
}

int img_pages_read(struct img *img, void *buf, size_t nr_pages, uint64_t page_idx)
{
	uint64_t have;

	if (img->type != IMG_PAGES || img->mode != O_RDONLY) {
		pr_err("%s: not a pages image open for reading\n", img->name);
		errno = EINVAL;
		return -1;
	}
	have = (img->size - IMG_PAGES_HDR) / PAGE_SIZE; /* size checked at open */
	if (page_idx > have || nr_pages > have - page_idx) {
		pr_err("%s: pages %llu..%llu requested, the image holds %llu\n", img->name,
		       (unsigned long long)page_idx,
		       (unsigned long long)(page_idx + (uint64_t)nr_pages - (nr_pages ? 1 : 0)),
		       (unsigned long long)have);
		errno = EBADMSG;
		return -1;
	}
	if (pread_all(img->fd, buf, nr_pages * PAGE_SIZE, IMG_PAGES_HDR + page_idx * PAGE_SIZE) < 0) {
		if (errno == ENODATA)
			pr_err("%s: the file shrank while being read (page %llu)\n", img->name,
			       (unsigned long long)page_idx);
		else
			pr_perror("%s: can't read %zu pages at page %llu", img->name, nr_pages,
				  (unsigned long long)page_idx);
		return -1;
	}
	return 0;
}

int64_t img_pages_count(struct img *img)
{
	if (img->type != IMG_PAGES)
		return -1;
	if (img->mode == O_WRONLY)
		return (img->off - IMG_PAGES_HDR) / PAGE_SIZE;
	return (img->size - IMG_PAGES_HDR) / PAGE_SIZE;
}

/* ---- inventory ---- */

/* ---- directories ---- */

void img_free_names(char **names, size_t nr)
{
	if (!names)
		return;
	for (size_t i = 0; i < nr; i++)
		free(names[i]);
	free(names);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_img_suffix(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && !strcmp(name + n - 4, ".img");
}

int img_list_dir(int dfd, char ***ret_names, size_t *ret_nr)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char **names = NULL;
	size_t nr = 0, cap = 0;
	struct dirent *de;
	DIR *dir;

	if (fd < 0) {
		pr_perror("can't open the image directory");
		return -1;
	}
	dir = fdopendir(fd);
	if (!dir) {
		pr_perror("can't read the image directory");
		close(fd);
		return -1;
	}
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de) {
			if (errno) {
				pr_perror("can't read the image directory");
				goto err;
			}
			break;
		}
		if (!has_img_suffix(de->d_name) || img_type_from_name(de->d_name) < 0)
			continue;
		if (nr == cap) {
			if (cap >= IMG_DIR_MAX_FILES) {
				pr_err("the image directory holds more than %u images\n", IMG_DIR_MAX_FILES);
				errno = EFBIG;
				goto err;
			}
			size_t ncap = cap ? cap * 2 : 32;
			char **n = realloc(names, ncap * sizeof(*names));
			if (!n) {
				pr_perror("can't allocate the list of images");
				goto err;
			}
			names = n;
			cap = ncap;
		}
		names[nr] = strdup(de->d_name);
		if (!names[nr]) {
			pr_perror("can't allocate the list of images");
			goto err;
		}
		nr++;
	}
	closedir(dir);
	if (nr)
		qsort(names, nr, sizeof(*names), cmp_names);
	*ret_names = names;
	*ret_nr = nr;
	return 0;
err:
	closedir(dir);
	img_free_names(names, nr);
	return -1;
}
