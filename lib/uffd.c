/* userfaultfd: the ioctl wrappers and the triage of their results (see uffd.h). */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/uffd.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

int uffd_open_syscall(int flags)
{
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | flags);
	return fd >= 0 ? fd : -errno;
}

int uffd_open_dev(int flags)
{
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC), fd, e;

	if (dev < 0)
		return -errno;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK | flags);
	e = errno;
	close(dev);
	return fd >= 0 ? fd : -e;
}

int uffd_open(int flags)
{
	int fd = uffd_open_syscall(flags);

	if (fd >= 0)
		return fd;
	int dfd = uffd_open_dev(flags);
	return dfd >= 0 ? dfd : fd;
}

int uffd_api(int fd, uint64_t features, uint64_t *ret_features, uint64_t *ret_ioctls)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };

	if (ioctl(fd, UFFDIO_API, &api))
		return -errno;
	if (ret_features)
		*ret_features = api.features;
	if (ret_ioctls)
		*ret_ioctls = api.ioctls;
	return 0;
}

int uffd_probe_features(uint64_t *ret_features)
{
	int fd = uffd_open(0);
	if (fd < 0)
		return fd;
	int ret = uffd_api(fd, 0, ret_features, NULL);
	close(fd);
	return ret;
}

int uffd_register(int fd, uint64_t start, uint64_t len, uint64_t mode, uint64_t *ret_ioctls)
{
	struct uffdio_register reg = { .range = { start, len }, .mode = mode };

	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		return -errno;
	if (ret_ioctls)
		*ret_ioctls = reg.ioctls;
	return 0;
}

int uffd_unregister(int fd, uint64_t start, uint64_t len)
{
	struct uffdio_range r = { start, len };
	return ioctl(fd, UFFDIO_UNREGISTER, &r) ? -errno : 0;
}

int uffd_copy(int fd, uint64_t dst, const void *src, uint64_t len, uint64_t mode, int64_t *ret_done)
{
	struct uffdio_copy c = { .dst = dst, .src = (uint64_t)(uintptr_t)src, .len = len, .mode = mode };
	int ret = ioctl(fd, UFFDIO_COPY, &c) ? -errno : 0;

	*ret_done = c.copy > 0 ? c.copy : 0;
	return ret;
}

int uffd_zeropage(int fd, uint64_t dst, uint64_t len, uint64_t mode, int64_t *ret_done)
{
	struct uffdio_zeropage z = { .range = { dst, len }, .mode = mode };
	int ret = ioctl(fd, UFFDIO_ZEROPAGE, &z) ? -errno : 0;

	*ret_done = z.zeropage > 0 ? z.zeropage : 0;
	return ret;
}

int uffd_continue(int fd, uint64_t dst, uint64_t len, uint64_t mode, int64_t *ret_done)
{
	struct uffdio_continue c = { .range = { dst, len }, .mode = mode };
	int ret = ioctl(fd, UFFDIO_CONTINUE, &c) ? -errno : 0;

	*ret_done = c.mapped > 0 ? c.mapped : 0;
	return ret;
}

int uffd_writeprotect(int fd, uint64_t start, uint64_t len, uint64_t mode)
{
	struct uffdio_writeprotect w = { .range = { start, len }, .mode = mode };
	return ioctl(fd, UFFDIO_WRITEPROTECT, &w) ? -errno : 0;
}

int uffd_wake(int fd, uint64_t start, uint64_t len)
{
	struct uffdio_range r = { start, len };
	return ioctl(fd, UFFDIO_WAKE, &r) ? -errno : 0;
}

enum uffd_outcome uffd_triage(int ret)
{
	switch (ret) {
	case 0:
		return UFFD_OK;
	case -EEXIST:
		return UFFD_EXISTS;
	case -EAGAIN:
		return UFFD_AGAIN;
	case -ENOENT:
		return UFFD_NOENT;
	case -ESRCH:
	case -ENOSPC: /* kernels before 4.18 (ESRCH since) */
		return UFFD_GONE;
	default:
		return UFFD_FAIL;
	}
}
