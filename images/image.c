#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "image: "
#include "include/log.h"
#include "include/util.h"
#include "images/image.h"

#define WBUF_SIZE (256u << 10)

struct img {
	enum img_type type;
	int fd;
	int mode;
	char name[64];
	uint64_t off;       /* reader: offset of the next record; writer: bytes written */
	uint64_t size;      /* reader: file size at open */
	char *wbuf;         /* writer: buffered records */
	size_t wlen;
	int werr;           /* writer: a buffered write failed */
};

struct img_desc {
	const char *name;  /* file name prefix */
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
		if (base[n] == '.' || (d->per_id && base[n] == '-'))
			return t;
	}
	return -1;
}

static int img_type_from_magic(uint32_t magic)
{
	for (int t = 1; t < IMG_TYPE_MAX; t++) {
		const struct img_desc *d = desc_of(t);
		if (d && d->magic == magic)
			return t;
	}
	return -1;
}

/* ---- crc32c ---- */

static uint32_t crc_table[8][256];
static int crc_hw = -1;

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
	crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

static uint32_t crc_sw(uint32_t crc, const unsigned char *p, size_t len)
{
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
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

uint32_t img_crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (crc_hw < 0)
		crc_init();
	crc = ~crc;
	crc = crc_hw ? crc_hw_run(crc, buf, len) : crc_sw(crc, buf, len);
	return ~crc;
}

int img_check_pages(const struct img *img, const void *buf, size_t nr, const uint32_t *crcs,
		    uint64_t vaddr)
{
	const char *p = buf;
	for (size_t i = 0; i < nr; i++) {
		uint32_t c = img_crc32c(0, p + i * PAGE_SIZE, PAGE_SIZE);
		if (c != crcs[i]) {
			pr_err("%s: page at 0x%llx is corrupt (crc32c %08x, expected %08x)\n",
			       img ? img->name : "pages", (unsigned long long)(vaddr + i * PAGE_SIZE), c,
			       crcs[i]);
			errno = EBADMSG;
			return -1;
		}
	}
	return 0;
}

/* ---- open/close ---- */

static struct img *img_alloc(enum img_type type, int mode, const char *name)
{
	struct img *img = calloc(1, sizeof(*img));
	if (!img) {
		pr_perror("can't allocate an image for %s", name);
		return NULL;
	}
	img->type = type;
	img->mode = mode;
	img->fd = -1;
	snprintf(img->name, sizeof(img->name), "%s", name);
	return img;
}

static void img_free(struct img *img)
{
	if (!img)
		return;
	if (img->fd >= 0)
		close(img->fd);
	free(img->wbuf);
	free(img);
}

static int img_read_header(struct img *img, uint32_t *ret_magic)
{
	struct stat st;
	uint32_t hdr[2];

	if (fstat(img->fd, &st) < 0) {
		pr_perror("%s: can't stat", img->name);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("%s: not a regular file\n", img->name);
		errno = EINVAL;
		return -1;
	}
	img->size = st.st_size;
	if (img->size < sizeof(hdr)) {
		pr_err("%s: truncated: %llu bytes, too short for the image header\n", img->name,
		       (unsigned long long)img->size);
		errno = EBADMSG;
		return -1;
	}
	if (pread_all(img->fd, hdr, sizeof(hdr), 0) < 0) {
		pr_perror("%s: can't read the image header", img->name);
		return -1;
	}
	if (hdr[1] != IMG_FORMAT_VERSION) {
		pr_err("%s: format version %u, this criu-lite reads version %u\n", img->name, hdr[1],
		       IMG_FORMAT_VERSION);
		errno = EBADMSG;
		return -1;
	}
	*ret_magic = hdr[0];
	img->off = sizeof(hdr);
	if (img->type == IMG_PAGES) {
		uint32_t psz;
		if (img->size < IMG_PAGES_HDR || (img->size - IMG_PAGES_HDR) % PAGE_SIZE) {
			pr_err("%s: truncated: %llu bytes is not a header and whole pages\n", img->name,
			       (unsigned long long)img->size);
			errno = EBADMSG;
			return -1;
		}
		if (pread_all(img->fd, &psz, sizeof(psz), 8) < 0) {
			pr_perror("%s: can't read the pages header", img->name);
			return -1;
		}
		if (psz != PAGE_SIZE) {
			pr_err("%s: page size %u, this machine's is %lu\n", img->name, psz, PAGE_SIZE);
			errno = EBADMSG;
			return -1;
		}
		img->off = IMG_PAGES_HDR;
	}
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
	uint32_t magic;

	if (!desc_of(type)) {
		pr_err("unknown image type %d\n", type);
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
		img->fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	else
		img->fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (img->fd < 0) {
		if (!(missing_ok && errno == ENOENT))
			pr_perror("can't open image %s", name);
		img_free(img);
		return NULL;
	}
	if (acc == O_WRONLY) {
		if (img_write_header(img) < 0)
			goto err;
		return img;
	}
	if (img_read_header(img, &magic) < 0)
		goto err;
	if (magic != img_descs[type].magic) {
		pr_err("%s: bad magic 0x%08x, expected 0x%08x (%s image)\n", name, magic,
		       img_descs[type].magic, img_descs[type].name);
		errno = EBADMSG;
		goto err;
	}
	return img;
err:
	img_free(img);
	return NULL;
}

struct img *img_open_named(int dfd, enum img_type type, int mode, const char *id)
{
	const struct img_desc *d = desc_of(type);
	char name[64];

	if (!d) {
		pr_err("unknown image type %d\n", type);
		errno = EINVAL;
		return NULL;
	}
	if (d->per_id)
		snprintf(name, sizeof(name), "%s-%s.img", d->name, id);
	else
		snprintf(name, sizeof(name), "%s.img", d->name);
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
	uint32_t hdr[2];
	const char *base = strrchr(path, '/');
	int type;
	cleanup_close int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		pr_perror("can't open %s", path);
		return NULL;
	}
	if (pread_all(fd, hdr, sizeof(hdr), 0) < 0) {
		if (errno == ENODATA)
			pr_err("%s: truncated: too short for an image header\n", path);
		else
			pr_perror("can't read %s", path);
		errno = EBADMSG;
		return NULL;
	}
	type = img_type_from_magic(hdr[0]);
	if (type < 0) {
		pr_err("%s: not a criu-lite image (magic 0x%08x)\n", path, hdr[0]);
		errno = EBADMSG;
		return NULL;
	}
	struct img *img = img_alloc(type, O_RDONLY, base ? base + 1 : path);
	if (!img)
		return NULL;
	img->fd = steal_fd(&fd);
	uint32_t magic;
	if (img_read_header(img, &magic) < 0) {
		img_free(img);
		return NULL;
	}
	return img;
}

