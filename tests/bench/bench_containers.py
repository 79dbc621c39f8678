#!/usr/bin/python3
"""Container benchmark (make bench-containers; part of make bench): runc restores a
container through criu-lite, eagerly and lazily, and the time that counts is from the
start of `runc restore` until the container answers a request.

The container (runc's default spec on a busybox root, stdin and stdout pipes) runs
ct_target: SIZE MiB of memory, half private, half System V shared memory (or a file
in /dev/shm with --devshm), every page patterned. A request ('q', already waiting in
its new stdin pipe when runc restore starts) is answered by reading one word of a
private page and one of a shared page; the answer's value is checked. After each
restore a 'v' request makes it check every page.

For each size: the checkpoint (runc checkpoint), an eager restore (runc restore), a
lazy one (criu-lite lazy-pages -D IMAGES, then runc restore --lazy-pages --work-path
IMAGES), printing the time to the answer, runc restore's own time, and for the lazy
restore the time until every page is in (the daemon exits). Target: a lazy restore
answers within 100 ms at every size (CRIU, which restores shared memory eagerly,
takes about 1.1 s per GiB of it here).

    bench_containers.py --criu build/criu-lite --target build/tests/bench/ct_target
                        [--sizes 256,1024,4096] [--devshm] [--keep]
"""
import argparse
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

PAGE = 4096
M64 = (1 << 64) - 1


def word_of(region, page):
    return (((region + 1) * 0x9e3779b97f4a7c15) ^ (page * 0xbf58476d1ce4e5b9)) & M64


def expected(n, pages):
    pg = (n * 2654435761) % pages
    return word_of(1, pg) ^ ((word_of(2, (pg * 7 + 3) % pages) + 1) & M64)


class Fail(Exception):
    pass


def criu_time(log):
    """criu-lite's own part of a restore (its log's "restored N task(s) in X ms"), in s"""
    try:
        with open(log) as f:
            for line in f:
                m = re.search(r"restored \d+ task\(s\) in ([0-9.]+) ms", line)
                if m:
                    return float(m.group(1)) / 1e3
    except OSError:
        pass
    return float("nan")


