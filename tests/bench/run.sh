#!/bin/sh
# run.sh - `make bench`: lockscope's costs and limits, measured on this machine against the other
# ways to measure lock contention, printed as one table and kept in build/bench.txt.
#
# Environment: PAIRS (alternating alone/recorded pairs per figure, default 3), SOAK_SECONDS
# (length of the soak recording, default 600), RATE_SECONDS (each step of the collector's rate
# scan, default 3), OMIT="uprobes helgrind soak servers shapes ..." (sections to leave out while
# developing).
set -e
cd "$(dirname "$0")/../.."
LS=build/lockscope
W=build/workloads
PY=/usr/bin/python3.11
PAIRS=${PAIRS:-3}
SOAK_SECONDS=${SOAK_SECONDS:-600}
RATE_SECONDS=${RATE_SECONDS:-3}
OUT=build/bench.txt
tmp=$(mktemp -d /tmp/lockscope-bench.XXXXXX)
# Ctrl-C reaches the workloads and recorders too: they run in this process group
trap 'kill $(cat "$tmp/servers" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT

omit() { case " $OMIT " in *" $1 "*) return 0 ;; esac; return 1; }
# numbers on stdin, one a line: "median [min-max]" (with FMT for each; default: 3 decimals
# under 10, none above)
stats() {
	sort -g | awk -v f="$1" '
		function fmt(x) { return sprintf(f ? f : x < 10 ? "%.3f" : "%.0f", x) }
		{a[NR] = $1}
		END {
			if (!NR) { print "n/a"; exit }
			m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
			print fmt(m) " [" fmt(a[1]) "-" fmt(a[NR]) "]" }'
}
median() { stats "$@" | cut -d' ' -f1; }
row() { printf '%-46s %-28s %s\n' "$1" "$2" "$3"; }
# the elapsed_ns a workload prints about itself (its JSON line may follow a tool's output)
elapsed() { grep -o '"elapsed_ns": [0-9]*' | tail -1 | awk '{print $2}'; }
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
rss_kb() { awk '/^VmRSS/ {print $2}' /proc/$1/status 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM/ {print $2}' /proc/$1/status 2>/dev/null || echo 0; }

LIBC=$(ldd $W/lockheavy | awk '/libc\.so\.6/ {print $3}')
sed "s|LIBC|$LIBC|g" tests/bench/uprobe_locks.bt >"$tmp/uprobe_locks.bt"

# ---- overhead: the workload's own elapsed time with a tool over its time alone ----
# A workload: a label, its command at full size, at a small size for the per-call tools
# (which would take hours at full size), and how many times more work the full size does.
# Per-call figures are per unit of work: (small time * factor) / (full time alone).
set_workload() { wl_label=$1; wl_full=$2; wl_small=$3; wl_factor=$4; : >"$tmp/alone"; }
alone() { t=$($wl_full 2>/dev/null | elapsed); echo "$t" >>"$tmp/alone"; echo "$t"; }
recorded() {	# MODE, command...
	mode=$1; shift
	$LS record --mode "$mode" -o "$tmp/o.lsz" -- "$@" 2>"$tmp/o.err" | elapsed
}
coverage() { grep -o 'full mode [0-9]*%' "$tmp/o.err" | sed 's/$/ of the time/' || true; }
# MODE at full size, PAIRS pairs run alternately, median of the pair ratios
mode_full() {
	for i in $(seq "$PAIRS"); do
		a=$(alone)
		t=$(recorded "$1" $wl_full)
		echo "$t $a" | awk '{print $1 / $2}'
	done >"$tmp/ratios"
	row "$wl_label" "lockscope $1" "$(stats <"$tmp/ratios") x $(coverage)"
	median <"$tmp/ratios" >"$tmp/median_$1"
}
# a per-call tool at small size: TOOL-LABEL RUNS command-prefix...
per_call() {
	label=$1 runs=$2; shift 2
	base=$(median %.0f <"$tmp/alone")
	for i in $(seq "$runs"); do
		t=$("$@" $wl_small 2>"$tmp/t.err" | elapsed)
		[ -n "$t" ] || { echo "bench: $label failed: $(tail -1 "$tmp/t.err")" >&2; continue; }
		echo "$t $wl_factor $base" | awk '{print $1 * $2 / $3}'
	done >"$tmp/ratios"
	row "$wl_label" "$label" "$(stats <"$tmp/ratios") x per op (1/$wl_factor size, $runs run(s))"
}
full_small() { $LS record --mode full -o "$tmp/o.lsz" -- "$@" 2>"$tmp/o.err"; }
bpftrace_small() { bpftrace -o "$tmp/bt.out" "$tmp/uprobe_locks.bt" -c "$*"; }
helgrind_small() { valgrind --tool=helgrind -q --log-file="$tmp/hg.log" "$@"; }

compare() {	# whether full mode runs at full size
	mode_full contention
	mode_full auto
	# what auto mode's probes add to contention mode: the share its budget holds
	row "" "auto over contention" "$(cat "$tmp/median_auto" "$tmp/median_contention" |
		awk 'NR == 1 {a = $1} NR == 2 {printf "%.3f x (the probes; budget 1.05)", a / $1}')"
	if [ "$1" = full ]; then mode_full full; else per_call "lockscope full" "$PAIRS" full_small; fi
	omit uprobes || per_call "uprobes per call (bpftrace)" "$PAIRS" bpftrace_small
	omit helgrind || per_call "valgrind --tool=helgrind" 1 helgrind_small
	row "" "alone" "$(stats %.0f <"$tmp/alone" | awk '{printf "%.3f s", $1 / 1e9}') (median of $(wc -l <"$tmp/alone"))"
}

