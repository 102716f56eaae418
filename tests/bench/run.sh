#!/bin/sh
# run.sh - `make bench`: lockscope's costs, measured on this machine, printed as a table.
set -e
cd "$(dirname "$0")/../.."
LS=build/lockscope
WL=build/workloads/contended
tmp=$(mktemp -d /tmp/lockscope-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "lockscope bench on $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo

# 1. The tax on every syscall of the machine while a recording runs.
base=$(build/bench/syscall_tax)
sleep 600 & idle=$!
$LS record -o "$tmp/idle.lsz" -p $idle 2>/dev/null & rec=$!
sleep 1
taxed=$(build/bench/syscall_tax)
kill $rec; wait $rec 2>/dev/null || true
kill $idle; wait $idle 2>/dev/null || true
printf '%-52s %8s ns -> %s ns (+%s ns)\n' "syscall cost, without -> with a recording" \
	"$base" "$taxed" "$(echo "$taxed - $base" | bc)"

# 1b. Event loops: a context switch anywhere on the machine (the sched_switch program), and a
# poll call of a recorded event loop (the gap accounting at its entry and return).
base=$(build/bench/loop_tax switch)
sleep 600 & idle=$!
$LS record -o "$tmp/idle.lsz" -p $idle 2>/dev/null & rec=$!
sleep 1
taxed=$(build/bench/loop_tax switch)
kill $rec; wait $rec 2>/dev/null || true
kill $idle; wait $idle 2>/dev/null || true
printf '%-52s %8s ns -> %s ns\n' "pipe round trip (2 switches), without -> with a rec." \
	"$base" "$taxed"
base=$(build/bench/loop_tax poll)
taxed=$($LS record -o "$tmp/poll.lsz" -- build/bench/loop_tax poll 2>/dev/null)
printf '%-52s %8s ns -> %s ns\n' "epoll_wait(0) of the target, alone -> recorded" "$base" "$taxed"

# 2. Overhead per mode: the workload's own elapsed time (it prints elapsed_ns) under record over
# its time alone; median of 5 alternating pairs, so start-up is not counted and drift cancels.
elapsed() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["elapsed_ns"])'; }
overhead() {	# label, mode, workload (a build/workloads program, or a command), args
	label=$1; mode=$2; wl=$3; shift 3
	[ -x "build/workloads/$wl" ] && wl=build/workloads/$wl
	for i in 1 2 3 4 5; do
		alone=$($wl "$@" | elapsed)
		traced=$($LS record --mode "$mode" -o "$tmp/o.lsz" -- $wl "$@" \
			2>"$tmp/o.err" | elapsed)
		echo "$(( traced * 10000 / alone ))"
	done | median | awk -v l="$label" -v m="$mode" '{printf "%-52s %-10s %6.3f x\n", l, m, $1 / 10000}'
	[ "$mode" = contention ] || grep -o 'full mode [0-9]*% of the time' "$tmp/o.err" | sed 's/^/    (last run: /; s/$/)/'
}
echo "elapsed time, recorded / alone (median of 5 pairs)"
overhead "contended mutex, sleeping holder" contention contended --iters 1500
overhead "contended mutex, sleeping holder" auto contended --iters 1500
overhead "contended mutex, sleeping holder" full contended --iters 1500
overhead "contended mutex, spinning holder" contention contended --spin --iters 3000
overhead "uncontended, 2 threads, 400M lock pairs" contention lockheavy --iters 200000000
overhead "uncontended, 2 threads, 400M lock pairs" auto lockheavy --iters 200000000
overhead "4 CPU-bound CPython threads (GIL)" contention /usr/bin/python3.11 tests/workloads/py_gil.py
overhead "4 CPU-bound CPython threads (GIL)" auto /usr/bin/python3.11 tests/workloads/py_gil.py
echo "  (auto's budget: 5% of the target's CPU time, the default --overhead-budget)"

# 3. Trace size on a real contended recording, metadata included.
$LS record -o "$tmp/real.lsz" -- $WL --iters 6000 >/dev/null 2>&1
events=$($LS report --json "$tmp/real.lsz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["recording"]["events"])')
size=$(stat -c %s "$tmp/real.lsz")
printf '%-52s %8.2f B/event (%s events, %s bytes)\n' "real contended trace" \
	"$(echo "scale=2; $size / $events" | bc)" "$events" "$size"

# 4. The trace format on a long synthetic stream.
build/bench/trace_bytes -o "$tmp/synth.lsz"

# 5. The viewer on that synthetic trace (a million events) in headless chromium.
(cd tests/viewer && npm ci --silent --no-audit --no-fund)
node tests/bench/view_bench.mjs "$tmp/synth.lsz"
