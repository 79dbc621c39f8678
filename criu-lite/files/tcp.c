/* TCP connections through TCP_REPAIR (see tcp.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_PREFIX "tcp: "
#include "lib/log.h"
#include "lib/util.h"
#include "criu-lite/files/files.h"
#include "criu-lite/files/sockopt.h"
#include "criu-lite/files/tcp.h"
#include "criu-lite/netlock.h"

#define TCP_MAXSEG_MAX 32767u /* what setsockopt(TCP_MAXSEG) takes (MAX_TCP_WINDOW) */

#ifndef TCPOPT_SACK_PERM
#define TCPOPT_SACK_PERM TCPOPT_SACK_PERMITTED
#endif

/* What our FIN and the peer's mean in each state. */
#define TCPF(s) (1u << (s))
#define FIN_SENT (TCPF(TCP_FIN_WAIT1) | TCPF(TCP_FIN_WAIT2) | TCPF(TCP_CLOSING) | TCPF(TCP_LAST_ACK))
#define FIN_ACKED TCPF(TCP_FIN_WAIT2)
#define FIN_RCVD (TCPF(TCP_CLOSE_WAIT) | TCPF(TCP_CLOSING) | TCPF(TCP_LAST_ACK))

int tcp_repair(int fd, int on, const char *what)
{
	if (setsockopt(fd, SOL_TCP, TCP_REPAIR, &on, sizeof(on)) < 0) {
		pr_perror("%s: can't turn repair mode %s", what, on > 0 ? "on" : "off");
		return -1;
	}
	return 0;
}

static int get_int(int fd, int level, int opt, int *v, const char *name, const char *what)
{
	socklen_t l = sizeof(*v);

	if (getsockopt(fd, level, opt, v, &l) < 0) {
		pr_perror("%s: getsockopt %s", what, name);
		return -1;
	}
	return 0;
}

static int set_int(int fd, int level, int opt, int v, const char *name, const char *what)
{
	if (setsockopt(fd, level, opt, &v, sizeof(v)) < 0) {
		pr_perror("%s: can't set %s to %d", what, name, v);
		return -1;
	}
	return 0;
}

/* Peek len bytes of a queue (repair mode); exactly len must be there. */
static int peek_queue(int fd, int queue, uint32_t *seq, uint32_t len, ProtobufCBinaryData *ret, protobuf_c_boolean *has,
		      const char *what)
{
	const char *qn = queue == TCP_SEND_QUEUE ? "send" : "receive";
	uint8_t *buf;
	ssize_t n;

	if (set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, queue, "TCP_REPAIR_QUEUE", what) < 0 ||
	    get_int(fd, SOL_TCP, TCP_QUEUE_SEQ, (int *)seq, "TCP_QUEUE_SEQ", what) < 0)
		return -1;
	if (!len)
		return 0;
	buf = malloc(len + 1);
	if (!buf) {
		pr_perror("%s: can't allocate %u bytes for its %s queue", what, len, qn);
		return -1;
	}
	/* one byte more than expected: the queue must hold exactly len */
	n = recv(fd, buf, len + 1, MSG_PEEK | MSG_DONTWAIT);
	if (n != (ssize_t)len) {
		if (n < 0)
			pr_perror("%s: can't read its %s queue (%u bytes)", what, qn, len);
		else
			pr_err("%s: its %s queue holds %zd bytes, not %u\n", what, qn, n, len);
		free(buf);
		return -1;
	}
	ret->data = buf;
	ret->len = len;
	*has = true;
	return 0;
}

