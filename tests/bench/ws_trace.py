#!/usr/bin/env python3
"""Where a lazy restore's fault time goes, from a perf trace of one bench_ws run.

Record (one run, the images of an earlier `bench_ws --keep`):

    perf record -a -m 8M -o ws.data \\
        -e sched:sched_switch -e sched:sched_wakeup -e exceptions:page_fault_user \\
        -e syscalls:sys_enter_ioctl -e syscalls:sys_exit_ioctl \\
        -e syscalls:sys_enter_pwrite64 -e syscalls:sys_exit_pwrite64 \\
        [-e syscalls:sys_exit_read] \\
        -- build/tests/bench/bench_ws --mb 1024 --reps 1 --reuse --dir DIR \\
           --modes none --workloads fixed
    perf script -i ws.data --ns -F comm,tid,cpu,time,event,trace > ws.txt
    python3 tests/bench/ws_trace.py ws.txt

Add sys_exit_read for the per-fault anatomy (it roughly doubles the events; leave out
epoll_wait and sched_yield: the busy-polling daemon makes hundreds of thousands).

It prints, for the workload's first request (from its first page fault to its first
answer, the pwrite of the answer record):
  - the faults per 50 ms, and the daemon writer's pwrites per 50 ms (what the
    background prefetch does meanwhile);
  - the daemon's resolving ioctls (UFFDIO_COPY / CONTINUE / ZEROPAGE) and pwrites:
    count, total, p50;
  - with sys_exit_read: per fault, fault -> task sleeps -> the daemon's read() returns
    -> its resolving ioctl starts -> ends -> the task's next fault, split by whether
    the daemon read the fault on the task's CPU or on another one.
On this VM the scheduler's switches out of the idle task of a CPU are not recorded,
so "the task runs again" is taken as its next fault.
Python 3 standard library only.
"""
import collections
import re
import statistics
import sys

