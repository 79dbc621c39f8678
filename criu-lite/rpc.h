/*
 * criu-lite swrk FD: CRIU's RPC protocol, as container runtimes drive it (runc's
 * `criu swrk 3`, go-criu's version and feature probes, libcriu).
 *
 * One protobuf message (images/rpc.proto) per SOCK_SEQPACKET packet, each way. The
 * client sends one request; DUMP and RESTORE may be interleaved with NOTIFY round
 * trips (the server names an action, the client answers notify_success); the server
 * answers, and the process exits: 0 after a successful answer. VERSION and
 * FEATURE_CHECK with keep_open are followed by another request.
 *
 * The request's options become a struct cr_options, checked as the command line's are
 * (cr_options_refuse), and DUMP and RESTORE call cr_dump and cr_restore. Descriptors
 * the client names (images_dir_fd, work_dir_fd, status_fd) are opened through
 * /proc/CLIENT/fd/N (the client is the socket's peer, SO_PEERCRED). A failed answer
 * carries cr_errno and cr_errmsg, the first error line of the log. Every answer is
 * smaller than RPC_MAX_RESP.
 */
#ifndef CRIU_LITE_RPC_H
#define CRIU_LITE_RPC_H

#include "lib/options.h"

#define RPC_MAX_REQ (1u << 20) /* a larger request is refused */
#define RPC_MAX_RESP 8192u     /* go-criu reads answers into 8 KiB */
#define RPC_LOG_FILE "criu.log" /* the log when the request names none (CRIU's) */

struct rpc_hooks {
	/* Read a CRIU configuration file into o, as --config does. 0 or -1 (logged).
	 * Only called for a file that exists (a missing one is ignored, as CRIU does). */
	int (*parse_config)(const char *path, struct cr_options *o);
	/* The options every request starts from (CRIU applies its default configuration
	 * files to RPC requests too). 0 or -1 (logged). May be NULL. */
	int (*defaults)(struct cr_options *o);
};

/* Serve the client on the socket sk. Returns the exit status: 0 when the last
 * request was answered with success, 1 otherwise. */
int rpc_serve(int sk, const struct rpc_hooks *hooks);

#endif