overhead() {
	echo "== overhead: the workload's own elapsed time, with the tool / alone =="
	echo "   (median [min-max] of $PAIRS alternating pairs; auto's budget: 5% of the target's CPU time)"
	set_workload "uncontended: 2 threads, 40M lock/unlock pairs" \
		"$W/lockheavy --iters 20000000" "$W/lockheavy --iters 20000" 1000
	compare small
	set_workload "contended mutex: 4 threads, sleeping holder" \
		"$W/contended --iters 1500" "$W/contended --iters 100" 15
	compare full
	set_workload "4 CPU-bound CPython threads (GIL)" \
		"$PY tests/workloads/py_gil.py --iters 3000000" \
		"$PY tests/workloads/py_gil.py --iters 30000" 100
	compare full
	set_workload "asyncio: 50 tasks, callbacks, locks" \
		"$PY tests/workloads/py_async_bench.py --iters 4000" \
		"$PY tests/workloads/py_async_bench.py --iters 40" 100
	compare small
}

# ---- auto mode on bursts and real servers: attached while idle, then loaded. Each figure is the
# load's time (or throughput) with the recorder attached in MODE over alone, alternating ----
# Starts `lockscope record --mode MODE -p PID -d SECONDS` in the background once its probes are in.
attach_rec() {	# MODE PID SECONDS
	$LS record --mode "$1" -p "$2" -d "$3" -o "$tmp/a.lsz" 2>"$tmp/a.err" &
	rec_pid=$!
	for _ in $(seq 200); do grep -q 'Ctrl-C to stop' "$tmp/a.err" && break; sleep 0.05; done
	sleep 1	# idle: auto mode's first stretch sees no lock call
}
auto_modes() { echo contention auto; }
# rows: LABEL, then a file of "alone contention auto" lines; with INVERSE, throughputs
auto_rows() {	# LABEL FILE [inverse]
	for m in 2 3; do
		awk -v m=$m -v inv="$3" '{print inv ? $1 / $m : $m / $1}' "$2" >"$tmp/ratios"
		row "$1" "lockscope $(auto_modes | cut -d' ' -f$((m - 1)))" "$(stats <"$tmp/ratios") x"
	done
}
burst_after_idle() {
	for i in $(seq "$PAIRS"); do
		line=$($W/burst --idle-ms 0 --pairs 40000000 | elapsed)
		for m in $(auto_modes); do
			$W/burst --idle-ms 2500 --pairs 40000000 >"$tmp/b.out" &
			b=$!
			sleep 0.2
			attach_rec "$m" "$b" 5
			wait "$b"
			wait "$rec_pid"
			line="$line $(elapsed <"$tmp/b.out")"
		done
		echo "$line"
	done >"$tmp/burst"
	auto_rows "burst of 40M lock calls after an idle attach" "$tmp/burst"
}
redis_start() {
	port=$((20000 + $$ % 20000))
	redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
		--slowlog-log-slower-than 10000 --enable-debug-command yes >"$tmp/redis.log" 2>&1 &
	redis=$!
	echo "$redis" >>"$tmp/servers"
	for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
}
populate_us() {
	redis-cli -p $port flushall >/dev/null
	redis-cli -p $port slowlog reset >/dev/null
	redis-cli -p $port debug populate 1000000 >/dev/null
	redis-cli -p $port slowlog get 1 | sed -n 3p
}
# SET and GET requests per second, 50 clients
rb_rps() { redis-benchmark -p $port -t set,get -n 200000 -c 50 --csv | tr -d '"' |
	awk -F, '$1 == "SET" {s = $2} $1 == "GET" {g = $2} END {printf "%s %s", s, g}'; }
