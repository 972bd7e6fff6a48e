#!/bin/sh
# bench_memo.sh -- a memo cache hit next to CPython's functools.lru_cache hit.
#
#   bench/bench_memo.sh [path/to/bench_memo]     (default: build/bench/bench_memo)
#
# Builds nothing: build first (cmake -S . -B build && cmake --build build).
# Runs bench_memo, then times in python3 (timeit, median of 7 runs) a hit of
# lru_cache on an instance method (the key holds self, as in the global
# scope) and a plain method call, and prints the three figures and ratios.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
bench=${1:-$root/build/bench/bench_memo}
python=${PYTHON:-python3}

if [ ! -x "$bench" ]; then
    echo "bench_memo.sh: no bench_memo at $bench; build it first" >&2
    exit 1
fi

table=$("$bench")
echo "$table"
echo
ours=$(echo "$table" | awk '$1 == "hit" && $2 == "128" { print $3 }')

"$python" - "$ours" <<'PY'
import functools
import statistics
import sys
import timeit

NUMBER = 1_000_000
RUNS = 7


class SlowAdder:
    @functools.lru_cache(maxsize=128)
    def calculate(self, a, b):
        return a + b

    def plain(self, a, b):
        return a + b


adder = SlowAdder()
adder.calculate(1, 2)  # the timed calls all hit


def ns_per_call(stmt):
    runs = timeit.repeat(stmt, globals={"adder": adder}, number=NUMBER, repeat=RUNS)
    return statistics.median(runs) / NUMBER * 1e9


lru = ns_per_call("adder.calculate(1, 2)")
plain = ns_per_call("adder.plain(1, 2)")
assert adder.calculate.cache_info().hits >= NUMBER * RUNS
ours = float(sys.argv[1])

print("hit, maxsize 128                          ns/hit")
print("memo (C, this repo)                   %9.1f" % ours)
print("functools.lru_cache, instance method  %9.1f   (Python %s)"
      % (lru, sys.version.split()[0]))
print("plain Python method call              %9.1f" % plain)
print()
print("lru_cache hit / memo hit      = %.1fx" % (lru / ours))
print("plain method call / memo hit  = %.1fx" % (plain / ours))
PY
