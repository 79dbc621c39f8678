/*
 * criu-lite show FILE|DIR [--pages] [--full]: print images as JSON.
 *
 * Records are printed generically from their protobuf-c descriptors, so a new
 * field shows up without touching this file. The whole output is built in
 * memory and written only when every image was read: a corrupt image gives
 * exit status 1 and an error naming it, never half a JSON document.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "show: "
#include "lib/crc32c.h"
#include "lib/log.h"
#include "lib/util.h"
#include "images/image.h"
#include "images/imgset.h"
#include "criu-lite/show.h"

/* bytes fields longer than this are cut (with a length note) unless --full */
#define SHOW_BYTES_MAX 32
/* pages read at once for --pages */
#define SHOW_PAGES_BATCH 256

struct show_ctx {
	FILE *out;
	bool pages; /* --pages: the crc32c of every page of pages images */
	bool full;  /* --full: bytes fields in full */
};

static void indent(struct show_ctx *c, int depth)
{
	fputc('\n', c->out);
	for (int i = 0; i < depth; i++)
		fputs("  ", c->out);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp, min;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string. Bytes that are not valid UTF-8 print as the code point of the
 * same value (\u00XX), so that the output is always valid JSON. */
static void json_str(struct show_ctx *c, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', c->out);
	for (size_t i = 0; i < n;) {
		unsigned char ch = s[i];
		size_t l;

		switch (ch) {
		case '"':
			fputs("\\\"", c->out);
			break;
		case '\\':
			fputs("\\\\", c->out);
			break;
		case '\n':
			fputs("\\n", c->out);
			break;
		case '\r':
			fputs("\\r", c->out);
			break;
		case '\t':
			fputs("\\t", c->out);
			break;
		default:
			if (ch < 0x20 || ch == 0x7f) {
				fprintf(c->out, "\\u%04x", ch);
				break;
			}
			l = utf8_seq(s + i, n - i);
			if (!l) {
				fprintf(c->out, "\\u%04x", ch);
				break;
			}
			fwrite(s + i, 1, l, c->out);
			i += l;
			continue;
		}
		i++;
	}
	fputc('"', c->out);
}

static void json_cstr(struct show_ctx *c, const char *s)
{
	json_str(c, s, strlen(s));
}

static void show_bytes(struct show_ctx *c, const ProtobufCBinaryData *b)
{
	size_t n = b->len;

	if (!c->full && n > SHOW_BYTES_MAX)
		n = SHOW_BYTES_MAX;
	fputc('"', c->out);
	for (size_t i = 0; i < n; i++)
		fprintf(c->out, "%02x", b->data[i]);
	if (n < b->len)
		fprintf(c->out, "... (%zu bytes, --full shows all)", b->len);
	fputc('"', c->out);
}

static void show_double(struct show_ctx *c, double v)
{
	if (isfinite(v))
		fprintf(c->out, "%.17g", v);
	else
		fputs("null", c->out); /* JSON has no NaN or infinity */
}

static int show_message(struct show_ctx *c, const ProtobufCMessage *m, int depth);

/* One value of a field; p points at it (an element of the array for repeated fields). */
static int show_value(struct show_ctx *c, const ProtobufCFieldDescriptor *f, const void *p,
		      int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		fprintf(c->out, "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		fprintf(c->out, "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		fprintf(c->out, "%" PRId64, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		fprintf(c->out, "%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		show_double(c, *(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		show_double(c, *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		fputs(*(const protobuf_c_boolean *)p ? "true" : "false", c->out);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value((const ProtobufCEnumDescriptor *)f->descriptor, v);
		if (ev)
			json_cstr(c, ev->name);
		else
			fprintf(c->out, "%d", v);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		if (s)
			json_cstr(c, s);
		else
			fputs("null", c->out);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES:
		show_bytes(c, p);
		break;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
		if (!sub) {
			fputs("null", c->out);
			break;
		}
		return show_message(c, sub, depth);
	}
	default:
		pr_err("field %s has an unknown protobuf type %d\n", f->name, f->type);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static size_t elem_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return 4;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* Whether a non-repeated field is set (the rules protobuf-c packs by). */
static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	const void *member = base + f->offset;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED || f->label == PROTOBUF_C_LABEL_NONE)
		return true;
	/* optional */
	if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) {
		const void *ptr = *(const void *const *)member;
		return ptr && ptr != f->default_value;
	}
	return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
}

static bool is_scalar(ProtobufCType type)
{
	return type != PROTOBUF_C_TYPE_MESSAGE && type != PROTOBUF_C_TYPE_BYTES &&
	       type != PROTOBUF_C_TYPE_STRING;
}

static int show_message(struct show_ctx *c, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	bool first = true;

	fputc('{', c->out);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(const char *const *)(base + f->offset);
			size_t sz = elem_size(f->type);

			if (!n)
				continue;
			if (!arr || !sz) {
				pr_err("%s.%s: %zu elements and no array\n", d->name, f->name, n);
				errno = EINVAL;
				return -1;
			}
			fputs(first ? "" : ",", c->out);
			indent(c, depth + 1);
			json_cstr(c, f->name);
			fputs(": [", c->out);
			for (size_t k = 0; k < n; k++) {
				if (k)
					fputc(',', c->out);
				if (is_scalar(f->type))
					fputs(k ? " " : "", c->out);
				else
					indent(c, depth + 2);
				if (show_value(c, f, arr + k * sz, depth + 2) < 0)
					return -1;
			}
			if (!is_scalar(f->type))
				indent(c, depth + 1);
			fputc(']', c->out);
		} else {
			if (!field_present(m, f))
				continue;
			fputs(first ? "" : ",", c->out);
			indent(c, depth + 1);
			json_cstr(c, f->name);
			fputs(": ", c->out);
			if (show_value(c, f, base + f->offset, depth + 1) < 0)
				return -1;
		}
		first = false;
	}
	if (m->n_unknown_fields) {
		/* written by a newer criu-lite: say so rather than hide it */
		fputs(first ? "" : ",", c->out);
		indent(c, depth + 1);
		fprintf(c->out, "\"_unknown_fields\": [");
		for (unsigned k = 0; k < m->n_unknown_fields; k++)
			fprintf(c->out, "%s%" PRIu32, k ? ", " : "", m->unknown_fields[k].tag);
		fputc(']', c->out);
		first = false;
	}
	if (!first)
		indent(c, depth);
	fputc('}', c->out);
	return 0;
}

