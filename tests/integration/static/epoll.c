/* epoll: an interest list over a pipe with data, a socketpair end, eventfds
 * (level- and edge-triggered, a fired EPOLLONESHOT one, one never ready), an fd
 * watched then dup'ed, and an fd watched then closed while its file stays open
 * through a dup, its number then reused by another eventfd. After restore the
 * list (fdinfo: tfd, events, data) is the same, and epoll_wait reports exactly
 * what it would have: the pending edge once, the disarmed one-shot never, the
 * closed fd's entry still (with its data, for the old file, not the new one at
 * its number). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ztest.h"

enum { D_PIPE = 0x1111, D_ET = 0x2222, D_SOCK = 0x3333, D_IDLE = 0x4444, D_ONESHOT = 0x5555,
       D_DUPED = 0x6666, D_CLOSED = 0x7777 };

static int epfd;
static char list_before[4096];

static void add(int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		fail("epoll_ctl(ADD, %d): %m", fd);
}

struct entry {
	int tfd;
	unsigned events;
	unsigned long long data;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->tfd != y->tfd)
		return x->tfd < y->tfd ? -1 : 1;
	return x->data < y->data ? -1 : x->data > y->data;
}

/* the interest list from fdinfo: "tfd: N events: X data: Y" of each entry, sorted
 * (fdinfo lists them in the order of the kernel's tree, keyed by the address of
 * each watched file: an order that no restore can keep) */
static void interest_list(char *out, size_t len)
{
	char p[64], *s, *l;
	struct entry e[32];
	int n = 0;

	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", epfd);
	s = zt_read_file(p, NULL);
	out[0] = 0;
	if (!s)
		return;
	for (l = strtok(s, "\n"); l; l = strtok(NULL, "\n"))
		if (n < 32 && sscanf(l, "tfd: %d events: %x data: %llx", &e[n].tfd, &e[n].events, &e[n].data) == 3)
			n++;
	qsort(e, n, sizeof(e[0]), cmp_entry);
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%d:%x:%llx ", e[i].tfd, e[i].events, e[i].data);
	free(s);
}

/* epoll_wait (not blocking): the (data, events) reported, sorted by data */
static int wait_all(struct epoll_event *evs)
{
	int n = epoll_wait(epfd, evs, 16, 0);

	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && evs[j - 1].data.u64 > evs[j].data.u64; j--) {
			struct epoll_event t = evs[j];
			evs[j] = evs[j - 1];
			evs[j - 1] = t;
		}
	return n;
}

static void expect(const char *when, const uint64_t *data, const uint32_t *events, int n)
{
	struct epoll_event evs[16];
	int got = wait_all(evs);

	if (got != n) {
		char s[256] = "";

		for (int i = 0; i < got; i++)
			snprintf(s + strlen(s), sizeof(s) - strlen(s), " %llx/%x",
				 (unsigned long long)evs[i].data.u64, evs[i].events);
		test_err("%s: epoll_wait reported %d events (want %d):%s", when, got, n, s);
		return;
	}
	for (int i = 0; i < n; i++)
		if (evs[i].data.u64 != data[i] || evs[i].events != events[i])
			test_err("%s: event %d is %llx/%x, want %llx/%x", when, i,
				 (unsigned long long)evs[i].data.u64, evs[i].events,
				 (unsigned long long)data[i], events[i]);
}

