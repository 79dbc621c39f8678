#!/usr/bin/python3
"""criu-lite namespace and mount tests: containers made by nsrun, dumped and restored
with criu-lite's own command line.

Each case is a ztest program (tests/ns/static/<name>.c, linked statically) that runs
as the init of new namespaces on a root directory of its own, made by nsrun like runc
makes a container. The program sets its state up (mounts, System V objects, links,
host name...), writes its pid file inside the container, waits for SIGTERM and then
verifies its view of everything. The runner is tests/integration/run.py's, with the
container's ways: the pid to dump is the init's as we see it (nsrun's --host-pidfile),
dump and restore get --root, the restored init's pid is restore's --pidfile, and the
test's files live under the container's root.

Case list (tests/ns/cases): NAME MODES [ns=LIST] [nsopts=A,B] [dumpopts=A,B]
[restoreopts=A,B] [dumperr=REGEX]; options may use {root} {dir} {tmp} {src}.

The last line printed is exactly "ns: N passed, M failed".
"""
import argparse
import os
import re
import shutil
import sys
import time

SRC = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(SRC, "..", "integration"))
import run as zrun  # noqa: E402

MODES = ("plain", "dump", "leave-running", "lazy", "lazy-early", "lazy-none", "lazy-minor",
         "lazy-kill", "dumpfail")
OPTIONS = ("ns", "nsopts", "dumpopts", "restoreopts", "dumperr")


class NsCase(zrun.Case):
    def __init__(self, name, modes, opts):
        super().__init__(name, modes, "zt", None, {k: v for k, v in opts.items()
                                                   if k in zrun.CASE_OPTIONS})
        self.ns = opts.get("ns", "pid,mnt")
        self.nsopts = [a for a in opts.get("nsopts", "").split(",") if a]


def parse_cases(path):
    cases = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            w = line.split()
            modes = [m for m in w[1].split(",") if m] if len(w) > 1 else []
            opts = {}
            for o in w[2:]:
                k, _, v = o.partition("=")
                if k not in OPTIONS or not v:
                    sys.exit("%s:%d: unknown option %r" % (path, lineno, o))
                opts[k] = v
            for m in modes:
                if m not in MODES:
                    sys.exit("%s:%d: unknown mode %r" % (path, lineno, m))
            if not modes:
                sys.exit("%s:%d: expected NAME MODES [OPTION=VALUE...]" % (path, lineno))
            cases.append(NsCase(w[0], modes, opts))
    return cases


class NsRun(zrun.Run):
    """A run of a container case: see the module's docstring."""

    def __init__(self, args, case, mode, it):
        super().__init__(args, case, mode, it)
        self.root = os.path.join(self.dir, "root")
        for d in ("zt", "proc", "dev", "sys", "tmp", "mnt", "bin", "ext"):
            os.makedirs(os.path.join(self.root, d))
        shutil.copy(os.path.join(args.bindir, "static", case.name), os.path.join(self.root, "zt", "test"))
        if os.path.exists("/bin/busybox"):
            shutil.copy("/bin/busybox", os.path.join(self.root, "bin", "busybox"))
            os.symlink("busybox", os.path.join(self.root, "bin", "sh"))
        # a host directory for cases that bind it in as an external mount
        os.makedirs(os.path.join(self.tmp, "ext"))
        with open(os.path.join(self.tmp, "ext", "hello"), "w") as f:
            f.write("from outside\n")
        self.pidfile = os.path.join(self.dir, "host.pid")
        self.outfile = os.path.join(self.root, "zt", "test.out")
        # the restored test's outfile is under the same root
        case_opts = {"root": self.root, "dir": self.dir, "tmp": self.tmp, "src": SRC}
        self.dumpopts = [a.format(**case_opts) for a in case.dumpopts]
        self.restoreopts = [a.format(**case_opts) for a in case.restoreopts]
        self.nsopts = [a.format(**case_opts) for a in case.nsopts]

    def start(self):
        argv = [os.path.join(self.a.bindir, "nsrun"), "--root", self.root, "--ns", self.case.ns,
                "--ready", "/zt/ready", "--host-pidfile", self.pidfile, "--log", "/zt/test.log"]
        argv += self.nsopts + ["--", "/zt/test", "--pidfile", "/zt/ready", "--outfile", "/zt/test.out"]
        env = dict(os.environ)
        if self.a.self_test_fail:
            env["ZT_SELF_TEST_FAIL"] = "1"
        self.test = p = self.spawn(argv, "test.log", env)

        def ready():
            if os.path.exists(self.pidfile):
                return True
            if p.poll() is not None:
                raise zrun.Fail("nsrun exited with status %s before the test was ready" % p.returncode)
            return False
        self.poll_until(ready, 30, "the container's pid file")
        self.pid = int(zrun.read(self.pidfile).strip())

    def dump(self, extra=()):
        self.tree |= zrun.tree_pids(self.pid)
        for t in self.tree:
            st = zrun.proc_stat(t)
            if st:
                self.sids.add(st[2])
        p = self.criu(["dump", "-t", str(self.pid), "-D", self.img, "-v4", "-o",
                       os.path.join(self.dir, "dump.log"), "--root", self.root] + self.dumpopts
                      + list(extra), "dump")
        return self.wait(p, 60, "criu-lite dump")

    def start_restore(self, extra=()):
        """Restore in the foreground; return once the tree runs (the new init's pid in self.pid)."""
        rpid = os.path.join(self.dir, "restore.pid")
        for f in (rpid, self.outfile):
            if os.path.exists(f):
                os.unlink(f)
        # tell the test how it was restored (some things differ under --lazy-pages)
        if "--lazy-pages" in extra:
            open(os.path.join(self.root, "zt", "lazy"), "w").close()
        rp = self.criu(["restore", "-D", self.img, "-v4", "-o", os.path.join(self.dir, "restore.log"),
                        "--pidfile", rpid, "--root", self.root] + self.restoreopts + list(extra),
                       "restore")

        def restored():
            if os.path.exists(rpid) and zrun.read(rpid, "").strip():
                return True
            if rp.poll() is not None:
                raise zrun.Fail("criu-lite restore exited with status %s before the test was "
                                "signalled" % rp.returncode)
            return False
        self.poll_until(restored, 30, "the restored container")
        self.pid = int(zrun.read(rpid).strip())
        # the restored tasks: another pid namespace, other pids here
        self.tree |= zrun.tree_pids(self.pid)
        return rp

    def result_ok(self, rc, what):
        if rc != 0 and not os.path.exists(self.outfile):
            log = zrun.tail(os.path.join(self.root, "zt", "test.log"), 5)
            raise zrun.Fail("%s exited with status %s, no outfile%s" % (what, rc,
                            (": " + log.replace("\n", " | ")) if log else ""))
        super().result_ok(rc, what)