/* The records of a record image, as a JSON array. */
static int show_records(struct show_ctx *c, struct img *img, int depth)
{
	const ProtobufCMessageDescriptor *desc = img_type_desc(img_get_type(img));
	uint64_t nr = 0;
	void *msg;
	int ret;

	if (img_get_type(img) == IMG_PAGEMAP)
		desc = &pagemap_head__descriptor; /* then pagemap_entry records */
	fputc('[', c->out);
	while ((ret = img_read_desc(img, desc, &msg)) > 0) {
		fputs(nr ? "," : "", c->out);
		indent(c, depth + 1);
		ret = show_message(c, msg, depth + 1);
		img_free_msg(img, msg);
		if (ret < 0)
			return -1;
		nr++;
		if (img_get_type(img) == IMG_PAGEMAP)
			desc = &pagemap_entry__descriptor;
	}
	if (ret < 0)
		return -1;
	if (nr)
		indent(c, depth);
	fputc(']', c->out);
	return 0;
}

/* A pages image: page count and bytes; with --pages the crc32c of every page. */
static int show_pages(struct show_ctx *c, struct img *img, int depth)
{
	int64_t nr = img_pages_count(img);
	cleanup_free char *buf = NULL;

	if (nr < 0) {
		pr_err("%s: can't count its pages\n", img_name(img));
		errno = EINVAL;
		return -1;
	}
	fputc('{', c->out);
	indent(c, depth + 1);
	fprintf(c->out, "\"page_size\": %lu,", PAGE_SIZE);
	indent(c, depth + 1);
	fprintf(c->out, "\"pages\": %" PRId64 ",", nr);
	indent(c, depth + 1);
	fprintf(c->out, "\"bytes\": %" PRIu64, (uint64_t)nr * PAGE_SIZE);
	if (c->pages) {
		buf = malloc(SHOW_PAGES_BATCH * PAGE_SIZE);
		if (!buf) {
			pr_perror("%s: can't allocate a page buffer", img_name(img));
			return -1;
		}
		fputc(',', c->out);
		indent(c, depth + 1);
		fputs("\"crc32c\": [", c->out);
		for (int64_t i = 0; i < nr; i += SHOW_PAGES_BATCH) {
			size_t n = MIN((uint64_t)(nr - i), (uint64_t)SHOW_PAGES_BATCH);
			if (img_pages_read(img, buf, n, i) < 0)
				return -1;
			for (size_t k = 0; k < n; k++) {
				if (i + k)
					fputc(',', c->out);
				if ((i + k) % 8 == 0)
					indent(c, depth + 2);
				else
					fputc(' ', c->out);
				fprintf(c->out, "\"%08x\"",
					crc32c(0, buf + k * PAGE_SIZE, PAGE_SIZE));
			}
		}
		if (nr)
			indent(c, depth + 1);
		fputc(']', c->out);
	}
	indent(c, depth);
	fputc('}', c->out);
	return 0;
}

