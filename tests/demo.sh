#!/bin/sh
# demo.sh - `make demo`: profile the bundled contended workload, print the report, export it.
set -e
cd "$(dirname "$0")/.."
echo "== lockscope record -o build/demo.lsz -- build/workloads/contended"
build/lockscope record -o build/demo.lsz -- build/workloads/contended >/dev/null
echo
echo "== lockscope report build/demo.lsz"
build/lockscope report build/demo.lsz
echo
echo "== lockscope export build/demo.lsz -o build/demo.json"
build/lockscope export build/demo.lsz -o build/demo.json
echo "Open build/demo.json in Perfetto UI (https://ui.perfetto.dev, 'Open trace file') or in"
echo "chrome://tracing: one track per thread, a slice per wait, arrows from waker to woken."