# PAIRS lines "alone contention auto" of what FIGURE... prints, the recorder attached to PID for
# SECONDS in each mode (rb_rps prints two figures, SET and GET: each mode's pair follows)
triples() {	# PID SECONDS FIGURE...
	tpid=$1 secs=$2; shift 2
	for i in $(seq "$PAIRS"); do
		line=$("$@")
		for m in $(auto_modes); do
			attach_rec "$m" "$tpid" "$secs"
			line="$line $("$@")"
			wait "$rec_pid"
		done
		echo "$line"
	done
}
redis_rows() {
	redis_start
	triples "$redis" 4 populate_us >"$tmp/populate"
	auto_rows "redis DEBUG POPULATE 1000000 after an idle attach" "$tmp/populate"
	triples "$redis" 6 rb_rps >"$tmp/rb"
	awk '{print $1, $3, $5}' "$tmp/rb" >"$tmp/rb_set"
	awk '{print $2, $4, $6}' "$tmp/rb" >"$tmp/rb_get"
	auto_rows "redis-benchmark SET throughput (alone / with)" "$tmp/rb_set" inverse
	auto_rows "redis-benchmark GET throughput (alone / with)" "$tmp/rb_get" inverse
	kill "$redis"; wait "$redis" 2>/dev/null
}
sysbench_tps() { sysbench oltp_read_write --db-driver=mysql --mysql-socket="$tmp/my/sock" \
	--mysql-user=root --tables=4 --table-size=10000 --threads=8 --time=5 run |
	awk '/transactions:/ {gsub(/\(/, "", $3); print $3}'; }
sysbench_rows() {
	mkdir -p "$tmp/my/data"
	mariadb-install-db --no-defaults --datadir="$tmp/my/data" --user=root \
		--auth-root-authentication-method=normal --skip-test-db >"$tmp/my/install.log" 2>&1
	mariadbd --no-defaults --datadir="$tmp/my/data" --socket="$tmp/my/sock" --skip-networking \
		--user=root --pid-file="$tmp/my/pid" --innodb-buffer-pool-size=256M \
		--log-error="$tmp/my/error.log" >"$tmp/my/out.log" 2>&1 &
	my=$!
	echo "$my" >>"$tmp/servers"
	for _ in $(seq 300); do mariadb --no-defaults -S "$tmp/my/sock" -uroot \
		-e 'create database sbtest' 2>/dev/null && break; sleep 0.1; done
	sysbench oltp_read_write --db-driver=mysql --mysql-socket="$tmp/my/sock" --mysql-user=root \
		--tables=4 --table-size=10000 prepare >/dev/null
	triples "$my" 7 sysbench_tps >"$tmp/tps"
	auto_rows "MariaDB sysbench OLTP tps, 8 threads (alone / with)" "$tmp/tps" inverse
	kill "$my"; wait "$my" 2>/dev/null
}
auto_servers() {
	echo
	echo "== auto mode attached while idle, then loaded: with the recorder / alone =="
	echo "   (median [min-max] of $PAIRS alternating triples; throughputs alone / with)"
	burst_after_idle
	redis_rows
	sysbench_rows
}

