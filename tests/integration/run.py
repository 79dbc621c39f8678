#!/usr/bin/python3
"""criu-lite integration runner (modeled on CRIU's zdtm.py).

Each case is a program that follows the ztest protocol (see lib/ztest.h): it is
started in its own session, writes its pid file when its state is set up,
verifies everything after SIGTERM and writes PASS or FAIL: ... to its outfile.
Programs not written by us ("exit" kind, e.g. /bin/sleep) are simply expected
to exit 0 by themselves.

Modes:
  plain          no checkpoint: start, wait ready, SIGTERM, collect the result
  dump           dump (the process is killed), restore in the foreground onto
                 the same PID, SIGTERM, restore's exit status is the test's
  leave-running  dump --leave-running; the original keeps running and passes
  lazy           dump, then lazy-pages daemon + restore --lazy-pages; the daemon
                 must exit 0 and leave DIR/lazy-pages-stats.json
  lazy-early     lazy, with SIGTERM as soon as the restore is done (no --settle
                 wait): the test verifies its memory while the prefetch still
                 runs, so most of its pages come through faults
  lazy-none      lazy with --prefetch none: every page arrives through a fault;
                 the statistics must show MISSING faults and no prefetch
  lazy-minor     lazy-none on a case that maps shmem twice: the statistics must
                 show MISSING and MINOR faults served (UFFDIO_CONTINUE)
  lazy-hot       --record-ws in a first lazy restore, then the same images
                 restored again with --prefetch hot: fewer faults the second time
  lazy-kill      lazy with --prefetch none; lazy-pages is SIGKILLed while pages
                 are pending: the restored tree must die (never run on with
                 zero pages), restore must exit non-zero, the test write nothing
  shell-job      the test runs as a child of a shell, in the shell's session and
                 group (not a session leader): dump --shell-job, restore
                 --shell-job (the restored test joins restore's session)
  dumpfail       the dump must FAIL (unsupported state) and leave the target
                 running, untraced and not stopped; then SIGTERM -> PASS

Case list format (one case per line, '#' starts a comment):
  NAME  MODE[,MODE...]  [OPTION=VALUE...]  [KIND [COMMAND ARGS...]]
OPTIONs (before KIND):
  dumpopts=A,B,...     arguments added to every `criu-lite dump` of the case
                       (commas separate arguments: dumpopts=--ghost-limit,8M)
  restoreopts=A,B,...  arguments added to every `criu-lite restore`
  dumperr=REGEX        dumpfail: the failed dump's log (dump.log, dump.out) must
                       match REGEX (Python re.search; no blanks: use \s or .)
KIND is 'zt' (default; COMMAND defaults to BINDIR/static/NAME) or 'exit'.
COMMAND words may use {pidfile} {outfile} {tmp} {src} {bin} {dir}; the same
paths are also in the environment as ZT_PIDFILE, ZT_OUTFILE, ZT_TMPDIR.

The last line printed is exactly "integration: N passed, M failed".
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

MODES = ("plain", "dump", "leave-running", "lazy", "lazy-early", "lazy-kill", "lazy-none",
         "lazy-minor", "lazy-hot", "shell-job",
         "dumpfail")
SRC = os.path.dirname(os.path.abspath(__file__))


class Fail(Exception):
    pass


CASE_OPTIONS = ("dumpopts", "restoreopts", "dumperr")


class Case:
    def __init__(self, name, modes, kind="zt", cmd=None, opts=None):
        self.name, self.modes, self.kind, self.cmd = name, modes, kind, cmd
        opts = opts or {}
        self.dumpopts = [a for a in opts.get("dumpopts", "").split(",") if a]
        self.restoreopts = [a for a in opts.get("restoreopts", "").split(",") if a]
        self.dumperr = opts.get("dumperr")

    def describe_opts(self):
        o = []
        if self.dumpopts:
            o.append("dumpopts=" + ",".join(self.dumpopts))
        if self.restoreopts:
            o.append("restoreopts=" + ",".join(self.restoreopts))
        if self.dumperr:
            o.append("dumperr=" + self.dumperr)
        return " ".join(o)


def parse_cases(path):
    cases = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            w = line.split()
            if len(w) < 2:
                sys.exit("%s:%d: expected NAME MODES [KIND [COMMAND...]]" % (path, lineno))
            modes = [m for m in w[1].split(",") if m]
            for m in modes:
                if m not in MODES:
                    sys.exit("%s:%d: unknown mode %r" % (path, lineno, m))
            kind, cmd, opts, rest = "zt", None, {}, w[2:]
            while rest and "=" in rest[0] and rest[0].split("=", 1)[0] in CASE_OPTIONS:
                k, v = rest.pop(0).split("=", 1)
                if k in opts:
                    sys.exit("%s:%d: %s given twice" % (path, lineno, k))
                if k == "dumperr":
                    try:
                        re.compile(v)
                    except re.error as e:
                        sys.exit("%s:%d: dumperr: bad regex %r: %s" % (path, lineno, v, e))
                opts[k] = v
            if rest and "=" in rest[0] and rest[0] not in ("zt", "exit"):
                sys.exit("%s:%d: unknown option %r" % (path, lineno, rest[0]))
            if rest:
                kind = rest[0]
                if kind not in ("zt", "exit"):
                    sys.exit("%s:%d: unknown kind %r" % (path, lineno, kind))
                cmd = rest[1:] or None
            if kind == "exit" and not cmd:
                sys.exit("%s:%d: an 'exit' case needs a command" % (path, lineno))
            if "dumperr" in opts and "dumpfail" not in modes:
                sys.exit("%s:%d: dumperr is only checked in the dumpfail mode" % (path, lineno))
            cases.append(Case(w[0], modes, kind, cmd, opts))
    return cases


def read(path, default=None):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def proc_stat(pid):
    """(state, pgid, sid, ppid) of a process, or None if it is gone."""
    s = read("/proc/%d/stat" % pid)
    if not s:
        return None
    f = s[s.rfind(")") + 2:].split()
    return f[0], int(f[2]), int(f[3]), int(f[1])


def proc_status(pid, tid=None):
    path = "/proc/%d/status" % pid if tid is None else "/proc/%d/task/%d/status" % (pid, tid)
    d = {}
    for line in (read(path) or "").splitlines():
        k, _, v = line.partition(":")
        d[k] = v.strip()
    return d


def tree_pids(pid):
    """The pids and tids of a process and its descendants."""
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.add(p)
        for t in glob.glob("/proc/%d/task/*" % p):
            try:
                out.add(int(os.path.basename(t)))
            except ValueError:
                continue
            for c in (read(t + "/children") or "").split():
                todo.append(int(c))
    return out


def tail(path, n):
    s = read(path)
    if s is None:
        return None
    lines = s.splitlines()
    return "\n".join(lines[-n:])


class Run:
    def __init__(self, args, case, mode, it):
        self.a, self.case, self.mode = args, case, mode
        self.dir = os.path.abspath(os.path.join(args.workdir, "%s.%s.%d" % (case.name, mode, it)))
        shutil.rmtree(self.dir, ignore_errors=True)
        self.img = os.path.join(self.dir, "img")
        self.tmp = os.path.join(self.dir, "tmp")
        os.makedirs(self.img)
        os.makedirs(self.tmp)
        self.pidfile = os.path.join(self.dir, "test.pid")
        self.outfile = os.path.join(self.dir, "test.out")
        self.deadline = time.monotonic() + args.timeout
        self.procs = []          # Popen objects we must reap
        self.sids = set()        # sessions whose members we may kill
        self.tree = set()        # pids/tids of the test tree before a dump
        self.pid = None
        self.test = None
        self.notes = []
        self.settle = 0 if mode == "lazy-early" else args.settle

    # -- helpers ----------------------------------------------------------
    def left(self):
        r = self.deadline - time.monotonic()
        if r <= 0:
            raise Fail("case timeout (%ds)" % self.a.timeout)
        return r

    def spawn(self, argv, log, env=None):
        with open(os.path.join(self.dir, log), "ab") as lf:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf,
                                 cwd=self.dir, env=env, start_new_session=True, close_fds=True)
        self.procs.append(p)
        self.sids.add(p.pid)
        return p

    def wait(self, p, timeout, what):
        try:
            return p.wait(timeout=max(0.01, min(timeout, self.left())))
        except subprocess.TimeoutExpired:
            raise Fail("%s did not exit within %.0fs" % (what, timeout))

    def poll_until(self, cond, timeout, what, step=0.02):
        end = time.monotonic() + min(timeout, self.left())
        while True:
            r = cond()
            if r:
                return r
            if time.monotonic() >= end:
                raise Fail("timeout (%.0fs) waiting for %s" % (timeout, what))
            time.sleep(step)

    def subst(self, words):
        m = {"pidfile": self.pidfile, "outfile": self.outfile, "tmp": self.tmp, "src": SRC,
             "bin": os.path.abspath(self.a.bindir), "dir": self.dir}
        return [w.format(**m) for w in words]

    def criu(self, args, log):
        if not os.access(self.a.criu, os.X_OK):
            raise Fail("no criu-lite binary at %s" % self.a.criu)
        argv = [self.a.criu] + args
        with open(os.path.join(self.dir, log + ".cmd"), "w") as f:
            f.write(" ".join(argv) + "\n")
        p = self.spawn(argv, log + ".out")
        return p

    def alive(self, pid):
        """Is any task of pid's thread group alive? (Its leader may have exited
        with pthread_exit() while other threads run: the leader is a zombie.)"""
        st = proc_stat(pid)
        if st is None:
            return False
        if st[0] not in "ZX":
            return True
        for t in glob.glob("/proc/%d/task/*" % pid):
            s = read(t + "/stat")
            if s and s[s.rfind(")") + 2:][:1] not in ("Z", "X"):
                return True
        return False

    def check_untraced_running(self, pid):
        for t in glob.glob("/proc/%d/task/*" % pid):
            tid = int(os.path.basename(t))
            s = proc_status(pid, tid)
            if not s:
                continue
            if s.get("TracerPid", "0") != "0":
                raise Fail("thread %d is still traced (TracerPid %s)" % (tid, s["TracerPid"]))
            if s.get("State", "")[:1] in ("T", "t"):
                raise Fail("thread %d is stopped (%s)" % (tid, s["State"]))

    def result_ok(self, rc, what):
        out = read(self.outfile, "")
        fails = [l for l in out.splitlines() if l.startswith("FAIL")]
        if fails:
            raise Fail("%s: %s" % (what, fails[0]))
        if rc != 0:
            raise Fail("%s exited with status %s" % (what, rc))
        if self.case.kind == "zt" and "PASS" not in out.splitlines():
            raise Fail("%s: no PASS in the outfile" % what)

    # -- phases -----------------------------------------------------------
    def start(self):
        c = self.case
        env = dict(os.environ, ZT_PIDFILE=self.pidfile, ZT_OUTFILE=self.outfile, ZT_TMPDIR=self.tmp)
        if self.a.self_test_fail:
            env["ZT_SELF_TEST_FAIL"] = "1"
        if self.mode == "shell-job":
            env["ZT_SHELL_JOB"] = "1"
        if c.cmd:
            argv = self.subst(c.cmd)
        else:
            argv = [os.path.join(self.a.bindir, "static", c.name), "--pidfile", self.pidfile,
                    "--outfile", self.outfile]
        if not os.access(argv[0], os.X_OK):
            raise Fail("no executable %s (not built?)" % argv[0])
        if self.mode == "shell-job":
            if c.kind != "zt":
                raise Fail("shell-job mode needs a zt case (its pid comes from the pid file)")
            # the shell is the session and group leader, the test its child
            argv = ["/bin/sh", "-c", '"$@" & wait $!; exit $?', "sh"] + argv
        self.test = p = self.spawn(argv, "test.log", env)
        self.pid = p.pid
        if c.kind == "zt":
            def ready():
                if os.path.exists(self.pidfile):
                    return True
                if p.poll() is not None:
                    raise Fail("test exited with status %s before it was ready" % p.returncode)
                return False
            self.poll_until(ready, 30, "the test's pid file")
            pid = int((read(self.pidfile) or "0").strip() or 0)
            if self.mode == "shell-job":
                st = proc_stat(pid)
                if not st or st[3] != p.pid:
                    raise Fail("pid file says %d, not a child of the shell %d" % (pid, p.pid))
                self.pid = pid
            elif pid != p.pid:
                raise Fail("pid file says %d, started %d" % (pid, p.pid))
        else:
            time.sleep(self.a.settle)
            if p.poll() is not None:
                raise Fail("program exited with status %s before the checkpoint" % p.returncode)

    def sigterm(self, pid):
        if self.case.kind != "zt":
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            raise Fail("process %d is gone before SIGTERM" % pid)

    def dump(self, extra=()):
        self.tree |= tree_pids(self.pid)
        for t in self.tree:
            st = proc_stat(t)
            if st:
                self.sids.add(st[2])  # the live tree: all ours
        p = self.criu(["dump", "-t", str(self.pid), "-D", self.img, "-v4",
                       "-o", os.path.join(self.dir, "dump.log")] + self.case.dumpopts + list(extra),
                      "dump")
        return self.wait(p, 60, "criu-lite dump")

    def after_dump_gone(self):
        if not os.path.exists(os.path.join(self.img, "inventory.img")):
            raise Fail("dump exited 0 but wrote no inventory.img")
        # A successful dump kills the tree; we reap the root, PID 1 reaps the rest slowly.
        try:
            self.test.wait(timeout=min(10, self.left()))
        except subprocess.TimeoutExpired:
            raise Fail("dump succeeded but process %d is still running" % self.pid)
        self.poll_until(lambda: not any(os.path.exists("/proc/%d" % t) for t in self.tree), 15,
                        "the dumped tree's pids to be released", step=0.05)

    def restore(self, extra=()):
        rp = self.start_restore(extra)
        time.sleep(self.settle if self.case.kind == "zt" else 0)
        self.sigterm(self.pid)
        rc = self.wait(rp, 30, "criu-lite restore (the restored test)")
        self.result_ok(rc, "restored test")

    def start_restore(self, extra=()):
        """Start restore in the foreground; return once the tree runs."""
        rpid = os.path.join(self.dir, "restore.pid")
        rp = self.criu(["restore", "-D", self.img, "-v4", "-o",
                        os.path.join(self.dir, "restore.log"), "--pidfile", rpid]
                       + self.case.restoreopts + list(extra), "restore")
        t0 = time.monotonic()

        def restored():
            if os.path.exists(rpid) and self.alive(self.pid):
                return True
            if rp.poll() is not None:
                if self.case.kind == "exit":
                    return True
                raise Fail("criu-lite restore exited with status %s before the test was "
                           "signalled" % rp.returncode)
            # no pid file (yet?): accept a live process that is not stopped after 5 s
            if time.monotonic() - t0 > 5 and self.alive(self.pid):
                st = proc_status(self.pid)
                if st.get("State", "")[:1] not in "Tt" and st.get("TracerPid", "0") == "0":
                    self.notes.append("no restore pid file after 5 s")
                    return True
            return False
        self.poll_until(restored, 30, "the restored process")
        return rp

    # -- modes ------------------------------------------------------------
    def run(self):
        getattr(self, "mode_" + self.mode.replace("-", "_"))()

    def mode_plain(self):
        self.start()
        self.sigterm(self.pid)
        rc = self.wait(self.test, 30, "the test")
        self.result_ok(rc, "test")

    def mode_dump(self):
        self.start()
        rc = self.dump()
        if rc != 0:
            raise Fail("criu-lite dump failed (status %d)" % rc)
        self.after_dump_gone()
        self.restore()

    def start_lazy(self, extra=()):
        self.start()
        rc = self.dump()
        if rc != 0:
            raise Fail("criu-lite dump failed (status %d)" % rc)
        self.after_dump_gone()
        return self.start_daemon(extra)

    def start_daemon(self, extra=()):
        lp = self.criu(["lazy-pages", "-D", self.img, "-vvvv", "-o",
                        os.path.join(self.dir, "lazy-pages.log")] + list(extra), "lazy-pages")

        def listening():
            if lp.poll() is not None:
                raise Fail("criu-lite lazy-pages exited early with status %s" % lp.returncode)
            for e in os.scandir(self.img):
                try:
                    if stat.S_ISSOCK(e.stat(follow_symlinks=False).st_mode):
                        return True
                except OSError:
                    pass
            return False
        try:
            self.poll_until(listening, 3, "the lazy-pages socket")
        except Fail as e:
            if lp.poll() is not None:
                raise
            self.notes.append("no socket in the image dir after 3 s; going on")
            del e
        return lp

    def finish_lazy(self, lp):
        """Restore lazily with daemon lp running; return the daemon's statistics."""
        self.restore(["--lazy-pages"])
        rc = self.wait(lp, 30, "criu-lite lazy-pages")
        if rc != 0:
            raise Fail("criu-lite lazy-pages exited with status %d" % rc)
        stats = os.path.join(self.img, "lazy-pages-stats.json")
        if not os.path.exists(stats):
            raise Fail("no %s" % stats)
        try:
            with open(stats) as f:
                st = json.load(f)
        except ValueError as e:
            raise Fail("lazy-pages-stats.json is not JSON: %s" % e)
        if not st.get("complete"):
            raise Fail("lazy-pages-stats.json says the restore did not complete")
        return st

    def mode_lazy(self):
        self.finish_lazy(self.start_lazy())

    def expect(self, st, key, cond, what):
        v = st.get(key)
        if not isinstance(v, int) or not cond(v):
            raise Fail("lazy-pages-stats.json: %s is %r, expected %s" % (key, v, what))
        self.notes.append("%s %d" % (key, v))

    def mode_lazy_none(self):
        # faults only: every page the test touches arrives through a MISSING fault
        st = self.finish_lazy(self.start_lazy(["--prefetch", "none"]))
        self.expect(st, "pages_prefetched", lambda v: v == 0, "0 with --prefetch none")
        self.expect(st, "faults_missing", lambda v: v > 0, "> 0")

    def mode_lazy_minor(self):
        # faults only, on a case with shmem mapped twice: the first view's faults
        # are MISSING (COPY fills the page cache), the second view's are MINOR
        st = self.finish_lazy(self.start_lazy(["--prefetch", "none"]))
        self.expect(st, "faults_missing", lambda v: v > 0, "> 0")
        self.expect(st, "faults_minor", lambda v: v > 0, "> 0")
        self.expect(st, "pages_continued", lambda v: v > 0, "> 0")

    def again(self):
        """Make the images restorable once more: the last restore's tree is gone."""
        self.poll_until(lambda: not any(os.path.exists("/proc/%d" % t) for t in self.tree), 15,
                        "the restored tree's pids to be released", step=0.05)
        for f in (self.outfile, os.path.join(self.dir, "restore.pid"),
                  os.path.join(self.img, "lazy-pages-stats.json")):
            if os.path.exists(f):
                os.unlink(f)

    def mode_lazy_hot(self):
        # record the working set in one lazy restore, then restore the same images
        # again prefetching exactly those pages first
        ws = os.path.join(self.dir, "ws.bin")
        st1 = self.finish_lazy(self.start_lazy(["--prefetch", "none", "--record-ws", ws]))
        if not os.path.exists(ws) or os.path.getsize(ws) == 0:
            raise Fail("--record-ws wrote no working set")
        self.again()
        st2 = self.finish_lazy(self.start_daemon(["--prefetch", "hot", "--hot-ws", ws]))
        faults1 = st1["faults_missing"] + st1["faults_minor"]
        self.expect(st2, "pages_prefetched", lambda v: v > 0, "> 0 with --prefetch hot")
        self.expect(st2, "faults_missing", lambda v: v + st2["faults_minor"] < faults1,
                    "fewer faults than the recording run (%d)" % faults1)

    def mode_lazy_early(self):
        self.mode_lazy()

    def mode_lazy_kill(self):
        # the daemon serves nothing (--prefetch none) and is killed while pages
        # are pending: the restored tree must not run on with zero pages
        lp = self.start_lazy(["--prefetch", "none"])
        rp = self.start_restore(["--lazy-pages"])
        time.sleep(self.settle)
        if lp.poll() is not None:
            raise Fail("lazy-pages exited (status %s) before it was killed: nothing was "
                       "pending?" % lp.returncode)
        lp.kill()
        lp.wait()
        self.poll_until(lambda: not any(self.alive(t) for t in self.tree), 10,
                        "every restored task to die after lazy-pages was killed")
        rc = self.wait(rp, 10, "criu-lite restore")
        if rc == 0:
            raise Fail("restore exited 0 although its page server was killed")
        out = read(self.outfile, "")
        if out:
            raise Fail("the restored test ran on and wrote: %s" % out.strip())
        self.notes.append("restore status %d" % rc)

    def mode_shell_job(self):
        self.start()
        rc = self.dump(["--shell-job"])
        if rc != 0:
            raise Fail("criu-lite dump --shell-job failed (status %d)" % rc)
        self.after_dump_gone()
        self.restore(["--shell-job"])

    def mode_leave_running(self):
        self.start()
        rc = self.dump(["--leave-running"])
        if rc != 0:
            raise Fail("criu-lite dump --leave-running failed (status %d)" % rc)
        if not os.path.exists(os.path.join(self.img, "inventory.img")):
            raise Fail("dump exited 0 but wrote no inventory.img")
        if self.test.poll() is not None:
            raise Fail("the process did not survive dump --leave-running (status %s)"
                       % self.test.returncode)
        time.sleep(0.2)
        self.check_untraced_running(self.pid)
        self.sigterm(self.pid)
        rc = self.wait(self.test, 30, "the test")
        self.result_ok(rc, "test")

    def mode_dumpfail(self):
        self.start()
        rc = self.dump()
        if rc == 0:
            raise Fail("criu-lite dump succeeded, it was expected to fail")
        if os.path.exists(os.path.join(self.img, "inventory.img")):
            raise Fail("the failed dump left an inventory.img: the images look complete")
        if self.case.dumperr:
            log = (read(os.path.join(self.dir, "dump.log"), "") + "\n" +
                   read(os.path.join(self.dir, "dump.out"), ""))
            if not re.search(self.case.dumperr, log):
                raise Fail("the dump failed, but its log does not say why as expected "
                           "(no match for %r)" % self.case.dumperr)
            self.notes.append("dump error as expected")
        time.sleep(0.2)
        if self.test.poll() is not None:
            raise Fail("the process did not survive the failed dump (status %s)"
                       % self.test.returncode)
        for t in self.tree:
            if os.path.exists("/proc/%d" % t) and os.path.exists("/proc/%d/task" % t):
                self.check_untraced_running(t)
        self.sigterm(self.pid)
        rc = self.wait(self.test, 30, "the test")
        self.result_ok(rc, "test")

    # -- cleanup ----------------------------------------------------------
    def cleanup(self):
        me = os.getsid(0)
        if self.pid:
            st = proc_stat(self.pid)
            if st and st[2] in self.sids:   # still ours: add its descendants' sessions
                self.tree |= tree_pids(self.pid)
        # sessions made by the test's own processes (setsid children): only for
        # processes whose parent or session is known to be ours (pids get reused)
        ours = self.tree | {p.pid for p in self.procs}
        for t in self.tree:
            st = proc_stat(t)
            if st and (st[2] in self.sids or st[3] in ours):
                self.sids.add(st[2])
        sids = self.sids - {me, 0, 1}
        for _ in range(3):
            mine = {p.pid for p in self.procs if p.returncode is None}  # not reaped: not reused
            victims = []
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                pid = int(d)
                if pid == os.getpid():
                    continue
                st = proc_stat(pid)
                if not st or st[0] == "X":
                    continue
                # (a zombie is killed too: its threads may still run after the
                # leader exited; killing a real zombie does nothing)
                # in one of our sessions, or a child of a process we started
                # (a restored task that did not get its session back)
                if st[2] in sids or st[3] in mine:
                    victims.append(pid)
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            for p in self.procs:
                if p.poll() is None:
                    try:
                        p.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
            if not victims:
                break
        for p in self.procs:
            if p.poll() is None:
                self.notes.append("could not reap %d" % p.pid)
        if self.pid:
            for f in glob.glob("/dev/shm/zt-*-%d*" % self.pid):
                try:
                    os.unlink(f)
                except OSError:
                    pass