static int img_flush(struct img *img)
{
	if (img->mode != O_WRONLY || !img->wlen || img->werr)
		return img->werr ? -1 : 0;
	if (write_all(img->fd, img->wbuf, img->wlen) < 0) {
		pr_perror("%s: can't write %zu bytes", img->name, img->wlen);
		img->werr = 1;
		return -1;
	}
	img->wlen = 0;
	return 0;
}

int img_close(struct img *img)
{
	int ret = 0;
	if (!img)
		return 0;
	if (img->mode == O_WRONLY) {
		if (img_flush(img) < 0)
			ret = -1;
		else if (close(img->fd) < 0) {
			pr_perror("%s: can't close", img->name);
			ret = -1;
		}
		img->fd = -1;
	}
	img_free(img);
	return ret;
}

void img_closep(struct img **img)
{
	int e = errno;
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

int img_write_desc(struct img *img, const ProtobufCMessage *msg)
{
	size_t len;
	uint32_t hdr[2];

	if (img->mode != O_WRONLY || img->type == IMG_PAGES) {
		pr_err("%s: not a record image open for writing\n", img->name);
		errno = EINVAL;
		return -1;
	}
	if (img->werr)
		return -1;
	len = protobuf_c_message_get_packed_size(msg);
	if (len > IMG_MAX_RECORD) {
		pr_err("%s: record of %zu bytes exceeds the %u-byte limit\n", img->name, len,
		       IMG_MAX_RECORD);
		errno = EFBIG;
		return -1;
	}
	if (img->wlen + sizeof(hdr) + len > WBUF_SIZE) {
		if (img_flush(img) < 0)
			return -1;
	}
	if (sizeof(hdr) + len > WBUF_SIZE) {
		cleanup_free uint8_t *buf = malloc(len);
		if (!buf) {
			pr_perror("%s: can't allocate %zu bytes for a record", img->name, len);
			return -1;
		}
		protobuf_c_message_pack(msg, buf);
		hdr[0] = len;
		hdr[1] = img_crc32c(0, buf, len);
		if (write_all(img->fd, hdr, sizeof(hdr)) < 0 || write_all(img->fd, buf, len) < 0) {
			pr_perror("%s: can't write a record", img->name);
			img->werr = 1;
			return -1;
		}
		return 0;
	}
	uint8_t *p = (uint8_t *)img->wbuf + img->wlen + sizeof(hdr);
	protobuf_c_message_pack(msg, p);
	hdr[0] = len;
	hdr[1] = img_crc32c(0, p, len);
	memcpy(img->wbuf + img->wlen, hdr, sizeof(hdr));
	img->wlen += sizeof(hdr) + len;
	return 0;
}

int img_write(struct img *img, const void *msg)
{
	const ProtobufCMessage *m = msg;
	const ProtobufCMessageDescriptor *want = img_descs[img->type].desc;
	if (img->type != IMG_PAGEMAP && m->descriptor != want) {
		pr_err("%s: a %s record does not belong in this image\n", img->name, m->descriptor->name);
		errno = EINVAL;
		return -1;
	}
	return img_write_desc(img, m);
}

int img_read_desc(struct img *img, const ProtobufCMessageDescriptor *desc, void **ret_msg)
{
	uint32_t hdr[2];
	uint64_t left;
	cleanup_free uint8_t *buf = NULL;
	ProtobufCMessage *msg;

	if (img->mode != O_RDONLY || img->type == IMG_PAGES || !desc) {
		pr_err("%s: not a record image open for reading\n", img->name);
		errno = EINVAL;
		return -1;
	}
	if (img->off == img->size)
		return 0;
	left = img->size - img->off;
	if (left < sizeof(hdr)) {
		pr_err("%s: truncated at offset %llu: %llu bytes, too short for a record header\n",
		       img->name, (unsigned long long)img->off, (unsigned long long)left);
		errno = EBADMSG;
		return -1;
	}
	if (pread_all(img->fd, hdr, sizeof(hdr), img->off) < 0) {
		pr_perror("%s: can't read the record header at offset %llu", img->name,
			  (unsigned long long)img->off);
		return -1;
	}
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
		pr_perror("%s: can't read the record at offset %llu", img->name,
			  (unsigned long long)img->off);
		return -1;
	}
	if (img_crc32c(0, buf, hdr[0]) != hdr[1]) {
		pr_err("%s: record at offset %llu is corrupt (checksum mismatch)\n", img->name,
		       (unsigned long long)img->off);
		errno = EBADMSG;
		return -1;
	}
	msg = protobuf_c_message_unpack(desc, NULL, hdr[0], buf);
	if (!msg) {
		pr_err("%s: record at offset %llu is not a valid %s\n", img->name,
		       (unsigned long long)img->off, desc->name);
		errno = EBADMSG;
		return -1;
	}
	img->off += sizeof(hdr) + hdr[0];
	*ret_msg = msg;
	return 1;
}

