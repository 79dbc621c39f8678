#!/usr/bin/python3
"""A python3 multiprocessing Pool (3 forked workers, the pool's pipes, its
POSIX semaphores in /dev/shm, its handler threads) doing work across the
checkpoint: maps run before, during and after it, every result is checked,
and the same 3 workers must do the work after restore. The ztest protocol,
as counter.py."""
import hashlib
import multiprocessing
import os
import signal
import sys

args = sys.argv[1:]
pidfile = os.environ.get("ZT_PIDFILE")
outfile = os.environ.get("ZT_OUTFILE")
while args:
    a = args.pop(0)
    if a == "--pidfile":
        pidfile = args.pop(0)
    elif a == "--outfile":
        outfile = args.pop(0)
self_fail = os.environ.get("ZT_SELF_TEST_FAIL", "0") not in ("", "0")


def work(i):
    return i, hashlib.sha256(b"%d" % i).hexdigest()[:16], os.getpid()


def check(results, lo, hi):
    """the results of work(lo..hi-1), in order; the worker pids seen"""
    if [r[0] for r in results] != list(range(lo, hi)):
        return None, "results out of order or missing for %d..%d" % (lo, hi)
    for i, h, _ in results:
        if h != hashlib.sha256(b"%d" % i).hexdigest()[:16]:
            return None, "wrong result for %d" % i
    return {r[2] for r in results}, None


def finish(errors):
    line = "FAIL: " + errors[0] if errors else "PASS"
    sys.stderr.write("[%d] %s\n" % (os.getpid(), line))
    with open(outfile, "a") as f:
        f.write(line + "\n")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    got_term = False

    def on_term(sig, frame):
        global got_term
        got_term = True

    multiprocessing.set_start_method("fork")
    pool = multiprocessing.Pool(3)
    signal.signal(signal.SIGTERM, on_term)  # the workers keep the default
    errors = []
    workers = {p.pid for p in pool._pool}
    seen, err = check(pool.map(work, range(3000), chunksize=10), 0, 3000)
    if err or not seen <= workers:
        finish([err or "results from unknown workers %s" % (seen - workers)])
    with open(pidfile + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(pidfile + ".tmp", pidfile)

    # keep the pool busy until SIGTERM (the checkpoint lands in here)
    lo = 3000
    while not got_term and not errors:
        try:
            res = pool.map_async(work, range(lo, lo + 300), chunksize=5).get(timeout=30)
        except multiprocessing.TimeoutError:
            errors.append("a map did not finish within 30 s (%d..%d)" % (lo, lo + 300))
            break
        seen_now, err = check(res, lo, lo + 300)
        if err:
            errors.append(err)
        elif not seen_now <= workers:
            errors.append("results from unknown workers %s" % (seen_now - workers))
        lo += 300
    if self_fail:
        # a worker exits in the middle of a task (not holding the queue's lock,
        # unlike an idle one): the pool replaces it; its task never completes
        pool.apply_async(os._exit, (3,))
        for _ in range(500):
            if {p.pid for p in pool._pool} != workers:
                break
            signal.sigtimedwait([], 0.01)
    if not errors:
        try:
            res = pool.map_async(work, range(10 ** 6, 10 ** 6 + 3000), chunksize=10).get(timeout=60)
            seen_now, err = check(res, 10 ** 6, 10 ** 6 + 3000)
            if err:
                errors.append(err)
            elif {p.pid for p in pool._pool} != workers or not seen_now <= workers:
                errors.append("the workers changed: %s, were %s" %
                              (sorted(p.pid for p in pool._pool), sorted(workers)))
        except multiprocessing.TimeoutError:
            errors.append("the last map did not finish within 60 s")
    if self_fail or errors:
        pool.terminate()  # a task may be lost: close() + join() would wait for it
        finish(errors)
    pool.close()
    pool.join()
    for p in pool._pool:
        if p.exitcode != 0:
            errors.append("worker %d exited with %s" % (p.pid, p.exitcode))
    finish(errors)