# ---- programs with nothing, or little, for lockscope to see, and short waits at a high rate:
# alone, in contention mode and in auto mode in turn, PAIRS times; the medians of the ratios ----
# A shape is a function that runs its program once, alone or recorded in the mode it is given,
# and prints the time the program took (ns).
shape() {	# LABEL FUNCTION
	: >"$tmp/s_alone"; : >"$tmp/s_contention"; : >"$tmp/s_auto"
	for i in $(seq "$PAIRS"); do
		a=$($2 alone)
		[ -n "$a" ] || { echo "bench: $1: the program failed alone" >&2; continue; }
		echo "$a" >>"$tmp/s_alone"
		for m in contention auto; do
			t=$($2 $m)
			[ -n "$t" ] || { echo "bench: $1: the program failed recorded ($m)" >&2; continue; }
			echo "$t $a" | awk '{print $1 / $2}' >>"$tmp/s_$m"
		done
	done
	row "$1" "contention" "$(stats <"$tmp/s_contention") x"
	row "" "auto" "$(stats <"$tmp/s_auto") x"
	row "" "alone" "$(stats %.0f <"$tmp/s_alone" | awk '{printf "%.3f s", $1 / 1e9}') (median of $(wc -l <"$tmp/s_alone"))"
}
# MODE, command...: the command's own elapsed_ns, alone or recorded from its start
launched() {
	mode=$1; shift
	if [ "$mode" = alone ]; then
		"$@" 2>/dev/null | elapsed
	else
		$LS record --mode "$mode" -o "$tmp/s.lsz" -- "$@" 2>/dev/null | elapsed
	fi
}
pipe_loop() { launched "$1" $W/syscall_loop --rounds 200000; }
poll_loop() { launched "$1" $W/syscall_loop --rounds 200000 --epoll; }
short_waits() { launched "$1" $W/shortwait --threads $((2 * $(nproc))) --iters 300000; }
# sysbench's own "total time": each event takes 8 mutexes in turn, yielding while it holds one
sysbench_threads() {
	set -- "$1" sysbench threads --threads=$((4 * $(nproc))) --thread-yields=100 --events=3000 \
		--time=0 run
	if [ "$1" = alone ]; then shift; "$@"; else
		m=$1; shift; $LS record --mode "$m" -o "$tmp/s.lsz" -- "$@" 2>/dev/null; fi |
		awk '/total time:/ {sub("s$", "", $3); printf "%.0f\n", $3 * 1e9}'
}
# redis-benchmark's GET and SET against a redis-server of our own, recorded by attaching: the
# time the two tests took (requests / throughput)
shapes() {
	echo "== programs with little or nothing to see, and short waits at a high rate =="
	echo "   (elapsed, recorded / alone: median [min-max] of $PAIRS rounds of alone, contention, auto)"
	shape "pipe write+read loop, no futex" pipe_loop
	shape "the same with an epoll_wait(0) a round" poll_loop
	shape "short contended waits: $((2 * $(nproc))) threads on $(nproc) CPUs" short_waits
	shape "sysbench threads, $((4 * $(nproc))) threads" sysbench_threads
}

# ---- the tax on every syscall of the machine while a recording runs ----
syscall_tax() {
	base=$(build/bench/syscall_tax)
	sleep 600 & idle=$!
	$LS record -o "$tmp/idle.lsz" -p $idle 2>"$tmp/idle.err" & rec=$!
	sleep 1
	taxed=$(build/bench/syscall_tax)
	kill $rec; wait $rec 2>/dev/null || true
	kill $idle; wait $idle 2>/dev/null || true
	row "syscall cost, without -> with a recording" "$(sed -n 's/.*, \([^,]*\)); Ctrl-C.*/\1/p' \
		"$tmp/idle.err")" \
		"$base ns -> $taxed ns (+$(echo "$taxed - $base" | bc) ns)"
}