int tcp_stream_dump(int fd, TcpStreamEntry **ret, const char *what)
{
	struct tcp_info ti;
	struct tcp_repair_window w;
	socklen_t l = sizeof(ti);
	int outq, unsq, inq, peek_off = -1, v;
	uint32_t st;
	TcpStreamEntry *t;

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &l) < 0) {
		pr_perror("%s: TCP_INFO", what);
		return -1;
	}
	st = ti.tcpi_state;
	if (!(TCPF(st) & (TCPF(TCP_ESTABLISHED) | FIN_SENT | FIN_RCVD))) {
		pr_err("%s: a TCP connection in state %u can't be dumped\n", what, st);
		errno = ENOTSUP;
		return -1;
	}
	if (ioctl(fd, SIOCOUTQ, &outq) < 0 || ioctl(fd, SIOCOUTQNSD, &unsq) < 0 || ioctl(fd, SIOCINQ, &inq) < 0) {
		pr_perror("%s: can't get the sizes of its queues", what);
		return -1;
	}
	t = files_zalloc(sizeof(*t), "a TCP stream entry");
	if (!t)
		return -1;
	tcp_stream_entry__init(t);
	t->has_fin_sent = t->has_fin_acked = t->has_fin_rcvd = true;
	t->fin_sent = TCPF(st) & FIN_SENT;
	t->fin_acked = TCPF(st) & FIN_ACKED;
	t->fin_rcvd = TCPF(st) & FIN_RCVD;
	/* the FIN is in the queue sizes but holds no data */
	if (t->fin_sent) {
		if (outq)
			outq--;
		if (unsq)
			unsq--;
	}
	if (get_int(fd, SOL_TCP, TCP_MAXSEG, &v, "TCP_MAXSEG", what) < 0)
		goto err;
	t->has_mss_clamp = t->has_opt_mask = true;
	t->mss_clamp = v;
	t->opt_mask = ti.tcpi_options & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE);
	if (ti.tcpi_options & TCPI_OPT_WSCALE) {
		t->has_snd_wscale = t->has_rcv_wscale = true;
		t->snd_wscale = ti.tcpi_snd_wscale;
		t->rcv_wscale = ti.tcpi_rcv_wscale;
	}
	if (ti.tcpi_options & TCPI_OPT_TIMESTAMPS) {
		if (get_int(fd, SOL_TCP, TCP_TIMESTAMP, &v, "TCP_TIMESTAMP", what) < 0)
			goto err;
		t->has_timestamp = true;
		t->timestamp = (uint32_t)v;
	}
	l = sizeof(w);
	if (getsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, &w, &l) < 0) {
		pr_perror("%s: TCP_REPAIR_WINDOW", what);
		goto err;
	}
	t->has_snd_wl1 = t->has_snd_wnd = t->has_max_window = t->has_rcv_wnd = t->has_rcv_wup = true;
	t->snd_wl1 = w.snd_wl1;
	t->snd_wnd = w.snd_wnd;
	t->max_window = w.max_window;
	t->rcv_wnd = w.rcv_wnd;
	t->rcv_wup = w.rcv_wup;
	if (get_int(fd, SOL_SOCKET, SO_SNDBUF, &v, "SO_SNDBUF", what) < 0)
		goto err;
	t->has_sndbuf = true;
	t->sndbuf = v;
	if (get_int(fd, SOL_SOCKET, SO_RCVBUF, &v, "SO_RCVBUF", what) < 0)
		goto err;
	t->has_rcvbuf = true;
	t->rcvbuf = v;
	/* a peek offset of the user's would move our peeks (and be moved by them) */
	l = sizeof(peek_off);
	if (getsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &peek_off, &l) < 0)
		peek_off = -1;
	if (peek_off >= 0 && set_int(fd, SOL_SOCKET, SO_PEEK_OFF, -1, "SO_PEEK_OFF", what) < 0)
		goto err;
	if (peek_queue(fd, TCP_RECV_QUEUE, &t->rcv_seq, (uint32_t)inq, &t->rcv_queue, &t->has_rcv_queue, what) < 0 ||
	    peek_queue(fd, TCP_SEND_QUEUE, &t->snd_seq, (uint32_t)outq, &t->snd_queue, &t->has_snd_queue, what) < 0 ||
	    set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE, "TCP_REPAIR_QUEUE", what) < 0)
		goto err;
	if (peek_off >= 0 && set_int(fd, SOL_SOCKET, SO_PEEK_OFF, peek_off, "SO_PEEK_OFF", what) < 0)
		goto err;
	t->has_unsent_len = true;
	t->unsent_len = (uint32_t)unsq;
	pr_info("%s: state %u, send seq %u (%d bytes queued, %d not sent), receive seq %u (%d bytes), mss %u, "
		"options 0x%x, window %u/%u\n",
		what, st, t->snd_seq, outq, unsq, t->rcv_seq, inq, t->mss_clamp, t->opt_mask, t->snd_wnd, t->rcv_wnd);
	*ret = t;
	return 0;
err:
	tcp_stream_entry__free_unpacked(t, NULL);
	return -1;
}

/* ---- restore ---- */

static int set_queue_seq(int fd, int queue, uint32_t seq, const char *what)
{
	if (set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, queue, "TCP_REPAIR_QUEUE", what) < 0)
		return -1;
	if (setsockopt(fd, SOL_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq)) < 0) {
		pr_perror("%s: can't set the %s sequence to %u", what, queue == TCP_SEND_QUEUE ? "send" : "receive",
			  seq);
		return -1;
	}
	return 0;
}

