#!/usr/bin/env python3
"""export_same.py - checks that two lockscope binaries export the same traces alike: the same
JSON value for --format chrome (whitespace may differ; keys in the same order, numbers as
written), the same bytes for perfetto and pprof.

    python3 tests/bench/export_same.py OLD_LOCKSCOPE NEW_LOCKSCOPE TRACE.lsz...

Prints one line per trace and format; exits 1 at the first difference, with where it is.
"""
import json
import os
import subprocess
import sys
import tempfile


def export(binary, fmt, trace, out):
    """The output and the exit status; no output where the export failed."""
    if os.path.exists(out):
        os.remove(out)
    status = subprocess.run([binary, "export", "--format", fmt, "-o", out, trace],
                            stderr=subprocess.DEVNULL).returncode
    if status:
        return None, status
    with open(out, "rb") as f:
        return f.read(), status


def first_difference(a, b, path="$"):
    """Where two JSON values part: a path and both sides, or None where they are equal."""
    if type(a) is not type(b):
        return path, a, b
    if isinstance(a, dict):
        if list(a) != list(b):
            return path + " (keys)", list(a), list(b)
        for k in a:
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None if len(a) == len(b) else (path + " (length)", len(a), len(b))
    return None if a == b else (path, a, b)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    old, new, traces = sys.argv[1], sys.argv[2], sys.argv[3:]
    with tempfile.TemporaryDirectory(prefix="export-same-") as tmp:
        a, b = os.path.join(tmp, "old"), os.path.join(tmp, "new")
        for trace in traces:
            (x, xs), (y, ys) = export(old, "chrome", trace, a), export(new, "chrome", trace, b)
            if xs != ys:
                print(f"{trace}: chrome exit status {xs} != {ys}")
                sys.exit(1)
            if xs:
                print(f"{trace}: both refused it (exit status {xs})")
                continue
            # object_pairs_hook keeps duplicate keys and their order visible to the comparison
            keep = lambda pairs: dict(pairs) if len(pairs) == len({k for k, _ in pairs}) \
                else {"duplicate keys": pairs}
            # numbers compared as written: 12.340 is not taken for 12.34
            load = lambda text: json.loads(text, object_pairs_hook=keep, parse_float=str)
            d = first_difference(load(x), load(y))
            if d:
                print(f"{trace}: chrome differs at {d[0]}: {d[1]!r} != {d[2]!r}")
                sys.exit(1)
            lines = len(json.loads(y)["traceEvents"])
            print(f"{trace}: chrome same JSON value ({lines} events; {len(x)} -> {len(y)} bytes)")
            for fmt in ("perfetto", "pprof"):
                if export(old, fmt, trace, a) != export(new, fmt, trace, b):
                    print(f"{trace}: {fmt} differs")
                    sys.exit(1)
            print(f"{trace}: perfetto and pprof same bytes")


main()