# ---- event loops: a context switch anywhere (the sched_switch program), and a poll call of a
# recorded event loop (the gap accounting at its entry and return) ----
loop_tax() {
	base=$(build/bench/loop_tax switch)
	sleep 600 & idle=$!
	$LS record -o "$tmp/idle.lsz" -p $idle 2>/dev/null & rec=$!
	sleep 1
	taxed=$(build/bench/loop_tax switch)
	kill $rec; wait $rec 2>/dev/null || true
	kill $idle; wait $idle 2>/dev/null || true
	row "pipe round trip (2 switches)" "without -> with a recording" "$base ns -> $taxed ns"
	base=$(build/bench/loop_tax poll)
	taxed=$($LS record -o "$tmp/poll.lsz" -- build/bench/loop_tax poll 2>/dev/null)
	row "epoll_wait(0) of the target" "alone -> recorded" "$base ns -> $taxed ns"
}

# ---- the collector: offered event rate stepped up until events are lost ----
# futex_rate makes two events per wait (begin, end: EAGAIN); recorded by attaching to it.
rate_step() {	# EVENTS_PER_S, record options...
	r=$1; shift
	$W/futex_rate --rate $((r / 2)) --seconds $((RATE_SECONDS + 3)) >/dev/null & fr=$!
	sleep 0.3
	$LS record --mode contention "$@" -d "$RATE_SECONDS" -o "$tmp/r.lsz" -p $fr 2>/dev/null
	wait $fr
	$LS report --json "$tmp/r.lsz" >"$tmp/r.json"
	json "$tmp/r.json" 'd["recording"]["events"], d["recording"]["lost_events"], d["target"]["duration_ns"]'
}
rate_scan() {	# label, record options...
	label=$1; shift
	best=0
	for r in 250000 500000 1000000 1500000 2000000 3000000; do
		set -- $(rate_step $r "$@" | tr -d '(),') "$@"
		ev=$1 lost=$2 dur=$3; shift 3
		got=$(echo "$ev $lost $dur" | awk '{printf "%.0f", ($1 + $2) / ($3 / 1e9)}')
		printf '    offered %8d ev/s: the target made %8d ev/s, %d lost\n' $r "$got" "$lost"
		[ "$lost" -eq 0 ] || break
		[ "$got" -lt "$best" ] || best=$got
	done
	row "collector: highest zero-loss rate" "$label" "$best events/s"
}
collector() {
	echo "== collector: futex waits at a dialled rate, recorded by attaching =="
	rate_scan "with stacks (default)"
	rate_scan "--no-stacks" --no-stacks
	# above the limit: the target as fast as it can, alone and recorded from its start
	a=$($W/futex_rate --seconds "$RATE_SECONDS" | grep -o '"waits_per_s": [0-9]*' | cut -d' ' -f2)
	t=$($LS record --mode contention -o "$tmp/r.lsz" -- $W/futex_rate --seconds "$RATE_SECONDS" \
		2>/dev/null | grep -o '"waits_per_s": [0-9]*' | cut -d' ' -f2)
	$LS report --json "$tmp/r.lsz" >"$tmp/r.json"
	row "collector: target flat out" "alone -> recorded" \
		"$((2 * a)) -> $((2 * t)) ev/s made; $(json "$tmp/r.json" \
		'"%d recorded, %d lost (counted)" % (d["recording"]["events"], d["recording"]["lost_events"])')"
}

# ---- the trace: bytes per event ----
trace_size() {
	$LS record -o "$tmp/real.lsz" -- $W/contended --iters 3000 >/dev/null 2>&1
	$LS report --json "$tmp/real.lsz" >"$tmp/real.json"
	events=$(json "$tmp/real.json" 'd["recording"]["events"]')
	size=$(stat -c %s "$tmp/real.lsz")
	row "trace: real contended recording" "with metadata" \
		"$(echo "scale=2; $size / $events" | bc) B/event ($events events, $size bytes)"
	build/bench/trace_bytes -o "$tmp/synth.lsz" >"$tmp/synth.txt"
	row "trace: synthetic 1M-event stream" "format alone" \
		"$(awk '/^file/ {printf "%s B/event; ", $4} /^write/ {printf "writes %s M/s, ", $2}
			/^read/ {printf "reads %s M/s", $2}' "$tmp/synth.txt")"
}