/* Write len bytes into the queue selected (in chunks: in repair mode the kernel
 * allocates one linear buffer per write, which may be too large). */
static int write_queue(int fd, const uint8_t *buf, size_t len, const char *qn, const char *what)
{
	size_t off = 0, chunk = len;

	while (off < len) {
		ssize_t n = send(fd, buf + off, MIN(chunk, len - off), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off += n;
			continue;
		}
		if (n < 0 && (errno == ENOMEM || errno == EAGAIN) && chunk > 1024) {
			chunk /= 2;
			continue;
		}
		pr_perror("%s: can't put back its %s queue (%zu of %zu bytes)", what, qn, off, len);
		return -1;
	}
	return 0;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

size_t tcp_build_segment(uint8_t *buf, int family, const uint8_t *src, uint16_t sport, const uint8_t *dst,
			 uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win)
{
	size_t iph = family == AF_INET ? 20 : 40, alen = family == AF_INET ? 4 : 16;
	uint8_t *th = buf + iph;
	uint32_t sum = 0;
	uint16_t c;

	memset(buf, 0, iph + 20);
	if (family == AF_INET) {
		buf[0] = 0x45;
		buf[3] = (uint8_t)(iph + 20); /* total length (the kernel fills id and checksum) */
		buf[8] = 64;
		buf[9] = IPPROTO_TCP;
		memcpy(buf + 12, src, 4);
		memcpy(buf + 16, dst, 4);
	} else {
		buf[0] = 0x60;
		buf[5] = 20; /* payload length */
		buf[6] = IPPROTO_TCP;
		buf[7] = 64;
		memcpy(buf + 8, src, 16);
		memcpy(buf + 24, dst, 16);
	}
	th[0] = sport >> 8;
	th[1] = sport & 0xff;
	th[2] = dport >> 8;
	th[3] = dport & 0xff;
	th[4] = seq >> 24;
	th[5] = seq >> 16;
	th[6] = seq >> 8;
	th[7] = seq;
	th[8] = ack >> 24;
	th[9] = ack >> 16;
	th[10] = ack >> 8;
	th[11] = ack;
	th[12] = 5 << 4;
	th[13] = flags;
	th[14] = win >> 8;
	th[15] = win & 0xff;
	/* the pseudo header (addresses, protocol, TCP length), then the header */
	sum = csum_add(sum, src, alen);
	sum = csum_add(sum, dst, alen);
	sum += IPPROTO_TCP + 20;
	sum = csum_add(sum, th, 20);
	c = csum_fold(sum);
	th[16] = c >> 8;
	th[17] = c & 0xff;
	return iph + 20;
}

static bool v4_mapped(const uint8_t *a)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return !memcmp(a, pfx, 12);
}

/* A segment from the peer (flags, seq, ack) into our socket, past the lock. */
static int inject(const InetSkEntry *ie, uint8_t flags, uint32_t seq, uint32_t ack, const char *what)
{
	const TcpStreamEntry *t = ie->tcp;
	int family = ie->family;
	const uint8_t *src = ie->src_addr.data, *dst = ie->dst_addr.data;
	uint8_t pkt[80];
	struct sockaddr_storage ss;
	socklen_t sl;
	uint16_t win = (uint16_t)MIN(t->snd_wnd >> (t->has_snd_wscale ? t->snd_wscale : 0), 0xffffu);
	cleanup_close int raw = -1;
	int mark = NETLOCK_MARK;
	size_t len;

	if (family == AF_INET6 && v4_mapped(src) && v4_mapped(dst)) {
		family = AF_INET;
		src += 12;
		dst += 12;
	}
	raw = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (raw < 0) {
		pr_perror("%s: can't create a raw socket to put the peer's FIN back", what);
		return -1;
	}
	if (setsockopt(raw, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		pr_perror("%s: can't mark the raw socket", what);
		return -1;
	}
	/* from the peer (dst) to us (src) */
	len = tcp_build_segment(pkt, family, dst, (uint16_t)ie->dst_port, src, (uint16_t)ie->src_port, seq, ack, flags,
				win);
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, src, 4);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, src, 16);
		sin6->sin6_scope_id = ie->scope_id;
		sl = sizeof(*sin6);
	}
	if (sendto(raw, pkt, len, 0, (struct sockaddr *)&ss, sl) != (ssize_t)len) {
		pr_perror("%s: can't send the peer's %s", what, flags & TH_FIN ? "FIN" : "ACK");
		return -1;
	}
	return 0;
}

