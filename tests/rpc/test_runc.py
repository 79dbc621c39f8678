#!/usr/bin/env python3
"""runc 1.1.5 (Debian's) checkpoints and restores containers through criu-lite
(`runc --criu WRAPPER`, the wrapper running criu-lite and counting its swrk processes).

A busybox container (busybox-static as its rootfs, runc's default spec: new pid, mount,
ipc, uts and network namespaces, /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, a
read-only /sys with the cgroup mounts, masked and read-only /proc paths) runs a counter
loop whose output goes to a pipe the test reads. Each case checks what a user sees:
the counter goes on from where it was, in the same pid namespace layout (the shell is
pid 1 of a new namespace), with its output on the new pipe runc hands over
(inherit_fd), and nothing is left behind.

    test_runc.py --criu build/criu-lite [-l] [-f NAME]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

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


class Reader:
    """Everything written to a pipe, in a thread of its own."""

    def __init__(self, fd):
        self.fd, self.buf, self.eof = fd, b"", False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while True:
            try:
                d = os.read(self.fd, 65536)
            except OSError:  # a pty master once its slave is gone: EIO
                d = b""
            if not d:
                self.eof = True
                os.close(self.fd)
                return
            self.buf += d

    def ticks(self):
        return [int(m) for m in re.findall(rb"tick (\d+)\r?\n", self.buf)]

    def wait_eof(self, timeout=10):
        self.t.join(timeout)
        return self.eof


LOOP = "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done"


class Ct:
    """A busybox container under a runc state dir of our own."""

    def __init__(self, name, terminal=False):
        self.dir = tempfile.mkdtemp(prefix="runc-%s." % name)
        self.id = "clrpc-%s-%d" % (name, os.getpid())
        self.ids = [self.id]
        self.state = os.path.join(self.dir, "state")
        self.bundle = os.path.join(self.dir, "bundle")
        self.img = os.path.join(self.dir, "img")
        self.work = os.path.join(self.dir, "work")
        self.calls = os.path.join(self.dir, "calls")
        self.wrapper = os.path.join(self.dir, "criu")
        self.procs = []
        rootfs = os.path.join(self.bundle, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"))
        shutil.copy(ARGS.busybox, os.path.join(rootfs, "bin", "busybox"))
        for app in ("sh", "sleep", "echo"):
            os.symlink("busybox", os.path.join(rootfs, "bin", app))
        subprocess.run(["runc", "spec"], cwd=self.bundle, check=True)
        cfg_path = os.path.join(self.bundle, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["process"]["terminal"] = terminal
        cfg["process"]["args"] = ["sh", "-c", LOOP]
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        with open(self.wrapper, "w") as f:
            f.write('#!/bin/sh\necho "$@" >> %s\nexec %s "$@"\n' % (self.calls, ARGS.criu))
        os.chmod(self.wrapper, 0o755)
        self.out = None

    def runc(self, *args, **kw):
        return subprocess.run(["runc", "--root", self.state, "--criu", self.wrapper] + list(args),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                              cwd=self.bundle, **kw)

    def runc_piped(self, *args):
        """runc with its (and so the container's) stdout and stderr on a new pipe."""
        r, w = os.pipe()
        p = subprocess.run(["runc", "--root", self.state, "--criu", self.wrapper] + list(args),
                           stdin=subprocess.DEVNULL, stdout=w, stderr=w, timeout=60, cwd=self.bundle)
        os.close(w)
        reader = Reader(r)
        if p.returncode != 0:
            reader.wait_eof(5)
            raise Fail("runc %s: %s" % (" ".join(args), reader.buf.decode(errors="replace")))
        return reader

    def start(self):
        self.out = self.runc_piped("run", "-d", self.id)
        self.wait_ticks(self.out, 3)

    def wait_ticks(self, reader, n, timeout=20, after=0):
        end = time.time() + timeout
        while time.time() < end:
            if len([t for t in reader.ticks() if t > after]) >= n:
                return
            time.sleep(0.02)
        raise Fail("the container did not tick %d times (output: %r)" % (n, reader.buf[-200:]))

    def status(self, cid=None):
        p = self.runc("state", cid or self.id)
        return json.loads(p.stdout)["status"] if p.returncode == 0 else "absent"

    def init_pid(self, cid=None):
        return json.loads(self.runc("state", cid or self.id).stdout)["pid"]

    def checkpoint(self, *extra):
        p = self.runc("checkpoint", "--image-path", self.img, "--work-path", self.work, *extra, self.id)
        check(p.returncode == 0, "runc checkpoint: %s%s" % (p.stderr, first_error(os.path.join(self.work,
                                                                                            "dump.log"))))
        check(os.path.exists(os.path.join(self.img, "inventory.img")), "no inventory.img")

    def restore(self, cid=None, *extra):
        if cid and cid not in self.ids:
            self.ids.append(cid)
        try:
            return self.runc_piped("restore", "-d", "--image-path", self.img, "--work-path", self.work, *extra,
                                   cid or self.id)
        except Fail as e:
            raise Fail("%s%s" % (e, first_error(os.path.join(self.work, "restore.log"))))

    def cleanup(self):
        for cid in self.ids:
            self.runc("kill", cid, "KILL")
            for _ in range(50):
                if self.runc("delete", "--force", cid).returncode == 0 or self.status(cid) == "absent":
                    break
                time.sleep(0.1)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def first_error(path):
    try:
        with open(path) as f:
            for line in f:
                if "Error (" in line:
                    return "; " + os.path.basename(path) + ": " + line[line.index("Error ("):].strip()
    except OSError:
        pass
    return ""


def nspid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    return []


def check_container(ct, cid=None):
    """The container's init: the shell, pid 1 of a pid namespace of its own, untraced."""
    pid = ct.init_pid(cid)
    check(ct.status(cid) == "running", "container status %s" % ct.status(cid))
    ids = nspid(pid)
    check(len(ids) == 2 and ids[1] == 1, "the restored init's NSpid is %r, not pid 1 of a namespace" % ids)
    check(os.readlink("/proc/%d/ns/pid" % pid) != os.readlink("/proc/self/ns/pid"), "init in our pid ns")
    with open("/proc/%d/status" % pid) as f:
        check("TracerPid:\t0\n" in f.read(), "the container's init is still traced")


def continues(ct, old, new, after_ckpt=True):
    """The counter goes on: the restored container's first tick follows the last one the
    checkpointed container printed (the old pipe is drained: its writers are gone)."""
    if after_ckpt:
        check(old.wait_eof(10), "the checkpointed container's pipe is still open")
    last = max(old.ticks())
    ct.wait_ticks(new, 3)
    first = new.ticks()[0]
    check(first == last + 1, "the restored counter starts at %d, the checkpointed one ended at %d" % (first, last))
    return last


@case
def checkpoint_restore():
    """runc checkpoint, runc restore: the counter goes on in a new pid namespace, on runc's new pipe"""
    ct = Ct("ckpt")
    try:
        ct.start()
        ct.checkpoint()
        check(ct.status() == "absent", "the checkpointed container is %s" % ct.status())
        new = ct.restore()
        continues(ct, ct.out, new)
        check_container(ct)
        calls = [line.split() for line in open(ct.calls)]
        check(all(c[0] == "swrk" for c in calls) and len(calls) == 4, "criu calls %r" % calls)
    finally:
        ct.cleanup()


@case
def leave_running():
    """runc checkpoint --leave-running: the container goes on; a second one restored from the images"""
    ct = Ct("leave")
    try:
        ct.start()
        ct.checkpoint("--leave-running")
        n = max(ct.out.ticks())
        ct.wait_ticks(ct.out, 3, after=n)
        check_container(ct)
        second = "%s-b" % ct.id
        new = ct.restore(second)
        ct.wait_ticks(new, 3)
        check(new.ticks()[0] <= n + 1, "the second container starts at tick %d, after %d" % (new.ticks()[0], n))
        check_container(ct, second)
        check(ct.init_pid(second) != ct.init_pid(), "one init for two containers")
        n = max(ct.out.ticks())
        ct.wait_ticks(ct.out, 3, after=n)
    finally:
        ct.cleanup()


@case
def lazy():
    """runc restore --lazy-pages --work-path IMAGES with criu-lite lazy-pages -D IMAGES: the counter goes on"""
    ct = Ct("lazy")
    try:
        ct.start()
        ct.checkpoint()
        lp = subprocess.Popen([ARGS.criu, "lazy-pages", "-D", ct.img, "-o", "lazy-pages.log", "-v4"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ct.procs.append(lp)
        sock = os.path.join(ct.img, "lazy-pages.socket")
        end = time.time() + 10
        while not os.path.exists(sock) and time.time() < end:
            time.sleep(0.01)
        check(os.path.exists(sock), "no %s" % sock)
        ct.work = ct.img  # the daemon's socket is in the restore's work dir (RUNTIMES.md section 5)
        t0 = time.monotonic()
        new = ct.restore(None, "--lazy-pages")
        dt = time.monotonic() - t0
        continues(ct, ct.out, new)
        check_container(ct)
        check(lp.wait(30) == 0, "lazy-pages exited with %s" % lp.returncode)
        with open(os.path.join(ct.img, "lazy-pages-stats.json")) as f:
            st = json.load(f)
        check(st.get("complete"), "lazy-pages-stats.json: not complete")
        print("# lazy: runc restore took %.0f ms; %d pages served" % (dt * 1000, st.get("pages_copied", 0) +
                                                                        st.get("pages_continued", 0)))
    finally:
        ct.cleanup()


class ConsoleSocket:
    """runc's --console-socket: the master of the container's pty arrives here."""

    def __init__(self, path):
        self.path, self.fd = path, None
        self.sk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sk.bind(path)
        self.sk.listen(1)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        c, _ = self.sk.accept()
        _, fds, _, _ = socket.recv_fds(c, 4096, 1)
        c.close()
        self.sk.close()
        self.fd = fds[0] if fds else None

    def master(self, timeout=20):
        self.t.join(timeout)
        check(self.fd is not None, "no pty master on the console socket %s" % self.path)
        return self.fd


@case
def terminal():
    """a terminal container: runc restore hands a new master (orphan-pts-master) to its --console-socket"""
    ct = Ct("tty", terminal=True)
    try:
        cs = ConsoleSocket(os.path.join(ct.dir, "console.sock"))
        p = ct.runc("run", "-d", "--console-socket", cs.path, ct.id)
        check(p.returncode == 0, "runc run: %s" % p.stderr)
        old = Reader(cs.master())
        ct.wait_ticks(old, 3)
        pid = ct.init_pid()
        check(os.readlink("/proc/%d/fd/1" % pid).startswith("/dev/pts/"), "no pty: %s" %
              os.readlink("/proc/%d/fd/1" % pid))
        ct.checkpoint()
        cs2 = ConsoleSocket(os.path.join(ct.dir, "console2.sock"))
        p = ct.runc("restore", "-d", "--console-socket", cs2.path, "--image-path", ct.img, "--work-path", ct.work,
                    ct.id)
        check(p.returncode == 0, "runc restore: %s%s" % (p.stderr, first_error(os.path.join(ct.work,
                                                                                          "restore.log"))))
        new = Reader(cs2.master())
        continues(ct, old, new)
        check_container(ct)
        pid = ct.init_pid()
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
        check(st[4] != "0" and os.major(int(st[4])) >= 136, "the restored init has no controlling terminal")
    finally:
        ct.cleanup()


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--criu", required=True)
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("-l", action="store_true")
    ap.add_argument("-f", action="append", default=[])
    ARGS = ap.parse_args()
    ARGS.criu = os.path.abspath(ARGS.criu)
    if ARGS.l:
        for c in CASES:
            print("%-20s %s" % (c.__name__, c.__doc__.splitlines()[0]))
        return 0
    sel = [c for c in CASES if not ARGS.f or c.__name__ in ARGS.f]
    print("1..%d" % len(sel))
    missing = [w for w in ("runc",) if not shutil.which(w)] + \
        [b for b in (ARGS.busybox,) if not os.path.exists(b)]
    if missing:
        for i, c in enumerate(sel, 1):
            print("ok %d - %s # skip: no %s" % (i, c.__name__, ", ".join(missing)))
        return 0
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    failed = 0
    for i, c in enumerate(sel, 1):
        t0 = time.time()
        try:
            c()
            print("ok %d - %s (%.1fs)" % (i, c.__name__, time.time() - t0))
        except Exception as e:  # any failure fails the case, with its story
            failed += 1
            print("not ok %d - %s: %s" % (i, c.__name__, e))
        sys.stdout.flush()
    print("# %d of %d failed" % (failed, len(sel)) if failed else "# all %d passed" % len(sel))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