int img_read(struct img *img, void **ret_msg)
{
	return img_read_desc(img, img_descs[img->type].desc, ret_msg);
}

int img_read_one(struct img *img, void **ret_msg)
{
	int ret = img_read(img, ret_msg);
	if (ret == 0) {
		pr_err("%s: empty image, one record expected\n", img->name);
		errno = EBADMSG;
		return -1;
	}
	return ret < 0 ? -1 : 0;
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
		pr_err("%s: pages are written whole to a pages image\n", img->name);
		errno = EINVAL;
		return -1;
	}
	if (write_all(img->fd, buf, len) < 0) {
		pr_perror("%s: can't write %zu bytes of pages", img->name, len);
		return -1;
	}
	img->off += len;
	return 0;
}

int img_pages_read(struct img *img, void *buf, size_t nr_pages, uint64_t page_idx)
{
	uint64_t have = (img->size - IMG_PAGES_HDR) / PAGE_SIZE;
	if (img->type != IMG_PAGES || img->mode != O_RDONLY) {
		pr_err("%s: not a pages image open for reading\n", img->name);
		errno = EINVAL;
		return -1;
	}
	if (page_idx > have || nr_pages > have - page_idx) {
		pr_err("%s: pages %llu..%llu requested, the image holds %llu\n", img->name,
		       (unsigned long long)page_idx, (unsigned long long)(page_idx + nr_pages),
		       (unsigned long long)have);
		errno = EBADMSG;
		return -1;
	}
	if (pread_all(img->fd, buf, nr_pages * PAGE_SIZE, IMG_PAGES_HDR + page_idx * PAGE_SIZE) < 0) {
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

InventoryEntry *img_read_inventory(int dfd)
{
	cleanup_img struct img *img = img_open(dfd, IMG_INVENTORY, O_RDONLY, 0);
	InventoryEntry *inv;

	if (!img) {
		pr_err("no inventory.img: not a complete dump directory\n");
		return NULL;
	}
	if (img_read_one(img, (void **)&inv) < 0)
		return NULL;
	if (inv->img_version != IMG_FORMAT_VERSION) {
		pr_err("inventory.img: image version %u, this criu-lite reads %u\n", inv->img_version,
		       IMG_FORMAT_VERSION);
		goto bad;
	}
	if (!inv->has_dump_complete || !inv->dump_complete) {
		pr_err("inventory.img: the dump did not complete; these images can't be restored\n");
		goto bad;
	}
	if (inv->has_page_size && inv->page_size != PAGE_SIZE) {
		pr_err("inventory.img: dumped with %u-byte pages, this machine uses %lu\n", inv->page_size,
		       PAGE_SIZE);
		goto bad;
	}
	return inv;
bad:
	inventory_entry__free_unpacked(inv, NULL);
	errno = EBADMSG;
	return NULL;
}
