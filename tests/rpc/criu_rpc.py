"""A small client of CRIU's RPC protocol (`criu swrk FD`), for criu-lite's tests.

Proto2 encoding and decoding by hand (the machine's python3 standard library only):
varints, 32-bit little-endian words and length-delimited fields, which is all that
rpc.proto and stats.proto use. The field numbers below are written from the protocol's
documentation (RUNTIMES.md section 1.2 and 3.5), independently of criu-lite's own
images/rpc.proto, so that the tests check the server against the protocol rather than
against itself.
"""
import os
import socket
import struct
import subprocess

# ---- proto2 wire format ----

VARINT, I64, LEN, I32 = 0, 1, 2, 5


def enc_varint(v):
    if v < 0:
        v += 1 << 64  # negative int32/int64: ten bytes, two's complement
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def dec_varint(buf, pos):
    v, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def key(num, wt):
    return enc_varint(num << 3 | wt)


# Schemas: message -> {number: (name, kind, repeated)}; kind is a scalar type name or
# the name of a message. 'required' lists what a decoder must find.
SCHEMAS = {
    "req": {1: ("type", "enum", False), 2: ("opts", "opts", False), 3: ("notify_success", "bool", False),
            4: ("keep_open", "bool", False), 5: ("features", "features", False), 6: ("pid", "uint32", False)},
    "resp": {1: ("type", "enum", False), 2: ("success", "bool", False), 3: ("dump", "dump_resp", False),
             4: ("restore", "restore_resp", False), 5: ("notify", "notify", False), 6: ("ps", "ps", False),
             7: ("cr_errno", "int32", False), 8: ("features", "features", False),
             9: ("cr_errmsg", "string", False), 10: ("version", "version", False),
             11: ("status", "int32", False)},
    "dump_resp": {1: ("restored", "bool", False)},
    "restore_resp": {1: ("pid", "int32", False)},
    "notify": {1: ("script", "string", False), 2: ("pid", "int32", False)},
    "features": {1: ("mem_track", "bool", False), 2: ("lazy_pages", "bool", False),
                 3: ("pidfd_store", "bool", False)},
    "version": {1: ("major_number", "int32", False), 2: ("minor_number", "int32", False),
                3: ("gitid", "string", False), 4: ("sublevel", "int32", False), 5: ("extra", "int32", False),
                6: ("name", "string", False)},
    "ps": {1: ("address", "string", False), 2: ("port", "int32", False), 3: ("pid", "int32", False),
           4: ("fd", "int32", False)},
    "ext_mnt": {1: ("key", "string", False), 2: ("val", "string", False)},
    "join_ns": {1: ("ns", "string", False), 2: ("ns_file", "string", False), 3: ("extra_opt", "string", False)},
    "inherit_fd": {1: ("key", "string", False), 2: ("fd", "int32", False)},
    "cg_root": {1: ("ctrl", "string", False), 2: ("path", "string", False)},
    "opts": {
        1: ("images_dir_fd", "int32", False), 2: ("pid", "int32", False), 3: ("leave_running", "bool", False),
        4: ("ext_unix_sk", "bool", False), 5: ("tcp_established", "bool", False),
        6: ("evasive_devices", "bool", False), 7: ("shell_job", "bool", False), 8: ("file_locks", "bool", False),
        9: ("log_level", "int32", False), 10: ("log_file", "string", False), 11: ("ps", "ps", False),
        12: ("notify_scripts", "bool", False), 13: ("root", "string", False), 14: ("parent_img", "string", False),
        15: ("track_mem", "bool", False), 16: ("auto_dedup", "bool", False), 17: ("work_dir_fd", "int32", False),
        18: ("link_remap", "bool", False), 20: ("cpu_cap", "uint32", False), 21: ("force_irmap", "bool", False),
        22: ("exec_cmd", "string", True), 23: ("ext_mnt", "ext_mnt", True), 24: ("manage_cgroups", "bool", False),
        25: ("cg_root", "cg_root", True), 26: ("rst_sibling", "bool", False),
        27: ("inherit_fd", "inherit_fd", True), 31: ("skip_mnt", "string", True),
        34: ("manage_cgroups_mode", "enum", False), 35: ("ghost_limit", "uint32", False),
        37: ("external", "string", True), 38: ("empty_ns", "uint32", False), 39: ("join_ns", "join_ns", True),
        44: ("freeze_cgroup", "string", False), 45: ("timeout", "uint32", False),
        46: ("tcp_skip_in_flight", "bool", False), 48: ("lazy_pages", "bool", False),
        49: ("status_fd", "int32", False), 50: ("orphan_pts_master", "bool", False),
        51: ("config_file", "string", False), 52: ("tcp_close", "bool", False),
        53: ("lsm_profile", "string", False),
        62: ("pidfd_store_sk", "int32", False), 64: ("network_lock", "enum", False),
        68: ("images_dir", "string", False), 70: ("display_stats", "bool", False),
        71: ("log_to_stderr", "bool", False),
    },
    # stats.proto (go-criu's reader requires the 'required' ones)
    "stats": {1: ("dump", "dump_stats", False), 2: ("restore", "restore_stats", False)},
    "dump_stats": {1: ("freezing_time", "uint32", False), 2: ("frozen_time", "uint32", False),
                   3: ("memdump_time", "uint32", False), 4: ("memwrite_time", "uint32", False),
                   5: ("pages_scanned", "uint64", False), 6: ("pages_skipped_parent", "uint64", False),
                   7: ("pages_written", "uint64", False), 8: ("irmap_resolve", "uint32", False),
                   9: ("pages_lazy", "uint64", False), 10: ("page_pipes", "uint64", False),
                   11: ("page_pipe_bufs", "uint64", False), 12: ("shpages_scanned", "uint64", False),
                   13: ("shpages_skipped_parent", "uint64", False), 14: ("shpages_written", "uint64", False)},
    "restore_stats": {1: ("pages_compared", "uint64", False), 2: ("pages_skipped_cow", "uint64", False),
                      3: ("forking_time", "uint32", False), 4: ("restore_time", "uint32", False),
                      5: ("pages_restored", "uint64", False)},
}
REQUIRED = {
    "resp": ["type", "success"],
    "version": ["major_number", "minor_number"],
    "restore_resp": ["pid"],
    "dump_stats": ["freezing_time", "frozen_time", "memdump_time", "memwrite_time", "pages_scanned",
                   "pages_skipped_parent", "pages_written", "pages_lazy"],
    "restore_stats": ["pages_compared", "pages_skipped_cow", "forking_time", "restore_time"],
}
SCALARS = {"int32", "uint32", "uint64", "bool", "enum", "string", "bytes"}