# ---- analysis of a 10M-event trace ----
analysis() {
	build/bench/trace_bytes -s -n 10000000 -o "$tmp/10m.lsz" >/dev/null
	n=$($LS report --json "$tmp/10m.lsz" | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["recording"]["events"])')
	for cmd in "report --json" "export --format chrome -o $tmp/10m.json"; do
		/usr/bin/time -f '%e %U %S %M' -o "$tmp/time" $LS $cmd "$tmp/10m.lsz" >/dev/null
		row "analysis: $n-event trace" "${cmd%% -o*}" "$(awk -v n="$n" '{printf \
			"%.2f M events/s (%.2f s; %.2f M/s of CPU), peak %.0f MiB", n / $1 / 1e6, $1,
			n / ($2 + $3) / 1e6, $4 / 1024}' "$tmp/time")"
		rm -f "$tmp/10m.json"
	done
}

# ---- the viewer: a million-event trace served, painted and zoomed in headless chromium ----
viewer() {
	build/bench/trace_bytes -o "$tmp/view.lsz" >/dev/null
	(cd tests/viewer && npm ci --offline --silent --no-audit --no-fund)
	node tests/bench/view_bench.mjs "$tmp/view.lsz"
}

# ---- soak: a busy target recorded for SOAK_SECONDS; memory and file sampled every 10 s ----
soak() {
	rate=100000	# events/s: 50k waits/s, each with a stack
	$W/futex_rate --rate $((rate / 2)) --seconds $((SOAK_SECONDS + 10)) >/dev/null & fr=$!
	sleep 0.3
	$LS record --mode contention -d "$SOAK_SECONDS" -o "$tmp/soak.lsz" -p $fr 2>/dev/null & rec=$!
	: >"$tmp/soak.samples"
	t=0
	while kill -0 $rec 2>/dev/null; do
		sleep 10; t=$((t + 10))
		[ -e /proc/$rec/status ] || break
		echo "$t $(rss_kb $rec) $(hwm_kb $rec) $(stat -c %s "$tmp/soak.lsz" 2>/dev/null || echo 0)" \
			>>"$tmp/soak.samples"
	done
	wait $rec || true
	kill $fr 2>/dev/null || true
	wait $fr 2>/dev/null || true
	$LS report --json "$tmp/soak.lsz" >"$tmp/soak.json"
	set -- $(json "$tmp/soak.json" \
		'd["recording"]["events"], d["recording"]["lost_events"], d["target"]["duration_ns"]' |
		tr -d '(),')
	size=$(stat -c %s "$tmp/soak.lsz")
	row "soak: ${SOAK_SECONDS} s recording, ~$rate ev/s" "events, lost, file" \
		"$1 events, $2 lost, $(echo "scale=2; $size / $1" | bc) B/event"
	awk -v ev="$1" -v dur="$3" 'NR == 1 {t0 = $1; r0 = $2; f0 = $4}
		{if ($3 > hwm) hwm = $3; if ($2 > rmax) rmax = $2; t1 = $1; r1 = $2; f1 = $4}
		END {
			mev = ev / (dur / 1e9) * (t1 - t0) / 1e6	# events between the samples
			printf "%-46s %-28s %.1f -> %.1f MiB (max %.1f, peak %.1f); %+.1f KiB per M events\n",
				"soak: recorder memory, first -> last", "RSS every 10 s",
				r0 / 1024, r1 / 1024, rmax / 1024, hwm / 1024, mev ? (r1 - r0) / mev : 0
			printf "%-46s %-28s %.0f bytes per s (%.2f bytes per event)\n",
				"soak: trace file growth", "every 10 s", (f1 - f0) / (t1 - t0),
				mev ? (f1 - f0) / (mev * 1e6) : 0
		}' "$tmp/soak.samples"
}

machine() {
	echo "lockscope bench, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null)"
	echo "machine: Linux $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 |
		sed 's/^ //'), $(nproc) vCPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' \
		/proc/meminfo) memory; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
}

main() {
	machine
	syscall_tax
	omit loop || loop_tax
	omit shapes || shapes
	omit overhead || overhead
	omit servers || auto_servers
	omit collector || collector
	omit trace || trace_size
	omit analysis || analysis
	omit viewer || viewer
	omit soak || soak
	echo
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
}

mkdir -p build
main | tee "$OUT"
