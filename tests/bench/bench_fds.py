#!/usr/bin/python3
"""The fd benchmark of issue 10: dump and eager restore of a tree of 64 tasks holding
N descriptors in all, of mixed kinds (regular files, pipes and unix socket pairs with
bytes queued, eventfds, timerfds, signalfds, memfds, FIFOs, epolls; some shared by
every task) beside the same tree holding regular files only, for several N. It prints
the times and the cost per fd in microseconds: the whole time divided by the fds, and
the marginal cost (the time N more fds add, per fd) over each step of N. It fails if
the marginal cost over the last step is more than --max-growth times the first one
(fds must not make dump or restore grow worse than linearly).

  bench_fds.py --criu build/criu-lite --target build/tests/bench/bench_fds_target
               [--tasks 64] [--fds 1000,5000,10000] [--reps 3] [--max-growth 1.8]
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise RuntimeError("timeout: " + what)
        time.sleep(0.01)


def tree_pids(root):
    pids, todo = [], [root]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return pids


def gone(pids):
    return all(not os.path.exists("/proc/%d" % p) for p in pids)


def kill_tree(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def one(args, kind, nfds, work):
    """(dump seconds, restore seconds) for one tree"""
    d = os.path.join(work, "%s-%d" % (kind, nfds))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "files"))
    pidfile = os.path.join(d, "pid")
    tgt = subprocess.Popen([args.target, "--pidfile", pidfile, "--dir", os.path.join(d, "files"),
                            "--tasks", str(args.tasks), "--fds", str(nfds), "--kind", kind],
                           stdin=subprocess.DEVNULL, close_fds=True)
    pids = []
    try:
        wait_for(lambda: os.path.exists(pidfile) or tgt.poll() is not None, 60, "the target")
        if tgt.poll() is not None:
            raise RuntimeError("the target exited with %s" % tgt.returncode)
        root = int(open(pidfile).read())
        pids = tree_pids(root)
        if len(pids) != args.tasks:
            raise RuntimeError("%d tasks, want %d" % (len(pids), args.tasks))
        held = sum(len(os.listdir("/proc/%d/fd" % p)) for p in pids)
        img = os.path.join(d, "img")
        t0 = time.monotonic()
        r = subprocess.run([args.criu, "dump", "-t", str(root), "-D", img, "-o", "dump.log"],
                           stdin=subprocess.DEVNULL, close_fds=True)
        t_dump = time.monotonic() - t0
        if r.returncode:
            raise RuntimeError("dump failed (%s/dump.log)" % img)
        tgt.wait(timeout=30)
        wait_for(lambda: gone(pids), 30, "the dumped tree to go")
        t0 = time.monotonic()
        r = subprocess.run([args.criu, "restore", "-D", img, "-d", "-o", "restore.log", "--pidfile",
                            os.path.join(d, "rpid")], stdin=subprocess.DEVNULL, close_fds=True)
        t_rst = time.monotonic() - t0
        if r.returncode:
            raise RuntimeError("restore failed (%s/restore.log)" % img)
        back = sum(len(os.listdir("/proc/%d/fd" % p)) for p in pids)
        if back != held:
            raise RuntimeError("the restored tree holds %d fds, the dumped one %d" % (back, held))
        kill_tree(pids)
        wait_for(lambda: gone(pids), 30, "the restored tree to go")
        return held, t_dump, t_rst
    finally:
        kill_tree(pids)
        try:
            os.killpg(tgt.pid, signal.SIGKILL)  # the target is a session (and group) leader
        except OSError:
            pass
        if tgt.poll() is None:
            tgt.kill()
        tgt.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--criu", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--fds", default="1000,5000,10000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-growth", type=float, default=1.8)
    args = ap.parse_args()
    sizes = [int(x) for x in args.fds.split(",")]
    work = tempfile.mkdtemp(prefix="bench_fds.")
    res = {}
    try:
        print("%-6s %6s %6s | %9s %9s | %12s %12s" % ("kind", "fds", "held", "dump s", "restore s",
                                                     "dump us/fd", "restore us/fd"))
        for n in sizes:
            for kind in ("reg", "mixed"):
                best = None
                for _ in range(args.reps):
                    held, td, tr = one(args, kind, n, work)
                    best = (held, td, tr) if not best else (held, min(best[1], td), min(best[2], tr))
                res[(kind, n)] = best
                held, td, tr = best
                print("%-6s %6d %6d | %9.3f %9.3f | %12.1f %12.1f" % (kind, n, held, td, tr, td / held * 1e6,
                                                                     tr / held * 1e6))
                sys.stdout.flush()
        print()
        ok = True
        for kind in ("reg", "mixed"):
            for i, what in ((1, "dump"), (2, "restore")):
                slopes = []
                for a, b in zip(sizes, sizes[1:]):
                    ra, rb = res[(kind, a)], res[(kind, b)]
                    slopes.append((rb[i] - ra[i]) / (rb[0] - ra[0]) * 1e6)
                g = slopes[-1] / slopes[0] if len(slopes) > 1 and slopes[0] > 0 else 1.0
                print("%-6s %-8s marginal cost per fd over %s: %s us; last/first %.2f%s" % (
                    kind, what, " -> ".join(str(x) for x in sizes), " / ".join("%.1f" % x for x in slopes), g,
                    "" if g <= args.max_growth else "  (worse than linear)"))
                ok &= g <= args.max_growth
        hi = sizes[-1]
        for i, what in ((1, "dump"), (2, "restore")):
            r = res[("mixed", hi)][i] / res[("reg", hi)][i]
            print("mixed / regular files only, %s at %d fds: %.2fx" % (what, hi, r))
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
