/*
 * TCP connections through TCP_REPAIR (Linux 3.11 and later): dump reads a
 * connection's sequence numbers, queues, negotiated options and window from a
 * socket in repair mode; restore builds a new socket into the same connection in
 * repair mode (no packet is sent), and takes it out of repair mode just before the
 * tree runs again.
 *
 * Half-closed connections: our FIN is put back with shutdown() in repair mode, the
 * peer's FIN (and the peer's acknowledgement of ours) is injected as the peer
 * would have sent it, through a raw socket whose packets carry NETLOCK_MARK (they
 * pass the network lock), as libsoccr does.
 */
#ifndef CRIU_LITE_FILES_TCP_H
#define CRIU_LITE_FILES_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "images/image.h"

/* TCP_REPAIR on (1), off (0) or off without a window probe (-1). 0 or -1 (logged). */
int tcp_repair(int fd, int on, const char *what);

/* Read the connection of fd (already in repair mode, state as TCP_INFO says) into
 * a new entry. 0 or -1 (logged). */
int tcp_stream_dump(int fd, TcpStreamEntry **ret, const char *what);

/* Build the connection ie describes into fd, a new TCP socket of its family with
 * its options set: repair mode, sequence numbers, bind, connect, options, queues,
 * window, FINs. Leaves fd in repair mode. 0 or -1 (logged). */
int tcp_stream_restore(int fd, const InetSkEntry *ie, const char *what);

/* Just before the tree runs: out of repair mode (a window probe tells the peer we
 * are back), the user's SO_REUSEADDR back. 0 or -1 (logged). */
int tcp_stream_resume(int fd, const InetSkEntry *ie, const char *what);

/* The TCP segment (header only) a peer sends, for the injection: into buf (at least
 * 60 bytes for IPv4, 80 for IPv6), addresses and ports of the peer (src) and ours
 * (dst), flags (TH_FIN, TH_ACK). Returns its length. (Pure: unit-tested.) */
size_t tcp_build_segment(uint8_t *buf, int family, const uint8_t *src, uint16_t sport, const uint8_t *dst,
			 uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win);

/* Whether TCP_REPAIR works here on an established connection, and (half_closed)
 * on one whose side was shut down: 0 or -1 with what happened in detail. */
int tcp_probe_repair(bool half_closed, char *detail, size_t len);

#endif