static int show_img(struct show_ctx *c, struct img *img, int depth)
{
	if (img_get_type(img) == IMG_PAGES)
		return show_pages(c, img, depth);
	return show_records(c, img, depth);
}

static int show_file(struct show_ctx *c, int dfd, const char *path)
{
	cleanup_img struct img *img = img_open_path(dfd, path);

	if (!img)
		return -1;
	if (show_img(c, img, 0) < 0)
		return -1;
	fputc('\n', c->out);
	return 0;
}

static int show_dir(struct show_ctx *c, int dfd)
{
	char **names = NULL;
	size_t nr = 0;
	int ret = -1;

	/* the validator restore uses: a directory restore would refuse is not shown */
	if (img_check_dir(dfd) < 0 || img_list_dir(dfd, &names, &nr) < 0)
		return -1;
	fputc('{', c->out);
	for (size_t i = 0; i < nr; i++) {
		cleanup_img struct img *img = img_open_path(dfd, names[i]);

		if (!img)
			goto out;
		fputs(i ? "," : "", c->out);
		indent(c, 1);
		json_cstr(c, names[i]);
		fputs(": ", c->out);
		if (show_img(c, img, 1) < 0)
			goto out;
	}
	if (nr)
		indent(c, 0);
	fputs("}\n", c->out);
	ret = 0;
out:
	img_free_names(names, nr);
	return ret;
}

/* Show path (relative to dfd) into out. 0 or -1 (logged). */
static int show_path(struct show_ctx *c, int dfd, const char *path)
{
	struct stat st;
	cleanup_close int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0) {
		pr_perror("can't open %s", path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		pr_perror("can't stat %s", path);
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return show_dir(c, fd);
	if (!S_ISREG(st.st_mode)) {
		pr_err("%s: not an image file or a directory\n", path);
		errno = EINVAL;
		return -1;
	}
	return show_file(c, dfd, path);
}

int cr_show(const struct cr_options *o)
{
	struct show_ctx c = { .pages = o->show_pages, .full = o->show_full };
	cleanup_free char *out = NULL;
	size_t out_len = 0;
	int ret;

	if (!o->show_path) {
		pr_err("show: a FILE or DIR is expected\n");
		errno = EINVAL;
		return -1;
	}
	c.out = open_memstream(&out, &out_len);
	if (!c.out) {
		pr_perror("can't allocate the output buffer");
		return -1;
	}
	ret = show_path(&c, AT_FDCWD, o->show_path);
	if (fclose(c.out) != 0 && ret == 0) {
		pr_perror("can't build the output (out of memory?)");
		ret = -1;
	}
	if (ret < 0)
		return -1;
	fflush(stdout);
	if (write_all(STDOUT_FILENO, out, out_len) < 0) {
		pr_perror("can't write the output");
		return -1;
	}
	return 0;
}
