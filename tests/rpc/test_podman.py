#!/usr/bin/env python3
"""podman 4.3 (Debian's, `--runtime runc`) against criu-lite installed as `criu` in PATH.

podman runs `criu swrk N` from PATH for its own VERSION probe (it needs CRIU 3.11 or
later), then `runc checkpoint`, whose runc runs `criu` from PATH as well. A container of
busybox-static (podman --rootfs: no registry here) runs a counter loop. Its checkpoint
needs the container's namespaces dumped, which criu-lite does not do yet: the case
checks that podman's and runc's requests reach criu-lite, that the DUMP fails by name
in the dump.log podman keeps, and that the container runs on.

podman keeps its storage and state in directories of the test's own (--root,
--runroot, the vfs driver), so nothing of the machine's podman is touched.

    test_podman.py --criu build/criu-lite [-l] [-f NAME]
"""
import argparse
import glob
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

    def cleanup(self):
        if self.started:
            self.podman("rm", "-f", "-t", "0", self.name)
        shutil.rmtree(self.dir, ignore_errors=True)


@case
def checkpoint_print_stats():
    """podman container checkpoint --print-stats: VERSION (podman, runc), DUMP refused"""
    pod = Pod("ckpt")
    try:
        pod.start()
        p = pod.podman("container", "checkpoint", "--print-stats", pod.name)
        check(p.returncode != 0, "podman checkpoint succeeded?")
        check("criu failed: type DUMP errno 95" in p.stderr, "podman said: %s" % p.stderr)
        with open(pod.calls) as f:
            calls = [line.split() for line in f]
        # podman's VERSION probe, runc's VERSION probe, runc's DUMP on fd 3
        check(len(calls) == 3 and all(c[0] == "swrk" for c in calls) and calls[2] == ["swrk", "3"],
              "criu calls %r" % calls)
        logs = glob.glob(os.path.join(pod.dir, "storage", "vfs-containers", "*", "userdata", "dump.log"))
        check(len(logs) == 1, "dump.log: %r" % logs)
        with open(logs[0]) as f:
            text = f.read()
        check("Error (" in text and "--root: not supported yet" in text, "dump.log: %s" % text)
        check(pod.state() == "running", "container state %s" % pod.state())
        n = pod.ticks()
        pod.wait_ticks(n + 3)
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