# request types
DUMP, RESTORE, CHECK, PRE_DUMP, PAGE_SERVER, NOTIFY = 1, 2, 3, 4, 5, 6
CPUINFO_DUMP, CPUINFO_CHECK, FEATURE_CHECK, VERSION, WAIT_PID = 7, 8, 9, 10, 11
EMPTY = 0
CLONE_NEWNET = 0x40000000


def encode(schema, msg):
    by_name = {v[0]: (k, v[1], v[2]) for k, v in SCHEMAS[schema].items()}
    out = bytearray()
    for name, value in msg.items():
        if name == "_raw":  # bytes appended as they are (unknown fields)
            out += value
            continue
        num, kind, rep = by_name[name]
        for v in (value if rep else [value]):
            if kind in ("int32", "uint32", "uint64", "enum"):
                out += key(num, VARINT) + enc_varint(int(v))
            elif kind == "bool":
                out += key(num, VARINT) + enc_varint(1 if v else 0)
            elif kind in ("string", "bytes"):
                b = v.encode() if isinstance(v, str) else v
                out += key(num, LEN) + enc_varint(len(b)) + b
            else:
                b = encode(kind, v)
                out += key(num, LEN) + enc_varint(len(b)) + b
    return bytes(out)


def decode(schema, buf, check_required=True):
    fields = SCHEMAS[schema]
    msg, pos = {}, 0
    while pos < len(buf):
        k, pos = dec_varint(buf, pos)
        num, wt = k >> 3, k & 7
        if wt == VARINT:
            v, pos = dec_varint(buf, pos)
        elif wt == LEN:
            n, pos = dec_varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated field %d" % num)
            v, pos = buf[pos:pos + n], pos + n
        elif wt == I32:
            v, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        elif wt == I64:
            v, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        else:
            raise ValueError("wire type %d" % wt)
        if num not in fields:
            msg.setdefault("_unknown", []).append(num)
            continue
        name, kind, rep = fields[num]
        if kind in ("int32",) and v >= 1 << 63:
            v -= 1 << 64
        elif kind == "int32" and v >= 1 << 31:
            v -= 1 << 32
        if kind == "bool":
            v = bool(v)
        elif kind == "string":
            v = bytes(v).decode()
        elif kind not in SCALARS:
            v = decode(kind, bytes(v), check_required)
        if rep:
            msg.setdefault(name, []).append(v)
        else:
            msg[name] = v
    if check_required:
        for r in REQUIRED.get(schema, []):
            if r not in msg:
                raise ValueError("%s: required field %s missing" % (schema, r))
    return msg


