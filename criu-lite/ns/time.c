/* The time namespace (see time.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_PREFIX "ns/time: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/ns/time.h"

#define NSEC_PER_SEC 1000000000LL

static int64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* The offsets of pid's time namespace: 0 or -1 (logged). */
static int read_offsets(pid_t pid, int64_t *mono, int64_t *boot)
{
	char path[64];
	cleanup_free char *s = NULL;
	char *line, *save = NULL;

	*mono = *boot = 0;
	snprintf(path, sizeof(path), "/proc/%d/timens_offsets", pid);
	s = read_file_str(AT_FDCWD, path, 4096, NULL);
	if (!s)
		return -1;
	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[32];
		long long sec, nsec;
		if (sscanf(line, "%31s %lld %lld", name, &sec, &nsec) != 3) {
			pr_err("%s: can't parse '%s'\n", path, line);
			errno = EINVAL;
			return -1;
		}
		if (!strcmp(name, "monotonic") || !strcmp(name, "1"))
			*mono = sec * NSEC_PER_SEC + nsec;
		else if (!strcmp(name, "boottime") || !strcmp(name, "7"))
			*boot = sec * NSEC_PER_SEC + nsec;
	}
	return 0;
}

int ns_time_dump(pid_t pid, bool own, uint64_t ino, struct img *img)
{
	NsEntry ne = NS_ENTRY__INIT;
	NsTimeEntry te = NS_TIME_ENTRY__INIT;
	int64_t mono = 0, boot = 0;

	if (own && read_offsets(pid, &mono, &boot) < 0)
		return -1;
	te.monotonic_ns = clock_ns(CLOCK_MONOTONIC) + mono;
	te.boottime_ns = clock_ns(CLOCK_BOOTTIME) + boot;
	ne.kind = NS_KIND_TIME;
	ne.has_ino = own;
	ne.ino = ino;
	ne.time = &te;
	pr_info("clocks of the tree: monotonic %" PRId64 " ns, boottime %" PRId64 " ns\n", te.monotonic_ns,
		te.boottime_ns);
	return img_write(img, &ne);
}

static void fmt_offset(char *buf, size_t len, const char *name, int64_t off)
{
	int64_t sec = off / NSEC_PER_SEC, nsec = off % NSEC_PER_SEC;

	if (nsec < 0) {
		nsec += NSEC_PER_SEC;
		sec--;
	}
	snprintf(buf, len, "%s %" PRId64 " %" PRId64 "\n", name, sec, nsec);
}

int ns_time_prepare(const NsEntry *e, int *ret_back, int64_t *ret_mono)
{
	cleanup_close int back = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
	cleanup_close int fd = -1;
	char line[2][96];

	if (back < 0) {
		pr_perror("can't open our time namespace");
		return -1;
	}
	if (unshare(CLONE_NEWTIME) < 0) {
		pr_perror("can't create a time namespace");
		return -1;
	}
	/* from here on, a failure must put our children back into our namespace */
	*ret_mono = e->time->monotonic_ns - clock_ns(CLOCK_MONOTONIC);
	fmt_offset(line[0], sizeof(line[0]), "monotonic", *ret_mono);
	fmt_offset(line[1], sizeof(line[1]), "boottime", e->time->boottime_ns - clock_ns(CLOCK_BOOTTIME));
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	for (int i = 0; i < 2; i++)
		if (fd < 0 || write_all(fd, line[i], strlen(line[i])) < 0) {
			pr_perror("can't set the time namespace offset %.*s", (int)strcspn(line[i], "\n"), line[i]);
			setns(back, CLONE_NEWTIME);
			return -1;
		}
	pr_info("time namespace: %.*s, %.*s\n", (int)strcspn(line[0], "\n"), line[0], (int)strcspn(line[1], "\n"),
		line[1]);
	*ret_back = steal_fd(&back);
	return 0;
}

int ns_time_return(int back)
{
	if (back >= 0 && setns(back, CLONE_NEWTIME) < 0) {
		pr_perror("can't return to our time namespace");
		return -1;
	}
	return 0;
}
