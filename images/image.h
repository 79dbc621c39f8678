/*
 * The image reader/writer: the only module that calls protobuf-c pack/unpack.
 *
 * A record image is:   u32 magic | u32 format version | records... | end marker
 * and each record:     u32 payload length | u32 crc32c(payload) | payload (protobuf)
 * The end marker:      u32 0x21444e45 ("END!") | u32 number of records; img_close()
 *                      writes it, and a reader reports a file without it as truncated.
 * A pages image is:    a 4096-byte header (u32 magic, u32 version, u32 page size, zeros)
 *                      followed by raw pages; each page's crc32c is in the pagemap entry.
 *
 * Everything read is bounded before it is used: a record longer than IMG_MAX_RECORD,
 * a truncated file, a bad magic or checksum is an error naming the file.
 */
#ifndef CRIU_LITE_IMAGE_H
#define CRIU_LITE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#include "images/magic.h"
#include "images/inventory.pb-c.h"
#include "images/pstree.pb-c.h"
#include "images/core.pb-c.h"
#include "images/task.pb-c.h"
#include "images/creds.pb-c.h"
#include "images/mm.pb-c.h"
#include "images/pagemap.pb-c.h"
#include "images/shmem.pb-c.h"
#include "images/files.pb-c.h"
#include "images/ns.pb-c.h"

#define IMG_MAX_RECORD (16u << 20)     /* a single record's payload */
#define IMG_PAGES_HDR 4096u

/* Explicit numbers: image types. */
enum img_type {
	IMG_INVENTORY = 1, /* inventory.img            */
	IMG_PSTREE = 2,    /* pstree.img               */
	IMG_CORE = 3,      /* core-TID.img             */
	IMG_TASK = 4,      /* task-PID.img             */
	IMG_CREDS = 5,     /* creds-PID.img            */
	IMG_MM = 6,        /* mm-PID.img               */
	IMG_PAGEMAP = 7,   /* pagemap-ID.img (head + entries) */
	IMG_PAGES = 8,     /* pages-ID.img (raw)       */
	IMG_SHMEM = 9,     /* shmem.img                */
	IMG_FILES = 10,    /* files.img                */
	IMG_FDINFO = 11,   /* fdinfo-PID.img           */
	IMG_FILE_DATA = 12, /* file-data.img: ghost file contents */
	IMG_NS = 13,        /* ns.img                   */
	IMG_TMPFS = 14,     /* tmpfs-ID.img             */
	IMG_SECCOMP = 15,   /* seccomp.img              */
	IMG_TYPE_MAX = 16,
};

/* VMA kinds and flags (see mm.proto). */
#define VMA_KIND_ANON_PRIVATE 1
#define VMA_KIND_FILE_PRIVATE 2
#define VMA_KIND_FILE_SHARED 3
#define VMA_KIND_SHMEM 4
#define VMA_KIND_VDSO 5
#define VMA_KIND_VVAR 6
#define VMA_KIND_VVAR_VCLOCK 7
#define VMA_KIND_VSYSCALL 8
#define VMA_KIND_STACK 9
#define VMA_KIND_HEAP 10
#define VMA_KIND_AIO 11 /* an AIO ring (io_setup): its pages in the task's set */
#define VMA_KIND_MAX 11

#define VMA_STATUS_LAZY 0x1
#define VMA_STATUS_GUARD 0x2
#define VMA_STATUS_INHERITED 0x4 /* holds pages of the parent's VMA of the same range (PE_PARENT) */

/* pagemap_entry.flags */
#define PE_PRESENT 0x1
#define PE_ZERO 0x2
#define PE_LAZY 0x4
#define PE_PARENT 0x8 /* the parent's page, shared copy-on-write: no data here */
#define PE_FLAGS_ALL 0xf

/* shmem_entry.kind */
#define SHMEM_KIND_ANON 1
#define SHMEM_KIND_MEMFD 2
#define SHMEM_KIND_FILE 3
#define SHMEM_KIND_SYSV 4 /* a System V shared memory segment (ns.img ipc_shm_entry) */