/* Our FIN back in the send queue: shutdown() in repair mode; an acknowledged one is
 * put there as sent. */
static int restore_fin(int fd, bool acked, const char *what)
{
	if (acked && set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE", what) < 0)
		return -1;
	if (shutdown(fd, SHUT_WR) < 0) {
		pr_perror("%s: can't put its FIN back (shutdown)", what);
		return -1;
	}
	return set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE, "TCP_REPAIR_QUEUE", what);
}

/* The queues need buffers at least as large as at dump: in repair mode a full
 * buffer is an error, not a wait. */
static int grow_buffers(int fd, const TcpStreamEntry *t, const char *what)
{
	size_t need_snd = (t->has_snd_queue ? t->snd_queue.len : 0) * 2 + 65536;
	size_t need_rcv = (t->has_rcv_queue ? t->rcv_queue.len : 0) * 4 + 65536;
	int cur;

	if (get_int(fd, SOL_SOCKET, SO_SNDBUF, &cur, "SO_SNDBUF", what) < 0)
		return -1;
	need_snd = MAX(need_snd, (size_t)(t->has_sndbuf ? t->sndbuf : 0));
	if ((size_t)cur < need_snd &&
	    set_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, (int)MIN(need_snd / 2 + 1, (size_t)INT32_MAX / 2), "SO_SNDBUFFORCE",
		    what) < 0)
		return -1;
	if (get_int(fd, SOL_SOCKET, SO_RCVBUF, &cur, "SO_RCVBUF", what) < 0)
		return -1;
	need_rcv = MAX(need_rcv, (size_t)(t->has_rcvbuf ? t->rcvbuf : 0));
	if ((size_t)cur < need_rcv &&
	    set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, (int)MIN(need_rcv / 2 + 1, (size_t)INT32_MAX / 2), "SO_RCVBUFFORCE",
		    what) < 0)
		return -1;
	return 0;
}

