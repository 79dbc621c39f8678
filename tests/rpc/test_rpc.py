#!/usr/bin/env python3
"""criu-lite swrk: CRIU's RPC protocol, driven by a client of our own (criu_rpc.py).

Each case starts `criu-lite swrk N` as runtimes do and checks the answers: every request
type, good and bad requests, the notification sequences, real dumps and restores of a
process (eager and lazy), the options, the statistics files. TAP output.

    test_rpc.py --criu build/criu-lite --target build/tests/rpc/rpc_target [-l] [-f NAME]
"""
import argparse
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import criu_rpc as C  # noqa: E402

ARGS = None
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


# ---- helpers ----

class Env:
    """One case's directories and processes, cleaned up whatever happens."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="rpc-%s." % name)
        self.img = os.path.join(self.dir, "img")
        self.work = os.path.join(self.dir, "work")
        os.mkdir(self.img)
        os.mkdir(self.work)
        self.fds = []
        self.pids = []
        self.procs = []
        self.cgroups = []

    def dirfd(self, path):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        self.fds.append(fd)
        return fd

    def target(self, priv=8, shared=4, wrap=()):
        """The test program, its stdio on /dev/null, ticking into ticks."""
        ticks = os.path.join(self.dir, "ticks")
        # its own session, as CRIU wants a dumped root (without shell_job)
        p = subprocess.Popen(list(wrap) + [ARGS.target, ticks, str(priv), str(shared)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append(p)
        self.pids.append(p.pid)
        wait_for(lambda: tick_count(ticks) >= 2, "the target ticks")
        return p

    def server(self, **kw):
        s = C.Server(ARGS.criu, pass_fds=self.fds, **kw)
        self.procs.append(s.proc)
        return s

    def cleanup(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.kill()
                p.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for pid in self.pids:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        for fd in self.fds:
            os.close(fd)
        for cg in self.cgroups:
            for _ in range(50):
                try:
                    os.rmdir(cg)
                    break
                except OSError:
                    time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(cond, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    raise Fail("timed out waiting: %s" % what)


def tick_count(path):
    try:
        with open(path) as f:
            return f.read().count("\n")
    except FileNotFoundError:
        return 0


def proc_state(pid):
    """The state letter of a process, 'gone' when there is none."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def proc_status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    return None


def ppid_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def running_untraced(pid):
    return proc_state(pid) not in ("gone", "Z", "X", "T", "t") and proc_status(pid, "TracerPid") == "0"


def ns_ino(pid, ns):
    return os.stat("/proc/%s/ns/%s" % (pid, ns)).st_ino


def wait_pid_gone(pid, timeout=10):
    """The dumped pid free again (PID 1 reaps orphans slowly here)."""
    wait_for(lambda: proc_state(pid) == "gone", "pid %d to be free" % pid, timeout)


def reap(p):
    """Wait for one of our children; its status (negative: killed by that signal)."""
    return p.wait(10) if isinstance(p, subprocess.Popen) else waitpid_status(p)


def waitpid_status(pid):
    _, st = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(st)


def opts(env, **kw):
    o = {"images_dir_fd": env.dirfd(env.img), "work_dir_fd": env.dirfd(env.work), "log_level": 4}
    o.update(kw)
    return o


def dump(env, pid, on_notify=None, **kw):
    s = env.server()
    o = opts(env, pid=pid, log_file="dump.log", notify_scripts=True)
    o.update(kw)
    r, notes = s.call({"type": C.DUMP, "opts": o}, on_notify)
    return r, notes, s


def restore(env, on_notify=None, **kw):
    s = env.server()
    o = opts(env, log_file="restore.log", notify_scripts=True, rst_sibling=True)
    o.update(kw)
    r, notes = s.call({"type": C.RESTORE, "opts": o}, on_notify)
    return r, notes, s


def log_text(env, name):
    with open(os.path.join(env.work, name)) as f:
        return f.read()


def first_error(env, name):
    """The first error line of a log, as the answer's cr_errmsg should carry it."""
    for line in log_text(env, name).splitlines():
        if "Error (" in line:
            return line[line.index("Error ("):]
    return None


def expect_fail(r, s, typ, name_in_msg, err=None):
    check(r is not None, "no answer")
    check(r["type"] == typ, "answer type %d, expected %d" % (r["type"], typ))
    check(r["success"] is False, "success for what should fail (%s)" % name_in_msg)
    check(name_in_msg in r.get("cr_errmsg", ""), "cr_errmsg %r lacks %r" % (r.get("cr_errmsg"), name_in_msg))
    if err is not None:
        check(r.get("cr_errno") == err, "cr_errno %s, expected %d" % (r.get("cr_errno"), err))
    check(s.wait() == 1, "swrk exit status %s after a failure" % s.proc.returncode)


def dump_ok(env, p, **kw):
    r, notes, s = dump(env, p.pid, **kw)
    check(r and r["success"], "dump failed: %s" % (r or {}).get("cr_errmsg"))
    check(s.wait() == 0, "swrk exit status %s after a dump" % s.proc.returncode)
    return r, notes