def main():
    ap = argparse.ArgumentParser(description="criu-lite namespace tests")
    ap.add_argument("--criu", default="build/criu-lite")
    ap.add_argument("--bindir", default="build/tests/ns")
    ap.add_argument("--cases", default=os.path.join(SRC, "cases"))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--mode", default=None)
    ap.add_argument("--only", default=None)
    ap.add_argument("--iters", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=60)
    ap.add_argument("--settle", type=float, default=0.3)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--self-test-fail", action="store_true")
    ap.add_argument("--tail", type=int, default=25)
    a = ap.parse_args()
    a.workdir = a.workdir or os.path.join(a.bindir, "work")
    a.criu = os.path.abspath(a.criu)
    a.bindir = os.path.abspath(a.bindir)
    cases = parse_cases(a.cases)
    if a.only:
        names = a.only.split(",")
        if set(names) - {c.name for c in cases}:
            sys.exit("unknown case(s): %s" % ", ".join(sorted(set(names) - {c.name for c in cases})))
        cases = [c for c in cases if c.name in names]
    os.makedirs(a.workdir, exist_ok=True)
    npass = nfail = 0
    failed = []
    t_all = time.monotonic()
    for c in cases:
        modes = a.mode.split(",") if a.mode else c.modes
        if a.self_test_fail:
            modes = ["plain"]
        for m in modes:
            for it in range(a.iters):
                r = NsRun(a, c, m, it)
                t0 = time.monotonic()
                err = None
                try:
                    r.run()
                except zrun.Fail as e:
                    err = str(e)
                except Exception as e:  # a runner bug must not leak processes
                    err = "runner error: %r" % e
                finally:
                    r.cleanup()
                if a.self_test_fail:
                    out = zrun.read(r.outfile, "")
                    if err and any(l.startswith("FAIL") for l in out.splitlines()):
                        err = None
                        r.notes.append("failed as expected")
                    elif not err:
                        err = "self-test-fail: the test did not detect the corruption"
                label = "%s %s%s" % (c.name, m, " #%d" % it if a.iters > 1 else "")
                notes = " (%s)" % "; ".join(r.notes) if r.notes else ""
                dt = time.monotonic() - t0
                if err is None:
                    npass += 1
                    print("PASS %-40s %5.1fs%s" % (label, dt, notes), flush=True)
                    if not a.keep:
                        shutil.rmtree(r.dir, ignore_errors=True)
                else:
                    nfail += 1
                    failed.append(label)
                    print("FAIL %-40s %5.1fs: %s%s" % (label, dt, err, notes), flush=True)
                    for log in ("test.log", "root/zt/test.log", "root/zt/test.out", "dump.log", "dump.out",
                                "lazy-pages.log", "restore.log", "restore.out"):
                        t = zrun.tail(os.path.join(r.dir, log), a.tail)
                        if t:
                            print("  ---- %s (tail) ----" % log)
                            print("\n".join("  | " + l for l in t.splitlines()))
                    print("  ---- work dir: %s" % r.dir, flush=True)
    print("total time %.1fs%s" % (time.monotonic() - t_all, "; failed: " + " ".join(failed) if failed else ""))
    print("ns: %d passed, %d failed" % (npass, nfail), flush=True)
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
