#!/bin/sh
# layers.sh - userspace/'s folders are the stages of the data path, lowest first; a file may
# include its own folder's headers and those of lower stages, never a higher stage's.
set -u
order="util trace python analysis inspect capture export commands"
rank() { i=0; for s in $order; do [ "$s" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo -1; }
bad=0
for f in userspace/*/*.[ch]; do
	own=$(basename "$(dirname "$f")")
	r=$(rank "$own")
	[ "$r" -ge 0 ] || { echo "layers: $f: folder '$own' is not a stage ($order)" >&2; bad=1; continue; }
	for dep in $(sed -n 's|^#include "\([a-z]*\)/[^"]*".*|\1|p' "$f"); do
		[ "$dep" = bpf ] && continue
		d=$(rank "$dep")
		if [ "$d" -lt 0 ] || [ "$d" -gt "$r" ]; then
			echo "layers: $f ($own) includes a header of '$dep', a higher stage" >&2
			bad=1
		fi
	done
done
exit $bad