int main(int argc, char **argv)
{
	int pp[2], sp[2], et, idle, oneshot, duped, duped2, closed, closed2, reused;
	uint64_t one = 1;
	char list_after[4096];

	test_init(argc, argv);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0 || pipe(pp) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		fail("epoll/pipe/socketpair: %m");
	et = eventfd(0, EFD_NONBLOCK);
	idle = eventfd(0, EFD_NONBLOCK);
	oneshot = eventfd(1, EFD_NONBLOCK);
	duped = eventfd(1, EFD_NONBLOCK);
	closed = eventfd(1, EFD_NONBLOCK);
	if (et < 0 || idle < 0 || oneshot < 0 || duped < 0 || closed < 0)
		fail("eventfd: %m");
	if (write(pp[1], "data", 4) != 4)
		fail("write: %m");
	add(pp[0], EPOLLIN, D_PIPE);
	add(et, EPOLLIN | EPOLLET, D_ET);
	add(sp[0], EPOLLIN | EPOLLOUT | EPOLLRDHUP, D_SOCK);
	add(idle, EPOLLIN, D_IDLE);
	add(oneshot, EPOLLIN | EPOLLONESHOT, D_ONESHOT);
	add(duped, EPOLLIN, D_DUPED);
	add(closed, EPOLLIN, D_CLOSED);
	duped2 = dup(duped);
	closed2 = dup(closed);
	/* closed, and its number reused by another file at once (dup2 closes
	 * it); the entry stays: the file is still open through closed2 */
	reused = eventfd(0, EFD_NONBLOCK);
	if (reused < 0 || dup2(reused, closed) != closed)
		fail("eventfd/dup2: %m");
	close(reused);
	{
		/* fire the one-shot (it is disarmed now), then make the edge pending */
		const uint64_t d[] = { D_PIPE, D_SOCK, D_ONESHOT, D_DUPED, D_CLOSED };
		const uint32_t e[] = { EPOLLIN, EPOLLOUT, EPOLLIN, EPOLLIN, EPOLLIN };

		expect("before the checkpoint", d, e, 5);
	}
	if (write(et, &one, 8) != 8)
		fail("write: %m");
	interest_list(list_before, sizeof(list_before));

	test_ready();
	test_waitsig();
	if (test_self_fail)
		epoll_ctl(epfd, EPOLL_CTL_DEL, pp[0], NULL);

	interest_list(list_after, sizeof(list_after));
	if (strcmp(list_before, list_after))
		test_err("interest list: [%s], was [%s]", list_after, list_before);
	{
		const uint64_t d[] = { D_PIPE, D_ET, D_SOCK, D_DUPED, D_CLOSED };
		const uint32_t e[] = { EPOLLIN, EPOLLIN, EPOLLOUT, EPOLLIN, EPOLLIN };

		expect("after restore", d, e, 5);
	}
	{
		/* the edge was reported once; level-triggered ones stay */
		const uint64_t d[] = { D_PIPE, D_SOCK, D_DUPED, D_CLOSED };
		const uint32_t e[] = { EPOLLIN, EPOLLOUT, EPOLLIN, EPOLLIN };

		expect("after restore, second wait", d, e, 4);
	}
	/* the entries are keyed by (file, fd): duped2 and closed2 are not registered */
	{
		struct epoll_event ev = { .events = EPOLLIN };

		if (epoll_ctl(epfd, EPOLL_CTL_MOD, duped2, &ev) != -1 || errno != ENOENT)
			test_err("the dup of a watched fd is registered (%m)");
		if (epoll_ctl(epfd, EPOLL_CTL_DEL, closed2, NULL) != -1 || errno != ENOENT)
			test_err("the dup of the closed watched fd is registered (%m)");
		/* the file now at the closed fd's number is not the watched one */
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, closed, &ev) != -1 || errno != ENOENT)
			test_err("the file reusing the closed fd's number is registered (%m)");
		{
			uint64_t v;

			if (read(closed, &v, 8) != -1 || errno != EAGAIN || read(closed2, &v, 8) != 8 || v != 1)
				test_err("the closed fd's number is not the new (empty) eventfd, or the "
					 "watched file (count 1) is not behind the dup");
			if (write(closed2, &v, 8) != 8)
				test_err("write: %m");
		}
		ev.data.u64 = D_DUPED;
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, duped, &ev))
			test_err("the watched fd is not registered: %m");
	}
	/* new events: the idle eventfd, a re-armed one-shot, new socket data, hangup */
	{
		struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = D_ONESHOT };
		const uint64_t d[] = { D_PIPE, D_SOCK, D_IDLE, D_ONESHOT, D_DUPED, D_CLOSED };
		const uint32_t e[] = { EPOLLIN, EPOLLIN | EPOLLOUT | EPOLLRDHUP, EPOLLIN, EPOLLIN, EPOLLIN,
				       EPOLLIN };

		if (write(idle, &one, 8) != 8 || epoll_ctl(epfd, EPOLL_CTL_MOD, oneshot, &ev) ||
		    write(sp[1], "x", 1) != 1 || shutdown(sp[1], SHUT_WR))
			test_err("new events: %m");
		expect("new events", d, e, 6);
	}
	test_result();
}