def read_stats(path):
    """A stats-dump/stats-restore file as go-criu reads it: both magics, the size, and
    one stats message with every required field."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 12:
        raise ValueError("%s: %d bytes" % (path, len(buf)))
    m1, m2, size = struct.unpack_from("<III", buf, 0)
    if m1 != 0x55105940:
        raise ValueError("%s: primary magic 0x%x" % (path, m1))
    if m2 != 0x57093306:
        raise ValueError("%s: secondary magic 0x%x" % (path, m2))
    if 12 + size != len(buf):
        raise ValueError("%s: size %d, %d bytes follow" % (path, size, len(buf) - 12))
    return decode("stats", buf[12:12 + size])


# ---- the transport ----

RESP_BUF = 8192  # go-criu's buffer: every answer must fit


class Server:
    """`criu-lite swrk N` on one end of a SOCK_SEQPACKET socketpair, as go-criu starts it
    (the socket at an arbitrary fd number, inherited)."""

    def __init__(self, binary, env=None, pass_fds=(), stdio=None, fd_number=None):
        self.sk, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfd = child.fileno()
        argv = [binary, "swrk", str(cfd)]
        if fd_number is not None and fd_number != cfd:
            # the socket at a chosen number, as runc's `swrk 3`: the shell moves it there
            argv = ["/bin/sh", "-c", 'exec "$0" swrk %d %d<&%d %d<&-' % (fd_number, fd_number, cfd, cfd), binary]
        out = stdio if stdio is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, pass_fds=list(pass_fds) + [cfd], stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=out, env=env, close_fds=True)
        child.close()
        self.sizes = []

    def send_raw(self, data):
        self.sk.send(data)

    def send(self, msg):
        self.send_raw(encode("req", msg))

    def recv(self, timeout=60):
        """One answer (decoded), checking that it fits the clients' buffers."""
        self.sk.settimeout(timeout)
        data, anc, flags, _ = self.sk.recvmsg(RESP_BUF * 2, socket.CMSG_SPACE(4 * 4))
        if not data and not anc:
            raise EOFError("the server closed the socket")
        if flags & socket.MSG_TRUNC or len(data) >= RESP_BUF:
            raise ValueError("a %d-byte answer: too large for go-criu's buffer" % len(data))
        self.sizes.append(len(data))
        msg = decode("resp", data)
        fds = []
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds += list(struct.unpack("%di" % (len(cdata) // 4), cdata[:len(cdata) - len(cdata) % 4]))
        if fds:
            msg["_fds"] = fds
        return msg

    def call(self, msg, on_notify=None, timeout=120):
        """Send a request; answer NOTIFYs (on_notify(script, pid) -> True/False, or None to
        go away) until the final answer. Returns (answer, [(script, pid), ...])."""
        self.send(msg)
        notes = []
        while True:
            r = self.recv(timeout)
            if r["type"] != NOTIFY:
                return r, notes
            n = r.get("notify", {})
            notes.append((n.get("script"), n.get("pid")))
            ok = on_notify(n.get("script"), n.get("pid")) if on_notify else True
            if ok is None:
                return None, notes
            self.send({"type": NOTIFY, "notify_success": bool(ok)})

    def close(self):
        self.sk.close()

    def wait(self, timeout=120):
        return self.proc.wait(timeout)
