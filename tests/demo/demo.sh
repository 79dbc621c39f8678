#!/usr/bin/env bash
# make demo: start a sample program with private and shmem memory, dump it,
# restore it lazily and show it carrying on, with the daemon's summary.
set -euo pipefail
B=${B:-build}
CRIU=$B/criu-lite
PROG=$B/tests/demo/demo_prog
D=${DEMO_DIR:-/tmp/criu-lite-demo}
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

rm -rf "$D"; mkdir -p "$D/img"
echo "== criu-lite check"
"$CRIU" check
echo "== starting the sample program (output in $D/demo.out)"
# Start it with nothing but stdio: descriptors inherited from whatever ran make
# (pipes, sockets) are not part of the demo, and the dump would refuse them.
(for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
 exec setsid "$PROG" > "$D/demo.out" 2>&1 < /dev/null) &
pid=$!; pids+=("$pid")
disown "$pid" # its death by the dump is expected: no job notice
sleep 1.2; cat "$D/demo.out"
echo "== criu-lite dump -t $pid -D $D/img"
"$CRIU" dump -t "$pid" -D "$D/img" -o dump.log -v4
for _ in $(seq 300); do [ -e /proc/$pid ] || break; sleep 0.01; done
echo "   dumped: $(du -sh "$D/img" | cut -f1) of images"
echo "== criu-lite lazy-pages -D $D/img --prefetch all   (the daemon, in the background)"
"$CRIU" lazy-pages -D "$D/img" --prefetch all -o lazy-pages.log -v4 &
lp=$!; pids+=("$lp")
echo "== criu-lite restore -D $D/img --lazy-pages -d"
t0=$(date +%s%N)
"$CRIU" restore -D "$D/img" --lazy-pages -d -o restore.log -v4
t1=$(date +%s%N)
echo "   the process runs again after $(( (t1 - t0) / 1000000 )) ms, its memory arriving on demand"
n=$(wc -l < "$D/demo.out")
sleep 1.5
tail -n +"$((n + 1))" "$D/demo.out"
echo "== waiting for the daemon to serve every page"
wait "$lp"
grep -h "^lazy-pages: \(every\|stopped\)" "$D/img/lazy-pages.log" | tail -1 || true
[ -f "$D/img/lazy-pages-stats.json" ] && python3 -c '
import json,sys; s=json.load(open(sys.argv[1]))
print("   MISSING faults: %d, MINOR faults: %d, pages copied %d, continued %d, zeroed %d, prefetched %d, all pages in after %s ms" % (
 s["faults_missing"], s["faults_minor"], s["pages_copied"], s["pages_continued"], s["pages_zeroed"], s["pages_prefetched"], s["time_to_all_pages_ms"]))' "$D/img/lazy-pages-stats.json"
echo "== SIGTERM: the program checks every page and exits"
kill -TERM "$pid"
for _ in $(seq 500); do [ -e /proc/$pid ] || break; sleep 0.01; done
tail -n 1 "$D/demo.out"
grep -q "every page of all 112 MiB is intact" "$D/demo.out"
echo "== demo passed"