int tcp_stream_restore(int fd, const InetSkEntry *ie, const char *what)
{
	const TcpStreamEntry *t = ie->tcp;
	uint32_t sndq = t->has_snd_queue ? (uint32_t)t->snd_queue.len : 0;
	uint32_t rcvq = t->has_rcv_queue ? (uint32_t)t->rcv_queue.len : 0;
	uint32_t unsent = t->has_unsent_len ? t->unsent_len : 0;
	uint32_t snd_seq = t->snd_seq - (t->fin_sent ? 1 : 0), rcv_seq = t->rcv_seq - (t->fin_rcvd ? 1 : 0);
	struct tcp_repair_opt opts[4];
	struct sockaddr_storage ss;
	socklen_t sl;
	int nr = 0;

	if (tcp_repair(fd, 1, what) < 0 || grow_buffers(fd, t, what) < 0)
		return -1;
	if (set_queue_seq(fd, TCP_RECV_QUEUE, rcv_seq - rcvq, what) < 0 ||
	    set_queue_seq(fd, TCP_SEND_QUEUE, snd_seq - sndq, what) < 0 ||
	    set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE, "TCP_REPAIR_QUEUE", what) < 0)
		return -1;
	sl = sko_inet_addr(ie, false, &ss);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		pr_perror("%s: can't bind it back", what);
		return -1;
	}
	/* connect() sizes the segments (mss_cache) from the clamp it sees then: the
	 * connection's, not the default of 536 bytes; the user's value comes back after */
	if (t->mss_clamp &&
	    set_int(fd, SOL_TCP, TCP_MAXSEG, (int)MIN(t->mss_clamp, TCP_MAXSEG_MAX), "TCP_MAXSEG", what) < 0)
		return -1;
	sl = sko_inet_addr(ie, true, &ss);
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		pr_perror("%s: can't connect it back (repair mode)", what);
		return -1;
	}
	if (t->mss_clamp && set_int(fd, SOL_TCP, TCP_MAXSEG, 0, "TCP_MAXSEG", what) < 0)
		return -1;
	if (t->opt_mask & TCPI_OPT_SACK)
		opts[nr++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERM, 0 };
	if (t->opt_mask & TCPI_OPT_WSCALE)
		opts[nr++] = (struct tcp_repair_opt){ TCPOPT_WINDOW, t->snd_wscale + (t->rcv_wscale << 16) };
	if (t->opt_mask & TCPI_OPT_TIMESTAMPS)
		opts[nr++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	opts[nr++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, t->mss_clamp };
	if (setsockopt(fd, SOL_TCP, TCP_REPAIR_OPTIONS, opts, nr * sizeof(opts[0])) < 0) {
		pr_perror("%s: can't set its options back (TCP_REPAIR_OPTIONS)", what);
		return -1;
	}
	if ((t->opt_mask & TCPI_OPT_TIMESTAMPS) &&
	    set_int(fd, SOL_TCP, TCP_TIMESTAMP, (int)t->timestamp, "TCP_TIMESTAMP", what) < 0)
		return -1;
	/* the bytes received and not read, then those sent and not acknowledged */
	if (rcvq && (set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "TCP_REPAIR_QUEUE", what) < 0 ||
		     write_queue(fd, t->rcv_queue.data, rcvq, "receive", what) < 0))
		return -1;
	if (sndq > unsent && (set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE", what) < 0 ||
			      write_queue(fd, t->snd_queue.data, sndq - unsent, "send", what) < 0))
		return -1;
	if (set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE, "TCP_REPAIR_QUEUE", what) < 0)
		return -1;
	/* the bytes never sent are sent as any others (the lock holds them back) */
	if (unsent && (tcp_repair(fd, TCP_REPAIR_OFF_NO_WP, what) < 0 ||
		       write_queue(fd, t->snd_queue.data + sndq - unsent, unsent, "unsent", what) < 0 ||
		       tcp_repair(fd, 1, what) < 0))
		return -1;
	if (t->has_snd_wnd) {
		struct tcp_repair_window w = { t->snd_wl1, t->snd_wnd, t->max_window, t->rcv_wnd, t->rcv_wup };
		if (t->fin_rcvd) {
			w.rcv_wup--;
			w.rcv_wnd++;
		}
		if (setsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)) < 0) {
			pr_perror("%s: can't set its window back (TCP_REPAIR_WINDOW)", what);
			return -1;
		}
	}
	/* the FINs, in the order the connection saw them */
	bool ours_first = t->fin_sent && !(TCPF(ie->state) & TCPF(TCP_LAST_ACK));
	uint32_t una = snd_seq - sndq; /* what the peer had acknowledged of ours */
	if (ours_first && restore_fin(fd, t->fin_acked, what) < 0)
		return -1;
	if (t->fin_rcvd && inject(ie, TH_FIN | TH_ACK, rcv_seq, una, what) < 0)
		return -1;
	if (t->fin_sent && !ours_first && restore_fin(fd, false, what) < 0)
		return -1;
	if (t->fin_acked && inject(ie, TH_ACK, t->rcv_seq, t->snd_seq, what) < 0)
		return -1;
	return 0;
}

int tcp_stream_resume(int fd, const InetSkEntry *ie, const char *what)
{
	const SkOptsEntry *o = ie->opts;
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	if (tcp_repair(fd, TCP_REPAIR_OFF, what) < 0)
		return -1;
	/* repair mode forced address reuse, and leaving it cleared it */
	if (o && o->has_reuseaddr && o->reuseaddr && set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", what) < 0)
		return -1;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &l) == 0 && ti.tcpi_state != ie->state)
		pr_warn("%s: restored in state %u, it was %u at dump\n", what, ti.tcpi_state, ie->state);
	return 0;
}

/* ---- probe ---- */

int tcp_probe_repair(bool half_closed, char *detail, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	cleanup_close int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1, a = -1;
	int on = 1, off = TCP_REPAIR_OFF_NO_WP;

	if (l < 0 || bind(l, (struct sockaddr *)&sin, sl) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sin, &sl) < 0) {
		snprintf(detail, len, "a listener on 127.0.0.1: %s", strerror(errno));
		return -1;
	}
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&sin, sl) < 0 || (a = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		snprintf(detail, len, "a connection on 127.0.0.1: %s", strerror(errno));
		return -1;
	}
	if (half_closed && shutdown(c, SHUT_WR) < 0) {
		snprintf(detail, len, "shutdown: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(c, SOL_TCP, TCP_REPAIR, &on, sizeof(on)) < 0) {
		snprintf(detail, len, "TCP_REPAIR on %s connection: %s", half_closed ? "a half-closed" : "an established",
			 strerror(errno));
		return -1;
	}
	setsockopt(c, SOL_TCP, TCP_REPAIR, &off, sizeof(off));
	snprintf(detail, len, "TCP_REPAIR on %s connection", half_closed ? "a half-closed (FIN_WAIT)" : "an established");
	return 0;
}