def finish_restored(env, pid, p=None):
    """SIGTERM the restored target (our child: rst_sibling) and check it found its
    memory intact and its counter going on."""
    ticks = os.path.join(env.dir, "ticks")
    n = tick_count(ticks)
    wait_for(lambda: tick_count(ticks) >= n + 3, "the restored target ticks on")
    os.kill(pid, signal.SIGTERM)
    st = waitpid_status(pid) if p is None else reap(p)
    check(st == 0, "the restored target exited with %s (2: memory differs, 3: counter)" % st)


# ---- the simple requests ----

@case
def version():
    """VERSION: CRIU 4.2, no gitid, on any fd number; exit 0"""
    for fd_number in (None, 3, 9):
        s = C.Server(ARGS.criu, fd_number=fd_number)
        r, notes = s.call({"type": C.VERSION})
        check(r["success"] and r["type"] == C.VERSION, "answer %r" % r)
        v = r["version"]
        check((v["major_number"], v["minor_number"]) == (4, 2), "version %r" % v)
        check("gitid" not in v, "a gitid makes go-criu round the version up")
        # go-criu: major*10000 + minor*100 + sublevel >= runc's and podman's minimums
        check(v["major_number"] * 10000 + v["minor_number"] * 100 + v.get("sublevel", 0) >= 31600, "too old")
        check(s.wait() == 0, "exit status %s" % s.proc.returncode)


@case
def keep_open():
    """keep_open: VERSION and FEATURE_CHECK go on; DUMP with keep_open is refused"""
    s = C.Server(ARGS.criu)
    r, _ = s.call({"type": C.VERSION, "keep_open": True})
    check(r["success"], "first VERSION")
    r, _ = s.call({"type": C.FEATURE_CHECK, "keep_open": True, "features": {"lazy_pages": True}})
    check(r["success"] and r["type"] == C.FEATURE_CHECK, "FEATURE_CHECK after keep_open")
    r, _ = s.call({"type": C.VERSION})
    check(r["success"], "last VERSION")
    check(s.wait() == 0, "exit status")
    s = C.Server(ARGS.criu)
    r, _ = s.call({"type": C.DUMP, "keep_open": True, "opts": {"images_dir_fd": -1}})
    expect_fail(r, s, C.DUMP, "keep_open")


