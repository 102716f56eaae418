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

# 2. Overhead of contention mode: the workload's own elapsed time (it prints elapsed_ns) under
# record over its time alone; median of alternating pairs, so start-up is not counted.
elapsed() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["elapsed_ns"])'; }
overhead() {	# label, workload args
	label=$1; shift
	for i in 1 2 3 4 5; do
		alone=$($WL "$@" | elapsed)
		traced=$($LS record -o "$tmp/o.lsz" -- $WL "$@" 2>/dev/null | elapsed)
		echo "$(( traced * 10000 / alone ))"
	done | median | awk -v l="$label" '{printf "%-52s %8.3f x\n", l, $1 / 10000}'
}
overhead "contended mutex, sleeping holder: elapsed ratio" --iters 1500
overhead "contended mutex, spinning holder: elapsed ratio" --spin --iters 3000
overhead "uncontended (1 thread, 10M lock pairs): elapsed ratio" --threads 1 --iters 10000000 \
	--hold-us 0 --gap-us 0 --spin

# 3. Trace size on a real contended recording, metadata included.
$LS record -o "$tmp/real.lsz" -- $WL --iters 6000 >/dev/null 2>&1
events=$($LS report --json "$tmp/real.lsz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["recording"]["events"])')
size=$(stat -c %s "$tmp/real.lsz")
printf '%-52s %8.2f B/event (%s events, %s bytes)\n' "real contended trace" \
	"$(echo "scale=2; $size / $events" | bc)" "$events" "$size"

# 4. The trace format on a long synthetic stream.
build/bench/trace_bytes -o "$tmp/synth.lsz"