LINE = re.compile(r'^\s*(.*?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
RESOLVE = {0xc028aa03: 'COPY', 0xc020aa07: 'CONTINUE', 0xc020aa04: 'ZEROPAGE'}


def load(path):
    ev = []
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if m:
                comm, tid, cpu, t, e, tr = m.groups()
                ev.append((float(t), comm, int(tid), int(cpu), e, tr))
    ev.sort(key=lambda x: x[0])
    return ev


def ioctl_kind(tr):
    m = re.search(r'cmd: 0x([0-9a-f]+)', tr)
    return RESOLVE.get(int(m.group(1), 16)) if m else None


def pct(v, p):
    return v[min(len(v) - 1, int(len(v) * p))]


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    task_comm = sys.argv[2] if len(sys.argv) > 2 else 'bench_ws_target'
    ev = load(sys.argv[1])
    faults = collections.Counter(tid for t, c, tid, cpu, e, tr in ev
                                 if c == task_comm and e == 'exceptions:page_fault_user')
    ioctls = collections.Counter(tid for t, c, tid, cpu, e, tr in ev
                                 if e == 'syscalls:sys_enter_ioctl' and ioctl_kind(tr))
    if not faults or not ioctls:
        print('no faults of %s or no resolving ioctls in the trace' % task_comm)
        return 1
    task = faults.most_common(1)[0][0]
    daemon = ioctls.most_common(1)[0][0]
    writers = collections.Counter(tid for t, c, tid, cpu, e, tr in ev
                                  if c == 'criu-lite' and tid != daemon and e == 'syscalls:sys_enter_pwrite64')
    writer = writers.most_common(1)[0][0] if writers else None
    t0 = next(t for t, c, tid, cpu, e, tr in ev if tid == task and c == task_comm
              and e == 'exceptions:page_fault_user')
    t1 = next((t for t, c, tid, cpu, e, tr in ev if tid == task and e == 'syscalls:sys_enter_pwrite64'
               and t > t0), ev[-1][0])
    print('task %d, daemon loop %d, writer %s: first request %.1f ms' % (task, daemon, writer, 1e3 * (t1 - t0)))

    # rates
    n = int((t1 - t0) * 20) + 1
    fr = collections.Counter(int((t - t0) * 20) for t, c, tid, cpu, e, tr in ev
                             if tid == task and e == 'exceptions:page_fault_user' and t0 <= t <= t1)
    pw = collections.Counter(int((t - t0) * 20) for t, c, tid, cpu, e, tr in ev
                             if tid == writer and e == 'syscalls:sys_enter_pwrite64' and t0 <= t <= t1)
    print('  task faults per 50 ms:    ', [fr[i] for i in range(n)])
    print('  writer pwrites per 50 ms: ', [pw[i] for i in range(n)])

    # the daemon's work
    work = collections.defaultdict(list)
    open_call = {}
    for t, c, tid, cpu, e, tr in ev:
        if not t0 <= t <= t1 or tid not in (daemon, writer):
            continue
        if e == 'syscalls:sys_enter_ioctl':
            open_call[tid] = (t, ioctl_kind(tr) or 'other ioctl')
        elif e == 'syscalls:sys_enter_pwrite64':
            open_call[tid] = (t, 'pwrite64')
        elif e in ('syscalls:sys_exit_ioctl', 'syscalls:sys_exit_pwrite64') and tid in open_call:
            s, k = open_call.pop(tid)
            work[k].append(t - s)
    for k, v in sorted(work.items()):
        v.sort()
        print('  %-12s x%7d  total %8.1f ms  p50 %7.1f us  p99 %7.1f us' % (
            k, len(v), 1e3 * sum(v), 1e6 * statistics.median(v), 1e6 * pct(v, 0.99)))

    # per-fault anatomy: needs the daemon's read() exits
    if not any(e == 'syscalls:sys_exit_read' and tid == daemon for t, c, tid, cpu, e, tr in ev):
        return 0
    rows, cur = [], None
    for t, c, tid, cpu, e, tr in ev:
        if not t0 <= t <= t1:
            continue
        if tid == task and e == 'exceptions:page_fault_user':
            if cur:
                cur['next'] = t
                rows.append(cur)
            cur = {'fault': t, 'cpu': cpu}
        elif cur is None:
            continue
        elif e == 'sched:sched_switch' and tid == task and 'sleep' not in cur:
            cur['sleep'] = t
        elif tid == daemon and e == 'syscalls:sys_exit_read' and 'sleep' in cur and 'read' not in cur:
            cur['read'], cur['dcpu'] = t, cpu
        elif tid == daemon and e == 'syscalls:sys_enter_ioctl' and 'read' in cur and 'in' not in cur \
                and ioctl_kind(tr):
            cur['in'] = t
        elif tid == daemon and e == 'syscalls:sys_exit_ioctl' and 'in' in cur and 'out' not in cur:
            cur['out'] = t
    full = [r for r in rows if all(k in r for k in ('sleep', 'read', 'in', 'out'))]
    print('  %d faults resolved by one read() and one ioctl of the daemon' % len(full))
    segs = (('fault -> task sleeps', 'fault', 'sleep'),
            ('sleeps -> daemon read() returns', 'sleep', 'read'),
            ('read() -> resolving ioctl', 'read', 'in'),
            ('the resolving ioctl', 'in', 'out'),
            ('ioctl ends -> next fault', 'out', 'next'),
            ('fault -> next fault', 'fault', 'next'))
    for label, sel in (('daemon on the task\'s CPU', lambda r: r['dcpu'] == r['cpu']),
                       ('daemon on another CPU', lambda r: r['dcpu'] != r['cpu'])):
        sub = [r for r in full if sel(r)]
        if not sub:
            continue
        print('  -- %s: %d faults (%.0f%%), p50 / p90 us' % (label, len(sub), 100.0 * len(sub) / len(full)))
        for name, a, b in segs:
            v = sorted(1e6 * (r[b] - r[a]) for r in sub)
            print('     %-34s %7.2f / %7.2f' % (name, statistics.median(v), pct(v, 0.9)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
