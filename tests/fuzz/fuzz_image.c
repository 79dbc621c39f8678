/*
 * libFuzzer target for the image reader: any bytes, as any image type, must give
 * records or a clean -1, never a crash, a hang or a huge allocation.
 * Build and run with tests/fuzz/run.sh (clang, ASan+UBSan).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "images/image.h"

static int read_records(struct img *img)
{
	const ProtobufCMessageDescriptor *desc = img_type_desc(img_get_type(img));
	void *msg;
	int ret;

	if (img_get_type(img) == IMG_PAGEMAP)
		desc = &pagemap_head__descriptor;
	while ((ret = img_read_desc(img, desc, &msg)) > 0) {
		/* what the reader hands out must pack again */
		size_t len = protobuf_c_message_get_packed_size(msg);
		void *buf = malloc(len ? len : 1);
		if (buf)
			protobuf_c_message_pack(msg, buf);
		free(buf);
		img_free_msg(img, msg);
		if (img_get_type(img) == IMG_PAGEMAP)
			desc = &pagemap_entry__descriptor;
	}
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int memfd = -1;
	static char path[64];
	static char page[PAGE_SIZE * 2];
	struct img *img;

	if (memfd < 0) {
		log_init(LOG_MSG, NULL); /* errors are expected: keep the output readable */
		memfd = memfd_create("fuzz-image", MFD_CLOEXEC);
		if (memfd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	if (ftruncate(memfd, 0) < 0 || pwrite_all(memfd, data, size, 0) < 0)
		abort();
	img = img_open_path(AT_FDCWD, path);
	if (!img)
		return 0;
	if (img_get_type(img) == IMG_PAGES) {
		int64_t n = img_pages_count(img);
		if (n > 0) {
			img_pages_read(img, page, 1, n - 1);
			img_pages_read(img, page, 2, n - 1);
		}
	} else {
		read_records(img);
	}
	img_close(img);
	return 0;
}