def main():
    ap = argparse.ArgumentParser(description="criu-lite integration tests")
    ap.add_argument("--criu", default="build/criu-lite", help="criu-lite binary")
    ap.add_argument("--bindir", default="build/tests/integration",
                    help="where static/<name> programs are built")
    ap.add_argument("--cases", default=os.path.join(SRC, "cases"), help="case list file")
    ap.add_argument("--workdir", default=None, help="scratch dir (default BINDIR/work)")
    ap.add_argument("--mode", default=None,
                    help="comma-separated modes to run instead of the case list's")
    ap.add_argument("--only", default=None, help="comma-separated case names")
    ap.add_argument("--iters", type=int, default=1, help="repeat each case N times")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per case run")
    ap.add_argument("--settle", type=float, default=0.3,
                    help="seconds to wait after restore before SIGTERM")
    ap.add_argument("--keep", action="store_true", help="keep the work dirs of passing runs")
    ap.add_argument("--self-test-fail", action="store_true",
                    help="run with ZT_SELF_TEST_FAIL=1: every zt case must FAIL")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--tail", type=int, default=25, help="log lines shown on failure")
    a = ap.parse_args()
    if a.workdir is None:
        a.workdir = os.path.join(a.bindir, "work")
    a.criu = os.path.abspath(a.criu)
    a.bindir = os.path.abspath(a.bindir)
    cases = parse_cases(a.cases)
    if a.only:
        names = a.only.split(",")
        unknown = set(names) - {c.name for c in cases}
        if unknown:
            sys.exit("unknown case(s): %s" % ", ".join(sorted(unknown)))
        cases = [c for c in cases if c.name in names]
    if a.list:
        for c in cases:
            print("%-16s %-28s %s%s %s" % (c.name, ",".join(c.modes),
                                           c.describe_opts() + " " if c.describe_opts() else "",
                                           c.kind, " ".join(c.cmd or [])))
        return 0
    os.makedirs(a.workdir, exist_ok=True)
    if os.geteuid() != 0:
        print("warning: not root; dump/restore modes will likely fail", file=sys.stderr)

    npass = nfail = 0
    failed = []
    t_all = time.monotonic()
    for c in cases:
        modes = a.mode.split(",") if a.mode else c.modes
        if a.self_test_fail:
            if c.kind != "zt":
                continue
            modes = a.mode.split(",") if a.mode else ["plain"]
        for m in modes:
            if m not in MODES:
                sys.exit("unknown mode %r" % m)
            for it in range(a.iters):
                r = Run(a, c, m, it)
                t0 = time.monotonic()
                err = None
                try:
                    r.run()
                except Fail as e:
                    err = str(e)
                except Exception as e:  # a runner bug must not leak processes
                    err = "runner error: %r" % e
                finally:
                    r.cleanup()
                if a.self_test_fail:
                    out = read(r.outfile, "")
                    if err and any(l.startswith("FAIL") for l in out.splitlines()):
                        err = None
                        r.notes.append("failed as expected")
                    elif not err:
                        err = "self-test-fail: the test did not detect the corruption"
                label = "%s %s%s" % (c.name, m, " #%d" % it if a.iters > 1 else "")
                dt = time.monotonic() - t0
                notes = " (%s)" % "; ".join(r.notes) if r.notes else ""
                if err is None:
                    npass += 1
                    print("PASS %-40s %5.1fs%s" % (label, dt, notes), flush=True)
                    if not a.keep:
                        shutil.rmtree(r.dir, ignore_errors=True)
                else:
                    nfail += 1
                    failed.append(label)
                    print("FAIL %-40s %5.1fs: %s%s" % (label, dt, err, notes), flush=True)
                    for log in ("test.log", "test.out", "dump.log", "dump.out", "lazy-pages.log",
                                "lazy-pages.out", "restore.log", "restore.out"):
                        t = tail(os.path.join(r.dir, log), a.tail)
                        if t:
                            print("  ---- %s (tail) ----" % log)
                            print("\n".join("  | " + l for l in t.splitlines()))
                    print("  ---- work dir: %s" % r.dir, flush=True)
    print("total time %.1fs%s" % (time.monotonic() - t_all,
          "; failed: " + " ".join(failed) if failed else ""))
    print("integration: %d passed, %d failed" % (npass, nfail), flush=True)
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