/* file_entry.type */
#define FILE_TYPE_REG 1
#define FILE_TYPE_DIR 2
#define FILE_TYPE_CHR 3
#define FILE_TYPE_PIPE 4
#define FILE_TYPE_SOCKET 5 /* a unix socket */
#define FILE_TYPE_MEMFD 6  /* an fd of a shmem object: memfd, /dev/zero, unlinked tmpfs file */
#define FILE_TYPE_EVENTFD 7
#define FILE_TYPE_EPOLL 8
#define FILE_TYPE_SIGNALFD 9
#define FILE_TYPE_TIMERFD 10
#define FILE_TYPE_ANON 11 /* not used: an anonymous inode criu-lite does not know is refused at dump */
#define FILE_TYPE_FIFO 12
#define FILE_TYPE_INOTIFY 13
#define FILE_TYPE_MAX 13
/* sockets of the network families (net.proto): numbers of their own, apart */
#define FILE_TYPE_INET 60    /* AF_INET, AF_INET6: TCP, UDP, raw */
#define FILE_TYPE_NETLINK 61
#define FILE_TYPE_PACKET 62

struct img;

/* Name, magic and message descriptor of an image type; NULL for an unknown type. */
const char *img_type_name(enum img_type type);
uint32_t img_type_magic(enum img_type type);
const ProtobufCMessageDescriptor *img_type_desc(enum img_type type);
/* Guess the type of a file from its name ("core-12.img" -> IMG_CORE); -1 if unknown. */
int img_type_from_name(const char *name);
/* The type whose magic this is; -1 if none. */
int img_type_from_magic(uint32_t magic);

/*
 * Open an image in directory dfd. The file name is made from the type and id:
 * IMG_CORE, 42 -> "core-42.img"; ids are ignored for singleton images.
 * IMG_PAGEMAP/IMG_PAGES use img_open_named() for non-numeric ids ("shmem-3").
 * mode is O_RDONLY or O_WRONLY (create, truncate). Returns NULL (logged) on error.
 * A reader whose file does not exist returns NULL with errno ENOENT and logs
 * nothing when flags has IMG_OPT_MISSING_OK.
 */
#define IMG_OPT_MISSING_OK 0x100000
struct img *img_open(int dfd, enum img_type type, int mode, unsigned long id);
struct img *img_open_named(int dfd, enum img_type type, int mode, const char *id);
/* Open an existing file by path, the type taken from its magic (for `show`). */
struct img *img_open_path(int dfd, const char *path);
/* Flush (writers), close and free. Returns -1 if a buffered write failed. NULL is fine.
 * For a writer this commits the image (writes its end marker). */
int img_close(struct img *img);
/* cleanup_img: close and free; a writer not committed with img_close() is abandoned
 * (no end marker is written, so readers reject the partial image). */
void img_closep(struct img **img);
#define cleanup_img __attribute__((cleanup(img_closep)))

enum img_type img_get_type(const struct img *img);
const char *img_name(const struct img *img);
int img_fd(const struct img *img);

/* Append one message; it must be of the image type's descriptor. 0 or -1 (logged). */
int img_write(struct img *img, const void *msg);
/*
 * Read the next message. Returns 1 with *ret_msg set (free with img_free_msg),
 * 0 at a clean end of file, -1 on any error (logged, naming the file and offset).
 */
int img_read(struct img *img, void **ret_msg);
/* Read exactly one message (a singleton image); an empty image, or a second record, is an error. */
int img_read_one(struct img *img, void **ret_msg);
void img_free_msg(struct img *img, void *msg);
/* Generic variants taking any descriptor (pagemap images hold two message types). */
int img_write_desc(struct img *img, const ProtobufCMessage *msg);
int img_read_desc(struct img *img, const ProtobufCMessageDescriptor *desc, void **ret_msg);

/* Raw pages. Writers append whole pages; readers read at a page index. 0 or -1 (logged). */
int img_pages_write(struct img *img, const void *buf, size_t len);
int img_pages_read(struct img *img, void *buf, size_t nr_pages, uint64_t page_idx);
/* Number of pages in a pages image (from its size). */
int64_t img_pages_count(struct img *img);

/* The names of the image files (*.img of a known type) in dfd, sorted by name.
 * 0 or -1 (logged). Free with img_free_names. */
int img_list_dir(int dfd, char ***ret_names, size_t *ret_nr);
void img_free_names(char **names, size_t nr);

#endif