def cli_refuses(*args):
    """Whether criu-lite's command line refuses these options ("not supported yet")."""
    p = subprocess.run([ARGS.criu] + list(args), stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return p.returncode != 0 and "not supported yet" in p.stderr + p.stdout


def cli_supported(feature):
    return subprocess.run([ARGS.criu, "check", "--feature", feature], capture_output=True).returncode == 0


@case
def feature_check():
    """FEATURE_CHECK: all three fields, each as the kernel probes and the options say"""
    tmp = tempfile.mkdtemp(prefix="rpc-feat.")
    try:
        track_ok = cli_supported("mem_dirty_track") and not cli_refuses("dump", "-t", "1", "-D", tmp, "--track-mem")
        lazy_ok = cli_supported("uffd-noncoop") and cli_supported("uffd") and cli_supported("MINOR_SHMEM") \
            and not cli_refuses("restore", "-D", tmp + "/none", "--lazy-pages")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # pidfd_store goes with the pidfd_store_sk option: ask whether a request with it is refused
    # (a pid beyond pid_max: if the option passed, the dump would fail on that instead)
    tmp = tempfile.mkdtemp(prefix="rpc-feat.")
    try:
        s = C.Server(ARGS.criu)
        r, _ = s.call({"type": C.DUMP, "opts": {"images_dir_fd": -1, "images_dir": tmp, "pidfd_store_sk": 3,
                                                 "pid": (1 << 22) + 5, "log_to_stderr": True}})
        s.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check(not r["success"], "a dump of pid %d" % ((1 << 22) + 5))
    pidfd_ok = cli_supported("pidfd_store") and "pidfd_store_sk" not in r.get("cr_errmsg", "")
    for ask in ({"mem_track": True, "lazy_pages": True, "pidfd_store": True}, {}, None):
        s = C.Server(ARGS.criu)
        req = {"type": C.FEATURE_CHECK}
        if ask is not None:
            req["features"] = ask
            # runc 1.1.5 sends its whole options along
            req["opts"] = {"images_dir_fd": 7, "log_file": "dump.log", "root": "/x", "manage_cgroups": True}
        r, _ = s.call(req)
        check(r["success"] and r["type"] == C.FEATURE_CHECK, "answer %r" % r)
        f = r.get("features", {})
        check(set(f) == {"mem_track", "lazy_pages", "pidfd_store"}, "fields %r: all three must be there" % f)
        want = {"mem_track": track_ok, "lazy_pages": lazy_ok, "pidfd_store": pidfd_ok} if ask else \
            {"mem_track": False, "lazy_pages": False, "pidfd_store": False}
        check(f == want, "features %r, expected %r" % (f, want))
        check(s.wait() == 0, "exit status")


@case
def check_request():
    """CHECK: success exactly when `criu-lite check` says dump and restore work here"""
    want = subprocess.run([ARGS.criu, "check"], capture_output=True).returncode == 0
    s = C.Server(ARGS.criu)
    r, _ = s.call({"type": C.CHECK})
    check(r["type"] == C.CHECK and r["success"] == want, "answer %r, check says %s" % (r, want))
    check(s.wait() == (0 if want else 1), "exit status")


@case
def garbage():
    """bytes that are no request: a failed EMPTY answer, exit 1"""
    for data in (b"\xff\xff\xff\xff\xff", b"\x12\x05hello",  # type missing (required)
                 b"\x08"):  # truncated varint
        s = C.Server(ARGS.criu)
        s.send_raw(data)
        r = s.recv()
        expect_fail(r, s, C.EMPTY, "can't be decoded")


@case
def unknown_fields():
    """unknown fields, at the top and inside the options, are skipped"""
    extra = C.key(99, C.VARINT) + C.enc_varint(12345) + C.key(100, C.LEN) + C.enc_varint(3) + b"abc" + \
        C.key(101, C.I32) + b"\x01\x02\x03\x04" + C.key(102, C.I64) + b"\0" * 8
    s = C.Server(ARGS.criu)
    s.send({"type": C.VERSION, "_raw": extra})
    r = s.recv()
    check(r["success"] and r["version"]["major_number"] == 4, "VERSION with unknown fields: %r" % r)
    check(s.wait() == 0, "exit status")
    s = C.Server(ARGS.criu)
    s.send({"type": C.FEATURE_CHECK, "features": {"lazy_pages": True, "_raw": extra},
            "opts": {"images_dir_fd": 5, "_raw": C.key(200, C.VARINT) + C.enc_varint(1)}})
    r = s.recv()
    check(r["success"] and "lazy_pages" in r["features"], "FEATURE_CHECK with unknown fields: %r" % r)
    check(s.wait() == 0, "exit status")


@case
def oversized():
    """a request over 1 MiB: refused, not read into memory whole"""
    s = C.Server(ARGS.criu)
    s.sk.setsockopt(socket.SOL_SOCKET, 32, 8 << 20)  # SO_SNDBUFFORCE (root): room for one big packet
    big = {"type": C.DUMP, "opts": {"images_dir_fd": -1, "external": ["mnt[x]:" + "y" * (2 << 20)]}}
    s.send(big)
    r = s.recv()
    expect_fail(r, s, C.EMPTY, "larger than")


@case
def unknown_type():
    """an unknown request type, an unasked NOTIFY: a failed EMPTY answer"""
    for t in (77, C.NOTIFY, C.EMPTY):
        s = C.Server(ARGS.criu)
        r, _ = s.call({"type": t})
        expect_fail(r, s, C.EMPTY, "invalid request type", errno.EBADRQC)


@case
def not_yet():
    """PRE_DUMP, SINGLE_PRE_DUMP, PAGE_SERVER, CPUINFO: failed answers of their type, by name"""
    for t, name in ((C.PRE_DUMP, "pre-dump"), (13, "pre-dump"), (C.PAGE_SERVER, "page-server"),
                    (12, "page-server"), (C.CPUINFO_DUMP, "cpuinfo"), (C.CPUINFO_CHECK, "cpuinfo")):
        s = C.Server(ARGS.criu)
        r, _ = s.call({"type": t, "opts": {"images_dir_fd": -1}})
        expect_fail(r, s, t, name + ": not supported yet", errno.ENOTSUP)


@case
def wait_pid():
    """WAIT_PID: only a child of the server; anything else is ECHILD"""
    s = C.Server(ARGS.criu)
    r, _ = s.call({"type": C.WAIT_PID, "pid": os.getpid()})
    expect_fail(r, s, C.WAIT_PID, "can't wait for pid", errno.ECHILD)


@case
def client_gone():
    """the client goes away before asking: exit 1, nothing sent"""
    s = C.Server(ARGS.criu)
    s.sk.shutdown(socket.SHUT_WR)
    check(s.wait() == 1, "exit status %s" % s.proc.returncode)
    s.sk.settimeout(5)
    check(s.sk.recv(100) == b"", "an answer to nobody")


@case
def not_a_socket():
    """swrk on an fd that is no SEQPACKET socket: exit 1"""
    for cmd in ([ARGS.criu, "swrk", "0"], [ARGS.criu, "swrk"], [ARGS.criu, "swrk", "x"]):
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
        check(p.returncode == 1, "%s: exit %d" % (cmd, p.returncode))
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    p = subprocess.run([ARGS.criu, "swrk", str(b.fileno())], pass_fds=[b.fileno()], capture_output=True, text=True)
    a.close()
    b.close()
    check(p.returncode == 1 and "SOCK_SEQPACKET" in p.stderr, "stream socket: %d %s" % (p.returncode, p.stderr))


# ---- dump and restore ----

DUMP_NOTES = ["pre-dump", "query-ext-files", "post-dump"]
RESTORE_NOTES = ["pre-restore", "post-restore", "pre-resume", "post-resume"]


def dump_restore(env, lazy):
    p = env.target()
    pid = p.pid
    seen = {}

    def at_dump(script, npid):
        if script == "post-dump":
            # the images are complete and the tree still exists, stopped
            seen["post-dump"] = proc_state(pid)
            seen["inventory"] = os.path.exists(os.path.join(env.img, "inventory.img"))
        return True

    pre = os.path.join(env.work, "dump.log")
    with open(pre, "w"):
        pass  # a runtime creates the log first (podman): it must be opened in place
    ino = os.stat(pre).st_ino
    r, notes = dump_ok(env, p, on_notify=at_dump)
    # the tree is dead when the answer comes: our child is a zombie or gone
    check(proc_state(pid) in ("Z", "gone"), "the dumped task is %s at the DUMP answer" % proc_state(pid))
    check(r["dump"] == {"restored": False}, "dump answer %r" % r)
    check([n for n, _ in notes] == DUMP_NOTES, "dump notifications %r" % notes)
    check(all(np is None for _, np in notes), "a dump notification with a pid: %r" % notes)
    check(seen["post-dump"] in ("t", "T") and seen["inventory"], "at post-dump: %r" % seen)
    check(os.stat(pre).st_ino == ino and "dump of pid %d complete" % pid in log_text(env, "dump.log"),
          "dump.log not written in place")
    check(p.wait(10) == -signal.SIGKILL, "the dumped target ended with %s" % p.returncode)
    st = C.read_stats(os.path.join(env.work, "stats-dump"))["dump"]
    check(st["pages_written"] >= 8 * 256 and st["shpages_written"] >= 4 * 256 and st["pages_lazy"] == 0,
          "stats-dump %r" % st)
    check(st["pages_scanned"] >= st["pages_written"] and st["frozen_time"] >= st["memdump_time"], "stats %r" % st)
    check(not os.path.exists(os.path.join(env.img, "stats-dump")), "stats-dump in the images dir")
    wait_pid_gone(pid)

    daemon = None
    if lazy:
        daemon = subprocess.Popen([ARGS.criu, "lazy-pages", "-D", env.img, "-W", env.work, "-o", "lp.log"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        env.procs.append(daemon)
        wait_for(lambda: os.path.exists(os.path.join(env.work, "lazy-pages.socket")), "the daemon's socket")

    def at_restore(script, npid):
        if script == "post-restore":
            # restored, not running yet, and the runtime's child (rst_sibling)
            seen["post-restore"] = (npid, proc_state(npid), ppid_of(npid))
        return True

    r, notes, s = restore(env, at_restore, lazy_pages=lazy)
    check(r["success"], "restore failed: %s" % r.get("cr_errmsg"))
    check(s.wait() == 0, "swrk exit status %s" % s.proc.returncode)
    rpid = r["restore"]["pid"]
    check(rpid == pid, "restored as %d, dumped %d" % (rpid, pid))
    check([n for n, _ in notes] == RESTORE_NOTES, "restore notifications %r" % notes)
    check(dict(notes)["post-restore"] == rpid, "post-restore pid %r" % notes)
    check(seen["post-restore"][0] == rpid and seen["post-restore"][2] == os.getpid(),
          "at post-restore: %r (we are %d)" % (seen["post-restore"], os.getpid()))
    check(ppid_of(rpid) == os.getpid(), "the restored root is not our child")
    st = C.read_stats(os.path.join(env.work, "stats-restore"))["restore"]
    check(st["pages_compared"] == 0 and st["pages_skipped_cow"] == 0 and st["restore_time"] >= st["forking_time"],
          "stats-restore %r" % st)
    env.pids.append(rpid)
    finish_restored(env, rpid)
    if daemon:
        check(daemon.wait(30) == 0, "the lazy-pages daemon exited with %s" % daemon.returncode)
    return st


@case
def dump_restore_eager():
    """DUMP then RESTORE of a real process: notifications in order, stats, the tree dead first"""
    env = Env("eager")
    try:
        st = dump_restore(env, lazy=False)
        check(st["pages_restored"] >= (8 + 4) * 256, "eager pages_restored %r" % st)
    finally:
        env.cleanup()


@case
def dump_restore_lazy():
    """RESTORE with lazy_pages: the daemon's socket in the work dir serves the memory"""
    env = Env("lazy")
    try:
        st = dump_restore(env, lazy=True)
        check(st["pages_restored"] < 256, "lazy pages_restored %r: memory came eagerly" % st)
    finally:
        env.cleanup()


@case
def restore_child():
    """RESTORE without rst_sibling: the root is criu-lite's child, running after it exits"""
    env = Env("child")
    try:
        p = env.target(priv=1, shared=1)
        dump_ok(env, p)
        p.wait(10)
        wait_pid_gone(p.pid)
        r, notes, s = restore(env, rst_sibling=False)
        check(r["success"] and s.wait() == 0, "restore: %r" % r)
        pid = r["restore"]["pid"]
        env.pids.append(pid)
        check(running_untraced(pid) and ppid_of(pid) != os.getpid(), "restored root state")
        n = tick_count(os.path.join(env.dir, "ticks"))
        wait_for(lambda: tick_count(os.path.join(env.dir, "ticks")) > n + 2, "ticks")
    finally:
        env.cleanup()


@case
def post_dump_fails():
    """the client says no at post-dump: the dump fails, the tree runs on untraced"""
    env = Env("postdump")
    try:
        p = env.target(priv=1, shared=1)
        r, notes, s = dump(env, p.pid, on_notify=lambda n, _: n != "post-dump")
        expect_fail(r, s, C.DUMP, "post-dump")
        check([n for n, _ in notes] == DUMP_NOTES, "notifications %r" % notes)
        check(running_untraced(p.pid), "the tree after a refused post-dump")
        check(r.get("cr_errmsg") == first_error(env, "dump.log"), "cr_errmsg %r is not the log's first error %r"
              % (r.get("cr_errmsg"), first_error(env, "dump.log")))
        check(not os.path.exists(os.path.join(env.work, "stats-dump")), "stats-dump of a failed dump")
    finally:
        env.cleanup()


@case
def client_gone_mid_dump():
    """the client goes away at query-ext-files: swrk exits 1, the tree runs on untraced"""
    env = Env("gone")
    try:
        p = env.target(priv=1, shared=1)
        r, notes, s = dump(env, p.pid, on_notify=lambda n, _: None if n == "query-ext-files" else True)
        s.close()
        check(r is None, "an answer after we left")
        check(s.wait() == 1, "exit status %s" % s.proc.returncode)
        check(running_untraced(p.pid), "the tree after the client went away")
        check("no answer from the client to the query-ext-files" in log_text(env, "dump.log"), "log")
    finally:
        env.cleanup()


CLIENT_IN_TREE = r"""
import os, socket, subprocess, sys
sys.path.insert(0, sys.argv[1])
import criu_rpc as C
sk, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
# swrk outside the tree: the shell that starts it exits, and it is adopted elsewhere
subprocess.run(["/bin/sh", "-c", '"$0" swrk %d >/dev/null 2>&1 </dev/null &' % child.fileno(), sys.argv[2]],
               pass_fds=[child.fileno()])
child.close()
img = os.open(sys.argv[3], os.O_RDONLY | os.O_DIRECTORY)
sk.send(C.encode("req", {"type": C.DUMP, "opts": {"images_dir_fd": img, "pid": os.getppid(), "log_file": "d.log",
                                                 "notify_scripts": True, "leave_running": True}}))
while True:
    r = C.decode("resp", sk.recv(8192))
    if r["type"] != C.NOTIFY:
        break
    sk.send(C.encode("req", {"type": C.NOTIFY, "notify_success": True}))
with open(sys.argv[4], "w") as f:
    f.write(repr(r))
"""


@case
def client_in_tree():
    """a client inside the tree it dumps can't answer once stopped: a failure, no hang"""
    env = Env("intree")
    try:
        res = os.path.join(env.dir, "result")
        script = os.path.join(env.dir, "client.py")
        with open(script, "w") as f:
            f.write(CLIENT_IN_TREE)
        root = subprocess.Popen(["/bin/sh", "-c", '"$0" "$@"; exec sleep 60', sys.executable, script,
                                 os.path.dirname(os.path.abspath(__file__)), ARGS.criu, env.img, res],
                                stdin=subprocess.DEVNULL, start_new_session=True)
        env.procs.append(root)
        wait_for(lambda: os.path.exists(res), "the client's answer", timeout=30)
        with open(res) as f:
            r = eval(f.read())
        check(not r["success"] and "can't answer the query-ext-files" in r.get("cr_errmsg", ""), "answer %r" % r)
        check(running_untraced(root.pid), "the tree after the failure")
    finally:
        env.cleanup()


@case
def query_ext_files_externals():
    """externals named at query-ext-files can't be taken yet: the dump fails, the tree runs"""
    env = Env("qef")
    try:
        p = env.target(priv=1, shared=1)
        s = env.server()
        s.send({"type": C.DUMP, "opts": opts(env, pid=p.pid, log_file="dump.log", notify_scripts=True)})
        while True:
            r = s.recv()
            if r["type"] != C.NOTIFY:
                break
            ans = {"type": C.NOTIFY, "notify_success": True}
            if r["notify"]["script"] == "query-ext-files":
                ans["opts"] = {"images_dir_fd": -1, "external": ["file[1:2]"]}
            s.send(ans)
        expect_fail(r, s, C.DUMP, "query-ext-files")
        check(running_untraced(p.pid), "the tree")
    finally:
        env.cleanup()


@case
def restore_notify_fails():
    """the client says no at pre-restore (nothing made) or post-restore (all killed)"""
    env = Env("rstfail")
    try:
        p = env.target(priv=1, shared=1)
        dump_ok(env, p)
        p.wait(10)
        wait_pid_gone(p.pid)
        r, notes, s = restore(env, on_notify=lambda n, _: n != "pre-restore")
        expect_fail(r, s, C.RESTORE, "pre-restore")
        check(r["restore"]["pid"] == -1 and proc_state(p.pid) == "gone", "after pre-restore: %r" % r)
        check([n for n, _ in notes] == ["pre-restore"], "notifications %r" % notes)
        r, notes, s = restore(env, on_notify=lambda n, _: n != "post-restore")
        expect_fail(r, s, C.RESTORE, "post-restore")
        check([n for n, _ in notes] == ["pre-restore", "post-restore"], "notifications %r" % notes)
        # the root was our child (rst_sibling): killed, ours to reap
        st = waitpid_status(p.pid)
        check(st == -signal.SIGKILL, "the refused root ended with %s" % st)
    finally:
        env.cleanup()


def unshare_cmd():
    return shutil.which("unshare")


@case
def net_namespace():
    """a root in its own network namespace: dumped with its links, addresses and routes
    (--leave-running here), or empty (empty_ns) with network-lock, restored into a new
    one with setup-namespaces and network-unlock"""
    if not unshare_cmd():
        return "skip: no unshare"
    env = Env("netns")
    try:
        p = env.target(priv=1, shared=1, wrap=[unshare_cmd(), "--net"])
        wait_for(lambda: ns_ino(p.pid, "net") != ns_ino("self", "net"), "the target's netns")
        old = ns_ino(p.pid, "net")
        # held, so that its number can't be given to the restored tree's new namespace
        env.fds.append(os.open("/proc/%d/ns/net" % p.pid, os.O_RDONLY))
        r, notes = dump_ok(env, p, leave_running=True)
        check([n for n, _ in notes] == ["pre-dump", "network-lock", "query-ext-files", "post-dump",
                                        "network-unlock"], "dump notifications %r" % notes)
        check(running_untraced(p.pid), "the tree after a dump with leave_running")
        r, notes = dump_ok(env, p, empty_ns=C.CLONE_NEWNET)
        check([n for n, _ in notes] == ["pre-dump", "network-lock", "query-ext-files", "post-dump"],
              "dump notifications %r" % notes)
        p.wait(10)
        wait_pid_gone(p.pid)
        r, notes, s = restore(env)
        check(r["success"] and s.wait() == 0, "restore: %r" % r)
        pid = r["restore"]["pid"]
        env.pids.append(pid)
        check([n for n, _ in notes] == ["pre-restore", "setup-namespaces", "post-setup-namespaces", "post-restore",
                                        "network-unlock", "pre-resume", "post-resume"], "restore notes %r" % notes)
        check(dict(notes)["setup-namespaces"] == pid and dict(notes)["post-restore"] == pid, "pids %r" % notes)
        new = ns_ino(pid, "net")
        check(new not in (old, ns_ino("self", "net")), "restored into netns %d (old %d)" % (new, old))
        finish_restored(env, pid)
    finally:
        env.cleanup()


@case
def join_namespaces():
    """join_ns net/uts/ipc: the restored tree in those namespaces; pid is refused"""
    if not unshare_cmd():
        return "skip: no unshare"
    env = Env("joinns")
    try:
        holder = subprocess.Popen([unshare_cmd(), "--net", "--uts", "--ipc", "sleep", "120"])
        env.procs.append(holder)
        wait_for(lambda: ns_ino(holder.pid, "uts") != ns_ino("self", "uts"), "the holder's namespaces")
        p = env.target(priv=1, shared=1)
        dump_ok(env, p)
        p.wait(10)
        wait_pid_gone(p.pid)
        r, notes, s = restore(env, join_ns=[{"ns": "pid", "ns_file": "/proc/%d/ns/pid" % holder.pid}])
        expect_fail(r, s, C.RESTORE, "--join-ns", errno.ENOTSUP)
        joins = [{"ns": n, "ns_file": "/proc/%d/ns/%s" % (holder.pid, n)} for n in ("net", "uts", "ipc")]
        r, notes, s = restore(env, join_ns=joins)
        check(r["success"] and s.wait() == 0, "restore: %r" % r)
        pid = r["restore"]["pid"]
        env.pids.append(pid)
        for n in ("net", "uts", "ipc"):
            check(ns_ino(pid, n) == ns_ino(holder.pid, n), "%s namespace not joined" % n)
        finish_restored(env, pid)
    finally:
        env.cleanup()


# ---- options ----

@case
def refused_options():
    """what criu-lite can't honour: a failed answer naming it, the tree untouched"""
    env = Env("refused")
    try:
        p = env.target(priv=1, shared=1)
        r0, w0 = env.dirfd(env.img), env.dirfd(env.work)
        cases = [
            ({"exec_cmd": ["true"]}, "exec_cmd: not supported yet"),
            ({"lsm_profile": "apparmor:x"}, "lsm_profile: not supported yet"),
            ({"external": ["dev[1:3]:k"]}, "--external: not supported yet"),
            ({"ps": {"address": "127.0.0.1", "port": 27}}, "--page-server: not supported yet"),
            ({"parent_img": "../pre"}, "--prev-images-dir: not supported yet"),
            ({"track_mem": True}, "--track-mem: not supported yet"),
            ({"lazy_pages": True, "ps": {"port": 27}}, "--lazy-pages: not supported yet"),
            ({"manage_cgroups_mode": 4}, "--manage-cgroups: not supported yet"),
            ({"skip_mnt": ["/x"]}, "skip_mnt: not supported yet"),
            ({"cpu_cap": 1}, "cpu_cap: not supported yet"),
        ]
        for extra, msg in cases:
            s = env.server()
            o = {"images_dir_fd": r0, "work_dir_fd": w0, "pid": p.pid, "log_file": "dump.log"}
            o.update(extra)
            r, _ = s.call({"type": C.DUMP, "opts": o})
            expect_fail(r, s, C.DUMP, msg, errno.ENOTSUP)
            check(r["cr_errmsg"] == first_error(env, "dump.log"), "cr_errmsg is not the log's first error")
            check(running_untraced(p.pid), "the tree after %r" % extra)
        # restore's own
        s = env.server()
        r, _ = s.call({"type": C.RESTORE, "opts": {"images_dir_fd": r0, "log_file": "restore.log",
                                                    "join_ns": [{"ns": "pid", "ns_file": "/proc/1/ns/pid"}]}})
        expect_fail(r, s, C.RESTORE, "--join-ns: not supported yet", errno.ENOTSUP)
    finally:
        env.cleanup()


@case
def bad_options():
    """values that make no sense: EBADRQC, the tree untouched"""
    env = Env("badopts")
    try:
        p = env.target(priv=1, shared=1)
        r0 = env.dirfd(env.img)
        closed = os.open("/dev/null", os.O_RDONLY)
        os.close(closed)
        cases = [
            ({"empty_ns": 0x20000000}, "empty_ns", errno.EBADRQC),
            ({"log_file": "a/b.log"}, "log_file", errno.EBADRQC),
            ({"images_dir_fd": 999}, "images_dir_fd", errno.ENOENT),
            ({"images_dir_fd": -1}, "no images directory", errno.EBADRQC),
            ({"inherit_fd": [{"key": "k", "fd": 999}]}, "fd 999 is not open", errno.EBADRQC),
            ({"manage_cgroups_mode": 9}, "manage_cgroups_mode", errno.EBADRQC),
            ({"config_file": os.path.join(env.dir, "bad.conf")}, "configuration file", errno.EBADRQC),
            ({"pid": -5}, "not a process", errno.EBADRQC),
        ]
        with open(os.path.join(env.dir, "bad.conf"), "w") as f:
            f.write("no-such-option\n")
        for extra, msg, err in cases:
            s = env.server()
            o = {"images_dir_fd": r0, "pid": p.pid, "log_to_stderr": True}
            o.update(extra)
            r, _ = s.call({"type": C.DUMP, "opts": o})
            expect_fail(r, s, C.DUMP, msg, err)
            check(running_untraced(p.pid), "the tree after %r" % extra)
        s = env.server()
        r, _ = s.call({"type": C.DUMP})
        expect_fail(r, s, C.DUMP, "no options", errno.EBADRQC)
        # no pid: the client itself (CRIU's self-dump), which holds the socket
        s = env.server()
        r, _ = s.call({"type": C.DUMP, "opts": {"images_dir_fd": r0, "log_to_stderr": True}})
        expect_fail(r, s, C.DUMP, "the client itself", errno.ENOTSUP)
        check(running_untraced(os.getpid()), "we were left traced")
    finally:
        env.cleanup()


@case
def config_file():
    """config_file overrides the request (CRIU's order); a missing one is ignored"""
    env = Env("config")
    try:
        p = env.target(priv=1, shared=1)
        conf = os.path.join(env.dir, "runc.conf")
        with open(conf, "w") as f:
            f.write("# as runc's /etc/criu/runc.conf\nleave-running\nlog-file from-conf.log\n")
        dump_ok(env, p, config_file=os.path.join(env.dir, "absent.conf"), leave_running=True)
        check(running_untraced(p.pid), "leave_running from the request")
        dump_ok(env, p, config_file=conf, leave_running=False)
        check(running_untraced(p.pid), "leave-running from the configuration file")
        check("dump of pid %d complete" % p.pid in log_text(env, "from-conf.log"), "the file's log-file")
    finally:
        env.cleanup()


@case
def images_dir_path():
    """images_dir as a path (images_dir_fd -1); the work dir defaults to it"""
    env = Env("imgpath")
    try:
        p = env.target(priv=1, shared=1)
        s = env.server()
        r, _ = s.call({"type": C.DUMP, "opts": {"images_dir_fd": -1, "images_dir": env.img, "pid": p.pid,
                                                 "leave_running": True}})
        check(r["success"] and s.wait() == 0, "dump: %r" % r)
        for f in ("inventory.img", "criu.log", "stats-dump"):
            check(os.path.exists(os.path.join(env.img, f)), "%s in the images dir" % f)
    finally:
        env.cleanup()


@case
def quiet_stdout():
    """display_stats goes to the log, never to swrk's stdout (a restored container's)"""
    env = Env("stdout")
    try:
        p = env.target(priv=1, shared=1)
        out_path = os.path.join(env.dir, "stdout")
        with open(out_path, "w") as out:
            s = env.server(stdio=out)
            r, _ = s.call({"type": C.DUMP, "opts": opts(env, pid=p.pid, log_file="dump.log", display_stats=True,
                                                         log_level=2)})
        check(r["success"] and s.wait() == 0, "dump: %r" % r)
        check(os.path.getsize(out_path) == 0, "swrk wrote to its stdout: %r" % open(out_path).read())
        check("Dump: " in log_text(env, "dump.log"), "the statistics are not in the log")
    finally:
        env.cleanup()


@case
def cli_stats():
    """the command line writes stats-dump and stats-restore in its work dir too"""
    env = Env("clistats")
    try:
        p = env.target(priv=2, shared=1)
        r = subprocess.run([ARGS.criu, "dump", "-t", str(p.pid), "-D", env.img, "-W", env.work],
                           capture_output=True, text=True)
        check(r.returncode == 0, "criu-lite dump: %s" % r.stderr)
        st = C.read_stats(os.path.join(env.work, "stats-dump"))["dump"]
        check(st["pages_written"] >= 2 * 256 and st["shpages_written"] >= 256, "stats-dump %r" % st)
        p.wait(10)
        wait_pid_gone(p.pid)
        r = subprocess.run([ARGS.criu, "restore", "-d", "-D", env.img, "-W", env.work], capture_output=True,
                           text=True)
        check(r.returncode == 0, "criu-lite restore: %s" % r.stderr)
        env.pids.append(p.pid)
        st = C.read_stats(os.path.join(env.work, "stats-restore"))["restore"]
        check(st["pages_restored"] >= 3 * 256, "stats-restore %r" % st)
    finally:
        env.cleanup()


def cgroup_dirs():
    """A freezer cgroup parent we may create children in (v1), or the v2 root."""
    if os.path.isdir("/sys/fs/cgroup/freezer"):
        return "/sys/fs/cgroup/freezer", "freezer"
    if os.path.exists("/sys/fs/cgroup/cgroup.procs"):
        return "/sys/fs/cgroup", ""
    return None, None


def own_cgroup(ctrl):
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctrls == ctrl or ctrl in ctrls.split(","):
                return path
    return None


@case
def cgroups():
    """manage_cgroups + cg_root: the tasks must land where they belong; freeze_cgroup:
    nothing in it may be outside the tree"""
    base, ctrl = cgroup_dirs()
    if not base:
        return "skip: no cgroup hierarchy to use"
    env = Env("cgroups")
    try:
        p = env.target(priv=1, shared=1)
        cg = os.path.join(base, "criu-lite-rpc-%d" % os.getpid())
        os.mkdir(cg)
        env.cgroups.append(cg)
        other = subprocess.Popen(["sleep", "60"])
        env.procs.append(other)
        for pid in (p.pid, other.pid):
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(pid))
        r, _, s = dump(env, p.pid, freeze_cgroup=cg, leave_running=True)
        expect_fail(r, s, C.DUMP, "pid %d is in the cgroup" % other.pid, errno.ENOTSUP)
        with open(os.path.join(base, "cgroup.procs"), "w") as f:
            f.write(str(other.pid))
        # back where it was for the rest: the restore inherits our cgroups (the tree
        # in a cgroup of its own: said, or refused at dump)
        dump_ok(env, p, freeze_cgroup=cg, leave_running=True, manage_cgroups=True)
        with open(os.path.join(base, "cgroup.procs"), "w") as f:
            f.write(str(p.pid))
        dump_ok(env, p, manage_cgroups=True)
        p.wait(10)
        wait_pid_gone(p.pid)
        mine = own_cgroup(ctrl) if ctrl else own_cgroup("")
        r, _, s = restore(env, manage_cgroups=True, cg_root=[{"ctrl": ctrl, "path": "/elsewhere"}])
        expect_fail(r, s, C.RESTORE, "not /elsewhere", errno.ENOTSUP)
        r, _, s = restore(env, manage_cgroups=True, cg_root=[{"ctrl": ctrl, "path": mine}])
        check(r["success"] and s.wait() == 0, "restore with our own cgroup as cg_root: %r" % r)
        env.pids.append(r["restore"]["pid"])
        finish_restored(env, r["restore"]["pid"])
    finally:
        env.cleanup()


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--criu", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("-l", action="store_true", help="list the cases")
    ap.add_argument("-f", action="append", default=[], help="run only these cases")
    ARGS = ap.parse_args()
    ARGS.criu = os.path.abspath(ARGS.criu)
    ARGS.target = os.path.abspath(ARGS.target)
    if ARGS.l:
        for c in CASES:
            print("%-28s %s" % (c.__name__, c.__doc__.splitlines()[0]))
        return 0
    os.environ["HOME"] = tempfile.gettempdir()  # no configuration file of ours
    os.environ.pop("CRIU_CONFIG_FILE", None)
    sel = [c for c in CASES if not ARGS.f or c.__name__ in ARGS.f]
    print("1..%d" % len(sel))
    failed = 0
    for i, c in enumerate(sel, 1):
        t0 = time.time()
        try:
            res = c()
            extra = " # " + res if isinstance(res, str) else ""
            print("ok %d - %s (%.1fs)%s" % (i, c.__name__, time.time() - t0, extra))
        except Exception as e:  # a failure of any kind fails the case, with its story
            failed += 1
            print("not ok %d - %s: %s" % (i, c.__name__, e))
            if not isinstance(e, Fail):
                traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
    print("# %d of %d failed" % (failed, len(sel)) if failed else "# all %d passed" % len(sel))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