class Ct:
    def __init__(self, a, mb):
        self.a, self.mb = a, mb
        self.dir = tempfile.mkdtemp(prefix="bench-ct-%d." % mb, dir=a.tmp)
        self.id = "clbench-%d-%d" % (mb, os.getpid())
        self.state = os.path.join(self.dir, "state")
        self.bundle = os.path.join(self.dir, "bundle")
        self.img = os.path.join(self.dir, "img")
        self.work = os.path.join(self.dir, "work")
        self.wrapper = os.path.join(self.dir, "criu")
        rootfs = os.path.join(self.bundle, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"))
        shutil.copy(a.target, os.path.join(rootfs, "bin", "ct_target"))
        subprocess.run(["runc", "spec"], cwd=self.bundle, check=True)
        cfg_path = os.path.join(self.bundle, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = ["/bin/ct_target", str(mb)] + (["--devshm"] if a.devshm else [])
        if a.devshm:
            for m in cfg["mounts"]:
                if m["destination"] == "/dev/shm":
                    m["options"] = [o for o in m["options"] if not o.startswith("size=")] + ["size=%dm" % mb]
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        with open(self.wrapper, "w") as f:
            f.write('#!/bin/sh\nexec %s "$@"\n' % a.criu)
        os.chmod(self.wrapper, 0o755)
        self.pipes = None
        self.n = 0

    def runc(self, *args, stdin=None, stdout=None):
        return subprocess.run(["runc", "--root", self.state, "--criu", self.wrapper] + list(args),
                              stdin=stdin if stdin is not None else subprocess.DEVNULL,
                              stdout=stdout if stdout is not None else subprocess.PIPE,
                              stderr=stdout if stdout is not None else subprocess.PIPE,
                              cwd=self.bundle, timeout=600)

    def new_pipes(self):
        """(our end of stdin, our end of stdout, the container's ends)"""
        ri, wi = os.pipe()
        ro, wo = os.pipe()
        return wi, ro, ri, wo

    def line(self, fd, timeout):
        buf = b""
        end = time.monotonic() + timeout
        while not buf.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise Fail("no answer from the container within %.0f s (got %r)" % (timeout, buf))
            d = os.read(fd, 1)
            if not d:
                raise Fail("the container's stdout closed (got %r)" % buf)
            buf += d
        return buf.decode()

    def start(self):
        wi, ro, ri, wo = self.new_pipes()
        p = self.runc("run", "-d", self.id, stdin=ri, stdout=wo)
        os.close(ri)
        os.close(wo)
        if p.returncode:
            raise Fail("runc run failed")
        self.pipes = (wi, ro)
        ans = self.line(ro, 120)
        if ans != "ready\n":
            raise Fail("the container says %r" % ans)

    def ask(self, timeout=60):
        os.write(self.pipes[0], b"q")
        return self.check_answer(self.line(self.pipes[1], timeout))

    def check_answer(self, ans):
        pages = (self.mb << 19) // PAGE
        w = ans.split()
        if len(w) != 3 or w[0] != "ok" or int(w[1]) != self.n or int(w[2], 16) != expected(self.n, pages):
            raise Fail("wrong answer %r to request %d" % (ans, self.n))
        self.n += 1

    def verify(self, timeout=600):
        os.write(self.pipes[0], b"v")
        ans = self.line(self.pipes[1], timeout)
        if ans != "verified\n":
            raise Fail("after the restore: %s" % ans.strip())

    def close_pipes(self):
        if self.pipes:
            for fd in self.pipes:
                os.close(fd)
            self.pipes = None

    def checkpoint(self):
        self.ask()
        t0 = time.monotonic()
        p = self.runc("checkpoint", "--image-path", self.img, "--work-path", self.work, self.id)
        dt = time.monotonic() - t0
        if p.returncode:
            raise Fail("runc checkpoint: %s" % p.stderr.decode(errors="replace")[-500:])
        self.close_pipes()
        return dt

    def restore(self, lazy):
        """(time to the answer, runc restore's own time) of a restore from the images."""
        wi, ro, ri, wo = self.new_pipes()
        os.write(wi, b"q")  # waiting for the restored container
        work = self.img if lazy else self.work
        args = ["restore", "-d", "--image-path", self.img, "--work-path", work] + (["--lazy-pages"] if lazy else [])
        t0 = time.monotonic()
        p = subprocess.Popen(["runc", "--root", self.state, "--criu", self.wrapper] + args + [self.id],
                             stdin=ri, stdout=wo, stderr=wo, cwd=self.bundle)
        os.close(ri)
        os.close(wo)
        self.pipes = (wi, ro)
        ans = self.line(ro, 600)
        t_answer = time.monotonic() - t0
        rc = p.wait(600)
        t_runc = time.monotonic() - t0
        if rc:
            raise Fail("runc restore exited with %d" % rc)
        self.check_answer(ans)
        return t_answer, t_runc, criu_time(os.path.join(work, "restore.log"))

    def kill(self):
        self.close_pipes()
        self.runc("kill", self.id, "KILL")
        for _ in range(100):
            if self.runc("delete", "--force", self.id).returncode == 0:
                break
            time.sleep(0.1)

    def cleanup(self):
        self.kill()
        if not self.a.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def bench_one(a, mb):
    ct = Ct(a, mb)
    try:
        ct.start()
        t_ckpt = ct.checkpoint()
        n_after_ckpt = ct.n
        # eager
        e_answer, e_runc, e_criu = ct.restore(False)
        ct.verify()
        ct.kill()
        # lazy: the daemon waits at IMAGES/lazy-pages.socket; it is not timed
        ct.n = n_after_ckpt
        lp = subprocess.Popen([a.criu, "lazy-pages", "-D", ct.img, "-o", "lazy-pages.log"] + a.lazy_args.split(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sock = os.path.join(ct.img, "lazy-pages.socket")
        end = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < end:
            time.sleep(0.005)
        t0 = time.monotonic()
        l_answer, l_runc, l_criu = ct.restore(True)
        rc = lp.wait(600)
        l_all = time.monotonic() - t0
        if rc:
            raise Fail("lazy-pages exited with %d" % rc)
        ct.verify()
        with open(os.path.join(ct.img, "lazy-pages-stats.json")) as f:
            st = json.load(f)
        return t_ckpt, e_answer, e_runc, e_criu, l_answer, l_runc, l_criu, l_all, st
    finally:
        ct.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--criu", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--sizes", default="256,1024,4096")
    ap.add_argument("--devshm", action="store_true", help="the shared half in /dev/shm, not System V")
    ap.add_argument("--tmp", default=None, help="where the images go (default: the temp dir)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--lazy-args", default="", help="more options for criu-lite lazy-pages")
    a = ap.parse_args()
    a.criu, a.target = os.path.abspath(a.criu), os.path.abspath(a.target)
    if not shutil.which("runc"):
        print("bench_containers: skipped (no runc)")
        return 0
    kind = "/dev/shm file" if a.devshm else "System V segment"
    print("runc restore until the container answers: half private memory, half a %s" % kind)
    print("(answer: from the start of runc restore; runc: runc restore's own time; criu-lite: its part of it)")
    print("%8s %10s | %12s %10s %10s | %12s %10s %10s %12s | %s" % (
        "size", "checkpoint", "eager answer", "runc", "criu-lite", "lazy answer", "runc", "criu-lite",
        "lazy all in", "lazy faults"))
    worst = 0.0
    for mb in [int(s) for s in a.sizes.split(",")]:
        try:
            ck, ea, er, ec, la, lr, lc, ll, st = bench_one(a, mb)
        except Fail as e:
            print("%6d MiB: FAILED: %s" % (mb, e))
            return 1
        worst = max(worst, la)
        print("%4d MiB %7.0f ms | %9.0f ms %7.0f ms %7.0f ms | %9.0f ms %7.0f ms %7.0f ms %9.0f ms | "
              "%d missing, %d minor" % (mb, ck * 1e3, ea * 1e3, er * 1e3, ec * 1e3, la * 1e3, lr * 1e3, lc * 1e3,
                                        ll * 1e3, st.get("faults_missing", 0), st.get("faults_minor", 0)), flush=True)
    print("lazy restore until the container answers: at most %.0f ms (target: under 100 ms)%s" %
          (worst * 1e3, "" if worst < 0.1 else " -- MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
