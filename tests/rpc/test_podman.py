#!/usr/bin/env python3
"""podman 4.3 (Debian's, `--runtime runc`) checkpoints and restores containers through
criu-lite installed as `criu` in PATH.

podman runs `criu swrk N` from PATH for its own VERSION probe (it needs CRIU 3.11 or
later), then `runc checkpoint` / `runc restore` (through conmon), whose runc runs `criu`
from PATH as well. A container of busybox-static (podman --rootfs: no registry here)
runs a counter loop: podman's default container has a seccomp filter, a private /dev/shm
bound from outside, /etc/hostname and co. bound from outside, an external network
namespace, reduced capabilities. The cases check what a user sees: podman's
--print-stats numbers (stats-dump, stats-restore), the counter going on from where it
was after the restore, the restored container's seccomp filter and capabilities.

podman keeps its storage and state in directories of the test's own (--root,
--runroot, the vfs driver), so nothing of the machine's podman is touched.

    test_podman.py --criu build/criu-lite [-l] [-f NAME]
"""
import argparse
import json
import re
import os
import shutil
import subprocess
import sys
import tempfile
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


class Pod:
    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="podman-%s." % name)
        self.name = "clrpc-%s-%d" % (name, os.getpid())
        bindir = os.path.join(self.dir, "bin")
        self.rootfs = os.path.join(self.dir, "rootfs")
        self.calls = os.path.join(self.dir, "calls")
        os.makedirs(bindir)
        os.makedirs(os.path.join(self.rootfs, "bin"))
        shutil.copy(ARGS.busybox, os.path.join(self.rootfs, "bin", "busybox"))
        for app in ("sh", "sleep", "echo"):
            os.symlink("busybox", os.path.join(self.rootfs, "bin", app))
        # `criu` in PATH: criu-lite, counting who runs it
        wrapper = os.path.join(bindir, "criu")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\necho "$@" >> %s\nexec %s "$@"\n' % (self.calls, ARGS.criu))
        os.chmod(wrapper, 0o755)
        self.env = dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
        self.base = ["podman", "--root", os.path.join(self.dir, "storage"), "--runroot",
                     os.path.join(self.dir, "run"), "--storage-driver", "vfs", "--events-backend", "file"]
        self.started = False

    def podman(self, *args, timeout=120):
        return subprocess.run(self.base + list(args), env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)

    def start(self):
        # (--ulimit: this machine lacks CAP_SYS_RESOURCE to raise podman's defaults)
        p = self.podman("run", "-d", "--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024",
                        "--ulimit", "nproc=4096:4096", "--name", self.name, "--rootfs", self.rootfs,
                        "sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done")
        check(p.returncode == 0, "podman run: %s" % p.stderr)
        self.started = True
        self.wait_ticks(2)

    def ticks(self):
        return self.podman("logs", self.name).stdout.count("tick ")

    def wait_ticks(self, n, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if self.ticks() >= n:
                return
            time.sleep(0.1)
        raise Fail("the container did not tick %d times" % n)

    def state(self):
        p = self.podman("inspect", "--format", "{{.State.Status}}", self.name)
        return p.stdout.strip() if p.returncode == 0 else "absent"

    def checkpoint_restore_server(self):
        """checkpoint, restore, bring lo up; the restored container's init pid (host)"""
        p = self.podman("container", "checkpoint", self.name)
        check(p.returncode == 0, "podman container checkpoint: %s" % p.stderr)
        check(self.state() == "exited", "container state after checkpoint: %s" % self.state())
        p = self.podman("container", "restore", self.name)
        check(p.returncode == 0, "podman container restore: %s" % p.stderr)
        check(self.state() == "running", "container state after restore: %s" % self.state())
        # runc restores the network namespace it made with empty_ns (it "doesn't manage
        # network devices"): a new one, lo down, as CRIU leaves it; a hook brings it up
        npid = self.podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout.strip()
        p = subprocess.run(["nsenter", "-t", npid, "-n", "ip", "link", "set", "lo", "up"], capture_output=True,
                           text=True)
        check(p.returncode == 0, "bringing lo up: %s" % p.stderr)
        return npid

    def cleanup(self):
        if os.environ.get("PODMAN_TEST_KEEP"):
            print("# kept %s" % self.dir)
            return
        if self.started:
            self.podman("rm", "-f", "-t", "0", self.name)
        shutil.rmtree(self.dir, ignore_errors=True)


def ticks_of(text):
    return [int(m) for m in re.findall(r"tick (\d+)\n", text)]


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
    return None


@case
def checkpoint_restore_print_stats():
    """podman container checkpoint/restore --print-stats: the counter goes on, seccomp and caps kept"""
    pod = Pod("ckpt")
    try:
        pod.start()
        pid = int(pod.podman("inspect", "--format", "{{.State.Pid}}", pod.name).stdout)
        before = {k: proc_status(pid, k) for k in ("Seccomp", "Seccomp_filters", "CapEff", "CapBnd", "NoNewPrivs")}
        check(before["Seccomp"] == "2", "podman's container runs without seccomp? %r" % before)
        p = pod.podman("container", "checkpoint", "--print-stats", pod.name)
        check(p.returncode == 0, "podman container checkpoint: %s" % p.stderr)
        st = json.loads(p.stdout)["container_statistics"][0]["criu_statistics"]
        check(st["pages_written"] > 0 and st["pages_scanned"] >= st["pages_written"], "dump stats %r" % st)
        check(pod.state() == "exited", "container state after checkpoint: %s" % pod.state())
        last = max(ticks_of(pod.podman("logs", pod.name).stdout))
        p = pod.podman("container", "restore", "--print-stats", pod.name)
        check(p.returncode == 0, "podman container restore: %s" % p.stderr)
        st = json.loads(p.stdout)["container_statistics"][0]["criu_statistics"]
        check(st["pages_restored"] > 0 and st["restore_time"] > 0, "restore stats %r" % st)
        check(pod.state() == "running", "container state after restore: %s" % pod.state())
        pod.wait_ticks(len(ticks_of(pod.podman("logs", pod.name).stdout)) + 3)
        t = ticks_of(pod.podman("logs", pod.name).stdout)
        i = t.index(last)
        check(t[i + 1] == last + 1, "after tick %d the restored counter says %d" % (last, t[i + 1]))
        pid = int(pod.podman("inspect", "--format", "{{.State.Pid}}", pod.name).stdout)
        after = {k: proc_status(pid, k) for k in before}
        check(after == before, "seccomp and caps %r, were %r" % (after, before))
        with open(pod.calls) as f:
            calls = [line.split() for line in f]
        check(all(c[0] == "swrk" for c in calls), "criu calls %r" % calls)
    finally:
        pod.cleanup()


@case
def server_host_binaries():
    """a python3 http.server from the host's bind-mounted binaries: checkpoint/restore, it serves on"""
    pod = Pod("srv")
    try:
        for d in ("lib", "lib64", "sbin"):
            if os.path.islink("/" + d):
                os.symlink(os.readlink("/" + d).lstrip("/"), os.path.join(pod.rootfs, d))
        os.makedirs(os.path.join(pod.rootfs, "usr"))
        os.makedirs(os.path.join(pod.rootfs, "srv"))
        srv = os.path.join(pod.dir, "srv")
        os.makedirs(srv)
        with open(os.path.join(srv, "f.txt"), "w") as f:
            f.write("served from the host's bind mount\n")
        p = pod.podman("run", "-d", "--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024",
                       "--ulimit", "nproc=4096:4096", "--name", pod.name, "-v", "/usr:/usr:ro",
                       "-v", srv + ":/srv:ro", "--rootfs", pod.rootfs, "/usr/bin/python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/srv")
        check(p.returncode == 0, "podman run: %s" % p.stderr)
        pod.started = True
        fetch = ("/usr/bin/python3", "-c", "import urllib.request as u; "
                 "print(u.urlopen('http://127.0.0.1:8000/f.txt', timeout=10).read().decode(), end='')")

        def get():
            end = time.time() + 20
            while True:
                p = pod.podman("exec", pod.name, *fetch)
                if p.returncode == 0 or time.time() > end:
                    return p
                time.sleep(0.2)
        p = get()
        check(p.returncode == 0 and p.stdout == "served from the host's bind mount\n",
              "fetching before the checkpoint: %r %r" % (p.stdout, p.stderr))
        pid = pod.podman("inspect", "--format", "{{.State.Pid}}", pod.name).stdout.strip()
        npid = pod.checkpoint_restore_server()
        p = get()
        check(p.returncode == 0 and p.stdout == "served from the host's bind mount\n",
              "fetching after the restore: %r %r" % (p.stdout, p.stderr))
        # the same server (pid 1 of its pid namespace), not a new one
        with open("/proc/%s/status" % npid) as f:
            nspid = [line.split()[1:] for line in f if line.startswith("NSpid:")][0]
        check(nspid[-1] == "1", "the restored server is %r in its pid namespace (was %s here)" % (nspid, pid))
    finally:
        pod.cleanup()


@case
def redis_host_binaries():
    """redis-server from the host's bind-mounted binaries, 100k keys: checkpoint/restore, every key there"""
    pod = Pod("redis")
    try:
        for d in ("lib", "lib64", "sbin", "bin"):
            if os.path.islink("/" + d) and not os.path.lexists(os.path.join(pod.rootfs, d)):
                os.symlink(os.readlink("/" + d).lstrip("/"), os.path.join(pod.rootfs, d))
        os.makedirs(os.path.join(pod.rootfs, "usr"))
        os.makedirs(os.path.join(pod.rootfs, "data"))
        p = pod.podman("run", "-d", "--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024",
                       "--ulimit", "nproc=4096:4096", "--name", pod.name, "-v", "/usr:/usr:ro",
                       "--rootfs", pod.rootfs, "/usr/bin/redis-server", "--port", "6379", "--bind", "127.0.0.1",
                       "--save", "", "--appendonly", "no", "--dir", "/data", "--enable-debug-command", "local")
        check(p.returncode == 0, "podman run: %s" % p.stderr)
        pod.started = True

        def cli(*args, timeout=20):
            end = time.time() + timeout
            while True:
                p = pod.podman("exec", pod.name, "/usr/bin/redis-cli", *args)
                if (p.returncode == 0 and not p.stdout.startswith("Could not connect")) or time.time() > end:
                    return p
                time.sleep(0.2)
        p = cli("DEBUG", "POPULATE", "100000")
        check(p.returncode == 0 and p.stdout.strip() == "OK", "DEBUG POPULATE: %r %r" % (p.stdout, p.stderr))
        check(cli("SET", "zt:marker", "before the checkpoint").stdout.strip() == "OK", "SET")
        npid = pod.checkpoint_restore_server()
        p = cli("DBSIZE")
        check(p.stdout.strip() == "100001", "DBSIZE after the restore: %r %r" % (p.stdout, p.stderr))
        p = cli("GET", "key:77777")
        check(p.stdout.strip() == "value:77777", "GET key:77777 after the restore: %r" % p.stdout)
        p = cli("GET", "zt:marker")
        check(p.stdout.strip() == "before the checkpoint", "GET zt:marker after the restore: %r" % p.stdout)
        with open("/proc/%s/status" % npid) as f:
            nspid = [line.split()[1:] for line in f if line.startswith("NSpid:")][0]
        check(nspid[-1] == "1", "the restored redis-server is %r in its pid namespace" % (nspid,))
    finally:
        pod.cleanup()


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
            print("%-24s %s" % (c.__name__, c.__doc__.splitlines()[0]))
        return 0
    sel = [c for c in CASES if not ARGS.f or c.__name__ in ARGS.f]
    print("1..%d" % len(sel))
    missing = [w for w in ("podman", "runc") if not shutil.which(w)] + \
        [b for b in (ARGS.busybox,) if not os.path.exists(b)]
    if missing:
        for i, c in enumerate(sel, 1):
            print("ok %d - %s # skip: no %s" % (i, c.__name__, ", ".join(missing)))
        return 0
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
