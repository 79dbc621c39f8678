/* A BPF array map (4 entries, key 2 set) held at fd 79: not something
 * criu-lite carries, so the dump must fail naming fd 79 and what it is, and
 * leave the map as it was. */
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ztest.h"

#define FD_MAP 79

static long bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int map_op(int cmd, uint32_t key, uint64_t *val)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = FD_MAP;
	a.key = (unsigned long)&key;
	a.value = (unsigned long)val;
	return bpf(cmd, &a) ? -1 : 0;
}

int main(int argc, char **argv)
{
	union bpf_attr a;
	uint64_t v;
	int fd;

	test_init(argc, argv);
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = 4;
	fd = bpf(BPF_MAP_CREATE, &a);
	if (fd < 0 || dup2(fd, FD_MAP) != FD_MAP)
		fail("BPF_MAP_CREATE: %m");
	close(fd);
	v = 0xdead0002;
	if (map_op(BPF_MAP_UPDATE_ELEM, 2, &v))
		fail("BPF_MAP_UPDATE_ELEM: %m");

	test_ready();
	test_waitsig();
	if (test_self_fail) {
		v = 1;
		map_op(BPF_MAP_UPDATE_ELEM, 2, &v);
	}

	for (uint32_t k = 0; k < 4; k++) {
		v = 7;
		if (map_op(BPF_MAP_LOOKUP_ELEM, k, &v) || v != (k == 2 ? 0xdead0002 : 0))
			test_err("map[%u] is %#llx (%m)", k, (unsigned long long)v);
	}
	test_result();
}
